/* containerd's editor lives on another branch (containerd.c); until it is merged, these stand-ins
 * say so, and `runtime configure --runtime=containerd` fails with that one line. */
#include <errno.h>

#include "engine/engine.h"

static int pending(struct nctk_error **err) {
        return nctk_error_set(err, ENOSYS, "containerd editing is not merged yet");
}

int containerd_configure(const char *in, size_t len, const struct engine_runtime *rt,
                         int new_version, struct engine_text *out, struct nctk_error **err) {
        (void) in, (void) len, (void) rt, (void) new_version, (void) out;
        return pending(err);
}

int containerd_unconfigure(const char *in, size_t len, const struct engine_runtime *rt,
                           struct engine_text *out, struct nctk_error **err) {
        (void) in, (void) len, (void) rt, (void) out;
        return pending(err);
}

int containerd_import_add(const char *in, size_t len, const char *glob, struct engine_text *out,
                          struct nctk_error **err) {
        (void) in, (void) len, (void) glob, (void) out;
        return pending(err);
}

int containerd_import_remove(const char *in, size_t len, const char *glob, struct engine_text *out,
                             struct nctk_error **err) {
        (void) in, (void) len, (void) glob, (void) out;
        return pending(err);
}

int containerd_config_version(const char *in, size_t len) {
        (void) in, (void) len;
        return -ENOSYS;
}
