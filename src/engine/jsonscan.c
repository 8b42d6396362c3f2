/* The JSON scanner of jsonscan.h: a recursive-descent checker that keeps offsets, never values,
 * since an editor of someone else's file must not re-serialize it. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/jsonscan.h"
#include "util/hex.h"
#include "util/macros.h"
#include "util/strv.h"

/* Deeper documents are refused rather than risk the stack; daemon.json nests three levels. */
#define JSON_MAX_DEPTH 512

struct scan {
        const char *s;
        size_t len, pos;
        unsigned depth;
        struct nctk_error **err;
};

static int scan_value(struct scan *sc, struct json_object *collect);

static int scan_fail(struct scan *sc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int scan_fail(struct scan *sc, const char *fmt, ...) {
        _cleanup_free_ char *what = NULL;
        size_t line, col;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&what, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        json_position(sc->s, sc->pos, &line, &col);
        return nctk_error_set(sc->err, EINVAL, "line %zu, column %zu: %s", line, col, what);
}

void json_position(const char *text, size_t off, size_t *ret_line, size_t *ret_col) {
        size_t line = 1, start = 0, col = 1;

        for (size_t i = 0; i < off; i++)
                if (text[i] == '\n') {
                        line++;
                        start = i + 1;
                }
        for (size_t i = start; i < off; i++)
                if (((unsigned char) text[i] & 0xc0) != 0x80)
                        col++;
        if (start == 0 && off >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
                col--; /* editors do not show the byte order mark */
        *ret_line = line;
        *ret_col = col;
}

static void skip_ws(struct scan *sc) {
        while (sc->pos < sc->len && strchr(" \t\r\n", sc->s[sc->pos]) && sc->s[sc->pos])
                sc->pos++;
}

static bool at(const struct scan *sc, char c) {
        return sc->pos < sc->len && sc->s[sc->pos] == c;
}

static int scan_escape(struct scan *sc) {
        sc->pos++; /* the backslash */
        if (sc->pos >= sc->len)
                return scan_fail(sc, "unterminated string");
        if (strchr("\"\\/bfnrt", sc->s[sc->pos]) && sc->s[sc->pos]) {
                sc->pos++;
                return 0;
        }
        if (sc->s[sc->pos] != 'u') {
                unsigned char c = (unsigned char) sc->s[sc->pos];

                /* The character goes into a one-line message: only printable ones as they are. */
                if (c > 0x20 && c < 0x7f)
                        return scan_fail(sc, "invalid escape '\\%c' in a string", c);
                return scan_fail(sc, "invalid escape (a backslash before byte 0x%02x) in a string",
                                 c);
        }
        for (int i = 1; i <= 4; i++)
                if (sc->pos + (size_t) i >= sc->len ||
                    hex_digit_value(sc->s[sc->pos + (size_t) i]) < 0)
                        return scan_fail(sc, "'\\u' needs four hexadecimal digits");
        sc->pos += 5;
        return 0;
}

static int scan_string(struct scan *sc) {
        sc->pos++; /* the opening quote */
        while (sc->pos < sc->len) {
                unsigned char c = (unsigned char) sc->s[sc->pos];
                int r;

                if (c == '"') {
                        sc->pos++;
                        return 0;
                }
                if (c < 0x20)
                        return scan_fail(sc, "control character in a string (write it escaped)");
                if (c == '\\') {
                        r = scan_escape(sc);
                        if (r < 0)
                                return r;
                        continue;
                }
                sc->pos++;
        }
        return scan_fail(sc, "unterminated string");
}

static size_t digits(struct scan *sc) {
        size_t start = sc->pos;

        while (sc->pos < sc->len && sc->s[sc->pos] >= '0' && sc->s[sc->pos] <= '9')
                sc->pos++;
        return sc->pos - start;
}

static int scan_number(struct scan *sc) {
        if (at(sc, '-'))
                sc->pos++;
        if (at(sc, '0'))
                sc->pos++;
        else if (digits(sc) == 0)
                return scan_fail(sc, "invalid number");
        if (at(sc, '.')) {
                sc->pos++;
                if (digits(sc) == 0)
                        return scan_fail(sc, "invalid number: digits must follow '.'");
        }
        if (at(sc, 'e') || at(sc, 'E')) {
                sc->pos++;
                if (at(sc, '+') || at(sc, '-'))
                        sc->pos++;
                if (digits(sc) == 0)
                        return scan_fail(sc, "invalid number: digits must follow the exponent");
        }
        return 0;
}

static int scan_literal(struct scan *sc) {
        static const char *const words[] = {"true", "false", "null"};

        for (size_t i = 0; i < ELEMENTSOF(words); i++) {
                size_t n = strlen(words[i]);

                if (sc->len - sc->pos >= n && memcmp(sc->s + sc->pos, words[i], n) == 0) {
                        sc->pos += n;
                        return 0;
                }
        }
        return scan_fail(sc, "expected a value");
}

static int scan_member(struct scan *sc, struct json_object *collect) {
        struct json_member m = {.key = sc->pos};
        int r;

        if (!at(sc, '"'))
                return scan_fail(sc, "expected a string as the member's name");
        r = scan_string(sc);
        if (r < 0)
                return r;
        m.key_end = sc->pos;
        skip_ws(sc);
        if (!at(sc, ':'))
                return scan_fail(sc, "expected ':' after the member's name");
        sc->pos++;
        skip_ws(sc);
        m.value = sc->pos;
        m.type = at(sc, '{')   ? JSON_OBJECT
                 : at(sc, '[') ? JSON_ARRAY
                 : at(sc, '"') ? JSON_STRING
                 : at(sc,
                      '-') || (sc->pos < sc->len && sc->s[sc->pos] >= '0' && sc->s[sc->pos] <= '9')
                         ? JSON_NUMBER
                         : JSON_LITERAL;
        r = scan_value(sc, NULL);
        if (r < 0)
                return r;
        m.value_end = sc->pos;
        if (collect) {
                struct json_member *p = ARRAY_PUSH(collect->m, collect->n);

                if (!p)
                        return -ENOMEM;
                *p = m;
        }
        return 0;
}

/* An object or array: ITEMS separated by ',' up to CLOSE. */
static int scan_container(struct scan *sc, char close, struct json_object *collect) {
        bool object = close == '}';
        int r;

        if (++sc->depth > JSON_MAX_DEPTH)
                return scan_fail(sc, "nested more than %d levels deep", JSON_MAX_DEPTH);
        if (collect)
                collect->open = sc->pos;
        sc->pos++;
        skip_ws(sc);
        if (!at(sc, close))
                for (;;) {
                        r = object ? scan_member(sc, collect) : scan_value(sc, NULL);
                        if (r < 0)
                                return r;
                        skip_ws(sc);
                        if (!at(sc, ','))
                                break;
                        sc->pos++;
                        skip_ws(sc);
                }
        if (!at(sc, close))
                return scan_fail(sc,
                                 sc->pos >= sc->len ? "unexpected end of file, expected '%c'"
                                                    : "expected ',' or '%c'",
                                 close);
        if (collect)
                collect->close = sc->pos;
        sc->pos++;
        sc->depth--;
        return 0;
}

static int scan_value(struct scan *sc, struct json_object *collect) {
        skip_ws(sc);
        if (sc->pos >= sc->len)
                return scan_fail(sc, "unexpected end of file, expected a value");
        switch (sc->s[sc->pos]) {
        case '{': return scan_container(sc, '}', collect);
        case '[': return scan_container(sc, ']', NULL);
        case '"': return scan_string(sc);
        case '-':
        case '0' ... '9': return scan_number(sc);
        default: return scan_literal(sc);
        }
}

int json_scan_document(const char *text, size_t len, size_t *ret_open, struct nctk_error **err) {
        struct scan sc = {.s = text, .len = len, .err = err};
        size_t open;
        int r;

        if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
                sc.pos = 3;
        skip_ws(&sc);
        open = sc.pos;
        if (!at(&sc, '{') && sc.pos < len)
                return scan_fail(&sc, "the top level must be an object ({...})");
        r = scan_value(&sc, NULL);
        if (r < 0)
                return r;
        skip_ws(&sc);
        if (sc.pos < len)
                return scan_fail(&sc, "unexpected text after the top-level object");
        *ret_open = open;
        return 0;
}

int json_object_members(const char *text, size_t len, size_t open, struct json_object *ret) {
        struct scan sc = {.s = text, .len = len, .pos = open};
        struct json_object o = {};
        int r;

        r = scan_value(&sc, &o);
        if (r < 0) {
                free(o.m);
                return r == -ENOMEM ? r : -EINVAL;
        }
        *ret = o;
        return 0;
}

void json_object_release(struct json_object *o) {
        free(o->m);
        *o = (struct json_object){};
}

static size_t utf8_put(uint32_t cp, char out[static 4]) {
        if (cp < 0x80) {
                out[0] = (char) cp;
                return 1;
        }
        if (cp < 0x800) {
                out[0] = (char) (0xc0 | (cp >> 6));
                out[1] = (char) (0x80 | (cp & 0x3f));
                return 2;
        }
        if (cp < 0x10000) {
                out[0] = (char) (0xe0 | (cp >> 12));
                out[1] = (char) (0x80 | ((cp >> 6) & 0x3f));
                out[2] = (char) (0x80 | (cp & 0x3f));
                return 3;
        }
        out[0] = (char) (0xf0 | (cp >> 18));
        out[1] = (char) (0x80 | ((cp >> 12) & 0x3f));
        out[2] = (char) (0x80 | ((cp >> 6) & 0x3f));
        out[3] = (char) (0x80 | (cp & 0x3f));
        return 4;
}

static uint32_t hex4(const char *p) {
        uint32_t v = 0;

        for (int i = 0; i < 4; i++)
                v = v * 16 + (uint32_t) hex_digit_value(p[i]);
        return v;
}

/* Decodes the escape at TEXT[*I] (a backslash) into OUT; returns its length in bytes. */
static size_t unescape(const char *text, size_t end, size_t *i, char out[static 4]) {
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        char c = text[*i + 1];
        uint32_t cp;

        if (c != 'u') {
                *i += 2;
                out[0] = to[strchr(from, c) - from];
                return 1;
        }
        cp = hex4(text + *i + 2);
        *i += 6;
        if (cp >= 0xd800 && cp < 0xdc00 && *i + 6 <= end && text[*i] == '\\' &&
            text[*i + 1] == 'u') {
                uint32_t lo = hex4(text + *i + 2);

                if (lo >= 0xdc00 && lo < 0xe000) {
                        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                        *i += 6;
                }
        }
        return utf8_put(cp, out);
}

bool json_string_is(const char *text, size_t start, size_t end, const char *want) {
        size_t i = start + 1, w = 0, wlen = strlen(want);

        while (i < end - 1) {
                char buf[4];
                size_t n;

                if (text[i] == '\\') {
                        n = unescape(text, end - 1, &i, buf);
                } else {
                        buf[0] = text[i++];
                        n = 1;
                }
                if (w + n > wlen || memcmp(want + w, buf, n) != 0)
                        return false;
                w += n;
        }
        return w == wlen;
}

int json_object_find(const char *text, size_t len, const struct json_object *o, const char *key,
                     struct nctk_error **err) {
        int found = -1;

        for (size_t i = 0; i < o->n; i++) {
                if (!json_string_is(text, o->m[i].key, o->m[i].key_end, key))
                        continue;
                if (found >= 0) {
                        struct scan sc = {.s = text, .len = len, .pos = o->m[i].key, .err = err};

                        return scan_fail(&sc, "'%s' is there twice; remove one", key);
                }
                found = (int) i;
        }
        return found;
}

void json_write_string(FILE *f, const char *s) {
        fputc('"', f);
        for (; *s; s++) {
                unsigned char c = (unsigned char) *s;
                const char *esc = c == '"'    ? "\\\""
                                  : c == '\\' ? "\\\\"
                                  : c == '\n' ? "\\n"
                                  : c == '\r' ? "\\r"
                                  : c == '\t' ? "\\t"
                                              : NULL;

                if (esc)
                        fputs(esc, f);
                else if (c < 0x20 || c == 0x7f)
                        fprintf(f, "\\u%04x", c);
                else
                        fputc(c, f);
        }
        fputc('"', f);
}
