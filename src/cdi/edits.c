/* A CDI device's containerEdits as plan edits (mounts, nodes, cgroup rules: the same back-end as
 * nctk's own devices, so the same safety rule decides who makes them) plus the env, hooks and
 * gids that only CDI has. Conflicts between devices are refused before anything is written. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "cdi/resolve.h"
#include "util/macros.h"
#include "util/strv.h"

struct collect {
        struct edits *e;
        struct cdi_extra *x;
        json_t *claims; /* "env:K", "mount:/path", "node:/dev/x" -> [value, owner] */
        unsigned seq;
        struct nctk_error **err;
};

/* Who asked, for the conflict line: a CDI device by name, or nctk's own devices (OWNER ""). */
static char *owner_text(const char *owner) {
        char *s;

        if (!*owner)
                return strdup("nctk's own devices (built-in names)");
        return asprintf(&s, "CDI device '%s'", owner) < 0 ? NULL : s;
}

/* Records that OWNER wants KEY to be VALUE; 1 when new, 0 when the same claim was made before,
 * -EINVAL when another owner wants another value. */
static int claim(struct collect *c, const char *key, const char *value, const char *owner) {
        json_t *prev = json_object_get(c->claims, key);
        _cleanup_free_ char *a = NULL, *b = NULL;
        const char *pv, *po;

        if (!prev)
                return json_object_set_new(c->claims, key, json_pack("[ss]", value, owner)) < 0
                               ? nctk_error_set(c->err, ENOMEM, "out of memory")
                               : 1;
        pv = json_string_value(json_array_get(prev, 0));
        po = json_string_value(json_array_get(prev, 1));
        if (STREQ(pv, value))
                return 0;
        a = owner_text(po);
        b = owner_text(owner);
        if (!a || !b)
                return nctk_error_set(c->err, ENOMEM, "out of memory");
        return nctk_error_set(c->err, EINVAL,
                              "%s and %s conflict: %s is %s for one and %s for the other; "
                              "request only one of them or fix their specs",
                              a, b, strchr(key, ':') + 1, pv, value);
}

/* "'/host/path' (ro,nosuid)": what a mount claims, so that the same path with other options
 * is a conflict too (one of the two would be silently lost). */
static char *mount_value(const char *src, unsigned flags) {
        char *s;

        if (asprintf(&s, "'%s' (%s%s%s%s%s)", src, flags & MOUNT_RDONLY ? "ro" : "rw",
                     flags & MOUNT_NOSUID ? ",nosuid" : "", flags & MOUNT_NODEV ? ",nodev" : "",
                     flags & MOUNT_NOEXEC ? ",noexec" : "", "") < 0)
                return NULL;
        return s;
}

static char *quoted(const char *v) {
        char *s;

        return asprintf(&s, "'%s'", v) < 0 ? NULL : s;
}

static int add_env(struct collect *c, json_t *env, const char *owner) {
        json_t *v;
        size_t i;

        json_array_foreach(env, i, v) {
                const char *s = json_string_value(v), *eq = s ? strchr(s, '=') : NULL;
                _cleanup_free_ char *key = NULL, *val = NULL;
                int r;

                if (!eq)
                        return nctk_error_set(c->err, EINVAL,
                                              "CDI device '%s': env entry %zu is not NAME=VALUE",
                                              owner, i);
                val = quoted(eq + 1);
                if (!val || asprintf(&key, "env:%.*s", (int) (eq - s), s) < 0)
                        return nctk_error_set(c->err, ENOMEM, "out of memory");
                r = claim(c, key, val, owner);
                if (r > 0 && json_array_append(c->x->env, v) < 0)
                        return nctk_error_set(c->err, ENOMEM, "out of memory");
                if (r < 0)
                        return r;
        }
        return 0;
}

static unsigned mount_flags(const json_t *opts) {
        unsigned f = 0;
        json_t *o;
        size_t i;

        json_array_foreach(opts, i, o) {
                const char *s = json_string_value(o);

                if (!s)
                        continue;
                f |= STREQ(s, "ro") ? MOUNT_RDONLY : 0;
                f |= STREQ(s, "nosuid") ? MOUNT_NOSUID : 0;
                f |= STREQ(s, "nodev") ? MOUNT_NODEV : 0;
                f |= STREQ(s, "noexec") ? MOUNT_NOEXEC : 0;
        }
        return f;
}

static int add_mounts(struct collect *c, json_t *mounts, const char *owner) {
        json_t *m;
        size_t i;

        json_array_foreach(mounts, i, m) {
                const char *src = json_string_value(json_object_get(m, "hostPath"));
                const char *dst = json_string_value(json_object_get(m, "containerPath"));
                _cleanup_free_ char *key = NULL, *val = NULL;
                unsigned flags = mount_flags(json_object_get(m, "options"));
                struct edit_mount *nm;
                int r;

                if (!src || !dst || dst[0] != '/')
                        return nctk_error_set(c->err, EINVAL,
                                              "CDI device '%s': mount %zu needs hostPath and an "
                                              "absolute containerPath",
                                              owner, i);
                if (asprintf(&key, "mount:%s", dst) < 0 || !(val = mount_value(src, flags)))
                        return nctk_error_set(c->err, ENOMEM, "out of memory");
                r = claim(c, key, val, owner);
                if (r < 0)
                        return r;
                if (r == 0)
                        continue; /* the same mount once */
                nm = realloc(c->e->mounts, (c->e->n_mounts + 1) * sizeof(*nm));
                if (!nm)
                        return nctk_error_set(c->err, ENOMEM, "out of memory");
                c->e->mounts = nm;
                nm += c->e->n_mounts;
                *nm = (struct edit_mount){.source = strdup(src),
                                          .target = strdup(dst),
                                          .flags = flags,
                                          .kind = EDIT_CONFIG,
                                          .seq = c->seq++};
                c->e->n_mounts++;
                if (!nm->source || !nm->target)
                        return nctk_error_set(c->err, ENOMEM, "out of memory");
        }
        return 0;
}

/* The node's numbers: the spec's, or the host node's when the spec gives none. */
static int node_numbers(struct collect *c, json_t *n, const char *host, const char *owner,
                        unsigned *maj, unsigned *min, mode_t *mode) {
        json_t *jmaj = json_object_get(n, "major"), *jmin = json_object_get(n, "minor");
        json_t *jmode = json_object_get(n, "fileMode");
        struct stat st;

        *mode = json_is_integer(jmode) ? (mode_t) json_integer_value(jmode) : 0666;
        if (json_is_integer(jmaj) && json_is_integer(jmin)) {
                *maj = (unsigned) json_integer_value(jmaj);
                *min = (unsigned) json_integer_value(jmin);
                return 0;
        }
        if (stat(host, &st) < 0 || !S_ISCHR(st.st_mode))
                return nctk_error_set(c->err, ENODEV,
                                      "CDI device '%s': '%s' is not a character device on this "
                                      "host and the spec gives no major/minor",
                                      owner, host);
        *maj = major(st.st_rdev);
        *min = minor(st.st_rdev);
        if (!json_is_integer(jmode))
                *mode = st.st_mode & 07777;
        return 0;
}

static int add_node(struct collect *c, json_t *n, const char *owner) {
        const char *path = json_string_value(json_object_get(n, "path"));
        const char *host = json_string_value(json_object_get(n, "hostPath"));
        _cleanup_free_ char *key = NULL, *val = NULL;
        unsigned maj = 0, min = 0;
        mode_t mode;
        struct edit_node *nn;
        struct edit_rule *nr;
        int r;

        if (!path || path[0] != '/')
                return nctk_error_set(c->err, EINVAL,
                                      "CDI device '%s': a device node needs an absolute path",
                                      owner);
        host = host ? host : path;
        r = node_numbers(c, n, host, owner, &maj, &min, &mode);
        if (r < 0)
                return r;
        if (asprintf(&key, "node:%s", path) < 0 || asprintf(&val, "%u:%u", maj, min) < 0)
                return nctk_error_set(c->err, ENOMEM, "out of memory");
        r = claim(c, key, val, owner);
        if (r <= 0)
                return r;
        nn = realloc(c->e->nodes, (c->e->n_nodes + 1) * sizeof(*nn));
        if (!nn)
                return nctk_error_set(c->err, ENOMEM, "out of memory");
        c->e->nodes = nn;
        nn += c->e->n_nodes++;
        *nn = (struct edit_node){.source = strdup(host),
                                 .target = strdup(path),
                                 .major = maj,
                                 .minor = min,
                                 .mode = mode,
                                 .kind = EDIT_GPU,
                                 .seq = c->seq++};
        if (!nn->source || !nn->target)
                return nctk_error_set(c->err, ENOMEM, "out of memory");
        nr = realloc(c->e->rules, (c->e->n_rules + 1) * sizeof(*nr));
        if (!nr)
                return nctk_error_set(c->err, ENOMEM, "out of memory");
        c->e->rules = nr;
        c->e->rules[c->e->n_rules++] = (struct edit_rule){
                .type = 'c', .major = (int) maj, .minor = (int) min, .access = 3};
        return 0;
}

static int add_hooks(struct collect *c, json_t *hooks, const char *owner) {
        json_t *h;
        size_t i;

        json_array_foreach(hooks, i, h) {
                const char *name = json_string_value(json_object_get(h, "hookName"));
                json_t *list, *copy;

                if (!name || !json_string_value(json_object_get(h, "path")))
                        return nctk_error_set(c->err, EINVAL,
                                              "CDI device '%s': hook %zu needs hookName and path",
                                              owner, i);
                list = json_object_get(c->x->hooks, name);
                if (!list && json_object_set_new(c->x->hooks, name, list = json_array()) < 0)
                        return nctk_error_set(c->err, ENOMEM, "out of memory");
                copy = json_deep_copy(h);
                if (!copy || json_object_del(copy, "hookName") < 0 ||
                    json_array_append_new(list, copy) < 0)
                        return nctk_error_set(c->err, ENOMEM, "out of memory");
        }
        return 0;
}

/* Several devices of one group (a video group, render) ask for it once each: the kernel takes
 * a gid once, and a duplicate in config.json only makes the list longer. */
static bool gid_in(const json_t *gids, const json_t *gid) {
        json_t *g;
        size_t i;

        json_array_foreach(gids, i, g) {
                if (json_equal(g, (json_t *) gid))
                        return true;
        }
        return false;
}

static int add_container_edits(struct collect *c, const json_t *ce, const char *owner) {
        json_t *n;
        size_t i;
        int r;

        if (!ce)
                return 0;
        r = add_env(c, json_object_get(ce, "env"), owner);
        r = r < 0 ? r : add_mounts(c, json_object_get(ce, "mounts"), owner);
        json_array_foreach(json_object_get(ce, "deviceNodes"), i, n) {
                if (r >= 0)
                        r = add_node(c, n, owner);
        }
        r = r < 0 ? r : add_hooks(c, json_object_get(ce, "hooks"), owner);
        json_array_foreach(json_object_get(ce, "additionalGids"), i, n) {
                if (r >= 0 && !gid_in(c->x->gids, n) && json_array_append(c->x->gids, n) < 0)
                        r = nctk_error_set(c->err, ENOMEM, "out of memory");
        }
        return r;
}

static unsigned next_seq(const struct edits *e) {
        unsigned s = 0;

        for (size_t i = 0; i < e->n_mounts; i++)
                s = e->mounts[i].seq >= s ? e->mounts[i].seq + 1 : s;
        for (size_t i = 0; i < e->n_nodes; i++)
                s = e->nodes[i].seq >= s ? e->nodes[i].seq + 1 : s;
        return s;
}

/* nctk's own devices' mounts and nodes, already in E, claimed first: a spec's mount of the same
 * container path is then merged when it is the same, and a conflict otherwise, instead of being
 * dropped by spec_apply_edits() without a word. */
static int claim_builtin(struct collect *c) {
        for (size_t i = 0; i < c->e->n_mounts; i++) {
                const struct edit_mount *m = &c->e->mounts[i];
                _cleanup_free_ char *key = NULL, *val = mount_value(m->source, m->flags);

                if (!val || asprintf(&key, "mount:%s", m->target) < 0)
                        return nctk_error_set(c->err, ENOMEM, "out of memory");
                if (!json_object_get(c->claims, key) &&
                    json_object_set_new(c->claims, key, json_pack("[ss]", val, "")) < 0)
                        return nctk_error_set(c->err, ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < c->e->n_nodes; i++) {
                const struct edit_node *n = &c->e->nodes[i];
                _cleanup_free_ char *key = NULL, *val = NULL;

                if (asprintf(&key, "node:%s", n->target) < 0 ||
                    asprintf(&val, "%u:%u", n->major, n->minor) < 0)
                        return nctk_error_set(c->err, ENOMEM, "out of memory");
                if (!json_object_get(c->claims, key) &&
                    json_object_set_new(c->claims, key, json_pack("[ss]", val, "")) < 0)
                        return nctk_error_set(c->err, ENOMEM, "out of memory");
        }
        return 0;
}

int cdi_edits_collect(const struct cdi_registry *r, char *const *names, struct edits *e,
                      struct cdi_extra *x, struct nctk_error **err) {
        struct collect c = {
                .e = e, .x = x, .claims = json_object(), .seq = next_seq(e), .err = err};
        json_t *specs_done = json_object();
        int rr = 0;

        *x = (struct cdi_extra){json_array(), json_object(), json_array()};
        if (!c.claims || !specs_done || !x->env || !x->hooks || !x->gids)
                rr = nctk_error_set(err, ENOMEM, "out of memory");
        if (rr >= 0 && names && names[0])
                rr = claim_builtin(&c);
        for (size_t i = 0; rr >= 0 && names && names[i]; i++) {
                const json_t *spec = NULL;
                const char *file = NULL;
                const json_t *dev = cdi_registry_find(r, names[i], &spec, &file);

                if (!dev)
                        continue;
                /* The spec's own edits once, however many of its devices are asked for. */
                if (!json_object_get(specs_done, file)) {
                        json_object_set_new(specs_done, file, json_true());
                        rr = add_container_edits(&c, json_object_get(spec, "containerEdits"),
                                                 names[i]);
                }
                if (rr >= 0)
                        rr = add_container_edits(&c, json_object_get(dev, "containerEdits"),
                                                 names[i]);
        }
        json_decref(c.claims);
        json_decref(specs_done);
        return rr;
}

void cdi_extra_release(struct cdi_extra *x) {
        json_decref(x->env);
        json_decref(x->hooks);
        json_decref(x->gids);
        *x = (struct cdi_extra){};
}

static json_t *object_child(json_t *parent, const char *key, json_t *(*make)(void) ) {
        json_t *v = json_object_get(parent, key);

        if (!v && json_object_set_new(parent, key, v = make()) < 0)
                return NULL;
        return v;
}

static int apply_env(json_t *config, const json_t *env) {
        json_t *process = object_child(config, "process", json_object);
        json_t *cenv = process ? object_child(process, "env", json_array) : NULL;
        json_t *v;
        size_t i;

        if (!json_is_array(cenv))
                return -EINVAL;
        json_array_foreach(env, i, v) {
                const char *s = json_string_value(v);
                size_t klen = (size_t) (strchr(s, '=') - s) + 1;

                for (size_t j = json_array_size(cenv); j-- > 0;) {
                        const char *o = json_string_value(json_array_get(cenv, j));
                        if (o && strncmp(o, s, klen) == 0)
                                json_array_remove(cenv, j);
                }
                if (json_array_append(cenv, v) < 0)
                        return -ENOMEM;
        }
        return 0;
}

int cdi_extra_apply(json_t *config, const struct cdi_extra *x, struct nctk_error **err) {
        const char *name;
        json_t *list, *hooks, *user, *gids, *g;
        size_t i;

        if (apply_env(config, x->env) < 0)
                return nctk_error_set(err, EINVAL, "config.json: process.env is not an array");
        hooks = json_object_size(x->hooks) ? object_child(config, "hooks", json_object) : NULL;
        json_object_foreach(x->hooks, name, list) {
                json_t *to = hooks ? object_child(hooks, name, json_array) : NULL;
                if (!json_is_array(to) || json_array_extend(to, list) < 0)
                        return nctk_error_set(err, EINVAL, "config.json: hooks.%s is not an array",
                                              name);
        }
        if (!json_array_size(x->gids))
                return 0;
        user = object_child(object_child(config, "process", json_object), "user", json_object);
        gids = user ? object_child(user, "additionalGids", json_array) : NULL;
        if (!json_is_array(gids))
                return nctk_error_set(err, EINVAL,
                                      "config.json: process.user.additionalGids is not an array");
        json_array_foreach(x->gids, i, g) {
                if (!gid_in(gids, g) && json_array_append(gids, g) < 0)
                        return nctk_error_set(err, ENOMEM, "out of memory");
        }
        return 0;
}
