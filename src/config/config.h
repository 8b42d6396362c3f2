/* /etc/nvidia-container-runtime/config.toml: every key of the reference toolkit, with its
 * default. Loaded by the hook, the runtime shim and nvidia-ctk. */
#ifndef NCTK_CONFIG_CONFIG_H
#define NCTK_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "nctk/nctk.h"

/* A NULL-terminated string list owned by the config. */
typedef char **strv_t;

struct nctk_config {
        /* top level */
        bool disable_require;                 /* false */
        char *swarm_resource;                 /* "" */
        bool accept_envvar_when_unprivileged; /* true */
        bool accept_volume_mounts;            /* false */
        char *supported_driver_capabilities; /* "compat32,compute,display,graphics,ngx,utility,video"
                                              */

        struct {                    /* [nvidia-container-cli] */
                char *root;         /* "" */
                char *path;         /* "" */
                strv_t environment; /* [] */
                char *debug;        /* "" */
                char *ldcache;      /* "" */
                char *proc_root;    /* NULL: "/proc" (nctk's own key) */
                char *mps_root;     /* NULL: "/run/nvidia-mps" (nctk's own key: src/mps) */
                bool load_kmods;    /* true */
                bool no_pivot;      /* false */
                bool no_cgroups;    /* false */
                char *user;         /* "" */
                char *ldconfig; /* "@/sbin/ldconfig.real" if it exists, else "@/sbin/ldconfig" */
        } cli;

        struct {                        /* [nvidia-container-runtime] */
                char *debug;            /* "/dev/null" */
                char *log_level;        /* "info" */
                strv_t runtimes;        /* ["runc", "crun"] */
                char *mode;             /* "auto": auto|legacy|csv|cdi|jit-cdi */
                strv_t cdi_spec_dirs;   /* modes.cdi.spec-dirs ["/etc/cdi", "/var/run/cdi"] */
                char *cdi_default_kind; /* modes.cdi.default-kind "nvidia.com/gpu" */
                strv_t cdi_annotation_prefixes;  /* modes.cdi.annotation-prefixes ["cdi.k8s.io/"] */
                char *csv_mount_spec_path;       /* modes.csv.mount-spec-path
                                                    "/etc/nvidia-container-runtime/host-files-for-container.d"
                                                  */
                char *csv_compat_container_root; /* modes.csv.compat-container-root: NULL */
                strv_t jit_cdi_feature_flags;    /* modes.jit-cdi.nvcdi-feature-flags: NULL */
                strv_t jit_cdi_disable_hooks;    /* modes.jit-cdi.nvcdi-disable-hooks: NULL */
                char *legacy_cuda_compat_mode;   /* modes.legacy.cuda-compat-mode "ldconfig" */
                char *mount_in_hook; /* nctk's mount-in-hook: NULL (auto) | auto | always | never */
        } runtime;

        struct {                          /* [nvidia-container-runtime-hook] */
                char *path;               /* "nvidia-container-runtime-hook" */
                bool skip_mode_detection; /* false */
        } hook;

        struct {            /* [nvidia-ctk] */
                char *path; /* "nvidia-ctk" */
        } ctk;

        struct { /* [features] */
                bool allow_cuda_compat_libs_from_container;
                bool allow_ldconfig_from_container;
                bool allow_unknown_oci_spec_fields;
                bool disable_cuda_compat_lib_hook;
                bool disable_imex_channel_creation;
                bool ignore_imex_channel_requests;
                bool no_additional_gids_for_device_nodes;
        } features;

        char *source; /* the file it was read from, or NULL when only defaults */
};

/* The config file's path: $NVIDIA_CTK_CONFIG_FILE_PATH, else
 * ${XDG_CONFIG_HOME:-/etc}/nvidia-container-runtime/config.toml. Heap string. */
char *config_path(void);

/* Defaults, then PATH's values over them (a missing file is not an error unless REQUIRED; a NULL
 * PATH means config_path()).
 * Unknown keys are ignored with a debug line (newer reference versions add keys); a value of
 * the wrong type is an error naming the file, line and key. */
int config_load(const char *path, bool required, struct nctk_config **ret, struct nctk_error **err);
struct nctk_config *config_free(struct nctk_config *c);

/* The defaults alone, as config_load gives them for a missing file. */
int config_new_defaults(struct nctk_config **ret, struct nctk_error **err);
/* The same as config_load for the TOML text DATA (LEN bytes); FILE names it in messages and in
 * ->source. */
int config_load_data(const char *file, const char *data, size_t len, struct nctk_config **ret,
                     struct nctk_error **err);

/* The key table: every key of config.toml that a field of struct nctk_config takes, by its
 * dotted path, in the order `nvidia-ctk config default` writes them. */
enum config_key_kind { CONFIG_KEY_BOOL, CONFIG_KEY_STRING, CONFIG_KEY_STRV };

struct config_key {
        const char *path; /* "nvidia-container-runtime.modes.cdi.spec-dirs" */
        enum config_key_kind kind;
        size_t offset; /* of the field: bool, char * or strv_t (NULL: unset) */
};

const struct config_key *config_keys(size_t *ret_n);
/* The entry for the dotted PATH, or NULL for a key nctk does not know. */
const struct config_key *config_key_find(const char *path);
/* K's field in C: a bool *, char ** or strv_t *, by K's kind. */
void *config_key_field(const struct nctk_config *c, const struct config_key *k);

/* The reference's ldconfig normalisation: "@/sbin/ldconfig" (or "@/sbin/ldconfig.real") becomes
 * "@/sbin/ldconfig.real" when that file exists on the host, else "@/sbin/ldconfig"; a path
 * without '@' (inside the container) is returned as is. Heap string, NULL on ENOMEM. The
 * cli.ldconfig default went through it; a value from the file did not. */
char *config_ldconfig_normalize(const char *path);
/* Whether the ID_LIKE line of the os-release file OS_RELEASE names suse or opensuse, which
 * makes cli.user default to "root:video". */
bool config_os_release_is_suse(const char *os_release);

/* Discover options for the hook and the shim, from [nvidia-container-cli]: root, ldcache,
 * proc-root and user (UID[:GID], numbers or names, as nvidia-container-cli --user), over OPTS
 * (which nctk_discover_opts_init filled). Strings borrow from CFG. -EINVAL with ERR for an unknown
 * user or group. */
int config_discover_opts(const struct nctk_config *cfg, struct nctk_discover_opts *opts,
                         struct nctk_error **err);
/* USER ("UID[:GID]", numbers or names) into OPTS's uid and gid. -EINVAL with ERR. */
int config_user_parse(const char *user, struct nctk_discover_opts *opts, struct nctk_error **err);

#endif
