/* Errors in the runc log format, which engines read back when a runtime fails. */
#include <stdio.h>
#include <time.h>

#include "oci/shim.h"
#include "util/macros.h"

void runc_log_error(const char *path, const char *format, const char *msg) {
        _cleanup_fclose_ FILE *f = path ? fopen(path, "ae") : NULL;
        bool is_json = format && STREQ(format, "json");
        _cleanup_free_ char *line = NULL;
        json_auto_t *j = NULL;
        time_t now = time(NULL);
        char when[64];
        struct tm tm;

        if (!f)
                return;
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
        /* The text format quotes the message as JSON strings are quoted (as logrus does). */
        j = is_json ? json_pack("{s:s, s:s, s:s}", "level", "error", "msg", msg, "time", when)
                    : json_string(msg);
        line = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        if (line && is_json)
                fprintf(f, "%s\n", line);
        else if (line)
                fprintf(f, "time=\"%s\" level=error msg=%s\n", when, line);
}
