/* Container requirements: the expression language of `configure --require=EXPR` and of the
 * image's NVIDIA_REQUIRE_* variables, checked against what the host's driver and GPU are. */
#ifndef NCTK_SELECT_REQUIRE_H
#define NCTK_SELECT_REQUIRE_H

#include "nctk/nctk.h"

/* Longest expression accepted, in bytes (the NUL not counted). */
#define REQUIRE_EXPR_MAX 4096

/* What the host offers. NULL (or "") means unknown for cuda and driver, and no device for arch and
 * brand; a condition on an unknown fact holds. The strings are only read. */
struct require_facts {
        const char *cuda;      /* CUDA version the driver supports, "13.0" */
        const char *driver;    /* NVRM version, "580.159.04" */
        const char *arch;      /* compute capability of the GPU, "9.0" */
        const char *brand;     /* NVML brand, "Nvidia"; compared case-insensitively */
        const char *arch_name; /* "Pascal"; only named beside arch in messages, NULL: unknown */
};

/* Grammar (drop-in for libnvidia-container's):
 *   expr   = term { ws term }        any term holding is enough (OR); ws is space, tab, CR, LF
 *   term   = factor { "," factor }   every factor must hold (AND)
 *   factor = NAME OP VALUE           no blanks inside
 *   NAME   = cuda | driver | arch | brand   (case-insensitive)
 *   OP     = "=" | "!=" | "<" | "<=" | ">" | ">="   (brand: "=" and "!=" only)
 *   VALUE  = version for cuda/driver/arch: digits separated by single dots, each component at
 *            most 4294967295; trailing ".0" components do not count (12 == 12.0.0);
 *            for brand, any printable ASCII except the operator characters.
 * Empty terms and empty factors (",,") are skipped; an expression without factors holds.
 * Only printable ASCII and the blanks above may appear; nothing is allocated but the error. */

/* Checks the syntax of EXPR only. Returns 0, -EINVAL (malformed, ERR names the factor and what is
 * valid) or -E2BIG (longer than REQUIRE_EXPR_MAX). */
int require_validate(const char *expr, struct nctk_error **err);

/* Validates the whole of EXPR, then evaluates it against F (NULL: nothing known). Returns 0 when
 * satisfied, -EPERM when not (ERR quotes the first term and what this host has for each of its
 * failing factors), -EINVAL when EXPR is malformed or a fact of F it needs is not a version,
 * -E2BIG when EXPR is too long. */
int require_check(const char *expr, const struct require_facts *f, struct nctk_error **err);

/* Compares two versions as above; *RET_CMP gets -1, 0 or 1. Returns -EINVAL when either is not a
 * version (then *RET_CMP is untouched). */
int version_compare(const char *a, const char *b, int *ret_cmp);

#endif
