/* TOML edited as text: find a table or a key by its path in the bytes of a file and change
 * just those bytes, so that every comment, blank line, indentation and unrelated key stays as
 * the user wrote it. Reading values is toml.h's job; this file only knows where things are. */
#ifndef NCTK_CONFIG_TOML_EDIT_H
#define NCTK_CONFIG_TOML_EDIT_H

#include <stdbool.h>
#include <stddef.h>

#include "nctk/nctk.h"

/* A document being edited: its text and a scan of its lines, redone after every change.
 *
 * Setting `nvidia-container-cli.ldconfig = "@/sbin/ldconfig"` (error handling left out):
 *     toml_edit_new("config.toml", text, len, &e, &err);
 *     toml_path_parse("nvidia-container-cli", &path, &n, &err);
 *     toml_quote_string("@/sbin/ldconfig", &value);
 *     toml_edit_set(e, (const char *const *) path, n, "ldconfig", value, &err);
 *     out = toml_edit_steal(e, &out_len); */
struct toml_edit;

/* Where one key/value sits in the text (byte offsets into toml_edit_text()). A value may span
 * lines (a multi-line array or string); LINE_START..NEXT covers all of them. */
struct toml_edit_key {
        size_t line_start; /* first byte of the line the key is on */
        size_t key_start;  /* the key as written, dotted parts and quotes included */
        size_t key_end;
        size_t value_start; /* the value as written, e.g. `"runc"`, `[ 1, 2 ]`, `{ a = 1 }` */
        size_t value_end;
        size_t next;   /* first byte after the line the value ends on (after its newline) */
        unsigned line; /* 1-based line of the key */
        const char *const *path; /* the full key path (table keys, then the dotted key) */
        size_t nhead;            /* how many of PATH its table's header gave (0: the root) */
        size_t n;                /* how many keys PATH holds */
};

/* Scans TEXT (LEN bytes, need not be NUL-terminated; a leading UTF-8 BOM and CRLF line ends
 * are kept as they are). FILE names the input in messages. The scan checks the structure
 * (headers, keys, '=', values, strings, brackets, what may follow a value) and then the
 * whole document with toml_parse(), so an edit starts from valid TOML. Returns 0 and the
 * document in *RET; -EINVAL for malformed input with "FILE:LINE:COLUMN: what is wrong" (or
 * "FILE:LINE: what is wrong" from toml_parse for a duplicate key or a redefined table);
 * -EFBIG above TOML_MAX_SIZE; -ENOMEM. */
int toml_edit_new(const char *file, const char *text, size_t len, struct toml_edit **ret,
                  struct nctk_error **err);
/* NULL-safe; returns NULL. */
struct toml_edit *toml_edit_free(struct toml_edit *e);
static inline void toml_edit_freep(struct toml_edit **e) {
        toml_edit_free(*e);
}

/* The current text, NUL-terminated; valid until the next change. *RET_LEN may be NULL. */
const char *toml_edit_text(const struct toml_edit *e, size_t *ret_len);
/* Hands the text (malloc'd, NUL-terminated) to the caller and leaves E empty. */
char *toml_edit_steal(struct toml_edit *e, size_t *ret_len);
/* Whether the text holds no header and no key: nothing but blank lines and comments. */
bool toml_edit_is_blank(const struct toml_edit *e);
/* "\r\n" when the file's first line ends so, else "\n": what inserted lines end with. */
const char *toml_edit_newline(const struct toml_edit *e);

/* Splits a dotted key as TOML writes it (`plugins."io.containerd.grpc.v1.cri".containerd`,
 * spaces around dots allowed, bare and quoted parts) into a NULL-terminated vector of
 * unquoted keys; free it with toml_strv_free(). -EINVAL (with ERR) for a malformed key. */
int toml_path_parse(const char *dotted, char ***ret, size_t *ret_n, struct nctk_error **err);

/* KEY as TOML writes it: bare when it is only letters, digits, '-' and '_', else a basic
 * string. toml_quote_string always gives a basic string ("..."), escaping '"', '\\' and
 * control characters. Both return a malloc'd string in *RET, or -ENOMEM; -EINVAL for a string
 * holding bytes that are not UTF-8. */
int toml_quote_key(const char *key, char **ret);
/* PATH (N keys) as one dotted key, each part quoted as toml_quote_key() does. */
int toml_path_format(const char *const *path, size_t n, char **ret);
int toml_quote_string(const char *s, char **ret);

/* Table paths: PATH is N unquoted keys (N = 0: the root table). Tables inside arrays of
 * tables ([[x]]) cannot be addressed; a path through one, or through a key that holds a value
 * (an inline table included, which TOML closes), gives -ENOTDIR with ERR naming the line. */

/* 1 when table PATH exists: by its own header, by dotted keys (`a.b = 1` defines `a`), or
 * implicitly under a deeper header ([a.b] defines `a`); 0 when it does not. */
int toml_edit_has_table(const struct toml_edit *e, const char *const *path, size_t n,
                        struct nctk_error **err);
/* Finds KEY in table PATH, written under the table's header or as a dotted key in a table
 * above it. 1 and *RET filled (RET may be NULL) when found, 0 when absent. */
int toml_edit_find(const struct toml_edit *e, const char *const *path, size_t n, const char *key,
                   struct toml_edit_key *ret, struct nctk_error **err);
/* Every key/value whose path starts with PATH (the table's own keys, its sub-tables' keys and
 * dotted keys below it), in file order. *RET is malloc'd (free() it); its PATH pointers are
 * valid until the next change. */
int toml_edit_keys_under(const struct toml_edit *e, const char *const *path, size_t n,
                         struct toml_edit_key **ret, size_t *ret_n, struct nctk_error **err);

/* Sets KEY in table PATH to VALUE, TOML text as it is to appear (`"x"`, `true`, `[1, 2]`;
 * toml_quote_string() makes a string). An existing value is replaced in place, the rest of its
 * line (a comment) kept. A new key gets a line of its own after the table's last key, indented
 * like it; when the table is defined by dotted keys (`a.b = 1` in its parent) the new line is
 * a dotted key too. A missing table gets a header, after the last table that shares the
 * longest part of its path (or at the end of the file), preceded by a blank line and indented
 * the way the file indents its headers. Returns 1 when the text changed, 0 when the value was
 * already VALUE byte for byte; -EINVAL when the result would not be valid TOML (the document
 * is then unchanged). */
int toml_edit_set(struct toml_edit *e, const char *const *path, size_t n, const char *key,
                  const char *value, struct nctk_error **err);
/* Creates table PATH (a header, placed as toml_edit_set places one) unless it exists.
 * 1 when created, 0 when it was there. */
int toml_edit_add_table(struct toml_edit *e, const char *const *path, size_t n,
                        struct nctk_error **err);
/* One key/value for toml_edit_add_table_with(): both TOML text as it is to appear (KEY may be
 * dotted, `a."b.c"`; VALUE may span lines and is written as it is). */
struct toml_edit_entry {
        const char *key;
        const char *value;
};
/* Creates table PATH with ENTRIES under its header in one edit (no key of them may repeat),
 * each on a line of its own indented like the file's keys. 1 when created; 0, doing nothing,
 * when PATH has a header or is made by dotted keys. */
int toml_edit_add_table_with(struct toml_edit *e, const char *const *path, size_t n,
                             const struct toml_edit_entry *entries, size_t n_entries,
                             struct nctk_error **err);
/* Removes KEY of table PATH: all the lines of its key/value. 1 when removed, 0 when absent. */
int toml_edit_remove(struct toml_edit *e, const char *const *path, size_t n, const char *key,
                     struct nctk_error **err);

enum toml_edit_remove_flags {
        /* only a header with no key under it; sub-tables may stay, they define it anyway */
        TOML_EDIT_IF_EMPTY = 1u << 0,
        /* everything under PATH: sub-tables' headers and keys, dotted keys from above */
        TOML_EDIT_RECURSIVE = 1u << 1,
};
/* Removes the header of table PATH with its keys (and one blank line right above each header
 * removed, the one toml_edit_add_table put there); comments after the last key stay, for they
 * introduce what follows. 1 when something was removed, 0 when there was nothing to remove
 * (or, with TOML_EDIT_IF_EMPTY, the table has keys or no header). -EINVAL for the root. */
int toml_edit_remove_table(struct toml_edit *e, const char *const *path, size_t n, unsigned flags,
                           struct nctk_error **err);

/* A run of edits checked once: between toml_edit_begin() and toml_edit_commit() each change
 * is checked by the scanner only (the structure), and commit checks the whole text with
 * toml_parse(); when that fails it puts back the text begin saw and returns -EINVAL with ERR.
 * For several edits of a large file (each full check costs about a millisecond per 2,000
 * lines). begin returns -ENOMEM or 0; runs do not nest. */
int toml_edit_begin(struct toml_edit *e);
int toml_edit_commit(struct toml_edit *e, struct nctk_error **err);

/* Replaces bytes START..END of the text with TEXT (LEN bytes) and scans again; the low-level
 * edit the calls above are made of. -EINVAL (document unchanged) when the result does not
 * scan as TOML. */
int toml_edit_splice(struct toml_edit *e, size_t start, size_t end, const char *text, size_t len,
                     struct nctk_error **err);

#endif
