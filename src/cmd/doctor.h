/* nctk doctor (also nvidia-ctk doctor): checks this host's GPU container set-up (src/doctor). */
#ifndef NCTK_CMD_DOCTOR_H
#define NCTK_CMD_DOCTOR_H

/* ARGV from "doctor" on; CONFIG is a config.toml named before the command word (nvidia-ctk's
 * --config), or NULL. Returns the exit status: 0, 1 when a check FAILs, 2 on a usage error. */
int doctor_main(const char *prog, const char *config, int argc, char **argv);

#endif
