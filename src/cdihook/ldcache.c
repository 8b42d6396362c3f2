/* update-ldcache: where the container's loader finds the driver's libraries. glibc images get
 * an ld.so.cache from our own writer (src/ldcache/): the reference runs the host's ldconfig in
 * the container's root, we execute nothing. musl reads no cache but /etc/ld-musl-<arch>.path,
 * which is written instead. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "3-container/container.h"
#include "5-apply/apply.h"
#include "cdihook/cdihook.h"
#include "util/chase.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/macros.h"
#include "util/strv.h"

#if defined(__x86_64__)
#define MUSL_ARCH "x86_64"
#elif defined(__aarch64__)
#define MUSL_ARCH "aarch64"
#endif

#define PATH_FILE_MAX (64u << 10)

static bool is_in_root(int rootfd, const char *path, bool want_dir) {
        _cleanup_close_ int fd = chase_open(rootfd, path, O_PATH, 0);
        struct stat st;

        return fd >= 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) == want_dir;
}

/* The folders, one a line, each once. */
static char *lines_of(char *const *v, size_t n) {
        size_t len = 1;
        char *s, *p;

        for (size_t i = 0; i < n; i++)
                len += strlen(v[i]) + 1;
        s = p = calloc(1, len);
        for (size_t i = 0; s && i < n; i++) {
                bool seen = false;

                for (size_t k = 0; k < i && !seen; k++)
                        seen = STREQ(v[k], v[i]);
                if (!seen)
                        p = stpcpy(stpcpy(p, v[i]), "\n");
        }
        return s;
}

/* So that an ldconfig run later in the container (a package install) keeps the folders. */
static int folders_conf_write(int rootfd, char *const *folders, size_t n, struct nctk_error **err) {
        _cleanup_free_ char *text = lines_of(folders, n);
        int r;

        if (!text)
                return nctk_error_set(err, ENOMEM, "out of memory");
        r = cdihook_write_file(rootfd, CDIHOOK_FOLDERS_CONF, text, 0644);
        /* The cache below is what matters now; this file only outlives a later ldconfig. */
        if (r < 0)
                log_warning("cannot write '%s' in the container: %s; an ldconfig run there will "
                            "drop the folders",
                            CDIHOOK_FOLDERS_CONF, strerror(-r));
        return 0;
}

#ifdef MUSL_ARCH
static bool is_musl(int rootfd) {
        return is_in_root(rootfd, "/lib/ld-musl-" MUSL_ARCH ".so.1", false) ||
               is_in_root(rootfd, "/etc/alpine-release", false);
}

static bool path_has(const char *text, const char *dir) {
        size_t n = strlen(dir);

        for (const char *p = text; *p; p += strcspn(p, ":\n"), p += !!*p)
                if (strncmp(p, dir, n) == 0 && (p[n] == ':' || p[n] == '\n' || !p[n]))
                        return true;
        return false;
}

/* musl searches the directories of its .path file (split at ':' and newlines), or
 * /lib:/usr/local/lib:/usr/lib when there is none: the new file keeps those, after DIRS. */
static int musl_path_update(int rootfd, char *const *dirs, size_t n, struct nctk_error **err) {
        static const char path[] = "/etc/ld-musl-" MUSL_ARCH ".path";
        _cleanup_free_ char *old = NULL, *text = NULL;
        size_t len = 0;
        char *p;
        int r;

        r = read_full_at(rootfd, path, PATH_FILE_MAX, &old, &len);
        if (r == -ENOENT)
                old = strdup("/lib\n/usr/local/lib\n/usr/lib\n");
        else if (r < 0)
                return nctk_error_set(err, -r, "cannot read '%s' in the container: %s", path,
                                      strerror(-r));
        if (!old)
                return nctk_error_set(err, ENOMEM, "out of memory");
        len = strlen(old) + 2;
        for (size_t i = 0; i < n; i++)
                len += strlen(dirs[i]) + 1;
        text = p = calloc(1, len);
        if (!text)
                return nctk_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++)
                if (!path_has(old, dirs[i]) && !path_has(text, dirs[i]))
                        p = stpcpy(stpcpy(p, dirs[i]), "\n");
        p = stpcpy(p, old);
        if (p > text && p[-1] != '\n')
                *p = '\n';
        r = cdihook_write_file(rootfd, path, text, 0644);
        if (r < 0)
                return nctk_error_set(err, -r, "cannot write '%s' in the container: %s", path,
                                      strerror(-r));
        return 0;
}
#else
static bool is_musl(int rootfd) {
        (void) rootfd;
        return false;
}

static int musl_path_update(int rootfd, char *const *dirs, size_t n, struct nctk_error **err) {
        (void) rootfd, (void) dirs, (void) n, (void) err;
        return 0;
}
#endif

int cdihook_ldcache(int rootfd, char *const *folders, size_t n, struct nctk_error **err) {
        _cleanup_free_ char **dirs = calloc(n + 2, sizeof(char *));
        size_t n_dirs = 0;
        int r;

        if (!dirs)
                return nctk_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++)
                if (folders[i][0] != '/')
                        return nctk_error_set(err, EINVAL, "--folder '%s' is not an absolute path",
                                              folders[i]);
        if (!is_in_root(rootfd, "/etc", true)) {
                log_debug("no /etc in the container: no ld cache to write");
                return 0;
        }
        if (n > 0 && (r = folders_conf_write(rootfd, folders, n, err)) < 0)
                return r;
        /* enable-cuda-compat ran before us: its choice goes first, so that the image's newer
         * libcuda wins over the host's. */
        if (is_in_root(rootfd, CDIHOOK_COMPAT_CONF, false))
                dirs[n_dirs++] = (char *) CONTAINER_COMPAT_DIR;
        for (size_t i = 0; i < n; i++)
                dirs[n_dirs++] = folders[i];
        if (is_musl(rootfd))
                return musl_path_update(rootfd, dirs, n_dirs, err);
        return apply_ldcache(rootfd, dirs, n_dirs, err);
}
