/* NVML queries: the driver's library is loaded only in a forked, privilege-dropped helper, which
 * answers over a socketpair in the small fixed binary format below. The parent trusts nothing
 * the helper sends: counts are bounded, strings re-terminated, the helper always reaped. */
#ifndef NCTK_DISCOVER_NVML_H
#define NCTK_DISCOVER_NVML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "nctk/nctk.h"

#define NVML_QUERY_TIMEOUT_MS_DEFAULT 30000u

struct nvml_query {
        const char *driver_root; /* "/" (or NULL) or a directory: the helper chroot()s into it
                                    when it is not "/" and we are root */
        const char *lib_path;    /* absolute path of libnvidia-ml INSIDE the driver root */
        uid_t uid;               /* the helper drops to these when started as root */
        gid_t gid;
        /* nvmlInitWithFlags(NVML_INIT_NO_ATTACH) when the library has it. Measured on an H200
         * with driver 580.159.04 (persistence mode on): NVML then reports 0 GPUs, so this is
         * only for driver and CUDA versions; a GPU inventory needs it false. */
        bool no_attach;
        unsigned timeout_ms; /* whole query, helper start to exit; 0: 30 s */
};

struct nvml_result {
        char driver_version[NCTK_VERSION_MAX];
        int cuda_version; /* 13000 = 13.0; 0 when unknown */
        size_t n_gpus;
        struct nctk_gpu *gpus; /* in NVML index order; migs[] filled, except gi_caps/ci_caps
                                  (empty) and the caps minors (-1): /proc has those */
};

/* Runs the NVML helper and collects driver version, CUDA version, GPUs and their MIG devices.
 * Never returns in the helper, and reaps it on every path; a helper that does not answer within
 * Q->timeout_ms is killed (and waited for 2 s more at most: one stuck in the kernel is left behind
 * rather than hanging the caller). Returns 0 and a new result in *RET, or -errno with ERR saying
 * why: -EINVAL bad query, -ENOENT library not found (or driver root missing), -ENOSYS the library
 * lacks a needed entry point, -EPROTO driver/library version mismatch, -ENXIO kernel driver not
 * loaded, -ENODEV a GPU is lost, -EACCES no permission on the device nodes, -EIO other NVML
 * errors, -E2BIG more than NVML_WIRE_MAX_GPUS GPUs, -ETIMEDOUT helper killed on timeout, -EPIPE
 * helper died before answering, -EBADMSG the helper's answer was malformed, -ENOMEM; setup
 * failures in the helper (chroot, setresuid) pass on their errno. */
int nvml_query_run(const struct nvml_query *q, struct nvml_result **ret, struct nctk_error **err);

/* The same, also returning the helper's validated answer (the wire format below), which the
 * inventory cache keeps. */
int nvml_query_run_raw(const struct nvml_query *q, struct nvml_result **ret, char **ret_raw,
                       size_t *ret_raw_len, struct nctk_error **err);

/* Frees R, its GPUs and their MIG arrays. NULL-safe; returns NULL. */
struct nvml_result *nvml_result_free(struct nvml_result *r);

static inline void nvml_result_freep(struct nvml_result **r) {
        nvml_result_free(*r);
}

/* ---- wire format, helper -> parent (exposed for the unit tests and the fuzzer) ----------------
 * One stream, native byte order (both ends are the same binary): a header; when status is OK,
 * n_gpus GPU records follow, each followed by its n_migs MIG records. Then the helper exits.
 * Every char array is NUL-padded by the helper; the parent does not rely on it. */

#define NVML_WIRE_MAGIC 0x514d564eu /* "NVMQ" */
#define NVML_WIRE_VERSION 1u
#define NVML_WIRE_MAX_GPUS 1024u
#define NVML_WIRE_MAX_MIGS 64u /* per GPU */

enum nvml_wire_status {
        NVML_WIRE_OK = 0,
        NVML_WIRE_ERRNO = 1, /* errnum and msg say it all */
        NVML_WIRE_NVML = 2,  /* an NVML call failed: nvml_rc, err_index, msg "call: NVML's text" */
};

struct nvml_wire_header {
        uint32_t magic;
        uint16_t version;
        uint16_t status;    /* enum nvml_wire_status */
        int32_t errnum;     /* NVML_WIRE_ERRNO: positive errno */
        int32_t nvml_rc;    /* NVML_WIRE_NVML: the return code */
        uint32_t err_index; /* NVML_WIRE_NVML: GPU index concerned, or UINT32_MAX */
        int32_t cuda_version;
        uint32_t n_gpus;
        uint32_t reserved;
        char msg[256];
        char driver_version[80]; /* NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE */
};

struct nvml_wire_gpu {
        uint32_t index, minor;
        uint32_t brand; /* NVML_BRAND_*, named by the parent */
        uint32_t arch;  /* NVML_ARCH_*, 0 when unknown */
        int32_t cc_major, cc_minor;
        uint8_t mig_capable, mig_enabled;
        uint8_t persistence; /* enum nctk_persistence */
        uint8_t reserved;
        uint32_t n_migs;
        char uuid[96];
        char busid[32];
        char name[96];
};

struct nvml_wire_mig {
        uint32_t index, gi, ci, reserved;
        char uuid[96];
};

_Static_assert(sizeof(struct nvml_wire_header) == 368, "wire header layout");
_Static_assert(sizeof(struct nvml_wire_gpu) == 256, "wire GPU layout");
_Static_assert(sizeof(struct nvml_wire_mig) == 112, "wire MIG layout");

/* The longest answer a well-behaved helper can send. */
#define NVML_WIRE_MAX_SIZE                                                                         \
        (sizeof(struct nvml_wire_header) +                                                         \
         NVML_WIRE_MAX_GPUS * (sizeof(struct nvml_wire_gpu) +                                      \
                               NVML_WIRE_MAX_MIGS * sizeof(struct nvml_wire_mig)))

/* Decodes a complete answer of LEN bytes. Returns 0 and a new result, the helper's error turned
 * into ours (see nvml_query_run), -EPIPE when BUF ends early, or -EBADMSG when it is malformed. */
int nvml_result_parse(const void *buf, size_t len, struct nvml_result **ret,
                      struct nctk_error **err);

#endif
