/* The requirement checks of the pipeline: each expression against the host's driver, and
 * against each selected GPU (a MIG device's parent counts), as the reference checks them. */
#include <stdio.h>

#include "2-select/require.h"
#include "pipeline/stages.h"

/* Every expression of Q for GPU G (NULL: no device). */
static int check_for(const struct container_request *q, const struct nctk_inventory *inv,
                     const struct nctk_gpu *g, struct nctk_error **err) {
        char arch[16] = "";
        struct require_facts f = {
                .cuda = inv->cuda_version[0] ? inv->cuda_version : NULL,
                .driver = inv->driver_version[0] ? inv->driver_version : NULL,
        };

        if (g && g->cc_major > 0)
                snprintf(arch, sizeof(arch), "%d.%d", g->cc_major, g->cc_minor);
        f.arch = arch[0] ? arch : NULL;
        f.brand = g && g->brand[0] ? g->brand : NULL;
        f.arch_name = g && g->arch_name[0] ? g->arch_name : NULL;
        for (size_t k = 0; k < q->n_requirements; k++) {
                int r = require_check(q->requirements[k], &f, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

int pipeline_requirements(const struct container_request *q, const struct nctk_inventory *inv,
                          const struct selection *sel, struct nctk_error **err) {
        bool any = false;

        if (q->requirements_disabled || q->n_requirements == 0)
                return 0;
        for (size_t i = 0; i < inv->n_gpus; i++) {
                if (!sel->gpus[i] && !sel->has_mig[i])
                        continue;
                any = true;
                int r = check_for(q, inv, &inv->gpus[i], err);
                if (r < 0)
                        return r;
        }
        return any ? 0 : check_for(q, inv, NULL, err);
}
