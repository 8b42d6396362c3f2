/* Every unit test's main(): runs a cmocka group so that a skipped test reads as a skip.
 *
 * cmocka 1.1 prints a skipped test as "not ok N # SKIP NAME", which TAP (and meson's reader)
 * takes for a failure. unit_run_group_tests runs the group in a child whose stdout comes through
 * a pipe, and rewrites that line as "ok N - NAME # SKIP WHY", WHY being what the test gave
 * unit_skip(); meson counts it as a skipped subtest, scripts/results.sh names it (and, run as
 * root, fails the run on it). Everything else passes through unchanged; the exit status is the
 * child's. A test never calls cmocka's skip() itself: the reason would be lost. */
#ifndef NCTK_TESTS_UNIT_TAP_H
#define NCTK_TESTS_UNIT_TAP_H

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

/* The line unit_skip prints before skipping; the parent copies its text onto the test's line. */
#define UNIT_SKIP_PREFIX "# skip: "

/* Skips the running test, saying why (one line, printf-style). From the test function only: cmocka
 * 1.1 takes a skip in a fixture's setup for a failed setup. */
static inline void unit_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static inline void unit_skip(const char *fmt, ...) {
        va_list ap;

        fputs(UNIT_SKIP_PREFIX, stdout);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        putchar('\n');
        fflush(stdout);
        skip();
        abort(); /* skip() returns only outside a test */
}

/* "not ok N # SKIP NAME" (cmocka 1.1) or "ok N # SKIP NAME": the offset of NAME, else 0. */
static inline size_t unit_tap_skip_line(const char *line) {
        const char *p = line;

        if (strncmp(p, "not ", 4) == 0)
                p += 4;
        if (strncmp(p, "ok ", 3) != 0)
                return 0;
        p += 3;
        if (*p < '0' || *p > '9')
                return 0;
        while (*p >= '0' && *p <= '9')
                p++;
        if (strncmp(p, " # SKIP ", 8) != 0)
                return 0;
        return (size_t) (p + 8 - line);
}

/* Copies the child's TAP from IN to stdout, skips rewritten; returns the child's exit status. */
static inline int unit_tap_filter(FILE *in, pid_t pid) {
        char *line = NULL, *why = NULL;
        size_t cap = 0;
        ssize_t len;
        int status;

        while ((len = getline(&line, &cap, in)) > 0) {
                size_t name;

                if (line[len - 1] == '\n')
                        line[--len] = '\0';
                if (strncmp(line, UNIT_SKIP_PREFIX, strlen(UNIT_SKIP_PREFIX)) == 0) {
                        free(why);
                        why = strdup(line + strlen(UNIT_SKIP_PREFIX));
                }
                name = unit_tap_skip_line(line);
                if (name > 0) {
                        unsigned long num = strtoul(line + (line[0] == 'n' ? 7 : 3), NULL, 10);

                        printf("ok %lu - %s # SKIP %s\n", num, line + name,
                               why && why[0] ? why : "(no reason given: skip() not unit_skip())");
                } else {
                        puts(line);
                }
                if (name > 0 || strncmp(line, "ok ", 3) == 0 || strncmp(line, "not ok ", 7) == 0) {
                        free(why);
                        why = NULL;
                }
                fflush(stdout);
        }
        free(line);
        free(why);
        fclose(in);
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR) {
                        printf("Bail out! waitpid: %s\n", strerror(errno));
                        return 1;
                }
        if (WIFSIGNALED(status)) {
                printf("Bail out! the tests were killed by signal %d (%s)\n", WTERMSIG(status),
                       strsignal(WTERMSIG(status)));
                return 128 + WTERMSIG(status);
        }
        return WEXITSTATUS(status);
}

static inline int unit_run_group(const char *group, const struct CMUnitTest *tests, size_t n,
                                 CMFixtureFunction setup, CMFixtureFunction teardown) {
        int fds[2];
        pid_t pid;
        FILE *in;

        fflush(stdout);
        if (pipe(fds) < 0) {
                printf("Bail out! pipe: %s\n", strerror(errno));
                return 1;
        }
        pid = fork();
        if (pid < 0) {
                printf("Bail out! fork: %s\n", strerror(errno));
                return 1;
        }
        if (pid == 0) {
                int failed;

                close(fds[0]);
                if (dup2(fds[1], STDOUT_FILENO) < 0)
                        _exit(1);
                close(fds[1]);
                setvbuf(stdout, NULL, _IOLBF, 0);
                failed = _cmocka_run_group_tests(group, tests, n, setup, teardown);
                fflush(stdout);
                _exit(failed > 0 ? 1 : 0);
        }
        close(fds[1]);
        in = fdopen(fds[0], "r");
        if (!in) {
                printf("Bail out! fdopen: %s\n", strerror(errno));
                close(fds[0]);
                return 1;
        }
        return unit_tap_filter(in, pid);
}

#define unit_run_group_tests(tests, setup, teardown)                                               \
        unit_run_group(#tests, (tests), sizeof(tests) / sizeof((tests)[0]), (setup), (teardown))

#endif
