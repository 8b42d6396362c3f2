/* The select stage (DESIGN.md stage 2): what a container asked for, parsed and validated against
 * the inventory. */
#ifndef NCTK_SELECT_SELECT_H
#define NCTK_SELECT_SELECT_H

#include "nctk/nctk.h"

/* Which GPUs and MIG devices a request names. gpus[i] refers to inv->gpus[i]; migs[i][j] to
 * inv->gpus[i].migs[j]. A selected MIG device does not select its parent's full GPU node, but the
 * parent is still listed in has_mig[i]. */
struct selection {
        size_t n_gpus;
        bool *gpus;
        bool **migs;
        bool *has_mig;
        bool all; /* "all" was named */
};

/* Parses a device list ("all", "none", "void", "", "0,1", "GPU-uuid", "MIG-uuid", "0:1",
 * "00000000:65:00.0") against INV. Empty items are ignored; an unknown item is -EINVAL with a
 * message naming it and what exists. */
int selection_parse(const struct nctk_inventory *inv, const char *spec, struct selection *ret,
                    struct nctk_error **err);
void selection_release(struct selection *s);
bool selection_any(const struct selection *s);

#endif
