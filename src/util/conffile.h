/* Config files that nctk's tools edit (daemon.json, containerd's and CRI-O's config.toml, our
 * own config.toml): read with checks, replaced atomically under a lock, never clobbered. */
#ifndef NCTK_UTIL_CONFFILE_H
#define NCTK_UTIL_CONFFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "nctk/nctk.h"

/* Larger files are refused: an engine's config is a few KiB; 16 MiB is a mistake. */
#define CONF_FILE_MAX (16u << 20)

struct conf_file {
        char *path;  /* as given */
        int dirfd;   /* its directory, held with an exclusive flock until conf_file_close */
        char *name;  /* the last component */
        bool exists; /* false: no file yet; data is "" */
        char *data;  /* the bytes read, NUL-terminated */
        size_t len;
        struct stat st; /* of the file read, when it exists */
};

#define CONF_FILE_INIT                                                                             \
        { .dirfd = -1 }

/* Locks PATH's directory (waiting for another nctk writing there) and reads PATH. A missing file
 * reads as empty (exists false); a missing directory, a symbolic link, anything but a regular
 * file, or a file over CONF_FILE_MAX is an error that names the path and what to do. */
int conf_file_open(struct conf_file *f, const char *path, struct nctk_error **err);

/* Replaces the file with DATA: a temporary file in the same directory, written, given the old
 * file's mode and owner (NEW_MODE for a new file), fsynced, renamed over the file, and the
 * directory fsynced; on any failure the file is as it was and no temporary is left. With
 * BACKUP_SUFFIX and an existing file, its old bytes are first kept (the same way) as
 * PATH+BACKUP_SUFFIX. */
int conf_file_replace(struct conf_file *f, const char *data, size_t len, mode_t new_mode,
                      const char *backup_suffix, struct nctk_error **err);

/* Removes the file (the lock is still held); a missing file is not an error. */
int conf_file_remove(struct conf_file *f, struct nctk_error **err);

void conf_file_close(struct conf_file *f);

#endif
