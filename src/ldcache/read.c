/* Parser for glibc's ld.so.cache. The file comes from the driver root, which a container image or
 * an unprivileged user may control, so every count, offset and string is checked against the
 * buffer before use. The layouts below were checked against ldconfig -c old|new|compat output. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ldcache/ldcache.h"
#include "util/fileio.h"
#include "util/macros.h"

#define OLD_MAGIC "ld.so-1.7.0"
#define NEW_MAGIC                                                                                  \
        "glibc-ld.so.cache"                                                                        \
        "1.1"
#define OLD_MAGIC_LEN (sizeof(OLD_MAGIC) - 1)
#define NEW_MAGIC_LEN (sizeof(NEW_MAGIC) - 1)

/* "ld.so-1.7.0", NUL-padded to 12 bytes; then NLIBS entries and a string table whose offsets count
 * from the end of the entries. */
struct old_header {
        char magic[OLD_MAGIC_LEN + 1];
        uint32_t nlibs;
};

struct old_entry {
        int32_t flags;
        uint32_t key, value;
};

/* "glibc-ld.so.cache1.1"; then NLIBS entries and LEN_STRINGS bytes of strings. Offsets count from
 * the start of this header. */
struct new_header {
        char magic[NEW_MAGIC_LEN];
        uint32_t nlibs;
        uint32_t len_strings;
        uint8_t flags; /* byte order of the writer, NEW_FLAGS_* */
        uint8_t padding[3];
        uint32_t extension_offset; /* generator string, glibc-hwcaps names: not needed here */
        uint32_t unused[3];
};

struct new_entry {
        int32_t flags;
        uint32_t key, value;
        uint32_t osversion;
        uint64_t hwcap;
};

_Static_assert(sizeof(struct old_header) == 16, "old header layout");
_Static_assert(sizeof(struct old_entry) == 12, "old entry layout");
_Static_assert(sizeof(struct new_header) == 48, "new header layout");
_Static_assert(sizeof(struct new_entry) == 24, "new entry layout");

/* Old ldconfig left the byte order unset; 1 is glibc's explicit "invalid". */
enum {
        NEW_FLAGS_ENDIAN_MASK = 3,
        NEW_FLAGS_ENDIAN_UNSET = 0,
        NEW_FLAGS_ENDIAN_LITTLE = 2,
        NEW_FLAGS_ENDIAN_BIG = 3,
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        NEW_FLAGS_ENDIAN_CURRENT = NEW_FLAGS_ENDIAN_BIG,
#else
        NEW_FLAGS_ENDIAN_CURRENT = NEW_FLAGS_ENDIAN_LITTLE,
#endif
};

/* In the compat layout the new header follows the old entries, aligned as the loader aligns it:
 * glibc uses the alignment of its new header struct, whose entries hold a uint64_t. ldconfig pads
 * the old entries to an even count (by repeating the last one), so that no gap appears. */
#define NEW_HEADER_ALIGN _Alignof(struct new_entry)

enum ldcache_abi ldcache_entry_abi(int32_t flags) {
#if defined(__x86_64__)
        if (flags == (LDCACHE_FLAG_ELF_LIBC6 | LDCACHE_FLAG_X8664_LIB64))
                return LDCACHE_ABI_64;
        if (flags == LDCACHE_FLAG_ELF_LIBC6)
                return LDCACHE_ABI_32;
#elif defined(__aarch64__)
        if (flags == (LDCACHE_FLAG_ELF_LIBC6 | LDCACHE_FLAG_AARCH64_LIB64))
                return LDCACHE_ABI_64;
        if (flags == (LDCACHE_FLAG_ELF_LIBC6 | LDCACHE_FLAG_ARM_LIBHF))
                return LDCACHE_ABI_32;
#else
        (void) flags;
#endif
        return LDCACHE_ABI_OTHER;
}

struct ldcache *ldcache_free(struct ldcache *c) {
        if (!c)
                return NULL;
        free(c->entries);
        free(c->data);
        free(c);
        return NULL;
}

/* Points *RET at the string at OFF of BASE, which must start and end (NUL included) inside
 * [LO, HI). */
static int string_at(const char *base, size_t lo, size_t hi, uint32_t off, size_t index,
                     const char *what, const char **ret, struct nctk_error **err) {
        if (off < lo || off >= hi)
                return nctk_error_set(err, EINVAL,
                                      "corrupt ld.so.cache: entry %zu: %s offset %" PRIu32
                                      " outside the string table",
                                      index, what, off);
        if (!memchr(base + off, '\0', hi - off))
                return nctk_error_set(err, EINVAL,
                                      "corrupt ld.so.cache: entry %zu: unterminated %s", index,
                                      what);
        *ret = base + off;
        return 0;
}

static int entries_alloc(struct ldcache *c, uint32_t n, struct nctk_error **err) {
        if (n == 0)
                return 0;
        c->entries = calloc(n, sizeof(*c->entries));
        if (!c->entries)
                return nctk_error_set(err, ENOMEM,
                                      "cannot allocate %" PRIu32 " ld.so.cache entries", n);
        c->n_entries = n;
        return 0;
}

static int entries_fit(uint32_t n, size_t entry_size, size_t header_size, size_t len,
                       struct nctk_error **err) {
        if (len < header_size || n > (len - header_size) / entry_size)
                return nctk_error_set(err, EINVAL,
                                      "truncated ld.so.cache: %" PRIu32
                                      " entries do not fit in %zu bytes",
                                      n, len);
        return 0;
}

/* The new layout at BASE (0, or where a compat cache hides it), up to the end of the data. */
static int parse_new(struct ldcache *c, size_t base, size_t len, struct nctk_error **err) {
        const char *p = c->data + base;
        size_t plen = len - base, strings, strings_end;
        struct new_header h;
        int r;

        if (plen < sizeof(h))
                return nctk_error_set(err, EINVAL,
                                      "truncated ld.so.cache: %zu bytes, the header needs %zu",
                                      plen, sizeof(h));
        memcpy(&h, p, sizeof(h));
        if ((h.flags & NEW_FLAGS_ENDIAN_MASK) != NEW_FLAGS_ENDIAN_UNSET &&
            (h.flags & NEW_FLAGS_ENDIAN_MASK) != NEW_FLAGS_ENDIAN_CURRENT)
                return nctk_error_set(err, EINVAL,
                                      "ld.so.cache was written for the other byte order, or is "
                                      "corrupt (flags 0x%02x)",
                                      h.flags);
        r = entries_fit(h.nlibs, sizeof(struct new_entry), sizeof(h), plen, err);
        if (r < 0)
                return r;
        strings = sizeof(h) + (size_t) h.nlibs * sizeof(struct new_entry);
        if (h.len_strings > plen - strings)
                return nctk_error_set(err, EINVAL,
                                      "truncated ld.so.cache: %" PRIu32
                                      " bytes of strings do not fit in %zu bytes",
                                      h.len_strings, plen - strings);
        strings_end = strings + h.len_strings;
        r = entries_alloc(c, h.nlibs, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < c->n_entries; i++) {
                struct ldcache_entry *e = &c->entries[i];
                struct new_entry ne;

                memcpy(&ne, p + sizeof(h) + i * sizeof(ne), sizeof(ne));
                r = string_at(p, strings, strings_end, ne.key, i, "soname", &e->key, err);
                if (r < 0)
                        return r;
                r = string_at(p, strings, strings_end, ne.value, i, "path", &e->value, err);
                if (r < 0)
                        return r;
                e->flags = ne.flags;
                e->hwcap = ne.hwcap;
        }
        c->is_new_format = true;
        return 0;
}

/* The old layout: N entries after the header, then strings up to the end of the data. */
static int parse_old(struct ldcache *c, uint32_t n, size_t len, struct nctk_error **err) {
        size_t strings = sizeof(struct old_header) + (size_t) n * sizeof(struct old_entry);
        const char *tab = c->data + strings;
        int r;

        r = entries_alloc(c, n, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < c->n_entries; i++) {
                struct ldcache_entry *e = &c->entries[i];
                struct old_entry oe;

                memcpy(&oe, c->data + sizeof(struct old_header) + i * sizeof(oe), sizeof(oe));
                r = string_at(tab, 0, len - strings, oe.key, i, "soname", &e->key, err);
                if (r < 0)
                        return r;
                r = string_at(tab, 0, len - strings, oe.value, i, "path", &e->value, err);
                if (r < 0)
                        return r;
                e->flags = oe.flags;
        }
        return 0;
}

static bool has_magic_at(const char *data, size_t len, size_t off, const char *magic,
                         size_t magic_len) {
        return off <= len && len - off >= magic_len && memcmp(data + off, magic, magic_len) == 0;
}

static int parse(struct ldcache *c, size_t len, struct nctk_error **err) {
        struct old_header h;
        size_t end, pad;
        int r;

        if (has_magic_at(c->data, len, 0, NEW_MAGIC, NEW_MAGIC_LEN))
                return parse_new(c, 0, len, err);
        if (!has_magic_at(c->data, len, 0, OLD_MAGIC, OLD_MAGIC_LEN))
                return nctk_error_set(err, EINVAL,
                                      "unsupported ld.so.cache format (neither %s nor %s)",
                                      NEW_MAGIC, OLD_MAGIC);
        if (len < sizeof(h))
                return nctk_error_set(err, EINVAL,
                                      "truncated ld.so.cache: %zu bytes, the header needs %zu", len,
                                      sizeof(h));
        memcpy(&h, c->data, sizeof(h));
        r = entries_fit(h.nlibs, sizeof(struct old_entry), sizeof(h), len, err);
        if (r < 0)
                return r;
        /* A compat cache: the old entries are for old loaders only; use the new part, as the
         * loader does. When it is corrupt, so is the file: do not fall back. */
        end = sizeof(h) + (size_t) h.nlibs * sizeof(struct old_entry);
        pad = (NEW_HEADER_ALIGN - end % NEW_HEADER_ALIGN) % NEW_HEADER_ALIGN;
        if (has_magic_at(c->data, len, end + pad, NEW_MAGIC, NEW_MAGIC_LEN))
                return parse_new(c, end + pad, len, err);
        return parse_old(c, h.nlibs, len, err);
}

/* Takes DATA (LEN bytes and a NUL) whatever happens. */
static int parse_owned(char *data, size_t len, struct ldcache **ret, struct nctk_error **err) {
        _cleanup_free_ char *owned = data;
        _cleanup_(ldcache_freep) struct ldcache *c = NULL;
        int r;

        c = calloc(1, sizeof(*c));
        if (!c)
                return nctk_error_set(err, ENOMEM, "cannot allocate the ld.so.cache");
        c->data = TAKE_PTR(owned);
        r = parse(c, len, err);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

int ldcache_parse(const void *buf, size_t len, struct ldcache **ret, struct nctk_error **err) {
        char *copy;

        if (len > LDCACHE_MAX_SIZE)
                return nctk_error_set(err, EFBIG, "ld.so.cache of %zu bytes is larger than %u MiB",
                                      len, LDCACHE_MAX_SIZE >> 20);
        copy = malloc(len + 1);
        if (!copy)
                return nctk_error_set(err, ENOMEM, "cannot allocate the ld.so.cache");
        if (len > 0)
                memcpy(copy, buf, len);
        copy[len] = '\0';
        return parse_owned(copy, len, ret, err);
}

int ldcache_load(int rootfd, const char *path, struct ldcache **ret, struct nctk_error **err) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        int r;

        r = read_full_at(rootfd, path, LDCACHE_MAX_SIZE, &buf, &len);
        if (r == -EFBIG)
                return nctk_error_set(err, EFBIG, "'%s': larger than %u MiB", path,
                                      LDCACHE_MAX_SIZE >> 20);
        if (r < 0)
                return nctk_error_set(err, -r, "'%s': %s", path, strerror(-r));
        r = parse_owned(TAKE_PTR(buf), len, ret, err);
        if (r < 0 && err)
                nctk_error_prefix(err, "'%s'", path);
        return r;
}
