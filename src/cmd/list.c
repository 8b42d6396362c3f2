/* `list`: the files a container would get, one host path a line, in the reference's order
 * (device nodes, MIG files, binaries, libraries, IPCs, firmware), or as JSON. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd/cli.h"
#include "2-select/select.h"
#include "util/macros.h"
#include "util/strv.h"

enum {
        OPT_COMPAT32 = 0x100,
        OPT_MIG_CONFIG,
        OPT_MIG_MONITOR,
        OPT_IMEX,
        OPT_NO_PERSISTENCED,
        OPT_NO_FABRICMANAGER,
        OPT_NO_GSP,
        OPT_JSON,
        OPT_USAGE,
        OPT_HELP,
};

struct list_args {
        char *devices;
        const char *mig_config, *mig_monitor;
        char *imex;
        bool libs, bins, ipcs, firmware, compat32, json;
        unsigned caps; /* 0: every capability */
        unsigned dflags;
};

struct list_item {
        const char *kind; /* "device", "mig", "binary", "library", "library32", "ipc", "firmware" */
        char *path;       /* host path */
};

struct list_out {
        const struct nctk_inventory *inv;
        size_t n;
        struct list_item *items;
};

static const struct option list_options[] = {
        { "device", required_argument, NULL, 'd' },
        { "libraries", no_argument, NULL, 'l' },
        { "binaries", no_argument, NULL, 'b' },
        { "ipcs", no_argument, NULL, 'i' },
        { "firmwares", no_argument, NULL, 'f' },
        { "compat32", no_argument, NULL, OPT_COMPAT32 },
        { "mig-config", required_argument, NULL, OPT_MIG_CONFIG },
        { "mig-monitor", required_argument, NULL, OPT_MIG_MONITOR },
        { "imex-channel", required_argument, NULL, OPT_IMEX },
        { "no-persistenced", no_argument, NULL, OPT_NO_PERSISTENCED },
        { "no-fabricmanager", no_argument, NULL, OPT_NO_FABRICMANAGER },
        { "no-gsp-firmware", no_argument, NULL, OPT_NO_GSP },
        { "compute", no_argument, NULL, 'c' },
        { "utility", no_argument, NULL, 'u' },
        { "video", no_argument, NULL, 'v' },
        { "graphics", no_argument, NULL, 'g' },
        { "display", no_argument, NULL, 'D' },
        { "ngx", no_argument, NULL, 'n' },
        { "json", no_argument, NULL, OPT_JSON },
        { "help", no_argument, NULL, OPT_HELP },
        { "usage", no_argument, NULL, OPT_USAGE },
        {},
};

static void list_help(const char *prog) {
        printf("Usage: %s list [OPTION...]\n"
               "Query the driver and list the components required in order to configure a\n"
               "container with GPU support.\n"
               "\n"
               " Options:\n"
               "  -?, --help                 Give this help list\n"
               "  -b, --binaries             List driver binaries\n"
               "      --compat32             Enable 32bits compatibility\n"
               "  -d, --device=ID            Device UUID(s) or index(es) to list\n"
               "  -f, --firmwares            List driver firmwares\n"
               "      --imex-channel=CHANNEL IMEX channel ID(s) to inject\n"
               "  -i, --ipcs                 List driver ipcs\n"
               "  -l, --libraries            List driver libraries\n"
               "      --mig-config=ID        MIG devices to list config capabilities files for\n"
               "      --mig-monitor=ID       MIG devices to list monitor capabilities files for\n"
               "      --no-fabricmanager     Don't include the NVIDIA fabricmanager socket\n"
               "      --no-gsp-firmware      Don't include GSP Firmware\n"
               "      --no-persistenced      Don't include the NVIDIA persistenced socket\n"
               "  -c, --compute, -u, --utility, -v, --video, -g, --graphics, -D, --display,\n"
               "  -n, --ngx                  Only what these capabilities need (default: all)\n"
               "      --json                 Output in JSON format\n"
               "      --usage                Give a short usage message\n",
               prog);
}


/* Returns 1 to go on, 0 to exit successfully, -1 on a usage error. */
static int list_parse(struct cli_ctx *c, int argc, char **argv, struct list_args *a) {
        bool any = false;
        int opt;

        optind = 1;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, "d:lbifcuvgDn?", list_options, NULL)) != -1) {
                any |= opt != OPT_IMEX && opt != OPT_JSON;
                switch (opt) {
                case 'd':
                        if (cli_join_arg(&a->devices, optarg) < 0)
                                return -1;
                        break;
                case 'l': a->libs = true; break;
                case 'b': a->bins = true; break;
                case 'i': a->ipcs = true; break;
                case 'f': a->firmware = true; break;
                case OPT_COMPAT32: a->compat32 = true; break;
                case OPT_MIG_CONFIG: a->mig_config = optarg; break;
                case OPT_MIG_MONITOR: a->mig_monitor = optarg; break;
                case OPT_IMEX:
                        if (cli_join_arg(&a->imex, optarg) < 0)
                                return -1;
                        break;
                case OPT_NO_PERSISTENCED: a->dflags |= NCTK_DISCOVER_NO_PERSISTENCED; break;
                case OPT_NO_FABRICMANAGER: a->dflags |= NCTK_DISCOVER_NO_FABRICMANAGER; break;
                case OPT_NO_GSP: a->dflags |= NCTK_DISCOVER_NO_GSP_FIRMWARE; break;
                case OPT_JSON: a->json = true; break;
                case OPT_HELP: list_help(c->prog); return 0;
                case OPT_USAGE:
                        printf("Usage: %s list [-blfi?] [-d ID] [--compat32] [--json] ...\n", c->prog);
                        return 0;
                default:
                        if (cli_cap_option(opt)) {
                                a->caps |= (unsigned) cli_cap_option(opt);
                                any = true;
                                break;
                        }
                        if (STREQ(argv[optind - 1], "-?")) {
                                list_help(c->prog);
                                return 0;
                        }
                        fprintf(stderr, "%s: input error: list: unknown or incomplete option '%s'\n",
                                c->prog, argv[optind - 1]);
                        return -1;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "%s: input error: list: unexpected argument '%s'\n", c->prog,
                        argv[optind]);
                return -1;
        }
        if (!any || (a->caps && !a->libs && !a->bins && !a->ipcs && !a->firmware && !a->devices)) {
                /* Nothing chosen: everything, as the reference does. */
                if (!a->devices && cli_join_arg(&a->devices, "all") < 0)
                        return -1;
                a->compat32 = a->libs = a->bins = a->ipcs = a->firmware = true;
        }
        return 1;
}

static int out_add(struct list_out *o, const char *kind, const char *root, const char *path) {
        struct list_item *it = ARRAY_PUSH(o->items, o->n);

        if (!it)
                return -ENOMEM;
        it->kind = kind;
        it->path = STREQ(root, "/") ? strdup(path) : path_join(root, path);
        return it->path ? 0 : -ENOMEM;
}

/* /proc paths live under the inventory's proc root. */
static int out_add_proc(struct list_out *o, const char *kind, const char *path) {
        return out_add(o, kind, o->inv->proc_root, path + strlen("/proc"));
}

/* Capabilities a file is for, widened the way the reference widens them: video needs the
 * compute libraries, display the graphics ones. */
static bool caps_want(unsigned want, unsigned file_caps) {
        if (!want)
                return true;
        if (want & NCTK_CAP_VIDEO)
                want |= NCTK_CAP_COMPUTE;
        if (want & NCTK_CAP_DISPLAY)
                want |= NCTK_CAP_GRAPHICS;
        return (want & file_caps) != 0;
}

static bool node_wanted(const struct nctk_node *n, unsigned caps) {
        if (!n->exists)
                return false;
        switch (n->kind) {
        case NCTK_NODE_UVM:
        case NCTK_NODE_UVM_TOOLS: return caps_want(caps, NCTK_CAP_COMPUTE);
        case NCTK_NODE_MODESET: return !caps || (caps & NCTK_CAP_DISPLAY);
        default: return true;
        }
}

static int list_gpu_nodes(struct list_out *o, const struct selection *sel, const struct list_args *a) {
        const struct nctk_inventory *inv = o->inv;
        int r = 0;

        for (size_t i = 0; r >= 0 && i < inv->n_nodes; i++) {
                const struct nctk_node *n = &inv->nodes[i];
                if (n->kind == NCTK_NODE_GPU || n->kind == NCTK_NODE_CAP || !node_wanted(n, a->caps))
                        continue;
                r = out_add(o, "device", inv->dev_root, n->path);
        }
        for (size_t i = 0; r >= 0 && i < inv->n_gpus; i++) {
                char path[64];
                if (!sel->gpus[i])
                        continue;
                snprintf(path, sizeof(path), "/dev/nvidia%u", inv->gpus[i].minor);
                for (size_t k = 0; r >= 0 && k < inv->n_nodes; k++)
                        if (inv->nodes[k].exists && STREQ(inv->nodes[k].path, path))
                                r = out_add(o, "device", inv->dev_root, path);
        }
        return r;
}

static int list_cap_node(struct list_out *o, int minor) {
        char path[64];

        if (minor < 0)
                return 0;
        snprintf(path, sizeof(path), "/dev/nvidia-caps/nvidia-cap%d", minor);
        for (size_t k = 0; k < o->inv->n_nodes; k++)
                if (o->inv->nodes[k].exists && STREQ(o->inv->nodes[k].path, path))
                        return out_add(o, "device", o->inv->dev_root, path);
        return 0;
}

static int list_migs(struct list_out *o, const struct selection *sel) {
        const struct nctk_inventory *inv = o->inv;
        int r = 0;

        for (size_t i = 0; r >= 0 && i < inv->n_gpus; i++)
                for (size_t j = 0; r >= 0 && j < inv->gpus[i].n_migs; j++) {
                        const struct nctk_mig *m = &inv->gpus[i].migs[j];
                        if (!sel->migs[i][j])
                                continue;
                        r = out_add_proc(o, "mig", m->gi_caps);
                        r = r < 0 ? r : out_add_proc(o, "mig", m->ci_caps);
                        r = r < 0 ? r : list_cap_node(o, m->gi_caps_minor);
                        r = r < 0 ? r : list_cap_node(o, m->ci_caps_minor);
                }
        return r;
}

static int list_imex(struct list_out *o, const char *spec, struct nctk_error **err) {
        const struct nctk_inventory *inv = o->inv;
        const char *p = spec;

        while (p && *p) {
                _cleanup_free_ char *host = NULL;
                char path[80], *end;
                unsigned long ch;
                struct stat st;

                if (*p == ',') {
                        p++;
                        continue;
                }
                errno = 0;
                ch = strtoul(p, &end, 10);
                if (end == p || (*end && *end != ',') || errno || ch >= (1ul << 20))
                        return nctk_error_set(err, EINVAL, "invalid IMEX channel '%.*s' (want a "
                                              "number below 1048576)", (int) strcspn(p, ","), p);
                p = end;
                snprintf(path, sizeof(path), "/dev/nvidia-caps-imex-channels/channel%lu", ch);
                host = path_join(inv->dev_root, path);
                if (!host)
                        return -ENOMEM;
                if (stat(host, &st) < 0 || !S_ISCHR(st.st_mode)) {
                        fprintf(stderr, "warning: missing IMEX channel device '%s', skipping\n", host);
                        continue;
                }
                int r = out_add(o, "device", inv->dev_root, path);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* --mig-config/--mig-monitor: only "all" exists, as in the reference. */
static int list_mig_global(struct list_out *o, const struct selection *sel, const char *spec,
                           const char *file, int minor, struct nctk_error **err) {
        const struct nctk_inventory *inv = o->inv;
        char path[96];
        int r;

        if (!spec)
                return 0;
        if (!STREQ(spec, "all"))
                return nctk_error_set(err, EINVAL, "only 'all' devices are currently supported, "
                                      "not '%s'", spec);
        snprintf(path, sizeof(path), "/proc/driver/nvidia/capabilities/mig/%s", file);
        r = out_add_proc(o, "mig", path);
        for (size_t i = 0; r >= 0 && i < inv->n_gpus; i++) {
                if (!sel->gpus[i] || !inv->gpus[i].mig_capable)
                        continue;
                snprintf(path, sizeof(path), "/proc/driver/nvidia/capabilities/gpu%u/mig",
                         inv->gpus[i].minor);
                r = out_add_proc(o, "mig", path);
        }
        return r < 0 ? r : list_cap_node(o, minor);
}

static int list_files(struct list_out *o, const char *kind, const struct nctk_file *f, size_t n,
                      const struct list_args *a, int want32) {
        int r = 0;

        for (size_t i = 0; r >= 0 && i < n; i++) {
                if (want32 >= 0 && f[i].is_32bit != (want32 == 1))
                        continue;
                if (caps_want(a->caps, f[i].caps))
                        r = out_add(o, kind, o->inv->driver_root, f[i].path);
        }
        return r;
}

static int list_collect(struct list_out *o, const struct list_args *a, const struct selection *sel,
                        struct nctk_error **err) {
        const struct nctk_inventory *inv = o->inv;
        int r = 0;

        if (a->devices) {
                r = list_gpu_nodes(o, sel, a);
                if (r >= 0 && !a->mig_config && !a->mig_monitor)
                        r = list_migs(o, sel);
        }
        r = r < 0 ? r : list_imex(o, a->imex, err);
        r = r < 0 ? r : list_mig_global(o, sel, a->mig_config, "config", inv->mig_config_minor, err);
        r = r < 0 ? r : list_mig_global(o, sel, a->mig_monitor, "monitor", inv->mig_monitor_minor, err);
        if (r >= 0 && a->bins)
                r = list_files(o, "binary", inv->bins, inv->n_bins, a, -1);
        if (r >= 0 && a->libs) {
                r = list_files(o, "library", inv->libs, inv->n_libs, a, 0);
                if (r >= 0 && a->compat32)
                        r = list_files(o, "library32", inv->libs, inv->n_libs, a, 1);
        }
        if (r >= 0 && a->ipcs)
                r = list_files(o, "ipc", inv->ipcs, inv->n_ipcs, a, -1);
        if (r >= 0 && a->firmware)
                r = list_files(o, "firmware", inv->firmware, inv->n_firmware, a, -1);
        if (r < 0 && err && !*err)
                nctk_error_set(err, -r, "%s", strerror(-r));
        return r;
}

static int list_print_json(const struct list_out *o) {
        json_t *root = json_object();
        int r = -ENOMEM;

        if (!root)
                return -ENOMEM;
        for (size_t i = 0; i < o->n; i++) {
                json_t *arr = json_object_get(root, o->items[i].kind);
                if (!arr) {
                        arr = json_array();
                        if (!arr || json_object_set_new(root, o->items[i].kind, arr) < 0)
                                goto out;
                }
                if (json_array_append_new(arr, json_string(o->items[i].path)) < 0)
                        goto out;
        }
        r = json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0 ? -EIO : 0;
        putchar('\n');
out:
        json_decref(root);
        return r;
}

static int list_run(struct cli_ctx *c, struct list_args *a) {
        struct nctk_inventory *inv = NULL;
        struct nctk_error *err = NULL;
        struct selection sel = {};
        struct list_out o = {};
        int r;

        r = cli_discover(c, a->dflags, &inv);
        if (r < 0)
                return r;
        o.inv = inv;
        r = selection_parse(inv, a->devices ? a->devices : "none", &sel, &err);
        if (r < 0)
                cli_error(c, "device", err);
        else if ((r = list_collect(&o, a, &sel, &err)) < 0)
                cli_error(c, "detection", err);
        if (r >= 0 && a->json)
                r = list_print_json(&o);
        else if (r >= 0)
                for (size_t i = 0; i < o.n; i++)
                        printf("%s\n", o.items[i].path);
        for (size_t i = 0; i < o.n; i++)
                free(o.items[i].path);
        free(o.items);
        selection_release(&sel);
        nctk_error_free(&err);
        nctk_inventory_free(inv);
        return r;
}

int list_main(struct cli_ctx *c, int argc, char **argv) {
        struct list_args a = {};
        int r;

        r = list_parse(c, argc, argv, &a);
        if (r > 0)
                r = list_run(c, &a) < 0 ? -1 : 0;
        free(a.devices);
        free(a.imex);
        return r < 0 ? 1 : 0;
}
