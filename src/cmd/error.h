/* Where a front-end's errors go (error.c). */
#ifndef NCTK_CMD_ERROR_H
#define NCTK_CMD_ERROR_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

#include "nctk/nctk.h"

struct cmd_sink {
        const char *prog;            /* the name errors are printed under */
        FILE *debug;                 /* the debug log, or NULL */
        const char *runc_log;        /* the runtime shim's --log, or NULL */
        const char *runc_log_format; /* its --log-format */
        bool quiet;                  /* library warnings to the debug log only */
};

/* The library's log sink for a front-end (USERDATA: its struct cmd_sink): warnings to stderr
 * under the program's name unless quiet, everything with a timestamp to the debug log. */
void cmd_log_sink(enum nctk_log_level level, const char *file, int line, const char *msg,
                  void *userdata);

/* Prints the error once to every place of S; returns -1. */
int cmd_error(const struct cmd_sink *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cmd_verror(const struct cmd_sink *s, const char *fmt, va_list ap)
        __attribute__((format(printf, 2, 0)));

#endif
