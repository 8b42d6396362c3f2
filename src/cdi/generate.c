/* cdi_generate(): the CDI spec of this host's driver. The plan decides every edit: once with no
 * device selected for what all containers share (control nodes, libraries, binaries, firmware,
 * IPC sockets, links, ld cache folders), once per GPU and MIG device for that device's nodes. The
 * libraries stay at their host paths (containerPath = hostPath) as in NVIDIA's specs, so one spec
 * serves every image; the hooks (nvidia-cdi-hook) make the links and the ld cache inside it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "2-select/select.h"
#include "4-plan/plan.h"
#include "5-apply/spec.h"
#include "cdi/cdi.h"
#include "util/macros.h"
#include "util/strv.h"

struct gen {
        const struct nctk_inventory *inv;
        const struct cdi_generate_opts *o;
        struct container_facts facts;
        char *libdir, *libdir32, *bindir;
        json_t *devices;
        json_t *all_nodes; /* the "all" device's nodes */
};

static int oom(struct nctk_error **err) {
        return nctk_error_set(err, ENOMEM, "out of memory");
}

static const struct {
        unsigned hook;
        const char *name;
} hook_names[] = {
        {CDI_HOOK_CREATE_SYMLINKS, "create-symlinks"},
        {CDI_HOOK_ENABLE_CUDA_COMPAT, "enable-cuda-compat"},
        {CDI_HOOK_UPDATE_LDCACHE, "update-ldcache"},
        {CDI_HOOK_DISABLE_DEVICE_NODE_MODIFICATION, "disable-device-node-modification"},
        {CDI_HOOK_ALL, "all"},
};

unsigned cdi_hook_parse(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(hook_names); i++)
                if (STREQ(name, hook_names[i].name))
                        return hook_names[i].hook;
        return 0;
}

/* ---- where the files go in the container: where they are on the host ----------------------- */

static char *dir_of(const char *path) {
        const char *s = strrchr(path, '/');

        return s && s != path ? strndup(path, (size_t) (s - path)) : strdup("/");
}

static const struct nctk_file *first_lib(const struct nctk_inventory *inv, bool is_32bit,
                                         const char *prefix) {
        for (size_t i = 0; i < inv->n_libs; i++) {
                const char *b = strrchr(inv->libs[i].path, '/');
                if (inv->libs[i].is_32bit == is_32bit &&
                    (!prefix || startswith(b ? b + 1 : inv->libs[i].path, prefix)))
                        return &inv->libs[i];
        }
        return NULL;
}

/* The plan puts each kind of file into one directory; for a spec that is the directory the
 * driver installed it in (libcuda's, nvidia-smi's), as seen inside the driver root. */
static int layout_init(struct gen *g) {
        const struct nctk_file *lib = first_lib(g->inv, false, "libcuda.so");
        const struct nctk_file *lib32 = first_lib(g->inv, true, NULL);

        lib = lib ? lib : first_lib(g->inv, false, NULL);
        container_facts_default(&g->facts);
        g->libdir = lib ? dir_of(lib->path) : strdup(g->facts.layout.libdir);
        g->libdir32 = lib32 ? dir_of(lib32->path) : strdup(g->facts.layout.libdir32);
        g->bindir = g->inv->n_bins ? dir_of(g->inv->bins[0].path) : strdup(g->facts.layout.bindir);
        if (!g->libdir || !g->libdir32 || !g->bindir)
                return -ENOMEM;
        g->facts.layout = (struct container_layout){
                .libdir = g->libdir, .libdir32 = g->libdir32, .bindir = g->bindir};
        g->facts.compat_cuda_major = 0;
        return 0;
}

/* ---- JSON of the edits ------------------------------------------------------------------------
 */

static json_t *node_json(const struct edit_node *n) {
        json_t *o = json_pack("{s:s}", "path", n->target);

        if (o && !STREQ(n->source, n->target) &&
            json_object_set_new(o, "hostPath", json_string(n->source)) < 0)
                return json_decref(o), NULL;
        if (o && (json_object_set_new(o, "type", json_string("c")) < 0 ||
                  json_object_set_new(o, "major", json_integer(n->major)) < 0 ||
                  json_object_set_new(o, "minor", json_integer(n->minor)) < 0))
                return json_decref(o), NULL;
        return o;
}

static bool has_path(const json_t *nodes, const char *path) {
        size_t i;
        json_t *v;

        json_array_foreach(nodes, i, v) {
                const char *p = json_string_value(json_object_get(v, "path"));
                if (p && STREQ(p, path))
                        return true;
        }
        return false;
}

static int add_nodes(json_t *nodes, const struct edits *e, bool device_only) {
        for (size_t i = 0; i < e->n_nodes; i++) {
                const struct edit_node *n = &e->nodes[i];

                if ((n->kind == EDIT_CONTROL) == device_only || has_path(nodes, n->target))
                        continue;
                if (json_array_append_new(nodes, node_json(n)) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static json_t *mount_json(const struct edit_mount *m) {
        json_auto_t *opts = json_array();

        if (!opts || spec_mount_flag_options(opts, m->flags) < 0 ||
            json_array_append_new(opts, json_string("rbind")) < 0 ||
            json_array_append_new(opts, json_string("rprivate")) < 0)
                return NULL;
        return json_pack("{s:s, s:s, s:O}", "hostPath", m->source, "containerPath", m->target,
                         "options", opts);
}

static json_t *hook_json(const struct gen *g, json_t *args) {
        json_t *h;

        if (!args)
                return NULL;
        h = json_pack("{s:s, s:s, s:o, s:[s]}", "hookName", "createContainer", "path",
                      g->o->hook_path, "args", args, "env", "NVIDIA_CTK_DEBUG=false");
        return h;
}

static int push(json_t *arr, json_t *v) {
        return json_array_append_new(arr, v) < 0 ? -ENOMEM : 0;
}

static int push2(json_t *arr, const char *a, const char *b) {
        int r = push(arr, json_string(a));

        return r < 0 ? r : push(arr, json_string(b));
}

/* The GBM backend link that NVIDIA's specs carry when the driver has libnvidia-allocator:
 * DIR/gbm/nvidia-drm_gbm.so -> ../SONAME, beside the allocator's soname link, so that Mesa's
 * libgbm finds the NVIDIA backend in the container. */
static int gbm_link(json_t *args, const struct edits *e) {
        for (size_t i = 0; i < e->n_links; i++) {
                const struct edit_link *l = &e->links[i];
                const char *slash = strrchr(l->path, '/');
                _cleanup_free_ char *pair = NULL;

                if (!startswith(l->target, "libnvidia-allocator.so.") || !slash)
                        continue;
                if (asprintf(&pair, "../%s::%.*s/gbm/nvidia-drm_gbm.so", slash + 1,
                             (int) (slash - l->path), l->path) < 0)
                        return -ENOMEM;
                return push2(args, "--link", pair);
        }
        return 0;
}

static json_t *symlinks_args(const struct edits *e) {
        json_auto_t *args = json_pack("[s, s]", "nvidia-cdi-hook", "create-symlinks");

        if (args && gbm_link(args, e) < 0)
                return NULL;
        for (size_t i = 0; args && i < e->n_links; i++) {
                _cleanup_free_ char *pair = NULL;

                if (asprintf(&pair, "%s::%s", e->links[i].target, e->links[i].path) < 0 ||
                    push2(args, "--link", pair) < 0)
                        return NULL;
        }
        return TAKE_PTR(args);
}

static json_t *ldcache_args(const struct gen *g, const struct edits *e) {
        json_auto_t *args = json_pack("[s, s]", "nvidia-cdi-hook", "update-ldcache");

        if (args && g->o->ldconfig_path && push2(args, "--ldconfig-path", g->o->ldconfig_path) < 0)
                return NULL;
        for (size_t i = 0; args && i < e->n_ldcache_dirs; i++)
                if (push2(args, "--folder", e->ldcache_dirs[i]) < 0)
                        return NULL;
        return TAKE_PTR(args);
}

static int add_hooks(const struct gen *g, json_t *hooks, const struct edits *e) {
        unsigned off = g->o->disabled_hooks;
        _cleanup_free_ char *compat = NULL;
        int r = 0;

        if (!(off & CDI_HOOK_CREATE_SYMLINKS) && e->n_links)
                r = push(hooks, hook_json(g, symlinks_args(e)));
        if (r >= 0 && !(off & CDI_HOOK_ENABLE_CUDA_COMPAT) && (g->o->caps & NCTK_CAP_COMPUTE) &&
            g->inv->driver_version[0]) {
                if (asprintf(&compat, "--host-driver-version=%s", g->inv->driver_version) < 0)
                        return -ENOMEM;
                r = push(hooks, hook_json(g, json_pack("[s, s, s]", "nvidia-cdi-hook",
                                                       "enable-cuda-compat", compat)));
        }
        if (r >= 0 && !(off & CDI_HOOK_UPDATE_LDCACHE) && e->n_ldcache_dirs)
                r = push(hooks, hook_json(g, ldcache_args(g, e)));
        if (r >= 0 && !(off & CDI_HOOK_DISABLE_DEVICE_NODE_MODIFICATION) && e->mask_proc)
                r = push(hooks, hook_json(g, json_pack("[s, s]", "nvidia-cdi-hook",
                                                       "disable-device-node-modification")));
        return r;
}

static const char *libcuda_dir(const struct edits *e) {
        for (size_t i = 0; i < e->n_mounts; i++) {
                const char *b = strrchr(e->mounts[i].target, '/');
                if (e->mounts[i].kind == EDIT_LIBRARY && b && startswith(b + 1, "libcuda.so."))
                        return e->mounts[i].target;
        }
        return NULL;
}

static int add_env(json_t *env, const struct edits *e) {
        const char *cuda = libcuda_dir(e);
        int r = 0;

        if (cuda) {
                _cleanup_free_ char *s = NULL;
                const char *slash = strrchr(cuda, '/');
                if (asprintf(&s, "NVIDIA_CTK_LIBCUDA_DIR=%.*s", (int) (slash - cuda), cuda) < 0)
                        return -ENOMEM;
                r = push(env, json_string(s));
        }
        /* A container with the spec's edits is no GPU container to a legacy hook that might
         * also run: it must not inject a second time. */
        return r < 0 ? r : push(env, json_string("NVIDIA_VISIBLE_DEVICES=void"));
}

/* ---- plans ------------------------------------------------------------------------------------
 */

static int plan_for(const struct gen *g, const char *devices, unsigned caps, struct edits **ret,
                    struct nctk_error **err) {
        struct selection sel = {};
        /* 32-bit libraries whenever the driver has them (the plan's compat32 pass). */
        struct plan_request req = {
                .caps = caps, .sel = &sel, .compat = COMPAT_DISABLED, .compat32 = true};
        int r = selection_parse(g->inv, devices, &sel, err);

        if (r >= 0)
                r = plan_build(g->inv, &req, &g->facts, ret, err);
        selection_release(&sel);
        return r;
}

/* Empty lists are left out, as NVIDIA's specs do. */
static void drop_empty(json_t *edits) {
        static const char *const keys[] = {"env", "deviceNodes", "hooks", "mounts"};

        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                if (json_array_size(json_object_get(edits, keys[i])) == 0)
                        json_object_del(edits, keys[i]);
}

static int common_edits(const struct gen *g, json_t *spec, struct nctk_error **err) {
        struct edits *e = NULL;
        json_t *env = json_array(), *nodes = json_array(), *hooks = json_array();
        json_t *mounts = json_array();
        json_auto_t *edits = json_pack("{s:o, s:o, s:o, s:o}", "env", env, "deviceNodes", nodes,
                                       "hooks", hooks, "mounts", mounts);
        int r = edits ? plan_for(g, "none", g->o->caps, &e, err) : oom(err);

        if (r < 0)
                return r;
        r = add_env(env, e);
        r = r < 0 ? r : add_nodes(nodes, e, false);
        r = r < 0 ? r : add_hooks(g, hooks, e);
        for (size_t i = 0; r >= 0 && i < e->n_mounts; i++)
                if (!startswith(e->mounts[i].target, "/proc/"))
                        r = push(mounts, mount_json(&e->mounts[i]));
        edits_free(e);
        if (r < 0)
                return oom(err);
        drop_empty(edits);
        return json_object_size(edits) == 0 || json_object_set(spec, "containerEdits", edits) >= 0
                       ? 0
                       : oom(err);
}

/* ---- devices ----------------------------------------------------------------------------------
 */

static bool id_wanted(const char *ids, const char *index, const char *uuid) {
        _cleanup_free_ char *copy = strdup(ids ? ids : "all");
        char *save = NULL;

        if (!copy)
                return true;
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                t = strstrip(t);
                if (STREQ(t, "all") || STREQ(t, index) || STREQ(t, uuid))
                        return true;
        }
        return false;
}

static int add_device(struct gen *g, const char *name, json_t *nodes) {
        json_t *d =
                json_pack("{s:s, s:{s:O}}", "name", name, "containerEdits", "deviceNodes", nodes);

        return push(g->devices, d);
}

/* One device entry per naming strategy, all with the nodes of the plan for SELECTOR. */
static int device(struct gen *g, const char *selector, const char *index, const char *uuid,
                  const char *type, struct nctk_error **err) {
        struct edits *e = NULL;
        json_auto_t *nodes = json_array();
        unsigned s = g->o->strategies ? g->o->strategies : CDI_NAME_INDEX | CDI_NAME_UUID;
        int r = nodes ? plan_for(g, selector, 0, &e, err) : oom(err);

        if (r < 0)
                return r;
        r = add_nodes(nodes, e, true);
        r = r < 0 ? r : add_nodes(g->all_nodes, e, true);
        edits_free(e);
        if (r >= 0 && (s & CDI_NAME_INDEX))
                r = add_device(g, index, nodes);
        if (r >= 0 && (s & CDI_NAME_UUID))
                r = add_device(g, uuid, nodes);
        if (r >= 0 && (s & CDI_NAME_TYPE_INDEX)) {
                _cleanup_free_ char *n = NULL;
                r = asprintf(&n, "%s%s", type, index) < 0 ? -ENOMEM : add_device(g, n, nodes);
        }
        return r < 0 ? oom(err) : 0;
}

static int gpu_devices(struct gen *g, struct nctk_error **err) {
        int r = 0;

        for (size_t i = 0; r >= 0 && i < g->inv->n_gpus; i++) {
                const struct nctk_gpu *gpu = &g->inv->gpus[i];
                char index[32];

                snprintf(index, sizeof(index), "%u", gpu->index);
                /* A GPU in MIG mode is used through its MIG devices, as in NVIDIA's specs. */
                if (!gpu->mig_enabled && id_wanted(g->o->device_ids, index, gpu->uuid))
                        r = device(g, gpu->uuid, index, gpu->uuid, "gpu", err);
                for (size_t j = 0; r >= 0 && j < gpu->n_migs; j++) {
                        const struct nctk_mig *m = &gpu->migs[j];
                        snprintf(index, sizeof(index), "%u:%u", gpu->index, m->index);
                        if (id_wanted(g->o->device_ids, index, m->uuid))
                                r = device(g, m->uuid, index, m->uuid, "mig", err);
                }
        }
        return r;
}

/* Management mode: one "all" device with every node of the driver, for monitoring tools. */
static int management_device(struct gen *g) {
        for (size_t i = 0; i < g->inv->n_nodes; i++) {
                const struct nctk_node *n = &g->inv->nodes[i];
                struct edit_node en = {.major = n->major, .minor = n->minor};
                _cleanup_free_ char *src = NULL;

                if (!n->exists || n->kind == NCTK_NODE_CTL || n->kind == NCTK_NODE_UVM ||
                    n->kind == NCTK_NODE_UVM_TOOLS || n->kind == NCTK_NODE_MODESET ||
                    has_path(g->all_nodes, n->path))
                        continue;
                src = STREQ(g->inv->dev_root, "/") ? strdup(n->path)
                                                   : path_join(g->inv->dev_root, n->path);
                en.source = src;
                en.target = n->path;
                if (!src || push(g->all_nodes, node_json(&en)) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static int imex_devices(struct gen *g) {
        int r = 0;

        for (size_t k = 0; r >= 0 && k < g->o->n_imex; k++) {
                char path[80], name[16];
                for (size_t i = 0; i < g->inv->n_nodes; i++) {
                        const struct nctk_node *n = &g->inv->nodes[i];
                        _cleanup_free_ char *src = NULL;
                        json_auto_t *nodes = json_array();
                        struct edit_node en = {.major = n->major, .minor = n->minor};

                        snprintf(path, sizeof(path), "/dev/nvidia-caps-imex-channels/channel%u",
                                 g->o->imex[k]);
                        if (n->kind != NCTK_NODE_IMEX || !n->exists || !STREQ(n->path, path))
                                continue;
                        src = STREQ(g->inv->dev_root, "/") ? strdup(n->path)
                                                           : path_join(g->inv->dev_root, n->path);
                        en.source = src;
                        en.target = n->path;
                        snprintf(name, sizeof(name), "%u", g->o->imex[k]);
                        r = !src || !nodes || push(nodes, node_json(&en)) < 0
                                    ? -ENOMEM
                                    : add_device(g, name, nodes);
                        r = r < 0 ? r : push(g->all_nodes, node_json(&en));
                }
        }
        return r;
}

static int all_devices(struct gen *g, json_t *spec, struct nctk_error **err) {
        int r;

        if (g->o->mode == CDI_MODE_IMEX)
                r = imex_devices(g);
        else if (g->o->mode == CDI_MODE_MANAGEMENT)
                r = management_device(g);
        else
                r = gpu_devices(g, err);
        if (r < 0)
                return err && *err ? r : oom(err);
        if ((!g->o->no_all_device || g->o->mode == CDI_MODE_MANAGEMENT) &&
            json_array_size(g->all_nodes) > 0 && add_device(g, "all", g->all_nodes) < 0)
                return oom(err);
        if (json_array_size(g->devices) == 0)
                return nctk_error_set(err, ENODEV,
                                      "no device for the spec (no GPU, MIG device or IMEX channel "
                                      "matches); check --device-id and the driver");
        return json_object_set(spec, "devices", g->devices) < 0 ? oom(err) : 0;
}

int cdi_generate(const struct nctk_inventory *inv, const struct cdi_generate_opts *o, json_t **ret,
                 struct nctk_error **err) {
        struct gen g = {.inv = inv, .o = o};
        _cleanup_free_ char *kind = NULL;
        json_auto_t *spec = NULL;
        int r;

        if (asprintf(&kind, "%s/%s", o->vendor, o->class_) < 0)
                kind = NULL;
        g.devices = json_array();
        g.all_nodes = json_array();
        spec = json_pack("{s:s, s:s}", "cdiVersion", "0.3.0", "kind", kind ? kind : "");
        r = kind && g.devices && g.all_nodes && spec && layout_init(&g) >= 0 ? 0 : oom(err);
        r = r < 0 ? r : all_devices(&g, spec, err);
        if (r >= 0 && o->mode != CDI_MODE_IMEX)
                r = common_edits(&g, spec, err);
        if (r >= 0 &&
            json_object_set_new(spec, "cdiVersion", json_string(cdi_min_version(spec))) < 0)
                r = oom(err);
        json_decref(g.devices);
        json_decref(g.all_nodes);
        free(g.libdir);
        free(g.libdir32);
        free(g.bindir);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(spec);
        return 0;
}
