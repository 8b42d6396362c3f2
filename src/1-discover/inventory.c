/* nctk_discover(): builds the inventory of what the host's driver provides, in one pass over the
 * driver root, its ld cache, /proc and (in a forked, privilege-dropped child) NVML. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "1-discover/cache.h"
#include "1-discover/discover.h"
#include "1-discover/nvml.h"
#include "util/chase.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/macros.h"
#include "util/strv.h"

static unsigned read_overflow_id(const char *path) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        _cleanup_free_ char *buf = NULL;

        if (fd < 0 || read_full_fd(fd, 64, &buf, NULL) < 0)
                return 65534;
        return (unsigned) strtoul(buf, NULL, 10);
}

void nctk_discover_opts_init(struct nctk_discover_opts *opts) {
        memset(opts, 0, sizeof(*opts));
        opts->uid = (uid_t) read_overflow_id("/proc/sys/kernel/overflowuid");
        opts->gid = (gid_t) read_overflow_id("/proc/sys/kernel/overflowgid");
}

static void gpus_free(struct nctk_gpu *gpus, size_t n) {
        for (size_t i = 0; gpus && i < n; i++)
                free(gpus[i].migs);
        free(gpus);
}

static void files_free(struct nctk_file *f, size_t n) {
        for (size_t i = 0; f && i < n; i++) {
                free(f[i].path);
                free(f[i].soname);
        }
        free(f);
}

struct nctk_inventory *nctk_inventory_free(struct nctk_inventory *inv) {
        if (!inv)
                return NULL;
        free(inv->driver_root);
        free(inv->dev_root);
        free(inv->proc_root);
        gpus_free(inv->gpus, inv->n_gpus);
        for (size_t i = 0; inv->nodes && i < inv->n_nodes; i++)
                free(inv->nodes[i].path);
        free(inv->nodes);
        files_free(inv->libs, inv->n_libs);
        files_free(inv->bins, inv->n_bins);
        files_free(inv->ipcs, inv->n_ipcs);
        files_free(inv->firmware, inv->n_firmware);
        files_free(inv->configs, inv->n_configs);
        free(inv->gds_udev);
        free(inv->gds_cufile);
        free(inv);
        return NULL;
}

static void ctx_release(struct discover_ctx *ctx) {
        if (ctx->rootfd >= 0)
                close(ctx->rootfd);
        if (ctx->devfd >= 0)
                close(ctx->devfd);
        if (ctx->procfd >= 0)
                close(ctx->procfd);
        free(ctx->root_real);
        free(ctx->nvml_path);
        free(ctx->driver_prefix);
        ldcache_free(ctx->cache);
        nctk_inventory_free(ctx->inv);
}

/* A missing driver root is most often a driver container (the GPU Operator's /run/nvidia/driver)
 * that has not started, or a config.toml written for another host: say where the setting is. */
#define ROOT_HINT                                                                                  \
        "; install or start the driver there, or set 'root' under [nvidia-container-cli] in "      \
        "config.toml (--root, --driver-root) to where it is"

static int open_dir(const char *what, const char *path, const char *hint, int *ret_fd,
                    char **ret_path, struct nctk_error **err) {
        int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);

        if (fd < 0)
                return nctk_error_set(err, errno, "cannot open %s '%s': %s%s", what, path,
                                      strerror(errno), hint);
        *ret_path = strdup(path);
        if (!*ret_path) {
                close(fd);
                return -ENOMEM;
        }
        *ret_fd = fd;
        return 0;
}

static int ctx_open(struct discover_ctx *ctx, struct nctk_error **err) {
        const struct nctk_discover_opts *o = ctx->opts;
        const char *root = o->driver_root && *o->driver_root ? o->driver_root : "/";
        char real[PATH_MAX];
        int r;

        r = open_dir("driver root", root, ROOT_HINT, &ctx->rootfd, &ctx->inv->driver_root, err);
        if (r < 0)
                return r;
        if (!realpath(root, real))
                return nctk_error_set(err, errno, "cannot resolve driver root '%s': %s", root,
                                      strerror(errno));
        ctx->root_real = strdup(real);
        if (!ctx->root_real)
                return -ENOMEM;
        r = open_dir("dev root", o->dev_root && *o->dev_root ? o->dev_root : root, "", &ctx->devfd,
                     &ctx->inv->dev_root, err);
        if (r < 0)
                return r;
        /* The kernel's /proc, also under a driver root: the root holds the driver's files, not
         * the kernel module's state. */
        return open_dir("proc root", o->proc_root && *o->proc_root ? o->proc_root : "/proc", "",
                        &ctx->procfd, &ctx->inv->proc_root, err);
}

/* The version in the file name of libnvidia-ml.so.<version>, or NULL. */
static const char *nvml_file_version(const char *path) {
        const char *p = strstr(path, "libnvidia-ml.so.");

        return p ? p + strlen("libnvidia-ml.so.") : NULL;
}

/* The kernel module and the user-space driver must be the same release: NVML refuses to work
 * otherwise, and so would every CUDA program in the container. Say which two versions differ. */
static int versions_check(struct discover_ctx *ctx, const char *kernel, struct nctk_error **err) {
        const char *lib = nvml_file_version(ctx->nvml_path);

        if (!kernel[0] || !lib || STREQ(kernel, lib))
                return 0;
        return nctk_error_set(err, EPROTO,
                              "driver/library version mismatch: the kernel module is %s but "
                              "'%s' is %s; reboot after a driver update, or reinstall the driver",
                              kernel, ctx->nvml_path, lib);
}

static void cuda_version_format(int v, char buf[NCTK_VERSION_MAX]) {
        if (v <= 0)
                buf[0] = '\0';
        else
                snprintf(buf, NCTK_VERSION_MAX, "%d.%d", v / 1000, (v % 1000) / 10);
}

static void inventory_take(struct nctk_inventory *inv, struct nvml_result *res) {
        strscpy(inv->driver_version, sizeof(inv->driver_version), res->driver_version);
        cuda_version_format(res->cuda_version, inv->cuda_version);
        inv->gpus = TAKE_PTR(res->gpus);
        inv->n_gpus = res->n_gpus;
        res->n_gpus = 0;
        nvml_result_free(res);
        inv->nvml_loaded = true;
}

/* The cached NVML answer when its key still matches; *RET_KEY is the current key either way. */
static int gpus_from_cache(struct discover_ctx *ctx, const struct cache_params *cp,
                           char **ret_key) {
        _cleanup_free_ char *raw = NULL;
        struct nvml_result *res = NULL;
        size_t len = 0;
        int r;

        r = cache_key(cp, ret_key);
        if (r < 0)
                return r;
        r = cache_load(cp, *ret_key, &raw, &len);
        if (r < 0)
                return r;
        r = nvml_result_parse(raw, len, &res, NULL);
        if (r < 0)
                return r;
        log_debug("NVML answer from the cache (%zu GPUs)", res->n_gpus);
        inventory_take(ctx->inv, res);
        return 0;
}

static int gpus_from_nvml(struct discover_ctx *ctx, const char *ldcache, struct nctk_error **err) {
        const struct nctk_discover_opts *o = ctx->opts;
        _cleanup_close_ int ldfd = -EBADF;
        _cleanup_free_ char *key = NULL, *raw = NULL;
        struct nvml_result *res = NULL;
        struct nvml_query q = {
                .driver_root = ctx->root_real,
                .lib_path = ctx->nvml_path,
                .uid = o->uid,
                .gid = o->gid,
                .no_attach =
                        false, /* with NO_ATTACH the driver reports no GPUs (seen on the H200) */
        };
        struct cache_params cp = {.root_real = ctx->root_real,
                                  .nvml_path = ctx->nvml_path,
                                  .uid = o->uid,
                                  .gid = o->gid,
                                  .procfd = ctx->procfd};
        size_t len = 0;
        int r;

        if (o->flags & NCTK_DISCOVER_CACHE) {
                ldfd = chase_open(ctx->rootfd, ldcache, O_PATH, 0);
                cp.ldcache_fd = ldfd;
                if (gpus_from_cache(ctx, &cp, &key) == 0)
                        return 0;
        }
        r = nvml_query_run_raw(&q, &res, key ? &raw : NULL, &len, err);
        if (r < 0)
                return r;
        log_debug("NVML: %zu GPUs", res->n_gpus);
        if (key && cache_store(&cp, key, raw, len) < 0)
                log_debug("cannot store the NVML answer in %s", CACHE_DIR);
        inventory_take(ctx->inv, res);
        return 0;
}

static int gpus_from_proc(struct discover_ctx *ctx, const char *kernel, struct nctk_error **err) {
        struct nctk_inventory *inv = ctx->inv;
        const char *lib = nvml_file_version(ctx->nvml_path);
        int r;

        strscpy(inv->driver_version, sizeof(inv->driver_version),
                kernel[0] ? kernel
                : lib     ? lib
                          : "");
        r = procfs_gpus(ctx->procfd, &inv->gpus, &inv->n_gpus);
        if (r == -ENOENT)
                return 0; /* module without GPUs bound */
        if (r < 0)
                return nctk_error_set(err, -r, "cannot read GPUs from '%s/driver/nvidia/gpus': %s",
                                      inv->proc_root, strerror(-r));
        return 0;
}

/* The minor of a capability file given by its /proc path, or -1. */
static int cap_minor(struct discover_ctx *ctx, const char *proc_path) {
        int r = procfs_cap_minor(ctx->procfd, proc_path + strlen("/proc/"));

        return r < 0 ? -1 : r;
}

/* Fills the /proc capability paths and nvidia-caps minors of every MIG device. */
static void mig_caps_fill(struct discover_ctx *ctx) {
        struct nctk_inventory *inv = ctx->inv;

        inv->mig_config_minor = cap_minor(ctx, "/proc/driver/nvidia/capabilities/mig/config");
        inv->mig_monitor_minor = cap_minor(ctx, "/proc/driver/nvidia/capabilities/mig/monitor");
        for (size_t i = 0; i < inv->n_gpus; i++) {
                struct nctk_gpu *g = &inv->gpus[i];
                for (size_t j = 0; j < g->n_migs; j++) {
                        struct nctk_mig *m = &g->migs[j];
                        snprintf(m->gi_caps, sizeof(m->gi_caps),
                                 "/proc/driver/nvidia/capabilities/gpu%u/mig/gi%u/access", g->minor,
                                 m->gi);
                        snprintf(m->ci_caps, sizeof(m->ci_caps),
                                 "/proc/driver/nvidia/capabilities/gpu%u/mig/gi%u/ci%u/access",
                                 g->minor, m->gi, m->ci);
                        m->gi_caps_minor = cap_minor(ctx, m->gi_caps);
                        m->ci_caps_minor = cap_minor(ctx, m->ci_caps);
                }
        }
}

static int discover_driver(struct discover_ctx *ctx, struct nctk_error **err) {
        const struct nctk_discover_opts *o = ctx->opts;
        struct nctk_inventory *inv = ctx->inv;
        char kernel[NCTK_VERSION_MAX] = "";
        int r;

        const char *ldcache = o->ldcache && *o->ldcache ? o->ldcache : "/etc/ld.so.cache";

        r = ldcache_load(ctx->rootfd, ldcache, &ctx->cache, err);
        if (r < 0)
                return r;
        log_debug("ld cache '%s': %zu entries", ldcache, ctx->cache->n_entries);
        r = libraries_find_nvml(ctx, err);
        if (r < 0)
                return r;
        if (procfs_majors(ctx->procfd, &inv->majors) < 0) {
                log_warning("cannot read '%s/devices': using the default nvidia major",
                            inv->proc_root);
                inv->majors = (struct nctk_majors){-1, -1, -1, -1, -1};
        }
        if (procfs_driver_version(ctx->procfd, kernel) < 0)
                log_debug("no kernel module version in '%s/driver/nvidia/version'", inv->proc_root);
        r = versions_check(ctx, kernel, err);
        if (r < 0)
                return r;
        if (o->flags & NCTK_DISCOVER_NO_NVML)
                return gpus_from_proc(ctx, kernel, err);
        return gpus_from_nvml(ctx, ldcache, err);
}

int nctk_discover(const struct nctk_discover_opts *opts, struct nctk_inventory **ret_inv,
                  struct nctk_error **err) {
        _cleanup_(ctx_release) struct discover_ctx ctx = {
                .opts = opts,
                .rootfd = -EBADF,
                .devfd = -EBADF,
                .procfd = -EBADF,
        };
        int r;

        ctx.inv = calloc(1, sizeof(*ctx.inv));
        if (!ctx.inv)
                return nctk_error_set(err, ENOMEM, "out of memory");
        r = ctx_open(&ctx, err);
        if (r >= 0)
                r = discover_driver(&ctx, err);
        if (r < 0)
                return r;
        mig_caps_fill(&ctx);
        r = nodes_discover(&ctx, err);
        r = r < 0 ? r : gated_discover(&ctx, err);
        r = r < 0 ? r : libraries_discover(&ctx, err);
        r = r < 0 ? r : binaries_discover(&ctx, err);
        r = r < 0 ? r : ipcs_discover(&ctx, err);
        r = r < 0 ? r : firmware_discover(&ctx, err);
        r = r < 0 ? r : configs_discover(&ctx, err);
        if (r < 0)
                return r;
        log_debug("inventory: %zu GPUs, %zu libraries, %zu binaries", ctx.inv->n_gpus,
                  ctx.inv->n_libs, ctx.inv->n_bins);
        *ret_inv = TAKE_PTR(ctx.inv);
        return 0;
}

const char *nctk_version(void) {
        return NCTK_VERSION;
}
