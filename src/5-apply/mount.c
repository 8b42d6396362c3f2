/* Bind mounts through the new mount API (open_tree, mount_setattr, move_mount: Linux 5.12+),
 * falling back to mount(2) on /proc/self/fd paths where those calls are missing. Flags are set on
 * the detached clone before it is attached, so the container never sees a writable or suid
 * window of a driver file. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "4-plan/plan.h"
#include "5-apply/mount.h"
#include "util/chase.h"
#include "util/macros.h"

static bool new_api_missing(int err) {
        return err == ENOSYS || err == EPERM; /* EPERM: a seccomp filter hiding the call */
}

int mount_source_open(const char *host_path, struct mount_source *ret) {
        struct stat st;
        int fd;

        fd = open_tree(AT_FDCWD, host_path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        ret->is_tree = fd >= 0;
        if (fd < 0 && new_api_missing(errno))
                fd = open(host_path, O_PATH | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        ret->fd = fd;
        ret->is_dir = S_ISDIR(st.st_mode);
        ret->is_chr = S_ISCHR(st.st_mode);
        return 0;
}

void mount_source_close(struct mount_source *s) {
        if (s->fd >= 0)
                close(s->fd);
        s->fd = -EBADF;
}

static unsigned long attr_of(unsigned flags) {
        unsigned long a = 0;

        if (flags & MOUNT_RDONLY)
                a |= MOUNT_ATTR_RDONLY;
        if (flags & MOUNT_NOSUID)
                a |= MOUNT_ATTR_NOSUID;
        if (flags & MOUNT_NODEV)
                a |= MOUNT_ATTR_NODEV;
        if (flags & MOUNT_NOEXEC)
                a |= MOUNT_ATTR_NOEXEC;
        return a;
}

static unsigned long msflags_of(unsigned flags) {
        unsigned long m = 0;

        if (flags & MOUNT_RDONLY)
                m |= MS_RDONLY;
        if (flags & MOUNT_NOSUID)
                m |= MS_NOSUID;
        if (flags & MOUNT_NODEV)
                m |= MS_NODEV;
        if (flags & MOUNT_NOEXEC)
                m |= MS_NOEXEC;
        return m;
}

int mount_set_flags(int rootfd, const char *target, unsigned flags) {
        _cleanup_close_ int fd = chase_open(rootfd, target, O_PATH, 0);
        struct mount_attr attr = {.attr_set = attr_of(flags)};
        char proc[64];

        if (fd < 0)
                return fd;
        if (mount_setattr(fd, "", AT_EMPTY_PATH, &attr, sizeof(attr)) == 0)
                return 0;
        if (!new_api_missing(errno))
                return -errno;
        /* The fd was opened after the mount, so it names the new top mount. */
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        if (mount(NULL, proc, NULL, MS_REMOUNT | MS_BIND | msflags_of(flags), NULL) < 0)
                return -errno;
        return 0;
}

static int attach_fallback(const struct mount_source *src, int rootfd, const char *target,
                           int target_fd, unsigned flags) {
        char from[64], to[64];

        snprintf(from, sizeof(from), "/proc/self/fd/%d", src->fd);
        snprintf(to, sizeof(to), "/proc/self/fd/%d", target_fd);
        if (mount(from, to, NULL, MS_BIND, NULL) < 0)
                return -errno;
        return mount_set_flags(rootfd, target, flags);
}

int mount_attach(const struct mount_source *src, int rootfd, const char *target, int target_fd,
                 unsigned flags) {
        struct mount_attr attr = {.attr_set = attr_of(flags)};

        if (!src->is_tree)
                return attach_fallback(src, rootfd, target, target_fd, flags);
        if (attr.attr_set && mount_setattr(src->fd, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0)
                return -errno;
        if (move_mount(src->fd, "", target_fd, "",
                       MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
                return -errno;
        return 0;
}

/* A device node source must be the character device the inventory says, not whatever a path
 * happens to hold now. */
int mount_node_source_open(const struct edit_node *n, struct mount_source *ret) {
        struct stat st;
        int r = mount_source_open(n->source, ret);

        if (r < 0)
                return r;
        if (fstat(ret->fd, &st) < 0 || !S_ISCHR(st.st_mode) ||
            st.st_rdev != makedev(n->major, n->minor)) {
                mount_source_close(ret);
                return -ENODEV;
        }
        return 0;
}
