/* The runtime shim's decisions: which runc/crun command lines it reads a spec for (and which
 * bundle), which low-level runtime it execs, whether a spec asks for a GPU, the mode, and the
 * legacy hook it adds. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "5-apply/spec.h"
#include "oci/shim.h"
#include "unit-tap.h"
#include "util/macros.h"

#define MAXARGS 16

static const struct args_case {
        const char *argv[MAXARGS]; /* after argv[0] */
        int r;
        const char *sub; /* NULL: no subcommand */
        bool modifies;
        const char *bundle, *config, *log, *log_format;
        bool version;
} args_cases[] = {
        /* containerd's runc shim */
        {{"--root", "/x", "--log", "f", "create", "--bundle", "b", "id"},
         0,
         "create",
         true,
         "b",
         NULL,
         "f"},
        {{"create", "-b", "b", "id"}, 0, "create", true, "b"},
        {{"run", "--bundle=b", "id"}, 0, "run", true, "b"},
        /* a bundle called "create" is not the subcommand, anywhere */
        {{"--bundle", "create"}, 0, NULL, false},
        {{"create", "--bundle", "create", "id"}, 0, "create", true, "create"},
        {{"--root", "create", "run", "-b", "b", "id"}, 0, "run", true, "b"},
        {{"--log", "create", "state", "id"}, 0, "state", false, NULL, NULL, "create"},
        {{"create", "--pid-file", "create", "id"}, 0, "create", true, NULL},
        /* options after the container id (runc reorders them), the last bundle wins */
        {{"create", "id", "--bundle", "b", "--pid-file", "p"}, 0, "create", true, "b"},
        {{"create", "--bundle", "b1", "--bundle", "b2", "id"}, 0, "create", true, "b2"},
        {{"create", "id", "--", "--bundle", "x"}, 0, "create", true, NULL},
        /* one dash, inline values, boolean globals, crun's --config */
        {{"-root", "/x", "create", "-b=b", "id"}, 0, "create", true, "b"},
        {{"--log-format=json", "--systemd-cgroup", "--debug", "create", "--bundle", "b", "id"},
         0,
         "create",
         true,
         "b",
         NULL,
         NULL,
         "json"},
        {{"create", "-f", "alt.json", "-b", "b", "id"}, 0, "create", true, "b", "alt.json"},
        {{"--", "create", "id"}, 0, "create", true, NULL},
        /* nothing to read */
        {{"state", "id"}, 0, "state", false},
        {{"delete", "id"}, 0, "delete", false},
        {{"start", "id"}, 0, "start", false},
        {{"spec"}, 0, "spec", false},
        {{"-v"}, 0, NULL, false, .version = true},
        {{"--version"}, 0, NULL, false, .version = true},
        {{"--root"}, 0, NULL, false},
        {{}, 0, NULL, false},
        /* a bundle option without its value: runc will say so */
        {{"create", "-b"}, -EINVAL},
        {{"--bundle"}, -EINVAL},
};

static void args_table(void **state) {
        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(args_cases); i++) {
                const struct args_case *c = &args_cases[i];
                char *argv[MAXARGS + 2] = {(char *) "nvidia-container-runtime"};
                struct runtime_args ra = {.subcommand = -7};
                int argc = 1, r;

                while (c->argv[argc - 1])
                        argv[argc] = (char *) c->argv[argc - 1], argc++;
                r = runtime_args_parse(argc, argv, &ra);
                if (r != c->r)
                        fail_msg("case %zu: returned %d, want %d", i, r, c->r);
                if (r < 0) {
                        assert_int_equal(ra.subcommand, -7); /* untouched on failure */
                        continue;
                }
                if (c->sub ? !ra.subcommand || !STREQ(argv[ra.subcommand], c->sub) : ra.subcommand)
                        fail_msg("case %zu: subcommand %s, want %s", i,
                                 ra.subcommand ? argv[ra.subcommand] : "(none)",
                                 c->sub ? c->sub : "(none)");
#define STR_EQ(a, b) ((!(a) && !(b)) || ((a) && (b) && STREQ((a), (b))))
                if (ra.modifies != c->modifies || !STR_EQ(ra.bundle, c->bundle) ||
                    !STR_EQ(ra.config, c->config) || !STR_EQ(ra.log, c->log) ||
                    !STR_EQ(ra.log_format, c->log_format) || ra.version != c->version)
                        fail_msg("case %zu: modifies %d bundle %s config %s log %s format %s "
                                 "version %d",
                                 i, ra.modifies, ra.bundle, ra.config, ra.log, ra.log_format,
                                 ra.version);
        }
}

static json_t *spec_with_env(const char *var) {
        json_t *s = json_pack("{s:{s:[s]}}", "process", "env", "PATH=/bin");

        if (var)
                json_array_append_new(json_object_get(json_object_get(s, "process"), "env"),
                                      json_string(var));
        return s;
}

static void touch(const char *dir, const char *name, mode_t mode) {
        char p[PATH_MAX];
        int fd;

        snprintf(p, sizeof(p), "%s/%s", dir, name);
        fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, mode);
        assert_true(fd >= 0);
        assert_int_equal(fchmod(fd, mode), 0);
        close(fd);
}

static void find_runtime(void **state) {
        char dir[] = "/tmp/nctk-test-runtime-XXXXXX", want[PATH_MAX], sub[PATH_MAX];
        char *path = NULL;

        (void) state;
        assert_non_null(mkdtemp(dir));
        touch(dir, "fake-runc", 0755);
        touch(dir, "noexec-runc", 0644);
        snprintf(sub, sizeof(sub), "%s/dir-runc", dir);
        assert_int_equal(mkdir(sub, 0755), 0);
        snprintf(want, sizeof(want), "%s/fake-runc", dir);

        char *bare[] = {"missing-runc", "noexec-runc", "dir-runc", "fake-runc", NULL};
        assert_int_equal(runtime_find(bare, dir, &path), 0);
        assert_string_equal(path, want);
        free(path);

        char *abs[] = {"/nonexistent/runc", want, NULL};
        assert_int_equal(runtime_find(abs, NULL, &path), 0);
        assert_string_equal(path, want);
        free(path);

        /* Not on PATH: the system directories are searched too. */
        char *sh[] = {"sh", NULL};
        assert_int_equal(runtime_find(sh, "/nonexistent", &path), 0);
        assert_true(path[0] == '/' && strstr(path, "/sh"));
        free(path);

        /* This very program is never chosen: the shim must not exec itself. */
        char *self[] = {"/proc/self/exe", NULL};
        assert_int_equal(runtime_find(self, NULL, &path), -ENOENT);
        char *none[] = {"missing-runc", "", NULL};
        assert_int_equal(runtime_find(none, dir, &path), -ENOENT);

        unlink(want);
        snprintf(sub, sizeof(sub), "%s/noexec-runc", dir);
        unlink(sub);
        snprintf(sub, sizeof(sub), "%s/dir-runc", dir);
        rmdir(sub);
        rmdir(dir);
}

static void modes(void **state) {
        struct nctk_config *cfg = NULL;
        enum shim_mode m;

        (void) state;
        assert_int_equal(config_load("/nonexistent", false, &cfg, NULL), 0);
        assert_int_equal(shim_mode_resolve(cfg, NULL, &m), 0);
        assert_int_equal(m, SHIM_LEGACY); /* auto */
        assert_int_equal(shim_mode_resolve(cfg, "cdi", &m), 0);
        assert_int_equal(m, SHIM_CDI);
        static const struct {
                const char *mode;
                int r;
                enum shim_mode m;
        } cases[] = {
                {"legacy", 0, SHIM_LEGACY},   {"cdi", 0, SHIM_CDI},
                {"jit-cdi", 0, SHIM_JIT_CDI}, {"csv", -EINVAL, SHIM_LEGACY},
                {"", -EINVAL, SHIM_LEGACY},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                free(cfg->runtime.mode);
                cfg->runtime.mode = strdup(cases[i].mode);
                m = SHIM_LEGACY;
                assert_int_equal(shim_mode_resolve(cfg, NULL, &m), cases[i].r);
                assert_int_equal(m, cases[i].m);
        }
        assert_int_equal(shim_mode_resolve(cfg, "legacy", &m), 0); /* the .legacy binary */
        assert_int_equal(m, SHIM_LEGACY);
        config_free(cfg);
}

static void hook_path(void **state) {
        struct nctk_config *cfg = NULL;
        char self[PATH_MAX], *p = NULL, *sh = realpath("/bin/sh", NULL);
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

        (void) state;
        assert_true(n > 0);
        self[n] = '\0';
        assert_int_equal(config_load("/nonexistent", false, &cfg, NULL), 0);
        /* No nvidia-container-runtime-hook beside this binary: the binary itself. */
        assert_int_equal(shim_hook_path(cfg, &p), 0);
        assert_string_equal(p, self);
        free(p);
        free(cfg->hook.path);
        cfg->hook.path = strdup("/bin/sh");
        assert_int_equal(shim_hook_path(cfg, &p), 0);
        assert_string_equal(p, sh);
        free(p);
        free(sh);
        config_free(cfg);
}

static void legacy_hook(void **state) {
        json_auto_t *spec = spec_with_env("NVIDIA_VISIBLE_DEVICES=0");
        json_auto_t *docker = json_pack("{s:{s:[{s:s, s:[s, s]}]}}", "hooks", "prestart", "path",
                                        "/usr/bin/nvidia-container-runtime-hook", "args",
                                        "nvidia-container-runtime-hook", "prestart");
        json_auto_t *docker_orig = json_deep_copy(docker);
        json_t *h;

        (void) state;
        assert_int_equal(shim_legacy(spec, "/usr/bin/nctk", NULL), 1);
        h = json_array_get(json_object_get(json_object_get(spec, "hooks"), "prestart"), 0);
        assert_string_equal(json_string_value(json_object_get(h, "path")), "/usr/bin/nctk");
        assert_string_equal(json_string_value(json_array_get(json_object_get(h, "args"), 1)),
                            "prestart");
        assert_string_equal(json_string_value(json_array_get(json_object_get(h, "env"), 0)),
                            SPEC_HOOK_PATH_ENV);
        /* Once is enough, and dockerd's --gpus hook is left as it is. */
        assert_int_equal(shim_legacy(spec, "/usr/bin/nctk", NULL), 0);
        assert_int_equal(
                json_array_size(json_object_get(json_object_get(spec, "hooks"), "prestart")), 1);
        assert_int_equal(shim_legacy(docker, "/usr/bin/nctk", NULL), 0);
        assert_true(json_equal(docker, docker_orig));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(args_table),  cmocka_unit_test(find_runtime),
                cmocka_unit_test(modes),       cmocka_unit_test(hook_path),
                cmocka_unit_test(legacy_hook),
        };

        unsetenv("NVIDIA_CTK_CONFIG_FILE_PATH");
        unsetenv("XDG_CONFIG_HOME");
        return unit_run_group_tests(tests, NULL, NULL);
}
