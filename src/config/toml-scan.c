/* The scanner under toml-edit.c: one pass over a TOML text that records where each header and
 * key/value starts and ends and what path it has, and checks the structure as it goes (what a
 * value is, which characters may follow it) so that errors name a line and a column. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/toml-edit.h"
#include "config/toml-scan.h"
#include "config/toml.h"
#include "util/hex.h"
#include "util/macros.h"
#include "util/strv.h"

struct scan {
        const char *file;
        const char *t;
        size_t len, p;
        struct nctk_error **err;
        struct toml_item *items;
        size_t n_items;
        size_t header;   /* the current header item, or NO_HEADER */
        bool has_arrays; /* an array of tables seen: headers must be checked against it */
};

int toml_buf_add(struct toml_buf *b, const char *s, size_t n) {
        if (b->len + n + 1 > b->cap) {
                size_t cap = b->cap ? b->cap : 64;
                char *ns;

                while (cap < b->len + n + 1)
                        cap *= 2;
                ns = realloc(b->s, cap);
                if (!ns)
                        return -ENOMEM;
                b->s = ns;
                b->cap = cap;
        }
        memcpy(b->s + b->len, s, n);
        b->len += n;
        b->s[b->len] = '\0';
        return 0;
}

int toml_buf_adds(struct toml_buf *b, const char *s) {
        return toml_buf_add(b, s, strlen(s));
}

void toml_buf_release(struct toml_buf *b) {
        free(b->s);
        *b = (struct toml_buf){0};
}

void toml_items_free(struct toml_item *items, size_t n) {
        for (size_t i = 0; i < n; i++) {
                struct toml_item *it = &items[i];

                if (!it->path)
                        continue;
                /* a key's first NHEAD parts are its header's strings */
                for (size_t j = it->kind == ITEM_KEY ? it->nhead : 0; j < it->n; j++)
                        free(it->path[j]);
                free(it->path);
        }
        free(items);
}

/* ---- scanning ------------------------------------------------------------------------------ */

static int scan_fail(struct scan *sc, size_t pos, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static int scan_fail(struct scan *sc, size_t pos, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        unsigned line = 1;
        size_t bol = 0;
        va_list ap;
        int r;

        for (size_t i = 0; i < pos && i < sc->len; i++)
                if (sc->t[i] == '\n') {
                        line++;
                        bol = i + 1;
                }
        va_start(ap, fmt);
        r = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        return nctk_error_set(sc->err, EINVAL, "%s:%u:%zu: %s", sc->file, line, pos - bol + 1, msg);
}

static int peek(const struct scan *sc) {
        return sc->p < sc->len ? (unsigned char) sc->t[sc->p] : -1;
}

static bool at(const struct scan *sc, const char *s) {
        size_t n = strlen(s);
        return sc->len - sc->p >= n && memcmp(sc->t + sc->p, s, n) == 0;
}

static void skip_ws(struct scan *sc) {
        while (peek(sc) == ' ' || peek(sc) == '\t')
                sc->p++;
}

static bool at_newline(const struct scan *sc) {
        return peek(sc) == '\n' || at(sc, "\r\n");
}

/* Past white space, newlines and comments: the filler between an array's items. */
static void skip_filler(struct scan *sc) {
        for (;;) {
                skip_ws(sc);
                if (at_newline(sc))
                        sc->p += peek(sc) == '\r' ? 2 : 1;
                else if (peek(sc) == '#')
                        while (peek(sc) >= 0 && !at_newline(sc))
                                sc->p++;
                else
                        return;
        }
}

static bool is_bare(int c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '_';
}

static int add_utf8(struct toml_buf *b, uint32_t cp) {
        char u[4];
        size_t n;

        if (cp < 0x80) {
                u[0] = (char) cp;
                n = 1;
        } else if (cp < 0x800) {
                u[0] = (char) (0xc0 | (cp >> 6));
                u[1] = (char) (0x80 | (cp & 0x3f));
                n = 2;
        } else if (cp < 0x10000) {
                u[0] = (char) (0xe0 | (cp >> 12));
                u[1] = (char) (0x80 | ((cp >> 6) & 0x3f));
                u[2] = (char) (0x80 | (cp & 0x3f));
                n = 3;
        } else {
                u[0] = (char) (0xf0 | (cp >> 18));
                u[1] = (char) (0x80 | ((cp >> 12) & 0x3f));
                u[2] = (char) (0x80 | ((cp >> 6) & 0x3f));
                u[3] = (char) (0x80 | (cp & 0x3f));
                n = 4;
        }
        return toml_buf_add(b, u, n);
}

/* One escape of a basic string, at the backslash; appends what it stands for to B. */
static int scan_escape(struct scan *sc, struct toml_buf *b) {
        static const char from[] = "btnfr\"\\", to[] = "\b\t\n\f\r\"\\";
        size_t esc = sc->p;
        const char *f;
        int c, digits;
        uint32_t cp = 0;

        sc->p++;
        c = peek(sc);
        f = c > 0 ? strchr(from, c) : NULL;
        if (f) {
                sc->p++;
                return toml_buf_add(b, &to[f - from], 1);
        }
        if (c != 'u' && c != 'U')
                return scan_fail(sc, esc, "invalid escape in a string");
        digits = c == 'u' ? 4 : 8;
        sc->p++;
        for (int i = 0; i < digits; i++) {
                int h = hex_digit_value(peek(sc));
                if (h < 0)
                        return scan_fail(sc, esc, "invalid \\%c escape in a string", c);
                cp = cp << 4 | (uint32_t) h;
                sc->p++;
        }
        if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp == 0)
                return scan_fail(sc, esc, "escape names no allowed Unicode character");
        return add_utf8(b, cp);
}

/* A one-line string at its opening quote; the decoded text goes to B when B is not NULL. */
static int scan_string(struct scan *sc, struct toml_buf *b) {
        size_t open = sc->p;
        int q = peek(sc), c, r;

        sc->p++;
        for (;;) {
                c = peek(sc);
                if (c < 0 || c == '\n' || c == '\r')
                        return scan_fail(sc, open, "string not closed on its line");
                if (c == q) {
                        sc->p++;
                        return 0;
                }
                if (c == '\\' && q == '"') {
                        struct toml_buf dummy = {0};
                        r = scan_escape(sc, b ? b : &dummy);
                        toml_buf_release(&dummy);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (b && toml_buf_add(b, sc->t + sc->p, 1) < 0)
                        return -ENOMEM;
                sc->p++;
        }
}

/* A multi-line string at its opening ''' or """. Up to two quotes may end its content. */
static int scan_ml_string(struct scan *sc) {
        size_t open = sc->p;
        bool basic = peek(sc) == '"';
        const char *close = basic ? "\"\"\"" : "'''";

        sc->p += 3;
        for (;;) {
                if (sc->p >= sc->len)
                        return scan_fail(sc, open, "multi-line string not closed");
                if (basic && peek(sc) == '\\') {
                        sc->p += 2;
                        continue;
                }
                if (at(sc, close)) {
                        sc->p += 3;
                        for (int i = 0; i < 2 && peek(sc) == close[0]; i++)
                                sc->p++;
                        return 0;
                }
                sc->p++;
        }
}

static int scan_value(struct scan *sc, unsigned depth);

static int scan_array(struct scan *sc, unsigned depth) {
        size_t open = sc->p;
        int r;

        sc->p++;
        for (;;) {
                skip_filler(sc);
                if (peek(sc) == ']')
                        break;
                r = scan_value(sc, depth + 1);
                if (r < 0)
                        return r;
                skip_filler(sc);
                if (peek(sc) == ',') {
                        sc->p++;
                        continue;
                }
                if (peek(sc) == ']')
                        break;
                return scan_fail(sc, peek(sc) < 0 ? open : sc->p,
                                 peek(sc) < 0 ? "array not closed" : "expected ',' or ']'");
        }
        sc->p++;
        return 0;
}

static int scan_key(struct scan *sc, size_t skip, char ***ret, size_t *ret_n);

static int scan_inline_table(struct scan *sc, unsigned depth) {
        size_t open = sc->p;
        bool first = true;
        int r;

        sc->p++;
        for (;;) {
                char **key = NULL;
                size_t n;

                skip_ws(sc);
                if (first && peek(sc) == '}')
                        break;
                first = false;
                r = scan_key(sc, 0, &key, &n);
                toml_strv_free(key);
                if (r < 0)
                        return r;
                skip_ws(sc);
                if (peek(sc) != '=')
                        return scan_fail(sc, sc->p, "expected '=' after a key");
                sc->p++;
                skip_ws(sc);
                r = scan_value(sc, depth + 1);
                if (r < 0)
                        return r;
                skip_ws(sc);
                if (peek(sc) == ',') {
                        sc->p++;
                        continue;
                }
                if (peek(sc) == '}')
                        break;
                return scan_fail(sc, peek(sc) < 0 ? open : sc->p,
                                 peek(sc) < 0 ? "inline table not closed" : "expected ',' or '}'");
        }
        sc->p++;
        return 0;
}

/* A scalar written bare: number, boolean, date. toml_parse() checks what it says. */
static int scan_bare_value(struct scan *sc) {
        size_t start = sc->p;

        while (peek(sc) >= 0 && !strchr(" \t\r\n,]}#", peek(sc)))
                sc->p++;
        if (sc->p == start)
                return scan_fail(sc, start, "expected a value");
        return 0;
}

static int scan_value(struct scan *sc, unsigned depth) {
        if (depth > TOML_MAX_DEPTH)
                return scan_fail(sc, sc->p, "values nested deeper than %d levels", TOML_MAX_DEPTH);
        if (at(sc, "\"\"\"") || at(sc, "'''"))
                return scan_ml_string(sc);
        switch (peek(sc)) {
        case '"':
        case '\'': return scan_string(sc, NULL);
        case '[': return scan_array(sc, depth);
        case '{': return scan_inline_table(sc, depth);
        default: return scan_bare_value(sc);
        }
}

static int scan_simple_key(struct scan *sc, char **ret) {
        struct toml_buf b = {0};
        size_t start = sc->p;
        int r = 0;

        if (peek(sc) == '"' || peek(sc) == '\'') {
                r = toml_buf_add(&b, "", 0);
                if (r >= 0)
                        r = scan_string(sc, &b);
                if (r >= 0 && strlen(b.s) != b.len)
                        r = scan_fail(sc, start, "key holds a NUL character");
        } else {
                while (is_bare(peek(sc)))
                        sc->p++;
                if (sc->p == start)
                        r = scan_fail(sc, start, "expected a key");
                else if (!(b.s = strndup(sc->t + start, sc->p - start)))
                        r = -ENOMEM;
        }
        if (r < 0) {
                toml_buf_release(&b);
                return r;
        }
        *ret = b.s;
        return 0;
}

static void parts_free(char **parts, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(parts[i]);
}

/* A dotted key: a NULL-terminated vector in *RET of SKIP empty slots (for the caller to fill)
 * and then the key's decoded parts, *RET_N of them. */
static int scan_key(struct scan *sc, size_t skip, char ***ret, size_t *ret_n) {
        char *parts[TOML_MAX_DEPTH], **v;
        size_t n = 0;
        int r;

        for (;;) {
                if (n >= TOML_MAX_DEPTH) {
                        parts_free(parts, n);
                        return scan_fail(sc, sc->p, "key has more than %d parts", TOML_MAX_DEPTH);
                }
                r = scan_simple_key(sc, &parts[n]);
                if (r < 0) {
                        parts_free(parts, n);
                        return r;
                }
                n++;
                skip_ws(sc);
                if (peek(sc) != '.')
                        break;
                sc->p++;
                skip_ws(sc);
        }
        v = calloc(skip + n + 1, sizeof(*v));
        if (!v) {
                parts_free(parts, n);
                return -ENOMEM;
        }
        memcpy(v + skip, parts, n * sizeof(*v));
        *ret = v;
        *ret_n = n;
        return 0;
}

/* After a header or a value: white space, maybe a comment, then the end of the line. */
static int scan_line_end(struct scan *sc) {
        skip_ws(sc);
        if (peek(sc) == '#')
                while (peek(sc) >= 0 && !at_newline(sc)) {
                        int c = peek(sc);
                        if ((c < 0x20 && c != '\t') || c == 0x7f)
                                return scan_fail(sc, sc->p, "control character in a comment");
                        sc->p++;
                }
        if (peek(sc) < 0)
                return 0;
        if (!at_newline(sc))
                return scan_fail(sc, sc->p, "expected the end of the line");
        sc->p += peek(sc) == '\r' ? 2 : 1;
        return 0;
}

bool toml_path_starts(const char *const *full, size_t nfull, const char *const *pre, size_t npre) {
        if (nfull < npre)
                return false;
        for (size_t i = 0; i < npre; i++)
                if (!STREQ(full[i], pre[i]))
                        return false;
        return true;
}

/* Whether a header at PATH lies inside an element of an array of tables seen so far. */
static bool under_array(const struct scan *sc, char *const *path, size_t n) {
        for (size_t i = 0; sc->has_arrays && i < sc->n_items; i++) {
                const struct toml_item *it = &sc->items[i];
                if (it->kind == ITEM_ARRAY_TABLE &&
                    toml_path_starts((const char *const *) path, n, (const char *const *) it->path,
                                     it->n))
                        return true;
        }
        return false;
}

static int scan_header(struct scan *sc, struct toml_item *it) {
        bool array = at(sc, "[[");
        int r;

        it->key_start = sc->p;
        sc->p += array ? 2 : 1;
        skip_ws(sc);
        r = scan_key(sc, 0, &it->path, &it->n);
        if (r < 0)
                return r;
        if (!at(sc, array ? "]]" : "]"))
                return scan_fail(sc, sc->p, "expected '%s' to close the header",
                                 array ? "]]" : "]");
        sc->p += array ? 2 : 1;
        it->key_end = sc->p;
        it->kind = array ? ITEM_ARRAY_TABLE : ITEM_TABLE;
        sc->has_arrays |= array;
        it->in_array = under_array(sc, it->path, it->n);
        it->header = NO_HEADER;
        sc->header = sc->n_items - 1;
        return scan_line_end(sc);
}

static int scan_keyval(struct scan *sc, struct toml_item *it) {
        const struct toml_item *h = sc->header == NO_HEADER ? NULL : &sc->items[sc->header];
        size_t nhead = h ? h->n : 0, n;
        int r;

        it->kind = ITEM_KEY;
        it->key_start = sc->p;
        r = scan_key(sc, nhead, &it->path, &n);
        if (r < 0)
                return r;
        /* the header's strings, borrowed: the items are freed together */
        if (nhead > 0)
                memcpy(it->path, h->path, nhead * sizeof(*it->path));
        it->nhead = nhead;
        it->n = nhead + n;
        it->key_end = sc->p;
        while (it->key_end > it->key_start && strchr(" \t", sc->t[it->key_end - 1]))
                it->key_end--;
        it->header = sc->header;
        it->in_array = h && (h->in_array || h->kind == ITEM_ARRAY_TABLE);
        if (peek(sc) != '=')
                return scan_fail(sc, sc->p, "expected '=' after a key");
        sc->p++;
        skip_ws(sc);
        it->value_start = sc->p;
        r = scan_value(sc, 0);
        if (r < 0)
                return r;
        it->value_end = sc->p;
        return scan_line_end(sc);
}

/* One line that is not blank and not only a comment: a header or a key/value. */
static int scan_item(struct scan *sc, size_t bol, unsigned line) {
        struct toml_item *it = ARRAY_PUSH(sc->items, sc->n_items);
        int r;

        if (!it)
                return -ENOMEM;
        it->start = bol;
        it->line = line;
        /* the item is counted now so that a failure frees its path */
        r = peek(sc) == '[' ? scan_header(sc, it) : scan_keyval(sc, it);
        it = &sc->items[sc->n_items - 1];
        it->next = sc->p;
        return r;
}

static int scan_text(struct scan *sc) {
        unsigned line = 1;

        if (at(sc, "\xef\xbb\xbf"))
                sc->p = 3;
        sc->header = NO_HEADER;
        while (sc->p < sc->len) {
                size_t bol = sc->p;
                int r;

                skip_ws(sc);
                if (peek(sc) == '#' || at_newline(sc) || peek(sc) < 0)
                        r = scan_line_end(sc);
                else
                        r = scan_item(sc, bol, line);
                if (r < 0)
                        return r;
                for (size_t i = bol; i < sc->p; i++)
                        line += sc->t[i] == '\n';
        }
        return 0;
}

/* ---- paths and quoting --------------------------------------------------------------------- */

static bool is_bare_key(const char *key) {
        if (!*key)
                return false;
        for (const char *c = key; *c; c++)
                if (!is_bare((unsigned char) *c))
                        return false;
        return true;
}

/* Length of the UTF-8 sequence at S (of at most N bytes), or 0 when it is not valid. */
static size_t utf8_len(const unsigned char *s, size_t n) {
        size_t len;
        uint32_t cp;

        if (s[0] < 0x80)
                return 1;
        if ((s[0] & 0xe0) == 0xc0)
                len = 2, cp = s[0] & 0x1f;
        else if ((s[0] & 0xf0) == 0xe0)
                len = 3, cp = s[0] & 0x0f;
        else if ((s[0] & 0xf8) == 0xf0)
                len = 4, cp = s[0] & 0x07;
        else
                return 0;
        if (len > n)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = cp << 6 | (s[i] & 0x3f);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        return len;
}

int toml_quote_string(const char *s, char **ret) {
        struct toml_buf b = {0};
        size_t n = strlen(s);
        int r = toml_buf_add(&b, "\"", 1);

        for (size_t i = 0; r >= 0 && i < n;) {
                unsigned char c = (unsigned char) s[i];
                size_t l = utf8_len((const unsigned char *) s + i, n - i);
                char esc[8];

                if (l == 0) {
                        toml_buf_release(&b);
                        return -EINVAL;
                }
                if (c == '"' || c == '\\') {
                        esc[0] = '\\';
                        esc[1] = (char) c;
                        r = toml_buf_add(&b, esc, 2);
                } else if (c < 0x20 || c == 0x7f) {
                        snprintf(esc, sizeof(esc), "\\u%04x", c);
                        r = toml_buf_adds(&b, esc);
                } else {
                        r = toml_buf_add(&b, s + i, l);
                }
                i += l;
        }
        if (r >= 0)
                r = toml_buf_add(&b, "\"", 1);
        if (r < 0) {
                toml_buf_release(&b);
                return r;
        }
        *ret = b.s;
        return 0;
}

int toml_quote_key(const char *key, char **ret) {
        if (is_bare_key(key)) {
                *ret = strdup(key);
                return *ret ? 0 : -ENOMEM;
        }
        return toml_quote_string(key, ret);
}

/* PATH (N keys) written as a dotted key, with KEY after it when KEY is not NULL. */
int toml_path_write(struct toml_buf *b, const char *const *path, size_t n, const char *key) {
        for (size_t i = 0; i < n + (key != NULL); i++) {
                _cleanup_free_ char *q = NULL;
                int r = toml_quote_key(i < n ? path[i] : key, &q);

                if (r >= 0 && i > 0)
                        r = toml_buf_add(b, ".", 1);
                if (r >= 0)
                        r = toml_buf_adds(b, q);
                if (r < 0)
                        return r;
        }
        return 0;
}

int toml_path_format(const char *const *path, size_t n, char **ret) {
        struct toml_buf b = {0};
        int r = toml_buf_add(&b, "", 0) ?: toml_path_write(&b, path, n, NULL);

        if (r < 0) {
                toml_buf_release(&b);
                return r;
        }
        *ret = b.s;
        return 0;
}

int toml_path_parse(const char *dotted, char ***ret, size_t *ret_n, struct nctk_error **err) {
        struct scan sc = {.file = "key", .t = dotted, .len = strlen(dotted), .err = err};
        char **parts = NULL;
        size_t n;
        int r;

        skip_ws(&sc);
        r = scan_key(&sc, 0, &parts, &n);
        if (r < 0)
                return r;
        skip_ws(&sc);
        if (sc.p != sc.len) {
                toml_strv_free(parts);
                return nctk_error_set(err, EINVAL, "'%s' is not a TOML key", dotted);
        }
        *ret = parts;
        *ret_n = n;
        return 0;
}

int toml_scan(const char *file, const char *text, size_t len, struct toml_item **ret, size_t *ret_n,
              struct nctk_error **err) {
        struct scan sc = {.file = file, .t = text, .len = len, .err = err};
        int r = scan_text(&sc);

        if (r < 0) {
                toml_items_free(sc.items, sc.n_items);
                return r;
        }
        *ret = sc.items;
        *ret_n = sc.n_items;
        return 0;
}
