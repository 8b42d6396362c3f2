/* Whole-file reads for the small text files of /proc and the driver root, and exact reads and
 * writes for the NVML child's socket. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/chase.h"
#include "util/fileio.h"
#include "util/macros.h"

int read_full_fd(int fd, size_t max, char **ret, size_t *ret_len) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0, alloc = 0;

        for (;;) {
                ssize_t n;

                if (alloc - len < 4097) {
                        size_t na = alloc ? alloc * 2 : 8192;
                        char *nb = realloc(buf, na);
                        if (!nb)
                                return -ENOMEM;
                        buf = nb;
                        alloc = na;
                }
                n = read(fd, buf + len, alloc - len - 1);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                len += (size_t) n;
                if (len > max)
                        return -EFBIG;
        }
        buf[len] = '\0';
        *ret = TAKE_PTR(buf);
        if (ret_len)
                *ret_len = len;
        return 0;
}

int read_full_at(int rootfd, const char *path, size_t max, char **ret, size_t *ret_len) {
        _cleanup_close_ int fd = chase_open(rootfd, path, O_RDONLY | O_NOCTTY, 0);

        if (fd < 0)
                return fd;
        return read_full_fd(fd, max, ret, ret_len);
}

int write_full(int fd, const void *buf, size_t len) {
        const char *p = buf;

        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                len -= (size_t) n;
        }
        return 0;
}

int read_exact(int fd, void *buf, size_t len) {
        char *p = buf;

        while (len > 0) {
                ssize_t n = read(fd, p, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return -EPIPE;
                p += n;
                len -= (size_t) n;
        }
        return 0;
}
