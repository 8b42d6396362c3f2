/* The low-level runtime (runc or crun, as nvidia-container-runtime.runtimes lists them) against
 * known flaws in how it makes mount targets and device nodes: runc before 1.1.14 creates them by
 * path inside the rootfs, so an image can swap in a symlink and have a node or file made on
 * the host (CVE-2024-45310). nctk's runtime works around it by mounting in its own hook; an
 * engine that injects CDI devices itself (docker's features.cdi, podman, containerd's
 * enable_cdi) does not go through nctk, and neither does mount-in-hook = "never". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doctor/doctor.h"
#include "oci/runtime-safety.h"
#include "util/macros.h"

#define ID "runtime.version"
#define FIX                                                                                        \
        "upgrade runc to 1.1.14 or later (Debian 12: bookworm-backports), or install crun and "    \
        "list it first in nvidia-container-runtime.runtimes"

static char *first_runtime(struct doctor_state *s) {
        static char *const defaults[] = {(char *) "runc", (char *) "crun", NULL};
        char *const *names =
                s->o->cfg && s->o->cfg->runtime.runtimes ? s->o->cfg->runtime.runtimes : defaults;

        for (size_t i = 0; names[i]; i++) {
                char *p = doctor_host_which(s, names[i]);
                if (p)
                        return p;
        }
        return NULL;
}

int doctor_check_runtime(struct doctor_state *s) {
        _cleanup_free_ char *runtime = first_runtime(s), *out = NULL;
        const char *setting = s->o->cfg ? s->o->cfg->runtime.mount_in_hook : NULL;
        int r;

        if (!runtime)
                return doctor_add(s, ID, DOCTOR_WARN, "apt-get install runc (or crun)",
                                  "no low-level runtime (runc, crun) in PATH");
        r = runtime_version_output(runtime, &out);
        if (r < 0)
                return doctor_add(s, ID, DOCTOR_WARN, FIX, "%s --version fails (%s)", runtime,
                                  strerror(-r));
        out[strcspn(out, "\n")] = '\0';
        if (runtime_version_is_safe(out))
                return doctor_add(s, ID, DOCTOR_OK, NULL,
                                  "%s: '%s' makes mount targets and device nodes safely", runtime,
                                  out);
        if (setting && STREQ(setting, "never"))
                return doctor_add(s, ID, DOCTOR_FAIL, FIX,
                                  "%s is '%s', older than runc 1.1.14 (CVE-2024-45310: an image "
                                  "can have it create files and device nodes on the host), and "
                                  "mount-in-hook = \"never\" leaves GPU mounts to it",
                                  runtime, out);
        if (s->engine_native_cdi)
                return doctor_add(s, ID, DOCTOR_FAIL, FIX,
                                  "%s is '%s', older than runc 1.1.14 (CVE-2024-45310), and an "
                                  "engine injects CDI devices itself, through it: an image can "
                                  "have it create files and device nodes on the host",
                                  runtime, out);
        return doctor_add(s, ID, DOCTOR_WARN, FIX,
                          "%s is '%s', older than runc 1.1.14 (CVE-2024-45310): nctk's runtime "
                          "makes GPU mounts in its own hook for it, but containers without nctk "
                          "are exposed",
                          runtime, out);
}
