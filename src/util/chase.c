/* Path resolution confined to a root directory fd. Every lookup inside a container rootfs or a
 * driver root goes through here: symlinks, ".." and absolute links resolve as if the root fd were
 * "/", so a hostile tree cannot lead us to a host path. openat2(RESOLVE_IN_ROOT) does it in the
 * kernel (5.6+); where it is missing (ENOSYS: old kernels, seccomp filters) we walk one component
 * at a time with O_PATH|O_NOFOLLOW and splice symlink targets ourselves. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/chase.h"
#include "util/macros.h"

#define CHASE_MAX_LINKS 40 /* as the kernel's MAXSYMLINKS */

static int chase_force_walk = -1;

static bool chase_use_walk(void) {
        if (chase_force_walk < 0) {
                const char *e = secure_getenv("NCTK_TEST_NO_OPENAT2");
                chase_force_walk = e && STREQ(e, "1");
        }
        return chase_force_walk;
}

static bool same_inode(int a, int b) {
        struct stat sa, sb;

        if (fstat(a, &sa) < 0 || fstat(b, &sb) < 0)
                return false;
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* Pops the first component of *P into NAME (NUL-terminated, at most NAME_MAX). Returns 0 when
 * there is none left, 1 when one was taken, -ENAMETOOLONG. */
static int next_component(const char **p, char name[NAME_MAX + 1]) {
        const char *s = *p, *e;
        size_t n;

        while (*s == '/')
                s++;
        if (!*s) {
                *p = s;
                return 0;
        }
        e = strchrnul(s, '/');
        n = (size_t) (e - s);
        if (n > NAME_MAX)
                return -ENAMETOOLONG;
        memcpy(name, s, n);
        name[n] = '\0';
        *p = e;
        return 1;
}

/* Replaces the walk's remaining path with TARGET + REST (REST is empty or starts with "/": a
 * slash of our own would turn a final link into one with a trailing slash). */
static int splice_link(char **buf, const char *target, const char *rest) {
        char *n;

        if (asprintf(&n, "%s%s", target, rest) < 0)
                return -ENOMEM;
        free(*buf);
        *buf = n;
        return 0;
}

static int walk_step_link(int dirfd, const char *name, char **buf, const char **p, int *cur,
                          int rootfd) {
        char target[PATH_MAX];
        ssize_t n = readlinkat(dirfd, name, target, sizeof(target) - 1);
        int r;

        if (n < 0)
                return -errno;
        if (n == 0)
                return -ENOENT; /* an empty link (a crafted image) names nothing, as the kernel */
        target[n] = '\0';
        r = splice_link(buf, target, *p);
        if (r < 0)
                return r;
        *p = *buf;
        if (target[0] == '/') {
                int fd = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
                if (fd < 0)
                        return -errno;
                close(*cur);
                *cur = fd;
        }
        return 0;
}

/* One step of the walk: NAME from *CUR. On a symlink that must be followed, rewrites the path. */
static int walk_step(int rootfd, int *cur, const char *name, bool last, int flags, mode_t mode,
                     char **buf, const char **p, unsigned *links) {
        struct stat st;
        int fd, r;

        if (STREQ(name, "."))
                return 0;
        if (STREQ(name, "..")) {
                if (same_inode(*cur, rootfd))
                        return 0; /* ".." at the root stays at the root */
                fd = openat(*cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (fd < 0)
                        return -errno;
                close(*cur);
                *cur = fd;
                return 0;
        }
        fd = openat(*cur, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 && !(last && errno == ENOENT && (flags & O_CREAT)))
                return -errno;
        if (fd >= 0) {
                if (fstat(fd, &st) < 0) {
                        r = -errno;
                        close(fd);
                        return r;
                }
                if (S_ISLNK(st.st_mode) && !(last && (flags & O_NOFOLLOW))) {
                        close(fd);
                        if (++*links > CHASE_MAX_LINKS)
                                return -ELOOP;
                        r = walk_step_link(*cur, name, buf, p, cur, rootfd);
                        return r < 0 ? r : 1;
                }
        }
        if (last) {
                if (fd >= 0)
                        close(fd);
                fd = openat(*cur, name, flags | O_NOFOLLOW | O_CLOEXEC, mode);
                if (fd < 0)
                        return errno == ELOOP ? -ELOOP : -errno;
        }
        close(*cur);
        *cur = fd;
        return 0;
}

int chase_open_walk(int rootfd, const char *path, int flags, mode_t mode) {
        _cleanup_free_ char *buf = strdup(path);
        _cleanup_close_ int cur = -EBADF;
        char name[NAME_MAX + 1];
        unsigned links = 0;
        const char *p;
        int r;

        if (!buf)
                return -ENOMEM;
        if (!*path)
                return -ENOENT; /* as open(2) and openat2 answer, not the root itself */
        cur = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
        if (cur < 0)
                return -errno;
        p = buf;
        while ((r = next_component(&p, name)) > 0) {
                const char *rest = p;
                int step_flags = flags;
                bool last;

                while (*rest == '/')
                        rest++;
                last = *rest == '\0';
                /* A trailing slash, as in the kernel: the last component must be a directory,
                 * reached through a final symlink even with O_NOFOLLOW, and is never created. */
                if (last && rest != p) {
                        if (flags & O_CREAT)
                                return -EISDIR;
                        step_flags = (flags | O_DIRECTORY) & ~O_NOFOLLOW;
                }
                r = walk_step(rootfd, &cur, name, last, step_flags, mode, &buf, &p, &links);
                if (r < 0)
                        return r;
                if (r == 0 && last && !STREQ(name, ".") && !STREQ(name, ".."))
                        return TAKE_FD(cur);
        }
        if (r < 0)
                return r;
        /* The path ended in "/", "." or "..", or in a link to one of them: reopen what we hold. */
        r = openat(cur, ".", (flags & ~(O_CREAT | O_EXCL | O_NOFOLLOW)) | O_CLOEXEC);
        return r < 0 ? -errno : r;
}

int chase_open(int rootfd, const char *path, int flags, mode_t mode) {
        struct open_how how = {
                .flags = (uint64_t) (flags | O_CLOEXEC),
                .mode = ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) ? mode : 0,
                .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
        };
        int fd;

        if (chase_use_walk())
                return chase_open_walk(rootfd, path, flags, mode);
        /* EAGAIN: a rename or mount anywhere on the host raced one of our ".." steps, and the
         * kernel cannot prove we stayed inside the root. Common on a busy host (containers
         * starting in parallel mount all the time), so retry; past the bound, the walk, which
         * this race does not affect, answers instead. */
        for (int tries = 0; tries < 64; tries++) {
                fd = (int) syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
                if (fd >= 0)
                        return fd;
                if (errno != EAGAIN)
                        break;
        }
        /* ENOSYS: kernel before 5.6, or a seccomp filter that hides the call; some filters answer
         * EPERM instead. The walk gives the same answer where the error was genuine. */
        if (errno != ENOSYS && errno != EPERM && errno != EAGAIN)
                return -errno;
        return chase_open_walk(rootfd, path, flags, mode);
}

int chase_opendir(int rootfd, const char *path, DIR **ret) {
        _cleanup_close_ int fd = -EBADF;
        DIR *d;

        fd = chase_open(rootfd, path, O_RDONLY | O_DIRECTORY, 0);
        if (fd < 0)
                return fd;
        d = fdopendir(fd);
        if (!d)
                return -errno;
        fd = -EBADF; /* the DIR owns it now */
        *ret = d;
        return 0;
}

int fd_get_path(int fd, char **ret) {
        char proc[64], buf[PATH_MAX];
        ssize_t n;
        char *s;

        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        n = readlink(proc, buf, sizeof(buf) - 1);
        if (n < 0)
                return -errno;
        buf[n] = '\0';
        s = strdup(buf);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

int chase_real_path(int rootfd, const char *root_real, const char *path, char **ret) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *full = NULL;
        size_t n = strlen(root_real);
        char *rel;
        int r;

        fd = chase_open(rootfd, path, O_PATH, 0);
        if (fd < 0)
                return fd;
        r = fd_get_path(fd, &full);
        if (r < 0)
                return r;
        if (STREQ(root_real, "/")) {
                *ret = TAKE_PTR(full);
                return 0;
        }
        if (strncmp(full, root_real, n) != 0 || (full[n] != '/' && full[n] != '\0'))
                return -EXDEV; /* escaped the root: cannot happen with RESOLVE_IN_ROOT */
        rel = strdup(full[n] ? full + n : "/");
        if (!rel)
                return -ENOMEM;
        *ret = rel;
        return 0;
}
