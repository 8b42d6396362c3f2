/* The driver's device nodes under the dev root, with the majors the running module registered
 * (/proc/devices). nvidia-uvm's major is handed out when the module loads: a node made for an
 * earlier load (or copied by an image build) has a stale major, and CUDA then finds no device
 * while nvidia-smi, which needs only nvidiactl and nvidiaN, works. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "1-discover/discover.h"
#include "doctor/doctor.h"
#include "system/system.h"
#include "util/macros.h"
#include "util/strv.h"

/* The nodes of one check line, and the first that is not right. */
struct node_group {
        const char *id;
        const char *what;
        const char *set; /* the create-device-nodes flag that makes them */
        size_t n, n_bad;
        const struct sysnode *bad;
        char *wrong; /* " PATH PATH": the nodes in the way, for the fix's rm */
};

static int group_add_wrong(struct node_group *g, const char *dev_root, const char *path) {
        char *s = NULL;
        int r = asprintf(&s, "%s %s%s", g->wrong ? g->wrong : "",
                         STREQ(dev_root, "/") ? "" : dev_root, path);

        if (r < 0)
                return -ENOMEM;
        free(g->wrong);
        g->wrong = s;
        return 0;
}

static struct node_group *group_of(struct node_group *g, const struct sysnode *n) {
        if (STREQ(n->path, "/dev/nvidiactl"))
                return &g[0];
        if (startswith(n->path, "/dev/nvidia-uvm"))
                return &g[1];
        if (startswith(n->path, "/dev/nvidia-caps/"))
                return &g[3];
        if (STREQ(n->path, "/dev/nvidia-modeset"))
                return &g[4];
        return &g[2];
}

static int group_report(struct doctor_state *s, const struct node_group *g) {
        _cleanup_free_ char *fix = NULL, *shown = NULL;
        const struct sysnode *b = g->bad;
        int r;

        if (!b)
                return g->n == 0 ? 0
                                 : doctor_add(s, g->id, DOCTOR_OK, NULL, "%s: %zu node(s) present",
                                              g->what, g->n);
        shown = STREQ(s->dev_root, "/") ? strdup(b->path) : path_join(s->dev_root, b->path);
        if (!shown)
                return -ENOMEM;
        if (b->state == SYSNODE_MISSING)
                r = asprintf(&fix, "nvidia-ctk system create-device-nodes %s%s", g->set,
                             s->root_flags);
        else
                r = asprintf(&fix, "rm%s && nvidia-ctk system create-device-nodes %s%s", g->wrong,
                             g->set, s->root_flags);
        if (r < 0)
                return -ENOMEM;
        if (b->state == SYSNODE_MISSING)
                return doctor_add(s, g->id, DOCTOR_FAIL, fix, "%s: %s is missing (char %u:%u)%s",
                                  g->what, shown, b->major, b->minor,
                                  g->n_bad > 1 ? ", and others" : "");
        return doctor_add(s, g->id, DOCTOR_FAIL, fix,
                          "%s: %s is %s, but the running driver's is char %u:%u%s", g->what, shown,
                          b->found, b->major, b->minor,
                          startswith(b->path, "/dev/nvidia-uvm")
                                  ? " (nvidia-uvm's major is given at module load: this node "
                                    "is from an earlier load, and CUDA finds no device)"
                                  : "");
}

static int check_nodes(struct doctor_state *s, const struct system_roots *roots, unsigned set) {
        struct node_group g[] = {
                {"devices.nvidiactl", "control node", "--control-devices"},
                {"devices.uvm", "nvidia-uvm nodes", "--control-devices"},
                {"devices.gpus", "GPU nodes", "--gpu-devices"},
                {"devices.caps", "MIG capability nodes", "--control-devices"},
                {"devices.modeset", "nvidia-modeset node", "--control-devices"},
        };
        _cleanup_free_ struct sysnode *nodes = NULL;
        struct nctk_error *err = NULL;
        size_t n = 0;
        int r;

        r = sysnodes_plan(roots, set, &nodes, &n, &err);
        if (r < 0) {
                r = doctor_add(s, "devices.nodes", DOCTOR_FAIL, NULL, "%s",
                               err ? err->msg : strerror(-r));
                nctk_error_free(&err);
                return r;
        }
        for (size_t i = 0; i < n; i++) {
                struct node_group *k = group_of(g, &nodes[i]);
                /* Only display needs nvidia-modeset; the GPU machine has none. */
                if (k == &g[4] && nodes[i].state == SYSNODE_MISSING)
                        continue;
                k->n++;
                if (nodes[i].state != SYSNODE_PRESENT && k->n_bad++ == 0)
                        k->bad = &nodes[i];
                if (nodes[i].state == SYSNODE_WRONG && r >= 0)
                        r = group_add_wrong(k, s->dev_root, nodes[i].path);
        }
        for (size_t i = 0; i < ELEMENTSOF(g); i++) {
                if (r >= 0)
                        r = group_report(s, &g[i]);
                free(g[i].wrong);
        }
        return r;
}

int doctor_check_devices(struct doctor_state *s) {
        const char *proc = s->o->proc_root ? s->o->proc_root : "/proc";
        _cleanup_close_ int devfd = -EBADF, procfd = -EBADF;
        _cleanup_free_ char *fix = NULL;
        struct system_roots roots = {.dev_root = s->dev_root, .proc_root = proc};
        struct nctk_majors m;
        unsigned set = SYSNODE_CONTROL | SYSNODE_GPUS | SYSNODE_MIG_CONTROL;
        int r;

        if (!s->proc_version[0])
                return 0; /* driver.loaded said it all */
        devfd = open(s->dev_root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        procfd = open(proc, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (devfd < 0 || procfd < 0)
                return doctor_add(s, "devices.nodes", DOCTOR_FAIL, NULL, "cannot open %s: %m",
                                  devfd < 0 ? s->dev_root : proc);
        roots.devfd = devfd;
        roots.procfd = procfd;
        if (procfs_majors(procfd, &m) >= 0 && m.uvm < 0) {
                if (asprintf(&fix,
                             "modprobe nvidia-uvm && nvidia-ctk system create-device-nodes "
                             "--control-devices%s",
                             s->root_flags) < 0)
                        return -ENOMEM;
                r = doctor_add(s, "devices.uvm", DOCTOR_FAIL, fix,
                               "the nvidia-uvm module is not loaded (%s/devices lists no "
                               "nvidia-uvm major): CUDA in a container finds no device",
                               proc);
                if (r < 0)
                        return r;
                set &= ~(unsigned) SYSNODE_CONTROL;
        }
        return check_nodes(s, &roots, set);
}
