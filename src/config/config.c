/* config.toml: the reference toolkit's defaults, then the file's values over them. The key table
 * below is the whole mapping between the file and struct nctk_config; loading, freeing and the
 * check for unknown keys all walk it. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config/config.h"
#include "config/toml.h"
#include "util/log.h"
#include "util/macros.h"
#include "util/strv.h"

#define RELATIVE_PATH "nvidia-container-runtime/config.toml"

#define CFG(field) offsetof(struct nctk_config, field)
#define CLI "nvidia-container-cli."
#define RT "nvidia-container-runtime."
#define FEAT "features."

static const struct config_key key_map[] = {
        {"disable-require", CONFIG_KEY_BOOL, CFG(disable_require)},
        {"swarm-resource", CONFIG_KEY_STRING, CFG(swarm_resource)},
        {"accept-nvidia-visible-devices-envvar-when-unprivileged", CONFIG_KEY_BOOL,
         CFG(accept_envvar_when_unprivileged)},
        {"accept-nvidia-visible-devices-as-volume-mounts", CONFIG_KEY_BOOL,
         CFG(accept_volume_mounts)},
        {"supported-driver-capabilities", CONFIG_KEY_STRING, CFG(supported_driver_capabilities)},

        {CLI "root", CONFIG_KEY_STRING, CFG(cli.root)},
        {CLI "path", CONFIG_KEY_STRING, CFG(cli.path)},
        {CLI "environment", CONFIG_KEY_STRV, CFG(cli.environment)},
        {CLI "debug", CONFIG_KEY_STRING, CFG(cli.debug)},
        {CLI "ldcache", CONFIG_KEY_STRING, CFG(cli.ldcache)},
        {CLI "proc-root", CONFIG_KEY_STRING, CFG(cli.proc_root)},
        {CLI "mps-root", CONFIG_KEY_STRING, CFG(cli.mps_root)},
        {CLI "load-kmods", CONFIG_KEY_BOOL, CFG(cli.load_kmods)},
        {CLI "no-pivot", CONFIG_KEY_BOOL, CFG(cli.no_pivot)},
        {CLI "no-cgroups", CONFIG_KEY_BOOL, CFG(cli.no_cgroups)},
        {CLI "user", CONFIG_KEY_STRING, CFG(cli.user)},
        {CLI "ldconfig", CONFIG_KEY_STRING, CFG(cli.ldconfig)},

        {RT "debug", CONFIG_KEY_STRING, CFG(runtime.debug)},
        {RT "log-level", CONFIG_KEY_STRING, CFG(runtime.log_level)},
        {RT "runtimes", CONFIG_KEY_STRV, CFG(runtime.runtimes)},
        {RT "mode", CONFIG_KEY_STRING, CFG(runtime.mode)},
        {RT "mount-in-hook", CONFIG_KEY_STRING, CFG(runtime.mount_in_hook)},
        {RT "modes.cdi.spec-dirs", CONFIG_KEY_STRV, CFG(runtime.cdi_spec_dirs)},
        {RT "modes.cdi.default-kind", CONFIG_KEY_STRING, CFG(runtime.cdi_default_kind)},
        {RT "modes.cdi.annotation-prefixes", CONFIG_KEY_STRV, CFG(runtime.cdi_annotation_prefixes)},
        {RT "modes.csv.mount-spec-path", CONFIG_KEY_STRING, CFG(runtime.csv_mount_spec_path)},
        {RT "modes.csv.compat-container-root", CONFIG_KEY_STRING,
         CFG(runtime.csv_compat_container_root)},
        {RT "modes.jit-cdi.nvcdi-feature-flags", CONFIG_KEY_STRV,
         CFG(runtime.jit_cdi_feature_flags)},
        {RT "modes.jit-cdi.nvcdi-disable-hooks", CONFIG_KEY_STRV,
         CFG(runtime.jit_cdi_disable_hooks)},
        {RT "modes.legacy.cuda-compat-mode", CONFIG_KEY_STRING,
         CFG(runtime.legacy_cuda_compat_mode)},

        {"nvidia-container-runtime-hook.path", CONFIG_KEY_STRING, CFG(hook.path)},
        {"nvidia-container-runtime-hook.skip-mode-detection", CONFIG_KEY_BOOL,
         CFG(hook.skip_mode_detection)},
        {"nvidia-ctk.path", CONFIG_KEY_STRING, CFG(ctk.path)},

        {FEAT "allow-cuda-compat-libs-from-container", CONFIG_KEY_BOOL,
         CFG(features.allow_cuda_compat_libs_from_container)},
        {FEAT "allow-ldconfig-from-container", CONFIG_KEY_BOOL,
         CFG(features.allow_ldconfig_from_container)},
        {FEAT "allow-unknown-oci-spec-fields", CONFIG_KEY_BOOL,
         CFG(features.allow_unknown_oci_spec_fields)},
        {FEAT "disable-cuda-compat-lib-hook", CONFIG_KEY_BOOL,
         CFG(features.disable_cuda_compat_lib_hook)},
        {FEAT "disable-imex-channel-creation", CONFIG_KEY_BOOL,
         CFG(features.disable_imex_channel_creation)},
        {FEAT "ignore-imex-channel-requests", CONFIG_KEY_BOOL,
         CFG(features.ignore_imex_channel_requests)},
        {FEAT "no-additional-gids-for-device-nodes", CONFIG_KEY_BOOL,
         CFG(features.no_additional_gids_for_device_nodes)},
};

static const char *const known_tables[] = {
        "nvidia-container-cli",
        "nvidia-container-runtime",
        "nvidia-container-runtime.modes",
        "nvidia-container-runtime.modes.cdi",
        "nvidia-container-runtime.modes.csv",
        "nvidia-container-runtime.modes.jit-cdi",
        "nvidia-container-runtime.modes.legacy",
        "nvidia-container-runtime-hook",
        "nvidia-ctk",
        "features",
};

/* Defaults of GetDefault() in the reference's api/config/v1/config.go; the ldconfig and user
 * defaults depend on the host and are set apart. Fields left out here default to NULL. */
static const struct {
        size_t offset;
        const char *value;
} default_strings[] = {
        {CFG(swarm_resource), ""},
        {CFG(supported_driver_capabilities), "compat32,compute,display,graphics,ngx,utility,video"},
        {CFG(cli.root), ""},
        {CFG(cli.path), ""},
        {CFG(cli.debug), ""},
        {CFG(cli.ldcache), ""},
        {CFG(runtime.debug), "/dev/null"},
        {CFG(runtime.log_level), "info"},
        {CFG(runtime.mode), "auto"},
        {CFG(runtime.cdi_default_kind), "nvidia.com/gpu"},
        {CFG(runtime.csv_mount_spec_path),
         "/etc/nvidia-container-runtime/host-files-for-container.d"},
        {CFG(runtime.legacy_cuda_compat_mode), "ldconfig"},
        {CFG(hook.path), "nvidia-container-runtime-hook"},
        {CFG(ctk.path), "nvidia-ctk"},
};

static const char *const default_runtimes[] = {"runc", "crun", NULL};
static const char *const default_spec_dirs[] = {"/etc/cdi", "/var/run/cdi", NULL};
static const char *const default_annotation_prefixes[] = {"cdi.k8s.io/", NULL};
static const char *const empty_strv[] = {NULL};

static void *field(struct nctk_config *c, size_t offset) {
        return (char *) c + offset;
}

const struct config_key *config_keys(size_t *ret_n) {
        *ret_n = ELEMENTSOF(key_map);
        return key_map;
}

const struct config_key *config_key_find(const char *path) {
        for (size_t i = 0; i < ELEMENTSOF(key_map); i++)
                if (STREQ(key_map[i].path, path))
                        return &key_map[i];
        return NULL;
}

void *config_key_field(const struct nctk_config *c, const struct config_key *k) {
        return (char *) c + k->offset;
}

static void toml_strv_freep(char ***strv) {
        toml_strv_free(*strv);
}

static int strv_copy(const char *const *src, char ***ret) {
        _cleanup_(toml_strv_freep) char **v = NULL;
        size_t n = 0;

        while (src[n])
                n++;
        v = calloc(n + 1, sizeof(*v));
        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (!(v[i] = strdup(src[i])))
                        return -ENOMEM;
        *ret = TAKE_PTR(v);
        return 0;
}

char *config_path(void) {
        /* secure_getenv: a set-id caller must not be pointed at another file. */
        const char *env = secure_getenv("NVIDIA_CTK_CONFIG_FILE_PATH");

        if (env && *env)
                return strdup(env);
        env = secure_getenv("XDG_CONFIG_HOME");
        if (env && *env)
                return path_join(env, RELATIVE_PATH);
        return strdup("/etc/" RELATIVE_PATH);
}

char *config_ldconfig_normalize(const char *path) {
        _cleanup_free_ char *real = NULL;
        size_t n;
        char *r;

        if (path[0] != '@')
                return strdup(path);
        path++;
        n = strlen(path);
        if (endswith(path, ".real"))
                n -= strlen(".real");
        if (asprintf(&real, "%.*s.real", (int) n, path) < 0)
                return NULL;
        if (access(real, F_OK) == 0)
                return asprintf(&r, "@%s", real) < 0 ? NULL : r;
        return asprintf(&r, "@%.*s", (int) n, path) < 0 ? NULL : r;
}

bool config_os_release_is_suse(const char *os_release) {
        _cleanup_fclose_ FILE *f = fopen(os_release, "re");
        _cleanup_free_ char *line = NULL;
        size_t cap = 0;

        if (!f)
                return false;
        while (getline(&line, &cap, f) >= 0) {
                char *v, *word, *save = NULL;

                if (!startswith(line, "ID_LIKE="))
                        continue;
                v = line + strlen("ID_LIKE=");
                v[strcspn(v, "\r\n")] = '\0';
                for (word = strtok_r(v, " \"'", &save); word; word = strtok_r(NULL, " \"'", &save))
                        if (STREQ(word, "suse") || STREQ(word, "opensuse"))
                                return true;
                return false; /* the reference reads the first ID_LIKE line only */
        }
        return false;
}

static int config_defaults(struct nctk_config *c) {
        c->accept_envvar_when_unprivileged = true;
        c->cli.load_kmods = true;
        for (size_t i = 0; i < ELEMENTSOF(default_strings); i++) {
                char **s = field(c, default_strings[i].offset);
                if (!(*s = strdup(default_strings[i].value)))
                        return -ENOMEM;
        }
        c->cli.user = strdup(config_os_release_is_suse("/etc/os-release") ? "root:video" : "");
        c->cli.ldconfig = config_ldconfig_normalize("@/sbin/ldconfig");
        if (!c->cli.user || !c->cli.ldconfig)
                return -ENOMEM;
        if (strv_copy(empty_strv, &c->cli.environment) < 0 ||
            strv_copy(default_runtimes, &c->runtime.runtimes) < 0 ||
            strv_copy(default_spec_dirs, &c->runtime.cdi_spec_dirs) < 0 ||
            strv_copy(default_annotation_prefixes, &c->runtime.cdi_annotation_prefixes) < 0)
                return -ENOMEM;
        return 0;
}

static int overlay_one(struct nctk_config *c, const struct toml_doc *doc,
                       const struct config_key *k, struct nctk_error **err) {
        const char *s = NULL;
        char **v = NULL;
        int r;

        switch (k->kind) {
        case CONFIG_KEY_BOOL: return toml_get_bool(doc, k->path, field(c, k->offset), err);
        case CONFIG_KEY_STRING: {
                char **dst = field(c, k->offset), *dup;
                r = toml_get_string(doc, k->path, &s, err);
                if (r <= 0)
                        return r;
                if (!(dup = strdup(s)))
                        return -ENOMEM;
                free(*dst);
                *dst = dup;
                return 0;
        }
        case CONFIG_KEY_STRV: {
                char ***dst = field(c, k->offset);
                r = toml_get_strv(doc, k->path, &v, err);
                if (r <= 0)
                        return r;
                toml_strv_free(*dst);
                *dst = v;
                return 0;
        }
        }
        return -EINVAL;
}

static bool is_known(const char *path, bool *ret_table) {
        for (size_t i = 0; i < ELEMENTSOF(key_map); i++)
                if (STREQ(key_map[i].path, path)) {
                        *ret_table = false;
                        return true;
                }
        for (size_t i = 0; i < ELEMENTSOF(known_tables); i++)
                if (STREQ(known_tables[i], path)) {
                        *ret_table = true;
                        return true;
                }
        return false;
}

/* Logs the keys that no field takes (newer reference versions add keys), and rejects a known
 * table given as a value, which would otherwise hide all of its keys. */
static int check_keys(const struct toml_doc *doc, const struct toml_value *t, const char *prefix,
                      struct nctk_error **err) {
        for (size_t i = 0; i < t->table.n; i++) {
                const struct toml_pair *p = &t->table.pairs[i];
                _cleanup_free_ char *path = NULL;
                bool table = false;
                int r;

                if (prefix ? asprintf(&path, "%s.%s", prefix, p->key) < 0
                           : !(path = strdup(p->key)))
                        return -ENOMEM;
                /* A quoted key holding a dot is no known key, whatever it spells. */
                if (strchr(p->key, '.') || !is_known(path, &table)) {
                        log_debug("%s:%u: unknown key '%s', ignoring", doc->file, p->value->line,
                                  path);
                        continue;
                }
                if (!table)
                        continue;
                if (p->value->type != TOML_TABLE)
                        return nctk_error_set(err, EINVAL, "%s:%u: '%s' must be a table", doc->file,
                                              p->value->line, path);
                r = check_keys(doc, p->value, path, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

static void config_freep(struct nctk_config **c) {
        config_free(*c);
}

static void toml_doc_freep(struct toml_doc **doc) {
        toml_doc_free(*doc);
}

static int config_apply(struct nctk_config *c, const struct toml_doc *doc,
                        struct nctk_error **err) {
        const struct toml_value *v;
        int r = check_keys(doc, doc->root, NULL, err);

        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(key_map); i++)
                r = overlay_one(c, doc, &key_map[i], err);
        if (r < 0)
                return r;
        /* As the reference's assertValid(): a container-relative ldconfig runs a binary the
         * container chose, so it needs the feature flag. */
        if (c->cli.ldconfig[0] != '@' && !c->features.allow_ldconfig_from_container) {
                v = toml_get(doc->root, "nvidia-container-cli.ldconfig");
                return nctk_error_set(err, EINVAL,
                                      "%s:%u: 'nvidia-container-cli.ldconfig' value '%s' is not "
                                      "host-relative (does not start with '@'); set "
                                      "features.allow-ldconfig-from-container to allow it",
                                      doc->file, v ? v->line : 0, c->cli.ldconfig);
        }
        return 0;
}

/* Defaults, with DOC's values over them when DOC is not NULL (SOURCE: where it came from). */
static int config_build(const struct toml_doc *doc, const char *source, struct nctk_config **ret,
                        struct nctk_error **err) {
        _cleanup_(config_freep) struct nctk_config *c = calloc(1, sizeof(*c));
        int r;

        if (!c || config_defaults(c) < 0)
                return nctk_error_set(err, ENOMEM, "config: out of memory");
        if (!doc) {
                *ret = TAKE_PTR(c);
                return 0;
        }
        r = config_apply(c, doc, err);
        if (r == -ENOMEM)
                return nctk_error_set(err, ENOMEM, "%s: out of memory", source);
        if (r < 0)
                return r;
        c->source = strdup(source);
        if (!c->source)
                return nctk_error_set(err, ENOMEM, "config: out of memory");
        *ret = TAKE_PTR(c);
        return 0;
}

int config_load(const char *path, bool required, struct nctk_config **ret,
                struct nctk_error **err) {
        _cleanup_(toml_doc_freep) struct toml_doc *doc = NULL;
        _cleanup_(nctk_error_free) struct nctk_error *e = NULL;
        _cleanup_free_ char *def = NULL;
        int r;

        if (!path && !(path = def = config_path()))
                return nctk_error_set(err, ENOMEM, "config: out of memory");
        r = toml_parse_file(path, &doc, &e);
        if (r == -ENOENT && !required) {
                log_debug("%s: not found, using the defaults", path);
                return config_build(NULL, NULL, ret, err);
        }
        if (r < 0) {
                if (err) {
                        nctk_error_free(err);
                        *err = TAKE_PTR(e);
                }
                return r;
        }
        return config_build(doc, path, ret, err);
}

int config_new_defaults(struct nctk_config **ret, struct nctk_error **err) {
        return config_build(NULL, NULL, ret, err);
}

int config_load_data(const char *file, const char *data, size_t len, struct nctk_config **ret,
                     struct nctk_error **err) {
        _cleanup_(toml_doc_freep) struct toml_doc *doc = NULL;
        int r;

        r = toml_parse(file, data, len, &doc, err);
        if (r < 0)
                return r;
        return config_build(doc, file, ret, err);
}

struct nctk_config *config_free(struct nctk_config *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(key_map); i++) {
                if (key_map[i].kind == CONFIG_KEY_STRING)
                        free(*(char **) field(c, key_map[i].offset));
                else if (key_map[i].kind == CONFIG_KEY_STRV)
                        toml_strv_free(*(char ***) field(c, key_map[i].offset));
        }
        free(c->source);
        free(c);
        return NULL;
}
