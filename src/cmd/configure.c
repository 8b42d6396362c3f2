/* `configure ROOTFS`: give one container the GPUs, driver files and device access it asked for:
 * the pipeline's edits, applied into the live container. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "5-apply/apply.h"
#include "cmd/cli.h"
#include "util/log.h"
#include "util/macros.h"
#include "util/strv.h"

enum {
        OPT_NO_CGROUPS = 0x100,
        OPT_NO_DEVBIND,
        OPT_USAGE,
        OPT_HELP,
};

static const struct option configure_options[] = {
        REQUEST_OPTIONS,
        {"pid", required_argument, NULL, 'p'},
        {"require", required_argument, NULL, 'r'},
        {"ldconfig", required_argument, NULL, 'l'},
        {"no-cgroups", no_argument, NULL, OPT_NO_CGROUPS},
        {"no-devbind", no_argument, NULL, OPT_NO_DEVBIND},
        {"no-cntlibs", no_argument, NULL, OPT_NO_CNTLIBS},
        {"cuda-compat-mode", required_argument, NULL, OPT_COMPAT_MODE},
        {"help", no_argument, NULL, OPT_HELP},
        {"usage", no_argument, NULL, OPT_USAGE},
        {},
};

static void configure_help(const char *prog) {
        printf("Usage: %s configure [OPTION...] ROOTFS\n"
               "Configure a container with GPU support by exposing device drivers to it.\n"
               "\n"
               " Options:\n"
               "  -?, --help                 Give this help list\n"
               "      --compat32             Enable 32bits compatibility\n"
               "  -c, --compute              Enable compute capability\n"
               "      --cuda-compat-mode=MODE  disabled, mount or ldconfig (default: mount)\n"
               "  -d, --device=ID            Device UUID(s) or index(es) to isolate\n"
               "  -D, --display              Enable display capability\n"
               "  -g, --graphics             Enable graphics capability\n"
               "      --imex-channel=CHANNEL IMEX channel ID(s) to inject\n"
               "  -l, --ldconfig=PATH        Accepted for compatibility: nctk writes the\n"
               "                             container's ld.so.cache itself, running nothing\n"
               "      --mig-config=ID        Enable configuration of MIG devices\n"
               "      --mig-monitor=ID       Enable monitoring of MIG devices\n"
               "      --no-cgroups           Don't use cgroup enforcement\n"
               "      --no-cntlibs           Same as --cuda-compat-mode=disabled\n"
               "      --no-devbind           Don't bind mount devices\n"
               "      --no-fabricmanager     Don't include the NVIDIA fabricmanager socket\n"
               "      --no-gsp-firmware      Don't include GSP Firmware\n"
               "      --no-persistenced      Don't include the NVIDIA persistenced socket\n"
               "  -n, --ngx                  Enable ngx capability\n"
               "  -p, --pid=PID              Container PID\n"
               "  -r, --require=EXPR         Check container requirements\n"
               "      --usage                Give a short usage message\n"
               "  -u, --utility              Enable utility capability\n"
               "  -v, --video                Enable video capability\n",
               prog);
}

static int parse_pid(const struct cli_ctx *c, struct configure_target *t, const char *arg) {
        char *end;
        long v;

        errno = 0;
        v = strtol(arg, &end, 10);
        if (end == arg || *end || errno || v <= 0 || v > 0x3fffffff)
                return cli_input_error(c, "invalid --pid '%s'", arg);
        t->pid = (pid_t) v;
        return 0;
}

static int parse_one(struct cli_ctx *c, struct container_request *q, struct configure_target *t,
                     int opt, char **argv) {
        int r = cli_request_option(c, q, opt, optarg);

        if (r != 0)
                return r < 0 ? -1 : 0;
        switch (opt) {
        case 'p': return parse_pid(c, t, optarg);
        case 'r': return cli_require_option(c, q, optarg);
        case 'l': return 0; /* nothing is executed in the container: see the help */
        case OPT_NO_CGROUPS: t->no_cgroups = true; return 0;
        case OPT_NO_DEVBIND: t->no_devbind = true; return 0;
        default:
                return cli_input_error(c, "configure: unknown or incomplete option '%s'",
                                       argv[optind - 1]);
        }
}

/* Returns 1 to go on, 0 to exit successfully, -1 on a usage error. */
static int configure_parse(struct cli_ctx *c, int argc, char **argv, struct container_request *q,
                           struct configure_target *t) {
        int opt;

        optind = 1;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, "p:d:r:l:cuvgDn?", configure_options, NULL)) != -1) {
                if (opt == OPT_HELP || (opt == '?' && STREQ(argv[optind - 1], "-?"))) {
                        configure_help(c->out.prog);
                        return 0;
                }
                if (opt == OPT_USAGE) {
                        printf("Usage: %s configure [-cuvgDn?] [-p PID] [-d ID] [-r EXPR] ROOTFS\n",
                               c->out.prog);
                        return 0;
                }
                if (parse_one(c, q, t, opt, argv) < 0)
                        return -1;
        }
        if (optind != argc - 1)
                return cli_input_error(c, "configure: %s",
                                       optind >= argc ? "missing ROOTFS argument"
                                                      : "more than one ROOTFS");
        t->rootfs = argv[optind];
        if (t->rootfs[0] != '/' || STREQ(t->rootfs, "/"))
                return cli_input_error(c,
                                       "configure: ROOTFS must be an absolute path other than "
                                       "'/', not '%s'",
                                       t->rootfs);
        if (!t->pid)
                t->pid = getppid();
        return 1;
}

int configure_run(struct cli_ctx *c, const struct container_request *q,
                  const struct configure_target *t) {
        struct pipeline_opts o = c->popts;
        struct nctk_error *err = NULL;
        struct pipeline p;
        int r;

        o.dopts.flags |= NCTK_DISCOVER_CACHE;
        o.rootfs = t->rootfs;
        o.pid = t->pid;
        r = pipeline_run(&p, &o, q, &err);
        if (r < 0) {
                cli_error(c, pipeline_stage_name(p.stage), err);
        } else {
                struct apply_opts ao = {.pid = t->pid,
                                        .rootfd = p.rootfd,
                                        .rootfs = t->rootfs,
                                        .no_cgroups = t->no_cgroups,
                                        .no_devbind = t->no_devbind};
                r = apply_container(p.inv, p.edits, &ao, &err);
                if (r < 0)
                        cli_error(c, "mount", err);
        }
        nctk_error_free(&err);
        pipeline_release(&p);
        return r;
}

int configure_main(struct cli_ctx *c, int argc, char **argv) {
        struct container_request *q = container_request_new();
        struct configure_target t = {};
        int r = -1;

        if (q)
                r = configure_parse(c, argc, argv, q, &t);
        if (r > 0)
                r = configure_run(c, q, &t) < 0 ? -1 : 0;
        container_request_free(q);
        return r < 0 ? 1 : 0;
}
