/* The ld.so.cache parser: glibc's "ld.so-1.7.0" (old), "glibc-ld.so.cache1.1" (new) and compat
 * (old, then new) layouts, read from untrusted bytes into a list of (soname, path) entries. */
#ifndef NCTK_LDCACHE_LDCACHE_H
#define NCTK_LDCACHE_LDCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ldcache/flags.h"
#include "nctk/nctk.h"

/* The largest cache ldcache_load reads and ldcache_parse accepts. */
#define LDCACHE_MAX_SIZE (64u << 20)

struct ldcache_entry {
        const char *key;   /* soname, "libcuda.so.1"; points into the cache's data */
        const char *value; /* path, "/usr/lib/x86_64-linux-gnu/libcuda.so.1"; points into data */
        int32_t flags;     /* raw flags word: LDCACHE_FLAG_ELF_LIBC6 | arch bits */
        uint64_t hwcap;    /* raw hwcap word of the new format; 0 for the old format */
};

struct ldcache {
        char *data; /* private copy of the file, NUL-terminated one byte past its length */
        size_t n_entries;
        struct ldcache_entry *entries; /* in file order; NULL when n_entries is 0 */
        bool is_new_format;            /* entries came from "glibc-ld.so.cache1.1" */
};

/* Parses LEN bytes at BUF (copied; BUF is not kept). A compat cache yields the entries of its new
 * part. Every count, offset and string is checked against the buffer: a cache that is truncated,
 * corrupt or of an unknown format gives -EINVAL, one over LDCACHE_MAX_SIZE -EFBIG, with the
 * reason in ERR. On success *RET owns a new cache (free it with ldcache_free). */
int ldcache_parse(const void *buf, size_t len, struct ldcache **ret, struct nctk_error **err);

/* Reads PATH as seen from ROOTFD (at most LDCACHE_MAX_SIZE bytes) and parses it. Returns what
 * ldcache_parse returns, or the -errno of the failed read; ERR names PATH. */
int ldcache_load(int rootfd, const char *path, struct ldcache **ret, struct nctk_error **err);

/* NULL-safe; returns NULL. */
struct ldcache *ldcache_free(struct ldcache *c);

static inline void ldcache_freep(struct ldcache **c) {
        ldcache_free(*c);
}

enum ldcache_abi { LDCACHE_ABI_OTHER, LDCACHE_ABI_64, LDCACHE_ABI_32 };

/* Which ABI of the build's architecture an entry with FLAGS serves, by exact match as the dynamic
 * loader does: on x86_64 libc6|x86-64 is 64-bit and plain libc6 (i386) 32-bit; on aarch64
 * libc6|AArch64 is 64-bit and libc6|hard-float (armhf) 32-bit. Everything else (x32, other
 * architectures, non-libc6 entries, unknown bits) is LDCACHE_ABI_OTHER. */
enum ldcache_abi ldcache_entry_abi(int32_t flags);

#endif
