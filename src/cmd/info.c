/* `info`: the driver and its GPUs, in the reference's text and CSV formats, or as JSON. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "1-discover/discover.h"
#include "cmd/cli.h"
#include "util/macros.h"

enum { OPT_CSV = 0x100, OPT_JSON, OPT_USAGE, OPT_HELP };

static const struct option info_options[] = {
        {"csv", no_argument, NULL, OPT_CSV},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, OPT_HELP},
        {"usage", no_argument, NULL, OPT_USAGE},
        {},
};

static void info_help(const char *prog) {
        printf("Usage: %s info [OPTION...]\n"
               "Query the driver and report its information as well as the devices it\n"
               "detected.\n"
               "\n"
               " Options:\n"
               "  -?, --help                 Give this help list\n"
               "      --csv                  Output in CSV format\n"
               "      --json                 Output in JSON format\n"
               "      --usage                Give a short usage message\n",
               prog);
}

static void arch_string(const struct nctk_gpu *g, char *buf, size_t size) {
        if (g->cc_major > 0)
                snprintf(buf, size, "%d.%d", g->cc_major, g->cc_minor);
        else
                snprintf(buf, size, "%s", "");
}

static void info_text(const struct nctk_inventory *inv) {
        printf("%-15s %s\n%-15s %s\n", "NVRM version:", inv->driver_version,
               "CUDA version:", inv->cuda_version);
        for (size_t i = 0; i < inv->n_gpus; i++) {
                const struct nctk_gpu *g = &inv->gpus[i];
                char arch[16];

                arch_string(g, arch, sizeof(arch));
                printf("\n%-15s %u\n%-15s %u\n%-15s %s\n%-15s %s\n%-15s %s\n%-15s %s\n%-15s %s\n",
                       "Device Index:", g->index, "Device Minor:", g->minor, "Model:", g->model,
                       "Brand:", g->brand, "GPU UUID:", g->uuid, "Bus Location:", g->busid,
                       "Architecture:", arch);
                for (size_t j = 0; j < g->n_migs; j++)
                        printf("%-15s %u:%u (GPU instance %u, compute instance %u) %s\n",
                               "MIG Device:", g->index, g->migs[j].index, g->migs[j].gi,
                               g->migs[j].ci, g->migs[j].uuid);
        }
}

static void info_csv(const struct nctk_inventory *inv) {
        printf("NVRM version,CUDA version\n%s,%s\n", inv->driver_version, inv->cuda_version);
        printf("\nDevice Index,Device Minor,Model,Brand,GPU UUID,Bus Location,Architecture\n");
        for (size_t i = 0; i < inv->n_gpus; i++) {
                const struct nctk_gpu *g = &inv->gpus[i];
                char arch[16];

                arch_string(g, arch, sizeof(arch));
                printf("%u,%u,%s,%s,%s,%s,%s\n", g->index, g->minor, g->model, g->brand, g->uuid,
                       g->busid, arch);
        }
}

static int info_json(const struct nctk_inventory *inv) {
        json_auto_t *j = inventory_json(inv);

        if (!j || json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0) {
                fprintf(stderr, "cannot write the JSON output: %s\n",
                        j ? "write error" : "out of memory");
                return -EIO;
        }
        putchar('\n');
        return 0;
}

int info_main(struct cli_ctx *c, int argc, char **argv) {
        struct nctk_inventory *inv = NULL;
        struct nctk_error *err = NULL;
        bool csv = false, json = false;
        int opt, r;

        optind = 1;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, "?", info_options, NULL)) != -1) {
                switch (opt) {
                case OPT_CSV: csv = true; break;
                case OPT_JSON: json = true; break;
                case OPT_HELP: info_help(c->out.prog); return 0;
                case OPT_USAGE:
                        printf("Usage: %s info [-?] [--csv] [--json]\n", c->out.prog);
                        return 0;
                default:
                        if (STREQ(argv[optind - 1], "-?")) {
                                info_help(c->out.prog);
                                return 0;
                        }
                        cli_input_error(c, "info: unknown option '%s'", argv[optind - 1]);
                        return 1;
                }
        }
        if (optind < argc) {
                cli_input_error(c, "info: unexpected argument '%s'", argv[optind]);
                return 1;
        }
        r = pipeline_discover(&c->popts, NULL, &inv, &err);
        if (r < 0) {
                cli_error(c, "initialization", err);
                nctk_error_free(&err);
                return 1;
        }
        if (json)
                r = info_json(inv);
        else if (csv)
                info_csv(inv);
        else
                info_text(inv);
        nctk_inventory_free(inv);
        return r < 0 ? 1 : 0;
}
