// libsegops C++ API — a header-only C++17 wrapper over <segops/segops.h>.
//
//   segops::Options opts;
//   opts.api_url("https://api.segops.ai").api_key(key).on_error([&](const segops_error_info_t &e) {
//       log.warn("segops dropped {} events: {}", e.event_count, e.message);
//   });
//   segops::Client client(opts);              // explicit operator bool: created or not
//   if (!client) return client.status().message();
//   client.track(user_id, "order_placed",
//                {{"total", 42.5}, {"sku", sku}, {"qty", 3}, {"gift", true},
//                 {"address", {{"city", city}}}, {"tags", segops::Array{"new", "promo"}}});
//   client.identify(user_id, {{"plan", "pro"}});
//   client.flush(std::chrono::seconds(5));     // returns a segops::Status
//
// Rules:
// - No exceptions and no RTTI are needed (-fno-exceptions -fno-rtti work); nothing here
//   throws. Every call returns a segops::Status (the C segops_err_t with an explicit
//   operator bool that is true on success), including out-of-memory (SEGOPS_E_NOMEM):
//   the wrapper allocates only with new(std::nothrow), malloc and the C library.
//   Copying your callables and strings follows their own rules.
// - Thread-safety is the C library's: a Client may be used from any number of threads;
//   Options and Props are builders for one thread at a time (a Props that no thread
//   modifies may be tracked from several).
// - Value, Member, Array and Json are views for one expression (like std::string_view):
//   they borrow the strings and lists they are made from. Keep a payload in a Props.
// - Callables (on_error, logger, get_user) run on library threads with no library lock
//   held, exactly as their C counterparts (see segops.h); they must not throw. Each
//   Client owns its own copies, alive until the Client is destroyed.
//
// SPDX-License-Identifier: MIT
#ifndef SEGOPS_SEGOPS_HPP
#define SEGOPS_SEGOPS_HPP

#include <segops/segops.h>

#include <charconv>
#include <chrono>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace segops {

// The outcome of a call: a segops_err_t. `if (status)` means success.
class Status {
  public:
    constexpr Status() noexcept = default;
    constexpr Status(segops_err_t code) noexcept : code_(code) {} // NOLINT: implicit on purpose
    constexpr bool ok() const noexcept { return code_ == SEGOPS_OK; }
    constexpr explicit operator bool() const noexcept { return ok(); }
    constexpr segops_err_t code() const noexcept { return code_; }
    // Static text, never null.
    const char *message() const noexcept { return segops_strerror(code_); }
    friend constexpr bool operator==(Status a, Status b) noexcept { return a.code_ == b.code_; }
    friend constexpr bool operator!=(Status a, Status b) noexcept { return a.code_ != b.code_; }

  private:
    segops_err_t code_ = SEGOPS_OK;
};

// flush / shutdown without a deadline.
inline constexpr std::chrono::milliseconds no_deadline{-1};
// What ~Client gives segops_shutdown unless told otherwise (Options::shutdown_timeout,
// Client::set_shutdown_timeout): 5 seconds; what is undelivered then is dropped and
// reported through on_error.
inline constexpr std::chrono::milliseconds default_shutdown_timeout{5000};

namespace detail {

// A NUL-terminated string for a C call, from a C string, a std::string (no copy) or a
// std::string_view (copied: inline when short, else on the heap). A view holding a NUL
// becomes "" so the library refuses it as it refuses any invalid id (SEGOPS_E_INVALID_ARG).
class CStr {
  public:
    CStr(std::nullptr_t) noexcept {}                         // NOLINT
    CStr(const char *s) noexcept : ptr_(s) {}                // NOLINT
    CStr(const std::string &s) noexcept : ptr_(s.c_str()) {} // NOLINT
    CStr(std::string_view s) noexcept {                      // NOLINT
        if (!s.empty() && std::memchr(s.data(), '\0', s.size())) {
            ptr_ = "";
            return;
        }
        char *dst = inline_;
        if (s.size() >= sizeof inline_) {
            heap_ = static_cast<char *>(std::malloc(s.size() + 1));
            if (!heap_) {
                error_ = SEGOPS_E_NOMEM;
                return;
            }
            dst = heap_;
        }
        if (!s.empty()) std::memcpy(dst, s.data(), s.size());
        dst[s.size()] = '\0';
        ptr_ = dst;
    }
    CStr(const CStr &) = delete;
    CStr &operator=(const CStr &) = delete;
    ~CStr() { std::free(heap_); }
    const char *get() const noexcept { return ptr_; }
    segops_err_t error() const noexcept { return error_; } // SEGOPS_E_NOMEM or SEGOPS_OK

  private:
    const char *ptr_ = nullptr;
    char *heap_ = nullptr;
    segops_err_t error_ = SEGOPS_OK;
    char inline_[128];
};

template <class T> std::int32_t to_ms_int(T d) noexcept { // < 0: no deadline
    if (d < T::zero()) return -1;
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(d).count();
    return ms > INT_MAX ? INT_MAX : static_cast<std::int32_t>(ms);
}

struct Writer;

} // namespace detail

class Props;
struct Member;

// Nested JSON text, validated when the payload is built: {"raw", segops::Json("[1,2]")}.
class Json {
  public:
    explicit constexpr Json(std::string_view text) noexcept : text_(text) {}
    constexpr std::string_view text() const noexcept { return text_; }

  private:
    std::string_view text_;
};

class Array;

// One payload value: null, bool, any integer, float/double, string, nested object
// ({{"k", v}, ...}), segops::Array{...}, segops::Json("..."), or a Props. A const char*
// that is null is JSON null; `{}` is null too.
class Value {
  public:
    Value() noexcept {}
    Value(std::nullptr_t) noexcept {}                        // NOLINT
    Value(bool b) noexcept : kind_(Kind::Bool) { u_.b = b; } // NOLINT
    template <class T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool> &&
                                            !std::is_same_v<T, char>,
                                        int> = 0>
    Value(T v) noexcept { // NOLINT
        if constexpr (std::is_signed_v<T>) {
            kind_ = Kind::Int;
            u_.i = static_cast<std::int64_t>(v);
        } else {
            kind_ = Kind::Uint;
            u_.u = static_cast<std::uint64_t>(v);
        }
    }
    Value(char) = delete; // a char is not a number nor a string: say which
    template <class T, std::enable_if_t<std::is_floating_point_v<T>, int> = 0>
    Value(T v) noexcept : kind_(Kind::Double) { // NOLINT
        u_.d = static_cast<double>(v);
    }
    Value(const char *s) noexcept { // NOLINT
        if (s) set_text(Kind::String, s, std::strlen(s));
    }
    Value(std::string_view s) noexcept { set_text(Kind::String, s.data(), s.size()); }   // NOLINT
    Value(const std::string &s) noexcept { set_text(Kind::String, s.data(), s.size()); } // NOLINT
    Value(Json j) noexcept { set_text(Kind::Json, j.text().data(), j.text().size()); }   // NOLINT
    Value(std::initializer_list<Member> object) noexcept;                                // NOLINT
    Value(const Array &array) noexcept;                                                  // NOLINT
    Value(const Props &props) noexcept : kind_(Kind::Props) { u_.props = &props; }       // NOLINT

  private:
    friend struct detail::Writer;
    enum class Kind { Null, Bool, Int, Uint, Double, String, Json, Object, Array, Props };
    void set_text(Kind kind, const char *data, std::size_t len) noexcept {
        kind_ = kind;
        u_.text.data = data ? data : "";
        u_.text.len = len;
    }
    Kind kind_ = Kind::Null;
    union {
        bool b;
        std::int64_t i;
        std::uint64_t u;
        double d;
        struct {
            const char *data;
            std::size_t len;
        } text;
        struct {
            const void *items; // Member or Value
            std::size_t count;
        } list;
        const Props *props;
    } u_{};
};

// A key and its value in an object: {"total", 42.5}.
struct Member {
    Member(std::string_view k, Value v) noexcept : key(k), value(v) {}
    std::string_view key;
    Value value;
};

// A JSON array in an initializer list: {"tags", segops::Array{"new", 2, true}}.
class Array {
  public:
    Array(std::initializer_list<Value> items) noexcept : items_(items) {}
    const Value *begin() const noexcept { return items_.begin(); }
    std::size_t size() const noexcept { return items_.size(); }

  private:
    std::initializer_list<Value> items_;
};

inline Value::Value(std::initializer_list<Member> object) noexcept : kind_(Kind::Object) {
    u_.list.items = object.begin();
    u_.list.count = object.size();
}

inline Value::Value(const Array &array) noexcept : kind_(Kind::Array) {
    u_.list.items = array.begin();
    u_.list.count = array.size();
}

namespace detail {

// Per-thread builders for nested values, reused call after call so that tracking
// from an initializer list allocates nothing once warm. Taken and given back in
// stack order (a track inside a callback inside a track just goes one level deeper).
class Scratch {
  public:
    Scratch() noexcept = default;
    Scratch(const Scratch &) = delete;
    Scratch &operator=(const Scratch &) = delete;
    ~Scratch() {
        for (Slot &slot : slots_) {
            segops_props_free(slot.object);
            segops_props_free(slot.array);
        }
    }
    segops_err_t take(bool array, segops_props_t **out) noexcept {
        if (top_ == kSlots) return array ? segops_props_new_array(out) : segops_props_new(out);
        segops_props_t *&p = array ? slots_[top_].array : slots_[top_].object;
        if (p) {
            segops_props_clear(p);
        } else {
            segops_err_t err = array ? segops_props_new_array(&p) : segops_props_new(&p);
            if (err != SEGOPS_OK) return err;
        }
        ++top_;
        *out = p;
        return SEGOPS_OK;
    }
    void give(segops_props_t *p) noexcept {
        if (top_ == 0 || (slots_[top_ - 1].object != p && slots_[top_ - 1].array != p)) {
            segops_props_free(p); // one past the slots
            return;
        }
        --top_;
        std::size_t len = 0;
        segops_props_json(p, &len);
        if (len > kKeepBytes) { // one huge payload should not stay pinned to the thread
            Slot &slot = slots_[top_];
            (slot.object == p ? slot.object : slot.array) = nullptr;
            segops_props_free(p);
        }
    }
    static Scratch &of_this_thread() noexcept {
        thread_local Scratch scratch;
        return scratch;
    }

  private:
    static constexpr std::size_t kSlots = 16;
    static constexpr std::size_t kKeepBytes = 64 * 1024;
    struct Slot {
        segops_props_t *object = nullptr;
        segops_props_t *array = nullptr;
    };
    Slot slots_[kSlots];
    std::size_t top_ = 0;
};

// A scratch builder held for one scope.
class Lease {
  public:
    explicit Lease(bool array) noexcept { error_ = Scratch::of_this_thread().take(array, &props_); }
    Lease(const Lease &) = delete;
    Lease &operator=(const Lease &) = delete;
    ~Lease() {
        if (props_) Scratch::of_this_thread().give(props_);
    }
    segops_props_t *get() const noexcept { return props_; }
    segops_err_t error() const noexcept { return error_; }

  private:
    segops_props_t *props_ = nullptr;
    segops_err_t error_;
};

struct Writer {
    // Sets key (nullptr: appends, for arrays) of dst to v.
    static segops_err_t put(segops_props_t *dst, const char *key, std::size_t key_len,
                            const Value &v) noexcept;
    static segops_err_t fill(segops_props_t *dst, const Member *members,
                             std::size_t count) noexcept {
        for (std::size_t i = 0; i < count; i++) {
            const Member &m = members[i];
            segops_err_t err = put(dst, m.key.data() ? m.key.data() : "", m.key.size(), m.value);
            if (err != SEGOPS_OK) return err;
        }
        return SEGOPS_OK;
    }
};

} // namespace detail

// An owned payload builder (segops_props_t): build it over time, keep it, track it many
// times. Move-only. Built lazily: an empty Props holds no memory.
class Props {
  public:
    Props() noexcept = default;
    // Sets each member in order; the first failure is kept in status() (and tracking
    // this Props then returns it).
    Props(std::initializer_list<Member> members) noexcept { // NOLINT
        for (const Member &m : members) {
            Status s = set(m.key, m.value);
            if (!s && status_) status_ = s;
        }
    }
    // An array builder: append() adds to it; it can be nested, not tracked.
    static Props array(std::initializer_list<Value> items = {}) noexcept {
        Props p;
        p.array_ = true;
        p.status_ = p.ensure();
        for (const Value &v : items) {
            Status s = p.append(v);
            if (!s && p.status_) p.status_ = s;
        }
        return p;
    }
    Props(Props &&other) noexcept
        : p_(std::exchange(other.p_, nullptr)), array_(other.array_), status_(other.status_) {}
    Props &operator=(Props &&other) noexcept {
        if (this != &other) {
            segops_props_free(p_);
            p_ = std::exchange(other.p_, nullptr);
            array_ = other.array_;
            status_ = other.status_;
        }
        return *this;
    }
    Props(const Props &) = delete;
    Props &operator=(const Props &) = delete;
    ~Props() { segops_props_free(p_); }

    // Sets key to value (replacing it in place when set before). See segops_props_set_*.
    Status set(std::string_view key, const Value &value) noexcept {
        if (array_) return SEGOPS_E_INVALID_ARG;
        Status s = ensure();
        if (!s) return s;
        return detail::Writer::put(p_, key.data() ? key.data() : "", key.size(), value);
    }
    // Appends to an array builder.
    Status append(const Value &value) noexcept {
        if (!array_) return SEGOPS_E_INVALID_ARG;
        Status s = ensure();
        if (!s) return s;
        return detail::Writer::put(p_, nullptr, 0, value);
    }
    // Empties it (keeps its memory) and forgets a failure of the constructor.
    void clear() noexcept {
        segops_props_clear(p_);
        status_ = SEGOPS_OK;
    }
    // The JSON text; valid until the next change.
    std::string_view json() const noexcept {
        if (!p_) return array_ ? "[]" : "{}";
        std::size_t len = 0;
        const char *text = segops_props_json(p_, &len);
        return {text, len};
    }
    Status status() const noexcept { return status_; }
    bool is_array() const noexcept { return array_; }
    // The C builder, or nullptr while empty (an object: tracking nullptr sends {}).
    const segops_props_t *get() const noexcept { return p_; }

  private:
    Status ensure() noexcept {
        if (p_) return SEGOPS_OK;
        return array_ ? segops_props_new_array(&p_) : segops_props_new(&p_);
    }
    segops_props_t *p_ = nullptr;
    bool array_ = false;
    Status status_;
};

namespace detail {

inline segops_err_t Writer::put(segops_props_t *dst, const char *key, std::size_t key_len,
                                const Value &v) noexcept {
    using Kind = Value::Kind;
    segops_value_t c{};
    char digits[24];
    switch (v.kind_) {
    case Kind::Null: c.type = SEGOPS_VALUE_NULL; break;
    case Kind::Bool:
        c.type = SEGOPS_VALUE_BOOL;
        c.as.boolean = v.u_.b;
        break;
    case Kind::Int:
        c.type = SEGOPS_VALUE_INT;
        c.as.integer = v.u_.i;
        break;
    case Kind::Uint:
        if (v.u_.u <= static_cast<std::uint64_t>(INT64_MAX)) {
            c.type = SEGOPS_VALUE_INT;
            c.as.integer = static_cast<std::int64_t>(v.u_.u);
        } else { // past int64: its exact decimal text
            auto end = std::to_chars(digits, digits + sizeof digits, v.u_.u).ptr;
            c.type = SEGOPS_VALUE_JSON;
            c.as.text.data = digits;
            c.as.text.len = static_cast<std::size_t>(end - digits);
        }
        break;
    case Kind::Double:
        c.type = SEGOPS_VALUE_DOUBLE;
        c.as.number = v.u_.d;
        break;
    case Kind::String:
    case Kind::Json:
        c.type = v.kind_ == Kind::String ? SEGOPS_VALUE_STRING : SEGOPS_VALUE_JSON;
        c.as.text.data = v.u_.text.data;
        c.as.text.len = v.u_.text.len;
        break;
    case Kind::Object:
    case Kind::Array: {
        bool array = v.kind_ == Kind::Array;
        Lease child(array);
        if (child.error() != SEGOPS_OK) return child.error();
        segops_err_t err = SEGOPS_OK;
        if (array) {
            const Value *items = static_cast<const Value *>(v.u_.list.items);
            for (std::size_t i = 0; i < v.u_.list.count && err == SEGOPS_OK; i++)
                err = put(child.get(), nullptr, 0, items[i]);
        } else {
            err = fill(child.get(), static_cast<const Member *>(v.u_.list.items), v.u_.list.count);
        }
        if (err != SEGOPS_OK) return err;
        c.type = SEGOPS_VALUE_PROPS;
        c.as.props = child.get();
        return segops_props_set_value(dst, key, key_len, &c);
    }
    case Kind::Props: {
        const Props &props = *v.u_.props;
        if (!props.status()) return props.status().code();
        if (props.get()) {
            c.type = SEGOPS_VALUE_PROPS;
            c.as.props = props.get();
        } else {
            c.type = SEGOPS_VALUE_JSON; // empty and never allocated
            c.as.text.data = props.is_array() ? "[]" : "{}";
            c.as.text.len = 2;
        }
        break;
    }
    }
    return segops_props_set_value(dst, key, key_len, &c);
}

// Runs track_props with the members in a scratch builder (none when empty).
template <class Track>
segops_err_t with_members(std::initializer_list<Member> members, Track &&track) noexcept {
    if (members.size() == 0) return track(nullptr);
    Lease lease(false);
    if (lease.error() != SEGOPS_OK) return lease.error();
    segops_err_t err = Writer::fill(lease.get(), members.begin(), members.size());
    return err != SEGOPS_OK ? err : track(lease.get());
}

// A small owning callable (std::function without exceptions): allocation failure is
// reported, never thrown. Copied with copy_from (each Client owns its own copy).
template <class Sig> class Callable;
template <class R, class... Args> class Callable<R(Args...)> {
  public:
    Callable() noexcept = default;
    Callable(Callable &&other) noexcept : p_(std::exchange(other.p_, nullptr)) {}
    Callable &operator=(Callable &&other) noexcept {
        std::swap(p_, other.p_);
        return *this;
    }
    Callable(const Callable &) = delete;
    Callable &operator=(const Callable &) = delete;
    ~Callable() { delete p_; }

    template <class F> segops_err_t assign(F &&f) noexcept {
        Base *fresh = new (std::nothrow) Holder<std::decay_t<F>>(std::forward<F>(f));
        if (!fresh) return SEGOPS_E_NOMEM;
        delete std::exchange(p_, fresh);
        return SEGOPS_OK;
    }
    void reset() noexcept { delete std::exchange(p_, nullptr); }
    segops_err_t copy_from(const Callable &other) noexcept {
        Base *fresh = other.p_ ? other.p_->clone() : nullptr;
        if (other.p_ && !fresh) return SEGOPS_E_NOMEM;
        delete std::exchange(p_, fresh);
        return SEGOPS_OK;
    }
    explicit operator bool() const noexcept { return p_ != nullptr; }
    R operator()(Args... args) const { return p_->call(std::forward<Args>(args)...); }

  private:
    struct Base {
        virtual ~Base() = default;
        virtual R call(Args... args) = 0;
        virtual Base *clone() const noexcept = 0;
    };
    template <class F> struct Holder final : Base {
        template <class G> explicit Holder(G &&g) : f(std::forward<G>(g)) {}
        R call(Args... args) override { return f(std::forward<Args>(args)...); }
        Base *clone() const noexcept override { return new (std::nothrow) Holder(f); }
        F f;
    };
    Base *p_ = nullptr;
};

} // namespace detail

// The identity a get_user callable fills for a pk_ session mint (see segops_user_set_*).
class User {
  public:
    explicit User(segops_user_t *user) noexcept : user_(user) {}
    Status set_id(detail::CStr user_id) noexcept {
        return user_id.error() ? user_id.error() : segops_user_set_id(user_, user_id.get());
    }
    Status set_anonymous_id(detail::CStr anonymous_id) noexcept {
        return anonymous_id.error() ? anonymous_id.error()
                                    : segops_user_set_anonymous_id(user_, anonymous_id.get());
    }
    Status set_signature(detail::CStr user_id_sig, std::int64_t user_id_ts) noexcept {
        return user_id_sig.error()
                   ? user_id_sig.error()
                   : segops_user_set_signature(user_, user_id_sig.get(), user_id_ts);
    }
    segops_user_t *get() const noexcept { return user_; }

  private:
    segops_user_t *user_;
};

using ErrorCallback = detail::Callable<void(const segops_error_info_t &)>;
using LogCallback = detail::Callable<void(segops_log_level_t, std::string_view)>;
using GetUserCallback = detail::Callable<Status(User &)>;

class Client;

// Client options: chainable setters over segops_options_t. A setter that fails keeps
// its code (the first one) in status() and which setter it was in failed_setter(); a
// Client made from these options fails with that code. Move-only; not thread-safe.
class Options {
  public:
    Options() noexcept { note("segops_options_new", segops_options_new(&opts_)); }
    Options(Options &&other) noexcept { *this = std::move(other); }
    Options &operator=(Options &&other) noexcept {
        std::swap(opts_, other.opts_);
        std::swap(status_, other.status_);
        std::swap(failed_, other.failed_);
        std::swap(on_error_, other.on_error_);
        std::swap(logger_, other.logger_);
        std::swap(get_user_, other.get_user_);
        std::swap(log_level_, other.log_level_);
        std::swap(shutdown_timeout_, other.shutdown_timeout_);
        return *this;
    }
    Options(const Options &) = delete;
    Options &operator=(const Options &) = delete;
    ~Options() { segops_options_free(opts_); } // wipes the key

    Options &api_url(detail::CStr url) { return text("api_url", url, segops_options_set_api_url); }
    Options &api_key(detail::CStr key) { return text("api_key", key, segops_options_set_api_key); }
    Options &batch(bool on) { return note("batch", segops_options_set_batch(opts_, on)); }
    Options &batch_size(std::size_t n) {
        return note("batch_size", segops_options_set_batch_size(opts_, n));
    }
    template <class Rep, class Period>
    Options &flush_interval(std::chrono::duration<Rep, Period> d) {
        return ms("flush_interval", d, segops_options_set_flush_interval_ms);
    }
    Options &max_queue_events(std::size_t n) {
        return note("max_queue_events", segops_options_set_max_queue_events(opts_, n));
    }
    Options &max_queue_bytes(std::size_t bytes) {
        return note("max_queue_bytes", segops_options_set_max_queue_bytes(opts_, bytes));
    }
    Options &overflow(segops_overflow_t policy) {
        return note("overflow", segops_options_set_overflow(opts_, policy));
    }
    template <class Rep, class Period>
    Options &block_timeout(std::chrono::duration<Rep, Period> d) {
        return ms("block_timeout", d, segops_options_set_block_timeout_ms);
    }
    Options &max_event_bytes(std::size_t bytes) {
        return note("max_event_bytes", segops_options_set_max_event_bytes(opts_, bytes));
    }
    Options &max_request_bytes(std::size_t bytes) {
        return note("max_request_bytes", segops_options_set_max_request_bytes(opts_, bytes));
    }
    Options &max_retries(std::uint32_t n) {
        return note("max_retries", segops_options_set_max_retries(opts_, n));
    }
    Options &max_in_flight(std::uint32_t n) {
        return note("max_in_flight", segops_options_set_max_in_flight(opts_, n));
    }
    Options &retry_backoff(std::chrono::milliseconds base, std::chrono::milliseconds cap) {
        std::uint32_t b = 0, c = 0;
        if (!to_u32(base, &b) || !to_u32(cap, &c))
            return note("retry_backoff", SEGOPS_E_INVALID_ARG);
        return note("retry_backoff", segops_options_set_retry_backoff_ms(opts_, b, c));
    }
    template <class Rep, class Period> Options &retry_budget(std::chrono::duration<Rep, Period> d) {
        return ms("retry_budget", d, segops_options_set_retry_budget_ms);
    }
    template <class Rep, class Period>
    Options &retry_after_max(std::chrono::duration<Rep, Period> d) {
        return ms("retry_after_max", d, segops_options_set_retry_after_max_ms);
    }
    template <class Rep, class Period>
    Options &connect_timeout(std::chrono::duration<Rep, Period> d) {
        return ms("connect_timeout", d, segops_options_set_connect_timeout_ms);
    }
    template <class Rep, class Period>
    Options &request_timeout(std::chrono::duration<Rep, Period> d) {
        return ms("request_timeout", d, segops_options_set_request_timeout_ms);
    }
    Options &ca_file(detail::CStr path) {
        return text("ca_file", path, segops_options_set_ca_file);
    }
    Options &ca_path(detail::CStr path) {
        return text("ca_path", path, segops_options_set_ca_path);
    }
    Options &proxy(detail::CStr url) { return text("proxy", url, segops_options_set_proxy); }
    Options &allow_insecure_http(bool allow) {
        return note("allow_insecure_http", segops_options_set_allow_insecure_http(opts_, allow));
    }
    Options &user_agent_suffix(detail::CStr suffix) {
        return text("user_agent_suffix", suffix, segops_options_set_user_agent_suffix);
    }
    // The deadline ~Client gives segops_shutdown (default: default_shutdown_timeout;
    // no_deadline waits for every event).
    template <class Rep, class Period>
    Options &shutdown_timeout(std::chrono::duration<Rep, Period> d) {
        shutdown_timeout_ = std::chrono::ceil<std::chrono::milliseconds>(d);
        return *this;
    }

    // Callables, copied into each Client. F: void(const segops_error_info_t &).
    // nullptr restores the default (one line on stderr per report).
    template <class F> Options &on_error(F &&f) {
        return note("on_error", on_error_.assign(std::forward<F>(f)));
    }
    Options &on_error(std::nullptr_t) {
        on_error_.reset();
        return *this;
    }
    // F: void(segops_log_level_t, std::string_view message); lines below min_level skipped.
    template <class F> Options &logger(F &&f, segops_log_level_t min_level = SEGOPS_LOG_INFO) {
        log_level_ = min_level;
        return note("logger", logger_.assign(std::forward<F>(f)));
    }
    Options &logger(std::nullptr_t) {
        logger_.reset();
        return *this;
    }
    // F: Status-or-segops_err_t(segops::User &); required with a pk_ key.
    template <class F> Options &get_user(F &&f) {
        return note("get_user", get_user_.assign(std::forward<F>(f)));
    }
    Options &get_user(std::nullptr_t) {
        get_user_.reset();
        return *this;
    }

    Status status() const noexcept { return status_; }
    // The setter that failed first ("api_url", ...), or nullptr.
    const char *failed_setter() const noexcept { return failed_; }

  private:
    friend class Client;
    Options &note(const char *setter, segops_err_t err) noexcept {
        if (err != SEGOPS_OK && status_) {
            status_ = err;
            failed_ = setter;
        }
        return *this;
    }
    Options &text(const char *setter, const detail::CStr &value,
                  segops_err_t (*set)(segops_options_t *, const char *)) noexcept {
        return note(setter, value.error() ? value.error() : set(opts_, value.get()));
    }
    template <class D> static bool to_u32(D d, std::uint32_t *out) noexcept {
        if (d < D::zero()) return false;
        auto n = std::chrono::ceil<std::chrono::milliseconds>(d).count();
        *out =
            n > static_cast<decltype(n)>(UINT32_MAX) ? UINT32_MAX : static_cast<std::uint32_t>(n);
        return true;
    }
    template <class D>
    Options &ms(const char *setter, D d,
                segops_err_t (*set)(segops_options_t *, std::uint32_t)) noexcept {
        std::uint32_t n = 0;
        return note(setter, to_u32(d, &n) ? set(opts_, n) : SEGOPS_E_INVALID_ARG);
    }

    segops_options_t *opts_ = nullptr;
    Status status_;
    const char *failed_ = nullptr;
    ErrorCallback on_error_;
    LogCallback logger_;
    GetUserCallback get_user_;
    segops_log_level_t log_level_ = SEGOPS_LOG_INFO;
    std::chrono::milliseconds shutdown_timeout_ = default_shutdown_timeout;
};

// A client (segops_client_t). Move-only. The destructor calls segops_shutdown with the
// shutdown timeout (default_shutdown_timeout unless set), then frees the client, then
// its callables. All calls are thread-safe, as in C.
class Client {
  public:
    // Not created: operator bool is false, status() SEGOPS_E_STATE.
    Client() noexcept = default;
    // Creates the client (segops_client_new) from a copy of opts; on failure operator
    // bool is false and status() says why (opts.status() first).
    explicit Client(const Options &opts) noexcept : shutdown_timeout_(opts.shutdown_timeout_) {
        status_ = opts.status();
        if (!status_) return;
        std::unique_ptr<Callbacks> cb(new (std::nothrow) Callbacks);
        if (!cb) {
            status_ = SEGOPS_E_NOMEM;
            return;
        }
        segops_err_t err = cb->on_error.copy_from(opts.on_error_);
        if (err == SEGOPS_OK) err = cb->logger.copy_from(opts.logger_);
        if (err == SEGOPS_OK) err = cb->get_user.copy_from(opts.get_user_);
        if (err != SEGOPS_OK) {
            status_ = err;
            return;
        }
        // The client copies the options with these trampolines pointing at its own
        // callables; the Options then go back to holding none.
        segops_options_t *o = opts.opts_;
        Callbacks *ud = cb.get();
        segops_options_set_on_error(o, cb->on_error ? on_error_trampoline : nullptr, ud);
        segops_options_set_logger(o, cb->logger ? logger_trampoline : nullptr, opts.log_level_, ud);
        segops_options_set_get_user(o, cb->get_user ? get_user_trampoline : nullptr, ud);
        status_ = segops_client_new(o, &client_);
        segops_options_set_on_error(o, nullptr, nullptr);
        segops_options_set_logger(o, nullptr, opts.log_level_, nullptr);
        segops_options_set_get_user(o, nullptr, nullptr);
        if (status_) callbacks_ = std::move(cb);
    }
    Client(Client &&other) noexcept { *this = std::move(other); }
    Client &operator=(Client &&other) noexcept {
        if (this != &other) {
            close();
            client_ = std::exchange(other.client_, nullptr);
            callbacks_ = std::move(other.callbacks_);
            status_ = std::exchange(other.status_, SEGOPS_E_STATE);
            shutdown_timeout_ = other.shutdown_timeout_;
        }
        return *this;
    }
    Client(const Client &) = delete;
    Client &operator=(const Client &) = delete;
    ~Client() { close(); }

    explicit operator bool() const noexcept { return client_ != nullptr; }
    // Why the client was not created (SEGOPS_OK when it was).
    Status status() const noexcept { return status_; }

    // segops_track_props with the members as payload ({} when none). A value the
    // builder refuses (NaN, invalid UTF-8, ...) is returned without reaching the client,
    // so it is not counted in stats; bad ids are, as in C.
    Status track(detail::CStr user_id, detail::CStr event_type,
                 std::initializer_list<Member> payload = {}) noexcept {
        return track_members(user_id, event_type, payload);
    }
    Status track(detail::CStr user_id, detail::CStr event_type, const Props &payload) noexcept {
        return track_props(user_id, event_type, payload);
    }
    // The C text path: payload_json is the text of a JSON object (validated).
    Status track_json(detail::CStr user_id, detail::CStr event_type,
                      detail::CStr payload_json) noexcept {
        if (Status s = copied(user_id, event_type, payload_json); !s) return s;
        return segops_track(client_, user_id.get(), event_type.get(), payload_json.get());
    }
    // Every field of segops_event_t (anonymous_id, occurred_at); event.payload_json must
    // be null: the payload is given here.
    Status track_event(const segops_event_t &event,
                       std::initializer_list<Member> payload = {}) noexcept {
        return detail::with_members(payload, [&](const segops_props_t *p) {
            return segops_track_event_props(client_, &event, p);
        });
    }
    Status track_event(const segops_event_t &event, const Props &payload) noexcept {
        if (!payload.status()) return payload.status();
        if (payload.is_array() && !payload.get()) return SEGOPS_E_INVALID_JSON;
        return segops_track_event_props(client_, &event, payload.get());
    }
    // A "context_identified" event with the traits as payload.
    Status identify(detail::CStr user_id, std::initializer_list<Member> traits = {}) noexcept {
        return track_members(user_id, kIdentified, traits);
    }
    Status identify(detail::CStr user_id, const Props &traits) noexcept {
        return track_props(user_id, kIdentified, traits);
    }

    // segops_flush: waits until everything tracked before is delivered or dropped, or
    // the timeout passes (SEGOPS_E_TIMEOUT). no_deadline waits without one.
    template <class Rep, class Period>
    Status flush(std::chrono::duration<Rep, Period> timeout) noexcept {
        return segops_flush(client_, detail::to_ms_int(timeout));
    }
    // segops_shutdown: flush, then stop; idempotent. The destructor calls it too.
    template <class Rep, class Period>
    Status shutdown(std::chrono::duration<Rep, Period> timeout) noexcept {
        return segops_shutdown(client_, detail::to_ms_int(timeout));
    }
    template <class Rep, class Period>
    void set_shutdown_timeout(std::chrono::duration<Rep, Period> timeout) noexcept {
        shutdown_timeout_ = std::chrono::ceil<std::chrono::milliseconds>(timeout);
    }
    std::chrono::milliseconds shutdown_timeout() const noexcept { return shutdown_timeout_; }
    Status stats(segops_stats_t &out) const noexcept { return segops_client_stats(client_, &out); }
    // The C client, for C calls; owned by this object.
    segops_client_t *get() const noexcept { return client_; }

  private:
    struct Callbacks {
        ErrorCallback on_error;
        LogCallback logger;
        GetUserCallback get_user;
    };
    static void on_error_trampoline(const segops_error_info_t *error, void *userdata) noexcept {
        static_cast<Callbacks *>(userdata)->on_error(*error);
    }
    static void logger_trampoline(segops_log_level_t level, const char *message,
                                  void *userdata) noexcept {
        static_cast<Callbacks *>(userdata)->logger(level, message ? message : "");
    }
    static segops_err_t get_user_trampoline(segops_user_t *user, void *userdata) noexcept {
        User wrapped(user);
        return static_cast<Callbacks *>(userdata)->get_user(wrapped).code();
    }
    static constexpr const char *kIdentified = "context_identified";

    // An id copied from a string_view that could not be allocated: no C call can say so.
    static Status copied(const detail::CStr &a, const detail::CStr &b,
                         const detail::CStr &c = nullptr) noexcept {
        return a.error() ? a.error() : b.error() ? b.error() : c.error();
    }
    Status track_members(const detail::CStr &user_id, const detail::CStr &event_type,
                         std::initializer_list<Member> payload) noexcept {
        if (Status s = copied(user_id, event_type); !s) return s;
        return detail::with_members(payload, [&](const segops_props_t *p) {
            return segops_track_props(client_, user_id.get(), event_type.get(), p);
        });
    }
    Status track_props(const detail::CStr &user_id, const detail::CStr &event_type,
                       const Props &payload) noexcept {
        if (Status s = copied(user_id, event_type); !s) return s;
        if (!payload.status()) return payload.status();
        // An array Props is refused (and counted) by the client; only a moved-from
        // one has no builder to show it.
        if (payload.is_array() && !payload.get()) return SEGOPS_E_INVALID_JSON;
        return segops_track_props(client_, user_id.get(), event_type.get(), payload.get());
    }
    void close() noexcept {
        if (!client_) return;
        segops_shutdown(client_, detail::to_ms_int(shutdown_timeout_));
        segops_client_free(std::exchange(client_, nullptr));
        callbacks_.reset();
    }

    segops_client_t *client_ = nullptr;
    std::unique_ptr<Callbacks> callbacks_;
    Status status_ = SEGOPS_E_STATE;
    std::chrono::milliseconds shutdown_timeout_ = default_shutdown_timeout;
};

} // namespace segops

#endif // SEGOPS_SEGOPS_HPP
