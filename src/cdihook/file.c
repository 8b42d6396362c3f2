/* Small files written into a container rootfs (ld.so.conf.d entries, the musl path file, the
 * application profile), atomically and without following anything the image planted. Also the
 * create-symlinks hook, the thinnest wrapper over apply_links(). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "5-apply/apply.h"
#include "5-apply/rootfs.h"
#include "cdihook/cdihook.h"
#include "util/fileio.h"
#include "util/macros.h"

static int temp_create(int dirfd, char name[static 32]) {
        for (int i = 0; i < 16; i++) {
                uint32_t rnd = 0;
                int fd;

                if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
                        rnd = (uint32_t) getpid() ^ (uint32_t) i << 24;
                snprintf(name, 32, ".nctk-%08x", rnd);
                fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                            0600);
                if (fd >= 0 || errno != EEXIST)
                        return fd >= 0 ? fd : -errno;
        }
        return -EEXIST;
}

int cdihook_write_file(int rootfd, const char *path, const char *data, mode_t mode) {
        _cleanup_(journal_release) struct journal j = {};
        _cleanup_close_ int dirfd = -EBADF, fd = -EBADF;
        const char *slash = strrchr(path, '/');
        char parent[4096], tmp[32];
        int r;

        if (path[0] != '/' || !slash[1] || (size_t) (slash - path) >= sizeof(parent))
                return -EINVAL;
        memcpy(parent, path, (size_t) (slash - path));
        parent[slash - path] = '\0';
        /* The journal is not undone: a directory made for the file may stay with it. */
        dirfd = rootfs_mkdir_p(rootfd, parent[0] ? parent : "/", geteuid(), getegid(), &j);
        if (dirfd < 0)
                return dirfd;
        fd = temp_create(dirfd, tmp);
        if (fd < 0)
                return fd;
        r = write_full(fd, data, strlen(data));
        if (r >= 0 && fchmod(fd, mode) < 0)
                r = -errno;
        if (r >= 0 && close(TAKE_FD(fd)) < 0)
                r = -errno;
        if (r >= 0 && renameat(dirfd, tmp, dirfd, slash + 1) < 0)
                r = -errno;
        if (r < 0)
                (void) unlinkat(dirfd, tmp, 0);
        return r;
}

int cdihook_links(int rootfd, const struct edits *e, struct nctk_error **err) {
        _cleanup_(journal_release) struct journal j = {};
        int r = apply_links(rootfd, e, geteuid(), getegid(), &j, err);

        /* A hook that fails stops the container: leave no half of the links behind. */
        if (r < 0)
                journal_undo(rootfd, &j);
        return r;
}
