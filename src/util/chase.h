/* Path resolution confined to a root directory fd (see chase.c). */
#ifndef NCTK_UTIL_CHASE_H
#define NCTK_UTIL_CHASE_H

#include <dirent.h>
#include <stdbool.h>
#include <sys/types.h>

/* Opens PATH as a process chrooted at ROOTFD would see it, never leaving ROOTFD's tree.
 * FLAGS are open(2) flags (O_CLOEXEC is always added); with O_NOFOLLOW a final symlink is
 * opened itself (use with O_PATH). Returns an fd or -errno. */
int chase_open(int rootfd, const char *path, int flags, mode_t mode);
/* The same, always by the userspace walk (what chase_open falls back to without openat2). */
int chase_open_walk(int rootfd, const char *path, int flags, mode_t mode);
/* Opens the directory PATH inside ROOTFD, resolved as chase_open does, for reading its entries.
 * On success *RET owns the fd (closedir() releases both). Returns 0, or -errno: -ENOTDIR when
 * PATH is not a directory, -ENOENT when it is missing, -ENOMEM when fdopendir() fails. */
int chase_opendir(int rootfd, const char *path, DIR **ret);
/* Resolves PATH inside ROOTFD (whose real path is ROOT_REAL) and returns the real path of the
 * result relative to the root, starting with "/". */
int chase_real_path(int rootfd, const char *root_real, const char *path, char **ret);
/* The path the kernel reports for FD (/proc/self/fd/N). */
int fd_get_path(int fd, char **ret);

#endif
