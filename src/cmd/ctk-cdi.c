/* nvidia-ctk cdi generate | list | validate | transform root: flags in, one discovery, the spec
 * from src/cdi/ out (atomically, through conf_file), or spec files read back and checked. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cdi/cdi.h"
#include "cmd/ctk.h"
#include "pipeline/pipeline.h"
#include "util/conffile.h"
#include "util/fileio.h"
#include "util/macros.h"
#include "util/strv.h"

enum {
        OPT_FORMAT = 0x100,
        OPT_MODE,
        OPT_DRIVER_ROOT,
        OPT_DEV_ROOT,
        OPT_PROC_ROOT,
        OPT_STRATEGY,
        OPT_VENDOR,
        OPT_CLASS,
        OPT_HOOK_PATH,
        OPT_LDCONFIG,
        OPT_NO_ALL,
        OPT_DEVICE_ID,
        OPT_DISABLE_HOOK,
        OPT_LIB_PATH,
        OPT_FEATURE,
        OPT_CAPS,
        OPT_SPEC_DIR,
        OPT_FROM,
        OPT_TO,
        OPT_RELATIVE,
        OPT_INPUT,
        OPT_NO_HOST,
        OPT_ENABLE_HOOK,
        OPT_CONFIG_PATH,
};

static int fail(const struct ctk_ctx *c, struct nctk_error *err) {
        cmd_error(&c->out, "%s", err && err->msg ? err->msg : "unknown error");
        nctk_error_free(&err);
        return 1;
}

static int usage_error(const struct ctk_ctx *c, char **argv, const char *cmd) {
        cmd_error(&c->out, "unknown or incomplete option '%s'; see '%s cdi %s --help'",
                  argv[optind - 1], c->out.prog, cmd);
        return 1;
}

/* ---- output -----------------------------------------------------------------------------------
 */

static bool want_json(const char *format, const char *output) {
        if (format)
                return STREQ(format, "json");
        return output && endswith(output, ".json"); /* .yaml, .yml and others: YAML */
}

/* SPEC to OUTPUT (NULL or "-": stdout), replaced atomically. */
static int write_spec(const struct ctk_ctx *c, const json_t *spec, const char *format,
                      const char *output) {
        struct conf_file f = CONF_FILE_INIT;
        struct nctk_error *err = NULL;
        _cleanup_free_ char *data = NULL;
        int r;

        if (format && !STREQ(format, "json") && !STREQ(format, "yaml"))
                return cmd_error(&c->out, "--format '%s': use json or yaml", format), 1;
        if (want_json(format, output)) {
                char *j = json_dumps(spec, JSON_INDENT(2));
                if (j && asprintf(&data, "%s\n", j) < 0)
                        data = NULL;
                free(j);
        } else
                data = cdi_yaml_dump(spec);
        if (!data)
                return cmd_error(&c->out, "out of memory"), 1;
        if (!output || STREQ(output, "-")) {
                fputs(data, stdout);
                return fflush(stdout) == 0 ? 0 : 1;
        }
        r = conf_file_open(&f, output, &err);
        r = r < 0 ? r : conf_file_replace(&f, data, strlen(data), 0644, NULL, &err);
        conf_file_close(&f);
        return r < 0 ? fail(c, err) : 0;
}

/* ---- generate ---------------------------------------------------------------------------------
 */

struct gen_args {
        struct cdi_generate_opts o;
        struct pipeline_opts p;
        const char *output, *format, *mode, *caps;
        /* Lists that a flag replaces when it first appears, rather than adds to the value of
         * the environment variable. */
        bool flag_strategy, flag_hooks, flag_ids;
        unsigned enabled_hooks;
};

static const struct option generate_options[] = {
        {"output", required_argument, NULL, 'o'},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"mode", required_argument, NULL, OPT_MODE},
        {"discovery-mode", required_argument, NULL, OPT_MODE},
        {"driver-root", required_argument, NULL, OPT_DRIVER_ROOT},
        {"dev-root", required_argument, NULL, OPT_DEV_ROOT},
        {"proc-root", required_argument, NULL, OPT_PROC_ROOT},
        {"device-name-strategy", required_argument, NULL, OPT_STRATEGY},
        {"vendor", required_argument, NULL, OPT_VENDOR},
        {"cdi-vendor", required_argument, NULL, OPT_VENDOR},
        {"class", required_argument, NULL, OPT_CLASS},
        {"cdi-class", required_argument, NULL, OPT_CLASS},
        {"nvidia-cdi-hook-path", required_argument, NULL, OPT_HOOK_PATH},
        {"nvidia-ctk-path", required_argument, NULL, OPT_HOOK_PATH},
        {"ldconfig-path", required_argument, NULL, OPT_LDCONFIG},
        {"no-all-device", no_argument, NULL, OPT_NO_ALL},
        {"device-id", required_argument, NULL, OPT_DEVICE_ID},
        {"device-ids", required_argument, NULL, OPT_DEVICE_ID},
        {"device", required_argument, NULL, OPT_DEVICE_ID},
        {"devices", required_argument, NULL, OPT_DEVICE_ID},
        {"enable-hook", required_argument, NULL, OPT_ENABLE_HOOK},
        {"enable-hooks", required_argument, NULL, OPT_ENABLE_HOOK},
        {"config-search-path", required_argument, NULL, OPT_CONFIG_PATH},
        {"disable-hook", required_argument, NULL, OPT_DISABLE_HOOK},
        {"disable-hooks", required_argument, NULL, OPT_DISABLE_HOOK},
        {"library-search-path", required_argument, NULL, OPT_LIB_PATH},
        {"library-search-paths", required_argument, NULL, OPT_LIB_PATH},
        {"feature-flag", required_argument, NULL, OPT_FEATURE},
        {"feature-flags", required_argument, NULL, OPT_FEATURE},
        {"driver-capabilities", required_argument, NULL, OPT_CAPS},
        {"help", no_argument, NULL, 'h'},
        {},
};

static void generate_help(const char *prog) {
        printf("Usage: %s cdi generate [OPTION...]\n"
               "\n"
               "Writes a CDI spec for this host's NVIDIA GPUs, MIG devices and 'all'.\n"
               "\n"
               "  -o, --output FILE              where to write it (default: stdout), atomically\n"
               "      --format json|yaml         default: from FILE's extension, else yaml\n"
               "      --mode auto|nvml|management|imex  (management: one 'all' device with\n"
               "                                 every node, kind management.nvidia.com/gpu;\n"
               "                                 imex: the IMEX channels that exist)\n"
               "      --driver-root PATH         the driver's root (default: /)\n"
               "      --dev-root PATH            root of /dev (default: the driver root)\n"
               "      --proc-root PATH           the kernel's procfs (default: /proc)\n"
               "      --device-name-strategy S   index, uuid or type-index; repeatable\n"
               "                                 (default: index and uuid)\n"
               "      --vendor NAME              default: nvidia.com\n"
               "      --class NAME               default: gpu (imex-channel in imex mode)\n"
               "      --nvidia-cdi-hook-path P   default: /usr/bin/nvidia-cdi-hook\n"
               "      --ldconfig-path P          passed to the update-ldcache hook\n"
               "      --no-all-device            no 'all' device\n"
               "      --device-id ID             only these devices (default: all); repeatable\n"
               "      --disable-hook NAME        create-symlinks, enable-cuda-compat,\n"
               "                                 update-ldcache, "
               "disable-device-node-modification,\n"
               "                                 all; repeatable\n"
               "      --driver-capabilities LIST only these capabilities' libraries and\n"
               "                                 binaries (compute,utility,...; default: all)\n"
               "      --enable-hook NAME         take a hook back from the disabled ones\n"
               "      --feature-flag FLAG        disable-ipc-discoverer (others: no effect)\n"
               "      --library-search-path, --config-search-path  accepted, no effect\n"
               "The options also come from the reference's environment variables\n"
               "(NVIDIA_CTK_CDI_OUTPUT_FILE_PATH, NVIDIA_CTK_CDI_GENERATE_*; docs/cdi.md).\n",
               prog);
}

static int add_strategy(struct gen_args *a, const char *s) {
        _cleanup_free_ char *copy = strdup(s);
        char *save = NULL;

        if (!copy)
                return -ENOMEM;
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                if (STREQ(t, "index"))
                        a->o.strategies |= CDI_NAME_INDEX;
                else if (STREQ(t, "uuid"))
                        a->o.strategies |= CDI_NAME_UUID;
                else if (STREQ(t, "type-index"))
                        a->o.strategies |= CDI_NAME_TYPE_INDEX;
                else
                        return -EINVAL;
        }
        return 0;
}

/* Hooks named by --enable-hook: ours are taken back from the disabled ones after all options
 * are read (enabling wins, as in the reference); others have no effect here. */
static int add_hooks_on(const struct ctk_ctx *c, struct gen_args *a, const char *s) {
        _cleanup_free_ char *copy = strdup(s);
        char *save = NULL;

        if (!copy)
                return -ENOMEM;
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                unsigned h = cdi_hook_parse(strstrip(t));
                if (h == CDI_HOOK_ALL)
                        return -EINVAL;
                if (!h)
                        fprintf(stderr, "%s: warning: hook '%s' is not one nctk writes, ignoring\n",
                                c->out.prog, t);
                a->enabled_hooks |= h;
        }
        return 0;
}

static int add_hooks_off(struct gen_args *a, const char *s) {
        _cleanup_free_ char *copy = strdup(s);
        char *save = NULL;

        if (!copy)
                return -ENOMEM;
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                unsigned h = cdi_hook_parse(strstrip(t));
                if (!h)
                        return -EINVAL;
                a->o.disabled_hooks |= h;
        }
        return 0;
}

/* Repeated --device-id values, joined with commas; kept for the process's life. */
static char *append_list(char *list, const char *item) {
        char *s = NULL;

        if (asprintf(&s, "%s%s%s", list ? list : "", list ? "," : "", item) < 0)
                return list;
        free(list);
        return s;
}

static int feature_flag(const struct ctk_ctx *c, struct gen_args *a, const char *flag) {
        if (STREQ(flag, "disable-ipc-discoverer"))
                a->p.dopts.flags |= NCTK_DISCOVER_NO_PERSISTENCED | NCTK_DISCOVER_NO_FABRICMANAGER |
                                    NCTK_DISCOVER_NO_MPS;
        else
                fprintf(stderr, "%s: warning: feature flag '%s' has no effect in nctk, ignoring\n",
                        c->out.prog, flag);
        return 0;
}

/* A flag's first appearance drops what the environment gave for the same list. */
static void flag_replaces(struct gen_args *a, int opt) {
        if (opt == OPT_STRATEGY && !a->flag_strategy) {
                a->flag_strategy = true;
                a->o.strategies = 0;
        } else if (opt == OPT_DISABLE_HOOK && !a->flag_hooks) {
                a->flag_hooks = true;
                a->o.disabled_hooks = 0;
        } else if (opt == OPT_DEVICE_ID && !a->flag_ids) {
                a->flag_ids = true;
                a->o.device_ids = NULL;
        }
}

static int generate_opt(const struct ctk_ctx *c, struct gen_args *a, int opt, const char *v) {
        static char *ids; /* the joined --device-id values */

        if (opt == OPT_DEVICE_ID && !a->o.device_ids) {
                free(ids);
                ids = NULL;
        }
        switch (opt) {
        case 'o': a->output = v; break;
        case OPT_FORMAT: a->format = v; break;
        case OPT_MODE: a->mode = v; break;
        case OPT_DRIVER_ROOT: a->p.dopts.driver_root = v; break;
        case OPT_DEV_ROOT: a->p.dopts.dev_root = v; break;
        case OPT_PROC_ROOT: a->p.dopts.proc_root = v; break;
        case OPT_STRATEGY:
                if (add_strategy(a, v) < 0)
                        return cmd_error(&c->out,
                                         "--device-name-strategy '%s': use index, uuid "
                                         "or type-index",
                                         v);
                break;
        case OPT_VENDOR: a->o.vendor = v; break;
        case OPT_CLASS: a->o.class_ = v; break;
        case OPT_HOOK_PATH: a->o.hook_path = v; break;
        case OPT_LDCONFIG: a->o.ldconfig_path = v; break;
        case OPT_NO_ALL: a->o.no_all_device = true; break;
        case OPT_DEVICE_ID: a->o.device_ids = ids = append_list(ids, v); break;
        case OPT_DISABLE_HOOK:
                if (add_hooks_off(a, v) < 0)
                        return cmd_error(&c->out,
                                         "--disable-hook '%s': use create-symlinks, "
                                         "enable-cuda-compat, update-ldcache, "
                                         "disable-device-node-modification or all",
                                         v);
                break;
        case OPT_ENABLE_HOOK:
                if (add_hooks_on(c, a, v) < 0)
                        return cmd_error(&c->out,
                                         "--enable-hook '%s': enabling all hooks is not "
                                         "supported; name them",
                                         v);
                break;
        case OPT_CONFIG_PATH:
                fprintf(stderr,
                        "%s: warning: --config-search-path: nctk finds the graphics "
                        "configuration files in the driver root's standard places, "
                        "ignoring\n",
                        c->out.prog);
                break;
        case OPT_LIB_PATH:
                fprintf(stderr,
                        "%s: warning: --library-search-path: nctk finds the driver's "
                        "libraries through the driver root's ld cache, ignoring\n",
                        c->out.prog);
                break;
        case OPT_FEATURE: return feature_flag(c, a, v);
        case OPT_CAPS: a->caps = v; break;
        default: return -1;
        }
        return 0;
}

/* The NVIDIA_CTK_CDI_GENERATE_* variables, read before the flags so that flags win. */
static int generate_env(const struct ctk_ctx *c, struct gen_args *a) {
        static const struct {
                const char *name;
                int opt;
        } vars[] = {
                /* The reference's names (its flag list); the last is ours. */
                {"NVIDIA_CTK_CDI_OUTPUT_FILE_PATH", 'o'},
                {"NVIDIA_CTK_CDI_GENERATE_OUTPUT_FORMAT", OPT_FORMAT},
                {"NVIDIA_CTK_CDI_GENERATE_MODE", OPT_MODE},
                {"NVIDIA_CTK_DRIVER_ROOT", OPT_DRIVER_ROOT},
                {"NVIDIA_CTK_DEV_ROOT", OPT_DEV_ROOT},
                {"NVIDIA_CTK_CDI_GENERATE_DEVICE_NAME_STRATEGIES", OPT_STRATEGY},
                {"NVIDIA_CTK_CDI_GENERATE_VENDOR", OPT_VENDOR},
                {"NVIDIA_CTK_CDI_GENERATE_CLASS", OPT_CLASS},
                {"NVIDIA_CTK_CDI_HOOK_PATH", OPT_HOOK_PATH},
                {"NVIDIA_CTK_CDI_GENERATE_LDCONFIG_PATH", OPT_LDCONFIG},
                {"NVIDIA_CTK_CDI_GENERATE_DEVICE_IDS", OPT_DEVICE_ID},
                {"NVIDIA_CTK_CDI_GENERATE_DISABLED_HOOKS", OPT_DISABLE_HOOK},
                {"NVIDIA_CTK_CDI_GENERATE_ENABLED_HOOKS", OPT_ENABLE_HOOK},
                {"NVIDIA_CTK_CDI_GENERATE_LIBRARY_SEARCH_PATHS", OPT_LIB_PATH},
                {"NVIDIA_CTK_CDI_GENERATE_CONFIG_SEARCH_PATHS", OPT_CONFIG_PATH},
                {"NVIDIA_CTK_CDI_GENERATE_FEATURE_FLAGS", OPT_FEATURE},
                {"NVIDIA_CTK_CDI_GENERATE_DRIVER_CAPABILITIES", OPT_CAPS},
        };

        const char *no_all = getenv("NVIDIA_CTK_CDI_GENERATE_NO_ALL_DEVICE");

        for (size_t i = 0; i < ELEMENTSOF(vars); i++) {
                const char *v = getenv(vars[i].name);

                if (v && *v && generate_opt(c, a, vars[i].opt, v) < 0)
                        return -1;
        }
        if (no_all && (STREQ(no_all, "true") || STREQ(no_all, "1") || STREQ(no_all, "yes")))
                a->o.no_all_device = true;
        return 0;
}

static int parse_generate(const struct ctk_ctx *c, struct gen_args *a, int argc, char **argv) {
        int opt;

        if (generate_env(c, a) < 0)
                return -1;
        optind = 1;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, "+o:h", generate_options, NULL)) != -1) {
                if (opt == 'h') {
                        generate_help(c->out.prog);
                        return 0;
                }
                if (opt == '?' || opt == ':')
                        return usage_error(c, argv, "generate"), -1;
                flag_replaces(a, opt);
                if (generate_opt(c, a, opt, optarg) < 0)
                        return -1;
        }
        if (optind < argc)
                return cmd_error(&c->out, "unexpected argument '%s'; see '%s cdi generate --help'",
                                 argv[optind], c->out.prog);
        return 1;
}

static int set_mode(const struct ctk_ctx *c, struct gen_args *a) {
        const char *m = a->mode ? a->mode : "auto";

        if (STREQ(m, "auto") || STREQ(m, "nvml"))
                a->o.mode = CDI_MODE_NVML;
        else if (STREQ(m, "management"))
                a->o.mode = CDI_MODE_MANAGEMENT;
        else if (STREQ(m, "imex"))
                a->o.mode = CDI_MODE_IMEX;
        else
                return cmd_error(&c->out,
                                 "--mode '%s': nctk generates auto, nvml, management and "
                                 "imex specs (wsl, csv, gds, mofed, gdrcopy, nvswitch "
                                 "are not supported)",
                                 m);
        if (!a->o.vendor)
                a->o.vendor =
                        a->o.mode == CDI_MODE_MANAGEMENT ? "management.nvidia.com" : "nvidia.com";
        if (!a->o.class_)
                a->o.class_ = a->o.mode == CDI_MODE_IMEX ? "imex-channel" : "gpu";
        return 0;
}

/* The IMEX channels under the dev root, for discovery to look up. */
static int imex_channels(const struct gen_args *a, unsigned **ret, size_t *ret_n) {
        const char *root = a->p.dopts.dev_root      ? a->p.dopts.dev_root
                           : a->p.dopts.driver_root ? a->p.dopts.driver_root
                                                    : "/";
        _cleanup_free_ char *dir = path_join(root, "/dev/nvidia-caps-imex-channels");
        _cleanup_closedir_ DIR *d = dir ? opendir(dir) : NULL;
        _cleanup_free_ unsigned *v = NULL;
        size_t n = 0;
        struct dirent *de;

        while (d && (de = readdir(d))) {
                char *end;
                unsigned long ch;
                unsigned *slot;
                if (!startswith(de->d_name, "channel"))
                        continue;
                ch = strtoul(de->d_name + 7, &end, 10);
                if (*end || end == de->d_name + 7 || ch >= (1ul << 20))
                        continue;
                slot = ARRAY_PUSH(v, n);
                if (!slot)
                        return -ENOMEM;
                *slot = (unsigned) ch;
        }
        *ret = TAKE_PTR(v);
        *ret_n = n;
        return 0;
}

static int cmp_unsigned(const void *x, const void *y) {
        unsigned a = *(const unsigned *) x, b = *(const unsigned *) y;

        return (a > b) - (a < b);
}

static int cdi_generate_main(const struct ctk_ctx *c, int argc, char **argv) {
        struct gen_args a = {.o = {.hook_path = "/usr/bin/nvidia-cdi-hook", .caps = NCTK_CAP_ALL}};
        struct nctk_inventory *inv = NULL;
        struct nctk_error *err = NULL;
        _cleanup_free_ unsigned *imex = NULL;
        json_t *spec = NULL;
        int r;

        pipeline_opts_init(&a.p);
        a.p.dopts.flags |= NCTK_DISCOVER_CACHE;
        r = parse_generate(c, &a, argc, argv);
        if (r <= 0)
                return r == 0 ? 0 : 1;
        if (set_mode(c, &a) < 0)
                return 1;
        a.o.disabled_hooks &= ~a.enabled_hooks;
        if (a.caps && nctk_caps_parse(a.caps, &a.o.caps, &err) < 0)
                return fail(c, err);
        if (a.o.hook_path[0] != '/')
                return cmd_error(&c->out, "--nvidia-cdi-hook-path '%s' must be absolute",
                                 a.o.hook_path),
                       1;
        if (a.o.mode == CDI_MODE_IMEX) {
                if (imex_channels(&a, &imex, &a.o.n_imex) < 0)
                        return cmd_error(&c->out, "out of memory"), 1;
                qsort(imex, a.o.n_imex, sizeof(*imex), cmp_unsigned);
                a.o.imex = imex;
                a.p.dopts.imex_channels = imex;
                a.p.dopts.n_imex_channels = a.o.n_imex;
        }
        r = nctk_discover(&a.p.dopts, &inv, &err);
        r = r < 0 ? r : cdi_generate(inv, &a.o, &spec, &err);
        nctk_inventory_free(inv);
        if (r < 0)
                return fail(c, err);
        r = write_spec(c, spec, a.format, a.output);
        json_decref(spec);
        return r;
}

/* ---- list and validate ------------------------------------------------------------------------
 */

static const char *const default_dirs[] = {"/etc/cdi", "/var/run/cdi"};

static bool is_spec_name(const char *name) {
        return name[0] != '.' &&
               (endswith(name, ".json") || endswith(name, ".yaml") || endswith(name, ".yml"));
}

static int cmp_names(const void *x, const void *y) {
        return strcmp(*(char *const *) x, *(char *const *) y);
}

/* The spec files of DIR in name order; a missing directory has none. */
static int dir_specs(const char *dir, char ***ret, size_t *ret_n) {
        _cleanup_closedir_ DIR *d = opendir(dir);
        char **v = NULL;
        size_t n = 0;
        struct dirent *de;

        while (d && (de = readdir(d))) {
                char **slot;
                if (!is_spec_name(de->d_name))
                        continue;
                slot = ARRAY_PUSH(v, n);
                if (!slot || !(*slot = path_join(dir, de->d_name)))
                        return -ENOMEM;
        }
        if (n)
                qsort(v, n, sizeof(*v), cmp_names);
        *ret = v;
        *ret_n = n;
        return 0;
}

static void free_names(char **v, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

static void print_names(const json_t *spec) {
        const char *kind = json_string_value(json_object_get(spec, "kind"));
        size_t i;
        json_t *d;

        json_array_foreach(json_object_get(spec, "devices"), i, d) {
                const char *name = json_string_value(json_object_get(d, "name"));
                if (kind && name)
                        printf("%s=%s\n", kind, name);
        }
}

static int parse_dirs(const struct ctk_ctx *c, int argc, char **argv, const char *cmd,
                      const struct option *opts, const char ***dirs, size_t *n_dirs,
                      const char **proc_root, bool *no_host) {
        int opt;

        optind = 1;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
                switch (opt) {
                case OPT_SPEC_DIR: {
                        const char **slot = ARRAY_PUSH(*dirs, *n_dirs);
                        if (!slot)
                                return cmd_error(&c->out, "out of memory");
                        *slot = optarg;
                        break;
                }
                case OPT_PROC_ROOT: *proc_root = optarg; break;
                case OPT_NO_HOST: *no_host = true; break;
                case 'h':
                        printf("Usage: %s cdi %s [--spec-dir DIR]...%s\n", c->out.prog, cmd,
                               STREQ(cmd, "list") ? ""
                                                  : " [--proc-root DIR] [--no-host-checks] "
                                                    "[FILE...]");
                        return 0;
                default: return usage_error(c, argv, cmd), -1;
                }
        }
        return 1;
}

static const struct option list_options[] = {
        {"spec-dir", required_argument, NULL, OPT_SPEC_DIR},
        {"help", no_argument, NULL, 'h'},
        {},
};

static int cdi_list_main(const struct ctk_ctx *c, int argc, char **argv) {
        _cleanup_free_ const char **dirs = NULL;
        const char *proc = NULL;
        size_t n_dirs = 0;
        bool no_host = false;
        int r = parse_dirs(c, argc, argv, "list", list_options, &dirs, &n_dirs, &proc, &no_host);
        int status = 0;

        if (r <= 0)
                return r == 0 ? 0 : 1;
        if (optind < argc)
                return cmd_error(&c->out, "unexpected argument '%s'", argv[optind]), 1;
        for (size_t k = 0; k < (n_dirs ? n_dirs : ELEMENTSOF(default_dirs)); k++) {
                char **files = NULL;
                size_t n = 0;

                if (dir_specs(n_dirs ? dirs[k] : default_dirs[k], &files, &n) < 0)
                        return cmd_error(&c->out, "out of memory"), 1;
                for (size_t i = 0; i < n; i++) {
                        struct nctk_error *err = NULL;
                        json_t *spec = NULL;
                        if (cdi_spec_load(files[i], &spec, &err) < 0) {
                                status = fail(c, err);
                                continue;
                        }
                        print_names(spec);
                        json_decref(spec);
                }
                free_names(files, n);
        }
        return status;
}

struct report {
        const struct ctk_ctx *c;
        const char *file;
};

static void report_line(const char *problem, void *userdata) {
        const struct report *rep = userdata;

        printf("%s: %s\n", rep->file, problem);
}

/* The running driver's version from PROC/driver/nvidia/version ("... Kernel Module  580.159.04
 * ..."), or "" when no driver is loaded. */
static void driver_version(const char *proc, char ret[NCTK_VERSION_MAX]) {
        _cleanup_free_ char *path = path_join(proc, "driver/nvidia/version"), *data = NULL;
        _cleanup_close_ int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
        size_t len;
        const char *p;

        ret[0] = '\0';
        if (fd < 0 || read_full_fd(fd, 1u << 16, &data, &len) < 0)
                return;
        p = strstr(data, "Kernel Module");
        if (!p)
                return;
        p += strlen("Kernel Module");
        if (!strncmp(p, " for x86_64", 11) || !strncmp(p, " for aarch64", 12))
                p = strchr(p + 5, ' ');
        while (p && *p == ' ')
                p++;
        if (p)
                snprintf(ret, NCTK_VERSION_MAX, "%.*s", (int) strcspn(p, " \n\t"), p);
}

static int validate_file(const struct ctk_ctx *c, const char *file, const char *version,
                         bool no_host) {
        struct report rep = {.c = c, .file = file};
        struct nctk_error *err = NULL;
        json_t *spec = NULL;
        int n;

        if (cdi_spec_load(file, &spec, &err) < 0) {
                printf("%s\n", err->msg);
                nctk_error_free(&err);
                return 1;
        }
        n = cdi_check_schema(spec, report_line, &rep);
        if (!no_host)
                n += cdi_check_host(spec, version[0] ? version : NULL, report_line, &rep);
        json_decref(spec);
        return n;
}

static const struct option validate_options[] = {
        {"spec-dir", required_argument, NULL, OPT_SPEC_DIR},
        {"proc-root", required_argument, NULL, OPT_PROC_ROOT},
        {"no-host-checks", no_argument, NULL, OPT_NO_HOST},
        {"help", no_argument, NULL, 'h'},
        {},
};

static int cdi_validate_main(const struct ctk_ctx *c, int argc, char **argv) {
        _cleanup_free_ const char **dirs = NULL;
        const char *proc = "/proc";
        char version[NCTK_VERSION_MAX];
        size_t n_dirs = 0;
        bool no_host = false;
        int problems = 0, r;

        r = parse_dirs(c, argc, argv, "validate", validate_options, &dirs, &n_dirs, &proc,
                       &no_host);
        if (r <= 0)
                return r == 0 ? 0 : 1;
        driver_version(proc, version);
        for (int i = optind; i < argc; i++)
                problems += validate_file(c, argv[i], version, no_host);
        for (size_t k = 0; optind == argc && k < (n_dirs ? n_dirs : ELEMENTSOF(default_dirs));
             k++) {
                char **files = NULL;
                size_t n = 0;
                if (dir_specs(n_dirs ? dirs[k] : default_dirs[k], &files, &n) < 0)
                        return cmd_error(&c->out, "out of memory"), 1;
                for (size_t i = 0; i < n; i++)
                        problems += validate_file(c, files[i], version, no_host);
                free_names(files, n);
        }
        return problems ? 1 : 0;
}

/* ---- transform root ---------------------------------------------------------------------------
 */

static const struct option transform_options[] = {
        {"from", required_argument, NULL, OPT_FROM},
        {"to", required_argument, NULL, OPT_TO},
        {"relative-to", required_argument, NULL, OPT_RELATIVE},
        {"input", required_argument, NULL, OPT_INPUT},
        {"output", required_argument, NULL, 'o'},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"help", no_argument, NULL, 'h'},
        {},
};

static int load_input(const char *input, json_t **ret, struct nctk_error **err) {
        _cleanup_free_ char *data = NULL;
        size_t len;
        int r;

        if (input && !STREQ(input, "-"))
                return cdi_spec_load(input, ret, err);
        r = read_full_fd(STDIN_FILENO, 16u << 20, &data, &len);
        if (r < 0)
                return nctk_error_set(err, -r, "cannot read the spec from stdin: %s", strerror(-r));
        if (len && data[strspn(data, " \t\r\n")] == '{') {
                json_error_t je;
                *ret = json_loadb(data, len, 0, &je);
                return *ret ? 0
                            : nctk_error_set(err, EINVAL, "stdin: line %d: %s", je.line, je.text);
        }
        return cdi_yaml_parse(data, len, "stdin", ret, err);
}

static int cdi_transform_main(const struct ctk_ctx *c, int argc, char **argv) {
        const char *from = NULL, *to = NULL, *rel = "host", *input = NULL, *output = NULL,
                   *format = NULL;
        struct nctk_error *err = NULL;
        json_t *spec = NULL;
        int opt, r;

        if (argc < 2 || !STREQ(argv[1], "root"))
                return cmd_error(&c->out,
                                 "usage: %s cdi transform root --from A --to B "
                                 "[--relative-to host|container] [--input F] "
                                 "[--output F]",
                                 c->out.prog),
                       1;
        argc--;
        argv++;
        optind = 1;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, "+o:h", transform_options, NULL)) != -1) {
                switch (opt) {
                case OPT_FROM: from = optarg; break;
                case OPT_TO: to = optarg; break;
                case OPT_RELATIVE: rel = optarg; break;
                case OPT_INPUT: input = optarg; break;
                case 'o': output = optarg; break;
                case OPT_FORMAT: format = optarg; break;
                case 'h':
                        printf("Usage: %s cdi transform root --from A --to B [--relative-to "
                               "host|container] [--input FILE|-] [--output FILE] [--format "
                               "json|yaml]\n",
                               c->out.prog);
                        return 0;
                default: return usage_error(c, argv, "transform root");
                }
        }
        if (!from || !to)
                return cmd_error(&c->out, "transform root needs --from and --to"), 1;
        if (!STREQ(rel, "host") && !STREQ(rel, "container"))
                return cmd_error(&c->out, "--relative-to '%s': use host or container", rel), 1;
        r = load_input(input, &spec, &err);
        r = r < 0 ? r : cdi_transform_root(spec, from, to, STREQ(rel, "container"), &err);
        if (r < 0) {
                json_decref(spec);
                return fail(c, err);
        }
        /* Without --format, the output's extension, else the input's. */
        if (!format && !(output && (endswith(output, ".json") || endswith(output, ".yaml"))) &&
            input && endswith(input, ".json"))
                format = "json";
        r = write_spec(c, spec, format, output);
        json_decref(spec);
        return r;
}

/* ---- the group --------------------------------------------------------------------------------
 */

static void cdi_help(FILE *f, const char *prog) {
        fprintf(f,
                "Usage: %s cdi generate|list|validate|transform root [OPTION...]\n"
                "\n"
                "  generate        write a CDI spec for this host's GPUs\n"
                "  list            the device names of the spec files in the spec dirs\n"
                "  validate        check spec files against the CDI rules and this host\n"
                "  transform root  move a spec's paths to another root\n"
                "\n"
                "'%s cdi COMMAND --help' tells more.\n",
                prog, prog);
}

int ctk_cdi_main(struct ctk_ctx *c, int argc, char **argv) {
        if (argc < 2) {
                cdi_help(stderr, c->out.prog);
                return 1;
        }
        if (STREQ(argv[1], "generate"))
                return cdi_generate_main(c, argc - 1, argv + 1);
        if (STREQ(argv[1], "list"))
                return cdi_list_main(c, argc - 1, argv + 1);
        if (STREQ(argv[1], "validate"))
                return cdi_validate_main(c, argc - 1, argv + 1);
        if (STREQ(argv[1], "transform"))
                return cdi_transform_main(c, argc - 1, argv + 1);
        if (STREQ(argv[1], "--help") || STREQ(argv[1], "-h")) {
                cdi_help(stdout, c->out.prog);
                return 0;
        }
        return cmd_error(&c->out, "unknown command 'cdi %s'; see '%s cdi --help'", argv[1],
                         c->out.prog),
               1;
}
