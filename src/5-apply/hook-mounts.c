/* The mounts and device nodes that the runtime shim hands to its createContainer hook when the
 * low-level runtime cannot be trusted to make their targets (runc < 1.1.14 creates them by path,
 * so an image that swaps a directory for a symlink meanwhile gets files made on the host). The
 * hook runs in the container's mount namespace before pivot_root and makes them exactly as
 * `configure` does: targets through fds confined to the rootfs, sources cloned and attached onto
 * the target's fd. One file holds both ends of the command line and the work, so they agree. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "5-apply/hook-mounts.h"
#include "5-apply/mount.h"
#include "5-apply/propagation.h"
#include "5-apply/rootfs.h"
#include "util/macros.h"
#include "util/strv.h"

static const struct {
        unsigned flag;
        const char *name;
} mount_opts[] = {
        {MOUNT_RDONLY, "ro"},
        {MOUNT_NOSUID, "nosuid"},
        {MOUNT_NODEV, "nodev"},
        {MOUNT_NOEXEC, "noexec"},
};

/* Device nodes are bound as `configure` binds them: read-only and nosuid do not stop I/O. */
#define NODE_FLAGS (MOUNT_RDONLY | MOUNT_NOSUID | MOUNT_NOEXEC)

static bool is_proc(const char *target) {
        return startswith(target, "/proc/") || STREQ(target, "/proc");
}

/* ---- the command line ----------------------------------------------------------------------- */

static int push_arg(json_t *args, const char *opt, const char *prefix, const char *source,
                    const char *target) {
        _cleanup_free_ char *s = NULL;
        int n = STREQ(source, target) ? asprintf(&s, "%s%s", prefix, source)
                                      : asprintf(&s, "%s%s::%s", prefix, source, target);

        if (n < 0 || json_array_append_new(args, json_string(opt)) < 0 ||
            json_array_append_new(args, json_string(s)) < 0)
                return -ENOMEM;
        return 0;
}

/* "ro,nosuid,nodev:" for FLAGS; BUF holds every option. */
static void opts_string(unsigned flags, char *buf, size_t size) {
        size_t n = 0;

        for (size_t i = 0; i < ELEMENTSOF(mount_opts); i++)
                if (flags & mount_opts[i].flag)
                        n += (size_t) snprintf(buf + n, size - n, "%s%s", n ? "," : "",
                                               mount_opts[i].name);
        snprintf(buf + n, size - n, ":");
}

/* Whether ARRAY (of objects) has one whose KEY is VALUE. */
static bool has_entry(const json_t *array, const char *key, const char *value) {
        size_t i;
        json_t *v;

        json_array_foreach(array, i, v) {
                const char *s = json_string_value(json_object_get(v, key));
                if (s && STREQ(s, value))
                        return true;
        }
        return false;
}

int hook_mounts_args(json_t *args, const json_t *spec, const struct edits *e, bool *ret_any) {
        const json_t *mounts = json_object_get(spec, "mounts");
        const json_t *devices = json_object_get(json_object_get(spec, "linux"), "devices");
        char prefix[64];
        int r = 0;

        for (size_t i = 0; r >= 0 && i < e->n_mounts; i++) {
                const struct edit_mount *m = &e->mounts[i];

                if (is_proc(m->target) || has_entry(mounts, "destination", m->target))
                        continue;
                opts_string(m->flags, prefix, sizeof(prefix));
                r = push_arg(args, "--mount", prefix, m->source, m->target);
                *ret_any = true;
        }
        for (size_t i = 0; r >= 0 && i < e->n_nodes; i++) {
                const struct edit_node *n = &e->nodes[i];

                if (has_entry(devices, "path", n->target))
                        continue;
                snprintf(prefix, sizeof(prefix), "%u:%u:", n->major, n->minor);
                r = push_arg(args, "--node", prefix, n->source, n->target);
                *ret_any = true;
        }
        return r;
}

/* "SOURCE[::TARGET]", both absolute, into two heap strings. */
static int parse_paths(const char *s, char **ret_source, char **ret_target) {
        const char *sep = strstr(s, "::");
        _cleanup_free_ char *source = sep ? strndup(s, (size_t) (sep - s)) : strdup(s);
        _cleanup_free_ char *target = strdup(sep ? sep + 2 : s);

        if (!source || !target)
                return -ENOMEM;
        if (source[0] != '/' || target[0] != '/' || STREQ(target, "/") || is_proc(target))
                return -EINVAL;
        *ret_source = TAKE_PTR(source);
        *ret_target = TAKE_PTR(target);
        return 0;
}

static int parse_opts(const char *s, size_t len, unsigned *ret) {
        unsigned flags = 0;

        while (len > 0) {
                const char *comma = memchr(s, ',', len);
                size_t n = comma ? (size_t) (comma - s) : len, i;

                for (i = 0; i < ELEMENTSOF(mount_opts); i++)
                        if (strlen(mount_opts[i].name) == n &&
                            memcmp(s, mount_opts[i].name, n) == 0)
                                break;
                if (i == ELEMENTSOF(mount_opts))
                        return -EINVAL;
                flags |= mount_opts[i].flag;
                s += n + (comma ? 1 : 0);
                len -= n + (comma ? 1 : 0);
        }
        *ret = flags;
        return 0;
}

int hook_mount_parse(struct edits *e, const char *arg) {
        const char *colon = strstr(arg, ":/");
        struct edit_mount m = {};
        int r;

        if (!colon || memchr(arg, '/', (size_t) (colon - arg)))
                return -EINVAL;
        r = parse_opts(arg, (size_t) (colon - arg), &m.flags);
        r = r < 0 ? r : parse_paths(colon + 1, &m.source, &m.target);
        if (r < 0)
                return r;
        struct edit_mount *slot = ARRAY_PUSH(e->mounts, e->n_mounts);
        if (!slot) {
                free(m.source);
                free(m.target);
                return -ENOMEM;
        }
        *slot = m;
        return 0;
}

int hook_node_parse(struct edits *e, const char *arg) {
        struct edit_node node = {.mode = 0666};
        int n = 0, r;

        if (sscanf(arg, "%u:%u:%n", &node.major, &node.minor, &n) != 2 || n == 0)
                return -EINVAL;
        r = parse_paths(arg + n, &node.source, &node.target);
        if (r < 0)
                return r;
        struct edit_node *slot = ARRAY_PUSH(e->nodes, e->n_nodes);
        if (!slot) {
                free(node.source);
                free(node.target);
                return -ENOMEM;
        }
        *slot = node;
        return 0;
}

/* ---- the work ---------------------------------------------------------------------------------
 */

/* SRC onto TARGET, created when missing; SOURCE names it in errors ("device" for nodes). */
static int bind_one(int rootfd, struct mount_source *src, const char *source, const char *target,
                    unsigned flags, uid_t uid, gid_t gid, struct journal *j,
                    struct nctk_error **err) {
        _cleanup_close_ int tfd = rootfs_target(rootfd, target, src->is_dir, uid, gid, j);
        int r;

        if (tfd < 0)
                return nctk_error_set(err, -tfd, "mount target '%s': %s", target, strerror(-tfd));
        r = mount_attach(src, rootfd, target, tfd, flags);
        r = r < 0 ? r : journal_add(j, JOURNAL_MOUNT, target);
        if (r < 0)
                return nctk_error_set(err, -r, "mount '%s' on '%s': %s", source, target,
                                      strerror(-r));
        return 0;
}

static int mounts_apply(int rootfd, const struct edits *e, uid_t uid, gid_t gid, struct journal *j,
                        struct nctk_error **err) {
        for (size_t i = 0; i < e->n_mounts; i++) {
                const struct edit_mount *m = &e->mounts[i];
                struct mount_source src = {.fd = -EBADF};
                int r;

                if (is_proc(m->target))
                        continue; /* apply_finalize's, under the /proc mask */
                r = mount_source_open(m->source, &src);
                if (r < 0)
                        return nctk_error_set(err, -r, "cannot open '%s': %s", m->source,
                                              strerror(-r));
                r = bind_one(rootfd, &src, m->source, m->target, m->flags, uid, gid, j, err);
                mount_source_close(&src);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int nodes_apply(int rootfd, const struct edits *e, uid_t uid, gid_t gid, struct journal *j,
                       struct nctk_error **err) {
        for (size_t i = 0; i < e->n_nodes; i++) {
                const struct edit_node *n = &e->nodes[i];
                struct mount_source src = {.fd = -EBADF};
                int r = mount_node_source_open(n, &src);

                if (r < 0)
                        return nctk_error_set(err, -r, "device node '%s' (%u:%u): %s", n->source,
                                              n->major, n->minor,
                                              r == -ENODEV ? "not the expected character device"
                                                           : strerror(-r));
                r = bind_one(rootfd, &src, n->source, n->target, NODE_FLAGS, uid, gid, j, err);
                mount_source_close(&src);
                if (r < 0)
                        return r;
        }
        return 0;
}

int apply_hook_mounts(int rootfd, const struct edits *e, uid_t uid, gid_t gid, struct journal *j,
                      struct nctk_error **err) {
        int r;

        bool any = e->n_nodes > 0;

        for (size_t i = 0; !any && i < e->n_mounts; i++)
                any = !is_proc(e->mounts[i].target);
        if (!any)
                return 0;
        /* A rootfs that is a shared mount would carry our mounts to its peers on the host. */
        r = rootfs_stop_propagation(rootfd);
        if (r < 0)
                return nctk_error_set(err, -r,
                                      "cannot keep mounts in the rootfs from propagating to the "
                                      "host: %s",
                                      strerror(-r));
        r = mounts_apply(rootfd, e, uid, gid, j, err);
        return r < 0 ? r : nodes_apply(rootfd, e, uid, gid, j, err);
}
