/* What the plan needs to know about an image: its library directory layout, and whether it
 * brings a newer libcuda for CUDA forward compatibility. Only names are read; nothing from the
 * image is ever mounted (CVE-2024-0132 came from such mounts). */
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "3-container/container.h"
#include "util/chase.h"
#include "util/macros.h"
#include "util/strv.h"

void container_facts_default(struct container_facts *ret) {
        *ret = (struct container_facts){
                .layout = {.libdir = "/usr/lib/x86_64-linux-gnu",
                           .libdir32 = "/usr/lib/i386-linux-gnu",
                           .bindir = "/usr/bin"},
        };
}

static bool exists_in(int rootfd, const char *path) {
        _cleanup_close_ int fd = chase_open(rootfd, path, O_PATH, 0);

        return fd >= 0;
}

/* As the reference: Debian-family images use the multiarch directories, others lib64. */
static void layout_read(int rootfd, struct container_layout *ret) {
        if (exists_in(rootfd, "/etc/debian_version")) {
                ret->libdir = "/usr/lib/x86_64-linux-gnu";
                ret->libdir32 = "/usr/lib/i386-linux-gnu";
        } else {
                ret->libdir = "/usr/lib64";
                ret->libdir32 = exists_in(rootfd, "/usr/lib32") ? "/usr/lib32" : "/usr/lib";
        }
        ret->bindir = "/usr/bin";
}

static unsigned long compat_major_read(int rootfd) {
        _cleanup_closedir_ DIR *d = NULL;
        unsigned long best = 0;
        struct dirent *de;

        if (chase_opendir(rootfd, CONTAINER_COMPAT_DIR, &d) < 0)
                return 0;
        while ((de = readdir(d))) {
                const char *v;
                unsigned long m;

                if (!startswith(de->d_name, "libcuda.so."))
                        continue;
                v = de->d_name + strlen("libcuda.so.");
                /* libcuda.so.1 is the soname link; versioned files look like 580.65.06. */
                if (!strchr(v, '.'))
                        continue;
                m = strtoul(v, NULL, 10);
                if (m > best)
                        best = m;
        }
        return best;
}

void container_facts_read(int rootfd, struct container_facts *ret) {
        *ret = (struct container_facts){};
        layout_read(rootfd, &ret->layout);
        ret->compat_cuda_major = compat_major_read(rootfd);
}
