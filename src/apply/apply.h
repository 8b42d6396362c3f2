/* The apply stage (DESIGN.md stage 4), into a live container. */
#ifndef NCTK_APPLY_APPLY_H
#define NCTK_APPLY_APPLY_H

#include <sys/types.h>

#include "nctk/nctk.h"
#include "plan/plan.h"

struct apply_opts {
        pid_t pid;          /* the container's init process */
        const char *rootfs; /* its rootfs, as a path in its mount namespace before pivot_root */
        bool no_cgroups;    /* leave the device cgroup alone */
        bool no_devbind;    /* do not bind device nodes (cgroup rules still apply) */
        bool no_ldcache;    /* do not write the container's ld.so.cache */
};

int apply_container(const struct nctk_inventory *inv, const struct edits *e,
                    const struct apply_opts *o, struct nctk_error **err);

#endif
