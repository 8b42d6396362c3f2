/* nvidia-docker: not built yet (issue 8). */
#include <stdio.h>

#include "cmd/ctk.h"

int nvidia_docker_main(int argc, char **argv) {
        (void) argc;
        (void) argv;
        fprintf(stderr, "nvidia-docker: not built yet\n");
        return 1;
}
