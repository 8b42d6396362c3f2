/* update-application-profile: the driver's EGL and Vulkan would otherwise enumerate every GPU
 * of the host; an application profile in the container limits them to the GPUs whose nodes it
 * was given (EGLVisibleDGPUDevices is a bit mask of GPU minors). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "cdihook/cdihook.h"
#include "util/chase.h"
#include "util/log.h"
#include "util/macros.h"

#define PROFILE "/etc/nvidia/nvidia-application-profiles-rc.d/10-container.conf"

static bool is_gpu_name(const char *name) {
        const char *d = name + strlen("nvidia");

        return strncmp(name, "nvidia", 6) == 0 && *d && strspn(d, "0123456789") == strlen(d);
}

static int gpu_mask(int rootfd, uint64_t *ret) {
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        uint64_t mask = 0;
        int r = chase_opendir(rootfd, "/dev", &d);

        *ret = 0;
        if (r < 0)
                return r == -ENOENT ? 0 : r;
        while ((de = readdir(d))) {
                struct stat st;

                if (!is_gpu_name(de->d_name) ||
                    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                    !S_ISCHR(st.st_mode))
                        continue;
                if (minor(st.st_rdev) >= 64) {
                        log_warning(
                                "GPU '/dev/%s' has minor %u, beyond the profile's 0-63: left out",
                                de->d_name, minor(st.st_rdev));
                        continue;
                }
                mask |= UINT64_C(1) << minor(st.st_rdev);
        }
        *ret = mask;
        return 0;
}

int cdihook_app_profile(int rootfd, struct nctk_error **err) {
        char text[256];
        uint64_t mask;
        int r;

        r = gpu_mask(rootfd, &mask);
        if (r < 0)
                return nctk_error_set(err, -r, "cannot list /dev in the container: %s",
                                      strerror(-r));
        if (mask == 0) {
                log_debug("no GPU nodes in the container's /dev: no application profile");
                return 0;
        }
        snprintf(text, sizeof(text),
                 "{\"profiles\":[{\"name\":\"_container_\",\"settings\":[\"EGLVisibleDGPUDevices\","
                 "0x%" PRIx64 "]}],\"rules\":[{\"pattern\":[],\"profile\":\"_container_\"}]}",
                 mask);
        r = cdihook_write_file(rootfd, PROFILE, text, 0444);
        if (r < 0)
                return nctk_error_set(err, -r, "cannot write '%s' in the container: %s", PROFILE,
                                      strerror(-r));
        return 0;
}
