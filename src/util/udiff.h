/* Unified diffs of two texts, for the --dry-run of the config editors: what would change, in a
 * form `patch` and `git apply` accept. */
#ifndef NCTK_UTIL_UDIFF_H
#define NCTK_UTIL_UDIFF_H

#include <stddef.h>
#include <stdio.h>

/* Writes to F the unified diff (3 lines of context) that turns A into B under the headers
 * "--- OLD_PATH" and "+++ NEW_PATH"; nothing when they are equal. Lines end at '\n'; a last
 * line without one gets "\ No newline at end of file". Returns 0 or -ENOMEM. */
int udiff_write(FILE *f, const char *old_path, const char *new_path, const char *a, size_t alen,
                const char *b, size_t blen);

#endif
