#define _GNU_SOURCE 1 /* program_invocation_short_name */
/* Counted skips (see skip.h). */
#include "skip.h"

#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One line per skip; one write(2) with O_APPEND so parallel test programs do
 * not interleave their lines. */
static void append_to_log(const char *line) {
    const char *path = getenv("SEGOPS_SKIP_LOG");
    if (!path || !*path) return;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) fail_msg("cannot open SEGOPS_SKIP_LOG %s: %s", path, strerror(errno));
    size_t len = strlen(line);
    ssize_t written = write(fd, line, len);
    close(fd);
    if (written != (ssize_t)len) fail_msg("cannot append to SEGOPS_SKIP_LOG %s", path);
}

static bool under_ci(void) {
    const char *ci = getenv("CI");
    return ci && strcmp(ci, "true") == 0;
}

void skip_record(const char *test, const char *reason, int installable) {
    bool fails = installable && under_ci();
    char line[512];
    snprintf(line, sizeof line, "%s %s: %s%s\n", program_invocation_short_name, test, reason,
             fails ? " (a FAILURE under CI: the machine can be given this)" : "");
    print_message("skipped: %s\n", reason);
    append_to_log(line);
    if (fails)
        fail_msg("skipped under CI=true, but the cause is installable: %s (scripts/deps.sh --test, "
                 "and CI runs as root)",
                 reason);
}
