/* The one pipeline every front-end calls (DESIGN.md): discover -> select -> container -> plan.
 * configure and the prestart hook apply its edits to a live container, the runtime shim writes
 * them into config.json, list prints them; a CDI spec or docker arguments are more back-ends of
 * the same value. Front-ends only parse their input into a container_request, call
 * pipeline_run, and render the result or the error. */
#ifndef NCTK_PIPELINE_PIPELINE_H
#define NCTK_PIPELINE_PIPELINE_H

#include <stdbool.h>
#include <sys/types.h>

#include "2-select/request.h"
#include "2-select/select.h"
#include "3-container/container.h"
#include "4-plan/plan.h"
#include "nctk/nctk.h"

/* Where a run stopped: the front-ends print the reference's "<stage> error: ..." from it. */
enum pipeline_stage {
        PIPELINE_MIG_CONFIG,     /* the request's MIG config devices (only "all") */
        PIPELINE_MIG_MONITOR,    /* the request's MIG monitor devices (only "all") */
        PIPELINE_INITIALIZATION, /* kernel modules, discovery */
        PIPELINE_DEVICE,         /* device selection, CDI names */
        PIPELINE_REQUIREMENT,    /* NVIDIA_REQUIRE_* / --require against this host */
        PIPELINE_CONTAINER,      /* the container's rootfs */
        PIPELINE_PLAN,           /* the edits */
};

struct pipeline_opts {
        struct nctk_discover_opts dopts;
        bool load_kmods; /* load the driver's modules, create missing nodes (nvidia-modprobe) */
        /* The container: ROOTFS as the mount namespace of PID sees it (PID 0: ours). NULL
         * ROOTFS: no container to look at (list), the default layout. */
        const char *rootfs;
        pid_t pid;
        /* nctk's MPS daemons (src/mps): a container given a GPU that has one becomes its
         * client. NULL: /run/nvidia-mps. */
        const char *mps_root;
};

struct pipeline {
        struct nctk_inventory *inv;
        struct selection sel;
        int rootfd; /* the container's rootfs, for the apply stage; -EBADF without one */
        struct container_facts facts;
        struct edits *edits;
        enum pipeline_stage stage; /* where it stopped, when pipeline_run failed */
};

/* PATH and CUDA_MPS_PIPE_DIRECTORY from this process's environment (the runtime's, never the
 * container's), our own uid/gid for NVML when not root, defaults for the rest. */
void pipeline_opts_init(struct pipeline_opts *o);

/* Runs the pipeline for REQ: kernel modules (when asked), discovery (with the NVML cache when
 * O->dopts.flags asks for it), CDI device names resolved to this host's GPUs, the selection, the
 * requirements (per selected GPU or parent of a selected MIG device, once without a device when
 * none, not at all when disabled), the container's facts from one rootfs fd, the plan. On
 * failure P->stage says where, ERR what; P is released by pipeline_release either way. */
int pipeline_run(struct pipeline *p, const struct pipeline_opts *o,
                 const struct container_request *req, struct nctk_error **err);
void pipeline_release(struct pipeline *p);

/* The discovery step alone (info): kernel modules when asked, then the inventory, with the
 * device nodes of Q's IMEX channels and feature gates (Q may be NULL). */
int pipeline_discover(const struct pipeline_opts *o, const struct container_request *q,
                      struct nctk_inventory **ret, struct nctk_error **err);

/* The reference's word for STAGE in "<prog>: <word> error: <message>". */
const char *pipeline_stage_name(enum pipeline_stage stage);

/* DEVICES with CDI names ("nvidia.com/gpu=0", "runtime.nvidia.com/gpu=all") turned into the
 * plain device ids they name on this host. -EINVAL names a kind nctk does not serve. */
int pipeline_cdi_resolve(const char *devices, char **ret, struct nctk_error **err);

#endif
