/* disable-device-node-modification: NVML in a container must not create or chmod /dev/nvidia*
 * nodes (it would try to give itself GPUs it was not granted). The driver's params file says
 * whether it may; the container's copy is covered with one that says ModifyDeviceFiles: 0. The
 * copy lives on a tmpfs of its own: nothing is written anywhere in the image or on the host. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "5-apply/mount.h"
#include "5-apply/propagation.h"
#include "cdihook/cdihook.h"
#include "ldcache/write.h"
#include "util/chase.h"
#include "util/fileio.h"
#include "util/macros.h"

#define PARAMS "/proc/driver/nvidia/params"

static void params_lock(char *params) {
        for (char *p = params; (p = strstr(p, "ModifyDeviceFiles:"));) {
                p += strlen("ModifyDeviceFiles:");
                p += strspn(p, " \t");
                if (*p == '1')
                        *p = '0';
        }
}

/* A detached tmpfs holding one read-only file with TEXT; returns a detached clone of that file. */
static int params_copy(const char *text) {
        _cleanup_close_ int fsfd = -EBADF, mnt = -EBADF, fd = -EBADF;
        int r;

        fsfd = fsopen("tmpfs", FSOPEN_CLOEXEC);
        if (fsfd < 0)
                return -errno;
        if (fsconfig(fsfd, FSCONFIG_SET_STRING, "size", "64k", 0) < 0 ||
            fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
                return -errno;
        mnt = fsmount(fsfd, FSMOUNT_CLOEXEC,
                      MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
        if (mnt < 0)
                return -errno;
        fd = openat(mnt, "params", O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0444);
        if (fd < 0)
                return -errno;
        r = write_full(fd, text, strlen(text));
        if (r < 0)
                return r;
        r = open_tree(mnt, "params", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        return r < 0 ? -errno : r;
}

/* Without the new mount API (Linux < 5.2, or a seccomp filter), the copy needs a tmpfs mounted
 * somewhere by path: on a fresh directory at the rootfs' top, made and mounted through fds, gone
 * again (unmounted, removed) once the copy is bound. The bind keeps the tmpfs alive. */
static int params_cover_fallback(int rootfd, const char *text, int target) {
        _cleanup_close_ int dir = -EBADF, mnt = -EBADF, fd = -EBADF;
        struct mount_source src = {.fd = -EBADF};
        char name[32], proc[64];
        int r;

        /* A shared rootfs would show the scratch mount to its peers. */
        r = rootfs_stop_propagation(rootfd);
        if (r < 0)
                return r;
        snprintf(name, sizeof(name), ".nctk-params-%d", (int) getpid());
        if (mkdirat(rootfd, name, 0700) < 0)
                return -errno;
        dir = openat(rootfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", dir);
        r = dir < 0 ? -errno : 0;
        if (r >= 0 && mount("tmpfs", proc, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                            "size=64k,mode=0700") < 0)
                r = -errno;
        /* Opened again after the mount: this fd is the tmpfs' root. */
        if (r >= 0 &&
            (mnt = openat(rootfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
                r = -errno;
        if (r >= 0 && (fd = openat(mnt, "params",
                                   O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0444)) < 0)
                r = -errno;
        r = r < 0 ? r : write_full(fd, text, strlen(text));
        if (r >= 0 && (src.fd = openat(mnt, "params", O_PATH | O_NOFOLLOW | O_CLOEXEC)) < 0)
                r = -errno;
        if (r >= 0)
                r = mount_attach(&src, rootfd, PARAMS, target,
                                 MOUNT_RDONLY | MOUNT_NOSUID | MOUNT_NODEV | MOUNT_NOEXEC);
        mount_source_close(&src);
        if (mnt >= 0) {
                snprintf(proc, sizeof(proc), "/proc/self/fd/%d", mnt);
                (void) umount2(proc, MNT_DETACH);
        }
        (void) unlinkat(rootfd, name, AT_REMOVEDIR);
        return r;
}

static int params_read(int rootfd, char **ret) {
        /* Opened only if it is a regular file: a FIFO planted by the image would block us. */
        _cleanup_close_ int fd = ldcache_open_regular(rootfd, PARAMS);

        if (fd < 0)
                return fd == -EBADFD ? -EINVAL : fd;
        return read_full_fd(fd, 1u << 16, ret, NULL);
}

int cdihook_params(int rootfd, struct nctk_error **err) {
        _cleanup_free_ char *text = NULL;
        _cleanup_close_ int target = -EBADF, dir = -EBADF;
        struct mount_source src = {.fd = -EBADF, .is_tree = true};
        int r;

        r = params_read(rootfd, &text);
        if (r == -ENOENT)
                return 1;
        if (r < 0)
                return nctk_error_set(err, -r, "cannot read %s in the container: %s", PARAMS,
                                      strerror(-r));
        params_lock(text);
        target = chase_open(rootfd, PARAMS, O_PATH | O_NOFOLLOW, 0);
        dir = chase_open(rootfd, "/proc/driver/nvidia", O_PATH | O_DIRECTORY, 0);
        if (target < 0 || dir < 0)
                return nctk_error_set(err, -(target < 0 ? target : dir), "%s in the container: %s",
                                      PARAMS, strerror(-(target < 0 ? target : dir)));
        /* The container's procfs may be a shared mount: our copy stays out of its peers. */
        r = rootfs_stop_propagation(dir);
        if (r < 0)
                return nctk_error_set(err, -r, "cannot keep the mount on %s private: %s", PARAMS,
                                      strerror(-r));
        src.fd = params_copy(text);
        if (src.fd == -ENOSYS || src.fd == -EPERM)
                r = params_cover_fallback(rootfd, text, target);
        else if (src.fd < 0)
                return nctk_error_set(err, -src.fd, "cannot make a copy of %s: %s", PARAMS,
                                      strerror(-src.fd));
        else
                r = mount_attach(&src, rootfd, PARAMS, target,
                                 MOUNT_RDONLY | MOUNT_NOSUID | MOUNT_NODEV | MOUNT_NOEXEC);
        mount_source_close(&src);
        if (r < 0)
                return nctk_error_set(err, -r, "cannot cover %s: %s", PARAMS, strerror(-r));
        return 0;
}
