/* nvidia-cdi-hook's hooks by name, their flags as the reference parses them, and one parsed
 * invocation run on a rootfs fd (step.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "3-container/container.h"
#include "cdihook/cdihook.h"
#include "cdihook/step.h"
#include "util/log.h"
#include "util/macros.h"
#include "util/strv.h"

struct hook_args {
        char **links, **folders, **paths;
        size_t n_links, n_folders, n_paths;
        const char *mode, *host_driver_version, *state_file;
};

enum flag_kind {
        F_LINK,
        F_FOLDER,
        F_PATH,
        F_MODE,
        F_HOST_DRIVER,
        F_COMPAT_ROOT,
        F_SPEC,
        F_IGNORED
};

struct hook_flag {
        const char *name;
        enum flag_kind kind;
        const char *why_ignored; /* F_IGNORED: the warning's reason, or NULL for none */
};

struct hook {
        const char *name;
        int (*run)(int rootfd, const struct hook_args *a, struct nctk_error **err);
        const struct hook_flag *flags;
        const char *usage;
};

/* ---- the hooks ------------------------------------------------------------------------------- */

/* "TARGET::LINK" into L; a relative LINK is relative to the container's root, as the
 * reference's. */
static int link_parse(const char *arg, struct edit_link *l, struct nctk_error **err) {
        const char *sep = strstr(arg, "::");

        if (!sep || sep == arg || !sep[2] || strstr(sep + 2, "::"))
                return nctk_error_set(err, EINVAL, "invalid --link '%s': want TARGET::LINK", arg);
        l->target = strndup(arg, (size_t) (sep - arg));
        if (asprintf(&l->path, "%s%s", sep[2] == '/' ? "" : "/", sep + 2) < 0)
                l->path = NULL;
        return l->target && l->path ? 0 : nctk_error_set(err, ENOMEM, "out of memory");
}

static int run_links(int rootfd, const struct hook_args *a, struct nctk_error **err) {
        struct edits e = {.links = calloc(a->n_links + 1, sizeof(struct edit_link))};
        int r = e.links ? 0 : nctk_error_set(err, ENOMEM, "out of memory");

        for (size_t i = 0; r >= 0 && i < a->n_links; i++)
                r = link_parse(a->links[i], &e.links[e.n_links++], err);
        if (r >= 0)
                r = cdihook_links(rootfd, &e, err);
        for (size_t i = 0; i < e.n_links; i++) {
                free(e.links[i].target);
                free(e.links[i].path);
        }
        free(e.links);
        return r;
}

static int run_ldcache(int rootfd, const struct hook_args *a, struct nctk_error **err) {
        return cdihook_ldcache(rootfd, a->folders, a->n_folders, err);
}

static int run_sonames(int rootfd, const struct hook_args *a, struct nctk_error **err) {
        return cdihook_soname_links(rootfd, a->folders, a->n_folders, err);
}

static int run_compat(int rootfd, const struct hook_args *a, struct nctk_error **err) {
        return cdihook_cuda_compat(rootfd, a->host_driver_version, err);
}

static int run_params(int rootfd, const struct hook_args *a, struct nctk_error **err) {
        int r = cdihook_params(rootfd, err);

        (void) a;
        if (r == 1)
                log_debug("no /proc/driver/nvidia/params in the container: nothing to change");
        return r < 0 ? r : 0;
}

static int run_profile(int rootfd, const struct hook_args *a, struct nctk_error **err) {
        (void) a;
        return cdihook_app_profile(rootfd, err);
}

static int run_chmod(int rootfd, const struct hook_args *a, struct nctk_error **err) {
        unsigned long mode;
        char *end;

        if (!a->mode || !*a->mode)
                return nctk_error_set(err, EINVAL, "chmod needs --mode (octal, as 755)");
        errno = 0;
        mode = strtoul(a->mode, &end, 8);
        if (errno || *end || mode > 07777)
                return nctk_error_set(err, EINVAL, "invalid --mode '%s': want an octal mode",
                                      a->mode);
        return cdihook_chmod(rootfd, (mode_t) mode, a->paths, a->n_paths, err);
}

#define SPEC_FLAG                                                                                  \
        { "container-spec", F_SPEC, NULL }

static const struct hook hooks[] = {
        {"create-symlinks", run_links,
         (const struct hook_flag[]){
                 {"link", F_LINK, NULL},
                 {"csv-filename", F_IGNORED, "CSV lists of links are not read; pass --link"},
                 SPEC_FLAG,
                 {}},
         "--link TARGET::LINK ...   create links in the container"},
        {"create-soname-symlinks", run_sonames,
         (const struct hook_flag[]){
                 {"folder", F_FOLDER, NULL}, {"ldconfig-path", F_IGNORED, NULL}, SPEC_FLAG, {}},
         "--folder DIR ...          SONAME links of DIRs' libraries (no ldconfig run)"},
        {"update-ldcache", run_ldcache,
         (const struct hook_flag[]){
                 {"folder", F_FOLDER, NULL}, {"ldconfig-path", F_IGNORED, NULL}, SPEC_FLAG, {}},
         "--folder DIR ...          add DIRs to the container's ld cache (no ldconfig run)"},
        {"enable-cuda-compat", run_compat,
         (const struct hook_flag[]){{"host-driver-version", F_HOST_DRIVER, NULL},
                                    {"host-cuda-version", F_IGNORED, NULL},
                                    {"cuda-compat-container-root", F_COMPAT_ROOT, NULL},
                                    SPEC_FLAG,
                                    {}},
         "--host-driver-version V   use the image's newer libcuda first"},
        {"disable-device-node-modification", run_params, (const struct hook_flag[]){SPEC_FLAG, {}},
         "                          ModifyDeviceFiles: 0 in the container's params"},
        {"update-application-profile", run_profile, (const struct hook_flag[]){SPEC_FLAG, {}},
         "                          EGL/Vulkan limited to the container's GPUs"},
        {"chmod", run_chmod,
         (const struct hook_flag[]){{"path", F_PATH, NULL}, {"mode", F_MODE, NULL}, SPEC_FLAG, {}},
         "--mode M --path P ...     change modes in the container"},
};

/* ---- arguments ------------------------------------------------------------------------------- */

static int push(char ***v, size_t *n, char *s) {
        char **p = ARRAY_PUSH(*v, *n);

        if (!p)
                return -ENOMEM;
        *p = s;
        return 0;
}

static int flag_set(const struct hook_flag *f, char *value, struct hook_args *a) {
        switch (f->kind) {
        case F_LINK: return push(&a->links, &a->n_links, value);
        case F_FOLDER: return push(&a->folders, &a->n_folders, value);
        case F_PATH: return push(&a->paths, &a->n_paths, value);
        case F_MODE: a->mode = value; return 0;
        case F_HOST_DRIVER: a->host_driver_version = value; return 0;
        case F_SPEC: a->state_file = value; return 0;
        case F_COMPAT_ROOT:
                if (!STREQ(value, CONTAINER_COMPAT_DIR))
                        log_warning("--cuda-compat-container-root '%s' ignored: only '%s' is used",
                                    value, CONTAINER_COMPAT_DIR);
                return 0;
        case F_IGNORED:
                if (f->why_ignored)
                        log_warning("--%s ignored: %s", f->name, f->why_ignored);
                return 0;
        }
        return 0;
}

static const struct hook_flag *flag_find(const struct hook *h, const char *name, size_t len) {
        for (const struct hook_flag *f = h->flags; f->name; f++)
                if (strlen(f->name) == len && strncmp(f->name, name, len) == 0)
                        return f;
        return NULL;
}

/* Flags the way the reference's parser takes them: -name or --name, with "=value" or the next
 * word. An unknown flag is a warning; a word after it that is no flag is taken as its value. */
static int args_parse(const struct hook *h, int argc, char **argv, struct hook_args *a,
                      struct nctk_error **err) {
        for (int i = 1; i < argc; i++) {
                const char *arg = argv[i], *name = arg + 1 + (arg[1] == '-'), *eq;
                const struct hook_flag *f;
                size_t len;

                if (arg[0] != '-' || !arg[1]) {
                        log_warning("unexpected argument '%s' ignored", arg);
                        continue;
                }
                eq = strchr(name, '=');
                len = eq ? (size_t) (eq - name) : strlen(name);
                f = flag_find(h, name, len);
                if (!f) {
                        bool value = !eq && i + 1 < argc && argv[i + 1][0] != '-';
                        log_warning("unknown flag '%s%s%s' of '%s' ignored", arg, value ? " " : "",
                                    value ? argv[i + 1] : "", h->name);
                        i += value;
                        continue;
                }
                if (!eq && i + 1 >= argc)
                        return nctk_error_set(err, EINVAL, "flag needs an argument: %s", arg);
                if (flag_set(f, eq ? (char *) eq + 1 : argv[++i], a) < 0)
                        return nctk_error_set(err, ENOMEM, "out of memory");
        }
        return 0;
}

static void args_release(struct hook_args *a) {
        free(a->links);
        free(a->folders);
        free(a->paths);
}

struct cdihook_step {
        const struct hook *h;
        struct hook_args a;
};

static const struct hook *hook_find(const char *name) {
        for (size_t i = 0; name && i < ELEMENTSOF(hooks); i++)
                if (STREQ(hooks[i].name, name))
                        return &hooks[i];
        return NULL;
}

bool cdihook_is_known(const char *name) {
        return hook_find(name) != NULL;
}

const char *cdihook_usage_of(const char *name) {
        const struct hook *h = hook_find(name);

        return h ? h->usage : NULL;
}

void cdihook_usage_list(FILE *f) {
        for (size_t i = 0; i < ELEMENTSOF(hooks); i++)
                fprintf(f, "  %-34s %s\n", hooks[i].name, hooks[i].usage);
}

int cdihook_step_parse(int argc, char **argv, struct cdihook_step **ret, struct nctk_error **err) {
        const struct hook *h = argc > 0 ? hook_find(argv[0]) : NULL;
        struct cdihook_step *s;
        int r;

        *ret = NULL;
        if (!h)
                return 0;
        s = calloc(1, sizeof(*s));
        if (!s)
                return nctk_error_set(err, ENOMEM, "out of memory");
        s->h = h;
        r = args_parse(h, argc, argv, &s->a, err);
        if (r < 0) {
                cdihook_step_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

struct cdihook_step *cdihook_step_free(struct cdihook_step *s) {
        if (s) {
                args_release(&s->a);
                free(s);
        }
        return NULL;
}

const char *cdihook_step_state_file(const struct cdihook_step *s) {
        return s->a.state_file;
}

const char *cdihook_step_name(const struct cdihook_step *s) {
        return s->h->name;
}

int cdihook_step_run(const struct cdihook_step *s, int rootfd, struct nctk_error **err) {
        return s->h->run(rootfd, &s->a, err);
}
