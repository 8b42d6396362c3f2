/* nctk's answer cache (/run/nctk): NVML's inventory and the runtimes' versions, kept so that a
 * container start pays a stat instead of a driver load. nctk reads it only when root alone can
 * write it (what it holds steers what a container gets); one that fails that rule is ignored
 * silently, and every start is slow again. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "1-discover/cache.h"
#include "doctor/doctor.h"
#include "util/macros.h"
#include "util/strv.h"

#define ID "cache"

struct cache_count {
        size_t nvml, runtime, other;
        char odd[256]; /* the first entry nctk would not trust */
};

static void count_entries(int dfd, struct cache_count *c) {
        _cleanup_closedir_ DIR *d = fdopendir(dfd);
        struct dirent *de;
        struct stat st;

        if (!d) {
                close(dfd);
                return;
        }
        while ((de = readdir(d))) {
                if (STREQ(de->d_name, ".") || STREQ(de->d_name, ".."))
                        continue;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                    !S_ISREG(st.st_mode) || st.st_uid != 0 || de->d_name[0] == '.') {
                        if (!c->odd[0])
                                strscpy(c->odd, sizeof(c->odd), de->d_name);
                        c->other++;
                } else if (startswith(de->d_name, "nvml-"))
                        c->nvml++;
                else if (startswith(de->d_name, "runtime-"))
                        c->runtime++;
                else
                        c->other++;
        }
}

int doctor_check_cache(struct doctor_state *s) {
        _cleanup_free_ char *dir = doctor_host_path(s, CACHE_DIR), *fix = NULL;
        struct cache_count c = {};
        struct stat st;
        int dfd;

        if (!dir)
                return -ENOMEM;
        if (lstat(dir, &st) < 0)
                return doctor_add(s, ID, DOCTOR_OK, NULL,
                                  "no answer cache in %s yet: the first GPU container start "
                                  "makes it",
                                  dir);
        if (!S_ISDIR(st.st_mode)) {
                if (asprintf(&fix, "rm %s (nctk makes it again, as root, mode 0700)", dir) < 0)
                        return -ENOMEM;
                return doctor_add(s, ID, DOCTOR_FAIL, fix,
                                  "%s is not a directory: nctk cannot cache NVML's answers and "
                                  "loads NVML at every container start",
                                  dir);
        }
        if (st.st_uid != 0 || (st.st_mode & 022)) {
                if (asprintf(&fix, "chown root:root %s && chmod 0700 %s", dir, dir) < 0)
                        return -ENOMEM;
                return doctor_add(s, ID, DOCTOR_FAIL, fix,
                                  "%s is owned by uid %u with mode %04o: nctk ignores a cache "
                                  "that anyone but root can write, and loads NVML at every "
                                  "container start",
                                  dir, (unsigned) st.st_uid, (unsigned) (st.st_mode & 07777));
        }
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0)
                count_entries(dfd, &c);
        if (c.odd[0]) {
                if (asprintf(&fix, "rm -r %s (nctk makes it again)", dir) < 0)
                        return -ENOMEM;
                return doctor_add(s, ID, DOCTOR_WARN, fix,
                                  "%s holds '%s', which nctk does not trust (not a root-owned "
                                  "regular file, or a leftover of an interrupted write)",
                                  dir, c.odd);
        }
        return doctor_add(s, ID, DOCTOR_OK, NULL,
                          "%s: %zu NVML answer(s), %zu runtime answer(s), root-only", dir, c.nvml,
                          c.runtime);
}
