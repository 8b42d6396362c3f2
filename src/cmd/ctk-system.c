/* nvidia-ctk system: not built yet (issue 8). */
#include "cmd/ctk.h"

int ctk_system_main(struct ctk_ctx *c, int argc, char **argv) {
        (void) argc;
        (void) argv;
        return -cmd_error(&c->out, "'system' is not built yet");
}
