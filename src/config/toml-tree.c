/* The tree of a TOML document: values, tables indexed by hash once they grow (so that a 1 MiB
 * file of keys stays linear), and the look-ups of toml.h. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/toml-tree.h"
#include "config/toml.h"
#include "util/macros.h"
#include "util/strv.h"

/* Tables up to this many keys are searched linearly. */
#define INDEX_THRESHOLD 16

struct toml_value *toml_value_new(enum toml_type type, unsigned line) {
        struct toml_value *v = calloc(1, sizeof(*v));

        if (v) {
                v->type = type;
                v->line = line;
        }
        return v;
}

/* Recursion is bounded: the parser builds no tree deeper than TOML_MAX_DEPTH. */
struct toml_value *toml_value_free(struct toml_value *v) {
        if (!v)
                return NULL;
        if (v->type == TOML_STRING) {
                free(v->string.ptr);
        } else if (v->type == TOML_ARRAY) {
                for (size_t i = 0; i < v->array.n; i++)
                        toml_value_free(v->array.items[i]);
                free(v->array.items);
        } else if (v->type == TOML_TABLE) {
                for (size_t i = 0; i < v->table.n; i++) {
                        free(v->table.pairs[i].key);
                        toml_value_free(v->table.pairs[i].value);
                }
                free(v->table.pairs);
                free(v->table.index);
        }
        free(v);
        return NULL;
}

static size_t key_hash(const char *k, size_t n) {
        uint64_t h = 14695981039346656037ull; /* FNV-1a */

        for (size_t i = 0; i < n; i++) {
                h ^= (unsigned char) k[i];
                h *= 1099511628211ull;
        }
        return (size_t) h;
}

static bool key_equal(const char *key, const char *s, size_t n) {
        return strncmp(key, s, n) == 0 && key[n] == '\0';
}

static void index_put(size_t *index, size_t cap, const char *key, size_t pos) {
        size_t i = key_hash(key, strlen(key)) & (cap - 1);

        while (index[i])
                i = (i + 1) & (cap - 1);
        index[i] = pos + 1;
}

static int table_reindex(struct toml_value *t, size_t cap) {
        size_t *index = calloc(cap, sizeof(*index));

        if (!index)
                return -ENOMEM;
        for (size_t i = 0; i < t->table.n; i++)
                index_put(index, cap, t->table.pairs[i].key, i);
        free(t->table.index);
        t->table.index = index;
        t->table.index_cap = cap;
        return 0;
}

struct toml_value *toml_table_find_n(const struct toml_value *t, const char *key, size_t n) {
        if (!t || t->type != TOML_TABLE)
                return NULL;
        if (t->table.index) {
                size_t mask = t->table.index_cap - 1;

                for (size_t i = key_hash(key, n) & mask; t->table.index[i]; i = (i + 1) & mask) {
                        const struct toml_pair *p = &t->table.pairs[t->table.index[i] - 1];
                        if (key_equal(p->key, key, n))
                                return p->value;
                }
                return NULL;
        }
        for (size_t i = 0; i < t->table.n; i++)
                if (key_equal(t->table.pairs[i].key, key, n))
                        return t->table.pairs[i].value;
        return NULL;
}

struct toml_value *toml_table_lookup(const struct toml_value *t, const char *key) {
        return toml_table_find_n(t, key, strlen(key));
}

/* Adds KEY -> V to T, taking both only on success. The caller checked that KEY is new. */
int toml_table_add(struct toml_value *t, char *key, struct toml_value *v) {
        struct toml_pair *p;
        size_t n = t->table.n + 1;

        if (n > INDEX_THRESHOLD && n * 2 > t->table.index_cap) {
                int r = table_reindex(t, t->table.index_cap ? t->table.index_cap * 2 : 64);
                if (r < 0)
                        return r;
        }
        p = ARRAY_PUSH(t->table.pairs, t->table.n);
        if (!p)
                return -ENOMEM;
        p->key = key;
        p->value = v;
        if (t->table.index)
                index_put(t->table.index, t->table.index_cap, key, t->table.n - 1);
        return 0;
}

int toml_array_add(struct toml_value *a, struct toml_value *v) {
        struct toml_value **p = ARRAY_PUSH(a->array.items, a->array.n);

        if (!p)
                return -ENOMEM;
        *p = v;
        return 0;
}

int toml_table_add_new(struct toml_value *t, const char *key, enum toml_type type, unsigned line,
                       struct toml_value **ret) {
        _cleanup_(toml_value_freep) struct toml_value *v = toml_value_new(type, line);
        _cleanup_free_ char *k = strdup(key);
        int r;

        if (!v || !k)
                return -ENOMEM;
        r = toml_table_add(t, k, v);
        if (r < 0)
                return r;
        TAKE_PTR(k);
        *ret = TAKE_PTR(v);
        return 0;
}

/* ---- look-ups ---------------------------------------------------------------------------- */

struct toml_doc *toml_doc_free(struct toml_doc *doc) {
        if (!doc)
                return NULL;
        toml_value_free(doc->root);
        free(doc->file);
        free(doc);
        return NULL;
}

const char *toml_type_name(enum toml_type type) {
        static const char *const names[] = {
                [TOML_TABLE] = "table",     [TOML_ARRAY] = "array", [TOML_STRING] = "string",
                [TOML_INTEGER] = "integer", [TOML_FLOAT] = "float", [TOML_BOOLEAN] = "boolean",
        };

        return (size_t) type < ELEMENTSOF(names) ? names[type] : "?";
}

const struct toml_value *toml_table_find(const struct toml_value *table, const char *key) {
        return toml_table_lookup(table, key);
}

const struct toml_value *toml_get(const struct toml_value *table, const char *path) {
        const struct toml_value *v = table;

        for (;;) {
                const char *dot = strchr(path, '.');
                size_t n = dot ? (size_t) (dot - path) : strlen(path);

                v = toml_table_find_n(v, path, n);
                if (!v || !dot)
                        return v;
                path = dot + 1;
        }
}

static int get_typed(const struct toml_doc *doc, const char *path, enum toml_type type,
                     const char *what, const struct toml_value **ret, struct nctk_error **err) {
        const struct toml_value *v = toml_get(doc->root, path);

        if (!v)
                return 0;
        if (v->type != type)
                return nctk_error_set(err, EINVAL, "%s:%u: '%s' must be %s", doc->file, v->line,
                                      path, what);
        *ret = v;
        return 1;
}

int toml_get_bool(const struct toml_doc *doc, const char *path, bool *ret,
                  struct nctk_error **err) {
        const struct toml_value *v = NULL;
        int r = get_typed(doc, path, TOML_BOOLEAN, "a boolean", &v, err);

        if (r > 0)
                *ret = v->boolean;
        return r;
}

int toml_get_int(const struct toml_doc *doc, const char *path, int64_t *ret,
                 struct nctk_error **err) {
        const struct toml_value *v = NULL;
        int r = get_typed(doc, path, TOML_INTEGER, "an integer", &v, err);

        if (r > 0)
                *ret = v->integer;
        return r;
}

int toml_get_string(const struct toml_doc *doc, const char *path, const char **ret,
                    struct nctk_error **err) {
        const struct toml_value *v = NULL;
        int r = get_typed(doc, path, TOML_STRING, "a string", &v, err);

        if (r <= 0)
                return r;
        if (strlen(v->string.ptr) != v->string.len)
                return nctk_error_set(err, EINVAL, "%s:%u: '%s' must not hold NUL characters",
                                      doc->file, v->line, path);
        *ret = v->string.ptr;
        return 1;
}

char **toml_strv_free(char **strv) {
        if (!strv)
                return NULL;
        for (char **s = strv; *s; s++)
                free(*s);
        free(strv);
        return NULL;
}

static void toml_strv_freep(char ***strv) {
        toml_strv_free(*strv);
}

int toml_get_strv(const struct toml_doc *doc, const char *path, char ***ret,
                  struct nctk_error **err) {
        _cleanup_(toml_strv_freep) char **strv = NULL;
        const struct toml_value *v = NULL;
        int r = get_typed(doc, path, TOML_ARRAY, "an array of strings", &v, err);

        if (r <= 0)
                return r;
        strv = calloc(v->array.n + 1, sizeof(*strv));
        if (!strv)
                return -ENOMEM;
        for (size_t i = 0; i < v->array.n; i++) {
                const struct toml_value *s = v->array.items[i];

                if (s->type != TOML_STRING || strlen(s->string.ptr) != s->string.len)
                        return nctk_error_set(
                                err, EINVAL, "%s:%u: '%s' must be an array of strings%s", doc->file,
                                s->line, path,
                                s->type == TOML_STRING ? " without NUL characters" : "");
                strv[i] = strdup(s->string.ptr);
                if (!strv[i])
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(strv);
        return 1;
}
