// The C++ example of README.md ("## C++"), compiled as the README shows it: the block
// is extracted at build time (readme_block.cmake) and included in a function that
// declares the names it takes from its surroundings.
#include <segops/segops.hpp> // first: the block's own #include is then empty

#include <atomic>
#include <cstddef>
#include <string>
#include <string_view>

struct Metrics {
    std::atomic<std::size_t> dropped{0};
};

namespace {

int fail(const char *message, const char *setter) { return message && setter ? 2 : 1; }

} // namespace

int readme_cpp(const char *key, Metrics &metrics, const std::string &user_id,
               const std::string &sku, std::string_view city, const char *zip);

int readme_cpp(const char *key, Metrics &metrics, const std::string &user_id,
               const std::string &sku, std::string_view city, const char *zip) {
#include "readme_cpp_block.inc"
    return s ? 0 : 1;
}
