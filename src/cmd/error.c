/* The one error printer of every front-end: "PROG: MESSAGE" on stderr, where users and engines
 * look; "E MESSAGE" in the debug log, when there is one; and, for the runtime shim, the runc log
 * the engine reads back when a runtime fails. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "cmd/error.h"
#include "oci/shim.h"

void cmd_log_sink(enum nctk_log_level level, const char *file, int line, const char *msg,
                  void *userdata) {
        static const char lv[] = {'E', 'W', 'I', 'D'};
        const struct cmd_sink *s = userdata;
        struct timespec ts;

        if (s->debug) {
                clock_gettime(CLOCK_REALTIME, &ts);
                fprintf(s->debug, "%c%ld.%06ld %d %s:%d] %s\n", lv[level], (long) ts.tv_sec,
                        ts.tv_nsec / 1000, (int) getpid(), file, line, msg);
        }
        if (level <= NCTK_LOG_WARNING && !s->quiet)
                fprintf(stderr, "%s: warning: %s\n", s->prog, msg);
}

int cmd_verror(const struct cmd_sink *s, const char *fmt, va_list ap) {
        char *msg = NULL;

        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        fprintf(stderr, "%s: %s\n", s->prog, msg ? msg : "out of memory");
        if (s->debug)
                fprintf(s->debug, "E %s\n", msg ? msg : "out of memory");
        if (msg && s->runc_log)
                runc_log_error(s->runc_log, s->runc_log_format, msg);
        free(msg);
        return -1;
}

int cmd_error(const struct cmd_sink *s, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        cmd_verror(s, fmt, ap);
        va_end(ap);
        return -1;
}
