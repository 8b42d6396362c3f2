/* nvidia-container-cli: global options (compatible with the reference CLI), the log sink that
 * turns library warnings into stderr lines and --debug into a file, and command dispatch. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd/cli.h"
#include "cmd/error.h"
#include "config/config.h"
#include "util/log.h"
#include "util/macros.h"

enum {
        OPT_NO_CREATE_IMEX = 0x100,
        OPT_USAGE,
        OPT_DEV_ROOT,
        OPT_PROC_ROOT,
        OPT_HELP,
};

static const struct option global_options[] = {
        {"debug", required_argument, NULL, 'd'},
        {"load-kmods", no_argument, NULL, 'k'},
        {"ldcache", required_argument, NULL, 'l'},
        {"no-create-imex-channels", no_argument, NULL, OPT_NO_CREATE_IMEX},
        {"no-pivot", no_argument, NULL, 'n'},
        {"root", required_argument, NULL, 'r'},
        {"dev-root", required_argument, NULL, OPT_DEV_ROOT},
        {"proc-root", required_argument, NULL, OPT_PROC_ROOT},
        {"user", optional_argument, NULL, 'u'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, OPT_HELP},
        {"usage", no_argument, NULL, OPT_USAGE},
        {},
};

static void cli_help(FILE *f, const char *prog) {
        fprintf(f,
                "Usage: %s [OPTION...] COMMAND [ARG...]\n"
                "Command line utility for manipulating NVIDIA GPU containers.\n"
                "\n"
                " Commands:\n"
                "  info                       Report information about the driver and devices\n"
                "  configure                  Configure a container with GPU support\n"
                "  list                       List driver components\n"
                "  docker-args                Arguments of a plain docker run that gives GPUs\n"
                "\n"
                " Options:\n"
                "  -?, --help                 Give this help list\n"
                "  -d, --debug=FILE           Log debug information\n"
                "  -k, --load-kmods           Load kernel modules\n"
                "  -l, --ldcache=FILE         Path to the system's DSO cache\n"
                "      --no-create-imex-channels   Don't automatically create IMEX channel\n"
                "                             device nodes\n"
                "  -n, --no-pivot             Do not use pivot_root\n"
                "  -r, --root=PATH            Path to the driver root directory\n"
                "      --dev-root=PATH        Root of the device nodes (default: the driver root)\n"
                "      --proc-root=PATH       The driver's procfs (default: /proc)\n"
                "      --usage                Give a short usage message\n"
                "  -u, --user[=UID[:GID]]     User and group to use for privilege separation\n"
                "  -V, --version              Print program version\n",
                prog);
}

void cli_error(const struct cli_ctx *c, const char *stage, const struct nctk_error *err) {
        cmd_error(&c->out, "%s error: %s", stage, err && err->msg ? err->msg : "unknown error");
}

static int parse_user(struct cli_ctx *c, const char *arg) {
        struct nctk_error *err = NULL;
        int r = 0;

        if (!arg) {
                c->popts.dopts.uid = geteuid();
                c->popts.dopts.gid = getegid();
        } else {
                r = config_user_parse(arg, &c->popts.dopts, &err);
                nctk_error_free(&err);
        }
        return r;
}

int cli_input_error(const struct cli_ctx *c, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vasprintf(&msg, fmt, ap);
        va_end(ap);
        return cmd_error(&c->out, "input error: %s", n < 0 ? "out of memory" : msg);
}

static int open_debug(struct cli_ctx *c, const char *path) {
        if (c->out.debug)
                fclose(c->out.debug);
        c->out.debug = fopen(path, "ae");
        if (!c->out.debug) {
                int e = errno;
                cli_input_error(c, "cannot open debug file '%s': %s", path, strerror(e));
                return -e;
        }
        setvbuf(c->out.debug, NULL, _IOLBF, 0);
        return 0;
}

/* Returns the index of the command word, 0 to exit successfully, or -1 on a usage error. */
static int parse_global(struct cli_ctx *c, int argc, char **argv) {
        int opt;

        optind = 1;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, "+d:kl:nr:u::V?", global_options, NULL)) != -1) {
                switch (opt) {
                case 'd':
                        if (open_debug(c, optarg) < 0)
                                return -1;
                        break;
                case 'k': c->popts.load_kmods = true; break;
                case 'l': c->popts.dopts.ldcache = optarg; break;
                case 'n': break; /* nothing pivots: nctk works through fds */
                case 'r': c->popts.dopts.driver_root = optarg; break;
                case OPT_DEV_ROOT: c->popts.dopts.dev_root = optarg; break;
                case OPT_PROC_ROOT: c->popts.dopts.proc_root = optarg; break;
                case OPT_NO_CREATE_IMEX: break; /* no IMEX channel node is ever created */
                case 'u':
                        if (parse_user(c, optarg) < 0) {
                                return cli_input_error(c, "invalid --user '%s' (want UID[:GID])",
                                                       optarg);
                        }
                        break;
                case 'V':
                        printf("cli-version: %s\nlib-version: %s\n", nctk_version(),
                               nctk_version());
                        return 0;
                case OPT_USAGE:
                        printf("Usage: %s [-knV?] [-d FILE] [-l FILE] [-r PATH] [-u[UID[:GID]]] "
                               "COMMAND [ARG...]\n",
                               c->out.prog);
                        return 0;
                case OPT_HELP: cli_help(stdout, c->out.prog); return 0;
                case '?':
                        if (STREQ(argv[optind - 1], "-?")) {
                                cli_help(stdout, c->out.prog);
                                return 0;
                        }
                        fprintf(stderr,
                                "%s: input error: unknown or incomplete option '%s'\n"
                                "Try '%s --help' for more information.\n",
                                c->out.prog, argv[optind - 1], c->out.prog);
                        return -1;
                }
        }
        if (optind >= argc) {
                fprintf(stderr,
                        "%s: input error: missing command\nTry '%s --help' for more "
                        "information.\n",
                        c->out.prog, c->out.prog);
                return -1;
        }
        return optind;
}

int cli_main(const char *prog, int argc, char **argv) {
        struct cli_ctx c = {.out.prog = prog};
        int idx, r;

        pipeline_opts_init(&c.popts);
        nctk_set_log_sink(cmd_log_sink, &c.out);
        idx = parse_global(&c, argc, argv);
        if (idx <= 0)
                r = idx == 0 ? 0 : 1;
        else if (STREQ(argv[idx], "info"))
                r = info_main(&c, argc - idx, argv + idx);
        else if (STREQ(argv[idx], "list"))
                r = list_main(&c, argc - idx, argv + idx);
        else if (STREQ(argv[idx], "configure"))
                r = configure_main(&c, argc - idx, argv + idx);
        else if (STREQ(argv[idx], "docker-args"))
                r = docker_args_main(&c, argc - idx, argv + idx);
        else {
                fprintf(stderr,
                        "%s: input error: unknown command '%s'\nTry '%s --help' for more "
                        "information.\n",
                        prog, argv[idx], prog);
                r = 1;
        }
        nctk_set_log_sink(NULL, NULL);
        if (c.out.debug)
                fclose(c.out.debug);
        return r;
}
