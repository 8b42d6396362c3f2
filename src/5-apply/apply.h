/* The apply stage (DESIGN.md stage 4), into a live container. */
#ifndef NCTK_APPLY_APPLY_H
#define NCTK_APPLY_APPLY_H

#include <sys/types.h>

#include "4-plan/plan.h"
#include "nctk/nctk.h"

struct apply_opts {
        pid_t pid;          /* the container's init process */
        int rootfd;         /* its rootfs, opened in its mount namespace (container_rootfs_open) */
        const char *rootfs; /* that rootfs's path, for messages */
        bool no_cgroups;    /* leave the device cgroup alone */
        bool no_devbind;    /* do not bind device nodes (cgroup rules still apply) */
        bool no_ldcache;    /* do not write the container's ld.so.cache */
};

int apply_container(const struct nctk_inventory *inv, const struct edits *e,
                    const struct apply_opts *o, struct nctk_error **err);

struct journal;

struct finalize_opts {
        const char *rootfs;    /* the container's rootfs, as this mount namespace sees it */
        const char *proc_root; /* the driver's procfs, read for the /proc mask; NULL: "/proc" */
        uid_t uid;             /* owner of the directories and links created */
        gid_t gid;
        char **cdi_hooks; /* folded CDI spec hooks (apply_cdi_hooks), borrowed strings */
        size_t n_cdi_hooks;
};

/* The part of E that config.json cannot express, run as an OCI createContainer hook (in the
 * container's mount namespace, after the runtime's mounts, before pivot_root): the mask over
 * /proc/driver/nvidia with E's mounts into /proc, E's symlinks and the container's ld cache.
 * E's other mounts, its nodes and its rules are left to the runtime (see apply/spec.h). On
 * failure everything done is undone. 0 or -errno with ERR. */
int apply_finalize(const struct edits *e, const struct finalize_opts *o, struct nctk_error **err);

/* Shared by apply_container() and apply_finalize(), inside ROOTFD: E's symlinks (an image file
 * where a link goes is left alone, with a warning), and the ld cache of DIRS followed by the
 * container's own ld.so.conf directories. */
int apply_links(int rootfd, const struct edits *e, uid_t uid, gid_t gid, struct journal *j,
                struct nctk_error **err);
int apply_ldcache(int rootfd, char *const *dirs, size_t n, struct nctk_error **err);

/* The CDI spec hooks folded into the finalize hook, in order, inside ROOTFD: each of STEPS is
 * a JSON array of an nvidia-cdi-hook invocation's arguments, hook name first, and is run as
 * that invocation would run (cdihook/step.h); an unknown hook is skipped with a warning, as
 * nvidia-cdi-hook skips it. 0 or -errno with ERR naming the hook. */
int apply_cdi_hooks(int rootfd, char *const *steps, size_t n, struct nctk_error **err);

#endif
