/* spec_apply_edits() and its helpers: the edits of a container, written into its bundle's
 * config.json. Only what we add is touched: every other field, known to us or not, stays as it
 * was (a jansson object comes in, the same object goes out). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "5-apply/hook-mounts.h"
#include "5-apply/spec.h"
#include "util/fileio.h"
#include "util/macros.h"
#include "util/strv.h"

static int oom(struct nctk_error **err) {
        return nctk_error_set(err, ENOMEM, "out of memory");
}

/* PARENT[KEY], created as an empty object or array (TYPE) when missing. */
static int child(json_t *parent, const char *path, const char *key, json_type type, json_t **ret,
                 struct nctk_error **err) {
        json_t *c = json_object_get(parent, key);

        if (!c) {
                c = type == JSON_ARRAY ? json_array() : json_object();
                if (!c || json_object_set_new(parent, key, c) < 0)
                        return oom(err);
        } else if (json_typeof(c) != type)
                return nctk_error_set(err, EINVAL, "config.json: '%s' is not an %s", path,
                                      type == JSON_ARRAY ? "array" : "object");
        *ret = c;
        return 0;
}

/* Appends ITEM (a new reference, or NULL when building it failed: out of memory, or a string
 * that is not UTF-8) to ARRAY. WHAT names it in the error. */
static int append(json_t *array, json_t *item, const char *what, struct nctk_error **err) {
        /* json_array_append_new() consumes ITEM even when it fails. */
        if (!item || json_array_append_new(array, item) < 0)
                return nctk_error_set(
                        err, item ? ENOMEM : EINVAL,
                        "cannot add '%s' to config.json (not UTF-8, or out of memory)", what);
        return 0;
}

static const char *str_field(const json_t *o, const char *key) {
        return json_string_value(json_object_get(o, key));
}

static bool has_entry(const json_t *array, const char *key, const char *value) {
        size_t i;
        json_t *v = NULL;

        json_array_foreach(array, i, v) {
                const char *s = str_field(v, key);
                if (s && STREQ(s, value))
                        return true;
        }
        return false;
}

/* ---- mounts ---------------------------------------------------------------------------------- */

static bool is_proc_target(const char *target) {
        return startswith(target, "/proc/");
}

int spec_mount_flag_options(json_t *opts, unsigned mount_flags) {
        static const struct {
                unsigned flag;
                const char *opt;
        } flags[] = {
                {MOUNT_RDONLY, "ro"},
                {MOUNT_NOSUID, "nosuid"},
                {MOUNT_NODEV, "nodev"},
                {MOUNT_NOEXEC, "noexec"},
        };

        for (size_t i = 0; i < ELEMENTSOF(flags); i++)
                if ((mount_flags & flags[i].flag) &&
                    json_array_append_new(opts, json_string(flags[i].opt)) < 0)
                        return -ENOMEM;
        return 0;
}

static json_t *mount_json(const struct edit_mount *m) {
        json_auto_t *opts = json_pack("[s]", "bind");

        if (opts && spec_mount_flag_options(opts, m->flags) < 0)
                return NULL;
        return opts ? json_pack("{s:s, s:s, s:s, s:O}", "destination", m->target, "type", "bind",
                                "source", m->source, "options", opts)
                    : NULL;
}

static int add_mounts(json_t *spec, const struct edits *e, struct nctk_error **err) {
        json_t *mounts = NULL;
        int r;

        r = child(spec, "mounts", "mounts", JSON_ARRAY, &mounts, err);
        for (size_t i = 0; r >= 0 && i < e->n_mounts; i++) {
                const struct edit_mount *m = &e->mounts[i];

                if (is_proc_target(m->target) || has_entry(mounts, "destination", m->target))
                        continue;
                r = append(mounts, mount_json(m), m->target, err);
        }
        return r;
}

/* ---- device nodes and cgroup rules -------------------------------------------------------- */

static int add_nodes(json_t *spec, const struct edits *e, struct nctk_error **err) {
        json_t *linux_ = NULL, *devices = NULL;
        int r;

        r = child(spec, "linux", "linux", JSON_OBJECT, &linux_, err);
        r = r < 0 ? r : child(linux_, "linux.devices", "devices", JSON_ARRAY, &devices, err);
        for (size_t i = 0; r >= 0 && i < e->n_nodes; i++) {
                const struct edit_node *n = &e->nodes[i];

                if (has_entry(devices, "path", n->target))
                        continue;
                r = append(devices,
                           json_pack("{s:s, s:s, s:I, s:I, s:I, s:i, s:i}", "path", n->target,
                                     "type", "c", "major", (json_int_t) n->major, "minor",
                                     (json_int_t) n->minor, "fileMode",
                                     (json_int_t) (n->mode & 07777), "uid", 0, "gid", 0),
                           n->target, err);
        }
        return r;
}

static void access_string(unsigned access, char buf[4]) {
        size_t n = 0;

        if (access & 1)
                buf[n++] = 'r';
        if (access & 2)
                buf[n++] = 'w';
        if (access & 4)
                buf[n++] = 'm';
        buf[n] = '\0';
}

static bool rule_equal(const json_t *v, const struct edit_rule *rule, const char *access) {
        const char *type = str_field(v, "type"), *acc = str_field(v, "access");
        json_t *major = json_object_get(v, "major"), *minor = json_object_get(v, "minor");

        return json_is_true(json_object_get(v, "allow")) && type && type[0] == rule->type &&
               !type[1] && json_is_integer(major) && json_integer_value(major) == rule->major &&
               json_is_integer(minor) && json_integer_value(minor) == rule->minor && acc &&
               STREQ(acc, access);
}

/* Device rules are evaluated in order, the last match winning: an identical allow counts only
 * if no deny comes after it. */
static bool has_rule(const json_t *rules, const struct edit_rule *rule, const char *access) {
        size_t first = 0, i;
        json_t *v = NULL;

        json_array_foreach(rules, i, v) if (json_is_false(json_object_get(v, "allow"))) first =
                i + 1;
        for (i = first; i < json_array_size(rules); i++)
                if (rule_equal(json_array_get(rules, i), rule, access))
                        return true;
        return false;
}

static int add_rules(json_t *spec, const struct edits *e, struct nctk_error **err) {
        json_t *linux_ = NULL, *res = NULL, *rules = NULL;
        int r;

        if (e->n_rules == 0)
                return 0;
        r = child(spec, "linux", "linux", JSON_OBJECT, &linux_, err);
        r = r < 0 ? r : child(linux_, "linux.resources", "resources", JSON_OBJECT, &res, err);
        r = r < 0 ? r : child(res, "linux.resources.devices", "devices", JSON_ARRAY, &rules, err);
        for (size_t i = 0; r >= 0 && i < e->n_rules; i++) {
                const struct edit_rule *rule = &e->rules[i];
                char access[4], type[2] = {rule->type, '\0'};

                access_string(rule->access, access);
                if (has_rule(rules, rule, access))
                        continue;
                r = append(rules,
                           json_pack("{s:b, s:s, s:I, s:I, s:s}", "allow", 1, "type", type, "major",
                                     (json_int_t) rule->major, "minor", (json_int_t) rule->minor,
                                     "access", access),
                           "device rule", err);
        }
        return r;
}

/* ---- hooks ---------------------------------------------------------------------------------- */

static const char *base_of(const char *p) {
        const char *s = strrchr(p, '/');

        return s ? s + 1 : p;
}

static bool is_nvidia_name(const char *p) {
        return p && (STREQ(base_of(p), "nvidia-container-runtime-hook") ||
                     STREQ(base_of(p), "nvidia-container-toolkit"));
}

bool spec_is_nvidia_hook(const json_t *hook) {
        return is_nvidia_name(str_field(hook, "path")) ||
               is_nvidia_name(json_string_value(json_array_get(json_object_get(hook, "args"), 0)));
}

static json_t *hooks_of(const json_t *spec, const char *stage) {
        return json_object_get(json_object_get(spec, "hooks"), stage);
}

bool spec_has_nvidia_hook(const json_t *spec) {
        json_t *hooks = hooks_of(spec, "prestart"), *h;
        size_t i;

        json_array_foreach(hooks, i, h) if (spec_is_nvidia_hook(h)) return true;
        return false;
}

static int remove_hooks(json_t *hooks, bool (*match)(const json_t *)) {
        int n = 0;

        for (size_t i = json_array_size(hooks); i > 0; i--)
                if (match(json_array_get(hooks, i - 1))) {
                        json_array_remove(hooks, i - 1);
                        n++;
                }
        return n;
}

int spec_remove_nvidia_hooks(json_t *spec) {
        return remove_hooks(hooks_of(spec, "prestart"), spec_is_nvidia_hook);
}

static int stage_hooks(json_t *spec, const char *stage, json_t **ret, struct nctk_error **err) {
        json_t *hooks = NULL;
        int r = child(spec, "hooks", "hooks", JSON_OBJECT, &hooks, err);

        return r < 0 ? r : child(hooks, stage, stage, JSON_ARRAY, ret, err);
}

int spec_add_legacy_hook(json_t *spec, const char *hook_path, char *const *env,
                         struct nctk_error **err) {
        json_auto_t *jenv = json_array();
        json_t *prestart = NULL;
        int r = jenv ? 0 : oom(err);

        for (size_t i = 0; r >= 0 && env && env[i]; i++)
                r = append(jenv, json_string(env[i]), env[i], err);
        r = r < 0 ? r : stage_hooks(spec, "prestart", &prestart, err);
        if (r < 0)
                return r;
        return append(prestart,
                      json_pack("{s:s, s:[s, s], s:O}", "path", hook_path, "args",
                                "nvidia-container-runtime-hook", "prestart", "env", jenv),
                      hook_path, err);
}

static bool is_finalize_hook(const json_t *hook) {
        const char *a1 = json_string_value(json_array_get(json_object_get(hook, "args"), 1));

        return a1 && STREQ(a1, SPEC_HOOK_FINALIZE);
}

static int arg2(json_t *args, const char *opt, const char *value) {
        if (json_array_append_new(args, json_string(opt)) < 0 ||
            json_array_append_new(args, json_string(value)) < 0)
                return -ENOMEM;
        return 0;
}

/* "A::B", the separator nvidia-cdi-hook uses for its links. */
static int arg_pair(json_t *args, const char *opt, const char *a, const char *b) {
        _cleanup_free_ char *s = NULL;

        if (asprintf(&s, "%s::%s", a, b) < 0)
                return -ENOMEM;
        return arg2(args, opt, s);
}

static int finalize_args(json_t *args, const json_t *spec, const struct edits *e,
                         const struct spec_opts *o, bool *ret_any) {
        int r = 0;

        for (size_t i = 0; r >= 0 && i < e->n_mounts; i++)
                if (is_proc_target(e->mounts[i].target)) {
                        r = arg_pair(args, "--proc-mount", e->mounts[i].source,
                                     e->mounts[i].target);
                        *ret_any = true;
                }
        if (r >= 0 && e->mask_proc) {
                r = arg2(args, "--proc-root", o->proc_root ? o->proc_root : "/proc");
                r = r < 0 ? r : json_array_append_new(args, json_string("--mask-proc"));
                for (size_t i = 0; r >= 0 && i < e->n_proc_gpus; i++)
                        r = arg2(args, "--proc-gpu", e->proc_gpus[i]);
                *ret_any = true;
        }
        if (r >= 0 && o->mounts_in_hook)
                r = hook_mounts_args(args, spec, e, ret_any);
        for (size_t i = 0; r >= 0 && i < e->n_links; i++) {
                r = arg_pair(args, "--link", e->links[i].target, e->links[i].path);
                *ret_any = true;
        }
        for (size_t i = 0; r >= 0 && i < e->n_ldcache_dirs; i++) {
                r = arg2(args, "--ldcache-dir", e->ldcache_dirs[i]);
                *ret_any = true;
        }
        for (size_t i = 0; r >= 0 && i < json_array_size(o->cdi_hooks); i++) {
                _cleanup_free_ char *step =
                        json_dumps(json_array_get(o->cdi_hooks, i), JSON_COMPACT);

                r = step ? arg2(args, "--cdi-hook", step) : -ENOMEM;
                *ret_any = true;
        }
        return r < 0 ? -ENOMEM : 0;
}

static int add_finalize_hook(json_t *spec, const struct edits *e, const struct spec_opts *o,
                             struct nctk_error **err) {
        json_auto_t *args = json_pack("[s, s]", "nctk", SPEC_HOOK_FINALIZE);
        json_t *hooks = NULL;
        bool any = false;
        int r;

        if (!args || finalize_args(args, spec, e, o, &any) < 0 ||
            json_array_append_new(args, json_string(o->rootfs)) < 0)
                return oom(err);
        r = stage_hooks(spec, "createContainer", &hooks, err);
        if (r < 0)
                return r;
        remove_hooks(hooks, is_finalize_hook);
        if (!any)
                return 0;
        return append(hooks,
                      json_pack("{s:s, s:O, s:[s]}", "path", o->hook_path, "args", args, "env",
                                SPEC_HOOK_PATH_ENV),
                      o->hook_path, err);
}

/* NAME=VALUE into process.env, every earlier NAME= removed: ours over the image's. */
int spec_setenv(json_t *spec, const char *entry, struct nctk_error **err) {
        const char *eq = strchr(entry, '=');
        json_t *process = NULL, *env = NULL, *v;
        size_t i;
        int r;

        if (!eq)
                return nctk_error_set(err, EINVAL, "'%s' is not NAME=VALUE", entry);
        r = child(spec, "process", "process", JSON_OBJECT, &process, err);
        r = r < 0 ? r : child(process, "process.env", "env", JSON_ARRAY, &env, err);
        if (r < 0)
                return r;
        for (i = json_array_size(env); i-- > 0;) {
                const char *s = json_string_value(v = json_array_get(env, i));
                if (s && strncmp(s, entry, (size_t) (eq - entry + 1)) == 0)
                        json_array_remove(env, i);
        }
        return append(env, json_string(entry), entry, err);
}

static int add_env(json_t *spec, const struct edits *e, struct nctk_error **err) {
        int r = 0;

        for (size_t i = 0; r >= 0 && i < e->n_env; i++)
                r = spec_setenv(spec, e->env[i], err);
        return r;
}

int spec_apply_edits(json_t *spec, const struct edits *e, const struct spec_opts *o,
                     struct nctk_error **err) {
        int r;

        if (!json_is_object(spec))
                return nctk_error_set(err, EINVAL, "config.json: not a JSON object");
        if (!o->hook_path || o->hook_path[0] != '/' || !o->rootfs || o->rootfs[0] != '/')
                return nctk_error_set(err, EINVAL, "the hook path and the rootfs must be absolute");
        /* A runtime not trusted with the targets gets neither: our hook makes them. */
        r = o->mounts_in_hook ? 0 : add_mounts(spec, e, err);
        r = r < 0 || o->mounts_in_hook ? r : add_nodes(spec, e, err);
        r = r < 0 || o->no_cgroups ? r : add_rules(spec, e, err);
        r = r < 0 ? r : add_env(spec, e, err);
        r = r < 0 ? r : add_finalize_hook(spec, e, o, err);
        return r;
}

/* ---- environment ------------------------------------------------------------------------------
 */

const char *spec_getenv(const json_t *spec, const char *name) {
        json_t *env = json_object_get(json_object_get(spec, "process"), "env"), *v;
        size_t len = strlen(name), i;
        const char *found = NULL;

        json_array_foreach(env, i, v) {
                const char *s = json_string_value(v);
                if (s && strncmp(s, name, len) == 0 && s[len] == '=')
                        found = s + len + 1;
        }
        return found;
}
