// cpp_client.cpp — the C++ wrapper (<segops/segops.hpp>) in a server-shaped program.
//
//   SEGOPS_API_URL=https://api.segops.ai SEGOPS_API_KEY=sk_... ./cpp_client
//
// No exceptions are involved (it builds with -fno-exceptions): every call returns a
// segops::Status, true on success. The client's destructor flushes and stops it,
// waiting at most the shutdown timeout.
#include <segops/segops.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

struct Order {
    std::string id;
    std::string product;
    double total;
    int quantity;
};

} // namespace

int main(int argc, char **argv) {
    const char *url = argc > 1 ? argv[1] : std::getenv("SEGOPS_API_URL");
    const char *key = std::getenv("SEGOPS_API_KEY"); // from the environment: not in `ps`
    if (!url || !key) {
        std::fprintf(stderr, "usage: SEGOPS_API_KEY=sk_... cpp_client [API_URL]\n");
        return 2;
    }

    std::atomic<std::size_t> dropped{0};
    segops::Options opts;
    opts.api_url(url)
        .api_key(key)
        .flush_interval(std::chrono::seconds(2))
        .shutdown_timeout(std::chrono::seconds(10))
        // Runs on the worker thread; the lambda's captures live as long as the client.
        .on_error([&dropped](const segops_error_info_t &e) {
            dropped += e.event_count;
            std::fprintf(stderr, "cpp_client: %zu event(s) dropped: %s (%s)\n", e.event_count,
                         segops_strerror(e.code), e.message);
        });
    segops::Client client(opts);
    if (!client) {
        std::fprintf(stderr, "cpp_client: cannot create the client: %s (%s)\n",
                     client.status().message(),
                     opts.failed_setter() ? opts.failed_setter() : "segops_client_new");
        return 1;
    }

    Order order{"ord-1001", "Mug \"XL\"", 42.5, 2};
    std::string_view user_id = "u-123";
    // Values of any type, nested objects and arrays, escaped and numbers exact.
    segops::Status s = client.track(user_id, "order_placed",
                                    {{"order_id", order.id},
                                     {"product", order.product},
                                     {"total", order.total},
                                     {"quantity", order.quantity},
                                     {"gift", false},
                                     {"shipping", {{"country", "CH"}, {"express", true}}},
                                     {"tags", segops::Array{"first_order", "mobile"}}});
    if (s) s = client.identify(user_id, {{"email", "alice@example.com"}, {"plan", "pro"}});

    // A payload kept and extended over time.
    segops::Props session{{"path", "/home"}};
    if (s) s = session.set("referrer", "newsletter");
    if (s) s = client.track(user_id, "page_viewed", session);
    if (!s) std::fprintf(stderr, "cpp_client: track failed: %s\n", s.message());

    segops::Status flushed = client.flush(std::chrono::seconds(10));
    segops_stats_t stats{};
    if (!client.stats(stats)) std::fprintf(stderr, "cpp_client: no stats\n");
    std::printf("cpp_client: tracked %llu, delivered %llu, dropped %llu (flush: %s)\n",
                static_cast<unsigned long long>(stats.enqueued),
                static_cast<unsigned long long>(stats.delivered),
                static_cast<unsigned long long>(stats.dropped), flushed.message());
    return s && flushed && dropped == 0 ? 0 : 1;
} // ~Client: segops_shutdown(10 s), then free
