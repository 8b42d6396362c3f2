/* Editing a config file another program reads: one writer at a time (flock on the directory,
 * since a rename replaces the file's inode and a lock on it would be lost), and a reader of the
 * file always sees either the old bytes or the new ones (a temporary renamed over it). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "util/conffile.h"
#include "util/fileio.h"
#include "util/macros.h"

static int open_dir(struct conf_file *f, struct nctk_error **err) {
        const char *slash = strrchr(f->path, '/');
        _cleanup_free_ char *dir = NULL;

        if (slash && !slash[1])
                return nctk_error_set(err, EISDIR, "%s: is a directory; give the file's path",
                                      f->path);
        dir = !slash             ? strdup(".")
              : slash == f->path ? strdup("/")
                                 : strndup(f->path, (size_t) (slash - f->path));
        f->name = strdup(slash ? slash + 1 : f->path);
        if (!dir || !f->name)
                return -ENOMEM;
        f->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (f->dirfd < 0)
                return nctk_error_set(
                        err, errno, "%s: cannot open its directory '%s': %s%s", f->path, dir,
                        strerror(errno),
                        errno == ENOENT ? " (create it first, or is the engine installed?)" : "");
        while (flock(f->dirfd, LOCK_EX) < 0)
                if (errno != EINTR)
                        return nctk_error_set(err, errno, "%s: cannot lock '%s': %s", f->path, dir,
                                              strerror(errno));
        return 0;
}

static int read_existing(struct conf_file *f, struct nctk_error **err) {
        _cleanup_close_ int fd = openat(f->dirfd, f->name,
                                        O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        int r;

        if (fd < 0 && errno == ENOENT) {
                f->data = strdup("");
                return f->data ? 0 : -ENOMEM;
        }
        if (fd < 0 && errno == ELOOP)
                return nctk_error_set(err, ELOOP,
                                      "%s: is a symbolic link; give the path of the file it "
                                      "points to, which is the one to edit",
                                      f->path);
        if (fd < 0)
                return nctk_error_set(err, errno, "%s: cannot open: %s", f->path, strerror(errno));
        if (fstat(fd, &f->st) < 0)
                return nctk_error_set(err, errno, "%s: %s", f->path, strerror(errno));
        if (!S_ISREG(f->st.st_mode))
                return nctk_error_set(err, S_ISDIR(f->st.st_mode) ? EISDIR : EINVAL,
                                      "%s: is not a regular file%s", f->path,
                                      S_ISDIR(f->st.st_mode) ? " but a directory" : "");
        r = read_full_fd(fd, CONF_FILE_MAX, &f->data, &f->len);
        if (r == -EFBIG)
                return nctk_error_set(err, EFBIG, "%s: larger than %u MiB; not a config file?",
                                      f->path, CONF_FILE_MAX >> 20);
        if (r < 0)
                return nctk_error_set(err, -r, "%s: cannot read: %s", f->path, strerror(-r));
        f->exists = true;
        return 0;
}

int conf_file_open(struct conf_file *f, const char *path, struct nctk_error **err) {
        int r;

        *f = (struct conf_file) CONF_FILE_INIT;
        f->path = strdup(path);
        if (!f->path)
                return -ENOMEM;
        r = open_dir(f, err);
        if (r < 0)
                return r;
        return read_existing(f, err);
}

/* Writes DATA to a new temporary beside the file and renames it to NAME. */
static int write_as(struct conf_file *f, const char *name, const char *data, size_t len,
                    mode_t mode, struct nctk_error **err) {
        char tmp[64];
        _cleanup_close_ int fd = -EBADF;
        int r;

        snprintf(tmp, sizeof tmp, ".nctk-%ld-%s", (long) getpid(), "tmp");
        fd = openat(f->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 && errno == EEXIST && unlinkat(f->dirfd, tmp, 0) == 0)
                fd = openat(f->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                            0600);
        if (fd < 0)
                return nctk_error_set(err, errno, "%s: cannot write in its directory: %s", f->path,
                                      strerror(errno));
        r = write_full(fd, data, len);
        if (r >= 0 && fchmod(fd, mode) < 0)
                r = -errno;
        if (r >= 0 && f->exists && fchown(fd, f->st.st_uid, f->st.st_gid) < 0)
                r = -errno;
        if (r >= 0 && fsync(fd) < 0)
                r = -errno;
        if (r >= 0 && renameat(f->dirfd, tmp, f->dirfd, name) < 0)
                r = -errno;
        if (r < 0) {
                unlinkat(f->dirfd, tmp, 0);
                return nctk_error_set(err, -r, "%s: cannot write%s%s: %s; the file is unchanged",
                                      f->path, name == f->name ? "" : " the backup ",
                                      name == f->name ? "" : name, strerror(-r));
        }
        return fsync(f->dirfd) < 0
                       ? nctk_error_set(err, errno, "%s: fsync: %s", f->path, strerror(errno))
                       : 0;
}

int conf_file_replace(struct conf_file *f, const char *data, size_t len, mode_t new_mode,
                      const char *backup_suffix, struct nctk_error **err) {
        mode_t mode = f->exists ? f->st.st_mode & 07777 : new_mode;
        int r;

        if (backup_suffix && f->exists) {
                _cleanup_free_ char *bak = NULL;

                if (asprintf(&bak, "%s%s", f->name, backup_suffix) < 0)
                        return -ENOMEM;
                r = write_as(f, bak, f->data, f->len, mode, err);
                if (r < 0)
                        return r;
        }
        return write_as(f, f->name, data, len, mode, err);
}

int conf_file_remove(struct conf_file *f, struct nctk_error **err) {
        if (unlinkat(f->dirfd, f->name, 0) < 0 && errno != ENOENT)
                return nctk_error_set(err, errno, "%s: cannot remove: %s", f->path,
                                      strerror(errno));
        if (fsync(f->dirfd) < 0)
                return nctk_error_set(err, errno, "%s: fsync: %s", f->path, strerror(errno));
        return 0;
}

void conf_file_close(struct conf_file *f) {
        if (f->dirfd >= 0)
                close(f->dirfd); /* drops the lock */
        free(f->path);
        free(f->name);
        free(f->data);
        *f = (struct conf_file) CONF_FILE_INIT;
}
