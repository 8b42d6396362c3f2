/* apply_container(): the edits, applied to a live container that runc/crun has created but not
 * started. Every source is opened on the host first; then we enter the container's mount
 * namespace and work on its rootfs through fds only. A failure undoes everything done so far,
 * so a container never starts half-configured. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "5-apply/apply.h"
#include "5-apply/cgroup.h"
#include "5-apply/mount.h"
#include "5-apply/procmask.h"
#include "5-apply/propagation.h"
#include "5-apply/rootfs.h"
#include "ldcache/write.h"
#include "util/chase.h"
#include "util/log.h"
#include "util/macros.h"
#include "util/strv.h"

struct applier {
        const struct nctk_inventory *inv;
        const struct edits *e;
        const struct apply_opts *o;
        uid_t uid;
        gid_t gid;
        struct mount_source *srcs;  /* one per e->mounts */
        struct mount_source *nodes; /* one per e->nodes */
        struct procmask_src proc;
        int rootfd;
        bool proc_masked;
        struct journal j;
};

static void applier_release(struct applier *a) {
        for (size_t i = 0; a->srcs && i < a->e->n_mounts; i++)
                mount_source_close(&a->srcs[i]);
        for (size_t i = 0; a->nodes && i < a->e->n_nodes; i++)
                mount_source_close(&a->nodes[i]);
        free(a->srcs);
        free(a->nodes);
        procmask_release(&a->proc);
        journal_release(&a->j);
}

static int sources_open(struct applier *a, struct nctk_error **err) {
        const struct edits *e = a->e;
        int r;

        a->srcs = calloc(e->n_mounts + 1, sizeof(*a->srcs));
        a->nodes = calloc(e->n_nodes + 1, sizeof(*a->nodes));
        if (!a->srcs || !a->nodes)
                return nctk_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i <= e->n_mounts; i++)
                a->srcs[i].fd = -EBADF;
        for (size_t i = 0; i <= e->n_nodes; i++)
                a->nodes[i].fd = -EBADF;
        for (size_t i = 0; i < e->n_mounts; i++) {
                r = mount_source_open(e->mounts[i].source, &a->srcs[i]);
                if (r < 0)
                        return nctk_error_set(err, -r, "cannot open '%s': %s", e->mounts[i].source,
                                              strerror(-r));
        }
        for (size_t i = 0; !a->o->no_devbind && i < e->n_nodes; i++) {
                r = mount_node_source_open(&e->nodes[i], &a->nodes[i]);
                if (r < 0)
                        return nctk_error_set(
                                err, -r, "device node '%s' (%u:%u): %s", e->nodes[i].source,
                                e->nodes[i].major, e->nodes[i].minor,
                                r == -ENODEV ? "not the expected character device" : strerror(-r));
        }
        if (e->mask_proc) {
                r = procmask_prepare(a->inv->proc_root, e->proc_gpus, e->n_proc_gpus, &a->proc);
                if (r < 0)
                        return nctk_error_set(err, -r, "cannot read '%s/driver/nvidia': %s",
                                              a->inv->proc_root, strerror(-r));
        }
        return 0;
}

/* Joins PID's mount namespace, unless we are in it already. */
static int enter_mount_ns(pid_t pid, struct nctk_error **err) {
        _cleanup_close_ int fd = -EBADF;
        struct stat theirs, ours;
        char path[64];

        snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int) pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return nctk_error_set(err, errno,
                                      "cannot open the mount namespace of process %d: %s",
                                      (int) pid, strerror(errno));
        if (fstat(fd, &theirs) == 0 && stat("/proc/self/ns/mnt", &ours) == 0 &&
            theirs.st_ino == ours.st_ino && theirs.st_dev == ours.st_dev)
                return 0;
        if (setns(fd, CLONE_NEWNS) < 0)
                return nctk_error_set(err, errno,
                                      "cannot enter the mount namespace of process %d: %s",
                                      (int) pid, strerror(errno));
        return 0;
}

static int owner_of(pid_t pid, uid_t *uid, gid_t *gid) {
        char path[64];
        struct stat st;

        snprintf(path, sizeof(path), "/proc/%d", (int) pid);
        if (stat(path, &st) < 0)
                return -errno;
        *uid = st.st_uid;
        *gid = st.st_gid;
        return 0;
}

static int apply_mounts(struct applier *a, struct nctk_error **err) {
        for (size_t i = 0; i < a->e->n_mounts; i++) {
                const struct edit_mount *m = &a->e->mounts[i];
                _cleanup_close_ int tfd = -EBADF;
                int r;

                /* Nothing can be created in procfs: without the mask (no driver on this host's
                 * /proc), the driver's proc files have nowhere to go. */
                if (startswith(m->target, "/proc/") && !a->proc_masked) {
                        log_debug("no /proc/driver/nvidia in the container: skipping '%s'",
                                  m->target);
                        continue;
                }

                tfd = rootfs_target(a->rootfd, m->target, a->srcs[i].is_dir, a->uid, a->gid, &a->j);
                if (tfd < 0)
                        return nctk_error_set(err, -tfd, "mount target '%s': %s", m->target,
                                              strerror(-tfd));
                r = mount_attach(&a->srcs[i], a->rootfd, m->target, tfd, m->flags);
                if (r < 0)
                        return nctk_error_set(err, -r, "mount '%s' on '%s': %s", m->source,
                                              m->target, strerror(-r));
                r = journal_add(&a->j, JOURNAL_MOUNT, m->target);
                if (r < 0)
                        return nctk_error_set(err, -r, "out of memory");
        }
        return 0;
}

static int apply_nodes(struct applier *a, struct nctk_error **err) {
        for (size_t i = 0; !a->o->no_devbind && i < a->e->n_nodes; i++) {
                const struct edit_node *n = &a->e->nodes[i];
                _cleanup_close_ int tfd = -EBADF;
                int r;

                tfd = rootfs_target(a->rootfd, n->target, false, a->uid, a->gid, &a->j);
                if (tfd < 0)
                        return nctk_error_set(err, -tfd, "device target '%s': %s", n->target,
                                              strerror(-tfd));
                r = mount_attach(&a->nodes[i], a->rootfd, n->target, tfd,
                                 MOUNT_RDONLY | MOUNT_NOSUID | MOUNT_NOEXEC);
                if (r < 0)
                        return nctk_error_set(err, -r, "mount device '%s': %s", n->target,
                                              strerror(-r));
                r = journal_add(&a->j, JOURNAL_MOUNT, n->target);
                if (r < 0)
                        return nctk_error_set(err, -r, "out of memory");
        }
        return 0;
}

static int apply_cgroup(struct applier *a, struct nctk_error **err) {
        _cleanup_free_ struct device_rule *rules = NULL;

        if (a->o->no_cgroups || a->e->n_rules == 0)
                return 0;
        rules = calloc(a->e->n_rules, sizeof(*rules));
        if (!rules)
                return nctk_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < a->e->n_rules; i++)
                rules[i] = (struct device_rule){.type = a->e->rules[i].type,
                                                .major = a->e->rules[i].major,
                                                .minor = a->e->rules[i].minor,
                                                .access = a->e->rules[i].access};
        /* > 0: nothing restricts devices there (no program, or only the parents'). */
        int r = cgroup_allow_devices(a->o->pid, rules, a->e->n_rules, err);
        return r < 0 ? r : 0;
}

static int apply_in_container(struct applier *a, struct nctk_error **err) {
        int r = 0;

        if (a->e->mask_proc) {
                r = procmask_apply(a->rootfd, &a->proc, &a->j);
                if (r == 1)
                        log_debug("no /proc/driver/nvidia in the container: nothing to mask");
                if (r < 0)
                        return nctk_error_set(err, -r, "cannot mask /proc/driver/nvidia: %s",
                                              strerror(-r));
                a->proc_masked = r == 0;
        }
        r = apply_mounts(a, err);
        log_debug("apply: mounts done");
        if (r >= 0 && a->proc_masked && (r = procmask_seal(a->rootfd)) < 0)
                return nctk_error_set(err, -r, "cannot make /proc/driver/nvidia read-only: %s",
                                      strerror(-r));
        r = r < 0 ? r : apply_nodes(a, err);
        r = r < 0 ? r : apply_links(a->rootfd, a->e, a->uid, a->gid, &a->j, err);
        if (r >= 0 && !a->o->no_ldcache)
                r = apply_ldcache(a->rootfd, a->e->ldcache_dirs, a->e->n_ldcache_dirs, err);
        log_debug("apply: nodes, links and ld cache done");
        /* The cgroup last: it is the one step that acts outside the container's mount
         * namespace, and it swaps the device program atomically or not at all. */
        r = r < 0 ? r : apply_cgroup(a, err);
        log_debug("apply: device cgroup done");
        return r;
}

int apply_container(const struct nctk_inventory *inv, const struct edits *e,
                    const struct apply_opts *o, struct nctk_error **err) {
        _cleanup_(applier_release) struct applier a = {.inv = inv, .e = e, .o = o};
        int r;

        r = owner_of(o->pid, &a.uid, &a.gid);
        if (r < 0)
                return nctk_error_set(err, -r, "container process %d: %s", (int) o->pid,
                                      strerror(-r));
        r = sources_open(&a, err);
        if (r < 0)
                return r;
        log_debug("apply: %zu mount sources and %zu nodes opened", e->n_mounts, e->n_nodes);
        r = enter_mount_ns(o->pid, err);
        if (r < 0)
                return r;
        a.rootfd = o->rootfd;
        r = rootfs_stop_propagation(a.rootfd);
        if (r < 0)
                return nctk_error_set(err, -r,
                                      "cannot keep mounts in rootfs '%s' from propagating "
                                      "to the host: %s",
                                      o->rootfs, strerror(-r));
        r = apply_in_container(&a, err);
        if (r < 0)
                journal_undo(a.rootfd, &a.j);
        return r;
}
