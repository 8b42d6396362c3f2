/* The shim's cdi mode with spec files: fully-qualified CDI names resolved against the spec
 * directories (any vendor), with CDI's precedence (a later directory overrides an earlier one for
 * the same device; one device in two files of one directory is an error), and the devices' edits
 * gathered, refusing conflicting ones, for config.json. */
#ifndef NCTK_CDI_RESOLVE_H
#define NCTK_CDI_RESOLVE_H

#include <jansson.h>
#include <stddef.h>

#include "4-plan/plan.h"
#include "nctk/nctk.h"

struct cdi_registry;

/* Loads every *.yaml and *.json of DIRS (NULL-terminated; a missing directory is empty). A file
 * that does not parse or fails cdi_check_schema() is skipped with a warning; its devices, when
 * it names them, are remembered so that cdi_request_split() can say why they fail. */
int cdi_registry_load(char *const *dirs, struct cdi_registry **ret, struct nctk_error **err);
struct cdi_registry *cdi_registry_free(struct cdi_registry *r);

/* The device NAME ("vendor/class=name") of the winning spec, or NULL; *RET_SPEC its spec and
 * *RET_FILE its file when not NULL. Borrowed from R. */
const json_t *cdi_registry_find(const struct cdi_registry *r, const char *name,
                                const json_t **ret_spec, const char **ret_file);

/* Splits DEVICES (a request's comma list) into the CDI names served by spec files (*RET_NAMES,
 * NULL-terminated, and the loaded *RET_REG) and the rest, for nctk's own resolution
 * (*RET_BUILTIN, NULL when nothing is left). The specs are read only when a name is not of
 * nctk's own kinds (nvidia.com/gpu, runtime.nvidia.com/gpu); a name that no spec has and that
 * is not of those kinds is an error naming it and DIRS (and the invalid spec that has it, or
 * the skipped ones). */
int cdi_request_split(char *const *dirs, const char *devices, struct cdi_registry **ret_reg,
                      char ***ret_names, char **ret_builtin, struct nctk_error **err);

void cdi_names_free(char **names);

/* What the named devices add to config.json beyond E's mounts, nodes and rules. */
struct cdi_extra {
        json_t *env;   /* ["K=V", ...] */
        json_t *hooks; /* {"createContainer": [hook, ...], ...} */
        json_t *gids;  /* [gid, ...] */
};

/* Appends to E the mounts, device nodes (stat'ed for numbers the spec leaves out) and cgroup
 * rules of NAMES' devices and, once per spec, their specs' top-level edits; env, hooks and
 * additional gids (each once) to *X. Two devices (or one and nctk's own devices already in E)
 * asking for one container path with different host paths or mount options, one variable with
 * different values, or one node path with different numbers: -EINVAL with one line naming
 * both; the same mount, variable or node twice is kept once. */
int cdi_edits_collect(const struct cdi_registry *r, char *const *names, struct edits *e,
                      struct cdi_extra *x, struct nctk_error **err);
void cdi_extra_release(struct cdi_extra *x);

/* Moves the leading createContainer hooks of X that are this binary's own nvidia-cdi-hook
 * hooks (path: the same file as SELF_EXE, normally "/proc/self/exe"; a command line that
 * dispatches to nvidia-cdi-hook with a hook this build has and arguments that parse; no timeout;
 * only logging variables) out of X, into *RET as [[hook name, arg, ...], ...] for the finalize
 * hook to run in that order (spec.h's cdi_hooks). Anything else stays, in order. 0 or -ENOMEM. */
int cdi_hooks_fold(struct cdi_extra *x, const char *self_exe, json_t **ret,
                   struct nctk_error **err);

/* Adds X's env (replacing a variable of the same name), hooks and gids (those not there
 * already) to CONFIG. */
int cdi_extra_apply(json_t *config, const struct cdi_extra *x, struct nctk_error **err);

#endif
