/* timeit: runs a command N times (stdout and stderr to /dev/null) and prints the median, the
 * 10th and 90th percentiles and the minimum of the wall time in milliseconds. Exists so that
 * benchmarks measure the program, not a Python or shell wrapper.
 * usage: timeit N COMMAND [ARG...] */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;

        return (x > y) - (x < y);
}

static int run_once(char **argv, double *ms) {
        double t0 = now_ms();
        int status;
        pid_t pid = fork();

        if (pid < 0)
                return -errno;
        if (pid == 0) {
                int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
                dup2(null, 1);
                dup2(null, 2);
                execvp(argv[0], argv);
                _exit(127);
        }
        if (waitpid(pid, &status, 0) < 0)
                return -errno;
        *ms = now_ms() - t0;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

int main(int argc, char **argv) {
        double *t;
        long n;

        if (argc < 3 || (n = strtol(argv[1], NULL, 10)) <= 0) {
                fprintf(stderr, "usage: timeit N COMMAND [ARG...]\n");
                return 2;
        }
        t = calloc((size_t) n, sizeof(*t));
        if (!t)
                return 1;
        for (long i = 0; i < n; i++) {
                int r = run_once(argv + 2, &t[i]);
                if (r != 0) {
                        fprintf(stderr, "timeit: '%s' failed (%d)\n", argv[2], r);
                        return 1;
                }
        }
        qsort(t, (size_t) n, sizeof(*t), cmp);
        printf("median %.3f ms  p10 %.3f  p90 %.3f  min %.3f  (n=%ld)\n", t[n / 2], t[n / 10],
               t[(n * 9) / 10], t[0], n);
        free(t);
        return 0;
}
