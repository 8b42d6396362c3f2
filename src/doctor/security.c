/* Security modules and rootless engines. SELinux in enforcing mode keeps containers off device
 * nodes unless the container_use_devices boolean is on; AppArmor is reported only. Rootless
 * engines need subordinate ids for the user (/etc/subuid and /etc/subgid alike), user
 * namespaces that the kernel lets unprivileged users make, and, with the NVIDIA hook, no
 * devices-cgroup writes (no-cgroups = true): a rootless container cannot write its cgroup. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doctor/doctor.h"
#include "util/fileio.h"
#include "util/macros.h"
#include "util/strv.h"

/* The first line of the host's FILE (under the host root), stripped, or NULL. */
static char *host_line(struct doctor_state *s, const char *file) {
        _cleanup_free_ char *path = doctor_host_path(s, file), *data = NULL;
        _cleanup_close_ int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -EBADF;
        size_t len;

        if (fd < 0 || read_full_fd(fd, 1u << 20, &data, &len) < 0)
                return NULL;
        data[strcspn(data, "\n")] = '\0';
        return strdup(strstrip(data));
}

/* The same for a file of the proc root. */
static char *proc_line(struct doctor_state *s, const char *file) {
        _cleanup_free_ char *path = path_join(s->o->proc_root ? s->o->proc_root : "/proc", file);
        _cleanup_free_ char *data = NULL;
        _cleanup_close_ int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -EBADF;
        size_t len;

        if (fd < 0 || read_full_fd(fd, 4096, &data, &len) < 0)
                return NULL;
        return strdup(strstrip(data));
}

static int check_selinux(struct doctor_state *s) {
        _cleanup_free_ char *enforce = host_line(s, "/sys/fs/selinux/enforce");
        _cleanup_free_ char *boolean =
                host_line(s, "/sys/fs/selinux/booleans/container_use_devices");

        if (!enforce)
                return doctor_add(s, "security.selinux", DOCTOR_OK, NULL, "SELinux is not enabled");
        if (!STREQ(enforce, "1"))
                return doctor_add(s, "security.selinux", DOCTOR_OK, NULL, "SELinux is permissive");
        if (boolean && boolean[0] == '1')
                return doctor_add(s, "security.selinux", DOCTOR_OK, NULL,
                                  "SELinux is enforcing and container_use_devices is on");
        return doctor_add(s, "security.selinux", DOCTOR_WARN,
                          "setsebool -P container_use_devices on",
                          "SELinux is enforcing and container_use_devices is off: containers "
                          "are denied the GPU device nodes (nvidia-smi: 'Failed to initialize "
                          "NVML: Insufficient Permissions') unless run with label=disable");
}

static int check_apparmor(struct doctor_state *s) {
        _cleanup_free_ char *on = host_line(s, "/sys/module/apparmor/parameters/enabled");

        return doctor_add(s, "security.apparmor", DOCTOR_OK, NULL, "%s",
                          on && on[0] == 'Y'
                                  ? "AppArmor is enabled: the engines' default profiles allow "
                                    "the GPU device nodes"
                                  : "AppArmor is not enabled");
}

int doctor_check_security(struct doctor_state *s) {
        int r = check_selinux(s);

        return r < 0 ? r : check_apparmor(s);
}

/* Lines of the host's /etc/subuid or /etc/subgid with a range ("user:start:count"). */
static size_t subid_entries(struct doctor_state *s, const char *file) {
        _cleanup_free_ char *path = doctor_host_path(s, file), *data = NULL;
        _cleanup_close_ int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -EBADF;
        size_t len, n = 0;
        char *save = NULL;

        if (fd < 0 || read_full_fd(fd, 1u << 20, &data, &len) < 0)
                return 0;
        for (char *l = strtok_r(data, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
                if (l[0] != '#' && strchr(l, ':'))
                        n++;
        return n;
}

static int check_userns(struct doctor_state *s) {
        _cleanup_free_ char *max = proc_line(s, "sys/user/max_user_namespaces");
        _cleanup_free_ char *aa = proc_line(s, "sys/kernel/apparmor_restrict_unprivileged_userns");

        if (max && STREQ(max, "0"))
                return doctor_add(s, "rootless.userns", DOCTOR_FAIL,
                                  "sysctl -w user.max_user_namespaces=15000 (and in "
                                  "/etc/sysctl.d/ to keep it)",
                                  "user.max_user_namespaces is 0: rootless engines cannot start");
        if (aa && STREQ(aa, "1"))
                return doctor_add(s, "rootless.userns", DOCTOR_WARN,
                                  "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or "
                                  "give rootlesskit/podman an AppArmor profile that allows userns",
                                  "AppArmor restricts unprivileged user namespaces: rootless "
                                  "docker and podman fail to start");
        return doctor_add(s, "rootless.userns", DOCTOR_OK, NULL,
                          "unprivileged user namespaces are allowed");
}

static int check_no_cgroups(struct doctor_state *s) {
        _cleanup_free_ char *fix = NULL;

        if ((s->o->cfg && s->o->cfg->cli.no_cgroups) || s->n_cdi_specs)
                return doctor_add(s, "rootless.cgroups", DOCTOR_OK, NULL, "%s",
                                  s->n_cdi_specs ? "rootless containers can use the CDI spec(s)"
                                                 : "no-cgroups = true: the hook leaves the "
                                                   "devices cgroup to the engine");
        if (asprintf(&fix,
                     "use CDI (nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml%s; podman run "
                     "--device nvidia.com/gpu=all), or for the hook: nvidia-ctk config%s%s "
                     "--in-place --set nvidia-container-cli.no-cgroups",
                     s->root_flags, s->o->cfg_path ? " --config-file=" : "",
                     s->o->cfg_path ? s->o->cfg_path : "") < 0)
                return -ENOMEM;
        return doctor_add(s, "rootless.cgroups", DOCTOR_WARN, fix,
                          "rootless engines are set up, but the NVIDIA hook writes the devices "
                          "cgroup (no-cgroups = false), which a rootless container cannot: its "
                          "start fails");
}

int doctor_check_rootless(struct doctor_state *s) {
        size_t uids = subid_entries(s, "/etc/subuid"), gids = subid_entries(s, "/etc/subgid");
        int r;

        if (!uids && !gids)
                return doctor_add(s, "rootless.subids", DOCTOR_OK, NULL,
                                  "rootless engines are not set up (no /etc/subuid entries)");
        if (!uids || !gids)
                return doctor_add(s, "rootless.subids", DOCTOR_WARN,
                                  "usermod --add-subuids 100000-165535 --add-subgids "
                                  "100000-165535 USER",
                                  "%s has entries but %s has none: rootless engines cannot map "
                                  "the container's %s",
                                  uids ? "/etc/subuid" : "/etc/subgid",
                                  uids ? "/etc/subgid" : "/etc/subuid", uids ? "groups" : "users");
        r = doctor_add(s, "rootless.subids", DOCTOR_OK, NULL,
                       "%zu user(s) have subordinate ids for rootless engines", uids);
        r = r < 0 ? r : check_userns(s);
        return r < 0 ? r : check_no_cgroups(s);
}
