/* The per-GPU directory of an nctk MPS daemon, <root>/<GPU UUID>/{pipe,log,state}: made, read,
 * listed and removed without following links, since the pipe directory is later bind-mounted
 * into containers and a link there would mount whatever it points to. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mps/mps.h"
#include "util/fileio.h"
#include "util/macros.h"
#include "util/strv.h"

#define STATE_MAX 4096

int mps_read_small(const char *path, char **ret) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        size_t len;

        return fd < 0 ? -errno : read_full_fd(fd, STATE_MAX, ret, &len);
}

int mps_daemon_init(struct mps_daemon *d, const char *root, const char *uuid) {
        *d = (struct mps_daemon){};
        strscpy(d->uuid, sizeof(d->uuid), uuid);
        if (snprintf(d->dir, sizeof(d->dir), "%s/%s", root ? root : MPS_ROOT_DEFAULT, uuid) >=
            (int) sizeof(d->dir))
                return -ENAMETOOLONG;
        snprintf(d->pipe_dir, sizeof(d->pipe_dir), "%s/pipe", d->dir);
        snprintf(d->log_dir, sizeof(d->log_dir), "%s/log", d->dir);
        return 0;
}

/* PATH exists and is not a symbolic link (nor anything but a directory when IS_DIR). */
static int check_not_link(const char *path, bool is_dir) {
        struct stat st;

        if (lstat(path, &st) < 0)
                return -errno;
        if (S_ISLNK(st.st_mode))
                return -ELOOP;
        if (is_dir && !S_ISDIR(st.st_mode))
                return -ENOTDIR;
        return 0;
}

static void state_field(struct mps_daemon *d, const char *key, const char *v) {
        if (STREQ(key, "busid"))
                strscpy(d->busid, sizeof(d->busid), v);
        else if (STREQ(key, "index"))
                d->index = (unsigned) strtoul(v, NULL, 10);
        else if (STREQ(key, "pid"))
                d->pid = (pid_t) strtol(v, NULL, 10);
        else if (STREQ(key, "thread-percentage"))
                d->thread_percentage = (unsigned) strtoul(v, NULL, 10);
        else if (STREQ(key, "pinned-memory-limit"))
                strscpy(d->pinned_limit, sizeof(d->pinned_limit), v);
}

int mps_state_load(const char *root, const char *uuid, struct mps_daemon *ret) {
        _cleanup_free_ char *data = NULL;
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *state = NULL;
        struct mps_daemon d;
        char *save = NULL;
        size_t len;
        int r;

        r = mps_daemon_init(&d, root, uuid);
        if (r >= 0)
                r = check_not_link(d.dir, true);
        if (r < 0)
                return r;
        /* The subdirectories may be gone (a half-removed tree); links are refused. */
        if ((r = check_not_link(d.pipe_dir, true)) == -ELOOP ||
            (r = check_not_link(d.log_dir, true)) == -ELOOP)
                return r;
        if (!(state = path_join(d.dir, "state")))
                return -ENOMEM;
        fd = open(state, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return errno == ELOOP ? -ELOOP : -errno;
        r = read_full_fd(fd, STATE_MAX, &data, &len);
        if (r < 0)
                return r;
        for (char *l = strtok_r(data, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                char *eq = strchr(l, '=');
                if (!eq)
                        return -EBADMSG;
                *eq = '\0';
                state_field(&d, l, eq + 1);
        }
        *ret = d;
        return 0;
}

int mps_state_save(const struct mps_daemon *d) {
        _cleanup_free_ char *text = NULL, *tmp = NULL, *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        int n, r;

        n = asprintf(&text,
                     "uuid=%s\nbusid=%s\nindex=%u\npid=%d\nthread-percentage=%u\n"
                     "pinned-memory-limit=%s\n",
                     d->uuid, d->busid, d->index, (int) d->pid, d->thread_percentage,
                     d->pinned_limit);
        if (n < 0 || !(path = path_join(d->dir, "state")) || asprintf(&tmp, "%s.tmp", path) < 0)
                return -ENOMEM;
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        r = write_full(fd, text, (size_t) n);
        if (r >= 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                unlink(tmp);
        return r;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

int mps_state_list(const char *root, char ***ret, size_t *ret_n) {
        _cleanup_closedir_ DIR *dir = opendir(root ? root : MPS_ROOT_DEFAULT);
        char **list = NULL;
        size_t n = 0;
        struct dirent *de;

        if (!dir && errno != ENOENT)
                return -errno;
        while (dir && (de = readdir(dir))) {
                char **slot;
                if (!startswith(de->d_name, "GPU-"))
                        continue;
                if (!(slot = ARRAY_PUSH(list, n)) || !(*slot = strdup(de->d_name))) {
                        for (size_t i = 0; i < n; i++)
                                free(list[i]);
                        free(list);
                        return -ENOMEM;
                }
        }
        if (n)
                qsort(list, n, sizeof(*list), cmp_str);
        *ret = list;
        *ret_n = n;
        return 0;
}

bool mps_daemon_alive(const struct mps_daemon *d) {
        _cleanup_free_ char *comm = NULL;
        char path[64];

        if (d->pid <= 0 || (kill(d->pid, 0) < 0 && errno != EPERM))
                return false;
        snprintf(path, sizeof(path), "/proc/%d/stat", (int) d->pid);
        if (mps_read_small(path, &comm) < 0)
                return false;
        /* A killed daemon stays a zombie until its new parent reaps it. */
        const char *paren = strrchr(comm, ')');
        if (!paren || paren[1] != ' ' || paren[2] == 'Z' || paren[2] == 'X')
                return false;
        free(TAKE_PTR(comm));
        snprintf(path, sizeof(path), "/proc/%d/comm", (int) d->pid);
        if (mps_read_small(path, &comm) < 0)
                return false;
        /* The kernel keeps 15 bytes of the name: nvidia-cuda-mps-control is "nvidia-cuda-mps". */
        return startswith(comm, "nvidia-cuda-mps");
}

static int mkdir_nofollow(const char *path) {
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
                return -errno;
        return check_not_link(path, true);
}

int mps_dirs_create(const struct mps_daemon *d) {
        _cleanup_free_ char *root = strdup(d->dir);
        char *slash = root ? strrchr(root, '/') : NULL;
        int r;

        if (!root)
                return -ENOMEM;
        if (slash && slash != root) {
                *slash = '\0';
                /* The root itself may be reached through links (/var/run); it is made if missing.
                 */
                if (mkdir(root, 0755) < 0 && errno != EEXIST)
                        return -errno;
        }
        r = mkdir_nofollow(d->dir);
        if (r >= 0)
                r = mkdir_nofollow(d->pipe_dir);
        if (r >= 0)
                r = mkdir_nofollow(d->log_dir);
        return r;
}

/* Empties the directory DFD and closes it; nothing is followed: entries are removed as they
 * are, and subdirectories are opened with O_NOFOLLOW. */
static int remove_contents(int dfd) {
        DIR *dir = fdopendir(dfd);
        struct dirent *de;
        int r = 0;

        if (!dir) {
                close(dfd);
                return -errno;
        }
        while ((de = readdir(dir))) {
                if (STREQ(de->d_name, ".") || STREQ(de->d_name, ".."))
                        continue;
                if (unlinkat(dirfd(dir), de->d_name, 0) == 0 || errno == ENOENT)
                        continue;
                int sub = openat(dirfd(dir), de->d_name,
                                 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (sub < 0 || remove_contents(sub) < 0 ||
                    unlinkat(dirfd(dir), de->d_name, AT_REMOVEDIR) < 0)
                        r = -errno;
        }
        closedir(dir);
        return r;
}

int mps_dirs_remove(const struct mps_daemon *d) {
        int fd = open(d->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

        if (fd < 0) {
                if (errno == ENOENT)
                        return 0;
                /* A link where our directory was: remove the link, not what it points to. */
                if ((errno == ELOOP || errno == ENOTDIR) && unlink(d->dir) == 0)
                        return 0;
                return -errno;
        }
        int r = remove_contents(fd);
        if (r >= 0 && rmdir(d->dir) < 0 && errno != ENOENT)
                r = -errno;
        return r;
}

void mps_pid_container(pid_t pid, char *buf, size_t len) {
        _cleanup_free_ char *cg = NULL;
        char path[64];

        buf[0] = '\0';
        snprintf(path, sizeof(path), "/proc/%d/cgroup", (int) pid);
        if (mps_read_small(path, &cg) < 0)
                return;
        /* cgroup v2 "0::/system.slice/docker-<64 hex>.scope", v1 ".../docker/<64 hex>", runc
         * "/<name>": the last component, without a scope's prefix and suffix, when it looks like
         * a container's id (12 or more characters of hex, or anything outside the host's
         * slices). */
        char *line = strstr(cg, "0::");
        line = line ? line + 3 : strrchr(cg, ':') ? strrchr(cg, ':') + 1 : cg;
        char *end = strchr(line, '\n');
        if (end)
                *end = '\0';
        char *last = strrchr(line, '/');
        last = last ? last + 1 : line;
        if (endswith(last, ".scope")) {
                char *dash = strrchr(last, '-');
                last[strlen(last) - 6] = '\0';
                if (dash && strspn(dash + 1, "0123456789abcdef") == strlen(dash + 1))
                        last = dash + 1;
                else
                        return; /* a session or service scope: the host */
        }
        if (!*last || endswith(last, ".slice") || endswith(last, ".service") || STREQ(line, "/") ||
            startswith(line, "/user.slice") || startswith(line, "/init.scope"))
                return;
        snprintf(buf, len, "%.12s", last);
}
