/* CUDA forward compatibility: an image's newer libcuda from /usr/local/cuda/compat. */
#ifndef NCTK_APPLY_COMPAT_H
#define NCTK_APPLY_COMPAT_H

#include "nctk/nctk.h"
#include "4-plan/plan.h"

enum compat_mode { COMPAT_MOUNT, COMPAT_LDCONFIG, COMPAT_DISABLED };

/* When ROOTFS has /usr/local/cuda/compat/libcuda.so.<version> of a newer major version than
 * DRIVER_VERSION, puts that directory first in E's ld cache directories, so the container's
 * loader picks the image's compat libcuda over the host's. Both the mount and the ldconfig modes
 * do it this way: nothing from the image is mounted (CVE-2024-0132 came from such mounts). */
int compat_plan(const char *rootfs, const char *driver_version, struct edits *e,
                struct nctk_error **err);

#endif
