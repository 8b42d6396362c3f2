/* The container stage (DESIGN.md stage 3): facts about the container image that the plan
 * depends on, read once from one rootfs fd. That same fd is the one the apply stage works in,
 * so what is decided and what is applied are the same view of the image. */
#ifndef NCTK_CONTAINER_CONTAINER_H
#define NCTK_CONTAINER_CONTAINER_H

#include <sys/types.h>

#include "nctk/nctk.h"

/* Where things go inside the container. */
struct container_layout {
        const char *libdir;   /* /usr/lib/x86_64-linux-gnu or /usr/lib64 */
        const char *libdir32; /* /usr/lib/i386-linux-gnu, /usr/lib32 or /usr/lib */
        const char *bindir;   /* /usr/bin */
};

/* How an image's newer libcuda (CUDA forward compatibility) is used. Every mode does it the same
 * safe way, by putting the image's compat directory first in its ld cache: mount and ldconfig
 * are the reference's names, kept for compatibility. */
enum compat_mode { COMPAT_MOUNT, COMPAT_LDCONFIG, COMPAT_DISABLED };

/* The directory of CUDA forward-compatibility libraries in CUDA images. */
#define CONTAINER_COMPAT_DIR "/usr/local/cuda/compat"

struct container_facts {
        struct container_layout layout;
        /* The highest major version among CONTAINER_COMPAT_DIR's libcuda.so.<version> files;
         * 0 when there are none. */
        unsigned long compat_cuda_major;
};

/* The layout of an image we cannot look at (list, docker arguments): Debian's. */
void container_facts_default(struct container_facts *ret);

/* Reads the facts from ROOTFD, confined to it (a hostile image cannot point us elsewhere).
 * Nothing there is an error: an image without any of it gets the lib64 layout and no compat. */
void container_facts_read(int rootfd, struct container_facts *ret);

/* Opens ROOTFS (absolute) as an O_PATH directory fd, as the mount namespace of process PID
 * sees it (PID 0: ours). A prestart hook runs in the runtime's namespace, which may not show
 * the container's rootfs as the container's does: the path is resolved in the container's
 * namespace, and this process returns to its own before returning. Single-threaded callers
 * only. Returns the fd, or -errno with ERR. */
int container_rootfs_open(pid_t pid, const char *rootfs, struct nctk_error **err);

#endif
