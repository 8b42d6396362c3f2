/* nvidia-container-runtime: called by containerd, dockerd, CRI-O or podman exactly as they call
 * runc. For `create` and `run` of a container that asks for GPUs it edits the bundle's
 * config.json (legacy mode: NVIDIA's prestart hook; cdi mode: the planned mounts, nodes, cgroup
 * rules and our createContainer hook), then it execs the real runtime with the original
 * arguments. Anything else goes through untouched: not a byte of config.json is rewritten. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "5-apply/compat.h"
#include "5-apply/rootfs.h"
#include "5-apply/spec.h"
#include "2-select/request.h"
#include "2-select/require.h"
#include "cmd/runtime.h"
#include "4-plan/plan.h"
#include "2-select/select.h"
#include "util/log.h"
#include "util/macros.h"
#include "util/strv.h"

#define HOOK_NAME "nvidia-container-runtime-hook"

struct shim {
        const char *prog;
        const char *forced_mode;
        struct nctk_config *cfg;
        struct runtime_args ra;
        FILE *debug; /* nvidia-container-runtime.debug, when set */
        struct container_request *req; /* what the container asks for (src/2-select/request.c) */
};

static void log_sink(enum nctk_log_level level, const char *file, int line, const char *msg,
                     void *userdata) {
        static const char lv[] = { 'E', 'W', 'I', 'D' };
        struct shim *s = userdata;
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        fprintf(s->debug, "%c%ld.%06ld %d %s:%d] %s\n", lv[level], (long) ts.tv_sec,
                ts.tv_nsec / 1000, (int) getpid(), file, line, msg);
}

/* The error, also in the caller's runc log (--log, --log-format), where containerd and dockerd
 * look for the reason a runtime failed. */
static void runc_log(const struct shim *s, const char *msg) {
        _cleanup_fclose_ FILE *f = NULL;
        char when[64];
        time_t now = time(NULL);
        struct tm tm;

        if (!s->ra.log || !(f = fopen(s->ra.log, "ae")))
                return;
        bool is_json = s->ra.log_format && STREQ(s->ra.log_format, "json");
        json_auto_t *j = NULL;
        _cleanup_free_ char *line = NULL;

        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
        /* The text format quotes the message as JSON strings are quoted (as logrus does). */
        j = is_json ? json_pack("{s:s, s:s, s:s}", "level", "error", "msg", msg, "time", when)
                    : json_string(msg);
        line = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        if (line && is_json)
                fprintf(f, "%s\n", line);
        else if (line)
                fprintf(f, "time=\"%s\" level=error msg=%s\n", when, line);
}

static int shim_error(const struct shim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int shim_error(const struct shim *s, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (n < 0)
                msg = NULL;
        fprintf(stderr, "%s: %s\n", s->prog, msg ? msg : "out of memory");
        if (s->debug)
                fprintf(s->debug, "E %s\n", msg ? msg : "out of memory");
        if (msg)
                runc_log(s, msg);
        return -1;
}

/* ---- mode and hook path ------------------------------------------------------------------- */

int shim_mode_resolve(const struct nctk_config *cfg, const char *forced, enum shim_mode *ret) {
        const char *m = forced ? forced : cfg->runtime.mode;

        if (!m || STREQ(m, "auto") || STREQ(m, "legacy"))
                *ret = SHIM_LEGACY; /* auto: the reference picks jit-cdi; we stay legacy for now */
        else if (STREQ(m, "cdi") || STREQ(m, "jit-cdi"))
                *ret = SHIM_CDI;
        else
                return -EINVAL;
        return 0;
}

static int self_path(char **ret) {
        char buf[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);

        if (n < 0)
                return -errno;
        buf[n] = '\0';
        *ret = strdup(buf);
        return *ret ? 0 : -ENOMEM;
}

int shim_hook_path(const struct nctk_config *cfg, char **ret) {
        const char *name = cfg->hook.path && *cfg->hook.path ? cfg->hook.path : HOOK_NAME;
        _cleanup_free_ char *self = NULL, *beside = NULL;
        char *slash;
        int r;

        if (strchr(name, '/')) {
                *ret = realpath(name, NULL);
                return *ret ? 0 : -errno;
        }
        r = self_path(&self);
        if (r < 0)
                return r;
        slash = strrchr(self, '/');
        if (slash && asprintf(&beside, "%.*s/%s", (int) (slash - self), self, name) < 0)
                return -ENOMEM;
        if (beside && access(beside, X_OK) == 0) {
                *ret = TAKE_PTR(beside);
                return 0;
        }
        if (!STREQ(name, HOOK_NAME)) {
                char *const names[] = { (char *) name, NULL };
                return runtime_find(names, getenv("PATH"), ret);
        }
        *ret = TAKE_PTR(self); /* nctk itself: argv[0] "nvidia-container-runtime-hook" picks the hook */
        return 0;
}

/* The hook's environment: PATH, and where the config is when the caller said so (the
 * runtime's environment, not the container's, so it can be trusted). */
static char **legacy_hook_env(char *buf[4]) {
        static const char *const pass[] = { "NVIDIA_CTK_CONFIG_FILE_PATH", "XDG_CONFIG_HOME" };
        size_t n = 0;

        buf[n++] = (char *) SPEC_HOOK_PATH_ENV;
        for (size_t i = 0; i < ELEMENTSOF(pass); i++) {
                const char *v = getenv(pass[i]);
                if (v && asprintf(&buf[n], "%s=%s", pass[i], v) >= 0)
                        n++;
        }
        buf[n] = NULL;
        return buf;
}

int shim_legacy(json_t *spec, const char *hook_path, struct nctk_error **err) {
        char *env[4];
        int r;

        if (spec_has_nvidia_hook(spec))
                return 0;
        legacy_hook_env(env);
        r = spec_add_legacy_hook(spec, hook_path, env, err);
        for (size_t i = 1; env[i]; i++)
                free(env[i]);
        return r < 0 ? r : 1;
}

/* ---- cdi mode: discover, select, plan, into config.json -------------------------------------- */

/* The container's requirements, per selected GPU (or once without one), as configure checks
 * them: the reference's cdi modes skip this, the container then fails later in CUDA. */
static int shim_requirements(const struct container_request *q, const struct nctk_inventory *inv,
                             const struct selection *sel, struct nctk_error **err) {
        struct require_facts f = { .cuda = inv->cuda_version[0] ? inv->cuda_version : NULL,
                                   .driver = inv->driver_version[0] ? inv->driver_version : NULL };
        bool any = false;

        if (q->requirements_disabled)
                return 0;
        for (size_t i = 0; i <= inv->n_gpus; i++) {
                char arch[16] = "";
                bool last = i == inv->n_gpus;

                if (last && any)
                        break;
                if (!last && !sel->gpus[i] && !sel->has_mig[i])
                        continue;
                any = true;
                if (!last && inv->gpus[i].cc_major > 0)
                        snprintf(arch, sizeof(arch), "%d.%d", inv->gpus[i].cc_major, inv->gpus[i].cc_minor);
                f.arch = arch[0] ? arch : NULL;
                f.brand = !last && inv->gpus[i].brand[0] ? inv->gpus[i].brand : NULL;
                for (size_t k = 0; k < q->n_requirements; k++) {
                        int r = require_check(q->requirements[k], &f, err);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

/* The CDI kinds whose device names we resolve ourselves: "nvidia.com/gpu=0", "=all", "=GPU-…",
 * "=0:1" (what `nvidia-ctk cdi generate` names), and the reference's just-in-time kind. No CDI
 * spec file is read: the devices are this host's GPUs, resolved like NVIDIA_VISIBLE_DEVICES. */
static const char *const cdi_kinds[] = { "nvidia.com/gpu=", "runtime.nvidia.com/gpu=" };

/* DEVICES with CDI names turned into plain device ids; -EINVAL names a kind we cannot serve. */
static int cdi_devices_resolve(const char *devices, char **ret, struct nctk_error **err) {
        _cleanup_free_ char *copy = strdup(devices), *out = NULL;
        char *save = NULL;

        if (!copy)
                return nctk_error_set(err, ENOMEM, "out of memory");
        for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
                const char *id = w;
                char *n;

                for (size_t k = 0; strchr(w, '=') && k < ELEMENTSOF(cdi_kinds); k++)
                        if (startswith(w, cdi_kinds[k]))
                                id = w + strlen(cdi_kinds[k]);
                if (id == w && strchr(w, '='))
                        return nctk_error_set(err, EINVAL,
                                              "CDI device '%.64s': only nvidia.com/gpu and "
                                              "runtime.nvidia.com/gpu devices are served (no CDI "
                                              "spec files are read)", w);
                if (asprintf(&n, "%s%s%s", out ? out : "", out ? "," : "", id) < 0)
                        return nctk_error_set(err, ENOMEM, "out of memory");
                free(out);
                out = n;
        }
        *ret = out ? TAKE_PTR(out) : strdup("none");
        return *ret ? 0 : nctk_error_set(err, ENOMEM, "out of memory");
}

static int shim_plan(const struct shim *s, const json_t *spec, const struct nctk_inventory *inv,
                     const char *rootfs, struct edits **ret, struct nctk_error **err) {
        const struct container_request *q = s->req;
        struct plan_request req = { .caps = q->caps, .compat32 = q->compat32,
                                    .mig_config = q->mig_config != NULL,
                                    .mig_monitor = q->mig_monitor != NULL,
                                    .n_imex = q->n_imex, .imex = q->imex };
        struct selection sel = {};
        struct plan_layout layout;
        _cleanup_close_ int rootfd = -EBADF;
        int r;

        _cleanup_free_ char *devices = NULL;

        (void) spec;
        r = cdi_devices_resolve(q->devices ? q->devices : "none", &devices, err);
        r = r < 0 ? r : selection_parse(inv, devices, &sel, err);
        if (r < 0)
                return nctk_error_prefix(err, "NVIDIA_VISIBLE_DEVICES");
        r = shim_requirements(q, inv, &sel, err);
        if (r < 0) {
                selection_release(&sel);
                return nctk_error_prefix(err, "requirement error");
        }
        req.sel = &sel;
        rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0)
                r = nctk_error_set(err, errno, "cannot open rootfs '%s': %s", rootfs, strerror(errno));
        r = r < 0 ? r : rootfs_layout(rootfd, &layout);
        r = r < 0 ? r : plan_build(inv, &req, &layout, ret, err);
        selection_release(&sel);
        if (r < 0 || !(req.caps & (NCTK_CAP_COMPUTE | NCTK_CAP_VIDEO)) ||
            s->cfg->features.disable_cuda_compat_lib_hook ||
            (s->cfg->runtime.legacy_cuda_compat_mode &&
             STREQ(s->cfg->runtime.legacy_cuda_compat_mode, "disabled")))
                return r;
        r = compat_plan(rootfs, inv->driver_version, *ret, err);
        if (r < 0)
                *ret = edits_free(*ret);
        return r;
}

static int shim_discover(const struct shim *s, struct nctk_inventory **ret, struct nctk_error **err) {
        struct nctk_discover_opts o;

        nctk_discover_opts_init(&o);
        if (s->cfg->cli.root && *s->cfg->cli.root)
                o.driver_root = s->cfg->cli.root;
        if (s->cfg->cli.ldcache && *s->cfg->cli.ldcache)
                o.ldcache = s->cfg->cli.ldcache;
        if (s->cfg->cli.proc_root && *s->cfg->cli.proc_root)
                o.proc_root = s->cfg->cli.proc_root;
        o.path = getenv("PATH");
        o.flags = NCTK_DISCOVER_CACHE;
        return nctk_discover(&o, ret, err);
}

static int shim_cdi(const struct shim *s, json_t *spec, const char *rootfs, struct nctk_error **err) {
        struct nctk_inventory *inv = NULL;
        _cleanup_free_ char *self = NULL;
        struct edits *e = NULL;
        int r;

        r = self_path(&self);
        if (r < 0)
                return nctk_error_set(err, -r, "cannot find this program's path: %s", strerror(-r));
        r = shim_discover(s, &inv, err);
        r = r < 0 ? r : shim_plan(s, spec, inv, rootfs, &e, err);
        if (r >= 0) {
                struct spec_opts o = { .hook_path = self, .rootfs = rootfs,
                                       .proc_root = inv->proc_root,
                                       .no_cgroups = s->cfg->cli.no_cgroups };
                log_debug("cdi: %zu mounts, %zu nodes, %zu links, %zu rules", e->n_mounts,
                          e->n_nodes, e->n_links, e->n_rules);
                spec_remove_nvidia_hooks(spec);
                r = spec_apply_edits(spec, e, &o, err);
        }
        edits_free(e);
        nctk_inventory_free(inv);
        return r < 0 ? r : 1;
}

/* ---- the bundle ---------------------------------------------------------------------------- */

struct bundle {
        int dirfd;           /* the directory config.json is in */
        const char *name;    /* its name there */
        char *dir;           /* the bundle directory */
};

static int bundle_open(const struct runtime_args *ra, struct bundle *b) {
        const char *cfg = ra->config ? ra->config : "config.json";
        _cleanup_free_ char *dir = NULL;
        const char *slash = strrchr(cfg, '/');

        b->dir = strdup(ra->bundle ? ra->bundle : ".");
        if (!b->dir)
                return -ENOMEM;
        /* crun's --config is relative to the bundle unless absolute. */
        if (slash && cfg[0] == '/')
                dir = strndup(cfg, (size_t) (slash - cfg) + 1);
        else if (slash && asprintf(&dir, "%s/%.*s", b->dir, (int) (slash - cfg), cfg) < 0)
                dir = NULL;
        else if (!slash)
                dir = strdup(b->dir);
        if (!dir)
                return -ENOMEM;
        b->name = slash ? slash + 1 : cfg;
        b->dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        return b->dirfd < 0 ? -errno : 0;
}

static void bundle_release(struct bundle *b) {
        if (b->dirfd >= 0)
                close(b->dirfd);
        free(b->dir);
}

/* root.path, relative to the bundle unless absolute, as an absolute real path. */
static int bundle_rootfs(const struct bundle *b, const json_t *spec, char **ret,
                         struct nctk_error **err) {
        const char *root = json_string_value(json_object_get(json_object_get(spec, "root"), "path"));
        _cleanup_free_ char *joined = NULL;

        if (!root || !*root)
                return nctk_error_set(err, EINVAL, "config.json has no root.path");
        joined = root[0] == '/' ? strdup(root) : path_join(b->dir, root);
        if (!joined)
                return nctk_error_set(err, ENOMEM, "out of memory");
        *ret = realpath(joined, NULL);
        if (!*ret)
                return nctk_error_set(err, errno, "rootfs '%s': %s", joined, strerror(errno));
        return 0;
}

static int shim_edit(const struct shim *s, const struct bundle *b, json_t *spec,
                     struct nctk_error **err) {
        _cleanup_free_ char *path = NULL;
        enum shim_mode mode;
        int r;

        if (shim_mode_resolve(s->cfg, s->forced_mode, &mode) < 0)
                return nctk_error_set(err, EINVAL, "mode '%s' is not supported (auto, legacy, cdi, "
                                      "jit-cdi)", s->forced_mode ? s->forced_mode : s->cfg->runtime.mode);
        if (mode == SHIM_LEGACY) {
                r = shim_hook_path(s->cfg, &path);
                if (r < 0)
                        return nctk_error_set(err, -r, "cannot find the hook '%s': %s",
                                              s->cfg->hook.path, strerror(-r));
                log_debug("legacy mode: prestart hook %s", path);
                return shim_legacy(spec, path, err);
        }
        r = bundle_rootfs(b, spec, &path, err);
        return r < 0 ? r : shim_cdi(s, spec, path, err);
}

static int shim_modify(struct shim *s) {
        _cleanup_(bundle_release) struct bundle b = { .dirfd = -EBADF };
        json_auto_t *spec = NULL;
        struct nctk_error *err = NULL;
        struct spec_file f = {};
        int r;

        r = bundle_open(&s->ra, &b);
        if (r < 0)
                return shim_error(s, "bundle '%s': %s", b.dir ? b.dir : "?", strerror(-r));
        r = spec_file_read(b.dirfd, b.name, &f, &err);
        r = r < 0 ? r : spec_parse(&f, &spec, &err);
        if (r < 0)
                nctk_error_prefix(&err, "bundle '%s'", b.dir);
        /* A spec we cannot parse is the low-level runtime's to judge, unless it asks for GPUs. */
        if (r < 0 && f.raw && !memmem(f.raw, f.len, "NVIDIA_VISIBLE_DEVICES", 22)) {
                log_debug("%s: %s; not a GPU container, passed on", b.name, err->msg);
                r = 0;
        } else if (r >= 0 && (r = container_request_from_spec(spec, s->cfg, &s->req, &err)) < 0) {
                /* A malformed request: the hook would refuse it too, so say it now. */
        } else if (r >= 0 && !s->req->is_gpu_container) {
                log_debug("no GPU requested: config.json untouched");
        } else if (r >= 0) {
                r = shim_edit(s, &b, spec, &err);
                if (r > 0)
                        r = spec_write_atomic(b.dirfd, b.name, spec, &f.st, &err);
        }
        spec_file_release(&f);
        if (r < 0)
                shim_error(s, "%s", err && err->msg ? err->msg : strerror(-r));
        nctk_error_free(&err);
        return r < 0 ? -1 : 0;
}

/* ---- main -------------------------------------------------------------------------------------- */

static int exec_runtime(struct shim *s, const char *path, int argc, char **argv) {
        _cleanup_free_ char **nargv = calloc((size_t) argc + 1, sizeof(char *));

        if (!nargv)
                return shim_error(s, "out of memory");
        nargv[0] = (char *) path;
        for (int i = 1; i < argc; i++)
                nargv[i] = argv[i];
        fflush(stdout);
        if (s->debug)
                fflush(s->debug); /* opened O_CLOEXEC: the runtime does not inherit it */
        execv(path, nargv);
        return shim_error(s, "cannot execute '%s': %s", path, strerror(errno));
}

static void shim_open_debug(struct shim *s) {
        const char *d = s->cfg->runtime.debug;

        if (!d || !*d || STREQ(d, "/dev/null"))
                return;
        s->debug = fopen(d, "ae");
        if (!s->debug)
                return; /* a log that cannot be written must not stop containers */
        setvbuf(s->debug, NULL, _IOLBF, 0);
        nctk_set_log_sink(log_sink, s);
}

static int shim_run(struct shim *s, int argc, char **argv) {
        struct nctk_error *err = NULL;
        _cleanup_free_ char *cpath = config_path(), *runtime = NULL;
        int r;

        if (!cpath)
                return shim_error(s, "out of memory");
        r = config_load(cpath, false, &s->cfg, &err);
        if (r < 0) {
                shim_error(s, "%s", err && err->msg ? err->msg : strerror(-r));
                nctk_error_free(&err);
                return -1;
        }
        shim_open_debug(s);
        if (runtime_args_parse(argc, argv, &s->ra) < 0)
                s->ra = (struct runtime_args){}; /* runc reports the bad command line */
        r = runtime_find(s->cfg->runtime.runtimes, getenv("PATH"), &runtime);
        if (r < 0)
                return shim_error(s, "no low-level runtime found among nvidia-container-runtime."
                                  "runtimes in '%s': %s", cpath, strerror(-r));
        log_debug("%s: runtime %s, subcommand %s", s->prog, runtime,
                  s->ra.subcommand ? argv[s->ra.subcommand] : "(none)");
        if (s->ra.modifies && shim_modify(s) < 0)
                return -1;
        if (s->ra.version && !s->ra.subcommand)
                printf("NVIDIA Container Runtime version %s (nctk)\n\n", nctk_version());
        return exec_runtime(s, runtime, argc, argv);
}

int runtime_main(const char *prog, int argc, char **argv, const char *forced_mode) {
        struct shim s = { .prog = prog, .forced_mode = forced_mode };
        int r = shim_run(&s, argc, argv);

        /* Only reached on failure: success execs the runtime. */
        nctk_set_log_sink(NULL, NULL);
        if (s.debug)
                fclose(s.debug);
        container_request_free(s.req);
        config_free(s.cfg);
        return r < 0 ? 1 : 0;
}
