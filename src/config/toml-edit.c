/* TOML edited as text (toml-edit.h): a scanner that records where every header and key/value
 * starts and ends, look-ups over that record, and edits that splice new bytes into the text
 * and scan again. Scanning again after each splice keeps the code simple and each record
 * true; a 2,000-line file scans in well under a millisecond. */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/toml-edit.h"
#include "config/toml-scan.h"
#include "config/toml.h"
#include "util/macros.h"
#include "util/strv.h"

struct toml_edit {
        char *file;
        char *text;
        size_t len;
        struct toml_item *items;
        size_t n_items;
        char *saved; /* between toml_edit_begin and _commit: the text to go back to */
        size_t saved_len;
};

/* ---- the document -------------------------------------------------------------------------- */

/* Scans TEXT and checks it with toml_parse(); on success the record replaces E's. */
static int edit_rescan(struct toml_edit *e, const char *text, size_t len, struct nctk_error **err) {
        struct toml_item *items = NULL;
        struct toml_doc *doc = NULL;
        size_t n = 0;
        int r;

        if (len > TOML_MAX_SIZE)
                return nctk_error_set(err, EFBIG, "%s: larger than %u bytes", e->file,
                                      TOML_MAX_SIZE);
        r = toml_scan(e->file, text, len, &items, &n, err);
        if (r >= 0 && !e->saved)
                r = toml_parse(e->file, text, len, &doc, err);
        toml_doc_free(doc);
        if (r < 0) {
                toml_items_free(items, n);
                return r;
        }
        toml_items_free(e->items, e->n_items);
        e->items = items;
        e->n_items = n;
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
        toml_items_free(e->items, e->n_items);
        free(e->saved);
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
        toml_items_free(e->items, e->n_items);
        e->items = NULL;
        e->n_items = 0;
        e->len = 0;
        return TAKE_PTR(e->text);
}

bool toml_edit_is_blank(const struct toml_edit *e) {
        return e->n_items == 0;
}

const char *toml_edit_newline(const struct toml_edit *e) {
        const char *nl = memchr(e->text, '\n', e->len);
        return nl && nl > e->text && nl[-1] == '\r' ? "\r\n" : "\n";
}

int toml_edit_begin(struct toml_edit *e) {
        assert(!e->saved);
        e->saved = malloc(e->len + 1);
        if (!e->saved)
                return -ENOMEM;
        memcpy(e->saved, e->text, e->len + 1);
        e->saved_len = e->len;
        return 0;
}

int toml_edit_commit(struct toml_edit *e, struct nctk_error **err) {
        _cleanup_free_ char *saved = TAKE_PTR(e->saved);
        struct toml_doc *doc = NULL;
        int r;

        if (!saved)
                return 0;
        r = toml_parse(e->file, e->text, e->len, &doc, err);
        toml_doc_free(doc);
        if (r < 0 && toml_edit_splice(e, 0, e->len, saved, e->saved_len, NULL) < 0)
                return -ENOMEM; /* the old text was TOML: only memory can fail */
        return r;
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

/* ---- look-ups ------------------------------------------------------------------------------ */

static bool item_starts(const struct toml_item *it, const char *const *pre, size_t npre) {
        return toml_path_starts((const char *const *) it->path, it->n, pre, npre);
}

static int path_fail(const struct toml_edit *e, const struct toml_item *it, const char *what,
                     struct nctk_error **err) {
        struct toml_buf b = {0};
        int r = toml_path_write(&b, (const char *const *) it->path, it->n, NULL);

        if (r >= 0)
                r = nctk_error_set(err, ENOTDIR, "%s:%u: '%s' %s", e->file, it->line, b.s, what);
        toml_buf_release(&b);
        return r;
}

/* -ENOTDIR when a part of PATH is a value or an array of tables rather than a table. */
static int path_check(const struct toml_edit *e, const char *const *path, size_t n,
                      struct nctk_error **err) {
        for (size_t i = 0; i < e->n_items; i++) {
                const struct toml_item *it = &e->items[i];

                if (!toml_path_starts(path, n, (const char *const *) it->path, it->n))
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
                const struct toml_item *it = &e->items[i];
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
                const struct toml_item *it = &e->items[i];
                if (!it->in_array && item_starts(it, path, n) &&
                    (it->kind == ITEM_TABLE || it->n > n))
                        return 1;
        }
        return 0;
}

static size_t find_key(const struct toml_edit *e, const char *const *path, size_t n,
                       const char *key) {
        for (size_t i = 0; i < e->n_items; i++) {
                const struct toml_item *it = &e->items[i];
                if (it->kind == ITEM_KEY && !it->in_array && it->n == n + 1 &&
                    item_starts(it, path, n) && STREQ(it->path[n], key))
                        return i;
        }
        return NO_HEADER;
}

static void key_fill(const struct toml_item *it, struct toml_edit_key *k) {
        *k = (struct toml_edit_key){
                .line_start = it->start,
                .key_start = it->key_start,
                .key_end = it->key_end,
                .value_start = it->value_start,
                .value_end = it->value_end,
                .next = it->next,
                .line = it->line,
                .path = (const char *const *) it->path,
                .nhead = it->nhead,
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
                const struct toml_item *it = &e->items[i];
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
static int buf_add_span(struct toml_buf *b, const struct toml_edit *e, size_t start, size_t end) {
        return toml_buf_add(b, e->text + start, end - start);
}

/* Inserts LINES (no final newline) as whole lines at POS, a line start or the end of the
 * text; at the end of a text whose last line has no newline they follow that line and keep
 * the file ending without one, so that removing them gives the old bytes back. */
static int insert_lines(struct toml_edit *e, size_t pos, const char *lines,
                        struct nctk_error **err) {
        const char *nl = toml_edit_newline(e);
        struct toml_buf b = {0};
        int r;

        if (pos == e->len && e->len > bom_len(e) && e->text[e->len - 1] != '\n')
                r = toml_buf_adds(&b, nl) ?: toml_buf_adds(&b, lines);
        else
                r = toml_buf_adds(&b, lines) ?: toml_buf_adds(&b, nl);
        if (r >= 0)
                r = toml_edit_splice(e, pos, pos, b.s, b.len, err);
        toml_buf_release(&b);
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
 * at or after BOUND, itself a line start (after an item, or the text's start); else POS. */
static size_t line_before(const struct toml_edit *e, size_t pos, size_t bound, bool blank) {
        size_t ls, i;

        if (pos <= bound)
                return pos;
        ls = pos - 1;
        while (ls > bound && e->text[ls - 1] != '\n')
                ls--;
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
static int indent_of(const struct toml_edit *e, size_t i, struct toml_buf *b) {
        return buf_add_span(b, e, e->items[i].start, e->items[i].key_start);
}

/* How deep headers are indented per level: from the first indented header whose indent is a
 * whole number of levels (`  [a.b]`: two spaces), else nothing. */
static int header_unit(const struct toml_edit *e, struct toml_buf *b) {
        for (size_t i = 0; i < e->n_items; i++) {
                const struct toml_item *it = &e->items[i];
                size_t w = it->key_start - it->start;

                if (it->kind == ITEM_KEY || it->n < 2 || w == 0 || w % (it->n - 1) != 0 ||
                    strspn(e->text + it->start, e->text[it->start] == ' ' ? " " : "\t") < w)
                        continue;
                return toml_buf_add(b, e->text + it->start, w / (it->n - 1));
        }
        return toml_buf_add(b, "", 0);
}

/* How much deeper than its header a table's keys are indented, from the first table with
 * keys whose indent extends its header's. */
static int key_unit(const struct toml_edit *e, struct toml_buf *b) {
        for (size_t i = 0; i + 1 < e->n_items; i++) {
                const struct toml_item *h = &e->items[i], *k = &e->items[i + 1];
                size_t hw = h->key_start - h->start, kw = k->key_start - k->start;

                if (h->kind == ITEM_KEY || k->kind != ITEM_KEY || kw < hw ||
                    memcmp(e->text + h->start, e->text + k->start, hw) != 0)
                        continue;
                return toml_buf_add(b, e->text + k->start + hw, kw - hw);
        }
        return header_unit(e, b);
}

/* The indent of a new header for PATH: that of the header of the same depth that shares the
 * most of PATH (a sibling), else one unit per level. */
static int header_indent(const struct toml_edit *e, const char *const *path, size_t n,
                         struct toml_buf *b) {
        struct toml_buf unit = {0};
        size_t best = NO_HEADER, best_m = 0;
        int r;

        for (size_t i = 0; i < e->n_items; i++) {
                const struct toml_item *it = &e->items[i];
                size_t m = 0;

                if (it->kind == ITEM_KEY || it->n != n)
                        continue;
                while (m < n && STREQ(it->path[m], path[m]))
                        m++;
                if (best == NO_HEADER || m > best_m) {
                        best = i;
                        best_m = m;
                }
        }
        if (best != NO_HEADER)
                return buf_add_span(b, e, e->items[best].start, e->items[best].key_start);
        r = header_unit(e, &unit);
        for (size_t i = 1; r >= 0 && i < n; i++)
                r = toml_buf_add(b, unit.s, unit.len);
        toml_buf_release(&unit);
        return r ?: toml_buf_add(b, "", 0);
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

int toml_edit_add_table_with(struct toml_edit *e, const char *const *path, size_t n,
                             const struct toml_edit_entry *entries, size_t n_entries,
                             struct nctk_error **err) {
        const char *nl = toml_edit_newline(e);
        struct toml_buf b = {0}, indent = {0}, unit = {0};
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
        r = header_indent(e, path, n, &indent) ?: key_unit(e, &unit);
        if (r >= 0 && pos > bom_len(e))
                r = toml_buf_adds(&b, nl);
        r = r ?: toml_buf_adds(&b, indent.s);
        r = r ?: toml_buf_add(&b, "[", 1);
        r = r ?: toml_path_write(&b, path, n, NULL);
        r = r ?: toml_buf_add(&b, "]", 1);
        for (size_t i = 0; r >= 0 && i < n_entries; i++) {
                r = toml_buf_adds(&b, nl) ?: toml_buf_adds(&b, indent.s);
                r = r ?: toml_buf_adds(&b, unit.s) ?: toml_buf_adds(&b, entries[i].key);
                r = r ?: toml_buf_adds(&b, " = ") ?: toml_buf_adds(&b, entries[i].value);
        }
        r = r ?: insert_lines(e, pos, b.s, err);
        toml_buf_release(&b);
        toml_buf_release(&indent);
        toml_buf_release(&unit);
        return r < 0 ? r : 1;
}

int toml_edit_add_table(struct toml_edit *e, const char *const *path, size_t n,
                        struct nctk_error **err) {
        return toml_edit_add_table_with(e, path, n, NULL, 0, err);
}

/* A new key line in table PATH, at *RET_POS: after the last key of its header's block, or of
 * the dotted keys that define it, or first in the root. */
static int new_key_line(struct toml_edit *e, const char *const *path, size_t n, const char *key,
                        const char *value, struct toml_buf *line, size_t *ret_pos) {
        size_t h = n == 0 ? NO_HEADER : find_header(e, path, n), k = NO_HEADER, nhead = n;
        int r = 0;

        if (n == 0 || h != NO_HEADER) {
                k = block_last_key(e, h);
        } else {
                /* dotted keys in a table above: the last of them that reaches into PATH */
                for (size_t i = 0; i < e->n_items; i++) {
                        const struct toml_item *it = &e->items[i];
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
                struct toml_buf unit = {0};
                r = buf_add_span(line, e, e->items[h].start, e->items[h].key_start);
                r = r ?: key_unit(e, &unit);
                r = r ?: toml_buf_add(line, unit.s, unit.len);
                toml_buf_release(&unit);
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
        r = r ?: toml_path_write(line, path + nhead, n - nhead, key);
        r = r ?: toml_buf_adds(line, " = ");
        return r ?: toml_buf_adds(line, value);
}

/* A header for PATH, then KEY under it; when the key cannot go there the header goes too. */
static int set_in_new_table(struct toml_edit *e, const char *const *path, size_t n, const char *key,
                            const char *value, struct nctk_error **err) {
        _cleanup_free_ char *saved = malloc(e->len + 1);
        struct toml_buf line = {0};
        size_t pos = 0, len = e->len;
        int r;

        if (!saved)
                return -ENOMEM;
        memcpy(saved, e->text, len);
        r = toml_edit_add_table(e, path, n, err);
        if (r >= 0)
                r = new_key_line(e, path, n, key, value, &line, &pos);
        if (r >= 0)
                r = insert_lines(e, pos, line.s, err);
        toml_buf_release(&line);
        if (r < 0 && toml_edit_splice(e, 0, e->len, saved, len, NULL) < 0)
                return -ENOMEM; /* the old text scanned before: only memory can fail */
        return r;
}

int toml_edit_set(struct toml_edit *e, const char *const *path, size_t n, const char *key,
                  const char *value, struct nctk_error **err) {
        struct toml_buf line = {0};
        size_t i, pos = 0;
        int r = path_check(e, path, n, err);

        if (r < 0)
                return r;
        i = find_key(e, path, n, key);
        if (i != NO_HEADER) {
                const struct toml_item *it = &e->items[i];
                size_t vlen = it->value_end - it->value_start;

                if (vlen == strlen(value) && memcmp(e->text + it->value_start, value, vlen) == 0)
                        return 0;
                r = toml_edit_splice(e, it->value_start, it->value_end, value, strlen(value), err);
                return r < 0 ? r : 1;
        }
        r = new_key_line(e, path, n, key, value, &line, &pos);
        if (r == -ENOENT) {
                toml_buf_release(&line);
                r = set_in_new_table(e, path, n, key, value, err);
        } else if (r >= 0) {
                r = insert_lines(e, pos, line.s, err);
        }
        toml_buf_release(&line);
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

/* With TOML_EDIT_RECURSIVE, the last thing under PATH outside PATH's own block: a sub-table's
 * header, or a dotted key written in a table above. */
static size_t last_under(const struct toml_edit *e, const char *const *path, size_t n) {
        size_t last = NO_HEADER;

        for (size_t i = 0; i < e->n_items; i++) {
                const struct toml_item *it = &e->items[i];

                if (it->in_array || it->n <= n || !item_starts(it, path, n))
                        continue;
                if (it->kind != ITEM_KEY || it->nhead < n)
                        last = i;
        }
        return last;
}

int toml_edit_remove_table(struct toml_edit *e, const char *const *path, size_t n, unsigned flags,
                           struct nctk_error **err) {
        int r = path_check(e, path, n, err), removed = 0;
        size_t h;

        if (r < 0)
                return r;
        if (n == 0)
                return -EINVAL;
        h = find_header(e, path, n);
        if ((flags & TOML_EDIT_IF_EMPTY) && (h == NO_HEADER || block_last_key(e, h) != NO_HEADER))
                return 0;
        /* from the last: a removal moves nothing before it */
        while (flags & TOML_EDIT_RECURSIVE) {
                size_t i = last_under(e, path, n);

                if (i == NO_HEADER)
                        break;
                r = e->items[i].kind == ITEM_KEY
                            ? remove_lines(e, e->items[i].start, e->items[i].next, err)
                            : remove_block(e, i, err);
                if (r < 0)
                        return r;
                removed = 1;
        }
        h = find_header(e, path, n);
        if (h != NO_HEADER) {
                r = remove_block(e, h, err);
                if (r < 0)
                        return r;
                removed = 1;
        }
        return removed;
}
