/* cdi_transform_root(): a spec made for a driver under one root (a container's, a mounted
 * image's) made to point at another, path by path; only whole components match ("/a" moves
 * "/a/b" but not "/ab"). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cdi/cdi.h"
#include "util/macros.h"
#include "util/strv.h"

struct xform {
        const char *from, *to;
        size_t from_len;
};

/* PATH moved from X->from to X->to, or NULL when it is not under X->from (or out of memory:
 * *RET_OOM). */
static char *moved(const struct xform *x, const char *path, bool *ret_oom) {
        const char *rest;
        char *s = NULL;

        if (!path || path[0] != '/')
                return NULL;
        if (STREQ(x->from, "/"))
                rest = path;
        else if (strncmp(path, x->from, x->from_len) == 0 &&
                 (path[x->from_len] == '/' || path[x->from_len] == '\0'))
                rest = path + x->from_len;
        else
                return NULL;
        if (!*rest)
                s = strdup(x->to);
        else if (STREQ(x->to, "/"))
                s = strdup(rest);
        else
                s = path_join(x->to, rest);
        if (!s)
                *ret_oom = true;
        return s;
}

static bool is_moved(const struct xform *x, const char *path, bool *oom) {
        _cleanup_free_ char *s = moved(x, path, oom);

        return s != NULL;
}

static bool set_moved(const struct xform *x, json_t *obj, const char *key, const char *fallback,
                      bool *oom) {
        const char *old = json_string_value(json_object_get(obj, key));
        _cleanup_free_ char *s = moved(x, old ? old : fallback, oom);

        if (!s)
                return false;
        if (json_object_set_new(obj, key, json_string(s)) < 0)
                *oom = true;
        return true;
}

/* A hook argument: a path, or "A::B" (a link, B the container path). */
static void move_arg(const struct xform *x, json_t *args, size_t i, bool *oom) {
        const char *a = json_string_value(json_array_get(args, i));
        const char *sep = a ? strstr(a, "::") : NULL;
        _cleanup_free_ char *m = moved(x, sep ? sep + 2 : a, oom), *s = NULL;

        if (!m)
                return;
        if (sep && asprintf(&s, "%.*s::%s", (int) (sep - a), a, m) < 0)
                *oom = true;
        else if (json_array_set_new(args, i, json_string(sep ? s : m)) < 0)
                *oom = true;
}

static void move_edits(const struct xform *x, json_t *e, bool container, bool *oom) {
        size_t i;
        json_t *v;

        json_array_foreach(json_object_get(e, "mounts"), i, v)
                set_moved(x, v, container ? "containerPath" : "hostPath", NULL, oom);
        json_array_foreach(json_object_get(e, "deviceNodes"), i, v) {
                const char *path = json_string_value(json_object_get(v, "path"));
                if (!container) {
                        set_moved(x, v, "hostPath", path, oom);
                        continue;
                }
                /* The node keeps its host path when only the container's moves. */
                if (!json_object_get(v, "hostPath") && is_moved(x, path, oom) &&
                    json_object_set_new(v, "hostPath", json_string(path)) < 0)
                        *oom = true;
                set_moved(x, v, "path", NULL, oom);
        }
        json_array_foreach(json_object_get(e, "hooks"), i, v) {
                json_t *args = json_object_get(v, "args");
                if (!container) {
                        set_moved(x, v, "path", NULL, oom);
                        continue;
                }
                for (size_t k = 1; k < json_array_size(args); k++)
                        move_arg(x, args, k, oom);
        }
}

int cdi_transform_root(json_t *spec, const char *from, const char *to, bool container,
                       struct nctk_error **err) {
        struct xform x = {.from = from, .to = to, .from_len = strlen(from)};
        bool oom = false;
        size_t i;
        json_t *d;

        if (from[0] != '/' || to[0] != '/')
                return nctk_error_set(err, EINVAL, "--from and --to must be absolute paths");
        while (x.from_len > 1 && from[x.from_len - 1] == '/')
                x.from_len--;
        move_edits(&x, json_object_get(spec, "containerEdits"), container, &oom);
        json_array_foreach(json_object_get(spec, "devices"), i, d)
                move_edits(&x, json_object_get(d, "containerEdits"), container, &oom);
        /* A hostPath added to a device node needs 0.5.0; a spec already newer stays so. */
        if (!oom &&
            strcmp(cdi_min_version(spec),
                   json_string_value(json_object_get(spec, "cdiVersion")) ?: "") > 0 &&
            json_object_set_new(spec, "cdiVersion", json_string(cdi_min_version(spec))) < 0)
                oom = true;
        return oom ? nctk_error_set(err, ENOMEM, "out of memory") : 0;
}
