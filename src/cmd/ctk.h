/* The nvidia-ctk front-end (ctk.c) and its command groups, one file each: runtime
 * (ctk-runtime.c), config (ctk-config.c), system (ctk-system.c), cdi (ctk-cdi.c). Also the
 * nvidia-docker wrapper (nvidia-docker.c), which shares nothing with them but the binary. */
#ifndef NCTK_CMD_CTK_H
#define NCTK_CMD_CTK_H

#include <stdbool.h>

#include "cmd/error.h"

struct ctk_ctx {
        struct cmd_sink out; /* prog is "nvidia-ctk" */
        bool debug;          /* -d/--debug, NVIDIA_CTK_DEBUG: library debug lines to stderr */
        const char *config;  /* --config, NVIDIA_CTK_CONFIG: our config.toml, or NULL */
};

/* nvidia-ctk [--debug] [--quiet] [--config FILE] COMMAND ...; returns the exit status. */
int ctk_main(const char *prog, int argc, char **argv);

/* Each gets ARGV from its group word on ("runtime", "configure", ...) and returns the exit
 * status, after printing its own error lines through C->out. */
int ctk_runtime_main(struct ctk_ctx *c, int argc, char **argv);
int ctk_config_main(struct ctk_ctx *c, int argc, char **argv);
int ctk_system_main(struct ctk_ctx *c, int argc, char **argv);
int ctk_cdi_main(struct ctk_ctx *c, int argc, char **argv);
int ctk_mps_main(struct ctk_ctx *c, int argc, char **argv); /* ctk-mps.c */

/* nvidia-docker [DOCKER ARG...]: docker with --runtime=nvidia for run and create. */
int nvidia_docker_main(int argc, char **argv);

#endif
