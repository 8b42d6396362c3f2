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

static int node_add(struct discover_ctx *ctx, enum nctk_node_kind kind, const char *path, int major,
                    int minor) {
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

static int node_add_cap(struct discover_ctx *ctx, int minor) {
        char path[64];

        if (minor < 0)
                return 0;
        snprintf(path, sizeof(path), "/dev/nvidia-caps/nvidia-cap%d", minor);
        return node_add(ctx, NCTK_NODE_CAP, path, ctx->inv->majors.caps, minor);
}

static int nodes_mig(struct discover_ctx *ctx, const struct nctk_gpu *g) {
        int r = 0;

        for (size_t j = 0; r >= 0 && j < g->n_migs; j++) {
                r = node_add_cap(ctx, g->migs[j].gi_caps_minor);
                r = r < 0 ? r : node_add_cap(ctx, g->migs[j].ci_caps_minor);
        }
        return r;
}

/* The requested IMEX channels: a missing one is skipped with a warning, as the reference does. */
static int nodes_imex(struct discover_ctx *ctx) {
        const struct nctk_discover_opts *o = ctx->opts;
        struct nctk_inventory *inv = ctx->inv;
        char path[80];
        int r = 0;

        for (size_t k = 0; r >= 0 && k < o->n_imex_channels; k++) {
                snprintf(path, sizeof(path), "/dev/nvidia-caps-imex-channels/channel%u",
                         o->imex_channels[k]);
                r = node_add(ctx, NCTK_NODE_IMEX, path, inv->majors.caps_imex,
                             (int) o->imex_channels[k]);
                if (r >= 0 && (inv->n_nodes == 0 || !inv->nodes[inv->n_nodes - 1].exists ||
                               !STREQ(inv->nodes[inv->n_nodes - 1].path, path)))
                        log_warning("missing IMEX channel device '%s%s', skipping",
                                    STREQ(inv->dev_root, "/") ? "" : inv->dev_root, path);
        }
        return r;
}

int nodes_discover(struct discover_ctx *ctx, struct nctk_error **err) {
        struct nctk_inventory *inv = ctx->inv;
        int nv = inv->majors.nvidia >= 0 ? inv->majors.nvidia : NVIDIA_MAJOR_DEFAULT;
        char path[64];
        int r = 0;

        r = r < 0 ? r : node_add(ctx, NCTK_NODE_CTL, "/dev/nvidiactl", nv, NVIDIACTL_MINOR);
        r = r < 0 ? r : node_add(ctx, NCTK_NODE_UVM, "/dev/nvidia-uvm", inv->majors.uvm, 0);
        r = r < 0 ? r
                  : node_add(ctx, NCTK_NODE_UVM_TOOLS, "/dev/nvidia-uvm-tools", inv->majors.uvm, 1);
        r = r < 0 ? r : node_add(ctx, NCTK_NODE_MODESET, "/dev/nvidia-modeset", nv, MODESET_MINOR);
        for (size_t i = 0; r >= 0 && i < inv->n_gpus; i++) {
                snprintf(path, sizeof(path), "/dev/nvidia%u", inv->gpus[i].minor);
                r = node_add(ctx, NCTK_NODE_GPU, path, nv, (int) inv->gpus[i].minor);
        }
        for (size_t i = 0; r >= 0 && i < inv->n_gpus; i++)
                r = nodes_mig(ctx, &inv->gpus[i]);
        if (r >= 0 && inv->mig_config_minor >= 0)
                r = node_add_cap(ctx, inv->mig_config_minor);
        if (r >= 0 && inv->mig_monitor_minor >= 0)
                r = node_add_cap(ctx, inv->mig_monitor_minor);
        r = r < 0 ? r : nodes_imex(ctx);
        if (r < 0)
                return nctk_error_set(err, -r, "cannot list device nodes: %s", strerror(-r));
        return 0;
}
