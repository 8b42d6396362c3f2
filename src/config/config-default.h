/* The text of `nvidia-ctk config default`, and config values written as TOML. */
#ifndef NCTK_CONFIG_CONFIG_DEFAULT_H
#define NCTK_CONFIG_CONFIG_DEFAULT_H

#include <stddef.h>

#include "config/config.h"

/* A commented config.toml with every key of the key table: a line on what it does, the
 * reference's example as a "#key = value" comment where there is one, and the key with its
 * default (on this host: ldconfig and user depend on it). Parsed back, it gives exactly the
 * defaults. *RET is a heap string of *RET_LEN bytes (RET_LEN may be NULL). */
int config_default_text(char **ret, size_t *ret_len, struct nctk_error **err);

/* K's value in C as TOML text (`true`, `"x"`, `["a", "b"]`) in *RET (heap). Returns 1, 0 for an
 * unset value (nothing written), or -ENOMEM. */
int config_value_text(const struct nctk_config *c, const struct config_key *k, char **ret);

#endif
