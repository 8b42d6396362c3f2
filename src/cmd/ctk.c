/* nvidia-ctk: the global options, then one command group. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cdi-hook.h"
#include "cmd/ctk.h"
#include "cmd/doctor.h"
#include "util/macros.h"

static void ctk_help(FILE *f, const char *prog) {
        fprintf(f,
                "Usage: %s [--debug] [--quiet] [--config FILE] COMMAND [ARG...]\n"
                "\n"
                "Sets container engines up for NVIDIA GPUs (nctk's nvidia-ctk).\n"
                "\n"
                "Commands:\n"
                "  runtime configure|unconfigure   register the NVIDIA runtime with docker, "
                "containerd or CRI-O\n"
                "  config [default]                show, create or change config.toml\n"
                "  system create-device-nodes|create-dev-char-symlinks\n"
                "                                  make the driver's /dev nodes and links\n"
                "  cdi generate|list|validate|transform\n"
                "                                  write, list and check CDI specs\n"
                "  hook HOOK                       the CDI hooks (as nvidia-cdi-hook)\n"
                "  doctor [--json]                 check this host's set-up (nctk's own)\n"
                "  mps start|stop|status           MPS daemons that share GPUs among containers\n"
                "\n"
                "Options:\n"
                "  -d, --debug       print debug lines (NVIDIA_CTK_DEBUG)\n"
                "  -q, --quiet       print errors only (NVIDIA_CTK_QUIET)\n"
                "  -c, --config FILE nctk's config.toml (NVIDIA_CTK_CONFIG)\n"
                "  -v, --version     print the version\n"
                "  -h, --help        print this help\n"
                "\n"
                "'%s COMMAND --help' tells more about a command.\n",
                prog, prog);
}

static bool env_flag(const char *name) {
        const char *v = getenv(name);

        return v && (STREQ(v, "1") || STREQ(v, "true") || STREQ(v, "TRUE") || STREQ(v, "yes"));
}

static const struct option ctk_options[] = {
        {"debug", no_argument, NULL, 'd'},        {"quiet", no_argument, NULL, 'q'},
        {"config", required_argument, NULL, 'c'}, {"version", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},         {},
};

/* Returns the index of the command word, 0 to exit successfully, or -1 on a usage error. */
static int parse_global(struct ctk_ctx *c, int argc, char **argv) {
        int opt;

        optind = 1;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, "+dqc:vh", ctk_options, NULL)) != -1) {
                switch (opt) {
                case 'd': c->debug = true; break;
                case 'q': c->out.quiet = true; break;
                case 'c': c->config = optarg; break;
                case 'v':
                        printf("NVIDIA Container Toolkit CLI version %s (nctk)\n", nctk_version());
                        return 0;
                case 'h': ctk_help(stdout, c->out.prog); return 0;
                default:
                        return cmd_error(&c->out,
                                         "unknown or incomplete option '%s'; see '%s --help'",
                                         argv[optind - 1], c->out.prog);
                }
        }
        if (optind >= argc) {
                ctk_help(stderr, c->out.prog);
                return -1;
        }
        return optind;
}

static void debug_sink(enum nctk_log_level level, const char *file, int line, const char *msg,
                       void *userdata) {
        const struct ctk_ctx *c = userdata;

        if (level > NCTK_LOG_WARNING && c->debug)
                fprintf(stderr, "%s: debug: %s\n", c->out.prog, msg);
        else
                cmd_log_sink(level, file, line, msg, (void *) &c->out);
}

int ctk_main(const char *prog, int argc, char **argv) {
        struct ctk_ctx c = {.out.prog = prog};
        int idx, r;

        c.debug = env_flag("NVIDIA_CTK_DEBUG");
        c.out.quiet = env_flag("NVIDIA_CTK_QUIET");
        c.config = getenv("NVIDIA_CTK_CONFIG");
        idx = parse_global(&c, argc, argv);
        if (idx <= 0)
                return idx == 0 ? 0 : 1;
        nctk_set_log_sink(debug_sink, &c);
        if (STREQ(argv[idx], "runtime"))
                r = ctk_runtime_main(&c, argc - idx, argv + idx);
        else if (STREQ(argv[idx], "config"))
                r = ctk_config_main(&c, argc - idx, argv + idx);
        else if (STREQ(argv[idx], "system"))
                r = ctk_system_main(&c, argc - idx, argv + idx);
        else if (STREQ(argv[idx], "cdi"))
                r = ctk_cdi_main(&c, argc - idx, argv + idx);
        else if (STREQ(argv[idx], "doctor"))
                r = doctor_main(prog, c.config, argc - idx, argv + idx);
        else if (STREQ(argv[idx], "mps"))
                r = ctk_mps_main(&c, argc - idx, argv + idx);
        else if (STREQ(argv[idx], "hook"))
                r = ctk_hook_main(&c, argc - idx, argv + idx);
        else
                r = -cmd_error(&c.out, "unknown command '%s'; see '%s --help'", argv[idx], prog);
        nctk_set_log_sink(NULL, NULL);
        return r;
}
