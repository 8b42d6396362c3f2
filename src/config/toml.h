/* A TOML v1.0 parser for the toolkit's config files, and typed look-ups into what it read.
 * Everything but dates and times: those are rejected with a message, since no config file of
 * the reference has one. The input is untrusted: at most 1 MiB, nesting at most 32 levels. */
#ifndef NCTK_CONFIG_TOML_H
#define NCTK_CONFIG_TOML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nctk/nctk.h"

#define TOML_MAX_SIZE (1u << 20)
#define TOML_MAX_DEPTH 32

enum toml_type {
        TOML_TABLE,
        TOML_ARRAY,
        TOML_STRING,
        TOML_INTEGER,
        TOML_FLOAT,
        TOML_BOOLEAN,
};

struct toml_value;

/* One key of a table. KEY holds no NUL (the parser rejects such keys). */
struct toml_pair {
        char *key;
        struct toml_value *value;
};

struct toml_value {
        enum toml_type type;
        unsigned line; /* where the value starts; for tables, where first named */
        union {
                struct {
                        char *ptr; /* NUL-terminated; may hold NULs from \u0000 */
                        size_t len;
                } string;
                int64_t integer;
                double floating;
                bool boolean;
                struct {
                        struct toml_value **items;
                        size_t n;
                } array;
                struct {
                        struct toml_pair *pairs; /* in file order */
                        size_t n;
                        size_t *index; /* internal: hash of pairs once the table grows */
                        size_t index_cap;
                } table;
        };
        /* internal: how the value was defined, for TOML's table-redefinition rules */
        unsigned flags;
        unsigned section;
};

struct toml_doc {
        char *file; /* the name used in messages */
        struct toml_value *root;
};

/* Parses DATA (LEN bytes, need not be NUL-terminated). FILE names the input in messages,
 * which read "FILE:LINE: what is wrong". Returns 0 and a document in *RET, -EINVAL for input
 * that is not TOML (or uses dates), -EFBIG beyond TOML_MAX_SIZE, -ENOMEM. */
int toml_parse(const char *file, const char *data, size_t len, struct toml_doc **ret,
               struct nctk_error **err);
/* Reads and parses PATH. Open and read failures return -errno with "PATH: why" in ERR. */
int toml_parse_file(const char *path, struct toml_doc **ret, struct nctk_error **err);
/* NULL-safe; returns NULL. */
struct toml_doc *toml_doc_free(struct toml_doc *doc);

/* "table", "array", "string", "integer", "float", "boolean". */
const char *toml_type_name(enum toml_type type);

/* The value at the dot-separated PATH ("nvidia-container-cli.root") under TABLE, or NULL when
 * a part is missing or is not a table. Keys that hold a '.' cannot be reached this way. */
const struct toml_value *toml_get(const struct toml_value *table, const char *path);
/* The value of KEY (one key, no dots) in TABLE, or NULL. */
const struct toml_value *toml_table_find(const struct toml_value *table, const char *key);

/* Typed look-ups from the root of DOC by dotted PATH. Each returns 1 and writes *RET when the
 * key is there with the right type, 0 (leaving *RET alone) when it is absent, and -EINVAL with
 * "FILE:LINE: 'PATH' must be a boolean" (and so on) when it has another type. Strings must hold
 * no NUL. toml_get_string's *RET points into DOC; toml_get_strv's is a new NULL-terminated copy
 * of an array of strings, freed with toml_strv_free() (-ENOMEM possible). */
int toml_get_bool(const struct toml_doc *doc, const char *path, bool *ret, struct nctk_error **err);
int toml_get_int(const struct toml_doc *doc, const char *path, int64_t *ret,
                 struct nctk_error **err);
int toml_get_string(const struct toml_doc *doc, const char *path, const char **ret,
                    struct nctk_error **err);
int toml_get_strv(const struct toml_doc *doc, const char *path, char ***ret,
                  struct nctk_error **err);
/* NULL-safe; returns NULL. */
char **toml_strv_free(char **strv);

#endif
