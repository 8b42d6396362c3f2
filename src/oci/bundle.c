/* config.json of a bundle: read once, safely, by every front-end that needs it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "2-select/values.h"
#include "oci/bundle.h"
#include "util/fileio.h"
#include "util/macros.h"
#include "util/strv.h"

int oci_json_load(const char *buf, size_t len, const char *what, json_t **ret,
                  struct nctk_error **err) {
        json_error_t jerr;
        json_t *j = json_loadb(buf, len, 0, &jerr);

        if (j) {
                *ret = j;
                return 0;
        }
        for (char *p = jerr.text; *p; p++)
                if ((unsigned char) *p < ' ' || (unsigned char) *p >= 0x7f)
                        *p = '?';
        return nctk_error_set(err, EINVAL, "cannot parse %s: %s (line %d, column %d)", what,
                              jerr.text, jerr.line, jerr.column);
}

/* B->dirfd and B->name for CONFIG in B->dir. */
static int locate(struct bundle *b, const char *config) {
        const char *slash = strrchr(config, '/');
        _cleanup_free_ char *dir = NULL;

        if (!slash)
                dir = strdup(b->dir);
        else if (config[0] == '/')
                dir = strndup(config, (size_t) (slash - config) + 1);
        else if (asprintf(&dir, "%s/%.*s", b->dir, (int) (slash - config), config) < 0)
                dir = NULL;
        b->name = strdup(slash ? slash + 1 : config);
        b->path = config[0] == '/' ? strdup(config) : path_join(b->dir, config);
        if (!dir || !b->name || !b->path)
                return -ENOMEM;
        b->dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        return b->dirfd < 0 ? -errno : 0;
}

int bundle_open(const char *dir, const char *config, struct bundle *b, struct nctk_error **err) {
        _cleanup_close_ int fd = -EBADF;
        int r;

        *b = (struct bundle){.dirfd = -EBADF, .dir = strdup(dir)};
        r = b->dir ? locate(b, config ? config : "config.json") : -ENOMEM;
        if (r == -ENOMEM)
                return nctk_error_set(err, ENOMEM, "out of memory");
        if (r < 0)
                return nctk_error_set(err, -r, "cannot open the bundle '%s': %s", dir,
                                      strerror(-r));
        fd = openat(b->dirfd, b->name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &b->st) < 0)
                return nctk_error_set(err, errno, "cannot open '%s': %s", b->path, strerror(errno));
        if (!S_ISREG(b->st.st_mode))
                return nctk_error_set(err, EINVAL, "'%s' is not a regular file", b->path);
        r = read_full_fd(fd, BUNDLE_SPEC_MAX, &b->raw, &b->len);
        if (r == -EFBIG)
                return nctk_error_set(err, EFBIG, "'%s' is larger than %u MiB", b->path,
                                      BUNDLE_SPEC_MAX >> 20);
        if (r < 0)
                return nctk_error_set(err, -r, "cannot read '%s': %s", b->path, strerror(-r));
        return 0;
}

int bundle_parse(struct bundle *b, struct nctk_error **err) {
        int r = oci_json_load(b->raw, b->len, b->path, &b->spec, err);

        if (r >= 0 && !json_is_object(b->spec)) {
                b->spec = (json_decref(b->spec), NULL);
                return nctk_error_set(err, EINVAL, "'%s' is not a JSON object", b->path);
        }
        return r;
}

int bundle_check(const struct bundle *b, struct nctk_error **err) {
        if (!json_is_string(json_object_get(b->spec, "ociVersion")))
                return nctk_error_set(err, EINVAL, "invalid OCI spec: no ociVersion");
        if (!json_is_object(json_object_get(b->spec, "process")))
                return nctk_error_set(err, EINVAL, "invalid OCI spec: no process");
        if (!json_is_object(json_object_get(b->spec, "root")))
                return nctk_error_set(err, EINVAL, "invalid OCI spec: no root");
        return 0;
}

int bundle_rootfs(const struct bundle *b, char **ret, struct nctk_error **err) {
        const char *root =
                json_string_value(json_object_get(json_object_get(b->spec, "root"), "path"));
        _cleanup_free_ char *joined = NULL;
        char *clean;

        if (!root || !*root || strlen(root) >= 4096)
                return nctk_error_set(err, EINVAL, "invalid OCI spec: no root.path");
        joined = root[0] == '/' ? strdup(root) : path_join(b->dir, root);
        clean = joined ? path_clean(joined) : NULL;
        if (!clean)
                return nctk_error_set(err, ENOMEM, "out of memory");
        if (STREQ(clean, "/")) {
                free(clean);
                return nctk_error_set(err, EINVAL,
                                      "invalid OCI spec: the container's root.path "
                                      "is the host's '/'");
        }
        *ret = clean;
        return 0;
}

/* Creates a fresh temporary file next to NAME; its name goes to TMP. */
static int create_temp(int dirfd, const char *name, char *tmp, size_t size) {
        for (int tries = 0; tries < 16; tries++) {
                unsigned rnd = 0;
                int fd;

                if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
                        rnd ^= (unsigned) getpid() * 2654435761u + (unsigned) tries;
                if ((size_t) snprintf(tmp, size, ".%s.nctk-%08x", name, rnd) >= size)
                        return -ENAMETOOLONG;
                fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (fd >= 0 || errno != EEXIST)
                        return fd >= 0 ? fd : -errno;
        }
        return -EEXIST;
}

static int write_contents(int fd, const json_t *spec, const struct stat *orig) {
        _cleanup_free_ char *s = json_dumps(spec, JSON_COMPACT);
        int r;

        if (!s)
                return -ENOMEM;
        r = write_full(fd, s, strlen(s));
        r = r < 0 ? r : write_full(fd, "\n", 1);
        if (r >= 0 && fchmod(fd, orig->st_mode & 07777) < 0)
                r = -errno;
        if (r >= 0 && (orig->st_uid != geteuid() || orig->st_gid != getegid()) &&
            fchown(fd, orig->st_uid, orig->st_gid) < 0)
                r = -errno;
        return r;
}

int bundle_write(const struct bundle *b, struct nctk_error **err) {
        _cleanup_close_ int fd = -EBADF;
        char tmp[512];
        int r;

        fd = create_temp(b->dirfd, b->name, tmp, sizeof(tmp));
        if (fd < 0)
                return nctk_error_set(err, -fd, "cannot create a temporary file for '%s': %s",
                                      b->path, strerror(-fd));
        r = write_contents(fd, b->spec, &b->st);
        if (r >= 0 && renameat(b->dirfd, tmp, b->dirfd, b->name) < 0)
                r = -errno;
        if (r < 0) {
                unlinkat(b->dirfd, tmp, 0);
                return nctk_error_set(err, -r, "cannot write '%s': %s", b->path, strerror(-r));
        }
        return 0;
}

void bundle_release(struct bundle *b) {
        if (b->dirfd >= 0)
                close(b->dirfd);
        json_decref(b->spec);
        free(b->raw);
        free(b->name);
        free(b->path);
        free(b->dir);
        *b = (struct bundle){.dirfd = -EBADF};
}
