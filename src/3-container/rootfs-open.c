/* The container's rootfs, opened once, in the container's mount namespace. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "3-container/container.h"
#include "util/macros.h"

static int rootfs_open_here(const char *rootfs, struct nctk_error **err) {
        int fd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);

        if (fd < 0)
                return nctk_error_set(err, errno, "cannot open rootfs '%s': %s", rootfs,
                                      strerror(errno));
        return fd;
}

static bool same_ns(int fd, int ours) {
        struct stat a, b;

        return fstat(fd, &a) == 0 && fstat(ours, &b) == 0 && a.st_ino == b.st_ino &&
               a.st_dev == b.st_dev;
}

int container_rootfs_open(pid_t pid, const char *rootfs, struct nctk_error **err) {
        _cleanup_close_ int theirs = -EBADF, ours = -EBADF;
        char path[64];
        int fd;

        if (pid <= 0)
                return rootfs_open_here(rootfs, err);
        snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int) pid);
        theirs = open(path, O_RDONLY | O_CLOEXEC);
        if (theirs < 0)
                return nctk_error_set(err, errno,
                                      "cannot open the mount namespace of process %d: "
                                      "%s",
                                      (int) pid, strerror(errno));
        ours = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
        if (ours < 0)
                return nctk_error_set(err, errno, "cannot open our mount namespace: %s",
                                      strerror(errno));
        if (same_ns(theirs, ours))
                return rootfs_open_here(rootfs, err);
        if (setns(theirs, CLONE_NEWNS) < 0)
                return nctk_error_set(err, errno,
                                      "cannot enter the mount namespace of process "
                                      "%d: %s",
                                      (int) pid, strerror(errno));
        fd = rootfs_open_here(rootfs, err);
        /* Back home: the host's driver files are opened from here before the apply stage
         * enters the container's namespace for good. */
        if (setns(ours, CLONE_NEWNS) < 0) {
                int e = errno;
                if (fd >= 0)
                        close(fd);
                return nctk_error_set(err, e, "cannot return to our mount namespace: %s",
                                      strerror(e));
        }
        return fd;
}
