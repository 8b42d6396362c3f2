/* The feature-gated devices (enum nctk_gate): NVSwitch, gdrcopy, GDS and InfiniBand nodes, and
 * GDS's udev and cuFile files. Their majors are dynamic or belong to other drivers, so a node is
 * whatever character device of the expected name the dev root holds; only the gates asked for
 * are looked at, since a container start should not list /dev for features nobody wants. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "1-discover/discover.h"
#include "util/chase.h"
#include "util/log.h"
#include "util/macros.h"
#include "util/strv.h"

struct gated_pattern {
        enum nctk_gate gate;
        enum nctk_node_kind kind;
        const char *dir;
        const char *name;
        bool is_prefix;
};

static const struct gated_pattern patterns[] = {
        /* nvidia-nvswitchctl and every nvidia-nvswitchN */
        {NCTK_GATE_NVSWITCH, NCTK_NODE_NVSWITCH, "/dev", "nvidia-nvswitch", true},
        {NCTK_GATE_GDRCOPY, NCTK_NODE_GDRCOPY, "/dev", "gdrdrv", false},
        {NCTK_GATE_GDS, NCTK_NODE_GDS, "/dev", "nvidia-fs", true},
        {NCTK_GATE_MOFED, NCTK_NODE_MOFED, "/dev/infiniband", "uverbs", true},
        {NCTK_GATE_MOFED, NCTK_NODE_MOFED, "/dev/infiniband", "rdma_cm", false},
};

static bool pattern_match(const struct gated_pattern *p, const char *name) {
        return p->is_prefix ? startswith(name, p->name) : STREQ(name, p->name);
}

/* A character device (never a symlink to one: its target could be anything) recorded with the
 * st_rdev it has now, as present. */
static int gated_node_add(struct nctk_inventory *inv, const struct gated_pattern *p, int dfd,
                          const char *name) {
        struct nctk_node *n;
        struct stat st;

        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISCHR(st.st_mode))
                return 0;
        n = ARRAY_PUSH(inv->nodes, inv->n_nodes);
        if (!n)
                return -ENOMEM;
        n->kind = p->kind;
        n->major = major(st.st_rdev);
        n->minor = minor(st.st_rdev);
        n->exists = true;
        n->path = path_join(p->dir, name);
        return n->path ? 0 : -ENOMEM;
}

/* One listing of the directory of patterns[FIRST] for every pattern of GATES in that directory:
 * /dev holds three kinds, and a container asking for several should not list it three times. */
static int gated_scan(struct discover_ctx *ctx, unsigned gates, size_t first) {
        const char *dir = patterns[first].dir;
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        int r;

        r = chase_opendir(ctx->devfd, dir, &d);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return 0; /* no such directory: none of these nodes */
        while ((de = readdir(d)))
                for (size_t i = first; i < ELEMENTSOF(patterns); i++) {
                        const struct gated_pattern *p = &patterns[i];

                        if (!(gates & p->gate) || !STREQ(p->dir, dir) ||
                            !pattern_match(p, de->d_name))
                                continue;
                        r = gated_node_add(ctx->inv, p, dirfd(d), de->d_name);
                        if (r < 0)
                                return r;
                        break;
                }
        return 0;
}

/* Whether an earlier pattern of GATES already listed the directory of patterns[I]. */
static bool dir_listed(unsigned gates, size_t i) {
        for (size_t j = 0; j < i; j++)
                if ((gates & patterns[j].gate) && STREQ(patterns[j].dir, patterns[i].dir))
                        return true;
        return false;
}

static int node_cmp(const void *x, const void *y) {
        const struct nctk_node *a = x, *b = y;

        return strverscmp(a->path, b->path);
}

/* The real path inside the driver root of PATH when it is of TYPE, else NULL in *RET. */
static int gds_file(struct discover_ctx *ctx, const char *path, mode_t type, char **ret) {
        _cleanup_close_ int fd = chase_open(ctx->rootfd, path, O_PATH, 0);
        struct stat st;
        int r;

        if (fd < 0 || fstat(fd, &st) < 0 || (st.st_mode & S_IFMT) != type) {
                log_debug("no GDS file '%s'", path);
                return 0;
        }
        r = chase_real_path(ctx->rootfd, ctx->root_real, path, ret);
        return r == -ENOMEM ? r : 0;
}

int gated_discover(struct discover_ctx *ctx, struct nctk_error **err) {
        struct nctk_inventory *inv = ctx->inv;
        unsigned gates = ctx->opts->gates;
        size_t first = inv->n_nodes;
        int r = 0;

        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(patterns); i++)
                if ((gates & patterns[i].gate) && !dir_listed(gates, i))
                        r = gated_scan(ctx, gates, i);
        /* readdir order is the filesystem's: sort, so that plans and specs are stable. */
        if (r >= 0 && inv->n_nodes > first)
                qsort(inv->nodes + first, inv->n_nodes - first, sizeof(*inv->nodes), node_cmp);
        if (r >= 0 && (gates & NCTK_GATE_GDS)) {
                r = gds_file(ctx, "/run/udev", S_IFDIR, &inv->gds_udev);
                r = r < 0 ? r : gds_file(ctx, "/etc/cufile.json", S_IFREG, &inv->gds_cufile);
        }
        if (r < 0)
                return nctk_error_set(err, -r, "cannot list feature-gated devices: %s",
                                      strerror(-r));
        return 0;
}
