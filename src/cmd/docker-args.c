/* `docker-args`: the arguments with which a plain `docker run` (runc, no hook, no nvidia runtime)
 * gets what configure would give a container for the same flags. It renders the pipeline's plan
 * as docker's --device, --volume and --env words, as shell words, JSON or a compose fragment. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "5-apply/docker-args.h"
#include "cmd/cli.h"
#include "util/macros.h"
#include "util/shquote.h"
#include "util/strv.h"

enum {
        OPT_FORMAT = 0x100,
        OPT_USAGE,
        OPT_HELP,
};

enum format { FORMAT_SHELL, FORMAT_JSON, FORMAT_COMPOSE };

static const struct option docker_args_options[] = {
        REQUEST_OPTIONS,
        {"require", required_argument, NULL, 'r'},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"help", no_argument, NULL, OPT_HELP},
        {"usage", no_argument, NULL, OPT_USAGE},
        {},
};

static void docker_args_help(const char *prog) {
        printf("Usage: %s docker-args [OPTION...]\n"
               "Print the arguments with which a plain `docker run` (runc, no hook, no nvidia\n"
               "runtime) gets the selected GPUs: --device for their device nodes, --volume for\n"
               "the driver's libraries, programs, IPC sockets and firmware, --env for\n"
               "LD_LIBRARY_PATH.\n"
               "\n"
               "  eval \"docker run $(%s docker-args --device=0) IMAGE COMMAND\"\n"
               "\n"
               " Options:\n"
               "  -?, --help                 Give this help list\n"
               "  -d, --device=ID            GPU UUID(s) or index(es) to give (default: all)\n"
               "  -c, --compute, -u, --utility, -v, --video, -g, --graphics, -D, --display,\n"
               "  -n, --ngx                  Capabilities whose files to give (default:\n"
               "                             compute and utility)\n"
               "      --compat32             Also the 32-bit libraries\n"
               "      --imex-channel=CHANNEL IMEX channel ID(s) to give\n"
               "      --mig-config=all       Enable configuration of MIG devices\n"
               "      --mig-monitor=all      Enable monitoring of MIG devices\n"
               "      --no-fabricmanager     Don't include the NVIDIA fabricmanager socket\n"
               "      --no-gsp-firmware      Don't include GSP Firmware\n"
               "      --no-persistenced      Don't include the NVIDIA persistenced socket\n"
               "  -r, --require=EXPR         Check a requirement now, on this host\n"
               "      --format=FORMAT        shell (default): one line of shell words;\n"
               "                             json: an array of strings; compose: the devices,\n"
               "                             volumes and environment keys of a compose service\n"
               "      --usage                Give a short usage message\n"
               "\n"
               "Each library is bound read-only on its own, under its SONAME (and libcuda.so),\n"
               "into " DOCKER_ARGS_LIBDIR64 " (32-bit: " DOCKER_ARGS_LIBDIR32
               "), and LD_LIBRARY_PATH\n"
               "names that directory; programs go to /usr/bin, everything else to its host\n"
               "path. NVIDIA_VISIBLE_DEVICES=void keeps an nvidia runtime that docker may run\n"
               "by default from adding GPUs of its own.\n"
               "\n"
               "What this path cannot do (the nvidia runtime or its hook can):\n"
               "  - no /proc masking and no per-GPU /proc/driver/nvidia view: the container\n"
               "    sees every GPU's directory there, and the driver's params as the host has\n"
               "    them;\n"
               "  - no forward compatibility: an image's CUDA compat libraries are not put\n"
               "    before the driver's;\n"
               "  - no ldconfig in the image: the libraries are found through LD_LIBRARY_PATH\n"
               "    only, which replaces the image's own value, at a fixed path the image\n"
               "    must look in;\n"
               "  - no requirement checks when the container starts (--require checks this\n"
               "    host, now);\n"
               "  - the paths are this driver's: print them again after a driver update;\n"
               "  - nothing is bound into /proc (docker refuses it): MIG access files are the\n"
               "    host's, as the container's own /proc shows them.\n",
               prog, prog);
}

static int parse_format(const struct cli_ctx *c, enum format *f, const char *arg) {
        if (STREQ(arg, "shell"))
                *f = FORMAT_SHELL;
        else if (STREQ(arg, "json"))
                *f = FORMAT_JSON;
        else if (STREQ(arg, "compose"))
                *f = FORMAT_COMPOSE;
        else
                return cli_input_error(c, "invalid --format '%s' (shell, json or compose)", arg);
        return 0;
}

static int parse_one(struct cli_ctx *c, struct container_request *q, enum format *f, int opt,
                     char **argv) {
        int r = cli_request_option(c, q, opt, optarg);

        if (r != 0)
                return r < 0 ? -1 : 0;
        switch (opt) {
        case 'r': return cli_require_option(c, q, optarg);
        case OPT_FORMAT: return parse_format(c, f, optarg);
        default:
                return cli_input_error(c, "docker-args: unknown or incomplete option '%s'",
                                       argv[optind - 1]);
        }
}

/* Returns 1 to go on, 0 to exit successfully, -1 on a usage error. */
static int docker_args_parse(struct cli_ctx *c, int argc, char **argv, struct container_request *q,
                             enum format *f) {
        int opt;

        optind = 1;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, "d:r:cuvgDn?", docker_args_options, NULL)) != -1) {
                if (opt == OPT_HELP || (opt == '?' && STREQ(argv[optind - 1], "-?"))) {
                        docker_args_help(c->out.prog);
                        return 0;
                }
                if (opt == OPT_USAGE) {
                        printf("Usage: %s docker-args [-cuvgDn?] [-d ID] [-r EXPR] "
                               "[--format=shell|json|compose]\n",
                               c->out.prog);
                        return 0;
                }
                if (parse_one(c, q, f, opt, argv) < 0)
                        return -1;
        }
        if (optind < argc)
                return cli_input_error(c, "docker-args: unexpected argument '%s'", argv[optind]);
        /* What `docker run --gpus all` gives: every GPU, compute and utility. */
        if (!q->devices && cli_join_arg(&q->devices, "all") < 0)
                return cli_input_error(c, "out of memory");
        if (!q->caps)
                q->caps = NCTK_CAP_COMPUTE | NCTK_CAP_UTILITY;
        return 1;
}

static char *word_of(const char *flag, const char *value) {
        char *s;

        return asprintf(&s, "%s%s", flag, value) < 0 ? NULL : s;
}

/* Each argument as one word: --device=..., --volume=..., --env=... */
typedef int (*word_fn)(const char *flag, const char *value, void *userdata);

static int each_word(const struct docker_args *a, word_fn fn, void *userdata) {
        const struct {
                const char *flag;
                const struct docker_words *l;
        } groups[] = {{"--device=", &a->devices}, {"--volume=", &a->volumes}, {"--env=", &a->env}};
        int r = 0;

        for (size_t g = 0; g < ELEMENTSOF(groups); g++)
                for (size_t i = 0; r >= 0 && i < groups[g].l->n; i++)
                        r = fn(groups[g].flag, groups[g].l->v[i], userdata);
        return r;
}

static int print_shell_word(const char *flag, const char *value, void *userdata) {
        _cleanup_free_ char *word = word_of(flag, value);
        _cleanup_free_ char *q = word ? shell_quote(word) : NULL;
        bool *first = userdata;

        if (!q)
                return -ENOMEM;
        printf("%s%s", *first ? "" : " ", q);
        *first = false;
        return 0;
}

static int append_json_word(const char *flag, const char *value, void *userdata) {
        _cleanup_free_ char *word = word_of(flag, value);

        return word && json_array_append_new(userdata, json_string(word)) == 0 ? 0 : -ENOMEM;
}

static int print_shell(const struct docker_args *a) {
        bool first = true;
        int r = each_word(a, print_shell_word, &first);

        putchar('\n');
        return r;
}

static int print_json(const struct docker_args *a) {
        json_auto_t *arr = json_array();
        int r = arr ? each_word(a, append_json_word, arr) : -ENOMEM;

        if (r < 0)
                return r;
        if (json_dumpf(arr, stdout, JSON_INDENT(2)) < 0)
                return -EIO;
        putchar('\n');
        return 0;
}

/* One YAML list item: a double-quoted scalar (JSON's string escapes are YAML's), with every '$'
 * doubled, since compose substitutes variables in every value. */
static int print_yaml_item(const char *s) {
        _cleanup_free_ char *esc = malloc(2 * strlen(s) + 1), *quoted = NULL;
        json_auto_t *str = NULL;
        char *p = esc;

        if (!esc)
                return -ENOMEM;
        for (; *s; s++) {
                if (*s == '$')
                        *p++ = '$';
                *p++ = *s;
        }
        *p = '\0';
        str = json_string(esc);
        quoted = str ? json_dumps(str, JSON_ENCODE_ANY) : NULL;
        if (!quoted)
                return -ENOMEM;
        printf("  - %s\n", quoted);
        return 0;
}

static int print_yaml_list(const char *key, const struct docker_words *l) {
        int r = 0;

        printf("%s:%s\n", key, l->n ? "" : " []");
        for (size_t i = 0; r >= 0 && i < l->n; i++)
                r = print_yaml_item(l->v[i]);
        return r;
}

static int print_compose(const struct docker_args *a) {
        int r;

        printf("# The GPU part of a docker-compose service (nctk docker-args): put these keys\n"
               "# under the service, beside its image.\n");
        r = print_yaml_list("devices", &a->devices);
        r = r < 0 ? r : print_yaml_list("volumes", &a->volumes);
        return r < 0 ? r : print_yaml_list("environment", &a->env);
}

static int print_format(const struct docker_args *a, enum format f) {
        switch (f) {
        case FORMAT_JSON: return print_json(a);
        case FORMAT_COMPOSE: return print_compose(a);
        case FORMAT_SHELL: break;
        }
        return print_shell(a);
}

static int docker_args_print(const struct cli_ctx *c, const struct edits *e, enum format f) {
        struct docker_args a = {};
        int r = docker_args_build(&a, e);

        if (r == -EINVAL)
                cli_input_error(c,
                                "docker-args: '%s' has a ':', which docker's --device and "
                                "--volume cannot carry; move it or use the nvidia runtime",
                                a.bad_path);
        else if (r < 0)
                cli_input_error(c, "out of memory");
        else if ((r = print_format(&a, f)) < 0)
                fprintf(stderr, "%s: output error: %s\n", c->out.prog, strerror(-r));
        docker_args_release(&a);
        return r;
}

static int docker_args_run(struct cli_ctx *c, const struct container_request *q, enum format f) {
        struct nctk_error *err = NULL;
        struct pipeline p;
        int r;

        /* No container: the plan for the default layout, relocated by docker_args_build. */
        r = pipeline_run(&p, &c->popts, q, &err);
        if (r < 0)
                cli_error(c, pipeline_stage_name(p.stage), err);
        else
                r = docker_args_print(c, p.edits, f);
        nctk_error_free(&err);
        pipeline_release(&p);
        return r;
}

int docker_args_main(struct cli_ctx *c, int argc, char **argv) {
        struct container_request *q = container_request_new();
        enum format f = FORMAT_SHELL;
        int r = -1;

        if (q)
                r = docker_args_parse(c, argc, argv, q, &f);
        if (r > 0)
                r = docker_args_run(c, q, f) < 0 ? -1 : 0;
        container_request_free(q);
        return r < 0 ? 1 : 0;
}
