/* The progress record on disk: FNV-1a over the lines, text format, atomic replace. */
#include "resume_record.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define RECORD_TMP_NAME CLI_RESUME_RECORD_NAME ".tmp"
#define RECORD_FORMAT                                                                              \
    "segops-send-progress 1\nlines %" PRIu64 "\nbytes %" PRIu64 "\nfnv1a64 %016" PRIx64 "\n"
#define RECORD_MAX 160

#define FNV_OFFSET UINT64_C(0xcbf29ce484222325)
#define FNV_PRIME UINT64_C(0x100000001b3)

void cli_resume_mark_init(cli_resume_mark_t *mark) {
    memset(mark, 0, sizeof *mark);
    mark->hash = FNV_OFFSET;
}

void cli_resume_mark_add(cli_resume_mark_t *mark, const char *raw, size_t len) {
    uint64_t h = mark->hash;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)raw[i];
        h *= FNV_PRIME;
    }
    mark->hash = h;
    mark->bytes += len;
    mark->lines++;
}

static int format_record(const cli_resume_mark_t *mark, char *buf, size_t size) {
    int n = snprintf(buf, size, RECORD_FORMAT, mark->lines, mark->bytes, mark->hash);
    return n > 0 && (size_t)n < size ? n : -1;
}

int cli_resume_record_load(int dir_fd, cli_resume_mark_t *out) {
    cli_resume_mark_init(out);
    int fd = openat(dir_fd, CLI_RESUME_RECORD_NAME, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        return errno == ELOOP ? EINVAL : errno;
    }
    char buf[RECORD_MAX + 1];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof buf - 1 && (n = read(fd, buf + len, sizeof buf - 1 - len)) != 0) {
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            int err = errno;
            close(fd);
            return err;
        }
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';

    /* Exact: parse the numbers, then require the text to be what we would write. */
    cli_resume_mark_t mark;
    cli_resume_mark_init(&mark);
    char again[RECORD_MAX];
    if (sscanf(buf, "segops-send-progress 1 lines %" SCNu64 " bytes %" SCNu64 " fnv1a64 %" SCNx64,
               &mark.lines, &mark.bytes, &mark.hash) != 3 ||
        format_record(&mark, again, sizeof again) < 0 || strcmp(again, buf) != 0) {
        return EINVAL;
    }
    *out = mark;
    return 0;
}

static int write_all(int fd, const char *p, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int cli_resume_record_save(int dir_fd, const cli_resume_mark_t *mark) {
    char buf[RECORD_MAX];
    int len = format_record(mark, buf, sizeof buf);
    if (len < 0) {
        return EOVERFLOW;
    }
    int fd = openat(dir_fd, RECORD_TMP_NAME, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
                    0600);
    if (fd < 0) {
        return errno;
    }
    int err = write_all(fd, buf, (size_t)len);
    if (close(fd) != 0 && err == 0) {
        err = errno;
    }
    /* rename() replaces the record in one step: a reader (or a crash) sees the
     * old record or the new one, never half of one. */
    if (err == 0 && renameat(dir_fd, RECORD_TMP_NAME, dir_fd, CLI_RESUME_RECORD_NAME) != 0) {
        err = errno;
    }
    if (err != 0) {
        unlinkat(dir_fd, RECORD_TMP_NAME, 0);
    }
    return err;
}

void cli_resume_record_remove(int dir_fd) {
    unlinkat(dir_fd, CLI_RESUME_RECORD_NAME, 0);
    unlinkat(dir_fd, RECORD_TMP_NAME, 0);
}
