/* The hooks.d JSON (podman's and CRI-O's oci-hooks(5), version 1.0.0) that runs
 * nvidia-container-runtime-hook as a prestart hook of every container; the hook itself decides
 * whether a container asked for a GPU. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/jsonscan.h"
#include "util/macros.h"

/* A hook's environment is only what its entry lists; the hook finds nvidia-container-cli on PATH,
 * so PATH is the usual one plus the hook's own directory. */
static void write_path_env(FILE *f, const char *hook_path) {
        static const char std[] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        const char *slash = strrchr(hook_path, '/');
        _cleanup_free_ char *dir = NULL, *env = NULL, *padded = NULL;

        dir = slash ? strndup(hook_path, slash == hook_path ? 1 : (size_t) (slash - hook_path))
                    : NULL;
        if (asprintf(&padded, ":%s:", std) < 0)
                padded = NULL;
        if (dir && padded) {
                _cleanup_free_ char *needle = NULL;

                if (asprintf(&needle, ":%s:", dir) >= 0 && strstr(padded, needle))
                        dir = (free(dir), NULL);
        }
        if (asprintf(&env, "PATH=%s%s%s", std, dir ? ":" : "", dir ? dir : "") < 0)
                env = NULL;
        json_write_string(
                f, env ? env : "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
}

int ocihook_json(const char *hook_path, struct engine_text *out, struct nctk_error **err) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f;

        if (hook_path[0] != '/')
                return nctk_error_set(err, EINVAL,
                                      "hook path '%s' is not absolute; the engine runs it by path",
                                      hook_path);
        f = open_memstream(&buf, &len);
        if (!f)
                return -ENOMEM;
        fputs("{\n  \"version\": \"1.0.0\",\n  \"hook\": {\n    \"path\": ", f);
        json_write_string(f, hook_path);
        fputs(",\n    \"args\": [\"nvidia-container-runtime-hook\", \"prestart\"],\n"
              "    \"env\": [",
              f);
        write_path_env(f, hook_path);
        fputs("]\n  },\n  \"when\": {\n    \"always\": true,\n    \"commands\": [\".*\"]\n  },\n"
              "  \"stages\": [\"prestart\"]\n}\n",
              f);
        if (fclose(f) != 0) {
                free(buf);
                return -ENOMEM;
        }
        *out = (struct engine_text){buf, len};
        return 0;
}
