/* Unit tests for src/mps: size parsing, the state file, links refused, the daemon directory
 * removed without following links, the container of a pid. */
#include <errno.h>
#include <fcntl.h>
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

#include "mps/mps.h"
#include "unit-tap.h"
#include "util/macros.h"

#define UUID "GPU-3cc64aab-9ef4-ff9b-8d2a-726b5032c9f4"

static void test_size_parse(void **state) {
        static const struct {
                const char *s;
                int r;
                unsigned long long mib;
        } cases[] = {
                {"2G", 0, 2048},     {"512M", 0, 512},    {"1T", 0, 1048576},   {"2048K", 0, 2},
                {"3GiB", 0, 3072},   {"1gb", 0, 1024},    {"4096", -EINVAL, 0}, {"1K", -EINVAL, 0},
                {"0G", -EINVAL, 0},  {"-1G", -EINVAL, 0}, {"G", -EINVAL, 0},    {"2X", -EINVAL, 0},
                {"2GX", -EINVAL, 0}, {"", -EINVAL, 0},
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                unsigned long long mib = 0;
                assert_int_equal(mps_size_parse(cases[i].s, &mib), cases[i].r);
                if (cases[i].r == 0)
                        assert_int_equal(mib, cases[i].mib);
        }
}

static char *make_root(void) {
        char *root = strdup("/tmp/nctk-test-mps-XXXXXX");
        assert_non_null(mkdtemp(root));
        return root;
}

static void rm_root(char *root) {
        char cmd[256];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
        assert_int_equal(system(cmd), 0);
        free(root);
}

static void test_state_round_trip(void **state) {
        char *root = make_root();
        struct mps_daemon d, got;

        (void) state;
        assert_int_equal(mps_state_load(root, UUID, &got), -ENOENT);
        assert_int_equal(mps_daemon_init(&d, root, UUID), 0);
        d.index = 3;
        d.pid = 4242;
        d.thread_percentage = 25;
        snprintf(d.busid, sizeof(d.busid), "00000000:10:00.0");
        snprintf(d.pinned_limit, sizeof(d.pinned_limit), "2048M");
        assert_int_equal(mps_dirs_create(&d), 0);
        assert_int_equal(mps_state_save(&d), 0);
        assert_int_equal(mps_state_load(root, UUID, &got), 0);
        assert_int_equal(got.index, 3);
        assert_int_equal(got.pid, 4242);
        assert_int_equal(got.thread_percentage, 25);
        assert_string_equal(got.busid, "00000000:10:00.0");
        assert_string_equal(got.pinned_limit, "2048M");
        assert_string_equal(got.pipe_dir, d.pipe_dir);

        char **list = NULL;
        size_t n = 0;
        assert_int_equal(mps_state_list(root, &list, &n), 0);
        assert_int_equal(n, 1);
        assert_string_equal(list[0], UUID);
        free(list[0]);
        free(list);
        assert_true(mps_any(root));

        assert_int_equal(mps_dirs_remove(&d), 0);
        assert_int_equal(access(d.dir, F_OK), -1);
        assert_false(mps_any(root));
        assert_int_equal(mps_dirs_remove(&d), 0); /* again: nothing to do */
        rm_root(root);
}

/* A pipe directory that is a link is refused, and removing the tree removes the link, never
 * what it points to. */
static void test_links_refused(void **state) {
        char *root = make_root(), *target = make_root(), path[512];
        struct mps_daemon d, got;

        (void) state;
        assert_int_equal(mps_daemon_init(&d, root, UUID), 0);
        assert_int_equal(mkdir(d.dir, 0755), 0);
        assert_int_equal(symlink(target, d.pipe_dir), 0);
        assert_int_equal(mps_dirs_create(&d), -ELOOP);
        assert_int_equal(mps_state_load(root, UUID, &got), -ELOOP);
        snprintf(path, sizeof(path), "%s/keep", target);
        close(open(path, O_CREAT | O_WRONLY, 0644));
        assert_int_equal(mps_dirs_remove(&d), 0);
        assert_int_equal(access(path, F_OK), 0);

        assert_int_equal(symlink(target, d.dir), 0);
        assert_int_equal(mps_state_load(root, UUID, &got), -ELOOP);
        assert_int_equal(mps_dirs_create(&d), -ELOOP);
        assert_int_equal(mps_dirs_remove(&d), 0);
        assert_int_equal(access(path, F_OK), 0);
        rm_root(root);
        rm_root(target);
}

static void test_daemon_alive(void **state) {
        struct mps_daemon d = {.pid = getpid()};

        (void) state;
        assert_false(mps_daemon_alive(&d)); /* alive, but not an MPS program */
        d.pid = 0;
        assert_false(mps_daemon_alive(&d));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_size_parse),
                cmocka_unit_test(test_state_round_trip),
                cmocka_unit_test(test_links_refused),
                cmocka_unit_test(test_daemon_alive),
        };
        return unit_run_group_tests(tests, NULL, NULL);
}
