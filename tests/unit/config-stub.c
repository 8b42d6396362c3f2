/* A stand-in for config_load()/config_free() in unit tests: the documented defaults of
 * config/config.h, no file read, so that tests of config users do not depend on the loader.
 * Linked into those tests only, never into the library. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

static strv_t strv_of(const char *a, const char *b) {
        char **v = calloc(3, sizeof(char *));

        if (v && a)
                v[0] = strdup(a);
        if (v && b)
                v[1] = strdup(b);
        return v;
}

static void strv_free(strv_t v) {
        for (size_t i = 0; v && v[i]; i++)
                free(v[i]);
        free(v);
}

char *config_path(void) {
        return strdup("/nonexistent/nvidia-container-runtime/config.toml");
}

int config_load(const char *path, bool required, struct nctk_config **ret,
                struct nctk_error **err) {
        struct nctk_config *c = calloc(1, sizeof(*c));

        (void) path;
        (void) required;
        if (!c)
                return nctk_error_set(err, ENOMEM, "out of memory");
        c->swarm_resource = strdup("");
        c->accept_envvar_when_unprivileged = true;
        c->supported_driver_capabilities =
                strdup("compat32,compute,display,graphics,ngx,utility,video");
        c->cli.root = strdup("");
        c->cli.path = strdup("");
        c->cli.environment = strv_of(NULL, NULL);
        c->cli.debug = strdup("");
        c->cli.ldcache = strdup("");
        c->cli.load_kmods = true;
        c->cli.user = strdup("");
        c->cli.ldconfig = strdup("@/sbin/ldconfig");
        c->runtime.debug = strdup("/dev/null");
        c->runtime.log_level = strdup("info");
        c->runtime.runtimes = strv_of("runc", "crun");
        c->runtime.mode = strdup("auto");
        c->runtime.cdi_spec_dirs = strv_of("/etc/cdi", "/var/run/cdi");
        c->runtime.cdi_default_kind = strdup("nvidia.com/gpu");
        c->runtime.cdi_annotation_prefixes = strv_of("cdi.k8s.io/", NULL);
        c->runtime.csv_mount_spec_path =
                strdup("/etc/nvidia-container-runtime/host-files-for-container.d");
        c->runtime.legacy_cuda_compat_mode = strdup("ldconfig");
        c->hook.path = strdup("nvidia-container-runtime-hook");
        c->ctk.path = strdup("nvidia-ctk");
        *ret = c;
        return 0;
}

struct nctk_config *config_free(struct nctk_config *c) {
        if (!c)
                return NULL;
        free(c->swarm_resource);
        free(c->supported_driver_capabilities);
        free(c->cli.root);
        free(c->cli.path);
        strv_free(c->cli.environment);
        free(c->cli.debug);
        free(c->cli.ldcache);
        free(c->cli.user);
        free(c->cli.ldconfig);
        free(c->runtime.debug);
        free(c->runtime.log_level);
        strv_free(c->runtime.runtimes);
        free(c->runtime.mode);
        strv_free(c->runtime.cdi_spec_dirs);
        free(c->runtime.cdi_default_kind);
        strv_free(c->runtime.cdi_annotation_prefixes);
        free(c->runtime.csv_mount_spec_path);
        free(c->runtime.csv_compat_container_root);
        strv_free(c->runtime.jit_cdi_feature_flags);
        strv_free(c->runtime.jit_cdi_disable_hooks);
        free(c->runtime.legacy_cuda_compat_mode);
        free(c->hook.path);
        free(c->ctk.path);
        free(c->source);
        free(c);
        return NULL;
}
