/* nvidia-container-runtime, the shim in front of runc/crun, and the hook it adds. */
#ifndef NCTK_CMD_RUNTIME_H
#define NCTK_CMD_RUNTIME_H

int runtime_main(const char *prog, int argc, char **argv, const char *forced_mode);
int hook_finalize_main(int argc, char **argv);

#endif
