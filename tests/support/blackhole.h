/* A loopback address whose connects hang: a listener that never accepts, with
 * its backlog filled, so the kernel drops further SYNs. Loopback cannot route
 * to a black-holed address; this is the way to make a connect time out. */
#ifndef SEGOPS_TEST_BLACKHOLE_H
#define SEGOPS_TEST_BLACKHOLE_H

typedef struct blackhole {
    int listener;
    int fillers[4];
    char url[64]; /* "http://127.0.0.1:PORT" */
} blackhole_t;

/* Opens one; asserts it could. */
void blackhole_open(blackhole_t *b);
/* Closes it (arg is the blackhole_t *: usable as a cleanup callback). */
void blackhole_close(void *arg);

#endif
