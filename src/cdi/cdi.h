/* CDI (Container Device Interface) specs: one more back-end of the plan. generate.c turns the
 * inventory and per-device plans into a spec (a jansson document), yaml-write.c and yaml-read.c
 * convert it to and from block YAML, check.c validates a spec against the CDI rules and this
 * host, transform.c moves its paths to another root. */
#ifndef NCTK_CDI_CDI_H
#define NCTK_CDI_CDI_H

#include <jansson.h>
#include <stdbool.h>

#include "nctk/nctk.h"

enum cdi_name_strategy {
        CDI_NAME_INDEX = 1u << 0,      /* "0", "0:1" */
        CDI_NAME_UUID = 1u << 1,       /* "GPU-...", "MIG-..." */
        CDI_NAME_TYPE_INDEX = 1u << 2, /* "gpu0", "mig0:1" */
};

enum cdi_hook {
        CDI_HOOK_CREATE_SYMLINKS = 1u << 0,
        CDI_HOOK_ENABLE_CUDA_COMPAT = 1u << 1,
        CDI_HOOK_UPDATE_LDCACHE = 1u << 2,
        CDI_HOOK_DISABLE_DEVICE_NODE_MODIFICATION = 1u << 3,
        CDI_HOOK_ALL = (1u << 4) - 1,
};

enum cdi_mode { CDI_MODE_NVML, CDI_MODE_MANAGEMENT, CDI_MODE_IMEX };

struct cdi_generate_opts {
        enum cdi_mode mode;
        const char *vendor;        /* "nvidia.com" */
        const char *class_;        /* "gpu" */
        unsigned strategies;       /* enum cdi_name_strategy; 0: index and uuid */
        bool no_all_device;        /* no "all" device */
        const char *device_ids;    /* "all" or a list of indexes, "i:j", UUIDs */
        const char *hook_path;     /* /usr/bin/nvidia-cdi-hook */
        const char *ldconfig_path; /* passed to update-ldcache, or NULL */
        unsigned disabled_hooks;   /* enum cdi_hook */
        unsigned caps;             /* enum nctk_cap: the libraries of these capabilities */
        const unsigned *imex;      /* CDI_MODE_IMEX: the channels that exist */
        size_t n_imex;
};

/* The CDI hook named NAME ("create-symlinks", ..., "all"), or 0. */
unsigned cdi_hook_parse(const char *name);

/* The spec for INV as O asks, with the lowest cdiVersion that expresses it. */
int cdi_generate(const struct nctk_inventory *inv, const struct cdi_generate_opts *o, json_t **ret,
                 struct nctk_error **err);

/* The lowest CDI version ("0.3.0" ... "0.7.0") whose schema has every field SPEC uses. */
const char *cdi_min_version(const json_t *spec);

/* DOC as block YAML (the style NVIDIA's own files use), NUL-terminated, or NULL when out of
 * memory. Strings that YAML would read as anything else are double-quoted. */
char *cdi_yaml_dump(const json_t *doc);

/* Parses the block YAML subset that CDI specs use (mappings, sequences, plain, single- and
 * double-quoted scalars, [] and {}, comments, "---") into a document. NAME prefixes errors,
 * which say the line and what is wrong. */
int cdi_yaml_parse(const char *text, size_t len, const char *name, json_t **ret,
                   struct nctk_error **err);

/* Reads a spec file: JSON when it starts with '{', YAML otherwise. */
int cdi_spec_load(const char *path, json_t **ret, struct nctk_error **err);

/* Each problem found is passed to REPORT as one line ("what is wrong, what to do"). */
typedef void (*cdi_report_fn)(const char *problem, void *userdata);

/* Checks SPEC against the CDI schema and naming rules. Returns the number of problems. */
int cdi_check_schema(const json_t *spec, cdi_report_fn report, void *userdata);

/* Checks SPEC against this host: host paths exist, device nodes are character devices with the
 * spec's major and minor, versioned driver libraries carry DRIVER_VERSION (NULL: not
 * checked). Returns the number of problems. */
int cdi_check_host(const json_t *spec, const char *driver_version, cdi_report_fn report,
                   void *userdata);

/* Moves every path under FROM to the same place under TO: host paths (hostPath, hooks' path),
 * or with CONTAINER the container paths (containerPath, device node paths, hook arguments). */
int cdi_transform_root(json_t *spec, const char *from, const char *to, bool container,
                       struct nctk_error **err);

#endif
