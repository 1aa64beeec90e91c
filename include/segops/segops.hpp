// libsegops C++ API — a header-only C++17 wrapper over <segops/segops.h>.
//
//   segops::Options opts;
//   opts.api_url("https://api.segops.ai").api_key(key).on_error([&](const segops_error_info_t &e) {
//       log.warn("segops dropped {} events: {}", e.event_count, e.message);
//   });
//   segops::Client client(opts);              // explicit operator bool: created or not
//   if (!client) return client.status().message();
//   segops::Status s = client.track(user_id, "order_placed",
//       {{"total", 42.5}, {"sku", sku}, {"qty", 3}, {"gift", true},
//        {"address", {{"city", city}}}, {"tags", segops::Array{"new", "promo"}}});
//   if (s) s = client.identify(user_id, {{"plan", "pro"}});
//   if (s) s = client.flush(std::chrono::seconds(5)); // or segops::no_deadline
//
// Rules:
// - No exceptions and no RTTI are needed (-fno-exceptions -fno-rtti work); nothing here
//   throws. Every call returns a segops::Status (the C segops_err_t with an explicit
//   operator bool that is true on success), including out-of-memory (SEGOPS_E_NOMEM):
//   the wrapper allocates only with new(std::nothrow), malloc and the C library.
//   Copying your callables and strings follows their own rules. Status and every other
//   result are [[nodiscard]].
// - Thread-safety is the C library's: a Client may be used from any number of threads;
//   Options and Props are builders for one thread at a time (a Props that no thread
//   modifies may be tracked from several, and a const Options may make Clients on
//   several threads at once: it is never written).
// - Value, Member, Array and Json are views for one expression: they borrow the strings
//   and lists they are made from, so they can be neither copied nor moved. Written
//   inside the call that uses them they cannot dangle; one kept in a variable does not
//   compile where it is used. Keep a payload in a Props.
// - Callables (on_error, logger, get_user) run on library threads with no library lock
//   held, exactly as their C counterparts (see segops.h); they must not throw. The
//   Options and every Client made from them share one copy of each, alive until the last
//   of them is gone; clients may call it from their threads at once.
//
// SPDX-License-Identifier: MIT
#ifndef SEGOPS_SEGOPS_HPP
#define SEGOPS_SEGOPS_HPP

// One clear error below C++17 instead of dozens from the code that follows.
#if defined(_MSVC_LANG)
#define SEGOPS_HPP_CPLUSPLUS _MSVC_LANG
#else
#define SEGOPS_HPP_CPLUSPLUS __cplusplus
#endif
#if SEGOPS_HPP_CPLUSPLUS < 201703L
#error "segops.hpp needs C++17 (e.g. -std=c++17); C++11 and C++14 code can use <segops/segops.h>"
#else

#include <segops/segops.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <charconv>
#include <initializer_list>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace segops {

// The outcome of a call: a segops_err_t. `if (status)` means success. [[nodiscard]]: a
// call whose outcome is ignored is a warning (an error with -Werror).
class [[nodiscard]] Status {
  public:
    constexpr Status() noexcept = default;
    constexpr Status(segops_err_t code) noexcept : code_(code) {} // NOLINT: implicit on purpose
    [[nodiscard]] constexpr bool ok() const noexcept { return code_ == SEGOPS_OK; }
    constexpr explicit operator bool() const noexcept { return ok(); }
    [[nodiscard]] constexpr segops_err_t code() const noexcept { return code_; }
    // Static text, never null.
    [[nodiscard]] const char *message() const noexcept { return segops_strerror(code_); }
    friend constexpr bool operator==(Status a, Status b) noexcept { return a.code_ == b.code_; }
    friend constexpr bool operator!=(Status a, Status b) noexcept { return a.code_ != b.code_; }

  private:
    segops_err_t code_ = SEGOPS_OK;
};

namespace detail {

// d in whole milliseconds, rounded up, within [0, cap] (cap: max, at most INT64_MAX): a
// negative (or NaN) duration is 0 and one past cap is cap, whatever d's representation
// (seconds::max() included).
template <class Int, class Rep, class Period>
constexpr Int clamp_ms(std::chrono::duration<Rep, Period> d, Int max) noexcept {
    // long double holds every duration's magnitude without overflow, and milliseconds
    // below the cap exactly enough to round up correctly. The cap stays within int64.
    const long double ms = std::chrono::duration<long double, std::milli>(d).count();
    constexpr auto int64_max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    const Int cap = static_cast<std::uint64_t>(max) < int64_max ? max : static_cast<Int>(int64_max);
    if (!(ms > 0)) return 0;
    if (!(ms < static_cast<long double>(cap))) return cap;
    Int whole = static_cast<Int>(ms);
    return static_cast<long double>(whole) < ms ? whole + 1 : whole;
}

} // namespace detail

// The tag for waiting without a deadline: client.flush(segops::no_deadline).
struct NoDeadline {
    explicit constexpr NoDeadline() noexcept = default;
};
inline constexpr NoDeadline no_deadline{};

// How long a flush or shutdown may wait: a std::chrono duration or segops::no_deadline.
// A negative duration (a deadline already past) waits not at all; one past INT_MAX ms
// (about 24.8 days) waits that long.
class Timeout {
  public:
    constexpr Timeout(NoDeadline) noexcept {} // NOLINT: implicit on purpose
    template <class Rep, class Period>
    constexpr Timeout(std::chrono::duration<Rep, Period> d) noexcept // NOLINT: implicit
        : ms_(detail::clamp_ms<int>(d, INT_MAX)) {}
    [[nodiscard]] constexpr bool has_deadline() const noexcept { return ms_ >= 0; }
    // What the C calls take: 0..INT_MAX milliseconds, or -1 for no deadline.
    [[nodiscard]] constexpr int ms() const noexcept { return ms_; }
    friend constexpr bool operator==(Timeout a, Timeout b) noexcept { return a.ms_ == b.ms_; }
    friend constexpr bool operator!=(Timeout a, Timeout b) noexcept { return a.ms_ != b.ms_; }

  private:
    int ms_ = -1;
};

// What ~Client gives segops_shutdown unless told otherwise (Options::shutdown_timeout,
// Client::set_shutdown_timeout): 5 seconds; what is undelivered then is dropped and
// reported through on_error.
inline constexpr std::chrono::milliseconds default_shutdown_timeout{5000};

namespace detail {

// A NUL-terminated string for a C call, from a C string, a std::string (no copy) or a
// std::string_view (copied: inline when short, else on the heap; the copy is wiped, as it
// may be a key or an HMAC secret). A view holding a NUL becomes "" so the library refuses
// it as it refuses any invalid id (SEGOPS_E_INVALID_ARG).
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
        copied_ = s.size();
    }
    CStr(const CStr &) = delete;
    CStr &operator=(const CStr &) = delete;
    ~CStr() {
        volatile char *copy = heap_ ? heap_ : inline_; // volatile: the wipe is not elided
        for (std::size_t i = 0; i < copied_; i++) copy[i] = 0;
        std::free(heap_);
    }
    const char *get() const noexcept { return ptr_; }
    segops_err_t error() const noexcept { return error_; } // SEGOPS_E_NOMEM or SEGOPS_OK

  private:
    const char *ptr_ = nullptr;
    char *heap_ = nullptr;
    std::size_t copied_ = 0;
    segops_err_t error_ = SEGOPS_OK;
    char inline_[128];
};

// A duration option in whole milliseconds (rounded up) for a C setter: false for a
// negative one, saturated at Int's largest value (which the setter then refuses).
template <class Int, class Rep, class Period>
bool option_ms(std::chrono::duration<Rep, Period> d, Int *out) noexcept {
    if (!(d >= std::chrono::duration<Rep, Period>::zero())) return false; // negative or NaN
    *out = clamp_ms<Int>(d, std::numeric_limits<Int>::max());
    return true;
}

struct Writer;

} // namespace detail

class Props;
class Member;
class Array;

// Nested JSON text, validated when the payload is built: {"raw", segops::Json("[1,2]")}.
// For one expression only (it borrows the text): neither copied nor moved.
class Json {
  public:
    explicit constexpr Json(std::string_view text) noexcept : text_(text) {}
    Json(const Json &) = delete; // a segops::Json borrows its text: write it where it is used
    Json &operator=(const Json &) = delete;
    [[nodiscard]] constexpr std::string_view text() const noexcept { return text_; }

  private:
    std::string_view text_;
};

// One payload value: null, bool, any integer, float/double, string, nested object
// ({{"k", v}, ...}), segops::Array{...}, segops::Json("..."), or a Props. A const char*
// that is null is JSON null; `{}` is null too. Any other pointer is a compile error (it
// would otherwise become a bool). A view for one expression: a Value can be neither
// copied nor moved, so one kept in a variable does not compile where it is used.
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
    template <class T, std::enable_if_t<!std::is_same_v<std::remove_cv_t<T>, char>, int> = 0>
    Value(T *) = delete; // a pointer is not a payload value (it would become a bool)
    template <class T, class C> Value(T C::*) = delete; // a member pointer is not a value
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
    Value(Array array) noexcept;                                                         // NOLINT
    Value(const Props &props) noexcept : kind_(Kind::Props) { u_.props = &props; }       // NOLINT
    Value(Value &&) = delete; // a segops::Value borrows its data: write it where it is used
    Value &operator=(const Value &) = delete;

  private:
    friend class Member;
    friend struct detail::Writer;
    Value(const Value &) = default; // a segops::Value borrows its data: write it where it is used
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

// A key and its value in an object: {"total", 42.5}. For one expression, like Value.
class Member {
  public:
    Member(std::string_view key, Value value) noexcept : key_(key), value_(value) {}
    Member(const Member &) = delete; // a segops::Member borrows its data: write it where it is used
    Member &operator=(const Member &) = delete;
    [[nodiscard]] std::string_view key() const noexcept { return key_; }
    [[nodiscard]] const Value &value() const noexcept { return value_; }

  private:
    std::string_view key_;
    Value value_;
};

// A JSON array in an initializer list: {"tags", segops::Array{"new", 2, true}}. For one
// expression, like Value: its items live until the end of the statement that lists them.
class Array {
  public:
    Array(std::initializer_list<Value> items) noexcept : items_(items) {}
    Array(const Array &) = delete; // a segops::Array borrows its items: write it where it is used
    Array &operator=(const Array &) = delete;
    [[nodiscard]] const Value *begin() const noexcept { return items_.begin(); }
    [[nodiscard]] std::size_t size() const noexcept { return items_.size(); }

  private:
    std::initializer_list<Value> items_;
};

inline Value::Value(std::initializer_list<Member> object) noexcept : kind_(Kind::Object) {
    u_.list.items = object.begin();
    u_.list.count = object.size();
}

inline Value::Value(Array array) noexcept : kind_(Kind::Array) {
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
            segops_err_t err =
                put(dst, m.key().data() ? m.key().data() : "", m.key().size(), m.value());
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
            Status s = put(m.key(), m.value());
            if (!s && status_) status_ = s;
        }
    }
    // An array builder: append() adds to it; it can be nested, not tracked.
    static Props array(std::initializer_list<Value> items = {}) noexcept {
        Props p;
        p.array_ = true;
        p.status_ = p.ensure();
        for (const Value &v : items) {
            Status s = p.push(v);
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
    Status set(std::string_view key, Value value) noexcept { return put(key, value); }
    // Appends to an array builder.
    Status append(Value value) noexcept { return push(value); }
    // Empties it (keeps its memory) and forgets a failure of the constructor.
    void clear() noexcept {
        segops_props_clear(p_);
        status_ = SEGOPS_OK;
    }
    // The JSON text; valid until the next change.
    [[nodiscard]] std::string_view json() const noexcept {
        if (!p_) return array_ ? "[]" : "{}";
        std::size_t len = 0;
        const char *text = segops_props_json(p_, &len);
        return {text, len};
    }
    Status status() const noexcept { return status_; }
    [[nodiscard]] bool is_array() const noexcept { return array_; }
    // The C builder, or nullptr while empty (an object: tracking nullptr sends {}).
    [[nodiscard]] const segops_props_t *get() const noexcept { return p_; }

  private:
    Status put(std::string_view key, const Value &value) noexcept {
        if (array_) return SEGOPS_E_INVALID_ARG;
        Status s = ensure();
        if (!s) return s;
        return detail::Writer::put(p_, key.data() ? key.data() : "", key.size(), value);
    }
    Status push(const Value &value) noexcept {
        if (!array_) return SEGOPS_E_INVALID_ARG;
        Status s = ensure();
        if (!s) return s;
        return detail::Writer::put(p_, nullptr, 0, value);
    }
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

// A shared, immutable callable (std::function without exceptions, reference-counted):
// the Options and each Client made from them hold one reference, and the C library
// holds its address as the callback's userdata. Allocation failure is reported, never
// thrown.
template <class Sig> class SharedFn;
template <class R, class... Args> class SharedFn<R(Args...)> {
  public:
    SharedFn() noexcept = default;
    SharedFn(const SharedFn &other) noexcept : p_(other.p_) {
        if (p_) p_->refs.fetch_add(1, std::memory_order_relaxed);
    }
    SharedFn(SharedFn &&other) noexcept : p_(std::exchange(other.p_, nullptr)) {}
    SharedFn &operator=(SharedFn other) noexcept {
        std::swap(p_, other.p_);
        return *this;
    }
    ~SharedFn() {
        if (p_ && p_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete p_;
    }

    template <class F> segops_err_t assign(F &&f) noexcept {
        Base *fresh = new (std::nothrow) Holder<std::decay_t<F>>(std::forward<F>(f));
        if (!fresh) return SEGOPS_E_NOMEM;
        *this = SharedFn(fresh);
        return SEGOPS_OK;
    }
    void reset() noexcept { *this = SharedFn(); }
    // Gives up this reference without releasing it: for a callable a C client may still
    // call when nothing can ever free that client.
    void leak() noexcept { p_ = nullptr; }
    explicit operator bool() const noexcept { return p_ != nullptr; }
    // The C callback's userdata, and the call through it.
    void *userdata() const noexcept { return p_; }
    static R call(void *userdata, Args... args) {
        return static_cast<Base *>(userdata)->call(std::forward<Args>(args)...);
    }

  private:
    struct Base {
        virtual ~Base() = default;
        virtual R call(Args... args) = 0;
        std::atomic<long> refs{1};
    };
    template <class F> struct Holder final : Base {
        template <class G> explicit Holder(G &&g) : f(std::forward<G>(g)) {}
        R call(Args... args) override { return f(std::forward<Args>(args)...); }
        F f;
    };
    explicit SharedFn(Base *p) noexcept : p_(p) {}
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

using ErrorCallback = detail::SharedFn<void(const segops_error_info_t &)>;
using LogCallback = detail::SharedFn<void(segops_log_level_t, std::string_view)>;
using GetUserCallback = detail::SharedFn<Status(User &)>;

namespace detail {

// The C callbacks: userdata is the SharedFn's holder.
inline void on_error_trampoline(const segops_error_info_t *error, void *userdata) noexcept {
    ErrorCallback::call(userdata, *error);
}
inline void logger_trampoline(segops_log_level_t level, const char *message,
                              void *userdata) noexcept {
    LogCallback::call(userdata, level, message ? message : "");
}
inline segops_err_t get_user_trampoline(segops_user_t *user, void *userdata) noexcept {
    User wrapped(user);
    return GetUserCallback::call(userdata, wrapped).code();
}

// The callables a client's C callbacks point at: they live as long as the client.
struct Callables {
    ErrorCallback on_error;
    LogCallback logger;
    GetUserCallback get_user;
};

// Clients destroyed inside a segops callback, which the C library refuses to shut down
// or free there (segops_client_free does nothing inside a callback): they keep running
// and are shut down (with their shutdown timeout, so what they hold is delivered or
// reported) and freed when the process exits. Their callables must still be callable then.
class RefusedClients {
  public:
    static void adopt(segops_client_t *client, Callables &&callables, Timeout timeout) noexcept {
        Node *node = new (std::nothrow) Node{client, std::move(callables), timeout, nullptr};
        if (!node) { // nothing can free it now: its callables stay alive with it
            callables.on_error.leak();
            callables.logger.leak();
            callables.get_user.leak();
            return;
        }
        RefusedClients &all = instance();
        std::lock_guard<std::mutex> hold(all.lock_);
        node->next = std::exchange(all.head_, node);
    }
    RefusedClients(const RefusedClients &) = delete;
    RefusedClients &operator=(const RefusedClients &) = delete;
    ~RefusedClients() {
        while (Node *node = head_) {
            head_ = node->next;
            if (segops_shutdown(node->client, node->timeout.ms()) == SEGOPS_E_STATE) {
                node->callables.on_error.leak(); // exit called inside a callback: leave it
                node->callables.logger.leak();
                node->callables.get_user.leak();
            } else {
                segops_client_free(node->client);
            }
            delete node;
        }
    }

  private:
    struct Node {
        segops_client_t *client;
        Callables callables;
        Timeout timeout;
        Node *next;
    };
    RefusedClients() noexcept = default;
    static RefusedClients &instance() noexcept {
        static RefusedClients all; // its destructor runs at exit
        return all;
    }
    std::mutex lock_;
    Node *head_ = nullptr;
};

} // namespace detail

class Client;

// Client options: chainable setters over segops_options_t. A setter that fails keeps
// its code (the first one) in status() and which setter it was in failed_setter(); a
// Client made from these options fails with that code. Durations are std::chrono
// durations, rounded up to milliseconds; a negative one is refused (SEGOPS_E_INVALID_ARG)
// and one past the C type saturates (and is refused as out of range). Move-only; set it
// up on one thread. A const Options is never written: several threads may make Clients
// from it at once.
class Options {
  public:
    Options() noexcept { note("segops_options_new", segops_options_new(&opts_)); }
    Options(Options &&other) noexcept { *this = std::move(other); }
    Options &operator=(Options &&other) noexcept {
        std::swap(opts_, other.opts_);
        std::swap(status_, other.status_);
        std::swap(failed_, other.failed_);
        std::swap(callables_, other.callables_);
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
    template <class Rep1, class Period1, class Rep2, class Period2>
    Options &retry_backoff(std::chrono::duration<Rep1, Period1> base,
                           std::chrono::duration<Rep2, Period2> cap) {
        std::uint32_t b = 0, c = 0;
        if (!detail::option_ms(base, &b) || !detail::option_ms(cap, &c))
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
    // With batch(false): the longest one track call blocks.
    template <class Rep, class Period> Options &sync_timeout(std::chrono::duration<Rep, Period> d) {
        return ms("sync_timeout", d, segops_options_set_sync_timeout_ms);
    }
    // At exit, a client never shut down is shut down with this deadline first.
    template <class Rep, class Period> Options &exit_flush(std::chrono::duration<Rep, Period> d) {
        return ms("exit_flush", d, segops_options_set_exit_flush_ms);
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
    Options &max_requests_per_minute(std::uint32_t n) {
        return note("max_requests_per_minute",
                    segops_options_set_max_requests_per_minute(opts_, n));
    }
    // The on-disk spool (nullptr: none, the default). See segops_options_set_spool_*.
    Options &spool_dir(detail::CStr path) {
        return text("spool_dir", path, segops_options_set_spool_dir);
    }
    Options &spool_max_bytes(std::uint64_t bytes) {
        return note("spool_max_bytes", segops_options_set_spool_max_bytes(opts_, bytes));
    }
    template <class Rep, class Period>
    Options &spool_max_age(std::chrono::duration<Rep, Period> d) {
        return ms("spool_max_age", d, segops_options_set_spool_max_age_ms);
    }
    // How soon after a write the spool files are synced; zero (the default) never.
    template <class Rep, class Period> Options &spool_fsync(std::chrono::duration<Rep, Period> d) {
        return ms("spool_fsync", d, segops_options_set_spool_fsync_ms);
    }
    // The deadline ~Client gives segops_shutdown (default: default_shutdown_timeout;
    // no_deadline waits for every event; a negative duration is zero).
    Options &shutdown_timeout(Timeout timeout) {
        shutdown_timeout_ = timeout;
        return *this;
    }

    // Callables, shared with each Client (see the rules at the top). F: void(const
    // segops_error_info_t &). nullptr restores the default (one line on stderr per report).
    template <class F> Options &on_error(F &&f) {
        segops_err_t err = callables_.on_error.assign(std::forward<F>(f));
        if (err == SEGOPS_OK)
            err = segops_options_set_on_error(opts_, detail::on_error_trampoline,
                                              callables_.on_error.userdata());
        return note("on_error", err);
    }
    Options &on_error(std::nullptr_t) {
        callables_.on_error.reset();
        return note("on_error", segops_options_set_on_error(opts_, nullptr, nullptr));
    }
    // F: void(segops_log_level_t, std::string_view message); lines below min_level skipped.
    template <class F> Options &logger(F &&f, segops_log_level_t min_level = SEGOPS_LOG_INFO) {
        segops_err_t err = callables_.logger.assign(std::forward<F>(f));
        if (err == SEGOPS_OK)
            err = segops_options_set_logger(opts_, detail::logger_trampoline, min_level,
                                            callables_.logger.userdata());
        return note("logger", err);
    }
    Options &logger(std::nullptr_t) {
        callables_.logger.reset();
        return note("logger", segops_options_set_logger(opts_, nullptr, SEGOPS_LOG_INFO, nullptr));
    }
    // F: Status-or-segops_err_t(segops::User &); required with a pk_ key.
    template <class F> Options &get_user(F &&f) {
        segops_err_t err = callables_.get_user.assign(std::forward<F>(f));
        if (err == SEGOPS_OK)
            err = segops_options_set_get_user(opts_, detail::get_user_trampoline,
                                              callables_.get_user.userdata());
        return note("get_user", err);
    }
    Options &get_user(std::nullptr_t) {
        callables_.get_user.reset();
        return note("get_user", segops_options_set_get_user(opts_, nullptr, nullptr));
    }

    Status status() const noexcept { return status_; }
    // The setter that failed first ("api_url", ...), or nullptr.
    [[nodiscard]] const char *failed_setter() const noexcept { return failed_; }
    // The C options, for C calls (a C setter's result is not kept in status(); its
    // callbacks and these callables are the same settings: the last one set wins).
    // Owned by this object; null only when segops_options_new failed (see status()).
    [[nodiscard]] segops_options_t *get() noexcept { return opts_; }
    [[nodiscard]] const segops_options_t *get() const noexcept { return opts_; }

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
    template <class Int, class D>
    Options &ms(const char *setter, D d, segops_err_t (*set)(segops_options_t *, Int)) noexcept {
        Int n = 0;
        return note(setter, detail::option_ms(d, &n) ? set(opts_, n) : SEGOPS_E_INVALID_ARG);
    }

    segops_options_t *opts_ = nullptr;
    Status status_;
    const char *failed_ = nullptr;
    detail::Callables callables_;
    Timeout shutdown_timeout_ = default_shutdown_timeout;
};

// A client (segops_client_t). Move-only. The destructor calls segops_shutdown with the
// shutdown timeout (default_shutdown_timeout unless set), then frees the client, then
// releases its callables. All calls are thread-safe, as in C. Destroyed inside a segops
// callback (its own or another client's), where the C library refuses to shut down or
// free a client, it is not freed either: it keeps running and is shut down and freed at
// process exit.
class Client {
  public:
    // Not created: operator bool is false, status() SEGOPS_E_STATE.
    Client() noexcept = default;
    // Creates the client (segops_client_new) from opts, which it only reads; on failure
    // operator bool is false and status() says why (opts.status() first).
    explicit Client(const Options &opts) noexcept
        : callables_(opts.callables_), status_(opts.status()),
          shutdown_timeout_(opts.shutdown_timeout_) {
        if (status_) status_ = segops_client_new(opts.get(), &client_);
        if (!status_) callables_ = detail::Callables();
    }
    Client(Client &&other) noexcept { *this = std::move(other); }
    Client &operator=(Client &&other) noexcept {
        if (this != &other) {
            close();
            client_ = std::exchange(other.client_, nullptr);
            callables_ = std::move(other.callables_);
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
    // the timeout passes (SEGOPS_E_TIMEOUT). A duration (a negative one: no wait) or
    // no_deadline.
    Status flush(Timeout timeout) noexcept { return segops_flush(client_, timeout.ms()); }
    // segops_shutdown: flush, then stop; idempotent. The destructor calls it too.
    Status shutdown(Timeout timeout) noexcept { return segops_shutdown(client_, timeout.ms()); }
    void set_shutdown_timeout(Timeout timeout) noexcept { shutdown_timeout_ = timeout; }
    [[nodiscard]] Timeout shutdown_timeout() const noexcept { return shutdown_timeout_; }
    Status stats(segops_stats_t &out) const noexcept { return segops_client_stats(client_, &out); }
    // The C client, for C calls; owned by this object.
    [[nodiscard]] segops_client_t *get() const noexcept { return client_; }

  private:
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
        // SEGOPS_E_STATE only inside a segops callback, where freeing the client (and the
        // callable that may be running) would pull it from under the library.
        if (segops_shutdown(client_, shutdown_timeout_.ms()) == SEGOPS_E_STATE) {
            detail::RefusedClients::adopt(std::exchange(client_, nullptr), std::move(callables_),
                                          shutdown_timeout_);
            return;
        }
        segops_client_free(std::exchange(client_, nullptr));
        callables_ = detail::Callables();
    }

    segops_client_t *client_ = nullptr;
    detail::Callables callables_;
    Status status_ = SEGOPS_E_STATE;
    Timeout shutdown_timeout_ = default_shutdown_timeout;
};

// segops_sign_user_id (a backend helper; no client needed): signs "<user_id>|<unix_ts>"
// with HMAC-SHA256 keyed by the hex-decoded secret; unix_ts <= 0 means now. The secret
// may be a C string, std::string or std::string_view (a copy made of it is wiped).
inline Status sign_user_id(detail::CStr hmac_secret_hex, detail::CStr user_id, std::int64_t unix_ts,
                           segops_signed_user_t &out) noexcept {
    if (hmac_secret_hex.error()) return hmac_secret_hex.error();
    if (user_id.error()) return user_id.error();
    return segops_sign_user_id(hmac_secret_hex.get(), user_id.get(), unix_ts, &out);
}

} // namespace segops

#endif // C++17
#endif // SEGOPS_SEGOPS_HPP
