/* A container whose rootfs is a shared mount (rootfsPropagation "shared", or a rootfs on a
 * shared host mount) would send every mount we make inside it back to its peers: the driver's
 * files would appear on the host. Before mounting anything we make that one mount a slave in
 * the container's namespace: it still receives the host's mounts, but sends none back. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "5-apply/propagation.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/macros.h"

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape(char *s) {
        char *w = s;

        for (char *r = s; *r; r++) {
                if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
                    r[3] >= '0' && r[3] <= '7') {
                        *w++ = (char) ((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
                        r += 3;
                } else
                        *w++ = *r;
        }
        *w = '\0';
}

/* Finds mount ID in TEXT (/proc/self/mountinfo): its mount point in RET (unescaped, heap) and
 * whether it has peers. Returns 0, or -ENOENT. */
int mountinfo_find(char *text, unsigned long long id, char **ret_point, bool *ret_shared) {
        char *save = NULL;

        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                unsigned long long mid;
                char point[4096];
                int n = 0;
                const char *opt, *sep, *shared;

                if (sscanf(line, "%llu %*u %*u:%*u %*s %4095s %*s%n", &mid, point, &n) < 2 ||
                    mid != id)
                        continue;
                opt = line + n;
                sep = strstr(opt, " - ");
                /* The optional fields ("shared:N master:M") end at " - ". */
                shared = strstr(opt, "shared:");
                *ret_shared = shared && (!sep || shared < sep);
                unescape(point);
                *ret_point = strdup(point);
                return *ret_point ? 0 : -ENOMEM;
        }
        return -ENOENT;
}

int rootfs_stop_propagation(int rootfd) {
        _cleanup_close_ int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
        _cleanup_free_ char *text = NULL, *point = NULL;
        struct statx stx;
        bool shared = false;
        int r;

        if (statx(rootfd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) < 0)
                return -errno;
        if (!(stx.stx_mask & STATX_MNT_ID))
                return -EOPNOTSUPP; /* before Linux 5.8 */
        if (fd < 0)
                return -errno;
        r = read_full_fd(fd, 16u << 20, &text, NULL);
        if (r < 0)
                return r;
        r = mountinfo_find(text, stx.stx_mnt_id, &point, &shared);
        if (r < 0 || !shared)
                return r;
        if (mount(NULL, point, NULL, MS_SLAVE, NULL) < 0)
                return -errno;
        log_debug("the rootfs mount '%s' was shared: now a slave, so nothing we mount reaches the "
                  "host",
                  point);
        return 1;
}
