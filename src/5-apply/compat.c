/* CUDA forward compatibility without mounting from the image: the decision is made here, from
 * file names in the image's compat directory; the ld cache writer does the rest. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "5-apply/compat.h"
#include "util/chase.h"
#include "util/log.h"
#include "util/macros.h"
#include "util/strv.h"

#define COMPAT_DIR "/usr/local/cuda/compat"

static unsigned long major_of(const char *version) {
        return strtoul(version, NULL, 10);
}

/* The highest major version among COMPAT_DIR's libcuda.so.<version> files, or 0. */
static unsigned long compat_major(int rootfd) {
        _cleanup_closedir_ DIR *d = NULL;
        unsigned long best = 0;
        struct dirent *de;
        int fd;

        fd = chase_open(rootfd, COMPAT_DIR, O_RDONLY | O_DIRECTORY, 0);
        if (fd < 0)
                return 0;
        d = fdopendir(fd);
        if (!d) {
                close(fd);
                return 0;
        }
        while ((de = readdir(d))) {
                const char *v;
                unsigned long m;

                if (!startswith(de->d_name, "libcuda.so."))
                        continue;
                v = de->d_name + strlen("libcuda.so.");
                /* libcuda.so.1 is the soname link; versioned files look like 580.65.06. */
                if (!strchr(v, '.'))
                        continue;
                m = major_of(v);
                if (m > best)
                        best = m;
        }
        return best;
}

int compat_plan(const char *rootfs, const char *driver_version, struct edits *e,
                struct nctk_error **err) {
        _cleanup_close_ int rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
        unsigned long have = major_of(driver_version), img;
        char **dirs, *dir;

        if (rootfd < 0)
                return nctk_error_set(err, errno, "cannot open rootfs '%s': %s", rootfs,
                                      strerror(errno));
        img = compat_major(rootfd);
        if (img <= have || e->n_ldcache_dirs == 0)
                return 0;
        log_debug("CUDA forward compatibility: the image's libcuda %lu is newer than driver %s",
                  img, driver_version);
        dir = strdup(COMPAT_DIR);
        dirs = dir ? realloc(e->ldcache_dirs, (e->n_ldcache_dirs + 1) * sizeof(char *)) : NULL;
        if (!dirs) {
                free(dir);
                return nctk_error_set(err, ENOMEM, "out of memory");
        }
        memmove(dirs + 1, dirs, e->n_ldcache_dirs * sizeof(char *));
        dirs[0] = dir;
        e->ldcache_dirs = dirs;
        e->n_ldcache_dirs++;
        return 0;
}
