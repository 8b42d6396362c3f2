/* The config.json back-end of the apply stage (DESIGN.md stage 4): the edits written into a
 * bundle's OCI spec, so that runc/crun make the mounts, the device nodes and the device-cgroup
 * rules themselves, and a createContainer hook does the rest (symlinks, ld cache, /proc mask). */
#ifndef NCTK_APPLY_SPEC_H
#define NCTK_APPLY_SPEC_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/stat.h>

#include "4-plan/plan.h"
#include "nctk/nctk.h"

/* The hidden subcommand the createContainer hook runs (src/cmd/hook-finalize.c):
 *   nctk hook-finalize [--proc-root DIR] [--mask-proc BUSID]... [--proc-mount SRC::DST]...
 *                      [--link TARGET::LINK]... [--ldcache-dir DIR]...
 *                      [--mount OPTS:SRC[::DST]]... [--node MAJ:MIN:SRC[::DST]]...
 *                      [--cdi-hook JSON]... ROOTFS
 * (--mount and --node: apply/hook-mounts.h; --cdi-hook: a folded CDI spec hook's arguments as a
 * JSON array, hook name first, run after everything else in the given order: apply.h)
 * ROOTFS is the container's rootfs as the runtime's mount namespace sees it before pivot_root. */
#define SPEC_HOOK_FINALIZE "hook-finalize"
/* The environment of every hook we add: a hook runs as root and must not inherit anything
 * (DESIGN.md rule 3). */
#define SPEC_HOOK_PATH_ENV "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct spec_opts {
        const char
                *hook_path; /* absolute path of the nctk binary, run as the createContainer hook */
        const char *rootfs; /* the container's rootfs, absolute: the hook's ROOTFS */
        const char *proc_root;   /* the driver's procfs (inventory's proc_root); NULL: "/proc" */
        bool no_cgroups;         /* add no linux.resources.devices rules */
        bool mounts_in_hook;     /* the mounts and nodes go to the hook, not to the runtime */
        const json_t *cdi_hooks; /* [[hook name, arg, ...], ...]: CDI hooks folded into ours */
};

/* Adds E to SPEC, a parsed config.json, in place; every other field is left as it was:
 *  - each mount as {"destination": target, "type": "bind", "source": source, "options":
 *    ["bind", "ro", "nosuid", "nodev", "noexec" as its flags say]} at the end of "mounts",
 *    unless a mount with that destination is there already; mounts into /proc (which runtimes
 *    refuse in config.json) go to the hook instead;
 *  - each node as {"path", "type": "c", "major", "minor", "fileMode", "uid": 0, "gid": 0} in
 *    "linux.devices", unless that path is there already;
 *  - each rule as {"allow": true, "type": "c", "major", "minor", "access": "rw"} at the end of
 *    "linux.resources.devices" (unless O->no_cgroups or an identical allow rule already follows
 *    the last deny rule), so the runtime programs the device cgroup and the grant survives
 *    `systemctl daemon-reload`;
 *  - when E has links, ld cache directories, /proc mounts or a /proc mask: one createContainer
 *    hook running O->hook_path SPEC_HOOK_FINALIZE with them (a previous such hook is replaced);
 *  - with O->mounts_in_hook, neither the mounts nor the nodes: they go to that hook (--mount,
 *    --node), which makes them through fds; the rules stay;
 *  - O->cdi_hooks, each as --cdi-hook, to that hook (which then exists even with no edits).
 * Applying the same edits twice gives the same spec. Returns 0, -EINVAL with ERR when SPEC has
 * a field of the wrong type where we add (e.g. "mounts" not an array), -ENOMEM. On failure SPEC
 * may be partly edited: callers write it out only on success. */
int spec_apply_edits(json_t *spec, const struct edits *e, const struct spec_opts *o,
                     struct nctk_error **err);

/* True when HOOK (an element of a hooks array) is NVIDIA's legacy prestart hook: its path's
 * or its args[0]'s base name is nvidia-container-runtime-hook or nvidia-container-toolkit
 * (dockerd's --gpus hook, or the one the runtime shim adds in legacy mode). */
bool spec_is_nvidia_hook(const json_t *hook);
/* True when SPEC's prestart hooks hold an NVIDIA hook. */
bool spec_has_nvidia_hook(const json_t *spec);
/* Removes every NVIDIA hook from SPEC's prestart hooks; returns how many. */
int spec_remove_nvidia_hooks(json_t *spec);
/* Appends {path: HOOK_PATH, args: ["nvidia-container-runtime-hook", "prestart"], env: ENV} to
 * SPEC's prestart hooks. ENV: a NULL-terminated list, copied. 0, -EINVAL, -ENOMEM. */
int spec_add_legacy_hook(json_t *spec, const char *hook_path, char *const *env,
                         struct nctk_error **err);

/* The value of NAME in SPEC's process.env (the last occurrence, as execve's consumers read it),
 * or NULL when unset. Borrowed from SPEC. */
const char *spec_getenv(const json_t *spec, const char *name);

/* ENTRY ("NAME=VALUE") into process.env, replacing every NAME= the image had. -EINVAL with ERR
 * for an entry without '=' or a process.env that is not an array. */
int spec_setenv(json_t *spec, const char *entry, struct nctk_error **err);

struct finalize_opts;
/* Reads back the hook's command line (ARGV as spec_apply_edits wrote it, argv[0] the
 * subcommand) into E and O. Unknown options are ignored with a warning: a newer shim may pass
 * more, and refusing would stop every container. -EINVAL with ERR for a malformed value. */
int finalize_args_parse(int argc, char **argv, struct edits *e, struct finalize_opts *o,
                        struct nctk_error **err);

/* Appends the OCI mount options ("ro", "nosuid", "nodev", "noexec") of a plan mount's
 * MOUNT_* flags to the JSON array OPTS (config.json and CDI specs alike); -ENOMEM. */
int spec_mount_flag_options(json_t *opts, unsigned mount_flags);

#endif
