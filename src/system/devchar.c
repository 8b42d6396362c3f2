/* /dev/char/MAJ:MIN links to the NVIDIA nodes. udev makes them for the devices it knows of, but
 * nodes made by nvidia-modprobe or by a driver container are unknown to it, and systemd resolves
 * a cgroup's DeviceAllow= through these links: without them, `systemctl daemon-reload` takes
 * the GPUs away from running containers. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "system/system.h"
#include "util/chase.h"
#include "util/macros.h"
#include "util/strv.h"

static bool is_left_out(const char *name) {
        static const char *const prefixes[] = {"nvidia-fs", "nvidia-nvswitch", "nvidia-nvlink"};

        for (size_t i = 0; i < ELEMENTSOF(prefixes); i++)
                if (startswith(name, prefixes[i]))
                        return true;
        return false;
}

static int scan_dir(const struct system_roots *r, const char *dir, const char *prefix,
                    struct sysnode **list, size_t *n) {
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        int k;

        k = chase_opendir(r->devfd, dir, &d);
        if (k == -ENOENT || k == -ENOTDIR)
                return 0;
        if (k < 0)
                return k;
        while ((de = readdir(d))) {
                struct sysnode *s;
                struct stat st;

                if (!startswith(de->d_name, prefix) || is_left_out(de->d_name))
                        continue;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                    !S_ISCHR(st.st_mode))
                        continue;
                if (strlen(dir) + strlen(de->d_name) + 2 > sizeof(s->path))
                        continue; /* no NVIDIA node has such a name */
                s = ARRAY_PUSH(*list, *n);
                if (!s)
                        return -ENOMEM;
                snprintf(s->path, sizeof(s->path), "%s/%s", dir, de->d_name);
                s->major = major(st.st_rdev);
                s->minor = minor(st.st_rdev);
                s->state = SYSNODE_PRESENT;
        }
        return 0;
}

static int node_cmp(const void *a, const void *b) {
        return strcmp(((const struct sysnode *) a)->path, ((const struct sysnode *) b)->path);
}

int devchar_existing(const struct system_roots *r, struct sysnode **ret, size_t *ret_n,
                     struct nctk_error **err) {
        _cleanup_free_ struct sysnode *list = NULL;
        size_t n = 0;
        int k;

        k = scan_dir(r, "/dev", "nvidia", &list, &n);
        if (k >= 0)
                k = scan_dir(r, "/dev/nvidia-caps", "nvidia-cap", &list, &n);
        if (k < 0)
                return nctk_error_set(err, -k, "cannot list the device nodes in '%s': %s",
                                      r->dev_root, strerror(-k));
        if (n > 1)
                qsort(list, n, sizeof(*list), node_cmp);
        *ret = TAKE_PTR(list);
        *ret_n = n;
        return 0;
}

static int mkdir_parents(const char *path) {
        _cleanup_free_ char *p = strdup(path);

        if (!p)
                return -ENOMEM;
        for (char *s = strchr(p + 1, '/');; s = strchr(s + 1, '/')) {
                if (s)
                        *s = '\0';
                if (p[0] && mkdir(p, 0755) < 0 && errno != EEXIST)
                        return -errno;
                if (!s)
                        return 0;
                *s = '/';
        }
}

int devchar_open_dir(const char *char_path, bool create, struct nctk_error **err) {
        int fd, k;

        if (create && (k = mkdir_parents(char_path)) < 0)
                return nctk_error_set(err, -k, "cannot create the directory '%s': %s", char_path,
                                      strerror(-k));
        fd = open(char_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0)
                return fd;
        if (errno == ENOENT && !create)
                return -ENOENT;
        return nctk_error_set(err, errno, "cannot open the directory '%s': %s", char_path,
                              strerror(errno));
}

/* PATH with repeated and trailing slashes dropped, so that two spellings compare equal. */
static char *path_tidy(const char *path) {
        char *t = strdup(path), *w = t;

        if (!t)
                return NULL;
        for (const char *p = path; *p; p++)
                if (!(*p == '/' && w > t && w[-1] == '/'))
                        *w++ = *p;
        while (w > t + 1 && w[-1] == '/')
                w--;
        *w = '\0';
        return t;
}

/* Whether CHAR_PATH is <dev root>/dev/char, where a link can be relative as udev's are. */
static bool is_dev_char(const struct system_roots *r, const char *char_path) {
        _cleanup_free_ char *want = path_join(r->dev_root, "dev/char");
        _cleanup_free_ char *a = want ? path_tidy(want) : NULL;
        _cleanup_free_ char *b = path_tidy(char_path);

        return a && b && STREQ(a, b);
}

static char *link_target(const struct system_roots *r, bool relative, const char *node) {
        char *t;

        if (relative)
                return asprintf(&t, "../%s", node + strlen("/dev/")) < 0 ? NULL : t;
        return STREQ(r->dev_root, "/") ? strdup(node) : path_join(r->dev_root, node);
}

static void link_check(int dirfd, struct devchar_link *l) {
        char buf[4096];
        struct stat st;
        ssize_t len;

        if (dirfd < 0 || fstatat(dirfd, l->name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                l->state = DEVCHAR_MISSING;
                return;
        }
        if (!S_ISLNK(st.st_mode)) {
                bool same = S_ISCHR(st.st_mode) && st.st_rdev == makedev(l->major, l->minor);
                l->state = same ? DEVCHAR_PRESENT : DEVCHAR_BLOCKED;
                if (!same && asprintf(&l->found, "%s",
                                      S_ISDIR(st.st_mode)   ? "a directory"
                                      : S_ISREG(st.st_mode) ? "a regular file"
                                                            : "no link") < 0)
                        l->found = NULL;
                return;
        }
        len = readlinkat(dirfd, l->name, buf, sizeof(buf) - 1);
        buf[len < 0 ? 0 : len] = '\0';
        if (STREQ(buf, l->target) || (fstatat(dirfd, l->name, &st, 0) == 0 && S_ISCHR(st.st_mode) &&
                                      st.st_rdev == makedev(l->major, l->minor))) {
                l->state = DEVCHAR_PRESENT;
                return;
        }
        l->state = DEVCHAR_STALE;
        l->found = strdup(buf);
}

static bool has_name(const struct devchar_link *links, size_t n, const char *name) {
        for (size_t i = 0; i < n; i++)
                if (STREQ(links[i].name, name))
                        return true;
        return false;
}

static void devchar_links_freep(struct devchar_link **l) {
        free(*l);
}

int devchar_plan(const struct system_roots *r, const char *char_path, int dirfd,
                 const struct sysnode *nodes, size_t n, struct devchar_link **ret, size_t *ret_n,
                 struct nctk_error **err) {
        _cleanup_(devchar_links_freep) struct devchar_link *links = NULL;
        bool relative = is_dev_char(r, char_path);
        size_t m = 0;

        for (size_t i = 0; i < n; i++) {
                struct devchar_link *l;
                char name[24];

                snprintf(name, sizeof(name), "%u:%u", nodes[i].major, nodes[i].minor);
                if (has_name(links, m, name))
                        continue;
                l = ARRAY_PUSH(links, m);
                if (!l || !(l->target = link_target(r, relative, nodes[i].path))) {
                        devchar_links_free(TAKE_PTR(links), m);
                        return nctk_error_set(err, ENOMEM, "out of memory");
                }
                strscpy(l->name, sizeof(l->name), name);
                l->major = nodes[i].major;
                l->minor = nodes[i].minor;
                link_check(dirfd, l);
        }
        *ret = TAKE_PTR(links);
        *ret_n = m;
        return 0;
}

void devchar_links_free(struct devchar_link *links, size_t n) {
        for (size_t i = 0; links && i < n; i++) {
                free(links[i].target);
                free(links[i].found);
        }
        free(links);
}

/* A new link under a temporary name, renamed over the stale one: there is never a moment
 * without a link, which a concurrent systemd lookup could hit. */
static int link_replace(int dirfd, const struct devchar_link *l) {
        char tmp[40];

        snprintf(tmp, sizeof(tmp), ".%s.nctk-new", l->name);
        unlinkat(dirfd, tmp, 0);
        if (symlinkat(l->target, dirfd, tmp) < 0)
                return -errno;
        if (renameat(dirfd, tmp, dirfd, l->name) < 0) {
                int e = errno;
                unlinkat(dirfd, tmp, 0);
                return -e;
        }
        return 0;
}

int devchar_apply(int dirfd, const char *char_path, const struct devchar_link *l,
                  struct nctk_error **err) {
        int k = 0;

        if (l->state == DEVCHAR_MISSING)
                k = symlinkat(l->target, dirfd, l->name) < 0 ? -errno : 0;
        else if (l->state == DEVCHAR_STALE)
                k = link_replace(dirfd, l);
        if (k < 0)
                return nctk_error_set(err, -k, "cannot create the link '%s/%s': %s", char_path,
                                      l->name, strerror(-k));
        return 0;
}
