/* TOML edited as text (toml-edit.h): a scanner that records where every header and key/value
 * starts and ends, look-ups over that record, and edits that splice new bytes into the text
 * and scan again. Scanning again after each splice keeps the code simple and each record
 * true; a 2,000-line file scans in well under a millisecond. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/toml-edit.h"
#include "config/toml.h"
#include "util/macros.h"
#include "util/strv.h"

#define NO_HEADER SIZE_MAX

enum item_kind {
        ITEM_TABLE,       /* [a.b] */
        ITEM_ARRAY_TABLE, /* [[a.b]] */
        ITEM_KEY,         /* a.b = value */
};

/* One header or key/value line (or lines) of the text. */
struct item {
        enum item_kind kind;
        bool in_array;    /* inside an element of an array of tables: not addressable */
        unsigned line;    /* 1-based */
        size_t start;     /* first byte of its first line */
        size_t key_start; /* headers: the '[' */
        size_t key_end;
        size_t value_start, value_end; /* keys only */
        size_t next;                   /* first byte after its last line */
        char **path;                   /* full path, NULL-terminated */
        size_t n;
        size_t nhead;  /* keys: how many parts of PATH its header gave */
        size_t header; /* keys: index of its header item, or NO_HEADER (root) */
};

struct toml_edit {
        char *file;
        char *text;
        size_t len;
        struct item *items;
        size_t n_items;
};

struct scan {
        const char *file;
        const char *t;
        size_t len, p;
        struct nctk_error **err;
        struct item *items;
        size_t n_items;
        size_t header; /* the current header item, or NO_HEADER */
};

struct sbuf {
        char *s;
        size_t len, cap;
};

static int sbuf_add(struct sbuf *b, const char *s, size_t n) {
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

static int sbuf_adds(struct sbuf *b, const char *s) {
        return sbuf_add(b, s, strlen(s));
}

static void sbuf_release(struct sbuf *b) {
        free(b->s);
        *b = (struct sbuf){0};
}

static void items_free(struct item *items, size_t n) {
        for (size_t i = 0; i < n; i++)
                toml_strv_free(items[i].path);
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

static int hex_value(int c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

static int add_utf8(struct sbuf *b, uint32_t cp) {
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
        return sbuf_add(b, u, n);
}

/* One escape of a basic string, at the backslash; appends what it stands for to B. */
static int scan_escape(struct scan *sc, struct sbuf *b) {
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
                return sbuf_add(b, &to[f - from], 1);
        }
        if (c != 'u' && c != 'U')
                return scan_fail(sc, esc, "invalid escape in a string");
        digits = c == 'u' ? 4 : 8;
        sc->p++;
        for (int i = 0; i < digits; i++) {
                int h = hex_value(peek(sc));
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
static int scan_string(struct scan *sc, struct sbuf *b) {
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
                        struct sbuf dummy = {0};
                        r = scan_escape(sc, b ? b : &dummy);
                        sbuf_release(&dummy);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (b && sbuf_add(b, sc->t + sc->p, 1) < 0)
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

static int scan_key(struct scan *sc, char ***ret, size_t *ret_n);

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
                r = scan_key(sc, &key, &n);
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
        struct sbuf b = {0};
        size_t start = sc->p;
        int r = 0;

        if (peek(sc) == '"' || peek(sc) == '\'') {
                r = sbuf_add(&b, "", 0);
                if (r >= 0)
                        r = scan_string(sc, &b);
                if (r >= 0 && strlen(b.s) != b.len)
                        r = scan_fail(sc, start, "key holds a NUL character");
        } else {
                while (is_bare(peek(sc)))
                        sc->p++;
                if (sc->p == start)
                        r = scan_fail(sc, start, "expected a key");
                else
                        r = sbuf_add(&b, sc->t + start, sc->p - start);
        }
        if (r < 0) {
                sbuf_release(&b);
                return r;
        }
        *ret = b.s;
        return 0;
}

static void strv_freep(char ***v) {
        toml_strv_free(*v);
}

/* A dotted key; *RET is a NULL-terminated vector of its decoded parts. */
static int scan_key(struct scan *sc, char ***ret, size_t *ret_n) {
        _cleanup_(strv_freep) char **parts = calloc(TOML_MAX_DEPTH + 1, sizeof(char *));
        size_t n = 0;
        int r;

        if (!parts)
                return -ENOMEM;
        for (;;) {
                if (n >= TOML_MAX_DEPTH)
                        return scan_fail(sc, sc->p, "key has more than %d parts", TOML_MAX_DEPTH);
                r = scan_simple_key(sc, &parts[n]);
                if (r < 0)
                        return r;
                n++;
                skip_ws(sc);
                if (peek(sc) != '.')
                        break;
                sc->p++;
                skip_ws(sc);
        }
        *ret = TAKE_PTR(parts);
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

static char **strv_concat(char *const *a, size_t na, char *const *b, size_t nb) {
        char **v = calloc(na + nb + 1, sizeof(*v));

        if (!v)
                return NULL;
        for (size_t i = 0; i < na + nb; i++) {
                v[i] = strdup(i < na ? a[i] : b[i - na]);
                if (!v[i])
                        return toml_strv_free(v);
        }
        return v;
}

static bool path_starts(const char *const *full, size_t nfull, const char *const *pre,
                        size_t npre) {
        if (nfull < npre)
                return false;
        for (size_t i = 0; i < npre; i++)
                if (!STREQ(full[i], pre[i]))
                        return false;
        return true;
}

/* Whether a header at PATH lies inside an element of an array of tables seen so far. */
static bool under_array(const struct scan *sc, char *const *path, size_t n) {
        for (size_t i = 0; i < sc->n_items; i++) {
                const struct item *it = &sc->items[i];
                if (it->kind == ITEM_ARRAY_TABLE &&
                    path_starts((const char *const *) path, n, (const char *const *) it->path,
                                it->n))
                        return true;
        }
        return false;
}

static int scan_header(struct scan *sc, struct item *it) {
        bool array = at(sc, "[[");
        int r;

        it->key_start = sc->p;
        sc->p += array ? 2 : 1;
        skip_ws(sc);
        r = scan_key(sc, &it->path, &it->n);
        if (r < 0)
                return r;
        if (!at(sc, array ? "]]" : "]"))
                return scan_fail(sc, sc->p, "expected '%s' to close the header",
                                 array ? "]]" : "]");
        sc->p += array ? 2 : 1;
        it->key_end = sc->p;
        it->kind = array ? ITEM_ARRAY_TABLE : ITEM_TABLE;
        it->in_array = under_array(sc, it->path, it->n);
        it->header = NO_HEADER;
        sc->header = sc->n_items - 1;
        return scan_line_end(sc);
}

static int scan_keyval(struct scan *sc, struct item *it) {
        const struct item *h = sc->header == NO_HEADER ? NULL : &sc->items[sc->header];
        char **key = NULL;
        size_t n;
        int r;

        it->kind = ITEM_KEY;
        it->key_start = sc->p;
        r = scan_key(sc, &key, &n);
        if (r < 0)
                return r;
        it->key_end = sc->p;
        while (it->key_end > it->key_start && strchr(" \t", sc->t[it->key_end - 1]))
                it->key_end--;
        it->path = h ? strv_concat(h->path, h->n, key, n) : strv_concat(NULL, 0, key, n);
        toml_strv_free(key);
        if (!it->path)
                return -ENOMEM;
        it->nhead = h ? h->n : 0;
        it->n = it->nhead + n;
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
        struct item *it = ARRAY_PUSH(sc->items, sc->n_items);
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

/* ---- the document -------------------------------------------------------------------------- */

/* Scans TEXT and checks it with toml_parse(); on success the record replaces E's. */
static int edit_rescan(struct toml_edit *e, const char *text, size_t len, struct nctk_error **err) {
        struct scan sc = {.file = e->file, .t = text, .len = len, .err = err};
        struct toml_doc *doc = NULL;
        int r;

        if (len > TOML_MAX_SIZE)
                return nctk_error_set(err, EFBIG, "%s: larger than %u bytes", e->file,
                                      TOML_MAX_SIZE);
        r = scan_text(&sc);
        if (r >= 0)
                r = toml_parse(e->file, text, len, &doc, err);
        toml_doc_free(doc);
        if (r < 0) {
                items_free(sc.items, sc.n_items);
                return r;
        }
        items_free(e->items, e->n_items);
        e->items = sc.items;
        e->n_items = sc.n_items;
        return 0;
}

int toml_edit_new(const char *file, const char *text, size_t len, struct toml_edit **ret,
                  struct nctk_error **err) {
        struct toml_edit *e = calloc(1, sizeof(*e));
        int r;

        if (!e)
                return -ENOMEM;
        e->file = strdup(file);
        e->text = malloc(len + 1);
        if (!e->file || !e->text) {
                toml_edit_free(e);
                return -ENOMEM;
        }
        memcpy(e->text, text, len);
        e->text[len] = '\0';
        e->len = len;
        r = edit_rescan(e, e->text, len, err);
        if (r < 0) {
                toml_edit_free(e);
                return r;
        }
        *ret = e;
        return 0;
}

struct toml_edit *toml_edit_free(struct toml_edit *e) {
        if (!e)
                return NULL;
        items_free(e->items, e->n_items);
        free(e->text);
        free(e->file);
        free(e);
        return NULL;
}

const char *toml_edit_text(const struct toml_edit *e, size_t *ret_len) {
        if (ret_len)
                *ret_len = e->len;
        return e->text;
}

char *toml_edit_steal(struct toml_edit *e, size_t *ret_len) {
        if (ret_len)
                *ret_len = e->len;
        items_free(e->items, e->n_items);
        e->items = NULL;
        e->n_items = 0;
        e->len = 0;
        return TAKE_PTR(e->text);
}

const char *toml_edit_newline(const struct toml_edit *e) {
        const char *nl = memchr(e->text, '\n', e->len);
        return nl && nl > e->text && nl[-1] == '\r' ? "\r\n" : "\n";
}

int toml_edit_splice(struct toml_edit *e, size_t start, size_t end, const char *text, size_t len,
                     struct nctk_error **err) {
        size_t nlen;
        char *t;
        int r;

        if (start > end || end > e->len)
                return -EINVAL;
        nlen = e->len - (end - start) + len;
        t = malloc(nlen + 1);
        if (!t)
                return -ENOMEM;
        memcpy(t, e->text, start);
        memcpy(t + start, text, len);
        memcpy(t + start + len, e->text + end, e->len - end);
        t[nlen] = '\0';
        r = edit_rescan(e, t, nlen, err);
        if (r < 0) {
                free(t);
                return r;
        }
        free(e->text);
        e->text = t;
        e->len = nlen;
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
        struct sbuf b = {0};
        size_t n = strlen(s);
        int r = sbuf_add(&b, "\"", 1);

        for (size_t i = 0; r >= 0 && i < n;) {
                unsigned char c = (unsigned char) s[i];
                size_t l = utf8_len((const unsigned char *) s + i, n - i);
                char esc[8];

                if (l == 0) {
                        sbuf_release(&b);
                        return -EINVAL;
                }
                if (c == '"' || c == '\\') {
                        esc[0] = '\\';
                        esc[1] = (char) c;
                        r = sbuf_add(&b, esc, 2);
                } else if (c < 0x20 || c == 0x7f) {
                        snprintf(esc, sizeof(esc), "\\u%04x", c);
                        r = sbuf_adds(&b, esc);
                } else {
                        r = sbuf_add(&b, s + i, l);
                }
                i += l;
        }
        if (r >= 0)
                r = sbuf_add(&b, "\"", 1);
        if (r < 0) {
                sbuf_release(&b);
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
static int path_write(struct sbuf *b, const char *const *path, size_t n, const char *key) {
        for (size_t i = 0; i < n + (key != NULL); i++) {
                _cleanup_free_ char *q = NULL;
                int r = toml_quote_key(i < n ? path[i] : key, &q);

                if (r >= 0 && i > 0)
                        r = sbuf_add(b, ".", 1);
                if (r >= 0)
                        r = sbuf_adds(b, q);
                if (r < 0)
                        return r;
        }
        return 0;
}

int toml_path_parse(const char *dotted, char ***ret, size_t *ret_n, struct nctk_error **err) {
        struct scan sc = {.file = "key", .t = dotted, .len = strlen(dotted), .err = err};
        char **parts = NULL;
        size_t n;
        int r;

        skip_ws(&sc);
        r = scan_key(&sc, &parts, &n);
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

/* ---- look-ups ------------------------------------------------------------------------------ */

static bool item_starts(const struct item *it, const char *const *pre, size_t npre) {
        return path_starts((const char *const *) it->path, it->n, pre, npre);
}

static int path_fail(const struct toml_edit *e, const struct item *it, const char *what,
                     struct nctk_error **err) {
        struct sbuf b = {0};
        int r = path_write(&b, (const char *const *) it->path, it->n, NULL);

        if (r >= 0)
                r = nctk_error_set(err, ENOTDIR, "%s:%u: '%s' %s", e->file, it->line, b.s, what);
        sbuf_release(&b);
        return r;
}

/* -ENOTDIR when a part of PATH is a value or an array of tables rather than a table. */
static int path_check(const struct toml_edit *e, const char *const *path, size_t n,
                      struct nctk_error **err) {
        for (size_t i = 0; i < e->n_items; i++) {
                const struct item *it = &e->items[i];

                if (!path_starts(path, n, (const char *const *) it->path, it->n))
                        continue;
                if (it->kind == ITEM_ARRAY_TABLE)
                        return path_fail(e, it,
                                         "is an array of tables, whose tables cannot be "
                                         "edited",
                                         err);
                if (it->kind == ITEM_KEY && !it->in_array)
                        return path_fail(e, it, "holds a value, not a table", err);
        }
        return 0;
}

static size_t find_header(const struct toml_edit *e, const char *const *path, size_t n) {
        for (size_t i = 0; i < e->n_items; i++) {
                const struct item *it = &e->items[i];
                if (it->kind == ITEM_TABLE && !it->in_array && it->n == n &&
                    item_starts(it, path, n))
                        return i;
        }
        return NO_HEADER;
}

/* The last key/value of the block under header H (NO_HEADER: the root), or NO_HEADER. */
static size_t block_last_key(const struct toml_edit *e, size_t h) {
        size_t last = NO_HEADER;

        for (size_t i = h == NO_HEADER ? 0 : h + 1; i < e->n_items; i++) {
                if (e->items[i].kind != ITEM_KEY)
                        break;
                last = i;
        }
        return last;
}

/* Where the block of header H ends: after its last key, or after the header. */
static size_t block_end(const struct toml_edit *e, size_t h) {
        size_t k = block_last_key(e, h);
        return k != NO_HEADER ? e->items[k].next : e->items[h].next;
}

static size_t bom_len(const struct toml_edit *e) {
        return e->len >= 3 && memcmp(e->text, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
}

int toml_edit_has_table(const struct toml_edit *e, const char *const *path, size_t n,
                        struct nctk_error **err) {
        int r = path_check(e, path, n, err);

        if (r < 0)
                return r;
        if (n == 0)
                return 1;
        for (size_t i = 0; i < e->n_items; i++) {
                const struct item *it = &e->items[i];
                if (!it->in_array && item_starts(it, path, n) &&
                    (it->kind == ITEM_TABLE || it->n > n))
                        return 1;
        }
        return 0;
}

static size_t find_key(const struct toml_edit *e, const char *const *path, size_t n,
                       const char *key) {
        for (size_t i = 0; i < e->n_items; i++) {
                const struct item *it = &e->items[i];
                if (it->kind == ITEM_KEY && !it->in_array && it->n == n + 1 &&
                    item_starts(it, path, n) && STREQ(it->path[n], key))
                        return i;
        }
        return NO_HEADER;
}

static void key_fill(const struct item *it, struct toml_edit_key *k) {
        *k = (struct toml_edit_key){
                .line_start = it->start,
                .key_start = it->key_start,
                .key_end = it->key_end,
                .value_start = it->value_start,
                .value_end = it->value_end,
                .next = it->next,
                .line = it->line,
                .path = (const char *const *) it->path,
                .n = it->n,
        };
}

int toml_edit_find(const struct toml_edit *e, const char *const *path, size_t n, const char *key,
                   struct toml_edit_key *ret, struct nctk_error **err) {
        int r = path_check(e, path, n, err);
        size_t i;

        if (r < 0)
                return r;
        i = find_key(e, path, n, key);
        if (i == NO_HEADER)
                return 0;
        if (ret)
                key_fill(&e->items[i], ret);
        return 1;
}

int toml_edit_keys_under(const struct toml_edit *e, const char *const *path, size_t n,
                         struct toml_edit_key **ret, size_t *ret_n, struct nctk_error **err) {
        struct toml_edit_key *keys = NULL;
        size_t nk = 0;
        int r = path_check(e, path, n, err);

        if (r < 0)
                return r;
        for (size_t i = 0; i < e->n_items; i++) {
                const struct item *it = &e->items[i];
                struct toml_edit_key *k;

                if (it->kind != ITEM_KEY || it->in_array || it->n <= n || !item_starts(it, path, n))
                        continue;
                k = ARRAY_PUSH(keys, nk);
                if (!k) {
                        free(keys);
                        return -ENOMEM;
                }
                key_fill(it, k);
        }
        *ret = keys;
        *ret_n = nk;
        return 0;
}

/* ---- edits --------------------------------------------------------------------------------- */

/* Bytes TEXT[START..END) as a string. */
static int sbuf_add_span(struct sbuf *b, const struct toml_edit *e, size_t start, size_t end) {
        return sbuf_add(b, e->text + start, end - start);
}

/* Inserts LINES (no final newline) as whole lines at POS, a line start or the end of the
 * text; at the end of a text whose last line has no newline they follow that line and keep
 * the file ending without one, so that removing them gives the old bytes back. */
static int insert_lines(struct toml_edit *e, size_t pos, const char *lines,
                        struct nctk_error **err) {
        const char *nl = toml_edit_newline(e);
        struct sbuf b = {0};
        int r;

        if (pos == e->len && e->len > bom_len(e) && e->text[e->len - 1] != '\n')
                r = sbuf_adds(&b, nl) ?: sbuf_adds(&b, lines);
        else
                r = sbuf_adds(&b, lines) ?: sbuf_adds(&b, nl);
        if (r >= 0)
                r = toml_edit_splice(e, pos, pos, b.s, b.len, err);
        sbuf_release(&b);
        return r;
}

/* Removes the lines START..END; when they were the last ones and did not end with a newline,
 * the newline before them goes too (the inverse of insert_lines()). */
static int remove_lines(struct toml_edit *e, size_t start, size_t end, struct nctk_error **err) {
        if (end == e->len && end > start && e->text[end - 1] != '\n' && start > 0 &&
            e->text[start - 1] == '\n') {
                start--;
                if (start > 0 && e->text[start - 1] == '\r')
                        start--;
        }
        return toml_edit_splice(e, start, end, "", 0, err);
}

/* The start of the line before POS when it is blank or a comment (as BLANK asks) and lies
 * after BOUND; else POS. */
static size_t line_before(const struct toml_edit *e, size_t pos, size_t bound, bool blank) {
        size_t ls, i;

        if (pos <= bound || pos == 0)
                return pos;
        ls = pos - 1;
        while (ls > bound && e->text[ls - 1] != '\n')
                ls--;
        if (ls < bound || (ls > 0 && e->text[ls - 1] != '\n'))
                return pos;
        for (i = ls; i < pos && strchr(" \t", e->text[i]); i++)
                ;
        if (blank ? strchr("\r\n", e->text[i]) != NULL : e->text[i] == '#')
                return ls;
        return pos;
}

static size_t item_bound(const struct toml_edit *e, size_t i) {
        return i > 0 ? e->items[i - 1].next : bom_len(e);
}

/* The white space before item I on its line. */
static int indent_of(const struct toml_edit *e, size_t i, struct sbuf *b) {
        return sbuf_add_span(b, e, e->items[i].start, e->items[i].key_start);
}

/* How deep headers are indented per level: from the first indented header whose indent is a
 * whole number of levels (`  [a.b]`: two spaces), else nothing. */
static int header_unit(const struct toml_edit *e, struct sbuf *b) {
        for (size_t i = 0; i < e->n_items; i++) {
                const struct item *it = &e->items[i];
                size_t w = it->key_start - it->start;

                if (it->kind == ITEM_KEY || it->n < 2 || w == 0 || w % (it->n - 1) != 0 ||
                    strspn(e->text + it->start, e->text[it->start] == ' ' ? " " : "\t") < w)
                        continue;
                return sbuf_add(b, e->text + it->start, w / (it->n - 1));
        }
        return sbuf_add(b, "", 0);
}

/* How much deeper than its header a table's keys are indented, from the first table with
 * keys whose indent extends its header's. */
static int key_unit(const struct toml_edit *e, struct sbuf *b) {
        for (size_t i = 0; i + 1 < e->n_items; i++) {
                const struct item *h = &e->items[i], *k = &e->items[i + 1];
                size_t hw = h->key_start - h->start, kw = k->key_start - k->start;

                if (h->kind == ITEM_KEY || k->kind != ITEM_KEY || kw < hw ||
                    memcmp(e->text + h->start, e->text + k->start, hw) != 0)
                        continue;
                return sbuf_add(b, e->text + k->start + hw, kw - hw);
        }
        return header_unit(e, b);
}

static int header_indent(const struct toml_edit *e, size_t depth, struct sbuf *b) {
        struct sbuf unit = {0};
        int r = header_unit(e, &unit);

        for (size_t i = 1; r >= 0 && i < depth; i++)
                r = sbuf_add(b, unit.s, unit.len);
        sbuf_release(&unit);
        return r ?: sbuf_add(b, "", 0);
}

/* Where a new header for PATH goes: after the block of the last header that shares the longest
 * part of PATH, else at the end. */
static size_t header_position(const struct toml_edit *e, const char *const *path, size_t n) {
        for (size_t m = n; m > 0; m--) {
                size_t last = NO_HEADER;

                for (size_t i = 0; i < e->n_items; i++)
                        if (e->items[i].kind != ITEM_KEY && item_starts(&e->items[i], path, m))
                                last = i;
                if (last != NO_HEADER)
                        return block_end(e, last);
        }
        return e->len;
}

int toml_edit_add_table(struct toml_edit *e, const char *const *path, size_t n,
                        struct nctk_error **err) {
        struct sbuf b = {0};
        size_t pos;
        int r;

        if (n == 0 || find_header(e, path, n) != NO_HEADER)
                return 0;
        r = path_check(e, path, n, err);
        if (r < 0)
                return r;
        /* a table made by dotted keys cannot get a header (TOML 1.0) */
        for (size_t i = 0; i < e->n_items; i++)
                if (e->items[i].kind == ITEM_KEY && !e->items[i].in_array &&
                    e->items[i].nhead < n && e->items[i].n > n &&
                    item_starts(&e->items[i], path, n))
                        return 0;
        pos = header_position(e, path, n);
        if (pos > bom_len(e))
                r = sbuf_adds(&b, toml_edit_newline(e));
        r = r ?: header_indent(e, n, &b);
        r = r ?: sbuf_add(&b, "[", 1);
        r = r ?: path_write(&b, path, n, NULL);
        r = r ?: sbuf_add(&b, "]", 1);
        r = r ?: insert_lines(e, pos, b.s, err);
        sbuf_release(&b);
        return r < 0 ? r : 1;
}

/* A new key line in table PATH, at *RET_POS: after the last key of its header's block, or of
 * the dotted keys that define it, or first in the root. */
static int new_key_line(struct toml_edit *e, const char *const *path, size_t n, const char *key,
                        const char *value, struct sbuf *line, size_t *ret_pos) {
        size_t h = n == 0 ? NO_HEADER : find_header(e, path, n), k = NO_HEADER, nhead = n;
        int r = 0;

        if (n == 0 || h != NO_HEADER) {
                k = block_last_key(e, h);
        } else {
                /* dotted keys in a table above: the last of them that reaches into PATH */
                for (size_t i = 0; i < e->n_items; i++) {
                        const struct item *it = &e->items[i];
                        if (it->kind == ITEM_KEY && !it->in_array && it->nhead < n && it->n > n &&
                            item_starts(it, path, n)) {
                                k = i;
                                nhead = it->nhead;
                        }
                }
                if (k == NO_HEADER)
                        return -ENOENT;
        }
        if (k != NO_HEADER) {
                r = indent_of(e, k, line);
                *ret_pos = e->items[k].next;
        } else if (h != NO_HEADER) {
                struct sbuf unit = {0};
                r = sbuf_add_span(line, e, e->items[h].start, e->items[h].key_start);
                r = r ?: key_unit(e, &unit);
                r = r ?: sbuf_add(line, unit.s, unit.len);
                sbuf_release(&unit);
                *ret_pos = e->items[h].next;
        } else {
                /* an empty root: before the first header and the comments above it */
                size_t p = e->n_items > 0 ? e->items[0].start : e->len;

                for (size_t q = p; e->n_items > 0; p = q) {
                        q = line_before(e, p, item_bound(e, 0), false);
                        if (q == p)
                                break;
                }
                *ret_pos = p;
        }
        r = r ?: path_write(line, path + nhead, n - nhead, key);
        r = r ?: sbuf_adds(line, " = ");
        return r ?: sbuf_adds(line, value);
}

int toml_edit_set(struct toml_edit *e, const char *const *path, size_t n, const char *key,
                  const char *value, struct nctk_error **err) {
        struct sbuf line = {0};
        size_t i, pos = 0;
        int r = path_check(e, path, n, err);

        if (r < 0)
                return r;
        i = find_key(e, path, n, key);
        if (i != NO_HEADER) {
                const struct item *it = &e->items[i];
                size_t vlen = it->value_end - it->value_start;

                if (vlen == strlen(value) && memcmp(e->text + it->value_start, value, vlen) == 0)
                        return 0;
                r = toml_edit_splice(e, it->value_start, it->value_end, value, strlen(value), err);
                return r < 0 ? r : 1;
        }
        r = new_key_line(e, path, n, key, value, &line, &pos);
        if (r == -ENOENT) {
                sbuf_release(&line);
                r = toml_edit_add_table(e, path, n, err);
                if (r >= 0)
                        r = new_key_line(e, path, n, key, value, &line, &pos);
        }
        if (r >= 0)
                r = insert_lines(e, pos, line.s, err);
        sbuf_release(&line);
        return r < 0 ? r : 1;
}

int toml_edit_remove(struct toml_edit *e, const char *const *path, size_t n, const char *key,
                     struct nctk_error **err) {
        int r = path_check(e, path, n, err);
        size_t i;

        if (r < 0)
                return r;
        i = find_key(e, path, n, key);
        if (i == NO_HEADER)
                return 0;
        r = remove_lines(e, e->items[i].start, e->items[i].next, err);
        return r < 0 ? r : 1;
}

/* Removes the header item H with its keys and the blank line above it. */
static int remove_block(struct toml_edit *e, size_t h, struct nctk_error **err) {
        size_t start = line_before(e, e->items[h].start, item_bound(e, h), true);
        return remove_lines(e, start, block_end(e, h), err);
}

int toml_edit_remove_table(struct toml_edit *e, const char *const *path, size_t n, unsigned flags,
                           struct nctk_error **err) {
        size_t h = n == 0 ? NO_HEADER : find_header(e, path, n);
        int r;

        if (h == NO_HEADER)
                return 0;
        if (flags & TOML_EDIT_IF_EMPTY) {
                if (block_last_key(e, h) != NO_HEADER)
                        return 0;
                for (size_t i = 0; i < e->n_items; i++)
                        if (i != h && item_starts(&e->items[i], path, n))
                                return 0;
        }
        /* sub-tables first, the last one each time: a removal moves nothing before it */
        while (flags & TOML_EDIT_RECURSIVE) {
                size_t last = NO_HEADER;

                for (size_t i = 0; i < e->n_items; i++)
                        if (e->items[i].kind != ITEM_KEY && e->items[i].n > n &&
                            item_starts(&e->items[i], path, n))
                                last = i;
                if (last == NO_HEADER)
                        break;
                r = remove_block(e, last, err);
                if (r < 0)
                        return r;
        }
        h = find_header(e, path, n);
        r = remove_block(e, h, err);
        return r < 0 ? r : 1;
}
