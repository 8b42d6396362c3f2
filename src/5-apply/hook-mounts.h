/* The bind mounts and device nodes of a GPU container made by nctk's createContainer hook
 * instead of the low-level runtime, for runtimes that would create their targets by path (see
 * oci/runtime-safety.h): carried on the hook's command line, made through fds. */
#ifndef NCTK_APPLY_HOOK_MOUNTS_H
#define NCTK_APPLY_HOOK_MOUNTS_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "4-plan/plan.h"
#include "nctk/nctk.h"

struct journal;

/* Appends E's mounts (but those into /proc, which have --proc-mount, and those whose target
 * SPEC's "mounts" already has) and nodes (but those SPEC's "linux.devices" already has: as
 * spec_apply_edits skips them) to ARGS, the hook's argument array, as
 *   --mount OPTS:SOURCE[::TARGET]     OPTS: a comma list of ro, nosuid, nodev, noexec (may be
 *                                     empty); TARGET left out when it is SOURCE
 *   --node MAJOR:MINOR:SOURCE[::TARGET]
 * Sets *RET_ANY when it added one. 0 or -ENOMEM. */
int hook_mounts_args(json_t *args, const json_t *spec, const struct edits *e, bool *ret_any);

/* Read one --mount or --node value back into E. 0, -EINVAL (malformed, a relative path, a
 * target in /proc), -ENOMEM. */
int hook_mount_parse(struct edits *e, const char *arg);
int hook_node_parse(struct edits *e, const char *arg);

/* Makes E's mounts outside /proc and E's nodes in ROOTFD (the container's rootfs, in its mount
 * namespace before pivot_root): each target created, when missing, through fds confined to the
 * rootfs (rootfs_target), each source cloned on the host and attached onto the target's fd; a
 * node source must be the character device E names. Everything made is added to J (the caller
 * undoes it on failure). 0 or -errno with ERR. */
int apply_hook_mounts(int rootfd, const struct edits *e, uid_t uid, gid_t gid, struct journal *j,
                      struct nctk_error **err);

#endif
