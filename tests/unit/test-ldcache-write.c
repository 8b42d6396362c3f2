/* ldcache_write() against the real thing: fixture roots of real shared objects (built here with
 * cc), hostile files and links among them, are cached by glibc's own `ldconfig -r ROOT -X` and by
 * us; the two files must match byte for byte up to the generator string, and `ldconfig -p` must
 * print the same. The dynamic loader, run in a chroot, must find a library through our cache
 * only. Cases that need root (chroot, ldconfig -r) are skipped without it; CI runs as root. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ldcache/elf.h"
#include "ldcache/write.h"
#include "unit-tap.h"
#include "util/fileio.h"
#include "util/macros.h"

#define LIBDIR "/usr/lib/x86_64-linux-gnu"
#define GENERATOR "nctk " NCTK_VERSION

static char top[PATH_MAX], main_root[PATH_MAX + 16], self_exe[PATH_MAX];
static bool is_root, have_ldconfig, have_clang, have_m32, have_x32;

/* ---- helpers -------------------------------------------------------------------------------- */

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...) {
        char cmd[16384];
        va_list ap;
        int r;

        va_start(ap, fmt);
        vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        r = system(cmd);
        return r == -1 || !WIFEXITED(r) ? -1 : WEXITSTATUS(r);
}

#define SH(...) assert_int_equal(sh(__VA_ARGS__), 0)

static char *capture(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *capture(const char *fmt, ...) {
        char cmd[8192];
        _cleanup_free_ char *out = NULL;
        size_t len = 0;
        va_list ap;
        FILE *f;

        va_start(ap, fmt);
        vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        f = popen(cmd, "r");
        assert_non_null(f);
        assert_int_equal(read_full_fd(fileno(f), 64u << 20, &out, &len), 0);
        pclose(f);
        return TAKE_PTR(out);
}

static void put(const char *path, const char *content) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        assert_true(fd >= 0);
        assert_int_equal(write_full(fd, content, strlen(content)), 0);
}

/* A shared object DIR/FILE with SONAME (none when NULL), from an empty C file plus EXTRA
 * (flags first, then objects after "--"). */
static void mklib(const char *dir, const char *file, const char *soname, const char *extra) {
        char so[512] = "";

        if (soname)
                snprintf(so, sizeof(so), "-Wl,-soname,'%s'", soname);
        SH("cc -shared -fPIC -nostdlib -Wl,--build-id=none %s %s -o '%s/%s' -x c /dev/null", so,
           extra ? extra : "", dir, file);
}

static int open_root(const char *root) {
        int fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);

        assert_true(fd >= 0);
        return fd;
}

/* Runs ldcache_dirs_from_conf() and ldcache_write() for ROOT, as the hook does. */
static int write_ours(const char *root, const char *out, struct nctk_error **err) {
        _cleanup_close_ int rootfd = open_root(root);
        char **dirs = NULL;
        size_t n = 0;
        int r = ldcache_dirs_from_conf(rootfd, &dirs, &n);

        if (r < 0)
                return r;
        r = ldcache_write(rootfd, (const char *const *) dirs, n, out, err);
        ldcache_dirs_free(dirs);
        return r;
}

static uint32_t get32(const char *b, size_t off) {
        uint32_t v;
        memcpy(&v, b + off, sizeof(v));
        return v;
}

static uint64_t get64(const char *b, size_t off) {
        uint64_t v;
        memcpy(&v, b + off, sizeof(v));
        return v;
}

static char *slurp(const char *path, size_t *len) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        char *buf = NULL;

        assert_true(fd >= 0);
        assert_int_equal(read_full_fd(fd, 64u << 20, &buf, len), 0);
        return buf;
}

/* One line per entry of a cache file we wrote, "flags key => value hwcap", as a string. */
static char *dump_cache(const char *path) {
        _cleanup_free_ char *b = NULL;
        char *out = NULL;
        size_t len = 0, olen = 0;
        FILE *f = open_memstream(&out, &olen);

        b = slurp(path, &len);
        assert_true(len >= 48);
        assert_memory_equal(b, "glibc-ld.so.cache1.1", 20);
        for (uint32_t i = 0; i < get32(b, 20); i++) {
                size_t e = 48 + 24 * (size_t) i;
                fprintf(f, "%04x %s => %s %llx\n", get32(b, e), b + get32(b, e + 4),
                        b + get32(b, e + 8), (unsigned long long) get64(b, e + 16));
        }
        fclose(f);
        return out;
}

/* `ldconfig -p` output without its first line (the file name) and the generator line. */
static char *print_cache(const char *path) {
        char *out = capture("ldconfig -p -C '%s'", path), *w = out;
        const char *r = strchr(out, '\n');

        for (r = r ? r + 1 : out + strlen(out); *r;) {
                const char *nl = strchrnul(r, '\n');
                size_t n = (size_t) (nl - r) + (*nl ? 1 : 0);
                if (strncmp(r, "Cache generated by: ", 20) != 0) {
                        memmove(w, r, n);
                        w += n;
                }
                r += n;
        }
        *w = '\0';
        return out;
}

/* REF (ldconfig's) and OURS must be the same file but for the generator string. */
static void assert_same_cache(const char *ref, const char *ours) {
        _cleanup_free_ char *a = NULL, *b = NULL, *pa = NULL, *pb = NULL;
        size_t la = 0, lb = 0, ext, count;

        pa = print_cache(ref);
        pb = print_cache(ours);
        assert_string_equal(pa, pb);
        a = slurp(ref, &la);
        b = slurp(ours, &lb);
        ext = get32(a, 32);
        assert_int_equal(get32(b, 32), ext);
        assert_true(ext > 0 && ext + 8 <= la && ext + 8 <= lb);
        assert_memory_equal(a, b, ext); /* header, entries, string table, padding */
        count = get32(a, ext + 4);
        assert_memory_equal(a + ext, b + ext, 8); /* magic, section count */
        for (size_t i = 0; i < count; i++) {
                size_t s = ext + 8 + 16 * i;
                uint32_t tag = get32(a, s), off = get32(a, s + 8), size = get32(a, s + 12);

                assert_memory_equal(a + s, b + s, 12); /* tag, flags, offset */
                if (tag == 0) {
                        assert_int_equal(get32(b, s + 12), strlen(GENERATOR));
                        assert_memory_equal(b + off, GENERATOR, strlen(GENERATOR));
                        assert_int_equal(lb, off + strlen(GENERATOR));
                        assert_int_equal(la, off + size);
                } else
                        assert_memory_equal(a + off, b + off, size); /* glibc-hwcaps */
        }
}

static void ldconfig_ref(const char *root) {
        SH("rm -f '%s/ref.cache' && ldconfig -r '%s' -X -C /ref.cache 2>/dev/null", root, root);
}

/* ---- fixtures ------------------------------------------------------------------------------- */

/* ROOT + REL, in one of a few rotating static buffers (fixture building only). */
static const char *at(const char *root, const char *rel) {
        static char bufs[8][PATH_MAX * 2];
        static unsigned k;
        char tmp[PATH_MAX * 2], *b = bufs[k++ % 8];
        size_t lr = strlen(root), ll = strlen(rel);

        assert_true(lr + ll < sizeof(tmp));
        memcpy(tmp, root, lr); /* ROOT may be an earlier result */
        memcpy(tmp + lr, rel, ll + 1);
        memcpy(b, tmp, lr + ll + 1);
        return b;
}

static void put_bytes(const char *path, const void *data, size_t len) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        assert_true(fd >= 0);
        assert_int_equal(write_full(fd, data, len), 0);
}

static void put64(uint8_t *b, size_t off, uint64_t v) {
        memcpy(b + off, &v, sizeof(v));
}

static void put16(uint8_t *b, size_t off, uint16_t v) {
        memcpy(b + off, &v, sizeof(v));
}

static void put_phdr(uint8_t *b, unsigned i, uint32_t type, uint64_t off, uint64_t vaddr,
                     uint64_t size) {
        uint8_t *p = b + 64 + 56 * i;

        memcpy(p, &type, 4);
        put64(p, 8, off);
        put64(p, 16, vaddr);
        put64(p, 24, vaddr);
        put64(p, 32, size);
        put64(p, 40, size);
        put64(p, 48, type == PT_LOAD ? 0x1000 : 8);
}

#define STRS(x)                                                                                    \
        { x, sizeof(x) }
static const struct {
        const char *s;
        size_t n;
} synth_strs[] = {
        STRS("\0libsynth.so.3"),
        STRS("\0libeof.so.4"),
        STRS("\0libnoload.so.5"),
        STRS("\0libgone.so.9"),
        STRS("\0libfirst.so.6\0libsecond.so.6"),
        STRS("\0libphnum.so.8"),
        STRS("\0libdynoff.so.8"),
        STRS("\0libc.so.6\0libneed1.so.7\0libneed2.so.7"),
};

/* Hand-made x86-64 shared objects for the edge cases of the reader: 0 the string table reached
 * through the second PT_LOAD, 1 a soname ended by the end of the file, 2 DT_STRTAB outside every
 * PT_LOAD (taken as a file offset), 3 DT_STRTAB past the end, 4 two DT_SONAMEs, 5 program
 * headers past the end, 6 PT_DYNAMIC past the end, 7 DT_NEEDED libc.so.6 then two DT_SONAMEs.
 * Sizes are not page multiples, so ldconfig's mapping reads zeros past the end, as we do. */
static void synth(const char *path, int v) {
        uint8_t b[0x1100] = {0x7f, 'E', 'L', 'F', ELFCLASS64, ELFDATA2LSB, EV_CURRENT};
        uint64_t dyn[16] = {0}, strtab = v == 2 ? 0x1080 : v == 3 ? 0x9000 : 0x5080;
        size_t size = v == 1 ? 0x1080 + synth_strs[1].n - 1 : sizeof(b), k = 0;

        put16(b, 16, ET_DYN);
        put16(b, 18, EM_X86_64);
        b[20] = EV_CURRENT;
        put64(b, 32, 64);
        put16(b, 52, 64);
        put16(b, 54, 56);
        put16(b, 56, v == 5 ? 200 : 3);
        put_phdr(b, 0, PT_LOAD, 0, 0, 0x200);
        put_phdr(b, 1, PT_LOAD, 0x1000, 0x5000, 0x100);
        put_phdr(b, 2, PT_DYNAMIC, v == 6 ? 0x3000 : 0x1000, 0x5000, 0x80);
        if (v == 7) {
                dyn[k++] = DT_NEEDED, dyn[k++] = 1;
                dyn[k++] = DT_SONAME, dyn[k++] = 11;
                dyn[k++] = DT_SONAME, dyn[k++] = 25;
        } else {
                dyn[k++] = DT_SONAME, dyn[k++] = 1;
                if (v == 4)
                        dyn[k++] = DT_SONAME, dyn[k++] = 15;
        }
        dyn[k++] = DT_STRTAB, dyn[k++] = strtab;
        memcpy(b + 0x1000, dyn, sizeof(dyn));
        memcpy(b + 0x1080, synth_strs[v].s, synth_strs[v].n - (v == 1 ? 1 : 0));
        put_bytes(path, b, size);
}

static void build_conf(const char *R) {
        put(at(R, "/etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
        put(at(R, "/etc/ld.so.conf"), "# nctk test\n"
                                      "include /etc/ld.so.conf.d/*.conf\n"
                                      "/opt/bar/lib=libc6\n"
                                      "/opt/baz/lib=libc6 # not a type: a blank follows\n"
                                      "  /opt/missing\n"
                                      "/usr/lib32/\n"
                                      "hwcap 1 foo\n"
                                      "include relative/*.conf\n"
                                      "/opt/foo/lib\n");
        put(at(R, "/etc/ld.so.conf.d/10-a.conf"), "/opt/foo/lib\ninclude sub/*.conf\n");
        put(at(R, "/etc/ld.so.conf.d/sub/x.conf"), "/usr/local/lib/\n");
        put(at(R, "/etc/ld.so.conf.d/.hidden.conf"), "/opt/hidden\n");
        put(at(R, "/etc/ld.so.conf.d/readme.txt"), "/opt/ignored\n");
        put(at(R, "/etc/relative/r.conf"), "/opt/rel/lib\n");
        SH("ln -s /etc/passwd '%s/etc/ld.so.conf.d/20-out.conf'", R);
}

/* The library directory: versions, links, duplicates, names that sort tricky, junk. */
static void build_libdir(const char *d) {
        static const char *const named[] = {
                "libv.so.9",
                "libv.so.10",
                "libA.so.1",
                "liba.so.1",
                "lib_x.so.1",
                "lib\xc3\xa9.so.1",
                "libbig.so.12345678901",
                "libz0.so.01",
                "libz0.so.1",
                "ld-linux-x86-64.so.2",
                NULL,
        };
        static const uint8_t aout[96] = {0x0b, 0x01, 0x64};

        mklib(d, "libfoo.so.1.2.3", "libfoo.so.1", NULL);
        SH("cd '%s' && ln -s libfoo.so.1.2.3 libfoo.so.1 && ln -s libfoo.so.1 libfoo.so && "
           "ln -s libfoo.so.1.2.3 libalias.so.7 && cp libfoo.so.1.2.3 'libfoo.so.1~'",
           d);
        mklib(d, "libbar.so.2.0", "libbar.so.2", NULL);
        mklib(d, "libnos.so", NULL, NULL);
        mklib(d, "libdup.so.1.0", "libdup.so.1", NULL);
        mklib(d, "libdup.so.1.10", "libdup.so.1", NULL);
        mklib(d, "libdup.so.1.9", "libdup.so.1", NULL);
        for (const char *const *n = named; *n; n++)
                mklib(d, *n, *n, NULL);
        if (have_x32)
                mklib(d, "libx32.so.1", "libx32.so.1", "-mx32");
        if (have_clang)
                SH("clang --target=aarch64-linux-gnu -fuse-ld=lld -shared -nostdlib "
                   "-Wl,-soname,libarm64.so.1 -o '%s/libarm64.so.1' -x c /dev/null",
                   d);
        put(at(d, "/libjunk.so.1"), "not an ELF file\n");
        put(at(d, "/libempty.so.1"), "");
        put_bytes(at(d, "/libaout.so.1.2"), aout, sizeof(aout));
        SH("cd '%s' && head -c 64 libfoo.so.1.2.3 > libtrunc64.so.1 && "
           "head -c 1200 libfoo.so.1.2.3 > libtrunc.so.1 && "
           "head -c 3000 libfoo.so.1.2.3 > libtrunc3k.so.1",
           d);
        SH("cc -nostdlib -static -no-pie -Wl,-e,0 -o '%s/libexe.so.1' -x c /dev/null", d);
        SH("cd '%s' && ln -s '%s/outside/libout.so.1' libout.so.1 && "
           "ln -s ../../../../../../../../../outside/libout.so.1 libdots.so.1 && "
           "ln -s /etc/passwd libpasswd.so.1 && ln -s libloop.so.2 libloop.so.1 && "
           "ln -s libloop.so.1 libloop.so.2 && ln -s /usr libdirlink.so && "
           "ln -s nowhere.so.1 libdangling.so.1",
           d, top);
        for (int v = 0; v < 8; v++) {
                char name[32];
                snprintf(name, sizeof(name), "/libsynth%d.so.1", v);
                synth(at(d, name), v);
        }
}

/* Legacy hwcap subdirectories (tls, haswell, a link x86_64 -> tls) and glibc-hwcaps ones. */
static void build_hwcaps(const char *d) {
        const char *v3 = at(d, "/glibc-hwcaps/x86-64-v3");
        char isa[PATH_MAX + 64];

        snprintf(isa, sizeof(isa), "-x none '%s/stub/isa.o'", top);
        mklib(at(d, "/tls"), "libfoo.so.1", "libfoo.so.1", NULL);
        mklib(at(d, "/haswell"), "libfoo.so.1", "libfoo.so.1", NULL);
        SH("ln -s tls '%s/x86_64'", d);
        mklib(v3, "libfoo.so.1.2.3", "libfoo.so.1", isa);
        mklib(v3, "libdup.so.1.0", "libdup.so.1", NULL);
        mklib(v3, "libdup.so.1.10", "libdup.so.1", NULL);
        mklib(v3, "libdup.so.1.9", "libdup.so.1", NULL);
        mklib(at(d, "/glibc-hwcaps/.hidden"), "libfoo.so.1", "libfoo.so.1", NULL);
}

static void build_main(const char *R) {
        char d[PATH_MAX * 2], stub[PATH_MAX + 8], libc[PATH_MAX + 64];

        snprintf(d, sizeof(d), "%s" LIBDIR, R);
        snprintf(stub, sizeof(stub), "%s/stub", top);
        snprintf(libc, sizeof(libc), "-m32 -Wl,--no-as-needed -x none '%s/libc.so.6'", stub);
        SH("mkdir -p '%s/etc/ld.so.conf.d/sub' '%s/etc/relative' '%s/tls' '%s/haswell' "
           "'%s/glibc-hwcaps/x86-64-v3' '%s/glibc-hwcaps/x86-64-v2' '%s/glibc-hwcaps/.hidden' "
           "'%s/usr/lib32' '%s/opt/foo/lib' '%s/opt/bar/lib' '%s/opt/baz/lib' '%s/opt/rel/lib' "
           "'%s/usr/local/lib' '%s/outside' '%s'",
           R, R, d, d, d, d, d, R, R, R, R, R, R, top, stub);
        SH("ln -s usr/lib '%s/lib'", R);
        SH("printf '.section .note.GNU-stack,\"\",@progbits\\n"
           ".section .note.gnu.property,\"a\"\\n.p2align 3\\n.long 4, 16, 5\\n.asciz \"GNU\"\\n"
           ".long 0xc0008002, 4, 4, 0\\n' | cc -c -x assembler -o '%s/isa.o' -",
           stub);
        build_conf(R);
        build_libdir(d);
        build_hwcaps(d);
        if (have_m32) {
                mklib(stub, "libc.so.6", "libc.so.6", "-m32");
                mklib(at(R, "/usr/lib32"), "libfoo32.so.1", "libfoo32.so.1", "-m32");
                mklib(at(R, "/usr/lib32"), "libc32.so.1", "libc32.so.1", libc);
                /* ld gives PT_INTERP to executables only: a PIE is ET_DYN too. */
                SH("cc -m32 -nostdlib -fPIE -pie -Wl,-e,0 "
                   "-Wl,--dynamic-linker,/lib/ld-linux.so.2 -Wl,-soname,libinterp32.so.1 "
                   "-o '%s/usr/lib32/libinterp32.so.1' -x c /dev/null",
                   R);
                mklib(at(R, "/opt/bar/lib"), "libbar32.so.2", "libbar32.so.2", "-m32");
                mklib(at(R, "/opt/baz/lib"), "libbaz32.so.2", "libbaz32.so.2", "-m32");
        }
        mklib(at(R, "/opt/foo/lib"), "libfoo.so.1", "libfoo.so.1", NULL);
        mklib(at(R, "/opt/rel/lib"), "librel.so.1", "librel.so.1", NULL);
        mklib(at(R, "/usr/local/lib"), "libloc.so.5", "libloc.so.5", NULL);
        mklib(at(top, "/outside"), "libout.so.1", "libout.so.1", NULL);
        if (have_clang) {
                SH("clang --target=armv7a-linux-gnueabihf -fuse-ld=lld -shared -nostdlib "
                   "-o '%s/armhf.so' -x c /dev/null",
                   stub);
                SH("clang --target=armv7a-linux-gnueabi -mfloat-abi=soft -fuse-ld=lld -shared "
                   "-nostdlib -o '%s/armsf.so' -x c /dev/null",
                   stub);
        }
}

static int group_setup(void **state) {
        (void) state;
        is_root = geteuid() == 0;
        snprintf(top, sizeof(top), "/tmp/nctk-ldcache-XXXXXX");
        assert_non_null(mkdtemp(top));
        have_ldconfig = sh("ldconfig --version >/dev/null 2>&1") == 0;
        have_clang = sh("clang --target=aarch64-linux-gnu -fuse-ld=lld -shared -nostdlib -o "
                        "'%s/probe.so' -x c /dev/null >/dev/null 2>&1",
                        top) == 0;
        have_m32 = sh("cc -m32 -shared -nostdlib -o '%s/probe.so' -x c /dev/null 2>/dev/null",
                      top) == 0;
        have_x32 = sh("cc -mx32 -shared -nostdlib -o '%s/probe.so' -x c /dev/null 2>/dev/null",
                      top) == 0;
        snprintf(main_root, sizeof(main_root), "%s/main", top);
        build_main(main_root);
        return 0;
}

static int group_teardown(void **state) {
        (void) state;
        if (!top[0] || getenv("NCTK_TEST_KEEP"))
                return 0;
        return sh("rm -rf '%s'", top) == 0 ? 0 : -1;
}

/* ---- the reader and the comparison ---------------------------------------------------------- */

static void libcmp_sign(const char *a, const char *b, int want) {
        int got = ldcache_libcmp(a, b);

        assert_int_equal(got > 0 ? 1 : got < 0 ? -1 : 0, want);
}

static void test_libcmp(void **state) {
        (void) state;
        libcmp_sign("libfoo.so.10", "libfoo.so.9", 1);
        libcmp_sign("libfoo.so.1.10", "libfoo.so.1.9", 1);
        libcmp_sign("libz.so.01", "libz.so.1", 0);
        libcmp_sign("libfoo.so", "libfoo.so.1", -1);
        libcmp_sign("libA.so", "liba.so", -1);
        libcmp_sign("lib1.so", "libx.so", 1); /* digits sort after every other character */
        libcmp_sign("libx.so", "lib1.so", -1);
        libcmp_sign("libc.so.6", "libc.so.6", 0);
        libcmp_sign("lib\xc3\xa9.so", "libe.so", (char) 0xc3 < 'e' ? -1 : 1);
}

static void expect_elf(const char *path, uint16_t host, int want_r, int want_flags,
                       const char *want_soname) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct elf_info info;
        int r;

        assert_true(fd >= 0);
        r = elf_read(fd, host, &info);
        if (r != want_r)
                fail_msg("%s: elf_read() = %d, want %d", path, r, want_r);
        if (r < 0)
                return;
        if (info.cache_flags != want_flags)
                fail_msg("%s: flags %#x, want %#x", path, info.cache_flags, want_flags);
        if (want_soname)
                assert_string_equal(info.soname, want_soname);
        else
                assert_null(info.soname);
        elf_info_release(&info);
}

static void test_elf_read(void **state) {
        const char *d = at(main_root, LIBDIR), *l32 = at(main_root, "/usr/lib32");
        char p[PATH_MAX * 3];
        _cleanup_close_ int fd = -EBADF;
        struct elf_info info;

        (void) state;
#define F(dir, name) (snprintf(p, sizeof(p), "%s/%s", dir, name), p)
        expect_elf(F(d, "libfoo.so.1.2.3"), EM_X86_64, 0, 0x0303, "libfoo.so.1");
        expect_elf(F(d, "libfoo.so.1.2.3"), EM_AARCH64, 0, 0x0a03, "libfoo.so.1");
        expect_elf(F(d, "libnos.so"), EM_X86_64, 0, 0x0303, NULL);
        if (have_x32)
                expect_elf(F(d, "libx32.so.1"), EM_X86_64, 0, 0x0803, "libx32.so.1");
        if (have_m32) {
                expect_elf(F(l32, "libfoo32.so.1"), EM_X86_64, 0, 0x0001, "libfoo32.so.1");
                expect_elf(F(l32, "libc32.so.1"), EM_X86_64, 0, 0x0003, "libc32.so.1");
                expect_elf(F(l32, "libinterp32.so.1"), EM_X86_64, 0, 0x0003, "libinterp32.so.1");
                expect_elf(F(l32, "libfoo32.so.1"), EM_AARCH64, 0, 0x0001, "libfoo32.so.1");
        }
        expect_elf(F(d, "libaout.so.1.2"), EM_X86_64, 0, 0x0000, NULL);
        expect_elf(F(d, "libjunk.so.1"), EM_X86_64, -ENOEXEC, 0, NULL);
        expect_elf(F(d, "libempty.so.1"), EM_X86_64, -ENOEXEC, 0, NULL);
        expect_elf(F(d, "libtrunc64.so.1"), EM_X86_64, -ENOEXEC, 0, NULL);
        expect_elf(F(d, "libexe.so.1"), EM_X86_64, -ENOEXEC, 0, NULL);
        expect_elf(F(d, "libfoo.so.1.2.3"), 0, -EOPNOTSUPP, 0, NULL);
        for (int v = 0; v < 8; v++) {
                static const char *const want[] = {"libsynth.so.3",
                                                   "libeof.so.4",
                                                   "libnoload.so.5",
                                                   NULL,
                                                   "libsecond.so.6",
                                                   NULL,
                                                   NULL,
                                                   "libneed1.so.7"};
                char name[32];

                snprintf(name, sizeof(name), "libsynth%d.so.1", v);
                expect_elf(F(d, name), EM_X86_64, want[v] ? 0 : -ENOEXEC, 0x0303, want[v]);
        }
        if (have_clang) {
                const char *stub = at(top, "/stub");
                expect_elf(F(d, "libarm64.so.1"), EM_X86_64, -ENOEXEC, 0, NULL);
                expect_elf(F(d, "libarm64.so.1"), EM_AARCH64, 0, 0x0a03, "libarm64.so.1");
                expect_elf(F(stub, "armhf.so"), EM_AARCH64, 0, 0x0903, NULL);
                expect_elf(F(stub, "armsf.so"), EM_AARCH64, 0, 0x0b03, NULL);
                expect_elf(F(stub, "armhf.so"), EM_X86_64, -ENOEXEC, 0, NULL);
        }
        fd = open(F(d, "glibc-hwcaps/x86-64-v3/libfoo.so.1.2.3"), O_RDONLY | O_CLOEXEC);
        assert_int_equal(elf_read(fd, EM_X86_64, &info), 0);
        assert_int_equal(info.isa_level, 2); /* x86-64-v3 */
        assert_int_equal(info.elf_class, ELFCLASS64);
        assert_int_equal(info.machine, EM_X86_64);
        elf_info_release(&info);
        assert_int_equal(elf_is_elf(fd), 1);
        close(fd);
        fd = open(F(d, "libjunk.so.1"), O_RDONLY | O_CLOEXEC);
        assert_int_equal(elf_is_elf(fd), 0);
        close(fd);
        fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_int_equal(elf_read(fd, EM_X86_64, &info), -ENOEXEC);
#undef F
}

/* ---- the directory list --------------------------------------------------------------------- */

static void test_conf(void **state) {
        static const char *const want[] = {
                "/opt/foo/lib",
                "/usr/local/lib/",
                "root:x:0:0:root:/root:/bin/sh",
                "/opt/bar/lib=libc6",
                "/opt/baz/lib=libc6 ",
                "/opt/missing",
                "/usr/lib32/",
                "/opt/rel/lib",
                "/opt/foo/lib",
                "/lib/x86_64-linux-gnu",
                "/usr/lib/x86_64-linux-gnu",
                "/lib",
                "/usr/lib",
                NULL,
        };
        _cleanup_close_ int rootfd = open_root(main_root);
        char **dirs = NULL;
        size_t n = 0, i;

        (void) state;
        assert_int_equal(ldcache_dirs_from_conf(rootfd, &dirs, &n), 0);
        for (i = 0; want[i] && i < n; i++)
                assert_string_equal(dirs[i], want[i]);
        assert_int_equal(n, i);
        assert_null(want[i]);
        assert_null(dirs[n]);
        ldcache_dirs_free(dirs);
}

static int conf_of(const char *name, const char *conf, size_t *ret_n) {
        const char *R = at(top, name);
        _cleanup_close_ int rootfd = -EBADF;
        char **dirs = NULL;
        int r;

        SH("mkdir -p '%s/etc'", R);
        if (conf)
                put(at(R, "/etc/ld.so.conf"), conf);
        rootfd = open_root(R);
        r = ldcache_dirs_from_conf(rootfd, &dirs, ret_n);
        if (r >= 0) {
                /* No multiarch directory: upstream's list. */
                assert_string_equal(dirs[*ret_n - 6], "/lib");
                assert_string_equal(dirs[*ret_n - 1], "/usr/libx32");
                ldcache_dirs_free(dirs);
        }
        return r;
}

static void test_conf_limits(void **state) {
        _cleanup_free_ char *big = malloc(LDCACHE_CONF_MAX_BYTES + 16);
        char many[4096] = "";
        size_t n = 0;

        (void) state;
        assert_int_equal(conf_of("c-none", NULL, &n), 0);
        assert_int_equal(n, 6);
        for (int i = 0; i < LDCACHE_CONF_MAX_DIRS - 6; i++)
                snprintf(many + strlen(many), sizeof(many) - strlen(many), "/d%d\n", i);
        assert_int_equal(conf_of("c-full", many, &n), 0);
        assert_int_equal(n, LDCACHE_CONF_MAX_DIRS);
        snprintf(many + strlen(many), sizeof(many) - strlen(many), "/one-more\n");
        assert_int_equal(conf_of("c-many", many, &n), -E2BIG);
        assert_int_equal(conf_of("c-loop", "include /etc/ld.so.conf\n", &n), -ELOOP);
        memset(big, '#', LDCACHE_CONF_MAX_BYTES + 8);
        big[LDCACHE_CONF_MAX_BYTES + 8] = '\0';
        assert_int_equal(conf_of("c-big", big, &n), -E2BIG);
        /* A FIFO as ld.so.conf is not opened (it would block): ignored like a missing file. */
        SH("mkdir -p '%s/c-fifo/etc' && mkfifo '%s/c-fifo/etc/ld.so.conf'", top, top);
        assert_int_equal(conf_of("c-fifo", NULL, &n), 0);
        assert_int_equal(n, 6);
}

/* ---- the cache ------------------------------------------------------------------------------ */

static void test_content(void **state) {
        static const char *const present[] = {
                "0303 libfoo.so.1 => /opt/foo/lib/libfoo.so.1 0\n",
                "0303 libfoo.so.1 => /lib/x86_64-linux-gnu/libfoo.so.1 0\n",
                "0303 libfoo.so => /lib/x86_64-linux-gnu/libfoo.so 0\n",
                "0303 libbar.so.2 => /lib/x86_64-linux-gnu/libbar.so.2 0\n",
                "0303 libnos.so => /lib/x86_64-linux-gnu/libnos.so 0\n",
                "0303 libfoo.so.1 => /lib/x86_64-linux-gnu/haswell/libfoo.so.1 4000000000000\n",
                "0303 libfoo.so.1 => /lib/x86_64-linux-gnu/glibc-hwcaps/x86-64-v3/"
                "libfoo.so.1.2.3 4000000200000000\n",
                "0303 libdup.so.1 => /lib/x86_64-linux-gnu/glibc-hwcaps/x86-64-v3/"
                "libdup.so.1.10 4000000000000000\n",
                "0001 libfoo32.so.1 => /usr/lib32/libfoo32.so.1 0\n",
                "0003 libc32.so.1 => /usr/lib32/libc32.so.1 0\n",
                "0003 libinterp32.so.1 => /usr/lib32/libinterp32.so.1 0\n",
                "0003 libbar32.so.2 => /opt/bar/lib/libbar32.so.2 0\n",
                "0001 libbaz32.so.2 => /opt/baz/lib/libbaz32.so.2 0\n",
                "0803 libx32.so.1 => /lib/x86_64-linux-gnu/libx32.so.1 0\n",
                "0000 libaout.so.1 => /lib/x86_64-linux-gnu/libaout.so.1 0\n",
                "0303 libsynth.so.3 =>",
                "0303 libeof.so.4 =>",
                "0303 libnoload.so.5 =>",
                "0303 libsecond.so.6 =>",
                "0303 libneed1.so.7 =>",
                "0303 librel.so.1 =>",
                "0303 libloc.so.5 => /usr/local/lib/libloc.so.5 0\n",
                NULL,
        };
        static const char *const absent[] = {
                "libjunk",   "libempty",  "libtrunc64",   "libexe",     "libout",
                "libdots",   "libpasswd", "libloop",      "libdirlink", "libdangling",
                "libarm64",  "libgone",   "libfirst",     "libneed2",   "libphnum",
                "libdynoff", ".hidden",   "/opt/missing", "x86-64-v2",  NULL,
        };
        _cleanup_(nctk_error_free) struct nctk_error *err = NULL;
        _cleanup_free_ char *dump = NULL;

        (void) state;
        assert_int_equal(write_ours(main_root, "/etc/ld.so.cache", &err), 0);
        dump = dump_cache(at(main_root, "/etc/ld.so.cache"));
        for (const char *const *p = present; *p; p++) {
                if ((!have_m32 && strstr(*p, "32.so")) || (!have_x32 && strstr(*p, "x32.so")))
                        continue;
                if (!strstr(dump, *p))
                        fail_msg("missing '%s' in:\n%s", *p, dump);
        }
        for (const char *const *p = absent; *p; p++)
                if (strstr(dump, *p))
                        fail_msg("unexpected '%s' in:\n%s", *p, dump);
}

/* The fixtures that need more than cc (cc -m32, cc -mx32, clang with lld for arm objects) are
 * left out of the cases above where that is missing: this says so, as a skip, and otherwise
 * checks that they were built. */
static void test_all_fixtures(void **state) {
        const char *d = at(main_root, LIBDIR), *stub = at(top, "/stub");
        const char *need[] = {at(main_root, "/usr/lib32/libfoo32.so.1"),
                              at(main_root, "/usr/lib32/libinterp32.so.1"),
                              at(d, "/libx32.so.1"),
                              at(d, "/libarm64.so.1"),
                              at(stub, "/armhf.so"),
                              at(stub, "/armsf.so")};
        char missing[64];

        (void) state;
        snprintf(missing, sizeof(missing), "%s%s%s", have_m32 ? "" : ", cc -m32",
                 have_x32 ? "" : ", cc -mx32", have_clang ? "" : ", clang/lld");
        if (missing[0])
                unit_skip("without %s: those fixtures are left out of the other cases",
                          missing + 2);
        for (size_t i = 0; i < ELEMENTSOF(need); i++)
                if (access(need[i], F_OK) < 0)
                        fail_msg("%s: %s", need[i], strerror(errno));
}

static void test_equivalent_main(void **state) {
        _cleanup_(nctk_error_free) struct nctk_error *err = NULL;

        (void) state;
        if (!is_root || !have_ldconfig)
                unit_skip("comparing with ldconfig -r needs root and ldconfig");
        ldconfig_ref(main_root);
        assert_int_equal(write_ours(main_root, "/etc/ld.so.cache", &err), 0);
        assert_same_cache(at(main_root, "/ref.cache"), at(main_root, "/etc/ld.so.cache"));
}

/* The userspace walk that replaces openat2 (old kernels, seccomp) gives the same file: run in a
 * child with NCTK_TEST_NO_OPENAT2=1, since the choice is made once per process. */
static void test_walk_fallback(void **state) {
        _cleanup_(nctk_error_free) struct nctk_error *err = NULL;
        _cleanup_free_ char *a = NULL, *b = NULL;
        size_t la = 0, lb = 0;

        (void) state;
        assert_int_equal(write_ours(main_root, "/openat2.cache", &err), 0);
        SH("NCTK_TEST_NO_OPENAT2=1 '%s' --write '%s' /walk.cache", self_exe, main_root);
        a = slurp(at(main_root, "/openat2.cache"), &la);
        b = slurp(at(main_root, "/walk.cache"), &lb);
        assert_int_equal(la, lb);
        assert_memory_equal(a, b, la);
}

/* The dynamic loader of the chroot finds libfoo.so.1 in /opt/foo/lib through our cache only. */
static void test_loader(void **state) {
        const char *R = at(top, "/exec");
        _cleanup_(nctk_error_free) struct nctk_error *err = NULL;
        _cleanup_free_ char *out = NULL;

        (void) state;
        if (!is_root)
                unit_skip("chroot needs root");
        SH("mkdir -p '%s/lib64' '%s/lib/x86_64-linux-gnu' '%s/opt/foo/lib' '%s/etc'", R, R, R, R);
        SH("cp -L /lib64/ld-linux-x86-64.so.2 '%s/lib64/' && "
           "cp -L /lib/x86_64-linux-gnu/libc.so.6 '%s/lib/x86_64-linux-gnu/'",
           R, R);
        put(at(top, "/foo.c"), "int foo(void) { return 42; }\n");
        put(at(top, "/prog.c"), "#include <stdio.h>\nint foo(void);\n"
                                "int main(void) { printf(\"foo=%d\\n\", foo()); return 0; }\n");
        SH("cc -shared -fPIC -Wl,-soname,libfoo.so.1 -o '%s/opt/foo/lib/libfoo.so.1.2.3' "
           "'%s/foo.c' && ln -s libfoo.so.1.2.3 '%s/opt/foo/lib/libfoo.so.1'",
           R, top, R);
        SH("cc -o '%s/prog' '%s/prog.c' '%s/opt/foo/lib/libfoo.so.1.2.3'", R, top, R);
        put(at(R, "/etc/ld.so.conf"), "/opt/foo/lib\n");
        assert_int_not_equal(sh("chroot '%s' /prog >/dev/null 2>&1", R), 0);
        assert_int_equal(write_ours(R, "/etc/ld.so.cache", &err), 0);
        out = capture("chroot '%s' /prog 2>&1", R);
        assert_string_equal(out, "foo=42\n");
        SH("rm '%s/etc/ld.so.cache'", R);
        assert_int_not_equal(sh("chroot '%s' /prog >/dev/null 2>&1", R), 0);
}

static double now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;

        return x < y ? -1 : x > y;
}

/* A Debian-like root made of about 200 of the host's own libraries (hard links when possible),
 * with Debian's ld.so.conf: equivalence on real-world objects, and the time it takes. */
static void test_debian_root(void **state) {
        const char *R = at(top, "/debian"), *H = "/usr/lib/x86_64-linux-gnu";
        _cleanup_(nctk_error_free) struct nctk_error *err = NULL;
        _cleanup_free_ char *n_files = NULL;
        double t[15];

        (void) state;
        SH("mkdir -p '%s" LIBDIR "' '%s/etc/ld.so.conf.d' '%s/usr/lib64' && ln -s usr/lib '%s/lib' "
           "&& ln -s usr/lib64 '%s/lib64'",
           R, R, R, R, R);
        SH("cd %s && for f in lib*.so*; do [ -f \"$f\" ] && [ ! -L \"$f\" ] && echo \"$f\"; done "
           "| head -200 > '%s/list'",
           H, top);
        SH("cd %s && while read f; do ln \"$f\" '%s" LIBDIR "/' 2>/dev/null || "
           "cp -p \"$f\" '%s" LIBDIR "/'; done < '%s/list'",
           H, R, R, top);
        SH("cd %s && for l in lib*.so*; do [ -L \"$l\" ] && grep -qxF \"$(readlink \"$l\")\" "
           "'%s/list' && cp -P \"$l\" '%s" LIBDIR "/'; done; true",
           H, top, R);
        put(at(R, "/etc/ld.so.conf"), "include /etc/ld.so.conf.d/*.conf\n\n");
        put(at(R, "/etc/ld.so.conf.d/libc.conf"), "# libc default configuration\n/usr/local/lib\n");
        put(at(R, "/etc/ld.so.conf.d/x86_64-linux-gnu.conf"),
            "# Multiarch support\n/usr/local/lib/x86_64-linux-gnu\n/lib/x86_64-linux-gnu\n"
            "/usr/lib/x86_64-linux-gnu\n");
        n_files = capture("wc -l < '%s/list'", top);
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                double t0 = now_ms();
                assert_int_equal(write_ours(R, "/etc/ld.so.cache", &err), 0);
                t[i] = now_ms() - t0;
        }
        qsort(t, ELEMENTSOF(t), sizeof(t[0]), cmp_double);
        printf("# ldcache_write, Debian-like root, %ld libraries: min %.2f ms, median %.2f ms\n",
               strtol(n_files, NULL, 10), t[0], t[ELEMENTSOF(t) / 2]);
        if (!is_root || !have_ldconfig)
                unit_skip("comparing with ldconfig -r needs root and ldconfig");
        ldconfig_ref(R);
        assert_same_cache(at(R, "/ref.cache"), at(R, "/etc/ld.so.cache"));
}

/* ---- hostile roots -------------------------------------------------------------------------- */

static int write_one(const char *root, const char *dir, const char *out, struct nctk_error **err) {
        _cleanup_close_ int rootfd = open_root(root);
        const char *dirs[] = {dir};

        return ldcache_write(rootfd, dirs, 1, out, err);
}

static void test_hostile_out_path(void **state) {
        const char *R = at(top, "/h-link"), *victim = at(top, "/victim");
        _cleanup_(nctk_error_free) struct nctk_error *err = NULL;
        _cleanup_free_ char *v = NULL, *listing = NULL;
        struct stat st;
        size_t len = 0;

        (void) state;
        /* A symlink at /etc/ld.so.cache to a host file is replaced, not followed. */
        SH("mkdir -p '%s/etc' '%s/usr/lib' && ln -s '%s' '%s/etc/ld.so.cache'", R, R, victim, R);
        put(victim, "victim\n");
        mklib(at(R, "/usr/lib"), "libh.so.1", "libh.so.1", NULL);
        assert_int_equal(write_one(R, "/usr/lib", "/etc/ld.so.cache", &err), 0);
        v = slurp(victim, &len);
        assert_string_equal(v, "victim\n");
        assert_int_equal(lstat(at(R, "/etc/ld.so.cache"), &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0644);
        /* Directory missing: -ENOENT, nothing created. */
        R = at(top, "/h-noetc");
        SH("mkdir -p '%s/usr/lib'", R);
        assert_int_equal(write_one(R, "/usr/lib", "/etc/ld.so.cache", &err), -ENOENT);
        assert_non_null(strstr(err->msg, "'/etc'"));
        assert_int_not_equal(access(at(R, "/etc"), F_OK), 0);
        /* /etc a symlink to a host directory: resolved inside the root, where it is missing. */
        R = at(top, "/h-etclink");
        SH("mkdir -p '%s/usr/lib' '%s/hostdir' && ln -s '%s/hostdir' '%s/etc'", R, top, top, R);
        assert_int_equal(write_one(R, "/usr/lib", "/etc/ld.so.cache", &err), -ENOENT);
        listing = capture("ls -A '%s/hostdir'", top);
        assert_string_equal(listing, "");
        /* A directory at the target: -EISDIR, and no temporary file left behind. */
        R = at(top, "/h-link");
        assert_int_equal(write_one(R, "/usr/lib", "/etc", &err), -EISDIR);
        assert_int_equal(write_one(R, "/usr/lib", "/etc/", &err), -EINVAL);
        free(listing);
        listing = capture("ls -A '%s/etc' '%s'", R, R);
        assert_null(strstr(listing, ".nctk-"));
}

static void alarm_handler(int sig) {
        (void) sig;
        _exit(99); /* a FIFO or device blocked us */
}

/* FIFOs and device nodes among the libraries are never opened; links out of the root are never
 * followed out. */
static void test_hostile_files(void **state) {
        const char *R = at(top, "/h-files");
        _cleanup_(nctk_error_free) struct nctk_error *err = NULL;
        _cleanup_free_ char *dump = NULL;

        (void) state;
        SH("mkdir -p '%s/etc' '%s/usr/lib' '%s/dev' && mkfifo '%s/usr/lib/libfifo.so.1' && "
           "ln -s libfifo.so.1 '%s/usr/lib/libfifolink.so.1' && "
           "ln -s /dev/zero '%s/usr/lib/libzero.so.1' && ln -s / '%s/usr/lib/libroot.so.1'",
           R, R, R, R, R, R, R);
        if (is_root)
                SH("mknod '%s/dev/zero' c 1 5", R);
        mklib(at(R, "/usr/lib"), "libok.so.1", "libok.so.1", NULL);
        signal(SIGALRM, alarm_handler);
        alarm(30);
        assert_int_equal(write_one(R, "/usr/lib", "/etc/ld.so.cache", &err), 0);
        alarm(0);
        dump = dump_cache(at(R, "/etc/ld.so.cache"));
        assert_string_equal(dump, "0303 libok.so.1 => /usr/lib/libok.so.1 0\n");
}

int main(int argc, char **argv) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_libcmp),
                cmocka_unit_test(test_elf_read),
                cmocka_unit_test(test_conf),
                cmocka_unit_test(test_conf_limits),
                cmocka_unit_test(test_content),
                cmocka_unit_test(test_all_fixtures),
                cmocka_unit_test(test_equivalent_main),
                cmocka_unit_test(test_walk_fallback),
                cmocka_unit_test(test_loader),
                cmocka_unit_test(test_debian_root),
                cmocka_unit_test(test_hostile_out_path),
                cmocka_unit_test(test_hostile_files),
        };
        ssize_t n;

        if (argc == 4 && STREQ(argv[1], "--write")) {
                struct nctk_error *err = NULL;
                int r = write_ours(argv[2], argv[3], &err);
                if (r < 0)
                        fprintf(stderr, "%s\n", err ? err->msg : strerror(-r));
                nctk_error_free(&err);
                return r < 0;
        }
        if (elf_host_machine() != EM_X86_64) {
                printf("1..0 # SKIP the fixtures are x86-64 objects\n");
                return 0;
        }
        n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
        if (n > 0)
                self_exe[n] = '\0';
        return unit_run_group_tests(tests, group_setup, group_teardown);
}
