/* The container stage: facts read from a hostile image stay inside it, and the rootfs is opened
 * once. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unit-tap.h"

#include "3-container/container.h"
#include "util/macros.h"

struct tree {
        char root[64]; /* the image */
        char host[64]; /* a directory outside it, standing for the host */
        int rootfd;
};

static void mkdirs(const char *base, const char *rel) {
        char path[PATH_MAX];

        snprintf(path, sizeof(path), "%s/%s", base, rel);
        for (char *p = path + strlen(base) + 1; (p = strchr(p, '/')); p++) {
                *p = '\0';
                (void) mkdir(path, 0755);
                *p = '/';
        }
        (void) mkdir(path, 0755);
}

static void touch(const char *base, const char *rel) {
        char path[PATH_MAX];
        int fd;

        snprintf(path, sizeof(path), "%s/%s", base, rel);
        fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        close(fd);
}

static void link_at(const char *base, const char *rel, const char *target) {
        char path[PATH_MAX];

        snprintf(path, sizeof(path), "%s/%s", base, rel);
        assert_int_equal(symlink(target, path), 0);
}

static int setup(void **state) {
        struct tree *t = calloc(1, sizeof(*t));

        if (!t)
                return -1;
        snprintf(t->root, sizeof(t->root), "/tmp/nctk-test-container-XXXXXX");
        snprintf(t->host, sizeof(t->host), "/tmp/nctk-test-host-XXXXXX");
        if (!mkdtemp(t->root) || !mkdtemp(t->host))
                return -1;
        t->rootfd = open(t->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        *state = t;
        return t->rootfd < 0 ? -1 : 0;
}

static int teardown(void **state) {
        struct tree *t = *state;
        char cmd[256];

        close(t->rootfd);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", t->root, t->host);
        free(t);
        return system(cmd) == 0 ? 0 : -1;
}

static void test_debian_layout(void **state) {
        struct tree *t = *state;
        struct container_facts f;

        mkdirs(t->root, "etc");
        touch(t->root, "etc/debian_version");
        container_facts_read(t->rootfd, &f);
        assert_string_equal(f.layout.libdir, "/usr/lib/x86_64-linux-gnu");
        assert_string_equal(f.layout.libdir32, "/usr/lib/i386-linux-gnu");
        assert_string_equal(f.layout.bindir, "/usr/bin");
        assert_int_equal(f.compat_cuda_major, 0);
}

/* A link to the host's file is resolved inside the image, where nothing is. */
static void test_linked_debian_version_stays_inside(void **state) {
        struct tree *t = *state;
        char target[PATH_MAX];
        struct container_facts f;

        touch(t->host, "debian_version");
        snprintf(target, sizeof(target), "%s/debian_version", t->host);
        mkdirs(t->root, "etc");
        link_at(t->root, "etc/debian_version", target);
        mkdirs(t->root, "usr/lib32");
        container_facts_read(t->rootfd, &f);
        assert_string_equal(f.layout.libdir, "/usr/lib64");
        assert_string_equal(f.layout.libdir32, "/usr/lib32");
}

static void test_lib64_without_lib32(void **state) {
        struct tree *t = *state;
        struct container_facts f;

        container_facts_read(t->rootfd, &f);
        assert_string_equal(f.layout.libdir, "/usr/lib64");
        assert_string_equal(f.layout.libdir32, "/usr/lib");
}

static void test_compat_major(void **state) {
        struct tree *t = *state;
        struct container_facts f;

        mkdirs(t->root, "usr/local/cuda/compat");
        touch(t->root, "usr/local/cuda/compat/libcuda.so.575.51.03");
        touch(t->root, "usr/local/cuda/compat/libcuda.so.600.12");
        link_at(t->root, "usr/local/cuda/compat/libcuda.so.1", "libcuda.so.600.12");
        touch(t->root, "usr/local/cuda/compat/libnvidia-nvvm.so.900.1.1");
        container_facts_read(t->rootfd, &f);
        assert_int_equal(f.compat_cuda_major, 600);
}

/* The compat directory swapped for a link to a host directory (absolute, or up through "..")
 * is read inside the image: the host's newer libcuda is never seen. */
static void test_compat_link_out_of_the_image(void **state) {
        struct tree *t = *state;
        char target[PATH_MAX];
        struct container_facts f;

        touch(t->host, "libcuda.so.999.1.1");
        mkdirs(t->root, "usr/local/cuda");
        link_at(t->root, "usr/local/cuda/compat", t->host);
        container_facts_read(t->rootfd, &f);
        assert_int_equal(f.compat_cuda_major, 0);
        assert_int_equal(unlinkat(t->rootfd, "usr/local/cuda/compat", 0), 0);
        snprintf(target, sizeof(target), "../../../../../../..%s", t->host);
        link_at(t->root, "usr/local/cuda/compat", target);
        container_facts_read(t->rootfd, &f);
        assert_int_equal(f.compat_cuda_major, 0);
}

static void test_rootfs_open(void **state) {
        struct tree *t = *state;
        struct nctk_error *err = NULL;
        struct stat a, b;
        int fd;

        fd = container_rootfs_open(0, t->root, &err);
        assert_true(fd >= 0);
        assert_int_equal(fstat(fd, &a), 0);
        close(fd);
        /* Our own pid: the same namespace, no setns. */
        fd = container_rootfs_open(getpid(), t->root, &err);
        assert_true(fd >= 0);
        assert_int_equal(fstat(fd, &b), 0);
        assert_true(a.st_ino == b.st_ino && a.st_dev == b.st_dev);
        close(fd);
        assert_int_equal(container_rootfs_open(0, "/nonexistent-nctk-rootfs", &err), -ENOENT);
        assert_non_null(strstr(err->msg, "cannot open rootfs '/nonexistent-nctk-rootfs'"));
        nctk_error_free(&err);
        assert_int_equal(container_rootfs_open(0x3ffffff0, t->root, &err), -ENOENT);
        assert_non_null(strstr(err->msg, "mount namespace of process"));
        nctk_error_free(&err);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_debian_layout, setup, teardown),
                cmocka_unit_test_setup_teardown(test_linked_debian_version_stays_inside, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_lib64_without_lib32, setup, teardown),
                cmocka_unit_test_setup_teardown(test_compat_major, setup, teardown),
                cmocka_unit_test_setup_teardown(test_compat_link_out_of_the_image, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rootfs_open, setup, teardown),
        };

        return unit_run_group_tests(tests, NULL, NULL);
}
