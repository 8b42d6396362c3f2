/* libnctk: the public API of the NVIDIA container toolkit library.
 * Conventions: functions return >= 0 on success and -errno on failure; out-parameters are named
 * ret_* and written only on success; a struct nctk_error, when asked for, says what and why. */
#ifndef NCTK_NCTK_H
#define NCTK_NCTK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NCTK_EXPORT __attribute__((visibility("default")))

/* ---- errors ---------------------------------------------------------------------------------- */

struct nctk_error {
        int errnum; /* > 0 */
        char *msg;  /* "what: why" */
};

/* Replaces *ERR (if ERR is not NULL) with a new error. Returns -ERRNUM (-EIO if ERRNUM is 0). */
NCTK_EXPORT int nctk_error_set(struct nctk_error **err, int errnum, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* Prefixes the message of *ERR with context ("context: old message"); returns -errnum of *ERR,
 * or -EIO when there is no error to prefix. */
NCTK_EXPORT int nctk_error_prefix(struct nctk_error **err, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
/* NULL-safe; sets *ERR to NULL. */
NCTK_EXPORT void nctk_error_free(struct nctk_error **err);

/* ---- logging -----------------------------------------------------------------------------------
 */

enum nctk_log_level { NCTK_LOG_ERROR, NCTK_LOG_WARNING, NCTK_LOG_INFO, NCTK_LOG_DEBUG };

typedef void (*nctk_log_sink_t)(enum nctk_log_level level, const char *file, int line,
                                const char *msg, void *userdata);
/* The library reports warnings (missing optional components) and debug lines through this sink
 * only; with no sink installed it is silent. */
NCTK_EXPORT void nctk_set_log_sink(nctk_log_sink_t sink, void *userdata);

/* ---- capabilities ---------------------------------------------------------------------------- */

enum nctk_cap {
        NCTK_CAP_UTILITY = 1u << 0,
        NCTK_CAP_COMPUTE = 1u << 1,
        NCTK_CAP_VIDEO = 1u << 2,
        NCTK_CAP_GRAPHICS = 1u << 3,
        NCTK_CAP_DISPLAY = 1u << 4,
        NCTK_CAP_NGX = 1u << 5,
        NCTK_CAP_ALL = (1u << 6) - 1,
};

/* Parses "compute,utility" / "all" into a mask; -EINVAL names the unknown word in ERR. */
NCTK_EXPORT int nctk_caps_parse(const char *s, unsigned *ret_mask, struct nctk_error **err);
/* Name of one capability bit ("compute"), or NULL. */
NCTK_EXPORT const char *nctk_cap_name(unsigned bit);

/* ---- inventory: what the host's driver provides (DESIGN.md stage 1) -------------------------- */

#define NCTK_UUID_MAX 96
#define NCTK_BUSID_MAX 32
#define NCTK_NAME_MAX 96
#define NCTK_VERSION_MAX 32

struct nctk_mig {
        unsigned index;  /* NVML MIG index on the parent */
        unsigned gi, ci; /* GPU and compute instance ids */
        char uuid[NCTK_UUID_MAX];
        char gi_caps[128]; /* /proc/driver/nvidia/capabilities/gpuM/mig/giX/access */
        char ci_caps[128]; /* .../giX/ciY/access */
        int gi_caps_minor; /* nvidia-caps minor of the GI access file, -1 when unknown */
        int ci_caps_minor;
};

enum nctk_persistence { NCTK_PERSISTENCE_UNKNOWN, NCTK_PERSISTENCE_OFF, NCTK_PERSISTENCE_ON };

struct nctk_gpu {
        unsigned index; /* NVML index */
        unsigned minor; /* /dev/nvidia<minor> */
        char uuid[NCTK_UUID_MAX];
        char busid[NCTK_BUSID_MAX]; /* 00000000:00:06.0 */
        char model[NCTK_NAME_MAX];
        char brand[32];
        char arch_name[32];     /* "Hopper", or "" */
        int cc_major, cc_minor; /* compute capability */
        bool mig_capable, mig_enabled;
        enum nctk_persistence persistence; /* NVML's persistence mode; UNKNOWN without NVML */
        size_t n_migs;
        struct nctk_mig *migs;
};

enum nctk_node_kind {
        NCTK_NODE_CTL,       /* /dev/nvidiactl */
        NCTK_NODE_UVM,       /* /dev/nvidia-uvm */
        NCTK_NODE_UVM_TOOLS, /* /dev/nvidia-uvm-tools */
        NCTK_NODE_MODESET,   /* /dev/nvidia-modeset */
        NCTK_NODE_GPU,       /* /dev/nvidiaN */
        NCTK_NODE_CAP,       /* /dev/nvidia-caps/nvidia-capN */
        NCTK_NODE_IMEX,      /* /dev/nvidia-caps-imex-channels/channelN */
        NCTK_NODE_NVSWITCH,  /* /dev/nvidia-nvswitchctl, /dev/nvidia-nvswitchN */
        NCTK_NODE_GDRCOPY,   /* /dev/gdrdrv */
        NCTK_NODE_GDS,       /* /dev/nvidia-fsN */
        NCTK_NODE_MOFED,     /* /dev/infiniband/uverbsN, /dev/infiniband/rdma_cm */
};

/* Devices outside the GPU driver that a container gets only when its image says so
 * (NVIDIA_NVSWITCH=enabled, ...): fabric, GPUDirect RDMA and storage, InfiniBand. */
enum nctk_gate {
        NCTK_GATE_NVSWITCH = 1u << 0,
        NCTK_GATE_GDRCOPY = 1u << 1,
        NCTK_GATE_GDS = 1u << 2,
        NCTK_GATE_MOFED = 1u << 3,
};

struct nctk_node {
        enum nctk_node_kind kind;
        char *path; /* as seen from the dev root ("/dev/nvidiactl") */
        unsigned major, minor;
        bool exists; /* present under the dev root with the expected st_rdev */
};

/* A driver file: library, binary, firmware, IPC socket or config file. */
struct nctk_file {
        char *path;    /* real path inside the driver root, symlinks resolved */
        char *soname;  /* libraries: the name the loader looks for ("libcuda.so.1"), or NULL */
        unsigned caps; /* enum nctk_cap bits that ask for it */
        bool is_32bit; /* libraries only */
};

struct nctk_majors {
        int nvidia, uvm, modeset, caps, caps_imex; /* -1 when the driver does not register one */
};

struct nctk_inventory {
        char *driver_root; /* "/" or a directory where the driver is installed */
        char *dev_root;
        char *proc_root;                       /* usually "/proc" */
        char driver_version[NCTK_VERSION_MAX]; /* "580.159.04" */
        char cuda_version[NCTK_VERSION_MAX];   /* "13.0", "" when unknown */
        bool nvml_loaded;                      /* facts below come from NVML, not /proc alone */
        struct nctk_majors majors;
        int mig_config_minor;  /* nvidia-caps minors of the global MIG config and monitor */
        int mig_monitor_minor; /* capabilities, -1 when unknown */

        size_t n_gpus;
        struct nctk_gpu *gpus; /* in NVML index order */
        size_t n_nodes;
        struct nctk_node *nodes; /* control nodes, then one per GPU, MIG caps */
        size_t n_libs;
        struct nctk_file *libs;
        size_t n_bins;
        struct nctk_file *bins;
        size_t n_ipcs;
        struct nctk_file *ipcs;
        size_t n_firmware;
        struct nctk_file *firmware;
        size_t n_configs;
        struct nctk_file *configs; /* Vulkan ICD, EGL/GLVND vendor files */
        /* GDS's files, looked up only with NCTK_GATE_GDS: real paths inside the driver root of
         * /run/udev and /etc/cufile.json, NULL when missing. */
        char *gds_udev;
        char *gds_cufile;
};

enum nctk_discover_flags {
        NCTK_DISCOVER_NO_NVML = 1u << 0, /* GPUs from /proc only (no cuda version, arch) */
        NCTK_DISCOVER_NO_PERSISTENCED = 1u << 1,
        NCTK_DISCOVER_NO_FABRICMANAGER = 1u << 2,
        NCTK_DISCOVER_NO_GSP_FIRMWARE = 1u << 3,
        NCTK_DISCOVER_NO_MPS = 1u << 4,
        /* Reuse NVML's last answer (kept in /run/nctk, root only) while /proc shows the same
         * driver, GPUs and MIG layout: the container start path. */
        NCTK_DISCOVER_CACHE = 1u << 5,
};

struct nctk_discover_opts {
        const char *driver_root;  /* NULL: "/" */
        const char *dev_root;     /* NULL: the driver root */
        const char *proc_root;    /* NULL: "/proc", also with a driver root */
        const char *sys_root;     /* NULL: "/sys"; nctk_load_kmods() skips modules listed there */
        const char *ldcache;      /* NULL: "/etc/ld.so.cache", inside the driver root */
        const char *path;         /* binary search path; NULL: a default system PATH */
        const char *mps_pipe_dir; /* NULL: /tmp/nvidia-mps */
        uid_t uid;                /* NVML runs as this user (when started as root) */
        gid_t gid;
        unsigned flags; /* enum nctk_discover_flags */
        /* IMEX channels whose device nodes are looked up (there may be thousands; only the
         * requested ones are looked at). */
        const unsigned *imex_channels;
        size_t n_imex_channels;
        /* enum nctk_gate: whose device nodes (and GDS files) are looked up; their nodes follow
         * the driver's in the inventory, in version order of their paths. */
        unsigned gates;
};

/* Fills OPTS with defaults: uid/gid from /proc/sys/kernel/overflow{u,g}id. */
NCTK_EXPORT void nctk_discover_opts_init(struct nctk_discover_opts *opts);

/* Discovers the driver. Missing optional components are warnings through the log sink; a missing
 * driver, an unreadable root or a corrupt ld cache are errors. */
NCTK_EXPORT int nctk_discover(const struct nctk_discover_opts *opts,
                              struct nctk_inventory **ret_inv, struct nctk_error **err);
NCTK_EXPORT struct nctk_inventory *nctk_inventory_free(struct nctk_inventory *inv);

/* Loads nvidia, nvidia_uvm and nvidia_modeset with the host's modprobe (not run for a module that
 * has a directory in <sys root>/module) and creates missing device nodes under the dev root
 * (what nvidia-modprobe -u -c=0 does). Returns the number of nodes created. */
NCTK_EXPORT int nctk_load_kmods(const struct nctk_discover_opts *opts, struct nctk_error **err);

NCTK_EXPORT const char *nctk_version(void);

#ifdef __cplusplus
}
#endif
#endif
