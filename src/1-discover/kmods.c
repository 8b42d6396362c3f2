/* --load-kmods: load the NVIDIA kernel modules and create the device nodes that udev does not
 * create for them (what `nvidia-modprobe -u -c=0` does). Without this, the first container on a
 * fresh boot finds no /dev/nvidia-uvm and CUDA fails with "no CUDA-capable device". */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "1-discover/discover.h"
#include "util/chase.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/macros.h"
#include "util/userns.h"

static const char *const modprobe_paths[] = {"/sbin/modprobe", "/usr/sbin/modprobe"};

/* A loaded module has a directory in sysfs, named with '_' where modprobe also accepts '-'.
 * Checking it first spares the container start one modprobe process per module (modprobe would
 * find the module loaded and do nothing). */
bool kmod_is_loaded(int sysfd, const char *module) {
        char path[64];
        struct stat st;

        if (sysfd < 0)
                return false;
        snprintf(path, sizeof(path), "module/%s", module);
        for (char *p = path; *p; p++)
                if (*p == '-')
                        *p = '_';
        return fstatat(sysfd, path, &st, 0) == 0 && S_ISDIR(st.st_mode);
}

int kmod_modprobe(const char *module) {
        char *const envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
        for (size_t i = 0; i < ELEMENTSOF(modprobe_paths); i++) {
                char *argv[] = {(char *) modprobe_paths[i], "-q", (char *) module, NULL};
                pid_t pid;
                int status, r;

                if (access(modprobe_paths[i], X_OK) < 0)
                        continue;
                r = posix_spawn(&pid, modprobe_paths[i], NULL, NULL, argv, envp);
                if (r != 0)
                        return -r;
                while (waitpid(pid, &status, 0) < 0)
                        if (errno != EINTR)
                                return -errno;
                return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        return -ENOENT;
}

static int make_node(int devroot, const char *dir, const char *name, unsigned major, unsigned minor,
                     mode_t mode) {
        _cleanup_close_ int dfd = -EBADF;
        char dpath[64];

        snprintf(dpath, sizeof(dpath), "/dev/%s", dir);
        if (dir[0]) {
                _cleanup_close_ int devdir = chase_open(devroot, "/dev", O_PATH | O_DIRECTORY, 0);
                if (devdir < 0)
                        return devdir;
                if (mkdirat(devdir, dir, 0755) < 0 && errno != EEXIST)
                        return -errno;
        }
        dfd = chase_open(devroot, dpath, O_PATH | O_DIRECTORY, 0);
        if (dfd < 0)
                return dfd;
        if (mknodat(dfd, name, S_IFCHR | mode, makedev(major, minor)) < 0)
                return errno == EEXIST ? 0 : -errno;
        /* mknod applied the umask; the nodes must be usable by every container user. */
        if (fchmodat(dfd, name, mode, 0) < 0)
                return -errno;
        log_info("created %s/%s (%u:%u)", dpath, name, major, minor);
        return 1;
}

/* Creates the node unless a correct one is there already. */
static int ensure_node(int devfd, const char *dir, const char *name, int major, unsigned minor,
                       mode_t mode) {
        char path[128];

        if (major < 0)
                return 0;
        snprintf(path, sizeof(path), "/dev/%s%s%s", dir, dir[0] ? "/" : "", name);
        if (node_exists(devfd, path, (unsigned) major, minor))
                return 0;
        return make_node(devfd, dir, name, (unsigned) major, minor, mode);
}

static int create_nodes(int devfd, int procfd, const struct nctk_majors *m) {
        _cleanup_free_ struct nctk_gpu *gpus = NULL;
        size_t n = 0;
        int created = 0, r;
        char name[32];

        r = ensure_node(devfd, "", "nvidiactl", m->nvidia, 255, 0666);
        created += r > 0;
        if (r >= 0 && procfs_gpus(procfd, &gpus, &n) >= 0)
                for (size_t i = 0; r >= 0 && i < n; i++) {
                        snprintf(name, sizeof(name), "nvidia%u", gpus[i].minor);
                        r = ensure_node(devfd, "", name, m->nvidia, gpus[i].minor, 0666);
                        created += r > 0;
                }
        if (r >= 0)
                r = ensure_node(devfd, "", "nvidia-uvm", m->uvm, 0, 0666);
        created += r > 0;
        if (r >= 0)
                r = ensure_node(devfd, "", "nvidia-uvm-tools", m->uvm, 1, 0666);
        created += r > 0;
        return r < 0 ? r : created;
}

int nctk_load_kmods(const struct nctk_discover_opts *opts, struct nctk_error **err) {
        const char *root = opts->driver_root && *opts->driver_root ? opts->driver_root : "/";
        const char *dev = opts->dev_root && *opts->dev_root ? opts->dev_root : root;
        static const char *const modules[] = {"nvidia", "nvidia_uvm", "nvidia_modeset"};
        const char *proc = opts->proc_root && *opts->proc_root ? opts->proc_root : "/proc";
        const char *sys = opts->sys_root && *opts->sys_root ? opts->sys_root : "/sys";
        _cleanup_close_ int devfd = -EBADF, procfd = -EBADF, sysfd = -EBADF;
        struct nctk_majors m;
        int r;

        if (in_user_namespace()) {
                log_warning("in a user namespace: cannot load kernel modules, skipping");
                return 0;
        }
        /* Without a readable sysfs, every module goes to modprobe. */
        sysfd = open(sys, O_PATH | O_DIRECTORY | O_CLOEXEC);
        for (size_t i = 0; i < ELEMENTSOF(modules); i++) {
                if (kmod_is_loaded(sysfd, modules[i])) {
                        log_debug("kernel module '%s' is loaded", modules[i]);
                        continue;
                }
                r = kmod_modprobe(modules[i]);
                if (r != 0)
                        log_warning("cannot load kernel module '%s' (modprobe: %s), continuing",
                                    modules[i], r < 0 ? strerror(-r) : "failed");
        }
        procfd = open(proc, O_PATH | O_DIRECTORY | O_CLOEXEC);
        devfd = open(dev, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (procfd < 0 || devfd < 0)
                return nctk_error_set(err, errno, "cannot open '%s': %s", procfd < 0 ? proc : dev,
                                      strerror(errno));
        if (procfs_majors(procfd, &m) < 0 || m.nvidia < 0)
                return nctk_error_set(err, ENODEV,
                                      "the NVIDIA kernel module is not loaded ('%s/devices' has no "
                                      "nvidia major) and modprobe could not load it; install the "
                                      "driver for this kernel",
                                      proc);
        r = create_nodes(devfd, procfd, &m);
        if (r < 0)
                return nctk_error_set(err, -r,
                                      "cannot create NVIDIA device nodes under '%s/dev': %s", dev,
                                      strerror(-r));
        return r;
}
