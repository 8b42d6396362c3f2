/* Tests of finding a process's device cgroup (v1 or v2) from /proc/PID/cgroup and mountinfo
 * texts, and, as root on a host with the v1 devices controller, of devices.allow (elsewhere those
 * cases report a skip, with the reason). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "5-apply/cgroup.h"
#include "cgroup-agent.h"
#include "unit-tap.h"
#include "util/fileio.h"
#include "util/macros.h"

/* The GPU machine: cgroup v2 only (Ubuntu 24.04, systemd). */
static const char v2_cgroup[] = "0::/user.slice/user-0.slice/session-4.scope\n";
static const char v2_mountinfo[] =
        "22 28 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
        "26 22 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 "
        "rw,nsdelegate,memory_recursiveprot\n"
        "28 1 253:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n";

/* This CI machine: v1 hybrid, cgroup2 at /sys/fs/cgroup/unified. */
static const char hybrid_cgroup[] = "9:name=systemd:/\n"
                                    "8:pids:/\n"
                                    "7:blkio:/\n"
                                    "6:freezer:/\n"
                                    "5:devices:/docker/0123abcd\n"
                                    "4:memory:/process_api/6cf89e04259f8ff29666099468e9bf52\n"
                                    "3:cpuset:/\n"
                                    "2:cpuacct:/\n"
                                    "1:cpu:/\n"
                                    "0::/docker/0123abcd\n";
static const char hybrid_mountinfo[] =
        "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
        "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
        "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
        "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
        "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
        "36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices\n"
        "37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer\n"
        "38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio\n"
        "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
        "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
        "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

static void expect_location(const char *proc_cgroup, const char *mountinfo,
                            enum cgroup_version version, const char *path) {
        _cleanup_(cgroup_location_release) struct cgroup_location loc = {0};
        struct nctk_error *err = NULL;

        assert_int_equal(cgroup_locate(proc_cgroup, mountinfo, &loc, &err), 0);
        assert_null(err);
        assert_int_equal(loc.version, version);
        assert_string_equal(loc.path, path);
}

static void expect_no_location(const char *proc_cgroup, const char *mountinfo, const char *why) {
        struct cgroup_location loc = {0};
        struct nctk_error *err = NULL;

        assert_int_equal(cgroup_locate(proc_cgroup, mountinfo, &loc, &err), -ENOENT);
        assert_null(loc.path);
        assert_non_null(err);
        if (!strstr(err->msg, why)) {
                print_error("message '%s' lacks '%s'\n", err->msg, why);
                fail();
        }
        nctk_error_free(&err);
}

static void test_v2_only(void **state) {
        (void) state;
        expect_location(v2_cgroup, v2_mountinfo, CGROUP_V2,
                        "/sys/fs/cgroup/user.slice/user-0.slice/session-4.scope");
        expect_location("0::/\n", v2_mountinfo, CGROUP_V2, "/sys/fs/cgroup");
        /* No final newline. */
        expect_location("0::/system.slice/docker-0123.scope", v2_mountinfo, CGROUP_V2,
                        "/sys/fs/cgroup/system.slice/docker-0123.scope");
}

static void test_hybrid_uses_v1_devices(void **state) {
        (void) state;
        expect_location(hybrid_cgroup, hybrid_mountinfo, CGROUP_V1,
                        "/sys/fs/cgroup/devices/docker/0123abcd");
        expect_location("5:devices:/\n0::/\n", hybrid_mountinfo, CGROUP_V1,
                        "/sys/fs/cgroup/devices");
}

static void test_v1_shapes(void **state) {
        static const char joined[] =
                "36 31 0:33 / /sys/fs/cgroup/cpu,devices rw - cgroup cgroup rw,cpu,devices\n";
        static const char escaped[] = "36 31 0:33 / /mnt/cg\\040dev rw shared:3 master:1 - cgroup "
                                      "none rw,devices\n";
        static const char nested[] =
                "36 31 0:33 /docker/abc /sys/fs/cgroup/devices rw - cgroup cgroup rw,devices\n";

        (void) state;
        /* Controllers mounted together, on either side. */
        expect_location("4:cpu,devices:/k8s/pod1\n", joined, CGROUP_V1,
                        "/sys/fs/cgroup/cpu,devices/k8s/pod1");
        /* Escaped mount point, optional fields before the separator. */
        expect_location("5:devices:/a\n", escaped, CGROUP_V1, "/mnt/cg dev/a");
        /* A mount of a sub-tree (as inside a container). */
        expect_location("5:devices:/docker/abc/sub\n", nested, CGROUP_V1,
                        "/sys/fs/cgroup/devices/sub");
        expect_location("5:devices:/docker/abc\n", nested, CGROUP_V1, "/sys/fs/cgroup/devices");
        expect_no_location("5:devices:/docker/abcd\n", nested, "is not mounted here");
        /* "devices" must be a whole controller name. */
        expect_no_location("5:devicesx:/a\n", hybrid_mountinfo, "no devices controller");
}

static void test_not_found(void **state) {
        (void) state;
        expect_no_location("", v2_mountinfo, "no devices controller");
        expect_no_location("1:name=systemd:/\n", v2_mountinfo, "no devices controller");
        expect_no_location(v2_cgroup,
                           "36 31 0:33 / /sys/fs/cgroup/devices rw - cgroup cgroup rw,devices\n",
                           "cgroup2 hierarchy is not mounted here");
        expect_no_location("5:devices:/a\n", v2_mountinfo, "v1 devices controller");
        /* Outside our cgroup namespace. */
        expect_no_location("0::/../../other.slice\n", v2_mountinfo, "outside");
        expect_no_location("0::/a/..\n", v2_mountinfo, "outside");
        expect_no_location("0::relative\n", v2_mountinfo, "outside");
}

/* The real /proc of this process: whichever hierarchy, the path exists. */
static void test_self(void **state) {
        _cleanup_(cgroup_location_release) struct cgroup_location loc = {0};
        _cleanup_free_ char *proc_cgroup = NULL, *mountinfo = NULL;
        _cleanup_close_ int fd1 = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC);
        _cleanup_close_ int fd2 = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
        struct nctk_error *err = NULL;

        (void) state;
        assert_int_equal(read_full_fd(fd1, 1 << 20, &proc_cgroup, NULL), 0);
        assert_int_equal(read_full_fd(fd2, 1 << 26, &mountinfo, NULL), 0);
        assert_int_equal(cgroup_locate(proc_cgroup, mountinfo, &loc, &err), 0);
        print_message("# this process: cgroup v%d at %s\n", (int) loc.version, loc.path);
        assert_int_equal(access(loc.path, F_OK), 0);
}

/* ---- v1 devices.allow on a real cgroup (root) ------------------------------------------------ */

struct fixture {
        char cgroup[512], sub[560];
        struct test_nodes nodes;
        struct agent agent;
};

static void write_file(const char *dir, const char *name, const char *text) {
        char path[700];
        int fd;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        fd = open(path, O_WRONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
        close(fd);
}

static void expect_list(const char *dir, const char *want) {
        _cleanup_free_ char *got = NULL;
        char path[700];
        _cleanup_close_ int fd = -EBADF;

        snprintf(path, sizeof(path), "%s/devices.list", dir);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(read_full_fd(fd, 1 << 16, &got, NULL), 0);
        assert_string_equal(got, want);
}

static char devices_mount[256];

/* A fresh v1 devices cgroup set up as a runtime does: deny all, then allow c 1:3 rwm. */
static int fixture_setup(void **state) {
        struct fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        *state = f;
        snprintf(f->cgroup, sizeof(f->cgroup), "%s/nctk-test-XXXXXX", devices_mount);
        if (!mkdtemp(f->cgroup)) {
                print_error("cannot create %s: %s\n", f->cgroup, strerror(errno));
                f->cgroup[0] = '\0';
                return -1;
        }
        write_file(f->cgroup, "devices.deny", "a");
        write_file(f->cgroup, "devices.allow", "c 1:3 rwm");
        return test_nodes_make(&f->nodes) == 0 ? 0 : -1;
}

static int fixture_teardown(void **state) {
        struct fixture *f = *state;

        agent_stop(&f->agent);
        if (f->sub[0])
                rmdir(f->sub);
        if (f->cgroup[0] && rmdir(f->cgroup) < 0)
                print_error("cannot remove %s: %s\n", f->cgroup, strerror(errno));
        test_nodes_remove(&f->nodes);
        free(f);
        return 0;
}

static void test_v1_allow(void **state) {
        struct fixture *f = *state;
        static const struct device_rule random_rw[] = {
                {'c', 1, 8, DEVICE_ACCESS_READ | DEVICE_ACCESS_WRITE},
        };
        static const struct device_rule more[] = {
                {'a', 1, 9, DEVICE_ACCESS_READ},
                {'c', 195, -1, DEVICE_ACCESS_ALL},
        };
        struct nctk_error *err = NULL;

        assert_int_equal(agent_start(&f->agent, f->cgroup), 0);
        assert_int_equal(agent_open(&f->agent, f->nodes.random, O_RDONLY), EPERM);
        assert_int_equal(agent_open(&f->agent, f->nodes.null, O_RDWR), 0);

        assert_int_equal(cgroup_allow_devices(f->agent.pid, random_rw, 1, &err),
                         CGROUP_ALLOW_APPLIED);
        assert_null(err);
        assert_int_equal(agent_open(&f->agent, f->nodes.random, O_RDWR), 0);
        assert_int_equal(agent_open(&f->agent, f->nodes.null, O_RDWR), 0);
        assert_int_equal(agent_open(&f->agent, f->nodes.urandom, O_RDONLY), EPERM);
        assert_int_equal(agent_mknod(&f->agent, f->nodes.scratch, 1, 8), EPERM);
        expect_list(f->cgroup, "c 1:3 rwm\nc 1:8 rw\n");

        /* 'a' becomes a 'c' and a 'b' rule (v1 "a" would allow everything). */
        assert_int_equal(cgroup_allow_devices(f->agent.pid, more, ELEMENTSOF(more), &err),
                         CGROUP_ALLOW_APPLIED);
        expect_list(f->cgroup, "c 1:3 rwm\nc 1:8 rw\nc 1:9 r\nb 1:9 r\nc 195:* rwm\n");
        assert_int_equal(agent_open(&f->agent, f->nodes.urandom, O_RDONLY), 0);
        assert_int_equal(agent_open(&f->agent, f->nodes.urandom, O_WRONLY), EPERM);
}

/* A child cgroup cannot be given what its parent denies: a clear error, nothing changed. */
static void test_v1_parent_denies(void **state) {
        struct fixture *f = *state;
        static const struct device_rule random_rw[] = {
                {'c', 1, 8, DEVICE_ACCESS_READ | DEVICE_ACCESS_WRITE},
        };
        struct nctk_error *err = NULL;

        snprintf(f->sub, sizeof(f->sub), "%s/sub", f->cgroup);
        assert_int_equal(mkdir(f->sub, 0755), 0);
        assert_int_equal(agent_start(&f->agent, f->sub), 0);
        assert_int_equal(cgroup_allow_devices(f->agent.pid, random_rw, 1, &err), -EPERM);
        assert_non_null(err);
        print_message("# error: %s\n", err->msg);
        assert_non_null(strstr(err->msg, "cannot allow 'c 1:8 rw'"));
        assert_non_null(strstr(err->msg, "parent cgroup does not allow it"));
        assert_non_null(strstr(err->msg, "set no-cgroups = true under [nvidia-container-cli]"));
        nctk_error_free(&err);
        expect_list(f->sub, "c 1:3 rwm\n");
        assert_int_equal(agent_open(&f->agent, f->nodes.random, O_RDONLY), EPERM);
}

static void test_bad_rules_and_pid(void **state) {
        static const struct device_rule bad[] = {{'q', 1, 8, DEVICE_ACCESS_READ}};
        static const struct device_rule ok[] = {{'c', 1, 8, DEVICE_ACCESS_READ}};
        struct nctk_error *err = NULL;

        (void) state;
        assert_int_equal(cgroup_allow_devices(getpid(), bad, 1, &err), -EINVAL);
        assert_non_null(strstr(err->msg, "device rule 0"));
        nctk_error_free(&err);
        assert_int_equal(cgroup_allow_devices(-5, ok, 1, &err), -ENOENT);
        assert_non_null(
                strstr(err->msg, "device cgroup of process -5: cannot open /proc/-5/cgroup"));
        nctk_error_free(&err);
}

#define KERNEL_TEST(t) cmocka_unit_test_setup_teardown(t, fixture_setup, fixture_teardown)

/* Why the kernel tests cannot run here, "" when they can. */
static char kernel_skip_why[300];

/* Stands in for a kernel test that cannot run: a skip, under the test's own name. */
static void kernel_test_skipped(void **state) {
        (void) state;
        unit_skip("%s", kernel_skip_why);
}

int main(void) {
        struct CMUnitTest tests[] = {
                cmocka_unit_test(test_v2_only),   cmocka_unit_test(test_hybrid_uses_v1_devices),
                cmocka_unit_test(test_v1_shapes), cmocka_unit_test(test_not_found),
                cmocka_unit_test(test_self),      cmocka_unit_test(test_bad_rules_and_pid),
                KERNEL_TEST(test_v1_allow),       KERNEL_TEST(test_v1_parent_denies),
        };

        test_find_mount("cgroup", "devices", devices_mount, sizeof(devices_mount));
        if (geteuid() != 0)
                snprintf(kernel_skip_why, sizeof(kernel_skip_why), "devices.allow needs root");
        else if (!devices_mount[0])
                snprintf(kernel_skip_why, sizeof(kernel_skip_why),
                         "no v1 devices controller mounted (cgroup2 only: test-cgroup-ebpf "
                         "covers that)");
        for (size_t i = 0; i < ELEMENTSOF(tests) && kernel_skip_why[0]; i++)
                if (tests[i].setup_func == fixture_setup)
                        tests[i] = (struct CMUnitTest){.name = tests[i].name,
                                                       .test_func = kernel_test_skipped};
        return unit_run_group_tests(tests, NULL, NULL);
}
