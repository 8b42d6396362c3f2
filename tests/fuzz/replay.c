/* Replays a fuzz corpus through a fuzz target's entry point, so that every input that once
 * crashed or found new code is run again by every CI build, sanitizers or not. */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/fileio.h"
#include "util/macros.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_one(int dirfd, const char *name) {
        _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;

        if (fd < 0 || read_full_fd(fd, 16u << 20, &buf, &len) < 0) {
                fprintf(stderr, "replay: cannot read '%s'\n", name);
                return -1;
        }
        LLVMFuzzerTestOneInput((const uint8_t *) buf, len);
        return 0;
}

int main(int argc, char **argv) {
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        unsigned n = 0;

        if (argc != 2) {
                fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
                return 2;
        }
        d = opendir(argv[1]);
        if (!d) {
                fprintf(stderr, "replay: cannot open '%s'\n", argv[1]);
                return 1;
        }
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                if (replay_one(dirfd(d), de->d_name) < 0)
                        return 1;
                n++;
        }
        if (n == 0) {
                fprintf(stderr, "replay: empty corpus '%s'\n", argv[1]);
                return 1;
        }
        printf("replayed %u inputs\n", n);
        return 0;
}
