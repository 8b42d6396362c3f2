/* Running the driver's MPS and nvidia-smi programs: always with a deadline, since a hung daemon
 * must not hang nvidia-ctk or a container start, and with the driver root's libraries when the
 * driver is not installed at "/". */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mps/mps.h"
#include "util/macros.h"
#include "util/strv.h"

#define OUTPUT_MAX 65536

static char *host_path(const struct nctk_inventory *inv, const char *path) {
        if (!inv->driver_root || STREQ(inv->driver_root, "/"))
                return strdup(path);
        return path_join(inv->driver_root, path);
}

static const char *find_bin(const struct nctk_inventory *inv, const char *name) {
        for (size_t i = 0; i < inv->n_bins; i++) {
                const char *base = strrchr(inv->bins[i].path, '/');
                if (STREQ(base ? base + 1 : inv->bins[i].path, name))
                        return inv->bins[i].path;
        }
        return NULL;
}

int mps_driver_find(const struct nctk_inventory *inv, struct mps_driver *ret,
                    struct nctk_error **err) {
        const char *control = find_bin(inv, "nvidia-cuda-mps-control");
        const char *smi = find_bin(inv, "nvidia-smi");
        struct mps_driver d = {};

        if (!control || !smi)
                return nctk_error_set(err, ENOENT,
                                      "the driver's %s was not found (driver root '%s'): install "
                                      "the driver's MPS and nvidia-smi programs",
                                      control ? "nvidia-smi" : "nvidia-cuda-mps-control",
                                      inv->driver_root ? inv->driver_root : "/");
        d.control = host_path(inv, control);
        d.smi = host_path(inv, smi);
        if (inv->driver_root && !STREQ(inv->driver_root, "/")) {
                /* nvidia-smi dlopen()s libnvidia-ml.so.1: point it at the root's copy. */
                for (size_t i = 0; i < inv->n_libs && !d.libdir; i++)
                        if (inv->libs[i].soname &&
                            STREQ(inv->libs[i].soname, "libnvidia-ml.so.1") &&
                            !inv->libs[i].is_32bit) {
                                _cleanup_free_ char *p = host_path(inv, inv->libs[i].path);
                                char *slash = p ? strrchr(p, '/') : NULL;
                                if (slash)
                                        *slash = '\0';
                                d.libdir = TAKE_PTR(p);
                        }
        }
        if (!d.control || !d.smi) {
                mps_driver_release(&d);
                return nctk_error_set(err, ENOMEM, "out of memory");
        }
        *ret = d;
        return 0;
}

void mps_driver_release(struct mps_driver *d) {
        free(d->control);
        free(d->smi);
        free(d->libdir);
        *d = (struct mps_driver){};
}

static long long now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* In the child: the program with our environment and ENV, stdin from IN, output to OUT. */
static _Noreturn void child_exec(const struct mps_driver *drv, char *const argv[],
                                 char *const env[], int in, int out) {
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);

        if (dup2(in >= 0 ? in : null, 0) < 0 || dup2(out >= 0 ? out : null, 1) < 0 ||
            dup2(out >= 0 ? out : null, 2) < 0)
                _exit(127);
        /* Our own MPS variables must not leak into a daemon or a client command. */
        unsetenv("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE");
        unsetenv("CUDA_MPS_PINNED_DEVICE_MEM_LIMIT");
        for (size_t i = 0; env && env[i]; i++)
                putenv(env[i]);
        if (drv->libdir)
                setenv("LD_LIBRARY_PATH", drv->libdir, 1);
        signal(SIGPIPE, SIG_DFL);
        execv(argv[0], argv);
        _exit(127);
}

/* Collects OUT until it closes or the deadline passes. */
static int collect(int out, long long deadline, char **ret) {
        _cleanup_free_ char *buf = malloc(OUTPUT_MAX + 1);
        size_t len = 0;

        if (!buf)
                return -ENOMEM;
        for (;;) {
                long long left = deadline - now_ms();
                struct pollfd p = {out, POLLIN, 0};
                if (left <= 0)
                        return -ETIMEDOUT;
                int n = poll(&p, 1, (int) left);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return n < 0 ? -errno : -ETIMEDOUT;
                char tmp[4096];
                ssize_t got = read(out, tmp, sizeof(tmp));
                if (got < 0 && errno == EINTR)
                        continue;
                if (got <= 0)
                        break;
                size_t take = (size_t) got < OUTPUT_MAX - len ? (size_t) got : OUTPUT_MAX - len;
                memcpy(buf + len, tmp, take);
                len += take;
        }
        buf[len] = '\0';
        *ret = TAKE_PTR(buf);
        return 0;
}

static int wait_until(pid_t pid, long long deadline, int *status) {
        for (;;) {
                pid_t w = waitpid(pid, status, WNOHANG);
                if (w == pid)
                        return 0;
                if (w < 0 && errno != EINTR)
                        return -errno;
                if (now_ms() >= deadline)
                        return -ETIMEDOUT;
                usleep(5000);
        }
}

int mps_run(const struct mps_driver *drv, char *const argv[], char *const env[], const char *input,
            unsigned timeout_ms, int *ret_status, char **ret_out) {
        _cleanup_close_ int in_r = -EBADF, in_w = -EBADF, out_r = -EBADF, out_w = -EBADF;
        _cleanup_free_ char *out = NULL;
        long long deadline = now_ms() + timeout_ms;
        int fds[2], status = 0, r = 0;

        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        in_r = fds[0], in_w = fds[1];
        if (ret_out) {
                if (pipe2(fds, O_CLOEXEC) < 0)
                        return -errno;
                out_r = fds[0], out_w = fds[1];
        }
        pid_t pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0)
                child_exec(drv, argv, env, in_r, out_w);
        if (input) {
                /* A command line is far below the pipe's capacity: this cannot block. */
                signal(SIGPIPE, SIG_IGN);
                (void) !write(in_w, input, strlen(input));
        }
        close(TAKE_FD(in_w));
        if (out_w >= 0)
                close(TAKE_FD(out_w));
        if (ret_out)
                r = collect(out_r, deadline, &out);
        if (r >= 0)
                r = wait_until(pid, deadline, &status);
        if (r < 0) {
                kill(pid, SIGKILL);
                waitpid(pid, NULL, 0);
                return r;
        }
        if (ret_status)
                *ret_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (ret_out)
                *ret_out = TAKE_PTR(out);
        return 0;
}

int mps_control(const struct mps_driver *drv, const struct mps_daemon *d, const char *cmd,
                char **ret_out, struct nctk_error **err) {
        _cleanup_free_ char *pipe_env = NULL, *line = NULL, *out = NULL;
        char *argv[] = {drv->control, NULL};
        int status = 0, r;

        if (asprintf(&pipe_env, "CUDA_MPS_PIPE_DIRECTORY=%s", d->pipe_dir) < 0 ||
            asprintf(&line, "%s\n", cmd) < 0)
                return nctk_error_set(err, ENOMEM, "out of memory");
        char *env[] = {pipe_env, NULL};
        r = mps_run(drv, argv, env, line, MPS_TIMEOUT_MS, &status, &out);
        if (r == -ETIMEDOUT)
                return nctk_error_set(err, ETIMEDOUT,
                                      "the MPS control daemon of %s did not answer '%s' within "
                                      "%u s",
                                      d->uuid, cmd, MPS_TIMEOUT_MS / 1000);
        if (r < 0)
                return nctk_error_set(err, -r, "cannot run '%s': %s", drv->control, strerror(-r));
        if (status != 0)
                return nctk_error_set(err, ECONNREFUSED, "%s '%s' for %s: %s", drv->control, cmd,
                                      d->uuid, strstrip(out));
        if (ret_out)
                *ret_out = TAKE_PTR(out);
        return 0;
}
