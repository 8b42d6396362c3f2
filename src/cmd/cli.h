/* The nvidia-container-cli front-end: global options, and one entry point per command. */
#ifndef NCTK_CMD_CLI_H
#define NCTK_CMD_CLI_H

#include <stdio.h>

#include "2-select/request.h"
#include "cmd/error.h"
#include "nctk/nctk.h"
#include "pipeline/pipeline.h"

struct cli_ctx {
        struct cmd_sink out; /* the name errors are printed under, the --debug FILE */
        struct pipeline_opts popts;
};

int cli_main(const char *prog, int argc, char **argv);
int info_main(struct cli_ctx *c, int argc, char **argv);
int list_main(struct cli_ctx *c, int argc, char **argv);
int configure_main(struct cli_ctx *c, int argc, char **argv);
/* docker-args (docker-args.c): docker run's --device/--volume/--env words for a request. */
int docker_args_main(struct cli_ctx *c, int argc, char **argv);
/* nvidia-container-runtime-hook [-debug] [-config FILE] [-version] prestart|poststart|poststop
 * (hook.c); returns the exit status. */
int hook_main(int argc, char **argv);

/* The live container configure works on. */
struct configure_target {
        pid_t pid;
        const char *rootfs; /* absolute, as PID's mount namespace sees it */
        bool no_cgroups, no_devbind;
};

/* Runs the pipeline for Q and applies its edits into T. Prints its one error line itself;
 * -errno. */
int configure_run(struct cli_ctx *c, const struct container_request *q,
                  const struct configure_target *t);

/* Prints "PROG: STAGE error: MESSAGE" once, where the error stops. */
void cli_error(const struct cli_ctx *c, const char *stage, const struct nctk_error *err);
/* Prints "PROG: input error: ..." and returns -1. */
int cli_input_error(const struct cli_ctx *c, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/* request-args.c: the options configure and list share */
/* Appends ",ITEM" to a comma list, as repeated --device options join. */
int cli_join_arg(char **list, const char *item);
/* Takes option OPT (getopt's value, ARG its argument) into Q or C's discover flags when it is
 * one of the request options (see REQUEST_OPTIONS). Returns 1 when taken, 0 when not ours, -1
 * after printing a usage error. */
int cli_request_option(struct cli_ctx *c, struct container_request *q, int opt, const char *arg);

/* Takes --require EXPR into Q (configure, docker-args); 0, or -1 after printing a usage error. */
int cli_require_option(const struct cli_ctx *c, struct container_request *q, const char *arg);

/* The long options of a request, with values from OPT_REQUEST_BASE on. */
enum {
        OPT_REQUEST_BASE = 0x200,
        OPT_COMPAT32 = OPT_REQUEST_BASE,
        OPT_MIG_CONFIG,
        OPT_MIG_MONITOR,
        OPT_IMEX,
        OPT_NO_PERSISTENCED,
        OPT_NO_FABRICMANAGER,
        OPT_NO_GSP,
        OPT_NO_CNTLIBS,
        OPT_COMPAT_MODE,
};
#define REQUEST_OPTIONS                                                                            \
        {"device", required_argument, NULL, 'd'}, {"compute", no_argument, NULL, 'c'},             \
                {"utility", no_argument, NULL, 'u'}, {"video", no_argument, NULL, 'v'},            \
                {"graphics", no_argument, NULL, 'g'}, {"display", no_argument, NULL, 'D'},         \
                {"ngx", no_argument, NULL, 'n'}, {"compat32", no_argument, NULL, OPT_COMPAT32},    \
                {"mig-config", required_argument, NULL, OPT_MIG_CONFIG},                           \
                {"mig-monitor", required_argument, NULL, OPT_MIG_MONITOR},                         \
                {"imex-channel", required_argument, NULL, OPT_IMEX},                               \
                {"no-persistenced", no_argument, NULL, OPT_NO_PERSISTENCED},                       \
                {"no-fabricmanager", no_argument, NULL, OPT_NO_FABRICMANAGER}, {                   \
                "no-gsp-firmware", no_argument, NULL, OPT_NO_GSP                                   \
        }

#endif
