/* chase_open against hostile trees: absolute links, ".." chains, loops and links out of the
 * root must all stay inside it, with the same answer from openat2 and from the userspace walk. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

#include "util/chase.h"
#include "util/macros.h"

static char top[PATH_MAX], root[PATH_MAX + 16];
static int rootfd = -1;

typedef int (*open_fn)(int, const char *, int, mode_t);

static void mk(const char *rel, const char *link_target) {
        char p[PATH_MAX * 2];

        snprintf(p, sizeof(p), "%s/%s", root, rel);
        if (link_target)
                assert_int_equal(symlink(link_target, p), 0);
        else if (rel[strlen(rel) - 1] == '/')
                assert_int_equal(mkdir(p, 0755), 0);
        else
                assert_int_equal(close(open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0644)), 0);
}

static int setup(void **state) {
        char outside[PATH_MAX * 2];

        (void) state;
        snprintf(top, sizeof(top), "/tmp/nctk-chase-XXXXXX");
        assert_non_null(mkdtemp(top));
        snprintf(root, sizeof(root), "%s/root", top);
        assert_int_equal(mkdir(root, 0755), 0);
        snprintf(outside, sizeof(outside), "%s/outside", top);
        assert_int_equal(close(open(outside, O_CREAT | O_WRONLY | O_CLOEXEC, 0644)), 0);
        mk("usr/", NULL);
        mk("usr/lib/", NULL);
        mk("usr/lib/libx.so.1", NULL);
        mk("abs", "/usr/lib");
        mk("dotdot", "../../../../../usr/lib/libx.so.1");
        mk("out", "../outside");
        mk("loop1", "loop2");
        mk("loop2", "loop1");
        mk("magic", "/proc/self/root/etc/passwd");
        mk("usr/lib/rel", "../../abs/libx.so.1");
        mk("dirlink", "/");
        mk("newlink", "/created");
        rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        assert_true(rootfd >= 0);
        return 0;
}

static int teardown(void **state) {
        char cmd[PATH_MAX + 32];

        (void) state;
        close(rootfd);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
        return system(cmd) == 0 ? 0 : -1;
}

/* Resolves PATH with FN and returns the resolved path relative to the root, or "-errno". */
static void expect(open_fn fn, const char *path, int flags, const char *want) {
        char got[PATH_MAX];
        int fd = fn(rootfd, path, flags, 0644);

        if (fd < 0) {
                snprintf(got, sizeof(got), "-%d", -fd);
        } else {
                _cleanup_free_ char *full = NULL;
                assert_int_equal(fd_get_path(fd, &full), 0);
                close(fd);
                assert_true(strncmp(full, root, strlen(root)) == 0);
                snprintf(got, sizeof(got), "%s", full[strlen(root)] ? full + strlen(root) : "/");
        }
        if (strcmp(got, want) != 0)
                fail_msg("'%s': got '%s', want '%s'", path, got, want);
}

static void check_all(open_fn fn) {
        char enoent[16], eloop[16], enotdir[16], eisdir[16];

        snprintf(enoent, sizeof(enoent), "-%d", ENOENT);
        snprintf(eloop, sizeof(eloop), "-%d", ELOOP);
        snprintf(enotdir, sizeof(enotdir), "-%d", ENOTDIR);
        snprintf(eisdir, sizeof(eisdir), "-%d", EISDIR);
        expect(fn, "/usr/lib/libx.so.1", O_PATH, "/usr/lib/libx.so.1");
        expect(fn, "abs/libx.so.1", O_PATH, "/usr/lib/libx.so.1");
        expect(fn, "dotdot", O_PATH, "/usr/lib/libx.so.1");
        expect(fn, "../../..", O_PATH, "/");
        expect(fn, "out", O_PATH, enoent);
        expect(fn, "loop1", O_PATH, eloop);
        expect(fn, "magic", O_PATH, enoent);
        expect(fn, "usr/lib/rel", O_RDONLY, "/usr/lib/libx.so.1");
        expect(fn, "dirlink/dirlink/usr/./lib/../lib/libx.so.1", O_RDONLY, "/usr/lib/libx.so.1");
        expect(fn, "abs", O_PATH | O_NOFOLLOW, "/abs");
        expect(fn, "/", O_PATH | O_DIRECTORY, "/");
        expect(fn, "", O_PATH, enoent);
        /* A trailing slash asks for a directory, through a final link even with O_NOFOLLOW. */
        expect(fn, "usr/lib/libx.so.1/", O_PATH, enotdir);
        expect(fn, "dotdot/", O_PATH, enotdir);
        expect(fn, "abs/", O_PATH | O_NOFOLLOW, "/usr/lib");
        expect(fn, "dirlink//", O_PATH, "/");
        expect(fn, "usr/lib/", O_CREAT | O_WRONLY, eisdir);
        expect(fn, "usr/new/", O_CREAT | O_WRONLY, eisdir);
}

static void test_openat2(void **state) {
        (void) state;
        check_all(chase_open);
}

static void test_walk(void **state) {
        (void) state;
        check_all(chase_open_walk);
}

static void test_create_through_link(void **state) {
        char p[PATH_MAX * 2];
        struct stat st;

        (void) state;
        expect(chase_open_walk, "newlink", O_CREAT | O_WRONLY, "/created");
        snprintf(p, sizeof(p), "%s/created", root);
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(unlink(p), 0);
        expect(chase_open, "newlink", O_CREAT | O_WRONLY, "/created");
        assert_int_equal(stat(p, &st), 0);
        assert_int_not_equal(stat("/created", &st), 0);
}

static void test_real_path(void **state) {
        _cleanup_free_ char *r = NULL;
        char real[PATH_MAX];

        (void) state;
        assert_non_null(realpath(root, real));
        assert_int_equal(chase_real_path(rootfd, real, "/abs/libx.so.1", &r), 0);
        assert_string_equal(r, "/usr/lib/libx.so.1");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_openat2),
                cmocka_unit_test(test_walk),
                cmocka_unit_test(test_create_through_link),
                cmocka_unit_test(test_real_path),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
