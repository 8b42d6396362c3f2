/* Granting a running container access to more devices through its device cgroup: v1 writes
 * devices.allow, v2 swaps the eBPF device program for one with our rules in front. Used by
 * `configure` and the prestart hook, after the runtime has set up the cgroup. */
#ifndef NCTK_APPLY_CGROUP_H
#define NCTK_APPLY_CGROUP_H

#include <linux/bpf.h>
#include <stddef.h>
#include <sys/types.h>

#include "nctk/nctk.h"

enum device_access {
        DEVICE_ACCESS_READ = 1u << 0,
        DEVICE_ACCESS_WRITE = 1u << 1,
        DEVICE_ACCESS_MKNOD = 1u << 2,
        DEVICE_ACCESS_ALL = (1u << 3) - 1,
};

struct device_rule {
        char type;        /* 'c', 'b', or 'a' for both */
        int major, minor; /* -1 = any */
        unsigned access;  /* enum device_access bits, not 0 */
};

/* What cgroup_allow_devices() and ebpf_cgroup_extend() did, when they succeed. */
enum cgroup_allow_result {
        CGROUP_ALLOW_APPLIED = 0,       /* the rules are in place */
        CGROUP_ALLOW_UNRESTRICTED = 1,  /* v2: no device program anywhere: all devices allowed
                                         * already; nothing done */
        CGROUP_ALLOW_ANCESTOR_ONLY = 2, /* v2: no program on this cgroup, only on ancestors, which
                                         * belong to others: nothing done */
};

/* Checks N RULES (type, numbers, access bits); -EINVAL names the bad one in ERR. */
int device_rules_check(const struct device_rule *rules, size_t n, struct nctk_error **err);

/* Allows RULES in the device cgroup of PID, on v1 (devices.allow) or v2 (eBPF), whichever
 * controls devices for PID. Returns an enum cgroup_allow_result, or -errno with ERR set. */
int cgroup_allow_devices(pid_t pid, const struct device_rule *rules, size_t n,
                         struct nctk_error **err);

/* ---- locating the cgroup: pure, for tests ---------------------------------------------------- */

enum cgroup_version { CGROUP_V1 = 1, CGROUP_V2 = 2 };

struct cgroup_location {
        enum cgroup_version version; /* which hierarchy controls devices for the process */
        char *path; /* the cgroup's directory in the mount namespace of MOUNTINFO */
};

/* From the text of /proc/PID/cgroup and of a /proc/.../mountinfo: v1 when a v1 hierarchy has the
 * devices controller (hybrid hosts too), else v2. -ENOENT (ERR says why) when the hierarchy is not
 * mounted or the process's cgroup lies outside every mount of it. *RET is written only on
 * success; release it with cgroup_location_release(). */
int cgroup_locate(const char *proc_cgroup, const char *mountinfo, struct cgroup_location *ret,
                  struct nctk_error **err);
void cgroup_location_release(struct cgroup_location *loc);

/* ---- v2 pieces, exposed for tests ------------------------------------------------------------ */

/* Builds a BPF_PROG_TYPE_CGROUP_DEVICE program: RULES first, each returning 1 (allow) on a
 * match; then TAIL, an existing device program's instructions, appended whole so that its
 * relative jumps stay valid; with no TAIL (N_TAIL 0), deny everything else. A rule that matches
 * everything ends the program. *RET is malloc'd. -EINVAL for bad rules, -E2BIG, -ENOMEM. */
int ebpf_device_program(const struct device_rule *rules, size_t n, const struct bpf_insn *tail,
                        size_t n_tail, struct bpf_insn **ret, size_t *ret_n);

/* Checks that INSNS, dumped from the kernel (xlated), can be loaded again as the tail of a new
 * program: context loads, stack, ALU, jumps inside the program, exit; no helper calls, maps or
 * kernel-internal registers. Rewrites the verifier's zero-extension moves into plain ones.
 * -EOPNOTSUPP with ERR saying which instruction. */
int ebpf_tail_check(struct bpf_insn *insns, size_t n, struct nctk_error **err);

/* Adds RULES to every device program attached to the cgroup of CGROUP_FD (a directory fd on
 * cgroup2): each is replaced in one step by our rules + its own instructions (BPF_F_REPLACE;
 * before Linux 5.6, attach the new one, then detach the old). On failure every program is left
 * as it was. Returns an enum cgroup_allow_result, or -errno with ERR set. */
int ebpf_cgroup_extend(int cgroup_fd, const struct device_rule *rules, size_t n,
                       struct nctk_error **err);

/* Tests only: behave as on a kernel without BPF_F_REPLACE. */
void ebpf_test_set_no_replace(bool no_replace);

/* What to do when the device cgroup may not be changed: a rootless engine, or an engine nested in
 * a container (LXC, Proxmox, docker-in-docker) whose parent cgroup denies the devices. */
#define CGROUP_DENIED_HINT                                                                         \
        "; a rootless or nested engine: set no-cgroups = true under [nvidia-container-cli] in "    \
        "config.toml and give the devices through the engine"

#endif
