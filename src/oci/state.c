/* The state a runtime hands to a hook on stdin (OCI runtime spec, "State"). */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "oci/bundle.h"
#include "util/fileio.h"
#include "util/macros.h"

#define STATE_MAX (1u << 20)
#define WHAT "the container state on stdin"

static int state_parse(const json_t *st, char **ret_bundle, pid_t *ret_pid,
                       struct nctk_error **err) {
        const char *bundle = json_string_value(json_object_get(st, "bundle"));
        json_int_t pid = json_integer_value(json_object_get(st, "pid"));

        if (!bundle || !*bundle)
                bundle = json_string_value(json_object_get(st, "bundlePath"));
        if (!bundle || bundle[0] != '/' || strlen(bundle) >= PATH_MAX)
                return nctk_error_set(err, EINVAL, WHAT " has no absolute 'bundle' path");
        if (pid <= 0 || pid > INT_MAX)
                return nctk_error_set(err, EINVAL, WHAT " has no valid 'pid'");
        *ret_bundle = strdup(bundle);
        *ret_pid = (pid_t) pid;
        return *ret_bundle ? 0 : nctk_error_set(err, ENOMEM, "out of memory");
}

int oci_state_read(int fd, char **ret_bundle, pid_t *ret_pid, struct nctk_error **err) {
        _cleanup_free_ char *buf = NULL;
        json_t *st = NULL;
        size_t len;
        int r;

        r = read_full_fd(fd, STATE_MAX, &buf, &len);
        if (r == -EFBIG)
                return nctk_error_set(err, EFBIG, WHAT " is larger than 1 MiB");
        if (r < 0)
                return nctk_error_set(err, -r, "cannot read " WHAT ": %s", strerror(-r));
        r = oci_json_load(buf, len, WHAT, &st, err);
        if (r >= 0)
                r = state_parse(st, ret_bundle, ret_pid, err);
        json_decref(st);
        return r;
}
