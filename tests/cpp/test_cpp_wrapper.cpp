// The C++ wrapper (include/segops/segops.hpp) against the in-process local server:
// what arrived on the wire byte for byte, the returned codes, the counters, the C
// options each setter wrote, and the callables' lifetime. Built with -fno-exceptions
// -fno-rtti; a plain program (no test framework) that prints each failed check and exits
// non-zero. What must not compile is checked by misuse.cpp (see CMakeLists.txt).
#include <segops/segops.hpp>

#include <atomic>
#include <chrono>
#include <climits>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "devserver.h"

extern "C" {
#include "config.h" // struct segops_options: what each C++ setter wrote
}

namespace {

int failures = 0;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);          \
            ++failures;                                                                            \
        }                                                                                          \
    } while (0)

#define CHECK_CODE(status, want)                                                                   \
    do {                                                                                           \
        segops_err_t got_ = segops::Status(status).code();                                         \
        if (got_ != (want)) {                                                                      \
            std::fprintf(stderr, "%s:%d: %s returned %s, expected %s\n", __FILE__, __LINE__,       \
                         #status, segops_strerror(got_), segops_strerror(want));                   \
            ++failures;                                                                            \
        }                                                                                          \
    } while (0)

#define CHECK_STR(got, want)                                                                       \
    do {                                                                                           \
        std::string got_(got), want_(want);                                                        \
        if (got_ != want_) {                                                                       \
            std::fprintf(stderr, "%s:%d: got\n  %s\nexpected\n  %s\n", __FILE__, __LINE__,         \
                         got_.c_str(), want_.c_str());                                             \
            ++failures;                                                                            \
        }                                                                                          \
    } while (0)

constexpr const char *kSk = "sk_test_cpp_wrapper";
constexpr const char *kPk = "pk_test_cpp_wrapper";

struct Server {
    Server() {
        static const char *const sk[] = {kSk};
        static const devsrv_pk_key_t pk[] = {{kPk, nullptr, false}};
        devsrv_config_t cfg{};
        cfg.sk_keys = sk;
        cfg.sk_key_count = 1;
        cfg.pk_keys = pk;
        cfg.pk_key_count = 1;
        cfg.keep_events = true;
        if (devsrv_start(&cfg, &srv) != 0) {
            std::fprintf(stderr, "cannot start the local server\n");
            std::exit(2);
        }
    }
    ~Server() { devsrv_stop(srv); }
    Server(const Server &) = delete;
    Server &operator=(const Server &) = delete;
    const char *url() const { return devsrv_url(srv); }
    std::size_t count() const { return devsrv_event_count(srv); }
    // The k-th event object as received, and its stamp.
    std::string raw(std::size_t k, std::string *occurred_at = nullptr) const {
        devsrv_event_t ev{};
        if (devsrv_event_at(srv, k, &ev) != 0) return "<no event " + std::to_string(k) + ">";
        std::string raw_json = ev.raw_json;
        if (occurred_at) *occurred_at = ev.occurred_at;
        devsrv_event_free(&ev);
        return raw_json;
    }
    // What the k-th event should be, with the stamp it carried.
    std::string expect(std::size_t k, std::string_view user_json, std::string_view type,
                       std::string_view payload) const {
        std::string stamp;
        raw(k, &stamp);
        return "{\"user_id\":" + std::string(user_json) + ",\"event_type\":\"" + std::string(type) +
               "\",\"occurred_at\":\"" + stamp + "\",\"payload\":" + std::string(payload) + "}";
    }
    devsrv_t *srv = nullptr;
};

segops::Options options_for(const Server &server, const char *key = kSk) {
    segops::Options opts;
    opts.api_url(server.url()).api_key(key).batch_size(1000).flush_interval(std::chrono::hours(1));
    return opts;
}

segops_stats_t stats_of(const segops::Client &client) {
    segops_stats_t st{};
    CHECK(client.stats(st));
    return st;
}

void test_status() {
    segops::Status ok;
    CHECK(ok);
    CHECK(ok.ok());
    CHECK(ok == SEGOPS_OK);
    segops::Status bad = SEGOPS_E_TIMEOUT;
    CHECK(!bad);
    CHECK(bad == SEGOPS_E_TIMEOUT);
    CHECK(bad != ok);
    CHECK_STR(bad.message(), segops_strerror(SEGOPS_E_TIMEOUT));
}

void test_options_errors() {
    segops::Options opts;
    opts.api_url("ftp://nowhere").api_key(kSk).batch_size(0);
    CHECK_CODE(opts.status(), SEGOPS_E_INVALID_ARG);
    CHECK_STR(opts.failed_setter(), "api_url"); // the first failure is kept
    segops::Client client(opts);
    CHECK(!client);
    CHECK_CODE(client.status(), SEGOPS_E_INVALID_ARG);
    CHECK_CODE(client.track("u", "e"), SEGOPS_E_INVALID_ARG); // no client

    segops::Options negative;
    negative.api_url("http://127.0.0.1:9").api_key(kSk).flush_interval(std::chrono::seconds(-1));
    CHECK_STR(negative.failed_setter(), "flush_interval");

    // A pk_ key without get_user: SEGOPS_E_CONFIG, and the logger hears why.
    std::vector<std::string> lines;
    segops::Options pk;
    pk.api_url("http://127.0.0.1:9")
        .api_key(kPk)
        .logger([&lines](segops_log_level_t, std::string_view line) { lines.emplace_back(line); });
    CHECK(pk.status());
    segops::Client pk_client(pk);
    CHECK(!pk_client);
    CHECK_CODE(pk_client.status(), SEGOPS_E_CONFIG);
    CHECK(lines.size() == 1 && lines[0].find("segops_client_new") != std::string::npos);
}

void test_track_initializer_lists() {
    Server server;
    segops::Client client(options_for(server));
    CHECK(client);
    CHECK(client.status());

    std::string sku = "Mug \"XL\"\n\\";
    std::string_view city = "Z\xc3\xbcrich";
    segops::Props kept{{"k", 1}};
    CHECK(client.track(std::string("u-1"), "order_placed",
                       {{"total", 42.5},
                        {"sku", sku},
                        {"qty", 3},
                        {"gift", true},
                        {"coupon", nullptr},
                        {"null_text", static_cast<const char *>(nullptr)},
                        {"ratio", 0.5f},
                        {"big", std::numeric_limits<std::uint64_t>::max()},
                        {"min", std::numeric_limits<std::int64_t>::min()},
                        {"u8", static_cast<unsigned char>(200)},
                        {"address", {{"city", city}, {"geo", {{"lat", 47.37}, {"lon", 8.54}}}}},
                        {"tags", segops::Array{"new", 2, segops::Array{}, {{"x", false}}}},
                        {"raw", segops::Json(" {\"a\": [1]} ")},
                        {"kept", kept},
                        {"empty", segops::Props{}},
                        {"qty", 4}}));
    std::string_view user_view = "u-2-and-more";
    CHECK(client.track(user_view.substr(0, 3), std::string_view("page_viewed")));
    CHECK(client.identify("u-2", {{"plan", "pro"}}));
    CHECK(client.track_json("u-3", "legacy", R"({"a":1})"));
    segops_event_t ev{};
    ev.user_id = "u-4";
    ev.event_type = "stamped";
    ev.occurred_at = "2026-01-02T03:04:05.678Z";
    ev.anonymous_id = "anon-4";
    CHECK(client.track_event(ev, {{"n", 1}}));
    CHECK(client.flush(std::chrono::seconds(10)));

    CHECK(server.count() == 5);
    CHECK_STR(server.raw(0),
              server.expect(0, "\"u-1\"", "order_placed",
                            "{\"total\":42.5,\"sku\":\"Mug \\\"XL\\\"\\n\\\\\",\"qty\":4,"
                            "\"gift\":true,\"coupon\":null,\"null_text\":null,\"ratio\":0.5,"
                            "\"big\":18446744073709551615,\"min\":-9223372036854775808,"
                            "\"u8\":200,\"address\":{\"city\":\"Z\xc3\xbcrich\",\"geo\":{\"lat\":"
                            "47.37,\"lon\":8.54}},\"tags\":[\"new\",2,[],{\"x\":false}],"
                            "\"raw\":{\"a\": [1]},\"kept\":{\"k\":1},\"empty\":{}}"));
    CHECK_STR(server.raw(1), server.expect(1, "\"u-2\"", "page_viewed", "{}"));
    CHECK_STR(server.raw(2),
              server.expect(2, "\"u-2\"", "context_identified", "{\"plan\":\"pro\"}"));
    CHECK_STR(server.raw(3), server.expect(3, "\"u-3\"", "legacy", "{\"a\":1}"));
    CHECK_STR(server.raw(4), "{\"user_id\":\"u-4\",\"event_type\":\"stamped\",\"occurred_at\":"
                             "\"2026-01-02T03:04:05.678Z\",\"anonymous_id\":\"anon-4\","
                             "\"payload\":{\"n\":1}}");
    segops_stats_t st = stats_of(client);
    CHECK(st.enqueued == 5 && st.delivered == 5 && st.dropped == 0);
}

void test_float_value() {
    // 0.1f is not 0.1: the float's exact value as a double, shortest round trip.
    segops::Props p{{"f", 0.1f}};
    CHECK_STR(p.json(), "{\"f\":0.10000000149011612}");
}

void test_props_and_refusals() {
    Server server;
    segops::Client client(options_for(server));
    segops::Props order;
    CHECK_STR(order.json(), "{}");
    CHECK(order.set("sku", "A-1"));
    CHECK(order.set("qty", 1));
    CHECK(client.track("u", "order_placed", order));
    CHECK(order.set("qty", 2)); // replaced in place; the first event is already copied
    CHECK(client.track("u", "order_placed", order));
    CHECK(client.identify("u", segops::Props{{"plan", "free"}}));
    CHECK_CODE(order.set("bad", std::nan("")), SEGOPS_E_INVALID_ARG);
    CHECK_CODE(order.set("bad\xff", 1), SEGOPS_E_INVALID_ARG);
    CHECK_CODE(order.append(1), SEGOPS_E_INVALID_ARG); // not an array
    CHECK_STR(order.json(), "{\"sku\":\"A-1\",\"qty\":2}");

    segops::Props list = segops::Props::array({1, "two"});
    CHECK(list.append(3.5));
    CHECK_CODE(list.set("k", 1), SEGOPS_E_INVALID_ARG);
    CHECK_STR(list.json(), "[1,\"two\",3.5]");
    CHECK(order.set("list", list));

    // Refusals: builder errors return before the client; id errors are counted.
    segops::Props broken{{"ok", 1}, {"nan", std::numeric_limits<double>::infinity()}};
    CHECK_CODE(broken.status(), SEGOPS_E_INVALID_ARG);
    CHECK_CODE(client.track("u", "e", broken), SEGOPS_E_INVALID_ARG);
    CHECK_CODE(client.track("u", "e", {{"nan", std::nan("")}}), SEGOPS_E_INVALID_ARG);
    CHECK_CODE(client.track("u", "e", {{"bad", "\xc3"}}), SEGOPS_E_INVALID_ARG);
    CHECK_CODE(client.track("u", "e", {{"raw", segops::Json("{oops}")}}), SEGOPS_E_INVALID_JSON);
    segops_stats_t st = stats_of(client);
    CHECK(st.rejected_invalid_arg == 0 && st.rejected_invalid_json == 0);
    CHECK_CODE(client.track("", "e"), SEGOPS_E_INVALID_ARG);
    CHECK_CODE(client.track(std::string_view("u\0x", 3), "e", {{"a", 1}}), SEGOPS_E_INVALID_ARG);
    CHECK_CODE(client.track(static_cast<const char *>(nullptr), "e"), SEGOPS_E_INVALID_ARG);
    CHECK_CODE(client.track("u", "e", list), SEGOPS_E_INVALID_JSON);
    CHECK_CODE(client.track_json("u", "e", "[1]"), SEGOPS_E_INVALID_JSON);
    std::string long_id(300, 'x'); // a string_view copied to the heap
    CHECK(client.track(std::string_view(long_id), "e"));
    st = stats_of(client);
    CHECK(st.rejected_invalid_arg == 3);
    CHECK(st.rejected_invalid_json == 2);

    CHECK(client.flush(segops::no_deadline));
    CHECK(server.count() == 4);
    CHECK_STR(server.raw(0),
              server.expect(0, "\"u\"", "order_placed", "{\"sku\":\"A-1\",\"qty\":1}"));
    CHECK_STR(server.raw(1),
              server.expect(1, "\"u\"", "order_placed", "{\"sku\":\"A-1\",\"qty\":2}"));
    CHECK_STR(server.raw(2),
              server.expect(2, "\"u\"", "context_identified", "{\"plan\":\"free\"}"));
    CHECK_STR(server.raw(3), server.expect(3, "\"" + long_id + "\"", "e", "{}"));
}

// Callables outlive the Options they were given to; the destructor shuts down with
// the deadline it was given and reports what it dropped.
void test_callables_and_destructor_deadline() {
    Server server;
    auto reports = std::make_shared<std::atomic<int>>(0);
    auto dropped = std::make_shared<std::atomic<std::size_t>>(0);
    std::string tag = "captured";
    segops::Client client;
    CHECK(!client);
    CHECK_CODE(client.status(), SEGOPS_E_STATE);
    {
        segops::Options opts = options_for(server);
        opts.on_error([reports, dropped, tag](const segops_error_info_t &e) {
                if (tag == "captured" && e.reason == SEGOPS_DROP_SHUTDOWN) {
                    dropped->fetch_add(e.event_count);
                    reports->fetch_add(1);
                }
            })
            .shutdown_timeout(std::chrono::milliseconds(300));
        client = segops::Client(opts);
    } // the Options (and their copy of the lambda) are gone
    CHECK(client);
    CHECK(client.shutdown_timeout() == segops::Timeout(std::chrono::milliseconds(300)));
    devsrv_script_text(server.srv, "noanswer");
    for (int i = 0; i < 10; i++) CHECK(client.track("u", "e", {{"i", i}}));
    CHECK_CODE(client.flush(std::chrono::milliseconds(100)), SEGOPS_E_TIMEOUT);

    segops::Client moved = std::move(client);
    CHECK(!client);
    CHECK(moved);
    // Move-assigning destroys the old client: shutdown(300 ms). The server never answers,
    // so only that deadline can end it, and what it drops is reported before it returns.
    moved = segops::Client();
    CHECK(!moved);
    CHECK(reports->load() >= 1);
    CHECK(dropped->load() == 10);
    CHECK(reports.use_count() == 1); // the client's copy of the lambda is freed
}

// pk_ key: get_user (a lambda with captures) is asked at mint time; the logger hears it.
void test_get_user_and_logger() {
    Server server;
    std::mutex lock;
    std::vector<std::string> lines;
    std::string identity = "user-from-lambda";
    std::atomic<int> asked{0};
    segops::Options opts = options_for(server, kPk);
    opts.get_user([&identity, &asked](segops::User &user) -> segops::Status {
            asked++;
            segops::Status s = user.set_id(identity);
            return s ? user.set_anonymous_id(std::string_view("anon-from-lambda")) : s;
        })
        .logger(
            [&](segops_log_level_t, std::string_view line) {
                std::lock_guard<std::mutex> hold(lock);
                lines.emplace_back(line);
            },
            SEGOPS_LOG_DEBUG);
    segops::Client client(opts);
    CHECK(client);
    CHECK(client.track("ignored-for-pk", "signed_in", {{"via", "pk"}}));
    CHECK(client.flush(std::chrono::seconds(10)));
    CHECK(asked.load() == 1);
    CHECK(server.count() == 1);
    // The mint carried the lambda's identity; the server attributes the event to it.
    char mint[512] = "";
    devsrv_last_mint_body(server.srv, mint, sizeof mint);
    CHECK_STR(mint, R"({"user_id":"user-from-lambda","anonymous_id":"anon-from-lambda"})");
    devsrv_event_t ev{};
    CHECK(devsrv_event_at(server.srv, 0, &ev) == 0);
    CHECK_STR(ev.user_id ? ev.user_id : "", "user-from-lambda");
    devsrv_event_free(&ev);
    std::lock_guard<std::mutex> hold(lock);
    bool minted = false;
    for (const std::string &line : lines) minted |= line.find("minted") != std::string::npos;
    CHECK(minted);
}

void test_sync_mode() {
    Server server;
    segops::Options opts = options_for(server);
    opts.batch(false);
    segops::Client client(opts);
    CHECK(client.track("u", "now", {{"x", 1}}));
    CHECK(server.count() == 1); // sent on this thread
    devsrv_script_text(server.srv, "400");
    CHECK_CODE(client.track("u", "now", {{"x", 2}}), SEGOPS_E_HTTP);
}

// Threads share one client; each builds its payloads from initializer lists (the
// per-thread scratch builders) and tracks from inside on_error too.
void test_threads() {
    Server server;
    constexpr int kThreads = 4, kPerThread = 400;
    // One request at a time: each thread's events then arrive in its order.
    segops::Client client(options_for(server).max_in_flight(1));
    std::vector<std::thread> threads;
    std::atomic<int> failed{0};
    for (int t = 0; t < kThreads; t++) {
        threads.emplace_back([&client, &failed, t] {
            std::string user = "user-" + std::to_string(t);
            for (int i = 0; i < kPerThread; i++) {
                if (!client.track(
                        user, "tick",
                        {{"t", t}, {"i", i}, {"nested", {{"deep", segops::Array{i, t}}}}}))
                    failed++;
            }
        });
    }
    for (std::thread &th : threads) th.join();
    CHECK(failed.load() == 0);
    CHECK(client.flush(std::chrono::seconds(30)));
    CHECK(server.count() == kThreads * kPerThread);
    std::vector<int> next(kThreads, 0);
    for (std::size_t k = 0; k < server.count(); k++) {
        std::string raw = server.raw(k);
        int t = -1, i = -1;
        std::size_t at = raw.find("\"payload\":");
        CHECK(at != std::string::npos &&
              std::sscanf(raw.c_str() + at, "\"payload\":{\"t\":%d,\"i\":%d", &t, &i) == 2);
        if (t < 0 || t >= kThreads) continue;
        CHECK(i == next[static_cast<std::size_t>(t)]++);
        std::string want = "{\"t\":" + std::to_string(t) + ",\"i\":" + std::to_string(i) +
                           ",\"nested\":{\"deep\":[" + std::to_string(i) + "," + std::to_string(t) +
                           "]}}}";
        CHECK_STR(raw.substr(at + std::strlen("\"payload\":")), want);
    }
}

// Timeout: no_deadline is -1 for C; every duration is clamped to 0..INT_MAX ms, rounded
// up, without overflow whatever its representation.
void test_timeout_conversions() {
    using namespace std::chrono;
    CHECK(segops::Timeout(segops::no_deadline).ms() == -1);
    CHECK(!segops::Timeout(segops::no_deadline).has_deadline());
    CHECK(segops::Timeout(milliseconds(0)).has_deadline());
    CHECK(segops::Timeout(milliseconds(0)).ms() == 0);
    CHECK(segops::Timeout(milliseconds(-1)).ms() == 0); // once "no deadline"
    CHECK(segops::Timeout(seconds(-5)).ms() == 0);
    CHECK(segops::Timeout(hours::min()).ms() == 0);
    CHECK(segops::Timeout(nanoseconds(1)).ms() == 1);
    CHECK(segops::Timeout(microseconds(1500)).ms() == 2);
    CHECK(segops::Timeout(microseconds(2000)).ms() == 2);
    CHECK(segops::Timeout(seconds(5)).ms() == 5000);
    CHECK(segops::Timeout(segops::default_shutdown_timeout).ms() == 5000);
    CHECK(segops::Timeout(milliseconds(INT_MAX - 1)).ms() == INT_MAX - 1);
    CHECK(segops::Timeout(milliseconds(INT_MAX)).ms() == INT_MAX);
    CHECK(segops::Timeout(milliseconds(std::int64_t{INT_MAX} + 1)).ms() == INT_MAX);
    CHECK(segops::Timeout(seconds::max()).ms() == INT_MAX); // overflowed before
    CHECK(segops::Timeout(hours::max()).ms() == INT_MAX);
    CHECK(segops::Timeout(nanoseconds::max()).ms() == INT_MAX);
    CHECK(segops::Timeout(duration<double>(1e300)).ms() == INT_MAX);
    CHECK(segops::Timeout(duration<double>(-1e300)).ms() == 0);
    CHECK(segops::Timeout(duration<double>(std::nan(""))).ms() == 0);
    CHECK(segops::Timeout(duration<double, std::milli>(0.25)).ms() == 1);
    CHECK(segops::Timeout(duration<unsigned, std::milli>(7)).ms() == 7);
    CHECK(segops::Timeout(duration<std::uint64_t>(UINT64_MAX)).ms() == INT_MAX);
    static_assert(segops::Timeout(std::chrono::seconds(2)).ms() == 2000, "constexpr");
}

// flush(deadline - now) after the deadline returns at once instead of waiting forever
// (a negative duration used to mean no deadline), a shutdown timeout that is negative
// drops at once and reports it, and the largest durations wait without overflowing.
void test_flush_deadlines() {
    {
        Server server;
        std::atomic<std::size_t> dropped{0};
        segops::Options opts = options_for(server);
        opts.on_error([&dropped](const segops_error_info_t &e) {
                if (e.reason == SEGOPS_DROP_SHUTDOWN) dropped += e.event_count;
            })
            .shutdown_timeout(std::chrono::milliseconds(-1));
        CHECK(devsrv_script_text(server.srv, "noanswer") == 0);
        segops::Client client(opts);
        CHECK(client.shutdown_timeout() == segops::Timeout(std::chrono::milliseconds(0)));
        auto deadline = std::chrono::steady_clock::now();
        CHECK(client.track("u", "held", {{"n", 1}}));
        // The server never answers: without the clamp this would block for ever.
        CHECK_CODE(client.flush(deadline - std::chrono::steady_clock::now() -
                                std::chrono::milliseconds(1)),
                   SEGOPS_E_TIMEOUT);
        CHECK_CODE(client.flush(std::chrono::seconds(-3)), SEGOPS_E_TIMEOUT);
        CHECK_CODE(client.shutdown(std::chrono::hours::min()), SEGOPS_E_TIMEOUT);
        CHECK(dropped.load() == 1); // reported before shutdown returned
        segops_stats_t st = stats_of(client);
        CHECK(st.enqueued == 1 && st.dropped_shutdown == 1 && st.pending == 0);
    }
    {
        Server server;
        segops::Client client(options_for(server));
        for (int i = 0; i < 3; i++) CHECK(client.track("u", "e", {{"i", i}}));
        CHECK(client.flush(std::chrono::seconds::max()));
        CHECK(server.count() == 3);
        CHECK(client.track("u", "e", {{"i", 3}}));
        CHECK(client.flush(segops::no_deadline));
        CHECK(server.count() == 4);
        client.set_shutdown_timeout(segops::no_deadline);
        CHECK(client.shutdown_timeout() == segops::no_deadline);
        CHECK(client.shutdown(std::chrono::nanoseconds::max()));
        segops_stats_t st = stats_of(client);
        CHECK(st.enqueued == 4 && st.delivered == 4 && st.dropped == 0);
    }
}

// Every setter reaches its C option (read back from segops_options_t), durations
// rounded up; an out-of-range duration saturates and is refused instead of wrapping into
// range; get() is the same C object.
void test_every_option_reaches_c() {
    using namespace std::chrono;
    segops::Options opts;
    opts.api_url("http://127.0.0.1:1/base/")
        .api_key(std::string_view("sk_every_option"))
        .batch(false)
        .batch_size(33)
        .flush_interval(microseconds(1500001))
        .max_queue_events(444)
        .max_queue_bytes(8192)
        .overflow(SEGOPS_OVERFLOW_DROP_OLDEST)
        .block_timeout(milliseconds(250))
        .max_event_bytes(4096)
        .max_request_bytes(128 * 1024)
        .max_retries(3)
        .retry_backoff(milliseconds(100), seconds(2))
        .retry_budget(seconds(90))
        .retry_after_max(seconds(45))
        .connect_timeout(milliseconds(1234))
        .request_timeout(milliseconds(2345))
        .sync_timeout(milliseconds(3456))
        .exit_flush(milliseconds(4567))
        .ca_file(std::string("/nonexistent/ca.pem"))
        .ca_path("/nonexistent/certs")
        .proxy("http://proxy.invalid:3128")
        .allow_insecure_http(true)
        .user_agent_suffix("every-option/1")
        .max_requests_per_minute(60)
        .spool_dir("/nonexistent/spool")
        .spool_max_bytes(std::uint64_t{3} << 20)
        .spool_max_age(hours(2))
        .spool_fsync(milliseconds(250))
        .on_error([](const segops_error_info_t &) {})
        .logger([](segops_log_level_t, std::string_view) {}, SEGOPS_LOG_WARN)
        .get_user([](segops::User &) { return segops::Status(); });
    CHECK(opts.status());
    CHECK(opts.failed_setter() == nullptr);
    const segops_options_t *c = opts.get();
    CHECK(c != nullptr);
    if (!c) return;
    CHECK_STR(c->api_url, "http://127.0.0.1:1/base");
    CHECK_STR(c->api_key, "sk_every_option");
    CHECK(!c->batch);
    CHECK(c->batch_size == 33);
    CHECK(c->flush_interval_ms == 1501);
    CHECK(c->max_queue_events == 444);
    CHECK(c->max_queue_bytes == 8192);
    CHECK(c->overflow == SEGOPS_OVERFLOW_DROP_OLDEST);
    CHECK(c->block_timeout_ms == 250);
    CHECK(c->max_event_bytes == 4096);
    CHECK(c->max_request_bytes == 128 * 1024);
    CHECK(c->max_retries == 3);
    CHECK(c->retry_base_ms == 100 && c->retry_cap_ms == 2000);
    CHECK(c->retry_budget_ms == 90000);
    CHECK(c->retry_after_max_ms == 45000);
    CHECK(c->connect_timeout_ms == 1234);
    CHECK(c->request_timeout_ms == 2345);
    CHECK(c->sync_timeout_ms == 3456);
    CHECK(c->exit_flush_ms == 4567);
    CHECK_STR(c->ca_file, "/nonexistent/ca.pem");
    CHECK_STR(c->ca_path, "/nonexistent/certs");
    CHECK_STR(c->proxy, "http://proxy.invalid:3128");
    CHECK(c->allow_insecure_http);
    CHECK_STR(c->user_agent_suffix, "every-option/1");
    CHECK(c->max_requests_per_minute == 60);
    CHECK_STR(c->spool_dir, "/nonexistent/spool");
    CHECK(c->spool_max_bytes == std::uint64_t{3} << 20);
    CHECK(c->spool_max_age_ms == 7200000);
    CHECK(c->spool_fsync_ms == 250);
    CHECK(c->on_error != nullptr && c->on_error_data != nullptr);
    CHECK(c->logger != nullptr && c->logger_data != nullptr && c->log_level == SEGOPS_LOG_WARN);
    CHECK(c->get_user != nullptr && c->get_user_data != nullptr);

    // nullptr clears a callable and turns the spool off; get() is the same object.
    opts.on_error(nullptr).logger(nullptr).get_user(nullptr).spool_dir(nullptr);
    CHECK(c->on_error == nullptr && c->on_error_data == nullptr);
    CHECK(c->logger == nullptr && c->logger_data == nullptr);
    CHECK(c->get_user == nullptr && c->get_user_data == nullptr);
    CHECK(c->spool_dir == nullptr);
    CHECK(segops_options_set_batch_size(opts.get(), 77) == SEGOPS_OK);
    CHECK(c->batch_size == 77);
    CHECK(opts.status());

    // Saturated, then refused by the C setter: the option keeps its value.
    segops::Options wrap;
    wrap.flush_interval(milliseconds(std::int64_t{1} << 32 | 1000)); // would wrap to 1000
    CHECK_CODE(wrap.status(), SEGOPS_E_INVALID_ARG);
    CHECK_STR(wrap.failed_setter(), "flush_interval");
    CHECK(wrap.get()->flush_interval_ms == segops__config_defaults()->flush_interval_ms);
    segops::Options huge;
    huge.spool_max_age(hours::max());
    CHECK_STR(huge.failed_setter(), "spool_max_age");
    CHECK(huge.get()->spool_max_age_ms == segops__config_defaults()->spool_max_age_ms);
    segops::Options backoff;
    backoff.retry_backoff(milliseconds(1), seconds::max());
    CHECK_STR(backoff.failed_setter(), "retry_backoff");
    segops::Options negative;
    negative.spool_fsync(milliseconds(-1));
    CHECK_STR(negative.failed_setter(), "spool_fsync");
    segops::Options fsync_range;
    fsync_range.spool_fsync(milliseconds(60001)).max_requests_per_minute(100001);
    CHECK_STR(fsync_range.failed_setter(), "spool_fsync");
    segops::Options rpm;
    rpm.max_requests_per_minute(100001);
    CHECK_STR(rpm.failed_setter(), "max_requests_per_minute");
}

// Clients made from one const Options on two threads at once: the Options' C object is
// byte for byte what it was (TSan sees no write), and every client works.
void test_const_options_shared() {
    Server server;
    std::atomic<std::size_t> errors{0};
    segops::Options built = options_for(server);
    built.on_error([&errors](const segops_error_info_t &e) { errors += e.event_count; });
    const segops::Options &opts = built;
    segops_options_t before;
    std::memcpy(&before, opts.get(), sizeof before);

    constexpr int kThreads = 2, kClients = 3;
    std::atomic<int> failed{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; t++) {
        threads.emplace_back([&opts, &failed, t] {
            for (int k = 0; k < kClients; k++) {
                segops::Client client(opts);
                if (!client || !client.track("u", "shared", {{"t", t}, {"k", k}}) ||
                    !client.flush(segops::no_deadline))
                    failed++;
            }
        });
    }
    for (std::thread &th : threads) th.join();
    CHECK(failed.load() == 0);
    CHECK(server.count() == kThreads * kClients);
    CHECK(errors.load() == 0);
    CHECK(std::memcmp(&before, opts.get(), sizeof before) == 0);
}

// A Client destroyed inside its own on_error: the C library refuses to free a client
// from a callback, and so does the wrapper. The running callable stays alive (ASan saw a
// heap-use-after-free here), and the client keeps working until exit shuts it down.
struct DestroyInCallback {
    std::mutex lock;
    std::condition_variable changed;
    std::unique_ptr<segops::Client> client;
    bool destroyed = false;
    int reports = 0;
};

void test_destroy_in_callback() {
    Server server;
    DestroyInCallback state;
    {
        segops::Options opts = options_for(server);
        opts.on_error([&state](const segops_error_info_t &e) {
            if (e.reason != SEGOPS_DROP_REJECTED) return;
            state.client.reset(); // refused: the client and this callable stay alive
            std::lock_guard<std::mutex> hold(state.lock); // reads the capture after the reset
            state.reports++;
            state.destroyed = state.client == nullptr;
            state.changed.notify_all();
        });
        state.client.reset(new (std::nothrow) segops::Client(opts));
    } // the client holds the only reference to the callable
    CHECK(state.client && *state.client);
    if (!state.client || !*state.client) return;
    segops_client_t *raw = state.client->get();
    CHECK(devsrv_script_text(server.srv, "400") == 0);
    // Nothing is sent before a flush (options_for: batch_size 1000, flush_interval 1 h), and
    // from then on this thread leaves state.client to the callback.
    CHECK(state.client->track("u", "rejected", {{"n", 1}}));
    CHECK(segops_flush(raw, -1) == SEGOPS_OK); // the drop is reported before it returns
    {
        std::unique_lock<std::mutex> hold(state.lock);
        state.changed.wait(hold, [&state] { return state.reports > 0; });
        CHECK(state.destroyed);
        CHECK(state.reports == 1);
    }
    // The C client was not freed: it still tracks and delivers.
    CHECK(segops_track(raw, "u", "after", "{\"n\":2}") == SEGOPS_OK);
    CHECK(segops_flush(raw, -1) == SEGOPS_OK);
    CHECK(server.count() == 1);
    CHECK_STR(server.raw(0), server.expect(0, "\"u\"", "after", "{\"n\":2}"));
    segops_stats_t st{};
    CHECK(segops_client_stats(raw, &st) == SEGOPS_OK);
    CHECK(st.enqueued == 2 && st.delivered == 1 && st.dropped_rejected == 1 && st.pending == 0);
}

// The same inside another client's callback: the C library refuses to free any client
// from inside any segops callback, so the wrapper cannot free this one either.
void test_destroy_other_in_callback() {
    Server server;
    DestroyInCallback state; // state.client: the other client
    std::atomic<int> other_rejected{0};
    {
        segops::Options other_opts = options_for(server);
        other_opts.on_error([&other_rejected](const segops_error_info_t &e) {
            if (e.reason == SEGOPS_DROP_REJECTED) other_rejected++;
        });
        state.client.reset(new (std::nothrow) segops::Client(other_opts));
    } // the other client holds the only reference to its callable
    CHECK(state.client && *state.client);
    if (!state.client || !*state.client) return;
    segops_client_t *other = state.client->get();
    segops::Options opts = options_for(server);
    opts.on_error([&state](const segops_error_info_t &e) {
        if (e.reason != SEGOPS_DROP_REJECTED) return;
        state.client.reset();
        std::lock_guard<std::mutex> hold(state.lock);
        state.reports++;
        state.destroyed = state.client == nullptr;
        state.changed.notify_all();
    });
    segops::Client client(opts);
    CHECK(devsrv_script_text(server.srv, "400") == 0);
    CHECK(client.track("u", "rejected"));
    CHECK(client.flush(segops::no_deadline));
    {
        std::unique_lock<std::mutex> hold(state.lock);
        state.changed.wait(hold, [&state] { return state.reports > 0; });
        CHECK(state.destroyed);
    }
    // Its callable is still there for its next report, and it still delivers.
    CHECK(devsrv_script_text(server.srv, "400") == 0);
    CHECK(segops_track(other, "u", "rejected", nullptr) == SEGOPS_OK);
    CHECK(segops_flush(other, -1) == SEGOPS_OK);
    CHECK(other_rejected.load() == 1);
    CHECK(segops_track(other, "u", "after", nullptr) == SEGOPS_OK);
    CHECK(segops_flush(other, -1) == SEGOPS_OK);
    CHECK(server.count() == 1);
    CHECK_STR(server.raw(0), server.expect(0, "\"u\"", "after", "{}"));
}

// segops::sign_user_id is segops_sign_user_id, from any string type.
void test_sign_user_id() {
    const char *secret = "00112233445566778899aabbccddeeff";
    segops_signed_user_t c{}, cpp{};
    CHECK(segops_sign_user_id(secret, "user-42", 1700000000, &c) == SEGOPS_OK);
    CHECK(segops::sign_user_id(secret, "user-42", 1700000000, cpp));
    CHECK_STR(cpp.user_id_sig, c.user_id_sig);
    CHECK(cpp.user_id_ts == 1700000000);
    segops_signed_user_t from_views{};
    std::string secret_text = secret;
    std::string_view user = std::string_view("user-42-and-more").substr(0, 7); // no NUL after
    CHECK(segops::sign_user_id(std::string_view(secret_text), user, 1700000000, from_views));
    CHECK_STR(from_views.user_id_sig, c.user_id_sig);
    CHECK(segops_verify_user_id(secret, "user-42", cpp.user_id_sig, 1700000000, 1700000000, 0) ==
          SEGOPS_OK);

    segops_signed_user_t now{};
    CHECK(segops::sign_user_id(std::string(secret), std::string("user-42"), 0, now));
    CHECK(now.user_id_ts > 1700000000);

    segops_signed_user_t bad{};
    CHECK_CODE(segops::sign_user_id("not hex", "user-42", 0, bad),
               segops_sign_user_id("not hex", "user-42", 0, &bad));
    CHECK_CODE(segops::sign_user_id(secret, "", 0, bad), SEGOPS_E_INVALID_ARG);
    CHECK_CODE(segops::sign_user_id(secret, std::string_view("u\0x", 3), 0, bad),
               SEGOPS_E_INVALID_ARG);
    CHECK_CODE(segops::sign_user_id(nullptr, "user-42", 0, bad), SEGOPS_E_INVALID_ARG);
}

// Character arrays and char* stay strings: only other pointers are refused (misuse.cpp).
void test_char_pointers_are_strings() {
    char buffer[] = "buf";
    char *mutable_text = buffer;
    const char *const_text = "const";
    segops::Props p{{"a", buffer}, {"b", mutable_text}, {"c", const_text}};
    CHECK(p.status());
    CHECK_STR(p.json(), "{\"a\":\"buf\",\"b\":\"buf\",\"c\":\"const\"}");
}

} // namespace

int main() {
    test_status();
    test_options_errors();
    test_track_initializer_lists();
    test_float_value();
    test_props_and_refusals();
    test_callables_and_destructor_deadline();
    test_get_user_and_logger();
    test_sync_mode();
    test_threads();
    test_timeout_conversions();
    test_flush_deadlines();
    test_every_option_reaches_c();
    test_const_options_shared();
    test_destroy_in_callback();
    test_destroy_other_in_callback();
    test_sign_user_id();
    test_char_pointers_are_strings();
    if (failures) {
        std::fprintf(stderr, "test_cpp_wrapper: %d check(s) failed\n", failures);
        return 1;
    }
    std::printf("test_cpp_wrapper: all checks passed\n");
    return 0;
}
