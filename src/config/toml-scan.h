/* The scanner under toml-edit.c (internal to src/config): where each header and key/value of a
 * TOML text starts and ends, and its path; plus the growable buffer both files write into. */
#ifndef NCTK_CONFIG_TOML_SCAN_H
#define NCTK_CONFIG_TOML_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/toml.h"
#include "nctk/nctk.h"

#define NO_HEADER SIZE_MAX

enum toml_item_kind {
        ITEM_TABLE,       /* [a.b] */
        ITEM_ARRAY_TABLE, /* [[a.b]] */
        ITEM_KEY,         /* a.b = value */
};

/* One header or key/value line (or lines) of the text. */
struct toml_item {
        enum toml_item_kind kind;
        bool in_array;    /* inside an element of an array of tables: not addressable */
        unsigned line;    /* 1-based */
        size_t start;     /* first byte of its first line (after a BOM) */
        size_t key_start; /* headers: the '[' */
        size_t key_end;
        size_t value_start, value_end; /* keys only */
        size_t next;                   /* first byte after its last line */
        char **path; /* full path, NULL-terminated; a key's first NHEAD are its header's */
        size_t n;
        size_t nhead;  /* keys: how many parts of PATH its header gave */
        size_t header; /* keys: index of its header item, or NO_HEADER (root) */
};

/* Scans TEXT into *RET (*RET_N items in file order). -EINVAL with "FILE:LINE:COLUMN: what"
 * for a structure that is not TOML's; values are checked only as far as finding their end. */
int toml_scan(const char *file, const char *text, size_t len, struct toml_item **ret, size_t *ret_n,
              struct nctk_error **err);
void toml_items_free(struct toml_item *items, size_t n);

bool toml_path_starts(const char *const *full, size_t nfull, const char *const *pre, size_t npre);

/* A growing NUL-terminated string. */
struct toml_buf {
        char *s;
        size_t len, cap;
};

int toml_buf_add(struct toml_buf *b, const char *s, size_t n);
int toml_buf_adds(struct toml_buf *b, const char *s);
void toml_buf_release(struct toml_buf *b);
/* PATH (N keys) as a TOML dotted key, followed by KEY when KEY is not NULL. */
int toml_path_write(struct toml_buf *b, const char *const *path, size_t n, const char *key);

static inline void toml_strv_freep(char ***v) {
        toml_strv_free(*v);
}

#endif
