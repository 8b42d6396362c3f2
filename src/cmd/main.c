/* nctk: one binary for every command name of the toolkit. It dispatches on the name it was
 * called by (argv[0]) and, when called as nctk, on its first word. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cli.h"
#include "util/macros.h"

static const char *basename_of(const char *p) {
        const char *s = strrchr(p, '/');

        return s ? s + 1 : p;
}

static bool is_hook_name(const char *name) {
        return STREQ(name, "nvidia-container-runtime-hook") ||
               STREQ(name, "nvidia-container-toolkit");
}

static void usage(FILE *f) {
        fprintf(f, "Usage: nctk COMMAND [ARG...]\n"
                   "       nctk info|list|configure ...   (as nvidia-container-cli)\n"
                   "       nctk hook [-debug] [-config FILE] prestart|poststart|poststop\n"
                   "                                      (as nvidia-container-runtime-hook)\n"
                   "\n"
                   "nctk is also installed as: nvidia-container-cli, "
                   "nvidia-container-runtime-hook,\n"
                   "nvidia-container-toolkit (the hook's other name)\n");
}

int main(int argc, char **argv) {
        const char *name = argc > 0 ? basename_of(argv[0]) : "nctk";

        if (STREQ(name, "nvidia-container-cli"))
                return cli_main(name, argc, argv);
        if (is_hook_name(name))
                return hook_main(argc, argv);
        if (argc < 2 || STREQ(argv[1], "--help") || STREQ(argv[1], "-h")) {
                usage(argc < 2 ? stderr : stdout);
                return argc < 2 ? 1 : 0;
        }
        if (STREQ(argv[1], "--version") || STREQ(argv[1], "-V")) {
                printf("nctk version %s\n", nctk_version());
                return 0;
        }
        if (STREQ(argv[1], "nvidia-container-cli"))
                return cli_main("nvidia-container-cli", argc - 1, argv + 1);
        if (STREQ(argv[1], "hook") || is_hook_name(argv[1]))
                return hook_main(argc - 1, argv + 1);
        /* "nctk info ..." is "nvidia-container-cli info ...": the global options then come
         * after the command word too, so hand the whole line to the cli parser. */
        return cli_main("nctk", argc, argv);
}
