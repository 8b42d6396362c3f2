/* nvidia-container-runtime-hook (alias nvidia-container-toolkit): the reference toolkit's OCI
 * prestart hook. The container's state on stdin names its bundle; the bundle's config.json says
 * what the container asks for; configure gives it that in this process (nothing is executed). */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "2-select/values.h"
#include "cmd/cli.h"
#include "cmd/error.h"
#include "config/config.h"
#include "oci/bundle.h"
#include "oci/shim.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/macros.h"

#define HOOK_PROG "nvidia-container-runtime-hook"

struct hook_opts {
        bool debug;
        const char *config;
};

static const struct cmd_sink hook_out = {HOOK_PROG, NULL, NULL, NULL};
#define hook_fail(...) cmd_error(&hook_out, __VA_ARGS__)

static void hook_usage(FILE *f, const char *prog) {
        fprintf(f,
                "Usage of %s:\n"
                "  -config string\n"
                "        configuration file\n"
                "  -debug\n"
                "        enable debug output\n"
                "  -version\n"
                "        enable version output\n"
                "\n"
                "Commands:\n"
                "  prestart\n"
                "        run the prestart hook\n"
                "  poststart\n"
                "        no-op\n"
                "  poststop\n"
                "        no-op\n",
                prog);
}

/* One flag the way Go's flag package reads it: -name, --name, -name=value, and "-name value" for
 * the one flag that takes a value. Returns 1 when it consumed the next argument too. */
static int hook_flag(const char *arg, const char *next, struct hook_opts *o) {
        const char *name = arg + 1 + (arg[1] == '-');
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t) (eq - name) : strlen(name);
        bool b;

        if (len == 5 && strncmp(name, "debug", 5) == 0) {
                if (eq && parse_go_bool(eq + 1, &b) < 0)
                        return hook_fail("invalid boolean value '%s' for -debug", eq + 1);
                o->debug = eq ? b : true;
                return 0;
        }
        if (len == 6 && strncmp(name, "config", 6) == 0) {
                if (!eq && !next)
                        return hook_fail("flag needs an argument: -config");
                o->config = eq ? eq + 1 : next;
                return eq ? 0 : 1;
        }
        return hook_fail("flag provided but not defined: %s", arg);
}

/* Returns the index of the command word, 0 when done (help, version), -1 on a usage error. */
static int hook_parse(int argc, char **argv, struct hook_opts *o) {
        int i;

        for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
                const char *a = argv[i];
                int r;

                if (STREQ(a, "--")) {
                        i++;
                        break;
                }
                if (STREQ(a, "-h") || STREQ(a, "-help") || STREQ(a, "--help")) {
                        hook_usage(stdout, argv[0]);
                        return 0;
                }
                if (STREQ(a, "-version") || STREQ(a, "--version")) {
                        printf("NVIDIA Container Runtime Hook version %s (nctk)\n", nctk_version());
                        return 0;
                }
                r = hook_flag(a, i + 1 < argc ? argv[i + 1] : NULL, o);
                if (r < 0)
                        return -1;
                i += r;
        }
        if (i >= argc) {
                hook_usage(stderr, argv[0]);
                return -1;
        }
        return i;
}

/* ---- inputs: the state on stdin, the bundle's config.json ------------------------------------ */

static int hook_error(struct nctk_error **err) {
        hook_fail("%s", *err && (*err)->msg ? (*err)->msg : "unknown error");
        nctk_error_free(err);
        return -1;
}

/* The bundle and the container's pid, from the state the runtime writes on stdin. */
static int state_read(char **ret_bundle, pid_t *ret_pid) {
        struct nctk_error *err = NULL;

        return oci_state_read(STDIN_FILENO, ret_bundle, ret_pid, &err) < 0 ? hook_error(&err) : 0;
}

static int spec_read(const char *dir, struct bundle *b) {
        struct nctk_error *err = NULL;

        if (bundle_open(dir, NULL, b, &err) < 0 || bundle_parse(b, &err) < 0 ||
            bundle_check(b, &err) < 0)
                return hook_error(&err);
        return 0;
}

/* ---- configuration --------------------------------------------------------------------------- */

/* -config FILE, else $NVIDIA_CTK_CONFIG_FILE_PATH (both must exist), else the default path
 * (defaults when it is missing). The runtime's environment, never the container's. */
static int hook_config(const struct hook_opts *o, struct nctk_config **ret) {
        const char *env = getenv("NVIDIA_CTK_CONFIG_FILE_PATH");
        _cleanup_free_ char *path = o->config ? strdup(o->config) : config_path();
        struct nctk_error *err = NULL;
        int r;

        if (!path)
                return hook_fail("out of memory");
        r = config_load(path, o->config || (env && *env), ret, &err);
        if (r < 0) {
                hook_fail("config error: %s", err && err->msg ? err->msg : strerror(-r));
                nctk_error_free(&err);
                return -1;
        }
        return 0;
}

/* The global options nvidia-container-cli would get from the reference hook. */
static int ctx_setup(struct cli_ctx *c, const struct nctk_config *cfg, bool debug) {
        const char *dbg = cfg->cli.debug;
        struct nctk_error *err = NULL;

        pipeline_opts_init(&c->popts);
        c->popts.load_kmods = cfg->cli.load_kmods;
        c->popts.mps_root = cfg->cli.mps_root;
        if (config_discover_opts(cfg, &c->popts.dopts, &err) < 0) {
                hook_fail("config error: %s", err->msg);
                nctk_error_free(&err);
                return -1;
        }
        if (debug) {
                c->out.debug =
                        fdopen(dup(STDERR_FILENO), "a"); /* the reference: --debug=/dev/stderr */
        } else if (dbg && *dbg) {
                c->out.debug = fopen(dbg, "ae");
                if (!c->out.debug)
                        return hook_fail("config error: cannot open the debug file '%s': %s", dbg,
                                         strerror(errno));
        }
        if (c->out.debug)
                setvbuf(c->out.debug, NULL, _IOLBF, 0);
        return 0;
}

/* ---- prestart -------------------------------------------------------------------------------- */

static int request_of(const json_t *spec, const struct nctk_config *cfg,
                      struct container_request **ret) {
        struct nctk_error *err = NULL;

        return container_request_from_spec(spec, cfg, ret, &err) < 0 ? hook_error(&err) : 0;
}

static int configure_request(const struct hook_opts *o, const struct nctk_config *cfg,
                             const struct container_request *req, pid_t pid, const char *rootfs) {
        struct cli_ctx c = {.out.prog = HOOK_PROG};
        struct configure_target t = {
                .pid = pid, .rootfs = rootfs, .no_cgroups = cfg->cli.no_cgroups};
        int r;

        r = ctx_setup(&c, cfg, o->debug);
        if (r >= 0) {
                nctk_set_log_sink(cmd_log_sink, &c.out);
                log_debug("%s %s: devices '%s', caps 0x%x%s, %zu requirements%s, rootfs '%s'",
                          HOOK_PROG, nctk_version(), req->devices, req->caps,
                          req->compat32 ? " compat32" : "", req->n_requirements,
                          req->requirements_disabled ? " (disabled)" : "", rootfs);
                r = configure_run(&c, req, &t);
                nctk_set_log_sink(NULL, NULL);
        }
        if (c.out.debug)
                fclose(c.out.debug);
        return r;
}

static int prestart(const struct hook_opts *o) {
        struct bundle b = {.dirfd = -EBADF};
        struct container_request *req = NULL;
        struct nctk_config *cfg = NULL;
        struct nctk_error *err = NULL;
        _cleanup_free_ char *dir = NULL, *rootfs = NULL;
        pid_t pid = 0;
        int r;

        r = hook_config(o, &cfg);
        r = r < 0 ? r : state_read(&dir, &pid);
        r = r < 0 ? r : spec_read(dir, &b);
        r = r < 0 ? r : request_of(b.spec, cfg, &req);
        if (r >= 0 && req->is_gpu_container) {
                if (hook_mode_check(cfg, req, &err) < 0 || bundle_rootfs(&b, &rootfs, &err) < 0)
                        r = hook_error(&err);
                r = r < 0 ? r : configure_request(o, cfg, req, pid, rootfs);
        }
        container_request_free(req);
        bundle_release(&b);
        config_free(cfg);
        return r < 0 ? 1 : 0;
}

int hook_main(int argc, char **argv) {
        struct hook_opts o = {};
        int idx;

        /* DESIGN.md rule 3: nothing relative to the cwd a runtime happened to give us. */
        if (chdir("/") < 0) {
                hook_fail("cannot change to '/': %s", strerror(errno));
                return 1;
        }
        idx = hook_parse(argc, argv, &o);
        if (idx <= 0)
                return idx == 0 ? 0 : 2;
        if (STREQ(argv[idx], "prestart"))
                return prestart(&o);
        if (STREQ(argv[idx], "poststart") || STREQ(argv[idx], "poststop"))
                return 0;
        hook_fail("unknown command '%s' (prestart, poststart or poststop)", argv[idx]);
        return 2;
}
