/* The CDI hooks' library (src/cdihook/) on mkdtemp trees: a root and, beside it, a directory
 * and a file that stand for the host. Links planted in the root point at them; each case asserts
 * the exact result and that the host side kept its bytes and modes. */
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

#include "cdihook/cdihook.h"
#include "unit-tap.h"
#include "util/fileio.h"
#include "util/macros.h"

static char top[PATH_MAX];
static int rootfd = -EBADF;

/* TOP + "/" + REL, in one of four static buffers used in turn. */
static const char *at(const char *rel) {
        static char buf[4][PATH_MAX * 2];
        static unsigned slot;
        char *b = buf[slot++ % ELEMENTSOF(buf)];

        snprintf(b, sizeof(buf[0]), "%s/%s", top, rel);
        return b;
}

static void put(const char *rel, const char *text) {
        int fd = open(at(rel), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);

        assert_true(fd >= 0);
        assert_int_equal(write_full(fd, text, strlen(text)), 0);
        close(fd);
}

/* The file's bytes, or "(none)"; the caller frees. */
static char *get(const char *rel) {
        _cleanup_close_ int fd = open(at(rel), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        char *s = NULL;

        if (fd < 0 || read_full_fd(fd, 1u << 20, &s, NULL) < 0)
                return strdup("(none)");
        return s;
}

static void assert_text(const char *rel, const char *want) {
        _cleanup_free_ char *s = get(rel);

        assert_string_equal(s, want);
}

static mode_t mode_of(const char *rel) {
        struct stat st;

        assert_int_equal(lstat(at(rel), &st), 0);
        return st.st_mode & 07777;
}

static int setup(void **state) {
        (void) state;
        snprintf(top, sizeof(top), "/tmp/nctk-cdihook-XXXXXX");
        assert_non_null(mkdtemp(top));
        assert_int_equal(mkdir(at("root"), 0755), 0);
        assert_int_equal(mkdir(at("root/etc"), 0755), 0);
        assert_int_equal(mkdir(at("host"), 0755), 0);
        put("host/file", "host data\n");
        assert_int_equal(chmod(at("host/file"), 0640), 0);
        rootfd = open(at("root"), O_PATH | O_DIRECTORY | O_CLOEXEC);
        assert_true(rootfd >= 0);
        return 0;
}

static int teardown(void **state) {
        char cmd[PATH_MAX + 16];

        (void) state;
        close(rootfd);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
        assert_int_equal(system(cmd), 0);
        return 0;
}

static void assert_host_untouched(void) {
        assert_text("host/file", "host data\n");
        assert_int_equal(mode_of("host/file"), 0640);
        assert_int_equal(mode_of("host"), 0755);
}

static void test_write_file_replaces_a_planted_link(void **state) {
        (void) state;
        assert_int_equal(symlink(at("host/file"), at("root/etc/x.conf")), 0);
        assert_int_equal(cdihook_write_file(rootfd, "/etc/x.conf", "new\n", 0644), 0);
        assert_text("root/etc/x.conf", "new\n");
        assert_int_equal(mode_of("root/etc/x.conf"), 0644);
        assert_host_untouched();
}

static void test_write_file_under_a_link_out_of_the_root(void **state) {
        (void) state;
        /* A dangling link inside the root (its target is a host path): not created through. */
        assert_int_equal(symlink(at("host"), at("root/etc/d")), 0);
        assert_int_equal(cdihook_write_file(rootfd, "/etc/d/f", "x\n", 0644), -ENOENT);
        /* A ".." chain stays inside: it lands in the root's own /etc. */
        assert_int_equal(symlink("../../../../../../../../etc", at("root/up")), 0);
        assert_int_equal(cdihook_write_file(rootfd, "/up/g", "y\n", 0644), 0);
        assert_text("root/etc/g", "y\n");
        assert_int_equal(cdihook_write_file(rootfd, "relative", "z\n", 0644), -EINVAL);
        assert_host_untouched();
}

static void test_cuda_compat(void **state) {
        struct nctk_error *err = NULL;

        (void) state;
        assert_int_equal(mkdir(at("root/usr"), 0755), 0);
        assert_int_equal(mkdir(at("root/usr/local"), 0755), 0);
        assert_int_equal(mkdir(at("root/usr/local/cuda"), 0755), 0);
        assert_int_equal(mkdir(at("root/usr/local/cuda/compat"), 0755), 0);
        put("root/usr/local/cuda/compat/libcuda.so.999.1.2", "");
        assert_int_equal(cdihook_cuda_compat(rootfd, "580.159.04", &err), 0);
        assert_text("root" CDIHOOK_COMPAT_CONF, "/usr/local/cuda/compat\n");
        assert_int_equal(cdihook_cuda_compat(rootfd, "1000.1", &err), 0);
        assert_text("root" CDIHOOK_COMPAT_CONF, "(none)");
        assert_int_equal(cdihook_cuda_compat(rootfd, "v580", &err), -EINVAL);
        assert_string_equal(err->msg, "invalid --host-driver-version 'v580'");
        nctk_error_free(&err);
}

static void test_musl_path_file(void **state) {
        struct nctk_error *err = NULL;
        char *folders[] = {"/b", "/c", "/c"};

        (void) state;
        put("root/etc/alpine-release", "3.20\n");
        put("root/etc/ld-musl-x86_64.path", "/a:/b");
        assert_int_equal(cdihook_ldcache(rootfd, folders, 3, &err), 0);
        assert_text("root/etc/ld-musl-x86_64.path", "/c\n/a:/b\n");
        assert_text("root" CDIHOOK_FOLDERS_CONF, "/b\n/c\n");
        assert_text("root/etc/ld.so.cache", "(none)");
        folders[0] = "relative";
        assert_int_equal(cdihook_ldcache(rootfd, folders, 1, &err), -EINVAL);
        nctk_error_free(&err);
}

static void test_profile_needs_gpu_nodes(void **state) {
        struct nctk_error *err = NULL;

        (void) state;
        assert_int_equal(mkdir(at("root/dev"), 0755), 0);
        put("root/dev/nvidia0", "not a device\n");
        assert_int_equal(symlink("/dev/null", at("root/dev/nvidia1")), 0);
        assert_int_equal(cdihook_app_profile(rootfd, &err), 0);
        assert_text("root/etc/nvidia/nvidia-application-profiles-rc.d/10-container.conf", "(none)");
}

static void test_chmod_stays_inside(void **state) {
        struct nctk_error *err = NULL;
        char *paths[] = {"/out", "/dotdot", "/etc"};

        (void) state;
        assert_int_equal(symlink(at("host/file"), at("root/out")), 0);
        assert_int_equal(symlink("../../../../../../../../host/file", at("root/dotdot")), 0);
        assert_int_equal(cdihook_chmod(rootfd, 0700, paths, 3, &err), 0);
        assert_int_equal(mode_of("root/etc"), 0700);
        assert_host_untouched();
}

int main(void) {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        const struct CMUnitTest tests[] = {
                T(test_write_file_replaces_a_planted_link),
                T(test_write_file_under_a_link_out_of_the_root),
                T(test_cuda_compat),
                T(test_musl_path_file),
                T(test_profile_needs_gpu_nodes),
                T(test_chmod_stays_inside),
        };
        return unit_run_group_tests(tests, NULL, NULL);
}
