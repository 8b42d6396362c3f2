/* User namespace detection, for the steps that only make sense for the host's real root
 * (loading kernel modules, dropping to ids the namespace may not map). */
#include <fcntl.h>
#include <stdio.h>

#include "util/fileio.h"
#include "util/macros.h"
#include "util/userns.h"

bool in_user_namespace(void) {
        _cleanup_close_ int fd = open("/proc/self/uid_map", O_RDONLY | O_CLOEXEC);
        _cleanup_free_ char *buf = NULL;
        unsigned a, b, c;

        if (fd < 0 || read_full_fd(fd, 4096, &buf, NULL) < 0)
                return false;
        return !(sscanf(buf, "%u %u %u", &a, &b, &c) == 3 && a == 0 && b == 0 && c == 4294967295u);
}
