/* `docker-args`: the arguments with which a plain `docker run` (runc, no hook, no nvidia runtime)
 * gets what configure would give a container for the same flags. It renders the pipeline's plan
 * as docker's --device, --volume and --env words, as shell words, JSON or a compose fragment. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cli.h"
#include "util/macros.h"
#include "util/shquote.h"
#include "util/strv.h"

/* Where the libraries go. Docker binds only paths that exist on the host, and a host directory
 * of symlinks would point at host paths the container does not have; binding each library file
 * on its own under its SONAME in one container directory needs no host state at all and is
 * always the files the driver has now. nvidia-docker 1 used these directories, and CUDA images
 * still name them in their LD_LIBRARY_PATH. */
#define LIBDIR64 "/usr/local/nvidia/lib64"
#define LIBDIR32 "/usr/local/nvidia/lib"
#define MAX_LINK_HOPS 8

enum {
        OPT_FORMAT = 0x100,
        OPT_USAGE,
        OPT_HELP,
};

enum format { FORMAT_SHELL, FORMAT_JSON, FORMAT_COMPOSE };

struct strlist {
        char **v;
        size_t n;
};

struct docker_args {
        struct strlist devices; /* HOST:CONTAINER:rw */
        struct strlist volumes; /* HOST:CONTAINER[:ro] */
        struct strlist env;     /* NAME=VALUE */
        bool has_lib64, has_lib32;
        const char *bad_path; /* a path docker's syntax cannot carry, borrowed from the plan */
};

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
               "into " LIBDIR64 " (32-bit: " LIBDIR32 "), and LD_LIBRARY_PATH\n"
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

static void strlist_release(struct strlist *l) {
        for (size_t i = 0; i < l->n; i++)
                free(l->v[i]);
        free(l->v);
        *l = (struct strlist){};
}

static int strlist_take(struct strlist *l, char *s) {
        char **slot = s ? ARRAY_PUSH(l->v, l->n) : NULL;

        if (!slot) {
                free(s);
                return -ENOMEM;
        }
        *slot = s;
        return 0;
}

static char *strjoin3(const char *a, const char *b, const char *c) {
        char *s;

        return asprintf(&s, "%s%s%s", a, b, c) < 0 ? NULL : s;
}

/* Docker splits --device and --volume at ':'; a path with one cannot be said. */
static bool sayable(struct docker_args *a, const char *path) {
        if (!strchr(path, ':'))
                return true;
        a->bad_path = path;
        return false;
}

static bool has_target(const struct strlist *volumes, const char *target) {
        size_t n = strlen(target);

        for (size_t i = 0; i < volumes->n; i++) {
                const char *t = strchr(volumes->v[i], ':') + 1;
                if (strncmp(t, target, n) == 0 && (t[n] == ':' || t[n] == '\0'))
                        return true;
        }
        return false;
}

static int add_volume(struct docker_args *a, const char *src, const char *dst, bool ro) {
        char *s;

        if (!sayable(a, src) || !sayable(a, dst))
                return -EINVAL;
        if (has_target(&a->volumes, dst))
                return 0; /* docker refuses two mounts at one path; the plan's first wins */
        if (asprintf(&s, "%s:%s%s", src, dst, ro ? ":ro" : "") < 0)
                return -ENOMEM;
        return strlist_take(&a->volumes, s);
}

static int add_device(struct docker_args *a, const struct edit_node *n) {
        char *s;

        if (!sayable(a, n->source) || !sayable(a, n->target))
                return -EINVAL;
        /* rw as the plan's cgroup rule: docker's default rwm would also allow mknod. */
        if (asprintf(&s, "%s:%s:rw", n->source, n->target) < 0)
                return -ENOMEM;
        return strlist_take(&a->devices, s);
}

static const char *base_name(const char *p) {
        const char *s = strrchr(p, '/');

        return s ? s + 1 : p;
}

/* The name of link L when it sits directly in DIR, else NULL. */
static const char *name_in(const struct edit_link *l, const char *dir) {
        size_t n = strlen(dir);

        if (strncmp(l->path, dir, n) != 0 || l->path[n] != '/' || strchr(l->path + n + 1, '/'))
                return NULL;
        return l->path + n + 1;
}

static const struct edit_link *find_link(const struct edits *e, const char *dir, const char *name) {
        for (size_t i = 0; i < e->n_links; i++) {
                const char *n = name_in(&e->links[i], dir);
                if (n && STREQ(n, name))
                        return &e->links[i];
        }
        return NULL;
}

/* Whether link L leads, through the plan's links in DIR, to the file BASE. */
static bool leads_to(const struct edits *e, const char *dir, const struct edit_link *l,
                     const char *base) {
        const char *t = l->target;

        for (int hops = 0; hops < MAX_LINK_HOPS; hops++) {
                const struct edit_link *next;
                if (STREQ(t, base))
                        return true;
                next = find_link(e, dir, t);
                if (!next)
                        return false;
                t = next->target;
        }
        return false;
}

/* A library under every name the plan links to it (its SONAME, libcuda.so, ...), or under its
 * own name when nothing links to it (its SONAME is its name). */
static int add_library(struct docker_args *a, const struct edits *e, const struct edit_mount *m) {
        const char *base = base_name(m->target),
                   *to = m->kind == EDIT_LIBRARY32 ? LIBDIR32 : LIBDIR64;
        _cleanup_free_ char *dir = strndup(m->target, (size_t) (base - m->target - 1));
        bool named = false;
        int r = 0;

        if (!dir)
                return -ENOMEM;
        for (size_t i = 0; r >= 0 && i < e->n_links; i++) {
                const char *name = name_in(&e->links[i], dir);
                _cleanup_free_ char *dst = NULL;

                if (!name || !leads_to(e, dir, &e->links[i], base))
                        continue;
                dst = path_join(to, name);
                r = dst ? add_volume(a, m->source, dst, true) : -ENOMEM;
                named = true;
        }
        if (r >= 0 && !named) {
                _cleanup_free_ char *dst = path_join(to, base);
                r = dst ? add_volume(a, m->source, dst, true) : -ENOMEM;
        }
        a->has_lib32 |= m->kind == EDIT_LIBRARY32;
        a->has_lib64 |= m->kind == EDIT_LIBRARY;
        return r;
}

static int add_mount(struct docker_args *a, const struct edits *e, const struct edit_mount *m) {
        if (m->kind == EDIT_LIBRARY || m->kind == EDIT_LIBRARY32)
                return add_library(a, e, m);
        if (STREQ(m->target, "/proc") || startswith(m->target, "/proc/"))
                return 0; /* see the help: docker binds nothing there */
        return add_volume(a, m->source, m->target, m->flags & MOUNT_RDONLY);
}

static int add_env(struct docker_args *a) {
        const char *path = a->has_lib64 && a->has_lib32 ? LIBDIR64 ":" LIBDIR32
                           : a->has_lib32               ? LIBDIR32
                                                        : LIBDIR64;
        int r = 0;

        if (a->has_lib64 || a->has_lib32)
                r = strlist_take(&a->env, strjoin3("LD_LIBRARY_PATH", "=", path));
        return r < 0 ? r : strlist_take(&a->env, strdup("NVIDIA_VISIBLE_DEVICES=void"));
}

static int docker_args_build(struct docker_args *a, const struct edits *e) {
        int r = 0;

        for (size_t i = 0; r >= 0 && i < e->n_nodes; i++)
                r = add_device(a, &e->nodes[i]);
        for (size_t i = 0; r >= 0 && i < e->n_mounts; i++)
                r = add_mount(a, e, &e->mounts[i]);
        return r < 0 ? r : add_env(a);
}

static void docker_args_release(struct docker_args *a) {
        strlist_release(&a->devices);
        strlist_release(&a->volumes);
        strlist_release(&a->env);
}

/* Each argument as one word: --device=..., --volume=..., --env=... */
typedef int (*word_fn)(const char *flag, const char *value, void *userdata);

static int each_word(const struct docker_args *a, word_fn fn, void *userdata) {
        const struct {
                const char *flag;
                const struct strlist *l;
        } groups[] = {{"--device=", &a->devices}, {"--volume=", &a->volumes}, {"--env=", &a->env}};
        int r = 0;

        for (size_t g = 0; g < ELEMENTSOF(groups); g++)
                for (size_t i = 0; r >= 0 && i < groups[g].l->n; i++)
                        r = fn(groups[g].flag, groups[g].l->v[i], userdata);
        return r;
}

static int print_shell_word(const char *flag, const char *value, void *userdata) {
        _cleanup_free_ char *word = strjoin3(flag, value, "");
        _cleanup_free_ char *q = word ? shell_quote(word) : NULL;
        bool *first = userdata;

        if (!q)
                return -ENOMEM;
        printf("%s%s", *first ? "" : " ", q);
        *first = false;
        return 0;
}

static int append_json_word(const char *flag, const char *value, void *userdata) {
        _cleanup_free_ char *word = strjoin3(flag, value, "");

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

static int print_yaml_list(const char *key, const struct strlist *l) {
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
