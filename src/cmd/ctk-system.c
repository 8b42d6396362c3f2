/* nvidia-ctk system create-device-nodes | create-dev-char-symlinks: parses the flags, loads the
 * kernel modules when asked, then prints and carries out the plan of src/system/. */
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/ctk.h"
#include "system/system.h"
#include "util/macros.h"
#include "util/strv.h"
#include "util/userns.h"

enum {
        OPT_DEV_ROOT = 0x100,
        OPT_PROC_ROOT,
        OPT_CONTROL,
        OPT_GPUS,
        OPT_LOAD,
        OPT_DRY_RUN,
        OPT_DEV_CHAR,
        OPT_CREATE_ALL,
        OPT_CREATE_NODES,
};

struct system_args {
        const char *driver_root, *dev_root, *proc_root, *dev_char_path;
        bool control, gpus, load_modules, dry_run, create_all, create_nodes;
};

static const struct option nodes_options[] = {
        {"driver-root", required_argument, NULL, 'r'},
        {"root", required_argument, NULL, 'r'},
        {"dev-root", required_argument, NULL, OPT_DEV_ROOT},
        {"proc-root", required_argument, NULL, OPT_PROC_ROOT},
        {"control-devices", no_argument, NULL, OPT_CONTROL},
        {"gpu-devices", no_argument, NULL, OPT_GPUS},
        {"load-kernel-modules", no_argument, NULL, OPT_LOAD},
        {"dry-run", no_argument, NULL, OPT_DRY_RUN},
        {"help", no_argument, NULL, 'h'},
        {},
};

static const struct option links_options[] = {
        {"driver-root", required_argument, NULL, 'r'},
        {"root", required_argument, NULL, 'r'},
        {"dev-root", required_argument, NULL, OPT_DEV_ROOT},
        {"proc-root", required_argument, NULL, OPT_PROC_ROOT},
        {"dev-char-path", required_argument, NULL, OPT_DEV_CHAR},
        {"create-all", no_argument, NULL, OPT_CREATE_ALL},
        {"create-device-nodes", no_argument, NULL, OPT_CREATE_NODES},
        {"load-kernel-modules", no_argument, NULL, OPT_LOAD},
        {"dry-run", no_argument, NULL, OPT_DRY_RUN},
        {"help", no_argument, NULL, 'h'},
        {},
};

static void system_help(FILE *f, const char *prog) {
        fprintf(f,
                "Usage: %s system create-device-nodes [OPTION...]\n"
                "       %s system create-dev-char-symlinks [OPTION...]\n"
                "\n"
                "create-device-nodes makes the NVIDIA device nodes that are missing under\n"
                "DEV_ROOT/dev, with the majors of /proc/devices; a node that is there but\n"
                "wrong is reported and left alone.\n"
                "  --control-devices      nvidiactl, nvidia-modeset, nvidia-uvm, nvidia-uvm-tools\n"
                "  --gpu-devices          nvidiaN for each GPU the driver lists (nctk's own)\n"
                "\n"
                "create-dev-char-symlinks makes DEV_CHAR/MAJ:MIN links to the NVIDIA nodes\n"
                "(systemd finds devices through them); stale links are replaced.\n"
                "  --dev-char-path PATH   where the links go (default: /dev/char)\n"
                "  --create-all           links for every node the driver can have, not only\n"
                "                         the nodes that exist\n"
                "  --create-device-nodes  make the control nodes first (with --create-all)\n"
                "\n"
                "Both:\n"
                "  --driver-root PATH     the driver's root (default: /), also DEV_ROOT's\n"
                "  --dev-root PATH        DEV_ROOT, when the nodes are not under the driver root\n"
                "  --proc-root PATH       the kernel's procfs (default: /proc)\n"
                "  --load-kernel-modules  modprobe nvidia, nvidia-uvm, nvidia-modeset first\n"
                "  --dry-run              print what would be done, change nothing\n",
                prog, prog);
}

static int parse_args(struct ctk_ctx *c, int argc, char **argv, const struct option *options,
                      struct system_args *a) {
        int opt;

        optind = 1;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, "+h", options, NULL)) != -1) {
                switch (opt) {
                case 'r': a->driver_root = optarg; break;
                case OPT_DEV_ROOT: a->dev_root = optarg; break;
                case OPT_PROC_ROOT: a->proc_root = optarg; break;
                case OPT_DEV_CHAR: a->dev_char_path = optarg; break;
                case OPT_CONTROL: a->control = true; break;
                case OPT_GPUS: a->gpus = true; break;
                case OPT_LOAD: a->load_modules = true; break;
                case OPT_DRY_RUN: a->dry_run = true; break;
                case OPT_CREATE_ALL: a->create_all = true; break;
                case OPT_CREATE_NODES: a->create_nodes = true; break;
                case 'h': system_help(stdout, c->out.prog); return 0;
                default:
                        return cmd_error(&c->out,
                                         "unknown or incomplete option '%s'; see '%s system "
                                         "--help'",
                                         argv[optind - 1], c->out.prog);
                }
        }
        if (optind < argc)
                return cmd_error(&c->out, "unexpected argument '%s'; see '%s system --help'",
                                 argv[optind], c->out.prog);
        if (!a->dev_root)
                a->dev_root = a->driver_root;
        return 1;
}

static void note(const struct ctk_ctx *c, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static void note(const struct ctk_ctx *c, const char *fmt, ...) {
        va_list ap;

        if (c->out.quiet)
                return;
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        putchar('\n');
}

static int fail(const struct ctk_ctx *c, struct nctk_error *err) {
        cmd_error(&c->out, "%s", err && err->msg ? err->msg : "unknown error");
        nctk_error_free(&err);
        return -1;
}

static int load_modules(struct ctk_ctx *c, const struct system_args *a) {
        struct nctk_error *err = NULL;

        if (in_user_namespace()) {
                fprintf(stderr,
                        "%s: warning: in a user namespace: cannot load kernel modules, "
                        "skipping\n",
                        c->out.prog);
                return 0;
        }
        for (size_t i = 0; i < SYSTEM_N_MODULES; i++) {
                if (system_module_loaded("/sys", system_modules[i]))
                        continue;
                if (a->dry_run) {
                        note(c, "would run: modprobe %s", system_modules[i]);
                        continue;
                }
                if (system_module_load(system_modules[i], &err) < 0)
                        return fail(c, err);
                note(c, "loaded kernel module %s", system_modules[i]);
        }
        return 0;
}

static int open_roots(struct ctk_ctx *c, const struct system_args *a, struct system_roots *r) {
        r->dev_root = a->dev_root;
        r->proc_root = a->proc_root;
        r->devfd = open(r->dev_root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (r->devfd < 0)
                return cmd_error(&c->out, "cannot open the dev root '%s': %m", r->dev_root);
        r->procfd = open(r->proc_root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (r->procfd < 0)
                return cmd_error(&c->out, "cannot open the proc root '%s': %m", r->proc_root);
        return 0;
}

static void close_roots(struct system_roots *r) {
        closep(&r->devfd);
        closep(&r->procfd);
}

/* One node of the plan: made (or, in a dry run, announced), or reported when something else is
 * in its place. Returns -1 for a node that is not right afterwards, -2 when one cannot be made
 * (the next would fail alike: one line is enough). */
static int node_do(struct ctk_ctx *c, const struct system_args *a, const struct system_roots *r,
                   const struct sysnode *n) {
        _cleanup_free_ char *shown = path_join(r->dev_root, n->path);
        struct nctk_error *err = NULL;

        if (!shown)
                return cmd_error(&c->out, "out of memory");
        if (n->state == SYSNODE_PRESENT)
                return 0;
        if (n->state == SYSNODE_WRONG)
                return cmd_error(&c->out, "'%s' is %s, not char %u:%u; remove it and run again",
                                 shown, n->found, n->major, n->minor);
        if (!a->dry_run && sysnode_create(r, n, &err) < 0)
                return fail(c, err) - 1;
        note(c, "%s %s (char %u:%u, mode %04o, owner %u:%u)",
             a->dry_run ? "would create" : "created", shown, n->major, n->minor, (unsigned) n->mode,
             (unsigned) n->uid, (unsigned) n->gid);
        return 0;
}

static int make_nodes(struct ctk_ctx *c, const struct system_args *a, const struct system_roots *r,
                      unsigned set) {
        _cleanup_free_ struct sysnode *nodes = NULL;
        struct nctk_error *err = NULL;
        size_t n = 0;
        int failed = 0;

        if (sysnodes_plan(r, set, &nodes, &n, &err) < 0)
                return fail(c, err);
        for (size_t i = 0; i < n && failed != -2; i++) {
                int k = node_do(c, a, r, &nodes[i]);

                failed = k < failed ? k : failed;
        }
        return failed < 0 ? -1 : 0;
}

static int create_device_nodes(struct ctk_ctx *c, int argc, char **argv) {
        struct system_args a = {.driver_root = "/", .proc_root = "/proc"};
        _cleanup_(close_roots) struct system_roots r = {.devfd = -1, .procfd = -1};
        unsigned set;
        int k;

        k = parse_args(c, argc, argv, nodes_options, &a);
        if (k <= 0)
                return -k;
        if (a.load_modules && load_modules(c, &a) < 0)
                return 1;
        set = (a.control ? SYSNODE_CONTROL : 0) | (a.gpus ? SYSNODE_GPUS : 0);
        if (!set) {
                if (!c->out.quiet && !a.load_modules)
                        fprintf(stderr,
                                "%s: nothing to create: pass --control-devices and/or "
                                "--gpu-devices\n",
                                c->out.prog);
                return 0;
        }
        if (open_roots(c, &a, &r) < 0)
                return 1;
        return make_nodes(c, &a, &r, set) < 0 ? 1 : 0;
}

static int link_do(struct ctk_ctx *c, const struct system_args *a, int dirfd,
                   const struct devchar_link *l) {
        const char *dir = a->dev_char_path;
        struct nctk_error *err = NULL;

        switch (l->state) {
        case DEVCHAR_PRESENT: return 0;
        case DEVCHAR_BLOCKED:
                return cmd_error(&c->out,
                                 "'%s/%s' is %s, not a link to '%s'; remove it and run "
                                 "again",
                                 dir, l->name, l->found ? l->found : "no link", l->target);
        case DEVCHAR_MISSING:
        case DEVCHAR_STALE: break;
        }
        if (!a->dry_run && devchar_apply(dirfd, dir, l, &err) < 0)
                return fail(c, err);
        if (l->state == DEVCHAR_MISSING)
                note(c, "%s %s/%s -> %s", a->dry_run ? "would create" : "created", dir, l->name,
                     l->target);
        else
                note(c, "%s %s/%s -> %s (was '%s')", a->dry_run ? "would replace" : "replaced", dir,
                     l->name, l->target, l->found ? l->found : "");
        return 0;
}

static int make_links(struct ctk_ctx *c, const struct system_args *a, const struct system_roots *r,
                      const struct sysnode *nodes, size_t n) {
        _cleanup_close_ int dirfd = -1;
        struct devchar_link *links = NULL;
        struct nctk_error *err = NULL;
        size_t m = 0;
        int failed = 0;

        dirfd = devchar_open_dir(a->dev_char_path, !a->dry_run, &err);
        if (dirfd < 0 && err)
                return fail(c, err);
        if (devchar_plan(r, a->dev_char_path, dirfd, nodes, n, &links, &m, &err) < 0)
                return fail(c, err);
        for (size_t i = 0; i < m; i++)
                failed |= link_do(c, a, dirfd, &links[i]);
        devchar_links_free(links, m);
        return failed;
}

static int list_nodes(struct ctk_ctx *c, const struct system_args *a, const struct system_roots *r,
                      struct sysnode **ret, size_t *ret_n) {
        struct nctk_error *err = NULL;
        int k;

        if (a->create_all)
                k = sysnodes_plan(r, SYSNODE_CONTROL | SYSNODE_MIG_CONTROL | SYSNODE_GPUS, ret,
                                  ret_n, &err);
        else
                k = devchar_existing(r, ret, ret_n, &err);
        return k < 0 ? fail(c, err) : 0;
}

static int create_dev_char_symlinks(struct ctk_ctx *c, int argc, char **argv) {
        struct system_args a = {
                .driver_root = "/", .proc_root = "/proc", .dev_char_path = "/dev/char"};
        _cleanup_(close_roots) struct system_roots r = {.devfd = -1, .procfd = -1};
        _cleanup_free_ struct sysnode *nodes = NULL;
        size_t n = 0;
        int k;

        k = parse_args(c, argc, argv, links_options, &a);
        if (k <= 0)
                return -k;
        if (!a.create_all && (a.load_modules || a.create_nodes)) {
                fprintf(stderr,
                        "%s: warning: --load-kernel-modules and --create-device-nodes "
                        "apply only with --create-all, ignoring them\n",
                        c->out.prog);
                a.load_modules = a.create_nodes = false;
        }
        if (a.load_modules && load_modules(c, &a) < 0)
                return 1;
        if (open_roots(c, &a, &r) < 0)
                return 1;
        if (a.create_nodes && make_nodes(c, &a, &r, SYSNODE_CONTROL) < 0)
                return 1;
        if (list_nodes(c, &a, &r, &nodes, &n) < 0)
                return 1;
        if (n == 0) {
                if (!c->out.quiet)
                        fprintf(stderr, "%s: no NVIDIA device nodes under '%s', no links to make\n",
                                c->out.prog, a.dev_root);
                return 0;
        }
        return make_links(c, &a, &r, nodes, n) < 0 ? 1 : 0;
}

int ctk_system_main(struct ctk_ctx *c, int argc, char **argv) {
        if (argc < 2 || STREQ(argv[1], "--help") || STREQ(argv[1], "-h")) {
                system_help(argc < 2 ? stderr : stdout, c->out.prog);
                return argc < 2 ? 1 : 0;
        }
        if (STREQ(argv[1], "create-device-nodes"))
                return create_device_nodes(c, argc - 1, argv + 1);
        if (STREQ(argv[1], "create-dev-char-symlinks"))
                return create_dev_char_symlinks(c, argc - 1, argv + 1);
        return -cmd_error(&c->out, "unknown command 'system %s'; see '%s system --help'", argv[1],
                          c->out.prog);
}
