/* `nctk hook-finalize`: the createContainer hook that the runtime shim writes into config.json
 * (apply/spec.h documents its command line). The runtime has made the mounts and device nodes;
 * this does what config.json cannot say: the /proc/driver/nvidia mask, symlinks, the ld cache
 * (and the mounts and nodes themselves on a runtime not trusted with them: hook-mounts.c).
 * It runs as root in the container's mount namespace, before pivot_root, with the environment
 * the shim gave it (PATH only): its inputs are its arguments, written by the shim. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "5-apply/apply.h"
#include "5-apply/spec.h"
#include "cmd/error.h"
#include "cmd/runtime.h"
#include "util/fileio.h"
#include "util/macros.h"
#include "util/strv.h"

#define PROG "nctk " SPEC_HOOK_FINALIZE

static void hook_log(enum nctk_log_level level, const char *file, int line, const char *msg,
                     void *userdata) {
        (void) file, (void) line, (void) userdata;
        if (level <= NCTK_LOG_WARNING)
                fprintf(stderr, PROG ": warning: %s\n", msg);
}

/* The OCI state on stdin is not needed (the rootfs comes as an argument), but it is read, so
 * that the runtime's write of it never fails on a closed pipe. */
static void drain_stdin(void) {
        _cleanup_free_ char *state = NULL;

        if (!isatty(STDIN_FILENO))
                (void) read_full_fd(STDIN_FILENO, 1u << 20, &state, NULL);
}

int hook_finalize_main(int argc, char **argv) {
        struct finalize_opts o = {.uid = geteuid(), .gid = getegid()};
        struct edits *e = calloc(1, sizeof(*e));
        struct nctk_error *err = NULL;
        int r;

        if (!e)
                return 1;
        drain_stdin();
        if (chdir("/") < 0)
                fprintf(stderr, PROG ": warning: chdir /: %s\n", strerror(errno));
        nctk_set_log_sink(hook_log, NULL);
        r = finalize_args_parse(argc, argv, e, &o, &err);
        r = r < 0 ? r : apply_finalize(e, &o, &err);
        nctk_set_log_sink(NULL, NULL);
        if (r < 0)
                cmd_error(&(struct cmd_sink){PROG, NULL, NULL, NULL}, "%s",
                          err && err->msg ? err->msg : strerror(-r));
        nctk_error_free(&err);
        free(o.cdi_hooks);
        edits_free(e);
        return r < 0 ? 1 : 0;
}
