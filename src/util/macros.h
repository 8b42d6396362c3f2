/* Cleanup attributes and ownership transfer, so that every resource is released on every path
 * without goto. Each resource variable gets a cleanup attribute and a sentinel when declared. */
#ifndef NCTK_UTIL_MACROS_H
#define NCTK_UTIL_MACROS_H

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)
#define _cleanup_closedir_ _cleanup_(closedirp)
#define _unused_ __attribute__((unused))

#define TAKE_FD(fd)                                                                                \
        ({                                                                                         \
                int _t = (fd);                                                                     \
                (fd) = -EBADF;                                                                     \
                _t;                                                                                \
        })
#define TAKE_PTR(p)                                                                                \
        ({                                                                                         \
                __typeof__(p) _t = (p);                                                            \
                (p) = NULL;                                                                        \
                _t;                                                                                \
        })

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))
#define STREQ(a, b) (strcmp((a), (b)) == 0)

static inline void freep(void *p) {
        free(*(void **) p);
}

/* Never retry close() on EINTR: on Linux the fd is gone either way. */
static inline void closep(int *fd) {
        if (*fd >= 0)
                close(*fd);
}

static inline void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}

static inline void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}

#endif
