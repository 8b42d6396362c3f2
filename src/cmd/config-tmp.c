/* TEMPORARY config.toml reader for the runtime shim's branch, until the real config_load()
 * (src/config/, being written separately) is merged: delete this file and its line in
 * src/cmd/meson.build then. It fills every default of config.h but reads only the keys the
 * shim uses, one `key = value` per line (strings, booleans, one-line string arrays). */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "util/macros.h"
#include "util/strv.h"

enum kind { K_STR, K_BOOL, K_STRV };

static const struct key {
        const char *section, *name;
        enum kind kind;
        size_t off;
} keys[] = {
        { "nvidia-container-cli", "root", K_STR, offsetof(struct nctk_config, cli.root) },
        { "nvidia-container-cli", "ldcache", K_STR, offsetof(struct nctk_config, cli.ldcache) },
        { "nvidia-container-cli", "no-cgroups", K_BOOL, offsetof(struct nctk_config, cli.no_cgroups) },
        { "nvidia-container-cli", "load-kmods", K_BOOL, offsetof(struct nctk_config, cli.load_kmods) },
        { "nvidia-container-runtime", "debug", K_STR, offsetof(struct nctk_config, runtime.debug) },
        { "nvidia-container-runtime", "log-level", K_STR, offsetof(struct nctk_config, runtime.log_level) },
        { "nvidia-container-runtime", "mode", K_STR, offsetof(struct nctk_config, runtime.mode) },
        { "nvidia-container-runtime", "runtimes", K_STRV, offsetof(struct nctk_config, runtime.runtimes) },
        { "nvidia-container-runtime.modes.legacy", "cuda-compat-mode", K_STR,
          offsetof(struct nctk_config, runtime.legacy_cuda_compat_mode) },
        { "nvidia-container-runtime-hook", "path", K_STR, offsetof(struct nctk_config, hook.path) },
        { "features", "disable-cuda-compat-lib-hook", K_BOOL,
          offsetof(struct nctk_config, features.disable_cuda_compat_lib_hook) },
};

static void strv_freep(strv_t v) {
        for (size_t i = 0; v && v[i]; i++)
                free(v[i]);
        free(v);
}

static strv_t strv_of(const char *const *items) {
        size_t n = 0;
        strv_t v;

        while (items[n])
                n++;
        v = calloc(n + 1, sizeof(char *));
        for (size_t i = 0; v && i < n; i++)
                if (!(v[i] = strdup(items[i]))) {
                        strv_freep(v);
                        return NULL;
                }
        return v;
}

static struct nctk_config *config_defaults(void) {
        struct nctk_config *c = calloc(1, sizeof(*c));

        if (!c)
                return NULL;
        c->swarm_resource = strdup("");
        c->accept_envvar_when_unprivileged = true;
        c->supported_driver_capabilities = strdup("compat32,compute,display,graphics,ngx,utility,video");
        c->cli.root = strdup("");
        c->cli.path = strdup("");
        c->cli.environment = strv_of((const char *const[]){ NULL });
        c->cli.debug = strdup("");
        c->cli.ldcache = strdup("");
        c->cli.load_kmods = true;
        c->cli.user = strdup("");
        c->cli.ldconfig = strdup(access("/sbin/ldconfig.real", F_OK) == 0 ? "@/sbin/ldconfig.real"
                                                                           : "@/sbin/ldconfig");
        c->runtime.debug = strdup("/dev/null");
        c->runtime.log_level = strdup("info");
        c->runtime.runtimes = strv_of((const char *const[]){ "runc", "crun", NULL });
        c->runtime.mode = strdup("auto");
        c->runtime.cdi_spec_dirs = strv_of((const char *const[]){ "/etc/cdi", "/var/run/cdi", NULL });
        c->runtime.cdi_default_kind = strdup("nvidia.com/gpu");
        c->runtime.cdi_annotation_prefixes = strv_of((const char *const[]){ "cdi.k8s.io/", NULL });
        c->runtime.csv_mount_spec_path =
                strdup("/etc/nvidia-container-runtime/host-files-for-container.d");
        c->runtime.legacy_cuda_compat_mode = strdup("ldconfig");
        c->hook.path = strdup("nvidia-container-runtime-hook");
        c->ctk.path = strdup("nvidia-ctk");
        if (!c->swarm_resource || !c->supported_driver_capabilities || !c->cli.root ||
            !c->cli.path || !c->cli.environment || !c->cli.debug || !c->cli.ldcache ||
            !c->cli.user || !c->cli.ldconfig || !c->runtime.debug || !c->runtime.log_level ||
            !c->runtime.runtimes || !c->runtime.mode || !c->runtime.cdi_spec_dirs ||
            !c->runtime.cdi_default_kind || !c->runtime.cdi_annotation_prefixes ||
            !c->runtime.csv_mount_spec_path || !c->runtime.legacy_cuda_compat_mode ||
            !c->hook.path || !c->ctk.path)
                return config_free(c);
        return c;
}

struct nctk_config *config_free(struct nctk_config *c) {
        if (!c)
                return NULL;
        free(c->swarm_resource);
        free(c->supported_driver_capabilities);
        free(c->cli.root);
        free(c->cli.path);
        strv_freep(c->cli.environment);
        free(c->cli.debug);
        free(c->cli.ldcache);
        free(c->cli.user);
        free(c->cli.ldconfig);
        free(c->runtime.debug);
        free(c->runtime.log_level);
        strv_freep(c->runtime.runtimes);
        free(c->runtime.mode);
        strv_freep(c->runtime.cdi_spec_dirs);
        free(c->runtime.cdi_default_kind);
        strv_freep(c->runtime.cdi_annotation_prefixes);
        free(c->runtime.csv_mount_spec_path);
        free(c->runtime.csv_compat_container_root);
        strv_freep(c->runtime.jit_cdi_feature_flags);
        strv_freep(c->runtime.jit_cdi_disable_hooks);
        free(c->runtime.legacy_cuda_compat_mode);
        free(c->hook.path);
        free(c->ctk.path);
        free(c->source);
        free(c);
        return NULL;
}

char *config_path(void) {
        const char *p = getenv("NVIDIA_CTK_CONFIG_FILE_PATH"), *xdg = getenv("XDG_CONFIG_HOME");
        char *s;

        if (p && *p)
                return strdup(p);
        if (asprintf(&s, "%s/nvidia-container-runtime/config.toml", xdg && *xdg ? xdg : "/etc") < 0)
                return NULL;
        return s;
}

/* A "..." string at *P (no escapes beyond \" and \\), advancing *P past it. */
static char *read_string(char **p) {
        char *s = *p + 1, *out = s, *in = s;

        if (**p != '"')
                return NULL;
        for (; *in && *in != '"'; in++) {
                if (*in == '\\' && in[1])
                        in++;
                *out++ = *in;
        }
        if (*in != '"')
                return NULL;
        *p = in + 1;
        *out = '\0';
        return strdup(s);
}

static int read_strv(char *p, strv_t *ret) {
        strv_t v = calloc(1, sizeof(char *));
        size_t n = 0;

        if (!v || *p++ != '[') {
                free(v);
                return -EINVAL;
        }
        for (;;) {
                strv_t nv;
                char *s;

                p += strspn(p, " \t,");
                if (*p == ']')
                        break;
                s = read_string(&p);
                nv = s ? realloc(v, (n + 2) * sizeof(char *)) : NULL;
                if (!nv) {
                        free(s);
                        strv_freep(v);
                        return -EINVAL;
                }
                v = nv;
                v[n++] = s;
                v[n] = NULL;
        }
        *ret = v;
        return 0;
}

static int set_value(struct nctk_config *c, const struct key *k, char *val) {
        void *field = (char *) c + k->off;

        switch (k->kind) {
        case K_BOOL:
                if (!STREQ(val, "true") && !STREQ(val, "false"))
                        return -EINVAL;
                *(bool *) field = STREQ(val, "true");
                return 0;
        case K_STR: {
                char *s = read_string(&val);
                if (!s)
                        return -EINVAL;
                free(*(char **) field);
                *(char **) field = s;
                return 0;
        }
        case K_STRV: {
                strv_t v;
                if (read_strv(val, &v) < 0)
                        return -EINVAL;
                strv_freep(*(strv_t *) field);
                *(strv_t *) field = v;
                return 0;
        }
        }
        return -EINVAL;
}

static int parse_line(struct nctk_config *c, char *line, char *section, size_t size) {
        char *eq, *name, *val;

        line = strstrip(line);
        if (!*line || *line == '#')
                return 0;
        if (*line == '[') {
                char *end = strchr(line, ']');
                if (!end)
                        return -EINVAL;
                *end = '\0';
                snprintf(section, size, "%s", strstrip(line + 1));
                return 0;
        }
        eq = strchr(line, '=');
        if (!eq)
                return -EINVAL;
        *eq = '\0';
        name = strstrip(line);
        val = strstrip(eq + 1);
        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                if (STREQ(keys[i].section, section) && STREQ(keys[i].name, name))
                        return set_value(c, &keys[i], val);
        return 0;
}

int config_load(const char *path, bool required, struct nctk_config **ret, struct nctk_error **err) {
        struct nctk_config *c = config_defaults();
        _cleanup_fclose_ FILE *f = NULL;
        char section[128] = "", *line = NULL;
        size_t cap = 0;
        int lineno = 0, r = 0;

        if (!c)
                return nctk_error_set(err, ENOMEM, "out of memory");
        f = fopen(path, "re");
        if (!f && (errno != ENOENT || required)) {
                r = nctk_error_set(err, errno, "cannot open config '%s': %s", path, strerror(errno));
                config_free(c);
                return r;
        }
        while (f && getline(&line, &cap, f) > 0) {
                lineno++;
                if (parse_line(c, line, section, sizeof(section)) < 0) {
                        r = nctk_error_set(err, EINVAL, "%s:%d: cannot parse this line", path, lineno);
                        break;
                }
        }
        free(line);
        if (r >= 0 && f && !(c->source = strdup(path)))
                r = nctk_error_set(err, ENOMEM, "out of memory");
        if (r < 0) {
                config_free(c);
                return r;
        }
        *ret = c;
        return 0;
}
