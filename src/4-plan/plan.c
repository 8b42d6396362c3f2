/* plan_build(): from what the host has and what the container asked for, the list of edits.
 * No I/O here: every path is computed, so the planner is unit-tested without root and the four
 * back-ends (live container, config.json, CDI, docker args) apply the very same value. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "4-plan/plan.h"
#include "util/log.h"
#include "util/macros.h"
#include "util/strv.h"

#define RULE_RW 3u
#define LIB_FLAGS (MOUNT_RDONLY | MOUNT_NOSUID | MOUNT_NODEV)
#define IPC_FLAGS (MOUNT_NOSUID | MOUNT_NODEV | MOUNT_NOEXEC)

struct planner {
        const struct nctk_inventory *inv;
        const struct plan_request *req;
        const struct container_layout *layout;
        const struct container_facts *facts;
        unsigned caps;       /* the request's caps, widened as the reference widens them */
        enum edit_kind kind; /* of the edits being added */
        unsigned seq;
        struct edits *e;
};

static const char *base_name(const char *p) {
        const char *s = strrchr(p, '/');

        return s ? s + 1 : p;
}

/* The host path of PATH inside ROOT. */
static char *host_path(const char *root, const char *path) {
        return STREQ(root, "/") ? strdup(path) : path_join(root, path);
}

static int add_mount(struct planner *p, const char *root, const char *src, const char *dst,
                     unsigned flags) {
        struct edit_mount *m;

        for (size_t i = 0; i < p->e->n_mounts; i++)
                if (STREQ(p->e->mounts[i].target, dst))
                        return 0; /* first wins: one file per container path */
        m = ARRAY_PUSH(p->e->mounts, p->e->n_mounts);
        if (!m)
                return -ENOMEM;
        m->kind = p->kind;
        m->seq = p->seq++;
        m->source = host_path(root, src);
        m->target = strdup(dst);
        m->flags = flags;
        return m->source && m->target ? 0 : -ENOMEM;
}

static int add_rule(struct planner *p, unsigned major, unsigned minor) {
        struct edit_rule *r;

        for (size_t i = 0; i < p->e->n_rules; i++)
                if (p->e->rules[i].major == (int) major && p->e->rules[i].minor == (int) minor)
                        return 0;
        r = ARRAY_PUSH(p->e->rules, p->e->n_rules);
        if (!r)
                return -ENOMEM;
        *r = (struct edit_rule){
                .type = 'c', .major = (int) major, .minor = (int) minor, .access = RULE_RW};
        return 0;
}

/* A device node the container gets at the same path, and the cgroup rule that lets it open it. */
static int add_node(struct planner *p, const struct nctk_node *n) {
        struct edit_node *en;

        if (!n->exists)
                return 0;
        for (size_t i = 0; i < p->e->n_nodes; i++)
                if (STREQ(p->e->nodes[i].target, n->path))
                        return 0;
        en = ARRAY_PUSH(p->e->nodes, p->e->n_nodes);
        if (!en)
                return -ENOMEM;
        en->kind = p->kind;
        en->seq = p->seq++;
        en->source = host_path(p->inv->dev_root, n->path);
        en->target = strdup(n->path);
        en->major = n->major;
        en->minor = n->minor;
        en->mode = 0666;
        if (!en->source || !en->target)
                return -ENOMEM;
        return add_rule(p, n->major, n->minor);
}

static const struct nctk_node *find_node(const struct nctk_inventory *inv, const char *path) {
        for (size_t i = 0; i < inv->n_nodes; i++)
                if (STREQ(inv->nodes[i].path, path))
                        return &inv->nodes[i];
        return NULL;
}

static int add_node_path(struct planner *p, const char *path) {
        const struct nctk_node *n = find_node(p->inv, path);

        return n ? add_node(p, n) : 0;
}

static int add_cap_node(struct planner *p, int minor) {
        char path[64];

        if (minor < 0)
                return 0;
        snprintf(path, sizeof(path), "/dev/nvidia-caps/nvidia-cap%d", minor);
        return add_node_path(p, path);
}

static int add_link(struct planner *p, const char *dir, const char *name, const char *target) {
        _cleanup_free_ char *path = NULL;
        struct edit_link *l;

        if (STREQ(name, target))
                return 0;
        path = path_join(dir, name);
        if (!path)
                return -ENOMEM;
        for (size_t i = 0; i < p->e->n_links; i++)
                if (STREQ(p->e->links[i].path, path))
                        return 0;
        l = ARRAY_PUSH(p->e->links, p->e->n_links);
        if (!l)
                return -ENOMEM;
        l->path = TAKE_PTR(path);
        l->target = strdup(target);
        return l->target ? 0 : -ENOMEM;
}

/* A file of the driver's procfs, bound read-only at its usual /proc path. */
static int add_proc_mount(struct planner *p, const char *path) {
        if (!startswith(path, "/proc/"))
                return -EINVAL;
        return add_mount(p, p->inv->proc_root, path + strlen("/proc"), path,
                         MOUNT_RDONLY | MOUNT_NOSUID | MOUNT_NODEV | MOUNT_NOEXEC);
}

/* The soname link every library needs, and the three development links the reference adds. */
static int add_lib_links(struct planner *p, const struct nctk_file *f, const char *dir) {
        const char *base = base_name(f->path);
        int r = 0;

        if (f->soname)
                r = add_link(p, dir, f->soname, base);
        if (r >= 0 && f->soname && startswith(base, "libcuda.so."))
                r = add_link(p, dir, "libcuda.so", f->soname);
        if (r >= 0 && f->soname && startswith(base, "libnvidia-opticalflow.so."))
                r = add_link(p, dir, "libnvidia-opticalflow.so", f->soname);
        if (r >= 0 && startswith(base, "libGLX_nvidia.so."))
                r = add_link(p, dir, "libGLX_indirect.so.0", base);
        return r;
}

static bool caps_match(const struct planner *p, unsigned file_caps) {
        return (p->caps & file_caps) != 0;
}

static int plan_libraries(struct planner *p) {
        const struct nctk_inventory *inv = p->inv;
        int r = 0;

        for (int pass = 0; r >= 0 && pass < 2; pass++) {
                const char *dir = pass ? p->layout->libdir32 : p->layout->libdir;
                bool added = false;

                if (!dir || (pass && !p->req->compat32))
                        continue;
                p->kind = pass ? EDIT_LIBRARY32 : EDIT_LIBRARY;
                for (size_t i = 0; r >= 0 && i < inv->n_libs; i++) {
                        const struct nctk_file *f = &inv->libs[i];
                        _cleanup_free_ char *dst = NULL;

                        if (f->is_32bit != (pass == 1) || !caps_match(p, f->caps))
                                continue;
                        dst = path_join(dir, base_name(f->path));
                        if (!dst)
                                return -ENOMEM;
                        r = add_mount(p, inv->driver_root, f->path, dst, LIB_FLAGS);
                        r = r < 0 ? r : add_lib_links(p, f, dir);
                        added = true;
                }
                if (r >= 0 && added) {
                        char **d = ARRAY_PUSH(p->e->ldcache_dirs, p->e->n_ldcache_dirs);
                        if (!d || !(*d = strdup(dir)))
                                return -ENOMEM;
                }
        }
        return r;
}

/* CUDA forward compatibility: when the image brings a libcuda of a newer major version than the
 * driver's, its compat directory goes first in the ld cache, so the loader picks it over the
 * host's. Nothing from the image is mounted. */
static int plan_compat(struct planner *p) {
        unsigned long have = strtoul(p->inv->driver_version, NULL, 10);
        char **dirs, *dir;

        if (p->req->compat == COMPAT_DISABLED || !(p->caps & NCTK_CAP_COMPUTE) ||
            p->facts->compat_cuda_major <= have || p->e->n_ldcache_dirs == 0)
                return 0;
        dir = strdup(CONTAINER_COMPAT_DIR);
        dirs = dir ? realloc(p->e->ldcache_dirs, (p->e->n_ldcache_dirs + 1) * sizeof(char *))
                   : NULL;
        if (!dirs) {
                free(dir);
                return -ENOMEM;
        }
        memmove(dirs + 1, dirs, p->e->n_ldcache_dirs * sizeof(char *));
        dirs[0] = dir;
        p->e->ldcache_dirs = dirs;
        p->e->n_ldcache_dirs++;
        return 0;
}

static int plan_files(struct planner *p, enum edit_kind kind, const struct nctk_file *f, size_t n,
                      const char *dir, unsigned flags) {
        int r = 0;

        p->kind = kind;
        for (size_t i = 0; r >= 0 && i < n; i++) {
                _cleanup_free_ char *dst = NULL;

                if (!caps_match(p, f[i].caps))
                        continue;
                dst = dir ? path_join(dir, base_name(f[i].path)) : strdup(f[i].path);
                if (!dst)
                        return -ENOMEM;
                r = add_mount(p, p->inv->driver_root, f[i].path, dst, flags);
        }
        return r;
}

/* "00000000:00:06.0" (NVML) -> "0000:00:06.0" (the /proc/driver/nvidia/gpus directory). */
static char *proc_busid(const char *busid) {
        char *s = strdup(strlen(busid) == 16 && startswith(busid, "0000") ? busid + 4 : busid);

        /* NVML prints hex digits in upper case, the driver's directory names in lower case. */
        for (char *c = s; c && *c; c++)
                *c = (char) tolower((unsigned char) *c);
        return s;
}

static int plan_gpu(struct planner *p, size_t i) {
        const struct nctk_gpu *g = &p->inv->gpus[i];
        const struct selection *sel = p->req->sel;
        char path[64], **busid;
        int r;

        snprintf(path, sizeof(path), "/dev/nvidia%u", g->minor);
        p->kind = sel->gpus[i] ? EDIT_GPU : EDIT_MIG_PARENT;
        r = add_node_path(p, path);
        p->kind = EDIT_MIG;
        busid = r < 0 ? NULL : ARRAY_PUSH(p->e->proc_gpus, p->e->n_proc_gpus);
        if (r >= 0 && (!busid || !(*busid = proc_busid(g->busid))))
                return -ENOMEM;
        /* MIG config/monitor ("all") need the GPU's whole MIG capability tree, so that tools in
         * the container can create and watch instances; otherwise each selected instance's own
         * access files. */
        if (r >= 0 && (p->req->mig_config || p->req->mig_monitor) && g->mig_capable) {
                char dir[96];
                snprintf(dir, sizeof(dir), "/proc/driver/nvidia/capabilities/gpu%u/mig", g->minor);
                r = add_proc_mount(p, dir);
        }
        for (size_t j = 0; r >= 0 && j < g->n_migs; j++) {
                const struct nctk_mig *m = &g->migs[j];
                bool global = p->req->mig_config || p->req->mig_monitor;
                if (!sel->migs[i][j] && !global)
                        continue;
                if (!global) {
                        r = add_proc_mount(p, m->gi_caps);
                        r = r < 0 ? r : add_proc_mount(p, m->ci_caps);
                }
                r = r < 0 ? r : add_cap_node(p, m->gi_caps_minor);
                r = r < 0 ? r : add_cap_node(p, m->ci_caps_minor);
        }
        return r;
}

/* CUDA needs /dev/nvidia-uvm: without it every CUDA program in the container fails with "no
 * CUDA-capable device" (error 999), far from the cause. The nvidia_uvm module is loaded on demand
 * and udev makes no node for it, so a fresh boot often has neither. */
static int add_uvm(struct planner *p) {
        const struct nctk_node *n = find_node(p->inv, "/dev/nvidia-uvm");

        if (!n)
                log_warning("the nvidia_uvm kernel module is not loaded, so CUDA will fail in the "
                            "container; load it ('modprobe nvidia-uvm') or set load-kmods = true "
                            "in config.toml");
        else if (!n->exists)
                log_warning("'/dev/nvidia-uvm' is missing, so CUDA will fail in the container; "
                            "create it ('nvidia-ctk system create-device-nodes --control-devices') "
                            "or set load-kmods = true in config.toml");
        return n ? add_node(p, n) : 0;
}

static int plan_devices(struct planner *p) {
        const struct nctk_inventory *inv = p->inv;
        const struct selection *sel = p->req->sel;
        int r;

        /* The control nodes come with the driver even when no GPU is selected ("none"), as in the
         * reference: the container then sees the driver but no device. */
        p->kind = EDIT_CONTROL;
        r = add_node_path(p, "/dev/nvidiactl");
        if (r >= 0 && (p->caps & NCTK_CAP_COMPUTE)) {
                r = add_uvm(p);
                r = r < 0 ? r : add_node_path(p, "/dev/nvidia-uvm-tools");
        }
        if (r >= 0 && (p->caps & NCTK_CAP_DISPLAY))
                r = add_node_path(p, "/dev/nvidia-modeset");
        for (size_t i = 0; r >= 0 && i < inv->n_gpus; i++)
                if (sel->gpus[i] || sel->has_mig[i])
                        r = plan_gpu(p, i);
        p->kind = EDIT_MIG;
        if (r >= 0 && p->req->mig_config) {
                r = add_cap_node(p, inv->mig_config_minor);
                r = r < 0 ? r : add_proc_mount(p, "/proc/driver/nvidia/capabilities/mig/config");
        }
        if (r >= 0 && p->req->mig_monitor) {
                r = add_cap_node(p, inv->mig_monitor_minor);
                r = r < 0 ? r : add_proc_mount(p, "/proc/driver/nvidia/capabilities/mig/monitor");
        }
        p->kind = EDIT_IMEX;
        for (size_t k = 0; r >= 0 && k < p->req->n_imex; k++) {
                char path[80];
                snprintf(path, sizeof(path), "/dev/nvidia-caps-imex-channels/channel%u",
                         p->req->imex[k]);
                r = add_node_path(p, path);
        }
        if (r >= 0)
                p->e->mask_proc = true;
        return r;
}

/* The nodes of one gate; a gate the host cannot serve is a warning, not a refusal: the image
 * asks for the feature whether or not this host has it (the reference skips it silently). */
static int plan_gate(struct planner *p, unsigned gate, enum nctk_node_kind kind, const char *var,
                     const char *what) {
        const struct nctk_inventory *inv = p->inv;
        bool any = false;
        int r = 0;

        if (!(p->req->gates & gate))
                return 0;
        for (size_t i = 0; r >= 0 && i < inv->n_nodes; i++)
                if (inv->nodes[i].kind == kind && inv->nodes[i].exists) {
                        r = add_node(p, &inv->nodes[i]);
                        any = true;
                }
        if (r >= 0 && !any)
                log_warning("%s=enabled but '%s%s' has no %s, skipping", var,
                            STREQ(inv->dev_root, "/") ? "" : inv->dev_root, "/dev", what);
        return r;
}

/* GPUDirect Storage reads the NVMe and NIC topology from udev's database and its settings from
 * cufile.json: both read-only, when the host has them. */
static int plan_gds_files(struct planner *p) {
        int r = 0;

        if (!(p->req->gates & NCTK_GATE_GDS))
                return 0;
        if (p->inv->gds_udev)
                r = add_mount(p, p->inv->driver_root, p->inv->gds_udev, "/run/udev", LIB_FLAGS);
        if (r >= 0 && p->inv->gds_cufile)
                r = add_mount(p, p->inv->driver_root, p->inv->gds_cufile, "/etc/cufile.json",
                              LIB_FLAGS);
        return r;
}

static int plan_gated(struct planner *p) {
        int r;

        p->kind = EDIT_GATED;
        r = plan_gate(p, NCTK_GATE_NVSWITCH, NCTK_NODE_NVSWITCH, "NVIDIA_NVSWITCH",
                      "NVSwitch device (nvidia-nvswitch*)");
        r = r < 0 ? r
                  : plan_gate(p, NCTK_GATE_GDRCOPY, NCTK_NODE_GDRCOPY, "NVIDIA_GDRCOPY",
                              "gdrcopy device (gdrdrv)");
        r = r < 0 ? r
                  : plan_gate(p, NCTK_GATE_GDS, NCTK_NODE_GDS, "NVIDIA_GDS",
                              "GPUDirect Storage device (nvidia-fs*)");
        r = r < 0 ? r
                  : plan_gate(p, NCTK_GATE_MOFED, NCTK_NODE_MOFED, "NVIDIA_MOFED",
                              "InfiniBand device (infiniband/uverbs*, infiniband/rdma_cm)");
        return r < 0 ? r : plan_gds_files(p);
}

static int add_env(struct planner *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int add_env(struct planner *p, const char *fmt, ...) {
        char **slot = ARRAY_PUSH(p->e->env, p->e->n_env);
        va_list ap;
        int n;

        if (!slot)
                return -ENOMEM;
        va_start(ap, fmt);
        n = vasprintf(slot, fmt, ap);
        va_end(ap);
        if (n < 0) {
                *slot = NULL;
                return -ENOMEM;
        }
        return 0;
}

/* An MPS client: its daemon's pipe directory, before the IPC files so that it wins over a host
 * daemon's /tmp/nvidia-mps, and the variables that say the same and carry the daemon's limits
 * (a client's own values can only lower those: NVIDIA's MPS documentation). */
static int plan_mps(struct planner *p) {
        const struct plan_mps *m = p->req->mps;
        int r;

        if (!m || !m->pipe_dir || !(p->caps & NCTK_CAP_COMPUTE))
                return 0;
        p->kind = EDIT_IPC;
        r = add_mount(p, "/", m->pipe_dir, PLAN_MPS_PIPE_DIR, IPC_FLAGS);
        if (r >= 0)
                r = add_env(p, "CUDA_MPS_PIPE_DIRECTORY=%s", PLAN_MPS_PIPE_DIR);
        if (r >= 0 && m->thread_percentage)
                r = add_env(p, "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=%u", m->thread_percentage);
        if (r >= 0 && m->pinned_limit && *m->pinned_limit)
                r = add_env(p, "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT=0=%s", m->pinned_limit);
        return r;
}

int plan_build(const struct nctk_inventory *inv, const struct plan_request *req,
               const struct container_facts *facts, struct edits **ret, struct nctk_error **err) {
        struct planner p = {.inv = inv,
                            .req = req,
                            .layout = &facts->layout,
                            .facts = facts,
                            .caps = req->caps};
        int r;

        /* video needs the compute libraries, display the graphics ones (as the reference). */
        if (p.caps & NCTK_CAP_VIDEO)
                p.caps |= NCTK_CAP_COMPUTE;
        if (p.caps & NCTK_CAP_DISPLAY)
                p.caps |= NCTK_CAP_GRAPHICS;
        p.e = calloc(1, sizeof(*p.e));
        if (!p.e)
                return nctk_error_set(err, ENOMEM, "out of memory");
        r = plan_devices(&p);
        r = r < 0 ? r : plan_gated(&p);
        r = r < 0 ? r
                  : plan_files(&p, EDIT_BINARY, inv->bins, inv->n_bins, p.layout->bindir,
                               LIB_FLAGS);
        r = r < 0 ? r : plan_libraries(&p);
        r = r < 0 ? r : plan_compat(&p);
        r = r < 0 ? r
                  : plan_files(&p, EDIT_FIRMWARE, inv->firmware, inv->n_firmware, NULL, LIB_FLAGS);
        r = r < 0 ? r : plan_mps(&p);
        r = r < 0 ? r : plan_files(&p, EDIT_IPC, inv->ipcs, inv->n_ipcs, NULL, IPC_FLAGS);
        r = r < 0 ? r : plan_files(&p, EDIT_CONFIG, inv->configs, inv->n_configs, NULL, LIB_FLAGS);
        if (r < 0) {
                edits_free(p.e);
                return nctk_error_set(err, -r, "cannot plan the container's edits: %s",
                                      strerror(-r));
        }
        *ret = p.e;
        return 0;
}

static void strv_free(char **v, size_t n) {
        for (size_t i = 0; v && i < n; i++)
                free(v[i]);
        free(v);
}

struct edits *edits_free(struct edits *e) {
        if (!e)
                return NULL;
        for (size_t i = 0; i < e->n_mounts; i++) {
                free(e->mounts[i].source);
                free(e->mounts[i].target);
        }
        free(e->mounts);
        for (size_t i = 0; i < e->n_nodes; i++) {
                free(e->nodes[i].source);
                free(e->nodes[i].target);
        }
        free(e->nodes);
        for (size_t i = 0; i < e->n_links; i++) {
                free(e->links[i].path);
                free(e->links[i].target);
        }
        free(e->links);
        free(e->rules);
        strv_free(e->ldcache_dirs, e->n_ldcache_dirs);
        strv_free(e->proc_gpus, e->n_proc_gpus);
        strv_free(e->env, e->n_env);
        free(e);
        return NULL;
}
