/* The runtime shim's side of OCI: the runc/crun command line it stands in front of, the
 * low-level runtime it execs, its mode, and the legacy prestart hook it adds. */
#ifndef NCTK_OCI_SHIM_H
#define NCTK_OCI_SHIM_H

#include <jansson.h>
#include <stdbool.h>

#include "2-select/request.h"
#include "config/config.h"

/* What the shim needs from a runc/crun command line. Pointers borrow from argv. */
struct runtime_args {
        int subcommand;         /* argv index of the subcommand, 0 when there is none */
        bool modifies;          /* the subcommand is create or run: the spec is read */
        const char *bundle;     /* -b/--bundle of create/run; NULL: the current directory */
        const char *config;     /* crun's -f/--config FILE, relative to the bundle; NULL */
        const char *log;        /* global --log FILE */
        const char *log_format; /* global --log-format (text or json) */
        bool version;           /* -v/--version before any subcommand */
};

/* Parses ARGV as runc and crun do: global options (those that take a value — --root, --log,
 * --log-format, --log-level, --criu, --rootless, --cgroup-manager — with it as `--opt V` or
 * `--opt=V`, one or two dashes), then the subcommand, then its options, which may follow the
 * container id (runc reorders them). A value is never taken for a subcommand: `--root create`
 * names a directory, and `--bundle create`, accepted anywhere as the reference accepts it, too.
 * Returns 0, or -EINVAL when -b/--bundle has no value (the command is then handed to the
 * runtime untouched, to report). */
int runtime_args_parse(int argc, char *const *argv, struct runtime_args *ret);

/* The first of CANDIDATES (a NULL-terminated list) that is an executable regular file: a name
 * with a '/' is taken as it is, a bare name is searched in PATH_ENV (may be NULL) and then
 * /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin. A file that is this very program
 * (same inode as /proc/self/exe) is skipped, so a shim named runc cannot exec itself. *RET is a
 * heap string. 0, -ENOENT, -ENOMEM. */
int runtime_find(char *const *candidates, const char *path_env, char **ret);

/* How a GPU container is edited. SHIM_CDI and SHIM_JIT_CDI edit it alike (the edits are computed
 * in-process and written into config.json); only cdi mode reads CDI annotations, as the
 * reference does. */
enum shim_mode { SHIM_LEGACY, SHIM_CDI, SHIM_JIT_CDI };

/* The mode for FORCED (the argv[0] suffix .cdi/.legacy, or NULL) or the config's
 * nvidia-container-runtime.mode: auto (legacy, for now) | legacy | cdi | jit-cdi. -EINVAL for
 * the others. */
int shim_mode_resolve(const struct nctk_config *cfg, const char *forced, enum shim_mode *ret);

/* The absolute path of the legacy prestart hook: the config's nvidia-container-runtime-hook.path
 * when it has a '/'; else that name beside this binary (/proc/self/exe's directory), else in
 * PATH; else this binary itself (nctk is multi-call: the hook's argv[0] selects the hook). */
int shim_hook_path(const struct nctk_config *cfg, char **ret);

/* Legacy mode: adds the prestart hook at HOOK_PATH unless SPEC has an NVIDIA hook already (such
 * as dockerd's --gpus hook). Returns 1 when SPEC changed, 0 when not, -errno with ERR. */
int shim_legacy(json_t *spec, const char *hook_path, struct nctk_error **err);

/* Appends MSG as an error to the runc log PATH (the caller's --log; nothing when NULL or it
 * cannot be opened) in FORMAT (--log-format: "json", else logrus text), where containerd and
 * dockerd look for the reason a runtime failed. */
void runc_log_error(const char *path, const char *format, const char *msg);

/* The reference hook refuses to run when the runtime's mode is not legacy: in cdi and jit-cdi
 * modes the runtime shim edits config.json itself, and the hook would inject a second time
 * (features.md: hook.skip-mode-detection lifts it; "auto" refuses only CDI device requests).
 * 0, or -EPERM with ERR saying what to use instead. */
int hook_mode_check(const struct nctk_config *cfg, const struct container_request *req,
                    struct nctk_error **err);

/* This program's path (/proc/self/exe), a heap string. 0 or -errno. */
int shim_self_path(char **ret);

#endif
