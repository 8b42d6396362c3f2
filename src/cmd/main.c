/* nctk: one binary for every command name of the toolkit. It dispatches on the name it was
 * called by (argv[0]) and, when called as nctk, on its first word. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "5-apply/spec.h"
#include "cmd/cdi-hook.h"
#include "cmd/cli.h"
#include "cmd/ctk.h"
#include "cmd/doctor.h"
#include "cmd/runtime.h"
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
        fprintf(f,
                "Usage: nctk COMMAND [ARG...]\n"
                "       nctk info|list|configure|docker-args ...   (as nvidia-container-cli)\n"
                "       nctk runtime [RUNC OPTION...] COMMAND ...   (as nvidia-container-runtime)\n"
                "       nctk hook [-debug] [-config FILE] prestart|poststart|poststop\n"
                "                                      (as nvidia-container-runtime-hook)\n"
                "       nctk ctk COMMAND ...           (as nvidia-ctk)\n"
                "       nctk mps start|stop|status ... (as nvidia-ctk mps)\n"
                "       nctk nvidia-docker DOCKER-ARG...   (as nvidia-docker)\n"
                "       nctk cdi-hook HOOK [FLAG...]   (as nvidia-cdi-hook)\n"
                "       nctk doctor [--json] [OPTION...]   check this host's set-up\n"
                "\n"
                "nctk is also installed as: nvidia-container-cli, nvidia-container-runtime,\n"
                "nvidia-container-runtime-hook, nvidia-container-toolkit (the hook's other "
                "name),\nnvidia-ctk, nvidia-docker, nvidia-cdi-hook\n");
}

/* The runtime shim's mode forced by the name it was called by (the reference installs
 * nvidia-container-runtime.cdi and .legacy), or NULL. */
static bool runtime_name(const char *name, const char **ret_mode) {
        *ret_mode = NULL;
        if (STREQ(name, "nvidia-container-runtime.cdi"))
                *ret_mode = "cdi";
        else if (STREQ(name, "nvidia-container-runtime.legacy"))
                *ret_mode = "legacy";
        else if (!STREQ(name, "nvidia-container-runtime"))
                return false;
        return true;
}

int main(int argc, char **argv) {
        const char *name = argc > 0 ? basename_of(argv[0]) : "nctk", *mode = NULL;

        if (STREQ(name, "nvidia-container-cli"))
                return cli_main(name, argc, argv);
        if (runtime_name(name, &mode))
                return runtime_main("nvidia-container-runtime", argc, argv, mode);
        if (is_hook_name(name))
                return hook_main(argc, argv);
        if (STREQ(name, "nvidia-ctk"))
                return ctk_main(name, argc, argv);
        if (STREQ(name, "nvidia-docker"))
                return nvidia_docker_main(argc, argv);
        if (STREQ(name, "nvidia-cdi-hook"))
                return cdi_hook_main(name, argc, argv);
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
        if (STREQ(argv[1], "runtime") || runtime_name(argv[1], &mode))
                return runtime_main("nvidia-container-runtime", argc - 1, argv + 1, mode);
        /* Hidden: the createContainer hook the runtime shim adds to config.json. */
        if (STREQ(argv[1], SPEC_HOOK_FINALIZE))
                return hook_finalize_main(argc - 1, argv + 1);
        if (STREQ(argv[1], "mps")) /* nvidia-ctk mps */
                return ctk_main("nvidia-ctk", argc, argv);
        if (STREQ(argv[1], "ctk") || STREQ(argv[1], "nvidia-ctk"))
                return ctk_main("nvidia-ctk", argc - 1, argv + 1);
        if (STREQ(argv[1], "nvidia-docker"))
                return nvidia_docker_main(argc - 1, argv + 1);
        if (STREQ(argv[1], "cdi-hook") || STREQ(argv[1], "nvidia-cdi-hook"))
                return cdi_hook_main("nvidia-cdi-hook", argc - 1, argv + 1);
        if (STREQ(argv[1], "doctor"))
                return doctor_main("nctk", NULL, argc - 1, argv + 1);
        if (STREQ(argv[1], "hook") || is_hook_name(argv[1]))
                return hook_main(argc - 1, argv + 1);
        /* "nctk info ..." is "nvidia-container-cli info ...": the global options then come
         * after the command word too, so hand the whole line to the cli parser. */
        return cli_main("nctk", argc, argv);
}
