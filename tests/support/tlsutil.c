/* Throwaway TLS material for tests (see tlsutil.h). The openssl tool does the
 * work: it is what scripts/deps.sh installs, and a shell line per step is far
 * shorter than the same with the X509 APIs. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "tlsutil.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* EC P-256 keys: quick to generate, and both OpenSSL (client) and GnuTLS
 * (libmicrohttpd, the server) take them. */
static const char config_text[] = "[req]\n"
                                  "distinguished_name = dn\n"
                                  "prompt = no\n"
                                  "[dn]\n"
                                  "CN = unused\n"
                                  "[v3_ca]\n"
                                  "basicConstraints = critical, CA:TRUE\n"
                                  "keyUsage = critical, keyCertSign, cRLSign\n"
                                  "subjectKeyIdentifier = hash\n"
                                  "[v3_server]\n"
                                  "basicConstraints = critical, CA:FALSE\n"
                                  "keyUsage = critical, digitalSignature, keyEncipherment\n"
                                  "extendedKeyUsage = serverAuth\n"
                                  "subjectKeyIdentifier = hash\n"
                                  "authorityKeyIdentifier = keyid\n"
                                  "subjectAltName = IP:127.0.0.1, DNS:localhost\n"
                                  "[v3_other]\n"
                                  "basicConstraints = critical, CA:FALSE\n"
                                  "keyUsage = critical, digitalSignature, keyEncipherment\n"
                                  "extendedKeyUsage = serverAuth\n"
                                  "subjectKeyIdentifier = hash\n"
                                  "authorityKeyIdentifier = keyid\n"
                                  "subjectAltName = DNS:other.example\n";

#define NEWKEY "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"

int tls_openssl_available(void) { return system("openssl version >/dev/null 2>&1") == 0; }

/* Runs one shell line inside f->dir, its output going to openssl.log there. */
static int run(const tls_fixture_t *f, const char *body) {
    char line[1400];
    snprintf(line, sizeof line, "cd '%s' && ( %s ) >>openssl.log 2>&1", f->dir, body);
    if (system(line) == 0) return 0;
    fprintf(stderr, "tlsutil: failed: %s\n", body);
    snprintf(line, sizeof line, "cat '%s/openssl.log' >&2", f->dir);
    if (system(line) != 0) fprintf(stderr, "tlsutil: (no log)\n");
    return -1;
}

/* A key and a certificate for `cn`, signed by the CA with config section `ext`. */
static int make_leaf(const tls_fixture_t *f, const char *name, const char *ext, const char *cn) {
    char cmd[600];
    snprintf(cmd, sizeof cmd,
             "openssl req -new " NEWKEY " -config segops.cnf -subj /CN=%s -keyout %s.key "
             "-out %s.csr",
             cn, name, name);
    if (run(f, cmd) != 0) return -1;
    snprintf(cmd, sizeof cmd,
             "openssl x509 -req -in %s.csr -CA ca.pem -CAkey ca.key -set_serial %d -days 2 "
             "-extfile segops.cnf -extensions %s -out %s.pem",
             name, (int)(strlen(name) + 100), ext, name);
    return run(f, cmd);
}

int tls_fixture_create(tls_fixture_t *f) {
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "%s/segops-tls-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(f->dir)) {
        perror("tlsutil: mkdtemp");
        return -1;
    }
    char path[TLS_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/segops.cnf", f->dir);
    FILE *cnf = fopen(path, "w");
    if (!cnf || fputs(config_text, cnf) == EOF || fclose(cnf) != 0) {
        perror("tlsutil: segops.cnf");
        tls_fixture_destroy(f);
        return -1;
    }
    if (run(f, "openssl req -x509 -new " NEWKEY " -config segops.cnf -extensions v3_ca -days 2 "
               "-subj '/CN=segops throwaway test CA' -keyout ca.key -out ca.pem") != 0 ||
        make_leaf(f, "server", "v3_server", "127.0.0.1") != 0 ||
        make_leaf(f, "other", "v3_other", "other.example") != 0 ||
        run(f, "mkdir cadir && cp ca.pem cadir/segops-ca.pem") != 0 ||
        run(f, "openssl rehash cadir || c_rehash cadir") != 0) {
        tls_fixture_destroy(f);
        return -1;
    }
    snprintf(f->ca_file, sizeof f->ca_file, "%.200s/ca.pem", f->dir);
    snprintf(f->ca_dir, sizeof f->ca_dir, "%.200s/cadir", f->dir);
    snprintf(f->server_cert, sizeof f->server_cert, "%.200s/server.pem", f->dir);
    snprintf(f->server_key, sizeof f->server_key, "%.200s/server.key", f->dir);
    snprintf(f->other_cert, sizeof f->other_cert, "%.200s/other.pem", f->dir);
    snprintf(f->other_key, sizeof f->other_key, "%.200s/other.key", f->dir);
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

void tls_fixture_destroy(tls_fixture_t *f) {
    if (f->dir[0] && strstr(f->dir, "segops-tls-"))
        nftw(f->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    memset(f, 0, sizeof *f);
}
