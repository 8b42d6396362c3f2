/* A bounded reader for untrusted shared objects: it extracts what glibc's ldconfig puts in
 * ld.so.cache and nothing else. The files come from a container image, so the reader never maps
 * them (a file can be truncated or grown under us, and a mapping of a hostile file is a SIGBUS
 * away): it preads through a one-page window, reads past the end of the file as zeros (which is
 * what ldconfig sees in the tail of its mapping), requires every structure to start inside the
 * file (ldconfig's check_ptr), and bounds every walk. */
#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ldcache/elf.h"
#include "util/macros.h"

#define WINDOW 4096
#define AOUT_ZMAGIC 0413
#define AOUT_QMAGIC 0314
#define HEADER_MIN 64 /* ldconfig skips files smaller than struct exec and Elf64_Ehdr */
#define INTERP_MAX 64 /* longer than every known interpreter name */

#ifndef EM_AARCH64
#define EM_AARCH64 183
#endif
#ifndef PT_GNU_PROPERTY
#define PT_GNU_PROPERTY 0x6474e553
#endif
#ifndef NT_GNU_PROPERTY_TYPE_0
#define NT_GNU_PROPERTY_TYPE_0 5
#endif
#define X86_ISA_1_NEEDED 0xc0008002u

/* Two one-page windows: the dynamic section and the string table usually sit in different
 * pages, and the name walk alternates between them. */
struct window {
        uint64_t off;
        size_t len;
        uint8_t buf[WINDOW];
};

struct src {
        int fd;
        uint64_t size;
        unsigned last; /* the window used last */
        struct window win[2];
};

struct parse {
        struct src *s;
        uint16_t host;
        bool is64;
        uint64_t mask; /* ElfW(Addr) arithmetic of the class */
        uint64_t phoff;
        unsigned phnum;
        int flag;
        uint32_t isa_level;
        uint32_t dyn_off; /* ldconfig keeps it in an unsigned int */
        uint64_t dyn_size;
        uint64_t strtab;
        uint64_t note_budget; /* note and property bytes left to walk, all segments together */
        bool has_soname;
        uint64_t soname_off; /* of the last DT_SONAME seen */
};

struct phdr {
        uint32_t type;
        uint64_t offset, vaddr, filesz, align;
};

static const char *const interpreters_x86_64[] = {
        "/lib/ld-linux-x86-64.so.2",
        "/lib/ld-linux.so.2",
        "/libx32/ld-linux-x32.so.2",
        "/lib64/ld-linux-x86-64.so.2",
        NULL,
};
static const char *const interpreters_aarch64[] = {
        "/lib/ld-linux-aarch64.so.1",
        "/lib/ld-linux-aarch64_be.so.1",
        "/lib/ld-linux-aarch64_ilp32.so.1",
        "/lib/ld-linux-aarch64_be_ilp32.so.1",
        "/lib/ld-linux.so.3",
        "/lib/ld-linux-armhf.so.3",
        NULL,
};
static const char *const known_libs[] = {"libc.so.6", "libm.so.6", NULL};

uint16_t elf_host_machine(void) {
#if defined(__x86_64__)
        return EM_X86_64;
#elif defined(__aarch64__)
        return EM_AARCH64;
#else
        return 0;
#endif
}

static uint16_t get16(const uint8_t *p) {
        uint16_t v;
        memcpy(&v, p, sizeof(v));
        return v;
}

static uint32_t get32(const uint8_t *p) {
        uint32_t v;
        memcpy(&v, p, sizeof(v));
        return v;
}

static uint64_t get64(const uint8_t *p) {
        uint64_t v;
        memcpy(&v, p, sizeof(v));
        return v;
}

static uint64_t align_up(uint64_t v, uint64_t a) {
        return (v + a - 1) & ~(a - 1);
}

static int window_fill(struct src *s, struct window *w, uint64_t off) {
        ssize_t n;

        do
                n = pread(s->fd, w->buf, WINDOW, (off_t) off);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        w->off = off;
        w->len = (size_t) n;
        return 0;
}

static bool window_has(const struct window *w, uint64_t off) {
        return off >= w->off && off - w->off < w->len;
}

/* Copies LEN bytes at OFF into DST; what lies past the end of the file reads as zeros. */
static int src_read(struct src *s, uint64_t off, void *dst, size_t len) {
        uint8_t *d = dst;

        memset(dst, 0, len);
        while (len > 0 && off < s->size) {
                struct window *w;
                size_t n;

                if (window_has(&s->win[s->last], off))
                        w = &s->win[s->last];
                else if (window_has(&s->win[!s->last], off))
                        w = &s->win[s->last = !s->last];
                else {
                        int r;

                        w = &s->win[s->last = !s->last];
                        r = window_fill(s, w, off);
                        if (r < 0)
                                return r;
                        if (w->len == 0)
                                break; /* the file shrank under us */
                }
                n = w->len - (size_t) (off - w->off);
                if (n > len)
                        n = len;
                memcpy(d, w->buf + (off - w->off), n);
                d += n;
                off += n;
                len -= n;
        }
        return 0;
}

/* Reads the string at OFF into BUF (ELF_NAME_MAX + 1 bytes); the end of the file ends it too.
 * -ENOEXEC when it is longer than ELF_NAME_MAX. */
static int src_string(struct src *s, uint64_t off, char *buf) {
        size_t got = 0;

        while (got <= ELF_NAME_MAX) {
                size_t chunk = ELF_NAME_MAX + 1 - got;
                int r;

                if (chunk > 256)
                        chunk = 256;
                r = src_read(s, off + got, buf + got, chunk);
                if (r < 0)
                        return r;
                if (memchr(buf + got, '\0', chunk))
                        return 0;
                got += chunk;
        }
        return -ENOEXEC;
}

static bool in_list(const char *s, const char *const *list) {
        for (; *list; list++)
                if (STREQ(s, *list))
                        return true;
        return false;
}

static int read_phdr(struct parse *p, unsigned i, struct phdr *ph) {
        uint8_t b[56];
        uint64_t off = p->phoff + (uint64_t) i * (p->is64 ? 56 : 32);
        int r;

        if (off > p->s->size)
                return -ENOEXEC; /* ldconfig: "file is truncated" */
        r = src_read(p->s, off, b, p->is64 ? 56 : 32);
        if (r < 0)
                return r;
        ph->type = get32(b);
        if (p->is64) {
                ph->offset = get64(b + 8);
                ph->vaddr = get64(b + 16);
                ph->filesz = get64(b + 32);
                ph->align = get64(b + 48);
        } else {
                ph->offset = get32(b + 4);
                ph->vaddr = get32(b + 8);
                ph->filesz = get32(b + 16);
                ph->align = get32(b + 28);
        }
        return 0;
}

static int read_dyn(struct parse *p, uint64_t k, int64_t *tag, uint64_t *val) {
        uint8_t b[16];
        uint64_t off = p->dyn_off + k * (p->is64 ? 16 : 8);
        int r = src_read(p->s, off, b, p->is64 ? 16 : 8);

        if (r < 0)
                return r;
        *tag = p->is64 ? (int64_t) get64(b) : (int32_t) get32(b);
        *val = p->is64 ? get64(b + 8) : get32(b + 4);
        return 0;
}

static int do_interp(struct parse *p, const struct phdr *ph) {
        char buf[INTERP_MAX + 1];
        const char *const *list = p->host == EM_X86_64 ? interpreters_x86_64 : interpreters_aarch64;
        int r;

        if (ph->offset > p->s->size)
                return -ENOEXEC;
        r = src_read(p->s, ph->offset, buf, INTERP_MAX);
        if (r < 0)
                return r;
        buf[INTERP_MAX] = '\0';
        if (in_list(buf, list))
                p->flag = LDCACHE_FLAG_ELF_LIBC6;
        return 0;
}

/* The properties of one NT_GNU_PROPERTY_TYPE_0 descriptor: x86's ISA_1_NEEDED sets the level
 * the glibc-hwcaps entries of the cache record. Returns 1 to stop. */
static int do_properties(struct parse *p, uint64_t ptr, uint32_t descsz) {
        uint64_t end = ptr + descsz, asz = p->is64 ? 8 : 4;
        uint32_t last_type = 0;

        do {
                uint32_t pr[3];
                int r;

                if (ptr >= p->s->size || p->note_budget < 8)
                        return 1; /* zeros from here: nothing more can be found */
                p->note_budget -= 8;
                r = src_read(p->s, ptr, pr, sizeof(pr));
                if (r < 0)
                        return r;
                if (pr[0] < last_type)
                        return 1;
                ptr += 8;
                if (ptr + pr[1] > end)
                        return 1;
                last_type = pr[0];
                if (pr[0] > X86_ISA_1_NEEDED)
                        return 1;
                if (pr[0] == X86_ISA_1_NEEDED) {
                        if (pr[1] == 4 && pr[2] != 0)
                                p->isa_level = 31u - (uint32_t) __builtin_clz(pr[2]);
                        return 1;
                }
                ptr += align_up(pr[1], asz);
        } while (ptr <= end && end - ptr >= 8);
        return 1;
}

static int do_property_note(struct parse *p, const struct phdr *ph) {
        uint64_t start = ph->offset, off = ph->offset, size = ph->filesz;

        if (p->host != EM_X86_64 || ph->align != (p->is64 ? 8u : 4u))
                return 0;
        while (((off + 12 - start) & p->mask) < size) {
                uint32_t n[4];
                int r;

                if (off >= p->s->size || p->note_budget < 12)
                        return 0;
                p->note_budget -= 12;
                r = src_read(p->s, off, n, sizeof(n));
                if (r < 0)
                        return r;
                if (n[0] == 4 && n[2] == NT_GNU_PROPERTY_TYPE_0 && memcmp(&n[3], "GNU", 4) == 0) {
                        if (n[1] < 8 || n[1] % (p->is64 ? 8 : 4) != 0)
                                return 0;
                        r = do_properties(p, off + 16, n[1]);
                        return r < 0 ? r : 0;
                }
                off += align_up(align_up(12 + (uint64_t) n[0], ph->align) + n[1], ph->align);
        }
        return 0;
}

static int scan_phdrs(struct parse *p) {
        for (unsigned i = 0; i < p->phnum; i++) {
                struct phdr ph;
                int r = read_phdr(p, i, &ph);

                if (r < 0)
                        return r;
                switch (ph.type) {
                case PT_DYNAMIC:
                        p->dyn_off = (uint32_t) ph.offset;
                        p->dyn_size = ph.filesz;
                        break;
                case PT_INTERP: r = do_interp(p, &ph); break;
                case PT_GNU_PROPERTY: r = do_property_note(p, &ph); break;
                default: break;
                }
                if (r < 0)
                        return r;
        }
        return 0;
}

/* DT_STRTAB is a virtual address: the PT_LOAD that holds it gives the file offset. */
static int find_strtab(struct parse *p) {
        for (uint64_t k = 0; k < ELF_DYN_MAX; k++) {
                uint64_t val, loadoff = p->mask;
                int64_t tag;
                int r = read_dyn(p, k, &tag, &val);

                if (r < 0)
                        return r;
                if (tag == DT_NULL)
                        return -ENOEXEC;
                if (tag != DT_STRTAB)
                        continue;
                for (unsigned i = 0; i < p->phnum; i++) {
                        struct phdr ph;

                        r = read_phdr(p, i, &ph);
                        if (r < 0)
                                return r;
                        if (ph.type == PT_LOAD && val >= ph.vaddr && val - ph.vaddr < ph.filesz) {
                                loadoff = (ph.vaddr - ph.offset) & p->mask;
                                break;
                        }
                }
                if (loadoff == p->mask)
                        loadoff = 0;
                if (val < loadoff || val - loadoff > p->s->size)
                        return -ENOEXEC;
                p->strtab = val - loadoff;
                return 0;
        }
        return -ENOEXEC;
}

/* DT_NEEDED and DT_SONAME, in ldconfig's loop: it stops once it has a soname and a libc flag.
 * Only the last soname seen is kept, so only that one is read in full; a needed name is read as
 * far as the comparison with libc.so.6 and libm.so.6 needs. */
static int scan_names(struct parse *p) {
        for (uint64_t k = 0; k < ELF_DYN_MAX; k++) {
                char needed[16];
                uint64_t val, off;
                int64_t tag;
                int r = read_dyn(p, k, &tag, &val);

                if (r < 0)
                        return r;
                if (tag == DT_NULL)
                        return 0;
                if (tag != DT_NEEDED && tag != DT_SONAME)
                        continue;
                if (__builtin_add_overflow(p->strtab, val, &off) || off > p->s->size)
                        return -ENOEXEC;
                if (tag == DT_SONAME) {
                        p->has_soname = true;
                        p->soname_off = off;
                } else if (p->flag == LDCACHE_FLAG_ELF) {
                        r = src_read(p->s, off, needed, sizeof(needed) - 1);
                        if (r < 0)
                                return r;
                        needed[sizeof(needed) - 1] = '\0';
                        if (in_list(needed, known_libs))
                                p->flag = LDCACHE_FLAG_ELF_LIBC6;
                }
                if (p->has_soname && p->flag != LDCACHE_FLAG_ELF)
                        return 0;
        }
        return -ENOEXEC;
}

static int read_soname(struct parse *p, char **ret) {
        char name[ELF_NAME_MAX + 1];
        int r;

        if (!p->has_soname)
                return 0;
        r = src_string(p->s, p->soname_off, name);
        if (r < 0)
                return r;
        *ret = strdup(name);
        return *ret ? 0 : -ENOMEM;
}

/* ldconfig's process_elf_file for one class: the class must be the one asked for. */
static int parse_class(struct parse *p, const uint8_t *eh, bool is64) {
        int r;

        if (eh[EI_CLASS] != (is64 ? ELFCLASS64 : ELFCLASS32))
                return -ENOEXEC;
        p->is64 = is64;
        p->mask = is64 ? UINT64_MAX : UINT32_MAX;
        p->phoff = is64 ? get64(eh + 32) : get32(eh + 28);
        p->phnum = get16(eh + (is64 ? 56 : 44));
        if (p->phoff > p->s->size)
                return -ENOEXEC;
        p->flag = LDCACHE_FLAG_ELF;
        r = scan_phdrs(p);
        if (r < 0)
                return r;
        if (p->dyn_size == 0 || p->dyn_off > p->s->size)
                return -ENOEXEC;
        r = find_strtab(p);
        if (r < 0)
                return r;
        return scan_names(p);
}

static int parse_x86_64(struct parse *p, const uint8_t *eh, int *ret_flag) {
        uint16_t machine = get16(eh + 18);
        int file_flag = 0, r;

        if (machine == EM_X86_64)
                file_flag = eh[EI_CLASS] == ELFCLASS64
                                    ? LDCACHE_FLAG_X8664_LIB64 | LDCACHE_FLAG_ELF_LIBC6
                                    : LDCACHE_FLAG_X8664_LIBX32 | LDCACHE_FLAG_ELF_LIBC6;
        else if (machine != EM_386 || eh[EI_CLASS] != ELFCLASS32)
                return -ENOEXEC; /* "is for unknown machine" */
        r = parse_class(p, eh, eh[EI_CLASS] != ELFCLASS32);
        if (r < 0)
                return r;
        *ret_flag = file_flag ? file_flag : p->flag;
        return 0;
}

static int parse_aarch64(struct parse *p, const uint8_t *eh, int *ret_flag) {
        int r;

        if (eh[EI_CLASS] == ELFCLASS32) {
                uint32_t ef = get32(eh + 36);

                r = parse_class(p, eh, false);
                if (r < 0)
                        return r;
                *ret_flag = p->flag;
                if ((ef & 0xff000000u) == 0x05000000u) /* EF_ARM_EABI_VER5 */
                        *ret_flag = ((ef & 0x400)   ? LDCACHE_FLAG_ARM_LIBHF
                                     : (ef & 0x200) ? LDCACHE_FLAG_ARM_LIBSF
                                                    : 0) |
                                    LDCACHE_FLAG_ELF_LIBC6;
                return 0;
        }
        r = parse_class(p, eh, true);
        if (r < 0)
                return r;
        *ret_flag = LDCACHE_FLAG_AARCH64_LIB64 | LDCACHE_FLAG_ELF_LIBC6;
        return 0;
}

int elf_is_elf(int fd) {
        uint8_t m[SELFMAG];
        ssize_t n;

        do
                n = pread(fd, m, sizeof(m), 0);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        return n == SELFMAG && memcmp(m, ELFMAG, SELFMAG) == 0;
}

int elf_read(int fd, uint16_t host_machine, struct elf_info *ret) {
        struct stat st;

        if (fstat(fd, &st) < 0)
                return -errno;
        return elf_read_stat(fd, &st, host_machine, ret);
}

int elf_read_stat(int fd, const struct stat *st, uint16_t host_machine, struct elf_info *ret) {
        _cleanup_free_ struct src *s = NULL;
        struct parse p = {.host = host_machine, .note_budget = ELF_NOTE_BYTES_MAX};
        struct elf_info info = {};
        uint8_t eh[HEADER_MIN];
        int r;

        if (host_machine != EM_X86_64 && host_machine != EM_AARCH64)
                return -EOPNOTSUPP;
        if (!S_ISREG(st->st_mode) || st->st_size < HEADER_MIN)
                return -ENOEXEC;
        s = malloc(sizeof(*s)); /* the windows need no zeroing: their lengths say what is valid */
        if (!s)
                return -ENOMEM;
        s->fd = fd;
        s->size = (uint64_t) st->st_size;
        s->last = 0;
        s->win[0].len = s->win[1].len = 0;
        s->win[0].off = s->win[1].off = 0;
        p.s = s;
        r = src_read(s, 0, eh, sizeof(eh));
        if (r < 0)
                return r;
        if (get16(eh) == AOUT_ZMAGIC || get16(eh) == AOUT_QMAGIC) {
                /* a.out: ldconfig still lists these, as libc4, named after the file. */
                info.cache_flags = LDCACHE_FLAG_LIBC4;
                *ret = info;
                return 0;
        }
        if (memcmp(eh, ELFMAG, SELFMAG) != 0 || get16(eh + 16) != ET_DYN)
                return -ENOEXEC;
        r = host_machine == EM_X86_64 ? parse_x86_64(&p, eh, &info.cache_flags)
                                      : parse_aarch64(&p, eh, &info.cache_flags);
        if (r >= 0)
                r = read_soname(&p, &info.soname);
        if (r < 0)
                return r;
        info.elf_class = eh[EI_CLASS];
        info.machine = get16(eh + 18);
        info.eflags = get32(eh + (eh[EI_CLASS] == ELFCLASS32 ? 36 : 48));
        info.isa_level = p.isa_level;
        *ret = info;
        return 0;
}

void elf_info_release(struct elf_info *info) {
        if (!info)
                return;
        free(info->soname);
        info->soname = NULL;
}
