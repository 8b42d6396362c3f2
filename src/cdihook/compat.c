/* enable-cuda-compat: CUDA forward compatibility, decided as the plan decides it (an image's
 * libcuda of a higher major version than the host driver's) from the same container facts, and
 * recorded as an ld.so.conf.d entry that update-ldcache puts first. Nothing from the image is
 * mounted. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "3-container/container.h"
#include "cdihook/cdihook.h"
#include "util/chase.h"
#include "util/log.h"
#include "util/macros.h"

/* A start on an older driver may have left the entry: a newer host driver no longer needs it. */
static int compat_conf_remove(int rootfd, struct nctk_error **err) {
        const char *name = strrchr(CDIHOOK_COMPAT_CONF, '/') + 1;
        _cleanup_close_ int dirfd =
                chase_open(rootfd, "/etc/ld.so.conf.d", O_PATH | O_DIRECTORY, 0);

        if (dirfd == -ENOENT || dirfd == -ENOTDIR)
                return 0;
        if (dirfd < 0)
                return nctk_error_set(err, -dirfd, "'/etc/ld.so.conf.d' in the container: %s",
                                      strerror(-dirfd));
        if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
                return nctk_error_set(err, errno, "cannot remove '%s' in the container: %s",
                                      CDIHOOK_COMPAT_CONF, strerror(errno));
        return 0;
}

int cdihook_cuda_compat(int rootfd, const char *host_driver_version, struct nctk_error **err) {
        struct container_facts facts;
        unsigned long host;
        char *end;
        int r;

        if (!host_driver_version || !*host_driver_version) {
                log_warning("no --host-driver-version: forward compatibility left off");
                return 0;
        }
        errno = 0;
        host = strtoul(host_driver_version, &end, 10);
        if (errno || end == host_driver_version || (*end && *end != '.'))
                return nctk_error_set(err, EINVAL, "invalid --host-driver-version '%s'",
                                      host_driver_version);
        container_facts_read(rootfd, &facts);
        if (facts.compat_cuda_major <= host) {
                log_debug("compat libcuda major %lu, host driver %lu: not used",
                          facts.compat_cuda_major, host);
                return compat_conf_remove(rootfd, err);
        }
        log_debug("compat libcuda major %lu > host driver %lu: %s first", facts.compat_cuda_major,
                  host, CONTAINER_COMPAT_DIR);
        r = cdihook_write_file(rootfd, CDIHOOK_COMPAT_CONF, CONTAINER_COMPAT_DIR "\n", 0644);
        if (r < 0)
                return nctk_error_set(err, -r, "cannot write '%s' in the container: %s",
                                      CDIHOOK_COMPAT_CONF, strerror(-r));
        return 0;
}
