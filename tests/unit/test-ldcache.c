/* ld.so.cache parsing: caches the host's ldconfig writes in all three formats must give exactly
 * the (soname, path, ABI) set that `ldconfig -p` prints, and hand-broken caches (truncated at every
 * length, offsets out of bounds, huge counts, wrong magic) must fail with -EINVAL, never crash. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ldcache/ldcache.h"
#include "unit-tap.h"
#include "util/fileio.h"
#include "util/macros.h"
#include "util/strv.h"

#define _cleanup_ldcache_ _cleanup_(ldcache_freep)
#define _cleanup_error_ _cleanup_(nctk_error_free)

/* How `ldconfig -p` names the build's two ABIs ("(libc6,x86-64)" and "(libc6)"), and their flags.
 * On other architectures ldcache_entry_abi calls every entry OTHER, and so do we. */
#if defined(__x86_64__)
#define HAVE_ABI_NAMES 1
static const char *const arch64_name = "x86-64", *const arch32_name = "";
#define FLAGS_64 (LDCACHE_FLAG_ELF_LIBC6 | LDCACHE_FLAG_X8664_LIB64)
#define FLAGS_32 LDCACHE_FLAG_ELF_LIBC6
#elif defined(__aarch64__)
#define HAVE_ABI_NAMES 1
static const char *const arch64_name = "AArch64", *const arch32_name = "hard-float";
#define FLAGS_64 (LDCACHE_FLAG_ELF_LIBC6 | LDCACHE_FLAG_AARCH64_LIB64)
#define FLAGS_32 (LDCACHE_FLAG_ELF_LIBC6 | LDCACHE_FLAG_ARM_LIBHF)
#else
#define HAVE_ABI_NAMES 0
static const char *const arch64_name = NULL, *const arch32_name = NULL;
#define FLAGS_64 (LDCACHE_FLAG_ELF_LIBC6 | LDCACHE_FLAG_X8664_LIB64)
#define FLAGS_32 LDCACHE_FLAG_ELF_LIBC6
#endif

static const char *formats[] = {"old", "new", "compat"};

static char top[PATH_MAX];
static char ldconfig[64];
static bool generated;    /* caches in all formats exist under top/root/etc */
static char gen_why[512]; /* why not */
static bool have_32bit;   /* the tree holds i386 (libc6, ELF) and x32 libraries */

/* ---- helpers --------------------------------------------------------------------------------- */

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...) {
        char cmd[PATH_MAX * 4];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        assert_true(n > 0 && (size_t) n < sizeof(cmd));
        return system(cmd);
}

static void write_file(const char *path, const void *buf, size_t len) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        assert_true(fd >= 0);
        assert_int_equal(write_full(fd, buf, len), 0);
}

static void read_file(const char *path, char **ret, size_t *ret_len) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);

        assert_true(fd >= 0);
        assert_int_equal(read_full_fd(fd, LDCACHE_MAX_SIZE, ret, ret_len), 0);
}

static void strv_free(char **v, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static void push_record(char ***v, size_t *n, enum ldcache_abi abi, const char *key, size_t key_len,
                        const char *value) {
        char **slot = ARRAY_PUSH(*v, *n);

        assert_non_null(slot);
        assert_true(asprintf(slot, "%d %.*s => %s", (int) abi, (int) key_len, key, value) > 0);
}

/* ---- what ldconfig -p prints ----------------------------------------------------------------- */

/* The ABI named by the inside of "(libc6,x86-64, hwcap: ...)": the type word, then an arch word
 * that follows a bare comma (extras follow ", "). */
static enum ldcache_abi abi_of_descr(const char *d) {
        size_t type_len = strcspn(d, ",)");
        const char *arch = "";
        size_t arch_len = 0;

        if (type_len != 5 || strncmp(d, "libc6", 5) != 0)
                return LDCACHE_ABI_OTHER;
        if (d[5] == ',' && d[6] != ' ') {
                arch = d + 6;
                arch_len = strcspn(arch, ",)");
        }
        if (arch64_name && arch_len == strlen(arch64_name) &&
            strncmp(arch, arch64_name, arch_len) == 0)
                return LDCACHE_ABI_64;
        if (arch32_name && arch_len == strlen(arch32_name) &&
            strncmp(arch, arch32_name, arch_len) == 0)
                return LDCACHE_ABI_32;
        return LDCACHE_ABI_OTHER;
}

/* Parses "\tKEY (DESCR) => VALUE" lines of `ldconfig -p -C FILE` into records. */
static void ldconfig_print(const char *file, char ***ret, size_t *ret_n, size_t *ret_count) {
        char cmd[PATH_MAX * 2], line[PATH_MAX * 2];
        char **v = NULL;
        size_t n = 0;
        FILE *f;

        *ret_count = SIZE_MAX;
        snprintf(cmd, sizeof(cmd), "LC_ALL=C %s -p -C '%s'", ldconfig, file);
        f = popen(cmd, "r");
        assert_non_null(f);
        while (fgets(line, sizeof(line), f)) {
                char *open_paren, *arrow;

                line[strcspn(line, "\n")] = '\0';
                if (line[0] != '\t') {
                        unsigned long count;
                        if (sscanf(line, "%lu libs found in cache", &count) == 1)
                                *ret_count = count;
                        continue;
                }
                open_paren = strstr(line, " (");
                arrow = strstr(line, ") => ");
                if (!open_paren || !arrow)
                        fail_msg("cannot parse ldconfig -p line '%s'", line);
                for (char *a; (a = strstr(arrow + 1, ") => "));)
                        arrow = a;
                *arrow = '\0';
                push_record(&v, &n, abi_of_descr(open_paren + 2), line + 1,
                            (size_t) (open_paren - line - 1), arrow + 5);
        }
        if (pclose(f) != 0)
                fail_msg("'%s' failed", cmd);
        *ret = v;
        *ret_n = n;
}

/* Asserts that our parse of FILE and `ldconfig -p -C FILE` list the same records. */
static void compare_with_ldconfig(const char *file, const struct ldcache *c) {
        char **ours = NULL, **theirs = NULL;
        size_t n_ours = 0, n_theirs = 0, count;

        ldconfig_print(file, &theirs, &n_theirs, &count);
        for (size_t i = 0; i < c->n_entries; i++) {
                const struct ldcache_entry *e = &c->entries[i];
                push_record(&ours, &n_ours, ldcache_entry_abi(e->flags), e->key, strlen(e->key),
                            e->value);
        }
        print_message("# %s: %zu entries, ldconfig -p: %zu\n", file, n_ours, n_theirs);
        assert_int_equal(count, c->n_entries);
        assert_int_equal(n_theirs, n_ours);
        assert_true(n_ours > 0);
        qsort(ours, n_ours, sizeof(*ours), cmp_str);
        qsort(theirs, n_theirs, sizeof(*theirs), cmp_str);
        for (size_t i = 0; i < n_ours; i++)
                assert_string_equal(ours[i], theirs[i]);
        strv_free(ours, n_ours);
        strv_free(theirs, n_theirs);
}

/* ---- the tree ldconfig scans ----------------------------------------------------------------- */

static bool build_lib(const char *flags, const char *soname, const char *dir, const char *file) {
        return run("cc -shared -Wl,--no-as-needed %s -Wl,-soname,%s -o '%s/root/%s/%s' "
                   "-x c /dev/null >/dev/null 2>&1",
                   flags, soname, top, dir, file) == 0;
}

/* i386 and x32 libraries need no multilib C library: link with -nostdlib against a stub
 * libc.so.6, which is what makes ldconfig call them libc6 (without it they are plain ELF). */
static void build_32bit_libs(void) {
#if defined(__x86_64__)
        char m32[PATH_MAX + 64], mx32[PATH_MAX + 64];

        snprintf(m32, sizeof(m32), "-m32 -nostdlib '%s/root/stub32/libc.so.6'", top);
        snprintf(mx32, sizeof(mx32), "-mx32 -nostdlib '%s/root/stubx32/libc.so.6'", top);
        have_32bit = run("mkdir -p '%1$s/root/stub32' '%1$s/root/stubx32' '%1$s/root/lib32' "
                         "'%1$s/root/libx32'",
                         top) == 0 &&
                     build_lib("-m32 -nostdlib", "libc.so.6", "stub32", "libc.so.6") &&
                     build_lib("-mx32 -nostdlib", "libc.so.6", "stubx32", "libc.so.6") &&
                     build_lib(m32, "libq32.so.1", "lib32", "libq32.so.1.0") &&
                     build_lib("-m32 -nostdlib", "libelf32.so.2", "lib32", "libelf32.so.2") &&
                     build_lib(mx32, "libx32.so.3", "libx32", "libx32.so.3");
#endif
        if (!have_32bit)
                print_message("# cannot build i386/x32 libraries: no 32-bit entries\n");
}

static bool generate_caches(void) {
        static const char *libs[] = {"libfoo", "libbar", "libcuda", "libnvidia-ml",
                                     "libnvidia-ptxjitcompiler"};
        char conf[PATH_MAX + 32];

        if (run("mkdir -p '%1$s/root/etc' '%1$s/root/lib64/glibc-hwcaps/x86-64-v3'", top) != 0)
                return false;
        for (size_t i = 0; i < ELEMENTSOF(libs); i++) {
                char soname[64], file[64];
                snprintf(soname, sizeof(soname), "%s.so.1", libs[i]);
                snprintf(file, sizeof(file), "%s.so.1.2.3", libs[i]);
                if (!build_lib("-fPIC", soname, "lib64", file)) {
                        snprintf(gen_why, sizeof(gen_why), "cannot build test libraries with cc");
                        return false;
                }
        }
#if defined(__x86_64__)
        /* A glibc-hwcaps subdirectory gives entries with a hwcap word in the new format. */
        if (!build_lib("-fPIC", "libfoo.so.1", "lib64/glibc-hwcaps/x86-64-v3", "libfoo.so.1.2.3"))
                return false;
#endif
        build_32bit_libs();
        snprintf(conf, sizeof(conf), "%s/root/etc/ld.so.conf", top);
        write_file(conf, "/lib64\n/lib32\n/libx32\n", strlen("/lib64\n/lib32\n/libx32\n"));
        for (size_t i = 0; i < ELEMENTSOF(formats); i++)
                if (run("%s -X -r '%s/root' -c %s -C /etc/%s.cache -f /etc/ld.so.conf", ldconfig,
                        top, formats[i], formats[i]) != 0) {
                        snprintf(gen_why, sizeof(gen_why), "'%s -r' failed", ldconfig);
                        return false;
                }
        return true;
}

static int setup(void **state) {
        static const char *candidates[] = {"/sbin/ldconfig", "/usr/sbin/ldconfig"};

        (void) state;
        snprintf(top, sizeof(top), "/tmp/nctk-ldcache-XXXXXX");
        if (!mkdtemp(top))
                return -1;
        for (size_t i = 0; i < ELEMENTSOF(candidates) && !ldconfig[0]; i++)
                if (access(candidates[i], X_OK) == 0)
                        snprintf(ldconfig, sizeof(ldconfig), "%s", candidates[i]);
        if (!ldconfig[0])
                snprintf(gen_why, sizeof(gen_why), "no ldconfig in /sbin or /usr/sbin");
        else
                generated = generate_caches();
        return 0;
}

static int teardown(void **state) {
        (void) state;
        return run("rm -rf '%s'", top) == 0 ? 0 : -1;
}

/* Without the real caches the comparison cannot run: a skip when we are not root (ldconfig -r
 * chroots), a failure otherwise. */
static void require_generated(void) {
        if (generated)
                return;
        if (geteuid() != 0)
                unit_skip("not root, and %s", gen_why);
        fail_msg("cannot generate caches as root: %s", gen_why);
}

/* ---- hand-built caches ----------------------------------------------------------------------- */

struct spec {
        int32_t flags;
        const char *key, *value;
        uint64_t hwcap;
};

static const struct spec three[] = {
        {FLAGS_64, "libcuda.so.1", "/usr/lib64/libcuda.so.1", 0},
        {FLAGS_32, "libcuda.so.1", "/usr/lib/libcuda.so.1", 0},
        {FLAGS_64, "libfoo.so.1", "/usr/lib64/glibc-hwcaps/x86-64-v3/libfoo.so.1",
         (1ull << 62) | 1},
};

static void put32(uint8_t *p, uint32_t v) {
        memcpy(p, &v, sizeof(v));
}

static void put64(uint8_t *p, uint64_t v) {
        memcpy(p, &v, sizeof(v));
}

/* Appends S with its NUL at *POS and returns its offset from BASE. */
static uint32_t put_str(uint8_t *b, size_t *pos, size_t base, const char *s) {
        size_t l = strlen(s) + 1, at = *pos;

        memcpy(b + at, s, l);
        *pos += l;
        return (uint32_t) (at - base);
}

/* Writes a new-format cache of N entries at B + AT; returns where it ends. */
static size_t make_new(uint8_t *b, size_t at, const struct spec *s, size_t n) {
        size_t pos = at + 48 + 24 * n;

        memset(b + at, 0, 48);
        memcpy(b + at, "glibc-ld.so.cache1.1", 20);
        put32(b + at + 20, (uint32_t) n);
        b[at + 28] = 2; /* little endian */
        for (size_t i = 0; i < n; i++) {
                uint8_t *e = b + at + 48 + 24 * i;
                put32(e, (uint32_t) s[i].flags);
                put32(e + 4, put_str(b, &pos, at, s[i].key));
                put32(e + 8, put_str(b, &pos, at, s[i].value));
                put32(e + 12, 0);
                put64(e + 16, s[i].hwcap);
        }
        put32(b + at + 24, (uint32_t) (pos - (at + 48 + 24 * n)));
        return pos;
}

static size_t make_old(uint8_t *b, const struct spec *s, size_t n) {
        size_t strings = 16 + 12 * n, pos = strings;

        memcpy(b, "ld.so-1.7.0", 12);
        put32(b + 12, (uint32_t) n);
        for (size_t i = 0; i < n; i++) {
                uint8_t *e = b + 16 + 12 * i;
                put32(e, (uint32_t) s[i].flags);
                put32(e + 4, put_str(b, &pos, strings, s[i].key));
                put32(e + 8, put_str(b, &pos, strings, s[i].value));
        }
        return pos;
}

/* An old part of N_OLD copies of the first entry, followed (8-aligned) by a new part of N_NEW
 * >= 1 entries whose strings the old entries share, as ldconfig -c compat writes it. */
static size_t make_compat(uint8_t *b, size_t n_old, const struct spec *s, size_t n_new) {
        size_t end = 16 + 12 * n_old, at = (end + 7) & ~(size_t) 7;

        size_t len;

        memset(b, 0, at);
        memcpy(b, "ld.so-1.7.0", 12);
        put32(b + 12, (uint32_t) n_old);
        len = make_new(b, at, s, n_new);
        /* Old loaders read the new part as their string table, which starts at END. */
        for (size_t i = 0; i < n_old; i++) {
                uint32_t key, value;
                memcpy(&key, b + at + 48 + 4, sizeof(key));
                memcpy(&value, b + at + 48 + 8, sizeof(value));
                put32(b + 16 + 12 * i, (uint32_t) s[0].flags);
                put32(b + 16 + 12 * i + 4, key + (uint32_t) (at - end));
                put32(b + 16 + 12 * i + 8, value + (uint32_t) (at - end));
        }
        return len;
}

static int parse(const uint8_t *b, size_t len, struct ldcache **ret, struct nctk_error **err) {
        nctk_error_free(err);
        return ldcache_parse(b, len, ret, err);
}

/* Asserts that parsing fails with -EINVAL and a message containing WANT. */
static void expect_einval(const uint8_t *b, size_t len, const char *want) {
        _cleanup_error_ struct nctk_error *err = NULL;
        struct ldcache *c = NULL;

        assert_int_equal(parse(b, len, &c, &err), -EINVAL);
        assert_null(c);
        assert_non_null(err);
        assert_int_equal(err->errnum, EINVAL);
        assert_non_null(err->msg);
        if (!strstr(err->msg, want))
                fail_msg("message '%s' lacks '%s'", err->msg, want);
        /* The same answer without an error object. */
        assert_int_equal(ldcache_parse(b, len, &c, NULL), -EINVAL);
}

static void expect_specs(const struct ldcache *c, const struct spec *s, size_t n, bool is_new) {
        assert_int_equal(c->n_entries, n);
        assert_int_equal(c->is_new_format, is_new);
        for (size_t i = 0; i < n; i++) {
                assert_string_equal(c->entries[i].key, s[i].key);
                assert_string_equal(c->entries[i].value, s[i].value);
                assert_int_equal(c->entries[i].flags, s[i].flags);
                assert_int_equal(c->entries[i].hwcap, is_new ? s[i].hwcap : 0);
        }
}

/* ---- tests: real caches ---------------------------------------------------------------------- */

static void cache_path(const char *format, char *buf, size_t size) {
        snprintf(buf, size, "%s/root/etc/%s.cache", top, format);
}

/* Counts entries by ABI and checks the hwcap words: set (glibc-hwcaps) only in the new format. */
static void check_abis_and_hwcaps(const struct ldcache *c) {
        size_t n_abi[3] = {0, 0, 0}, n_hwcap = 0;

        for (size_t i = 0; i < c->n_entries; i++) {
                const struct ldcache_entry *e = &c->entries[i];
                bool in_hwcaps = strstr(e->value, "/glibc-hwcaps/") != NULL;

                n_abi[ldcache_entry_abi(e->flags)]++;
                if (e->hwcap != 0)
                        n_hwcap++;
                if (!c->is_new_format || !in_hwcaps)
                        assert_int_equal(e->hwcap, 0);
#if defined(__x86_64__)
                else
                        assert_true(e->hwcap & (1ull << 62));
#endif
        }
#if defined(__x86_64__)
        assert_int_equal(n_abi[LDCACHE_ABI_64], 6); /* five libraries, one also for x86-64-v3 */
        assert_int_equal(n_hwcap, c->is_new_format ? 1 : 0);
#elif HAVE_ABI_NAMES
        assert_int_equal(n_abi[LDCACHE_ABI_64], 5);
#endif
        assert_int_equal(n_abi[LDCACHE_ABI_32], have_32bit ? 1 : 0);
        assert_int_equal(n_abi[LDCACHE_ABI_OTHER],
                         HAVE_ABI_NAMES ? (have_32bit ? 2 : 0) : c->n_entries);
        (void) n_hwcap;
}

static void test_ldconfig_formats(void **state) {
        (void) state;
        require_generated();
        for (size_t i = 0; i < ELEMENTSOF(formats); i++) {
                _cleanup_ldcache_ struct ldcache *c = NULL;
                _cleanup_error_ struct nctk_error *err = NULL;
                _cleanup_close_ int rootfd = -EBADF;
                char rel[64], file[PATH_MAX + 32];

                snprintf(file, sizeof(file), "%s/root", top);
                rootfd = open(file, O_PATH | O_DIRECTORY | O_CLOEXEC);
                assert_true(rootfd >= 0);
                snprintf(rel, sizeof(rel), "/etc/%s.cache", formats[i]);
                if (ldcache_load(rootfd, rel, &c, &err) < 0)
                        fail_msg("%s", err->msg);
                assert_int_equal(c->is_new_format, !STREQ(formats[i], "old"));
                check_abis_and_hwcaps(c);
                cache_path(formats[i], file, sizeof(file));
                compare_with_ldconfig(file, c);
        }
}

/* The i386 and x32 libraries reach every format's cache. Where cc cannot build them the checks
 * above run without 32-bit entries; this says so, as a skip. */
static void test_32bit_entries(void **state) {
        static const char *const keys[] = {"libq32.so.1", "libelf32.so.2", "libx32.so.3"};

        (void) state;
        require_generated();
        if (!have_32bit)
                unit_skip("cc cannot build i386 and x32 libraries (-m32, -mx32): the caches hold "
                          "no 32-bit entries");
        for (size_t i = 0; i < ELEMENTSOF(formats); i++) {
                _cleanup_ldcache_ struct ldcache *c = NULL;
                _cleanup_error_ struct nctk_error *err = NULL;
                _cleanup_close_ int rootfd = -EBADF;
                char rel[64], dir[PATH_MAX + 32];

                snprintf(dir, sizeof(dir), "%s/root", top);
                rootfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
                assert_true(rootfd >= 0);
                snprintf(rel, sizeof(rel), "/etc/%s.cache", formats[i]);
                if (ldcache_load(rootfd, rel, &c, &err) < 0)
                        fail_msg("%s", err->msg);
                for (size_t k = 0; k < ELEMENTSOF(keys); k++) {
                        size_t j = 0;

                        while (j < c->n_entries && !STREQ(c->entries[j].key, keys[k]))
                                j++;
                        if (j == c->n_entries)
                                fail_msg("%s: no entry for %s", rel, keys[k]);
                        if (k == 0)
                                assert_int_equal(ldcache_entry_abi(c->entries[j].flags),
                                                 LDCACHE_ABI_32);
                }
        }
}

/* The host's own cache, copied first so that a concurrent ldconfig cannot change it under us. */
static void test_host_cache(void **state) {
        _cleanup_ldcache_ struct ldcache *c = NULL;
        _cleanup_error_ struct nctk_error *err = NULL;
        _cleanup_close_ int rootfd = -EBADF;
        char copy[PATH_MAX + 32];

        (void) state;
        if (access("/etc/ld.so.cache", R_OK) < 0)
                unit_skip("no readable /etc/ld.so.cache on this host");
        if (!ldconfig[0]) {
                if (geteuid() != 0)
                        unit_skip("not root, and %s", gen_why);
                fail_msg("%s", gen_why);
        }
        snprintf(copy, sizeof(copy), "%s/host.cache", top);
        assert_int_equal(run("cp /etc/ld.so.cache '%s'", copy), 0);
        rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        assert_true(rootfd >= 0);
        if (ldcache_load(rootfd, copy, &c, &err) < 0)
                fail_msg("%s", err->msg);
        compare_with_ldconfig(copy, c);
}

/* Every prefix of a valid cache either fails with -EINVAL or, from some length on, parses to
 * exactly the full cache's entries. */
static void check_truncations(const char *what, const uint8_t *b, size_t len) {
        _cleanup_ldcache_ struct ldcache *full = NULL;
        _cleanup_error_ struct nctk_error *err = NULL;
        size_t first_ok = SIZE_MAX;

        assert_int_equal(parse(b, len, &full, &err), 0);
        for (size_t l = 0; l <= len; l++) {
                _cleanup_ldcache_ struct ldcache *c = NULL;
                int r = parse(b, l, &c, &err);

                if (r < 0) {
                        if (r != -EINVAL || !err || err->errnum != EINVAL || !err->msg)
                                fail_msg("%s truncated to %zu: %d", what, l, r);
                        if (first_ok != SIZE_MAX)
                                fail_msg("%s: %zu bytes parse, %zu do not", what, first_ok, l);
                        continue;
                }
                if (first_ok == SIZE_MAX)
                        first_ok = l;
                assert_int_equal(c->n_entries, full->n_entries);
                assert_int_equal(c->is_new_format, full->is_new_format);
                for (size_t i = 0; i < c->n_entries; i++) {
                        const struct ldcache_entry *e = &c->entries[i];
                        assert_true(e->key >= c->data && e->key + strlen(e->key) < c->data + l);
                        assert_true(e->value >= c->data &&
                                    e->value + strlen(e->value) < c->data + l);
                        assert_string_equal(e->key, full->entries[i].key);
                        assert_string_equal(e->value, full->entries[i].value);
                        assert_int_equal(e->flags, full->entries[i].flags);
                        assert_int_equal(e->hwcap, full->entries[i].hwcap);
                }
        }
        print_message("# %s: %zu bytes, prefixes of %zu bytes or more parse\n", what, len,
                      first_ok);
}

static void test_truncated(void **state) {
        static uint8_t b[4096];

        (void) state;
        check_truncations("hand-built new", b, make_new(b, 0, three, ELEMENTSOF(three)));
        check_truncations("hand-built old", b, make_old(b, three, ELEMENTSOF(three)));
        check_truncations("hand-built compat", b, make_compat(b, 1, three, ELEMENTSOF(three)));
}

/* The same for the caches ldconfig wrote. */
static void test_truncated_ldconfig(void **state) {
        (void) state;
        require_generated();
        for (size_t i = 0; i < ELEMENTSOF(formats); i++) {
                _cleanup_free_ char *buf = NULL;
                char file[PATH_MAX + 32];
                size_t len = 0;

                cache_path(formats[i], file, sizeof(file));
                read_file(file, &buf, &len);
                check_truncations(file, (const uint8_t *) buf, len);
        }
}

/* ---- tests: hand-built caches ---------------------------------------------------------------- */

static void test_valid_handmade(void **state) {
        _cleanup_error_ struct nctk_error *err = NULL;
        static uint8_t b[4096];
        size_t len;

        (void) state;
        len = make_new(b, 0, three, ELEMENTSOF(three));
        {
                _cleanup_ldcache_ struct ldcache *c = NULL;
                assert_int_equal(parse(b, len, &c, &err), 0);
                expect_specs(c, three, ELEMENTSOF(three), true);
        }
        len = make_old(b, three, ELEMENTSOF(three));
        {
                _cleanup_ldcache_ struct ldcache *c = NULL;
                assert_int_equal(parse(b, len, &c, &err), 0);
                expect_specs(c, three, ELEMENTSOF(three), false);
        }
        /* Old parts of odd (4 bytes of padding) and even length: the new part wins. */
        for (size_t n_old = 1; n_old <= 2; n_old++) {
                _cleanup_ldcache_ struct ldcache *c = NULL;
                len = make_compat(b, n_old, three, 2);
                assert_int_equal(parse(b, len, &c, &err), 0);
                expect_specs(c, three, 2, true);
        }
        /* An empty cache is valid; ldconfig writes one for an empty tree. */
        len = make_new(b, 0, three, 0);
        {
                _cleanup_ldcache_ struct ldcache *c = NULL;
                assert_int_equal(parse(b, len, &c, &err), 0);
                assert_int_equal(c->n_entries, 0);
                assert_null(c->entries);
        }
        /* Byte order "unset" is what old ldconfig wrote. */
        len = make_new(b, 0, three, ELEMENTSOF(three));
        b[28] = 0;
        {
                _cleanup_ldcache_ struct ldcache *c = NULL;
                assert_int_equal(parse(b, len, &c, &err), 0);
                expect_specs(c, three, ELEMENTSOF(three), true);
        }
        assert_null(ldcache_free(NULL));
}

static void test_bad_offsets(void **state) {
        static uint8_t b[4096];
        size_t len, strings = 48 + 24 * ELEMENTSOF(three);

        (void) state;
        /* Past the end of the file, at the end of the string table, before it (into the
         * entries), and the largest offset there is. */
        len = make_new(b, 0, three, ELEMENTSOF(three));
        put32(b + 48 + 24 + 8, (uint32_t) len + 100);
        expect_einval(b, len, "entry 1: path offset");
        put32(b + 48 + 24 + 8, (uint32_t) len);
        expect_einval(b, len, "outside the string table");
        put32(b + 48 + 24 + 8, (uint32_t) strings - 1);
        expect_einval(b, len, "outside the string table");
        put32(b + 48 + 4, UINT32_MAX);
        expect_einval(b, len, "entry 0: soname offset 4294967295");
        len = make_old(b, three, ELEMENTSOF(three));
        put32(b + 16 + 12 * 2 + 4, UINT32_MAX);
        expect_einval(b, len, "entry 2: soname offset");
        put32(b + 16 + 12 * 2 + 4, (uint32_t) (len - 16 - 12 * 3));
        expect_einval(b, len, "outside the string table");
}

static void test_unterminated(void **state) {
        static uint8_t b[4096];
        size_t len;

        (void) state;
        len = make_new(b, 0, three, ELEMENTSOF(three));
        b[len - 1] = 'x';
        expect_einval(b, len, "entry 2: unterminated path");
        /* The NUL exists, but past the declared string table. */
        len = make_new(b, 0, three, ELEMENTSOF(three));
        put32(b + 24, (uint32_t) (len - 48 - 24 * ELEMENTSOF(three) - 1));
        expect_einval(b, len, "entry 2: unterminated path");
        len = make_old(b, three, ELEMENTSOF(three));
        expect_einval(b, len - 1, "entry 2: unterminated path");
        b[len - 1] = '/';
        expect_einval(b, len, "entry 2: unterminated path");
}

static void test_huge_counts(void **state) {
        static uint8_t b[4096];
        size_t len;

        (void) state;
        len = make_new(b, 0, three, ELEMENTSOF(three));
        put32(b + 20, UINT32_MAX);
        expect_einval(b, len, "truncated ld.so.cache: 4294967295 entries do not fit in");
        put32(b + 20, (uint32_t) ((len - 48) / 24 + 1));
        expect_einval(b, len, "entries do not fit in");
        len = make_new(b, 0, three, ELEMENTSOF(three));
        put32(b + 24, UINT32_MAX);
        expect_einval(b, len, "4294967295 bytes of strings do not fit");
        len = make_old(b, three, ELEMENTSOF(three));
        put32(b + 12, UINT32_MAX);
        expect_einval(b, len, "truncated ld.so.cache: 4294967295 entries do not fit in");
        /* A compat cache whose new part claims too much fails; it does not fall back. */
        len = make_compat(b, 1, three, ELEMENTSOF(three));
        put32(b + 32 + 20, UINT32_MAX);
        expect_einval(b, len, "entries do not fit");
        expect_einval(b, 32 + 47, "the header needs 48");
}

static void test_too_large(void **state) {
        _cleanup_error_ struct nctk_error *err = NULL;
        _cleanup_free_ uint8_t *big = calloc(1, (size_t) LDCACHE_MAX_SIZE + 1);
        struct ldcache *c = NULL;

        (void) state;
        assert_non_null(big);
        make_new(big, 0, three, ELEMENTSOF(three));
        assert_int_equal(ldcache_parse(big, (size_t) LDCACHE_MAX_SIZE + 1, &c, &err), -EFBIG);
        assert_null(c);
        assert_int_equal(err->errnum, EFBIG);
        assert_non_null(strstr(err->msg, "larger than 64 MiB"));
        assert_int_equal(ldcache_parse(big, LDCACHE_MAX_SIZE, &c, &err), 0);
        expect_specs(c, three, ELEMENTSOF(three), true);
        ldcache_free(c);
}

static void test_bad_magic(void **state) {
        static uint8_t b[4096];
        size_t len;
        const char *want = "unsupported ld.so.cache format (neither glibc-ld.so.cache1.1 nor "
                           "ld.so-1.7.0)";

        (void) state;
        expect_einval((const uint8_t *) "", 0, want);
        expect_einval(NULL, 0, want);
        expect_einval((const uint8_t *) "\x7f"
                                        "ELF\2\1\1",
                      7, want);
        len = make_new(b, 0, three, ELEMENTSOF(three));
        b[19] = '2'; /* glibc-ld.so.cache1.2 */
        expect_einval(b, len, want);
        len = make_old(b, three, ELEMENTSOF(three));
        b[10] = '1'; /* ld.so-1.7.1 */
        expect_einval(b, len, want);
        expect_einval((const uint8_t *) "ld.so-1.7.0", 11, "the header needs 16");
        expect_einval((const uint8_t *) "glibc-ld.so.cache1.1", 20, "the header needs 48");
        /* The other byte order, and glibc's explicit "invalid". */
        len = make_new(b, 0, three, ELEMENTSOF(three));
        b[28] = 3;
        expect_einval(b, len, "byte order");
        b[28] = 1;
        expect_einval(b, len, "byte order");
}

static void test_load(void **state) {
        _cleanup_ldcache_ struct ldcache *c = NULL;
        _cleanup_error_ struct nctk_error *err = NULL;
        _cleanup_close_ int rootfd = -EBADF;
        static uint8_t b[4096];
        char p[PATH_MAX + 32];

        (void) state;
        snprintf(p, sizeof(p), "%s/load", top);
        assert_int_equal(mkdir(p, 0755), 0);
        rootfd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
        assert_true(rootfd >= 0);
        snprintf(p, sizeof(p), "%s/load/good.cache", top);
        write_file(p, b, make_new(b, 0, three, ELEMENTSOF(three)));
        snprintf(p, sizeof(p), "%s/load/bad.cache", top);
        write_file(p, "not a cache", 11);

        assert_int_equal(ldcache_load(rootfd, "/../../good.cache", &c, &err), 0);
        expect_specs(c, three, ELEMENTSOF(three), true);
        assert_int_equal(ldcache_load(rootfd, "/bad.cache", &c, &err), -EINVAL);
        assert_string_equal(err->msg, "'/bad.cache': unsupported ld.so.cache format (neither "
                                      "glibc-ld.so.cache1.1 nor ld.so-1.7.0)");
        assert_int_equal(ldcache_load(rootfd, "/bad.cache", &c, NULL), -EINVAL);
        assert_int_equal(ldcache_load(rootfd, "/missing", &c, &err), -ENOENT);
        assert_int_equal(err->errnum, ENOENT);
        assert_non_null(strstr(err->msg, "'/missing'"));
        expect_specs(c, three, ELEMENTSOF(three), true); /* untouched on failure */

        snprintf(p, sizeof(p), "%s/load/huge.cache", top);
        write_file(p, "", 0);
        assert_int_equal(truncate(p, (off_t) LDCACHE_MAX_SIZE + 1), 0);
        assert_int_equal(ldcache_load(rootfd, "huge.cache", &c, &err), -EFBIG);
        assert_non_null(strstr(err->msg, "'huge.cache': larger than 64 MiB"));
}

static void test_entry_abi(void **state) {
        (void) state;
        assert_int_equal(ldcache_entry_abi(FLAGS_64),
                         HAVE_ABI_NAMES ? LDCACHE_ABI_64 : LDCACHE_ABI_OTHER);
        assert_int_equal(ldcache_entry_abi(FLAGS_32),
                         HAVE_ABI_NAMES ? LDCACHE_ABI_32 : LDCACHE_ABI_OTHER);
#if defined(__x86_64__)
        assert_int_equal(ldcache_entry_abi(0x0303), LDCACHE_ABI_64);
        assert_int_equal(ldcache_entry_abi(0x0003), LDCACHE_ABI_32);
        assert_int_equal(ldcache_entry_abi(0x0a03), LDCACHE_ABI_OTHER); /* aarch64 */
        assert_int_equal(ldcache_entry_abi(0x0903), LDCACHE_ABI_OTHER); /* armhf */
#elif defined(__aarch64__)
        assert_int_equal(ldcache_entry_abi(0x0a03), LDCACHE_ABI_64);
        assert_int_equal(ldcache_entry_abi(0x0903), LDCACHE_ABI_32);
        assert_int_equal(ldcache_entry_abi(0x0303), LDCACHE_ABI_OTHER); /* x86-64 */
        assert_int_equal(ldcache_entry_abi(0x0003), LDCACHE_ABI_OTHER); /* i386 */
#endif
        assert_int_equal(ldcache_entry_abi(0x0803), LDCACHE_ABI_OTHER); /* x32 */
        assert_int_equal(ldcache_entry_abi(0x0b03), LDCACHE_ABI_OTHER); /* arm soft-float */
        assert_int_equal(ldcache_entry_abi(0x0001), LDCACHE_ABI_OTHER); /* ELF, no libc6 */
        assert_int_equal(ldcache_entry_abi(0x0301), LDCACHE_ABI_OTHER);
        assert_int_equal(ldcache_entry_abi(0x0302), LDCACHE_ABI_OTHER); /* libc5 */
        assert_int_equal(ldcache_entry_abi(0x0000), LDCACHE_ABI_OTHER); /* libc4 */
        assert_int_equal(ldcache_entry_abi(FLAGS_64 | 0x10000), LDCACHE_ABI_OTHER);
        assert_int_equal(ldcache_entry_abi(-1), LDCACHE_ABI_OTHER);
        assert_int_equal(ldcache_entry_abi(INT32_MIN | FLAGS_64), LDCACHE_ABI_OTHER);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_ldconfig_formats),   cmocka_unit_test(test_32bit_entries),
                cmocka_unit_test(test_host_cache),         cmocka_unit_test(test_truncated),
                cmocka_unit_test(test_truncated_ldconfig), cmocka_unit_test(test_valid_handmade),
                cmocka_unit_test(test_bad_offsets),        cmocka_unit_test(test_unterminated),
                cmocka_unit_test(test_huge_counts),        cmocka_unit_test(test_too_large),
                cmocka_unit_test(test_bad_magic),          cmocka_unit_test(test_load),
                cmocka_unit_test(test_entry_abi),
        };
        return unit_run_group_tests(tests, setup, teardown);
}
