/* The error object of the library: an errno plus a message that callers can prefix with context,
 * so that the CLI prints one line saying what failed and why. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nctk/nctk.h"
#include "util/macros.h"

int nctk_error_set(struct nctk_error **err, int errnum, const char *fmt, ...) {
        struct nctk_error *e;
        va_list ap;

        if (errnum < 0)
                errnum = -errnum;
        if (errnum == 0)
                errnum = EIO;
        if (!err)
                return -errnum;
        nctk_error_free(err);
        e = calloc(1, sizeof(*e));
        if (!e)
                return -errnum;
        e->errnum = errnum;
        va_start(ap, fmt);
        if (vasprintf(&e->msg, fmt, ap) < 0)
                e->msg = NULL;
        va_end(ap);
        *err = e;
        return -errnum;
}

int nctk_error_prefix(struct nctk_error **err, const char *fmt, ...) {
        _cleanup_free_ char *prefix = NULL;
        char *msg;
        va_list ap;

        if (!err || !*err)
                return -EIO;
        va_start(ap, fmt);
        if (vasprintf(&prefix, fmt, ap) < 0)
                prefix = NULL;
        va_end(ap);
        if (prefix && asprintf(&msg, "%s: %s", prefix, (*err)->msg ? (*err)->msg : "") >= 0) {
                free((*err)->msg);
                (*err)->msg = msg;
        }
        return -(*err)->errnum;
}

void nctk_error_free(struct nctk_error **err) {
        if (!err || !*err)
                return;
        free((*err)->msg);
        free(*err);
        *err = NULL;
}
