/* Unit tests for the files nvidia-ctk writes whole (the CRI-O drop-in, the hooks.d JSON) and for
 * the unified diff of --dry-run, which `patch` must apply (checked on random texts). */
#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/engine.h"
#include "unit-tap.h"
#include "util/macros.h"
#include "util/udiff.h"

static void test_crio(void **state) {
        const struct engine_runtime rt = {"nvidia", "/usr/bin/nvidia-container-runtime", false,
                                          false};
        const struct engine_runtime def = {"nv.x", "/opt/\"q\"\\b", true, false};
        struct engine_text t = {};

        (void) state;
        assert_int_equal(crio_dropin(&rt, &t, NULL), 0);
        assert_string_equal(t.data,
                            "# The NVIDIA runtime for CRI-O, written by `nvidia-ctk runtime "
                            "configure`;\n# `nvidia-ctk runtime unconfigure --runtime=crio` "
                            "removes this file.\n\n[crio.runtime.runtimes.nvidia]\n"
                            "runtime_path = \"/usr/bin/nvidia-container-runtime\"\n"
                            "runtime_type = \"oci\"\n");
        engine_text_free(&t);
        assert_int_equal(crio_dropin(&def, &t, NULL), 0);
        assert_non_null(strstr(t.data, "\n[crio.runtime]\ndefault_runtime = \"nv.x\"\n\n"
                                       "[crio.runtime.runtimes.\"nv.x\"]\n"
                                       "runtime_path = \"/opt/\\\"q\\\"\\\\b\"\n"));
        engine_text_free(&t);
        assert_int_equal(crio_dropin(&(struct engine_runtime){"a b", "/x", false, false}, &t, NULL),
                         -EINVAL);
}

static void test_ocihook(void **state) {
        struct engine_text t = {};
        json_t *doc, *hook, *want;

        (void) state;
        assert_int_equal(ocihook_json("/opt/nv/bin/nvidia-container-runtime-hook", &t, NULL), 0);
        doc = json_loadb(t.data, t.len, 0, NULL);
        assert_non_null(doc);
        assert_string_equal(json_string_value(json_object_get(doc, "version")), "1.0.0");
        hook = json_object_get(doc, "hook");
        assert_string_equal(json_string_value(json_object_get(hook, "path")),
                            "/opt/nv/bin/nvidia-container-runtime-hook");
        want = json_pack("[ss]", "nvidia-container-runtime-hook", "prestart");
        assert_true(json_equal(json_object_get(hook, "args"), want));
        json_decref(want);
        assert_string_equal(json_string_value(json_array_get(json_object_get(hook, "env"), 0)),
                            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:"
                            "/opt/nv/bin");
        assert_true(json_is_true(json_object_get(json_object_get(doc, "when"), "always")));
        want = json_pack("[s]", "prestart");
        assert_true(json_equal(json_object_get(doc, "stages"), want));
        json_decref(want);
        json_decref(doc);
        engine_text_free(&t);
        assert_int_equal(ocihook_json("/usr/bin/nvidia-container-runtime-hook", &t, NULL), 0);
        assert_non_null(strstr(t.data, "\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
                                       "/sbin:/bin\""));
        engine_text_free(&t);
        assert_int_equal(ocihook_json("relative/hook", &t, NULL), -EINVAL);
}

static char *diff(const char *a, const char *b) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        assert_non_null(f);
        assert_int_equal(udiff_write(f, "a.txt", "a.txt", a, strlen(a), b, strlen(b)), 0);
        fclose(f);
        return buf;
}

static void test_udiff_exact(void **state) {
        _cleanup_free_ char *same = diff("x\n", "x\n");
        _cleanup_free_ char *d1 =
                diff("1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", "1\n2\n3\n4\nfive\n6\n7\n8\n9\n10\n");
        _cleanup_free_ char *d2 = diff("a\nb", "a\nb\n");
        _cleanup_free_ char *d3 = diff("", "new\n");

        (void) state;
        assert_string_equal(same, "");
        assert_string_equal(d1, "--- a.txt\n+++ a.txt\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n"
                                " 7\n 8\n");
        assert_string_equal(d2, "--- a.txt\n+++ a.txt\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at "
                                "end of file\n+b\n");
        assert_string_equal(d3, "--- a.txt\n+++ a.txt\n@@ -0,0 +1,1 @@\n+new\n");
}

static char *random_text(unsigned *seed, size_t lines) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        assert_non_null(f);
        for (size_t i = 0; i < lines; i++)
                fprintf(f, "line %d%s", rand_r(seed) % 6,
                        i + 1 < lines || rand_r(seed) % 2 ? "\n" : "");
        fclose(f);
        return buf;
}

static void write_file(const char *path, const char *data) {
        FILE *f = fopen(path, "w");

        assert_non_null(f);
        fputs(data, f);
        assert_int_equal(fclose(f), 0);
}

static char *read_file(const char *path) {
        char *buf = NULL;
        size_t cap = 0;
        FILE *f = fopen(path, "r");
        ssize_t n;

        assert_non_null(f);
        n = getdelim(&buf, &cap, '\0', f);
        fclose(f);
        if (n < 0) {
                free(buf);
                return strdup("");
        }
        return buf;
}

/* patch(1) applies every diff: the old text becomes the new one. */
static void test_udiff_patch(void **state) {
        char dir[] = "/tmp/nctk-udiff-XXXXXX";
        unsigned seed = 7;

        (void) state;
        if (access("/usr/bin/patch", X_OK) != 0)
                fail_msg("patch(1) is not installed (scripts/deps.sh installs it)");
        assert_non_null(mkdtemp(dir));
        assert_int_equal(chdir(dir), 0);
        for (int i = 0; i < 200; i++) {
                _cleanup_free_ char *a = random_text(&seed, (size_t) (rand_r(&seed) % 30));
                _cleanup_free_ char *b = random_text(&seed, (size_t) (rand_r(&seed) % 30));
                _cleanup_free_ char *d = diff(a, b);
                _cleanup_free_ char *got = NULL;

                write_file("a.txt", a);
                write_file("a.diff", d);
                if (d[0] && system("patch -s -p0 < a.diff") != 0)
                        fail_msg("patch refused:\n%s", d);
                got = read_file("a.txt");
                if (!STREQ(got, b))
                        fail_msg("patched text differs\nold:\n%s\nnew:\n%s\ndiff:\n%s", a, b, d);
        }
        unlink("a.txt");
        unlink("a.diff");
        assert_int_equal(chdir("/"), 0);
        assert_int_equal(rmdir(dir), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_crio),
                cmocka_unit_test(test_ocihook),
                cmocka_unit_test(test_udiff_exact),
                cmocka_unit_test(test_udiff_patch),
        };
        return unit_run_group_tests(tests, NULL, NULL);
}
