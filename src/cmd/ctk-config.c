/* nvidia-ctk config: not built yet (issue 8). */
#include "cmd/ctk.h"

int ctk_config_main(struct ctk_ctx *c, int argc, char **argv) {
        (void) argc;
        (void) argv;
        return -cmd_error(&c->out, "'config' is not built yet");
}
