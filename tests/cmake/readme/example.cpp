#include <segops/segops.hpp>

#include <chrono>
#include <cstdlib>
#include <string>

int main(int argc, char **argv) {
    std::string user_id = "u-123", product_name = argc > 1 ? argv[1] : "Mug \"XL\"";
    segops::Options opts;
    opts.api_url(std::getenv("SEGOPS_API_URL")).api_key(std::getenv("SEGOPS_API_KEY"));
    segops::Client client(opts);   // its destructor flushes and stops it (at most 5 s)
    if (!client) return 1;
    segops::Status sent = client.track(
        user_id, "order_placed", {{"product", product_name}, {"total", 42.5}, {"quantity", 2}});
    return sent && client.flush(std::chrono::seconds(5)) ? 0 : 1;
}
