/* Unit tests for config.toml loading: the reference's defaults, its default file, every key
 * overridden, wrong types, unknown keys, and where the file is looked for. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"
#include "unit-tap.h"
#include "util/macros.h"

static char tmpdir[] = "/tmp/test-config-XXXXXX";

static void config_freep(struct nctk_config **c) {
        config_free(*c);
}

static char *tmp_path(const char *name) {
        char *p;

        assert_true(asprintf(&p, "%s/%s", tmpdir, name) > 0);
        return p;
}

static char *write_file(const char *name, const char *content) {
        char *p = tmp_path(name);
        FILE *f = fopen(p, "we");

        assert_non_null(f);
        fputs(content, f);
        assert_int_equal(fclose(f), 0);
        return p;
}

static int load_string(const char *content, struct nctk_config **ret, struct nctk_error **err) {
        _cleanup_free_ char *p = write_file("config.toml", content);

        return config_load(p, true, ret, err);
}

static void assert_strv(char **v, const char *const *expected) {
        size_t i;

        assert_non_null(v);
        for (i = 0; expected[i]; i++) {
                assert_non_null(v[i]);
                assert_string_equal(v[i], expected[i]);
        }
        assert_null(v[i]);
}

static bool strv_equal(char **a, char **b) {
        if (!a || !b)
                return a == b;
        for (; *a && *b; a++, b++)
                if (strcmp(*a, *b) != 0)
                        return false;
        return !*a && !*b;
}

static bool str_equal(const char *a, const char *b) {
        return a && b ? strcmp(a, b) == 0 : a == b;
}

/* Every field but source. */
static void assert_config_equal(const struct nctk_config *a, const struct nctk_config *b) {
        assert_int_equal(a->disable_require, b->disable_require);
        assert_true(str_equal(a->swarm_resource, b->swarm_resource));
        assert_int_equal(a->accept_envvar_when_unprivileged, b->accept_envvar_when_unprivileged);
        assert_int_equal(a->accept_volume_mounts, b->accept_volume_mounts);
        assert_true(str_equal(a->supported_driver_capabilities, b->supported_driver_capabilities));
        assert_true(str_equal(a->cli.root, b->cli.root));
        assert_true(str_equal(a->cli.path, b->cli.path));
        assert_true(strv_equal(a->cli.environment, b->cli.environment));
        assert_true(str_equal(a->cli.debug, b->cli.debug));
        assert_true(str_equal(a->cli.ldcache, b->cli.ldcache));
        assert_true(str_equal(a->cli.proc_root, b->cli.proc_root));
        assert_int_equal(a->cli.load_kmods, b->cli.load_kmods);
        assert_int_equal(a->cli.no_pivot, b->cli.no_pivot);
        assert_int_equal(a->cli.no_cgroups, b->cli.no_cgroups);
        assert_true(str_equal(a->cli.user, b->cli.user));
        assert_true(str_equal(a->cli.ldconfig, b->cli.ldconfig));
        assert_true(str_equal(a->runtime.debug, b->runtime.debug));
        assert_true(str_equal(a->runtime.log_level, b->runtime.log_level));
        assert_true(strv_equal(a->runtime.runtimes, b->runtime.runtimes));
        assert_true(str_equal(a->runtime.mode, b->runtime.mode));
        assert_true(strv_equal(a->runtime.cdi_spec_dirs, b->runtime.cdi_spec_dirs));
        assert_true(str_equal(a->runtime.cdi_default_kind, b->runtime.cdi_default_kind));
        assert_true(
                strv_equal(a->runtime.cdi_annotation_prefixes, b->runtime.cdi_annotation_prefixes));
        assert_true(str_equal(a->runtime.csv_mount_spec_path, b->runtime.csv_mount_spec_path));
        assert_true(str_equal(a->runtime.csv_compat_container_root,
                              b->runtime.csv_compat_container_root));
        assert_true(strv_equal(a->runtime.jit_cdi_feature_flags, b->runtime.jit_cdi_feature_flags));
        assert_true(strv_equal(a->runtime.jit_cdi_disable_hooks, b->runtime.jit_cdi_disable_hooks));
        assert_true(
                str_equal(a->runtime.legacy_cuda_compat_mode, b->runtime.legacy_cuda_compat_mode));
        assert_true(str_equal(a->hook.path, b->hook.path));
        assert_int_equal(a->hook.skip_mode_detection, b->hook.skip_mode_detection);
        assert_true(str_equal(a->ctk.path, b->ctk.path));
        assert_memory_equal(&a->features, &b->features, sizeof(a->features));
}

static void test_defaults(void **state) {
        _cleanup_(config_freep) struct nctk_config *c = NULL;
        _cleanup_free_ char *missing = tmp_path("missing.toml");
        struct nctk_error *err = NULL;
        static const char *const runtimes[] = {"runc", "crun", NULL};
        static const char *const spec_dirs[] = {"/etc/cdi", "/var/run/cdi", NULL};
        static const char *const prefixes[] = {"cdi.k8s.io/", NULL};
        static const char *const none[] = {NULL};

        (void) state;
        assert_int_equal(config_load(missing, false, &c, &err), 0);
        assert_null(err);
        assert_null(c->source);
        assert_false(c->disable_require);
        assert_string_equal(c->swarm_resource, "");
        assert_true(c->accept_envvar_when_unprivileged);
        assert_false(c->accept_volume_mounts);
        assert_string_equal(c->supported_driver_capabilities,
                            "compat32,compute,display,graphics,ngx,utility,video");
        assert_string_equal(c->cli.root, "");
        assert_string_equal(c->cli.path, "");
        assert_strv(c->cli.environment, none);
        assert_string_equal(c->cli.debug, "");
        assert_string_equal(c->cli.ldcache, "");
        assert_null(c->cli.proc_root);
        assert_true(c->cli.load_kmods);
        assert_false(c->cli.no_pivot);
        assert_false(c->cli.no_cgroups);
        assert_string_equal(c->cli.user,
                            config_os_release_is_suse("/etc/os-release") ? "root:video" : "");
        assert_string_equal(c->cli.ldconfig, access("/sbin/ldconfig.real", F_OK) == 0
                                                     ? "@/sbin/ldconfig.real"
                                                     : "@/sbin/ldconfig");
        assert_string_equal(c->runtime.debug, "/dev/null");
        assert_string_equal(c->runtime.log_level, "info");
        assert_strv(c->runtime.runtimes, runtimes);
        assert_string_equal(c->runtime.mode, "auto");
        assert_strv(c->runtime.cdi_spec_dirs, spec_dirs);
        assert_string_equal(c->runtime.cdi_default_kind, "nvidia.com/gpu");
        assert_strv(c->runtime.cdi_annotation_prefixes, prefixes);
        assert_string_equal(c->runtime.csv_mount_spec_path,
                            "/etc/nvidia-container-runtime/host-files-for-container.d");
        assert_null(c->runtime.csv_compat_container_root);
        assert_null(c->runtime.jit_cdi_feature_flags);
        assert_null(c->runtime.jit_cdi_disable_hooks);
        assert_string_equal(c->runtime.legacy_cuda_compat_mode, "ldconfig");
        assert_string_equal(c->hook.path, "nvidia-container-runtime-hook");
        assert_false(c->hook.skip_mode_detection);
        assert_string_equal(c->ctk.path, "nvidia-ctk");
        assert_false(c->features.allow_cuda_compat_libs_from_container);
        assert_false(c->features.allow_ldconfig_from_container);
        assert_false(c->features.allow_unknown_oci_spec_fields);
        assert_false(c->features.disable_cuda_compat_lib_hook);
        assert_false(c->features.disable_imex_channel_creation);
        assert_false(c->features.ignore_imex_channel_requests);
        assert_false(c->features.no_additional_gids_for_device_nodes);

        /* Required: the missing file is an error naming it. */
        assert_int_equal(config_load(missing, true, &c, &err), -ENOENT);
        assert_non_null(strstr(err->msg, "missing.toml: No such file or directory"));
        nctk_error_free(&err);
        assert_int_equal(config_load(tmpdir, false, &c, &err), -EISDIR);
        nctk_error_free(&err);
        assert_null(config_free(NULL));
}

/* What the reference's `nvidia-ctk config default` writes (api/config/v1/toml_test.go), with
 * the commented examples; only the ldconfig line depends on the host. */
static const char reference_default[] =
        "\n"
        "#accept-nvidia-visible-devices-as-volume-mounts = false\n"
        "#accept-nvidia-visible-devices-envvar-when-unprivileged = true\n"
        "disable-require = false\n"
        "supported-driver-capabilities = \"compat32,compute,display,graphics,ngx,utility,video\"\n"
        "#swarm-resource = \"DOCKER_RESOURCE_GPU\"\n"
        "\n"
        "[nvidia-container-cli]\n"
        "#debug = \"/var/log/nvidia-container-toolkit.log\"\n"
        "environment = []\n"
        "#ldcache = \"/etc/ld.so.cache\"\n"
        "ldconfig = \"%s\"\n"
        "load-kmods = true\n"
        "#no-cgroups = false\n"
        "#path = \"/usr/bin/nvidia-container-cli\"\n"
        "#root = \"/run/nvidia/driver\"\n"
        "#user = \"root:video\"\n"
        "\n"
        "[nvidia-container-runtime]\n"
        "#debug = \"/var/log/nvidia-container-runtime.log\"\n"
        "log-level = \"info\"\n"
        "mode = \"auto\"\n"
        "runtimes = [\"runc\", \"crun\"]\n"
        "\n"
        "[nvidia-container-runtime.modes]\n"
        "\n"
        "[nvidia-container-runtime.modes.cdi]\n"
        "annotation-prefixes = [\"cdi.k8s.io/\"]\n"
        "default-kind = \"nvidia.com/gpu\"\n"
        "spec-dirs = [\"/etc/cdi\", \"/var/run/cdi\"]\n"
        "\n"
        "[nvidia-container-runtime.modes.csv]\n"
        "mount-spec-path = \"/etc/nvidia-container-runtime/host-files-for-container.d\"\n"
        "\n"
        "[nvidia-container-runtime.modes.legacy]\n"
        "cuda-compat-mode = \"ldconfig\"\n"
        "\n"
        "[nvidia-container-runtime-hook]\n"
        "path = \"nvidia-container-runtime-hook\"\n"
        "skip-mode-detection = false\n"
        "\n"
        "[nvidia-ctk]\n"
        "path = \"nvidia-ctk\"\n";

static void test_reference_default_file(void **state) {
        _cleanup_(config_freep) struct nctk_config *defaults = NULL, *c = NULL;
        _cleanup_free_ char *missing = tmp_path("missing.toml"), *content = NULL, *crlf = NULL;
        _cleanup_free_ char *path = NULL;
        struct nctk_error *err = NULL;
        size_t j = 0;

        (void) state;
        assert_int_equal(config_load(missing, false, &defaults, &err), 0);
        assert_true(asprintf(&content, reference_default, defaults->cli.ldconfig) > 0);
        path = write_file("default.toml", content);
        assert_int_equal(config_load(path, true, &c, &err), 0);
        assert_string_equal(c->source, path);
        assert_config_equal(c, defaults);
        c = config_free(c);

        /* The same with CRLF line endings. */
        crlf = malloc(strlen(content) * 2 + 1);
        for (size_t i = 0; content[i]; i++) {
                if (content[i] == '\n')
                        crlf[j++] = '\r';
                crlf[j++] = content[i];
        }
        crlf[j] = '\0';
        assert_int_equal(load_string(crlf, &c, &err), 0);
        assert_config_equal(c, defaults);
}

static const char all_keys[] = "disable-require = true\n"
                               "swarm-resource = \"DOCKER_RESOURCE_GPU\"\n"
                               "accept-nvidia-visible-devices-envvar-when-unprivileged = false\n"
                               "accept-nvidia-visible-devices-as-volume-mounts = true\n"
                               "supported-driver-capabilities = \"all\"\n"
                               "[nvidia-container-cli]\n"
                               "root = \"/run/nvidia/driver\"\n"
                               "path = \"/usr/bin/nvidia-container-cli\"\n"
                               "environment = [\"A=1\", 'B=2']\n"
                               "debug = \"/var/log/nvidia-container-toolkit.log\"\n"
                               "ldcache = \"/etc/ld.so.cache\"\n"
                               "proc-root = \"/host/proc\"\n"
                               "load-kmods = false\n"
                               "no-pivot = true\n"
                               "no-cgroups = true\n"
                               "user = \"root:video\"\n"
                               "ldconfig = \"@/usr/sbin/ldconfig\"\n"
                               "[nvidia-container-runtime]\n"
                               "debug = \"/var/log/nvidia-container-runtime.log\"\n"
                               "log-level = \"debug\"\n"
                               "runtimes = [\"crun\"]\n"
                               "mode = \"cdi\"\n"
                               "modes.cdi.spec-dirs = [\"/a\", \"/b\", \"/c\"]\n"
                               "modes.cdi.default-kind = \"example.com/gpu\"\n"
                               "modes.cdi.annotation-prefixes = []\n"
                               "[nvidia-container-runtime.modes.csv]\n"
                               "mount-spec-path = \"/csv\"\n"
                               "compat-container-root = \"/usr/local/cuda/compat\"\n"
                               "[nvidia-container-runtime.modes.jit-cdi]\n"
                               "nvcdi-feature-flags = [\"disable-multiple-csv-devices\"]\n"
                               "nvcdi-disable-hooks = [\"update-ldcache\", \"create-symlinks\"]\n"
                               "[nvidia-container-runtime.modes.legacy]\n"
                               "cuda-compat-mode = \"mount\"\n"
                               "[nvidia-container-runtime-hook]\n"
                               "path = \"/usr/local/bin/nvidia-container-runtime-hook\"\n"
                               "skip-mode-detection = true\n"
                               "[nvidia-ctk]\n"
                               "path = \"/usr/local/bin/nvidia-ctk\"\n"
                               "[features]\n"
                               "allow-cuda-compat-libs-from-container = true\n"
                               "allow-ldconfig-from-container = true\n"
                               "allow-unknown-oci-spec-fields = true\n"
                               "disable-cuda-compat-lib-hook = true\n"
                               "disable-imex-channel-creation = true\n"
                               "ignore-imex-channel-requests = true\n"
                               "no-additional-gids-for-device-nodes = true\n";

static void test_every_key(void **state) {
        _cleanup_(config_freep) struct nctk_config *c = NULL;
        struct nctk_error *err = NULL;
        static const char *const env[] = {"A=1", "B=2", NULL};
        static const char *const runtimes[] = {"crun", NULL};
        static const char *const dirs[] = {"/a", "/b", "/c", NULL};
        static const char *const none[] = {NULL};
        static const char *const flags[] = {"disable-multiple-csv-devices", NULL};
        static const char *const hooks[] = {"update-ldcache", "create-symlinks", NULL};

        (void) state;
        assert_int_equal(load_string(all_keys, &c, &err), 0);
        assert_true(c->disable_require);
        assert_string_equal(c->swarm_resource, "DOCKER_RESOURCE_GPU");
        assert_false(c->accept_envvar_when_unprivileged);
        assert_true(c->accept_volume_mounts);
        assert_string_equal(c->supported_driver_capabilities, "all");
        assert_string_equal(c->cli.root, "/run/nvidia/driver");
        assert_string_equal(c->cli.path, "/usr/bin/nvidia-container-cli");
        assert_strv(c->cli.environment, env);
        assert_string_equal(c->cli.debug, "/var/log/nvidia-container-toolkit.log");
        assert_string_equal(c->cli.ldcache, "/etc/ld.so.cache");
        assert_string_equal(c->cli.proc_root, "/host/proc");
        assert_false(c->cli.load_kmods);
        assert_true(c->cli.no_pivot);
        assert_true(c->cli.no_cgroups);
        assert_string_equal(c->cli.user, "root:video");
        assert_string_equal(c->cli.ldconfig, "@/usr/sbin/ldconfig");
        assert_string_equal(c->runtime.debug, "/var/log/nvidia-container-runtime.log");
        assert_string_equal(c->runtime.log_level, "debug");
        assert_strv(c->runtime.runtimes, runtimes);
        assert_string_equal(c->runtime.mode, "cdi");
        assert_strv(c->runtime.cdi_spec_dirs, dirs);
        assert_string_equal(c->runtime.cdi_default_kind, "example.com/gpu");
        assert_strv(c->runtime.cdi_annotation_prefixes, none);
        assert_string_equal(c->runtime.csv_mount_spec_path, "/csv");
        assert_string_equal(c->runtime.csv_compat_container_root, "/usr/local/cuda/compat");
        assert_strv(c->runtime.jit_cdi_feature_flags, flags);
        assert_strv(c->runtime.jit_cdi_disable_hooks, hooks);
        assert_string_equal(c->runtime.legacy_cuda_compat_mode, "mount");
        assert_string_equal(c->hook.path, "/usr/local/bin/nvidia-container-runtime-hook");
        assert_true(c->hook.skip_mode_detection);
        assert_string_equal(c->ctk.path, "/usr/local/bin/nvidia-ctk");
        assert_true(c->features.allow_cuda_compat_libs_from_container);
        assert_true(c->features.allow_ldconfig_from_container);
        assert_true(c->features.allow_unknown_oci_spec_fields);
        assert_true(c->features.disable_cuda_compat_lib_hook);
        assert_true(c->features.disable_imex_channel_creation);
        assert_true(c->features.ignore_imex_channel_requests);
        assert_true(c->features.no_additional_gids_for_device_nodes);
}

/* Keys left out keep their defaults; inline tables and dotted keys reach the same fields. */
static void test_partial(void **state) {
        _cleanup_(config_freep) struct nctk_config *c = NULL, *d = NULL;
        _cleanup_free_ char *missing = tmp_path("missing.toml");
        struct nctk_error *err = NULL;

        (void) state;
        assert_int_equal(config_load(missing, false, &d, &err), 0);
        assert_int_equal(load_string("nvidia-container-runtime = { modes = { csv = { "
                                     "mount-spec-path = '/x' } } }\n"
                                     "nvidia-container-cli.no-cgroups = true\n",
                                     &c, &err),
                         0);
        assert_string_equal(c->runtime.csv_mount_spec_path, "/x");
        assert_true(c->cli.no_cgroups);
        free(d->runtime.csv_mount_spec_path);
        d->runtime.csv_mount_spec_path = strdup("/x");
        d->cli.no_cgroups = true;
        assert_config_equal(c, d);
}

/* proc-root is nctk's own key: unset by default, a string when given, nothing else changes. */
static void test_proc_root(void **state) {
        _cleanup_(config_freep) struct nctk_config *c = NULL, *d = NULL;
        _cleanup_free_ char *missing = tmp_path("missing.toml");
        struct nctk_error *err = NULL;

        (void) state;
        assert_int_equal(config_load(missing, false, &d, &err), 0);
        assert_null(d->cli.proc_root);
        assert_int_equal(
                load_string("[nvidia-container-cli]\nproc-root = \"/sim/proc\"\n", &c, &err), 0);
        assert_string_equal(c->cli.proc_root, "/sim/proc");
        d->cli.proc_root = strdup("/sim/proc");
        assert_config_equal(c, d);
}

struct bad_case {
        const char *in;
        const char *msg;
};

static const struct bad_case bad_cases[] = {
        {"disable-require = \"yes\"\n", "config.toml:1: 'disable-require' must be a boolean"},
        {"\n\nswarm-resource = 1\n", "config.toml:3: 'swarm-resource' must be a string"},
        {"supported-driver-capabilities = [\"all\"]",
         "config.toml:1: 'supported-driver-capabilities' must be a string"},
        {"[nvidia-container-cli]\nproc-root = true\n",
         "config.toml:2: 'nvidia-container-cli.proc-root' must be a string"},
        {"[nvidia-container-cli]\nload-kmods = 1\n",
         "config.toml:2: 'nvidia-container-cli.load-kmods' must be a boolean"},
        {"[nvidia-container-cli]\nenvironment = \"A=1\"\n",
         "config.toml:2: 'nvidia-container-cli.environment' must be an array of strings"},
        {"[nvidia-container-runtime]\nruntimes = [\"runc\",\n 1]\n",
         "config.toml:3: 'nvidia-container-runtime.runtimes' must be an array of strings"},
        {"[nvidia-container-runtime.modes.cdi]\nspec-dirs = [[\"/etc/cdi\"]]\n",
         "'nvidia-container-runtime.modes.cdi.spec-dirs' must be an array of strings"},
        {"[nvidia-container-runtime]\nmodes.cdi.default-kind = { a = 1 }\n",
         "config.toml:2: 'nvidia-container-runtime.modes.cdi.default-kind' must be a string"},
        {"[features]\nallow-ldconfig-from-container = \"true\"\n",
         "'features.allow-ldconfig-from-container' must be a boolean"},
        {"nvidia-container-cli = 1\n", "config.toml:1: 'nvidia-container-cli' must be a table"},
        {"[nvidia-container-runtime]\nmodes = []\n",
         "config.toml:2: 'nvidia-container-runtime.modes' must be a table"},
        {"[nvidia-container-cli]\nuser = \"a\\u0000b\"\n",
         "'nvidia-container-cli.user' must not hold NUL characters"},
        {"[nvidia-container-cli]\n\nldconfig = \"/sbin/ldconfig\"\n",
         "config.toml:3: 'nvidia-container-cli.ldconfig' value '/sbin/ldconfig' is not "
         "host-relative (does not start with '@')"},
        {"[nvidia-container-cli]\nroot = \"/a\"\nroot = \"/b\"\n",
         "config.toml:3: duplicate key 'root'"},
        {"disable-require = true\n[nvidia-ctk]\npath = 'x\n", "config.toml:3: unterminated string"},
};

static void test_bad(void **state) {
        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(bad_cases); i++) {
                struct nctk_config *c = NULL;
                struct nctk_error *err = NULL;

                assert_int_equal(load_string(bad_cases[i].in, &c, &err), -EINVAL);
                assert_null(c);
                assert_int_equal(err->errnum, EINVAL);
                if (!strstr(err->msg, bad_cases[i].msg))
                        fail_msg("case %zu: got '%s', expected '%s'", i, err->msg,
                                 bad_cases[i].msg);
                assert_non_null(strstr(err->msg, tmpdir));
                nctk_error_free(&err);
                assert_int_equal(load_string(bad_cases[i].in, &c, NULL), -EINVAL);
        }
}

static void test_ldconfig_feature(void **state) {
        _cleanup_(config_freep) struct nctk_config *c = NULL;
        struct nctk_error *err = NULL;

        (void) state;
        assert_int_equal(load_string("[nvidia-container-cli]\nldconfig = \"/sbin/ldconfig\"\n"
                                     "[features]\nallow-ldconfig-from-container = true\n",
                                     &c, &err),
                         0);
        assert_string_equal(c->cli.ldconfig, "/sbin/ldconfig");
}

struct captured {
        char lines[16][256];
        size_t n;
};

static void capture(enum nctk_log_level level, const char *file, int line, const char *msg,
                    void *userdata) {
        struct captured *cap = userdata;

        (void) file;
        (void) line;
        if (level == NCTK_LOG_DEBUG && cap->n < ELEMENTSOF(cap->lines))
                snprintf(cap->lines[cap->n++], sizeof(cap->lines[0]), "%s", msg);
}

static bool captured_has(const struct captured *cap, const char *s) {
        for (size_t i = 0; i < cap->n; i++)
                if (strstr(cap->lines[i], s))
                        return true;
        return false;
}

static void test_unknown_keys(void **state) {
        _cleanup_(config_freep) struct nctk_config *c = NULL;
        struct nctk_error *err = NULL;
        struct captured cap = {};

        (void) state;
        nctk_set_log_sink(capture, &cap);
        assert_int_equal(load_string("future-key = [1, 2]\n"
                                     "\"nvidia-container-cli.root\" = 5\n"
                                     "[nvidia-container-cli]\n"
                                     "root = \"/r\"\n"
                                     "new-flag = true\n"
                                     "[nvidia-container-runtime.modes.new-mode]\n"
                                     "x = 1\n"
                                     "[future-table.sub]\n"
                                     "disable-require = \"not a bool\"\n",
                                     &c, &err),
                         0);
        nctk_set_log_sink(NULL, NULL);
        assert_string_equal(c->cli.root, "/r");
        assert_false(c->disable_require);
        assert_int_equal(cap.n, 5);
        assert_true(captured_has(&cap, "config.toml:1: unknown key 'future-key', ignoring"));
        assert_true(captured_has(&cap, "config.toml:2: unknown key 'nvidia-container-cli.root'"));
        assert_true(captured_has(&cap, ":5: unknown key 'nvidia-container-cli.new-flag'"));
        assert_true(captured_has(&cap, ":6: unknown key 'nvidia-container-runtime.modes.new-"
                                       "mode'"));
        assert_true(captured_has(&cap, ":8: unknown key 'future-table'"));
}

static void test_path(void **state) {
        _cleanup_free_ char *p1 = NULL, *p2 = NULL, *p3 = NULL, *p4 = NULL, *file = NULL;
        _cleanup_(config_freep) struct nctk_config *c = NULL;
        struct nctk_error *err = NULL;

        (void) state;
        unsetenv("NVIDIA_CTK_CONFIG_FILE_PATH");
        unsetenv("XDG_CONFIG_HOME");
        p1 = config_path();
        assert_string_equal(p1, "/etc/nvidia-container-runtime/config.toml");
        setenv("XDG_CONFIG_HOME", "/home/u/.config/", 1);
        p2 = config_path();
        assert_string_equal(p2, "/home/u/.config/nvidia-container-runtime/config.toml");
        setenv("NVIDIA_CTK_CONFIG_FILE_PATH", "/opt/ctk.toml", 1);
        p3 = config_path();
        assert_string_equal(p3, "/opt/ctk.toml");
        setenv("NVIDIA_CTK_CONFIG_FILE_PATH", "", 1);
        setenv("XDG_CONFIG_HOME", "", 1);
        p4 = config_path();
        assert_string_equal(p4, "/etc/nvidia-container-runtime/config.toml");

        /* config_load(NULL) follows the same resolution. */
        file = write_file("env.toml", "[nvidia-ctk]\npath = \"/from/env\"\n");
        setenv("NVIDIA_CTK_CONFIG_FILE_PATH", file, 1);
        assert_int_equal(config_load(NULL, true, &c, &err), 0);
        assert_string_equal(c->ctk.path, "/from/env");
        assert_string_equal(c->source, file);
        c = config_free(c);
        unsetenv("NVIDIA_CTK_CONFIG_FILE_PATH");
        setenv("XDG_CONFIG_HOME", tmpdir, 1);
        assert_int_equal(config_load(NULL, true, &c, &err), -ENOENT);
        assert_non_null(strstr(err->msg, "/nvidia-container-runtime/config.toml: No such file"));
        nctk_error_free(&err);
        assert_int_equal(config_load(NULL, false, &c, &err), 0);
        assert_null(c->source);
        unsetenv("XDG_CONFIG_HOME");
}

static void test_os_release(void **state) {
        static const struct {
                const char *content;
                bool suse;
        } cases[] = {
                {"NAME=\"openSUSE Leap\"\nID=\"opensuse-leap\"\nID_LIKE=\"suse opensuse\"\n", true},
                {"ID=sles\nID_LIKE=\"suse\"\n", true},
                {"ID_LIKE=opensuse\n", true},
                {"ID_LIKE='suse'\n", true},
                {"ID_LIKE=\"rhel fedora\"\n", false},
                {"ID_LIKE=\"suseish\"\n", false},
                {"ID=suse\n", false},
                {"# ID_LIKE=suse\n", false},
                {"ID_LIKE=debian\nID_LIKE=suse\n", false},
                {"", false},
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *p = write_file("os-release", cases[i].content);
                if (config_os_release_is_suse(p) != cases[i].suse)
                        fail_msg("case %zu: '%s'", i, cases[i].content);
        }
        assert_false(config_os_release_is_suse("/nonexistent/os-release"));
}

static void test_ldconfig_normalize(void **state) {
        _cleanup_free_ char *bin = tmp_path("ldconfig"), *real = tmp_path("ldconfig.real");
        _cleanup_free_ char *at = NULL, *at_real = NULL, *r1 = NULL, *r2 = NULL, *r3 = NULL;
        _cleanup_free_ char *r4 = NULL, *r5 = NULL;
        FILE *f;

        (void) state;
        assert_true(asprintf(&at, "@%s", bin) > 0);
        assert_true(asprintf(&at_real, "@%s", real) > 0);
        r1 = config_ldconfig_normalize(at);
        assert_string_equal(r1, at);
        r2 = config_ldconfig_normalize(at_real);
        assert_string_equal(r2, at);
        f = fopen(real, "we");
        assert_non_null(f);
        fclose(f);
        r3 = config_ldconfig_normalize(at);
        assert_string_equal(r3, at_real);
        r4 = config_ldconfig_normalize(at_real);
        assert_string_equal(r4, at_real);
        r5 = config_ldconfig_normalize("/sbin/ldconfig");
        assert_string_equal(r5, "/sbin/ldconfig");
        unlink(real);
}

static int setup(void **state) {
        (void) state;
        return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
        const char *names[] = {"config.toml", "default.toml", "env.toml", "os-release"};

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                _cleanup_free_ char *p = tmp_path(names[i]);
                unlink(p);
        }
        return rmdir(tmpdir);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_reference_default_file),
                cmocka_unit_test(test_every_key),
                cmocka_unit_test(test_partial),
                cmocka_unit_test(test_proc_root),
                cmocka_unit_test(test_bad),
                cmocka_unit_test(test_ldconfig_feature),
                cmocka_unit_test(test_unknown_keys),
                cmocka_unit_test(test_path),
                cmocka_unit_test(test_os_release),
                cmocka_unit_test(test_ldconfig_normalize),
        };
        return unit_run_group_tests(tests, setup, teardown);
}
