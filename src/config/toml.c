/* TOML v1.0 parser: one pass over the bytes into a tree of struct toml_value (toml-tree.c),
 * enforcing the spec's rules on redefining tables as tomli, which passes toml-test, reads them.
 * Recursion follows the nesting of arrays and inline tables only, and that is capped at
 * TOML_MAX_DEPTH, so hostile input cannot exhaust the stack. */
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/toml-scan.h"
#include "config/toml-tree.h"
#include "config/toml.h"
#include "util/fileio.h"
#include "util/hex.h"
#include "util/macros.h"
#include "util/strv.h"

enum value_flags {
        VF_EXPLICIT = 1u << 0, /* table defined by a [header], or an element of an [[array]] */
        VF_DOTTED = 1u << 1,   /* table made or extended by dotted keys in its SECTION */
        VF_FROZEN = 1u << 2,   /* inline table or array value: nothing may be added later */
        VF_AOT = 1u << 3,      /* array of tables, grown by [[headers]] */
};

struct parser {
        const char *file;
        const char *p, *end;
        unsigned line;
        struct nctk_error **err;
        struct toml_value *root;
        struct toml_value *cur; /* the table of the current [section] */
        unsigned cur_depth;
        unsigned section; /* id of the current section; each inline table gets its own */
        unsigned next_section;
};

/* A dotted key as written: its parts, decoded. */
struct key {
        char *parts[TOML_MAX_DEPTH];
        size_t n;
};

static void key_release(struct key *k) {
        for (size_t i = 0; i < k->n; i++)
                free(k->parts[i]);
        k->n = 0;
}

/* ---- errors ------------------------------------------------------------------------------ */

static int fail(struct parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct parser *ps, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        return nctk_error_set(ps->err, EINVAL, "%s:%u: %s", ps->file, ps->line, msg);
}

/* KEY for a message: quoted by the caller, with bytes that would break the line escaped and
 * long keys cut (at a character boundary, so that the message stays UTF-8). */
static char *printable(const char *key) {
        struct toml_buf b = {};
        char hex[8];

        for (size_t i = 0; key[i]; i++) {
                unsigned char c = (unsigned char) key[i];
                bool cut = b.len > 80 && (c & 0xc0) != 0x80;
                int r;

                if (cut) {
                        r = toml_buf_add(&b, "...", 3);
                } else if (c < 0x20 || c == 0x7f || c == '\'') {
                        snprintf(hex, sizeof(hex), "\\x%02X", c);
                        r = toml_buf_add(&b, hex, strlen(hex));
                } else {
                        r = toml_buf_add(&b, (const char *) &key[i], 1);
                }
                if (r < 0) {
                        toml_buf_release(&b);
                        return NULL;
                }
                if (cut)
                        break;
        }
        return b.s ? b.s : strdup("");
}

/* Parts 0..LAST of K joined by dots, for messages. */
static char *key_name(const struct key *k, size_t last) {
        struct toml_buf b = {};

        for (size_t i = 0; i <= last && i < k->n; i++) {
                _cleanup_free_ char *p = printable(k->parts[i]);
                if (!p || (i > 0 && toml_buf_add(&b, ".", 1) < 0) ||
                    toml_buf_add(&b, p, strlen(p)) < 0) {
                        toml_buf_release(&b);
                        return NULL;
                }
        }
        return b.s ? b.s : strdup("");
}

/* "an integer", "a table", for messages. */
static const char *a_type(enum toml_type type) {
        switch (type) {
        case TOML_TABLE: return "a table";
        case TOML_ARRAY: return "an array";
        case TOML_STRING: return "a string";
        case TOML_INTEGER: return "an integer";
        case TOML_FLOAT: return "a float";
        case TOML_BOOLEAN: return "a boolean";
        }
        return "a value";
}

/* What is at the cursor, for "expected X, found Y". */
static const char *found(const struct parser *ps, char buf[static 16]) {
        unsigned char c;

        if (ps->p >= ps->end)
                return "end of file";
        c = (unsigned char) *ps->p;
        if (c == '\n' || c == '\r')
                return "end of line";
        if (c >= 0x20 && c < 0x7f)
                snprintf(buf, 16, "'%c'", c);
        else
                snprintf(buf, 16, "byte 0x%02X", c);
        return buf;
}

/* ---- lexing ------------------------------------------------------------------------------ */

static int peek(const struct parser *ps) {
        return ps->p < ps->end ? (unsigned char) *ps->p : -1;
}

static bool lookahead(const struct parser *ps, const char *s) {
        size_t n = strlen(s);

        return (size_t) (ps->end - ps->p) >= n && memcmp(ps->p, s, n) == 0;
}

static bool is_control(unsigned char c) {
        return (c < 0x20 && c != '\t') || c == 0x7f;
}

static bool is_bare(int c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-';
}

static void skip_ws(struct parser *ps) {
        while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t'))
                ps->p++;
}

/* Consumes LF or CRLF: 1 if there was one, 0 if not, -EINVAL for a lone CR. */
static int eat_newline(struct parser *ps) {
        if (lookahead(ps, "\n")) {
                ps->p++;
        } else if (lookahead(ps, "\r\n")) {
                ps->p += 2;
        } else if (lookahead(ps, "\r")) {
                return fail(ps, "carriage return not followed by a line feed");
        } else {
                return 0;
        }
        ps->line++;
        return 1;
}

static int skip_comment(struct parser *ps) {
        if (peek(ps) != '#')
                return 0;
        for (ps->p++; ps->p < ps->end && *ps->p != '\n'; ps->p++) {
                unsigned char c = (unsigned char) *ps->p;

                if (c == '\r' && lookahead(ps, "\r\n"))
                        break;
                if (is_control(c))
                        return fail(ps, "control character 0x%02X in a comment", c);
        }
        return 0;
}

/* White space, comments and newlines, as allowed between array elements. */
static int skip_blank(struct parser *ps) {
        for (;;) {
                int r;

                skip_ws(ps);
                r = skip_comment(ps);
                if (r < 0)
                        return r;
                r = eat_newline(ps);
                if (r <= 0)
                        return r;
        }
}

/* The length of the UTF-8 sequence at S (N bytes left), or 0 if it is not valid UTF-8. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
        size_t len;

        if (s[0] < 0x80)
                return 1;
        if (s[0] < 0xc2 || s[0] > 0xf4)
                return 0;
        len = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
        if (n < len)
                return 0;
        for (size_t i = 1; i < len; i++)
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
        if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0) || /* overlong, */
            (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))   /* surrogate, */
                return 0;                                                      /* > U+10FFFF */
        return len;
}

/* Checks that all of the input is UTF-8, so that later stages need only look at ASCII. */
static int check_utf8(struct parser *ps) {
        const unsigned char *s = (const unsigned char *) ps->p;
        size_t n = (size_t) (ps->end - ps->p);
        unsigned line = 1;

        for (size_t i = 0; i < n;) {
                size_t len = utf8_seq(s + i, n - i);

                if (len == 0) {
                        ps->line = line;
                        return fail(ps, "invalid UTF-8 (byte 0x%02X)", s[i]);
                }
                if (s[i] == '\n')
                        line++;
                i += len;
        }
        return 0;
}

static void put_utf8(char out[static 4], uint32_t cp, size_t *ret_len) {
        if (cp < 0x80) {
                out[0] = (char) cp;
                *ret_len = 1;
        } else if (cp < 0x800) {
                out[0] = (char) (0xc0 | (cp >> 6));
                out[1] = (char) (0x80 | (cp & 0x3f));
                *ret_len = 2;
        } else if (cp < 0x10000) {
                out[0] = (char) (0xe0 | (cp >> 12));
                out[1] = (char) (0x80 | ((cp >> 6) & 0x3f));
                out[2] = (char) (0x80 | (cp & 0x3f));
                *ret_len = 3;
        } else {
                out[0] = (char) (0xf0 | (cp >> 18));
                out[1] = (char) (0x80 | ((cp >> 12) & 0x3f));
                out[2] = (char) (0x80 | ((cp >> 6) & 0x3f));
                out[3] = (char) (0x80 | (cp & 0x3f));
                *ret_len = 4;
        }
}

/* ---- strings ----------------------------------------------------------------------------- */

static int parse_unicode_escape(struct parser *ps, struct toml_buf *b, int ndigits) {
        uint32_t cp = 0;
        char out[4];
        size_t len;

        for (int i = 0; i < ndigits; i++) {
                int h = hex_digit_value(peek(ps));
                if (h < 0)
                        return fail(ps, "invalid escape: \\%c needs %d hexadecimal digits",
                                    ndigits == 4 ? 'u' : 'U', ndigits);
                cp = cp << 4 | (uint32_t) h;
                ps->p++;
        }
        if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                return fail(ps, "invalid escape: U+%04X is not a Unicode scalar value", cp);
        put_utf8(out, cp, &len);
        return toml_buf_add(b, out, len);
}

/* The cursor is on the backslash. */
static int parse_escape(struct parser *ps, struct toml_buf *b) {
        static const char from[] = "btnfr\"\\", to[] = "\b\t\n\f\r\"\\";
        const char *e;
        char tmp[16];
        int c;

        ps->p++;
        c = peek(ps);
        if (c == 'u' || c == 'U') {
                ps->p++;
                return parse_unicode_escape(ps, b, c == 'u' ? 4 : 8);
        }
        e = c > 0 ? strchr(from, c) : NULL;
        if (!e)
                return fail(ps, "invalid escape sequence: backslash followed by %s",
                            found(ps, tmp));
        ps->p++;
        return toml_buf_add(b, &to[e - from], 1);
}

/* Copies the run of characters that need no attention, stopping at any of STOPS or a control
 * character. */
static int put_run(struct parser *ps, struct toml_buf *b, const char *stops) {
        const char *s = ps->p;

        while (ps->p < ps->end && !is_control((unsigned char) *ps->p) && !strchr(stops, *ps->p))
                ps->p++;
        return toml_buf_add(b, s, (size_t) (ps->p - s));
}

/* In a multi-line basic string, a backslash that ends a line (white space may follow it) eats
 * all white space and newlines up to the next other character. Returns 1 if it was one. */
static int line_ending_backslash(struct parser *ps) {
        const char *q = ps->p + 1;
        int r;

        while (q < ps->end && (*q == ' ' || *q == '\t'))
                q++;
        if (q >= ps->end || (*q != '\n' && *q != '\r'))
                return 0;
        ps->p = q;
        for (;;) {
                skip_ws(ps);
                r = eat_newline(ps);
                if (r <= 0)
                        return r < 0 ? r : 1;
        }
}

/* A control character, a newline where none may be, or the end of the input, inside a string
 * opened on line START. */
static int string_stop(struct parser *ps, unsigned start, bool multiline) {
        if (ps->p >= ps->end)
                return multiline ? fail(ps, "unterminated multi-line string (opened on line %u)",
                                        start)
                                 : fail(ps, "unterminated string");
        if (!multiline && (*ps->p == '\n' || *ps->p == '\r'))
                return fail(ps, "unterminated string (newline in a single-line string)");
        return fail(ps, "control character 0x%02X in a string; escape it", (unsigned char) *ps->p);
}

/* At a run of QUOTE characters in a multi-line string: fewer than three are content; three to
 * five close it, the first up to two being content. Returns 1 when it closed. */
static int multiline_quotes(struct parser *ps, struct toml_buf *b, char quote) {
        size_t q = 0;

        while (ps->p + q < ps->end && ps->p[q] == quote)
                q++;
        if (q > 5)
                return fail(ps, "too many quotes at the end of a multi-line string");
        if (toml_buf_add(b, ps->p, q >= 3 ? q - 3 : q) < 0)
                return -ENOMEM;
        ps->p += q;
        return q >= 3;
}

/* The cursor is after the opening quote(s). Newlines are kept as LF. */
static int parse_string_body(struct parser *ps, struct toml_buf *b, char quote, bool multiline) {
        static const char basic_stops[] = "\"\\\n\r", literal_stops[] = "'\n\r";
        const char *stops = quote == '"' ? basic_stops : literal_stops;
        unsigned start = ps->line;
        int r;

        if (multiline && eat_newline(ps) < 0) /* a newline right after the quotes is dropped */
                return -EINVAL;
        for (;;) {
                r = put_run(ps, b, stops);
                if (r < 0)
                        return r;
                if (ps->p >= ps->end)
                        return string_stop(ps, start, multiline);
                if (*ps->p == quote) {
                        if (!multiline) {
                                ps->p++;
                                return 0;
                        }
                        r = multiline_quotes(ps, b, quote);
                        if (r != 0)
                                return r < 0 ? r : 0;
                } else if (*ps->p == '\\' && quote == '"') {
                        r = multiline ? line_ending_backslash(ps) : 0;
                        if (r == 0)
                                r = parse_escape(ps, b);
                        if (r < 0)
                                return r;
                } else if (multiline && (*ps->p == '\n' || *ps->p == '\r')) {
                        r = eat_newline(ps);
                        if (r < 0 || toml_buf_add(b, "\n", 1) < 0)
                                return r < 0 ? r : -ENOMEM;
                } else {
                        return string_stop(ps, start, multiline);
                }
        }
}

/* A string of any of the four kinds at the cursor. */
static int parse_string(struct parser *ps, struct toml_buf *b) {
        char quote = *ps->p;
        bool multiline = lookahead(ps, quote == '"' ? "\"\"\"" : "'''");

        ps->p += multiline ? 3 : 1;
        return parse_string_body(ps, b, quote, multiline);
}

/* ---- keys -------------------------------------------------------------------------------- */

static int parse_simple_key(struct parser *ps, char **ret) {
        _cleanup_(toml_buf_release) struct toml_buf b = {};
        char tmp[16];
        int c = peek(ps), r;

        if (c == '"' || c == '\'') {
                if (lookahead(ps, "\"\"\"") || lookahead(ps, "'''"))
                        return fail(ps, "a multi-line string cannot be a key");
                r = parse_string(ps, &b);
                if (r < 0)
                        return r;
                if (b.s && strlen(b.s) != b.len)
                        return fail(ps, "keys cannot hold NUL characters");
        } else if (is_bare(c)) {
                const char *s = ps->p;
                while (is_bare(peek(ps)))
                        ps->p++;
                r = toml_buf_add(&b, s, (size_t) (ps->p - s));
                if (r < 0)
                        return r;
        } else {
                return fail(ps, "expected a key, found %s", found(ps, tmp));
        }
        *ret = b.s ? TAKE_PTR(b.s) : strdup("");
        return *ret ? 0 : -ENOMEM;
}

static int parse_key(struct parser *ps, struct key *k) {
        for (;;) {
                int r;

                if (k->n == TOML_MAX_DEPTH)
                        return fail(ps, "key has more than %d parts", TOML_MAX_DEPTH);
                r = parse_simple_key(ps, &k->parts[k->n]);
                if (r < 0)
                        return r;
                k->n++;
                skip_ws(ps);
                if (peek(ps) != '.')
                        return 0;
                ps->p++;
                skip_ws(ps);
        }
}

/* ---- numbers, booleans ------------------------------------------------------------------- */

static bool is_digit_of(int c, int base) {
        int h = hex_digit_value(c);

        return h >= 0 && h < base;
}

/* DIGIT (_? DIGIT)* at S[*I]; false if it does not start with a digit or an underscore is not
 * between two digits. */
static bool scan_digits(const char *s, size_t n, size_t *i, int base) {
        if (*i >= n || !is_digit_of(s[*i], base))
                return false;
        while (*i < n) {
                if (is_digit_of(s[*i], base))
                        (*i)++;
                else if (s[*i] == '_' && *i + 1 < n && is_digit_of(s[*i + 1], base))
                        (*i)++;
                else
                        return s[*i] != '_';
        }
        return true;
}

/* Token text for messages: at most 64 bytes of it (tokens are printable ASCII). */
static int shown(size_t n) {
        return n > 64 ? 64 : (int) n;
}

static int parse_integer(struct parser *ps, const char *s, size_t n, int64_t *ret) {
        uint64_t v = 0, limit = INT64_MAX;
        bool neg = s[0] == '-';
        int base = 10;
        size_t i = s[0] == '+' || s[0] == '-' ? 1 : 0, start;

        if (n - i >= 2 && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'o' || s[i + 1] == 'b')) {
                if (i > 0)
                        return fail(ps, "hexadecimal, octal and binary integers take no sign");
                base = s[i + 1] == 'x' ? 16 : s[i + 1] == 'o' ? 8 : 2;
                i += 2;
        } else if (n - i > 1 && s[i] == '0' && (is_digit_of(s[i + 1], 10) || s[i + 1] == '_')) {
                return fail(ps, "leading zeros are not allowed in '%.*s'", shown(n), s);
        }
        start = i;
        if (!scan_digits(s, n, &i, base) || i != n)
                return fail(ps, "invalid integer '%.*s'", shown(n), s);
        if (neg)
                limit += 1;
        for (i = start; i < n; i++) {
                uint64_t d;

                if (s[i] == '_')
                        continue;
                d = (uint64_t) hex_digit_value(s[i]);
                if (v > (limit - d) / (uint64_t) base)
                        return fail(ps, "integer '%.*s' out of range", shown(n), s);
                v = v * (uint64_t) base + d;
        }
        *ret = neg ? (int64_t) (0 - v) : (int64_t) v;
        return 0;
}

/* [+-] int-part [. digits] [e [+-] digits], at least one of the last two. strtod runs in the C
 * locale so that the caller's LC_NUMERIC cannot change what "1.5" means. */
static int parse_float(struct parser *ps, const char *s, size_t n, double *ret) {
        _cleanup_free_ char *clean = NULL;
        size_t i = s[0] == '+' || s[0] == '-' ? 1 : 0, j = 0;
        locale_t c_locale;
        double d;
        char *end;

        if (i < n && s[i] == '0' && i + 1 < n && s[i + 1] >= '0' && s[i + 1] <= '9')
                return fail(ps, "leading zeros are not allowed in '%.*s'", shown(n), s);
        if (!scan_digits(s, n, &i, 10))
                return fail(ps, "invalid number '%.*s'", shown(n), s);
        if (i < n && s[i] == '.') {
                i++;
                if (!scan_digits(s, n, &i, 10))
                        return fail(ps, "invalid float '%.*s': digits must follow the '.'",
                                    shown(n), s);
        }
        if (i < n && (s[i] == 'e' || s[i] == 'E')) {
                i++;
                if (i < n && (s[i] == '+' || s[i] == '-'))
                        i++;
                if (!scan_digits(s, n, &i, 10))
                        return fail(ps, "invalid float '%.*s'", shown(n), s);
        }
        if (i != n)
                return fail(ps, "invalid number '%.*s'", shown(n), s);
        clean = malloc(n + 1);
        if (!clean)
                return -ENOMEM;
        for (i = 0; i < n; i++)
                if (s[i] != '_')
                        clean[j++] = s[i];
        clean[j] = '\0';
        c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t) 0);
        if (!c_locale)
                return -ENOMEM;
        d = strtod_l(clean, &end, c_locale);
        freelocale(c_locale);
        if (*end != '\0' || isinf(d))
                return fail(ps, "float '%.*s' out of range", shown(n), s);
        *ret = d;
        return 0;
}

static bool looks_like_date(const char *s, size_t n) {
        size_t d = 0;

        while (d < n && s[d] >= '0' && s[d] <= '9')
                d++;
        return (d == 4 && n > 4 && s[4] == '-') || (d == 2 && n > 2 && s[2] == ':');
}

/* true, false, inf, nan, numbers; rejects dates. */
static int parse_bare_value(struct parser *ps, struct toml_value *v) {
        const char *s = ps->p, *w;
        size_t n, wn;
        char tmp[16];
        bool is_int;

        while (ps->p < ps->end &&
               (is_bare(*ps->p) || *ps->p == '+' || *ps->p == '.' || *ps->p == ':'))
                ps->p++;
        n = (size_t) (ps->p - s);
        if (n == 0)
                return fail(ps, "expected a value, found %s", found(ps, tmp));
        v->type = TOML_BOOLEAN;
        if ((n == 4 && memcmp(s, "true", 4) == 0) || (n == 5 && memcmp(s, "false", 5) == 0)) {
                v->boolean = n == 4;
                return 0;
        }
        v->type = TOML_FLOAT;
        w = s[0] == '+' || s[0] == '-' ? s + 1 : s;
        wn = n - (size_t) (w - s);
        if (wn == 3 && (memcmp(w, "inf", 3) == 0 || memcmp(w, "nan", 3) == 0)) {
                v->floating = w[0] == 'i' ? INFINITY : NAN;
                v->floating = s[0] == '-' ? -v->floating : v->floating;
                return 0;
        }
        if (wn == 0 || w[0] < '0' || w[0] > '9')
                return fail(ps, "invalid value '%.*s' (strings need quotes)", shown(n), s);
        if (looks_like_date(s, n))
                return fail(ps, "dates and times are not supported ('%.*s')", shown(n), s);
        is_int = !memchr(s, '.', n) && ((!memchr(s, 'e', n) && !memchr(s, 'E', n)) ||
                                        (n > 2 && s[0] == '0' && s[1] == 'x'));
        if (is_int) {
                v->type = TOML_INTEGER;
                return parse_integer(ps, s, n, &v->integer);
        }
        return parse_float(ps, s, n, &v->floating);
}

/* ---- values ------------------------------------------------------------------------------ */

static int parse_value(struct parser *ps, unsigned depth, struct toml_value **ret);
static int parse_keyval(struct parser *ps, struct toml_value *base, unsigned depth,
                        unsigned section);

static int parse_string_value(struct parser *ps, struct toml_value *v) {
        _cleanup_(toml_buf_release) struct toml_buf b = {};
        int r = parse_string(ps, &b);

        if (r < 0)
                return r;
        if (!b.s && toml_buf_add(&b, "", 0) < 0)
                return -ENOMEM;
        v->string.ptr = TAKE_PTR(b.s);
        v->string.len = b.len;
        return 0;
}

static int parse_array(struct parser *ps, unsigned depth, struct toml_value *v) {
        unsigned start = ps->line;
        char tmp[16];

        for (ps->p++;;) { /* past '[' */
                _cleanup_(toml_value_freep) struct toml_value *item = NULL;
                int r = skip_blank(ps);

                if (r < 0)
                        return r;
                if (peek(ps) == ']')
                        break;
                r = parse_value(ps, depth + 1, &item);
                if (r < 0)
                        return r;
                r = toml_array_add(v, item);
                if (r < 0)
                        return r;
                TAKE_PTR(item);
                r = skip_blank(ps);
                if (r < 0)
                        return r;
                if (peek(ps) == ']')
                        break;
                if (peek(ps) < 0)
                        return fail(ps, "unterminated array (opened on line %u)", start);
                if (peek(ps) != ',')
                        return fail(ps, "expected ',' or ']' in an array, found %s",
                                    found(ps, tmp));
                ps->p++;
        }
        ps->p++;
        return 0;
}

static int parse_inline_table(struct parser *ps, unsigned depth, struct toml_value *v) {
        unsigned section = ps->next_section++;
        char tmp[16];

        ps->p++; /* past '{' */
        skip_ws(ps);
        if (peek(ps) == '}') {
                ps->p++;
                return 0;
        }
        for (;;) {
                int r = parse_keyval(ps, v, depth, section);

                if (r < 0)
                        return r;
                skip_ws(ps);
                if (peek(ps) == '}')
                        break;
                if (peek(ps) == '\n' || peek(ps) == '\r')
                        return fail(ps, "newlines are not allowed in an inline table");
                if (peek(ps) != ',')
                        return fail(ps, "expected ',' or '}' in an inline table, found %s",
                                    found(ps, tmp));
                ps->p++;
                skip_ws(ps);
                if (peek(ps) == '}')
                        return fail(ps, "trailing comma in an inline table");
        }
        ps->p++;
        return 0;
}

/* A value at DEPTH (the root table is at 0). */
static int parse_value(struct parser *ps, unsigned depth, struct toml_value **ret) {
        _cleanup_(toml_value_freep) struct toml_value *v = NULL;
        int c = peek(ps), r;

        if (depth > TOML_MAX_DEPTH)
                return fail(ps, "nesting deeper than %d levels", TOML_MAX_DEPTH);
        v = toml_value_new(c == '[' ? TOML_ARRAY : c == '{' ? TOML_TABLE : TOML_STRING, ps->line);
        if (!v)
                return -ENOMEM;
        if (c == '"' || c == '\'')
                r = parse_string_value(ps, v);
        else if (c == '[')
                r = parse_array(ps, depth, v);
        else if (c == '{')
                r = parse_inline_table(ps, depth, v);
        else
                r = parse_bare_value(ps, v);
        if (r < 0)
                return r;
        if (v->type == TOML_ARRAY || v->type == TOML_TABLE)
                v->flags |= VF_FROZEN;
        *ret = TAKE_PTR(v);
        return 0;
}

/* ---- key/value pairs and headers --------------------------------------------------------- */

/* Walks the dotted part of K from BASE, creating tables; dotted keys may extend tables they
 * made themselves, in the same section, and tables that [headers] only implied. */
static int walk_dotted(struct parser *ps, struct key *k, struct toml_value *base, unsigned section,
                       unsigned line, struct toml_value **ret) {
        struct toml_value *t = base;

        for (size_t i = 0; i + 1 < k->n; i++) {
                _cleanup_free_ char *name = NULL;
                struct toml_value *child = toml_table_lookup(t, k->parts[i]);
                int r;

                if (!child) {
                        r = toml_table_add_new(t, k->parts[i], TOML_TABLE, line, &child);
                        if (r < 0)
                                return r;
                        child->flags = VF_DOTTED;
                        child->section = section;
                }
                if (child->type == TOML_TABLE && !(child->flags & (VF_FROZEN | VF_EXPLICIT)) &&
                    (!(child->flags & VF_DOTTED) || child->section == section)) {
                        child->flags |= VF_DOTTED;
                        child->section = section;
                        t = child;
                        continue;
                }
                name = key_name(k, i);
                if (!name)
                        return -ENOMEM;
                if (child->type != TOML_TABLE)
                        return fail(ps, "key '%s' is already %s (line %u), not a table", name,
                                    a_type(child->type), child->line);
                if (child->flags & VF_FROZEN)
                        return fail(ps, "cannot add keys to inline table '%s' (line %u)", name,
                                    child->line);
                return fail(ps,
                            "cannot add keys to table '%s' (line %u) with dotted keys "
                            "outside the section that defined it",
                            name, child->line);
        }
        *ret = t;
        return 0;
}

static int parse_keyval(struct parser *ps, struct toml_value *base, unsigned depth,
                        unsigned section) {
        _cleanup_(key_release) struct key k = {};
        _cleanup_(toml_value_freep) struct toml_value *v = NULL;
        struct toml_value *t = NULL, *old;
        unsigned line = ps->line;
        char tmp[16];
        int r;

        r = parse_key(ps, &k);
        if (r < 0)
                return r;
        if (peek(ps) != '=')
                return fail(ps, "expected '=' after a key, found %s", found(ps, tmp));
        ps->p++;
        skip_ws(ps);
        if (depth + k.n > TOML_MAX_DEPTH)
                return fail(ps, "nesting deeper than %d levels", TOML_MAX_DEPTH);
        r = walk_dotted(ps, &k, base, section, line, &t);
        if (r < 0)
                return r;
        old = toml_table_lookup(t, k.parts[k.n - 1]);
        if (old) {
                _cleanup_free_ char *name = key_name(&k, k.n - 1);
                return name ? fail(ps, "duplicate key '%s' (first defined on line %u)", name,
                                   old->line)
                            : -ENOMEM;
        }
        r = parse_value(ps, depth + (unsigned) k.n, &v);
        if (r < 0)
                return r;
        v->line = line;
        r = toml_table_add(t, k.parts[k.n - 1], v);
        if (r < 0)
                return r;
        k.parts[k.n - 1] = NULL;
        TAKE_PTR(v);
        return 0;
}

/* One step of a header's path: the table (or last element of the array of tables) KEY names in
 * *T, created if missing. */
static int header_step(struct parser *ps, const struct key *k, size_t i, struct toml_value **t,
                       unsigned *depth) {
        _cleanup_free_ char *name = NULL;
        struct toml_value *child = toml_table_lookup(*t, k->parts[i]);
        int r;

        if (!child) {
                r = toml_table_add_new(*t, k->parts[i], TOML_TABLE, ps->line, &child);
                if (r < 0)
                        return r;
        }
        if (child->type == TOML_ARRAY && (child->flags & VF_AOT)) {
                child = child->array.items[child->array.n - 1];
                (*depth)++;
        }
        (*depth)++;
        if (child->type == TOML_TABLE && !(child->flags & VF_FROZEN)) {
                *t = child;
                return *depth > TOML_MAX_DEPTH
                               ? fail(ps, "nesting deeper than %d levels", TOML_MAX_DEPTH)
                               : 0;
        }
        name = key_name(k, i);
        if (!name)
                return -ENOMEM;
        if (child->flags & VF_FROZEN)
                return fail(ps, "cannot extend %s '%s' defined inline on line %u",
                            child->type == TOML_TABLE ? "table" : "array", name, child->line);
        return fail(ps, "key '%s' is already %s (line %u), not a table", name, a_type(child->type),
                    child->line);
}

/* The last part of a [header]: a table that must not have been defined before. */
static int header_table(struct parser *ps, const struct key *k, struct toml_value *t,
                        struct toml_value **ret) {
        _cleanup_free_ char *name = NULL;
        struct toml_value *child = toml_table_lookup(t, k->parts[k->n - 1]);
        int r;

        if (!child) {
                r = toml_table_add_new(t, k->parts[k->n - 1], TOML_TABLE, ps->line, &child);
                if (r < 0)
                        return r;
        } else if (child->type == TOML_TABLE &&
                   !(child->flags & (VF_EXPLICIT | VF_DOTTED | VF_FROZEN))) {
                child->line = ps->line;
        } else {
                name = key_name(k, k->n - 1);
                if (!name)
                        return -ENOMEM;
                if (child->type == TOML_ARRAY && (child->flags & VF_AOT))
                        return fail(ps, "table '%s' is already an array of tables (line %u)", name,
                                    child->line);
                if (child->flags & VF_FROZEN)
                        return fail(ps, "cannot extend %s '%s' defined inline on line %u",
                                    toml_type_name(child->type), name, child->line);
                if (child->type != TOML_TABLE)
                        return fail(ps, "key '%s' is already defined as %s (line %u)", name,
                                    a_type(child->type), child->line);
                if (child->flags & VF_DOTTED)
                        return fail(ps, "table '%s' is already defined by dotted keys (line %u)",
                                    name, child->line);
                return fail(ps, "table '%s' is defined twice (first on line %u)", name,
                            child->line);
        }
        child->flags |= VF_EXPLICIT;
        *ret = child;
        return 0;
}

/* The last part of a [[header]]: a new element of an array of tables. */
static int header_aot(struct parser *ps, const struct key *k, struct toml_value *t,
                      struct toml_value **ret) {
        _cleanup_(toml_value_freep) struct toml_value *elem = NULL;
        struct toml_value *arr = toml_table_lookup(t, k->parts[k->n - 1]);
        int r;

        if (!arr) {
                r = toml_table_add_new(t, k->parts[k->n - 1], TOML_ARRAY, ps->line, &arr);
                if (r < 0)
                        return r;
                arr->flags = VF_AOT;
        } else if (arr->type != TOML_ARRAY || !(arr->flags & VF_AOT)) {
                _cleanup_free_ char *name = key_name(k, k->n - 1);
                if (!name)
                        return -ENOMEM;
                return fail(ps, "cannot make '%s' an array of tables: it is already %s (line %u)",
                            name, a_type(arr->type), arr->line);
        }
        elem = toml_value_new(TOML_TABLE, ps->line);
        if (!elem)
                return -ENOMEM;
        elem->flags = VF_EXPLICIT;
        r = toml_array_add(arr, elem);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(elem);
        return 0;
}

static int parse_header(struct parser *ps) {
        _cleanup_(key_release) struct key k = {};
        bool aot = lookahead(ps, "[[");
        struct toml_value *t = ps->root;
        unsigned depth = 0;
        char tmp[16];
        int r;

        ps->p += aot ? 2 : 1;
        skip_ws(ps);
        r = parse_key(ps, &k);
        if (r < 0)
                return r;
        if (!lookahead(ps, aot ? "]]" : "]"))
                return fail(ps, "expected '%s' to close the table header, found %s",
                            aot ? "]]" : "]", found(ps, tmp));
        ps->p += aot ? 2 : 1;
        for (size_t i = 0; i + 1 < k.n; i++) {
                r = header_step(ps, &k, i, &t, &depth);
                if (r < 0)
                        return r;
        }
        depth += aot ? 2 : 1;
        if (depth > TOML_MAX_DEPTH)
                return fail(ps, "nesting deeper than %d levels", TOML_MAX_DEPTH);
        r = aot ? header_aot(ps, &k, t, &t) : header_table(ps, &k, t, &t);
        if (r < 0)
                return r;
        ps->cur = t;
        ps->cur_depth = depth;
        ps->section = ps->next_section++;
        return 0;
}

static int parse_document(struct parser *ps) {
        char tmp[16];

        if (lookahead(ps, "\xef\xbb\xbf")) /* a byte order mark */
                ps->p += 3;
        for (;;) {
                int r = 0, c;

                skip_ws(ps);
                c = peek(ps);
                if (c < 0)
                        return 0;
                if (c == '[')
                        r = parse_header(ps);
                else if (c != '#' && c != '\n' && c != '\r')
                        r = parse_keyval(ps, ps->cur, ps->cur_depth, ps->section);
                if (r < 0)
                        return r;
                skip_ws(ps);
                r = skip_comment(ps);
                if (r < 0)
                        return r;
                if (peek(ps) < 0)
                        return 0;
                r = eat_newline(ps);
                if (r < 0)
                        return r;
                if (r == 0)
                        return fail(ps, "expected the end of the line, found %s", found(ps, tmp));
        }
}

/* ---- entry points ---------------------------------------------------------------------- */

static void toml_doc_freep(struct toml_doc **doc) {
        toml_doc_free(*doc);
}

int toml_parse(const char *file, const char *data, size_t len, struct toml_doc **ret,
               struct nctk_error **err) {
        _cleanup_(toml_doc_freep) struct toml_doc *doc = NULL;
        struct parser ps;
        int r;

        if (!file)
                file = "<input>";
        if (len > TOML_MAX_SIZE)
                return nctk_error_set(err, EFBIG, "%s: larger than %u bytes", file, TOML_MAX_SIZE);
        doc = calloc(1, sizeof(*doc));
        if (!doc || !(doc->file = strdup(file)) || !(doc->root = toml_value_new(TOML_TABLE, 1)))
                return nctk_error_set(err, ENOMEM, "%s: out of memory", file);
        ps = (struct parser){
                .file = file,
                .p = data,
                .end = data + len,
                .line = 1,
                .err = err,
                .root = doc->root,
                .cur = doc->root,
                .next_section = 1,
        };
        r = check_utf8(&ps);
        if (r >= 0)
                r = parse_document(&ps);
        if (r == -ENOMEM)
                return nctk_error_set(err, ENOMEM, "%s: out of memory", file);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(doc);
        return 0;
}

int toml_parse_file(const char *path, struct toml_doc **ret, struct nctk_error **err) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        _cleanup_free_ char *data = NULL;
        struct stat st;
        size_t len = 0;
        int r;

        if (fd < 0)
                return nctk_error_set(err, errno, "%s: %s", path, strerror(errno));
        if (fstat(fd, &st) < 0)
                return nctk_error_set(err, errno, "%s: %s", path, strerror(errno));
        if (S_ISDIR(st.st_mode))
                return nctk_error_set(err, EISDIR, "%s: %s", path, strerror(EISDIR));
        if (!S_ISREG(st.st_mode))
                return nctk_error_set(err, EINVAL, "%s: not a regular file", path);
        r = read_full_fd(fd, TOML_MAX_SIZE, &data, &len);
        if (r == -EFBIG)
                return nctk_error_set(err, EFBIG, "%s: larger than %u bytes", path, TOML_MAX_SIZE);
        if (r < 0)
                return nctk_error_set(err, -r, "%s: %s", path, strerror(-r));
        return toml_parse(path, data, len, ret, err);
}
