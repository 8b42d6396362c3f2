/* nctk doctor: flags in, one run of the checks (src/doctor), the report out as lines or JSON. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/doctor.h"
#include "cmd/error.h"
#include "config/config.h"
#include "doctor/doctor.h"
#include "util/macros.h"

enum { OPT_JSON = 0x100, OPT_DRIVER_ROOT, OPT_DEV_ROOT, OPT_PROC_ROOT, OPT_HOST_ROOT, OPT_CONFIG };

struct doctor_args {
        struct doctor_opts o;
        const char *config;
        bool json;
};

static void doctor_help(const char *prog) {
        printf("Usage: %s doctor [--json] [--config FILE] [--driver-root DIR] [--dev-root DIR]\n"
               "                [--proc-root DIR] [--host-root DIR]\n"
               "\n"
               "Checks this host's GPU container set-up: driver and versions, device nodes,\n"
               "nctk's cache, each engine's registration, cgroups, the low-level runtime,\n"
               "CDI specs, the ld cache, SELinux/AppArmor and rootless set-up. One line per\n"
               "check (OK, WARN or FAIL) with the command that fixes it; exits 1 when a\n"
               "check FAILs.\n"
               "\n"
               "  --json              one JSON document: checks[] of {id, status, finding, fix}\n"
               "  --config FILE       nctk's config.toml (default: "
               "/etc/nvidia-container-runtime/config.toml)\n"
               "  --driver-root DIR   where the driver is installed (default: the config's\n"
               "                      nvidia-container-cli.root, else /)\n"
               "  --dev-root DIR      root of /dev (default: the driver root)\n"
               "  --proc-root DIR     the kernel's procfs (default: the config's proc-root, "
               "else /proc)\n"
               "  --host-root DIR     where the host's /etc, /run, /sys and programs are "
               "(default: /)\n"
               "                      (for a doctor run in a container with the host mounted)\n"
               "  -h, --help          print this help\n",
               prog);
}

static const struct option doctor_options[] = {
        {"json", no_argument, NULL, OPT_JSON},
        {"config", required_argument, NULL, OPT_CONFIG},
        {"driver-root", required_argument, NULL, OPT_DRIVER_ROOT},
        {"dev-root", required_argument, NULL, OPT_DEV_ROOT},
        {"proc-root", required_argument, NULL, OPT_PROC_ROOT},
        {"host-root", required_argument, NULL, OPT_HOST_ROOT},
        {"help", no_argument, NULL, 'h'},
        {},
};

/* 1 to go on, 0 to exit successfully, -1 on a usage error. */
static int parse_args(const struct cmd_sink *out, struct doctor_args *a, int argc, char **argv) {
        int opt;

        optind = 1;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, "+h", doctor_options, NULL)) != -1) {
                switch (opt) {
                case OPT_JSON: a->json = true; break;
                case OPT_CONFIG: a->config = optarg; break;
                case OPT_DRIVER_ROOT: a->o.driver_root = optarg; break;
                case OPT_DEV_ROOT: a->o.dev_root = optarg; break;
                case OPT_PROC_ROOT: a->o.proc_root = optarg; break;
                case OPT_HOST_ROOT: a->o.host_root = optarg; break;
                case 'h': doctor_help(out->prog); return 0;
                default:
                        return cmd_error(
                                out, "unknown or incomplete option '%s'; see '%s doctor --help'",
                                argv[optind - 1], out->prog);
                }
        }
        if (optind < argc)
                return cmd_error(out, "unexpected argument '%s'; see '%s doctor --help'",
                                 argv[optind], out->prog);
        return 1;
}

static int print_json(const struct doctor_report *r) {
        json_t *doc = json_object(), *checks = json_array();
        size_t counts[3] = {0};
        char *text;

        for (size_t i = 0; i < r->n; i++) {
                const struct doctor_check *c = &r->v[i];
                counts[c->status]++;
                json_array_append_new(checks, json_pack("{s:s, s:s, s:s, s:s?}", "id", c->id,
                                                        "status", doctor_status_name(c->status),
                                                        "finding", c->finding, "fix", c->fix));
        }
        json_object_set_new(doc, "version", json_integer(1));
        json_object_set_new(doc, "status", json_string(doctor_status_name(doctor_worst(r))));
        json_object_set_new(doc, "checks", checks);
        json_object_set_new(doc, "summary",
                            json_pack("{s:I, s:I, s:I}", "ok", (json_int_t) counts[0], "warn",
                                      (json_int_t) counts[1], "fail", (json_int_t) counts[2]));
        text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        json_decref(doc);
        if (!text)
                return -1;
        printf("%s\n", text);
        free(text);
        return 0;
}

static void print_text(const struct doctor_report *r) {
        size_t counts[3] = {0};

        for (size_t i = 0; i < r->n; i++) {
                const struct doctor_check *c = &r->v[i];
                counts[c->status]++;
                printf("%-4s  %-18s %s\n", doctor_status_name(c->status), c->id, c->finding);
                if (c->fix && c->status != DOCTOR_OK)
                        printf("      fix: %s\n", c->fix);
        }
        printf("%zu checks: %zu OK, %zu WARN, %zu FAIL\n", r->n, counts[0], counts[1], counts[2]);
}

/* Roots the flags left open come from [nvidia-container-cli] root and proc-root. */
static void roots_from_config(struct doctor_args *a, const struct nctk_config *cfg) {
        if (!a->o.driver_root && cfg->cli.root && cfg->cli.root[0])
                a->o.driver_root = cfg->cli.root;
        if (!a->o.proc_root && cfg->cli.proc_root && cfg->cli.proc_root[0])
                a->o.proc_root = cfg->cli.proc_root;
}

int doctor_main(const char *prog, const char *config, int argc, char **argv) {
        struct cmd_sink out = {.prog = prog};
        struct doctor_args a = {.config = config};
        struct doctor_report report = {};
        struct nctk_config *cfg = NULL;
        struct nctk_error *err = NULL;
        int r;

        r = parse_args(&out, &a, argc, argv);
        if (r <= 0)
                return r == 0 ? 0 : 2;
        if (config_load(a.config, a.config != NULL, &cfg, &err) < 0) {
                cmd_error(&out, "%s", err && err->msg ? err->msg : "cannot load config.toml");
                nctk_error_free(&err);
                return 2;
        }
        roots_from_config(&a, cfg);
        a.o.cfg = cfg;
        a.o.cfg_path = a.config;
        a.o.path = getenv("PATH");
        r = doctor_run(&a.o, &report);
        if (r < 0) {
                config_free(cfg);
                return cmd_error(&out, "out of memory"), 2;
        }
        if (a.json)
                r = print_json(&report);
        else
                print_text(&report);
        r = r < 0 ? 2 : doctor_worst(&report) == DOCTOR_FAIL ? 1 : 0;
        doctor_report_release(&report);
        config_free(cfg);
        return r;
}
