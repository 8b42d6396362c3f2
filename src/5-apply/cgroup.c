/* Which device cgroup controls a process (v1 devices controller, or cgroup2), found from
 * /proc/PID/cgroup and our mountinfo, and the v1 way of allowing devices: devices.allow. */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "5-apply/cgroup.h"
#include "util/fileio.h"
#include "util/macros.h"
#include "util/strv.h"

#define PROC_CGROUP_MAX (1024 * 1024)
#define MOUNTINFO_MAX (64 * 1024 * 1024)

void cgroup_location_release(struct cgroup_location *loc) {
        free(loc->path);
        loc->path = NULL;
}

/* Whether WORD is one of the comma-separated items of LIST[0..LEN). */
static bool list_has(const char *list, size_t len, const char *word) {
        size_t wlen = strlen(word);

        for (const char *p = list, *end = list + len; p < end;) {
                const char *comma = memchr(p, ',', (size_t) (end - p));
                size_t ilen = (size_t) ((comma ? comma : end) - p);

                if (ilen == wlen && memcmp(p, word, wlen) == 0)
                        return true;
                p += ilen + 1;
        }
        return false;
}

/* From /proc/PID/cgroup ("ID:CONTROLLERS:PATH" lines): the path in the v1 hierarchy with the
 * devices controller if there is one, else the path in the v2 hierarchy ("0::PATH"). */
static int proc_cgroup_find(const char *text, enum cgroup_version *ret_version, char **ret_path) {
        _cleanup_free_ char *v1 = NULL, *v2 = NULL;

        for (const char *line = text; *line;) {
                const char *eol = strchrnul(line, '\n');
                const char *c1 = memchr(line, ':', (size_t) (eol - line));
                const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t) (eol - c1 - 1)) : NULL;

                if (c2 && !v1 && list_has(c1 + 1, (size_t) (c2 - c1 - 1), "devices")) {
                        v1 = strndup(c2 + 1, (size_t) (eol - c2 - 1));
                        if (!v1)
                                return -ENOMEM;
                } else if (c2 && !v2 && c1 - line == 1 && line[0] == '0' && c2 == c1 + 1) {
                        v2 = strndup(c2 + 1, (size_t) (eol - c2 - 1));
                        if (!v2)
                                return -ENOMEM;
                }
                line = *eol ? eol + 1 : eol;
        }
        if (!v1 && !v2)
                return -ENOENT;
        *ret_version = v1 ? CGROUP_V1 : CGROUP_V2;
        *ret_path = v1 ? TAKE_PTR(v1) : TAKE_PTR(v2);
        return 0;
}

/* Undoes mountinfo's octal escapes (\040 for a space) in place. */
static void unescape_octal(char *s) {
        char *w = s;

        for (const char *r = s; *r;) {
                if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
                    r[3] >= '0' && r[3] <= '7') {
                        *w++ = (char) (((r[1] - '0') << 6) | ((r[2] - '0') << 3) | (r[3] - '0'));
                        r += 4;
                } else {
                        *w++ = *r++;
                }
        }
        *w = '\0';
}

struct mount_entry {
        char *root, *mount_point, *fstype, *super_opts; /* point into a copy of the line */
};

/* Splits one mountinfo line (modified in place): "ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTS
 * [OPTIONAL...] - FSTYPE SOURCE SUPER_OPTS". */
static bool mountinfo_split(char *line, struct mount_entry *e) {
        char *field[6], *save = NULL, *tok;
        size_t i = 0;

        for (tok = strtok_r(line, " ", &save); tok && i < 6; tok = strtok_r(NULL, " ", &save))
                field[i++] = tok;
        if (i < 6)
                return false;
        while (tok && !STREQ(tok, "-"))
                tok = strtok_r(NULL, " ", &save);
        if (!tok)
                return false;
        e->root = field[3];
        e->mount_point = field[4];
        e->fstype = strtok_r(NULL, " ", &save);
        (void) strtok_r(NULL, " ", &save); /* source */
        e->super_opts = strtok_r(NULL, " ", &save);
        if (!e->fstype || !e->super_opts)
                return false;
        unescape_octal(e->root);
        unescape_octal(e->mount_point);
        return true;
}

static bool mount_is_hierarchy(const struct mount_entry *e, enum cgroup_version version) {
        if (version == CGROUP_V2)
                return STREQ(e->fstype, "cgroup2");
        return STREQ(e->fstype, "cgroup") &&
               list_has(e->super_opts, strlen(e->super_opts), "devices");
}

/* PATH relative to ROOT (a mount's root inside the hierarchy), or NULL when PATH is not under
 * it. */
static const char *path_under(const char *path, const char *root) {
        size_t len = strlen(root);

        if (STREQ(root, "/"))
                return path;
        if (strncmp(path, root, len) != 0 || (path[len] != '/' && path[len] != '\0'))
                return NULL;
        return path + len;
}

/* The directory of cgroup PATH of the VERSION hierarchy, through the first mount that shows
 * it. */
static int mountinfo_find(const char *mountinfo, enum cgroup_version version, const char *path,
                          char **ret) {
        for (const char *line = mountinfo; *line;) {
                const char *eol = strchrnul(line, '\n');
                _cleanup_free_ char *copy = strndup(line, (size_t) (eol - line));
                struct mount_entry e;
                const char *rel;

                if (!copy)
                        return -ENOMEM;
                line = *eol ? eol + 1 : eol;
                if (!mountinfo_split(copy, &e) || !mount_is_hierarchy(&e, version))
                        continue;
                rel = path_under(path, e.root);
                if (!rel)
                        continue;
                *ret = rel[0] && !STREQ(rel, "/") ? path_join(e.mount_point, rel)
                                                  : strdup(e.mount_point);
                return *ret ? 0 : -ENOMEM;
        }
        return -ENOENT;
}

/* A path from /proc/PID/cgroup starts with "/"; it holds ".." components when the process is
 * outside the reader's cgroup namespace. */
static bool cgroup_path_is_sane(const char *path) {
        return path[0] == '/' && !strstr(path, "/../") && !endswith(path, "/..") &&
               !strchr(path, '\n');
}

int cgroup_locate(const char *proc_cgroup, const char *mountinfo, struct cgroup_location *ret,
                  struct nctk_error **err) {
        _cleanup_free_ char *path = NULL, *dir = NULL;
        enum cgroup_version version = CGROUP_V2;
        int r = proc_cgroup_find(proc_cgroup, &version, &path);

        if (r == -ENOENT)
                return nctk_error_set(err, ENOENT,
                                      "no devices controller (v1) and no cgroup2 "
                                      "hierarchy in the process's cgroups");
        if (r < 0)
                return r;
        if (!cgroup_path_is_sane(path))
                return nctk_error_set(err, ENOENT, "cgroup '%s' lies outside our cgroup namespace",
                                      path);
        r = mountinfo_find(mountinfo, version, path, &dir);
        if (r == -ENOENT)
                return nctk_error_set(
                        err, ENOENT, "cgroup '%s' of the %s is not mounted here", path,
                        version == CGROUP_V1 ? "v1 devices controller" : "cgroup2 hierarchy");
        if (r < 0)
                return r;
        ret->version = version;
        ret->path = TAKE_PTR(dir);
        return 0;
}

/* ---- v1 ------------------------------------------------------------------------------------ */

static void format_number(char *buf, size_t size, int n) {
        if (n < 0)
                snprintf(buf, size, "*");
        else
                snprintf(buf, size, "%d", n);
}

/* Writes RULE as TYPE ('c' or 'b') to devices.allow. One write per rule: the kernel parses one
 * rule per write(2). */
static int v1_write_rule(int fd, char type, const struct device_rule *rule, const char *dir,
                         struct nctk_error **err) {
        char line[64], major[16], minor[16], access[4];
        size_t a = 0;
        ssize_t w;
        int len;

        format_number(major, sizeof(major), rule->major);
        format_number(minor, sizeof(minor), rule->minor);
        if (rule->access & DEVICE_ACCESS_READ)
                access[a++] = 'r';
        if (rule->access & DEVICE_ACCESS_WRITE)
                access[a++] = 'w';
        if (rule->access & DEVICE_ACCESS_MKNOD)
                access[a++] = 'm';
        access[a] = '\0';
        len = snprintf(line, sizeof(line), "%c %s:%s %s", type, major, minor, access);
        w = write(fd, line, (size_t) len);
        if (w == len)
                return 0;
        if (w >= 0)
                errno = EIO;
        return nctk_error_set(err, errno, "cannot allow '%s' in %s/devices.allow: %s%s", line, dir,
                              strerror(errno),
                              errno == EPERM ? " (the parent cgroup does not allow it, or we "
                                               "lack CAP_SYS_ADMIN)" CGROUP_DENIED_HINT
                                             : "");
}

/* v1 "a" would reset the cgroup to allow everything whatever follows it, so a rule of type 'a'
 * is written as one 'c' and one 'b' rule. */
static int v1_allow(int dirfd, const char *dir, const struct device_rule *rules, size_t n,
                    struct nctk_error **err) {
        _cleanup_close_ int fd = openat(dirfd, "devices.allow", O_WRONLY | O_CLOEXEC | O_NOFOLLOW);

        if (fd < 0)
                return nctk_error_set(err, errno, "cannot open %s/devices.allow: %s", dir,
                                      strerror(errno));
        for (size_t i = 0; i < n; i++) {
                const struct device_rule *rule = &rules[i];
                int r = 0;

                if (rule->type == 'c' || rule->type == 'a')
                        r = v1_write_rule(fd, 'c', rule, dir, err);
                if (r >= 0 && (rule->type == 'b' || rule->type == 'a'))
                        r = v1_write_rule(fd, 'b', rule, dir, err);
                if (r < 0)
                        return r;
        }
        return CGROUP_ALLOW_APPLIED;
}

/* ---- both ---------------------------------------------------------------------------------- */

static int read_proc_file(const char *path, size_t max, char **ret, struct nctk_error **err) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        int r;

        if (fd < 0)
                return nctk_error_set(err, errno, "cannot open %s: %s", path, strerror(errno));
        r = read_full_fd(fd, max, ret, NULL);
        if (r < 0)
                return nctk_error_set(err, r, "cannot read %s: %s", path, strerror(-r));
        return 0;
}

/* Opens the cgroup directory, and checks that it is one (not a path an image could have
 * placed). */
static int open_cgroup_dir(const struct cgroup_location *loc, struct nctk_error **err) {
        _cleanup_close_ int fd = open(loc->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        struct statfs sfs;

        if (fd < 0)
                return nctk_error_set(err, errno, "cannot open cgroup %s: %s", loc->path,
                                      strerror(errno));
        if (fstatfs(fd, &sfs) < 0)
                return nctk_error_set(err, errno, "cannot stat cgroup %s: %s", loc->path,
                                      strerror(errno));
        if ((loc->version == CGROUP_V1 && sfs.f_type != CGROUP_SUPER_MAGIC) ||
            (loc->version == CGROUP_V2 && sfs.f_type != CGROUP2_SUPER_MAGIC))
                return nctk_error_set(err, EMEDIUMTYPE, "%s is not a cgroup v%d directory",
                                      loc->path, (int) loc->version);
        return TAKE_FD(fd);
}

int cgroup_allow_devices(pid_t pid, const struct device_rule *rules, size_t n,
                         struct nctk_error **err) {
        _cleanup_(cgroup_location_release) struct cgroup_location loc = {0};
        _cleanup_free_ char *proc_cgroup = NULL, *mountinfo = NULL;
        _cleanup_close_ int dirfd = -EBADF;
        char path[64];
        int r = device_rules_check(rules, n, err);

        if (r < 0)
                return r;
        snprintf(path, sizeof(path), "/proc/%d/cgroup", (int) pid);
        r = read_proc_file(path, PROC_CGROUP_MAX, &proc_cgroup, err);
        if (r >= 0)
                r = read_proc_file("/proc/self/mountinfo", MOUNTINFO_MAX, &mountinfo, err);
        if (r >= 0)
                r = cgroup_locate(proc_cgroup, mountinfo, &loc, err);
        if (r < 0) {
                (void) nctk_error_prefix(err, "device cgroup of process %d", (int) pid);
                return r;
        }
        dirfd = open_cgroup_dir(&loc, err);
        if (dirfd < 0)
                return dirfd;
        if (loc.version == CGROUP_V1)
                return v1_allow(dirfd, loc.path, rules, n, err);
        r = ebpf_cgroup_extend(dirfd, rules, n, err);
        if (r < 0)
                (void) nctk_error_prefix(err, "cgroup %s", loc.path);
        return r;
}
