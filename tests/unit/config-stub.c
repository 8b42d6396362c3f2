/* A stand-in for config_load() in the runtime shim's unit tests: the defaults the shim reads,
 * and no file. Linked only into those tests, so they do not depend on the config parser. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

static strv_t strv2(const char *a, const char *b) {
        strv_t v = calloc(3, sizeof(char *));

        if (v) {
                v[0] = a ? strdup(a) : NULL;
                v[1] = b ? strdup(b) : NULL;
        }
        return v;
}

static void strv_release(strv_t v) {
        for (size_t i = 0; v && v[i]; i++)
                free(v[i]);
        free(v);
}

char *config_path(void) {
        return strdup("/nonexistent/nvidia-container-runtime/config.toml");
}

int config_load(const char *path, bool required, struct nctk_config **ret, struct nctk_error **err) {
        struct nctk_config *c = calloc(1, sizeof(*c));

        (void) path, (void) required;
        if (!c)
                return nctk_error_set(err, ENOMEM, "out of memory");
        c->accept_envvar_when_unprivileged = true;
        c->cli.load_kmods = true;
        c->runtime.debug = strdup("/dev/null");
        c->runtime.mode = strdup("auto");
        c->runtime.runtimes = strv2("runc", "crun");
        c->runtime.legacy_cuda_compat_mode = strdup("ldconfig");
        c->hook.path = strdup("nvidia-container-runtime-hook");
        *ret = c;
        return 0;
}

struct nctk_config *config_free(struct nctk_config *c) {
        if (!c)
                return NULL;
        free(c->runtime.debug);
        free(c->runtime.mode);
        strv_release(c->runtime.runtimes);
        free(c->runtime.legacy_cuda_compat_mode);
        free(c->hook.path);
        free(c);
        return NULL;
}
