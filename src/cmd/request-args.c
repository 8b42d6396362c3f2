/* The options that make a request, shared by configure and list (and every later command that
 * takes the reference's device and capability flags). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cli.h"
#include "util/macros.h"
#include "util/strv.h"

int cli_join_arg(char **list, const char *item) {
        char *n;

        if (asprintf(&n, "%s%s%s", *list ? *list : "", *list ? "," : "", item) < 0)
                return -ENOMEM;
        free(*list);
        *list = n;
        return 0;
}

static unsigned cap_of(int opt) {
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

static int parse_imex(const struct cli_ctx *c, struct container_request *q, const char *arg) {
        struct nctk_error *err = NULL;
        int r = container_request_add_imex(q, "--imex-channel", arg, &err);

        if (r < 0)
                cli_input_error(c, "%s", err ? err->msg : "out of memory");
        nctk_error_free(&err);
        return r < 0 ? -1 : 1;
}

static int parse_compat(const struct cli_ctx *c, struct container_request *q, const char *arg) {
        if (STREQ(arg, "disabled"))
                q->compat = COMPAT_DISABLED;
        else if (STREQ(arg, "mount"))
                q->compat = COMPAT_MOUNT;
        else if (STREQ(arg, "ldconfig"))
                q->compat = COMPAT_LDCONFIG;
        else
                return cli_input_error(c,
                                       "invalid --cuda-compat-mode '%s' (disabled, mount or "
                                       "ldconfig)",
                                       arg);
        return 1;
}

static int set_str(char **dst, const char *arg) {
        free(*dst);
        *dst = strdup(arg);
        return *dst ? 1 : -1;
}

int cli_request_option(struct cli_ctx *c, struct container_request *q, int opt, const char *arg) {
        unsigned *dflags = &c->popts.dopts.flags;

        switch (opt) {
        case 'd': return cli_join_arg(&q->devices, arg) < 0 ? -1 : 1;
        case OPT_COMPAT32: q->compat32 = true; return 1;
        case OPT_MIG_CONFIG: return set_str(&q->mig_config, arg);
        case OPT_MIG_MONITOR: return set_str(&q->mig_monitor, arg);
        case OPT_IMEX: return parse_imex(c, q, arg);
        case OPT_NO_PERSISTENCED: *dflags |= NCTK_DISCOVER_NO_PERSISTENCED; return 1;
        case OPT_NO_FABRICMANAGER: *dflags |= NCTK_DISCOVER_NO_FABRICMANAGER; return 1;
        case OPT_NO_GSP: *dflags |= NCTK_DISCOVER_NO_GSP_FIRMWARE; return 1;
        case OPT_NO_CNTLIBS: q->compat = COMPAT_DISABLED; return 1;
        case OPT_COMPAT_MODE: return parse_compat(c, q, arg);
        default:
                if (!cap_of(opt))
                        return 0;
                q->caps |= cap_of(opt);
                return 1;
        }
}

int cli_require_option(const struct cli_ctx *c, struct container_request *q, const char *arg) {
        int r = container_request_add_requirement(q, arg);

        if (r == -E2BIG)
                return cli_input_error(c, "too many --require expressions (at most %d)",
                                       REQUEST_REQUIRE_MAX);
        return r < 0 ? cli_input_error(c, "out of memory") : 0;
}
