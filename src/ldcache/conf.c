/* The directory list of a container's ldconfig: its /etc/ld.so.conf, the files its `include`
 * globs name, and the directories ldconfig always adds. Everything is read inside the container's
 * root (the reference toolkit's ldconfig -r globbed host paths and read a symlinked conf from
 * the host), with limits on size, count and nesting. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "ldcache/write.h"
#include "util/chase.h"
#include "util/fileio.h"
#include "util/macros.h"
#include "util/strv.h"

#define GLOB_MAX 256 /* files one include pattern may name */

struct conf {
        int rootfd;
        char **dirs;
        size_t n_dirs;
        size_t bytes;
};

struct glob_result {
        char **paths;
        size_t n;
};

static int parse_conf(struct conf *c, const char *filename, unsigned depth);

static void strv_release(char **v, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

void ldcache_dirs_free(char **dirs) {
        if (!dirs)
                return;
        for (char **p = dirs; *p; p++)
                free(*p);
        free(dirs);
}

static bool is_space(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static int push_dir(struct conf *c, const char *line) {
        char **slot;

        if (c->n_dirs >= LDCACHE_CONF_MAX_DIRS)
                return -E2BIG;
        slot = ARRAY_PUSH(c->dirs, c->n_dirs);
        if (!slot)
                return -ENOMEM;
        *slot = strdup(line);
        if (!*slot) {
                c->n_dirs--;
                return -ENOMEM;
        }
        return 0;
}

/* Whether LINE names a directory for ldconfig's add_dir_1(): something is left once the
 * "=TYPE" suffix, trailing blanks and trailing slashes are gone. */
static bool names_dir(const char *line) {
        size_t n = strcspn(line, "=");

        while (n > 0 && is_space(line[n - 1]))
                n--;
        while (n > 0 && line[n - 1] == '/')
                n--;
        return n > 0;
}

static bool has_magic(const char *s) {
        return strpbrk(s, "*?[\\") != NULL;
}

static int glob_push(struct glob_result *g, const char *path) {
        char **slot;

        if (g->n >= GLOB_MAX)
                return -E2BIG;
        slot = ARRAY_PUSH(g->paths, g->n);
        if (!slot)
                return -ENOMEM;
        *slot = strdup(path);
        if (!*slot) {
                g->n--;
                return -ENOMEM;
        }
        return 0;
}

static int glob_step(int rootfd, const char *prefix, char **comps, size_t n, struct glob_result *g);

/* One wildcard component: the entries of PREFIX that fnmatch() it (hidden ones only for a
 * pattern that starts with a dot, as glob(3)). */
static int glob_readdir(int rootfd, const char *prefix, char **comps, size_t n,
                        struct glob_result *g) {
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        int r = chase_opendir(rootfd, *prefix ? prefix : "/", &d);

        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return 0; /* nothing matches under a missing directory */
        while ((de = readdir(d))) {
                _cleanup_free_ char *next = NULL;

                if (fnmatch(comps[0], de->d_name, FNM_PERIOD) != 0)
                        continue;
                if (asprintf(&next, "%s/%s", prefix, de->d_name) < 0)
                        return -ENOMEM;
                r = n == 1 ? glob_push(g, next) : glob_step(rootfd, next, comps + 1, n - 1, g);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int glob_step(int rootfd, const char *prefix, char **comps, size_t n,
                     struct glob_result *g) {
        _cleanup_free_ char *next = NULL;
        _cleanup_close_ int fd = -EBADF;

        if (n == 0) {
                /* A pattern without wildcards names a file only if it exists. */
                fd = chase_open(rootfd, prefix, O_PATH | O_NOFOLLOW, 0);
                return fd < 0 ? 0 : glob_push(g, prefix);
        }
        if (has_magic(comps[0]))
                return glob_readdir(rootfd, prefix, comps, n, g);
        if (asprintf(&next, "%s/%s", prefix, comps[0]) < 0)
                return -ENOMEM;
        return glob_step(rootfd, next, comps + 1, n - 1, g);
}

static int path_cmp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* glob(PATTERN, 0) inside the root: sorted, with '/'-separated components, '*', '?', '[...]'
 * and backslash escapes in any of them. Patterns are absolute here (see parse_include). */
static int glob_root(int rootfd, const char *pattern, struct glob_result *g) {
        _cleanup_free_ char *copy = strdup(pattern);
        _cleanup_free_ char **comps = NULL;
        size_t n = 0;
        char *save = NULL;
        int r;

        if (!copy)
                return -ENOMEM;
        for (char *t = strtok_r(copy, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
                char **slot = ARRAY_PUSH(comps, n);
                if (!slot)
                        return -ENOMEM;
                *slot = t;
        }
        r = glob_step(rootfd, "", comps, n, g);
        if (r < 0)
                return r;
        if (g->n > 1)
                qsort(g->paths, g->n, sizeof(*g->paths), path_cmp);
        return 0;
}

/* ldconfig's parse_conf_include(): a relative pattern is relative to the including file's
 * directory. */
static int parse_include(struct conf *c, const char *filename, const char *pattern,
                         unsigned depth) {
        _cleanup_free_ char *abs = NULL;
        struct glob_result g = {};
        int r = 0;

        if (pattern[0] != '/') {
                const char *slash = strrchr(filename, '/');
                int dlen = slash ? (int) (slash - filename) : 1;

                if (asprintf(&abs, "%.*s/%s", dlen, slash ? filename : ".", pattern) < 0)
                        return -ENOMEM;
                pattern = abs;
        }
        r = glob_root(c->rootfd, pattern, &g);
        for (size_t i = 0; r >= 0 && i < g.n; i++)
                r = parse_conf(c, g.paths[i], depth + 1);
        strv_release(g.paths, g.n);
        return r;
}

/* One line, as ldconfig's parse_conf() reads it. */
static int parse_line(struct conf *c, const char *filename, char *line, unsigned depth) {
        char *cp = line;

        *strchrnul(line, '#') = '\0';
        while (is_space(*cp))
                cp++;
        if (!*cp)
                return 0;
        if (strncmp(cp, "include", 7) == 0 && (cp[7] == ' ' || cp[7] == '\t')) {
                char *tok;
                cp += 8;
                while ((tok = strsep(&cp, " \t")))
                        if (*tok) {
                                int r = parse_include(c, filename, tok, depth);
                                if (r < 0)
                                        return r;
                        }
                return 0;
        }
        if (strncasecmp(cp, "hwcap", 5) == 0 && (cp[5] == ' ' || cp[5] == '\t'))
                return 0; /* ignored by ldconfig since glibc 2.33 */
        return names_dir(cp) ? push_dir(c, cp) : 0;
}

static int parse_conf(struct conf *c, const char *filename, unsigned depth) {
        _cleanup_free_ char *buf = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t len = 0;
        char *p, *end, *eol;
        int r;

        if (depth > LDCACHE_CONF_MAX_DEPTH)
                return -ELOOP;
        fd = ldcache_open_regular(c->rootfd, filename);
        if (fd < 0)
                return fd == -ENOMEM ? fd : 0; /* missing or unreadable: ignored, as ldconfig */
        r = read_full_fd(fd, LDCACHE_CONF_MAX_BYTES - c->bytes, &buf, &len);
        if (r == -EFBIG)
                return -E2BIG;
        if (r < 0)
                return r == -ENOMEM ? r : 0;
        c->bytes += len;
        /* Lines end at '\n' (buf[len] is a NUL); a NUL inside a line ends its text early, as
         * it does for ldconfig's string functions. */
        for (p = buf, end = buf + len; p < end; p = eol + 1) {
                eol = memchr(p, '\n', (size_t) (end - p));
                if (!eol)
                        eol = end;
                *eol = '\0';
                r = parse_line(c, filename, p, depth);
                if (r < 0)
                        return r;
        }
        return 0;
}

static const char *triplet(void) {
#if defined(__x86_64__)
        return "x86_64-linux-gnu";
#elif defined(__aarch64__)
        return "aarch64-linux-gnu";
#else
        return NULL;
#endif
}

static bool is_dir(int rootfd, const char *path) {
        _cleanup_close_ int fd = chase_open(rootfd, path, O_PATH | O_DIRECTORY, 0);

        return fd >= 0;
}

/* Debian's ldconfig adds its multiarch directories and /lib, /usr/lib; upstream's adds the
 * lib64 family of the architecture (add_system_dir() on SLIBDIR and LIBDIR). */
static int add_builtin(struct conf *c) {
        _cleanup_free_ char *slib = NULL, *lib = NULL;
        const char *t = triplet();
        int r;

        if (!t)
                return -EOPNOTSUPP;
        if (asprintf(&slib, "/lib/%s", t) < 0 || asprintf(&lib, "/usr/lib/%s", t) < 0)
                return -ENOMEM;
        if (is_dir(c->rootfd, lib) || is_dir(c->rootfd, slib)) {
                const char *debian[] = {slib, lib, "/lib", "/usr/lib", NULL};
                for (const char **d = debian; *d; d++)
                        if ((r = push_dir(c, *d)) < 0)
                                return r;
                return 0;
        }
#if defined(__x86_64__)
        static const char *const upstream[] = {"/lib",       "/lib64",      "/libx32", "/usr/lib",
                                               "/usr/lib64", "/usr/libx32", NULL};
#else
        static const char *const upstream[] = {
                "/lib", "/lib64", "/libilp32", "/usr/lib", "/usr/lib64", "/usr/libilp32", NULL};
#endif
        for (const char *const *d = upstream; *d; d++)
                if ((r = push_dir(c, *d)) < 0)
                        return r;
        return 0;
}

int ldcache_dirs_from_conf(int rootfd, char ***ret_dirs, size_t *ret_n) {
        struct conf c = {.rootfd = rootfd};
        char **slot;
        int r;

        r = parse_conf(&c, "/etc/ld.so.conf", 0);
        if (r >= 0)
                r = add_builtin(&c);
        if (r >= 0) {
                slot = ARRAY_PUSH(c.dirs, c.n_dirs);
                r = slot ? 0 : -ENOMEM;
        }
        if (r < 0) {
                strv_release(c.dirs, c.n_dirs);
                return r;
        }
        c.n_dirs--; /* the NULL terminator */
        *ret_dirs = c.dirs;
        *ret_n = c.n_dirs;
        return 0;
}
