/* The plan rendered as docker run arguments (docker-args.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "5-apply/docker-args.h"
#include "util/macros.h"
#include "util/strv.h"

#define MAX_LINK_HOPS 8

static void words_release(struct docker_words *l) {
        for (size_t i = 0; i < l->n; i++)
                free(l->v[i]);
        free(l->v);
        *l = (struct docker_words){};
}

static int words_take(struct docker_words *l, char *s) {
        char **slot = s ? ARRAY_PUSH(l->v, l->n) : NULL;

        if (!slot) {
                free(s);
                return -ENOMEM;
        }
        *slot = s;
        return 0;
}

static char *strjoin3(const char *a, const char *b, const char *c) {
        char *s;

        return asprintf(&s, "%s%s%s", a, b, c) < 0 ? NULL : s;
}

/* Docker splits --device and --volume at ':'; a path with one cannot be said. */
static bool sayable(struct docker_args *a, const char *path) {
        if (!strchr(path, ':'))
                return true;
        a->bad_path = path;
        return false;
}

static bool has_target(const struct docker_words *volumes, const char *target) {
        size_t n = strlen(target);

        for (size_t i = 0; i < volumes->n; i++) {
                const char *t = strchr(volumes->v[i], ':') + 1;
                if (strncmp(t, target, n) == 0 && (t[n] == ':' || t[n] == '\0'))
                        return true;
        }
        return false;
}

static int add_volume(struct docker_args *a, const char *src, const char *dst, bool ro) {
        char *s;

        if (!sayable(a, src) || !sayable(a, dst))
                return -EINVAL;
        if (has_target(&a->volumes, dst))
                return 0; /* docker refuses two mounts at one path; the plan's first wins */
        if (asprintf(&s, "%s:%s%s", src, dst, ro ? ":ro" : "") < 0)
                return -ENOMEM;
        return words_take(&a->volumes, s);
}

static int add_device(struct docker_args *a, const struct edit_node *n) {
        char *s;

        if (!sayable(a, n->source) || !sayable(a, n->target))
                return -EINVAL;
        /* rw as the plan's cgroup rule: docker's default rwm would also allow mknod. */
        if (asprintf(&s, "%s:%s:rw", n->source, n->target) < 0)
                return -ENOMEM;
        return words_take(&a->devices, s);
}

static const char *base_name(const char *p) {
        const char *s = strrchr(p, '/');

        return s ? s + 1 : p;
}

/* The name of link L when it sits directly in DIR, else NULL. */
static const char *name_in(const struct edit_link *l, const char *dir) {
        size_t n = strlen(dir);

        if (strncmp(l->path, dir, n) != 0 || l->path[n] != '/' || strchr(l->path + n + 1, '/'))
                return NULL;
        return l->path + n + 1;
}

static const struct edit_link *find_link(const struct edits *e, const char *dir, const char *name) {
        for (size_t i = 0; i < e->n_links; i++) {
                const char *n = name_in(&e->links[i], dir);
                if (n && STREQ(n, name))
                        return &e->links[i];
        }
        return NULL;
}

/* Whether link L leads, through the plan's links in DIR, to the file BASE. */
static bool leads_to(const struct edits *e, const char *dir, const struct edit_link *l,
                     const char *base) {
        const char *t = l->target;

        for (int hops = 0; hops < MAX_LINK_HOPS; hops++) {
                const struct edit_link *next;
                if (STREQ(t, base))
                        return true;
                next = find_link(e, dir, t);
                if (!next)
                        return false;
                t = next->target;
        }
        return false;
}

/* A library under every name the plan links to it (its SONAME, libcuda.so, ...), or under its
 * own name when nothing links to it (its SONAME is its name). */
static int add_library(struct docker_args *a, const struct edits *e, const struct edit_mount *m) {
        const char *base = base_name(m->target),
                   *to = m->kind == EDIT_LIBRARY32 ? DOCKER_ARGS_LIBDIR32 : DOCKER_ARGS_LIBDIR64;
        _cleanup_free_ char *dir = strndup(m->target, (size_t) (base - m->target - 1));
        bool named = false;
        int r = 0;

        if (!dir)
                return -ENOMEM;
        for (size_t i = 0; r >= 0 && i < e->n_links; i++) {
                const char *name = name_in(&e->links[i], dir);
                _cleanup_free_ char *dst = NULL;

                if (!name || !leads_to(e, dir, &e->links[i], base))
                        continue;
                dst = path_join(to, name);
                r = dst ? add_volume(a, m->source, dst, true) : -ENOMEM;
                named = true;
        }
        if (r >= 0 && !named) {
                _cleanup_free_ char *dst = path_join(to, base);
                r = dst ? add_volume(a, m->source, dst, true) : -ENOMEM;
        }
        a->has_lib32 |= m->kind == EDIT_LIBRARY32;
        a->has_lib64 |= m->kind == EDIT_LIBRARY;
        return r;
}

static int add_mount(struct docker_args *a, const struct edits *e, const struct edit_mount *m) {
        if (m->kind == EDIT_LIBRARY || m->kind == EDIT_LIBRARY32)
                return add_library(a, e, m);
        if (STREQ(m->target, "/proc") || startswith(m->target, "/proc/"))
                return 0; /* see the help: docker binds nothing there */
        return add_volume(a, m->source, m->target, m->flags & MOUNT_RDONLY);
}

static int add_env(struct docker_args *a) {
        const char *path = a->has_lib64 && a->has_lib32 ? DOCKER_ARGS_LIBDIR64
                                   ":" DOCKER_ARGS_LIBDIR32
                           : a->has_lib32 ? DOCKER_ARGS_LIBDIR32
                                          : DOCKER_ARGS_LIBDIR64;
        int r = 0;

        if (a->has_lib64 || a->has_lib32)
                r = words_take(&a->env, strjoin3("LD_LIBRARY_PATH", "=", path));
        return r < 0 ? r : words_take(&a->env, strdup("NVIDIA_VISIBLE_DEVICES=void"));
}

int docker_args_build(struct docker_args *a, const struct edits *e) {
        int r = 0;

        for (size_t i = 0; r >= 0 && i < e->n_nodes; i++)
                r = add_device(a, &e->nodes[i]);
        for (size_t i = 0; r >= 0 && i < e->n_mounts; i++)
                r = add_mount(a, e, &e->mounts[i]);
        return r < 0 ? r : add_env(a);
}

void docker_args_release(struct docker_args *a) {
        words_release(&a->devices);
        words_release(&a->volumes);
        words_release(&a->env);
}
