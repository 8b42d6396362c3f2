/* `configure ROOTFS`: give one container the GPUs, driver files and device access it asked for.
 * discover -> select (devices, requirements) -> plan -> apply into the live container. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "5-apply/apply.h"
#include "5-apply/rootfs.h"
#include "cmd/cli.h"
#include "4-plan/plan.h"
#include "2-select/require.h"
#include "2-select/select.h"
#include "util/log.h"
#include "util/macros.h"
#include "util/strv.h"


enum {
        OPT_COMPAT32 = 0x100,
        OPT_MIG_CONFIG,
        OPT_MIG_MONITOR,
        OPT_IMEX,
        OPT_NO_CGROUPS,
        OPT_NO_DEVBIND,
        OPT_NO_PERSISTENCED,
        OPT_NO_FABRICMANAGER,
        OPT_NO_GSP,
        OPT_NO_CNTLIBS,
        OPT_COMPAT_MODE,
        OPT_USAGE,
        OPT_HELP,
};


static const struct option configure_options[] = {
        { "pid", required_argument, NULL, 'p' },
        { "device", required_argument, NULL, 'd' },
        { "require", required_argument, NULL, 'r' },
        { "ldconfig", required_argument, NULL, 'l' },
        { "compute", no_argument, NULL, 'c' },
        { "utility", no_argument, NULL, 'u' },
        { "video", no_argument, NULL, 'v' },
        { "graphics", no_argument, NULL, 'g' },
        { "display", no_argument, NULL, 'D' },
        { "ngx", no_argument, NULL, 'n' },
        { "compat32", no_argument, NULL, OPT_COMPAT32 },
        { "mig-config", required_argument, NULL, OPT_MIG_CONFIG },
        { "mig-monitor", required_argument, NULL, OPT_MIG_MONITOR },
        { "imex-channel", required_argument, NULL, OPT_IMEX },
        { "no-cgroups", no_argument, NULL, OPT_NO_CGROUPS },
        { "no-devbind", no_argument, NULL, OPT_NO_DEVBIND },
        { "no-persistenced", no_argument, NULL, OPT_NO_PERSISTENCED },
        { "no-fabricmanager", no_argument, NULL, OPT_NO_FABRICMANAGER },
        { "no-gsp-firmware", no_argument, NULL, OPT_NO_GSP },
        { "no-cntlibs", no_argument, NULL, OPT_NO_CNTLIBS },
        { "cuda-compat-mode", required_argument, NULL, OPT_COMPAT_MODE },
        { "help", no_argument, NULL, OPT_HELP },
        { "usage", no_argument, NULL, OPT_USAGE },
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


static int input_error(const struct cli_ctx *c, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static int input_error(const struct cli_ctx *c, const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "%s: input error: ", c->prog);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return -1;
}

static int parse_imex(const struct cli_ctx *c, struct configure_args *a, const char *arg) {
        const char *p = arg;

        while (*p) {
                char *end;
                unsigned long v;

                if (*p == ',') {
                        p++;
                        continue;
                }
                errno = 0;
                v = strtoul(p, &end, 10);
                if (end == p || (*end && *end != ',') || errno || v >= (1ul << 20) ||
                    a->n_imex >= IMEX_MAX)
                        return input_error(c, "invalid IMEX channel '%s' (want numbers below "
                                           "1048576, at most 64)", arg);
                a->imex[a->n_imex++] = (unsigned) v;
                p = end;
        }
        return 0;
}

static int parse_compat(const struct cli_ctx *c, struct configure_args *a, const char *arg) {
        if (STREQ(arg, "disabled"))
                a->compat = COMPAT_DISABLED;
        else if (STREQ(arg, "mount"))
                a->compat = COMPAT_MOUNT;
        else if (STREQ(arg, "ldconfig"))
                a->compat = COMPAT_LDCONFIG;
        else
                return input_error(c, "invalid --cuda-compat-mode '%s' (disabled, mount or ldconfig)",
                                   arg);
        return 0;
}

static int parse_pid(const struct cli_ctx *c, struct configure_args *a, const char *arg) {
        char *end;
        long v;

        errno = 0;
        v = strtol(arg, &end, 10);
        if (end == arg || *end || errno || v <= 0 || v > 0x3fffffff)
                return input_error(c, "invalid --pid '%s'", arg);
        a->pid = (pid_t) v;
        return 0;
}

static int parse_one(struct cli_ctx *c, struct configure_args *a, int opt, char **argv) {
        switch (opt) {
        case 'p': return parse_pid(c, a, optarg);
        case 'd': return cli_join_arg(&a->devices, optarg) < 0 ? -1 : 0;
        case 'r':
                if (a->n_require >= REQUIRE_MAX)
                        return input_error(c, "too many --require expressions (at most 32)");
                a->require[a->n_require++] = optarg;
                return 0;
        case 'l': return 0; /* nothing is executed in the container: see the help */
        case OPT_COMPAT32: a->compat32 = true; return 0;
        case OPT_MIG_CONFIG: a->mig_config = optarg; return 0;
        case OPT_MIG_MONITOR: a->mig_monitor = optarg; return 0;
        case OPT_IMEX: return parse_imex(c, a, optarg);
        case OPT_NO_CGROUPS: a->no_cgroups = true; return 0;
        case OPT_NO_DEVBIND: a->no_devbind = true; return 0;
        case OPT_NO_PERSISTENCED: a->dflags |= NCTK_DISCOVER_NO_PERSISTENCED; return 0;
        case OPT_NO_FABRICMANAGER: a->dflags |= NCTK_DISCOVER_NO_FABRICMANAGER; return 0;
        case OPT_NO_GSP: a->dflags |= NCTK_DISCOVER_NO_GSP_FIRMWARE; return 0;
        case OPT_NO_CNTLIBS: a->compat = COMPAT_DISABLED; return 0;
        case OPT_COMPAT_MODE: return parse_compat(c, a, optarg);
        default:
                if (cli_cap_option(opt)) {
                        a->caps |= (unsigned) cli_cap_option(opt);
                        return 0;
                }
                return input_error(c, "configure: unknown or incomplete option '%s'", argv[optind - 1]);
        }
}

/* Returns 1 to go on, 0 to exit successfully, -1 on a usage error. */
static int configure_parse(struct cli_ctx *c, int argc, char **argv, struct configure_args *a) {
        int opt;

        optind = 1;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, "p:d:r:l:cuvgDn?", configure_options, NULL)) != -1) {
                if (opt == OPT_HELP || (opt == '?' && STREQ(argv[optind - 1], "-?"))) {
                        configure_help(c->prog);
                        return 0;
                }
                if (opt == OPT_USAGE) {
                        printf("Usage: %s configure [-cuvgDn?] [-p PID] [-d ID] [-r EXPR] ROOTFS\n",
                               c->prog);
                        return 0;
                }
                if (parse_one(c, a, opt, argv) < 0)
                        return -1;
        }
        if (optind != argc - 1)
                return input_error(c, "configure: %s",
                                   optind >= argc ? "missing ROOTFS argument" : "more than one ROOTFS");
        a->rootfs = argv[optind];
        if (a->rootfs[0] != '/' || STREQ(a->rootfs, "/"))
                return input_error(c, "configure: ROOTFS must be an absolute path other than '/', "
                                   "not '%s'", a->rootfs);
        if (!a->pid)
                a->pid = getppid();
        return 1;
}

/* Evaluates every --require expression for DEVICE (NULL: no device selected). */
static int check_requirements(const struct cli_ctx *c, const struct configure_args *a,
                              const struct nctk_inventory *inv, const struct nctk_gpu *g) {
        char arch[16] = "";
        struct require_facts f = {
                .cuda = inv->cuda_version[0] ? inv->cuda_version : NULL,
                .driver = inv->driver_version[0] ? inv->driver_version : NULL,
        };
        struct nctk_error *err = NULL;

        if (g) {
                if (g->cc_major > 0)
                        snprintf(arch, sizeof(arch), "%d.%d", g->cc_major, g->cc_minor);
                f.arch = arch[0] ? arch : NULL;
                f.brand = g->brand[0] ? g->brand : NULL;
        }
        for (size_t i = 0; i < a->n_require; i++)
                if (require_check(a->require[i], &f, &err) < 0) {
                        cli_error(c, "requirement", err);
                        nctk_error_free(&err);
                        return -1;
                }
        return 0;
}

/* Per selected GPU and per parent of a selected MIG device; once without a device when none. */
static int check_all_requirements(const struct cli_ctx *c, const struct configure_args *a,
                                  const struct nctk_inventory *inv, const struct selection *sel) {
        bool any = false;

        for (size_t i = 0; i < inv->n_gpus; i++) {
                if (!sel->gpus[i] && !sel->has_mig[i])
                        continue;
                any = true;
                if (check_requirements(c, a, inv, &inv->gpus[i]) < 0)
                        return -1;
        }
        return any ? 0 : check_requirements(c, a, inv, NULL);
}

static int check_mig_flag(const struct cli_ctx *c, const char *flag, const char *value) {
        if (!value || STREQ(value, "all"))
                return 0;
        fprintf(stderr, "%s: %s error: only 'all' devices are currently supported, not '%s'\n",
                c->prog, flag, value);
        return -1;
}

static int layout_detect(const struct cli_ctx *c, const char *rootfs, struct plan_layout *ret) {
        _cleanup_close_ int fd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);

        if (fd < 0) {
                fprintf(stderr, "%s: input error: cannot open rootfs '%s': %s\n", c->prog, rootfs,
                        strerror(errno));
                return -1;
        }
        return rootfs_layout(fd, ret);
}

static int configure_apply(struct cli_ctx *c, const struct configure_args *a,
                           const struct nctk_inventory *inv, const struct selection *sel) {
        struct plan_request req = {
                .caps = a->caps, .sel = sel, .compat32 = a->compat32,
                .mig_config = a->mig_config != NULL, .mig_monitor = a->mig_monitor != NULL,
                .n_imex = a->n_imex, .imex = a->imex,
        };
        struct apply_opts ao = { .pid = a->pid, .rootfs = a->rootfs, .no_cgroups = a->no_cgroups,
                                 .no_devbind = a->no_devbind };
        struct nctk_error *err = NULL;
        struct plan_layout layout;
        struct edits *e = NULL;
        int r;

        if (layout_detect(c, a->rootfs, &layout) < 0)
                return -1;
        r = plan_build(inv, &req, &layout, &e, &err);
        if (r >= 0)
                log_debug("plan: %zu mounts, %zu nodes, %zu links, %zu rules", e->n_mounts,
                          e->n_nodes, e->n_links, e->n_rules);
        if (r >= 0 && (a->caps & (NCTK_CAP_COMPUTE | NCTK_CAP_VIDEO)) && a->compat != COMPAT_DISABLED)
                r = compat_plan(a->rootfs, inv->driver_version, e, &err);
        if (r >= 0)
                r = apply_container(inv, e, &ao, &err);
        if (r < 0)
                cli_error(c, "mount", err);
        nctk_error_free(&err);
        edits_free(e);
        return r;
}

int configure_run(struct cli_ctx *c, struct configure_args *a) {
        struct nctk_inventory *inv = NULL;
        struct nctk_error *err = NULL;
        struct selection sel = {};
        int r;

        if (check_mig_flag(c, "mig-config", a->mig_config) < 0 ||
            check_mig_flag(c, "mig-monitor", a->mig_monitor) < 0)
                return -1;
        for (size_t i = 0; i < a->n_require; i++)
                if (require_validate(a->require[i], &err) < 0) {
                        cli_error(c, "requirement", err);
                        nctk_error_free(&err);
                        return -1;
                }
        r = cli_discover(c, a->dflags | NCTK_DISCOVER_CACHE, &inv);
        if (r < 0)
                return r;
        r = selection_parse(inv, a->devices ? a->devices : "none", &sel, &err);
        if (r < 0)
                cli_error(c, "device", err);
        if (r >= 0)
                r = check_all_requirements(c, a, inv, &sel);
        if (r >= 0)
                r = configure_apply(c, a, inv, &sel);
        selection_release(&sel);
        nctk_error_free(&err);
        nctk_inventory_free(inv);
        return r;
}

int configure_main(struct cli_ctx *c, int argc, char **argv) {
        struct configure_args a = { .compat = COMPAT_MOUNT };
        int r;

        r = configure_parse(c, argc, argv, &a);
        if (r > 0)
                r = configure_run(c, &a) < 0 ? -1 : 0;
        free(a.devices);
        return r < 0 ? 1 : 0;
}
