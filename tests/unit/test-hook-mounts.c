/* The mounts and nodes that cdi mode hands to its createContainer hook when the low-level
 * runtime is not trusted with them: config.json keeps neither (the cgroup rules stay), the
 * hook's command line carries them, and the hook's parser reads back exactly what was written;
 * malformed values are refused. Also which runtime versions count as safe. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "5-apply/apply.h"
#include "5-apply/hook-mounts.h"
#include "5-apply/spec.h"
#include "oci/runtime-safety.h"
#include "unit-tap.h"
#include "util/macros.h"

#define LIB "/usr/lib/x86_64-linux-gnu/libcuda.so.580.159.04"
#define MIG "/proc/driver/nvidia/capabilities/gpu0/mig/gi7/access"

static struct edit_mount mounts[] = {
        {"/drv" LIB, LIB, MOUNT_RDONLY | MOUNT_NOSUID | MOUNT_NODEV},
        {"/run/nvidia-persistenced/socket", "/run/nvidia-persistenced/socket",
         MOUNT_NOSUID | MOUNT_NODEV | MOUNT_NOEXEC},
        {"/drv/usr/share/nvidia", "/usr/share/nvidia", 0},
        {"/drv" MIG, MIG, MOUNT_RDONLY | MOUNT_NOSUID | MOUNT_NODEV | MOUNT_NOEXEC},
};
static struct edit_node nodes[] = {
        {"/dev/nvidiactl", "/dev/nvidiactl", 195, 255, 0666},
        {"/drv/dev/nvidia1", "/dev/nvidia1", 195, 1, 0666},
};
static struct edit_rule rules[] = {{'c', 195, 255, 3}, {'c', 195, 1, 3}};

static const struct edits edits = {
        .n_mounts = ELEMENTSOF(mounts),
        .mounts = mounts,
        .n_nodes = ELEMENTSOF(nodes),
        .nodes = nodes,
        .n_rules = ELEMENTSOF(rules),
        .rules = rules,
};

static const struct spec_opts opts = {
        .hook_path = "/usr/bin/nctk", .rootfs = "/b/rootfs", .mounts_in_hook = true};

static json_t *applied(void) {
        json_t *spec = json_pack("{s:[], s:{}}", "mounts", "linux");

        assert_non_null(spec);
        assert_int_equal(spec_apply_edits(spec, &edits, &opts, NULL), 0);
        return spec;
}

static void spec_keeps_rules_only(void **state) {
        json_auto_t *spec = applied();
        json_t *linux_ = json_object_get(spec, "linux");
        json_t *args = json_object_get(
                json_array_get(json_object_get(json_object_get(spec, "hooks"), "createContainer"),
                               0),
                "args");
        json_auto_t *want = json_pack(
                "[s, s, s, s, s, s, s, s, s, s, s, s, s, s, s]", "nctk", SPEC_HOOK_FINALIZE,
                "--proc-mount", "/drv" MIG "::" MIG, "--mount", "ro,nosuid,nodev:/drv" LIB "::" LIB,
                "--mount", "nosuid,nodev,noexec:/run/nvidia-persistenced/socket", "--mount",
                ":/drv/usr/share/nvidia::/usr/share/nvidia", "--node", "195:255:/dev/nvidiactl",
                "--node", "195:1:/drv/dev/nvidia1::/dev/nvidia1", "/b/rootfs");

        (void) state;
        assert_int_equal(json_array_size(json_object_get(spec, "mounts")), 0);
        assert_null(json_object_get(linux_, "devices"));
        assert_int_equal(
                json_array_size(json_object_get(json_object_get(linux_, "resources"), "devices")),
                2);
        if (!json_equal(args, want))
                fail_msg("args %s", json_dumps(args, JSON_COMPACT));
}

/* What the engine already put in config.json (a mount at one of our targets, a device node we
 * would bind) is the runtime's, as in spec_apply_edits without the hook: not carried twice. */
static void engine_entries_kept(void **state) {
        json_auto_t *spec = json_pack(
                "{s:[{s:s, s:s, s:s}], s:{s:[{s:s, s:s, s:i, s:i}]}}", "mounts", "destination",
                "/run/nvidia-persistenced/socket", "type", "bind", "source", "/elsewhere", "linux",
                "devices", "path", "/dev/nvidiactl", "type", "c", "major", 195, "minor", 255);
        json_auto_t *before = json_deep_copy(spec);
        json_t *args;
        char *text;

        (void) state;
        assert_int_equal(spec_apply_edits(spec, &edits, &opts, NULL), 0);
        assert_true(json_equal(json_object_get(spec, "mounts"), json_object_get(before, "mounts")));
        assert_true(json_equal(json_object_get(json_object_get(spec, "linux"), "devices"),
                               json_object_get(json_object_get(before, "linux"), "devices")));
        args = json_object_get(
                json_array_get(json_object_get(json_object_get(spec, "hooks"), "createContainer"),
                               0),
                "args");
        text = json_dumps(args, JSON_COMPACT);
        assert_null(strstr(text, "persistenced"));
        assert_null(strstr(text, "nvidiactl"));
        assert_non_null(strstr(text, "\"195:1:/drv/dev/nvidia1::/dev/nvidia1\""));
        assert_non_null(strstr(text, "\"ro,nosuid,nodev:/drv" LIB "::" LIB "\""));
        free(text);
}

static void parser_reads_back(void **state) {
        json_auto_t *spec = applied();
        json_t *args = json_object_get(
                json_array_get(json_object_get(json_object_get(spec, "hooks"), "createContainer"),
                               0),
                "args");
        size_t argc = json_array_size(args) - 1;
        char **argv = calloc(argc + 1, sizeof(char *));
        struct edits *e = calloc(1, sizeof(*e));
        struct finalize_opts o = {};
        struct nctk_error *err = NULL;

        (void) state;
        for (size_t i = 0; i < argc; i++) /* argv[0] is the subcommand, as nctk's main gives it */
                argv[i] = (char *) json_string_value(json_array_get(args, i + 1));
        assert_int_equal(finalize_args_parse((int) argc, argv, e, &o, &err), 0);
        assert_null(err);
        assert_string_equal(o.rootfs, "/b/rootfs");
        assert_int_equal(e->n_mounts, ELEMENTSOF(mounts));
        /* The /proc mount comes first on the command line. */
        for (size_t i = 0; i < ELEMENTSOF(mounts); i++) {
                const struct edit_mount *w = &mounts[(i + 3) % ELEMENTSOF(mounts)];
                assert_string_equal(e->mounts[i].source, w->source);
                assert_string_equal(e->mounts[i].target, w->target);
                assert_int_equal(e->mounts[i].flags, w->flags);
        }
        assert_int_equal(e->n_nodes, ELEMENTSOF(nodes));
        for (size_t i = 0; i < ELEMENTSOF(nodes); i++) {
                assert_string_equal(e->nodes[i].source, nodes[i].source);
                assert_string_equal(e->nodes[i].target, nodes[i].target);
                assert_int_equal(e->nodes[i].major, nodes[i].major);
                assert_int_equal(e->nodes[i].minor, nodes[i].minor);
        }
        edits_free(e);
        free(argv);
}

static void malformed_values(void **state) {
        static const char *const mounts_bad[] = {
                "/a",       "ro/a",     "ro:a",           "rw:/a",    "ro,,nodev:/a",
                "ro:/a::b", "ro:/a::/", "ro:/a::/proc/x", "ro:/proc", "",
        };
        static const char *const nodes_bad[] = {
                "/dev/x",      "195:/dev/x",           "x:1:/dev/x",
                "195:1:dev/x", "195:1:/a::/proc/self", "195:1",
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(mounts_bad); i++) {
                struct edits e = {};
                if (hook_mount_parse(&e, mounts_bad[i]) != -EINVAL)
                        fail_msg("--mount '%s' accepted", mounts_bad[i]);
                assert_int_equal(e.n_mounts, 0);
        }
        for (size_t i = 0; i < ELEMENTSOF(nodes_bad); i++) {
                struct edits e = {};
                if (hook_node_parse(&e, nodes_bad[i]) != -EINVAL)
                        fail_msg("--node '%s' accepted", nodes_bad[i]);
                assert_int_equal(e.n_nodes, 0);
        }
}

static void safe_versions(void **state) {
        static const struct {
                const char *out;
                int want;
        } cases[] = {
                {"runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1+deb12u1\nspec: 1.0.2-dev\n", 0},
                {"runc version 1.1.13\n", 0},
                {"runc version 1.1.14\n", 1},
                {"runc version 1.1.15+dfsg\n", 1},
                {"runc version 1.0.3\n", 0},
                {"runc version 1.2.0-rc.2\n", 0},
                {"runc version 1.2.0-rc.3\n", 1},
                {"runc version 1.2.0\n", 1},
                {"runc version 1.3.1\n", 1},
                {"runc version 2.0.0\n", 1},
                {"crun version 1.8.1\ncommit: f8a0\n", 1},
                {"youki version 0.3.0\n", 0},
                {"runc version unknown\n", 0},
                {"", 0},
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                if (runtime_version_is_safe(cases[i].out) != cases[i].want)
                        fail_msg("'%s': want %d", cases[i].out, cases[i].want);
        assert_int_equal(runtime_version_is_safe(NULL), 0);
}

static void settings(void **state) {
        bool in_hook = false;

        (void) state;
        assert_int_equal(runtime_mounts_in_hook("always", "/nonexistent", &in_hook), 0);
        assert_true(in_hook);
        assert_int_equal(runtime_mounts_in_hook("never", "/nonexistent", &in_hook), 0);
        assert_false(in_hook);
        /* A runtime that cannot be asked is not known safe. */
        assert_int_equal(runtime_mounts_in_hook(NULL, "/nonexistent", &in_hook), 0);
        assert_true(in_hook);
        assert_int_equal(runtime_mounts_in_hook("auto", "/bin/true", &in_hook), 0);
        assert_true(in_hook);
        assert_int_equal(runtime_mounts_in_hook("sometimes", "/bin/true", &in_hook), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(spec_keeps_rules_only), cmocka_unit_test(parser_reads_back),
                cmocka_unit_test(engine_entries_kept),   cmocka_unit_test(malformed_values),
                cmocka_unit_test(safe_versions),         cmocka_unit_test(settings),
        };

        return unit_run_group_tests(tests, NULL, NULL);
}
