/* create-soname-symlinks (toolkit 1.18): in each given library folder of the container, the
 * SONAME links that `ldconfig -n -N FOLDER` would make (libfoo.so.1 -> libfoo.so.1.2.3), from the
 * DT_SONAME of each library as our own ELF reader sees it; ldconfig itself is never run. The
 * folders, the libraries and the links are all reached through the rootfs fd: a folder that is a
 * link to / or to a host directory resolves inside the rootfs, and a SONAME that is a path
 * ("../../etc/x") is refused, since ldconfig would write the link wherever it points. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cdihook/cdihook.h"
#include "ldcache/elf.h"
#include "ldcache/write.h"
#include "util/chase.h"
#include "util/log.h"
#include "util/macros.h"
#include "util/strv.h"

/* Candidates per folder: a real driver folder has a few hundred; beyond this the image is
 * hostile or broken, and the hook says so rather than read without end. */
#define SONAME_MAX_FILES 65536u

/* The names ldconfig takes as libraries: lib*.so*, ld-*.so* (and the loader's ld.so.N). */
static bool is_library_name(const char *name) {
        return ((startswith(name, "lib") || startswith(name, "ld-")) && strstr(name, ".so")) ||
               startswith(name, "ld.so.") || startswith(name, "ld64.so.");
}

/* A SONAME that names a file in the same folder, and nothing else. */
static bool is_plain_name(const char *s) {
        return s && *s && !strchr(s, '/') && !STREQ(s, ".") && !STREQ(s, "..") &&
               strlen(s) <= NAME_MAX;
}

static bool is_regular_entry(DIR *d, const struct dirent *de) {
        struct stat st;

        if (de->d_type == DT_REG)
                return true;
        if (de->d_type != DT_UNKNOWN)
                return false;
        return fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

/* The DT_SONAME of FOLDER/NAME, or NULL (not a library we take, or none). -ENOMEM only. */
static int soname_of(int rootfd, const char *folder, const char *name, char **ret) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct elf_info info = {};
        int r;

        *ret = NULL;
        if (asprintf(&path, "%s/%s", folder, name) < 0)
                return -ENOMEM;
        fd = ldcache_open_regular(rootfd, path);
        if (fd < 0)
                return 0;
        r = elf_read(fd, elf_host_machine(), &info);
        if (r == -ENOMEM)
                return r;
        if (r >= 0)
                *ret = TAKE_PTR(info.soname);
        elf_info_release(&info);
        return 0;
}

/* Records that NAME has SONAME in PICKS (soname -> file name); among files of one SONAME the
 * newer name wins, as ldconfig picks (glibc's _dl_cache_libcmp). */
static int pick(json_t *picks, const char *soname, const char *name) {
        const char *old = json_string_value(json_object_get(picks, soname));

        if (old && ldcache_libcmp(old, name) >= 0)
                return 0;
        return json_object_set_new(picks, soname, json_string(name)) < 0 ? -ENOMEM : 0;
}

static int folder_picks(int rootfd, const char *folder, json_t *picks, struct nctk_error **err) {
        DIR *d = NULL;
        struct dirent *de;
        unsigned n = 0;
        int r = chase_opendir(rootfd, folder, &d);

        if (r == -ENOENT || r == -ENOTDIR) {
                log_warning("'%s' is not a directory in the container: no SONAME links there",
                            folder);
                return 0;
        }
        if (r < 0)
                return nctk_error_set(err, -r, "cannot open '%s': %s", folder, strerror(-r));
        while (r >= 0 && (de = readdir(d))) {
                _cleanup_free_ char *soname = NULL;

                if (!is_library_name(de->d_name) || !is_regular_entry(d, de))
                        continue;
                if (++n > SONAME_MAX_FILES) {
                        r = nctk_error_set(err, E2BIG, "'%s' has more than %u libraries", folder,
                                           SONAME_MAX_FILES);
                        break;
                }
                r = soname_of(rootfd, folder, de->d_name, &soname);
                if (r >= 0 && soname && !STREQ(soname, de->d_name)) {
                        if (!is_plain_name(soname))
                                log_warning("'%s/%s': SONAME '%.64s' is not a file name: no link",
                                            folder, de->d_name, soname);
                        else
                                r = pick(picks, soname, de->d_name);
                }
                if (r == -ENOMEM)
                        r = nctk_error_set(err, ENOMEM, "out of memory");
        }
        closedir(d);
        return r;
}

static void links_release(struct edits *e) {
        for (size_t i = 0; i < e->n_links; i++) {
                free(e->links[i].target);
                free(e->links[i].path);
        }
        free(e->links);
}

static int folder_links(int rootfd, const char *folder, struct nctk_error **err) {
        _cleanup_(links_release) struct edits e = {};
        json_t *picks = json_object(), *name;
        const char *soname;
        int r = picks ? folder_picks(rootfd, folder, picks, err)
                      : nctk_error_set(err, ENOMEM, "out of memory");

        if (r >= 0 && !(e.links = calloc(json_object_size(picks) + 1, sizeof(*e.links))))
                r = nctk_error_set(err, ENOMEM, "out of memory");
        json_object_foreach(picks, soname, name) {
                struct edit_link *l = &e.links[e.n_links];

                if (r < 0)
                        break;
                l->target = strdup(json_string_value(name));
                if (asprintf(&l->path, "%s/%s", folder, soname) < 0)
                        l->path = NULL;
                e.n_links++;
                if (!l->target || !l->path)
                        r = nctk_error_set(err, ENOMEM, "out of memory");
        }
        json_decref(picks);
        return r < 0 ? r : cdihook_links(rootfd, &e, err);
}

int cdihook_soname_links(int rootfd, char *const *folders, size_t n, struct nctk_error **err) {
        for (size_t i = 0; i < n; i++) {
                int r;

                if (folders[i][0] != '/')
                        return nctk_error_set(err, EINVAL,
                                              "--folder '%s' is not an absolute path in the "
                                              "container",
                                              folders[i]);
                r = folder_links(rootfd, folders[i], err);
                if (r < 0)
                        return r;
        }
        return 0;
}
