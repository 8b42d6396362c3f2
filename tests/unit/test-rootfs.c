/* rootfs_mkdir_p, rootfs_target, rootfs_symlink and the journal against hostile mkdtemp trees:
 * links out of the root (absolute and ".."), files where directories are expected and the
 * reverse, dangling links and loops. Each case asserts the exact -errno, that nothing appeared
 * outside the root, and that journal_undo removes exactly what was made. As root (CI) the
 * program runs chrooted in a tmpfs of a private mount namespace, so that the snapshots cover
 * the whole filesystem it sees, and a confinement bug lands there rather than in the host's "/";
 * the mount and device cases need that, and are skipped (visibly) without root. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cmocka.h>

#include "5-apply/rootfs.h"
#include "util/macros.h"

static char top[PATH_MAX], root[PATH_MAX + 16];
static int rootfd = -EBADF;
static struct journal j;
static uid_t uid;
static gid_t gid;
static char *before;   /* the tree once the fixture is built */
static bool sandboxed; /* chrooted in a private tmpfs: see sandbox() */

/* ---- helpers -------------------------------------------------------------------------------- */

/* TOP + "/" + REL, in one of four static buffers used in turn (a call may take two). */
static const char *at(const char *rel) {
        static char buf[4][PATH_MAX * 2];
        static unsigned slot;
        char *b = buf[slot++ % ELEMENTSOF(buf)];

        snprintf(b, sizeof(buf[0]), "%s/%s", top, rel);
        return b;
}

static void mk_file(const char *rel) {
        int fd = open(at(rel), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);

        assert_true(fd >= 0);
        close(fd);
}

static void mk_dir(const char *rel) {
        assert_int_equal(mkdir(at(rel), 0755), 0);
}

static void mk_link(const char *rel, const char *target) {
        assert_int_equal(symlink(target, at(rel)), 0);
}

/* One line per entry: path, type, link target. All of "/" in the sandbox (but /proc and the
 * host's /tmp, other filesystems), else all of TOP, so that anything created outside the root
 * shows as well as anything left inside it. */
static char *lines[1024];
static size_t n_lines;

static int snap_one(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        char target[PATH_MAX] = "";
        char kind = S_ISDIR(st->st_mode)    ? 'd'
                    : S_ISREG(st->st_mode)  ? 'f'
                    : S_ISLNK(st->st_mode)  ? 'l'
                    : S_ISFIFO(st->st_mode) ? 'p'
                    : S_ISCHR(st->st_mode)  ? 'c'
                                            : '?';

        (void) type;
        (void) ftw;
        if (S_ISLNK(st->st_mode)) {
                ssize_t n = readlink(path, target, sizeof(target) - 1);
                target[n < 0 ? 0 : n] = '\0';
        }
        if (n_lines == ELEMENTSOF(lines) ||
            asprintf(&lines[n_lines], "%s %c %s", sandboxed ? path : path + strlen(top), kind,
                     target) < 0)
                return -1;
        n_lines++;
        return 0;
}

static int line_cmp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static char *snapshot(void) {
        char *s = NULL;
        size_t len = 0;
        FILE *f;

        n_lines = 0;
        /* FTW_MOUNT: not into /proc or the host's /tmp. */
        assert_int_equal(nftw(sandboxed ? "/" : top, snap_one, 32, FTW_PHYS | FTW_MOUNT), 0);
        qsort(lines, n_lines, sizeof(*lines), line_cmp);
        f = open_memstream(&s, &len);
        assert_non_null(f);
        for (size_t i = 0; i < n_lines; i++) {
                fprintf(f, "%s\n", lines[i]);
                free(lines[i]);
        }
        fclose(f);
        return s;
}

/* The tree is as the fixture left it: nothing created (inside or out), nothing removed. */
static void assert_unchanged(void) {
        _cleanup_free_ char *now = snapshot();

        if (!STREQ(now, before))
                fail_msg("the tree changed:\n--- before\n%s--- now\n%s", before, now);
}

static void assert_outside_empty(void) {
        _cleanup_closedir_ DIR *d = opendir(at("outside"));
        struct dirent *de;

        assert_non_null(d);
        while ((de = readdir(d)))
                if (!STREQ(de->d_name, ".") && !STREQ(de->d_name, ".."))
                        fail_msg("'%s' appeared outside the root", de->d_name);
        assert_int_equal(access(at("victim/keep"), F_OK), 0);
}

static void expect_entry(size_t i, enum journal_kind kind, const char *path) {
        assert_true(i < j.n);
        assert_int_equal(j.e[i].kind, kind);
        assert_string_equal(j.e[i].path, path);
}

/* REL (inside the root) exists with TYPE (S_IFDIR, ...) and belongs to UID:GID. */
static void expect_made(const char *rel, mode_t type) {
        char p[PATH_MAX * 2];
        struct stat st;

        snprintf(p, sizeof(p), "%s%s", root, rel);
        assert_int_equal(lstat(p, &st), 0);
        assert_int_equal(st.st_mode & S_IFMT, type);
        assert_int_equal(st.st_uid, uid);
        assert_int_equal(st.st_gid, gid);
}

/* FD is the inode at REL inside the root. */
static void expect_fd_is(int fd, const char *rel) {
        char p[PATH_MAX * 2];
        struct stat a, b;

        assert_true(fd >= 0);
        snprintf(p, sizeof(p), "%s%s", root, rel);
        assert_int_equal(fstat(fd, &a), 0);
        assert_int_equal(stat(p, &b), 0);
        assert_int_equal(a.st_dev, b.st_dev);
        assert_int_equal(a.st_ino, b.st_ino);
}

static void undo_and_check(void) {
        journal_undo(rootfd, &j);
        assert_unchanged();
        assert_outside_empty();
}

/* ---- the fixture: a fresh hostile tree for every test --------------------------------------- */

static int setup(void **state) {
        char buf[PATH_MAX * 2];

        (void) state;
        snprintf(top, sizeof(top), "%s/nctk-rootfs-XXXXXX", sandboxed ? "/scratch" : "/tmp");
        assert_non_null(mkdtemp(top));
        snprintf(root, sizeof(root), "%s/root", top);
        mk_dir("root");
        mk_dir("outside"); /* must stay empty */
        mk_dir("victim");  /* a host directory with a file the undo must not remove */
        mk_file("victim/keep");
        mk_dir("root/dir");
        mk_file("root/dir/inner");
        mk_file("root/file");
        assert_int_equal(mkfifo(at("root/fifo"), 0644), 0);
        snprintf(buf, sizeof(buf), "%s/outside", top);
        mk_link("root/esc_abs", buf);          /* the host path of a real directory */
        mk_link("root/esc_rel", "../outside"); /* one level above the root */
        snprintf(buf, sizeof(buf), "../../../../../../../..%s/outside", top);
        mk_link("root/esc_deep", buf); /* above the host's "/", then down */
        mk_link("root/up", "../../../../../..");
        mk_link("root/rootlink", "/");
        mk_link("root/dangling", "/nonexistent-nctk");
        mk_link("root/dangling_rel", "nothere");
        mk_link("root/passwd", "/etc/passwd");
        mk_link("root/filelink", "file");
        mk_link("root/loop1", "loop2");
        mk_link("root/loop2", "loop1");
        rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        assert_true(rootfd >= 0);
        j = (struct journal){0};
        before = snapshot();
        return 0;
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        (void) st;
        (void) ftw;
        return type == FTW_DP ? rmdir(path) : unlink(path);
}

static int teardown(void **state) {
        (void) state;
        journal_release(&j);
        free(before);
        before = NULL;
        close(rootfd);
        rootfd = -EBADF;
        return nftw(top, rm_one, 32, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

/* ---- rootfs_mkdir_p ------------------------------------------------------------------------- */

static void test_mkdir_p_creates(void **state) {
        _cleanup_close_ int fd = -EBADF, again = -EBADF;

        (void) state;
        fd = rootfs_mkdir_p(rootfd, "/new/a/b", uid, gid, &j);
        expect_fd_is(fd, "/new/a/b");
        assert_int_equal(j.n, 3);
        expect_entry(0, JOURNAL_DIR, "/new");
        expect_entry(1, JOURNAL_DIR, "/new/a");
        expect_entry(2, JOURNAL_DIR, "/new/a/b");
        expect_made("/new", S_IFDIR);
        expect_made("/new/a", S_IFDIR);
        expect_made("/new/a/b", S_IFDIR);
        /* Existing directories are opened, not journaled. */
        again = rootfs_mkdir_p(rootfd, "/new/a/b", uid, gid, &j);
        expect_fd_is(again, "/new/a/b");
        assert_int_equal(j.n, 3);
        assert_outside_empty();
        undo_and_check();
}

/* Links and ".." that resolve inside the root are followed there, and only there. */
static void test_mkdir_p_confined(void **state) {
        _cleanup_close_ int a = -EBADF, b = -EBADF, c = -EBADF;

        (void) state;
        a = rootfs_mkdir_p(rootfd, "/up/new1", uid, gid, &j);
        expect_fd_is(a, "/new1");
        b = rootfs_mkdir_p(rootfd, "/rootlink/new2/sub", uid, gid, &j);
        expect_fd_is(b, "/new2/sub");
        c = rootfs_mkdir_p(rootfd, "/dir/../../../../new3", uid, gid, &j);
        expect_fd_is(c, "/new3");
        assert_int_equal(j.n, 4);
        expect_entry(0, JOURNAL_DIR, "/up/new1");
        expect_entry(1, JOURNAL_DIR, "/rootlink/new2");
        expect_entry(2, JOURNAL_DIR, "/rootlink/new2/sub");
        expect_entry(3, JOURNAL_DIR, "/dir/../../../../new3");
        assert_outside_empty();
        undo_and_check();
}

struct hostile {
        const char *path;
        int want; /* -errno */
        bool is_dir;
};

static void test_mkdir_p_hostile(void **state) {
        static const struct hostile cases[] = {
                {"/esc_abs", -ENOENT},     {"/esc_abs/x", -ENOENT},      {"/esc_rel/x", -ENOENT},
                {"/esc_rel/x/y", -ENOENT}, {"/esc_deep/x", -ENOENT},     {"/dangling", -ENOENT},
                {"/dangling/x", -ENOENT},  {"/dangling_rel/x", -ENOENT}, {"/passwd/x", -ENOENT},
                {"/file", -ENOTDIR},       {"/file/x", -ENOTDIR},        {"/filelink/x", -ENOTDIR},
                {"/fifo/x", -ENOTDIR},     {"/dir/inner/x", -ENOTDIR},   {"/loop1", -ELOOP},
                {"/loop1/x", -ELOOP},      {"relative", -EINVAL},        {"", -EINVAL},
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                int r = rootfs_mkdir_p(rootfd, cases[i].path, uid, gid, &j);

                if (r >= 0)
                        close(r);
                if (r != cases[i].want)
                        fail_msg("'%s': got %d, want %d", cases[i].path, r, cases[i].want);
                assert_int_equal(j.n, 0);
                assert_unchanged();
                assert_outside_empty();
        }
        assert_int_not_equal(access("/nonexistent-nctk", F_OK), 0);
}

/* ---- rootfs_target -------------------------------------------------------------------------- */

static void test_target_creates(void **state) {
        _cleanup_close_ int f = -EBADF, d = -EBADF;
        struct stat st;

        (void) state;
        f = rootfs_target(rootfd, "/t/f", false, uid, gid, &j);
        expect_fd_is(f, "/t/f");
        assert_int_equal(fcntl(f, F_GETFL) & O_PATH, O_PATH);
        d = rootfs_target(rootfd, "/t/d", true, uid, gid, &j);
        expect_fd_is(d, "/t/d");
        assert_int_equal(j.n, 3);
        expect_entry(0, JOURNAL_DIR, "/t");
        expect_entry(1, JOURNAL_FILE, "/t/f");
        expect_entry(2, JOURNAL_DIR, "/t/d");
        expect_made("/t", S_IFDIR);
        expect_made("/t/f", S_IFREG);
        expect_made("/t/d", S_IFDIR);
        assert_int_equal(fstat(f, &st), 0);
        assert_int_equal(st.st_size, 0);
        assert_outside_empty();
        undo_and_check();
}

/* Existing targets of the right kind are used as they are, through links inside the root. */
static void test_target_existing(void **state) {
        static const struct hostile cases[] = {
                {"/dir", 0, true},
                {"/file", 0, false},
                {"/filelink", 0, false},
                {"/rootlink/dir", 0, true},
                {"/up/file", 0, false},
                {"/", 0, true},
                {"/dir/../dir/inner", 0, false},
        };
        static const char *const real[] = {"/dir",  "/file", "/file",     "/dir",
                                           "/file", "/",     "/dir/inner"};

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_close_ int fd =
                        rootfs_target(rootfd, cases[i].path, cases[i].is_dir, uid, gid, &j);

                if (fd < 0)
                        fail_msg("'%s': got %d", cases[i].path, fd);
                expect_fd_is(fd, real[i]);
        }
        assert_int_equal(j.n, 0);
        assert_unchanged();
        assert_outside_empty();
}

static void test_target_hostile(void **state) {
        static const struct hostile cases[] = {
                /* the wrong kind already there */
                {"/dir", -EEXIST, false},
                {"/file", -ENOTDIR, true},
                {"/filelink", -ENOTDIR, true},
                {"/fifo", -EEXIST, false},
                {"/fifo", -ENOTDIR, true},
                {"/", -EEXIST, false},
                /* a link out of the root, or to nothing: never created through */
                {"/esc_abs", -EEXIST, true},
                {"/esc_abs", -EEXIST, false},
                {"/esc_rel", -EEXIST, true},
                {"/esc_deep", -EEXIST, false},
                {"/dangling", -EEXIST, false},
                {"/dangling", -EEXIST, true},
                {"/dangling_rel", -EEXIST, false},
                {"/passwd", -EEXIST, false},
                {"/esc_abs/x", -ENOENT, false},
                {"/esc_rel/x", -ENOENT, true},
                {"/esc_deep/x/y", -ENOENT, false},
                {"/dangling/x", -ENOENT, false},
                /* a file where a directory is expected on the way */
                {"/file/x", -ENOTDIR, false},
                {"/filelink/x", -ENOTDIR, true},
                {"/dir/inner/x", -ENOTDIR, false},
                {"/loop1", -ELOOP, false},
                {"/loop1/x", -ELOOP, true},
                {"relative", -EINVAL, false},
                {"/missing/..", -EINVAL, true},
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                int r = rootfs_target(rootfd, cases[i].path, cases[i].is_dir, uid, gid, &j);

                if (r >= 0)
                        close(r);
                if (r != cases[i].want)
                        fail_msg("'%s' (%s): got %d, want %d", cases[i].path,
                                 cases[i].is_dir ? "dir" : "file", r, cases[i].want);
                assert_int_equal(j.n, 0);
                assert_unchanged();
                assert_outside_empty();
        }
        assert_int_not_equal(access("/nonexistent-nctk", F_OK), 0);
}

/* Device nodes count as files; a block device does not. Needs root (mknod). */
static void test_target_device(void **state) {
        _cleanup_close_ int fd = -EBADF;
        char p[PATH_MAX * 2];

        (void) state;
        snprintf(p, sizeof(p), "%s/null", root);
        if (mknod(p, S_IFCHR | 0666, makedev(1, 3)) < 0) {
                print_message("# mknod: %s; this case needs root\n", strerror(errno));
                skip();
        }
        snprintf(p, sizeof(p), "%s/blk", root);
        assert_int_equal(mknod(p, S_IFBLK | 0600, makedev(7, 0)), 0);
        free(before);
        before = snapshot();
        fd = rootfs_target(rootfd, "/null", false, uid, gid, &j);
        expect_fd_is(fd, "/null");
        assert_int_equal(rootfs_target(rootfd, "/null", true, uid, gid, &j), -ENOTDIR);
        assert_int_equal(rootfs_target(rootfd, "/blk", false, uid, gid, &j), -EEXIST);
        assert_int_equal(rootfs_target(rootfd, "/blk", true, uid, gid, &j), -ENOTDIR);
        assert_int_equal(j.n, 0);
        assert_unchanged();
}

/* ---- rootfs_symlink ------------------------------------------------------------------------- */

static void expect_link(const char *rel, const char *target) {
        char p[PATH_MAX * 2], got[PATH_MAX];
        ssize_t n;

        snprintf(p, sizeof(p), "%s%s", root, rel);
        n = readlink(p, got, sizeof(got) - 1);
        assert_true(n >= 0);
        got[n] = '\0';
        assert_string_equal(got, target);
}

static void test_symlink_creates(void **state) {
        (void) state;
        assert_int_equal(rootfs_symlink(rootfd, "/s/l", "/usr/lib/libcuda.so.1", uid, gid, &j), 0);
        /* The link's own target is the container's business: stored as given. */
        assert_int_equal(rootfs_symlink(rootfd, "/s/up", "../../../../etc", uid, gid, &j), 0);
        expect_link("/s/l", "/usr/lib/libcuda.so.1");
        expect_link("/s/up", "../../../../etc");
        expect_made("/s", S_IFDIR);
        expect_made("/s/l", S_IFLNK);
        assert_int_equal(j.n, 3);
        expect_entry(0, JOURNAL_DIR, "/s");
        expect_entry(1, JOURNAL_LINK, "/s/l");
        expect_entry(2, JOURNAL_LINK, "/s/up");
        /* Already right (a restarted container): nothing to do, nothing journaled. */
        assert_int_equal(rootfs_symlink(rootfd, "/s/l", "/usr/lib/libcuda.so.1", uid, gid, &j), 0);
        assert_int_equal(j.n, 3);
        /* Through links that stay inside the root. */
        assert_int_equal(rootfs_symlink(rootfd, "/up/l2", "x", uid, gid, &j), 0);
        assert_int_equal(rootfs_symlink(rootfd, "/rootlink/dir/l3", "y", uid, gid, &j), 0);
        expect_link("/l2", "x");
        expect_link("/dir/l3", "y");
        assert_int_equal(j.n, 5);
        assert_outside_empty();
        undo_and_check();
}

/* An existing symlink is replaced, the link itself and never what it points to. */
static void test_symlink_replaces(void **state) {
        (void) state;
        assert_int_equal(rootfs_symlink(rootfd, "/esc_abs", "new", uid, gid, &j), 0);
        assert_int_equal(rootfs_symlink(rootfd, "/esc_rel", "new", uid, gid, &j), 0);
        assert_int_equal(rootfs_symlink(rootfd, "/dangling", "new", uid, gid, &j), 0);
        assert_int_equal(rootfs_symlink(rootfd, "/passwd", "new", uid, gid, &j), 0);
        expect_link("/esc_abs", "new");
        expect_link("/esc_rel", "new");
        expect_link("/dangling", "new");
        expect_link("/passwd", "new");
        expect_made("/esc_abs", S_IFLNK);
        assert_int_equal(j.n, 4);
        expect_entry(0, JOURNAL_LINK, "/esc_abs");
        expect_entry(3, JOURNAL_LINK, "/passwd");
        assert_int_equal(access(at("outside"), F_OK), 0);
        assert_int_equal(access("/etc/passwd", F_OK), 0);
        assert_outside_empty();
}

static void test_symlink_hostile(void **state) {
        static const struct hostile cases[] = {
                {"/file", -EEXIST},       {"/dir", -EEXIST},         {"/fifo", -EEXIST},
                {"/dir/inner", -EEXIST},  {"/esc_abs/l", -ENOENT},   {"/esc_rel/l", -ENOENT},
                {"/esc_deep/l", -ENOENT}, {"/dangling/l", -ENOENT},  {"/passwd/l", -ENOENT},
                {"/file/l", -ENOTDIR},    {"/filelink/l", -ENOTDIR}, {"/loop1/l", -ELOOP},
                {"/", -EINVAL},           {"/dir/..", -EINVAL},      {"/dir/.", -EINVAL},
                {"relative", -EINVAL},    {"/dir/", -EINVAL},
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                int r = rootfs_symlink(rootfd, cases[i].path, "/target", uid, gid, &j);

                if (r != cases[i].want)
                        fail_msg("'%s': got %d, want %d", cases[i].path, r, cases[i].want);
                assert_int_equal(j.n, 0);
                assert_unchanged();
                assert_outside_empty();
        }
}

/* ---- the journal ---------------------------------------------------------------------------- */

static void test_journal_add(void **state) {
        char path[16] = "/a";

        (void) state;
        assert_int_equal(journal_add(&j, JOURNAL_DIR, path), 0);
        path[1] = 'b';
        assert_int_equal(journal_add(&j, JOURNAL_FILE, path), 0);
        assert_int_equal(journal_add(&j, JOURNAL_LINK, "/a/../../l"), 0);
        assert_int_equal(journal_add(&j, JOURNAL_MOUNT, "/m"), 0);
        assert_int_equal(j.n, 4);
        expect_entry(0, JOURNAL_DIR, "/a"); /* a copy, not the caller's buffer */
        expect_entry(1, JOURNAL_FILE, "/b");
        expect_entry(2, JOURNAL_LINK, "/a/../../l");
        expect_entry(3, JOURNAL_MOUNT, "/m");
        /* Recording touches nothing; undoing entries that name nothing is harmless. */
        assert_unchanged();
        undo_and_check();
        journal_release(&j);
        assert_int_equal(j.n, 0);
        assert_null(j.e);
        journal_release(&j);
}

/* Undo runs backwards: the file and link go before their directories. */
static void test_journal_undo_order(void **state) {
        _cleanup_close_ int fd = -EBADF;

        (void) state;
        assert_int_equal(rootfs_symlink(rootfd, "/j/k/l", "/nowhere", uid, gid, &j), 0);
        fd = rootfs_target(rootfd, "/j/k/f", false, uid, gid, &j);
        assert_true(fd >= 0);
        assert_int_equal(rootfs_symlink(rootfd, "/dir/l", "inner", uid, gid, &j), 0);
        assert_int_equal(j.n, 5);
        expect_entry(0, JOURNAL_DIR, "/j");
        expect_entry(1, JOURNAL_DIR, "/j/k");
        expect_entry(2, JOURNAL_LINK, "/j/k/l");
        expect_entry(3, JOURNAL_FILE, "/j/k/f");
        expect_entry(4, JOURNAL_LINK, "/dir/l");
        undo_and_check(); /* "/dir" and "/dir/inner", which were there, stay */
}

/* The image swaps what we made for links out of the root or for the other kind of file before
 * the undo: nothing outside the root may be removed, and the swapped-in entries stay. */
static void test_journal_undo_hostile(void **state) {
        _cleanup_close_ int f = -EBADF, w = -EBADF;
        _cleanup_free_ char *swapped = NULL, *now = NULL;
        char buf[PATH_MAX * 2];

        (void) state;
        f = rootfs_target(rootfd, "/u/keep", false, uid, gid, &j);
        assert_true(f >= 0);
        assert_true(rootfs_target(rootfd, "/r/keep", false, uid, gid, &j) >= 0);
        assert_true(rootfs_target(rootfd, "/v", true, uid, gid, &j) >= 0);
        w = rootfs_target(rootfd, "/w", false, uid, gid, &j);
        assert_true(w >= 0);
        assert_int_equal(j.n, 6);
        /* /u -> the host path of victim/ (which has a "keep"), /r -> ../victim, /v a file,
         * /w a directory. */
        assert_int_equal(rename(at("root/u"), at("root/u.real")), 0);
        snprintf(buf, sizeof(buf), "%s/victim", top);
        mk_link("root/u", buf);
        assert_int_equal(rename(at("root/r"), at("root/r.real")), 0);
        mk_link("root/r", "../victim");
        assert_int_equal(rmdir(at("root/v")), 0);
        mk_file("root/v");
        assert_int_equal(unlink(at("root/w")), 0);
        mk_dir("root/w");
        swapped = snapshot();
        journal_undo(rootfd, &j);
        /* Nothing the journal names resolves to what we made any more: all stays as it is. */
        now = snapshot();
        assert_string_equal(now, swapped);
        assert_int_equal(access(at("victim/keep"), F_OK), 0);
        assert_outside_empty();
}

/* ---- mounts (root only: a private mount namespace) ------------------------------------------ */

static void need_sandbox(void) {
        if (!sandboxed) {
                print_message("# not root: no private mount namespace for the mount cases\n");
                skip();
        }
}

static bool is_mount_point(const char *path, const char *parent) {
        struct stat a, b;

        return stat(path, &a) == 0 && stat(parent, &b) == 0 && a.st_dev != b.st_dev;
}

/* A bind mount journaled after its mount point: undo unmounts it, then removes the point. */
static void test_journal_undo_mount(void **state) {
        _cleanup_close_ int fd = -EBADF;
        char proc[64], p[PATH_MAX * 2];

        (void) state;
        need_sandbox();
        mk_dir("src");
        mk_file("src/payload");
        free(before);
        before = snapshot();
        fd = rootfs_target(rootfd, "/mnt/gpu", true, uid, gid, &j);
        assert_true(fd >= 0);
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        assert_int_equal(mount(at("src"), proc, "none", MS_BIND, NULL), 0);
        assert_int_equal(journal_add(&j, JOURNAL_MOUNT, "/mnt/gpu"), 0);
        snprintf(p, sizeof(p), "%s/mnt/gpu/payload", root);
        assert_int_equal(access(p, F_OK), 0);
        close(TAKE_FD(fd));
        undo_and_check();
        assert_int_equal(access(at("src/payload"), F_OK), 0);
}

/* Mount entries whose path is now a link to a host mount point: the link itself is no mount
 * point (umount2 on the O_NOFOLLOW fd fails), so the host's mount survives. */
static void test_journal_undo_mount_hostile(void **state) {
        char buf[PATH_MAX * 2];

        (void) state;
        need_sandbox();
        mk_dir("hostmnt");
        assert_int_equal(mount("tmpfs", at("hostmnt"), "tmpfs", 0, NULL), 0);
        assert_true(is_mount_point(at("hostmnt"), top));
        snprintf(buf, sizeof(buf), "%s/hostmnt", top);
        mk_link("root/mnt_abs", buf);
        mk_link("root/mnt_rel", "../hostmnt");
        mk_link("root/mnt_deep", "../../../../../../../../../../../../../../..");
        assert_int_equal(journal_add(&j, JOURNAL_MOUNT, "/mnt_abs"), 0);
        assert_int_equal(journal_add(&j, JOURNAL_MOUNT, "/mnt_rel"), 0);
        assert_int_equal(journal_add(&j, JOURNAL_MOUNT, "/mnt_abs/sub"), 0);
        assert_int_equal(journal_add(&j, JOURNAL_MOUNT, "/up/hostmnt"), 0);
        assert_int_equal(journal_add(&j, JOURNAL_MOUNT, "/mnt_deep"), 0);
        journal_undo(rootfd, &j);
        assert_true(is_mount_point(at("hostmnt"), top));
        assert_int_equal(umount2(at("hostmnt"), 0), 0);
        assert_int_equal(rmdir(at("hostmnt")), 0);
}

/* As root: a private mount namespace with a tmpfs on /tmp (the host never sees it), and a chroot
 * into a directory there that holds /proc and the host's /tmp (both bound: valgrind keeps its
 * own files in /tmp, and removes them at exit), /etc/passwd, and /scratch for the trees.
 * mount(2) types are "none" where the kernel ignores them: valgrind 3.19 flags a NULL one. */
static void sandbox(void) {
        static const char *const dirs[] = {"/tmp/host/proc", "/tmp/host/tmp", "/tmp/host/etc",
                                           "/tmp/host/scratch"};
        _cleanup_close_ int tmpfd = -EBADF;
        char host_tmp[64];
        int fd;

        if (geteuid() != 0)
                return;
        /* /tmp is opened in the new namespace: a mount of the old one cannot be bound here. */
        if (unshare(CLONE_NEWNS) < 0 || mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0 ||
            (tmpfd = open("/tmp", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0 ||
            mount("tmpfs", "/tmp", "tmpfs", 0, "mode=0755") < 0 || mkdir("/tmp/host", 0755) < 0) {
                perror("test-rootfs: sandbox");
                exit(EXIT_FAILURE); /* as root this must work: not a skip */
        }
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++)
                if (mkdir(dirs[i], 0755) < 0)
                        exit(EXIT_FAILURE);
        snprintf(host_tmp, sizeof(host_tmp), "/proc/self/fd/%d", tmpfd);
        fd = open("/tmp/host/etc/passwd", O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
        if (fd < 0 || close(fd) < 0 ||
            mount("/proc", "/tmp/host/proc", "none", MS_BIND | MS_REC, NULL) < 0 ||
            mount(host_tmp, "/tmp/host/tmp", "none", MS_BIND, NULL) < 0 ||
            chroot("/tmp/host") < 0 || chdir("/") < 0) {
                perror("test-rootfs: sandbox");
                exit(EXIT_FAILURE);
        }
        sandboxed = true;
}

int main(void) {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        const struct CMUnitTest tests[] = {
                T(test_mkdir_p_creates),
                T(test_mkdir_p_confined),
                T(test_mkdir_p_hostile),
                T(test_target_creates),
                T(test_target_existing),
                T(test_target_hostile),
                T(test_target_device),
                T(test_symlink_creates),
                T(test_symlink_replaces),
                T(test_symlink_hostile),
                T(test_journal_add),
                T(test_journal_undo_order),
                T(test_journal_undo_hostile),
                T(test_journal_undo_mount),
                T(test_journal_undo_mount_hostile),
        };
#undef T
        /* New entries belong to UID:GID; as root, not our own ids, so that the chown shows. */
        uid = geteuid() == 0 ? 1234 : geteuid();
        gid = geteuid() == 0 ? 5678 : getegid();
        sandbox();
        return cmocka_run_group_tests(tests, NULL, NULL);
}
