/* Internal logging: everything goes to the sink the caller installed, nothing to stderr. */
#ifndef NCTK_UTIL_LOG_H
#define NCTK_UTIL_LOG_H

#include "nctk/nctk.h"

void log_emit(enum nctk_log_level level, const char *file, int line, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
bool log_enabled(enum nctk_log_level level);

#define log_warning(...) log_emit(NCTK_LOG_WARNING, __FILE__, __LINE__, __VA_ARGS__)
#define log_info(...) log_emit(NCTK_LOG_INFO, __FILE__, __LINE__, __VA_ARGS__)
#define log_debug(...) log_emit(NCTK_LOG_DEBUG, __FILE__, __LINE__, __VA_ARGS__)

#endif
