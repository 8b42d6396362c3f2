/* The layout of a "glibc-ld.so.cache1.1" file (glibc's elf/cache.c, save_cache() and
 * write_extensions(); elf/stringtable.c): a 48-byte header, 24-byte entries, the string table
 * (offsets from the start of the file), then, 4-byte aligned, the extension directory, the
 * glibc-hwcaps array and the generator string. Laid out the way ldconfig lays it out, so that
 * our file and ldconfig's are the same bytes but for the generator. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ldcache/format.h"
#include "util/macros.h"
#include "util/strv.h"

#define CACHE_MAGIC "glibc-ld.so.cache1.1"
#define HEADER_SIZE 48u
#define ENTRY_SIZE 24u
#define EXT_MAGIC 0xeaa42174u /* (uint32_t) -358342284 */
#define EXT_TAG_GENERATOR 0u
#define EXT_TAG_HWCAPS 1u
#define EXT_DIR_SIZE 40u /* the directory with room for both sections, as ldconfig lays it out */
#define EXT_DIR_ONE 24u  /* the directory with the generator only */

uint32_t ldcache_hash(const char *s, size_t len) {
        uint32_t h = 2166136261u;

        for (size_t i = 0; i < len; i++) {
                h ^= (unsigned char) s[i];
                h *= 16777619u;
        }
        return h;
}

static int strtab_rehash(struct ldcache_strtab *t) {
        size_t n_slots = t->n_slots ? t->n_slots * 2 : 256;
        size_t *slots = calloc(n_slots, sizeof(*slots));

        if (!slots)
                return -ENOMEM;
        for (size_t i = 0; i < t->n; i++) {
                size_t j = ldcache_hash(t->v[i].s, t->v[i].len) & (n_slots - 1);
                while (slots[j])
                        j = (j + 1) & (n_slots - 1);
                slots[j] = i + 1;
        }
        free(t->slots);
        t->slots = slots;
        t->n_slots = n_slots;
        return 0;
}

int ldcache_strtab_add(struct ldcache_strtab *t, const char *s, size_t *ret) {
        size_t len = strlen(s), mask, j;
        struct ldcache_str *e;
        int r;

        if ((t->n + 1) * 3 > t->n_slots * 2) {
                r = strtab_rehash(t);
                if (r < 0)
                        return r;
        }
        mask = t->n_slots - 1;
        for (j = ldcache_hash(s, len) & mask; t->slots[j]; j = (j + 1) & mask) {
                const struct ldcache_str *x = &t->v[t->slots[j] - 1];
                if (x->len == len && memcmp(x->s, s, len) == 0) {
                        *ret = t->slots[j] - 1;
                        return 0;
                }
        }
        e = ARRAY_PUSH(t->v, t->n);
        if (!e)
                return -ENOMEM;
        e->s = strdup(s);
        if (!e->s) {
                t->n--;
                return -ENOMEM;
        }
        e->len = len;
        t->slots[j] = t->n;
        *ret = t->n - 1;
        return 0;
}

const char *ldcache_strtab_get(const struct ldcache_strtab *t, size_t idx) {
        return t->v[idx].s;
}

void ldcache_strtab_release(struct ldcache_strtab *t) {
        for (size_t i = 0; i < t->n; i++)
                free(t->v[i].s);
        free(t->v);
        free(t->slots);
        *t = (struct ldcache_strtab){};
}

/* ldconfig's order: reversed strings in reverse lexicographic order, so that a string that is
 * the tail of another follows it and can share its bytes. */
static int tail_cmp(const void *a, const void *b) {
        const struct ldcache_str *l = *(const struct ldcache_str *const *) a;
        const struct ldcache_str *r = *(const struct ldcache_str *const *) b;
        size_t n = l->len < r->len ? l->len : r->len;

        for (size_t i = 1; i <= n; i++) {
                unsigned char lc = (unsigned char) l->s[l->len - i];
                unsigned char rc = (unsigned char) r->s[r->len - i];
                if (lc != rc)
                        return rc - lc;
        }
        return l->len == r->len ? 0 : l->len < r->len ? 1 : -1;
}

/* Assigns every string its offset (tail merging) and returns the table's bytes. */
static int strtab_finalize(struct ldcache_strtab *t, char **ret, uint32_t *ret_size) {
        _cleanup_free_ struct ldcache_str **order = NULL;
        uint64_t size;
        char *buf;

        if (t->n == 0) {
                *ret = NULL;
                *ret_size = 0;
                return 0;
        }
        order = calloc(t->n, sizeof(*order));
        if (!order)
                return -ENOMEM;
        for (size_t i = 0; i < t->n; i++)
                order[i] = &t->v[i];
        if (t->n > 1)
                qsort(order, t->n, sizeof(*order), tail_cmp);
        order[0]->offset = 0;
        for (size_t j = 1; j < t->n; j++) {
                const struct ldcache_str *p = order[j - 1];
                struct ldcache_str *c = order[j];
                uint64_t off;

                if (p->len >= c->len && memcmp(p->s + p->len - c->len, c->s, c->len) == 0)
                        off = (uint64_t) p->offset + p->len - c->len;
                else
                        off = (uint64_t) p->offset + p->len + 1;
                if (off > UINT32_MAX)
                        return -EFBIG;
                c->offset = (uint32_t) off;
        }
        size = (uint64_t) order[t->n - 1]->offset + order[t->n - 1]->len + 1;
        if (size > UINT32_MAX)
                return -EFBIG;
        buf = calloc(1, (size_t) size);
        if (!buf)
                return -ENOMEM;
        for (size_t i = 0; i < t->n; i++)
                memcpy(buf + t->v[i].offset, t->v[i].s, t->v[i].len + 1);
        *ret = buf;
        *ret_size = (uint32_t) size;
        return 0;
}

static void put32(char *b, size_t off, uint32_t v) {
        memcpy(b + off, &v, sizeof(v));
}

static void put64(char *b, size_t off, uint64_t v) {
        memcpy(b + off, &v, sizeof(v));
}

/* The extension directory, the glibc-hwcaps array and the generator string, as ldconfig's
 * write_extensions() lays them out: the directory always reserves room for two sections. */
static void put_extensions(const struct ldcache_strtab *t, char *b, size_t ext,
                           const size_t *hwcaps, size_t n_hw, uint32_t str_off,
                           const char *generator) {
        size_t arr = ext + EXT_DIR_SIZE, gen = n_hw ? arr + 4 * n_hw : ext + EXT_DIR_ONE;

        put32(b, ext, EXT_MAGIC);
        put32(b, ext + 4, n_hw ? 2 : 1);
        put32(b, ext + 8, EXT_TAG_GENERATOR);
        put32(b, ext + 16, (uint32_t) gen);
        put32(b, ext + 20, (uint32_t) strlen(generator));
        if (n_hw) {
                put32(b, ext + 24, EXT_TAG_HWCAPS);
                put32(b, ext + 32, (uint32_t) arr);
                put32(b, ext + 36, (uint32_t) (4 * n_hw));
                for (size_t i = 0; i < n_hw; i++)
                        put32(b, arr + 4 * i, str_off + t->v[hwcaps[i]].offset);
        }
        memcpy(b + gen, generator, strlen(generator));
}

int ldcache_format(struct ldcache_strtab *t, const struct ldcache_record *recs, size_t n,
                   const size_t *hwcaps, size_t n_hwcaps, const char *generator, char **ret,
                   size_t *ret_len) {
        _cleanup_free_ char *strings = NULL;
        uint64_t str_off = HEADER_SIZE + (uint64_t) ENTRY_SIZE * n, ext, total;
        uint32_t n_strings;
        char *b;
        int r;

        r = strtab_finalize(t, &strings, &n_strings);
        if (r < 0)
                return r;
        ext = (str_off + n_strings + 3) & ~(uint64_t) 3;
        total = ext + (n_hwcaps ? EXT_DIR_SIZE + 4 * (uint64_t) n_hwcaps : EXT_DIR_ONE) +
                strlen(generator);
        if (total > UINT32_MAX)
                return -EFBIG;
        b = calloc(1, (size_t) total);
        if (!b)
                return -ENOMEM;
        memcpy(b, CACHE_MAGIC, strlen(CACHE_MAGIC));
        put32(b, 20, (uint32_t) n);
        put32(b, 24, n_strings);
        b[28] = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? 2 : 3; /* endianness flag */
        put32(b, 32, (uint32_t) ext);
        for (size_t k = 0; k < n; k++) {
                size_t e = HEADER_SIZE + ENTRY_SIZE * k;

                put32(b, e, (uint32_t) recs[k].flags);
                put32(b, e + 4, (uint32_t) str_off + t->v[recs[k].key].offset);
                put32(b, e + 8, (uint32_t) str_off + t->v[recs[k].value].offset);
                put32(b, e + 12, 0); /* OS version: not recorded since glibc 2.36 */
                put64(b, e + 16, recs[k].hwcap);
        }
        if (n_strings)
                memcpy(b + str_off, strings, n_strings);
        put_extensions(t, b, (size_t) ext, hwcaps, n_hwcaps, (uint32_t) str_off, generator);
        *ret = b;
        *ret_len = (size_t) total;
        return 0;
}
