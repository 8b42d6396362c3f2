/* The nvidia-container-cli front-end: global options, and one entry point per command. */
#ifndef NCTK_CMD_CLI_H
#define NCTK_CMD_CLI_H

#include <stdio.h>

#include "5-apply/compat.h"
#include "nctk/nctk.h"

struct cli_ctx {
        const char *prog; /* the name errors are printed under */
        struct nctk_discover_opts dopts;
        bool load_kmods;
        bool no_create_imex;
        bool no_pivot;
        bool user_given;
        FILE *debug; /* --debug FILE */
};

int cli_main(const char *prog, int argc, char **argv);
int info_main(struct cli_ctx *c, int argc, char **argv);
int list_main(struct cli_ctx *c, int argc, char **argv);
int configure_main(struct cli_ctx *c, int argc, char **argv);
/* nvidia-container-runtime-hook [-debug] [-config FILE] [-version] prestart|poststart|poststop
 * (hook.c); returns the exit status. */
int hook_main(int argc, char **argv);

#define REQUIRE_MAX 32
#define IMEX_MAX 64

/* What `configure` was asked for: filled from its options, or by the OCI hook from the
 * container's spec and environment. */
struct configure_args {
        pid_t pid;
        char *devices;
        const char *require[REQUIRE_MAX];
        size_t n_require;
        unsigned caps;
        bool compat32, no_cgroups, no_devbind;
        const char *mig_config, *mig_monitor;
        unsigned imex[IMEX_MAX];
        size_t n_imex;
        enum compat_mode compat;
        unsigned dflags;
        const char *rootfs;
};

/* Runs configure: discover (with the NVML cache), select, check requirements, plan, apply.
 * Prints its one error line itself; -errno. */
int configure_run(struct cli_ctx *c, struct configure_args *a);

/* The log sink of every front-end (USERDATA: its struct cli_ctx): warnings to stderr under
 * c->prog, everything with a timestamp to the --debug file. */
void cli_log_sink(enum nctk_log_level level, const char *file, int line, const char *msg,
                  void *userdata);

/* Prints "PROG: STAGE error: MESSAGE" once, where the error stops. */
void cli_error(const struct cli_ctx *c, const char *stage, const struct nctk_error *err);
/* Loads kernel modules when asked, then discovers; prints the error itself. */
int cli_discover(struct cli_ctx *c, unsigned flags, struct nctk_inventory **ret);

/* args.c: option helpers the commands share */
/* Appends ",ITEM" to a comma list, as repeated --device options join. */
int cli_join_arg(char **list, const char *item);
/* The capability of a short option (-c -u -v -g -D -n), or 0. */
unsigned cli_cap_option(int opt);

/* output.c */
/* The inventory as JSON on stdout (info --json). */
int print_inventory_json(const struct nctk_inventory *inv);

#endif
