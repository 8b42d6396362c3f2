/* nvidia-container-runtime-hook (alias nvidia-container-toolkit): the reference toolkit's OCI
 * prestart hook. The container's state on stdin names its bundle; the bundle's config.json says
 * what the container asks for; configure gives it that in this process (nothing is executed). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmd/cli.h"
#include "config/config.h"
#include "2-select/request.h"
#include "2-select/values.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/macros.h"
#include "util/strv.h"

#define HOOK_PROG "nvidia-container-runtime-hook"
#define STATE_MAX (1u << 20)
#define SPEC_MAX (16u << 20)

_Static_assert(REQUEST_REQUIRE_MAX <= REQUIRE_MAX, "configure takes every requirement");
_Static_assert(REQUEST_IMEX_MAX <= IMEX_MAX, "configure takes every IMEX channel");

struct hook_opts {
        bool debug;
        const char *config;
};

static int hook_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int hook_fail(const char *fmt, ...) {
        va_list ap;

        fputs(HOOK_PROG ": ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return -1;
}

static void hook_usage(FILE *f, const char *prog) {
        fprintf(f, "Usage of %s:\n"
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

static int json_read_fd(int fd, size_t max, const char *what, json_t **ret) {
        _cleanup_free_ char *buf = NULL;
        json_error_t jerr;
        json_t *j;
        size_t len;
        int r;

        r = read_full_fd(fd, max, &buf, &len);
        if (r == -EFBIG)
                return hook_fail("%s is larger than %zu MiB", what, (size_t) max >> 20);
        if (r < 0)
                return hook_fail("cannot read %s: %s", what, strerror(-r));
        j = json_loadb(buf, len, 0, &jerr);
        for (char *p = jerr.text; !j && *p; p++)
                if ((unsigned char) *p < ' ' || (unsigned char) *p >= 0x7f)
                        *p = '?'; /* jansson quotes the input near the error */
        if (!j)
                return hook_fail("cannot parse %s: %s (line %d)", what, jerr.text, jerr.line);
        *ret = j;
        return 0;
}

/* The bundle ("bundle", or "bundlePath" of runtimes before OCI 1.0) and the container's pid. */
static int state_read(char **ret_bundle, pid_t *ret_pid) {
        json_t *st = NULL;
        const char *bundle;
        json_int_t pid;
        int r;

        if (json_read_fd(STDIN_FILENO, STATE_MAX, "the container state on stdin", &st) < 0)
                return -1;
        bundle = json_string_value(json_object_get(st, "bundle"));
        if (!bundle || !*bundle)
                bundle = json_string_value(json_object_get(st, "bundlePath"));
        pid = json_integer_value(json_object_get(st, "pid"));
        if (!bundle || bundle[0] != '/' || strlen(bundle) >= PATH_MAX)
                r = hook_fail("the container state on stdin has no absolute 'bundle' path");
        else if (pid <= 0 || pid > INT_MAX)
                r = hook_fail("the container state on stdin has no valid 'pid'");
        else if (!(*ret_bundle = strdup(bundle)))
                r = hook_fail("out of memory");
        else {
                *ret_pid = (pid_t) pid;
                r = 0;
        }
        json_decref(st);
        return r;
}

/* <bundle>/config.json, opened without following a link in the bundle's last component: the
 * bundle directory is the runtime's, but a link there could point the hook at any file. */
static int spec_read(const char *bundle, json_t **ret) {
        _cleanup_close_ int dfd = open(bundle, O_PATH | O_DIRECTORY | O_CLOEXEC);
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        if (dfd < 0)
                return hook_fail("cannot open the bundle '%s': %s", bundle, strerror(errno));
        fd = openat(dfd, "config.json", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (fd < 0)
                return hook_fail("cannot open '%s/config.json': %s", bundle, strerror(errno));
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                return hook_fail("'%s/config.json' is not a regular file", bundle);
        return json_read_fd(fd, SPEC_MAX, "the OCI spec config.json", ret);
}

static int spec_check(const json_t *spec) {
        if (!json_is_string(json_object_get(spec, "ociVersion")))
                return hook_fail("invalid OCI spec: no ociVersion");
        if (!json_is_object(json_object_get(spec, "process")))
                return hook_fail("invalid OCI spec: no process");
        if (!json_is_object(json_object_get(spec, "root")))
                return hook_fail("invalid OCI spec: no root");
        return 0;
}

/* root.path, made absolute against the bundle and cleaned. */
static char *spec_rootfs(const json_t *spec, const char *bundle) {
        const json_t *jroot = json_object_get(spec, "root");
        const char *root = json_string_value(json_object_get(jroot, "path"));
        _cleanup_free_ char *joined = NULL;
        char *clean;

        if (!root || !*root || strlen(root) >= PATH_MAX) {
                hook_fail("invalid OCI spec: no root.path");
                return NULL;
        }
        joined = root[0] == '/' ? strdup(root) : path_join(bundle, root);
        clean = joined ? path_clean(joined) : NULL;
        if (!clean)
                hook_fail("out of memory");
        else if (STREQ(clean, "/")) {
                hook_fail("invalid OCI spec: the container's root.path is the host's '/'");
                free(clean);
                clean = NULL;
        }
        return clean;
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

/* The reference hook refuses to run when the runtime's mode is not legacy: in cdi and jit-cdi
 * modes the runtime shim edits config.json itself and this hook would inject a second time. */
static int mode_check(const struct nctk_config *cfg, const struct container_request *r) {
        const char *mode = cfg->runtime.mode && *cfg->runtime.mode ? cfg->runtime.mode : "auto";

        if (cfg->hook.skip_mode_detection || STREQ(mode, "legacy") ||
            (STREQ(mode, "auto") && !r->only_cdi_devices))
                return 0;
        return hook_fail("invoking the NVIDIA Container Runtime Hook directly (e.g. specifying the "
                         "docker --gpus flag) is not supported in mode '%s'%s. Please use the "
                         "NVIDIA Container Runtime (e.g. specify the --runtime=nvidia flag) "
                         "instead", mode, r->only_cdi_devices ? " with CDI devices" : "");
}

/* features.md 2.5: ldconfig and mount as they are; disabled and hook disable; anything else
 * disables unless compat libraries from the container are allowed (then configure's default). */
static enum compat_mode compat_mode_of(const struct nctk_config *cfg) {
        const char *m = cfg->runtime.legacy_cuda_compat_mode ? cfg->runtime.legacy_cuda_compat_mode
                                                              : "";

        if (STREQ(m, "ldconfig"))
                return COMPAT_LDCONFIG;
        if (STREQ(m, "mount"))
                return COMPAT_MOUNT;
        if (STREQ(m, "disabled") || STREQ(m, "hook"))
                return COMPAT_DISABLED;
        return cfg->features.allow_cuda_compat_libs_from_container ? COMPAT_MOUNT : COMPAT_DISABLED;
}

/* [nvidia-container-cli] user: UID[:GID], numbers or names (nvidia-container-cli --user). */
static int user_parse(struct cli_ctx *c, const char *user) {
        _cleanup_free_ char *u = strdup(user);
        char *g = u ? strchr(u, ':') : NULL, *end;
        unsigned long v;

        if (!u)
                return hook_fail("out of memory");
        if (g)
                *g++ = '\0';
        errno = 0;
        v = strtoul(u, &end, 10);
        if (*u && !*end && !errno && v < UINT_MAX) {
                c->dopts.uid = c->dopts.gid = (uid_t) v;
        } else {
                struct passwd *pw = getpwnam(u);
                if (!pw)
                        return hook_fail("config error: unknown [nvidia-container-cli] user "
                                         "'%s'", u);
                c->dopts.uid = pw->pw_uid;
                c->dopts.gid = pw->pw_gid;
        }
        if (g) {
                errno = 0;
                v = strtoul(g, &end, 10);
                if (*g && !*end && !errno && v < UINT_MAX) {
                        c->dopts.gid = (gid_t) v;
                } else {
                        struct group *gr = getgrnam(g);
                        if (!gr)
                                return hook_fail("config error: unknown [nvidia-container-cli] "
                                                 "group '%s'", g);
                        c->dopts.gid = gr->gr_gid;
                }
        }
        c->user_given = true;
        return 0;
}

/* The global options nvidia-container-cli would get from the reference hook. */
static int ctx_setup(struct cli_ctx *c, const struct nctk_config *cfg, bool debug) {
        const char *dbg = cfg->cli.debug;

        nctk_discover_opts_init(&c->dopts);
        c->dopts.path = getenv("PATH");
        c->dopts.mps_pipe_dir = getenv("CUDA_MPS_PIPE_DIRECTORY");
        if (geteuid() != 0) {
                c->dopts.uid = geteuid();
                c->dopts.gid = getegid();
        }
        if (cfg->cli.root && *cfg->cli.root)
                c->dopts.driver_root = cfg->cli.root;
        if (cfg->cli.ldcache && *cfg->cli.ldcache)
                c->dopts.ldcache = cfg->cli.ldcache;
        if (cfg->cli.proc_root && *cfg->cli.proc_root)
                c->dopts.proc_root = cfg->cli.proc_root;
        c->load_kmods = cfg->cli.load_kmods;
        c->no_pivot = cfg->cli.no_pivot;
        c->no_create_imex = cfg->features.disable_imex_channel_creation;
        if (cfg->cli.user && *cfg->cli.user && user_parse(c, cfg->cli.user) < 0)
                return -1;
        if (debug) {
                c->debug = fdopen(dup(STDERR_FILENO), "a"); /* the reference: --debug=/dev/stderr */
        } else if (dbg && *dbg) {
                c->debug = fopen(dbg, "ae");
                if (!c->debug)
                        return hook_fail("config error: cannot open the debug file '%s': %s", dbg,
                                         strerror(errno));
        }
        if (c->debug)
                setvbuf(c->debug, NULL, _IOLBF, 0);
        return 0;
}

static void args_fill(struct configure_args *a, const struct container_request *r,
                      const struct nctk_config *cfg, pid_t pid, const char *rootfs) {
        *a = (struct configure_args) {
                .pid = pid,
                .devices = r->devices,
                .caps = r->caps,
                .compat32 = r->compat32,
                .no_cgroups = cfg->cli.no_cgroups,
                .mig_config = r->mig_config,
                .mig_monitor = r->mig_monitor,
                .compat = compat_mode_of(cfg),
                .rootfs = rootfs,
        };
        for (size_t i = 0; i < r->n_requirements; i++)
                a->require[a->n_require++] = r->requirements[i];
        for (size_t i = 0; i < r->n_imex; i++)
                a->imex[a->n_imex++] = r->imex[i];
}

/* ---- prestart -------------------------------------------------------------------------------- */

static int request_of(const json_t *spec, const struct nctk_config *cfg,
                      struct container_request **ret) {
        struct nctk_error *err = NULL;
        int r = container_request_from_spec(spec, cfg, ret, &err);

        if (r < 0) {
                hook_fail("%s", err && err->msg ? err->msg : strerror(-r));
                nctk_error_free(&err);
        }
        return r;
}

static int configure_request(const struct hook_opts *o, const struct nctk_config *cfg,
                             const struct container_request *req, pid_t pid, const char *rootfs) {
        struct cli_ctx c = { .prog = HOOK_PROG };
        struct configure_args a;
        int r;

        r = ctx_setup(&c, cfg, o->debug);
        if (r >= 0) {
                nctk_set_log_sink(cli_log_sink, &c);
                log_debug("%s %s: devices '%s', caps 0x%x%s, %zu requirements%s, rootfs '%s'",
                          HOOK_PROG, nctk_version(), req->devices, req->caps,
                          req->compat32 ? " compat32" : "", req->n_requirements,
                          req->requirements_disabled ? " (disabled)" : "", rootfs);
                args_fill(&a, req, cfg, pid, rootfs);
                r = configure_run(&c, &a);
                nctk_set_log_sink(NULL, NULL);
        }
        if (c.debug)
                fclose(c.debug);
        return r;
}

static int prestart(const struct hook_opts *o) {
        struct container_request *req = NULL;
        struct nctk_config *cfg = NULL;
        _cleanup_free_ char *bundle = NULL, *rootfs = NULL;
        json_t *spec = NULL;
        pid_t pid = 0;
        int r;

        r = hook_config(o, &cfg);
        if (r >= 0)
                r = state_read(&bundle, &pid);
        if (r >= 0)
                r = spec_read(bundle, &spec);
        if (r >= 0)
                r = spec_check(spec);
        if (r >= 0)
                r = request_of(spec, cfg, &req);
        if (r >= 0 && req->is_gpu_container) {
                r = mode_check(cfg, req);
                if (r >= 0 && !(rootfs = spec_rootfs(spec, bundle)))
                        r = -1;
                if (r >= 0)
                        r = configure_request(o, cfg, req, pid, rootfs);
        }
        container_request_free(req);
        json_decref(spec);
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
