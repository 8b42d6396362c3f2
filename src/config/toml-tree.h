/* The tree under struct toml_value, shared by the parser (toml.c) and the look-ups
 * (toml-tree.c). Internal to src/config. */
#ifndef NCTK_CONFIG_TOML_TREE_H
#define NCTK_CONFIG_TOML_TREE_H

#include "config/toml.h"

/* A value of TYPE, zeroed; NULL on ENOMEM. */
struct toml_value *toml_value_new(enum toml_type type, unsigned line);
/* Frees V and everything under it (recursion bounded by TOML_MAX_DEPTH); returns NULL. */
struct toml_value *toml_value_free(struct toml_value *v);
static inline void toml_value_freep(struct toml_value **v) {
        toml_value_free(*v);
}

/* The value of the N-byte KEY in table T, or NULL (also when T is no table). */
struct toml_value *toml_table_find_n(const struct toml_value *t, const char *key, size_t n);
struct toml_value *toml_table_lookup(const struct toml_value *t, const char *key);
/* Adds KEY -> V to T, taking both only on success. The caller checked that KEY is new. */
int toml_table_add(struct toml_value *t, char *key, struct toml_value *v);
/* Adds a new empty value of TYPE under a copy of KEY. */
int toml_table_add_new(struct toml_value *t, const char *key, enum toml_type type, unsigned line,
                       struct toml_value **ret);
int toml_array_add(struct toml_value *a, struct toml_value *v);

#endif
