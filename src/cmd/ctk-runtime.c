/* nvidia-ctk runtime: not built yet (issue 8). */
#include "cmd/ctk.h"

int ctk_runtime_main(struct ctk_ctx *c, int argc, char **argv) {
        (void) argc;
        (void) argv;
        return -cmd_error(&c->out, "'runtime' is not built yet");
}
