/* Writes a container's ld.so.cache the way glibc's `ldconfig -X` writes it, reading the image's
 * libraries through fds confined to its root and executing nothing from it (the reference
 * toolkit runs the image's own ldconfig as root: a trojan ldconfig runs on the host's behalf).
 * Equivalence is the point: the loader binary-searches the cache with _dl_cache_libcmp, so the
 * entries, their order and their tie-breaks follow ldconfig's search_dir(), add_to_cache() and
 * save_cache() (glibc 2.36) step by step, as do the readdir-order tie-breaks between files.
 * As 2.36's, every entry records OS version 0. */
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ldcache/elf.h"
#include "ldcache/format.h"
#include "ldcache/write.h"
#include "util/chase.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/macros.h"
#include "util/strv.h"

#define HWCAP_EXTENSION (1ull << 62)
#define TLS_HWCAP_BIT 63
#define GENERATOR "nctk " NCTK_VERSION
#define SAFE_DIGITS 9 /* _dl_cache_libcmp is a total order while numbers fit an int */

struct dir {
        char *path; /* as configured: the cache's paths are built from it */
        int flag;   /* LDCACHE_FLAG_ANY or an "=libc6" type */
        dev_t dev;
        ino_t ino;
        int hwcaps; /* index into ctx.hw for glibc-hwcaps/<name>, else -1 */
};

struct hwdir {
        size_t name; /* strtab index */
        bool used;
        uint32_t index; /* position in the extension's array: sorted by name */
};

struct entry {
        size_t lib, path; /* strtab indices */
        int flags;
        uint32_t isa_level;
        uint64_t hwcap;
        int bits;
        int hwcaps;
};

struct known {
        dev_t dev;
        ino_t ino;
        int r;
        int flags;
        uint32_t isa_level;
        char *soname;
};

/* One library of a directory, as ldconfig's struct dlib_entry. */
struct dlib {
        char *name, *soname;
        int flag;
        bool is_link;
        uint32_t isa_level;
};

struct ctx {
        int rootfd;
        uint16_t host;
        struct dir *dirs;
        size_t n_dirs;
        struct hwdir *hw;
        size_t n_hw;
        struct entry *ents;
        size_t n_ents;
        struct ldcache_strtab strs;
        struct known *known;
        size_t n_known;
        size_t *known_slots; /* index + 1 into known; 0 is empty */
        size_t n_known_slots;
        size_t n_files; /* candidates examined */
        struct nctk_error **err;
};

/* ---- glibc's comparison --------------------------------------------------------------------- */

int ldcache_libcmp(const char *p1, const char *p2) {
        /* Plain char, unsigned accumulators: the same signedness and wrap-around as the glibc
         * of this architecture, whose loader compares with it. */
        while (*p1 != '\0') {
                if (*p1 >= '0' && *p1 <= '9') {
                        uint32_t v1, v2;

                        if (!(*p2 >= '0' && *p2 <= '9'))
                                return 1;
                        v1 = (uint32_t) (*p1++ - '0');
                        v2 = (uint32_t) (*p2++ - '0');
                        while (*p1 >= '0' && *p1 <= '9')
                                v1 = v1 * 10u + (uint32_t) (*p1++ - '0');
                        while (*p2 >= '0' && *p2 <= '9')
                                v2 = v2 * 10u + (uint32_t) (*p2++ - '0');
                        if (v1 != v2)
                                return (int) (v1 - v2);
                } else if (*p2 >= '0' && *p2 <= '9')
                        return -1;
                else if (*p1 != *p2)
                        return *p1 - *p2;
                else {
                        p1++;
                        p2++;
                }
        }
        return *p1 - *p2;
}

/* Whether every run of digits is short enough for _dl_cache_libcmp not to overflow: then it
 * is a total preorder and ldconfig's insertion sort equals a stable merge sort. */
static bool libcmp_safe(const char *s) {
        size_t run = 0;

        for (; *s; s++) {
                run = (*s >= '0' && *s <= '9') ? run + 1 : 0;
                if (run > SAFE_DIGITS)
                        return false;
        }
        return true;
}

/* ---- files ---------------------------------------------------------------------------------- */

/* Reopens the regular file behind the O_PATH fd PFD (whose fstat() is ST) for reading; a device
 * node or a FIFO is never opened. Without /proc, opens AGAIN (a path resolved the same way) and
 * checks that it is the same inode: the file could have been swapped in between, never opened
 * blind. */
static int reopen_regular(int pfd, const struct stat *st, int again_dirfd, const char *again,
                          bool in_root, int rootfd) {
        char proc[64];
        struct stat st2;
        int fd;

        if (!S_ISREG(st->st_mode))
                return -EBADFD;
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
        fd = open(proc, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd >= 0 || errno != ENOENT)
                return fd >= 0 ? fd : -errno;
        fd = in_root ? chase_open(rootfd, again, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0)
                     : openat(again_dirfd, again,
                              O_RDONLY | O_NONBLOCK | O_NOCTTY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return in_root ? fd : -errno;
        if (fstat(fd, &st2) < 0 || st2.st_dev != st->st_dev || st2.st_ino != st->st_ino) {
                close(fd);
                return -ESTALE;
        }
        return fd;
}

int ldcache_open_regular(int rootfd, const char *path) {
        _cleanup_close_ int pfd = chase_open(rootfd, path, O_PATH, 0);
        struct stat st;

        if (pfd < 0)
                return pfd;
        if (fstat(pfd, &st) < 0)
                return -errno;
        return reopen_regular(pfd, &st, -1, path, true, rootfd);
}

/* What elf_read() said about an inode: the soname links and the development links of a library,
 * and its hard links, name the same inode and are not read again (ldconfig's aux cache does the
 * same across runs). An open-addressing table of indices into c->known. */
static size_t known_hash(dev_t dev, ino_t ino) {
        return (size_t) ((uint64_t) ino * 0x9e3779b97f4a7c15ull ^ (uint64_t) dev);
}

static const struct known *known_find(const struct ctx *c, dev_t dev, ino_t ino) {
        size_t mask = c->n_known_slots - 1;

        if (c->n_known_slots == 0)
                return NULL;
        for (size_t j = known_hash(dev, ino) & mask; c->known_slots[j]; j = (j + 1) & mask) {
                const struct known *k = &c->known[c->known_slots[j] - 1];
                if (k->dev == dev && k->ino == ino)
                        return k;
        }
        return NULL;
}

static void known_slot(struct ctx *c, size_t idx) {
        size_t mask = c->n_known_slots - 1, j;

        for (j = known_hash(c->known[idx].dev, c->known[idx].ino) & mask; c->known_slots[j];
             j = (j + 1) & mask)
                ;
        c->known_slots[j] = idx + 1;
}

static int known_add(struct ctx *c, const struct stat *st, int r, const struct elf_info *info) {
        struct known *k;

        if ((c->n_known + 1) * 2 > c->n_known_slots) {
                size_t n = c->n_known_slots ? c->n_known_slots * 2 : 1024;
                size_t *slots = calloc(n, sizeof(*slots));

                if (!slots)
                        return -ENOMEM;
                free(c->known_slots);
                c->known_slots = slots;
                c->n_known_slots = n;
                for (size_t i = 0; i < c->n_known; i++)
                        known_slot(c, i);
        }
        k = ARRAY_PUSH(c->known, c->n_known);
        if (!k)
                return -ENOMEM;
        *k = (struct known){st->st_dev, st->st_ino, r, 0, 0, NULL};
        known_slot(c, c->n_known - 1);
        if (r >= 0) {
                k->flags = info->cache_flags;
                k->isa_level = info->isa_level;
                if (info->soname && !(k->soname = strdup(info->soname)))
                        return -ENOMEM;
        }
        return 0;
}

/* Reads the library behind the O_PATH fd PFD once per inode. Returns elf_read()'s answer
 * (-EBADFD for a file that is not regular), with a soname the caller owns. */
static int read_candidate(struct ctx *c, int pfd, int again_dirfd, const char *again, bool in_root,
                          struct elf_info *ret) {
        _cleanup_close_ int fd = -EBADF;
        struct elf_info info = {};
        const struct known *k;
        struct stat st;
        int r;

        if (fstat(pfd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        k = known_find(c, st.st_dev, st.st_ino);
        if (k) {
                if (k->r < 0)
                        return k->r;
                *ret = (struct elf_info){.cache_flags = k->flags, .isa_level = k->isa_level};
                if (k->soname && !(ret->soname = strdup(k->soname)))
                        return -ENOMEM;
                return 0;
        }
        fd = reopen_regular(pfd, &st, again_dirfd, again, in_root, c->rootfd);
        if (fd < 0)
                return fd;
        r = elf_read_stat(fd, &st, c->host, &info);
        if (r == -ENOMEM)
                return r;
        if (known_add(c, &st, r, &info) < 0) {
                elf_info_release(&info);
                return -ENOMEM;
        }
        if (r >= 0)
                *ret = info;
        return r;
}

static bool is_dso(const char *name) {
        return ((startswith(name, "lib") || startswith(name, "ld-")) && strstr(name, ".so")) ||
               startswith(name, "ld.so.") || startswith(name, "ld64.so.");
}

/* The legacy hwcap subdirectory names of ldconfig (glibc <= 2.36: "tls", x86's platforms and
 * important hwcaps, aarch64's "atomics") and the bit each stands for, -1 for others. */
static int hwcap_bit(uint16_t host, const char *name) {
        static const char *const x86_caps[] = {"sse2", "x86_64", "avx512_1"};
        static const char *const x86_platforms[] = {"i586", "i686", "haswell", "xeon_phi"};

        if (STREQ(name, "tls"))
                return TLS_HWCAP_BIT;
        if (host == EM_X86_64) {
                for (int i = 0; i < 3; i++)
                        if (STREQ(name, x86_caps[i]))
                                return i;
                for (int i = 0; i < 4; i++)
                        if (STREQ(name, x86_platforms[i]))
                                return 48 + i;
        } else if (STREQ(name, "atomics"))
                return 8; /* aarch64's only important hwcap */
        return -1;
}

/* ldconfig's path_hwcap(): the bits of the trailing hwcap components of PATH. */
static uint64_t path_hwcap(uint16_t host, const char *path) {
        uint64_t hwcap = 0;
        size_t end = strlen(path);

        for (;;) {
                char comp[NAME_MAX + 1];
                size_t start = end;
                int bit;

                while (start > 0 && path[start - 1] != '/')
                        start--;
                if (start == 0 || end - start > NAME_MAX)
                        break;
                memcpy(comp, path + start, end - start);
                comp[end - start] = '\0';
                bit = hwcap_bit(host, comp);
                if (bit < 0)
                        break;
                hwcap += 1ull << bit; /* +, as ldconfig: a repeated component carries over */
                end = start - 1;
        }
        return hwcap;
}

/* ---- directories ---------------------------------------------------------------------------- */

static int parse_type(const char *t) {
        if (STREQ(t, "libc4"))
                return LDCACHE_FLAG_LIBC4;
        if (STREQ(t, "libc5"))
                return LDCACHE_FLAG_ELF_LIBC5;
        if (STREQ(t, "libc6") || STREQ(t, "glibc2"))
                return LDCACHE_FLAG_ELF_LIBC6;
        return LDCACHE_FLAG_ANY;
}

static bool is_space(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* ldconfig's add_single_dir(): a directory already listed (same inode) takes the newer type and
 * is not added again. Takes PATH. Returns 1 when added, 0 for a duplicate. */
static int add_single_dir(struct ctx *c, char *path, int flag, const struct stat *st, int hwcaps) {
        struct dir *d;

        for (size_t i = 0; i < c->n_dirs; i++)
                if (c->dirs[i].dev == st->st_dev && c->dirs[i].ino == st->st_ino) {
                        c->dirs[i].flag = flag;
                        free(path);
                        return 0;
                }
        if (c->n_dirs >= LDCACHE_MAX_DIRS) {
                free(path);
                return nctk_error_set(c->err, E2BIG, "more than %d library directories",
                                      LDCACHE_MAX_DIRS);
        }
        d = ARRAY_PUSH(c->dirs, c->n_dirs);
        if (!d) {
                free(path);
                return -ENOMEM;
        }
        *d = (struct dir){path, flag, st->st_dev, st->st_ino, hwcaps};
        return 1;
}

static int hwdir_get(struct ctx *c, const char *name, int *ret) {
        size_t idx;
        struct hwdir *h;
        int r = ldcache_strtab_add(&c->strs, name, &idx);

        if (r < 0)
                return r;
        for (size_t i = 0; i < c->n_hw; i++)
                if (c->hw[i].name == idx) {
                        *ret = (int) i;
                        return 0;
                }
        h = ARRAY_PUSH(c->hw, c->n_hw);
        if (!h)
                return -ENOMEM;
        h->name = idx;
        *ret = (int) c->n_hw - 1;
        return 0;
}

/* ldconfig's add_glibc_hwcaps_subdirectories(): every subdirectory of PATH/glibc-hwcaps
 * (hidden ones, files and names with ':' aside) is scanned with the hwcaps of its name. */
static int add_hwcaps_dirs(struct ctx *c, const char *path, int flag) {
        _cleanup_free_ char *hw = NULL;
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        int r;

        if (asprintf(&hw, "%s/glibc-hwcaps", path) < 0)
                return -ENOMEM;
        r = chase_opendir(c->rootfd, hw, &d);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return 0; /* no glibc-hwcaps here, or not a directory */
        while ((de = readdir(d))) {
                _cleanup_close_ int sfd = -EBADF;
                char *sub;
                struct stat st;
                int idx;

                if (de->d_name[0] == '.' || de->d_type == DT_REG || strchr(de->d_name, ':'))
                        continue;
                if (asprintf(&sub, "%s/%s", hw, de->d_name) < 0)
                        return -ENOMEM;
                sfd = chase_open(c->rootfd, sub, O_PATH, 0);
                if (sfd < 0 || fstat(sfd, &st) < 0 || !S_ISDIR(st.st_mode)) {
                        free(sub);
                        continue;
                }
                r = hwdir_get(c, de->d_name, &idx);
                if (r >= 0)
                        r = add_single_dir(c, sub, flag, &st, idx);
                else
                        free(sub);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ldconfig's add_dir_1() for one configured directory. */
static int add_dir_line(struct ctx *c, const char *line) {
        _cleanup_close_ int fd = -EBADF;
        char *path = strdup(line), *eq;
        int flag = LDCACHE_FLAG_ANY, r;
        struct stat st;
        size_t n;

        if (!path)
                return -ENOMEM;
        eq = strchr(path, '=');
        if (eq) {
                *eq = '\0';
                flag = parse_type(eq + 1);
        }
        n = strlen(path);
        while (n > 0 && is_space(path[n - 1]))
                path[--n] = '\0';
        while (n > 0 && path[n - 1] == '/')
                path[--n] = '\0';
        fd = n > 0 ? chase_open(c->rootfd, path, O_PATH, 0) : -ENOENT;
        if (fd < 0 || fstat(fd, &st) < 0) {
                free(path);
                return 0; /* ldconfig: "Can't stat", skipped */
        }
        r = add_single_dir(c, path, flag, &st, -1);
        if (r <= 0)
                return r;
        return add_hwcaps_dirs(c, c->dirs[c->n_dirs - 1].path, flag);
}

/* ---- one directory -------------------------------------------------------------------------- */

struct scan {
        struct ctx *c;
        size_t di;
        int dfd;
        struct dlib *libs;
        size_t n_libs;
        size_t *slots; /* soname -> index + 1 into libs, open addressing */
        size_t n_slots;
};

static void scan_release(struct scan *s) {
        for (size_t i = 0; i < s->n_libs; i++) {
                free(s->libs[i].name);
                free(s->libs[i].soname);
        }
        free(s->libs);
        free(s->slots);
}

/* The slot of SONAME in the index: where it is, or the empty slot where it would go. */
static size_t scan_slot(const struct scan *s, const char *soname) {
        size_t mask = s->n_slots - 1, j = ldcache_hash(soname, strlen(soname)) & mask;

        while (s->slots[j] && !STREQ(s->libs[s->slots[j] - 1].soname, soname))
                j = (j + 1) & mask;
        return j;
}

static int scan_grow(struct scan *s) {
        size_t n = s->n_slots ? s->n_slots * 2 : 64;
        size_t *slots = calloc(n, sizeof(*slots));

        if (!slots)
                return -ENOMEM;
        free(s->slots);
        s->slots = slots;
        s->n_slots = n;
        for (size_t i = 0; i < s->n_libs; i++)
                s->slots[scan_slot(s, s->libs[i].soname)] = i + 1;
        return 0;
}

/* ldconfig's implicit soname: the file name; for a.out, cut after the major version. */
static char *implicit_soname(const char *name, int flag) {
        char *s = strdup(name), *major, *dot;

        if (!s || (flag & LDCACHE_FLAG_TYPE_MASK) != LDCACHE_FLAG_LIBC4)
                return s;
        major = strstr(s, ".so.");
        if (major && (dot = strchr(major + 4, '.')))
                *dot = '\0';
        return s;
}

/* ldconfig's dlib list: one library per soname; a file beats a link, then the newer name by
 * _dl_cache_libcmp wins, and the first one seen (readdir order) keeps ties. */
static int scan_merge(struct scan *s, const char *name, char *soname, int flag, bool is_link,
                      const struct elf_info *info) {
        struct dlib *l;
        size_t j;

        if ((s->n_libs + 1) * 2 > s->n_slots && scan_grow(s) < 0) {
                free(soname);
                return -ENOMEM;
        }
        j = scan_slot(s, soname);
        if (s->slots[j]) {
                l = &s->libs[s->slots[j] - 1];
                free(soname);
                if (!((!is_link && l->is_link) ||
                      (is_link == l->is_link && ldcache_libcmp(l->name, name) < 0)))
                        return 0;
                if (l->flag != flag) {
                        if (l->flag == LDCACHE_FLAG_ELF &&
                            (flag == LDCACHE_FLAG_ELF_LIBC5 || flag == LDCACHE_FLAG_ELF_LIBC6))
                                l->flag = flag;
                        else if ((l->flag == LDCACHE_FLAG_ELF_LIBC5 ||
                                  l->flag == LDCACHE_FLAG_ELF_LIBC6) &&
                                 flag == LDCACHE_FLAG_ELF)
                                l->flag = flag;
                }
                free(l->name);
                l->name = strdup(name);
                if (!l->name)
                        return -ENOMEM;
                l->is_link = is_link;
                l->isa_level = info->isa_level;
                return 0;
        }
        l = ARRAY_PUSH(s->libs, s->n_libs);
        if (!l) {
                free(soname);
                return -ENOMEM;
        }
        s->slots[j] = s->n_libs;
        *l = (struct dlib){strdup(name), soname, flag, is_link, info->isa_level};
        return l->name ? 0 : -ENOMEM;
}

/* Reads one candidate (behind the O_PATH fd PFD) and records it; files ldconfig would not take
 * are skipped. */
static int scan_library(struct scan *s, const char *name, int pfd, const char *again,
                        bool is_link) {
        const struct dir *d = &s->c->dirs[s->di];
        struct elf_info info;
        char *soname;
        int flag, r;

        r = read_candidate(s->c, pfd, s->dfd, again, is_link, &info);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return 0;
        flag = info.cache_flags;
        soname = info.soname ? TAKE_PTR(info.soname) : implicit_soname(name, flag);
        elf_info_release(&info);
        if (!soname)
                return -ENOMEM;
        /* A link keeps its own name only when it is the soname or the "lib*.so" development
         * link of it; other links count as one more file with that soname. */
        if (is_link && !STREQ(name, soname)) {
                size_t len = strlen(name);
                if (len < 3 || !STREQ(name + len - 3, ".so") || strncmp(name, soname, len) != 0)
                        is_link = false;
        }
        if (is_link) {
                free(soname);
                soname = strdup(name);
                if (!soname)
                        return -ENOMEM;
        }
        if (flag == LDCACHE_FLAG_ELF &&
            (d->flag == LDCACHE_FLAG_ELF_LIBC5 || d->flag == LDCACHE_FLAG_ELF_LIBC6))
                flag = d->flag;
        return scan_merge(s, name, soname, flag, is_link, &info);
}

/* A symlink: followed inside the root only. A directory with a hwcap name becomes a
 * subdirectory to scan, a regular file a candidate; anything else, or a dangling link, a loop
 * or a link that would leave the root to reach its target, is skipped. */
static int scan_link(struct scan *s, const char *name, const char *full) {
        _cleanup_close_ int pfd = chase_open(s->c->rootfd, full, O_PATH, 0);
        struct stat st;
        char *sub;

        if (pfd < 0 || fstat(pfd, &st) < 0)
                return 0;
        if (S_ISDIR(st.st_mode) && s->c->dirs[s->di].hwcaps < 0 &&
            hwcap_bit(s->c->host, name) >= 0) {
                sub = strdup(full);
                if (!sub)
                        return -ENOMEM;
                return add_single_dir(s->c, sub, s->c->dirs[s->di].flag, &st, -1) < 0 ? -ENOMEM : 0;
        }
        return scan_library(s, name, pfd, full, true);
}

/* One directory entry, filtered by name and type exactly as ldconfig does (d_type first, lstat
 * only for DT_UNKNOWN). */
static int scan_entry(struct scan *s, const struct dirent *de) {
        const char *name = de->d_name;
        _cleanup_free_ char *full = NULL;
        _cleanup_close_ int pfd = -EBADF;
        unsigned char type = de->d_type;
        bool in_hwcaps = s->c->dirs[s->di].hwcaps >= 0;
        size_t len = strlen(name);
        struct stat st;

        if (type != DT_UNKNOWN && type != DT_LNK && type != DT_REG && type != DT_DIR)
                return 0;
        if (!is_dso(name) && (type == DT_REG || in_hwcaps || hwcap_bit(s->c->host, name) < 0))
                return 0;
        if (endswith(name, ".#prelink#") ||
            (len >= 17 && memcmp(name + len - 17, ".#prelink#.", 11) == 0))
                return 0;
        if (++s->c->n_files > LDCACHE_MAX_FILES)
                return nctk_error_set(s->c->err, E2BIG, "more than %u candidate libraries",
                                      LDCACHE_MAX_FILES);
        if (type == DT_UNKNOWN || type == DT_DIR) {
                if (type == DT_DIR && (in_hwcaps || hwcap_bit(s->c->host, name) < 0))
                        return 0;
                if (fstatat(s->dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        return 0;
                type = (unsigned char) IFTODT(st.st_mode);
        }
        if (type == DT_LNK || type == DT_DIR) {
                if (asprintf(&full, "%s/%s", s->c->dirs[s->di].path, name) < 0)
                        return -ENOMEM;
                if (type == DT_LNK)
                        return scan_link(s, name, full);
                /* A directory with a legacy hwcap name: scanned later, with those hwcaps. */
                if (in_hwcaps || hwcap_bit(s->c->host, name) < 0)
                        return 0;
                return add_single_dir(s->c, TAKE_PTR(full), s->c->dirs[s->di].flag, &st, -1) < 0
                               ? -ENOMEM
                               : 0;
        }
        if (type != DT_REG)
                return 0;
        pfd = openat(s->dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (pfd < 0)
                return 0;
        return scan_library(s, name, pfd, name, false);
}

static int add_entry(struct ctx *c, const struct dir *d, const struct dlib *l, uint64_t hwcap) {
        _cleanup_free_ char *p = NULL;
        struct entry *e;
        size_t lib, path;
        int r;

        if (c->n_ents >= LDCACHE_MAX_ENTRIES)
                return nctk_error_set(c->err, E2BIG, "more than %u libraries", LDCACHE_MAX_ENTRIES);
        if (asprintf(&p, "%s/%s", d->path, d->hwcaps < 0 ? l->soname : l->name) < 0)
                return -ENOMEM;
        r = ldcache_strtab_add(&c->strs, p, &path);
        if (r >= 0)
                r = ldcache_strtab_add(&c->strs, l->soname, &lib);
        if (r < 0)
                return r;
        e = ARRAY_PUSH(c->ents, c->n_ents);
        if (!e)
                return -ENOMEM;
        *e = (struct entry){
                lib, path, l->flag, l->isa_level, hwcap, __builtin_popcountll(hwcap), d->hwcaps};
        if (d->hwcaps >= 0)
                c->hw[d->hwcaps].used = true;
        return 0;
}

/* ldconfig's search_dir() for directory DI; new hwcap subdirectories go to the end of the
 * list, as ldconfig's do. */
static int search_dir(struct ctx *c, size_t di) {
        _cleanup_closedir_ DIR *d = NULL;
        struct scan s = {.c = c, .di = di};
        struct dirent *de;
        struct dir dir;
        uint64_t hwcap;
        int r;

        r = chase_opendir(c->rootfd, c->dirs[di].path, &d);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return 0; /* ldconfig skips a directory it cannot open */
        s.dfd = dirfd(d);
        while (r >= 0 && (de = readdir(d)))
                r = scan_entry(&s, de);
        dir = c->dirs[di]; /* the array may have moved */
        hwcap = dir.hwcaps < 0 ? path_hwcap(c->host, dir.path) : 0;
        /* ldconfig prepends to its list: the last library found is added first. */
        for (size_t i = s.n_libs; r >= 0 && i > 0; i--)
                r = add_entry(c, &dir, &s.libs[i - 1], hwcap);
        scan_release(&s);
        return r;
}

/* ---- the file ------------------------------------------------------------------------------- */

static const char *str_of(const struct ctx *c, size_t idx) {
        return ldcache_strtab_get(&c->strs, idx);
}

/* ldconfig's compare(): > 0 when E1 goes after E2. Keys descend by _dl_cache_libcmp; among
 * equal keys the higher flags, the glibc-hwcaps entries (by name), the most hwcap bits and the
 * highest hwcap value come first. */
static int entry_cmp(const struct ctx *c, const struct entry *e1, const struct entry *e2) {
        int res = ldcache_libcmp(str_of(c, e2->lib), str_of(c, e1->lib));

        if (res != 0)
                return res;
        if (e1->flags != e2->flags)
                return e1->flags < e2->flags ? 1 : -1;
        if ((e1->hwcaps >= 0) != (e2->hwcaps >= 0))
                return e1->hwcaps >= 0 ? -1 : 1;
        if (e1->hwcaps >= 0) {
                res = strcmp(str_of(c, c->hw[e1->hwcaps].name), str_of(c, c->hw[e2->hwcaps].name));
                if (res != 0)
                        return res;
        }
        if (e1->bits != e2->bits)
                return e2->bits > e1->bits ? 1 : -1;
        if (e1->hwcap != e2->hwcap)
                return e2->hwcap > e1->hwcap ? 1 : -1;
        return 0; /* the OS versions compared last are all 0 since glibc 2.36 */
}

static void merge_sort(const struct ctx *c, size_t *v, size_t *tmp, size_t n) {
        for (size_t w = 1; w < n; w *= 2) {
                for (size_t lo = 0; lo < n; lo += 2 * w) {
                        size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
                        size_t i = lo, j = mid, k = lo;

                        while (i < mid && j < hi)
                                tmp[k++] = entry_cmp(c, &c->ents[v[i]], &c->ents[v[j]]) > 0
                                                   ? v[j++]
                                                   : v[i++];
                        while (i < mid)
                                tmp[k++] = v[i++];
                        while (j < hi)
                                tmp[k++] = v[j++];
                }
                memcpy(v, tmp, n * sizeof(*v));
        }
}

/* The cache order: ldconfig inserts each entry before the first one that compares greater.
 * With a total preorder that is a stable sort; with digit runs long enough to overflow
 * _dl_cache_libcmp it is not, and the insertion itself is replayed (bounded). */
static int sort_entries(struct ctx *c, size_t **ret) {
        _cleanup_free_ size_t *v = calloc(c->n_ents ? c->n_ents : 1, sizeof(*v));
        _cleanup_free_ size_t *tmp = calloc(c->n_ents ? c->n_ents : 1, sizeof(*tmp));
        bool safe = true;

        if (!v || !tmp)
                return -ENOMEM;
        for (size_t i = 0; i < c->n_ents; i++) {
                v[i] = i;
                safe = safe && libcmp_safe(str_of(c, c->ents[i].lib));
        }
        if (safe)
                merge_sort(c, v, tmp, c->n_ents);
        else if (c->n_ents > 8192)
                return nctk_error_set(c->err, E2BIG,
                                      "too many libraries with overlong version numbers");
        else
                for (size_t i = 0; i < c->n_ents; i++) {
                        size_t p = 0;
                        while (p < i && entry_cmp(c, &c->ents[v[p]], &c->ents[i]) <= 0)
                                p++;
                        memmove(v + p + 1, v + p, (i - p) * sizeof(*v));
                        v[p] = i;
                }
        *ret = TAKE_PTR(v);
        return 0;
}

static int hw_name_cmp(const void *a, const void *b, void *c) {
        const struct hwdir *x = *(struct hwdir *const *) a, *y = *(struct hwdir *const *) b;

        return strcmp(str_of(c, x->name), str_of(c, y->name));
}

/* The used glibc-hwcaps subdirectories are numbered in name order; *RET lists their names. */
static int index_hwcaps(struct ctx *c, size_t **ret, size_t *ret_n) {
        _cleanup_free_ struct hwdir **used = calloc(c->n_hw ? c->n_hw : 1, sizeof(*used));
        size_t *names = calloc(c->n_hw ? c->n_hw : 1, sizeof(*names)), n = 0;

        if (!used || !names) {
                free(names);
                return -ENOMEM;
        }
        for (size_t i = 0; i < c->n_hw; i++)
                if (c->hw[i].used)
                        used[n++] = &c->hw[i];
        qsort_r(used, n, sizeof(*used), hw_name_cmp, c);
        for (size_t i = 0; i < n; i++) {
                used[i]->index = (uint32_t) i;
                names[i] = used[i]->name;
        }
        *ret = names;
        *ret_n = n;
        return 0;
}

static int serialize(struct ctx *c, const size_t *order, char **ret, size_t *ret_len) {
        _cleanup_free_ struct ldcache_record *recs = NULL;
        _cleanup_free_ size_t *hwcaps = NULL;
        size_t n_hw = 0;
        int r;

        r = index_hwcaps(c, &hwcaps, &n_hw);
        if (r < 0)
                return r;
        recs = calloc(c->n_ents ? c->n_ents : 1, sizeof(*recs));
        if (!recs)
                return -ENOMEM;
        for (size_t k = 0; k < c->n_ents; k++) {
                const struct entry *e = &c->ents[order[k]];

                recs[k] = (struct ldcache_record){e->lib, e->path, e->flags, e->hwcap};
                if (e->hwcaps >= 0)
                        recs[k].hwcap = HWCAP_EXTENSION | ((uint64_t) e->isa_level << 32) |
                                        c->hw[e->hwcaps].index;
        }
        r = ldcache_format(&c->strs, recs, c->n_ents, hwcaps, n_hw, GENERATOR, ret, ret_len);
        if (r == -EFBIG)
                return nctk_error_set(c->err, EFBIG, "ld.so.cache would exceed 4 GiB");
        return r;
}

static int split_out_path(const char *out_path, char **ret_dir, const char **ret_base) {
        const char *slash = strrchr(out_path, '/');
        const char *base = slash ? slash + 1 : out_path;
        char *dir;

        if (!*base || STREQ(base, ".") || STREQ(base, ".."))
                return -EINVAL;
        if (!slash)
                dir = strdup(".");
        else if (slash == out_path)
                dir = strdup("/");
        else
                dir = strndup(out_path, (size_t) (slash - out_path));
        if (!dir)
                return -ENOMEM;
        *ret_dir = dir;
        *ret_base = base;
        return 0;
}

static int create_temp(int pfd, char name[static 64]) {
        for (int i = 0; i < 16; i++) {
                uint64_t rnd;
                int fd;

                if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
                        rnd = (uint64_t) getpid() << 32 ^ (uint64_t) i ^
                              (uint64_t) (uintptr_t) name;
                snprintf(name, 64, ".nctk-ld.so.cache-%016llx", (unsigned long long) rnd);
                fd = openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (fd >= 0 || errno != EEXIST)
                        return fd >= 0 ? fd : -errno;
        }
        return -EEXIST;
}

/* Writes BUF to a fresh file in OUT_PATH's directory and renames it over OUT_PATH: readers see
 * the old cache or the new one, and whatever sits at OUT_PATH (a symlink to a host file
 * included) is replaced, never followed. */
static int write_atomic(struct ctx *c, const char *out_path, const char *buf, size_t len) {
        _cleanup_free_ char *dir = NULL;
        _cleanup_close_ int pfd = -EBADF;
        const char *base;
        char tmp[64];
        struct stat st;
        int fd, r;

        r = split_out_path(out_path, &dir, &base);
        if (r < 0)
                return nctk_error_set(c->err, -r, "'%s': not a file path", out_path);
        /* The directory is not created: a root without /etc is no glibc image. */
        pfd = chase_open(c->rootfd, dir, O_PATH | O_DIRECTORY, 0);
        if (pfd == -ENOENT)
                return nctk_error_set(c->err, ENOENT,
                                      "cannot write '%s': '%s' does not exist in the container",
                                      out_path, dir);
        if (pfd < 0)
                return nctk_error_set(c->err, -pfd, "cannot write '%s': '%s': %s", out_path, dir,
                                      strerror(-pfd));
        if (fstat(pfd, &st) < 0)
                return nctk_error_set(c->err, errno, "cannot write '%s': %s", out_path,
                                      strerror(errno));
        fd = create_temp(pfd, tmp);
        if (fd < 0)
                return nctk_error_set(c->err, -fd, "cannot create a file in '%s': %s", dir,
                                      strerror(-fd));
        r = write_full(fd, buf, len);
        if (r >= 0 && fchmod(fd, 0644) < 0)
                r = -errno;
        /* Owned like its directory: a user-namespaced container's root sees its own file. Not
         * fatal when we may not: the file is readable by all. */
        if (r >= 0 && (st.st_uid != geteuid() || st.st_gid != getegid()) &&
            fchown(fd, st.st_uid, st.st_gid) < 0)
                log_debug("ld.so.cache: cannot give '%s' to %u:%u: %s", out_path,
                          (unsigned) st.st_uid, (unsigned) st.st_gid, strerror(errno));
        if (close(fd) < 0 && r >= 0)
                r = -errno;
        if (r >= 0 && renameat(pfd, tmp, pfd, base) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlinkat(pfd, tmp, 0);
                return nctk_error_set(c->err, -r, "cannot write '%s': %s", out_path, strerror(-r));
        }
        return 0;
}

static void ctx_release(struct ctx *c) {
        for (size_t i = 0; i < c->n_known; i++)
                free(c->known[i].soname);
        free(c->known);
        free(c->known_slots);
        for (size_t i = 0; i < c->n_dirs; i++)
                free(c->dirs[i].path);
        free(c->dirs);
        free(c->hw);
        free(c->ents);
        ldcache_strtab_release(&c->strs);
}

static int build(struct ctx *c, const char *const *dirs, size_t n_dirs, char **ret,
                 size_t *ret_len) {
        _cleanup_free_ size_t *order = NULL;
        int r;

        for (size_t i = 0; i < n_dirs; i++) {
                r = add_dir_line(c, dirs[i]);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < c->n_dirs; i++) {
                r = search_dir(c, i);
                if (r < 0)
                        return r;
        }
        r = sort_entries(c, &order);
        if (r < 0)
                return r;
        return serialize(c, order, ret, ret_len);
}

int ldcache_write(int rootfd, const char *const *dirs, size_t n_dirs, const char *out_path,
                  struct nctk_error **err) {
        _cleanup_(ctx_release) struct ctx c = {.rootfd = rootfd, .err = err};
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        int r;

        if (err)
                nctk_error_free(err);
        if (!out_path || (!dirs && n_dirs > 0))
                return nctk_error_set(err, EINVAL, "ld.so.cache: invalid arguments");
        c.host = elf_host_machine();
        if (c.host == 0)
                return nctk_error_set(err, EOPNOTSUPP,
                                      "ld.so.cache: this architecture's ldconfig is not emulated");
        r = build(&c, dirs, n_dirs, &buf, &len);
        if (r < 0)
                return (err && *err) ? nctk_error_prefix(err, "ld.so.cache")
                                     : nctk_error_set(err, r, "ld.so.cache: %s", strerror(-r));
        return write_atomic(&c, out_path, buf, len);
}
