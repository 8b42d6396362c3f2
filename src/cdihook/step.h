/* One nvidia-cdi-hook invocation ("create-symlinks --link A::B ...") parsed once and run on a
 * rootfs fd: the same code for nvidia-cdi-hook's command line (src/cmd/cdi-hook.c) and for the
 * spec hooks the runtime shim folds into its one createContainer hook (src/cdi/fold.c,
 * src/5-apply/finalize.c), so that a folded hook means exactly what its own run would. */
#ifndef NCTK_CDIHOOK_STEP_H
#define NCTK_CDIHOOK_STEP_H

#include <stdbool.h>
#include <stdio.h>

#include "nctk/nctk.h"

struct cdihook_step;

/* True when NAME is a hook this build implements ("create-symlinks", ...). */
bool cdihook_is_known(const char *name);

/* The usage line of the hook NAME, or NULL. */
const char *cdihook_usage_of(const char *name);

/* One line per hook, for --help. */
void cdihook_usage_list(FILE *f);

/* Parses ARGV (ARGV[0] the hook's name) the way the reference's parser does: -name or --name,
 * "=value" or the next word; an unknown flag is a warning (logged) and skipped. *RET is NULL
 * (and 0 is returned) when the hook is unknown; a flag without its value is -EINVAL with ERR.
 * ARGV must outlive *RET (values are borrowed). */
int cdihook_step_parse(int argc, char **argv, struct cdihook_step **ret, struct nctk_error **err);
struct cdihook_step *cdihook_step_free(struct cdihook_step *s);

/* The hidden --container-spec value (the state file to read instead of stdin), or NULL. */
const char *cdihook_step_state_file(const struct cdihook_step *s);
const char *cdihook_step_name(const struct cdihook_step *s);

/* Runs S on ROOTFD (cdihook.h's contract). */
int cdihook_step_run(const struct cdihook_step *s, int rootfd, struct nctk_error **err);

#endif
