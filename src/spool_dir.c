/* Opening spool_dir and explaining why it cannot be used. */
#include "spool_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

void segops__spool_dir_reason(int err, const char *path, char *why, size_t why_len) {
    const char *reason = NULL;
    switch (err) {
    case ENOENT: reason = "its parent directory does not exist"; break;
    case ENOTDIR: reason = "it (or a directory on its path) is not a directory"; break;
    case EACCES:
    case EPERM: reason = "no permission to create files in it"; break;
    case EROFS: reason = "it is on a read-only file system"; break;
    case ENOSPC:
    case EDQUOT: reason = "no space left on its device"; break;
    case ENOLCK:
    case EINVAL:
    case EOPNOTSUPP: reason = "its file system does not support file locks (flock)"; break;
    case ELOOP: reason = "too many symbolic links on its path"; break;
    case ENAMETOOLONG: reason = "the path is too long"; break;
    default: break;
    }
    char text[128];
    if (!reason) reason = segops__errno_text(err, text, sizeof text);
    if (why && why_len) snprintf(why, why_len, "spool_dir %s: %s", path, reason);
}

const char *segops__errno_text(int err, char *buf, size_t len) {
    /* GNU strerror_r (_GNU_SOURCE, common.h): thread-safe, unlike strerror. */
    return strerror_r(err, buf, len);
}

int segops__spool_dir_open(const char *path, char *why, size_t why_len) {
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        if (mkdir(path, 0700) != 0 && errno != EEXIST) {
            segops__spool_dir_reason(errno, path, why, why_len);
            return -1;
        }
        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    if (fd < 0) segops__spool_dir_reason(errno, path, why, why_len);
    return fd;
}
