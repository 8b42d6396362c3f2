/* cgroup v2 device access: builds BPF_PROG_TYPE_CGROUP_DEVICE programs, and swaps the program a
 * runtime attached to a cgroup for one that allows more, through the bpf(2) syscall (no libbpf).
 * With BPF_F_ALLOW_MULTI every attached program must allow an access, so adding a second
 * program can never grant anything: each existing program is replaced by our rules + itself. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "5-apply/cgroup.h"
#include "util/log.h"
#include "util/macros.h"

#define PROLOGUE_INSNS 6
#define RULE_MAX_INSNS 6       /* type, access, major, minor checks; mov; exit */
#define PROG_MAX_INSNS 1000000 /* BPF_COMPLEXITY_LIMIT_INSNS, privileged loaders */
#define CGROUP_MAX_PROGS 64    /* BPF_CGROUP_MAX_PROGS */
#define VERIFIER_LOG_SIZE (64 * 1024)

static bool arg_no_replace;

void ebpf_test_set_no_replace(bool no_replace) {
        arg_no_replace = no_replace;
}

static struct bpf_insn insn(int code, unsigned dst, unsigned src, int off, int imm) {
        return (struct bpf_insn){
                .code = (uint8_t) code,
                .dst_reg = (uint8_t) (dst & 0xf),
                .src_reg = (uint8_t) (src & 0xf),
                .off = (int16_t) off,
                .imm = imm,
        };
}

int device_rules_check(const struct device_rule *rules, size_t n, struct nctk_error **err) {
        for (size_t i = 0; i < n; i++) {
                const struct device_rule *r = &rules[i];

                if (r->type != 'c' && r->type != 'b' && r->type != 'a')
                        return nctk_error_set(err, EINVAL,
                                              "device rule %zu: type 0x%02x is not 'c', 'b' or 'a'",
                                              i, (unsigned) (unsigned char) r->type);
                if (r->major < -1 || r->minor < -1)
                        return nctk_error_set(err, EINVAL, "device rule %zu: bad number %d:%d", i,
                                              r->major, r->minor);
                if (r->access == 0 || (r->access & ~(unsigned) DEVICE_ACCESS_ALL))
                        return nctk_error_set(err, EINVAL, "device rule %zu: bad access bits %#x",
                                              i, r->access);
        }
        return 0;
}

static bool rule_matches_all(const struct device_rule *r) {
        return r->type == 'a' && r->major < 0 && r->minor < 0 && r->access == DEVICE_ACCESS_ALL;
}

static int access_to_kernel(unsigned access) {
        return ((access & DEVICE_ACCESS_READ) ? BPF_DEVCG_ACC_READ : 0) |
               ((access & DEVICE_ACCESS_WRITE) ? BPF_DEVCG_ACC_WRITE : 0) |
               ((access & DEVICE_ACCESS_MKNOD) ? BPF_DEVCG_ACC_MKNOD : 0);
}

/* R1 holds the struct bpf_cgroup_dev_ctx pointer and is left alone, so that an appended tail
 * starts as it did when it was a program of its own. R2 = device type, R3 = access bits,
 * R4 = major, R5 = minor: the tail never reads them before writing them (the verifier proved
 * that when it was loaded alone). */
static size_t emit_prologue(struct bpf_insn *p) {
        p[0] = insn(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_2, BPF_REG_1, 0, 0);
        p[1] = insn(BPF_ALU | BPF_MOV | BPF_X, BPF_REG_3, BPF_REG_2, 0, 0);
        p[2] = insn(BPF_ALU | BPF_AND | BPF_K, BPF_REG_2, 0, 0, 0xffff);
        p[3] = insn(BPF_ALU | BPF_RSH | BPF_K, BPF_REG_3, 0, 0, 16);
        p[4] = insn(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_4, BPF_REG_1, 4, 0);
        p[5] = insn(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_5, BPF_REG_1, 8, 0);
        return PROLOGUE_INSNS;
}

/* One rule: each check that fails jumps past the rule's "return 1". The 64-bit compares are
 * exact because the registers were zero-extended by 32-bit operations and the immediates are
 * non-negative ints. An access matches when it asks for no bit outside the rule's. */
static size_t emit_rule(struct bpf_insn *p, const struct device_rule *r) {
        size_t i = 0, jumps[4], n_jumps = 0;
        int kacc = access_to_kernel(r->access);

        if (r->type != 'a') {
                jumps[n_jumps++] = i;
                p[i++] = insn(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_2, 0, 0,
                              r->type == 'c' ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK);
        }
        if (r->access != DEVICE_ACCESS_ALL) {
                jumps[n_jumps++] = i;
                p[i++] = insn(BPF_JMP | BPF_JSET | BPF_K, BPF_REG_3, 0, 0, 0xffff & ~kacc);
        }
        if (r->major >= 0) {
                jumps[n_jumps++] = i;
                p[i++] = insn(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_4, 0, 0, r->major);
        }
        if (r->minor >= 0) {
                jumps[n_jumps++] = i;
                p[i++] = insn(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_5, 0, 0, r->minor);
        }
        p[i++] = insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 1);
        p[i++] = insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
        for (size_t j = 0; j < n_jumps; j++)
                p[jumps[j]].off = (int16_t) (i - jumps[j] - 1);
        return i;
}

int ebpf_device_program(const struct device_rule *rules, size_t n, const struct bpf_insn *tail,
                        size_t n_tail, struct bpf_insn **ret, size_t *ret_n) {
        _cleanup_free_ struct bpf_insn *prog = NULL;
        size_t len = 0;
        bool everything = false;
        int r;

        if (n_tail > PROG_MAX_INSNS - PROLOGUE_INSNS - 2 ||
            n > (PROG_MAX_INSNS - PROLOGUE_INSNS - n_tail - 2) / RULE_MAX_INSNS)
                return -E2BIG;
        r = device_rules_check(rules, n, NULL);
        if (r < 0)
                return r;
        prog = calloc(PROLOGUE_INSNS + n * RULE_MAX_INSNS + (n_tail > 2 ? n_tail : 2),
                      sizeof(*prog));
        if (!prog)
                return -ENOMEM;
        len = emit_prologue(prog);
        /* Nothing after a rule that matches everything could run; the verifier rejects
         * unreachable instructions, so the program ends there. */
        for (size_t i = 0; i < n && !everything; i++) {
                len += emit_rule(prog + len, &rules[i]);
                everything = rule_matches_all(&rules[i]);
        }
        if (!everything && n_tail > 0) {
                memcpy(prog + len, tail, n_tail * sizeof(*tail));
                len += n_tail;
        } else if (!everything) {
                prog[len++] = insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0);
                prog[len++] = insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
        }
        *ret = TAKE_PTR(prog);
        *ret_n = len;
        return 0;
}

/* ---- checking a dumped program before loading it again ------------------------------------- */

/* The verifier inserts "mov32 rX, rX" marked with imm 1 where a JIT needs explicit zero
 * extension (not x86-64); the same move with imm 0 does the same and passes the verifier. */
static bool is_zext(const struct bpf_insn *in) {
        return in->code == (BPF_ALU | BPF_MOV | BPF_X) && in->imm == 1 && in->off == 0 &&
               in->dst_reg == in->src_reg;
}

static const char *jump_problem(const struct bpf_insn *in, size_t n, size_t pc) {
        int op = BPF_OP(in->code);
        int64_t target;

        if (op == BPF_CALL)
                return "helper or function call";
        if (op == BPF_EXIT)
                return BPF_CLASS(in->code) == BPF_JMP ? NULL : "bad exit";
        if (op == 0xe0 || op == 0xf0) /* may_goto, or the kernel's internal tail call */
                return "kernel-specific jump";
        target = (int64_t) pc + 1;
        if (BPF_CLASS(in->code) == BPF_JMP32 && op == BPF_JA)
                target += in->imm; /* gotol */
        else
                target += in->off;
        if (target < 0 || target >= (int64_t) n)
                return "jump out of the program";
        return NULL;
}

/* Why instruction PC cannot be reloaded, or NULL. */
static const char *insn_problem(struct bpf_insn *insns, size_t n, size_t pc) {
        struct bpf_insn *in = &insns[pc];

        if (in->dst_reg > BPF_REG_10 || in->src_reg > BPF_REG_10)
                return "kernel-internal register (JIT constant blinding?)";
        switch (BPF_CLASS(in->code)) {
        case BPF_LDX:
        case BPF_ST:
        case BPF_STX:
                return BPF_MODE(in->code) == BPF_MEM ? NULL : "atomic or special memory access";
        case BPF_LD:
                if (in->code != (BPF_LD | BPF_IMM | BPF_DW) || in->src_reg != 0)
                        return "map reference or packet access";
                if (pc + 1 >= n || insns[pc + 1].code != 0)
                        return "truncated 64-bit immediate";
                return NULL;
        case BPF_ALU:
        case BPF_ALU64:
                if (is_zext(in))
                        in->imm = 0;
                return NULL;
        case BPF_JMP:
        case BPF_JMP32: return jump_problem(in, n, pc);
        default: return "unknown instruction class";
        }
}

int ebpf_tail_check(struct bpf_insn *insns, size_t n, struct nctk_error **err) {
        if (n == 0)
                return nctk_error_set(err, EOPNOTSUPP, "empty program");
        for (size_t pc = 0; pc < n; pc++) {
                const char *why = insn_problem(insns, n, pc);

                if (why)
                        return nctk_error_set(err, EOPNOTSUPP, "instruction %zu (code 0x%02x): %s",
                                              pc, insns[pc].code, why);
                if (insns[pc].code == (BPF_LD | BPF_IMM | BPF_DW))
                        pc++; /* second half of the 64-bit immediate */
        }
        return 0;
}

/* ---- the bpf(2) calls -------------------------------------------------------------------- */

static int sys_bpf(int cmd, union bpf_attr *attr) {
        long r = syscall(__NR_bpf, cmd, attr, sizeof(*attr));

        return r < 0 ? -errno : (int) r;
}

static uint64_t ptr_to_u64(const void *p) {
        return (uint64_t) (uintptr_t) p;
}

/* IDs of the device programs attached to the cgroup (FLAGS 0) or in effect for it
 * (BPF_F_QUERY_EFFECTIVE), and the flags they were attached with. */
static int query_programs(int cgroup_fd, uint32_t flags, uint32_t **ret_ids, uint32_t *ret_n,
                          uint32_t *ret_attach_flags) {
        uint32_t cap = CGROUP_MAX_PROGS;

        for (int tries = 0; tries < 4; tries++) {
                _cleanup_free_ uint32_t *ids = calloc(cap, sizeof(*ids));
                union bpf_attr attr = {0};
                int r;

                if (!ids)
                        return -ENOMEM;
                attr.query.target_fd = (uint32_t) cgroup_fd;
                attr.query.attach_type = BPF_CGROUP_DEVICE;
                attr.query.query_flags = flags;
                attr.query.prog_ids = ptr_to_u64(ids);
                attr.query.prog_cnt = cap;
                r = sys_bpf(BPF_PROG_QUERY, &attr);
                if (r == -ENOSPC && attr.query.prog_cnt > cap) {
                        cap = attr.query.prog_cnt; /* the kernel wrote the real count */
                        continue;
                }
                if (r < 0)
                        return r;
                *ret_ids = TAKE_PTR(ids);
                *ret_n = attr.query.prog_cnt;
                *ret_attach_flags = attr.query.attach_flags;
                return 0;
        }
        return -EAGAIN;
}

static int prog_get_fd(uint32_t id) {
        union bpf_attr attr = {0};

        attr.prog_id = id;
        return sys_bpf(BPF_PROG_GET_FD_BY_ID, &attr);
}

static int prog_get_info(int fd, struct bpf_prog_info *info) {
        union bpf_attr attr = {0};

        attr.info.bpf_fd = (uint32_t) fd;
        attr.info.info_len = sizeof(*info);
        attr.info.info = ptr_to_u64(info);
        return sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &attr);
}

/* The program's instructions as the kernel runs them (after verification), in *RET. */
static int prog_get_insns(int fd, uint32_t id, struct bpf_insn **ret, size_t *ret_n,
                          struct nctk_error **err) {
        _cleanup_free_ struct bpf_insn *insns = NULL;
        struct bpf_prog_info info = {0};
        uint32_t len;
        int r = prog_get_info(fd, &info);

        if (r < 0)
                return nctk_error_set(err, r, "cannot read device program %u: %s", id,
                                      strerror(-r));
        if (info.type != BPF_PROG_TYPE_CGROUP_DEVICE)
                return nctk_error_set(err, EINVAL, "program %u is not a device program", id);
        len = info.xlated_prog_len;
        if (len == 0 || len % sizeof(struct bpf_insn))
                return nctk_error_set(err, EPERM,
                                      "the kernel hides the instructions of device program %u "
                                      "(needs CAP_BPF or CAP_SYS_ADMIN)",
                                      id);
        insns = calloc(1, len); /* zeroed: valgrind cannot see the kernel write it */
        if (!insns)
                return -ENOMEM;
        info = (struct bpf_prog_info){
                .xlated_prog_len = len,
                .xlated_prog_insns = ptr_to_u64(insns),
        };
        r = prog_get_info(fd, &info);
        if (r < 0)
                return nctk_error_set(err, r, "cannot read device program %u: %s", id,
                                      strerror(-r));
        /* A blinded program is not shown to readers that may not see kernel pointers. */
        if (info.xlated_prog_insns == 0 || info.xlated_prog_len != len)
                return nctk_error_set(err, EPERM,
                                      "the kernel hides the instructions of device program %u "
                                      "(JIT constant blinding, net.core.bpf_jit_harden=2?)",
                                      id);
        *ret = TAKE_PTR(insns);
        *ret_n = len / sizeof(struct bpf_insn);
        return 0;
}

/* The last line of the verifier's log: usually the reason. */
static const char *log_last_line(char *log) {
        char *end = log + strlen(log);

        while (end > log && (end[-1] == '\n' || end[-1] == ' '))
                *--end = '\0';
        while (end > log && end[-1] != '\n')
                end--;
        return end;
}

static int prog_load_try(const struct bpf_insn *insns, size_t n, char *log, size_t log_size) {
        /* The kernel needs a license string; any will do for a program without GPL helpers. */
        static const char license[] = "Apache-2.0";
        union bpf_attr attr = {0};

        attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
        attr.expected_attach_type = BPF_CGROUP_DEVICE;
        attr.insns = ptr_to_u64(insns);
        attr.insn_cnt = (uint32_t) n;
        attr.license = ptr_to_u64(license);
        memcpy(attr.prog_name, "nctk_devices", sizeof("nctk_devices"));
        if (log) {
                attr.log_buf = ptr_to_u64(log);
                attr.log_size = (uint32_t) log_size;
                attr.log_level = 1;
        }
        return sys_bpf(BPF_PROG_LOAD, &attr);
}

static int prog_load(const struct bpf_insn *insns, size_t n, struct nctk_error **err) {
        _cleanup_free_ char *log = NULL;
        int fd = prog_load_try(insns, n, NULL, 0);

        if (fd >= 0)
                return fd;
        if (fd == -EPERM)
                return nctk_error_set(err, fd,
                                      "cannot load device cgroup program: %s (needs CAP_BPF and "
                                      "CAP_NET_ADMIN, or CAP_SYS_ADMIN)",
                                      strerror(-fd));
        if (fd != -EACCES && fd != -EINVAL)
                return nctk_error_set(err, fd, "cannot load device cgroup program: %s",
                                      strerror(-fd));
        /* Rejected by the verifier: load again with its log, for the reason. */
        log = calloc(1, VERIFIER_LOG_SIZE);
        if (log && prog_load_try(insns, n, log, VERIFIER_LOG_SIZE) < 0 && log[0])
                return nctk_error_set(err, fd,
                                      "cannot load device cgroup program: %s: verifier: %s",
                                      strerror(-fd), log_last_line(log));
        return nctk_error_set(err, fd, "cannot load device cgroup program: %s", strerror(-fd));
}

static int prog_attach(int cgroup_fd, int prog_fd, int replace_fd, uint32_t flags) {
        union bpf_attr attr = {0};

        attr.target_fd = (uint32_t) cgroup_fd;
        attr.attach_bpf_fd = (uint32_t) prog_fd;
        attr.attach_type = BPF_CGROUP_DEVICE;
        attr.attach_flags = flags;
        if (replace_fd >= 0) {
                attr.attach_flags |= BPF_F_REPLACE;
                attr.replace_bpf_fd = (uint32_t) replace_fd;
        }
        return sys_bpf(BPF_PROG_ATTACH, &attr);
}

static int prog_detach(int cgroup_fd, int prog_fd) {
        union bpf_attr attr = {0};

        attr.target_fd = (uint32_t) cgroup_fd;
        attr.attach_bpf_fd = (uint32_t) prog_fd;
        attr.attach_type = BPF_CGROUP_DEVICE;
        return sys_bpf(BPF_PROG_DETACH, &attr);
}

/* Puts NEW_FD where OLD_FD is attached. There is never a moment with neither attached, and with
 * BPF_F_REPLACE (Linux 5.6) never one with both; when both are, both must allow, so access is
 * never wider than the old program's or the new one's. */
static int prog_swap(int cgroup_fd, int old_fd, int new_fd, uint32_t attach_flags) {
        int r;

        if (!(attach_flags & BPF_F_ALLOW_MULTI))
                /* One program per cgroup: attaching with the same flags replaces it in place. */
                return prog_attach(cgroup_fd, new_fd, -1, attach_flags);
        if (!arg_no_replace) {
                r = prog_attach(cgroup_fd, new_fd, old_fd, BPF_F_ALLOW_MULTI);
                if (r != -EINVAL)
                        return r;
                /* Older kernels reject the flag and the replace_bpf_fd field with EINVAL. */
        }
        r = prog_attach(cgroup_fd, new_fd, -1, BPF_F_ALLOW_MULTI);
        if (r < 0)
                return r;
        r = prog_detach(cgroup_fd, old_fd);
        if (r < 0)
                (void) prog_detach(cgroup_fd, new_fd);
        return r;
}

/* ---- extending the programs of a cgroup ---------------------------------------------------- */

struct swap_entry {
        uint32_t id;
        int old_fd, new_fd;
};

struct swap_list {
        struct swap_entry *v;
        size_t n;
};

static void swap_list_release(struct swap_list *s) {
        for (size_t i = 0; i < s->n; i++) {
                closep(&s->v[i].old_fd);
                closep(&s->v[i].new_fd);
        }
        free(s->v);
}

/* Opens program ID and loads its replacement (RULES + its instructions), attaching nothing. */
static int prepare_swap(struct swap_entry *s, const struct device_rule *rules, size_t n,
                        struct nctk_error **err) {
        _cleanup_free_ struct bpf_insn *old = NULL, *prog = NULL;
        size_t n_old = 0, n_prog = 0;
        int r;

        s->old_fd = prog_get_fd(s->id);
        if (s->old_fd < 0)
                return nctk_error_set(err, s->old_fd, "cannot open device program %u: %s%s", s->id,
                                      strerror(-s->old_fd),
                                      s->old_fd == -EPERM    ? " (needs CAP_SYS_ADMIN)"
                                      : s->old_fd == -ENOENT ? " (detached meanwhile; try again)"
                                                             : "");
        r = prog_get_insns(s->old_fd, s->id, &old, &n_old, err);
        if (r < 0)
                return r;
        r = ebpf_tail_check(old, n_old, err);
        if (r < 0) {
                (void) nctk_error_prefix(err, "device program %u cannot be extended", s->id);
                return r;
        }
        r = ebpf_device_program(rules, n, old, n_old, &prog, &n_prog);
        if (r < 0)
                return nctk_error_set(err, r, "cannot build device program from program %u: %s",
                                      s->id, strerror(-r));
        s->new_fd = prog_load(prog, n_prog, err);
        return s->new_fd < 0 ? s->new_fd : 0;
}

static int swap_all(int cgroup_fd, struct swap_list *s, uint32_t attach_flags,
                    struct nctk_error **err) {
        for (size_t i = 0; i < s->n; i++) {
                int r = prog_swap(cgroup_fd, s->v[i].old_fd, s->v[i].new_fd, attach_flags);

                if (r >= 0)
                        continue;
                /* Put back the ones already swapped: all or nothing. */
                for (size_t j = i; j-- > 0;)
                        (void) prog_swap(cgroup_fd, s->v[j].new_fd, s->v[j].old_fd, attach_flags);
                return nctk_error_set(err, r, "cannot replace device program %u: %s%s", s->v[i].id,
                                      strerror(-r),
                                      r == -EPERM    ? " (needs CAP_NET_ADMIN or CAP_SYS_ADMIN)"
                                      : r == -ENOENT ? " (replaced or detached meanwhile; retry)"
                                                     : "");
        }
        return 0;
}

/* No program on the cgroup itself: either nothing filters devices, or an ancestor does. */
static int no_programs(int cgroup_fd, struct nctk_error **err) {
        _cleanup_free_ uint32_t *ids = NULL;
        uint32_t n_ids = 0, flags = 0;
        int r = query_programs(cgroup_fd, BPF_F_QUERY_EFFECTIVE, &ids, &n_ids, &flags);

        if (r < 0)
                return nctk_error_set(err, r, "cannot list the device programs in effect: %s%s",
                                      strerror(-r), r == -EPERM ? CGROUP_DENIED_HINT : "");
        if (n_ids > 0) {
                log_debug("device programs of ancestor cgroups only (%u); leaving them alone",
                          n_ids);
                return CGROUP_ALLOW_ANCESTOR_ONLY;
        }
        log_debug("no device program: the cgroup allows every device already");
        return CGROUP_ALLOW_UNRESTRICTED;
}

int ebpf_cgroup_extend(int cgroup_fd, const struct device_rule *rules, size_t n,
                       struct nctk_error **err) {
        _cleanup_(swap_list_release) struct swap_list swaps = {0};
        _cleanup_free_ uint32_t *ids = NULL;
        uint32_t n_ids = 0, attach_flags = 0;
        int r = device_rules_check(rules, n, err);

        if (r < 0 || n == 0)
                return r < 0 ? r : CGROUP_ALLOW_APPLIED;
        r = query_programs(cgroup_fd, 0, &ids, &n_ids, &attach_flags);
        if (r < 0)
                return nctk_error_set(err, r, "cannot list the device programs of the cgroup: %s%s",
                                      strerror(-r),
                                      r == -EPERM ? " (needs CAP_NET_ADMIN or CAP_SYS_ADMIN)" : "");
        if (n_ids == 0)
                return no_programs(cgroup_fd, err);
        swaps.v = calloc(n_ids, sizeof(*swaps.v));
        if (!swaps.v)
                return -ENOMEM;
        for (; swaps.n < n_ids; swaps.n++) {
                struct swap_entry *s = &swaps.v[swaps.n];

                *s = (struct swap_entry){.id = ids[swaps.n], .old_fd = -EBADF, .new_fd = -EBADF};
                r = prepare_swap(s, rules, n, err);
                if (r < 0) {
                        swaps.n++; /* so that its fds are closed */
                        return r;
                }
        }
        r = swap_all(cgroup_fd, &swaps, attach_flags, err);
        if (r < 0)
                return r;
        log_debug("replaced %u device program(s) with %zu more rule(s)", n_ids, n);
        return CGROUP_ALLOW_APPLIED;
}
