/* Keeping our mounts out of the rootfs mount's peers (see propagation.c). */
#ifndef NCTK_APPLY_PROPAGATION_H
#define NCTK_APPLY_PROPAGATION_H

#include <stdbool.h>

/* Makes the mount that holds ROOTFD a slave when it is shared. 0: it was not shared; 1: it is a
 * slave now; -errno. */
int rootfs_stop_propagation(int rootfd);
/* Parses mountinfo TEXT (modified) for mount ID. Exposed for tests. */
int mountinfo_find(char *text, unsigned long long id, char **ret_point, bool *ret_shared);

#endif
