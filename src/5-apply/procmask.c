/* /proc/driver/nvidia in a container: the driver's procfs shows every GPU and lets NVML change
 * device files (ModifyDeviceFiles). We cover it with a read-only tmpfs holding copies of params
 * (with ModifyDeviceFiles: 0), version and registry, and bind only the selected GPUs'
 * directories into it, so tools in the container see exactly the GPUs they were given. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "4-plan/plan.h"
#include "5-apply/mount.h"
#include "5-apply/procmask.h"
#include "5-apply/propagation.h"
#include "util/chase.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/macros.h"
#include "util/strv.h"

#define PROC_NVIDIA "/proc/driver/nvidia"

static char *read_proc_file(const char *proc_root, const char *name) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        char *buf = NULL;

        if (asprintf(&path, "%s/driver/nvidia/%s", proc_root, name) < 0)
                return NULL;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || read_full_fd(fd, 1u << 20, &buf, NULL) < 0)
                return strdup("");
        return buf;
}

/* NVML in the container must not create or chmod device nodes: it would give itself GPUs the
 * runtime did not grant (the nodes would still be denied by the cgroup, but confusingly). */
static void params_lock(char *params) {
        char *p = strstr(params, "ModifyDeviceFiles: 1");

        if (p)
                p[strlen("ModifyDeviceFiles: ")] = '0';
}

int procmask_prepare(const char *proc_root, char *const *busids, size_t n,
                     struct procmask_src *ret) {
        struct procmask_src s = {};
        int r = 0;

        s.params = read_proc_file(proc_root, "params");
        s.version = read_proc_file(proc_root, "version");
        s.registry = read_proc_file(proc_root, "registry");
        s.gpus = calloc(n + 1, sizeof(*s.gpus));
        if (!s.params || !s.version || !s.registry || !s.gpus) {
                procmask_release(&s);
                return -ENOMEM;
        }
        params_lock(s.params);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                _cleanup_free_ char *path = NULL;
                struct mount_source src;

                if (asprintf(&path, "%s/driver/nvidia/gpus/%s", proc_root, busids[i]) < 0) {
                        r = -ENOMEM;
                        break;
                }
                s.gpus[s.n_gpus].busid = strdup(busids[i]);
                r = s.gpus[s.n_gpus].busid ? mount_source_open(path, &src) : -ENOMEM;
                if (r == -ENOENT) {
                        log_debug("no '%s' on this host", path);
                        free(s.gpus[s.n_gpus].busid);
                        r = 0;
                        continue;
                }
                s.gpus[s.n_gpus].fd = r < 0 ? -EBADF : src.fd;
                s.gpus[s.n_gpus].is_tree = src.is_tree;
                s.n_gpus++;
        }
        if (r < 0) {
                procmask_release(&s);
                return r;
        }
        *ret = s;
        return 0;
}

void procmask_release(struct procmask_src *s) {
        free(s->params);
        free(s->version);
        free(s->registry);
        for (size_t i = 0; s->gpus && i < s->n_gpus; i++) {
                free(s->gpus[i].busid);
                if (s->gpus[i].fd >= 0)
                        close(s->gpus[i].fd);
        }
        free(s->gpus);
        memset(s, 0, sizeof(*s));
}

static int write_file_at(int dirfd, const char *name, const char *content) {
        _cleanup_close_ int fd =
                openat(dirfd, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0444);

        if (fd < 0)
                return -errno;
        return write_full(fd, content, strlen(content));
}

/* A detached tmpfs holding the copies and one empty directory per GPU. */
static int tmpfs_build(const struct procmask_src *s) {
        _cleanup_close_ int fsfd = -EBADF, gpus = -EBADF;
        int mnt, r;

        fsfd = fsopen("tmpfs", FSOPEN_CLOEXEC);
        if (fsfd < 0)
                return -errno;
        if (fsconfig(fsfd, FSCONFIG_SET_STRING, "mode", "0555", 0) < 0 ||
            fsconfig(fsfd, FSCONFIG_SET_STRING, "size", "1m", 0) < 0 ||
            fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
                return -errno;
        mnt = fsmount(fsfd, FSMOUNT_CLOEXEC,
                      MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
        if (mnt < 0)
                return -errno;
        r = write_file_at(mnt, "params", s->params);
        r = r < 0 ? r : write_file_at(mnt, "version", s->version);
        r = r < 0 ? r : write_file_at(mnt, "registry", s->registry);
        if (r >= 0 && mkdirat(mnt, "gpus", 0555) < 0)
                r = -errno;
        if (r >= 0 && (gpus = openat(mnt, "gpus", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
                r = -errno;
        for (size_t i = 0; r >= 0 && i < s->n_gpus; i++)
                if (mkdirat(gpus, s->gpus[i].busid, 0555) < 0)
                        r = -errno;
        if (r < 0) {
                close(mnt);
                return r;
        }
        return mnt;
}

static int bind_gpus(int rootfd, const struct procmask_src *s) {
        for (size_t i = 0; i < s->n_gpus; i++) {
                struct mount_source src = {
                        .fd = s->gpus[i].fd, .is_tree = s->gpus[i].is_tree, .is_dir = true};
                _cleanup_free_ char *target = NULL;
                _cleanup_close_ int tfd = -EBADF;
                int r;

                if (asprintf(&target, PROC_NVIDIA "/gpus/%s", s->gpus[i].busid) < 0)
                        return -ENOMEM;
                tfd = chase_open(rootfd, target, O_PATH | O_DIRECTORY, 0);
                if (tfd < 0)
                        return tfd;
                r = mount_attach(&src, rootfd, target, tfd,
                                 MOUNT_RDONLY | MOUNT_NOSUID | MOUNT_NODEV | MOUNT_NOEXEC);
                if (r < 0)
                        return r;
        }
        return 0;
}

int procmask_apply(int rootfd, const struct procmask_src *s, struct journal *j) {
        _cleanup_close_ int target = chase_open(rootfd, PROC_NVIDIA, O_PATH | O_DIRECTORY, 0);
        _cleanup_close_ int mnt = -EBADF;
        int r;

        if (target == -ENOENT)
                return 1;
        if (target < 0)
                return target;
        /* The container's procfs is a mount of its own: keep our tmpfs from its peers too. */
        r = rootfs_stop_propagation(target);
        if (r < 0)
                return r;
        mnt = tmpfs_build(s);
        if (mnt < 0)
                return mnt;
        if (move_mount(mnt, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
                return -errno;
        r = journal_add(j, JOURNAL_MOUNT, PROC_NVIDIA);
        if (r < 0)
                return r;
        return bind_gpus(rootfd, s);
}

int procmask_seal(int rootfd) {
        return mount_set_flags(rootfd, PROC_NVIDIA,
                               MOUNT_RDONLY | MOUNT_NOSUID | MOUNT_NODEV | MOUNT_NOEXEC);
}
