/* The spec hooks that nctk itself would run as nvidia-cdi-hook, folded into the shim's one
 * createContainer hook: a generated spec carries three or four such hooks, each a process of its
 * own (fork, exec, dynamic loading, the state read, the rootfs opened) where one does it all.
 * Only what is certain to run the same code is folded: a hook whose path is this very binary
 * (the same inode as /proc/self/exe), called by a name that dispatches to nvidia-cdi-hook, naming
 * a hook this build has, with arguments that parse, no timeout and only logging variables. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cdi/resolve.h"
#include "cdihook/step.h"
#include "util/log.h"
#include "util/macros.h"
#include "util/strv.h"

static const char *base_of(const char *p) {
        const char *s = strrchr(p, '/');

        return s ? s + 1 : p;
}

/* Where the hook's own arguments start in ARGS, as src/cmd/main.c dispatches it, or 0 when the
 * command line is not one of nvidia-cdi-hook's. */
static size_t hook_args_start(const json_t *args) {
        const char *a0 = json_string_value(json_array_get(args, 0));
        const char *a1 = json_string_value(json_array_get(args, 1));

        if (!a0 || !a1)
                return 0;
        a0 = base_of(a0);
        if (STREQ(a0, "nvidia-cdi-hook"))
                return 1;
        if (STREQ(a0, "nvidia-ctk") && STREQ(a1, "hook"))
                return 2;
        if (STREQ(a0, "nctk") && (STREQ(a1, "cdi-hook") || STREQ(a1, "nvidia-cdi-hook")))
                return 2;
        return 0;
}

/* Variables that change only what the hook logs (NVIDIA_CTK_DEBUG, NVIDIA_CDI_DEBUG, ...) or
 * that it never uses (PATH: no hook executes anything). */
static bool env_is_logging_only(const json_t *env) {
        json_t *v;
        size_t i;

        json_array_foreach(env, i, v) {
                const char *s = json_string_value(v);

                if (!s || !(startswith(s, "NVIDIA_CTK_") || startswith(s, "NVIDIA_CDI_") ||
                            startswith(s, "PATH=")))
                        return false;
        }
        return true;
}

static bool is_self(const char *path, const struct stat *self) {
        struct stat st;

        return path && path[0] == '/' && stat(path, &st) == 0 && st.st_dev == self->st_dev &&
               st.st_ino == self->st_ino;
}

/* HOOK's arguments from the hook name on, when it can be folded; NULL otherwise. */
static json_t *foldable(const json_t *hook, const struct stat *self) {
        json_t *args = json_object_get(hook, "args");
        size_t start = hook_args_start(args), n = json_array_size(args), k;
        _cleanup_free_ char **argv = NULL;
        struct cdihook_step *s = NULL;
        const char *key;
        json_t *v, *out;

        /* A timeout (or anything newer) is a property of that hook's own process. */
        json_object_foreach((json_t *) hook, key, v) {
                if (!STREQ(key, "path") && !STREQ(key, "args") && !STREQ(key, "env"))
                        return NULL;
        }
        if (!start || start >= n || !env_is_logging_only(json_object_get(hook, "env")) ||
            !is_self(json_string_value(json_object_get(hook, "path")), self))
                return NULL;
        argv = calloc(n - start + 1, sizeof(char *));
        for (k = start; argv && k < n; k++)
                if (!(argv[k - start] = (char *) json_string_value(json_array_get(args, k))))
                        return NULL;
        /* Arguments its own run would refuse stay with that run, and its error. */
        if (!argv || !cdihook_is_known(argv[0]) ||
            cdihook_step_parse((int) (n - start), argv, &s, NULL) < 0 || !s)
                return NULL;
        cdihook_step_free(s);
        out = json_array();
        for (k = start; out && k < n; k++)
                if (json_array_append(out, json_array_get(args, k)) < 0)
                        break;
        if (out && k < n)
                json_decref(out);
        return out && k == n ? out : NULL;
}

int cdi_hooks_fold(struct cdi_extra *x, const char *self_exe, json_t **ret,
                   struct nctk_error **err) {
        json_t *list = json_object_get(x->hooks, "createContainer");
        json_t *folded = json_array(), *step;
        struct stat self;

        if (!folded)
                return nctk_error_set(err, ENOMEM, "out of memory");
        if (stat(self_exe, &self) < 0) {
                log_debug("cannot stat '%s': no CDI hook folded", self_exe);
                list = NULL;
        }
        /* Only the leading run: a foreign hook between two of ours keeps its place after the
         * first and before the second. */
        while (json_array_size(list) && (step = foldable(json_array_get(list, 0), &self))) {
                if (json_array_append_new(folded, step) < 0) {
                        json_decref(folded);
                        return nctk_error_set(err, ENOMEM, "out of memory");
                }
                json_array_remove(list, 0);
        }
        if (list && json_array_size(list) == 0)
                json_object_del(x->hooks, "createContainer");
        log_debug("cdi: %zu spec hooks folded into ours", json_array_size(folded));
        *ret = folded;
        return 0;
}
