/* TEMPORARY (branch wip-hook): a minimal config.toml reader so that the hook and its end-to-end
 * test run before the real loader lands. It reads flat "key = value" lines (strings, booleans) of
 * the sections below and nothing else (no arrays, no multi-line values, no escapes). The lead
 * replaces this file, and src/config/meson.build, with the real implementation of config.h. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "util/macros.h"
#include "util/strv.h"

enum key_type { KEY_BOOL, KEY_STRING };

static const struct key {
        const char *section, *name;
        enum key_type type;
        size_t offset;
} keys[] = {
#define K(s, n, t, f) { s, n, t, offsetof(struct nctk_config, f) }
        K("", "disable-require", KEY_BOOL, disable_require),
        K("", "swarm-resource", KEY_STRING, swarm_resource),
        K("", "accept-nvidia-visible-devices-envvar-when-unprivileged", KEY_BOOL,
          accept_envvar_when_unprivileged),
        K("", "accept-nvidia-visible-devices-as-volume-mounts", KEY_BOOL, accept_volume_mounts),
        K("", "supported-driver-capabilities", KEY_STRING, supported_driver_capabilities),
        K("nvidia-container-cli", "root", KEY_STRING, cli.root),
        K("nvidia-container-cli", "path", KEY_STRING, cli.path),
        K("nvidia-container-cli", "debug", KEY_STRING, cli.debug),
        K("nvidia-container-cli", "ldcache", KEY_STRING, cli.ldcache),
        K("nvidia-container-cli", "load-kmods", KEY_BOOL, cli.load_kmods),
        K("nvidia-container-cli", "no-pivot", KEY_BOOL, cli.no_pivot),
        K("nvidia-container-cli", "no-cgroups", KEY_BOOL, cli.no_cgroups),
        K("nvidia-container-cli", "user", KEY_STRING, cli.user),
        K("nvidia-container-cli", "ldconfig", KEY_STRING, cli.ldconfig),
        K("nvidia-container-runtime", "debug", KEY_STRING, runtime.debug),
        K("nvidia-container-runtime", "log-level", KEY_STRING, runtime.log_level),
        K("nvidia-container-runtime", "mode", KEY_STRING, runtime.mode),
        K("nvidia-container-runtime.modes.legacy", "cuda-compat-mode", KEY_STRING,
          runtime.legacy_cuda_compat_mode),
        K("nvidia-container-runtime-hook", "path", KEY_STRING, hook.path),
        K("nvidia-container-runtime-hook", "skip-mode-detection", KEY_BOOL,
          hook.skip_mode_detection),
        K("nvidia-ctk", "path", KEY_STRING, ctk.path),
        K("features", "allow-cuda-compat-libs-from-container", KEY_BOOL,
          features.allow_cuda_compat_libs_from_container),
        K("features", "allow-ldconfig-from-container", KEY_BOOL,
          features.allow_ldconfig_from_container),
        K("features", "allow-unknown-oci-spec-fields", KEY_BOOL,
          features.allow_unknown_oci_spec_fields),
        K("features", "disable-cuda-compat-lib-hook", KEY_BOOL,
          features.disable_cuda_compat_lib_hook),
        K("features", "disable-imex-channel-creation", KEY_BOOL,
          features.disable_imex_channel_creation),
        K("features", "ignore-imex-channel-requests", KEY_BOOL,
          features.ignore_imex_channel_requests),
        K("features", "no-additional-gids-for-device-nodes", KEY_BOOL,
          features.no_additional_gids_for_device_nodes),
#undef K
};

char *config_path(void) {
        const char *env = getenv("NVIDIA_CTK_CONFIG_FILE_PATH");
        const char *xdg = getenv("XDG_CONFIG_HOME");
        char *p;

        if (env && *env)
                return strdup(env);
        if (asprintf(&p, "%s/nvidia-container-runtime/config.toml", xdg && *xdg ? xdg : "/etc") < 0)
                return NULL;
        return p;
}

static strv_t strv_new(const char *a, const char *b) {
        char **v = calloc(3, sizeof(char *));

        if (v && a)
                v[0] = strdup(a);
        if (v && b)
                v[1] = strdup(b);
        return v;
}

static void strv_free(strv_t v) {
        for (size_t i = 0; v && v[i]; i++)
                free(v[i]);
        free(v);
}

static struct nctk_config *config_defaults(void) {
        struct nctk_config *c = calloc(1, sizeof(*c));

        if (!c)
                return NULL;
        c->swarm_resource = strdup("");
        c->accept_envvar_when_unprivileged = true;
        c->supported_driver_capabilities =
                strdup("compat32,compute,display,graphics,ngx,utility,video");
        c->cli.root = strdup("");
        c->cli.path = strdup("");
        c->cli.environment = strv_new(NULL, NULL);
        c->cli.debug = strdup("");
        c->cli.ldcache = strdup("");
        c->cli.load_kmods = true;
        c->cli.user = strdup("");
        c->cli.ldconfig = strdup(access("/sbin/ldconfig.real", F_OK) == 0 ? "@/sbin/ldconfig.real"
                                                                          : "@/sbin/ldconfig");
        c->runtime.debug = strdup("/dev/null");
        c->runtime.log_level = strdup("info");
        c->runtime.runtimes = strv_new("runc", "crun");
        c->runtime.mode = strdup("auto");
        c->runtime.cdi_spec_dirs = strv_new("/etc/cdi", "/var/run/cdi");
        c->runtime.cdi_default_kind = strdup("nvidia.com/gpu");
        c->runtime.cdi_annotation_prefixes = strv_new("cdi.k8s.io/", NULL);
        c->runtime.csv_mount_spec_path =
                strdup("/etc/nvidia-container-runtime/host-files-for-container.d");
        c->runtime.legacy_cuda_compat_mode = strdup("ldconfig");
        c->hook.path = strdup("nvidia-container-runtime-hook");
        c->ctk.path = strdup("nvidia-ctk");
        return c;
}

/* "value" or true/false, then nothing but a comment. */
static int parse_value(char *v, enum key_type type, bool *ret_bool, char **ret_str) {
        char *end;

        if (type == KEY_BOOL) {
                size_t n = strcspn(v, " \t#");
                if (v[n] && v[n + strspn(v + n, " \t")] != '#')
                        return -EINVAL;
                v[n] = '\0';
                if (!STREQ(v, "true") && !STREQ(v, "false"))
                        return -EINVAL;
                *ret_bool = STREQ(v, "true");
                return 0;
        }
        if (v[0] != '"' && v[0] != '\'')
                return -EINVAL;
        end = strchr(v + 1, v[0]);
        if (!end || (end[1 + strspn(end + 1, " \t")] && end[1 + strspn(end + 1, " \t")] != '#'))
                return -EINVAL;
        *end = '\0';
        *ret_str = strdup(v + 1);
        return *ret_str ? 0 : -ENOMEM;
}

static int parse_line(struct nctk_config *c, const char *path, unsigned lineno, char *line,
                      char *section, size_t section_size, struct nctk_error **err) {
        char *s = strstrip(line), *eq, *key;

        if (!*s || *s == '#')
                return 0;
        if (*s == '[') {
                char *close = strchr(s, ']');
                if (!close)
                        return nctk_error_set(err, EINVAL, "%s:%u: malformed section", path,
                                              lineno);
                *close = '\0';
                strscpy(section, section_size, strstrip(s + 1));
                return 0;
        }
        eq = strchr(s, '=');
        if (!eq)
                return nctk_error_set(err, EINVAL, "%s:%u: expected key = value", path, lineno);
        *eq = '\0';
        key = strstrip(s);
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                char *str = NULL;
                bool b = false;
                int r;

                if (!STREQ(keys[i].section, section) || !STREQ(keys[i].name, key))
                        continue;
                r = parse_value(strstrip(eq + 1), keys[i].type, &b, &str);
                if (r == -ENOMEM)
                        return nctk_error_set(err, ENOMEM, "out of memory");
                if (r < 0)
                        return nctk_error_set(err, EINVAL, "%s:%u: '%s' wants a %s", path, lineno,
                                              key, keys[i].type == KEY_BOOL ? "boolean" : "string");
                if (keys[i].type == KEY_BOOL) {
                        *(bool *) ((char *) c + keys[i].offset) = b;
                } else {
                        char **field = (char **) ((char *) c + keys[i].offset);
                        free(*field);
                        *field = str;
                }
                return 0;
        }
        return 0; /* unknown keys are ignored */
}

static int config_read(struct nctk_config *c, FILE *f, const char *path, struct nctk_error **err) {
        char section[128] = "";
        char line[4096];
        unsigned lineno = 0;

        while (fgets(line, sizeof(line), f)) {
                int r;

                lineno++;
                r = parse_line(c, path, lineno, line, section, sizeof(section), err);
                if (r < 0)
                        return r;
        }
        return 0;
}

int config_load(const char *path, bool required, struct nctk_config **ret,
                struct nctk_error **err) {
        struct nctk_config *c = config_defaults();
        _cleanup_fclose_ FILE *f = NULL;
        int r;

        if (!c)
                return nctk_error_set(err, ENOMEM, "out of memory");
        f = path ? fopen(path, "re") : NULL;
        if (!f && path && (errno != ENOENT || required)) {
                r = nctk_error_set(err, errno, "cannot open config file '%s': %s", path,
                                   strerror(errno));
                config_free(c);
                return r;
        }
        if (f) {
                r = config_read(c, f, path, err);
                c->source = strdup(path);
                if (r < 0 || !c->source) {
                        config_free(c);
                        return r < 0 ? r : nctk_error_set(err, ENOMEM, "out of memory");
                }
        }
        *ret = c;
        return 0;
}

struct nctk_config *config_free(struct nctk_config *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                if (keys[i].type == KEY_STRING)
                        free(*(char **) ((char *) c + keys[i].offset));
        strv_free(c->cli.environment);
        strv_free(c->runtime.runtimes);
        strv_free(c->runtime.cdi_spec_dirs);
        free(c->runtime.cdi_default_kind);
        strv_free(c->runtime.cdi_annotation_prefixes);
        free(c->runtime.csv_mount_spec_path);
        free(c->runtime.csv_compat_container_root);
        strv_free(c->runtime.jit_cdi_feature_flags);
        strv_free(c->runtime.jit_cdi_disable_hooks);
        free(c->source);
        free(c);
        return NULL;
}
