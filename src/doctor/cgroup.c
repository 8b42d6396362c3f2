/* The cgroup version, and the systemd cgroup driver's known trap: systemd keeps a unit's device
 * rules by path (DeviceAllow=/dev/char/MAJ:MIN). The NVIDIA driver's nodes have no /dev/char
 * links of their own, so when `systemctl daemon-reload` re-applies the rules of a container's
 * scope, the GPU rules are dropped and its NVML calls fail with "Unknown Error". The links
 * (nvidia-ctk system create-dev-char-symlinks) close it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doctor/doctor.h"
#include "system/system.h"
#include "util/fileio.h"
#include "util/macros.h"
#include "util/strv.h"

/* 2 for the unified hierarchy at /sys/fs/cgroup, 1 for v1 (or hybrid), 0 unknown. */
static int cgroup_version(const struct doctor_state *s) {
        const char *proc = s->o->proc_root ? s->o->proc_root : "/proc";
        _cleanup_free_ char *buf = NULL;
        int procfd = open(proc, O_PATH | O_DIRECTORY | O_CLOEXEC), version = 0;
        char *save = NULL;

        if (procfd < 0)
                return 0;
        if (read_full_at(procfd, "self/mounts", 1u << 20, &buf, NULL) < 0 &&
            read_full_at(procfd, "mounts", 1u << 20, &buf, NULL) < 0)
                buf = NULL;
        close(procfd);
        for (char *l = buf ? strtok_r(buf, "\n", &save) : NULL; l;
             l = strtok_r(NULL, "\n", &save)) {
                char dev[256], where[256], type[64];
                if (sscanf(l, "%255s %255s %63s", dev, where, type) != 3)
                        continue;
                if (STREQ(where, "/sys/fs/cgroup") && STREQ(type, "cgroup2"))
                        return 2;
                if (startswith(where, "/sys/fs/cgroup/") && STREQ(type, "cgroup"))
                        version = 1;
        }
        return version;
}

/* Which engine uses the systemd driver, or NULL. Docker's default is systemd on cgroup v2. */
static const char *systemd_user(const struct doctor_state *s, int version) {
        if (s->docker_cgroup == 2 || (s->docker_cgroup == 0 && version == 2))
                return "docker";
        if (s->containerd_systemd)
                return "containerd";
        return NULL;
}

/* The first NVIDIA node whose /dev/char link is missing or wrong, into RET; the count. */
static int missing_links(const struct doctor_state *s, char *ret, size_t size, size_t *ret_n) {
        const char *proc = s->o->proc_root ? s->o->proc_root : "/proc";
        _cleanup_free_ char *char_path = path_join(s->dev_root, "/dev/char");
        _cleanup_free_ struct sysnode *nodes = NULL;
        _cleanup_close_ int devfd = open(s->dev_root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        _cleanup_close_ int procfd = open(proc, O_PATH | O_DIRECTORY | O_CLOEXEC);
        _cleanup_close_ int dirfd = -EBADF;
        struct system_roots r = {
                .dev_root = s->dev_root, .devfd = devfd, .proc_root = proc, .procfd = procfd};
        struct devchar_link *links = NULL;
        size_t n = 0, m = 0;

        *ret_n = 0;
        if (!char_path || devfd < 0 || procfd < 0)
                return -ENOMEM;
        if (devchar_existing(&r, &nodes, &n, NULL) < 0 || n == 0)
                return 0;
        dirfd = devchar_open_dir(char_path, false, NULL);
        if (devchar_plan(&r, char_path, dirfd, nodes, n, &links, &m, NULL) < 0)
                return 0;
        for (size_t i = 0; i < m; i++)
                if (links[i].state != DEVCHAR_PRESENT && (*ret_n)++ == 0)
                        snprintf(ret, size, "%s/%s", char_path, links[i].name);
        devchar_links_free(links, m);
        return 0;
}

static int check_links(struct doctor_state *s, const char *user) {
        _cleanup_free_ char *fix = NULL, *char_path = path_join(s->dev_root, "/dev/char");
        char first[512] = "";
        size_t n = 0;

        if (!char_path || missing_links(s, first, sizeof(first), &n) < 0)
                return -ENOMEM;
        if (n == 0)
                return doctor_add(s, "cgroup.dev-char", DOCTOR_OK, NULL,
                                  "%s uses the systemd cgroup driver and every NVIDIA device "
                                  "node has its /dev/char link: daemon-reload keeps the GPUs",
                                  user);
        if (asprintf(&fix, "nvidia-ctk system create-dev-char-symlinks --create-all%s%s%s",
                     s->root_flags, STREQ(s->dev_root, "/") ? "" : " --dev-char-path=",
                     STREQ(s->dev_root, "/") ? "" : char_path) < 0)
                return -ENOMEM;
        return doctor_add(s, "cgroup.dev-char", DOCTOR_FAIL, fix,
                          "%s uses the systemd cgroup driver and %zu NVIDIA device node(s) have "
                          "no /dev/char link (%s): after 'systemctl daemon-reload' containers "
                          "lose their GPUs ('Failed to initialize NVML: Unknown Error')",
                          user, n, first);
}

int doctor_check_cgroup(struct doctor_state *s) {
        int version = cgroup_version(s), r;
        const char *user = systemd_user(s, version);

        r = doctor_add(s, "cgroup.version", version ? DOCTOR_OK : DOCTOR_WARN,
                       version ? NULL : "mount the cgroup hierarchy at /sys/fs/cgroup", "%s",
                       version == 2   ? "cgroup v2 (unified hierarchy): device access is an eBPF "
                                        "program per container"
                       : version == 1 ? "cgroup v1: device access through the devices controller"
                                      : "no cgroup hierarchy found at /sys/fs/cgroup");
        if (r < 0 || !s->proc_version[0])
                return r;
        if (!user)
                return doctor_add(s, "cgroup.dev-char", DOCTOR_OK, NULL,
                                  "no engine uses the systemd cgroup driver: daemon-reload "
                                  "leaves containers' device rules alone");
        return check_links(s, user);
}
