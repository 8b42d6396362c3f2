/* `list`: the files a container would get, one host path a line, in the reference's order
 * (device nodes, MIG files, binaries, libraries, IPCs, firmware), or as JSON. The paths are the
 * pipeline's plan: exactly what configure would give a container for the same options. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cli.h"
#include "util/macros.h"
#include "util/strv.h"

enum {
        OPT_JSON = 0x100,
        OPT_USAGE,
        OPT_HELP,
};

struct list_args {
        bool libs, bins, ipcs, firmware, json;
};

struct list_item {
        const char *kind; /* "device", "mig", "binary", "library", "library32", "ipc", "firmware" */
        const char *path; /* host path, borrowed from the plan */
        unsigned seq;
};

static const struct option list_options[] = {
        REQUEST_OPTIONS,
        {"libraries", no_argument, NULL, 'l'},
        {"binaries", no_argument, NULL, 'b'},
        {"ipcs", no_argument, NULL, 'i'},
        {"firmwares", no_argument, NULL, 'f'},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, OPT_HELP},
        {"usage", no_argument, NULL, OPT_USAGE},
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

/* One option: 1 taken, 0 exit successfully, -1 usage error. */
static int list_option(struct cli_ctx *c, struct container_request *q, struct list_args *a, int opt,
                       char **argv) {
        int r = cli_request_option(c, q, opt, optarg);

        if (r != 0)
                return r;
        switch (opt) {
        case 'l': a->libs = true; return 1;
        case 'b': a->bins = true; return 1;
        case 'i': a->ipcs = true; return 1;
        case 'f': a->firmware = true; return 1;
        case OPT_JSON: a->json = true; return 1;
        case OPT_HELP: list_help(c->out.prog); return 0;
        case OPT_USAGE:
                printf("Usage: %s list [-blfi?] [-d ID] [--compat32] [--json] ...\n", c->out.prog);
                return 0;
        default:
                if (STREQ(argv[optind - 1], "-?")) {
                        list_help(c->out.prog);
                        return 0;
                }
                return cli_input_error(c, "list: unknown or incomplete option '%s'",
                                       argv[optind - 1]);
        }
}

/* Returns 1 to go on, 0 to exit successfully, -1 on a usage error. */
static int list_parse(struct cli_ctx *c, int argc, char **argv, struct container_request *q,
                      struct list_args *a) {
        bool any = false;
        int opt, r;

        optind = 1;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, "d:lbifcuvgDn?", list_options, NULL)) != -1) {
                any |= opt != OPT_IMEX && opt != OPT_JSON;
                r = list_option(c, q, a, opt, argv);
                if (r <= 0)
                        return r;
        }
        if (optind < argc)
                return cli_input_error(c, "list: unexpected argument '%s'", argv[optind]);
        if (!any || (q->caps && !a->libs && !a->bins && !a->ipcs && !a->firmware && !q->devices)) {
                /* Nothing chosen: everything, as the reference does. */
                if (!q->devices && cli_join_arg(&q->devices, "all") < 0)
                        return -1;
                q->compat32 = a->libs = a->bins = a->ipcs = a->firmware = true;
        }
        if (!q->caps)
                q->caps = NCTK_CAP_ALL; /* no capability named: the files of every one */
        return 1;
}

/* The reference's name for what KIND is, or NULL when list does not show it. */
static const char *kind_name(enum edit_kind kind, bool is_node, const struct list_args *a,
                             const struct container_request *q) {
        switch (kind) {
        case EDIT_CONTROL:
        case EDIT_GPU: return q->devices ? "device" : NULL;
        case EDIT_MIG_PARENT: return NULL; /* a MIG device is not its parent GPU */
        case EDIT_MIG: return is_node ? "device" : "mig";
        case EDIT_IMEX: return "device";
        case EDIT_GATED: return is_node ? "device" : NULL;
        case EDIT_BINARY: return a->bins ? "binary" : NULL;
        case EDIT_LIBRARY: return a->libs ? "library" : NULL;
        case EDIT_LIBRARY32: return a->libs ? "library32" : NULL;
        case EDIT_IPC: return a->ipcs ? "ipc" : NULL;
        case EDIT_FIRMWARE: return a->firmware ? "firmware" : NULL;
        case EDIT_CONFIG: return NULL;
        }
        return NULL;
}

/* The reference's sections: devices and MIG files, binaries, libraries, IPCs, firmware. */
static int section_of(enum edit_kind kind) {
        static const int order[] = {
                [EDIT_CONTROL] = 0,   [EDIT_GPU] = 0,   [EDIT_MIG_PARENT] = 0, [EDIT_MIG] = 0,
                [EDIT_IMEX] = 0,      [EDIT_GATED] = 0, [EDIT_BINARY] = 1,     [EDIT_LIBRARY] = 2,
                [EDIT_LIBRARY32] = 3, [EDIT_IPC] = 4,   [EDIT_FIRMWARE] = 5,   [EDIT_CONFIG] = 6,
        };

        return order[kind];
}

static int item_cmp(const void *x, const void *y) {
        const struct list_item *a = x, *b = y;

        return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static int collect_one(struct list_item *items, size_t *n, enum edit_kind kind, bool is_node,
                       const char *path, unsigned seq, const struct list_args *a,
                       const struct container_request *q) {
        const char *name = kind_name(kind, is_node, a, q);

        if (name)
                items[(*n)++] = (struct list_item){
                        .kind = name, .path = path, .seq = (unsigned) section_of(kind) << 24 | seq};
        return 0;
}

/* The plan's items list shows, in section order, plan order within. */
static struct list_item *collect(const struct edits *e, const struct list_args *a,
                                 const struct container_request *q, size_t *ret_n) {
        struct list_item *items = calloc(e->n_mounts + e->n_nodes + 1, sizeof(*items));
        size_t n = 0;

        if (!items)
                return NULL;
        for (size_t i = 0; i < e->n_nodes; i++)
                collect_one(items, &n, e->nodes[i].kind, true, e->nodes[i].source, e->nodes[i].seq,
                            a, q);
        for (size_t i = 0; i < e->n_mounts; i++)
                collect_one(items, &n, e->mounts[i].kind, false, e->mounts[i].source,
                            e->mounts[i].seq, a, q);
        qsort(items, n, sizeof(*items), item_cmp);
        *ret_n = n;
        return items;
}

static int print_json(const struct list_item *items, size_t n) {
        json_auto_t *root = json_object();

        if (!root)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_t *arr = json_object_get(root, items[i].kind);
                if (!arr && json_object_set_new(root, items[i].kind, arr = json_array()) < 0)
                        return -ENOMEM;
                if (json_array_append_new(arr, json_string(items[i].path)) < 0)
                        return -ENOMEM;
        }
        if (json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0)
                return -EIO;
        putchar('\n');
        return 0;
}

static int list_print(const struct edits *e, const struct list_args *a,
                      const struct container_request *q) {
        size_t n = 0;
        _cleanup_free_ struct list_item *items = collect(e, a, q, &n);

        if (!items)
                return -ENOMEM;
        if (a->json)
                return print_json(items, n);
        for (size_t i = 0; i < n; i++)
                printf("%s\n", items[i].path);
        return 0;
}

static int list_run(struct cli_ctx *c, const struct container_request *q,
                    const struct list_args *a) {
        struct nctk_error *err = NULL;
        struct pipeline p;
        int r;

        r = pipeline_run(&p, &c->popts, q, &err);
        if (r < 0)
                cli_error(c, pipeline_stage_name(p.stage), err);
        else if ((r = list_print(p.edits, a, q)) < 0)
                fprintf(stderr, "%s: output error: %s\n", c->out.prog, strerror(-r));
        nctk_error_free(&err);
        pipeline_release(&p);
        return r;
}

int list_main(struct cli_ctx *c, int argc, char **argv) {
        struct container_request *q = container_request_new();
        struct list_args a = {};
        int r = -1;

        if (q)
                r = list_parse(c, argc, argv, q, &a);
        if (r > 0)
                r = list_run(c, q, &a) < 0 ? -1 : 0;
        container_request_free(q);
        return r < 0 ? 1 : 0;
}
