/* The bytes of a "glibc-ld.so.cache1.1" file, laid out as glibc's ldconfig lays them out: the
 * header, the entries, the string table with its tail merging, the extension directory. */
#ifndef NCTK_LDCACHE_FORMAT_H
#define NCTK_LDCACHE_FORMAT_H

#include <stddef.h>
#include <stdint.h>

struct ldcache_str {
        char *s;
        size_t len;
        uint32_t offset; /* in the string table, once laid out */
};

/* Interned strings (zero-initialize). */
struct ldcache_strtab {
        struct ldcache_str *v;
        size_t n;
        size_t *slots; /* index + 1 into v; 0 is empty */
        size_t n_slots;
};

/* One entry of the file: KEY and VALUE are string table indices, HWCAP the final hwcap word. */
struct ldcache_record {
        size_t key, value;
        int32_t flags;
        uint64_t hwcap;
};

/* 32-bit FNV-1a, ldconfig's string hash. */
uint32_t ldcache_hash(const char *s, size_t len);

/* Interns S; *RET is its index (the same for the same string). 0 or -ENOMEM. */
int ldcache_strtab_add(struct ldcache_strtab *t, const char *s, size_t *ret);
const char *ldcache_strtab_get(const struct ldcache_strtab *t, size_t idx);
void ldcache_strtab_release(struct ldcache_strtab *t);

/* Lays out the file: every string of T (used or not: ldconfig keeps the names of unused
 * glibc-hwcaps directories too), the N RECS in this order, an extension directory with the
 * GENERATOR string and, when N_HWCAPS > 0, the glibc-hwcaps section naming the strings HWCAPS
 * (indices into T, in section order). Returns 0 with a heap buffer in *RET, -EFBIG beyond the
 * format's 32-bit offsets, -ENOMEM. */
int ldcache_format(struct ldcache_strtab *t, const struct ldcache_record *recs, size_t n,
                   const size_t *hwcaps, size_t n_hwcaps, const char *generator, char **ret,
                   size_t *ret_len);

#endif
