// A C++17 program that uses libsegops through the C header, with RAII ownership, and
// through the C++ wrapper <segops/segops.hpp>: one event the first way, two the second.
// Exits 0 only if everything worked.
//
// Usage: consumer_cxx [API_URL [API_KEY]]   (defaults: $SEGOPS_API_URL, $SEGOPS_API_KEY)
#include <segops/segops.h>
#include <segops/segops.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace {

struct OptionsDeleter {
    void operator()(segops_options_t *opts) const noexcept { segops_options_free(opts); }
};
struct ClientDeleter {
    void operator()(segops_client_t *client) const noexcept { segops_client_free(client); }
};
using Options = std::unique_ptr<segops_options_t, OptionsDeleter>;
using Client = std::unique_ptr<segops_client_t, ClientDeleter>;

int failures = 0;

bool check(segops_err_t err, std::string_view what) {
    if (err == SEGOPS_OK) return true;
    std::cerr << "consumer_cxx: " << what << ": " << segops_strerror(err) << " ("
              << static_cast<int>(err) << ")\n";
    ++failures;
    return false;
}

std::optional<std::string> arg_or_env(int argc, char **argv, int index, const char *name) {
    if (argc > index) return std::string(argv[index]);
    if (const char *value = std::getenv(name); value != nullptr && *value != '\0') {
        return std::string(value);
    }
    return std::nullopt;
}

// The wrapper: chainable options, a callable, initializer-list payloads with nested
// values, flush with std::chrono, and the destructor's shutdown.
bool wrapper(const std::string &url, const std::string &key) {
    std::atomic<int> dropped{0};
    segops::Options opts;
    opts.api_url(url)
        .api_key(std::string_view(key))
        .flush_interval(std::chrono::milliseconds(200))
        .on_error([&dropped](const segops_error_info_t &e) {
            dropped += static_cast<int>(e.event_count);
        });
    segops::Client client(opts);
    if (!client) {
        std::cerr << "consumer_cxx: segops::Client: " << client.status().message() << '\n';
        return false;
    }
    std::string sku = "mug \"XL\"";
    bool ok = check(client
                        .track("user-cxx-2", "consumer_cxx_wrapper",
                               {{"total", 42.5},
                                {"sku", sku},
                                {"qty", 3},
                                {"gift", true},
                                {"address", {{"city", "Z\xc3\xbcrich"}}},
                                {"tags", segops::Array{"a", 2}}})
                        .code(),
                    "segops::Client::track");
    ok &= check(client.identify("user-cxx-2", {{"plan", "pro"}}).code(), "identify");
    ok &= check(client.flush(std::chrono::seconds(10)).code(), "flush");
    segops_stats_t stats{};
    ok &= check(client.stats(stats).code(), "stats");
    if (stats.delivered != 2 || dropped != 0) {
        std::cerr << "consumer_cxx: the wrapper delivered " << stats.delivered << " of 2\n";
        ok = false;
    }
    return ok;
}

} // namespace

int main(int argc, char **argv) {
    const auto url = arg_or_env(argc, argv, 1, "SEGOPS_API_URL");
    const auto key = arg_or_env(argc, argv, 2, "SEGOPS_API_KEY");
    if (!url || !key) {
        std::cerr << "consumer_cxx: pass API_URL API_KEY or set SEGOPS_API_URL/SEGOPS_API_KEY\n";
        return 2;
    }
    std::cout << "consumer_cxx: libsegops " << segops_version() << '\n';
    if (std::string_view(segops_version()) != SEGOPS_VERSION_STRING) {
        std::cerr << "consumer_cxx: library and header versions differ\n";
        ++failures;
    }

    Client client;
    {
        segops_options_t *raw = nullptr;
        if (!check(segops_options_new(&raw), "segops_options_new")) return 1;
        Options opts(raw);
        check(segops_options_set_api_url(opts.get(), url->c_str()), "set_api_url");
        check(segops_options_set_api_key(opts.get(), key->c_str()), "set_api_key");
        check(segops_options_set_flush_interval_ms(opts.get(), 200), "set_flush_interval_ms");
        segops_client_t *raw_client = nullptr;
        if (!check(segops_client_new(opts.get(), &raw_client), "segops_client_new")) return 1;
        client.reset(raw_client);
    }

    segops_event_t event{};
    event.user_id = "user-cxx-1";
    event.event_type = "consumer_cxx_ran";
    event.payload_json = R"({"lang":"c++","standard":2017})";
    check(segops_track_event(client.get(), &event), "segops_track_event");
    check(segops_flush(client.get(), 10000), "segops_flush");

    segops_signed_user_t signed_user{};
    check(segops_sign_user_id("00112233445566778899aabbccddeeff", "user-cxx-1", 0, &signed_user),
          "segops_sign_user_id");
    if (std::strlen(signed_user.user_id_sig) != 64 || signed_user.user_id_ts <= 0) {
        std::cerr << "consumer_cxx: unexpected signature \"" << signed_user.user_id_sig << "\"\n";
        ++failures;
    }
    std::size_t needed = 0;
    if (segops_signed_user_json("user-cxx-1", &signed_user, nullptr, 0, &needed) !=
            SEGOPS_E_TOO_LARGE ||
        needed == 0) {
        std::cerr << "consumer_cxx: segops_signed_user_json size query failed\n";
        ++failures;
        needed = 1;
    }
    std::string json(needed, '\0');
    check(segops_signed_user_json("user-cxx-1", &signed_user, json.data(), json.size(), nullptr),
          "segops_signed_user_json");

    check(segops_shutdown(client.get(), 10000), "segops_shutdown");
    segops_stats_t stats{};
    check(segops_client_stats(client.get(), &stats), "segops_client_stats");
    client.reset();

    std::cout << "consumer_cxx: enqueued=" << stats.enqueued << " delivered=" << stats.delivered
              << " dropped=" << stats.dropped << " pending=" << stats.pending
              << " requests=" << stats.requests << '\n';
    if (stats.enqueued != 1 || stats.delivered != 1 || stats.dropped != 0 || stats.pending != 0) {
        std::cerr << "consumer_cxx: expected exactly one delivered event\n";
        ++failures;
    }
    if (!wrapper(*url, *key)) ++failures;
    if (failures != 0) {
        std::cerr << "consumer_cxx: FAILED (" << failures << ")\n";
        return 1;
    }
    std::cout << "consumer_cxx: OK\n";
    return 0;
}
