/* The NVML answer cache. NVML costs ~20 ms per container start on an H200 (its own init and
 * GPU attach, which nvidia-smi pays too), while everything it tells us changes only when the
 * driver, the GPUs or their MIG layout change. So the helper's answer is kept in /run/nctk,
 * keyed by a fingerprint of exactly those things as the kernel shows them in /proc (boot id,
 * module version, each GPU's information file, the MIG capability tree) plus the ld cache's
 * identity and the query's parameters. A container start then reads /proc and one small file.
 * The cached bytes are parsed by the same hardened parser as a live answer. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "1-discover/cache.h"
#include "util/chase.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/macros.h"
#include "util/strv.h"

#define CACHE_MAGIC "nctk-nvml-cache 1\n"
#define CACHE_MAX (8u << 20)
#define KEY_MAX (1u << 20)

struct strbuf {
        char *s;
        size_t len, alloc;
        bool oom;
};

static void sb_add(struct strbuf *b, const char *data, size_t n) {
        if (b->oom)
                return;
        if (b->len + n + 1 > b->alloc) {
                size_t na = (b->len + n + 1) * 2;
                char *p = na > KEY_MAX ? NULL : realloc(b->s, na);
                if (!p) {
                        b->oom = true;
                        return;
                }
                b->s = p;
                b->alloc = na;
        }
        memcpy(b->s + b->len, data, n);
        b->len += n;
        b->s[b->len] = '\0';
}

static void sb_str(struct strbuf *b, const char *s) {
        sb_add(b, s, strlen(s));
        sb_add(b, "\n", 1);
}

static void sb_file(struct strbuf *b, int dirfd, const char *path) {
        _cleanup_free_ char *buf = NULL;
        size_t n = 0;

        sb_str(b, path);
        if (read_full_at(dirfd, path, 64u << 10, &buf, &n) < 0)
                sb_str(b, "-");
        else
                sb_add(b, buf, n);
}

static int name_cmp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Adds the sorted names under PATH, recursing DEPTH levels (the MIG tree: gpuN/mig/giX/ciY). */
static void sb_tree(struct strbuf *b, int dirfd, const char *path, int depth) {
        _cleanup_closedir_ DIR *d = NULL;
        _cleanup_free_ char **names = NULL;
        size_t n = 0;
        struct dirent *de;

        if (chase_opendir(dirfd, path, &d) < 0)
                return;
        while ((de = readdir(d))) {
                char **slot;
                if (de->d_name[0] == '.')
                        continue;
                slot = ARRAY_PUSH(names, n);
                if (!slot || !(*slot = path_join(path, de->d_name))) {
                        b->oom = true;
                        break;
                }
        }
        if (n > 1)
                qsort(names, n, sizeof(*names), name_cmp);
        for (size_t i = 0; i < n; i++) {
                sb_str(b, names[i]);
                if (depth > 0)
                        sb_tree(b, dirfd, names[i], depth - 1);
                free(names[i]);
        }
}

int cache_key(const struct cache_params *p, char **ret) {
        struct strbuf b = {};
        _cleanup_close_ int sysfd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
        _cleanup_free_ char *boot = NULL;
        struct stat st;
        char line[512];

        if (sysfd < 0 || read_full_fd(sysfd, 128, &boot, NULL) < 0)
                return -ENOENT;
        sb_str(&b, boot);
        snprintf(line, sizeof(line), "%s %s %u %u %d", p->root_real, p->nvml_path,
                 (unsigned) p->uid, (unsigned) p->gid, (int) geteuid());
        sb_str(&b, line);
        if (fstat(p->ldcache_fd, &st) == 0) {
                snprintf(line, sizeof(line), "ldcache %lu %lu %lld %ld.%09ld",
                         (unsigned long) st.st_dev, (unsigned long) st.st_ino,
                         (long long) st.st_size, (long) st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
                sb_str(&b, line);
        }
        sb_file(&b, p->procfd, "driver/nvidia/version");
        sb_tree(&b, p->procfd, "driver/nvidia/gpus", 0);
        sb_tree(&b, p->procfd, "driver/nvidia/capabilities", 4);
        {
                /* Each GPU's information file carries its UUID and minor. */
                _cleanup_closedir_ DIR *d = NULL;
                struct dirent *de;

                (void) chase_opendir(p->procfd, "driver/nvidia/gpus", &d);
                while (d && (de = readdir(d))) {
                        char path[320];
                        if (de->d_name[0] == '.')
                                continue;
                        snprintf(path, sizeof(path), "driver/nvidia/gpus/%s/information",
                                 de->d_name);
                        sb_file(&b, p->procfd, path);
                }
        }
        if (b.oom || !b.s) {
                free(b.s);
                return -ENOMEM;
        }
        *ret = b.s;
        return 0;
}

/* The cache file of this query: one per (root, uid) so that tests and roots never collide. */
static void cache_name(const struct cache_params *p, char *buf, size_t size) {
        uint64_t h = 1469598103934665603ull;
        char idbuf[32];

        for (const char *s = p->root_real; *s; s++)
                h = (h ^ (unsigned char) *s) * 1099511628211ull;
        snprintf(idbuf, sizeof(idbuf), ":%u:%u", (unsigned) p->uid, (unsigned) p->gid);
        for (const char *s = idbuf; *s; s++)
                h = (h ^ (unsigned char) *s) * 1099511628211ull;
        snprintf(buf, size, "nvml-%016llx", (unsigned long long) h);
}

int cache_dir_open(bool create) {
        struct stat st;
        int fd;

        if (create && mkdir(CACHE_DIR, 0700) < 0 && errno != EEXIST)
                return -errno;
        fd = open(CACHE_DIR, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        /* Only a directory that root alone can write may feed the hook its GPU facts. */
        if (fstat(fd, &st) < 0 || st.st_uid != 0 || (st.st_mode & 022)) {
                close(fd);
                return -EPERM;
        }
        return fd;
}

int cache_file_load(const char *name, const char *magic, const char *key, size_t max, char **ret,
                    size_t *ret_len) {
        _cleanup_close_ int dfd = -EBADF, fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        size_t n = 0, klen = strlen(key), mlen = strlen(magic);
        struct stat st;
        int r;

        if (geteuid() != 0)
                return -EPERM;
        dfd = cache_dir_open(false);
        if (dfd < 0)
                return dfd;
        fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != 0)
                return -EPERM;
        r = read_full_fd(fd, max, &buf, &n);
        if (r < 0)
                return r;
        if (n < mlen + klen + 1 || memcmp(buf, magic, mlen) != 0 ||
            memcmp(buf + mlen, key, klen) != 0 || buf[mlen + klen] != '\0')
                return -ESTALE;
        n -= mlen + klen + 1;
        memmove(buf, buf + mlen + klen + 1, n + 1); /* with read_full_fd's NUL */
        *ret = TAKE_PTR(buf);
        *ret_len = n;
        return 0;
}

int cache_file_store(const char *name, const char *magic, const char *key, const char *data,
                     size_t len) {
        _cleanup_close_ int dfd = -EBADF, fd = -EBADF;
        char tmp[80];
        int r;

        if (geteuid() != 0)
                return -EPERM;
        dfd = cache_dir_open(true);
        if (dfd < 0)
                return dfd;
        snprintf(tmp, sizeof(tmp), ".%s.%d", name, (int) getpid());
        fd = openat(dfd, tmp, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        r = write_full(fd, magic, strlen(magic));
        r = r < 0 ? r : write_full(fd, key, strlen(key) + 1);
        r = r < 0 ? r : write_full(fd, data, len);
        /* Readers see the old file or the whole new one: rename is atomic. */
        if (r < 0 || renameat(dfd, tmp, dfd, name) < 0) {
                r = r < 0 ? r : -errno;
                unlinkat(dfd, tmp, 0);
                return r;
        }
        return 0;
}

int cache_load(const struct cache_params *p, const char *key, char **ret, size_t *ret_len) {
        char name[64];

        cache_name(p, name, sizeof(name));
        return cache_file_load(name, CACHE_MAGIC, key, CACHE_MAX, ret, ret_len);
}

int cache_store(const struct cache_params *p, const char *key, const char *data, size_t len) {
        char name[64];

        cache_name(p, name, sizeof(name));
        return cache_file_store(name, CACHE_MAGIC, key, data, len);
}
