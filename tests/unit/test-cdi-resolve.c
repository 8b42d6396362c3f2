/* Unit tests for the CDI spec registry and edit collection (src/cdi/resolve.c, edits.c): a
 * later directory overrides an earlier one, one device in two files of one directory is refused
 * naming both, a spec's top-level edits come once, conflicting edits are one error naming both
 * devices, and the request is split between spec files and nctk's own names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cdi/resolve.h"
#include "unit-tap.h"
#include "util/macros.h"

static char tmp[] = "/tmp/nctk-cdi-resolve-XXXXXX";

static void put(const char *dir, const char *file, const char *text) {
        char path[256];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", tmp, dir);
        mkdir(path, 0755);
        snprintf(path, sizeof(path), "%s/%s/%s", tmp, dir, file);
        f = fopen(path, "we");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
}

static int setup(void **state) {
        (void) state;
        if (!mkdtemp(tmp))
                return -1;
        put("etc", "a.yaml",
            "cdiVersion: 0.5.0\n"
            "kind: example.com/dev\n"
            "containerEdits:\n"
            "  env:\n"
            "  - TOP=1\n"
            "devices:\n"
            "- name: x\n"
            "  containerEdits:\n"
            "    env:\n"
            "    - V=x\n"
            "    mounts:\n"
            "    - hostPath: /h/x\n"
            "      containerPath: /c\n"
            "- name: y\n"
            "  containerEdits:\n"
            "    env:\n"
            "    - V=y\n"
            "- name: z\n"
            "  containerEdits:\n"
            "    mounts:\n"
            "    - hostPath: /h/z\n"
            "      containerPath: /c\n"
            "- name: p\n"
            "  containerEdits:\n"
            "    env:\n"
            "    - P=etc\n"
            "- name: n\n"
            "  containerEdits:\n"
            "    deviceNodes:\n"
            "    - path: /dev/e0\n"
            "      major: 1\n"
            "      minor: 3\n"
            "- name: m\n"
            "  containerEdits:\n"
            "    deviceNodes:\n"
            "    - path: /dev/e0\n"
            "      major: 1\n"
            "      minor: 5\n");
        put("run", "b.json",
            "{\"cdiVersion\": \"0.5.0\", \"kind\": \"example.com/dev\", \"devices\": "
            "[{\"name\": \"p\", \"containerEdits\": {\"env\": [\"P=run\"]}}]}");
        put("dup", "1.json",
            "{\"cdiVersion\": \"0.5.0\", \"kind\": \"example.com/dev\", \"devices\": "
            "[{\"name\": \"d\", \"containerEdits\": {\"env\": [\"D=1\"]}}]}");
        put("dup", "2.json",
            "{\"cdiVersion\": \"0.5.0\", \"kind\": \"example.com/dev\", \"devices\": "
            "[{\"name\": \"d\", \"containerEdits\": {\"env\": [\"D=2\"]}}]}");
        /* Not valid: additionalGids needs 0.7.0; and a file that is no YAML at all. */
        put("bad", "gids.json",
            "{\"cdiVersion\": \"0.5.0\", \"kind\": \"example.com/gid\", \"devices\": "
            "[{\"name\": \"g\", \"containerEdits\": {\"additionalGids\": [44]}}]}");
        put("bad", "junk.yaml", "kind: [unclosed\n");
        put("bad", "good.json",
            "{\"cdiVersion\": \"0.5.0\", \"kind\": \"example.com/dev\", \"devices\": "
            "[{\"name\": \"ok\", \"containerEdits\": {\"env\": [\"OK=1\"]}}]}");
        return 0;
}

static int teardown(void **state) {
        char cmd[128];

        (void) state;
        snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
        return system(cmd) == 0 ? 0 : -1;
}

static char *dir(const char *name) {
        static char buf[4][256];
        static int i;
        char *b = buf[i++ % 4];

        snprintf(b, 256, "%s/%s", tmp, name);
        return b;
}

static struct cdi_registry *load(const char *d1, const char *d2) {
        char *dirs[] = {dir(d1), d2 ? dir(d2) : NULL, NULL};
        struct cdi_registry *r = NULL;
        struct nctk_error *err = NULL;

        if (cdi_registry_load(dirs, &r, &err) < 0) {
                print_error("%s\n", err->msg);
                nctk_error_free(&err);
        }
        return r;
}

static const char *env0(const json_t *dev) {
        return json_string_value(
                json_array_get(json_object_get(json_object_get(dev, "containerEdits"), "env"), 0));
}

static void test_precedence(void **state) {
        struct cdi_registry *r = load("etc", "run");
        const char *file = NULL;

        (void) state;
        assert_non_null(r);
        assert_string_equal(env0(cdi_registry_find(r, "example.com/dev=p", NULL, &file)), "P=run");
        assert_non_null(strstr(file, "/run/b.json"));
        assert_string_equal(env0(cdi_registry_find(r, "example.com/dev=x", NULL, NULL)), "V=x");
        assert_null(cdi_registry_find(r, "example.com/dev=nope", NULL, NULL));
        cdi_registry_free(r);
        r = load("run", "etc");
        assert_string_equal(env0(cdi_registry_find(r, "example.com/dev=p", NULL, NULL)), "P=etc");
        cdi_registry_free(r);
}

static void test_duplicate_in_one_dir(void **state) {
        char *dirs[] = {dir("dup"), NULL};
        struct cdi_registry *r = NULL;
        struct nctk_error *err = NULL;

        (void) state;
        assert_int_equal(cdi_registry_load(dirs, &r, &err), -EINVAL);
        assert_null(r);
        assert_non_null(strstr(err->msg, "'example.com/dev=d'"));
        assert_non_null(strstr(err->msg, "/dup/1.json"));
        assert_non_null(strstr(err->msg, "/dup/2.json"));
        nctk_error_free(&err);
}

/* A spec that breaks the schema or does not parse is skipped: the others still serve their
 * devices, and a request for one of its devices is one line naming the file and the problem. */
static void test_invalid_spec_skipped(void **state) {
        char *dirs[] = {dir("bad"), NULL};
        struct cdi_registry *reg = NULL;
        struct nctk_error *err = NULL;
        char **names = NULL, *left = NULL;

        (void) state;
        assert_int_equal(cdi_request_split(dirs, "example.com/dev=ok", &reg, &names, &left, &err),
                         0);
        assert_string_equal(names[0], "example.com/dev=ok");
        assert_null(names[1]);
        cdi_names_free(names);
        cdi_registry_free(reg);
        free(left);
        assert_int_equal(cdi_request_split(dirs, "example.com/gid=g", &reg, &names, &left, &err),
                         -EINVAL);
        assert_non_null(strstr(err->msg, "'example.com/gid=g' is in a spec that is not valid"));
        assert_non_null(strstr(err->msg, "/bad/gids.json: "));
        assert_non_null(strstr(err->msg, "0.7.0"));
        assert_null(strchr(err->msg, '\n'));
        nctk_error_free(&err);
        assert_int_equal(cdi_request_split(dirs, "example.com/dev=nope", &reg, &names, &left, &err),
                         -ENOENT);
        assert_non_null(strstr(err->msg, "skipped as not valid: "));
        nctk_error_free(&err);
}

static int collect(struct cdi_registry *r, const char *a, const char *b, struct edits *e,
                   struct cdi_extra *x, struct nctk_error **err) {
        char *names[] = {(char *) a, (char *) b, NULL};

        return cdi_edits_collect(r, names, e, x, err);
}

static void conflict(const char *a, const char *b, const char *what) {
        struct cdi_registry *r = load("etc", "run");
        struct edits *e = calloc(1, sizeof(*e));
        struct cdi_extra x = {};
        struct nctk_error *err = NULL;
        char want[256];

        assert_int_equal(collect(r, a, b, e, &x, &err), -EINVAL);
        snprintf(want, sizeof(want), "CDI device '%s' and CDI device '%s' conflict: %s", a, b,
                 what);
        assert_non_null(strstr(err->msg, want));
        nctk_error_free(&err);
        cdi_extra_release(&x);
        edits_free(e);
        cdi_registry_free(r);
}

static void test_conflicts(void **state) {
        (void) state;
        conflict("example.com/dev=x", "example.com/dev=y", "V is 'x'");
        conflict("example.com/dev=x", "example.com/dev=z", "/c is '/h/x' (");
        conflict("example.com/dev=n", "example.com/dev=m", "/dev/e0 is 1:3 for one");
}

static void test_collect(void **state) {
        struct cdi_registry *r = load("etc", "run");
        struct edits *e = calloc(1, sizeof(*e));
        struct cdi_extra x = {};
        struct nctk_error *err = NULL;

        (void) state;
        /* x and n of one spec: the spec's TOP once, x's mount, n's node and its rule. */
        assert_int_equal(collect(r, "example.com/dev=x", "example.com/dev=n", e, &x, &err), 0);
        assert_int_equal(json_array_size(x.env), 2);
        assert_string_equal(json_string_value(json_array_get(x.env, 0)), "TOP=1");
        assert_string_equal(json_string_value(json_array_get(x.env, 1)), "V=x");
        assert_int_equal(e->n_nodes, 1);
        assert_int_equal(e->n_rules, 1);
        assert_int_equal(e->rules[0].major, 1);
        assert_int_equal(e->rules[0].minor, 3);
        assert_string_equal(e->mounts[0].source, "/h/x");
        assert_string_equal(e->mounts[0].target, "/c");
        cdi_extra_release(&x);
        edits_free(e);
        cdi_registry_free(r);
}

static void test_split(void **state) {
        char *dirs[] = {dir("etc"), dir("run"), NULL};
        struct cdi_registry *r = NULL;
        char **names = NULL, *builtin = NULL;
        struct nctk_error *err = NULL;

        (void) state;
        /* Only nctk's own names: no spec is read (the registry stays NULL). */
        assert_int_equal(cdi_request_split(dirs, "0,nvidia.com/gpu=1", &r, &names, &builtin, &err),
                         0);
        assert_null(r);
        assert_null(names);
        assert_string_equal(builtin, "0,nvidia.com/gpu=1");
        free(builtin);
        assert_int_equal(cdi_request_split(dirs, "example.com/dev=x,nvidia.com/gpu=1,2", &r, &names,
                                           &builtin, &err),
                         0);
        assert_non_null(r);
        assert_string_equal(names[0], "example.com/dev=x");
        assert_null(names[1]);
        assert_string_equal(builtin, "nvidia.com/gpu=1,2");
        free(builtin);
        cdi_names_free(names);
        cdi_registry_free(r);
        assert_int_equal(cdi_request_split(dirs, "example.com/dev=q", &r, &names, &builtin, &err),
                         -ENOENT);
        assert_non_null(strstr(err->msg, "CDI device 'example.com/dev=q' is in no spec of"));
        nctk_error_free(&err);
}

/* Which spec hooks fold into ours: only the leading run of this binary's own nvidia-cdi-hook
 * calls (both command-line forms) with known hooks, arguments that parse, logging-only env. */
static void test_fold(void **state) {
        char self[4096];
        /* The path, not /proc/self/exe: under valgrind that link names valgrind's own tool. */
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        struct cdi_extra x = {.hooks = json_object()};
        json_t *cc = json_array(), *folded = NULL;

        (void) state;
        assert_true(n > 0);
        self[n] = '\0';
        json_array_append_new(cc, json_pack("{s:s, s:[s,s,s,s], s:[s]}", "path", self, "args",
                                            "nvidia-cdi-hook", "create-symlinks", "--link", "a::/b",
                                            "env", "NVIDIA_CTK_DEBUG=false"));
        json_array_append_new(cc, json_pack("{s:s, s:[s,s,s,s,s]}", "path", self, "args",
                                            "/usr/bin/nvidia-ctk", "hook", "update-ldcache",
                                            "--folder", "/x"));
        json_array_append_new(cc, json_pack("{s:s, s:[s,s], s:[s]}", "path", self, "args",
                                            "nvidia-cdi-hook", "chmod", "env", "LD_PRELOAD=/y"));
        json_array_append_new(cc, json_pack("{s:s, s:[s,s]}", "path", self, "args",
                                            "nvidia-cdi-hook", "disable-device-node-modification"));
        json_object_set_new(x.hooks, "createContainer", cc);
        assert_int_equal(cdi_hooks_fold(&x, self, &folded, NULL), 0);
        assert_int_equal(json_array_size(folded), 2);
        assert_string_equal(json_string_value(json_array_get(json_array_get(folded, 0), 2)),
                            "a::/b");
        assert_string_equal(json_string_value(json_array_get(json_array_get(folded, 1), 0)),
                            "update-ldcache");
        /* The variable that is not a logging one stops the run: it and what follows stay. */
        assert_int_equal(json_array_size(cc), 2);
        json_decref(folded);

        /* Not ours, unknown, or arguments its own run refuses: nothing folded. */
        json_array_clear(cc);
        json_array_append_new(cc, json_pack("{s:s, s:[s,s]}", "path", "/bin/true", "args",
                                            "nvidia-cdi-hook", "chmod"));
        assert_int_equal(cdi_hooks_fold(&x, self, &folded, NULL), 0);
        assert_int_equal(json_array_size(folded), 0);
        json_decref(folded);
        json_array_clear(cc);
        json_array_append_new(cc, json_pack("{s:s, s:[s,s]}", "path", self, "args",
                                            "nvidia-cdi-hook", "future-hook"));
        json_array_append_new(cc, json_pack("{s:s, s:[s,s,s]}", "path", self, "args",
                                            "nvidia-cdi-hook", "create-symlinks", "--link"));
        assert_int_equal(cdi_hooks_fold(&x, self, &folded, NULL), 0);
        assert_int_equal(json_array_size(folded), 0);
        json_decref(folded);
        json_array_remove(cc, 0);
        assert_int_equal(cdi_hooks_fold(&x, self, &folded, NULL), 0);
        assert_int_equal(json_array_size(folded), 0);
        json_decref(folded);

        /* All folded: no empty createContainer list is left behind. */
        json_array_clear(cc);
        json_array_append_new(cc, json_pack("{s:s, s:[s,s]}", "path", self, "args",
                                            "nvidia-cdi-hook", "update-application-profile"));
        assert_int_equal(cdi_hooks_fold(&x, self, &folded, NULL), 0);
        assert_int_equal(json_array_size(folded), 1);
        assert_null(json_object_get(x.hooks, "createContainer"));
        json_decref(folded);
        json_decref(x.hooks);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_precedence),
                cmocka_unit_test(test_duplicate_in_one_dir),
                cmocka_unit_test(test_invalid_spec_skipped),
                cmocka_unit_test(test_conflicts),
                cmocka_unit_test(test_collect),
                cmocka_unit_test(test_split),
                cmocka_unit_test(test_fold),
        };
        return unit_run_group_tests(tests, setup, teardown);
}
