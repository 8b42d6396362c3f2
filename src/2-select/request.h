/* What a container asks for, read from its OCI runtime spec (config.json) the way the reference
 * toolkit's hook and runtime read it: NVIDIA_* variables of process.env, device-list volume
 * mounts, CDI annotations (the runtime in cdi mode), CAP_SYS_ADMIN in the bounding set, under the
 * policy of config.toml. */
#ifndef NCTK_OCI_REQUEST_H
#define NCTK_OCI_REQUEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "3-container/container.h"
#include "config/config.h"
#include "nctk/nctk.h"

#define REQUEST_REQUIRE_MAX 32 /* NVIDIA_REQUIRE_* variables, with the legacy cuda>= one */
#define REQUEST_IMEX_MAX 64    /* IMEX channels */
#define REQUEST_IMEX_CHANNEL_MAX (1u << 20) /* channel numbers are below this */
#define REQUEST_VALUE_MAX 65536             /* longest NVIDIA_* value read, in bytes */
#define REQUEST_DEVICE_ITEM_MAX 127         /* longest item of a device list */
#define REQUEST_DEVICES_MAX 2048            /* items in a device list */

/* The root under which volume mounts of /dev/null name devices (only with
 * accept-nvidia-visible-devices-as-volume-mounts): .../<id>, .../imex/<channel>,
 * .../cdi/<vendor>/<class>/<name>. */
#define REQUEST_DEVICE_MOUNT_ROOT "/var/run/nvidia-container-devices"

enum request_source {
        REQUEST_SOURCE_NONE,        /* not a GPU container */
        REQUEST_SOURCE_ENV,         /* NVIDIA_VISIBLE_DEVICES, or the swarm-resource variables */
        REQUEST_SOURCE_LEGACY,      /* a legacy CUDA image without NVIDIA_VISIBLE_DEVICES: all */
        REQUEST_SOURCE_MOUNTS,      /* volume mounts under REQUEST_DEVICE_MOUNT_ROOT */
        REQUEST_SOURCE_ANNOTATIONS, /* CDI annotations (container_request_from_spec_in_mode) */
};

struct container_request {
        /* false: the container asked for nothing (void, empty, unset, or its request was
         * dropped by policy); every field below is then empty and the hook does nothing. */
        bool is_gpu_container;
        bool is_privileged; /* CAP_SYS_ADMIN in process.capabilities.bounding */
        bool is_legacy;     /* CUDA_VERSION set and NVIDIA_REQUIRE_CUDA unset or empty */
        enum request_source source;
        /* Env-var device or IMEX requests were dropped: an unprivileged container and
         * accept-nvidia-visible-devices-envvar-when-unprivileged = false. */
        bool envvar_request_ignored;

        /* "all", "none", or the requested items, trimmed, joined with ','. Each item is an index,
         * a GPU-/MIG- UUID, "<gpu>:<mig>", a PCI bus id or a fully-qualified CDI name. */
        char *devices;
        bool has_cdi_devices;  /* some item is a CDI name ("nvidia.com/gpu=0") */
        bool only_cdi_devices; /* every item is */

        unsigned caps; /* NCTK_CAP_* bits */
        bool compat32;

        /* The requirement expressions, checked for syntax: NVIDIA_REQUIRE_* in name order, then
         * "cuda>=MAJOR.MINOR" of a legacy image. NULL-terminated; empty when disabled. */
        char **requirements;
        size_t n_requirements;
        bool requirements_disabled; /* NVIDIA_DISABLE_REQUIRE true, or disable-require */

        char *mig_config;  /* NVIDIA_MIG_CONFIG_DEVICES, NULL when unset or empty */
        char *mig_monitor; /* NVIDIA_MIG_MONITOR_DEVICES */

        unsigned imex[REQUEST_IMEX_MAX]; /* NVIDIA_IMEX_CHANNELS, or imex/ volume mounts */
        size_t n_imex;

        enum compat_mode compat; /* CUDA forward compatibility (request_compat_mode) */

        /* NVIDIA_MPS=disabled: not an MPS client even on a GPU with an nctk MPS daemon. */
        bool mps_disabled;

        /* enum nctk_gate: NVIDIA_NVSWITCH, NVIDIA_GDRCOPY, NVIDIA_GDS, NVIDIA_MOFED set to
         * exactly "enabled" (any other value enables nothing, as in the reference). */
        unsigned gates;
};

/* The one request of every front-end: configure's flags, an OCI spec (below) or CDI names all
 * become this. An empty request (nothing selected, no capability); free with
 * container_request_free. NULL when out of memory. */
struct container_request *container_request_new(void);

/* Appends a copy of EXPR to Q's requirements (syntax is checked by the pipeline). 0, -E2BIG
 * (more than REQUEST_REQUIRE_MAX), -ENOMEM. */
int container_request_add_requirement(struct container_request *q, const char *expr);

/* Appends the IMEX channels of VALUE (a list as NVIDIA_IMEX_CHANNELS takes it; "all" and "none"
 * add nothing) to Q, ORIGIN naming it in errors ("--imex-channel"). -EINVAL with ERR. */
int container_request_add_imex(struct container_request *q, const char *origin, const char *value,
                               struct nctk_error **err);

/* How CFG says an image's newer libcuda is used. The prestart hook (legacy mode) follows
 * nvidia-container-runtime.modes.legacy.cuda-compat-mode: ldconfig and mount as they are,
 * disabled and hook disable, anything else disables unless compat libraries from the container
 * are allowed. The shim's cdi mode follows features.disable-cuda-compat-lib-hook, and a
 * "disabled" legacy mode. */
enum compat_mode request_compat_mode(const struct nctk_config *cfg, bool cdi_mode);

/* Computes what the container of SPEC (an OCI runtime spec) asks for under CFG, with the
 * reference toolkit's semantics:
 *  - devices: volume mounts (if accepted and any) over the swarm-resource variables (if any is
 *    set) over NVIDIA_VISIBLE_DEVICES; unset with a legacy image means all; "void" anywhere, an
 *    empty or unset value means no GPU container; then void > none > all; env requests of an
 *    unprivileged container are dropped unless accept-...-envvar-when-unprivileged;
 *  - capabilities: NVIDIA_DRIVER_CAPABILITIES ("all", or names within
 *    supported-driver-capabilities), default utility,compute, or all supported for a legacy image;
 *  - requirements unless disabled; MIG config/monitor only for privileged containers; IMEX
 *    channels ("all" ignored; none with ignore-imex-channel-requests).
 * Every value is untrusted: a malformed one is -EINVAL, and ERR reads
 * "invalid NVIDIA_VISIBLE_DEVICES '<value>': <why>" (the value cut short and made printable).
 * On success *RET is a new request (free with container_request_free). -ENOMEM. */
int container_request_from_spec(const json_t *spec, const struct nctk_config *cfg,
                                struct container_request **ret, struct nctk_error **err);

/* container_request_from_spec for the runtime shim, which knows its mode. In cdi mode
 * (IS_CDI_MODE; the reference honours them in no other mode, jit-cdi included) the annotations
 * whose keys start with one of runtime.modes.cdi.annotation-prefixes come first, over volume
 * mounts and the environment: each value a comma-separated list of fully-qualified CDI device
 * names ("nvidia.com/gpu=0"), as the Kubernetes device plugin's cdi-annotations strategy and
 * kubelet put them on a container. The engine sets them, never the image, so they are honoured
 * for unprivileged containers too. Keys are read in byte order; blanks around names are trimmed
 * and empty names skipped. A value that is not a string, or a name that is not a CDI name, is
 * -EINVAL with ERR reading "invalid CDI annotation KEY 'VALUE': ...". */
int container_request_from_spec_in_mode(const json_t *spec, const struct nctk_config *cfg,
                                        bool is_cdi_mode, struct container_request **ret,
                                        struct nctk_error **err);
/* NULL-safe; returns NULL. */
struct container_request *container_request_free(struct container_request *r);

/* CAP_SYS_ADMIN in process.capabilities.bounding (or, for the pre-1.0.0-rc5 layout where
 * capabilities is a plain list, in that list). */
bool oci_spec_is_privileged(const json_t *spec);

#endif
