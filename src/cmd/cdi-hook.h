/* nvidia-cdi-hook (cdi-hook.c): the hooks NVIDIA's CDI specs run, also `nvidia-ctk hook` and
 * `nctk cdi-hook`. */
#ifndef NCTK_CMD_CDI_HOOK_H
#define NCTK_CMD_CDI_HOOK_H

#include "cmd/ctk.h"

/* nvidia-cdi-hook [--debug] [--quiet] HOOK [FLAG...]; ARGV[0] is the program. Returns the exit
 * status: 0 also for an unknown hook or flag (a warning), 1 when the hook failed. */
int cdi_hook_main(const char *prog, int argc, char **argv);

/* nvidia-ctk hook HOOK [FLAG...], with nvidia-ctk's --debug and --quiet; ARGV[0] is "hook". */
int ctk_hook_main(struct ctk_ctx *c, int argc, char **argv);

#endif
