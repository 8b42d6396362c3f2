/* nvidia-cdi-hook: the createContainer hooks of CDI specs (create-symlinks,
 * create-soname-symlinks, update-ldcache, enable-cuda-compat, disable-device-node-modification,
 * update-application-profile, chmod; src/cdihook/step.c has their flags). The runtime's state
 * on stdin names the bundle, whose config.json names the rootfs; the work is library code
 * (src/cdihook/) on one rootfs fd. As the reference, an unknown hook or flag is a
 * warning and success: specs written by a newer toolkit must not stop containers. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "2-select/values.h"
#include "3-container/container.h"
#include "cdihook/step.h"
#include "cmd/cdi-hook.h"
#include "cmd/error.h"
#include "oci/bundle.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/macros.h"
#include "util/strv.h"

struct hook_ctx {
        struct cmd_sink out;
        bool debug;
};

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

static int hook_run(const struct hook_ctx *c, int argc, char **argv) {
        _cleanup_close_ int rootfd = -EBADF;
        struct cdihook_step *s = NULL;
        struct nctk_error *err = NULL;
        int r;

        if (argc > 1 && (STREQ(argv[1], "--help") || STREQ(argv[1], "-h"))) {
                printf("Usage: %s %s %s\n", c->out.prog, argv[0], cdihook_usage_of(argv[0]));
                return 0;
        }
        r = cdihook_step_parse(argc, argv, &s, &err);
        if (r >= 0)
                r = rootfd = rootfs_open(cdihook_step_state_file(s), &err);
        if (r >= 0)
                r = cdihook_step_run(s, rootfd, &err);
        if (r < 0)
                cmd_error(&c->out, "%s: %s", argv[0], err && err->msg ? err->msg : strerror(-r));
        nctk_error_free(&err);
        cdihook_step_free(s);
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
        cdihook_usage_list(f);
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
        else if (cdihook_is_known(argv[0]))
                r = hook_run(c, argc, argv);
        else
                log_warning("unsupported CDI hook '%s', skipping", argv[0]);
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
