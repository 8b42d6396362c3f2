/* CDI device names of the kinds nctk serves itself, resolved like NVIDIA_VISIBLE_DEVICES. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipeline.h"
#include "util/macros.h"
#include "util/strv.h"

/* "nvidia.com/gpu=0", "=all", "=GPU-…", "=0:1" (what `nvidia-ctk cdi generate` names), and the
 * reference's just-in-time kind. No CDI spec file is read: the devices are this host's GPUs. */
static const char *const cdi_kinds[] = {"nvidia.com/gpu=", "runtime.nvidia.com/gpu="};

static const char *plain_id(const char *w) {
        for (size_t k = 0; k < ELEMENTSOF(cdi_kinds); k++)
                if (startswith(w, cdi_kinds[k]))
                        return w + strlen(cdi_kinds[k]);
        return strchr(w, '=') ? NULL : w;
}

int pipeline_cdi_resolve(const char *devices, char **ret, struct nctk_error **err) {
        _cleanup_free_ char *copy = strdup(devices), *out = NULL;
        char *save = NULL;

        if (!copy)
                return nctk_error_set(err, ENOMEM, "out of memory");
        for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
                const char *id = plain_id(w);
                char *n;

                if (!id)
                        return nctk_error_set(err, EINVAL,
                                              "CDI device '%.64s': only nvidia.com/gpu and "
                                              "runtime.nvidia.com/gpu devices are served (no CDI "
                                              "spec files are read)",
                                              w);
                if (asprintf(&n, "%s%s%s", out ? out : "", out ? "," : "", id) < 0)
                        return nctk_error_set(err, ENOMEM, "out of memory");
                free(out);
                out = n;
        }
        *ret = out ? TAKE_PTR(out) : strdup("none");
        return *ret ? 0 : nctk_error_set(err, ENOMEM, "out of memory");
}
