/* chmod: modes of paths inside the container (the reference's CSV mode used it for /dev/dri).
 * Each path resolves inside the rootfs; the change goes through the resolved fd, so a link
 * swapped in meanwhile cannot redirect it to a host file. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cdihook/cdihook.h"
#include "util/chase.h"
#include "util/log.h"
#include "util/macros.h"

static int chmod_one(int rootfd, mode_t mode, const char *path, struct nctk_error **err) {
        _cleanup_close_ int fd = chase_open(rootfd, path, O_PATH, 0);
        char proc[64];
        struct stat st;

        if (fd == -ENOENT) {
                log_warning("'%s' does not exist in the container, skipping", path);
                return 0;
        }
        if (fd < 0 || fstat(fd, &st) < 0)
                return nctk_error_set(err, fd < 0 ? -fd : errno, "'%s' in the container: %s", path,
                                      strerror(fd < 0 ? -fd : errno));
        if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode) &&
            !S_ISBLK(st.st_mode)) {
                log_warning("'%s' is neither a file, a directory nor a device, skipping", path);
                return 0;
        }
        /* An O_PATH fd takes no fchmod(); its /proc link names the very inode it holds. */
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        if (chmod(proc, mode) < 0)
                return nctk_error_set(err, errno, "cannot chmod '%s' in the container: %s", path,
                                      strerror(errno));
        return 0;
}

int cdihook_chmod(int rootfd, mode_t mode, char *const *paths, size_t n, struct nctk_error **err) {
        for (size_t i = 0; i < n; i++) {
                int r = chmod_one(rootfd, mode, paths[i], err);

                if (r < 0)
                        return r;
        }
        return 0;
}
