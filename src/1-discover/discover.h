/* Internal interfaces of the discover stage: the context shared by the inventory builders, and
 * one entry point per concern (procfs facts, device nodes, libraries, binaries, other files). */
#ifndef NCTK_DISCOVER_DISCOVER_H
#define NCTK_DISCOVER_DISCOVER_H

#include <jansson.h>

#include "ldcache/ldcache.h"
#include "nctk/nctk.h"

struct discover_ctx {
        const struct nctk_discover_opts *opts;
        int rootfd; /* driver root */
        int devfd;  /* dev root */
        int procfd; /* proc root */
        char *root_real;
        struct ldcache *cache;
        char *nvml_path;     /* libnvidia-ml.so.1 inside the root, symlinks resolved */
        char *driver_prefix; /* the directory above the driver's library dir ("/usr/local/nvidia")
                              */
        struct nctk_inventory *inv;
};

/* procfs.c */
int procfs_driver_version(int procfd, char ret[NCTK_VERSION_MAX]);
int procfs_majors(int procfd, struct nctk_majors *ret);
int procfs_gpus(int procfd, struct nctk_gpu **ret, size_t *ret_n);
/* The nvidia-caps minor in a /proc capability file (PATH relative to the proc root), or -errno. */
int procfs_cap_minor(int procfd, const char *path);

/* nodes.c */
int nodes_discover(struct discover_ctx *ctx, struct nctk_error **err);
bool node_exists(int devfd, const char *path, unsigned major, unsigned minor);

/* gated.c: the nodes and files of the gates in ctx->opts->gates. */
int gated_discover(struct discover_ctx *ctx, struct nctk_error **err);

/* kmods.c: whether MODULE has a directory under SYSFD's module/ (-1: never), and the host's
 * modprobe run on it with an empty environment (its exit status, or -errno). */
bool kmod_is_loaded(int sysfd, const char *module);
int kmod_modprobe(const char *module);

/* libraries.c */
int libraries_discover(struct discover_ctx *ctx, struct nctk_error **err);
int libraries_find_nvml(struct discover_ctx *ctx, struct nctk_error **err);

/* binaries.c */
int binaries_discover(struct discover_ctx *ctx, struct nctk_error **err);

/* files.c */
int ipcs_discover(struct discover_ctx *ctx, struct nctk_error **err);
int firmware_discover(struct discover_ctx *ctx, struct nctk_error **err);
int configs_discover(struct discover_ctx *ctx, struct nctk_error **err);

/* Adds a file to LIST (deduplicated by path); CAPS is or-ed in when it is already there. */
int file_list_add(struct nctk_file **list, size_t *n, const char *path, unsigned caps,
                  bool is_32bit);
/* Records SONAME for the library at PATH in LIST (the first versioned name wins). */
int file_list_set_soname(struct nctk_file *list, size_t n, const char *path, const char *soname);

/* INV as a JSON object (inventory-json.c), or NULL when out of memory. */
json_t *inventory_json(const struct nctk_inventory *inv);

#endif
