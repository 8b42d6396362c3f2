/* Unit tests for the CDI YAML writer and reader (src/cdi/yaml-*.c): what the writer quotes, that
 * the reader gives back what the writer wrote, both of NVIDIA's styles, and refusals with the
 * line number; and the CDI version rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cdi/cdi.h"
#include "unit-tap.h"
#include "util/macros.h"

static json_t *parse(const char *text) {
        struct nctk_error *err = NULL;
        json_t *doc = NULL;

        if (cdi_yaml_parse(text, strlen(text), "t.yaml", &doc, &err) < 0) {
                print_error("%s\n", err->msg);
                nctk_error_free(&err);
                return NULL;
        }
        return doc;
}

static void parse_fails(const char *text, const char *want) {
        struct nctk_error *err = NULL;
        json_t *doc = NULL;

        assert_int_equal(cdi_yaml_parse(text, strlen(text), "t.yaml", &doc, &err), -EINVAL);
        assert_null(doc);
        assert_non_null(err);
        assert_string_equal(err->msg, want);
        nctk_error_free(&err);
}

static void round_trip(json_t *doc) {
        _cleanup_free_ char *y = cdi_yaml_dump(doc);
        json_auto_t *back = NULL;

        assert_non_null(y);
        back = parse(y);
        assert_non_null(back);
        if (!json_equal(doc, back))
                print_error("YAML:\n%s\n", y);
        assert_true(json_equal(doc, back));
}

static void dumps(const json_t *doc, const char *want) {
        _cleanup_free_ char *y = cdi_yaml_dump(doc);

        assert_string_equal(y, want);
}

static void test_block_style(void **state) {
        json_auto_t *doc = json_pack("{s:s, s:[{s:s, s:{s:[{s:s}]}}], s:{}, s:[]}", "cdiVersion",
                                     "0.5.0", "devices", "name", "0", "containerEdits",
                                     "deviceNodes", "path", "/dev/nvidia0", "o", "a");

        (void) state;
        dumps(doc, "---\n"
                   "cdiVersion: 0.5.0\n"
                   "devices:\n"
                   "- name: \"0\"\n"
                   "  containerEdits:\n"
                   "    deviceNodes:\n"
                   "    - path: /dev/nvidia0\n"
                   "o: {}\n"
                   "a: []\n");
        round_trip(doc);
}

static void test_quoting(void **state) {
        static const char *const odd[] = {"0",    "0:1",  "yes",   "No",    "null", "~",   "1e5",
                                          "-1",   ".5",   "a: b",  "#x",    "x #y", "'q'", "\"d\"",
                                          "t\tb", "n\nl", "",      " l",    "t ",   "ünï", "[a]",
                                          "{b}",  "*a",   "&b",    "!t",    "|",    ">",   "%d",
                                          "@x",   "`x`",  "::",    "-",     "--",   "- x", "?",
                                          "0x1F", "0o17", "1_000", "12:30", ".inf", "NaN", "True",
                                          "OFF",  "y",    "a:",    "a\\b",  "\"",   "'",   "x'y",
                                          "1.2",  "1.2.3"};
        json_auto_t *arr = json_array();
        json_auto_t *plain =
                json_pack("[s, s, s, s]", "--link", "../a.so.1::/usr/lib/b.so", "1.2.3", "0");

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(odd); i++)
                json_array_append_new(arr, json_string(odd[i]));
        round_trip(arr);
        dumps(plain, "---\n- --link\n- ../a.so.1::/usr/lib/b.so\n- 1.2.3\n- \"0\"\n");
}

static void test_nested(void **state) {
        json_auto_t *doc = json_pack("[[s, [i, b]], {s:[[]], s:n}, [{s:{s:i}}]]", "a", 1, 1, "k",
                                     "z", "x", "y", -3);

        (void) state;
        round_trip(doc);
}

/* NVIDIA 1.18's style: four spaces, sequences indented under their key; comments, quotes. */
static void test_nvidia_style(void **state) {
        json_auto_t *doc = parse("---\n"
                                 "# a comment\n"
                                 "cdiVersion: 0.5.0\n"
                                 "kind: 'nvidia.com/gpu'   # trailing\n"
                                 "devices:\n"
                                 "    - name: \"0\"\n"
                                 "      containerEdits:\n"
                                 "        deviceNodes:\n"
                                 "            - path: /dev/nvidia0\n"
                                 "              major: 195\n"
                                 "containerEdits:\n"
                                 "    env:\n"
                                 "        - A=it''s\n"
                                 "        - 'it''s'\n"
                                 "        - \"a#b\\u00e9\"\n");
        json_auto_t *want =
                json_pack("{s:s, s:s, s:[{s:s, s:{s:[{s:s, s:i}]}}], s:{s:[s, s, s]}}",
                          "cdiVersion", "0.5.0", "kind", "nvidia.com/gpu", "devices", "name", "0",
                          "containerEdits", "deviceNodes", "path", "/dev/nvidia0", "major", 195,
                          "containerEdits", "env", "A=it''s", "it's", "a#b\xc3\xa9");

        (void) state;
        assert_non_null(doc);
        assert_true(json_equal(doc, want));
}

static void test_refusals(void **state) {
        (void) state;
        parse_fails("a: 1\n  b: 2\n", "t.yaml: line 2: indentation that does not match any level "
                                      "above");
        parse_fails("a: &x 1\n", "t.yaml: line 1: YAML beyond what CDI specs use (anchors, tags, "
                                 "block or flow collections); write plain block YAML or JSON");
        parse_fails("a: |\n  text\n", "t.yaml: line 1: YAML beyond what CDI specs use (anchors, "
                                      "tags, block or flow collections); write plain block YAML "
                                      "or JSON");
        parse_fails("a: 1\na: 2\n", "t.yaml: line 2: a key given twice");
        parse_fails("a:\n\t- x\n", "t.yaml: line 2: a tab in the indentation; indent with spaces");
        parse_fails("a: \"open\n", "t.yaml: line 1: a quoted string that does not end on its line");
        parse_fails("a: 1\n- b\n", "t.yaml: line 2: a sequence item inside a mapping");
        parse_fails("# nothing\n---\n", "t.yaml: empty");
}

static void test_versions(void **state) {
        json_auto_t *s =
                json_pack("{s:s, s:[{s:s, s:{s:[{s:s}]}}]}", "kind", "nvidia.com/gpu", "devices",
                          "name", "gpu0", "containerEdits", "deviceNodes", "path", "/dev/nvidia0");
        json_t *node = json_array_get(
                json_object_get(json_object_get(json_array_get(json_object_get(s, "devices"), 0),
                                                "containerEdits"),
                                "deviceNodes"),
                0);

        (void) state;
        assert_string_equal(cdi_min_version(s), "0.3.0");
        json_object_set_new(json_array_get(json_object_get(s, "devices"), 0), "name",
                            json_string("0"));
        assert_string_equal(cdi_min_version(s), "0.5.0");
        json_object_set_new(json_array_get(json_object_get(s, "devices"), 0), "name",
                            json_string("gpu0"));
        json_object_set_new(node, "hostPath", json_string("/host/dev/nvidia0"));
        assert_string_equal(cdi_min_version(s), "0.5.0");
        json_object_set_new(s, "kind", json_string("nvidia.com/gpu.x"));
        assert_string_equal(cdi_min_version(s), "0.6.0");
        json_object_set_new(s, "containerEdits", json_pack("{s:[i]}", "additionalGids", 44));
        assert_string_equal(cdi_min_version(s), "0.7.0");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_block_style), cmocka_unit_test(test_quoting),
                cmocka_unit_test(test_nested),      cmocka_unit_test(test_nvidia_style),
                cmocka_unit_test(test_refusals),    cmocka_unit_test(test_versions),
        };
        return unit_run_group_tests(tests, NULL, NULL);
}
