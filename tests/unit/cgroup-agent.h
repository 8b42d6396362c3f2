/* Test helpers for the device cgroup tests: a forked "agent" that moves itself into a cgroup
 * and then opens or creates device nodes on request, and a directory of device nodes made with
 * the numbers of real devices (1:3 null, 1:8 random, 1:9 urandom), so that opening them works
 * when the cgroup allows it. */
#ifndef NCTK_TESTS_CGROUP_AGENT_H
#define NCTK_TESTS_CGROUP_AGENT_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

enum agent_op { AGENT_OPEN, AGENT_MKNOD };

struct agent_request {
        int op;
        int flags;             /* open(2) flags */
        unsigned major, minor; /* mknod */
        char path[256];
};

struct agent {
        pid_t pid;
        int req_fd, rep_fd; /* parent's ends */
};

static inline int agent_write_all(int fd, const void *buf, size_t len) {
        const char *p = buf;

        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return -1;
                p += n;
                len -= (size_t) n;
        }
        return 0;
}

static inline int agent_read_all(int fd, void *buf, size_t len) {
        char *p = buf;

        while (len > 0) {
                ssize_t n = read(fd, p, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return -1;
                p += n;
                len -= (size_t) n;
        }
        return 0;
}

static inline int agent_serve(const struct agent_request *q) {
        int fd;

        if (q->op == AGENT_MKNOD) {
                if (mknod(q->path, S_IFCHR | 0666, makedev(q->major, q->minor)) < 0)
                        return errno;
                unlink(q->path);
                return 0;
        }
        fd = open(q->path, q->flags | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return errno;
        close(fd);
        return 0;
}

/* The child: joins CGROUP_DIR (its cgroup.procs), says how that went, then serves requests
 * until the parent closes the pipe. Never returns. */
static inline void agent_main(const char *cgroup_dir, int req_fd, int rep_fd) {
        char procs[512];
        struct agent_request q;
        int fd, result = 0;

        snprintf(procs, sizeof(procs), "%s/cgroup.procs", cgroup_dir);
        fd = open(procs, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, "0", 1) != 1)
                result = errno ? errno : EIO;
        if (fd >= 0)
                close(fd);
        if (agent_write_all(rep_fd, &result, sizeof(result)) < 0 || result != 0)
                _exit(1);
        while (agent_read_all(req_fd, &q, sizeof(q)) == 0) {
                result = agent_serve(&q);
                if (agent_write_all(rep_fd, &result, sizeof(result)) < 0)
                        _exit(1);
        }
        _exit(0);
}

/* Starts an agent inside CGROUP_DIR. Returns 0, or the errno of joining the cgroup. */
static inline int agent_start(struct agent *a, const char *cgroup_dir) {
        int req[2], rep[2], result = EIO;

        if (pipe2(req, O_CLOEXEC) < 0 || pipe2(rep, O_CLOEXEC) < 0)
                return errno;
        a->pid = fork();
        if (a->pid < 0)
                return errno;
        if (a->pid == 0) {
                close(req[1]);
                close(rep[0]);
                agent_main(cgroup_dir, req[0], rep[1]);
        }
        close(req[0]);
        close(rep[1]);
        a->req_fd = req[1];
        a->rep_fd = rep[0];
        if (agent_read_all(a->rep_fd, &result, sizeof(result)) < 0)
                return EIO;
        return result;
}

/* Returns 0 when the agent's open(PATH, FLAGS) worked, else its errno. */
static inline int agent_open(struct agent *a, const char *path, int flags) {
        struct agent_request q = {.op = AGENT_OPEN, .flags = flags};
        int result = EIO;

        snprintf(q.path, sizeof(q.path), "%s", path);
        if (agent_write_all(a->req_fd, &q, sizeof(q)) < 0 ||
            agent_read_all(a->rep_fd, &result, sizeof(result)) < 0)
                return EIO;
        return result;
}

/* Returns 0 when the agent could mknod PATH as char MAJOR:MINOR (removed again), else errno. */
static inline int agent_mknod(struct agent *a, const char *path, unsigned major, unsigned minor) {
        struct agent_request q = {.op = AGENT_MKNOD, .major = major, .minor = minor};
        int result = EIO;

        snprintf(q.path, sizeof(q.path), "%s", path);
        if (agent_write_all(a->req_fd, &q, sizeof(q)) < 0 ||
            agent_read_all(a->rep_fd, &result, sizeof(result)) < 0)
                return EIO;
        return result;
}

static inline void agent_stop(struct agent *a) {
        int status;

        if (a->pid <= 0)
                return;
        close(a->req_fd);
        close(a->rep_fd);
        if (waitpid(a->pid, &status, 0) < 0) {
                kill(a->pid, SIGKILL);
                waitpid(a->pid, &status, 0);
        }
        a->pid = 0;
}

/* Device nodes in a fresh directory under /tmp: null (1:3), random (1:8), urandom (1:9). */
struct test_nodes {
        char dir[64];
        char null[128], random[128], urandom[128], scratch[128];
};

static inline int test_nodes_make(struct test_nodes *t) {
        snprintf(t->dir, sizeof(t->dir), "/tmp/nctk-nodes-XXXXXX");
        if (!mkdtemp(t->dir))
                return errno;
        snprintf(t->null, sizeof(t->null), "%s/null", t->dir);
        snprintf(t->random, sizeof(t->random), "%s/random", t->dir);
        snprintf(t->urandom, sizeof(t->urandom), "%s/urandom", t->dir);
        snprintf(t->scratch, sizeof(t->scratch), "%s/scratch", t->dir);
        if (mknod(t->null, S_IFCHR | 0666, makedev(1, 3)) < 0 ||
            mknod(t->random, S_IFCHR | 0666, makedev(1, 8)) < 0 ||
            mknod(t->urandom, S_IFCHR | 0666, makedev(1, 9)) < 0)
                return errno;
        return 0;
}

static inline void test_nodes_remove(struct test_nodes *t) {
        if (!t->dir[0])
                return;
        unlink(t->null);
        unlink(t->random);
        unlink(t->urandom);
        unlink(t->scratch);
        rmdir(t->dir);
        t->dir[0] = '\0';
}

/* Mount point of the first FSTYPE mount ("cgroup2"), or of the v1 hierarchy with controller
 * OPT ("devices"), from /proc/self/mountinfo; "" when none. */
static inline void test_find_mount(const char *fstype, const char *opt, char *buf, size_t size) {
        FILE *f = fopen("/proc/self/mountinfo", "re");
        char line[4096];

        buf[0] = '\0';
        if (!f)
                return;
        while (fgets(line, sizeof(line), f)) {
                char mnt[1024], type[64], opts[1100];
                const char *sep = strstr(line, " - ");

                if (!sep || sscanf(line, "%*s %*s %*s %*s %1023s", mnt) != 1 ||
                    sscanf(sep, " - %63s %*s %1023s", type, opts) != 2)
                        continue;
                if (strcmp(type, fstype) != 0)
                        continue;
                if (opt) {
                        char pat[128];
                        size_t len;

                        snprintf(pat, sizeof(pat), ",%s,", opt);
                        len = strlen(opts);
                        memmove(opts + 1, opts, len + 1);
                        opts[0] = ',';
                        opts[len + 1] = ',';
                        opts[len + 2] = '\0';
                        if (!strstr(opts, pat))
                                continue;
                }
                if (strlen(mnt) < size) {
                        memcpy(buf, mnt, strlen(mnt) + 1);
                        break;
                }
        }
        fclose(f);
}

#endif
