/* The facts about a shared object that glibc's ldconfig records in ld.so.cache (class, machine,
 * the cache flags word, DT_SONAME, x86 ISA level), read from an untrusted file with bounded
 * preads only. The NT_GNU_ABI_TAG OS version is not read: ldconfig stopped recording it in
 * glibc 2.36 (the loader no longer checks it), and 0 is what every loader accepts. */
#ifndef NCTK_LDCACHE_ELF_H
#define NCTK_LDCACHE_ELF_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "ldcache/flags.h"

/* Hard limits: files beyond them are treated as not shared libraries (ldconfig has none; no
 * real library comes near them). */
#define ELF_NAME_MAX 4096             /* longest DT_SONAME / DT_NEEDED string */
#define ELF_DYN_MAX (1u << 16)        /* dynamic entries walked */
#define ELF_NOTE_BYTES_MAX (1u << 20) /* note and property headers walked, all segments */

struct elf_info {
        uint8_t elf_class;  /* ELFCLASS32 or ELFCLASS64; 0 for an a.out (libc4) file */
        uint16_t machine;   /* e_machine (EM_X86_64, EM_386, EM_AARCH64, ...) */
        uint32_t eflags;    /* e_flags */
        int cache_flags;    /* the flags word ldconfig of HOST_MACHINE records:
                               0x0303 x86-64, 0x0803 x32, 0x0003 or 0x0001 i386 (libc6 or plain
                               ELF, from PT_INTERP/DT_NEEDED), 0x0a03 aarch64, 0x0903 arm
                               hard-float, 0x0b03 arm soft-float, 0x0000 a.out */
        uint32_t isa_level; /* x86 GNU_PROPERTY_X86_ISA_1_NEEDED level (x86-64 host), else 0 */
        char *soname;       /* DT_SONAME, NULL when absent (and always for a.out) */
};

/* The e_machine of the ldconfig we emulate: the one of the architecture we were built for
 * (EM_X86_64, EM_AARCH64), or 0 when that architecture is not supported. */
uint16_t elf_host_machine(void);

/* Whether FD starts with the ELF magic. Returns 1, 0, or -errno. */
int elf_is_elf(int fd);

/* Reads FD (a regular file, never mapped: bounded preads only) the way ldconfig of HOST_MACHINE
 * reads a candidate library, and fills *RET. Reads past the end of the file read as zeros, and
 * every structure must start inside the file, which is what ldconfig's own bounds checks amount
 * to on its mmap of the file. Returns 0; -ENOEXEC when ldconfig would not take the file (not
 * ELF/a.out, not ET_DYN, wrong class or machine, no dynamic section or string table, a header
 * or string starting past the end, or beyond the limits above); -EOPNOTSUPP for an unsupported
 * HOST_MACHINE; -ENOMEM; -errno from pread/fstat. *RET is written only on success; release
 * it with elf_info_release(). */
int elf_read(int fd, uint16_t host_machine, struct elf_info *ret);
/* The same, for a caller that has just fstat()ed FD into ST. */
int elf_read_stat(int fd, const struct stat *st, uint16_t host_machine, struct elf_info *ret);

void elf_info_release(struct elf_info *info);

#endif
