/* Small-file I/O and growable arrays used by the parsers. */
#ifndef NCTK_UTIL_FILEIO_H
#define NCTK_UTIL_FILEIO_H

#include <stddef.h>

/* Reads all of FD (at most MAX bytes, -EFBIG beyond) into a NUL-terminated heap buffer. */
int read_full_fd(int fd, size_t max, char **ret, size_t *ret_len);
/* Opens PATH under ROOTFD through chase_open and reads it all. */
int read_full_at(int rootfd, const char *path, size_t max, char **ret, size_t *ret_len);
/* Writes all of BUF to FD, retrying short writes and EINTR. */
int write_full(int fd, const void *buf, size_t len);
/* Reads exactly LEN bytes; -EPIPE on an early end of file. */
int read_exact(int fd, void *buf, size_t len);

#endif
