/* Directory, file and symlink creation inside a hostile rootfs. Every parent is resolved with
 * chase_open (confined to the rootfs), every final component is created relative to that
 * parent's fd with O_EXCL|O_NOFOLLOW or its *at equivalent, so a symlink planted by the image
 * (or swapped in while we work) can never make us create or mount over a host file. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "5-apply/rootfs.h"
#include "util/chase.h"
#include "util/log.h"
#include "util/macros.h"
#include "util/strv.h"

int journal_add(struct journal *j, enum journal_kind kind, const char *path) {
        struct journal_entry *e = ARRAY_PUSH(j->e, j->n);

        if (!e)
                return -ENOMEM;
        e->kind = kind;
        e->path = strdup(path);
        if (!e->path) {
                j->n--;
                return -ENOMEM;
        }
        return 0;
}

void journal_release(struct journal *j) {
        for (size_t i = 0; i < j->n; i++)
                free(j->e[i].path);
        free(j->e);
        j->e = NULL;
        j->n = 0;
}

/* Splits PATH into a heap copy of its parent and a pointer to its last component. */
static int split_path(const char *path, char **ret_parent, const char **ret_name) {
        const char *slash = strrchr(path, '/');

        if (!slash || !slash[1] || STREQ(slash + 1, ".") || STREQ(slash + 1, ".."))
                return -EINVAL;
        *ret_parent = slash == path ? strdup("/") : strndup(path, (size_t) (slash - path));
        if (!*ret_parent)
                return -ENOMEM;
        *ret_name = slash + 1;
        return 0;
}

static void undo_one(int rootfd, const struct journal_entry *e) {
        _cleanup_free_ char *parent = NULL;
        _cleanup_close_ int fd = -EBADF;
        const char *name;
        char proc[64];

        if (e->kind == JOURNAL_MOUNT) {
                fd = chase_open(rootfd, e->path, O_PATH | O_NOFOLLOW, 0);
                if (fd < 0)
                        return;
                snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
                if (umount2(proc, MNT_DETACH) < 0)
                        log_debug("cannot undo mount '%s': %s", e->path, strerror(errno));
                return;
        }
        if (split_path(e->path, &parent, &name) < 0)
                return;
        fd = chase_open(rootfd, parent, O_PATH | O_DIRECTORY, 0);
        if (fd >= 0 && unlinkat(fd, name, e->kind == JOURNAL_DIR ? AT_REMOVEDIR : 0) < 0)
                log_debug("cannot remove '%s': %s", e->path, strerror(errno));
}

void journal_undo(int rootfd, struct journal *j) {
        for (size_t i = j->n; i > 0; i--)
                undo_one(rootfd, &j->e[i - 1]);
}

static int mkdir_one(int rootfd, const char *prefix, uid_t uid, gid_t gid, struct journal *j) {
        _cleanup_free_ char *parent = NULL;
        _cleanup_close_ int pfd = -EBADF;
        const char *name;
        int r;

        r = split_path(prefix, &parent, &name);
        if (r < 0)
                return r;
        pfd = chase_open(rootfd, parent, O_PATH | O_DIRECTORY, 0);
        if (pfd < 0)
                return pfd;
        if (mkdirat(pfd, name, 0755) < 0)
                return errno == EEXIST ? 0 : -errno;
        r = journal_add(j, JOURNAL_DIR, prefix);
        if (r < 0)
                return r;
        if (fchownat(pfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        return 0;
}

int rootfs_mkdir_p(int rootfd, const char *path, uid_t uid, gid_t gid, struct journal *j) {
        char prefix[PATH_MAX];
        size_t len = strlen(path);
        int fd;

        if (len >= sizeof(prefix) || path[0] != '/')
                return -EINVAL;
        fd = chase_open(rootfd, path, O_PATH | O_DIRECTORY, 0);
        if (fd != -ENOENT)
                return fd;
        for (size_t i = 1; i <= len; i++) {
                if (path[i] != '/' && path[i] != '\0')
                        continue;
                memcpy(prefix, path, i);
                prefix[i] = '\0';
                fd = chase_open(rootfd, prefix, O_PATH | O_DIRECTORY, 0);
                if (fd >= 0) {
                        close(fd);
                        continue;
                }
                if (fd != -ENOENT)
                        return fd;
                fd = mkdir_one(rootfd, prefix, uid, gid, j);
                if (fd < 0)
                        return fd;
        }
        return chase_open(rootfd, path, O_PATH | O_DIRECTORY, 0);
}

static int target_check(int fd, bool is_dir) {
        struct stat st;

        if (fstat(fd, &st) < 0)
                return -errno;
        if (is_dir ? S_ISDIR(st.st_mode) : (S_ISREG(st.st_mode) || S_ISCHR(st.st_mode)))
                return 0;
        return is_dir ? -ENOTDIR : -EEXIST;
}

/* Opens (creating as needed) the directory that will hold path's last component, and names it. */
static int parent_mkdir_p(int rootfd, const char *path, uid_t uid, gid_t gid, struct journal *j,
                          char **ret_parent, const char **ret_name) {
        int r = split_path(path, ret_parent, ret_name);

        return r < 0 ? r : rootfs_mkdir_p(rootfd, *ret_parent, uid, gid, j);
}

int rootfs_target(int rootfd, const char *path, bool is_dir, uid_t uid, gid_t gid,
                  struct journal *j) {
        _cleanup_free_ char *parent = NULL;
        _cleanup_close_ int pfd = -EBADF, fd = -EBADF;
        const char *name;
        int r;

        fd = chase_open(rootfd, path, O_PATH, 0);
        if (fd >= 0) {
                r = target_check(fd, is_dir);
                return r < 0 ? r : TAKE_FD(fd);
        }
        if (fd != -ENOENT)
                return fd;
        pfd = parent_mkdir_p(rootfd, path, uid, gid, j, &parent, &name);
        if (pfd < 0)
                return pfd;
        if (is_dir)
                r = mkdirat(pfd, name, 0755);
        else {
                int cfd = openat(pfd, name, O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC,
                                 0644);
                r = cfd;
                if (cfd >= 0)
                        close(cfd);
        }
        if (r < 0)
                return -errno;
        r = journal_add(j, is_dir ? JOURNAL_DIR : JOURNAL_FILE, path);
        if (r < 0)
                return r;
        if (fchownat(pfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        fd = openat(pfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = target_check(fd, is_dir);
        return r < 0 ? r : TAKE_FD(fd);
}

int rootfs_symlink(int rootfd, const char *path, const char *target, uid_t uid, gid_t gid,
                   struct journal *j) {
        _cleanup_free_ char *parent = NULL;
        _cleanup_close_ int pfd = -EBADF;
        const char *name;
        struct stat st;
        int r;

        pfd = parent_mkdir_p(rootfd, path, uid, gid, j, &parent, &name);
        if (pfd < 0)
                return pfd;
        if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
                char cur[PATH_MAX];
                ssize_t n;

                if (!S_ISLNK(st.st_mode))
                        return -EEXIST; /* the image's own file: leave it alone */
                n = readlinkat(pfd, name, cur, sizeof(cur) - 1);
                if (n >= 0 && (size_t) n == strlen(target) && memcmp(cur, target, (size_t) n) == 0)
                        return 0; /* already right (a restarted container) */
                if (unlinkat(pfd, name, 0) < 0)
                        return -errno;
        }
        if (symlinkat(target, pfd, name) < 0)
                return -errno;
        r = journal_add(j, JOURNAL_LINK, path);
        if (r < 0)
                return r;
        if (fchownat(pfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        return 0;
}
