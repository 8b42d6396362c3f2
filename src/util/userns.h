/* Whether this process runs in a user namespace other than the initial one. */
#ifndef NCTK_UTIL_USERNS_H
#define NCTK_UTIL_USERNS_H

#include <stdbool.h>

/* True when /proc/self/uid_map is not the identity map of the initial namespace: "root" here
 * is then an ordinary user on the host, with only the ids the map grants. */
bool in_user_namespace(void);

#endif
