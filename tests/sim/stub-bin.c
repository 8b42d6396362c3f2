/* The simulated driver's helper programs (nvidia-debugdump, nvidia-persistenced,
 * nvidia-cuda-mps-control, nvidia-cuda-mps-server): real ELF executables with the right names,
 * so that a toolkit's binary lookup and mounts see what they would see on a GPU host. They do
 * nothing but identify themselves. */
#include <stdio.h>
#include <string.h>

#ifndef NCTK_SIM_PROG
#error "NCTK_SIM_PROG and NCTK_SIM_VERSION must be defined on the command line"
#endif

int main(int argc, char **argv) {
        if (argc > 1 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-v") == 0)) {
                printf("%s: version %s (nctk simulated driver)\n", NCTK_SIM_PROG, NCTK_SIM_VERSION);
                return 0;
        }
        fprintf(stderr, "%s: simulated driver binary; it does nothing\n", NCTK_SIM_PROG);
        return 0;
}
