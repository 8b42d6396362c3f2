/* pipeline_run(): the stages in order, once, for every front-end. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "2-select/require.h"
#include "mps/mps.h"
#include "pipeline/stages.h"
#include "util/log.h"
#include "util/macros.h"

void pipeline_opts_init(struct pipeline_opts *o) {
        *o = (struct pipeline_opts){};
        nctk_discover_opts_init(&o->dopts);
        o->dopts.path = getenv("PATH");
        o->dopts.mps_pipe_dir = getenv("CUDA_MPS_PIPE_DIRECTORY");
        if (geteuid() != 0) {
                o->dopts.uid = geteuid();
                o->dopts.gid = getegid();
        }
}

const char *pipeline_stage_name(enum pipeline_stage stage) {
        static const char *const names[] = {
                [PIPELINE_MIG_CONFIG] = "mig-config",
                [PIPELINE_MIG_MONITOR] = "mig-monitor",
                [PIPELINE_INITIALIZATION] = "initialization",
                [PIPELINE_DEVICE] = "device",
                [PIPELINE_REQUIREMENT] = "requirement",
                [PIPELINE_CONTAINER] = "input",
                [PIPELINE_PLAN] = "mount",
        };

        return (unsigned) stage < ELEMENTSOF(names) ? names[stage] : "unknown";
}

static int fail(struct pipeline *p, enum pipeline_stage stage, int r) {
        p->stage = stage;
        return r;
}

/* What can be judged before anything is discovered: cheap refusals first. */
static int check_input(struct pipeline *p, const struct container_request *q,
                       struct nctk_error **err) {
        const char *mig[] = {q->mig_config, q->mig_monitor};

        for (size_t i = 0; i < ELEMENTSOF(mig); i++)
                if (mig[i] && !STREQ(mig[i], "all"))
                        return fail(p, i ? PIPELINE_MIG_MONITOR : PIPELINE_MIG_CONFIG,
                                    nctk_error_set(err, EINVAL,
                                                   "only 'all' devices are currently "
                                                   "supported, not '%s'",
                                                   mig[i]));
        for (size_t i = 0; i < q->n_requirements && !q->requirements_disabled; i++) {
                int r = require_validate(q->requirements[i], err);
                if (r < 0)
                        return fail(p, PIPELINE_REQUIREMENT, r);
        }
        return 0;
}

int pipeline_discover(const struct pipeline_opts *o, const struct container_request *q,
                      struct nctk_inventory **ret, struct nctk_error **err) {
        struct nctk_discover_opts d = o->dopts;
        int r = 0;

        log_debug("nctk %s: discovering", nctk_version());
        if (q) {
                d.imex_channels = q->imex;
                d.n_imex_channels = q->n_imex;
                d.gates = q->gates;
        }
        if (o->load_kmods)
                r = nctk_load_kmods(&d, err);
        return r < 0 ? r : nctk_discover(&d, ret, err);
}

static int select_devices(struct pipeline *p, const struct container_request *q,
                          struct nctk_error **err) {
        _cleanup_free_ char *devices = NULL;
        int r;

        r = pipeline_cdi_resolve(q->devices ? q->devices : "none", &devices, err);
        return r < 0 ? r : selection_parse(p->inv, devices, &p->sel, err);
}

static int container_read(struct pipeline *p, const struct pipeline_opts *o,
                          struct nctk_error **err) {
        if (!o->rootfs) {
                container_facts_default(&p->facts);
                return 0;
        }
        p->rootfd = container_rootfs_open(o->pid, o->rootfs, err);
        if (p->rootfd < 0)
                return p->rootfd;
        container_facts_read(p->rootfd, &p->facts);
        if (p->facts.compat_cuda_major)
                log_debug("the image's CUDA compat libcuda is %lu, the driver %s",
                          p->facts.compat_cuda_major, p->inv->driver_version);
        return 0;
}

/* The MPS daemon the container becomes a client of, if any (src/mps). */
static int mps_lookup(struct pipeline *p, const struct pipeline_opts *o,
                      const struct container_request *q, struct mps_client *ret,
                      struct nctk_error **err) {
        *ret = (struct mps_client){};
        if (!(q->caps & NCTK_CAP_COMPUTE) || q->mps_disabled)
                return 0;
        return mps_client_lookup(o->mps_root, p->inv, &p->sel, ret, err);
}

static int plan(struct pipeline *p, const struct container_request *q, const struct plan_mps *mps,
                struct nctk_error **err) {
        struct plan_request req = {
                .caps = q->caps,
                .sel = &p->sel,
                .compat32 = q->compat32,
                .mig_config = q->mig_config != NULL,
                .mig_monitor = q->mig_monitor != NULL,
                .n_imex = q->n_imex,
                .imex = q->imex,
                .compat = q->compat,
                .mps = mps,
                .gates = q->gates,
        };
        int r = plan_build(p->inv, &req, &p->facts, &p->edits, err);

        if (r >= 0)
                log_debug("plan: %zu mounts, %zu nodes, %zu links, %zu rules", p->edits->n_mounts,
                          p->edits->n_nodes, p->edits->n_links, p->edits->n_rules);
        return r;
}

int pipeline_run(struct pipeline *p, const struct pipeline_opts *o,
                 const struct container_request *req, struct nctk_error **err) {
        struct mps_client mps;
        int r;

        *p = (struct pipeline){.rootfd = -EBADF};
        if ((r = check_input(p, req, err)) < 0)
                return r;
        if ((r = pipeline_discover(o, req, &p->inv, err)) < 0)
                return fail(p, PIPELINE_INITIALIZATION, r);
        if ((r = select_devices(p, req, err)) < 0)
                return fail(p, PIPELINE_DEVICE, r);
        if ((r = pipeline_requirements(req, p->inv, &p->sel, err)) < 0)
                return fail(p, PIPELINE_REQUIREMENT, r);
        if ((r = mps_lookup(p, o, req, &mps, err)) < 0)
                return fail(p, PIPELINE_DEVICE, r);
        if ((r = container_read(p, o, err)) < 0)
                return fail(p, PIPELINE_CONTAINER, r);
        struct plan_mps pm = {.pipe_dir = mps.active ? mps.pipe_dir : NULL,
                              .thread_percentage = mps.thread_percentage,
                              .pinned_limit = mps.pinned_limit};
        if ((r = plan(p, req, &pm, err)) < 0)
                return fail(p, PIPELINE_PLAN, r);
        return 0;
}

void pipeline_release(struct pipeline *p) {
        p->edits = edits_free(p->edits);
        selection_release(&p->sel);
        p->inv = nctk_inventory_free(p->inv);
        if (p->rootfd >= 0)
                close(p->rootfd);
        p->rootfd = -EBADF;
}
