/* Throwaway TLS material for tests: a CA and two server certificates made with
 * the openssl command-line tool in a fresh temporary directory. */
#ifndef SEGOPS_TLSUTIL_H
#define SEGOPS_TLSUTIL_H

#define TLS_PATH_MAX 256

typedef struct tls_fixture {
    char dir[TLS_PATH_MAX];         /* the mkdtemp directory holding everything */
    char ca_file[TLS_PATH_MAX];     /* the CA certificate (PEM) */
    char ca_dir[TLS_PATH_MAX];      /* a hashed directory holding the CA (openssl rehash) */
    char server_cert[TLS_PATH_MAX]; /* signed by the CA for IP:127.0.0.1, DNS:localhost */
    char server_key[TLS_PATH_MAX];
    char other_cert[TLS_PATH_MAX]; /* signed by the CA for DNS:other.example only */
    char other_key[TLS_PATH_MAX];
} tls_fixture_t;

/* True when an openssl binary runs. */
int tls_openssl_available(void);

/* Creates the material. Returns 0, or -1 (a line on stderr, nothing left behind). */
int tls_fixture_create(tls_fixture_t *f);

/* Removes the directory and everything in it. */
void tls_fixture_destroy(tls_fixture_t *f);

#endif
