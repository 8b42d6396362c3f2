/* no-syscalls: runs a command under a seccomp filter that makes chosen system calls fail with
 * ENOSYS, as an old kernel or a container engine's seccomp profile would. It proves nctk's
 * fallbacks: the userspace path walk without openat2, mount(2) without the new mount API.
 * usage: no-syscalls [--openat2] [--newmount] COMMAND [ARG...] */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_CALLS 16

int main(int argc, char **argv) {
        int calls[MAX_CALLS], n = 0, i = 1;
        struct sock_filter f[4 + 2 * MAX_CALLS];
        unsigned k = 0;

        for (; i < argc && argv[i][0] == '-'; i++) {
                if (strcmp(argv[i], "--openat2") == 0)
                        calls[n++] = SYS_openat2;
                else if (strcmp(argv[i], "--newmount") == 0) {
                        calls[n++] = SYS_open_tree;
                        calls[n++] = SYS_move_mount;
                        calls[n++] = SYS_mount_setattr;
                        calls[n++] = SYS_fsopen;
                        calls[n++] = SYS_fsmount;
                        calls[n++] = SYS_fsconfig;
                } else {
                        fprintf(stderr, "no-syscalls: unknown option %s\n", argv[i]);
                        return 2;
                }
        }
        if (i >= argc || n == 0) {
                fprintf(stderr, "usage: no-syscalls [--openat2] [--newmount] COMMAND [ARG...]\n");
                return 2;
        }
        f[k++] = (struct sock_filter) BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                               offsetof(struct seccomp_data, arch));
        f[k++] = (struct sock_filter) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
        f[k++] = (struct sock_filter) BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
        f[k++] = (struct sock_filter) BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                               offsetof(struct seccomp_data, nr));
        for (int c = 0; c < n; c++) {
                f[k++] = (struct sock_filter) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
                                                       (unsigned) calls[c], 0, 1);
                f[k++] = (struct sock_filter) BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS);
        }
        f[k++] = (struct sock_filter) BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
        struct sock_fprog prog = {.len = (unsigned short) k, .filter = f};
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
            prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0) {
                perror("no-syscalls: seccomp");
                return 1;
        }
        execvp(argv[i], argv + i);
        perror("no-syscalls: exec");
        return 127;
}
