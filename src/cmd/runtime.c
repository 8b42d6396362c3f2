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

#include "2-select/request.h"
#include "5-apply/spec.h"
#include "cdi/resolve.h"
#include "cmd/error.h"
#include "cmd/runtime.h"
#include "mps/mps.h"
#include "oci/bundle.h"
#include "oci/runtime-safety.h"
#include "oci/shim.h"
#include "pipeline/pipeline.h"
#include "util/log.h"
#include "util/macros.h"
#include "util/strv.h"

struct shim {
        const char *prog;
        const char *forced_mode;
        const char *runtime; /* the low-level runtime's path */
        struct nctk_config *cfg;
        struct runtime_args ra;
        FILE *debug;         /* nvidia-container-runtime.debug, when set */
        struct cmd_sink out; /* the log sink's: debug lines only, stderr is the engine's */
        struct container_request *req; /* what the container asks for (src/2-select/request.c) */
};

static int shim_error(const struct shim *s, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static int shim_error(const struct shim *s, const char *fmt, ...) {
        struct cmd_sink out = {s->prog, s->debug, s->ra.log, s->ra.log_format};
        va_list ap;

        va_start(ap, fmt);
        cmd_verror(&out, fmt, ap);
        va_end(ap);
        return -1;
}

/* ---- cdi mode: the pipeline's edits, into config.json ------------------------------------- */

static int shim_pipeline_opts(const struct shim *s, const char *rootfs, struct pipeline_opts *o,
                              struct nctk_error **err) {
        pipeline_opts_init(o);
        o->dopts.flags |= NCTK_DISCOVER_CACHE;
        o->load_kmods = s->cfg->cli.load_kmods;
        o->rootfs = rootfs;
        o->mps_root = s->cfg->cli.mps_root;
        return config_discover_opts(s->cfg, &o->dopts, err);
}

/* The pipeline's error as the shim has always said it: device errors under what asked (the
 * variable, or the CDI annotations), requirement errors as the hook prints them. */
static int shim_pipeline_error(const struct container_request *req, enum pipeline_stage stage,
                               struct nctk_error **err) {
        if (stage == PIPELINE_DEVICE)
                return nctk_error_prefix(err, "%s",
                                         req->source == REQUEST_SOURCE_ANNOTATIONS
                                                 ? "CDI annotation"
                                                 : "NVIDIA_VISIBLE_DEVICES");
        if (stage == PIPELINE_REQUIREMENT)
                return nctk_error_prefix(err, "requirement error");
        return -((*err) ? (*err)->errnum : EINVAL);
}

/* Who makes the mounts and device nodes: the runtime from config.json, or, when it is not known
 * to make their targets safely (oci/runtime-safety.h), our createContainer hook through fds. */
static int shim_mounts_in_hook(const struct shim *s, bool *ret, struct nctk_error **err) {
        if (runtime_mounts_in_hook(s->cfg->runtime.mount_in_hook, s->runtime, ret) < 0)
                return nctk_error_set(err, EINVAL,
                                      "nvidia-container-runtime.mount-in-hook '%s' is not "
                                      "supported (auto, always, never)",
                                      s->cfg->runtime.mount_in_hook);
        log_debug("cdi: mounts and nodes made by %s", *ret ? "our hook" : s->runtime);
        return 0;
}

/* nctk's own devices through the pipeline (only spec files' devices asked: empty edits, no
 * driver needed; IMEX channels are still nctk's). */
static int shim_plan(const struct shim *s, const char *rootfs, struct pipeline *p,
                     struct nctk_error **err) {
        struct pipeline_opts o;
        int r;

        if (!s->req->devices && !s->req->n_imex) {
                p->edits = calloc(1, sizeof(*p->edits));
                return p->edits ? 0 : nctk_error_set(err, ENOMEM, "out of memory");
        }
        if (!s->req->devices && !(s->req->devices = strdup("none")))
                return nctk_error_set(err, ENOMEM, "out of memory");
        s->req->compat = request_compat_mode(s->cfg, true);
        r = shim_pipeline_opts(s, rootfs, &o, err);
        if (r >= 0 && (r = pipeline_run(p, &o, s->req, err)) < 0)
                r = shim_pipeline_error(s->req, p->stage, err);
        return r;
}

static int shim_cdi(const struct shim *s, json_t *spec, const char *rootfs,
                    struct nctk_error **err) {
        _cleanup_free_ char *self = NULL;
        struct pipeline p = {.rootfd = -EBADF};
        struct cdi_registry *reg = NULL;
        char **names = NULL, *left = NULL;
        struct cdi_extra x = {};
        json_t *folded = NULL;
        bool in_hook = false;
        int r;

        r = shim_self_path(&self);
        if (r < 0)
                return nctk_error_set(err, -r, "cannot find this program's path: %s", strerror(-r));
        /* Names that spec files serve leave the request; the rest is nctk's own. */
        r = cdi_request_split(s->cfg->runtime.cdi_spec_dirs,
                              s->req->devices ? s->req->devices : "none", &reg, &names, &left, err);
        if (r >= 0) {
                free(s->req->devices);
                s->req->devices = left;
                r = shim_plan(s, rootfs, &p, err);
        }
        if (r >= 0)
                r = cdi_edits_collect(reg, names, p.edits, &x, err);
        /* The spec's hooks that are ours run in our one hook: a process each is the cost. */
        if (r >= 0)
                r = cdi_hooks_fold(&x, "/proc/self/exe", &folded, err);
        if (r >= 0)
                r = shim_mounts_in_hook(s, &in_hook, err);
        if (r >= 0) {
                struct spec_opts so = {.mounts_in_hook = in_hook,
                                       .cdi_hooks = folded,
                                       .hook_path = self,
                                       .rootfs = rootfs,
                                       .proc_root = p.inv ? p.inv->proc_root : NULL,
                                       .no_cgroups = s->cfg->cli.no_cgroups};
                log_debug("cdi: %zu mounts, %zu nodes, %zu rules into config.json",
                          p.edits->n_mounts, p.edits->n_nodes, p.edits->n_rules);
                spec_remove_nvidia_hooks(spec);
                r = spec_apply_edits(spec, p.edits, &so, err);
        }
        if (r >= 0)
                r = cdi_extra_apply(spec, &x, err);
        json_decref(folded);
        cdi_extra_release(&x);
        cdi_names_free(names);
        cdi_registry_free(reg);
        pipeline_release(&p);
        return r < 0 ? r : 1;
}

/* ---- legacy mode: the environment of an MPS client ------------------------------------------ */

/* The hook mounts an MPS daemon's pipe directory, but a prestart hook cannot set the process's
 * variables: when nctk runs any MPS daemon, the same pipeline (without a rootfs) says whether
 * this container is a client, and its variables go into config.json here. R: shim_legacy's
 * answer (1: config.json changed). */
static int shim_legacy_mps(const struct shim *s, json_t *spec, int r, struct nctk_error **err) {
        struct pipeline p = {.rootfd = -EBADF};
        struct pipeline_opts o;

        if (!(s->req->caps & NCTK_CAP_COMPUTE) || s->req->mps_disabled ||
            !mps_any(s->cfg->cli.mps_root))
                return r;
        if (!s->req->devices && !(s->req->devices = strdup("none")))
                return nctk_error_set(err, ENOMEM, "out of memory");
        int q = shim_pipeline_opts(s, NULL, &o, err);
        if (q >= 0 && (q = pipeline_run(&p, &o, s->req, err)) < 0)
                q = shim_pipeline_error(s->req, p.stage, err);
        for (size_t i = 0; q >= 0 && i < p.edits->n_env; i++)
                q = spec_setenv(spec, p.edits->env[i], err);
        if (q >= 0 && p.edits->n_env)
                r = 1;
        pipeline_release(&p);
        return q < 0 ? q : r;
}

/* ---- the bundle ---------------------------------------------------------------------------- */

static int shim_edit(const struct shim *s, const struct bundle *b, struct nctk_error **err) {
        _cleanup_free_ char *path = NULL;
        enum shim_mode mode;
        int r;

        if (shim_mode_resolve(s->cfg, s->forced_mode, &mode) < 0)
                return nctk_error_set(err, EINVAL,
                                      "mode '%s' is not supported (auto, legacy, cdi, "
                                      "jit-cdi)",
                                      s->forced_mode ? s->forced_mode : s->cfg->runtime.mode);
        if (mode == SHIM_LEGACY) {
                r = shim_hook_path(s->cfg, &path);
                if (r < 0)
                        return nctk_error_set(err, -r,
                                              "cannot find the hook '%s': %s; fix path under "
                                              "[nvidia-container-runtime-hook] in config.toml, "
                                              "or remove it (nctk is its own hook)",
                                              s->cfg->hook.path, strerror(-r));
                log_debug("legacy mode: prestart hook %s", path);
                r = shim_legacy(b->spec, path, err);
                return r < 0 ? r : shim_legacy_mps(s, b->spec, r, err);
        }
        r = bundle_rootfs(b, &path, err);
        return r < 0 ? r : shim_cdi(s, b->spec, path, err);
}

/* Only cdi mode honours CDI annotations (a mode that does not resolve is shim_edit's to report). */
static bool shim_reads_annotations(const struct shim *s) {
        enum shim_mode mode;

        return shim_mode_resolve(s->cfg, s->forced_mode, &mode) == 0 && mode == SHIM_CDI;
}

/* What the container asks for. Mode auto resolves as the reference's does: cdi when every
 * device asked for is a fully-qualified CDI name (in NVIDIA_VISIBLE_DEVICES or the CDI
 * annotations), else legacy (nctk's stand-in for the reference's jit-cdi, which ignores the
 * annotations as legacy does). Without this, a pod whose devices come only as annotations
 * would start with no GPU and no word said. */
static int shim_request(struct shim *s, json_t *spec, struct nctk_error **err) {
        const char *m = s->forced_mode ? s->forced_mode : s->cfg->runtime.mode;
        struct nctk_error *ignored = NULL;

        if (m && *m && !STREQ(m, "auto"))
                return container_request_from_spec_in_mode(spec, s->cfg, shim_reads_annotations(s),
                                                           &s->req, err);
        if (container_request_from_spec_in_mode(spec, s->cfg, true, &s->req, &ignored) >= 0 &&
            s->req->is_gpu_container && s->req->only_cdi_devices) {
                log_debug("mode auto: only CDI names requested: cdi mode");
                s->forced_mode = "cdi";
                return 0;
        }
        nctk_error_free(&ignored);
        s->req = container_request_free(s->req);
        return container_request_from_spec_in_mode(spec, s->cfg, false, &s->req, err);
}

static int shim_modify(struct shim *s) {
        struct bundle b = {.dirfd = -EBADF};
        struct nctk_error *err = NULL;
        int r;

        r = bundle_open(s->ra.bundle ? s->ra.bundle : ".", s->ra.config, &b, &err);
        r = r < 0 ? r : bundle_parse(&b, &err);
        /* A spec we cannot parse is the low-level runtime's to judge, unless it asks for GPUs. */
        if (r < 0 && b.raw && !memmem(b.raw, b.len, "NVIDIA_VISIBLE_DEVICES", 22)) {
                log_debug("%s; not a GPU container, passed on", err->msg);
                r = 0;
        } else if (r >= 0 && (r = shim_request(s, b.spec, &err)) < 0) {
                /* A malformed request: the hook would refuse it too, so say it now. */
        } else if (r >= 0 && !s->req->is_gpu_container) {
                log_debug("no GPU requested: config.json untouched");
        } else if (r >= 0) {
                r = shim_edit(s, &b, &err);
                if (r > 0)
                        r = bundle_write(&b, &err);
        }
        bundle_release(&b);
        if (r < 0)
                shim_error(s, "%s", err && err->msg ? err->msg : strerror(-r));
        nctk_error_free(&err);
        return r < 0 ? -1 : 0;
}

/* ---- main --------------------------------------------------------------------------------------
 */

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
        s->out = (struct cmd_sink){s->prog, s->debug, NULL, NULL, .quiet = true};
        nctk_set_log_sink(cmd_log_sink, &s->out);
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
                return shim_error(s,
                                  "no low-level runtime found among nvidia-container-runtime."
                                  "runtimes in '%s': %s; install runc or crun, or list its "
                                  "full path there",
                                  cpath, strerror(-r));
        s->runtime = runtime;
        log_debug("%s: runtime %s, subcommand %s", s->prog, runtime,
                  s->ra.subcommand ? argv[s->ra.subcommand] : "(none)");
        if (s->ra.modifies && shim_modify(s) < 0)
                return -1;
        if (s->ra.version && !s->ra.subcommand)
                printf("NVIDIA Container Runtime version %s (nctk)\n\n", nctk_version());
        return exec_runtime(s, runtime, argc, argv);
}

int runtime_main(const char *prog, int argc, char **argv, const char *forced_mode) {
        struct shim s = {.prog = prog, .forced_mode = forced_mode};
        int r = shim_run(&s, argc, argv);

        /* Only reached on failure: success execs the runtime. */
        nctk_set_log_sink(NULL, NULL);
        if (s.debug)
                fclose(s.debug);
        container_request_free(s.req);
        config_free(s.cfg);
        return r < 0 ? 1 : 0;
}
