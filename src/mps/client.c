/* A container given a GPU that has an nctk MPS daemon becomes its client: which daemon, and what
 * the plan must mount and set (4-plan adds the edits). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "mps/mps.h"
#include "util/log.h"
#include "util/macros.h"
#include "util/strv.h"

bool mps_any(const char *root) {
        char **list = NULL;
        size_t n = 0;

        if (mps_state_list(root, &list, &n) < 0)
                return false;
        for (size_t i = 0; i < n; i++)
                free(list[i]);
        free(list);
        return n > 0;
}

int mps_client_lookup(const char *root, const struct nctk_inventory *inv,
                      const struct selection *sel, struct mps_client *ret,
                      struct nctk_error **err) {
        struct mps_client c = {};
        const struct nctk_gpu *served = NULL;
        size_t n_selected = 0;

        for (size_t i = 0; i < inv->n_gpus && i < sel->n_gpus; i++) {
                struct mps_daemon d;
                if (!sel->gpus[i] && !(sel->has_mig && sel->has_mig[i]))
                        continue;
                n_selected++;
                if (mps_state_load(root, inv->gpus[i].uuid, &d) < 0)
                        continue;
                if (!mps_daemon_alive(&d)) {
                        log_debug("mps: the daemon of %s (pid %d) is gone, not a client", d.uuid,
                                  (int) d.pid);
                        continue;
                }
                served = &inv->gpus[i];
                strscpy(c.pipe_dir, sizeof(c.pipe_dir), d.pipe_dir);
                c.thread_percentage = d.thread_percentage;
                strscpy(c.pinned_limit, sizeof(c.pinned_limit), d.pinned_limit);
        }
        if (served && n_selected > 1)
                return nctk_error_set(err, EINVAL,
                                      "GPU %u (%s) has an nctk MPS daemon, and a CUDA process can "
                                      "be the client of one daemon only, seeing only its GPU: "
                                      "give this container that GPU alone, or set "
                                      "NVIDIA_MPS=disabled",
                                      served->index, served->uuid);
        c.active = served != NULL;
        if (served)
                log_debug("mps: a client of %s through '%s'", served->uuid, c.pipe_dir);
        *ret = c;
        return 0;
}
