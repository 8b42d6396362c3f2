/* Creating things inside a container rootfs through fds, with a journal so that a failed
 * configure removes everything it made. */
#ifndef NCTK_APPLY_ROOTFS_H
#define NCTK_APPLY_ROOTFS_H

#include <stdbool.h>
#include <sys/types.h>

#include "4-plan/plan.h"

enum journal_kind { JOURNAL_MOUNT, JOURNAL_FILE, JOURNAL_DIR, JOURNAL_LINK };

struct journal {
        size_t n;
        struct journal_entry {
                enum journal_kind kind;
                char *path; /* inside the rootfs */
        } * e;
};

/* mkdir -p PATH inside ROOTFD, new directories owned by UID:GID; returns an O_PATH fd. */
int rootfs_mkdir_p(int rootfd, const char *path, uid_t uid, gid_t gid, struct journal *j);

/* An O_PATH fd of PATH to mount onto: created (empty file, or directory when IS_DIR) when
 * missing; an existing one must be of the same kind (a device node counts as a file). */
int rootfs_target(int rootfd, const char *path, bool is_dir, uid_t uid, gid_t gid,
                  struct journal *j);

/* Creates the symlink PATH -> TARGET, replacing an existing symlink (not any other file). */
int rootfs_symlink(int rootfd, const char *path, const char *target, uid_t uid, gid_t gid,
                   struct journal *j);

int journal_add(struct journal *j, enum journal_kind kind, const char *path);
/* Undoes the journal in reverse order (unmount, unlink, rmdir); best effort. */
void journal_undo(int rootfd, struct journal *j);
void journal_release(struct journal *j);

#endif
