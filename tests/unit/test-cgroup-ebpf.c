/* Tests of cgroup v2 device access: the generated eBPF programs, compared instruction by
 * instruction with hand-written ones; the check of dumped programs; and, as root, the swap on a
 * real cgroup2 directory with a process inside that opens device nodes. */
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "5-apply/cgroup.h"
#include "cgroup-agent.h"
#include "unit-tap.h"
#include "util/fileio.h"
#include "util/macros.h"

/* code, dst, src, off, imm: written out as bpftool would show them. */
#define I(c, d, s, o, i)                                                                           \
        { .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) }

#define PROLOGUE                                                                                   \
        I(0x61, 2, 1, 0, 0),              /* r2 = *(u32 *)(r1 + 0)  access_type */                 \
                I(0xbc, 3, 2, 0, 0),      /* w3 = w2 */                                            \
                I(0x54, 2, 0, 0, 0xffff), /* w2 &= 0xffff           device type */                 \
                I(0x74, 3, 0, 0, 16),     /* w3 >>= 16              access bits */                 \
                I(0x61, 4, 1, 4, 0),      /* r4 = *(u32 *)(r1 + 4)  major */                       \
                I(0x61, 5, 1, 8, 0)       /* r5 = *(u32 *)(r1 + 8)  minor */

/* What a runtime might attach: allow c 1:3 and c 1:5 (any access), deny the rest. Shaped unlike
 * our own rules (shared allow/deny blocks, jumps across rules) to test the relocation. */
static const struct bpf_insn runc_like[] = {
        I(0x61, 2, 1, 0, 0),      /*  0: r2 = *(u32 *)(r1 + 0) */
        I(0x54, 2, 0, 0, 0xffff), /*  1: w2 &= 0xffff */
        I(0x61, 3, 1, 0, 0),      /*  2: r3 = *(u32 *)(r1 + 0) */
        I(0x74, 3, 0, 0, 16),     /*  3: w3 >>= 16 */
        I(0x61, 4, 1, 4, 0),      /*  4: r4 = *(u32 *)(r1 + 4) */
        I(0x61, 5, 1, 8, 0),      /*  5: r5 = *(u32 *)(r1 + 8) */
        I(0x55, 2, 0, 3, 2),      /*  6: if r2 != 2 goto 10 (not char) */
        I(0x55, 4, 0, 2, 1),      /*  7: if r4 != 1 goto 10 */
        I(0x15, 5, 0, 3, 3),      /*  8: if r5 == 3 goto 12 */
        I(0x15, 5, 0, 2, 5),      /*  9: if r5 == 5 goto 12 */
        I(0xb4, 0, 0, 0, 0),      /* 10: w0 = 0 */
        I(0x95, 0, 0, 0, 0),      /* 11: exit */
        I(0xb4, 0, 0, 0, 1),      /* 12: w0 = 1 */
        I(0x95, 0, 0, 0, 0),      /* 13: exit */
};

static void assert_insns_equal(const struct bpf_insn *got, size_t n_got,
                               const struct bpf_insn *want, size_t n_want) {
        for (size_t i = 0; i < n_got && i < n_want; i++) {
                if (memcmp(&got[i], &want[i], sizeof(want[i])) == 0)
                        continue;
                print_error("insn %zu: got {0x%02x, %u, %u, %d, %d}, "
                            "want {0x%02x, %u, %u, %d, %d}\n",
                            i, got[i].code, got[i].dst_reg, got[i].src_reg, got[i].off, got[i].imm,
                            want[i].code, want[i].dst_reg, want[i].src_reg, want[i].off,
                            want[i].imm);
                fail();
        }
        assert_int_equal(n_got, n_want);
}

static void check_program(const struct device_rule *rules, size_t n, const struct bpf_insn *tail,
                          size_t n_tail, const struct bpf_insn *want, size_t n_want) {
        _cleanup_free_ struct bpf_insn *prog = NULL;
        size_t n_prog = 0;

        assert_int_equal(ebpf_device_program(rules, n, tail, n_tail, &prog, &n_prog), 0);
        assert_insns_equal(prog, n_prog, want, n_want);
}

static void test_one_rule(void **state) {
        static const struct device_rule rules[] = {
                {'c', 195, 0, DEVICE_ACCESS_READ | DEVICE_ACCESS_WRITE},
        };
        static const struct bpf_insn want[] = {
                PROLOGUE,
                I(0x55, 2, 0, 5, 2),      /* if r2 != 2 (char) goto +5 */
                I(0x45, 3, 0, 4, 0xfff9), /* if r3 & ~(read|write) goto +4 */
                I(0x55, 4, 0, 3, 195),    /* if r4 != 195 goto +3 */
                I(0x55, 5, 0, 2, 0),      /* if r5 != 0 goto +2 */
                I(0xb7, 0, 0, 0, 1),      /* r0 = 1 */
                I(0x95, 0, 0, 0, 0),      /* exit */
                I(0xb7, 0, 0, 0, 0),      /* r0 = 0 */
                I(0x95, 0, 0, 0, 0),      /* exit */
        };

        (void) state;
        check_program(rules, ELEMENTSOF(rules), NULL, 0, want, ELEMENTSOF(want));
}

static void test_wildcards_and_types(void **state) {
        static const struct device_rule rules[] = {
                {'c', 195, -1, DEVICE_ACCESS_ALL},
                {'a', 1, 3, DEVICE_ACCESS_READ},
                {'b', -1, -1, DEVICE_ACCESS_MKNOD},
        };
        static const struct bpf_insn want[] = {
                PROLOGUE,
                /* c 195:* rwm */
                I(0x55, 2, 0, 3, 2),
                I(0x55, 4, 0, 2, 195),
                I(0xb7, 0, 0, 0, 1),
                I(0x95, 0, 0, 0, 0),
                /* a 1:3 r */
                I(0x45, 3, 0, 4, 0xfffd),
                I(0x55, 4, 0, 3, 1),
                I(0x55, 5, 0, 2, 3),
                I(0xb7, 0, 0, 0, 1),
                I(0x95, 0, 0, 0, 0),
                /* b *:* m */
                I(0x55, 2, 0, 3, 1),
                I(0x45, 3, 0, 2, 0xfffe),
                I(0xb7, 0, 0, 0, 1),
                I(0x95, 0, 0, 0, 0),
                /* deny */
                I(0xb7, 0, 0, 0, 0),
                I(0x95, 0, 0, 0, 0),
        };

        (void) state;
        check_program(rules, ELEMENTSOF(rules), NULL, 0, want, ELEMENTSOF(want));
}

static void test_tail_appended_whole(void **state) {
        static const struct device_rule rules[] = {
                {'c', 1, 8, DEVICE_ACCESS_READ | DEVICE_ACCESS_WRITE},
        };
        static const struct bpf_insn want[] = {
                PROLOGUE,
                I(0x55, 2, 0, 5, 2),
                I(0x45, 3, 0, 4, 0xfff9),
                I(0x55, 4, 0, 3, 1),
                I(0x55, 5, 0, 2, 8),
                I(0xb7, 0, 0, 0, 1),
                I(0x95, 0, 0, 0, 0),
                /* the old program, unchanged */
                I(0x61, 2, 1, 0, 0),
                I(0x54, 2, 0, 0, 0xffff),
                I(0x61, 3, 1, 0, 0),
                I(0x74, 3, 0, 0, 16),
                I(0x61, 4, 1, 4, 0),
                I(0x61, 5, 1, 8, 0),
                I(0x55, 2, 0, 3, 2),
                I(0x55, 4, 0, 2, 1),
                I(0x15, 5, 0, 3, 3),
                I(0x15, 5, 0, 2, 5),
                I(0xb4, 0, 0, 0, 0),
                I(0x95, 0, 0, 0, 0),
                I(0xb4, 0, 0, 0, 1),
                I(0x95, 0, 0, 0, 0),
        };

        (void) state;
        check_program(rules, ELEMENTSOF(rules), runc_like, ELEMENTSOF(runc_like), want,
                      ELEMENTSOF(want));
}

static void test_match_all_ends_program(void **state) {
        static const struct device_rule rules[] = {
                {'c', 1, 8, DEVICE_ACCESS_READ},
                {'a', -1, -1, DEVICE_ACCESS_ALL},
                {'c', 1, 9, DEVICE_ACCESS_READ},
        };
        static const struct bpf_insn want[] = {
                PROLOGUE,
                I(0x55, 2, 0, 5, 2),
                I(0x45, 3, 0, 4, 0xfffd),
                I(0x55, 4, 0, 3, 1),
                I(0x55, 5, 0, 2, 8),
                I(0xb7, 0, 0, 0, 1),
                I(0x95, 0, 0, 0, 0),
                /* a *:* rwm: nothing after it could run */
                I(0xb7, 0, 0, 0, 1),
                I(0x95, 0, 0, 0, 0),
        };

        (void) state;
        check_program(rules, ELEMENTSOF(rules), runc_like, ELEMENTSOF(runc_like), want,
                      ELEMENTSOF(want));
}

static void test_no_rules_denies(void **state) {
        static const struct bpf_insn want[] = {
                PROLOGUE,
                I(0xb7, 0, 0, 0, 0),
                I(0x95, 0, 0, 0, 0),
        };

        (void) state;
        check_program(NULL, 0, NULL, 0, want, ELEMENTSOF(want));
}

static void test_bad_rules(void **state) {
        static const struct device_rule bad[] = {
                {'x', 1, 3, DEVICE_ACCESS_READ},
                {'c', -2, 3, DEVICE_ACCESS_READ},
                {'c', 1, -7, DEVICE_ACCESS_READ},
                {'c', 1, 3, 0},
                {'c', 1, 3, 8},
        };
        struct bpf_insn *prog = NULL;
        struct nctk_error *err = NULL;
        size_t n_prog = 0;

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                assert_int_equal(ebpf_device_program(&bad[i], 1, NULL, 0, &prog, &n_prog), -EINVAL);
                assert_null(prog);
                assert_int_equal(device_rules_check(&bad[i], 1, &err), -EINVAL);
                assert_non_null(err);
                assert_non_null(strstr(err->msg, "device rule 0"));
                nctk_error_free(&err);
        }
        assert_int_equal(ebpf_device_program(bad, SIZE_MAX / 2, NULL, 0, &prog, &n_prog), -E2BIG);
}

static void expect_tail_refused(struct bpf_insn *insns, size_t n, const char *why) {
        struct nctk_error *err = NULL;

        assert_int_equal(ebpf_tail_check(insns, n, &err), -EOPNOTSUPP);
        assert_non_null(err);
        if (!strstr(err->msg, why)) {
                print_error("message '%s' lacks '%s'\n", err->msg, why);
                fail();
        }
        nctk_error_free(&err);
}

static void test_tail_check(void **state) {
        struct bpf_insn ok[ELEMENTSOF(runc_like)];
        struct bpf_insn call[] = {I(0x85, 0, 0, 0, 15), I(0xb7, 0, 0, 0, 1), I(0x95, 0, 0, 0, 0)};
        struct bpf_insn map[] = {I(0x18, 1, 1, 0, 3), I(0, 0, 0, 0, 0), I(0xb7, 0, 0, 0, 1),
                                 I(0x95, 0, 0, 0, 0)};
        struct bpf_insn imm64[] = {I(0x18, 0, 0, 0, 1), I(0, 0, 0, 0, 0), I(0x95, 0, 0, 0, 0)};
        struct bpf_insn zext[] = {I(0xb4, 0, 0, 0, 1), I(0xbc, 0, 0, 0, 1), I(0x95, 0, 0, 0, 0)};
        struct bpf_insn blinded[] = {I(0xb7, 11, 0, 0, 1), I(0x95, 0, 0, 0, 0)};
        struct bpf_insn out[] = {I(0x05, 0, 0, 1, 0), I(0x95, 0, 0, 0, 0)};
        struct bpf_insn back[] = {I(0x05, 0, 0, -2, 0), I(0x95, 0, 0, 0, 0)};
        struct bpf_insn atomic[] = {I(0xdb, 10, 1, -8, 0), I(0x95, 0, 0, 0, 0)};

        (void) state;
        memcpy(ok, runc_like, sizeof(ok));
        assert_int_equal(ebpf_tail_check(ok, ELEMENTSOF(ok), NULL), 0);
        assert_memory_equal(ok, runc_like, sizeof(ok));
        assert_int_equal(ebpf_tail_check(imm64, ELEMENTSOF(imm64), NULL), 0);
        assert_int_equal(ebpf_tail_check(zext, ELEMENTSOF(zext), NULL), 0);
        assert_int_equal(zext[1].imm, 0); /* the verifier's zero-extension, made plain */
        expect_tail_refused(call, ELEMENTSOF(call), "helper or function call");
        expect_tail_refused(map, ELEMENTSOF(map), "map reference");
        expect_tail_refused(blinded, ELEMENTSOF(blinded), "kernel-internal register");
        expect_tail_refused(out, ELEMENTSOF(out), "jump out of the program");
        expect_tail_refused(back, ELEMENTSOF(back), "jump out of the program");
        expect_tail_refused(atomic, ELEMENTSOF(atomic), "atomic");
        expect_tail_refused(NULL, 0, "empty");
}

/* ---- on a real cgroup2 directory (root) ------------------------------------------------------ */

struct fixture {
        char cgroup[512], sub[560];
        int cgroup_fd;
        struct test_nodes nodes;
        struct agent agent;
        char fake_cgroup[64]; /* test_allow_devices_by_pid on a hybrid host: the file shown */
        char proc_cgroup[64]; /* ... bind-mounted over this /proc/PID/cgroup */
};

static int sys_bpf(int cmd, union bpf_attr *attr) {
        long r = syscall(__NR_bpf, cmd, attr, sizeof(*attr));

        return r < 0 ? -errno : (int) r;
}

static int load(const struct bpf_insn *insns, size_t n) {
        union bpf_attr attr = {0};
        int fd;

        attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
        attr.insns = (uint64_t) (uintptr_t) insns;
        attr.insn_cnt = (uint32_t) n;
        attr.license = (uint64_t) (uintptr_t) "GPL";
        fd = sys_bpf(BPF_PROG_LOAD, &attr);
        assert_true(fd >= 0);
        return fd;
}

/* Loads INSNS and attaches them with BPF_F_ALLOW_MULTI, as runc does. */
static void attach(int cgroup_fd, const struct bpf_insn *insns, size_t n) {
        union bpf_attr attr = {0};
        int fd = load(insns, n);

        attr.target_fd = (uint32_t) cgroup_fd;
        attr.attach_bpf_fd = (uint32_t) fd;
        attr.attach_type = BPF_CGROUP_DEVICE;
        attr.attach_flags = BPF_F_ALLOW_MULTI;
        assert_int_equal(sys_bpf(BPF_PROG_ATTACH, &attr), 0);
        close(fd); /* the attachment holds the program */
}

/* Number of device programs attached to the cgroup itself (or in effect for it), IDS filled. */
static uint32_t query(int cgroup_fd, uint32_t flags, uint32_t ids[64]) {
        union bpf_attr attr = {0};

        attr.query.target_fd = (uint32_t) cgroup_fd;
        attr.query.attach_type = BPF_CGROUP_DEVICE;
        attr.query.query_flags = flags;
        attr.query.prog_ids = (uint64_t) (uintptr_t) ids;
        attr.query.prog_cnt = 64;
        assert_int_equal(sys_bpf(BPF_PROG_QUERY, &attr), 0);
        return attr.query.prog_cnt;
}

/* The instructions of attached program ID, as the kernel runs them. */
static size_t dump(uint32_t id, struct bpf_insn *buf, size_t max) {
        struct bpf_prog_info info = {.xlated_prog_len = (uint32_t) (max * sizeof(*buf)),
                                     .xlated_prog_insns = (uint64_t) (uintptr_t) buf};
        union bpf_attr attr = {.prog_id = id};
        int fd = sys_bpf(BPF_PROG_GET_FD_BY_ID, &attr);

        assert_true(fd >= 0);
        memset(&attr, 0, sizeof(attr));
        attr.info.bpf_fd = (uint32_t) fd;
        attr.info.info_len = sizeof(info);
        attr.info.info = (uint64_t) (uintptr_t) &info;
        assert_int_equal(sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &attr), 0);
        close(fd);
        return info.xlated_prog_len / sizeof(*buf);
}

static char cgroup2_mount[256];

/* A fresh cgroup under the cgroup2 mount, with no program, and device nodes. */
static int fixture_setup(void **state) {
        struct fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        *state = f;
        f->cgroup_fd = -EBADF;
        snprintf(f->cgroup, sizeof(f->cgroup), "%s/nctk-test-XXXXXX", cgroup2_mount);
        if (!mkdtemp(f->cgroup)) {
                print_error("cannot create %s: %s\n", f->cgroup, strerror(errno));
                f->cgroup[0] = '\0';
                return -1;
        }
        f->cgroup_fd = open(f->cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (f->cgroup_fd < 0 || test_nodes_make(&f->nodes) != 0)
                return -1;
        return 0;
}

static int fixture_teardown(void **state) {
        struct fixture *f = *state;

        if (f->proc_cgroup[0] && umount2(f->proc_cgroup, MNT_DETACH) < 0)
                print_error("cannot unmount %s: %s\n", f->proc_cgroup, strerror(errno));
        if (f->fake_cgroup[0])
                unlink(f->fake_cgroup);
        agent_stop(&f->agent);
        if (f->cgroup_fd >= 0)
                close(f->cgroup_fd);
        if (f->sub[0])
                rmdir(f->sub);
        if (f->cgroup[0] && rmdir(f->cgroup) < 0)
                print_error("cannot remove %s: %s\n", f->cgroup, strerror(errno));
        test_nodes_remove(&f->nodes);
        ebpf_test_set_no_replace(false);
        free(f);
        return 0;
}

/* Starts the agent in the cgroup and checks that the runc-like program denies 1:8. */
static void start_restricted(struct fixture *f) {
        assert_int_equal(agent_start(&f->agent, f->cgroup), 0);
        assert_int_equal(agent_open(&f->agent, f->nodes.random, O_RDONLY), EPERM);
        assert_int_equal(agent_open(&f->agent, f->nodes.null, O_RDWR), 0);
        assert_int_equal(agent_open(&f->agent, "/dev/null", O_RDWR), 0);
}

static const struct device_rule rule_random_rw[] = {
        {'c', 1, 8, DEVICE_ACCESS_READ | DEVICE_ACCESS_WRITE},
};

static void test_extend_replaces_in_place(void **state) {
        struct fixture *f = *state;
        static const struct device_rule rule_urandom_r[] = {{'c', 1, 9, DEVICE_ACCESS_READ}};
        _cleanup_free_ struct bpf_insn *want = NULL;
        struct bpf_insn got[256] = {0}; /* zeroed: valgrind does not see the kernel fill it */
        struct nctk_error *err = NULL;
        uint32_t ids[64], old_id;
        size_t n_want = 0;

        attach(f->cgroup_fd, runc_like, ELEMENTSOF(runc_like));
        assert_int_equal(query(f->cgroup_fd, 0, ids), 1);
        old_id = ids[0];
        start_restricted(f);

        assert_int_equal(ebpf_cgroup_extend(f->cgroup_fd, rule_random_rw, 1, &err),
                         CGROUP_ALLOW_APPLIED);
        assert_null(err);
        /* Replaced, not added: with two programs both would have to allow. */
        assert_int_equal(query(f->cgroup_fd, 0, ids), 1);
        assert_int_not_equal(ids[0], old_id);
        /* The kernel runs exactly what we built: our rule, then the old program. */
        assert_int_equal(ebpf_device_program(rule_random_rw, 1, runc_like, ELEMENTSOF(runc_like),
                                             &want, &n_want),
                         0);
        assert_insns_equal(got, dump(ids[0], got, ELEMENTSOF(got)), want, n_want);

        assert_int_equal(agent_open(&f->agent, f->nodes.random, O_RDWR), 0);
        assert_int_equal(agent_open(&f->agent, f->nodes.null, O_RDWR), 0);
        assert_int_equal(agent_open(&f->agent, "/dev/null", O_RDWR), 0);
        assert_int_equal(agent_open(&f->agent, f->nodes.urandom, O_RDONLY), EPERM);
        /* rw, not m; while the old rules still allow mknod of 1:3. */
        assert_int_equal(agent_mknod(&f->agent, f->nodes.scratch, 1, 8), EPERM);
        assert_int_equal(agent_mknod(&f->agent, f->nodes.scratch, 1, 3), 0);

        /* Our own program can be extended again (it is a tail like any other). */
        old_id = ids[0];
        assert_int_equal(ebpf_cgroup_extend(f->cgroup_fd, rule_urandom_r, 1, &err),
                         CGROUP_ALLOW_APPLIED);
        assert_int_equal(query(f->cgroup_fd, 0, ids), 1);
        assert_int_not_equal(ids[0], old_id);
        assert_int_equal(agent_open(&f->agent, f->nodes.urandom, O_RDONLY), 0);
        assert_int_equal(agent_open(&f->agent, f->nodes.urandom, O_WRONLY), EPERM);
        assert_int_equal(agent_open(&f->agent, f->nodes.random, O_RDWR), 0);
}

static void test_extend_refuses_helper_calls(void **state) {
        struct fixture *f = *state;
        /* bpf_get_current_uid_gid(), then allow: nothing we may copy. */
        static const struct bpf_insn with_call[] = {
                I(0x85, 0, 0, 0, 15),
                I(0xb7, 0, 0, 0, 1),
                I(0x95, 0, 0, 0, 0),
        };
        struct nctk_error *err = NULL;
        uint32_t ids[64], old_id;

        attach(f->cgroup_fd, with_call, ELEMENTSOF(with_call));
        assert_int_equal(query(f->cgroup_fd, 0, ids), 1);
        old_id = ids[0];
        assert_int_equal(ebpf_cgroup_extend(f->cgroup_fd, rule_random_rw, 1, &err), -EOPNOTSUPP);
        assert_non_null(err);
        print_message("# error: %s\n", err->msg);
        assert_non_null(strstr(err->msg, "cannot be extended"));
        assert_non_null(strstr(err->msg, "helper or function call"));
        nctk_error_free(&err);
        assert_int_equal(query(f->cgroup_fd, 0, ids), 1);
        assert_int_equal(ids[0], old_id);
}

static void test_extend_bad_rule_changes_nothing(void **state) {
        struct fixture *f = *state;
        static const struct device_rule bad[] = {{'c', 1, 8, 0}};
        struct nctk_error *err = NULL;
        uint32_t ids[64], old_id;

        attach(f->cgroup_fd, runc_like, ELEMENTSOF(runc_like));
        assert_int_equal(query(f->cgroup_fd, 0, ids), 1);
        old_id = ids[0];
        assert_int_equal(ebpf_cgroup_extend(f->cgroup_fd, bad, 1, &err), -EINVAL);
        assert_non_null(err);
        nctk_error_free(&err);
        assert_int_equal(query(f->cgroup_fd, 0, ids), 1);
        assert_int_equal(ids[0], old_id);
}

static void test_extend_every_program(void **state) {
        struct fixture *f = *state;
        struct nctk_error *err = NULL;
        uint32_t ids[64], old[64];

        attach(f->cgroup_fd, runc_like, ELEMENTSOF(runc_like));
        attach(f->cgroup_fd, runc_like, ELEMENTSOF(runc_like));
        assert_int_equal(query(f->cgroup_fd, 0, old), 2);
        start_restricted(f);
        assert_int_equal(ebpf_cgroup_extend(f->cgroup_fd, rule_random_rw, 1, &err),
                         CGROUP_ALLOW_APPLIED);
        assert_int_equal(query(f->cgroup_fd, 0, ids), 2);
        for (int i = 0; i < 2; i++) {
                assert_int_not_equal(ids[i], old[0]);
                assert_int_not_equal(ids[i], old[1]);
        }
        assert_int_equal(agent_open(&f->agent, f->nodes.random, O_RDWR), 0);
        assert_int_equal(agent_open(&f->agent, f->nodes.urandom, O_RDONLY), EPERM);
}

static void test_extend_without_replace_flag(void **state) {
        struct fixture *f = *state;
        struct nctk_error *err = NULL;
        uint32_t ids[64], old_id;

        attach(f->cgroup_fd, runc_like, ELEMENTSOF(runc_like));
        assert_int_equal(query(f->cgroup_fd, 0, ids), 1);
        old_id = ids[0];
        start_restricted(f);
        ebpf_test_set_no_replace(true);
        assert_int_equal(ebpf_cgroup_extend(f->cgroup_fd, rule_random_rw, 1, &err),
                         CGROUP_ALLOW_APPLIED);
        assert_int_equal(query(f->cgroup_fd, 0, ids), 1);
        assert_int_not_equal(ids[0], old_id);
        assert_int_equal(agent_open(&f->agent, f->nodes.random, O_RDWR), 0);
        assert_int_equal(agent_open(&f->agent, f->nodes.urandom, O_RDONLY), EPERM);
}

static void test_extend_unrestricted(void **state) {
        struct fixture *f = *state;
        _cleanup_close_ int sub_fd = -EBADF;
        uint32_t ids[64];

        /* Unless an ancestor of the test cgroup (the host's) filters devices already. */
        assert_int_equal(ebpf_cgroup_extend(f->cgroup_fd, rule_random_rw, 1, NULL),
                         query(f->cgroup_fd, BPF_F_QUERY_EFFECTIVE, ids) == 0
                                 ? CGROUP_ALLOW_UNRESTRICTED
                                 : CGROUP_ALLOW_ANCESTOR_ONLY);
        assert_int_equal(query(f->cgroup_fd, 0, ids), 0);

        /* A child cgroup restricted only by its parent's program: that one is not ours. */
        snprintf(f->sub, sizeof(f->sub), "%s/sub", f->cgroup);
        assert_int_equal(mkdir(f->sub, 0755), 0);
        sub_fd = open(f->sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(sub_fd >= 0);
        attach(f->cgroup_fd, runc_like, ELEMENTSOF(runc_like));
        assert_int_equal(ebpf_cgroup_extend(sub_fd, rule_random_rw, 1, NULL),
                         CGROUP_ALLOW_ANCESTOR_ONLY);
        assert_int_equal(query(sub_fd, 0, ids), 0);
}

static char v1_devices[256]; /* the v1 devices controller's mount point, "" when none */

/* On a hybrid host (the v1 devices controller mounted, as on the CI machine) the kernel lists
 * a process's v1 devices cgroup in /proc/PID/cgroup, and cgroup_allow_devices rightly takes the
 * v1 path (test-cgroup's test_v1_allow covers it). To run the cgroup2 path there too, the
 * library is shown the agent's /proc/PID/cgroup as a cgroup2-only host writes it, the "0::"
 * line alone: a file bind-mounted over the real one in a mount namespace of this process (the
 * cmocka child of unit-tap.h; the host's mounts do not change). mountinfo, the cgroup2
 * directory, the programs and the agent's opens stay real. Skips when it cannot. */
static void hide_v1_devices(struct fixture *f) {
        _cleanup_free_ char *text = NULL;
        _cleanup_close_ int fd = -EBADF, out = -EBADF;
        char path[64], *v2, *eol;

        snprintf(path, sizeof(path), "/proc/%d/cgroup", (int) f->agent.pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(read_full_fd(fd, 1 << 20, &text, NULL), 0);
        v2 = strncmp(text, "0::", 3) == 0 ? text : strstr(text, "\n0::");
        assert_non_null(v2);
        v2 += v2[0] == '\n';
        eol = strchrnul(v2, '\n');
        *eol = '\0';

        snprintf(f->fake_cgroup, sizeof(f->fake_cgroup), "/tmp/nctk-cgroup-XXXXXX");
        out = mkstemp(f->fake_cgroup);
        assert_true(out >= 0);
        assert_int_equal(dprintf(out, "%s\n", v2), (int) strlen(v2) + 1);
        if (unshare(CLONE_NEWNS) < 0)
                unit_skip("v1 devices controller at %s, and no mount namespace to hide it in: "
                          "unshare: %s",
                          v1_devices, strerror(errno));
        if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0)
                unit_skip("v1 devices controller at %s, and cannot make the mount namespace "
                          "private: %s",
                          v1_devices, strerror(errno));
        if (mount(f->fake_cgroup, path, "none", MS_BIND, NULL) < 0)
                unit_skip("v1 devices controller at %s, and cannot bind-mount over %s: %s",
                          v1_devices, path, strerror(errno));
        snprintf(f->proc_cgroup, sizeof(f->proc_cgroup), "%s", path);
        print_message("# v1 devices controller at %s: the library reads '%s' from %s\n", v1_devices,
                      v2, path);
}

/* The whole path from a PID, where cgroup2 controls devices (on a hybrid host, as if it did:
 * see hide_v1_devices). */
static void test_allow_devices_by_pid(void **state) {
        struct fixture *f = *state;
        struct nctk_error *err = NULL;
        uint32_t ids[64];

        attach(f->cgroup_fd, runc_like, ELEMENTSOF(runc_like));
        start_restricted(f);
        if (v1_devices[0])
                hide_v1_devices(f);
        assert_int_equal(cgroup_allow_devices(f->agent.pid, rule_random_rw, 1, &err),
                         CGROUP_ALLOW_APPLIED);
        if (err)
                print_error("%s\n", err->msg);
        assert_null(err);
        assert_int_equal(query(f->cgroup_fd, 0, ids), 1);
        assert_int_equal(agent_open(&f->agent, f->nodes.random, O_RDWR), 0);
        assert_int_equal(agent_open(&f->agent, f->nodes.urandom, O_RDONLY), EPERM);
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
                cmocka_unit_test(test_one_rule),
                cmocka_unit_test(test_wildcards_and_types),
                cmocka_unit_test(test_tail_appended_whole),
                cmocka_unit_test(test_match_all_ends_program),
                cmocka_unit_test(test_no_rules_denies),
                cmocka_unit_test(test_bad_rules),
                cmocka_unit_test(test_tail_check),
                KERNEL_TEST(test_extend_replaces_in_place),
                KERNEL_TEST(test_extend_refuses_helper_calls),
                KERNEL_TEST(test_extend_bad_rule_changes_nothing),
                KERNEL_TEST(test_extend_every_program),
                KERNEL_TEST(test_extend_without_replace_flag),
                KERNEL_TEST(test_extend_unrestricted),
                KERNEL_TEST(test_allow_devices_by_pid),
        };

        test_find_mount("cgroup2", NULL, cgroup2_mount, sizeof(cgroup2_mount));
        test_find_mount("cgroup", "devices", v1_devices, sizeof(v1_devices));
        if (geteuid() != 0)
                snprintf(kernel_skip_why, sizeof(kernel_skip_why),
                         "loading and attaching device programs needs root");
        else if (!cgroup2_mount[0])
                snprintf(kernel_skip_why, sizeof(kernel_skip_why), "no cgroup2 mount");
        for (size_t i = 0; i < ELEMENTSOF(tests) && kernel_skip_why[0]; i++)
                if (tests[i].setup_func == fixture_setup)
                        tests[i] = (struct CMUnitTest){.name = tests[i].name,
                                                       .test_func = kernel_test_skipped};
        return unit_run_group_tests(tests, NULL, NULL);
}
