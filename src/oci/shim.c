/* The shim's policy: which mode edits a container, and where the legacy prestart hook is. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "5-apply/spec.h"
#include "oci/shim.h"
#include "util/macros.h"

#define HOOK_NAME "nvidia-container-runtime-hook"

int shim_mode_resolve(const struct nctk_config *cfg, const char *forced, enum shim_mode *ret) {
        const char *m = forced ? forced : cfg->runtime.mode;

        if (!m || STREQ(m, "auto") || STREQ(m, "legacy"))
                *ret = SHIM_LEGACY; /* auto: the reference picks jit-cdi; we stay legacy for now */
        else if (STREQ(m, "cdi"))
                *ret = SHIM_CDI;
        else if (STREQ(m, "jit-cdi"))
                *ret = SHIM_JIT_CDI;
        else
                return -EINVAL;
        return 0;
}

int shim_self_path(char **ret) {
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
        r = shim_self_path(&self);
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
                char *const names[] = {(char *) name, NULL};
                return runtime_find(names, getenv("PATH"), ret);
        }
        *ret = TAKE_PTR(
                self); /* nctk itself: argv[0] "nvidia-container-runtime-hook" picks the hook */
        return 0;
}

/* The hook's environment: PATH, and where the config is when the caller said so (the
 * runtime's environment, not the container's, so it can be trusted). */
static char **legacy_hook_env(char *buf[4]) {
        static const char *const pass[] = {"NVIDIA_CTK_CONFIG_FILE_PATH", "XDG_CONFIG_HOME"};
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

int hook_mode_check(const struct nctk_config *cfg, const struct container_request *req,
                    struct nctk_error **err) {
        const char *mode = cfg->runtime.mode && *cfg->runtime.mode ? cfg->runtime.mode : "auto";

        if (cfg->hook.skip_mode_detection || STREQ(mode, "legacy") ||
            (STREQ(mode, "auto") && !req->only_cdi_devices))
                return 0;
        return nctk_error_set(err, EPERM,
                              "invoking the NVIDIA Container Runtime Hook directly (e.g. "
                              "specifying the docker --gpus flag) is not supported in mode '%s'%s. "
                              "Please use the NVIDIA Container Runtime (e.g. specify the "
                              "--runtime=nvidia flag) instead",
                              mode, req->only_cdi_devices ? " with CDI devices" : "");
}
