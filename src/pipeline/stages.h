/* The pipeline's own steps, in their own files. */
#ifndef NCTK_PIPELINE_STAGES_H
#define NCTK_PIPELINE_STAGES_H

#include "pipeline/pipeline.h"

/* Q's requirements checked against INV for the selection SEL. -EPERM (unmet), -EINVAL. */
int pipeline_requirements(const struct container_request *q, const struct nctk_inventory *inv,
                          const struct selection *sel, struct nctk_error **err);

#endif
