/* The CDI spec hooks that the runtime shim folded into its one createContainer hook
 * (src/cdi/fold.c): each a JSON array of nvidia-cdi-hook arguments, run here in the spec's order
 * on the finalize hook's rootfd, by the same code as nvidia-cdi-hook's own runs (cdihook/step.h),
 * so folding saves the processes and nothing else. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "5-apply/apply.h"
#include "cdihook/step.h"
#include "util/log.h"
#include "util/macros.h"

/* ARG ('["create-symlinks","--link","a::b"]') as an argv borrowed from *RET_DOC. */
static int step_argv(const char *arg, json_t **ret_doc, char ***ret_argv, int *ret_argc) {
        json_t *doc = json_loads(arg, JSON_REJECT_DUPLICATES, NULL);
        char **argv;
        json_t *v;
        size_t i;

        if (!json_is_array(doc) || json_array_size(doc) == 0) {
                json_decref(doc);
                return -EINVAL;
        }
        argv = calloc(json_array_size(doc) + 1, sizeof(char *));
        if (!argv) {
                json_decref(doc);
                return -ENOMEM;
        }
        json_array_foreach(doc, i, v) {
                argv[i] = (char *) json_string_value(v);
                if (!argv[i]) {
                        free(argv);
                        json_decref(doc);
                        return -EINVAL;
                }
        }
        *ret_doc = doc;
        *ret_argv = argv;
        *ret_argc = (int) i;
        return 0;
}

static int cdi_step(int rootfd, const char *arg, struct nctk_error **err) {
        struct cdihook_step *s = NULL;
        _cleanup_free_ char **argv = NULL;
        json_t *doc = NULL;
        int argc = 0, r;

        r = step_argv(arg, &doc, &argv, &argc);
        if (r < 0)
                return nctk_error_set(err, -r, "invalid --cdi-hook '%.200s'", arg);
        r = cdihook_step_parse(argc, argv, &s, err);
        if (r >= 0 && !s)
                log_warning("unsupported CDI hook '%s', skipping", argv[0]);
        else if (r >= 0) {
                log_debug("cdi hook %s", argv[0]);
                r = cdihook_step_run(s, rootfd, err);
        }
        if (r < 0)
                nctk_error_prefix(err, "%s", argv[0]);
        cdihook_step_free(s);
        json_decref(doc);
        return r;
}

int apply_cdi_hooks(int rootfd, char *const *steps, size_t n, struct nctk_error **err) {
        for (size_t i = 0; i < n; i++) {
                int r = cdi_step(rootfd, steps[i], err);

                if (r < 0)
                        return r;
        }
        return 0;
}
