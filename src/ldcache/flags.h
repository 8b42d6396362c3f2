/* The flags word of an ld.so.cache entry, as glibc's ldconfig writes it (its
 * sysdeps/generic/ldconfig.h values): a type in the low byte and the ABI the library requires in
 * the second byte. The one definition that the cache reader, the ELF reader and the writer share.
 */
#ifndef NCTK_LDCACHE_FLAGS_H
#define NCTK_LDCACHE_FLAGS_H

enum ldcache_flag {
        LDCACHE_FLAG_ANY = -1,
        LDCACHE_FLAG_TYPE_MASK = 0x00ff,
        LDCACHE_FLAG_LIBC4 = 0x0000,
        LDCACHE_FLAG_ELF = 0x0001,
        LDCACHE_FLAG_ELF_LIBC5 = 0x0002,
        LDCACHE_FLAG_ELF_LIBC6 = 0x0003,
        LDCACHE_FLAG_REQUIRED_MASK = 0xff00,
        LDCACHE_FLAG_X8664_LIB64 = 0x0300,
        LDCACHE_FLAG_X8664_LIBX32 = 0x0800,
        LDCACHE_FLAG_ARM_LIBHF = 0x0900,
        LDCACHE_FLAG_AARCH64_LIB64 = 0x0a00,
        LDCACHE_FLAG_ARM_LIBSF = 0x0b00,
};

#endif
