// Misuses of segops.hpp that must not compile, one per SEGOPS_MISUSE_* macro. With none
// defined this file is the control: it must compile cleanly, so each case fails for the
// one line it adds. tests/cpp/CMakeLists.txt compiles it once per case (-fsyntax-only)
// and matches the diagnostic that says why (see compile_check.cmake).
#include <segops/segops.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>

segops::Status misuse(segops::Client &client, segops::Props &props, const segops::Options &opts);

segops::Status misuse(segops::Client &client, segops::Props &props, const segops::Options &opts) {
    std::string sku = "mug";
    // The right way: every view written inside the call that uses it.
    segops::Status s = client.track(
        "u", "e", {{"sku", sku}, {"tags", segops::Array{"a", 1}}, {"raw", segops::Json("[1]")}});
    if (s) s = props.set("qty", 1);
    if (s) s = client.flush(segops::no_deadline);
    if (s) s = client.flush(std::chrono::seconds(1));
    segops_signed_user_t signed_user{};
    if (s) s = segops::sign_user_id("00ff", "u", 0, signed_user);
    if (s && !opts.status()) s = opts.status();
    if (s && opts.get() == nullptr) s = SEGOPS_E_NOMEM;

#if defined(SEGOPS_MISUSE_STORED_ARRAY) // dangled: ASan stack-use-after-scope
    segops::Array tags{"a", "b"};
    if (s) s = client.track("u", "e", {{"tags", tags}});
#elif defined(SEGOPS_MISUSE_MOVED_ARRAY)
    segops::Array tags{"a", "b"};
    if (s) s = client.track("u", "e", {{"tags", std::move(tags)}});
#elif defined(SEGOPS_MISUSE_STORED_VALUE)
    segops::Value value = std::string("gone at the end of this line");
    if (s) s = props.set("k", value);
#elif defined(SEGOPS_MISUSE_MOVED_VALUE)
    segops::Value value = std::string("gone at the end of this line");
    if (s) s = props.set("k", std::move(value));
#elif defined(SEGOPS_MISUSE_STORED_VALUE_IN_ARRAY)
    segops::Value value = 1;
    if (s) s = client.track("u", "e", {{"tags", segops::Array{value}}});
#elif defined(SEGOPS_MISUSE_STORED_MEMBER)
    segops::Member member{"sku", std::string("gone at the end of this line")};
    if (s) s = client.track("u", "e", {member});
#elif defined(SEGOPS_MISUSE_STORED_JSON)
    segops::Json raw(std::string("[1, 2]"));
    if (s) s = client.track("u", "e", {{"raw", raw}});
#elif defined(SEGOPS_MISUSE_POINTER_VALUE) // became true
    const std::string *pointer = &sku;
    if (s) s = client.track("u", "e", {{"sku", pointer}});
#elif defined(SEGOPS_MISUSE_VOID_POINTER_VALUE)
    const void *pointer = &sku;
    if (s) s = props.set("k", pointer);
#elif defined(SEGOPS_MISUSE_INT_ARRAY_VALUE)
    int numbers[2] = {1, 2};
    if (s) s = props.set("k", numbers);
#elif defined(SEGOPS_MISUSE_DISCARDED_FLUSH)
    client.flush(std::chrono::seconds(1));
#elif defined(SEGOPS_MISUSE_DISCARDED_TRACK)
    client.track("u", "e", {{"sku", sku}});
#elif defined(SEGOPS_MISUSE_DISCARDED_SIGN)
    segops::sign_user_id("00ff", "u", 0, signed_user);
#elif defined(SEGOPS_MISUSE_CONST_OPTIONS_SETTER)
    opts.api_url("http://127.0.0.1:1");
#elif defined(SEGOPS_MISUSE_CONST_OPTIONS_C)
    if (s) s = segops_options_set_batch(opts.get(), false);
#elif defined(SEGOPS_MISUSE_INT_TIMEOUT) // -1 used to mean no deadline
    if (s) s = client.flush(-1);
#endif
    return s;
}
