/* Driver libraries, found through the driver root's ld.so.cache and grouped by the capability
 * that needs them. Only files of the running driver version count: a library left behind by an
 * older driver (libcuda.so.535.x beside libcuda.so.580.x) would crash a CUDA program if mounted. */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "1-discover/discover.h"
#include "util/chase.h"
#include "util/log.h"
#include "util/macros.h"
#include "util/strv.h"

/* The driver's libraries by capability, as name prefixes of ld cache keys. Order matters: it is
 * the order of `list` output and of mounts. */
static const struct {
        unsigned cap;
        const char *prefix;
} driver_libs[] = {
        {NCTK_CAP_UTILITY, "libnvidia-ml.so"},
        {NCTK_CAP_UTILITY, "libnvidia-cfg.so"},
        {NCTK_CAP_UTILITY, "libnvidia-nscq.so"},
        {NCTK_CAP_COMPUTE, "libcuda.so"},
        {NCTK_CAP_COMPUTE, "libcudadebugger.so"},
        {NCTK_CAP_COMPUTE, "libnvidia-opencl.so"},
        {NCTK_CAP_COMPUTE, "libnvidia-gpucomp.so"},
        {NCTK_CAP_COMPUTE, "libnvidia-ptxjitcompiler.so"},
        {NCTK_CAP_COMPUTE, "libnvidia-fatbinaryloader.so"},
        {NCTK_CAP_COMPUTE, "libnvidia-allocator.so"},
        {NCTK_CAP_COMPUTE, "libnvidia-compiler.so"},
        {NCTK_CAP_COMPUTE, "libnvidia-pkcs11.so"},
        {NCTK_CAP_COMPUTE, "libnvidia-pkcs11-openssl3.so"},
        {NCTK_CAP_COMPUTE, "libnvidia-nvvm.so"},
        {NCTK_CAP_COMPUTE, "libnvidia-tileiras.so"},
        {NCTK_CAP_VIDEO, "libvdpau_nvidia.so"},
        {NCTK_CAP_VIDEO, "libnvidia-encode.so"},
        {NCTK_CAP_VIDEO, "libnvidia-opticalflow.so"},
        {NCTK_CAP_VIDEO, "libnvcuvid.so"},
        {NCTK_CAP_GRAPHICS, "libnvidia-eglcore.so"},
        {NCTK_CAP_GRAPHICS, "libnvidia-glcore.so"},
        {NCTK_CAP_GRAPHICS, "libnvidia-tls.so"},
        {NCTK_CAP_GRAPHICS, "libnvidia-glsi.so"},
        {NCTK_CAP_GRAPHICS, "libnvidia-fbc.so"},
        {NCTK_CAP_GRAPHICS, "libnvidia-ifr.so"},
        {NCTK_CAP_GRAPHICS, "libnvidia-rtcore.so"},
        {NCTK_CAP_GRAPHICS, "libnvoptix.so"},
        {NCTK_CAP_GRAPHICS, "libGLX_nvidia.so"},
        {NCTK_CAP_GRAPHICS, "libEGL_nvidia.so"},
        {NCTK_CAP_GRAPHICS, "libGLESv2_nvidia.so"},
        {NCTK_CAP_GRAPHICS, "libGLESv1_CM_nvidia.so"},
        {NCTK_CAP_GRAPHICS, "libnvidia-glvkspirv.so"},
        {NCTK_CAP_GRAPHICS, "libnvidia-cbl.so"},
        {NCTK_CAP_NGX, "libnvidia-ngx.so"},
};

/* Does the cache key name a version of PREFIX ("libcuda.so" matches "libcuda.so" and
 * "libcuda.so.1", not "libcuda.so-foo" or "libcudadebugger.so.1")? */
static bool key_matches(const char *key, const char *prefix) {
        size_t n = strlen(prefix);

        return strncmp(key, prefix, n) == 0 && (key[n] == '\0' || key[n] == '.');
}

static bool is_driver_version_file(const char *path, const char *version) {
        const char *base = strrchr(path, '/');
        char suffix[NCTK_VERSION_MAX + 8];

        snprintf(suffix, sizeof(suffix), ".so.%s", version);
        return endswith(base ? base + 1 : path, suffix);
}

int file_list_add(struct nctk_file **list, size_t *n, const char *path, unsigned caps,
                  bool is_32bit) {
        struct nctk_file *f;

        for (size_t i = 0; i < *n; i++)
                if (STREQ((*list)[i].path, path)) {
                        (*list)[i].caps |= caps;
                        return 0;
                }
        f = ARRAY_PUSH(*list, *n);
        if (!f)
                return -ENOMEM;
        f->path = strdup(path);
        if (!f->path) {
                (*n)--;
                return -ENOMEM;
        }
        f->caps = caps;
        f->is_32bit = is_32bit;
        return 1;
}

int file_list_set_soname(struct nctk_file *list, size_t n, const char *path, const char *soname) {
        for (size_t i = 0; i < n; i++) {
                if (!STREQ(list[i].path, path) || list[i].soname)
                        continue;
                list[i].soname = strdup(soname);
                return list[i].soname ? 0 : -ENOMEM;
        }
        return 0;
}

/* A cache key with a version after ".so." names the SONAME link ("libcuda.so.1"); a bare
 * "libcuda.so" is the development link. */
static bool key_is_soname(const char *key) {
        const char *p = strstr(key, ".so.");

        return p && p[4] != '\0';
}

/* Resolves one cache entry and adds it when it belongs to this driver version. */
static int library_add(struct discover_ctx *ctx, const struct ldcache_entry *e, unsigned cap,
                       bool is_32bit) {
        struct nctk_inventory *inv = ctx->inv;
        _cleanup_free_ char *real = NULL;
        int r;

        r = chase_real_path(ctx->rootfd, ctx->root_real, e->value, &real);
        if (r < 0) {
                log_debug("skipping '%s' (%s): %s", e->key, e->value, strerror(-r));
                return 0;
        }
        if (!is_driver_version_file(real, inv->driver_version)) {
                log_debug("skipping '%s': not of driver version %s", real, inv->driver_version);
                return 0;
        }
        r = file_list_add(&inv->libs, &inv->n_libs, real, cap, is_32bit);
        if (r >= 0 && key_is_soname(e->key))
                r = file_list_set_soname(inv->libs, inv->n_libs, real, e->key);
        return r < 0 ? r : 0;
}

/* Adds the libraries of one prefix: from the SONAME entries, or when there are none, from the
 * bare development links. Both usually lead to the same file, and every entry resolved costs
 * path lookups on the container start path. */
static int library_scan_prefix(struct discover_ctx *ctx, size_t k, enum ldcache_abi abi) {
        const struct ldcache *c = ctx->cache;
        size_t before = ctx->inv->n_libs;

        for (int pass = 0; pass < 2 && ctx->inv->n_libs == before; pass++)
                for (size_t i = 0; i < c->n_entries; i++) {
                        const struct ldcache_entry *e = &c->entries[i];
                        int r;

                        if (ldcache_entry_abi(e->flags) != abi || key_is_soname(e->key) == pass ||
                            !key_matches(e->key, driver_libs[k].prefix))
                                continue;
                        r = library_add(ctx, e, driver_libs[k].cap, abi == LDCACHE_ABI_32);
                        if (r < 0)
                                return r;
                }
        /* Without libcuda every CUDA program fails in the container; the reference stops here
         * with "failed to locate libcuda.so.VERSION", we say it and go on with the rest. */
        if (abi == LDCACHE_ABI_64 && ctx->inv->n_libs == before &&
            STREQ(driver_libs[k].prefix, "libcuda.so"))
                log_warning("no libcuda.so of driver %s in the ld cache of driver root '%s', so "
                            "CUDA will fail in containers; reinstall the driver, or run ldconfig",
                            ctx->inv->driver_version, ctx->inv->driver_root);
        else if (abi == LDCACHE_ABI_64 && ctx->inv->n_libs == before)
                log_debug("missing library %s", driver_libs[k].prefix);
        return 0;
}

static int libraries_scan(struct discover_ctx *ctx, enum ldcache_abi abi) {
        for (size_t k = 0; k < ELEMENTSOF(driver_libs); k++) {
                int r = library_scan_prefix(ctx, k, abi);
                if (r < 0)
                        return r;
        }
        return 0;
}

int libraries_discover(struct discover_ctx *ctx, struct nctk_error **err) {
        int r;

        r = libraries_scan(ctx, LDCACHE_ABI_64);
        if (r >= 0)
                r = libraries_scan(ctx, LDCACHE_ABI_32);
        if (r < 0)
                return nctk_error_set(err, -r, "cannot list driver libraries: %s", strerror(-r));
        return 0;
}

/* Finds libnvidia-ml.so.1: it tells whether a driver is installed at all, and the directory it
 * lives in locates the rest of an unusually laid out driver (binaries, firmware, configs). */
int libraries_find_nvml(struct discover_ctx *ctx, struct nctk_error **err) {
        const struct ldcache *c = ctx->cache;
        _cleanup_free_ char *dir = NULL;

        for (size_t i = 0; i < c->n_entries && !ctx->nvml_path; i++) {
                const struct ldcache_entry *e = &c->entries[i];

                if (ldcache_entry_abi(e->flags) != LDCACHE_ABI_64 ||
                    !STREQ(e->key, "libnvidia-ml.so.1"))
                        continue;
                if (chase_real_path(ctx->rootfd, ctx->root_real, e->value, &ctx->nvml_path) < 0)
                        log_debug("'%s' is in the ld cache but cannot be resolved", e->value);
        }
        if (!ctx->nvml_path)
                return nctk_error_set(err, ENOENT,
                                      "no NVIDIA driver found: libnvidia-ml.so.1 is not in the ld "
                                      "cache of driver root '%s'; install the driver and run "
                                      "ldconfig, or point --root/--ldcache at it",
                                      ctx->opts->driver_root ? ctx->opts->driver_root : "/");
        dir = strdup(ctx->nvml_path);
        if (!dir)
                return -ENOMEM;
        ctx->driver_prefix = strdup(dirname(dirname(dir)));
        return ctx->driver_prefix ? 0 : -ENOMEM;
}
