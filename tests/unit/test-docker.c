/* Unit tests for the daemon.json editor (src/engine/docker.c) and its scanner: exact outputs for
 * the common shapes, and for many shapes the laws: the output parses to the input document plus
 * our members (jansson), configure twice equals once, unconfigure(configure(x)) == x byte for
 * byte; malformed input fails with its line and column. */
#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/engine.h"
#include "unit-tap.h"
#include "util/macros.h"

#define PATH "/usr/bin/nvidia-container-runtime"

static const struct engine_runtime plain = {"nvidia", PATH, false, false};
static const struct engine_runtime all = {"nvidia", PATH, true, true};

static char *configure(const char *in, const struct engine_runtime *rt) {
        struct engine_text out = {};
        struct nctk_error *err = NULL;
        int r = docker_configure(in, strlen(in), rt, &out, &err);

        if (r < 0)
                fail_msg("configure failed: %s\ninput: %s", err ? err->msg : "?", in);
        assert_int_equal(strlen(out.data), out.len);
        return out.data;
}

static char *unconfigure(const char *in, const struct engine_runtime *rt) {
        struct engine_text out = {};
        struct nctk_error *err = NULL;
        int r = docker_unconfigure(in, strlen(in), rt, &out, &err);

        if (r < 0)
                fail_msg("unconfigure failed: %s\ninput: %s", err ? err->msg : "?", in);
        return out.data;
}

static void test_empty_file(void **state) {
        _cleanup_free_ char *out = configure("", &plain);
        _cleanup_free_ char *back = NULL;

        (void) state;
        assert_string_equal(out, "{\n"
                                 "  \"runtimes\": {\n"
                                 "    \"nvidia\": {\n"
                                 "      \"path\": \"" PATH "\",\n"
                                 "      \"args\": []\n"
                                 "    }\n"
                                 "  }\n"
                                 "}\n");
        /* Documented: a file that was empty is left as an empty object. */
        back = unconfigure(out, &plain);
        assert_string_equal(back, "{}\n");
}

static void test_braces(void **state) {
        _cleanup_free_ char *out = configure("{}", &all);
        _cleanup_free_ char *back = unconfigure(out, &all);

        (void) state;
        assert_string_equal(out, "{\n"
                                 "  \"runtimes\": {\n"
                                 "    \"nvidia\": {\n"
                                 "      \"path\": \"" PATH "\",\n"
                                 "      \"args\": []\n"
                                 "    }\n"
                                 "  },\n"
                                 "  \"default-runtime\": \"nvidia\",\n"
                                 "  \"features\": {\n"
                                 "    \"cdi\": true\n"
                                 "  }\n"
                                 "}");
        assert_string_equal(back, "{}");
}

static void test_busy_tabs_crlf(void **state) {
        const char *in = "\xef\xbb\xbf{\r\n"
                         "\t\"log-driver\": \"json-file\",\r\n"
                         "\t\"runtimes\": {\r\n"
                         "\t\t\"crun\": {\"path\": \"/usr/bin/crun\"}\r\n"
                         "\t}\r\n"
                         "}\r\n";
        _cleanup_free_ char *out = configure(in, &plain);

        (void) state;
        assert_string_equal(out, "\xef\xbb\xbf{\r\n"
                                 "\t\"log-driver\": \"json-file\",\r\n"
                                 "\t\"runtimes\": {\r\n"
                                 "\t\t\"crun\": {\"path\": \"/usr/bin/crun\"},\r\n"
                                 "\t\t\"nvidia\": {\r\n"
                                 "\t\t\t\"path\": \"" PATH "\",\r\n"
                                 "\t\t\t\"args\": []\r\n"
                                 "\t\t}\r\n"
                                 "\t}\r\n"
                                 "}\r\n");
}

static void test_compact(void **state) {
        _cleanup_free_ char *out = configure("{\"a\":1,\"b\":[2]}", &all);

        (void) state;
        assert_string_equal(out, "{\"a\":1,\"b\":[2],\"runtimes\":{\"nvidia\":{\"path\":\"" PATH
                                 "\",\"args\":[]}},\"default-runtime\":\"nvidia\","
                                 "\"features\":{\"cdi\":true}}");
}

static void test_existing_empty_objects(void **state) {
        const char *in = "{\n  \"runtimes\": {},\n  \"features\": { }\n}\n";
        _cleanup_free_ char *out = configure(in, &all);
        _cleanup_free_ char *back = unconfigure(out, &all);

        (void) state;
        assert_string_equal(out, "{\n  \"runtimes\": { \"nvidia\": {\"path\": \"" PATH
                                 "\", \"args\": []}},\n"
                                 "  \"features\": { \"cdi\": true },\n"
                                 "  \"default-runtime\": \"nvidia\"\n}\n");
        assert_string_equal(back, in);
}

/* The document IN becomes with our members, built with jansson. */
static json_t *expected(const char *in, const struct engine_runtime *rt) {
        const char *p = strncmp(in, "\xef\xbb\xbf", 3) == 0 ? in + 3 : in;
        json_t *doc = json_loads(p, JSON_DECODE_ANY, NULL), *runtimes, *features;

        assert_non_null(doc);
        runtimes = json_object_get(doc, "runtimes");
        if (!runtimes)
                json_object_set_new(doc, "runtimes", runtimes = json_object());
        json_object_set_new(runtimes, rt->name, json_pack("{s:s, s:[]}", "path", rt->path, "args"));
        if (rt->set_as_default)
                json_object_set_new(doc, "default-runtime", json_string(rt->name));
        if (rt->cdi_enabled) {
                features = json_object_get(doc, "features");
                if (!features)
                        json_object_set_new(doc, "features", features = json_object());
                json_object_set_new(features, "cdi", json_true());
        }
        return doc;
}

static void check_laws(const char *in, const struct engine_runtime *rt) {
        _cleanup_free_ char *once = configure(in, rt);
        _cleanup_free_ char *twice = configure(once, rt);
        _cleanup_free_ char *back = unconfigure(once, rt);
        const char *body = strncmp(once, "\xef\xbb\xbf", 3) == 0 ? once + 3 : once;
        json_error_t jerr;
        json_t *got = json_loads(body, 0, &jerr), *want = expected(in, rt);

        if (!got)
                fail_msg("output is not JSON (%s, line %d): %s", jerr.text, jerr.line, once);
        if (!json_equal(got, want))
                fail_msg("output is not the expected document:\n%s\nfrom:\n%s", once, in);
        assert_string_equal(twice, once);
        assert_string_equal(back, in);
        json_decref(got);
        json_decref(want);
}

static const char *const shapes[] = {
        "{}",
        "{}\n",
        "{ }",
        "\n{\n}\n\n",
        "{\"a\":1}",
        ("{\n    \"log-driver\": \"json-file\",\n    \"log-opts\": {\n        \"max-size\": "
         "\"10m\",\n"
         "        \"max-file\": \"3\"\n    },\n    \"registry-mirrors\": [\"https://m.example\"],\n"
         "    \"runtimes\": {\n        \"runc2\": {\n            \"path\": \"/usr/bin/runc\"\n"
         "        }\n    },\n    \"features\": {\"buildkit\": true}\n}\n"),
        "{\n   \"a\" : 1 ,\n      \"b\":{\"c\":null}\n}",
        "{\n\t\"a\": [1, 2],\n\t\"b\": {\n\t\t\"c\": false\n\t}\n}\n",
        "{\r\n  \"a\": \"x\\r\\n\",\r\n  \"b\": [\r\n    1\r\n  ]\r\n}\r\n",
        "\xef\xbb\xbf{\n  \"a\": 1\n}\n",
        "{\"a\": [[1, [2, {\"b\": []}]], {}], \"x\": -1.5e+3, \"y\": 0, \"z\": 1E-2}",
        ("{\"k\\u00e9y\": \"caf\\u00e9 \\ud83d\\ude00\", \"emoji\": \"\xf0\x9f\x98\x80\", "
         "\"q\": \"\\\"\\\\\\/\\b\\f\\n\\r\\t\"}"),
        "{\"runtime\\u0073\": {\"crun\": {\"path\": \"crun\"}}}",
        "{\n  \"runtimes\": {\n  }\n}",
        "{\"features\":{},\"runtimes\":{}}",
        "  {\n\n  \"a\": {\n\n\n    \"b\": 1 } }  \n\n",
};

static void test_laws(void **state) {
        const struct engine_runtime flags[] = {
                plain, all, {"nv.1-x", "/opt/a \"b\"\\c\n", true, false}};

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(shapes); i++)
                for (size_t j = 0; j < ELEMENTSOF(flags); j++)
                        check_laws(shapes[i], &flags[j]);
}

static void test_already_there(void **state) {
        const char *in =
                "{\"runtimes\": {\"nvidia\": {\"path\": \"/usr/bin/nvidia-container-runtime\", "
                "\"runtimeArgs\": [\"--debug\"]}}, \"default-runtime\": \"nvidia\", "
                "\"features\": {\"cdi\": true}}";
        _cleanup_free_ char *out = configure(in, &all);

        (void) state;
        assert_string_equal(out, in);
}

/* What configure replaced is recorded in the entry ("nctk-replaced") and put back by unconfigure.
 */
static void test_replaced_values(void **state) {
        const char *in = "{\n  \"runtimes\": {\"nvidia\": {\"path\": \"/old\"}},\n"
                         "  \"default-runtime\": \"runc\",\n  \"features\": {\"cdi\": false}\n}";
        _cleanup_free_ char *out = configure(in, &all);
        _cleanup_free_ char *twice = configure(out, &all);
        _cleanup_free_ char *back = unconfigure(out, &all);
        _cleanup_free_ char *back_plain = unconfigure(out, &plain);

        (void) state;
        assert_string_equal(out, "{\n  \"runtimes\": {\"nvidia\": {\"path\": \"" PATH
                                 "\", \"args\": [], \"nctk-replaced\": {\"default-runtime\": "
                                 "\"runc\", \"cdi\": false, \"runtime\": {\"path\": \"/old\"}}}},\n"
                                 "  \"default-runtime\": \"nvidia\",\n"
                                 "  \"features\": {\"cdi\": true}\n}");
        assert_string_equal(twice, out);
        assert_string_equal(back, in);
        /* The record says what to put back even without --cdi.enabled. */
        assert_string_equal(back_plain, in);
}

/* A second configure with more flags keeps the first one's record and adds to it. */
static void test_replaced_in_steps(void **state) {
        const char *in =
                "{\n  \"default-runtime\": \"crun\",\n  \"features\": {\"cdi\": false}\n}\n";
        _cleanup_free_ char *one =
                configure(in, &(struct engine_runtime){"nvidia", PATH, true, false});
        _cleanup_free_ char *two = configure(one, &all);
        _cleanup_free_ char *back = unconfigure(two, &all);

        (void) state;
        assert_non_null(strstr(two, "\"nctk-replaced\": {\n        \"default-runtime\": \"crun\",\n"
                                    "        \"cdi\": false\n      }"));
        assert_string_equal(back, in);
}

static void test_unconfigure_keeps_others(void **state) {
        const char *in = "{\"default-runtime\": \"crun\", \"features\": {\"cdi\": true}, "
                         "\"runtimes\": {\"crun\": {\"path\": \"crun\"}}}";
        _cleanup_free_ char *out = unconfigure(in, &plain);
        _cleanup_free_ char *blank = unconfigure(" \n", &plain);

        (void) state;
        assert_string_equal(out, in);
        assert_string_equal(blank, " \n");
}

static void check_error(const char *in, size_t len, const char *want) {
        struct engine_text out = {};
        struct nctk_error *err = NULL;
        int r = docker_configure(in, len, &all, &out, &err);

        if (r != -EINVAL)
                fail_msg("configure gave %d for %s", r, in);
        assert_null(out.data);
        assert_non_null(err);
        if (!strstr(err->msg, want))
                fail_msg("'%s' not in '%s' (input %s)", want, err->msg, in);
        assert_null(strchr(err->msg, '\n'));
        nctk_error_free(&err);
        /* unconfigure has nothing to take out of a "runtimes" that is not an object. */
        r = docker_unconfigure(in, len, &all, &out, &err);
        if (strstr(want, "' must be an object")) {
                assert_int_equal(r, 0);
                assert_memory_equal(out.data, in, len);
                engine_text_free(&out);
        } else {
                assert_int_equal(r, -EINVAL);
        }
        nctk_error_free(&err);
}

static void test_malformed(void **state) {
        static const struct {
                const char *in, *want;
        } cases[] = {
                {"{\"a\": 1,}", "line 1, column 9: expected a string"},
                {"[1]", "line 1, column 1: the top level must be an object"},
                {"\"x\"", "line 1, column 1: the top level must be an object"},
                {"{} x", "line 1, column 4: unexpected text after"},
                {"{}{}", "line 1, column 3: unexpected text after"},
                {"{\"a\": tru}", "line 1, column 7: expected a value"},
                {"{\"a\": \"x\ny\"}", "line 1, column 9: control character"},
                {"{\"runtimes\": {}, \"runtimes\": {}}",
                 "line 1, column 18: 'runtimes' is there twice"},
                {"{\"runtimes\": {\"nvidia\": {}, \"nvidia\": {}}}",
                 "column 29: 'nvidia' is there twice"},
                {"{\"runtimes\": []}", "line 1, column 14: 'runtimes' must be an object"},
                {"{\"features\": true}", "'features' must be an object"},
                {"{\n  \"a\": 01\n}", "line 2, column 9: expected ',' or '}'"},
                {"{\"a\": {\"b\": 1}", "line 1, column 15: unexpected end of file, expected '}'"},
                {"\xef\xbb\xbf{\"a\" 1}", "line 1, column 6: expected ':'"},
                {"{\"\xc3\xa9\": x}", "line 1, column 7: expected a value"},
                {"{\"a\": \"\\x\"}", "invalid escape"},
                {"{\"a\": \"\\\n\"}",
                 "line 1, column 9: invalid escape (a backslash before byte 0x0a)"},
                {"{\"a\": \"\\u12\"}", "four hexadecimal digits"},
                {"{\"a\": -}", "invalid number"},
                {"{\"a\": 1.}", "digits must follow '.'"},
                {"{\"a\": 1e}", "digits must follow the exponent"},
                {"{\"a\": \"x", "unterminated string"},
                {"{\"a\"", "expected ':'"},
                {"{\r\n\"a\": [1,\r\n2,,3]}", "line 3, column 3: expected a value"},
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                check_error(cases[i].in, strlen(cases[i].in), cases[i].want);
        check_error("{\"a\": \"\0\"}", 10, "NUL byte");
}

/* A key an edit may read, there twice, is refused by configure and unconfigure alike, even when
 * this configure would not read it: otherwise unconfigure could not undo what configure wrote. */
static void test_duplicates_refused_either_way(void **state) {
        static const struct {
                const char *in, *want;
        } cases[] = {
                {"{\"default-runtime\": \"runc\", \"default-runtime\": \"runc\"}",
                 "column 29: 'default-runtime' is there twice"},
                {"{\"features\": {\"cdi\": false, \"cdi\": true}}", "'cdi' is there twice"},
                {"{\"features\": {}, \"features\": {}}", "'features' is there twice"},
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const char *in = cases[i].in;
                struct engine_text out = {};
                struct nctk_error *err = NULL;

                assert_int_equal(docker_configure(in, strlen(in), &plain, &out, &err), -EINVAL);
                assert_null(out.data);
                if (!strstr(err->msg, cases[i].want))
                        fail_msg("'%s' not in '%s'", cases[i].want, err->msg);
                nctk_error_free(&err);
                assert_int_equal(docker_unconfigure(in, strlen(in), &plain, &out, &err), -EINVAL);
                assert_non_null(strstr(err->msg, cases[i].want));
                nctk_error_free(&err);
        }
}

static void test_deep(void **state) {
        size_t n = 600;
        _cleanup_free_ char *s = malloc(2 * n + 8);

        (void) state;
        assert_non_null(s);
        s[0] = '{', s[1] = '"', s[2] = 'a', s[3] = '"', s[4] = ':';
        memset(s + 5, '[', n);
        memset(s + 5 + n, ']', n);
        s[5 + 2 * n] = '}';
        s[6 + 2 * n] = '\0';
        check_error(s, strlen(s), "nested more than");
}

static void test_bad_name(void **state) {
        const struct engine_runtime rt[] = {{"nv\"idia", PATH, false, false},
                                            {"nv\nidia", PATH, false, false},
                                            {"", PATH, false, false}};
        struct engine_text out = {};

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(rt); i++) {
                assert_int_equal(docker_configure("{}", 2, &rt[i], &out, NULL), -EINVAL);
                assert_int_equal(docker_unconfigure("{}", 2, &rt[i], &out, NULL), -EINVAL);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_empty_file),
                cmocka_unit_test(test_braces),
                cmocka_unit_test(test_busy_tabs_crlf),
                cmocka_unit_test(test_compact),
                cmocka_unit_test(test_existing_empty_objects),
                cmocka_unit_test(test_laws),
                cmocka_unit_test(test_already_there),
                cmocka_unit_test(test_replaced_values),
                cmocka_unit_test(test_replaced_in_steps),
                cmocka_unit_test(test_unconfigure_keeps_others),
                cmocka_unit_test(test_malformed),
                cmocka_unit_test(test_duplicates_refused_either_way),
                cmocka_unit_test(test_deep),
                cmocka_unit_test(test_bad_name),
        };
        return unit_run_group_tests(tests, NULL, NULL);
}
