/* nvidia-ctk config [default]: prints config.toml (or the defaults) with --set changes, writes
 * it back in place, or writes the commented default file. Changes are made in the file's text
 * (toml-edit.h), so every comment and every other key stays as it was, and the result must load
 * (config_load_data) before anything is written. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/ctk.h"
#include "config/config-default.h"
#include "config/config.h"
#include "config/toml-edit.h"
#include "config/toml.h"
#include "util/conffile.h"
#include "util/macros.h"
#include "util/strv.h"

enum { OPT_SEPARATOR = 0x100 };

struct config_args {
        const char *file;      /* -c: the file to read, NULL: the default path */
        const char *output;    /* -o */
        const char *separator; /* of list values in --set */
        bool in_place;
        const char **sets; /* --set arguments, borrowed from argv */
        size_t n_sets;
};

static void config_help(FILE *f, const char *prog) {
        fprintf(f,
                "Usage: %s config [OPTION...]\n"
                "       %s config default [--output FILE]\n"
                "\n"
                "Prints config.toml (the defaults when it does not exist) with the changes of\n"
                "--set applied; comments and other keys are kept as they are.\n"
                "\n"
                "  -c, --config-file FILE     the file (default: $NVIDIA_CTK_CONFIG_FILE_PATH or\n"
                "                             /etc/nvidia-container-runtime/config.toml)\n"
                "      --set KEY[=VALUE]      set a key (repeatable); KEY alone sets a boolean to\n"
                "                             true; a list value is split at the separator\n"
                "      --set-list-separator SEP   (default: ':')\n"
                "  -i, --in-place             write the result back to the file\n"
                "  -o, --output FILE          write the result to FILE\n"
                "\n"
                "'config default' (also create-default, generate-default) writes a config.toml\n"
                "with every key, its default and a comment on what it does.\n",
                prog, prog);
}

static int fail(const struct ctk_ctx *c, struct nctk_error **err) {
        cmd_error(&c->out, "%s", *err && (*err)->msg ? (*err)->msg : "out of memory");
        nctk_error_free(err);
        return -1;
}

static bool same_bytes(const struct conf_file *f, const char *text, size_t len) {
        return f->exists && f->len == len && memcmp(f->data, text, len) == 0;
}

/* Writes DATA to PATH through conf_file: locked, atomic, mode and owner of an old file kept. */
static int write_file(const struct ctk_ctx *c, const char *path, const char *data, size_t len) {
        struct conf_file f = CONF_FILE_INIT;
        struct nctk_error *err = NULL;
        int r;

        r = conf_file_open(&f, path, &err);
        if (r >= 0 && !same_bytes(&f, data, len))
                r = conf_file_replace(&f, data, len, 0644, NULL, &err);
        conf_file_close(&f);
        return r < 0 ? fail(c, &err) : 0;
}

static int default_main(struct ctk_ctx *c, int argc, char **argv) {
        static const struct option options[] = {
                {"output", required_argument, NULL, 'o'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        _cleanup_free_ char *text = NULL;
        struct nctk_error *err = NULL;
        const char *output = NULL;
        size_t len;
        int opt;

        optind = 1;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, "+o:h", options, NULL)) != -1) {
                if (opt == 'o')
                        output = optarg;
                else if (opt == 'h') {
                        config_help(stdout, c->out.prog);
                        return 0;
                } else
                        return -cmd_error(
                                &c->out,
                                "unknown or incomplete option '%s'; see '%s config --help'",
                                argv[optind - 1], c->out.prog);
        }
        if (optind < argc)
                return -cmd_error(&c->out, "unexpected argument '%s'", argv[optind]);
        if (config_default_text(&text, &len, &err) < 0)
                return -fail(c, &err);
        if (output)
                return -write_file(c, output, text, len);
        fwrite(text, 1, len, stdout);
        return fflush(stdout) == 0 ? 0 : -cmd_error(&c->out, "cannot write the output: %m");
}

/* strconv.ParseBool's words, as the reference accepts them. */
static int parse_bool(const char *s) {
        static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
        static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};

        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (STREQ(s, yes[i]))
                        return 1;
                if (STREQ(s, no[i]))
                        return 0;
        }
        return -EINVAL;
}

/* VALUE split at SEP as a TOML array of strings; an empty VALUE is the empty list. */
static int list_text(const char *value, const char *sep, char **ret) {
        _cleanup_free_ char *copy = strdup(value);
        char *buf = NULL, *q, *p = copy;
        size_t len = 0;
        FILE *out;
        int r = 0;

        if (!copy || !(out = open_memstream(&buf, &len)))
                return -ENOMEM;
        fputc('[', out);
        for (size_t i = 0; r >= 0 && *value; i++) {
                char *end = strstr(p, sep);
                if (end)
                        *end = '\0';
                r = toml_quote_string(p, &q);
                if (r >= 0)
                        fprintf(out, "%s%s", i ? ", " : "", q);
                free(r >= 0 ? q : NULL);
                if (!end)
                        break;
                p = end + strlen(sep);
        }
        fputc(']', out);
        if (fclose(out) != 0 && r >= 0)
                r = -ENOMEM;
        if (r < 0) {
                free(buf);
                return r;
        }
        *ret = buf;
        return 0;
}

/* The TOML text --set writes for KEY; prints its own error. */
static int set_value_text(const struct ctk_ctx *c, const char *arg, const struct config_key *k,
                          const char *value, const char *sep, char **ret) {
        int r;

        if (k->kind == CONFIG_KEY_BOOL) {
                r = value ? parse_bool(value) : 1;
                if (r < 0)
                        return cmd_error(&c->out, "--set '%s': '%s' takes true or false, not '%s'",
                                         arg, k->path, value);
                return (*ret = strdup(r ? "true" : "false")) ? 0
                                                             : cmd_error(&c->out, "out of memory");
        }
        if (!value)
                return cmd_error(&c->out, "--set '%s': '%s' takes a %s; write %s=VALUE", arg,
                                 k->path, k->kind == CONFIG_KEY_STRING ? "string" : "list",
                                 k->path);
        r = k->kind == CONFIG_KEY_STRING ? toml_quote_string(value, ret)
                                         : list_text(value, sep, ret);
        if (r == -EINVAL)
                return cmd_error(&c->out, "--set %s=...: the value is not UTF-8 text", k->path);
        return r < 0 ? cmd_error(&c->out, "out of memory") : 0;
}

static int apply_set(const struct ctk_ctx *c, struct toml_edit *e, const char *arg,
                     const char *sep) {
        const char *eq = strchr(arg, '=');
        _cleanup_free_ char *key = strndup(arg, eq ? (size_t) (eq - arg) : strlen(arg));
        _cleanup_free_ char *value = NULL, *table = NULL;
        struct nctk_error *err = NULL;
        const struct config_key *k;
        char **path = NULL;
        const char *dot;
        size_t n = 0;
        int r;

        if (!key)
                return cmd_error(&c->out, "out of memory");
        k = config_key_find(strstrip(key));
        if (!k)
                return cmd_error(&c->out,
                                 "--set '%s': unknown key '%s'; 'nvidia-ctk config default' lists "
                                 "the keys",
                                 arg, key);
        if (set_value_text(c, arg, k, eq ? eq + 1 : NULL, sep, &value) < 0)
                return -1;
        dot = strrchr(k->path, '.');
        table = dot ? strndup(k->path, (size_t) (dot - k->path)) : NULL;
        if (dot && (!table || toml_path_parse(table, &path, &n, &err) < 0))
                return err ? fail(c, &err) : cmd_error(&c->out, "out of memory");
        r = toml_edit_set(e, (const char *const *) path, n, dot ? dot + 1 : k->path, value, &err);
        toml_strv_free(path);
        return r < 0 ? fail(c, &err) : 0;
}

static int parse_args(struct ctk_ctx *c, int argc, char **argv, struct config_args *a) {
        static const struct option options[] = {
                {"config-file", required_argument, NULL, 'c'},
                {"set", required_argument, NULL, 's'},
                {"set-list-separator", required_argument, NULL, OPT_SEPARATOR},
                {"in-place", no_argument, NULL, 'i'},
                {"output", required_argument, NULL, 'o'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        int opt;

        optind = 1;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, "+c:io:h", options, NULL)) != -1) {
                switch (opt) {
                case 'c': a->file = optarg; break;
                case 's': a->sets[a->n_sets++] = optarg; break;
                case OPT_SEPARATOR: a->separator = optarg; break;
                case 'i': a->in_place = true; break;
                case 'o': a->output = optarg; break;
                case 'h': config_help(stdout, c->out.prog); return 0;
                default:
                        return cmd_error(
                                &c->out,
                                "unknown or incomplete option '%s'; see '%s config --help'",
                                argv[optind - 1], c->out.prog);
                }
        }
        if (optind < argc)
                return cmd_error(&c->out, "unknown command 'config %s'; see '%s config --help'",
                                 argv[optind], c->out.prog);
        if (a->in_place && a->output)
                return cmd_error(&c->out, "--in-place and --output exclude each other");
        if (!*a->separator)
                return cmd_error(&c->out, "--set-list-separator must not be empty");
        return 1;
}

/* The text to start from: the file, or the default text when there is no file (nor, unless it
 * is to be written, its directory). F stays open (and locked) for --in-place. */
static int read_config(const struct ctk_ctx *c, const struct config_args *a, const char *path,
                       struct conf_file *f, struct toml_edit **ret) {
        _cleanup_free_ char *def = NULL;
        struct nctk_error *err = NULL;
        const char *text;
        size_t len;
        int r;

        r = conf_file_open(f, path, &err);
        if (r == -ENOENT && !a->in_place)
                nctk_error_free(&err);
        else if (r < 0)
                return fail(c, &err);
        if (f->exists) {
                text = f->data;
                len = f->len;
        } else {
                if (config_default_text(&def, &len, &err) < 0)
                        return fail(c, &err);
                text = def;
        }
        return toml_edit_new(path, text, len, ret, &err) < 0 ? fail(c, &err) : 0;
}

/* The --set changes, then the check that the hook and the runtime can load the result, before
 * it is written anywhere. */
static int edit(const struct ctk_ctx *c, const struct config_args *a, const char *path,
                struct toml_edit *e) {
        struct nctk_config *cfg = NULL;
        struct nctk_error *err = NULL;
        const char *text;
        size_t len;

        for (size_t i = 0; i < a->n_sets; i++)
                if (apply_set(c, e, a->sets[i], a->separator) < 0)
                        return -1;
        text = toml_edit_text(e, &len);
        if (config_load_data(path, text, len, &cfg, &err) < 0)
                return fail(c, &err);
        config_free(cfg);
        return 0;
}

static int edit_main(struct ctk_ctx *c, int argc, char **argv) {
        _cleanup_free_ const char **sets = calloc((size_t) argc, sizeof(*sets));
        struct config_args a = {.separator = ":", .sets = sets};
        _cleanup_(toml_edit_freep) struct toml_edit *e = NULL;
        _cleanup_(conf_file_close) struct conf_file f = CONF_FILE_INIT;
        _cleanup_free_ char *path = NULL;
        struct nctk_error *err = NULL;
        const char *text;
        size_t len;
        int r;

        if (!sets)
                return -cmd_error(&c->out, "out of memory");
        r = parse_args(c, argc, argv, &a);
        if (r <= 0)
                return -r;
        path = a.file ? strdup(a.file) : c->config ? strdup(c->config) : config_path();
        if (!path)
                return -cmd_error(&c->out, "out of memory");
        if (read_config(c, &a, path, &f, &e) < 0 || edit(c, &a, path, e) < 0)
                return 1;
        text = toml_edit_text(e, &len);
        if (a.in_place) {
                if (!same_bytes(&f, text, len) &&
                    conf_file_replace(&f, text, len, 0644, NULL, &err) < 0)
                        return -fail(c, &err);
                return 0;
        }
        /* The input's lock is not needed any more, and -o may name a file in its directory,
         * which conf_file would lock again. */
        conf_file_close(&f);
        if (a.output)
                return -write_file(c, a.output, text, len);
        fwrite(text, 1, len, stdout);
        return fflush(stdout) == 0 ? 0 : -cmd_error(&c->out, "cannot write the output: %m");
}

int ctk_config_main(struct ctk_ctx *c, int argc, char **argv) {
        if (argc >= 2 && (STREQ(argv[1], "default") || STREQ(argv[1], "create-default") ||
                          STREQ(argv[1], "generate-default")))
                return default_main(c, argc - 1, argv + 1);
        return edit_main(c, argc, argv);
}
