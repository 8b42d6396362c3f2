/* containerd's config.toml editor: what configure writes for config versions 1, 2 and 3, that
 * a second run changes nothing, that unconfigure gives the input back byte for byte, imports,
 * config versions and errors. Python's tests/integration/test-containerd-edit.py adds
 * generated files and a real containerd. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/engine.h"
#include "unit-tap.h"
#include "util/macros.h"

static const struct engine_runtime plain = {.name = "nvidia", .path = "/usr/bin/nvidia-ctr"};
static const struct engine_runtime all = {.name = "nvidia",
                                          .path = "/usr/bin/nvidia-ctr",
                                          .set_as_default = true,
                                          .cdi_enabled = true};

/* configure IN to WANT; again changes nothing; unconfigure gives IN back (when ROUND). */
static void check_configure(const char *in, const struct engine_runtime *rt, int new_version,
                            const char *want, bool round) {
        struct engine_text out = {0}, again = {0}, back = {0};
        struct nctk_error *err = NULL;
        int r = containerd_configure(in, strlen(in), rt, new_version, &out, &err);

        if (r < 0)
                fail_msg("configure: %s", err ? err->msg : "?");
        assert_string_equal(out.data, want);
        assert_int_equal(out.len, strlen(want));
        assert_int_equal(containerd_configure(out.data, out.len, rt, new_version, &again, NULL), 0);
        assert_string_equal(again.data, out.data);
        assert_int_equal(containerd_unconfigure(out.data, out.len, rt, &back, NULL), 0);
        if (round)
                assert_string_equal(back.data, in);
        engine_text_free(&out);
        engine_text_free(&again);
        engine_text_free(&back);
}

static void test_empty(void **state) {
        (void) state;
        check_configure(
                "", &plain, 2,
                "version = 2\n\n"
                "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.nvidia]\n"
                "runtime_type = \"io.containerd.runc.v2\"\n"
                "container_annotations = [\"cdi.k8s.io/*\"]\n\n"
                "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.nvidia.options]\n"
                "BinaryName = \"/usr/bin/nvidia-ctr\"\n",
                false);
        check_configure("# only a comment\n", &all, 3,
                        "# only a comment\nversion = 3\n\n"
                        "[plugins.\"io.containerd.cri.v1.runtime\"]\nenable_cdi = true\n\n"
                        "[plugins.\"io.containerd.cri.v1.runtime\".containerd]\n"
                        "default_runtime_name = \"nvidia\"\n\n"
                        "[plugins.\"io.containerd.cri.v1.runtime\".containerd.runtimes.nvidia]\n"
                        "runtime_type = \"io.containerd.runc.v2\"\n"
                        "container_annotations = [\"cdi.k8s.io/*\"]\n\n"
                        "[plugins.\"io.containerd.cri.v1.runtime\".containerd.runtimes.nvidia."
                        "options]\nBinaryName = \"/usr/bin/nvidia-ctr\"\n",
                        false);
}

/* containerd 1.6's `config default`, cut down: runc's keys and options are copied. */
static const char v2_in[] =
        "version = 2\n\n"
        "[plugins]\n\n"
        "  [plugins.\"io.containerd.grpc.v1.cri\"]\n"
        "    sandbox_image = \"registry.k8s.io/pause:3.6\" # pinned\n\n"
        "    [plugins.\"io.containerd.grpc.v1.cri\".containerd]\n"
        "      default_runtime_name = \"runc\"\n"
        "      snapshotter = \"overlayfs\"\n\n"
        "      [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes]\n\n"
        "        [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n"
        "          runtime_type = \"io.containerd.runc.v2\"\n\n"
        "          [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]\n"
        "            BinaryName = \"\"\n"
        "            SystemdCgroup = true\n\n"
        "  [plugins.\"io.containerd.internal.v1.opt\"]\n"
        "    path = \"/opt/containerd\"\n";

static void test_v2(void **state) {
        (void) state;
        check_configure(
                v2_in, &all, 2,
                "version = 2\n\n"
                "[plugins]\n\n"
                "  [plugins.\"io.containerd.grpc.v1.cri\"]\n"
                "    sandbox_image = \"registry.k8s.io/pause:3.6\" # pinned\n"
                "    enable_cdi = true\n\n"
                "    [plugins.\"io.containerd.grpc.v1.cri\".containerd]\n"
                "      default_runtime_name = \"nvidia\" # nvidia-ctk replaced: \"runc\"\n"
                "      snapshotter = \"overlayfs\"\n\n"
                "      [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes]\n\n"
                "        [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n"
                "          runtime_type = \"io.containerd.runc.v2\"\n\n"
                "          "
                "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]\n"
                "            BinaryName = \"\"\n"
                "            SystemdCgroup = true\n\n"
                "        [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.nvidia]\n"
                "          runtime_type = \"io.containerd.runc.v2\"\n"
                "          container_annotations = [\"cdi.k8s.io/*\"]\n\n"
                "          [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.nvidia."
                "options]\n"
                "            BinaryName = \"/usr/bin/nvidia-ctr\"\n"
                "            SystemdCgroup = true\n\n"
                "  [plugins.\"io.containerd.internal.v1.opt\"]\n"
                "    path = \"/opt/containerd\"\n",
                true);
}

static void test_v1(void **state) {
        (void) state;
        check_configure(
                "# v1: no version line\r\n[plugins.cri.containerd]\r\n"
                "  snapshotter = \"overlayfs\"\r\n",
                &all, 2,
                "# v1: no version line\r\n[plugins.cri.containerd]\r\n"
                "  snapshotter = \"overlayfs\"\r\n  default_runtime_name = \"nvidia\"\r\n\r\n"
                "[plugins.cri.containerd.runtimes.nvidia]\r\n"
                "  runtime_type = \"io.containerd.runc.v2\"\r\n"
                "  container_annotations = [\"cdi.k8s.io/*\"]\r\n\r\n"
                "[plugins.cri.containerd.runtimes.nvidia.options]\r\n"
                "  BinaryName = \"/usr/bin/nvidia-ctr\"\r\n\r\n"
                "[plugins.cri]\r\n  enable_cdi = true\r\n",
                true);
}

/* containerd 2.x writes literal strings; its runtime table lives in cri.v1.runtime. */
static void test_v3(void **state) {
        (void) state;
        check_configure(
                "version = 3\n"
                "[plugins]\n"
                "  [plugins.'io.containerd.cri.v1.runtime']\n"
                "    enable_cdi = false\n"
                "    [plugins.'io.containerd.cri.v1.runtime'.containerd]\n"
                "      default_runtime_name = 'runc'\n"
                "      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]\n"
                "        runtime_type = 'io.containerd.runc.v2'\n"
                "        "
                "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]\n"
                "          SystemdCgroup = false\n",
                &all, 3,
                "version = 3\n"
                "[plugins]\n"
                "  [plugins.'io.containerd.cri.v1.runtime']\n"
                "    enable_cdi = true # nvidia-ctk replaced: false\n"
                "    [plugins.'io.containerd.cri.v1.runtime'.containerd]\n"
                "      default_runtime_name = \"nvidia\" # nvidia-ctk replaced: 'runc'\n"
                "      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]\n"
                "        runtime_type = 'io.containerd.runc.v2'\n"
                "        "
                "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]\n"
                "          SystemdCgroup = false\n\n"
                "      [plugins.\"io.containerd.cri.v1.runtime\".containerd.runtimes.nvidia]\n"
                "        runtime_type = 'io.containerd.runc.v2'\n"
                "        container_annotations = [\"cdi.k8s.io/*\"]\n\n"
                "        [plugins.\"io.containerd.cri.v1.runtime\".containerd.runtimes.nvidia."
                "options]\n"
                "          SystemdCgroup = false\n"
                "          BinaryName = \"/usr/bin/nvidia-ctr\"\n",
                true);
}

/* A runtime table already there is completed, not copied over; unconfigure takes it all. */
static void test_existing_runtime(void **state) {
        struct engine_text out = {0};
        const char *in =
                "version = 2\n"
                "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.nvidia.options]\n"
                "  BinaryName = \"/old\" # old one\n";
        (void) state;

        check_configure(
                in, &plain, 2,
                "version = 2\n"
                "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.nvidia.options]\n"
                "  BinaryName = \"/usr/bin/nvidia-ctr\" # old one\n\n"
                "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.nvidia]\n"
                "  runtime_type = \"io.containerd.runc.v2\"\n"
                "  container_annotations = [\"cdi.k8s.io/*\"]\n",
                false);
        assert_int_equal(containerd_unconfigure(in, strlen(in), &plain, &out, NULL), 0);
        assert_string_equal(out.data, "version = 2\n");
        engine_text_free(&out);
}

/* runc written as an inline table: nothing to copy from, the runtime gets the plain keys. */
/* runc's container_annotations are copied with the CDI pattern added: containerd 1.6 passes a
 * CRI annotation into the spec only where the runtime lists it. */
static void test_annotations_copied_with_cdi(void **state) {
        static const char *const cases[][2] = {
                {"[]", "container_annotations = [\"cdi.k8s.io/*\"]\n"},
                {"[ \"a/*\" ]", "container_annotations = [\"cdi.k8s.io/*\",  \"a/*\" ]\n"},
                {"[\"cdi.k8s.io/*\", \"b\"]",
                 "container_annotations = [\"cdi.k8s.io/*\", \"b\"]\n"},
        };
        (void) state;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct engine_text out = {0};
                char *in = NULL;

                assert_true(asprintf(&in,
                                     "version = 2\n"
                                     "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes."
                                     "runc]\ncontainer_annotations = %s\n",
                                     cases[i][0]) > 0);
                assert_int_equal(containerd_configure(in, strlen(in), &plain, 2, &out, NULL), 0);
                /* runc's line is kept as it was; the runtime's copy has the pattern */
                assert_non_null(strstr(out.data, in + strlen("version = 2\n")));
                assert_non_null(strstr(strstr(out.data, "runtimes.nvidia]"), cases[i][1]));
                engine_text_free(&out);
                free(in);
        }
}

static void test_inline_runc(void **state) {
        (void) state;
        check_configure(
                "version = 2\n"
                "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes]\n"
                "runc = { runtime_type = \"io.containerd.runc.v2\" }\n",
                &plain, 2,
                "version = 2\n"
                "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes]\n"
                "runc = { runtime_type = \"io.containerd.runc.v2\" }\n\n"
                "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.nvidia]\n"
                "runtime_type = \"io.containerd.runc.v2\"\n"
                "container_annotations = [\"cdi.k8s.io/*\"]\n\n"
                "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.nvidia.options]\n"
                "BinaryName = \"/usr/bin/nvidia-ctr\"\n",
                true);
}

/* A drop-in takes the main config's version and, for containerd 1.x (which takes an imported
 * plugin section whole), a copy of the CRI plugin's keys: runc's SystemdCgroup among them. */
static void test_dropin(void **state) {
        struct engine_text out = {0}, back = {0};
        (void) state;

        assert_int_equal(
                containerd_configure_dropin(v2_in, strlen(v2_in), "", 0, &all, 3, &out, NULL), 0);
        assert_string_equal(
                out.data,
                "version = 2\n\n"
                "[plugins.\"io.containerd.grpc.v1.cri\"]\n"
                "sandbox_image = \"registry.k8s.io/pause:3.6\"\nenable_cdi = true\n\n"
                "[plugins.\"io.containerd.grpc.v1.cri\".containerd]\n"
                "default_runtime_name = \"nvidia\" # nvidia-ctk replaced: \"runc\"\n"
                "snapshotter = \"overlayfs\"\n\n"
                "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n"
                "runtime_type = \"io.containerd.runc.v2\"\n\n"
                "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]\n"
                "BinaryName = \"\"\nSystemdCgroup = true\n\n"
                "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.nvidia]\n"
                "runtime_type = \"io.containerd.runc.v2\"\n"
                "container_annotations = [\"cdi.k8s.io/*\"]\n\n"
                "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.nvidia.options]\n"
                "BinaryName = \"/usr/bin/nvidia-ctr\"\nSystemdCgroup = true\n");
        assert_int_equal(containerd_unconfigure(out.data, out.len, &all, &back, NULL), 0);
        assert_null(strstr(back.data, "nvidia"));
        assert_non_null(strstr(back.data, "default_runtime_name = \"runc\"\n"));
        engine_text_free(&out);
        engine_text_free(&back);
        /* the second run finds its copy and changes nothing */
        assert_int_equal(
                containerd_configure_dropin(v2_in, strlen(v2_in), "", 0, &all, 3, &out, NULL), 0);
        assert_int_equal(containerd_configure_dropin(v2_in, strlen(v2_in), out.data, out.len, &all,
                                                     3, &back, NULL),
                         0);
        assert_string_equal(back.data, out.data);
        engine_text_free(&out);
        engine_text_free(&back);
        /* config version 3 (containerd 2.x merges imports): the runtime alone */
        assert_int_equal(
                containerd_configure_dropin("version = 3\n", 12, "", 0, &plain, 2, &out, NULL), 0);
        assert_string_equal(
                out.data, "version = 3\n\n"
                          "[plugins.\"io.containerd.cri.v1.runtime\".containerd.runtimes.nvidia]\n"
                          "runtime_type = \"io.containerd.runc.v2\"\n"
                          "container_annotations = [\"cdi.k8s.io/*\"]\n\n"
                          "[plugins.\"io.containerd.cri.v1.runtime\".containerd.runtimes.nvidia."
                          "options]\nBinaryName = \"/usr/bin/nvidia-ctr\"\n");
        engine_text_free(&out);
        /* a blank main config: the drop-in gets NEW_VERSION, and runc for containerd 1.x */
        assert_int_equal(containerd_configure_dropin("", 0, "", 0, &plain, 2, &out, NULL), 0);
        assert_non_null(strstr(out.data, "containerd.runtimes.runc]\nruntime_type"));
        engine_text_free(&out);
        assert_int_equal(containerd_configure_dropin("", 0, "", 0, &plain, 3, &out, NULL), 0);
        assert_true(strncmp(out.data, "version = 3\n", 12) == 0);
        engine_text_free(&out);
}

static void check_error(const char *in, const struct engine_runtime *rt, int want,
                        const char *msg) {
        struct engine_text out = {0};
        struct nctk_error *err = NULL;

        assert_int_equal(containerd_configure(in, strlen(in), rt, 2, &out, &err), want);
        assert_null(out.data);
        assert_non_null(err);
        if (!strstr(err->msg, msg))
                fail_msg("message '%s' lacks '%s'", err->msg, msg);
        nctk_error_free(&err);
}

static void test_errors(void **state) {
        const struct engine_runtime bad = {.name = "nv\"idia", .path = "/x"};
        (void) state;

        check_error("[plugins\n", &plain, -EINVAL, "config.toml:1:9: expected ']'");
        check_error("version = 2\nversion = 3\n", &plain, -EINVAL, "config.toml:2: duplicate");
        check_error("version = 7\n", &plain, -EOPNOTSUPP, "config version 7 is not supported");
        check_error("version = \"2\"\n", &plain, -EINVAL, "'version' must be an integer");
        check_error("", &bad, -EINVAL, "invalid runtime name 'nv\"idia'");
        check_error(
                "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd]\nruntimes = 1\n",
                &plain, -ENOTDIR, "holds a value, not a table");
}

static void test_version(void **state) {
        (void) state;
        assert_int_equal(containerd_config_version("", 0), 0);
        assert_int_equal(containerd_config_version("# c\n\n", 5), 0);
        assert_int_equal(containerd_config_version("[plugins]\n", 10), 1);
        assert_int_equal(containerd_config_version("version = 2\n", 12), 2);
        assert_int_equal(containerd_config_version("\xef\xbb\xbfversion = 3\r\n", 16), 3);
        assert_int_equal(containerd_config_version("version = 4\n", 12), -EOPNOTSUPP);
        assert_int_equal(containerd_config_version("version = \n", 11), -EINVAL);
        assert_int_equal(containerd_config_version("version = 'x'\n", 14), -EINVAL);
}

static void check_import(const char *in, const char *want) {
        const char *glob = "/etc/containerd/conf.d/*.toml";
        struct engine_text out = {0}, again = {0}, back = {0};

        assert_int_equal(containerd_import_add(in, strlen(in), glob, &out, NULL), 0);
        assert_string_equal(out.data, want);
        assert_int_equal(containerd_import_add(out.data, out.len, glob, &again, NULL), 0);
        assert_string_equal(again.data, want);
        assert_int_equal(containerd_import_remove(out.data, out.len, glob, &back, NULL), 0);
        assert_string_equal(back.data, in);
        engine_text_free(&out);
        engine_text_free(&again);
        engine_text_free(&back);
}

static void test_imports(void **state) {
        (void) state;
        check_import("version = 2\n[a]\n",
                     "version = 2\nimports = [\"/etc/containerd/conf.d/*.toml\"]"
                     " # added by nvidia-ctk\n[a]\n");
        check_import("imports = []\nversion = 2\n",
                     "imports = [\"/etc/containerd/conf.d/*.toml\"]\nversion = 2\n");
        check_import("imports = [\"/a.toml\"] # mine\n",
                     "imports = [\"/a.toml\", \"/etc/containerd/conf.d/*.toml\"] # mine\n");
        check_import("imports = [\n  \"/a.toml\", # a\n]\n",
                     "imports = [\n  \"/a.toml\", # a\n\"/etc/containerd/conf.d/*.toml\"]\n");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_empty),
                cmocka_unit_test(test_v2),
                cmocka_unit_test(test_v1),
                cmocka_unit_test(test_v3),
                cmocka_unit_test(test_existing_runtime),
                cmocka_unit_test(test_annotations_copied_with_cdi),
                cmocka_unit_test(test_inline_runc),
                cmocka_unit_test(test_dropin),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_version),
                cmocka_unit_test(test_imports),
        };
        return unit_run_group_tests(tests, NULL, NULL);
}
