/* Unit tests for the text of `nvidia-ctk config default` (src/config/config-default.c): it loads
 * back, through the config parser, as exactly the defaults; every key of the key table is in it;
 * and each key's line is the one that field is read from (changing that line changes that field
 * and no other). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/config-default.h"
#include "config/config.h"
#include "config/toml-edit.h"
#include "config/toml.h"
#include "unit-tap.h"
#include "util/macros.h"

static void config_freep(struct nctk_config **c) {
        config_free(*c);
}

static bool strv_equal(char **a, char **b) {
        if (!a || !b)
                return a == b;
        for (; *a && *b; a++, b++)
                if (strcmp(*a, *b) != 0)
                        return false;
        return !*a && !*b;
}

static bool key_equal(const struct nctk_config *a, const struct nctk_config *b,
                      const struct config_key *k) {
        const void *fa = config_key_field(a, k), *fb = config_key_field(b, k);
        const char *sa, *sb;

        switch (k->kind) {
        case CONFIG_KEY_BOOL: return *(const bool *) fa == *(const bool *) fb;
        case CONFIG_KEY_STRING:
                sa = *(char *const *) fa;
                sb = *(char *const *) fb;
                return sa && sb ? STREQ(sa, sb) : sa == sb;
        case CONFIG_KEY_STRV: return strv_equal(*(char **const *) fa, *(char **const *) fb);
        }
        return false;
}

static char *default_text(size_t *len) {
        struct nctk_error *err = NULL;
        char *text = NULL;

        assert_int_equal(config_default_text(&text, len, &err), 0);
        assert_null(err);
        return text;
}

static void test_loads_as_defaults(void **state) {
        _cleanup_(config_freep) struct nctk_config *def = NULL, *got = NULL;
        struct nctk_error *err = NULL;
        size_t n, len;
        _cleanup_free_ char *text = default_text(&len);
        const struct config_key *keys = config_keys(&n);

        (void) state;
        assert_int_equal(strlen(text), len);
        assert_int_equal(config_new_defaults(&def, &err), 0);
        assert_int_equal(config_load_data("default.toml", text, len, &got, &err), 0);
        assert_null(err);
        for (size_t i = 0; i < n; i++) {
                if (!key_equal(def, got, &keys[i]))
                        fail_msg("'%s' reads back other than its default", keys[i].path);
        }
        assert_string_equal(got->source, "default.toml");
}

/* Each key is written as "key = " (with its default) or, when unset, as "#key = " (an
 * example), always after its table's header. */
static void test_every_key_written(void **state) {
        size_t n, len;
        _cleanup_free_ char *text = default_text(&len);
        const struct config_key *keys = config_keys(&n);

        (void) state;
        assert_true(n >= 37);
        for (size_t i = 0; i < n; i++) {
                const char *dot = strrchr(keys[i].path, '.');
                const char *name = dot ? dot + 1 : keys[i].path;
                _cleanup_free_ char *header = NULL, *active = NULL, *example = NULL;
                const char *at = text, *end, *a, *x;

                if (dot) {
                        assert_true(asprintf(&header, "\n[%.*s]\n", (int) (dot - keys[i].path),
                                             keys[i].path) > 0);
                        at = strstr(text, header);
                        if (!at)
                                fail_msg("no header for '%s'", keys[i].path);
                }
                /* The key must be in its own table: before the next header. */
                end = strstr(at + 1, "\n[");
                end = end ? end : text + len;
                assert_true(asprintf(&active, "\n%s = ", name) > 0);
                assert_true(asprintf(&example, "\n#%s = ", name) > 0);
                a = strstr(at, active);
                x = strstr(at, example);
                if (!((a && a < end) || (x && x < end)))
                        fail_msg("'%s' is not in the default file", keys[i].path);
        }
}

/* A value different from the default, as TOML text. */
static const char *other_value(const struct nctk_config *def, const struct config_key *k) {
        if (k->kind == CONFIG_KEY_BOOL)
                return *(const bool *) config_key_field(def, k) ? "false" : "true";
        if (k->kind == CONFIG_KEY_STRING)
                return STREQ(k->path, "nvidia-container-cli.ldconfig") ? "\"@/other/ldconfig\""
                                                                       : "\"/other\"";
        return "[\"other\"]";
}

static void test_each_line_sets_its_field(void **state) {
        _cleanup_(config_freep) struct nctk_config *def = NULL;
        struct nctk_error *err = NULL;
        size_t n, len;
        _cleanup_free_ char *text = default_text(&len);
        const struct config_key *keys = config_keys(&n);

        (void) state;
        assert_int_equal(config_new_defaults(&def, &err), 0);
        for (size_t i = 0; i < n; i++) {
                _cleanup_(toml_edit_freep) struct toml_edit *e = NULL;
                _cleanup_(config_freep) struct nctk_config *got = NULL;
                _cleanup_free_ char *table = NULL;
                const char *dot = strrchr(keys[i].path, '.');
                char **path = NULL;
                size_t np = 0;
                const char *t;
                size_t tl;

                assert_int_equal(toml_edit_new("d.toml", text, len, &e, &err), 0);
                if (dot) {
                        table = strndup(keys[i].path, (size_t) (dot - keys[i].path));
                        assert_int_equal(toml_path_parse(table, &path, &np, &err), 0);
                }
                assert_int_equal(toml_edit_set(e, (const char *const *) path, np,
                                               dot ? dot + 1 : keys[i].path,
                                               other_value(def, &keys[i]), &err),
                                 1);
                toml_strv_free(path);
                t = toml_edit_text(e, &tl);
                assert_int_equal(config_load_data("d.toml", t, tl, &got, &err), 0);
                for (size_t j = 0; j < n; j++)
                        if (key_equal(def, got, &keys[j]) != (i != j))
                                fail_msg("setting '%s' %s '%s'", keys[i].path,
                                         i == j ? "did not change" : "also changed", keys[j].path);
        }
}

static void test_value_text(void **state) {
        _cleanup_(config_freep) struct nctk_config *def = NULL;
        struct nctk_error *err = NULL;
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;
        char *d = NULL;

        (void) state;
        assert_int_equal(config_new_defaults(&def, &err), 0);
        assert_int_equal(
                config_value_text(def, config_key_find("nvidia-container-runtime.runtimes"), &a),
                1);
        assert_string_equal(a, "[\"runc\", \"crun\"]");
        assert_int_equal(
                config_value_text(def, config_key_find("nvidia-container-cli.load-kmods"), &b), 1);
        assert_string_equal(b, "true");
        free(def->swarm_resource);
        def->swarm_resource = strdup("A\"B\\C\n");
        assert_int_equal(config_value_text(def, config_key_find("swarm-resource"), &c), 1);
        assert_string_equal(c, "\"A\\\"B\\\\C\\u000a\"");
        assert_int_equal(
                config_value_text(def, config_key_find("nvidia-container-cli.proc-root"), &d), 0);
        assert_null(d);
        assert_null(config_key_find("nvidia-container-cli"));
        assert_null(config_key_find("no-such-key"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_loads_as_defaults),
                cmocka_unit_test(test_every_key_written),
                cmocka_unit_test(test_each_line_sets_its_field),
                cmocka_unit_test(test_value_text),
        };

        return unit_run_group_tests(tests, NULL, NULL);
}
