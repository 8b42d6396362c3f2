/* The NVIDIA device nodes that `nvidia-ctk system create-device-nodes` makes: which ones, with
 * which numbers, owner and mode, and whether the dev root already has them right. A node that is
 * there but wrong is reported, never replaced: it may be someone's deliberate set-up. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "1-discover/discover.h"
#include "system/system.h"
#include "util/chase.h"
#include "util/fileio.h"
#include "util/macros.h"
#include "util/strv.h"

#define NVIDIACTL_MINOR 255
#define MODESET_MINOR 254

struct node_owner {
        uid_t uid;
        gid_t gid;
        mode_t mode;
};

/* NVreg_DeviceFileUID/GID/Mode, which nvidia-modprobe also applies to the nodes it makes;
 * 0, 0, 0666 when the driver does not say (as its defaults). */
static struct node_owner params_owner(int procfd) {
        struct node_owner o = {0, 0, 0666};
        _cleanup_free_ char *buf = NULL;
        const char *p;

        if (read_full_at(procfd, "driver/nvidia/params", 1u << 16, &buf, NULL) < 0)
                return o;
        if ((p = strstr(buf, "DeviceFileUID: ")))
                o.uid = (uid_t) strtoul(p + strlen("DeviceFileUID: "), NULL, 10);
        if ((p = strstr(buf, "DeviceFileGID: ")))
                o.gid = (gid_t) strtoul(p + strlen("DeviceFileGID: "), NULL, 10);
        if ((p = strstr(buf, "DeviceFileMode: ")))
                o.mode = (mode_t) strtoul(p + strlen("DeviceFileMode: "), NULL, 10) & 07777;
        return o;
}

static int node_push(struct sysnode **list, size_t *n, const char *path, int major, unsigned minor,
                     struct node_owner o) {
        struct sysnode *s = ARRAY_PUSH(*list, *n);

        if (!s)
                return -ENOMEM;
        strscpy(s->path, sizeof(s->path), path);
        s->major = (unsigned) major;
        s->minor = minor;
        s->uid = o.uid;
        s->gid = o.gid;
        s->mode = o.mode;
        return 0;
}

static int no_major(const struct system_roots *r, const char *module, struct nctk_error **err) {
        return nctk_error_set(err, ENODEV,
                              "'%s/devices' lists no '%s' major: the %s kernel module is not "
                              "loaded; load it (or pass --load-kernel-modules)",
                              r->proc_root, module, module);
}

static int plan_control(const struct system_roots *r, const struct nctk_majors *m,
                        struct sysnode **list, size_t *n, struct nctk_error **err) {
        /* nvidia-uvm's nodes are made by nvidia-modprobe as root 0666 whatever the params. */
        static const struct node_owner uvm_owner = {0, 0, 0666};
        struct node_owner o = params_owner(r->procfd);
        int k = 0;

        if (m->uvm < 0)
                return no_major(r, "nvidia-uvm", err);
        k = k < 0 ? k : node_push(list, n, "/dev/nvidiactl", m->nvidia, NVIDIACTL_MINOR, o);
        k = k < 0 ? k : node_push(list, n, "/dev/nvidia-modeset", m->nvidia, MODESET_MINOR, o);
        k = k < 0 ? k : node_push(list, n, "/dev/nvidia-uvm", m->uvm, 0, uvm_owner);
        k = k < 0 ? k : node_push(list, n, "/dev/nvidia-uvm-tools", m->uvm, 1, uvm_owner);
        return k;
}

static int plan_gpus(const struct system_roots *r, const struct nctk_majors *m,
                     struct sysnode **list, size_t *n, struct nctk_error **err) {
        _cleanup_free_ struct nctk_gpu *gpus = NULL;
        struct node_owner o = params_owner(r->procfd);
        size_t n_gpus = 0;
        char path[32];
        int k;

        k = procfs_gpus(r->procfd, &gpus, &n_gpus);
        if (k < 0)
                return nctk_error_set(err, -k,
                                      "cannot list the GPUs in '%s/driver/nvidia/gpus': %s",
                                      r->proc_root, strerror(-k));
        for (size_t i = 0; k >= 0 && i < n_gpus; i++) {
                snprintf(path, sizeof(path), "/dev/nvidia%u", gpus[i].minor);
                k = node_push(list, n, path, m->nvidia, gpus[i].minor, o);
        }
        return k;
}

/* The mode the driver gives a capability's node ("DeviceFileMode: 292"); 0444 unsaid. */
static mode_t cap_mode(int procfd, const char *path) {
        _cleanup_free_ char *buf = NULL;
        const char *p;

        if (read_full_at(procfd, path, 4096, &buf, NULL) < 0 ||
            !(p = strstr(buf, "DeviceFileMode:")))
                return 0444;
        return (mode_t) strtoul(p + strlen("DeviceFileMode:"), NULL, 10) & 0777;
}

/* The global MIG capabilities: their minors are in files the driver publishes only when MIG is
 * possible; without them (or without an nvidia-caps major) there is nothing to add. */
static int plan_mig_control(const struct system_roots *r, const struct nctk_majors *m,
                            struct sysnode **list, size_t *n) {
        static const char *const caps[] = {"driver/nvidia/capabilities/mig/config",
                                           "driver/nvidia/capabilities/mig/monitor"};
        char path[48];
        int k = 0;

        for (size_t i = 0; k >= 0 && m->caps >= 0 && i < ELEMENTSOF(caps); i++) {
                int minor = procfs_cap_minor(r->procfd, caps[i]);
                if (minor < 0)
                        continue;
                snprintf(path, sizeof(path), "/dev/nvidia-caps/nvidia-cap%d", minor);
                k = node_push(list, n, path, m->caps, (unsigned) minor,
                              (struct node_owner){0, 0, cap_mode(r->procfd, caps[i])});
        }
        return k;
}

int sysnodes_plan(const struct system_roots *r, unsigned set, struct sysnode **ret, size_t *ret_n,
                  struct nctk_error **err) {
        _cleanup_free_ struct sysnode *list = NULL;
        struct nctk_majors m;
        size_t n = 0;
        int k;

        k = procfs_majors(r->procfd, &m);
        if (k < 0)
                return nctk_error_set(err, -k, "cannot read '%s/devices': %s", r->proc_root,
                                      strerror(-k));
        if (m.nvidia < 0)
                return no_major(r, "nvidia", err);
        if (set & SYSNODE_CONTROL && (k = plan_control(r, &m, &list, &n, err)) < 0)
                return k == -ENOMEM ? nctk_error_set(err, ENOMEM, "out of memory") : k;
        if (set & SYSNODE_MIG_CONTROL && (k = plan_mig_control(r, &m, &list, &n)) < 0)
                return nctk_error_set(err, -k, "out of memory");
        if (set & SYSNODE_GPUS && (k = plan_gpus(r, &m, &list, &n, err)) < 0)
                return k == -ENOMEM ? nctk_error_set(err, ENOMEM, "out of memory") : k;
        for (size_t i = 0; i < n; i++)
                sysnode_check(r->devfd, &list[i]);
        *ret = TAKE_PTR(list);
        *ret_n = n;
        return 0;
}

static const char *file_kind(mode_t mode) {
        switch (mode & S_IFMT) {
        case S_IFREG: return "a regular file";
        case S_IFDIR: return "a directory";
        case S_IFLNK: return "a symbolic link";
        case S_IFBLK: return "a block device";
        case S_IFIFO: return "a FIFO";
        case S_IFSOCK: return "a socket";
        default: return "a special file";
        }
}

void sysnode_check(int devfd, struct sysnode *n) {
        _cleanup_close_ int fd = chase_open(devfd, n->path, O_PATH | O_NOFOLLOW, 0);
        struct stat st;

        n->found[0] = '\0';
        if (fd == -ENOENT) {
                n->state = SYSNODE_MISSING;
                return;
        }
        n->state = SYSNODE_WRONG;
        if (fd < 0 || fstat(fd, &st) < 0) {
                snprintf(n->found, sizeof(n->found), "unreadable (%s)",
                         strerror(fd < 0 ? -fd : errno));
                return;
        }
        if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(n->major, n->minor))
                n->state = SYSNODE_PRESENT;
        else if (S_ISCHR(st.st_mode))
                snprintf(n->found, sizeof(n->found), "char %u:%u", major(st.st_rdev),
                         minor(st.st_rdev));
        else
                strscpy(n->found, sizeof(n->found), file_kind(st.st_mode));
}

/* Owner and mode after mknod, which applied the umask. Without following a link: the node is
 * ours, but the directory it is in need not be. */
static int node_finish(int dfd, const char *name, const struct sysnode *n) {
        if (fchownat(dfd, name, n->uid, n->gid, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        if (fchmodat(dfd, name, n->mode, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        return 0;
}

int sysnode_create(const struct system_roots *r, const struct sysnode *n, struct nctk_error **err) {
        const char *slash = strrchr(n->path, '/');
        _cleanup_free_ char *dir = strndup(n->path, (size_t) (slash - n->path));
        _cleanup_close_ int dfd = -EBADF;
        const char *root = STREQ(r->dev_root, "/") ? "" : r->dev_root;
        int k;

        if (!dir)
                return nctk_error_set(err, ENOMEM, "out of memory");
        dfd = chase_open(r->devfd, dir, O_PATH | O_DIRECTORY, 0);
        if (dfd < 0)
                return nctk_error_set(err, -dfd, "cannot open '%s%s': %s", root, dir,
                                      strerror(-dfd));
        if (mknodat(dfd, slash + 1, S_IFCHR | 0600, makedev(n->major, n->minor)) < 0)
                return nctk_error_set(err, errno, "cannot create '%s%s': %s", root, n->path,
                                      strerror(errno));
        k = node_finish(dfd, slash + 1, n);
        if (k < 0) {
                unlinkat(dfd, slash + 1, 0);
                return nctk_error_set(err, -k, "cannot set the owner and mode of '%s%s': %s", root,
                                      n->path, strerror(-k));
        }
        return 0;
}
