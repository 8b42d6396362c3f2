/* The config.json back-end: hand-built edits applied to JSON fixtures, asserting the exact
 * mounts, devices, cgroup rules and hooks that come out, that every other field is kept, that a
 * second apply changes nothing, and that the atomic write keeps the file's mode. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "5-apply/spec.h"
#include "oci/bundle.h"
#include "unit-tap.h"
#include "util/macros.h"

#define LIBDIR "/usr/lib/x86_64-linux-gnu"
#define VER "580.159.04"
#define HOOK "/usr/bin/nctk"
#define ROOTFS "/run/bundle/rootfs"
#define MIG_ACCESS "/proc/driver/nvidia/capabilities/gpu0/mig/gi7/access"

static struct edit_mount mounts[] = {
        {"/drv" LIBDIR "/libcuda.so." VER, LIBDIR "/libcuda.so." VER,
         MOUNT_RDONLY | MOUNT_NOSUID | MOUNT_NODEV},
        {"/run/nvidia-persistenced/socket", "/run/nvidia-persistenced/socket",
         MOUNT_NOSUID | MOUNT_NODEV | MOUNT_NOEXEC},
        {"/drv/proc/driver/nvidia/capabilities/gpu0/mig/gi7/access", MIG_ACCESS,
         MOUNT_RDONLY | MOUNT_NOSUID | MOUNT_NODEV | MOUNT_NOEXEC},
};
static struct edit_node nodes[] = {
        {"/drv/dev/nvidiactl", "/dev/nvidiactl", 195, 255, 0666},
        {"/drv/dev/nvidia1", "/dev/nvidia1", 195, 1, 0666},
};
static struct edit_link links[] = {
        {LIBDIR "/libcuda.so.1", "libcuda.so." VER},
};
static struct edit_rule rules[] = {
        {'c', 195, 255, 3},
        {'c', 195, 1, 3},
};
static char *ldcache_dirs[] = {(char *) LIBDIR};
static char *proc_gpus[] = {(char *) "0000:22:00.0"};

static const struct edits edits = {
        .n_mounts = ELEMENTSOF(mounts),
        .mounts = mounts,
        .n_nodes = ELEMENTSOF(nodes),
        .nodes = nodes,
        .n_links = ELEMENTSOF(links),
        .links = links,
        .n_rules = ELEMENTSOF(rules),
        .rules = rules,
        .n_ldcache_dirs = 1,
        .ldcache_dirs = ldcache_dirs,
        .mask_proc = true,
        .n_proc_gpus = 1,
        .proc_gpus = proc_gpus,
};

static const struct spec_opts opts = {
        .hook_path = HOOK, .rootfs = ROOTFS, .proc_root = "/drv/proc"};

/* What `runc spec` writes, plus fields nctk knows nothing about, dockerd's --gpus hook and an
 * allow rule that a later deny overrides. */
static const char fixture[] =
        "{"
        "\"ociVersion\": \"1.0.2-dev\","
        "\"process\": {\"terminal\": false, \"user\": {\"uid\": 0, \"gid\": 0},"
        "  \"args\": [\"sh\"], \"env\": [\"PATH=/bin\", \"NVIDIA_VISIBLE_DEVICES=0\","
        "  \"NVIDIA_VISIBLE_DEVICES=1\"], \"cwd\": \"/\"},"
        "\"root\": {\"path\": \"rootfs\", \"readonly\": true},"
        "\"hostname\": \"runc\","
        "\"mounts\": [{\"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\"},"
        "  {\"destination\": \"/run/nvidia-persistenced/socket\", \"type\": \"bind\","
        "   \"source\": \"/elsewhere\", \"options\": [\"rbind\"]}],"
        "\"hooks\": {\"prestart\": [{\"path\": \"/usr/bin/nvidia-container-runtime-hook\","
        "  \"args\": [\"nvidia-container-runtime-hook\", \"prestart\"]}]},"
        "\"linux\": {\"namespaces\": [{\"type\": \"pid\"}, {\"type\": \"mount\"}],"
        "  \"devices\": [{\"path\": \"/dev/nvidiactl\", \"type\": \"c\", \"major\": 195, "
        "\"minor\": 255}],"
        "  \"resources\": {\"memory\": {\"limit\": 9223372036854775807},"
        "    \"devices\": [{\"allow\": true, \"type\": \"c\", \"major\": 195, \"minor\": 1, "
        "\"access\": \"rw\"},"
        "                {\"allow\": false, \"access\": \"rwm\"}]},"
        "  \"maskedPaths\": [\"/proc/kcore\"], \"x-future\": {\"a\": [1, 2.5, null, {\"b\": "
        "\"c\"}]}},"
        "\"annotations\": {\"io.kubernetes.cri.sandbox-id\": \"abc\"},"
        "\"x-vendor\": \"kept\""
        "}";

static json_t *load(const char *s) {
        json_error_t e;
        json_t *j = json_loads(s, 0, &e);

        assert_non_null(j);
        return j;
}

static json_t *path(json_t *j, const char *a, const char *b) {
        json_t *v = json_object_get(j, a);

        return b ? json_object_get(v, b) : v;
}

static void assert_json(const json_t *got, const char *want) {
        json_auto_t *w = load(want);

        if (!json_equal(got, w)) {
                char *g = json_dumps(got, JSON_COMPACT);
                fail_msg("got %s\nwant %s", g, want);
        }
}

static void fields_preserved(void **state) {
        json_auto_t *spec = load(fixture), *orig = load(fixture);
        const char *k;
        json_t *v;

        (void) state;
        assert_int_equal(spec_apply_edits(spec, &edits, &opts, NULL), 0);
        json_object_foreach(orig, k,
                            v) if (!STREQ(k, "mounts") && !STREQ(k, "linux") && !STREQ(k, "hooks"))
                assert_true(json_equal(json_object_get(spec, k), v));
        json_object_foreach(path(orig, "linux", NULL), k,
                            v) if (!STREQ(k, "devices") && !STREQ(k, "resources"))
                assert_true(json_equal(path(spec, "linux", k), v));
        assert_true(json_equal(path(path(spec, "linux", "resources"), "memory", NULL),
                               path(path(orig, "linux", "resources"), "memory", NULL)));
        /* Key order too: what we do not touch stays where it was. */
        json_auto_t *keys = json_array();
        json_object_foreach(spec, k, v) json_array_append_new(keys, json_string(k));
        assert_json(keys, "[\"ociVersion\", \"process\", \"root\", \"hostname\", \"mounts\", "
                          "\"hooks\", \"linux\", \"annotations\", \"x-vendor\"]");
}

static void mounts_devices_rules(void **state) {
        json_auto_t *spec = load(fixture);

        (void) state;
        assert_int_equal(spec_apply_edits(spec, &edits, &opts, NULL), 0);
        /* The socket's destination was there: kept as it was, not doubled; /proc goes to the hook.
         */
        assert_json(path(spec, "mounts", NULL),
                    "[{\"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\"},"
                    " {\"destination\": \"/run/nvidia-persistenced/socket\", \"type\": \"bind\","
                    "  \"source\": \"/elsewhere\", \"options\": [\"rbind\"]},"
                    " {\"destination\": \"" LIBDIR "/libcuda.so." VER "\", \"type\": \"bind\","
                    "  \"source\": \"/drv" LIBDIR "/libcuda.so." VER "\","
                    "  \"options\": [\"bind\", \"ro\", \"nosuid\", \"nodev\"]}]");
        assert_json(
                path(spec, "linux", "devices"),
                "[{\"path\": \"/dev/nvidiactl\", \"type\": \"c\", \"major\": 195, \"minor\": 255},"
                " {\"path\": \"/dev/nvidia1\", \"type\": \"c\", \"major\": 195, \"minor\": 1,"
                "  \"fileMode\": 438, \"uid\": 0, \"gid\": 0}]");
        /* 195:1 was allowed before the deny, so it counts for nothing: allowed again after it. */
        assert_json(path(path(spec, "linux", "resources"), "devices", NULL),
                    "[{\"allow\": true, \"type\": \"c\", \"major\": 195, \"minor\": 1, \"access\": "
                    "\"rw\"},"
                    " {\"allow\": false, \"access\": \"rwm\"},"
                    " {\"allow\": true, \"type\": \"c\", \"major\": 195, \"minor\": 255, "
                    "\"access\": \"rw\"},"
                    " {\"allow\": true, \"type\": \"c\", \"major\": 195, \"minor\": 1, \"access\": "
                    "\"rw\"}]");
}

static void hooks(void **state) {
        json_auto_t *spec = load(fixture);

        (void) state;
        assert_int_equal(spec_apply_edits(spec, &edits, &opts, NULL), 0);
        /* spec_apply_edits leaves the prestart hooks alone: removing NVIDIA's is the caller's. */
        assert_int_equal(json_array_size(path(spec, "hooks", "prestart")), 1);
        assert_json(path(spec, "hooks", "createContainer"),
                    "[{\"path\": \"" HOOK "\", \"args\": [\"nctk\", \"hook-finalize\","
                    "  \"--proc-mount\", \"/drv" MIG_ACCESS "::" MIG_ACCESS "\","
                    "  \"--proc-root\", \"/drv/proc\", \"--mask-proc\", \"--proc-gpu\", "
                    "\"0000:22:00.0\","
                    "  \"--link\", \"libcuda.so." VER "::" LIBDIR "/libcuda.so.1\","
                    "  \"--ldcache-dir\", \"" LIBDIR "\", \"" ROOTFS "\"],"
                    "  \"env\": [\"" SPEC_HOOK_PATH_ENV "\"]}]");
}

static void idempotent(void **state) {
        json_auto_t *spec = load(fixture), *once = NULL;

        (void) state;
        assert_int_equal(spec_apply_edits(spec, &edits, &opts, NULL), 0);
        once = json_deep_copy(spec);
        assert_int_equal(spec_apply_edits(spec, &edits, &opts, NULL), 0);
        assert_true(json_equal(spec, once));
}

static void empty_spec_and_no_cgroups(void **state) {
        json_auto_t *spec = load("{}");
        struct spec_opts o = opts;

        (void) state;
        o.no_cgroups = true;
        assert_int_equal(spec_apply_edits(spec, &edits, &o, NULL), 0);
        assert_int_equal(json_array_size(path(spec, "mounts", NULL)), 2);
        assert_int_equal(json_array_size(path(spec, "linux", "devices")), 2);
        assert_null(path(spec, "linux", "resources"));
        assert_int_equal(json_array_size(path(spec, "hooks", "createContainer")), 1);
}

static void nothing_for_the_hook(void **state) {
        json_auto_t *spec = load(fixture);
        struct edits e = edits;

        (void) state;
        assert_int_equal(spec_apply_edits(spec, &edits, &opts, NULL), 0);
        /* A later plan without links, ld cache or /proc work drops the earlier hook. */
        e.n_mounts = 1;
        e.n_links = 0;
        e.n_ldcache_dirs = 0;
        e.mask_proc = false;
        assert_int_equal(spec_apply_edits(spec, &e, &opts, NULL), 0);
        assert_int_equal(json_array_size(path(spec, "hooks", "createContainer")), 0);
}

static void wrong_types(void **state) {
        static const char *const bad[] = {
                "{\"mounts\": {}}",
                "{\"linux\": []}",
                "{\"linux\": {\"devices\": \"x\"}}",
                "{\"linux\": {\"resources\": {\"devices\": {}}}}",
                "{\"hooks\": {\"createContainer\": 1}}",
                "[]",
        };
        struct spec_opts rel = opts;

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                json_auto_t *spec = load(bad[i]);
                struct nctk_error *err = NULL;

                assert_int_equal(spec_apply_edits(spec, &edits, &opts, &err), -EINVAL);
                assert_non_null(err);
                nctk_error_free(&err);
        }
        json_auto_t *spec = load("{}");
        rel.rootfs = "rootfs";
        assert_int_equal(spec_apply_edits(spec, &edits, &rel, NULL), -EINVAL);
}

static void env_and_nvidia_hooks(void **state) {
        json_auto_t *spec = load(fixture);
        char *env[] = {(char *) "PATH=/bin", NULL};

        (void) state;
        assert_string_equal(spec_getenv(spec, "NVIDIA_VISIBLE_DEVICES"), "1");
        assert_string_equal(spec_getenv(spec, "PATH"), "/bin");
        assert_null(spec_getenv(spec, "NVIDIA"));
        assert_true(spec_has_nvidia_hook(spec));
        assert_int_equal(spec_remove_nvidia_hooks(spec), 1);
        assert_false(spec_has_nvidia_hook(spec));
        assert_int_equal(spec_add_legacy_hook(spec, "/usr/bin/nctk", env, NULL), 0);
        /* Ours is found by its args[0], whatever binary it points at. */
        assert_true(spec_has_nvidia_hook(spec));
        assert_json(path(spec, "hooks", "prestart"),
                    "[{\"path\": \"/usr/bin/nctk\", \"args\": [\"nvidia-container-runtime-hook\","
                    " \"prestart\"], \"env\": [\"PATH=/bin\"]}]");
        json_auto_t *toolkit = load("{\"path\": \"/usr/local/bin/nvidia-container-toolkit\"}");
        json_auto_t *other = load("{\"path\": \"/usr/bin/other-hook\", \"args\": [\"x\"]}");
        assert_true(spec_is_nvidia_hook(toolkit));
        assert_false(spec_is_nvidia_hook(other));
}

/* ---- the file ----------------------------------------------------------------------------------
 */

static int make_dir(char *tmpl) {
        assert_non_null(mkdtemp(tmpl));
        return open(tmpl, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

static void write_file(int dirfd, const char *name, const char *content, mode_t mode) {
        int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, content, strlen(content)), (ssize_t) strlen(content));
        assert_int_equal(fchmod(fd, mode), 0);
        close(fd);
}

static int count_entries(const char *dir) {
        DIR *d = opendir(dir);
        struct dirent *de;
        int n = 0;

        assert_non_null(d);
        while ((de = readdir(d)))
                if (!STREQ(de->d_name, ".") && !STREQ(de->d_name, ".."))
                        n++;
        closedir(d);
        return n;
}

static void atomic_write_keeps_mode(void **state) {
        char dir[] = "/tmp/nctk-test-spec-XXXXXX";
        int dirfd = make_dir(dir);
        struct bundle b, back;
        struct stat before, after;

        (void) state;
        write_file(dirfd, "config.json", fixture, 0640);
        assert_int_equal(fstatat(dirfd, "config.json", &before, 0), 0);
        assert_int_equal(bundle_open(dir, NULL, &b, NULL), 0);
        assert_int_equal(b.len, strlen(fixture));
        assert_int_equal(bundle_parse(&b, NULL), 0);
        assert_int_equal(spec_apply_edits(b.spec, &edits, &opts, NULL), 0);
        assert_int_equal(bundle_write(&b, NULL), 0);
        assert_int_equal(fstatat(dirfd, "config.json", &after, 0), 0);
        assert_int_equal(after.st_mode & 07777, 0640);
        assert_int_equal(after.st_uid, before.st_uid);
        assert_true(after.st_ino != before.st_ino); /* renamed over, not rewritten in place */
        assert_int_equal(count_entries(dir), 1);    /* no temporary file left */
        assert_int_equal(bundle_open(dir, "config.json", &back, NULL), 0);
        assert_int_equal(bundle_parse(&back, NULL), 0);
        assert_true(json_equal(back.spec, b.spec));
        bundle_release(&b);
        bundle_release(&back);
        unlinkat(dirfd, "config.json", 0);
        close(dirfd);
        rmdir(dir);
}

static void failed_write_leaves_the_file(void **state) {
        char dir[] = "/tmp/nctk-test-spec-XXXXXX";
        int dirfd = make_dir(dir);
        struct nctk_error *err = NULL;
        struct bundle b;

        (void) state;
        write_file(dirfd, "config.json", "{}", 0644);
        assert_int_equal(bundle_open(dir, NULL, &b, NULL), 0);
        assert_int_equal(bundle_parse(&b, NULL), 0);
        /* A directory where config.json goes: rename(2) refuses, the temporary file goes. */
        assert_int_equal(unlinkat(dirfd, "config.json", 0), 0);
        assert_int_equal(mkdirat(dirfd, "config.json", 0755), 0);
        assert_int_equal(bundle_write(&b, &err), -EISDIR);
        assert_non_null(err);
        nctk_error_free(&err);
        assert_int_equal(count_entries(dir), 1);
        bundle_release(&b);
        unlinkat(dirfd, "config.json", AT_REMOVEDIR);
        close(dirfd);
        rmdir(dir);
}

/* Opens DIR's config.json expecting ERRNUM and WANT in the message. */
static void open_fails(const char *dir, const char *config, int errnum, const char *want) {
        struct nctk_error *err = NULL;
        struct bundle b;

        assert_int_equal(bundle_open(dir, config, &b, &err), -errnum);
        assert_non_null(err);
        if (!strstr(err->msg, want))
                fail_msg("'%s' does not say '%s'", err->msg, want);
        nctk_error_free(&err);
        bundle_release(&b);
}

/* A link, a FIFO (it would block a reader without O_NONBLOCK), a directory, a huge file. */
static void hostile_spec_files(void **state) {
        char dir[] = "/tmp/nctk-test-spec-XXXXXX";
        int dirfd = make_dir(dir), fd;

        (void) state;
        write_file(dirfd, "real.json", "{}", 0644);
        assert_int_equal(symlinkat("real.json", dirfd, "config.json"), 0);
        open_fails(dir, NULL, ELOOP, "cannot open");
        assert_int_equal(mkfifoat(dirfd, "fifo.json", 0600), 0);
        open_fails(dir, "fifo.json", EINVAL, "is not a regular file");
        assert_int_equal(mkdirat(dirfd, "d.json", 0755), 0);
        open_fails(dir, "d.json", EINVAL, "is not a regular file");
        fd = openat(dirfd, "huge.json", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, BUNDLE_SPEC_MAX + 1), 0);
        close(fd);
        open_fails(dir, "huge.json", EFBIG, "larger than 16 MiB");
        open_fails("/nonexistent-nctk-bundle", NULL, ENOENT, "cannot open the bundle");
        unlinkat(dirfd, "config.json", 0);
        unlinkat(dirfd, "real.json", 0);
        unlinkat(dirfd, "fifo.json", 0);
        unlinkat(dirfd, "d.json", AT_REMOVEDIR);
        unlinkat(dirfd, "huge.json", 0);
        close(dirfd);
        rmdir(dir);
}

static void parse_errors(void **state) {
        struct bundle f = {.raw = (char *) "{\"a\": [1,}", .len = 10, .path = (char *) "x"};
        struct bundle arr = {.raw = (char *) "[1]", .len = 3, .path = (char *) "y"};
        struct nctk_error *err = NULL;

        (void) state;
        assert_int_equal(bundle_parse(&f, &err), -EINVAL);
        assert_non_null(strstr(err->msg, "line 1"));
        nctk_error_free(&err);
        assert_int_equal(bundle_parse(&arr, &err), -EINVAL);
        assert_non_null(strstr(err->msg, "not a JSON object"));
        nctk_error_free(&err);
        assert_null(arr.spec);
}

/* root.path: relative to the bundle, cleaned, never the host's '/'. */
static void rootfs_paths(void **state) {
        const struct {
                const char *spec, *want;
        } cases[] = {
                {"{\"root\": {\"path\": \"rootfs\"}}", "/b/rootfs"},
                {"{\"root\": {\"path\": \"/x/../y/./r/\"}}", "/y/r"},
                {"{\"root\": {\"path\": \"../..\"}}", NULL},
                {"{\"root\": {\"path\": \"\"}}", NULL},
                {"{\"root\": {}}", NULL},
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct bundle b = {.dir = (char *) "/b"};
                struct nctk_error *err = NULL;
                char *got = NULL;

                b.spec = load(cases[i].spec);
                if (cases[i].want) {
                        assert_int_equal(bundle_rootfs(&b, &got, &err), 0);
                        assert_string_equal(got, cases[i].want);
                } else {
                        assert_int_equal(bundle_rootfs(&b, &got, &err), -EINVAL);
                        assert_non_null(strstr(err->msg, "root.path"));
                }
                free(got);
                nctk_error_free(&err);
                json_decref(b.spec);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(fields_preserved),
                cmocka_unit_test(mounts_devices_rules),
                cmocka_unit_test(hooks),
                cmocka_unit_test(idempotent),
                cmocka_unit_test(empty_spec_and_no_cgroups),
                cmocka_unit_test(nothing_for_the_hook),
                cmocka_unit_test(wrong_types),
                cmocka_unit_test(env_and_nvidia_hooks),
                cmocka_unit_test(atomic_write_keeps_mode),
                cmocka_unit_test(failed_write_leaves_the_file),
                cmocka_unit_test(parse_errors),
                cmocka_unit_test(hostile_spec_files),
                cmocka_unit_test(rootfs_paths),
        };

        return unit_run_group_tests(tests, NULL, NULL);
}
