/* The NVML helper against a fake libnvidia-ml (fake-nvml-mini.so, built next to this test): the
 * answer's fields, privilege drop and driver root, every failure mode with its errno and message,
 * no helper left behind; and the parser of the helper's answer against hostile messages. */
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "1-discover/nvml-types.h"
#include "1-discover/nvml.h"
#include "unit-tap.h"
#include "util/macros.h"

#define ROOT_LIB "/usr/lib/libnvidia-ml.so.1"
#define NOBODY 65534

static char fake_path[PATH_MAX + 32];
static char droot[PATH_MAX];             /* a driver root holding the fake as ROOT_LIB */
static char droot_lib[PATH_MAX + 64];    /* the same file, as a host path */
static char droot_marker[PATH_MAX + 64]; /* the file by which the fake knows it is chrooted */

/* ---- fixtures -------------------------------------------------------------------------------- */

static void fake_locate(void) {
        const char *env = getenv("FAKE_NVML_PATH");
        char exe[PATH_MAX];
        ssize_t n;
        char *slash;

        if (env) {
                snprintf(fake_path, sizeof(fake_path), "%s", env);
                return;
        }
        n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        assert_true(n > 0);
        exe[n] = '\0';
        slash = strrchr(exe, '/');
        assert_non_null(slash);
        *slash = '\0';
        snprintf(fake_path, sizeof(fake_path), "%s/fake-nvml-mini.so", exe);
}

static void copy_file(const char *from, const char *to) {
        _cleanup_close_ int in = open(from, O_RDONLY | O_CLOEXEC);
        _cleanup_close_ int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
        char buf[65536];
        ssize_t n;

        assert_true(in >= 0);
        assert_true(out >= 0);
        while ((n = read(in, buf, sizeof(buf))) > 0)
                assert_int_equal(write(out, buf, (size_t) n), n);
        assert_int_equal(n, 0);
}

/* The helper drops to nobody when we are root: everything it reads must be world-readable, so
 * the fake is copied into a 0755 tree under /tmp rather than used from the build directory. */
static int setup(void **state) {
        char p[PATH_MAX + 64];

        (void) state;
        fake_locate();
        snprintf(droot, sizeof(droot), "/tmp/nctk-nvml-XXXXXX");
        assert_non_null(mkdtemp(droot));
        assert_int_equal(chmod(droot, 0755), 0);
        snprintf(p, sizeof(p), "%s/usr", droot);
        assert_int_equal(mkdir(p, 0755), 0);
        snprintf(p, sizeof(p), "%s/usr/lib", droot);
        assert_int_equal(mkdir(p, 0755), 0);
        snprintf(droot_lib, sizeof(droot_lib), "%s%s", droot, ROOT_LIB);
        copy_file(fake_path, droot_lib);
        snprintf(droot_marker, sizeof(droot_marker), "%s/fake-nvml-root", droot);
        assert_int_equal(close(open(droot_marker, O_CREAT | O_WRONLY | O_CLOEXEC, 0644)), 0);
        return 0;
}

static int teardown(void **state) {
        char p[PATH_MAX + 64];

        (void) state;
        unlink(droot_lib);
        unlink(droot_marker);
        snprintf(p, sizeof(p), "%s/usr/lib", droot);
        rmdir(p);
        snprintf(p, sizeof(p), "%s/usr", droot);
        rmdir(p);
        rmdir(droot);
        return 0;
}

static void assert_no_children(void) {
        errno = 0;
        assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
        assert_int_equal(errno, ECHILD);
}

struct run_opts {
        const char *mode; /* FAKE_NVML_MODE, NULL for normal */
        const char *root; /* NULL: "/" */
        const char *lib;  /* NULL: droot_lib (or ROOT_LIB inside a driver root) */
        unsigned timeout_ms;
        bool no_attach;
        uid_t uid;
};

static int run(const struct run_opts *o, struct nvml_result **res, struct nctk_error **err) {
        struct nvml_query q = {
                .driver_root = o->root,
                .lib_path = o->lib    ? o->lib
                            : o->root ? ROOT_LIB
                                      : droot_lib,
                .uid = o->uid ? o->uid : NOBODY,
                .gid = NOBODY,
                .no_attach = o->no_attach,
                .timeout_ms = o->timeout_ms,
        };
        int r;

        if (o->mode)
                assert_int_equal(setenv("FAKE_NVML_MODE", o->mode, 1), 0);
        else
                unsetenv("FAKE_NVML_MODE");
        r = nvml_query_run(&q, res, err);
        unsetenv("FAKE_NVML_MODE");
        assert_no_children();
        return r;
}

/* Runs a query that must fail with ERRNUM and a message containing WANT; *ret stays untouched. */
static void run_fails(const struct run_opts *o, int errnum, const char *want) {
        struct nvml_result *res = NULL;
        struct nctk_error *err = NULL;
        int r = run(o, &res, &err);

        assert_int_equal(r, -errnum);
        assert_null(res);
        assert_non_null(err);
        assert_int_equal(err->errnum, errnum);
        if (!strstr(err->msg, want))
                fail_msg("message '%s' lacks '%s'", err->msg, want);
        nctk_error_free(&err);
}

/* ---- the helper against the fake ------------------------------------------------------------- */

static void test_fields(void **state) {
        _cleanup_(nvml_result_freep) struct nvml_result *res = NULL;
        struct nctk_error *err = NULL;
        const struct nctk_gpu *g;

        (void) state;
        assert_int_equal(run(&(struct run_opts){0}, &res, &err), 0);
        assert_null(err);
        assert_string_equal(res->driver_version, "580.159.04");
        assert_int_equal(res->cuda_version, 13000); /* from the _v2 call */
        assert_int_equal(res->n_gpus, 2);

        g = &res->gpus[0];
        assert_int_equal(g->index, 0);
        assert_int_equal(g->minor, 3);
        assert_string_equal(g->uuid, "GPU-4f1c7a52-0b6e-4d57-9a3e-1f2b3c4d5e6f");
        assert_string_equal(g->busid, "00000000:1B:00.0");
        assert_string_equal(g->model, "NVIDIA H200");
        assert_string_equal(g->brand, "Nvidia");
        assert_string_equal(g->arch_name, "Hopper");
        assert_int_equal(g->cc_major, 9);
        assert_int_equal(g->cc_minor, 0);
        assert_true(g->mig_capable);
        assert_true(g->mig_enabled);
        assert_int_equal(g->n_migs, 2);
        assert_int_equal(g->migs[0].index, 0);
        assert_int_equal(g->migs[0].gi, 2);
        assert_int_equal(g->migs[0].ci, 0);
        assert_string_equal(g->migs[0].uuid, "MIG-11111111-2222-4333-8444-555555555555");
        assert_int_equal(g->migs[1].index, 3);
        assert_int_equal(g->migs[1].gi, 9);
        assert_int_equal(g->migs[1].ci, 1);
        assert_string_equal(g->migs[1].uuid, "MIG-66666666-7777-4888-9999-aaaaaaaaaaaa");
        for (size_t i = 0; i < g->n_migs; i++) {
                assert_string_equal(g->migs[i].gi_caps, "");
                assert_string_equal(g->migs[i].ci_caps, "");
                assert_int_equal(g->migs[i].gi_caps_minor, -1);
                assert_int_equal(g->migs[i].ci_caps_minor, -1);
        }

        g = &res->gpus[1];
        assert_int_equal(g->index, 1);
        assert_int_equal(g->minor, 0);
        assert_string_equal(g->uuid, "GPU-9a8b7c6d-5e4f-4321-8765-0fedcba98765");
        assert_string_equal(g->busid, "00000000:B3:00.0");
        assert_string_equal(g->model, "NVIDIA A100-SXM4-80GB");
        assert_string_equal(g->brand, "Tesla");
        assert_string_equal(g->arch_name, "Ampere");
        assert_int_equal(g->cc_major, 8);
        assert_true(g->mig_capable);
        assert_false(g->mig_enabled);
        assert_int_equal(g->n_migs, 0); /* and the fake aborts if its MIG slots are walked */
        assert_null(g->migs);
}

static void whoami_expected(char *want, size_t size, bool chrooted) {
        /* Root drops to nobody without groups; either way only 0-2 (/dev/null) and the socket
         * are open, and no_new_privs is set. */
        if (geteuid() == 0)
                snprintf(want, size, "uid=%d gid=%d groups=0 nnp=1 fds=4 chroot=%d", NOBODY, NOBODY,
                         chrooted);
        else
                snprintf(want, size, "uid=%u gid=%u groups=%d nnp=1 fds=4 chroot=0",
                         (unsigned) getuid(), (unsigned) getgid(), getgroups(0, NULL));
}

static void assert_whoami(const struct run_opts *o, bool chrooted) {
        _cleanup_(nvml_result_freep) struct nvml_result *res = NULL;
        struct nctk_error *err = NULL;
        char want[128];

        if (run(o, &res, &err) < 0)
                fail_msg("%s", err->msg);
        whoami_expected(want, sizeof(want), chrooted);
        assert_string_equal(res->gpus[0].model, want);
}

static void test_credentials(void **state) {
        int fd = open("/dev/null", O_RDONLY); /* without O_CLOEXEC: must not reach the helper */

        (void) state;
        assert_true(fd >= 0);
        assert_whoami(&(struct run_opts){.mode = "whoami"}, false);
        close(fd);
}

/* As root the helper chroot()s into the driver root; otherwise it names the library through it. */
static void test_driver_root(void **state) {
        (void) state;
        assert_whoami(&(struct run_opts){.mode = "whoami", .root = droot}, true);
}

/* With 0-2 closed the socketpair takes them: the helper must move its end out of the way before
 * it puts /dev/null there. Nothing may be asserted (printed) until stdio is back. */
static void test_stdio_closed(void **state) {
        _cleanup_(nvml_result_freep) struct nvml_result *res = NULL;
        struct nvml_query q = {
                .driver_root = "/",
                .lib_path = droot_lib,
                .uid = NOBODY,
                .gid = NOBODY,
        };
        struct nctk_error *err = NULL;
        int saved[3], r;
        char want[128];

        (void) state;
        for (int fd = 0; fd < 3; fd++) {
                saved[fd] = fcntl(fd, F_DUPFD_CLOEXEC, 10);
                assert_true(saved[fd] >= 0);
        }
        fflush(stdout);
        fflush(stderr);
        assert_int_equal(setenv("FAKE_NVML_MODE", "whoami", 1), 0);
        for (int fd = 0; fd < 3; fd++)
                close(fd);
        r = nvml_query_run(&q, &res, &err);
        for (int fd = 0; fd < 3; fd++) {
                dup2(saved[fd], fd);
                close(saved[fd]);
        }
        unsetenv("FAKE_NVML_MODE");
        assert_no_children();
        if (r < 0)
                fail_msg("%s", err->msg);
        whoami_expected(want, sizeof(want), false);
        assert_string_equal(res->gpus[0].model, want);
}

static void test_no_attach(void **state) {
        _cleanup_(nvml_result_freep) struct nvml_result *res = NULL;
        struct nctk_error *err = NULL;

        (void) state;
        assert_int_equal(
                run(&(struct run_opts){.mode = "initflags", .no_attach = true}, &res, &err), 0);
        assert_int_equal(res->n_gpus, 2);
        run_fails(&(struct run_opts){.mode = "initflags"}, EIO, "NVML: nvmlInit: Unknown Error");
}

static void test_lost(void **state) {
        (void) state;
        run_fails(&(struct run_opts){.mode = "lost"}, ENODEV,
                  "NVML: GPU at index 1 is lost (nvmlDeviceGetHandleByIndex_v2: GPU is lost)");
}

static void test_mismatch(void **state) {
        (void) state;
        run_fails(&(struct run_opts){.mode = "mismatch"}, EPROTO,
                  "NVML: driver/library version mismatch (nvmlInit: Driver/library version "
                  "mismatch): the loaded kernel module and the user-space driver differ; reboot "
                  "or reinstall the driver");
}

static void test_not_loaded(void **state) {
        (void) state;
        run_fails(&(struct run_opts){.mode = "notloaded"}, ENXIO,
                  "NVML: the NVIDIA kernel driver is not loaded (nvmlInit: Driver Not Loaded): "
                  "load it with 'modprobe nvidia', or set load-kmods = true in config.toml "
                  "(--load-kmods)");
}

static void test_no_permission(void **state) {
        (void) state;
        run_fails(&(struct run_opts){.mode = "noperm"}, EACCES, "NVML: permission denied");
}

static void test_crash(void **state) {
        (void) state;
        run_fails(&(struct run_opts){.mode = "crash"}, EPIPE,
                  "NVML helper died before answering (killed by SIGABRT");
}

static void test_hang(void **state) {
        struct timespec a, b;
        long ms;

        (void) state;
        clock_gettime(CLOCK_MONOTONIC, &a);
        run_fails(&(struct run_opts){.mode = "hang", .timeout_ms = 300}, ETIMEDOUT,
                  "NVML did not answer within 300 ms (killed its helper): is the driver or a GPU "
                  "hung? Without persistence mode each start sets up every GPU: enable it "
                  "(nvidia-persistenced, or nvidia-smi -pm 1)");
        clock_gettime(CLOCK_MONOTONIC, &b);
        ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
        assert_true(ms >= 300);
        assert_true(ms < 5000);
}

static void test_garbage(void **state) {
        (void) state;
        run_fails(&(struct run_opts){.mode = "garbage"}, EBADMSG,
                  "bad answer from the NVML helper: magic 0x47474747");
}

static void test_missing_library(void **state) {
        (void) state;
        run_fails(&(struct run_opts){.lib = "/nonexistent/libnvidia-ml.so.1"}, ENOENT,
                  "cannot load NVML '/nonexistent/libnvidia-ml.so.1': ");
        /* Inside a driver root: as root the helper's chroot sees no library; otherwise the
         * joined path is missing. */
        run_fails(&(struct run_opts){.root = droot, .lib = "/usr/lib/libnvidia-ml.so.580"}, ENOENT,
                  "libnvidia-ml.so.580': ");
}

static void test_missing_root(void **state) {
        (void) state;
        run_fails(&(struct run_opts){.root = "/nonexistent-nctk-root"}, ENOENT,
                  geteuid() == 0 ? "cannot enter driver root '/nonexistent-nctk-root'"
                                 : "cannot load NVML '/nonexistent-nctk-root" ROOT_LIB "'");
}

static void test_bad_query(void **state) {
        (void) state;
        run_fails(&(struct run_opts){.lib = "libnvidia-ml.so.1"}, EINVAL, "is not absolute");
        if (geteuid() == 0)
                run_fails(&(struct run_opts){.uid = (uid_t) -1}, EINVAL, "no user set");
}

/* ---- the parser against hostile answers ------------------------------------------------------ */

struct msg {
        char buf[16384];
        size_t len;
};

static void msg_add(struct msg *m, const void *p, size_t size) {
        assert_true(m->len + size <= sizeof(m->buf));
        memcpy(m->buf + m->len, p, size);
        m->len += size;
}

static struct nvml_wire_header header(uint32_t n_gpus) {
        return (struct nvml_wire_header){.magic = NVML_WIRE_MAGIC,
                                         .version = NVML_WIRE_VERSION,
                                         .err_index = UINT32_MAX,
                                         .n_gpus = n_gpus};
}

/* Parses M, expecting ERRNUM and WANT in the message. */
static void parse_fails(const struct msg *m, int errnum, const char *want) {
        struct nvml_result *res = NULL;
        struct nctk_error *err = NULL;

        assert_int_equal(nvml_result_parse(m->buf, m->len, &res, &err), -errnum);
        assert_null(res);
        assert_non_null(err);
        if (!strstr(err->msg, want))
                fail_msg("message '%s' lacks '%s'", err->msg, want);
        nctk_error_free(&err);
}

static void test_parse_good(void **state) {
        _cleanup_(nvml_result_freep) struct nvml_result *res = NULL;
        struct nvml_wire_header h = header(2);
        struct nvml_wire_gpu g0 = {.index = 0,
                                   .minor = 7,
                                   .brand = NVML_BRAND_GEFORCE_RTX,
                                   .arch = 99,
                                   .cc_major = 8,
                                   .cc_minor = 9,
                                   .mig_capable = 1,
                                   .mig_enabled = 1,
                                   .n_migs = 1};
        struct nvml_wire_gpu g1 = {.index = 1,
                                   .brand = 200,
                                   .arch = NVML_ARCH_BLACKWELL,
                                   .mig_capable = 0,
                                   .mig_enabled = 1};
        struct nvml_wire_mig m0 = {.index = 5, .gi = 1, .ci = 2};
        struct nctk_error *err = NULL;
        static struct msg m;

        (void) state;
        h.cuda_version = -5;
        memset(h.driver_version, '9', sizeof(h.driver_version)); /* no NUL at all */
        memset(g0.name, 'x', sizeof(g0.name));
        memcpy(g0.name, "Bad\n\033[2Jname", 12);
        memcpy(g0.uuid, "GPU-x", 5);
        memset(m0.uuid, 'M', sizeof(m0.uuid));
        msg_add(&m, &h, sizeof(h));
        msg_add(&m, &g0, sizeof(g0));
        msg_add(&m, &m0, sizeof(m0));
        msg_add(&m, &g1, sizeof(g1));
        assert_int_equal(nvml_result_parse(m.buf, m.len, &res, &err), 0);
        assert_int_equal(strlen(res->driver_version), NCTK_VERSION_MAX - 1);
        assert_int_equal(res->cuda_version, 0);
        assert_int_equal(res->n_gpus, 2);
        assert_string_equal(res->gpus[0].brand, "GeForceRTX");
        assert_string_equal(res->gpus[0].arch_name, "");
        assert_int_equal(res->gpus[0].minor, 7);
        assert_int_equal(strlen(res->gpus[0].model), NCTK_NAME_MAX - 1);
        assert_memory_equal(res->gpus[0].model, "Bad??[2Jnamexx", 14);
        assert_string_equal(res->gpus[0].uuid, "GPU-x");
        assert_int_equal(res->gpus[0].n_migs, 1);
        assert_int_equal(res->gpus[0].migs[0].index, 5);
        assert_int_equal(strlen(res->gpus[0].migs[0].uuid), NCTK_UUID_MAX - 1);
        assert_string_equal(res->gpus[1].brand, "Unknown");
        assert_string_equal(res->gpus[1].arch_name, "Blackwell");
        assert_false(res->gpus[1].mig_enabled); /* not without mig_capable */
}

static void test_parse_hostile(void **state) {
        struct nvml_wire_header h = header(0);
        struct nvml_wire_gpu g = {.mig_capable = 1, .mig_enabled = 1};
        struct nvml_wire_mig mig = {0};
        static struct msg m;

        (void) state;
        m.len = 0;
        parse_fails(&m, EPIPE, "ends early");
        msg_add(&m, &h, 3);
        parse_fails(&m, EPIPE, "ends early");

        m.len = 0;
        h.magic = 0x12345678;
        msg_add(&m, &h, sizeof(h));
        parse_fails(&m, EBADMSG, "magic 0x12345678");
        h = header(0);
        h.version = 2;
        m.len = 0;
        msg_add(&m, &h, 6); /* the version is judged as soon as it arrives */
        parse_fails(&m, EBADMSG, "version 2, expected 1");

        h = header(NVML_WIRE_MAX_GPUS + 1);
        m.len = 0;
        msg_add(&m, &h, sizeof(h));
        parse_fails(&m, EBADMSG, "1025 GPUs (at most 1024)");

        h = header(1);
        m.len = 0;
        msg_add(&m, &h, sizeof(h));
        parse_fails(&m, EPIPE, "ends early");
        g.n_migs = NVML_WIRE_MAX_MIGS + 1;
        msg_add(&m, &g, sizeof(g));
        parse_fails(&m, EBADMSG, "65 MIG devices on GPU 0");

        m.len = sizeof(h);
        g.n_migs = 2; /* but only one follows: the first must not leak */
        msg_add(&m, &g, sizeof(g));
        msg_add(&m, &mig, sizeof(mig));
        parse_fails(&m, EPIPE, "ends early");
        msg_add(&m, &mig, sizeof(mig));
        msg_add(&m, "x", 1);
        parse_fails(&m, EBADMSG, "1 bytes too many");

        m.len = sizeof(h);
        g.n_migs = 1;
        g.mig_enabled = 0;
        msg_add(&m, &g, sizeof(g));
        msg_add(&m, &mig, sizeof(mig));
        parse_fails(&m, EBADMSG, "1 MIG devices on GPU 0");
}

static void test_parse_errors(void **state) {
        struct nvml_wire_header h = header(0);
        static struct msg m;

        (void) state;
        h.status = NVML_WIRE_ERRNO;
        h.errnum = ENOENT;
        snprintf(h.msg, sizeof(h.msg), "cannot load NVML 'x': gone");
        m.len = 0;
        msg_add(&m, &h, sizeof(h));
        parse_fails(&m, ENOENT, "cannot load NVML 'x': gone");

        h.errnum = 99999;
        memset(h.msg, 'e', sizeof(h.msg));
        m.len = 0;
        msg_add(&m, &h, sizeof(h));
        parse_fails(&m, EIO, "eeee");
        h.errnum = 0;
        m.len = 0;
        msg_add(&m, &h, sizeof(h));
        parse_fails(&m, EIO, "eeee");

        h = header(0);
        h.status = NVML_WIRE_NVML;
        h.nvml_rc = NVML_E_GPU_IS_LOST;
        snprintf(h.msg, sizeof(h.msg), "nvmlDeviceGetCount_v2: GPU is lost");
        m.len = 0;
        msg_add(&m, &h, sizeof(h));
        parse_fails(&m, ENODEV, "NVML: a GPU is lost (nvmlDeviceGetCount_v2: GPU is lost)");
        h.nvml_rc = NVML_E_UNKNOWN;
        m.len = 0;
        msg_add(&m, &h, sizeof(h));
        parse_fails(&m, EIO, "NVML: nvmlDeviceGetCount_v2: GPU is lost");

        h.status = 7;
        m.len = 0;
        msg_add(&m, &h, sizeof(h));
        parse_fails(&m, EBADMSG, "status 7");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_fields),
                cmocka_unit_test(test_credentials),
                cmocka_unit_test(test_driver_root),
                cmocka_unit_test(test_stdio_closed),
                cmocka_unit_test(test_no_attach),
                cmocka_unit_test(test_lost),
                cmocka_unit_test(test_mismatch),
                cmocka_unit_test(test_not_loaded),
                cmocka_unit_test(test_no_permission),
                cmocka_unit_test(test_crash),
                cmocka_unit_test(test_hang),
                cmocka_unit_test(test_garbage),
                cmocka_unit_test(test_missing_library),
                cmocka_unit_test(test_missing_root),
                cmocka_unit_test(test_bad_query),
                cmocka_unit_test(test_parse_good),
                cmocka_unit_test(test_parse_hostile),
                cmocka_unit_test(test_parse_errors),
        };

        return unit_run_group_tests(tests, setup, teardown);
}
