/* Fuzzes the ELF reader of the ld.so.cache writer with the files a hostile image can plant:
 * the input becomes a memfd (the reader only takes fds) and is read as both ldconfigs we
 * emulate, x86-64 and aarch64, would read it. */
#include <elf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ldcache/elf.h"
#include "util/fileio.h"

#ifndef EM_AARCH64
#define EM_AARCH64 183
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const uint16_t hosts[] = {EM_X86_64, EM_AARCH64};
        static int fd = -1;

        if (size > (4u << 20))
                return 0;
        if (fd < 0 && (fd = memfd_create("fuzz-elf", MFD_CLOEXEC)) < 0)
                abort();
        if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0 || write_full(fd, data, size) < 0)
                abort();
        (void) elf_is_elf(fd);
        for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
                struct elf_info info;

                if (elf_read(fd, hosts[i], &info) < 0)
                        continue;
                if (info.soname && strlen(info.soname) > ELF_NAME_MAX)
                        abort();
                if (info.isa_level > 31)
                        abort();
                elf_info_release(&info);
        }
        return 0;
}
