/* An OCI bundle's config.json: the one reader of the hook and the shim, its root.path, and the
 * atomic rewrite of the shim. The bundle directory is the runtime's, but what is in it came
 * from an image and an engine: the file is opened without following a link, must be a regular
 * file, and is read up to a size cap. */
#ifndef NCTK_OCI_BUNDLE_H
#define NCTK_OCI_BUNDLE_H

#include <jansson.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "nctk/nctk.h"

#define BUNDLE_SPEC_MAX (16u << 20) /* bytes of config.json read */

struct bundle {
        char *dir;  /* the bundle directory */
        char *path; /* config.json's path, for messages */
        int dirfd;  /* the directory config.json is in */
        char *name; /* config.json's name there */
        char *raw;  /* the bytes read */
        size_t len;
        struct stat st; /* of the file read: its mode and owner are kept when it is rewritten */
        json_t *spec;   /* after bundle_parse */
};

/* Opens DIR's spec file CONFIG (NULL: "config.json"; crun's --config, relative to DIR unless
 * absolute) and reads it. 0, or -errno with ERR ("cannot open '<path>': ...", "'<path>' is not
 * a regular file", "'<path>' is larger than 16 MiB"). B is released by bundle_release either
 * way. */
int bundle_open(const char *dir, const char *config, struct bundle *b, struct nctk_error **err);

/* Parses B's bytes into B->spec, a JSON object. -EINVAL with ERR naming the line and column. */
int bundle_parse(struct bundle *b, struct nctk_error **err);

/* What the reference hook checks of a spec: ociVersion a string, process and root objects.
 * -EINVAL with ERR ("invalid OCI spec: no process"). */
int bundle_check(const struct bundle *b, struct nctk_error **err);

/* root.path, made absolute against the bundle directory and cleaned (not resolved: the path
 * is opened later in the container's mount namespace). -EINVAL when missing or the host's '/'. */
int bundle_rootfs(const struct bundle *b, char **ret, struct nctk_error **err);

/* Replaces the spec file with B->spec, atomically: written to a temporary file created with
 * O_EXCL|O_NOFOLLOW in the same directory, given the original's mode (and owner, when it
 * differs from ours), then renamed over it; on failure the temporary file is removed and the
 * spec file is left as it was. Not fsync'ed: a bundle does not outlive a crash of the engine
 * that made it. */
int bundle_write(const struct bundle *b, struct nctk_error **err);

void bundle_release(struct bundle *b);

/* The container state a runtime writes to a hook's stdin (FD): its bundle (an absolute path;
 * "bundlePath" of runtimes before OCI 1.0) and its pid. At most 1 MiB is read. -errno with ERR
 * ("the container state on stdin has no absolute 'bundle' path", ...). */
int oci_state_read(int fd, char **ret_bundle, pid_t *ret_pid, struct nctk_error **err);

/* BUF (LEN bytes) as JSON; the parser's message (which quotes the input) made printable.
 * WHAT names the input in ERR: "cannot parse WHAT: <why> (line L, column C)". */
int oci_json_load(const char *buf, size_t len, const char *what, json_t **ret,
                  struct nctk_error **err);

#endif
