/* The library's log sink. The library never writes to stderr itself: the program that loads it
 * decides where warnings and debug lines go. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/log.h"

static nctk_log_sink_t log_sink;
static void *log_userdata;

void nctk_set_log_sink(nctk_log_sink_t sink, void *userdata) {
        log_sink = sink;
        log_userdata = userdata;
}

bool log_enabled(enum nctk_log_level level) {
        (void) level;
        return log_sink != NULL;
}

void log_emit(enum nctk_log_level level, const char *file, int line, const char *fmt, ...) {
        char buf[1024];
        va_list ap;

        if (!log_sink)
                return;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        log_sink(level, file, line, buf, log_userdata);
}
