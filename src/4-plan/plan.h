/* The plan stage (DESIGN.md stage 3): a pure function of (inventory, request, container layout)
 * that lists every edit a container needs — mounts, device nodes, symlinks, device-cgroup rules,
 * ld cache directories, /proc masks — without doing any I/O, so the same value can be applied to
 * a live container, written into config.json, or emitted as a CDI spec. */
#ifndef NCTK_PLAN_PLAN_H
#define NCTK_PLAN_PLAN_H

#include <sys/types.h>

#include "2-select/select.h"
#include "3-container/container.h"
#include "nctk/nctk.h"

enum mount_flags {
        MOUNT_RDONLY = 1u << 0,
        MOUNT_NOSUID = 1u << 1,
        MOUNT_NODEV = 1u << 2,
        MOUNT_NOEXEC = 1u << 3,
};

/* What an edit is for: list prints the plan by kind, in the reference's sections. */
enum edit_kind {
        EDIT_CONTROL,    /* nvidiactl, nvidia-uvm(-tools), nvidia-modeset */
        EDIT_GPU,        /* a selected GPU's node */
        EDIT_MIG_PARENT, /* the node of a GPU only some of whose MIG devices are selected */
        EDIT_MIG,        /* MIG capability files and nodes */
        EDIT_IMEX,       /* IMEX channel nodes */
        EDIT_GATED,      /* NVSwitch, gdrcopy, GDS, InfiniBand nodes; GDS's files */
        EDIT_BINARY,
        EDIT_LIBRARY,
        EDIT_LIBRARY32,
        EDIT_FIRMWARE,
        EDIT_IPC,
        EDIT_CONFIG, /* graphics configuration files */
};

struct edit_mount {
        char *source; /* host path */
        char *target; /* container path */
        unsigned flags;
        enum edit_kind kind;
        unsigned seq; /* order among all mounts and nodes of the plan */
};

struct edit_node {
        char *source; /* host device node */
        char *target; /* container path */
        unsigned major, minor;
        mode_t mode;
        enum edit_kind kind;
        unsigned seq;
};

struct edit_link {
        char *path;   /* container path of the link */
        char *target; /* what it points to (relative: a name in the same directory) */
};

struct edit_rule {
        char type; /* 'c' */
        int major, minor;
        unsigned access; /* 1 read, 2 write, 4 mknod */
};

struct edits {
        size_t n_mounts;
        struct edit_mount *mounts;
        size_t n_nodes;
        struct edit_node *nodes;
        size_t n_links;
        struct edit_link *links;
        size_t n_rules;
        struct edit_rule *rules;
        size_t n_ldcache_dirs;
        char **ldcache_dirs;
        /* /proc/driver/nvidia becomes a read-only copy showing only these GPUs' directories
         * ("0000:00:06.0") and params with ModifyDeviceFiles: 0. */
        bool mask_proc;
        size_t n_proc_gpus;
        char **proc_gpus;
        /* "NAME=VALUE" for the container's process, over the image's own values (only the
         * back-ends that write config.json or a CDI spec can set them; a prestart hook
         * cannot). */
        size_t n_env;
        char **env;
};

/* The container is the client of an nctk MPS daemon (src/mps): its pipe directory is mounted at
 * PLAN_MPS_PIPE_DIR, CUDA's default, so that a process whose environment nobody could set still
 * finds it. */
#define PLAN_MPS_PIPE_DIR "/tmp/nvidia-mps"
struct plan_mps {
        const char *pipe_dir;       /* host directory; NULL: not a client */
        unsigned thread_percentage; /* 0: none */
        const char *pinned_limit;   /* "2048M", or NULL/"" */
};

struct plan_request {
        unsigned caps;               /* enum nctk_cap */
        const struct selection *sel; /* GPUs and MIG devices */
        bool compat32;
        bool mig_config, mig_monitor; /* "all" */
        size_t n_imex;
        const unsigned *imex;
        enum compat_mode
                compat; /* an image's newer libcuda first in its ld cache, unless disabled */
        const struct plan_mps *mps; /* NULL: not an MPS client */
        unsigned gates;             /* enum nctk_gate */
};

/* The edits for REQ on INV, in a container with FACTS. */
int plan_build(const struct nctk_inventory *inv, const struct plan_request *req,
               const struct container_facts *facts, struct edits **ret, struct nctk_error **err);
struct edits *edits_free(struct edits *e);

#endif
