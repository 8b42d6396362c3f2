/* toml-edit: edits that change only what they must, on texts with comments, CRLF, a BOM,
 * dotted keys, quoted keys, multi-line values, inline tables and arrays of tables. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/toml-edit.h"
#include "config/toml.h"
#include "unit-tap.h"
#include "util/macros.h"

static struct toml_edit *edit(const char *text) {
        struct nctk_error *err = NULL;
        struct toml_edit *e = NULL;
        int r = toml_edit_new("t.toml", text, strlen(text), &e, &err);

        if (r < 0)
                fail_msg("toml_edit_new: %s", err ? err->msg : "?");
        return e;
}

/* Runs OP ("set"/"remove") on dotted table PATH of TEXT; checks the result text and return. */
static void check_op(const char *text, const char *op, const char *path, const char *key,
                     const char *value, int want_r, const char *want) {
        _cleanup_(toml_edit_freep) struct toml_edit *e = edit(text);
        struct nctk_error *err = NULL;
        char **p = NULL;
        size_t n = 0;
        int r;

        if (*path)
                assert_int_equal(toml_path_parse(path, &p, &n, NULL), 0);
        if (STREQ(op, "set"))
                r = toml_edit_set(e, (const char *const *) p, n, key, value, &err);
        else
                r = toml_edit_remove(e, (const char *const *) p, n, key, &err);
        toml_strv_free(p);
        if (r != want_r)
                fail_msg("%s %s %s: got %d (%s), want %d", op, path, key, r, err ? err->msg : "",
                         want_r);
        nctk_error_free(&err);
        assert_string_equal(toml_edit_text(e, NULL), want);
}

static void test_set_in_place(void **state) {
        (void) state;
        check_op("a = 1 # keep\nb = 2\n", "set", "", "a", "10", 1, "a = 10 # keep\nb = 2\n");
        check_op("a = 1 # keep\n", "set", "", "a", "1", 0, "a = 1 # keep\n");
        check_op("[t]\n  'x' = [\n    1, # one\n    2,\n  ]\n  y = 1\n", "set", "t", "x", "[3]", 1,
                 "[t]\n  'x' = [3]\n  y = 1\n");
        check_op("[t]\ns = \"\"\"\n[not.a.header]\nx = 1\n\"\"\"\n", "set", "t", "s", "'v'", 1,
                 "[t]\ns = 'v'\n");
}

static void test_append(void **state) {
        (void) state;
        check_op("[t]\n  x = 1\n\n# about u\n[u]\n", "set", "t", "y", "2", 1,
                 "[t]\n  x = 1\n  y = 2\n\n# about u\n[u]\n");
        /* a table with no key: keys indented one step past its header, as elsewhere */
        check_op("[a]\n  k = 1\n[t]\n", "set", "t", "y", "2", 1, "[a]\n  k = 1\n[t]\n  y = 2\n");
        /* root keys go before the first header and the comments above it */
        check_op("# about a\n[a]\n", "set", "", "version", "2", 1, "version = 2\n# about a\n[a]\n");
        check_op("# head\n\n# about a\n[a]\n", "set", "", "v", "2", 1,
                 "# head\n\nv = 2\n# about a\n[a]\n");
        /* no newline at the end: the file keeps ending without one */
        check_op("[a]\nx = 1", "set", "a", "y", "2", 1, "[a]\nx = 1\ny = 2");
        check_op("[a]\nx = 1\ny = 2", "remove", "a", "y", NULL, 1, "[a]\nx = 1");
        check_op("[a]\nx = 1\ny = 2\n", "remove", "a", "x", NULL, 1, "[a]\ny = 2\n");
        check_op("[a]\nx = 1\n", "remove", "a", "zz", NULL, 0, "[a]\nx = 1\n");
}

static void test_new_tables(void **state) {
        (void) state;
        check_op("[a]\nx = 1\n\n[b]\ny = 2\n", "set", "a.c", "k", "\"v\"", 1,
                 "[a]\nx = 1\n\n[a.c]\nk = \"v\"\n\n[b]\ny = 2\n");
        check_op("", "set", "a", "k", "1", 1, "[a]\nk = 1\n");
        check_op("x = 1", "set", "a", "k", "1", 1, "x = 1\n\n[a]\nk = 1");
        /* headers indented per level like the file's */
        check_op("[p]\n  [p.q]\n    k = 1\n", "set", "p.q.r", "z", "1", 1,
                 "[p]\n  [p.q]\n    k = 1\n\n    [p.q.r]\n      z = 1\n");
        /* a table known only from a deeper header gets a header of its own */
        check_op("[a.b.c]\nx = 1\n", "set", "a", "k", "1", 1, "[a.b.c]\nx = 1\n\n[a]\nk = 1\n");
        /* quoted keys, dots inside them */
        check_op("[plugins.\"io.x.v1\"]\nk = 1\n", "set", "plugins.\"io.x.v1\".c", "d", "1", 1,
                 "[plugins.\"io.x.v1\"]\nk = 1\n\n[plugins.\"io.x.v1\".c]\nd = 1\n");
        check_op("[plugins.'io.x.v1']\nk = 1\n", "set", "plugins.\"io.x.v1\"", "d", "1", 1,
                 "[plugins.'io.x.v1']\nk = 1\nd = 1\n");
}

static void test_crlf_bom(void **state) {
        (void) state;
        check_op("[a]\r\nx = 1\r\n", "set", "a.b", "k", "1", 1,
                 "[a]\r\nx = 1\r\n\r\n[a.b]\r\nk = 1\r\n");
        check_op("[a]\r\nx = 1\r\ny = 2", "remove", "a", "y", NULL, 1, "[a]\r\nx = 1");
        check_op("\xef\xbb\xbfx = 1\n", "set", "", "y", "2", 1, "\xef\xbb\xbfx = 1\ny = 2\n");
        check_op("\xef\xbb\xbf[a]\n", "set", "", "v", "1", 1, "\xef\xbb\xbfv = 1\n[a]\n");
        check_op("\xef\xbb\xbf# about a\n[a]\n", "set", "", "v", "1", 1,
                 "\xef\xbb\xbfv = 1\n# about a\n[a]\n");
        check_op("\xef\xbb\xbf", "set", "a", "v", "1", 1, "\xef\xbb\xbf[a]\nv = 1\n");
}

static void test_dotted(void **state) {
        (void) state;
        check_op("[p]\nc.d = 1 # x\nz = 0\n", "set", "p.c", "e", "2", 1,
                 "[p]\nc.d = 1 # x\nc.e = 2\nz = 0\n");
        check_op("[p]\nc.d = 1\n", "set", "p.c", "d", "5", 1, "[p]\nc.d = 5\n");
        check_op("a.b.c = 1\n", "remove", "a.b", "c", NULL, 1, "");
        /* a sub-table of a dotted table may get a header (TOML 1.0) */
        check_op("[p]\nc.d = 1\n", "set", "p.c.e", "k", "1", 1, "[p]\nc.d = 1\n\n[p.c.e]\nk = 1\n");
}

static void check_fail(const char *text, const char *path, const char *key, int want,
                       const char *msg) {
        _cleanup_(toml_edit_freep) struct toml_edit *e = edit(text);
        struct nctk_error *err = NULL;
        char **p = NULL;
        size_t n = 0;

        assert_int_equal(toml_path_parse(path, &p, &n, NULL), 0);
        assert_int_equal(toml_edit_set(e, (const char *const *) p, n, key, "1", &err), want);
        toml_strv_free(p);
        assert_non_null(err);
        if (!strstr(err->msg, msg))
                fail_msg("message '%s' lacks '%s'", err->msg, msg);
        nctk_error_free(&err);
        assert_string_equal(toml_edit_text(e, NULL), text);
}

static void test_not_tables(void **state) {
        (void) state;
        check_fail("t = { a = 1 }\n", "t", "b", -ENOTDIR, "t.toml:1: 't' holds a value");
        check_fail("[x]\nt.u = 2\n", "x.t.u", "b", -ENOTDIR, "t.toml:2: 'x.t.u' holds a value");
        check_fail("[[srv]]\nname = 1\n[srv.x]\n", "srv.x", "k", -ENOTDIR,
                   "'srv' is an array of tables");
        /* the result must be TOML: a key that is there as a table cannot be set */
        check_fail("[a.k]\nx = 1\n", "a", "k", -EINVAL, "t.toml:");
}

static void check_malformed(const char *text, const char *msg) {
        struct nctk_error *err = NULL;
        struct toml_edit *e = NULL;

        assert_int_equal(toml_edit_new("t.toml", text, strlen(text), &e, &err), -EINVAL);
        assert_null(e);
        assert_non_null(err);
        if (!strstr(err->msg, msg))
                fail_msg("message '%s' lacks '%s'", err->msg, msg);
        nctk_error_free(&err);
}

static void test_malformed(void **state) {
        (void) state;
        check_malformed("a = \n", "t.toml:1:5: expected a value");
        check_malformed("x = 1\n[a\n", "t.toml:2:3: expected ']'");
        check_malformed("a = 1 b\n", "t.toml:1:7: expected the end of the line");
        check_malformed("a = \"x\n", "t.toml:1:5: string not closed");
        check_malformed("a = [1,\n2\n", "t.toml:1:5: array not closed");
        check_malformed("k = '''\nabc\n", "t.toml:1:5: multi-line string not closed");
        check_malformed("a = 1\r", "t.toml:1:6: expected the end of the line");
        check_malformed("a = 1\na = 2\n", "t.toml:2: duplicate key");
        check_malformed("a = tru\n", "t.toml:1");
}

static void test_tables(void **state) {
        _cleanup_(toml_edit_freep) struct toml_edit *e = NULL;
        const char *text = "# c\n[a]\nx = 1\n\n[a.b]\ny = 2\n\n[a.b.c]\nz = 3\n# after\n[d]\n";
        const char *ab[] = {"a", "b"}, *d[] = {"d"}, *q[] = {"q"};
        struct toml_edit_key *keys = NULL;
        size_t n = 0;
        (void) state;

        e = edit(text);
        assert_int_equal(toml_edit_has_table(e, ab, 2, NULL), 1);
        assert_int_equal(toml_edit_has_table(e, q, 1, NULL), 0);
        assert_int_equal(toml_edit_keys_under(e, ab, 1, &keys, &n, NULL), 0);
        assert_int_equal(n, 3); /* x, y, z */
        assert_string_equal(keys[2].path[2], "c");
        free(keys);
        assert_int_equal(toml_edit_remove_table(e, ab, 2, TOML_EDIT_IF_EMPTY, NULL), 0);
        assert_int_equal(toml_edit_remove_table(e, d, 1, TOML_EDIT_IF_EMPTY, NULL), 1);
        assert_string_equal(toml_edit_text(e, NULL),
                            "# c\n[a]\nx = 1\n\n[a.b]\ny = 2\n\n[a.b.c]\nz = 3\n# after\n");
        assert_int_equal(toml_edit_remove_table(e, ab, 2, TOML_EDIT_RECURSIVE, NULL), 1);
        assert_string_equal(toml_edit_text(e, NULL), "# c\n[a]\nx = 1\n# after\n");
        assert_int_equal(toml_edit_remove_table(e, ab, 2, TOML_EDIT_RECURSIVE, NULL), 0);
}

static void test_add_table_with(void **state) {
        _cleanup_(toml_edit_freep) struct toml_edit *e = edit("[r]\n  a = 1\n");
        const struct toml_edit_entry entries[] = {{"k", "\"v\""}, {"o.p", "[\n1,\n]"}};
        const char *rs[] = {"r", "s"};
        (void) state;

        assert_int_equal(toml_edit_add_table_with(e, rs, 2, entries, 2, NULL), 1);
        assert_string_equal(toml_edit_text(e, NULL),
                            "[r]\n  a = 1\n\n[r.s]\n  k = \"v\"\n  o.p = [\n1,\n]\n");
        assert_int_equal(toml_edit_add_table_with(e, rs, 2, entries, 2, NULL), 0);
        assert_int_equal(toml_edit_remove_table(e, rs, 2, 0, NULL), 1);
        assert_string_equal(toml_edit_text(e, NULL), "[r]\n  a = 1\n");
}

static void test_quote(void **state) {
        char *s = NULL;
        char **p = NULL;
        size_t n = 0;
        (void) state;

        assert_int_equal(toml_quote_string("a\"b\\c\n\x01é", &s), 0);
        assert_string_equal(s, "\"a\\\"b\\\\c\\u000a\\u0001é\"");
        free(s);
        assert_int_equal(toml_quote_string("\xff", &s), -EINVAL);
        assert_int_equal(toml_quote_key("runc-v2_x", &s), 0);
        assert_string_equal(s, "runc-v2_x");
        free(s);
        assert_int_equal(toml_quote_key("io.containerd.grpc.v1.cri", &s), 0);
        assert_string_equal(s, "\"io.containerd.grpc.v1.cri\"");
        free(s);
        assert_int_equal(toml_path_parse(" plugins . \"io.x\".'y.z' ", &p, &n, NULL), 0);
        assert_int_equal(n, 3);
        assert_string_equal(p[1], "io.x");
        assert_string_equal(p[2], "y.z");
        toml_strv_free(p);
        assert_int_equal(toml_path_parse("a..b", &p, &n, NULL), -EINVAL);
        assert_int_equal(toml_path_parse("a b", &p, &n, NULL), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_set_in_place),   cmocka_unit_test(test_append),
                cmocka_unit_test(test_new_tables),     cmocka_unit_test(test_crlf_bom),
                cmocka_unit_test(test_dotted),         cmocka_unit_test(test_not_tables),
                cmocka_unit_test(test_malformed),      cmocka_unit_test(test_tables),
                cmocka_unit_test(test_add_table_with), cmocka_unit_test(test_quote),
        };
        return unit_run_group_tests(tests, NULL, NULL);
}
