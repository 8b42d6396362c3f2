/* The kernel modules that `nvidia-ctk system --load-kernel-modules` loads before it makes nodes:
 * their majors only appear in /proc/devices once they are loaded. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "1-discover/discover.h"
#include "system/system.h"
#include "util/macros.h"

const char *const system_modules[SYSTEM_N_MODULES] = {"nvidia", "nvidia-uvm", "nvidia-modeset"};

bool system_module_loaded(const char *sys_root, const char *module) {
        _cleanup_close_ int sysfd = open(sys_root, O_PATH | O_DIRECTORY | O_CLOEXEC);

        return kmod_is_loaded(sysfd, module);
}

int system_module_load(const char *module, struct nctk_error **err) {
        int k = kmod_modprobe(module);

        if (k < 0)
                return nctk_error_set(err, -k, "cannot run modprobe for '%s': %s", module,
                                      strerror(-k));
        if (k > 0)
                return nctk_error_set(err, EIO,
                                      "'modprobe %s' failed (exit status %d); is the driver "
                                      "installed for this kernel?",
                                      module, k);
        return 0;
}
