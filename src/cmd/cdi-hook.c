/* nvidia-cdi-hook: the createContainer hooks of CDI specs (create-symlinks, update-ldcache,
 * enable-cuda-compat, disable-device-node-modification, update-application-profile, chmod). The
 * runtime's state on stdin names the bundle, whose config.json names the rootfs; the work is
 * library code (src/cdihook/) on one rootfs fd. As the reference, an unknown hook or flag is a
 * warning and success: specs written by a newer toolkit must not stop containers. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "2-select/values.h"
#include "3-container/container.h"
#include "cdihook/cdihook.h"
#include "cmd/cdi-hook.h"
#include "cmd/error.h"
#include "oci/bundle.h"
#include "util/fileio.h"
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

struct hook_ctx {
        struct cmd_sink out;
        bool debug;
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

/* ---- the container --------------------------------------------------------------------------- */

/* The bundle named by the runtime's state on FD. Its pid is not needed (crun passes 0 to a
 * createContainer hook), so oci_state_read(), which insists on one, is not used. */
static int state_bundle(int fd, char **ret, struct nctk_error **err) {
        _cleanup_free_ char *buf = NULL;
        const char *dir;
        json_t *st = NULL;
        size_t len;
        int r;

        r = read_full_fd(fd, 1u << 20, &buf, &len);
        if (r < 0)
                return nctk_error_set(err, -r, "cannot read the container state: %s", strerror(-r));
        r = oci_json_load(buf, len, "the container state on stdin", &st, err);
        if (r < 0)
                return r;
        dir = json_string_value(json_object_get(st, "bundle"));
        if (!dir || !*dir)
                dir = json_string_value(json_object_get(st, "bundlePath"));
        if (!dir || dir[0] != '/')
                r = nctk_error_set(err, EINVAL,
                                   "the container state on stdin has no absolute 'bundle' path");
        else if (!(*ret = strdup(dir)))
                r = nctk_error_set(err, ENOMEM, "out of memory");
        json_decref(st);
        return r;
}

/* The rootfs named by the bundle of the state on stdin (or in FILE, the reference's hidden
 * --container-spec), opened in this mount namespace: a createContainer hook runs in the
 * container's, before pivot_root. The state's pid cannot be used to find that namespace: runc
 * reports its init's pid as seen from inside the container's pid namespace (1), crun 0. */
static int rootfs_open(const char *file, struct nctk_error **err) {
        _cleanup_free_ char *dir = NULL, *rootfs = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct bundle b = {.dirfd = -EBADF};
        int r;

        if (file && *file && !STREQ(file, "-")) {
                fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                if (fd < 0)
                        return nctk_error_set(err, errno, "cannot open '%s': %s", file,
                                              strerror(errno));
        }
        r = state_bundle(fd >= 0 ? fd : STDIN_FILENO, &dir, err);
        r = r < 0 ? r : bundle_open(dir, NULL, &b, err);
        r = r < 0 ? r : bundle_parse(&b, err);
        r = r < 0 ? r : bundle_rootfs(&b, &rootfs, err);
        bundle_release(&b);
        if (r < 0)
                return r;
        log_debug("bundle '%s', rootfs '%s'", dir, rootfs);
        return container_rootfs_open(0, rootfs, err);
}

static int hook_run(const struct hook_ctx *c, const struct hook *h, int argc, char **argv) {
        _cleanup_(args_release) struct hook_args a = {};
        _cleanup_close_ int rootfd = -EBADF;
        struct nctk_error *err = NULL;
        int r;

        if (argc > 1 && (STREQ(argv[1], "--help") || STREQ(argv[1], "-h"))) {
                printf("Usage: %s %s %s\n", c->out.prog, h->name, h->usage);
                return 0;
        }
        r = args_parse(h, argc, argv, &a, &err);
        if (r >= 0)
                r = rootfd = rootfs_open(a.state_file, &err);
        if (r >= 0)
                r = h->run(rootfd, &a, &err);
        if (r < 0)
                cmd_error(&c->out, "%s: %s", h->name, err && err->msg ? err->msg : strerror(-r));
        nctk_error_free(&err);
        return r < 0 ? 1 : 0;
}

static void hook_sink(enum nctk_log_level level, const char *file, int line, const char *msg,
                      void *userdata) {
        const struct hook_ctx *c = userdata;

        if (level > NCTK_LOG_WARNING && c->debug && !c->out.quiet)
                fprintf(stderr, "%s: debug: %s\n", c->out.prog, msg);
        else
                cmd_log_sink(level, file, line, msg, (void *) &c->out);
}

static void usage(FILE *f, const char *prog) {
        fprintf(f, "Usage: %s [--debug] [--quiet] HOOK [FLAG...]\n\nHooks:\n", prog);
        for (size_t i = 0; i < ELEMENTSOF(hooks); i++)
                fprintf(f, "  %-34s %s\n", hooks[i].name, hooks[i].usage);
        fprintf(f, "\nOptions:\n"
                   "  -d, --debug   debug lines on stderr (NVIDIA_CDI_DEBUG)\n"
                   "  --quiet       errors only (NVIDIA_CDI_QUIET)\n"
                   "  -v, --version print the version\n");
}

/* ARGV[0] is the hook's name. */
static int hook_dispatch(struct hook_ctx *c, int argc, char **argv) {
        int r = 0;

        /* DESIGN.md rule 3: nothing relative to the cwd a runtime happened to give us. */
        if (chdir("/") < 0) {
                cmd_error(&c->out, "cannot change to '/': %s", strerror(errno));
                return 1;
        }
        nctk_set_log_sink(hook_sink, c);
        if (argc < 1)
                log_warning("no CDI hook given; see '%s --help'", c->out.prog);
        else if (STREQ(argv[0], "noop"))
                r = 0;
        else {
                const struct hook *h = NULL;

                for (size_t i = 0; i < ELEMENTSOF(hooks) && !h; i++)
                        h = STREQ(hooks[i].name, argv[0]) ? &hooks[i] : NULL;
                if (h)
                        r = hook_run(c, h, argc, argv);
                else
                        log_warning("unsupported CDI hook '%s', skipping", argv[0]);
        }
        nctk_set_log_sink(NULL, NULL);
        return r;
}

static bool env_bool(const char *name) {
        const char *v = getenv(name);
        bool b = false;

        return v && parse_go_bool(v, &b) >= 0 && b;
}

int cdi_hook_main(const char *prog, int argc, char **argv) {
        struct hook_ctx c = {.out.prog = prog};
        int i;

        c.debug = env_bool("NVIDIA_CDI_DEBUG");
        c.out.quiet = env_bool("NVIDIA_CDI_QUIET");
        for (i = 1; i < argc && argv[i][0] == '-'; i++) {
                const char *a = argv[i];

                if (STREQ(a, "--debug") || STREQ(a, "-d") || STREQ(a, "-debug"))
                        c.debug = true;
                else if (STREQ(a, "--quiet") || STREQ(a, "-quiet") || STREQ(a, "-q"))
                        c.out.quiet = true;
                else if (STREQ(a, "--help") || STREQ(a, "-h")) {
                        usage(stdout, prog);
                        return 0;
                } else if (STREQ(a, "--version") || STREQ(a, "-v")) {
                        printf("NVIDIA CDI Hook version %s (nctk)\n", nctk_version());
                        return 0;
                } else if (!c.out.quiet)
                        fprintf(stderr, "%s: warning: unknown option '%s' ignored\n", prog, a);
        }
        return hook_dispatch(&c, argc - i, argv + i);
}

int ctk_hook_main(struct ctk_ctx *c, int argc, char **argv) {
        struct hook_ctx h = {.out = c->out, .debug = c->debug};

        if (argc > 1 && (STREQ(argv[1], "--help") || STREQ(argv[1], "-h"))) {
                usage(stdout, "nvidia-ctk hook");
                return 0;
        }
        h.out.prog = "nvidia-ctk hook";
        return hook_dispatch(&h, argc - 1, argv + 1);
}
