/* The dynamic loader's view of the driver. The driver root's ld.so.cache is how nctk (and
 * nvidia-smi, and every CUDA program on the host) finds libnvidia-ml and libcuda: a driver
 * installed without an ldconfig run afterwards is invisible. The configured ldconfig
 * (nvidia-container-cli.ldconfig) matters to the reference's hooks and to CDI specs that name
 * it; nctk writes containers' caches itself. On Ubuntu /sbin/ldconfig is a shell wrapper around
 * /sbin/ldconfig.real, which is the one to give a hook that runs it against a container. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "doctor/doctor.h"
#include "util/fileio.h"
#include "util/macros.h"
#include "util/strv.h"

static int check_cache(struct doctor_state *s) {
        const char *root = s->o->driver_root ? s->o->driver_root : "/";
        const char *ldcache = s->o->cfg && s->o->cfg->cli.ldcache && s->o->cfg->cli.ldcache[0]
                                      ? s->o->cfg->cli.ldcache
                                      : "/etc/ld.so.cache";
        _cleanup_free_ char *path = path_join(root, ldcache), *data = NULL, *fix = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t len = 0;

        if (!path)
                return -ENOMEM;
        if (asprintf(&fix, STREQ(root, "/") ? "ldconfig" : "ldconfig -r %s", root) < 0)
                return -ENOMEM;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return doctor_add(s, "ldconfig.cache", DOCTOR_FAIL, fix,
                                  "%s: %m: nothing can find the driver's libraries", path);
        if (read_full_fd(fd, 64u << 20, &data, &len) < 0)
                return doctor_add(s, "ldconfig.cache", DOCTOR_FAIL, fix, "%s cannot be read", path);
        if (!s->proc_version[0])
                return doctor_add(s, "ldconfig.cache", DOCTOR_OK, NULL, "%s is present", path);
        if (!memmem(data, len, "libnvidia-ml.so.1", 18) || !memmem(data, len, "libcuda.so.1", 13))
                return doctor_add(s, "ldconfig.cache", DOCTOR_FAIL, fix,
                                  "%s lists no %s: the driver's libraries were installed "
                                  "without an ldconfig run",
                                  path,
                                  memmem(data, len, "libnvidia-ml.so.1", 18) ? "libcuda.so.1"
                                                                             : "libnvidia-ml.so.1");
        return doctor_add(s, "ldconfig.cache", DOCTOR_OK, NULL,
                          "%s lists libnvidia-ml.so.1 and libcuda.so.1", path);
}

/* The first bytes of the host's FILE are "#!". */
static bool is_script(const char *file) {
        _cleanup_close_ int fd = open(file, O_RDONLY | O_CLOEXEC);
        char head[2];

        return fd >= 0 && read(fd, head, 2) == 2 && head[0] == '#' && head[1] == '!';
}

static int check_program(struct doctor_state *s) {
        const char *set = s->o->cfg ? s->o->cfg->cli.ldconfig : NULL;
        _cleanup_free_ char *host = NULL, *real = NULL, *fix = NULL;

        if (!set || set[0] != '@')
                return doctor_add(s, "ldconfig.path", DOCTOR_OK, NULL,
                                  "nvidia-container-cli.ldconfig is '%s' (the container's own)",
                                  set ? set : "");
        host = doctor_host_path(s, set + 1);
        if (!host || asprintf(&real, "%s.real", set + 1) < 0)
                return -ENOMEM;
        if (asprintf(&fix,
                     "nvidia-ctk config%s%s --in-place --set nvidia-container-cli.ldconfig=@%s",
                     s->o->cfg_path ? " --config-file=" : "", s->o->cfg_path ? s->o->cfg_path : "",
                     doctor_host_exists(s, real) ? real : "/sbin/ldconfig") < 0)
                return -ENOMEM;
        if (access(host, X_OK) < 0)
                return doctor_add(s, "ldconfig.path", DOCTOR_WARN, fix,
                                  "nvidia-container-cli.ldconfig names %s, which is missing: the "
                                  "reference toolkit's hooks fail",
                                  set + 1);
        if (is_script(host) && doctor_host_exists(s, real))
                return doctor_add(s, "ldconfig.path", DOCTOR_WARN, fix,
                                  "nvidia-container-cli.ldconfig names %s, a wrapper script "
                                  "around %s: a hook that runs it against a container gets the "
                                  "wrapper's behaviour",
                                  set + 1, real);
        return doctor_add(s, "ldconfig.path", DOCTOR_OK, NULL, "nvidia-container-cli.ldconfig: %s",
                          set + 1);
}

int doctor_check_ldconfig(struct doctor_state *s) {
        int r = check_cache(s);

        return r < 0 ? r : check_program(s);
}
