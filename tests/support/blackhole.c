/* See blackhole.h. */
#include "blackhole.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testutil.h"

/* A listener that never accepts, with a backlog of 0 filled by connects of its
 * own: the kernel drops further SYNs, so a client's connect hangs. */
void blackhole_open(blackhole_t *b) {
    b->listener = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(b->listener >= 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(b->listener, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(b->listener, 0), 0);
    socklen_t len = sizeof sa;
    assert_int_equal(getsockname(b->listener, (struct sockaddr *)&sa, &len), 0);
    for (int i = 0; i < 4; i++) {
        b->fillers[i] = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(b->fillers[i] >= 0);
        fcntl(b->fillers[i], F_SETFL, O_NONBLOCK);
        connect(b->fillers[i], (struct sockaddr *)&sa, sizeof sa); /* EINPROGRESS is fine */
    }
    sleep_ms(200); /* the handshakes that fit complete; the rest stay dropped */
    snprintf(b->url, sizeof b->url, "http://127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));
}

void blackhole_close(void *arg) {
    blackhole_t *b = arg;
    for (int i = 0; i < 4; i++) close(b->fillers[i]);
    close(b->listener);
}
