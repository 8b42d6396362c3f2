/* Where a front-end's errors go (error.c). */
#ifndef NCTK_CMD_ERROR_H
#define NCTK_CMD_ERROR_H

#include <stdarg.h>
#include <stdio.h>

struct cmd_sink {
        const char *prog;            /* the name errors are printed under */
        FILE *debug;                 /* the debug log, or NULL */
        const char *runc_log;        /* the runtime shim's --log, or NULL */
        const char *runc_log_format; /* its --log-format */
};

/* Prints the error once to every place of S; returns -1. */
int cmd_error(const struct cmd_sink *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cmd_verror(const struct cmd_sink *s, const char *fmt, va_list ap)
        __attribute__((format(printf, 2, 0)));

#endif
