/* Bind mounts attached through file descriptors: the source is opened on the host before we
 * enter the container, the target is an fd resolved inside the rootfs, so no path string is ever
 * looked up twice. */
#ifndef NCTK_APPLY_MOUNT_H
#define NCTK_APPLY_MOUNT_H

#include <stdbool.h>

struct mount_source {
        int fd;       /* a detached clone of the source (open_tree), or an O_PATH fd (fallback) */
        bool is_tree; /* fd is a detached mount */
        bool is_dir;
        bool is_chr; /* a character device node */
};

/* Opens HOST_PATH as a mount source; -errno. */
int mount_source_open(const char *host_path, struct mount_source *ret);
void mount_source_close(struct mount_source *s);
/* Opens a device node's source as mount_source_open does, and checks that it is the character
 * device N names (-ENODEV when it is not). */
struct edit_node;
int mount_node_source_open(const struct edit_node *n, struct mount_source *ret);

/* Attaches SRC onto TARGET_FD (an O_PATH fd of the target inside the rootfs; ROOTFD and TARGET,
 * the target's rootfs path, are used by the fallback to find the new mount again) and applies
 * FLAGS (enum mount_flags). Consumes nothing; -errno. */
int mount_attach(const struct mount_source *src, int rootfd, const char *target, int target_fd,
                 unsigned flags);

/* Makes the mount at TARGET (inside ROOTFD) read-only, nosuid, nodev and noexec as FLAGS say. */
int mount_set_flags(int rootfd, const char *target, unsigned flags);

#endif
