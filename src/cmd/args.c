/* Option helpers shared by the commands that take device lists and capability flags. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cmd/cli.h"

int cli_join_arg(char **list, const char *item) {
        char *n;

        if (asprintf(&n, "%s%s%s", *list ? *list : "", *list ? "," : "", item) < 0)
                return -ENOMEM;
        free(*list);
        *list = n;
        return 0;
}

unsigned cli_cap_option(int opt) {
        switch (opt) {
        case 'c': return NCTK_CAP_COMPUTE;
        case 'u': return NCTK_CAP_UTILITY;
        case 'v': return NCTK_CAP_VIDEO;
        case 'g': return NCTK_CAP_GRAPHICS;
        case 'D': return NCTK_CAP_DISPLAY;
        case 'n': return NCTK_CAP_NGX;
        default: return 0;
        }
}
