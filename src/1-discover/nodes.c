/* The device nodes a container may need: control nodes, one per GPU, and MIG capability nodes.
 * Majors come from /proc/devices (uvm and caps are dynamic); a node counts as present only if the
 * file under the dev root is a character device with exactly the expected st_rdev, so a stale or
 * planted file is never mistaken for a GPU. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "1-discover/discover.h"
#include "util/chase.h"
#include "util/log.h"
#include "util/macros.h"
#include "util/strv.h"

#define NVIDIA_MAJOR_DEFAULT 195
#define NVIDIACTL_MINOR 255
#define MODESET_MINOR 254

bool node_exists(int devfd, const char *path, unsigned major, unsigned minor) {
        _cleanup_close_ int fd = chase_open(devfd, path, O_PATH | O_NOFOLLOW, 0);
        struct stat st;

        if (fd < 0 || fstat(fd, &st) < 0)
                return false;
        return S_ISCHR(st.st_mode) && st.st_rdev == makedev(major, minor);
}

static int node_add(struct discover_ctx *ctx, enum nctk_node_kind kind, const char *path,
                    int major, int minor) {
        struct nctk_inventory *inv = ctx->inv;
        struct nctk_node *n;

        if (major < 0 || minor < 0)
                return 0; /* the driver registers no such device */
        n = ARRAY_PUSH(inv->nodes, inv->n_nodes);
        if (!n)
                return -ENOMEM;
        n->kind = kind;
        n->major = (unsigned) major;
        n->minor = (unsigned) minor;
        n->path = strdup(path);
        if (!n->path)
                return -ENOMEM;
        n->exists = node_exists(ctx->devfd, path, n->major, n->minor);
        if (!n->exists)
                log_debug("device node '%s' (%d:%d) is missing", path, major, minor);
        return 0;
}

static int nodes_mig(struct discover_ctx *ctx, const struct nctk_gpu *g) {
        char path[64];
        int r;

        for (size_t j = 0; j < g->n_migs; j++) {
                const struct nctk_mig *m = &g->migs[j];

                if (m->gi_caps_minor >= 0) {
                        snprintf(path, sizeof(path), "/dev/nvidia-caps/nvidia-cap%d", m->gi_caps_minor);
                        r = node_add(ctx, NCTK_NODE_CAP, path, ctx->inv->majors.caps,
                                     m->gi_caps_minor);
                        if (r < 0)
                                return r;
                }
                if (m->ci_caps_minor >= 0) {
                        snprintf(path, sizeof(path), "/dev/nvidia-caps/nvidia-cap%d", m->ci_caps_minor);
                        r = node_add(ctx, NCTK_NODE_CAP, path, ctx->inv->majors.caps,
                                     m->ci_caps_minor);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

int nodes_discover(struct discover_ctx *ctx, struct nctk_error **err) {
        struct nctk_inventory *inv = ctx->inv;
        int nv = inv->majors.nvidia >= 0 ? inv->majors.nvidia : NVIDIA_MAJOR_DEFAULT;
        char path[64];
        int r = 0;

        r = r < 0 ? r : node_add(ctx, NCTK_NODE_CTL, "/dev/nvidiactl", nv, NVIDIACTL_MINOR);
        r = r < 0 ? r : node_add(ctx, NCTK_NODE_UVM, "/dev/nvidia-uvm", inv->majors.uvm, 0);
        r = r < 0 ? r : node_add(ctx, NCTK_NODE_UVM_TOOLS, "/dev/nvidia-uvm-tools", inv->majors.uvm, 1);
        r = r < 0 ? r : node_add(ctx, NCTK_NODE_MODESET, "/dev/nvidia-modeset", nv, MODESET_MINOR);
        for (size_t i = 0; r >= 0 && i < inv->n_gpus; i++) {
                snprintf(path, sizeof(path), "/dev/nvidia%u", inv->gpus[i].minor);
                r = node_add(ctx, NCTK_NODE_GPU, path, nv, (int) inv->gpus[i].minor);
        }
        for (size_t i = 0; r >= 0 && i < inv->n_gpus; i++)
                r = nodes_mig(ctx, &inv->gpus[i]);
        if (r < 0)
                return nctk_error_set(err, -r, "cannot list device nodes: %s", strerror(-r));
        return 0;
}
