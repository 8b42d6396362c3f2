/* Whether the low-level runtime may be trusted with the bind mounts and device nodes of a GPU
 * container (config.json), or nctk's createContainer hook must make them through fds. */
#ifndef NCTK_OCI_RUNTIME_SAFETY_H
#define NCTK_OCI_RUNTIME_SAFETY_H

#include <stdbool.h>

/* 1 when OUT, a runtime's `--version` output, names a runtime that creates mount targets and
 * device nodes inside the rootfs without following a link the image swaps in meanwhile: crun
 * (any version: it resolves through fds), runc 1.1.14 or later (1.2.0 from rc.3). 0 for every
 * other runtime, an older runc (CVE-2024-45310: it creates targets by path) or output it cannot
 * read: what is not known safe is unsafe. */
int runtime_version_is_safe(const char *out);

/* RUNTIME's `--version` output (at most 4 KiB), or -errno; -EIO when it exits non-zero. */
int runtime_version_output(const char *runtime, char **ret);

/* runtime_version_is_safe() of RUNTIME (an absolute path) run with --version; the answer is
 * cached in /run/nctk per binary (path, device, inode, size, mtime, ctime), so that a container
 * start pays one stat and one small read, not a Go program's start. 1 safe, 0 not (including a
 * runtime that cannot be run). */
int runtime_is_mount_safe(const char *runtime);

/* The shim's choice for nvidia-container-runtime.mount-in-hook SETTING: "always", "never", or
 * "auto" (also NULL or ""): in the hook when RUNTIME is not known safe. 0 with *RET set, or
 * -EINVAL for another SETTING. */
int runtime_mounts_in_hook(const char *setting, const char *runtime, bool *ret);

#endif
