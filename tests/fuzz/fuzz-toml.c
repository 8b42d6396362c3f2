/* libFuzzer target for the TOML parser: any bytes must give a one-line "FILE:LINE:" error or a
 * tree that keeps its invariants (depth, NUL-terminated strings, keys found again by look-up),
 * never a crash, a leak or deep recursion. The typed look-ups run on every key found. */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/toml.h"
#include "util/macros.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void toml_doc_freep(struct toml_doc **doc) {
        toml_doc_free(*doc);
}

static void lookups(const struct toml_doc *doc, const char *path, const struct toml_value *v) {
        struct nctk_error *err = NULL;
        const char *s;
        char **strv = NULL;
        int64_t i;
        bool b;
        int r;

        assert(toml_get(doc->root, path) == v);
        r = toml_get_bool(doc, path, &b, &err);
        assert(r == (v->type == TOML_BOOLEAN ? 1 : -EINVAL) && (r < 0) == (err != NULL));
        nctk_error_free(&err);
        r = toml_get_int(doc, path, &i, &err);
        assert(r == (v->type == TOML_INTEGER ? 1 : -EINVAL));
        nctk_error_free(&err);
        r = toml_get_string(doc, path, &s, &err);
        assert(r == 1 ? strlen(s) == v->string.len : r == -EINVAL);
        nctk_error_free(&err);
        r = toml_get_strv(doc, path, &strv, &err);
        assert(r == 1 || r == -EINVAL);
        if (r == 1)
                for (size_t k = 0; k <= v->array.n; k++)
                        assert(k < v->array.n ? strv[k] != NULL : strv[k] == NULL);
        toml_strv_free(strv);
        nctk_error_free(&err);
}

/* PATH is the dotted path from the root while every key on it is non-empty and dot-free, else
 * NULL. */
static void walk(const struct toml_doc *doc, const struct toml_value *v, unsigned depth,
                 const char *path) {
        assert(depth <= TOML_MAX_DEPTH);
        switch (v->type) {
        case TOML_TABLE:
                for (size_t i = 0; i < v->table.n; i++) {
                        const struct toml_pair *p = &v->table.pairs[i];
                        _cleanup_free_ char *sub = NULL;

                        assert(toml_table_find(v, p->key) == p->value);
                        if (path && *p->key && !strchr(p->key, '.') &&
                            asprintf(&sub, "%s%s%s", path, *path ? "." : "", p->key) >= 0)
                                lookups(doc, sub, p->value);
                        walk(doc, p->value, depth + 1, sub);
                }
                break;
        case TOML_ARRAY:
                assert(v->array.n == 0 || v->array.items);
                for (size_t i = 0; i < v->array.n; i++)
                        walk(doc, v->array.items[i], depth + 1, NULL);
                break;
        case TOML_STRING: assert(v->string.ptr && v->string.ptr[v->string.len] == '\0'); break;
        case TOML_INTEGER:
        case TOML_FLOAT:
        case TOML_BOOLEAN: break;
        }
        assert(toml_type_name(v->type)[0] != '?');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(toml_doc_freep) struct toml_doc *doc = NULL;
        _cleanup_(nctk_error_free) struct nctk_error *err = NULL;
        int r = toml_parse("fuzz.toml", (const char *) data, size, &doc, &err);

        if (r < 0) {
                assert(r == -EINVAL || r == -EFBIG || r == -ENOMEM);
                assert(!doc && err && err->errnum == -r && err->msg);
                assert(strncmp(err->msg, "fuzz.toml:", 10) == 0 && !strchr(err->msg, '\n'));
                return 0;
        }
        assert(doc && !err && doc->root->type == TOML_TABLE);
        walk(doc, doc->root, 0, "");
        return 0;
}
