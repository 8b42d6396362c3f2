/* The runtime shim's view of a runc/crun command line, the low-level runtime it execs, and the
 * one question it asks a spec before touching it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "5-apply/spec.h"
#include "oci/shim.h"
#include "util/macros.h"
#include "util/strv.h"

#define SYSTEM_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Global options of runc and crun that take a value. -b/--bundle is not one of them, but the
 * reference skips its value wherever it appears, so that a bundle named "create" is not taken
 * for the subcommand. */
static const char *const global_value_opts[] = {
        "log",      "log-format",     "log-level", "root",   "criu",
        "rootless", "cgroup-manager", "b",         "bundle", NULL,
};

/* Options of create and run (runc and crun) that take a value. */
static const char *const create_value_opts[] = {
        "b", "bundle", "console-socket", "pid-file", "preserve-fds", "f", "config", NULL,
};

static bool in_list(const char *const *list, const char *name, size_t len) {
        for (; *list; list++)
                if (strlen(*list) == len && strncmp(*list, name, len) == 0)
                        return true;
        return false;
}

struct flag {
        const char *name; /* after the dashes, up to '=' */
        size_t len;
        const char *value; /* inline (--opt=V) or the next argument, or NULL */
};

static bool name_is(const struct flag *f, const char *name) {
        return f->len == strlen(name) && strncmp(f->name, name, f->len) == 0;
}

/* Reads the option at ARGV[*I] (one or two dashes, Go's flag package accepts both); consumes
 * the next argument as its value when it is in VALUED and has none inline. -EINVAL when that
 * value is missing. */
static int read_flag(int argc, char *const *argv, int *i, const char *const *valued,
                     struct flag *ret) {
        const char *a = argv[*i] + (argv[*i][1] == '-' ? 2 : 1);
        const char *eq = strchr(a, '=');

        *ret = (struct flag){.name = a, .len = eq ? (size_t) (eq - a) : strlen(a)};
        if (eq)
                ret->value = eq + 1;
        else if (in_list(valued, ret->name, ret->len)) {
                if (*i + 1 >= argc)
                        return -EINVAL;
                ret->value = argv[++*i];
        }
        return 0;
}

static bool is_flag(const char *a) {
        return a[0] == '-' && a[1] != '\0';
}

static int parse_global(int argc, char *const *argv, struct runtime_args *ra) {
        for (int i = 1; i < argc; i++) {
                struct flag f;

                if (STREQ(argv[i], "--")) {
                        ra->subcommand = i + 1 < argc ? i + 1 : 0;
                        return 0;
                }
                if (!is_flag(argv[i])) {
                        ra->subcommand = i;
                        return 0;
                }
                if (read_flag(argc, argv, &i, global_value_opts, &f) < 0)
                        return name_is(&f, "b") || name_is(&f, "bundle") ? -EINVAL : 0;
                if (name_is(&f, "log"))
                        ra->log = f.value;
                else if (name_is(&f, "log-format"))
                        ra->log_format = f.value;
                else if (name_is(&f, "v") || name_is(&f, "version"))
                        ra->version = true;
        }
        return 0;
}

static int parse_create(int argc, char *const *argv, struct runtime_args *ra) {
        for (int i = ra->subcommand + 1; i < argc; i++) {
                struct flag f;

                if (STREQ(argv[i], "--"))
                        break;
                if (!is_flag(argv[i]))
                        continue; /* the container id: runc takes options after it too */
                if (read_flag(argc, argv, &i, create_value_opts, &f) < 0)
                        return name_is(&f, "b") || name_is(&f, "bundle") ? -EINVAL : 0;
                if (name_is(&f, "b") || name_is(&f, "bundle"))
                        ra->bundle = f.value; /* the last one wins, as in Go's flag package */
                else if (name_is(&f, "f") || name_is(&f, "config"))
                        ra->config = f.value;
        }
        return 0;
}

int runtime_args_parse(int argc, char *const *argv, struct runtime_args *ret) {
        struct runtime_args ra = {};
        int r;

        r = parse_global(argc, argv, &ra);
        if (r >= 0 && ra.subcommand > 0) {
                const char *sub = argv[ra.subcommand];
                ra.modifies = STREQ(sub, "create") || STREQ(sub, "run");
        }
        if (r >= 0 && ra.modifies)
                r = parse_create(argc, argv, &ra);
        if (r < 0)
                return r;
        *ret = ra;
        return 0;
}

/* ---- the low-level runtime ----------------------------------------------------------------- */

static bool is_executable(const char *path, const struct stat *self) {
        struct stat st;

        if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || access(path, X_OK) < 0)
                return false;
        return !self || st.st_dev != self->st_dev || st.st_ino != self->st_ino;
}

/* NAME in the directories of the colon-separated list DIRS. */
static int search_dirs(const char *name, const char *dirs, const struct stat *self, char **ret) {
        const char *p = dirs;

        while (p && *p) {
                size_t len = strcspn(p, ":");
                _cleanup_free_ char *dir = strndup(p, len), *path = NULL;

                if (!dir)
                        return -ENOMEM;
                /* An empty entry means the current directory, which a runtime never wants. */
                if (len > 0 && dir[0] == '/') {
                        path = path_join(dir, name);
                        if (!path)
                                return -ENOMEM;
                        if (is_executable(path, self)) {
                                *ret = TAKE_PTR(path);
                                return 0;
                        }
                }
                p += len;
                if (*p == ':')
                        p++;
        }
        return -ENOENT;
}

int runtime_find(char *const *candidates, const char *path_env, char **ret) {
        struct stat self_st;
        const struct stat *self = stat("/proc/self/exe", &self_st) == 0 ? &self_st : NULL;

        for (size_t i = 0; candidates && candidates[i]; i++) {
                const char *c = candidates[i];
                int r;

                if (!*c)
                        continue;
                if (strchr(c, '/')) {
                        if (!is_executable(c, self))
                                continue;
                        *ret = strdup(c);
                        return *ret ? 0 : -ENOMEM;
                }
                r = search_dirs(c, path_env, self, ret);
                if (r == -ENOENT)
                        r = search_dirs(c, SYSTEM_PATH, self, ret);
                if (r != -ENOENT)
                        return r;
        }
        return -ENOENT;
}
