/* cdi_yaml_parse(): the block YAML that CDI specs are written in, read into a jansson document.
 * The subset: nested block mappings and sequences (a sequence under a key at the key's column
 * or indented), plain and quoted scalars, empty flow collections, comments and document
 * markers. Anything else (anchors, tags, block scalars, flow collections with content, multi-line
 * scalars) is an error that names the line: a spec is data, and guessing is how two readers end
 * up disagreeing about it. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdi/cdi.h"
#include "util/macros.h"
#include "util/strv.h"

struct line {
        int indent;
        char *text;  /* the content after the indentation, comment and trailing blanks cut */
        unsigned no; /* 1-based line number */
};

struct reader {
        const char *name;
        struct line *lines;
        size_t n, i;
        struct nctk_error **err;
};

static int fail(struct reader *r, unsigned no, const char *what) {
        return nctk_error_set(r->err, EINVAL, "%s: line %u: %s", r->name, no, what);
}

/* Cuts a comment (" #" outside quotes) and trailing blanks. */
static void cut_comment(char *s) {
        char quote = 0;
        char *end;

        for (char *c = s; *c; c++) {
                if (quote) {
                        if (*c == '\\' && quote == '"' && c[1])
                                c++;
                        else if (*c == quote)
                                quote = 0;
                } else if (*c == '"' || *c == '\'')
                        quote = *c;
                else if (*c == '#' && (c == s || c[-1] == ' ' || c[-1] == '\t')) {
                        *c = '\0';
                        break;
                }
        }
        end = s + strlen(s);
        while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
                *--end = '\0';
}

static int split_lines(struct reader *r, char *text) {
        unsigned no = 0;

        for (char *save = NULL, *l = text; l; l = save) {
                struct line *ln;
                int indent = 0;

                save = strchr(l, '\n');
                if (save)
                        *save++ = '\0';
                no++;
                while (l[indent] == ' ')
                        indent++;
                if (l[indent] == '\t')
                        return fail(r, no, "a tab in the indentation; indent with spaces");
                cut_comment(l + indent);
                if (!l[indent] || STREQ(l + indent, "---") || STREQ(l + indent, "..."))
                        continue;
                if (indent == 0 && l[0] == '%')
                        continue; /* a directive */
                ln = ARRAY_PUSH(r->lines, r->n);
                if (!ln)
                        return nctk_error_set(r->err, ENOMEM, "out of memory");
                *ln = (struct line){.indent = indent, .text = l + indent, .no = no};
        }
        return 0;
}

static bool is_seq_item(const char *t) {
        return t[0] == '-' && (t[1] == '\0' || t[1] == ' ');
}

/* ---- scalars ------------------------------------------------------------------------------- */

static int unquote_double(struct reader *r, unsigned no, const char *s, size_t len, json_t **ret) {
        /* A YAML double-quoted scalar without line folding uses JSON's escapes (plus a few
         * YAML-only ones that specs never need). */
        json_error_t je;
        json_t *v = json_loadb(s, len, JSON_DECODE_ANY, &je);

        if (!json_is_string(v)) {
                json_decref(v);
                return fail(r, no, "a double-quoted string that cannot be read");
        }
        *ret = v;
        return 0;
}

static int unquote_single(struct reader *r, unsigned no, const char *s, size_t len, json_t **ret) {
        _cleanup_free_ char *out = malloc(len);
        size_t n = 0;

        if (!out)
                return nctk_error_set(r->err, ENOMEM, "out of memory");
        for (size_t i = 1; i + 1 < len; i++) {
                if (s[i] == '\'') {
                        if (s[i + 1] != '\'' || i + 2 >= len)
                                return fail(r, no, "a single quote inside '...' not doubled");
                        i++;
                }
                out[n++] = s[i];
        }
        *ret = json_stringn(out, n);
        return *ret ? 0 : fail(r, no, "a string that is not UTF-8");
}

static bool is_int(const char *s) {
        const char *c = s + (*s == '-' || *s == '+');

        if (!*c)
                return false;
        for (; *c; c++)
                if (!isdigit((unsigned char) *c))
                        return false;
        return true;
}

static int plain_scalar(struct reader *r, unsigned no, const char *s, json_t **ret) {
        if (STREQ(s, "null") || STREQ(s, "~") || STREQ(s, "Null") || STREQ(s, "NULL"))
                *ret = json_null();
        else if (STREQ(s, "true") || STREQ(s, "True") || STREQ(s, "TRUE"))
                *ret = json_true();
        else if (STREQ(s, "false") || STREQ(s, "False") || STREQ(s, "FALSE"))
                *ret = json_false();
        else if (is_int(s) && strlen(s) < 19)
                *ret = json_integer(strtoll(s, NULL, 10));
        else if (strchr("&*!|>%@`{[", s[0]))
                return fail(r, no,
                            "YAML beyond what CDI specs use (anchors, tags, block or flow "
                            "collections); write plain block YAML or JSON");
        else
                *ret = json_string(s);
        return *ret ? 0 : fail(r, no, "a string that is not UTF-8");
}

static int scalar(struct reader *r, unsigned no, const char *s, json_t **ret) {
        size_t len = strlen(s);

        if (STREQ(s, "[]"))
                *ret = json_array();
        else if (STREQ(s, "{}"))
                *ret = json_object();
        else if (s[0] == '"' && len >= 2 && s[len - 1] == '"')
                return unquote_double(r, no, s, len, ret);
        else if (s[0] == '\'' && len >= 2 && s[len - 1] == '\'')
                return unquote_single(r, no, s, len, ret);
        else if (s[0] == '"' || s[0] == '\'')
                return fail(r, no, "a quoted string that does not end on its line");
        else
                return plain_scalar(r, no, s, ret);
        return *ret ? 0 : nctk_error_set(r->err, ENOMEM, "out of memory");
}

/* Finds the ':' that ends a mapping key in T (followed by a blank or the end), outside quotes;
 * NULL when T is no key. */
static char *key_colon(char *t) {
        char *c = t;

        if (*t == '"' || *t == '\'') {
                char q = *t;
                for (c = t + 1; *c && *c != q; c++)
                        if (*c == '\\' && q == '"' && c[1])
                                c++;
                if (!*c)
                        return NULL;
                c++;
                return *c == ':' && (c[1] == '\0' || c[1] == ' ') ? c : NULL;
        }
        for (; *c; c++)
                if (*c == ':' && (c[1] == '\0' || c[1] == ' '))
                        return c;
        return NULL;
}

/* ---- block structure ----------------------------------------------------------------------- */

static int node(struct reader *r, int indent, json_t **ret);

/* The value of a key or "-" whose own line has nothing after it: the block on the next lines
 * (deeper than PARENT_INDENT, or a sequence at its column when ALLOW_SAME), else null. */
static int nested(struct reader *r, int parent_indent, bool allow_same, json_t **ret) {
        if (r->i < r->n) {
                struct line *l = &r->lines[r->i];
                if (l->indent > parent_indent ||
                    (allow_same && l->indent == parent_indent && is_seq_item(l->text)))
                        return node(r, l->indent, ret);
        }
        *ret = json_null();
        return 0;
}

static int sequence(struct reader *r, int indent, json_t **ret) {
        json_auto_t *arr = json_array();

        if (!arr)
                return nctk_error_set(r->err, ENOMEM, "out of memory");
        while (r->i < r->n && r->lines[r->i].indent == indent && is_seq_item(r->lines[r->i].text)) {
                struct line *l = &r->lines[r->i];
                json_t *item = NULL;
                int k = 1, rr;

                while (l->text[k] == ' ')
                        k++;
                if (!l->text[k]) {
                        r->i++;
                        rr = nested(r, indent, false, &item);
                } else {
                        /* "- x": the item is the rest of the line, as if it began a line at
                         * the column where it stands. */
                        l->text += k;
                        l->indent += k;
                        rr = node(r, l->indent, &item);
                }
                if (rr < 0)
                        return rr;
                if (json_array_append_new(arr, item) < 0)
                        return nctk_error_set(r->err, ENOMEM, "out of memory");
        }
        *ret = TAKE_PTR(arr);
        return 0;
}

static int mapping_entry(struct reader *r, json_t *obj, int indent) {
        struct line *l = &r->lines[r->i];
        char *colon = key_colon(l->text), *value;
        json_t *key = NULL, *v = NULL;
        int rr;

        if (!colon)
                return fail(r, l->no,
                            "expected 'key: value' (or a multi-line scalar, which CDI "
                            "specs do not use)");
        *colon = '\0';
        value = colon + 1;
        while (*value == ' ')
                value++;
        rr = scalar(r, l->no, l->text, &key);
        if (rr >= 0 && !json_is_string(key))
                rr = fail(r, l->no, "a key that is not a string");
        if (rr >= 0 && json_object_get(obj, json_string_value(key)))
                rr = fail(r, l->no, "a key given twice");
        r->i++;
        if (rr >= 0)
                rr = *value ? scalar(r, l->no, value, &v) : nested(r, indent, true, &v);
        if (rr >= 0 && json_object_set_new(obj, json_string_value(key), v) < 0)
                rr = nctk_error_set(r->err, ENOMEM, "out of memory");
        json_decref(key);
        return rr;
}

static int mapping(struct reader *r, int indent, json_t **ret) {
        json_auto_t *obj = json_object();

        if (!obj)
                return nctk_error_set(r->err, ENOMEM, "out of memory");
        while (r->i < r->n && r->lines[r->i].indent == indent) {
                int rr;

                if (is_seq_item(r->lines[r->i].text))
                        return fail(r, r->lines[r->i].no, "a sequence item inside a mapping");
                rr = mapping_entry(r, obj, indent);
                if (rr < 0)
                        return rr;
        }
        *ret = TAKE_PTR(obj);
        return 0;
}

static int node(struct reader *r, int indent, json_t **ret) {
        struct line *l = &r->lines[r->i];

        if (is_seq_item(l->text))
                return sequence(r, indent, ret);
        if (key_colon(l->text))
                return mapping(r, indent, ret);
        r->i++;
        return scalar(r, l->no, l->text, ret);
}

int cdi_yaml_parse(const char *text, size_t len, const char *name, json_t **ret,
                   struct nctk_error **err) {
        _cleanup_free_ char *copy = strndup(text, len);
        _cleanup_free_ struct line *lines = NULL;
        struct reader r = {.name = name, .err = err};
        json_t *doc = NULL;
        int rr;

        if (!copy)
                return nctk_error_set(err, ENOMEM, "out of memory");
        if (strlen(copy) != len)
                return nctk_error_set(err, EINVAL, "%s: a NUL byte; not a YAML file", name);
        rr = split_lines(&r, copy);
        lines = r.lines;
        if (rr < 0)
                return rr;
        if (r.n == 0)
                return nctk_error_set(err, EINVAL, "%s: empty", name);
        rr = node(&r, r.lines[0].indent, &doc);
        if (rr >= 0 && r.i < r.n) {
                rr = fail(&r, r.lines[r.i].no, "indentation that does not match any level above");
                json_decref(doc);
        }
        if (rr < 0)
                return rr;
        *ret = doc;
        return 0;
}
