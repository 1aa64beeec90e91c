#include <segops/segops.h>

#include <stdlib.h>

int main(int argc, char **argv) {
    const char *product_name = argc > 1 ? argv[1] : "Mug \"XL\"";
    segops_options_t *opts;
    segops_client_t *client;
    segops_options_new(&opts);
    segops_options_set_api_url(opts, getenv("SEGOPS_API_URL"));   /* https://api.segops.ai */
    segops_options_set_api_key(opts, getenv("SEGOPS_API_KEY"));   /* sk_... */
    segops_err_t err = segops_client_new(opts, &client);
    segops_options_free(opts);                                     /* the client keeps a copy */
    if (err != SEGOPS_OK) return 1;

    /* Dynamic values: the builder escapes the product name and writes 42.5 exactly. */
    segops_props_t *order;
    segops_props_new(&order);
    segops_props_set_string(order, "product", product_name);       /* any UTF-8, quotes too */
    segops_props_set_double(order, "total", 42.5);
    segops_props_set_int(order, "quantity", 2);
    segops_track_props(client, "u-123", "order_placed", order);    /* copies the builder */
    segops_props_free(order);

    /* Constant payloads can stay JSON text (validated). */
    segops_identify(client, "u-123", "{\"email\": \"alice@example.com\", \"plan\": \"pro\"}");

    err = segops_shutdown(client, 5000);   /* flush, then stop the worker; at most 5 s */
    segops_client_free(client);
    return err == SEGOPS_OK ? 0 : 1;
}
