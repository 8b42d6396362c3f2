/* chase_open and chase_opendir against hostile trees: absolute links, ".." chains, loops and
 * links out of the root must all stay inside it, with the same answer from openat2 and from the
 * userspace walk (meson runs this program again with NCTK_TEST_NO_OPENAT2=1), also while renames
 * elsewhere on the host make openat2 answer EAGAIN. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/openat2.h>

#include <cmocka.h>

#include "unit-tap.h"
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
        /* A directory outside the root with a file in it, and links that would reach it if
         * they were followed from the host's "/" or above the root. */
        snprintf(outside, sizeof(outside), "%s/outdir", top);
        assert_int_equal(mkdir(outside, 0755), 0);
        snprintf(outside, sizeof(outside), "%s/outdir/secret", top);
        assert_int_equal(close(open(outside, O_CREAT | O_WRONLY | O_CLOEXEC, 0644)), 0);
        snprintf(outside, sizeof(outside), "%s/outdir", top);
        mk("esc_abs", outside);
        mk("esc_rel", "../outdir");
        mk("up", "../../../../../../..");
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

/* The lowest free fd: the same number before and after a test means nothing leaked. */
static int lowest_free_fd(void) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

        assert_true(fd >= 0);
        close(fd);
        return fd;
}

static bool dir_has(DIR *d, const char *name) {
        struct dirent *de;

        rewinddir(d);
        while ((de = readdir(d)))
                if (STREQ(de->d_name, name))
                        return true;
        return false;
}

/* chase_opendir(PATH): WANT is the directory it must list, relative to the root, or "-errno";
 * on failure *ret must be left alone. HAS, when set, is an entry the listing must contain. */
static void expect_dir(const char *path, const char *want, const char *has) {
        DIR *sentinel = (DIR *) &sentinel, *d = sentinel;
        char got[PATH_MAX];
        int r = chase_opendir(rootfd, path, &d);

        if (r < 0) {
                assert_ptr_equal(d, sentinel);
                snprintf(got, sizeof(got), "-%d", -r);
        } else {
                _cleanup_free_ char *full = NULL;

                assert_int_equal(r, 0);
                assert_non_null(d);
                assert_int_equal(fd_get_path(dirfd(d), &full), 0);
                assert_true(strncmp(full, root, strlen(root)) == 0);
                snprintf(got, sizeof(got), "%s", full[strlen(root)] ? full + strlen(root) : "/");
                if (has && !dir_has(d, has))
                        fail_msg("'%s': no '%s' in the listing", path, has);
                assert_false(dir_has(d, "secret"));
                closedir(d);
        }
        if (strcmp(got, want) != 0)
                fail_msg("'%s': got '%s', want '%s'", path, got, want);
}

static void test_opendir(void **state) {
        char enoent[16], enotdir[16], eloop[16];
        int fd0 = lowest_free_fd();

        (void) state;
        snprintf(enoent, sizeof(enoent), "-%d", ENOENT);
        snprintf(enotdir, sizeof(enotdir), "-%d", ENOTDIR);
        snprintf(eloop, sizeof(eloop), "-%d", ELOOP);
        expect_dir("/usr/lib", "/usr/lib", "libx.so.1");
        expect_dir("usr/lib/", "/usr/lib", "libx.so.1");
        expect_dir("/", "/", "usr");
        expect_dir("", enoent, NULL);
        /* Links and ".." that climb out of the root land on it. */
        expect_dir("abs", "/usr/lib", "libx.so.1");
        expect_dir("up", "/", "usr");
        expect_dir("up/up/usr/lib/../..", "/", "usr");
        expect_dir("../../../../..", "/", "usr");
        expect_dir("dirlink", "/", "usr");
        expect_dir("dirlink/dirlink/usr/lib/../../abs", "/usr/lib", "libx.so.1");
        /* Links to a real directory outside the root reach nothing. */
        expect_dir("esc_abs", enoent, NULL);
        expect_dir("esc_rel", enoent, NULL);
        expect_dir("../outdir", enoent, NULL);
        expect_dir("up/outdir", enoent, NULL);
        /* Not a directory, missing, looping. */
        expect_dir("/usr/lib/libx.so.1", enotdir, NULL);
        expect_dir("dotdot", enotdir, NULL);
        expect_dir("usr/lib/libx.so.1/", enotdir, NULL);
        expect_dir("out", enoent, NULL);
        expect_dir("missing", enoent, NULL);
        expect_dir("usr/missing/lib", enoent, NULL);
        expect_dir("loop1", eloop, NULL);
        expect_dir("magic", enoent, NULL);
        assert_int_equal(lowest_free_fd(), fd0);
}

/* ---- openat2's EAGAIN under concurrent renames ---------------------------------------------- */

#define RACE_SECONDS 2
#define RACE_PATH "usr/lib/../../usr/lib/../../up/usr/lib/../lib/../../usr/./lib/libx.so.1"

/* The renamer: spin/b <-> spin/c next to the root (the same filesystem), until killed. Any rename
 * on the host moves the kernel's rename seqcount, which a RESOLVE_IN_ROOT ".." step checks. */
static _Noreturn void renamer(void) {
        char b[PATH_MAX * 2], c[PATH_MAX * 2];

        prctl(PR_SET_PDEATHSIG, SIGKILL);
        alarm(30); /* never outlive a test that died before killing us */
        snprintf(b, sizeof(b), "%s/spin/b", top);
        snprintf(c, sizeof(c), "%s/spin/c", top);
        for (;;) {
                if (rename(b, c) < 0 || rename(c, b) < 0)
                        _exit(1);
        }
}

static double now(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* Resolves RACE_PATH for RACE_SECONDS while another process renames: chase_open must succeed
 * every time, on the right file, whatever openat2 alone says (its EAGAINs are counted, to
 * show that the race happened). */
static void test_eagain_race(void **state) {
        struct open_how how = {.flags = O_PATH | O_CLOEXEC,
                               .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
        unsigned long runs = 0, failures = 0, wrong = 0, raw_eagain = 0;
        char spin[PATH_MAX * 2], file[PATH_MAX * 3];
        struct stat want, st;
        int first_error = 0, status;
        double end;
        pid_t pid;

        (void) state;
        snprintf(file, sizeof(file), "%s/usr/lib/libx.so.1", root);
        assert_int_equal(stat(file, &want), 0);
        snprintf(spin, sizeof(spin), "%s/spin", top);
        assert_int_equal(mkdir(spin, 0755), 0);
        snprintf(file, sizeof(file), "%s/b", spin);
        assert_int_equal(close(open(file, O_CREAT | O_WRONLY | O_CLOEXEC, 0644)), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
                renamer();
        /* No assertion until the renamer is gone: a failed one would leave it running. */
        end = now() + RACE_SECONDS;
        while (now() < end) {
                int fd = chase_open(rootfd, RACE_PATH, O_RDONLY, 0);

                runs++;
                if (fd < 0) {
                        failures++;
                        first_error = first_error ? first_error : fd;
                        continue;
                }
                if (fstat(fd, &st) < 0 || st.st_ino != want.st_ino || st.st_dev != want.st_dev)
                        wrong++;
                close(fd);
                fd = (int) syscall(SYS_openat2, rootfd, RACE_PATH, &how, sizeof(how));
                if (fd >= 0)
                        close(fd);
                else if (errno == EAGAIN)
                        raw_eagain++;
        }
        kill(pid, SIGKILL);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        print_message("# %lu resolutions, %lu EAGAIN from a single openat2\n", runs, raw_eagain);
        if (failures)
                fail_msg("%lu of %lu resolutions failed, first with %d", failures, runs,
                         first_error);
        assert_int_equal(wrong, 0);
        /* The renamer ran until killed, not less (a rename error ends it with status 1). */
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        assert_true(runs >= 100); /* about 2,500 under valgrind, 10^5 without */
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_openat2),
                cmocka_unit_test(test_walk),
                cmocka_unit_test(test_create_through_link),
                cmocka_unit_test(test_real_path),
                cmocka_unit_test(test_opendir),
                cmocka_unit_test(test_eagain_race),
        };
        return unit_run_group_tests(tests, setup, teardown);
}
