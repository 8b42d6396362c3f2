/* apply_finalize(): what remains of a container's edits once the runtime has applied the rest
 * from config.json (apply/spec.c). It runs as a createContainer hook, in the container's mount
 * namespace before pivot_root, and works on the rootfs through fds only, as apply_container()
 * does: the rootfs is the image's, so it is hostile (DESIGN.md rule 1). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "5-apply/apply.h"
#include "5-apply/hook-mounts.h"
#include "5-apply/mount.h"
#include "5-apply/procmask.h"
#include "5-apply/rootfs.h"
#include "ldcache/write.h"
#include "util/log.h"
#include "util/macros.h"
#include "util/strv.h"

int apply_links(int rootfd, const struct edits *e, uid_t uid, gid_t gid, struct journal *j,
                struct nctk_error **err) {
        for (size_t i = 0; i < e->n_links; i++) {
                const struct edit_link *l = &e->links[i];
                int r = rootfs_symlink(rootfd, l->path, l->target, uid, gid, j);

                /* An image that installed driver packages: its copy is what the loader finds,
                 * and NVML then fails with "Driver/library version mismatch". */
                if (r == -EEXIST) {
                        log_warning("'%s' is a file of the image, not a link to '%s': left "
                                    "as it is, so the container uses the image's copy; remove "
                                    "it from the image if it is a driver file",
                                    l->path, l->target);
                        continue;
                }
                if (r < 0)
                        return nctk_error_set(err, -r, "symlink '%s': %s", l->path, strerror(-r));
        }
        return 0;
}

int apply_ldcache(int rootfd, char *const *dirs, size_t n, struct nctk_error **err) {
        _cleanup_free_ char **all = NULL;
        char **conf = NULL;
        size_t n_conf = 0, n_all = 0;
        int r;

        if (n == 0)
                return 0;
        r = ldcache_dirs_from_conf(rootfd, &conf, &n_conf);
        if (r < 0)
                return nctk_error_set(err, -r, "cannot read the container's ld.so.conf: %s",
                                      strerror(-r));
        all = calloc(n_conf + n + 1, sizeof(char *));
        if (!all)
                r = -ENOMEM;
        for (size_t i = 0; all && i < n; i++)
                all[n_all++] = dirs[i];
        for (size_t i = 0; all && i < n_conf; i++)
                all[n_all++] = conf[i];
        if (r >= 0)
                r = ldcache_write(rootfd, (const char *const *) all, n_all, "/etc/ld.so.cache",
                                  err);
        ldcache_dirs_free(conf);
        if (r < 0 && err && !*err)
                nctk_error_set(err, -r, "cannot write the container's ld.so.cache: %s",
                               strerror(-r));
        return r;
}

struct finalizer {
        const struct edits *e;
        const struct finalize_opts *o;
        struct mount_source *srcs; /* one per e->mounts; only the /proc ones are opened */
        struct procmask_src proc;
        int rootfd;
        bool masked;
        struct journal j;
};

static void finalizer_release(struct finalizer *f) {
        for (size_t i = 0; f->srcs && i < f->e->n_mounts; i++)
                mount_source_close(&f->srcs[i]);
        free(f->srcs);
        procmask_release(&f->proc);
        if (f->rootfd >= 0)
                close(f->rootfd);
        journal_release(&f->j);
}

static bool is_proc(const struct edit_mount *m) {
        return startswith(m->target, "/proc/");
}

static int proc_mask(struct finalizer *f, struct nctk_error **err) {
        const char *proc_root = f->o->proc_root ? f->o->proc_root : "/proc";
        int r;

        if (!f->e->mask_proc)
                return 0;
        r = procmask_prepare(proc_root, f->e->proc_gpus, f->e->n_proc_gpus, &f->proc);
        if (r < 0)
                return nctk_error_set(err, -r, "cannot read '%s/driver/nvidia': %s", proc_root,
                                      strerror(-r));
        r = procmask_apply(f->rootfd, &f->proc, &f->j);
        if (r < 0)
                return nctk_error_set(err, -r, "cannot mask /proc/driver/nvidia: %s", strerror(-r));
        f->masked = r == 0;
        if (!f->masked)
                log_debug("no /proc/driver/nvidia in the container: nothing to mask");
        return 0;
}

/* The driver's MIG access files, bound into the mask (procfs itself takes no new files). */
static int proc_mounts(struct finalizer *f, struct nctk_error **err) {
        for (size_t i = 0; f->masked && i < f->e->n_mounts; i++) {
                const struct edit_mount *m = &f->e->mounts[i];
                _cleanup_close_ int tfd = -EBADF;
                int r;

                if (!is_proc(m))
                        continue;
                tfd = rootfs_target(f->rootfd, m->target, f->srcs[i].is_dir, f->o->uid, f->o->gid,
                                    &f->j);
                if (tfd < 0)
                        return nctk_error_set(err, -tfd, "mount target '%s': %s", m->target,
                                              strerror(-tfd));
                r = mount_attach(&f->srcs[i], f->rootfd, m->target, tfd, m->flags);
                r = r < 0 ? r : journal_add(&f->j, JOURNAL_MOUNT, m->target);
                if (r < 0)
                        return nctk_error_set(err, -r, "mount '%s' on '%s': %s", m->source,
                                              m->target, strerror(-r));
        }
        if (f->masked) {
                int r = procmask_seal(f->rootfd);
                if (r < 0)
                        return nctk_error_set(err, -r,
                                              "cannot make /proc/driver/nvidia read-only: %s",
                                              strerror(-r));
        }
        return 0;
}

static int sources_open(struct finalizer *f, struct nctk_error **err) {
        f->srcs = calloc(f->e->n_mounts + 1, sizeof(*f->srcs));
        if (!f->srcs)
                return nctk_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i <= f->e->n_mounts; i++)
                f->srcs[i].fd = -EBADF;
        for (size_t i = 0; i < f->e->n_mounts; i++) {
                int r;

                if (!is_proc(&f->e->mounts[i]))
                        continue;
                r = mount_source_open(f->e->mounts[i].source, &f->srcs[i]);
                if (r < 0)
                        return nctk_error_set(err, -r, "cannot open '%s': %s",
                                              f->e->mounts[i].source, strerror(-r));
        }
        return 0;
}

int apply_finalize(const struct edits *e, const struct finalize_opts *o, struct nctk_error **err) {
        _cleanup_(finalizer_release) struct finalizer f = {.e = e, .o = o, .rootfd = -EBADF};
        int r;

        r = sources_open(&f, err);
        if (r < 0)
                return r;
        f.rootfd = open(o->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (f.rootfd < 0)
                return nctk_error_set(err, errno, "cannot open rootfs '%s': %s", o->rootfs,
                                      strerror(errno));
        r = apply_hook_mounts(f.rootfd, e, o->uid, o->gid, &f.j, err);
        r = r < 0 ? r : proc_mask(&f, err);
        r = r < 0 ? r : proc_mounts(&f, err);
        r = r < 0 ? r : apply_links(f.rootfd, e, o->uid, o->gid, &f.j, err);
        r = r < 0 ? r : apply_ldcache(f.rootfd, e->ldcache_dirs, e->n_ldcache_dirs, err);
        /* The spec's hooks ran after ours when they were separate: they still do. */
        r = r < 0 ? r : apply_cdi_hooks(f.rootfd, o->cdi_hooks, o->n_cdi_hooks, err);
        if (r < 0)
                journal_undo(f.rootfd, &f.j);
        return r;
}
