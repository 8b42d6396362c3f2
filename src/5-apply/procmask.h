/* Masking /proc/driver/nvidia inside a container. */
#ifndef NCTK_APPLY_PROCMASK_H
#define NCTK_APPLY_PROCMASK_H

#include <stddef.h>

#include "5-apply/rootfs.h"

/* Host-side material for the mask, read before entering the container. */
struct procmask_src {
        char *params, *version, *registry; /* file contents, params with ModifyDeviceFiles: 0 */
        size_t n_gpus;
        struct procmask_gpu {
                char *busid;
                int fd; /* detached clone (or O_PATH fd) of /proc/driver/nvidia/gpus/<busid> */
                bool is_tree;
        } * gpus;
};

int procmask_prepare(const char *proc_root, char *const *busids, size_t n,
                     struct procmask_src *ret);
void procmask_release(struct procmask_src *s);
/* In the container's mount namespace: a read-only tmpfs over ROOTFD's /proc/driver/nvidia with
 * the copies and the selected GPUs' directories, still writable. Returns 0, or 1 when the container
 * has no /proc/driver/nvidia (no driver loaded on this host) and nothing was done. */
int procmask_apply(int rootfd, const struct procmask_src *s, struct journal *j);
/* Makes the mask read-only, once the MIG capability files have been bound into it. */
int procmask_seal(int rootfd);

#endif
