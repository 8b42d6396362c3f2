/* Unit tests for the TOML parser: valid documents against a canonical dump of the tree, invalid
 * ones against the message (file and line included), limits, and the typed look-ups. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/toml.h"
#include "unit-tap.h"
#include "util/macros.h"

static void toml_doc_freep(struct toml_doc **d) {
        toml_doc_free(*d);
}

/* ---- a canonical dump: {key=value,...} [a,b] "string" 1 1.5 true ------------------------- */

struct out {
        char *s;
        size_t len, cap;
};

static void out_put(struct out *o, const char *s, size_t n) {
        if (o->len + n + 1 > o->cap) {
                o->cap = (o->len + n + 1) * 2;
                o->s = realloc(o->s, o->cap);
                assert_non_null(o->s);
        }
        memcpy(o->s + o->len, s, n);
        o->len += n;
        o->s[o->len] = '\0';
}

static void out_fmt(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_fmt(struct out *o, const char *fmt, ...) {
        char buf[64];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        out_put(o, buf, (size_t) n);
}

static void dump_string(struct out *o, const char *s, size_t n) {
        out_put(o, "\"", 1);
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) s[i];
                if (c == '"' || c == '\\')
                        out_fmt(o, "\\%c", c);
                else if (c < 0x20 || c == 0x7f)
                        out_fmt(o, "\\x%02X", c);
                else
                        out_put(o, &s[i], 1);
        }
        out_put(o, "\"", 1);
}

static bool is_bare_key(const char *k) {
        if (!*k)
                return false;
        for (; *k; k++)
                if (!(isalnum((unsigned char) *k) || *k == '_' || *k == '-'))
                        return false;
        return true;
}

static void dump(struct out *o, const struct toml_value *v) {
        switch (v->type) {
        case TOML_TABLE:
                out_put(o, "{", 1);
                for (size_t i = 0; i < v->table.n; i++) {
                        const char *k = v->table.pairs[i].key;
                        if (i > 0)
                                out_put(o, ",", 1);
                        if (is_bare_key(k))
                                out_put(o, k, strlen(k));
                        else
                                dump_string(o, k, strlen(k));
                        out_put(o, "=", 1);
                        dump(o, v->table.pairs[i].value);
                }
                out_put(o, "}", 1);
                break;
        case TOML_ARRAY:
                out_put(o, "[", 1);
                for (size_t i = 0; i < v->array.n; i++) {
                        if (i > 0)
                                out_put(o, ",", 1);
                        dump(o, v->array.items[i]);
                }
                out_put(o, "]", 1);
                break;
        case TOML_STRING: dump_string(o, v->string.ptr, v->string.len); break;
        case TOML_INTEGER: out_fmt(o, "%" PRId64, v->integer); break;
        case TOML_FLOAT:
                if (isnan(v->floating))
                        out_fmt(o, "nan");
                else
                        out_fmt(o, "%.10g", v->floating);
                break;
        case TOML_BOOLEAN: out_fmt(o, "%s", v->boolean ? "true" : "false"); break;
        }
}

struct valid_case {
        const char *in;
        const char *out;
        size_t len; /* 0: strlen(in) */
};

static const struct valid_case valid_cases[] = {
        /* structure */
        {"", "{}"},
        {"# only a comment\n", "{}"},
        {"\n\n  \t\n# x\n\n", "{}"},
        {"a = 1", "{a=1}"},
        {"a=1\nb=2\n", "{a=1,b=2}"},
        {"z = 1\na = 2\nm = 3\n", "{z=1,a=2,m=3}"},
        {"  \t a \t = \t 1 \t \n", "{a=1}"},
        {"A_b-9 = 1\n1234 = 2\n- = 3\n_ = 4\n", "{A_b-9=1,1234=2,-=3,_=4}"},
        {"true = 1\nfalse = 2\ninf = 3\n", "{true=1,false=2,inf=3}"},
        {"\"a b\" = 1\n'c.d' = 2\n\"\" = 3\n", "{\"a b\"=1,\"c.d\"=2,\"\"=3}"},
        {"\"\\u00e9\" = 1\n'e\xcc\x81' = 2\n", "{\"é\"=1,\"e\xcc\x81\"=2}"},
        {"a.b.c = 1\na.b.d = 2\na.e = 3\n", "{a={b={c=1,d=2},e=3}}"},
        {"a . \"b.c\" . 'd' = 1\n", "{a={\"b.c\"={d=1}}}"},
        {"3.14 = 1\n", "{3={14=1}}"},
        {"[a]\nx = 1\n[b]\ny = 2\n", "{a={x=1},b={y=2}}"},
        {"top = 0\n[a.b.c]\nx = 1\n", "{top=0,a={b={c={x=1}}}}"},
        {"[ a . \"b c\" . 'd' ]\n", "{a={\"b c\"={d={}}}}"},
        {"[a]\n[b]\n", "{a={},b={}}"},
        {"[a.b]\nx = 1\n[a]\ny = 2\n", "{a={b={x=1},y=2}}"},
        {"[a]\n[a.b]\n[a.c]\n", "{a={b={},c={}}}"},
        {"[fruit]\napple.color = 'red'\napple.taste.sweet = true\n[fruit.apple.texture]\n"
         "smooth = true\n",
         "{fruit={apple={color=\"red\",taste={sweet=true},texture={smooth=true}}}}"},
        {"[a.b.c]\nz = 9\n[a]\nb.x = 1\n", "{a={b={c={z=9},x=1}}}"},
        {"[a] # header\nb = 1 # value\n", "{a={b=1}}"},
        {"a = 1\r\n[b]\r\nc = 'x'\r\n# c\r\n", "{a=1,b={c=\"x\"}}"},
        {"\xef\xbb\xbf"
         "a = 1\n",
         "{a=1}"},
        {"# h\xc3\xa9llo \xe6\x97\xa5\xe6\x9c\xac\tand a tab\ns = \"\xe6\x97\xa5\"\n",
         "{s=\"\xe6\x97\xa5\"}"},
        /* strings */
        {"s = \"\\b\\t\\n\\f\\r\\\"\\\\\"", "{s=\"\\x08\\x09\\x0A\\x0C\\x0D\\\"\\\\\"}"},
        {"s = \"\\u00e9\\u20AC\\u0041\"", "{s=\"\xc3\xa9\xe2\x82\xac"
                                          "A\"}"},
        {"s = \"\\U0001F600\\U00000041\"", "{s=\"\xf0\x9f\x98\x80"
                                           "A\"}"},
        {"s = \"a\\u0000b\"", "{s=\"a\\x00b\"}"},
        {"s = \"a\tb\"", "{s=\"a\\x09b\"}"},
        {"s = 'C:\\path\\n \"q\"'", "{s=\"C:\\\\path\\\\n \\\"q\\\"\"}"},
        {"a = \"\"\nb = ''\nc = \"\"\"\"\"\"\nd = ''''''\n", "{a=\"\",b=\"\",c=\"\",d=\"\"}"},
        {"s = \"\"\"\nline1\nline2\"\"\"", "{s=\"line1\\x0Aline2\"}"},
        {"s = \"\"\"\r\na\r\nb\"\"\"", "{s=\"a\\x0Ab\"}"},
        {"s = \"\"\"\nThe quick \\\n\n   brown \\\n  fox\"\"\"", "{s=\"The quick brown fox\"}"},
        {"s = \"\"\"a \\   \n  \t b\\\r\n\"\"\"", "{s=\"a b\"}"},
        {"s = \"\"\"a\"\"\"\"", "{s=\"a\\\"\"}"},
        {"s = \"\"\"\"\"a\"\"\"\"\"", "{s=\"\\\"\\\"a\\\"\\\"\"}"},
        {"s = \"\"\"a\\\"\"\"b\"\"\"", "{s=\"a\\\"\\\"\\\"b\"}"},
        {"s = \"\"\"x\ty\"\"\"", "{s=\"x\\x09y\"}"},
        {"s = '''\nraw \\n text\n'''", "{s=\"raw \\\\n text\\x0A\"}"},
        {"s = ''''a'''''", "{s=\"'a''\"}"},
        {"s = '''a\r\nb'''", "{s=\"a\\x0Ab\"}"},
        /* integers, booleans, floats */
        {"a = +99\nb = 42\nc = 0\nd = -17\ne = -0\nf = +0\n", "{a=99,b=42,c=0,d=-17,e=0,f=0}"},
        {"a = 1_000\nb = 5_349_221\nc = 1_2_3_4_5\n", "{a=1000,b=5349221,c=12345}"},
        {"a = 0xDEADBEEF\nb = 0xdead_beef\nc = 0o755\nd = 0b1101_0110\ne = 0x0\n",
         "{a=3735928559,b=3735928559,c=493,d=214,e=0}"},
        {"a = 9223372036854775807\nb = -9223372036854775808\nc = 0x7FFFFFFFFFFFFFFF\n",
         "{a=9223372036854775807,b=-9223372036854775808,c=9223372036854775807}"},
        {"t = true\nf = false\n", "{t=true,f=false}"},
        {"a = 1.5\nb = -0.01\nc = 5e+22\nd = 1e06\ne = -2E-2\nf = 6.626e-34\n"
         "g = 224_617.445_991\nh = 0.0\ni = 0e0\n",
         "{a=1.5,b=-0.01,c=5e+22,d=1000000,e=-0.02,f=6.626e-34,g=224617.446,h=0,i=0}"},
        {"a = inf\nb = +inf\nc = -inf\nd = nan\ne = +nan\nf = -nan\n",
         "{a=inf,b=inf,c=-inf,d=nan,e=nan,f=nan}"},
        /* arrays */
        {"a = [1, 2, 3]\nb = []\nc = [ ]\nd = [1,]\n", "{a=[1,2,3],b=[],c=[],d=[1]}"},
        {"a = [\n  1, # one\n  2,\n  # a comment\n\n]\n", "{a=[1,2]}"},
        {"a = [\r\n 1,\r\n 2\r\n]\r\n", "{a=[1,2]}"},
        {"a = [[1, 2], ['a', \"b\"], [[]]]", "{a=[[1,2],[\"a\",\"b\"],[[]]]}"},
        {"a = [1, 'x', true, 1.5, [2], {b = 3}]", "{a=[1,\"x\",true,1.5,[2],{b=3}]}"},
        {"a = [\"]\", ']', \"\"\"[\"\"\", '''\n,''']", "{a=[\"]\",\"]\",\"[\",\",\"]}"},
        /* inline tables */
        {"a = {x = 1, y = 'z'}\nb = {}\nc = { d.e = 1, d.f = 2 }\n",
         "{a={x=1,y=\"z\"},b={},c={d={e=1,f=2}}}"},
        {"a = {b = {c = [1, {d = 2}]}}", "{a={b={c=[1,{d=2}]}}}"},
        {"a = { b = '}', c = \",\" }", "{a={b=\"}\",c=\",\"}}"},
        {"points = [ { x = 1 }, { x = 2 } ]", "{points=[{x=1},{x=2}]}"},
        {"a = { b = [\n 1,\n 2 ] }\n", "{a={b=[1,2]}}"},
        /* arrays of tables */
        {"[[a]]\nx = 1\n[[a]]\nx = 2\n", "{a=[{x=1},{x=2}]}"},
        {"[[a]]\n[[a]]\n", "{a=[{},{}]}"},
        {"[[fruit]]\nname = 'apple'\n[fruit.physical]\ncolor = 'red'\n[[fruit.variety]]\n"
         "name = 'red delicious'\n[[fruit]]\nname = 'banana'\n",
         "{fruit=[{name=\"apple\",physical={color=\"red\"},variety=[{name=\"red delicious\"}]},"
         "{name=\"banana\"}]}"},
        {"[[a]]\n[a.b]\n[[a]]\n[a.b]\n", "{a=[{b={}},{b={}}]}"},
        {"[[ a . b ]]\nc = 1\n", "{a={b=[{c=1}]}}"},
};

static void test_valid(void **state) {
        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(valid_cases); i++) {
                const struct valid_case *c = &valid_cases[i];
                _cleanup_(toml_doc_freep) struct toml_doc *doc = NULL;
                struct nctk_error *err = NULL;
                struct out o = {};
                size_t len = c->len ? c->len : strlen(c->in);
                int r = toml_parse("t.toml", c->in, len, &doc, &err);

                if (r < 0)
                        fail_msg("case %zu: %s", i, err && err->msg ? err->msg : "?");
                assert_null(err);
                dump(&o, doc->root);
                if (strcmp(o.s, c->out) != 0)
                        fail_msg("case %zu: got %s, expected %s", i, o.s, c->out);
                free(o.s);
        }
}

/* A literal with its NUL bytes, for inputs that hold some. */
#define BYTES(s) .in = (s), .len = sizeof(s) - 1

struct invalid_case {
        const char *in;
        const char *msg; /* a substring of the message */
        size_t len;      /* 0: strlen(in) */
};

static const struct invalid_case invalid_cases[] = {
        /* redefinition */
        {"a = 1\na = 2", "t.toml:2: duplicate key 'a' (first defined on line 1)"},
        {"a.b = 1\na.b = 2", "t.toml:2: duplicate key 'a.b'"},
        {"a = 1\na.b = 2", "t.toml:2: key 'a' is already an integer (line 1), not a table"},
        {"[a]\n[a]", "t.toml:2: table 'a' is defined twice (first on line 1)"},
        {"[a]\nb = 1\n[a.b]", "t.toml:3: key 'a.b' is already defined as an integer (line 2)"},
        {"a = 1\n[a]", "t.toml:2: key 'a' is already defined as an integer (line 1)"},
        {"a = 's'\n[a.b]", "t.toml:2: key 'a' is already a string (line 1), not a table"},
        {"a.b = 1\n[a]", "t.toml:2: table 'a' is already defined by dotted keys (line 1)"},
        {"[fruit]\napple.color = 'red'\n[fruit.apple]",
         "t.toml:3: table 'fruit.apple' is already defined by dotted keys"},
        {"[a.b.c]\nz = 9\n[a]\nb.c.t = 1",
         "t.toml:4: cannot add keys to table 'b.c' (line 1) with dotted keys outside"},
        {"[a.b]\nc.d = 1\n[a]\nb.c.e = 1", "t.toml:4: cannot add keys to table 'b'"},
        {"[product]\ntype.name = 'Nail'\ntype = {edible = false}",
         "t.toml:3: duplicate key 'type' (first defined on line 2)"},
        {"a = {}\n[a]", "t.toml:2: cannot extend table 'a' defined inline on line 1"},
        {"a = {b = 1}\na.c = 2", "t.toml:2: cannot add keys to inline table 'a' (line 1)"},
        {"a = {b = 1}\n[a.c]", "t.toml:2: cannot extend table 'a' defined inline on line 1"},
        {"a = [1]\n[[a]]", "t.toml:2: cannot make 'a' an array of tables: it is already an array"},
        {"a = [{}]\n[a.b]", "t.toml:2: cannot extend array 'a' defined inline on line 1"},
        {"a = 'x'\n[[a]]", "cannot make 'a' an array of tables: it is already a string"},
        {"[[a]]\n[a]", "t.toml:2: table 'a' is already an array of tables (line 1)"},
        {"[a]\n[[a]]", "t.toml:2: cannot make 'a' an array of tables: it is already a table"},
        {"a = {b = 1, b = 2}", "t.toml:1: duplicate key 'b'"},
        {"a = {b.c = 1, b = 2}", "t.toml:1: duplicate key 'b'"},
        {"a = {b = {c = 1}, b.d = 2}", "t.toml:1: cannot add keys to inline table 'b'"},
        {"\"\\u00e9\" = 1\n'é' = 2\n", "t.toml:2: duplicate key 'é' (first defined on line 1)"},
        {"\"a\\u0027b\" = 1\n'a\\x27b' = 2\n\"a'b\" = 3", "t.toml:3: duplicate key 'a\\x27b'"},
        /* strings */
        {"s = \"\\q\"", "t.toml:1: invalid escape sequence: backslash followed by 'q'"},
        {"s = \"\\x41\"", "invalid escape sequence: backslash followed by 'x'"},
        {"s = \"\\e\"", "invalid escape sequence: backslash followed by 'e'"},
        {"s = \"\\", "invalid escape sequence: backslash followed by end of file"},
        {"s = \"\\u12\"", "t.toml:1: invalid escape: \\u needs 4 hexadecimal digits"},
        {"s = \"\\U1234567\"", "invalid escape: \\U needs 8 hexadecimal digits"},
        {"s = \"\\uD800\"", "invalid escape: U+D800 is not a Unicode scalar value"},
        {"s = \"\\U00110000\"", "invalid escape: U+110000 is not a Unicode scalar value"},
        {"s = \"abc", "t.toml:1: unterminated string"},
        {"s = \"abc\nx = 1", "t.toml:1: unterminated string (newline in a single-line string)"},
        {"s = 'abc", "t.toml:1: unterminated string"},
        {"s = \"\"\"abc\n\n", "t.toml:3: unterminated multi-line string (opened on line 1)"},
        {"s = '''abc\n", "t.toml:2: unterminated multi-line string (opened on line 1)"},
        {"s = \"\"\"a\"\"\"\"\"\"", "too many quotes at the end of a multi-line string"},
        {"s = \"\"\"a\\ b\"\"\"", "invalid escape sequence: backslash followed by ' '"},
        {"s = \"a\x01"
         "b\"",
         "t.toml:1: control character 0x01 in a string; escape it"},
        {"s = 'a\x7f'", "control character 0x7F in a string"},
        {"s = '''a\x1b'''", "control character 0x1B in a string"},
        {"s = \"\"\"a\rb\"\"\"", "carriage return not followed by a line feed"},
        {BYTES("s = \"\"\"a\x00\"\"\""), .msg = "control character 0x00 in a string"},
        {"\"\"\"a\"\"\" = 1", "a multi-line string cannot be a key"},
        {"\"a\\u0000\" = 1", "t.toml:1: keys cannot hold NUL characters"},
        /* the bytes */
        {"# a\x01\n", "t.toml:1: control character 0x01 in a comment"},
        {"a = 1 # \x7f", "control character 0x7F in a comment"},
        {"a = 1\rb = 2", "t.toml:1: carriage return not followed by a line feed"},
        {"a = 1\ns = '\xff'", "t.toml:2: invalid UTF-8 (byte 0xFF)"},
        {"s = '\xc0\xaf'", "invalid UTF-8 (byte 0xC0)"},
        {"s = '\xed\xa0\x80'", "invalid UTF-8 (byte 0xED)"},
        {"s = '\xe2\x82'", "invalid UTF-8 (byte 0xE2)"},
        {"s = '\xf4\x90\x80\x80'", "invalid UTF-8 (byte 0xF4)"},
        {BYTES("a = 1\n\n\x00"), .msg = "t.toml:3: expected a key, found byte 0x00"},
        /* syntax */
        {"a = ", "t.toml:1: expected a value, found end of file"},
        {"a = \n1", "t.toml:1: expected a value, found end of line"},
        {"a", "t.toml:1: expected '=' after a key, found end of file"},
        {"a b = 1", "expected '=' after a key, found 'b'"},
        {"= 1", "t.toml:1: expected a key, found '='"},
        {"a.= 1", "expected a key, found '='"},
        {"a = 1 b = 2", "t.toml:1: expected the end of the line, found 'b'"},
        {"a = \"x\" \"y\"", "expected the end of the line, found '\"'"},
        {"[a", "t.toml:1: expected ']' to close the table header, found end of file"},
        {"[]", "expected a key, found ']'"},
        {"[a]]", "expected the end of the line, found ']'"},
        {"[[a]\n", "expected ']]' to close the table header, found ']'"},
        {"[a] b = 1", "expected the end of the line, found 'b'"},
        {"a = [1 2]", "t.toml:1: expected ',' or ']' in an array, found '2'"},
        {"a = [1,,2]", "expected a value, found ','"},
        {"a = [,]", "expected a value, found ','"},
        {"a = [1,", "expected a value, found end of file"},
        {"a = [1\n\n", "t.toml:3: unterminated array (opened on line 1)"},
        {"a = {b = 1,}", "t.toml:1: trailing comma in an inline table"},
        {"a = {b = 1\n}", "newlines are not allowed in an inline table"},
        {"a = {\nb = 1}", "expected a key, found end of line"},
        {"a = {b = 1 c = 2}", "expected ',' or '}' in an inline table, found 'c'"},
        {"a = {", "expected a key, found end of file"},
        /* numbers, dates */
        {"a = 01", "t.toml:1: leading zeros are not allowed in '01'"},
        {"a = -012", "leading zeros are not allowed in '-012'"},
        {"a = 1__0", "invalid integer '1__0'"},
        {"a = 1_", "invalid integer '1_'"},
        {"a = _1", "invalid value '_1' (strings need quotes)"},
        {"a = 1x", "invalid integer '1x'"},
        {"a = 9223372036854775808", "integer '9223372036854775808' out of range"},
        {"a = -9223372036854775809", "out of range"},
        {"a = 0x8000000000000000", "out of range"},
        {"a = 0x", "invalid integer '0x'"},
        {"a = -0x1", "hexadecimal, octal and binary integers take no sign"},
        {"a = 0b102", "invalid integer '0b102'"},
        {"a = 0o8", "invalid integer '0o8'"},
        {"a = 0X1F", "invalid integer '0X1F'"},
        {"a = 1.", "invalid float '1.': digits must follow the '.'"},
        {"a = .5", "invalid value '.5'"},
        {"a = 1e", "invalid float '1e'"},
        {"a = 1.e5", "digits must follow the '.'"},
        {"a = 01.5", "leading zeros are not allowed in '01.5'"},
        {"a = 1e400", "float '1e400' out of range"},
        {"a = 1.5.5", "invalid number '1.5.5'"},
        {"a = infinity", "invalid value 'infinity'"},
        {"a = 1979-05-27", "t.toml:1: dates and times are not supported ('1979-05-27')"},
        {"a = 07:32:00", "dates and times are not supported ('07:32:00')"},
        {"a = 1979-05-27T07:32:00Z", "dates and times are not supported"},
        {"a = tru", "invalid value 'tru'"},
        {"a = TRUE", "invalid value 'TRUE'"},
        /* line numbers across multi-line values */
        {"s = '''\na\nb'''\nc = 1\nd =", "t.toml:5: expected a value, found end of file"},
        {"a = [\n1,\n2,\n]\nb = \"\"\"\n\n\"\"\"\n[x]\n[x]",
         "t.toml:9: table 'x' is defined twice (first on line 8)"},
        {"s = \"\"\"\\\n\n\n\"\"\"\nt = 1\nt = 2",
         "t.toml:6: duplicate key 't' (first defined on line 5)"},
};

static void test_invalid(void **state) {
        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(invalid_cases); i++) {
                const struct invalid_case *c = &invalid_cases[i];
                struct toml_doc *doc = NULL;
                struct nctk_error *err = NULL;
                size_t len = c->len ? c->len : strlen(c->in);
                int r = toml_parse("t.toml", c->in, len, &doc, &err);

                if (r != -EINVAL)
                        fail_msg("case %zu (%s): got %d, expected -EINVAL", i, c->in, r);
                assert_null(doc);
                assert_non_null(err);
                assert_int_equal(err->errnum, EINVAL);
                if (!strstr(err->msg, c->msg))
                        fail_msg("case %zu: got '%s', expected '%s'", i, err->msg, c->msg);
                if (strncmp(err->msg, "t.toml:", 7) != 0 || strchr(err->msg, '\n'))
                        fail_msg("case %zu: not one 'FILE:LINE:' line: '%s'", i, err->msg);
                nctk_error_free(&err);
                /* No error object asked for: same result. */
                assert_int_equal(toml_parse("t.toml", c->in, len, &doc, NULL), -EINVAL);
        }
}

/* ---- limits ------------------------------------------------------------------------------ */

/* HEAD, UNIT N times, MID, CLOSE N times. */
static char *nest(const char *head, const char *unit, size_t n, const char *mid,
                  const char *close) {
        size_t hl = strlen(head), ul = strlen(unit), ml = strlen(mid), cl = strlen(close);
        char *s = malloc(hl + (ul + cl) * n + ml + 1), *p = s;

        assert_non_null(s);
        memcpy(p, head, hl);
        p += hl;
        for (size_t i = 0; i < n; i++, p += ul)
                memcpy(p, unit, ul);
        memcpy(p, mid, ml);
        p += ml;
        for (size_t i = 0; i < n; i++, p += cl)
                memcpy(p, close, cl);
        *p = '\0';
        return s;
}

static int parse_str(const char *s, struct toml_doc **doc, struct nctk_error **err) {
        return toml_parse("t.toml", s, strlen(s), doc, err);
}

/* Parses S, expecting success (MSG NULL) or -EINVAL with MSG in the message. */
static void expect(const char *s, const char *msg) {
        struct toml_doc *doc = NULL;
        struct nctk_error *err = NULL;
        int r = parse_str(s, &doc, &err);

        if (!msg) {
                if (r < 0)
                        fail_msg("unexpected error: %s", err->msg);
                toml_doc_free(doc);
                return;
        }
        assert_int_equal(r, -EINVAL);
        if (!strstr(err->msg, msg))
                fail_msg("got '%s', expected '%s'", err->msg, msg);
        nctk_error_free(&err);
}

static void expect_free(char *s, const char *msg) {
        expect(s, msg);
        free(s);
}

/* The root is at depth 0, "a" at 1; nothing may be deeper than 32. */
static void test_depth(void **state) {
        struct out aot = {};

        (void) state;
        expect_free(nest("a = ", "[", 32, "", "]"), NULL);
        expect_free(nest("a = ", "[", 33, "", "]"), "t.toml:1: nesting deeper than 32 levels");
        expect_free(nest("a = ", "[", 5000, "", "]"), "nesting deeper than 32 levels");
        expect_free(nest("a = ", "{a=", 31, "1", "}"), NULL);
        expect_free(nest("a = ", "{a=", 32, "1", "}"), "nesting deeper than 32 levels");
        expect_free(nest("a = ", "{a.a=", 16, "1", "}"), "nesting deeper than 32 levels");
        expect_free(nest("a = ", "[{a=", 16, "1", "}]"), "nesting deeper than 32 levels");
        expect_free(nest("[a", ".a", 30, "]\nx = 1\n", ""), NULL);
        expect_free(nest("[a", ".a", 31, "]\nx = 1\n", ""),
                    "t.toml:2: nesting deeper than 32 levels");
        expect_free(nest("[a", ".a", 31, "]\n", ""), NULL);
        expect_free(nest("[a", ".a", 32, "]\n", ""), "t.toml:1: key has more than 32 parts");
        expect_free(nest("a", ".a", 31, " = 1\n", ""), NULL);
        expect_free(nest("[a", ".a", 20, "]\nb.b.b.b.b.b.b.b.b.b.b.b = 1", ""),
                    "t.toml:2: nesting deeper than 32 levels");
        /* Arrays of tables count twice: the array and its element. */
        out_put(&aot, "[[a]]\n", 6);
        for (int i = 2; i <= 17; i++) {
                out_put(&aot, "[[a", 3);
                for (int j = 1; j < i; j++)
                        out_put(&aot, ".a", 2);
                out_put(&aot, "]]\n", 3);
                expect(aot.s, i <= 16 ? NULL : "t.toml:17: nesting deeper than 32 levels");
        }
        free(aot.s);
}

static void test_size(void **state) {
        _cleanup_free_ char *big = malloc(TOML_MAX_SIZE + 1);
        struct toml_doc *doc = NULL;
        struct nctk_error *err = NULL;

        (void) state;
        assert_non_null(big);
        memset(big, '\n', TOML_MAX_SIZE + 1);
        assert_int_equal(toml_parse("t.toml", big, TOML_MAX_SIZE + 1, &doc, &err), -EFBIG);
        assert_non_null(strstr(err->msg, "t.toml: larger than 1048576 bytes"));
        nctk_error_free(&err);
        assert_int_equal(toml_parse("t.toml", big, TOML_MAX_SIZE, &doc, &err), 0);
        assert_int_equal(doc->root->table.n, 0);
        doc = toml_doc_free(doc);
}

/* Many keys: the hash index must find every one and catch the duplicate at the end. */
static void test_many_keys(void **state) {
        _cleanup_free_ char *s = malloc(20000 * 16 + 32);
        _cleanup_(toml_doc_freep) struct toml_doc *doc = NULL;
        struct nctk_error *err = NULL;
        size_t len = 0;
        char key[32];

        (void) state;
        for (int i = 0; i < 20000; i++)
                len += (size_t) snprintf(s + len, 32, "k%d = %d\n", i, i);
        assert_int_equal(toml_parse("t.toml", s, len, &doc, &err), 0);
        assert_int_equal(doc->root->table.n, 20000);
        for (int i = 0; i < 20000; i++) {
                const struct toml_value *v;
                snprintf(key, sizeof(key), "k%d", i);
                v = toml_get(doc->root, key);
                assert_non_null(v);
                assert_int_equal(v->integer, i);
                assert_int_equal(v->line, i + 1);
        }
        assert_null(toml_get(doc->root, "k20000"));
        len += (size_t) snprintf(s + len, 32, "k12345 = 0\n");
        doc = toml_doc_free(doc);
        assert_int_equal(toml_parse("t.toml", s, len, &doc, &err), -EINVAL);
        assert_non_null(strstr(err->msg, "t.toml:20001: duplicate key 'k12345' (first defined on "
                                         "line 12346)"));
        nctk_error_free(&err);
}

/* ---- look-ups ---------------------------------------------------------------------------- */

static const char lookup_doc[] = "b = true\n"
                                 "i = -5\n"
                                 "s = \"str\"\n"
                                 "nul = \"a\\u0000b\"\n"
                                 "[t]\n"
                                 "v = ['x', \"y\"]\n"
                                 "empty = []\n"
                                 "mixed = ['x', 1]\n"
                                 "nuls = [\"\\u0000\"]\n"
                                 "\"dot.ted\" = 1\n"
                                 "[t.u]\n"
                                 "w = 2.5\n";

static void test_lookup(void **state) {
        _cleanup_(toml_doc_freep) struct toml_doc *doc = NULL;
        struct nctk_error *err = NULL;
        const char *s = "unchanged";
        char **v = NULL;
        int64_t i = 42;
        bool b = false;

        (void) state;
        assert_int_equal(parse_str(lookup_doc, &doc, &err), 0);
        assert_string_equal(doc->file, "t.toml");

        assert_int_equal(toml_get_bool(doc, "b", &b, &err), 1);
        assert_true(b);
        assert_int_equal(toml_get_int(doc, "i", &i, &err), 1);
        assert_int_equal(i, -5);
        assert_int_equal(toml_get_string(doc, "s", &s, &err), 1);
        assert_string_equal(s, "str");
        assert_int_equal(toml_get_strv(doc, "t.v", &v, &err), 1);
        assert_string_equal(v[0], "x");
        assert_string_equal(v[1], "y");
        assert_null(v[2]);
        v = toml_strv_free(v);
        assert_int_equal(toml_get_strv(doc, "t.empty", &v, &err), 1);
        assert_null(v[0]);
        v = toml_strv_free(v);
        assert_float_equal(toml_get(doc->root, "t.u.w")->floating, 2.5, 0);
        assert_int_equal(toml_get(doc->root, "t.u")->type, TOML_TABLE);
        assert_int_equal(toml_get(doc->root, "t.u")->line, 11);
        assert_non_null(toml_table_find(toml_get(doc->root, "t"), "dot.ted"));
        assert_null(toml_get(doc->root, "t.dot.ted"));

        /* Absent: 0, nothing written. */
        s = "unchanged";
        assert_int_equal(toml_get_string(doc, "t.nope", &s, &err), 0);
        assert_int_equal(toml_get_string(doc, "nope.x", &s, &err), 0);
        assert_int_equal(toml_get_string(doc, "s.x", &s, &err), 0); /* through a non-table */
        assert_int_equal(toml_get_int(doc, "", &i, &err), 0);
        assert_string_equal(s, "unchanged");
        assert_null(err);

        /* Wrong types. */
        assert_int_equal(toml_get_bool(doc, "s", &b, &err), -EINVAL);
        assert_string_equal(err->msg, "t.toml:3: 's' must be a boolean");
        assert_int_equal(toml_get_int(doc, "t.u.w", &i, &err), -EINVAL);
        assert_string_equal(err->msg, "t.toml:12: 't.u.w' must be an integer");
        assert_int_equal(toml_get_string(doc, "t", &s, &err), -EINVAL);
        assert_string_equal(err->msg, "t.toml:5: 't' must be a string");
        assert_int_equal(toml_get_strv(doc, "b", &v, &err), -EINVAL);
        assert_string_equal(err->msg, "t.toml:1: 'b' must be an array of strings");
        assert_int_equal(toml_get_strv(doc, "t.mixed", &v, &err), -EINVAL);
        assert_string_equal(err->msg, "t.toml:8: 't.mixed' must be an array of strings");
        assert_int_equal(toml_get_strv(doc, "t.nuls", &v, &err), -EINVAL);
        assert_string_equal(err->msg, "t.toml:9: 't.nuls' must be an array of strings without NUL "
                                      "characters");
        assert_int_equal(toml_get_string(doc, "nul", &s, &err), -EINVAL);
        assert_string_equal(err->msg, "t.toml:4: 'nul' must not hold NUL characters");
        assert_int_equal(toml_get_bool(doc, "s", &b, NULL), -EINVAL);
        nctk_error_free(&err);
        assert_null(v);
        assert_string_equal(s, "unchanged");

        assert_string_equal(toml_type_name(TOML_FLOAT), "float");
        assert_null(toml_doc_free(NULL));
        assert_null(toml_strv_free(NULL));
        assert_null(toml_get(NULL, "a"));
}

static void test_lines(void **state) {
        _cleanup_(toml_doc_freep) struct toml_doc *doc = NULL;
        struct nctk_error *err = NULL;

        (void) state;
        assert_int_equal(
                parse_str("\n\na = '''\n\n'''\nb = [\n1,\n2]\n[t]\n\nc.d = 1\n[[x]]\n", &doc, &err),
                0);
        assert_int_equal(toml_get(doc->root, "a")->line, 3);
        assert_int_equal(toml_get(doc->root, "b")->line, 6);
        assert_int_equal(toml_get(doc->root, "b")->array.items[1]->line, 8);
        assert_int_equal(toml_get(doc->root, "t")->line, 9);
        assert_int_equal(toml_get(doc->root, "t.c")->line, 11);
        assert_int_equal(toml_get(doc->root, "t.c.d")->line, 11);
        assert_int_equal(toml_get(doc->root, "x")->array.items[0]->line, 12);
}

static void test_file(void **state) {
        char dir[] = "/tmp/test-toml-XXXXXX", path[64];
        struct toml_doc *doc = NULL;
        struct nctk_error *err = NULL;
        FILE *f;

        (void) state;
        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/c.toml", dir);
        assert_int_equal(toml_parse_file(path, &doc, &err), -ENOENT);
        assert_non_null(strstr(err->msg, "c.toml: No such file or directory"));
        nctk_error_free(&err);
        assert_int_equal(toml_parse_file(dir, &doc, &err), -EISDIR);
        nctk_error_free(&err);
        assert_int_equal(toml_parse_file("/dev/null", &doc, &err), -EINVAL);
        assert_non_null(strstr(err->msg, "/dev/null: not a regular file"));
        nctk_error_free(&err);

        f = fopen(path, "we");
        assert_non_null(f);
        fputs("[a]\nb = 1\nb = 2\n", f);
        fclose(f);
        assert_int_equal(toml_parse_file(path, &doc, &err), -EINVAL);
        assert_true(strncmp(err->msg, path, strlen(path)) == 0);
        assert_non_null(strstr(err->msg, ".toml:3: duplicate key 'b'"));
        nctk_error_free(&err);

        f = fopen(path, "we");
        fputs("[a]\nb = 1\n", f);
        fclose(f);
        assert_int_equal(toml_parse_file(path, &doc, &err), 0);
        assert_string_equal(doc->file, path);
        assert_int_equal(toml_get(doc->root, "a.b")->integer, 1);
        doc = toml_doc_free(doc);

        f = fopen(path, "we");
        for (int i = 0; i < (1 << 20) / 8 + 1; i++)
                fputs("#4567890", f);
        fclose(f);
        assert_int_equal(toml_parse_file(path, &doc, &err), -EFBIG);
        assert_non_null(strstr(err->msg, "larger than 1048576 bytes"));
        nctk_error_free(&err);

        unlink(path);
        rmdir(dir);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_valid),     cmocka_unit_test(test_invalid),
                cmocka_unit_test(test_depth),     cmocka_unit_test(test_size),
                cmocka_unit_test(test_many_keys), cmocka_unit_test(test_lookup),
                cmocka_unit_test(test_lines),     cmocka_unit_test(test_file),
        };
        return unit_run_group_tests(tests, NULL, NULL);
}
