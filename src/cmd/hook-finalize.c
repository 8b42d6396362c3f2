/* `nctk hook-finalize`: the createContainer hook that the runtime shim writes into config.json
 * (apply/spec.h documents its command line). The runtime has made the mounts and device nodes;
 * this does what config.json cannot say: the /proc/driver/nvidia mask, symlinks, the ld cache.
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
#include "cmd/runtime.h"
#include "util/fileio.h"
#include "util/macros.h"
#include "util/strv.h"

#define PROG "nctk " SPEC_HOOK_FINALIZE

enum {
        OPT_PROC_ROOT = 0x100,
        OPT_MASK_PROC,
        OPT_PROC_GPU,
        OPT_PROC_MOUNT,
        OPT_LINK,
        OPT_LDCACHE_DIR,
};

static const struct option finalize_options[] = {
        { "proc-root", required_argument, NULL, OPT_PROC_ROOT },
        { "mask-proc", no_argument, NULL, OPT_MASK_PROC },
        { "proc-gpu", required_argument, NULL, OPT_PROC_GPU },
        { "proc-mount", required_argument, NULL, OPT_PROC_MOUNT },
        { "link", required_argument, NULL, OPT_LINK },
        { "ldcache-dir", required_argument, NULL, OPT_LDCACHE_DIR },
        {},
};

static void hook_log(enum nctk_log_level level, const char *file, int line, const char *msg,
                     void *userdata) {
        (void) file, (void) line, (void) userdata;
        if (level <= NCTK_LOG_WARNING)
                fprintf(stderr, PROG ": warning: %s\n", msg);
}

static int usage_error(const char *what, const char *arg) {
        fprintf(stderr, PROG ": %s '%s'\n", what, arg ? arg : "");
        return -EINVAL;
}

/* "A::B" into two heap strings. */
static int split_pair(const char *arg, char **a, char **b) {
        const char *sep = strstr(arg, "::");

        if (!sep || sep == arg || !sep[2])
                return -EINVAL;
        *a = strndup(arg, (size_t) (sep - arg));
        *b = strdup(sep + 2);
        return *a && *b ? 0 : -ENOMEM;
}

static int push_str(char ***v, size_t *n, const char *s) {
        char **p = ARRAY_PUSH(*v, *n);

        return p && (*p = strdup(s)) ? 0 : -ENOMEM;
}

static int add_proc_mount(struct edits *e, const char *arg) {
        struct edit_mount *m = ARRAY_PUSH(e->mounts, e->n_mounts);
        int r;

        if (!m)
                return -ENOMEM;
        r = split_pair(arg, &m->source, &m->target);
        if (r < 0)
                return r == -EINVAL ? usage_error("invalid --proc-mount", arg) : r;
        /* Only the driver's own files: this is all the shim ever asks for. */
        if (!startswith(m->target, "/proc/driver/nvidia/") || m->source[0] != '/')
                return usage_error("--proc-mount outside /proc/driver/nvidia", arg);
        m->flags = MOUNT_RDONLY | MOUNT_NOSUID | MOUNT_NODEV | MOUNT_NOEXEC;
        return 0;
}

static int add_link(struct edits *e, const char *arg) {
        struct edit_link *l = ARRAY_PUSH(e->links, e->n_links);
        int r;

        if (!l)
                return -ENOMEM;
        r = split_pair(arg, &l->target, &l->path);
        if (r < 0)
                return r == -EINVAL ? usage_error("invalid --link", arg) : r;
        if (l->path[0] != '/')
                return usage_error("--link wants an absolute link path", arg);
        return 0;
}

static int parse_one(int opt, struct edits *e, struct finalize_opts *o) {
        switch (opt) {
        case OPT_PROC_ROOT: o->proc_root = optarg; return 0;
        case OPT_MASK_PROC: e->mask_proc = true; return 0;
        case OPT_PROC_GPU: return push_str(&e->proc_gpus, &e->n_proc_gpus, optarg);
        case OPT_PROC_MOUNT: return add_proc_mount(e, optarg);
        case OPT_LINK: return add_link(e, optarg);
        case OPT_LDCACHE_DIR:
                if (optarg[0] != '/')
                        return usage_error("--ldcache-dir wants an absolute path", optarg);
                return push_str(&e->ldcache_dirs, &e->n_ldcache_dirs, optarg);
        default:
                /* Newer shims may pass more: refusing would stop every container, so unknown
                 * options are ignored, as nvidia-cdi-hook does. */
                fprintf(stderr, PROG ": warning: unknown option '%s' ignored\n", optarg ? optarg : "");
                return 0;
        }
}

static int parse(int argc, char **argv, struct edits *e, struct finalize_opts *o) {
        int opt, r;

        optind = 1;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, "", finalize_options, NULL)) != -1) {
                if (opt == '?') {
                        fprintf(stderr, PROG ": warning: unknown option '%s' ignored\n",
                                argv[optind - 1]);
                        continue;
                }
                r = parse_one(opt, e, o);
                if (r < 0)
                        return r == -ENOMEM ? usage_error("out of memory at", argv[optind - 1]) : r;
        }
        if (optind != argc - 1)
                return usage_error("want one ROOTFS, got", optind < argc ? argv[optind + 1] : NULL);
        o->rootfs = argv[optind];
        if (o->rootfs[0] != '/' || STREQ(o->rootfs, "/"))
                return usage_error("ROOTFS must be an absolute path other than '/', not", o->rootfs);
        return 0;
}

/* The OCI state on stdin is not needed (the rootfs comes as an argument), but it is read, so
 * that the runtime's write of it never fails on a closed pipe. */
static void drain_stdin(void) {
        _cleanup_free_ char *state = NULL;

        if (!isatty(STDIN_FILENO))
                (void) read_full_fd(STDIN_FILENO, 1u << 20, &state, NULL);
}

int hook_finalize_main(int argc, char **argv) {
        struct finalize_opts o = { .uid = geteuid(), .gid = getegid() };
        struct edits *e = calloc(1, sizeof(*e));
        struct nctk_error *err = NULL;
        int r;

        if (!e)
                return 1;
        drain_stdin();
        if (chdir("/") < 0)
                fprintf(stderr, PROG ": warning: chdir /: %s\n", strerror(errno));
        r = parse(argc, argv, e, &o);
        if (r >= 0) {
                nctk_set_log_sink(hook_log, NULL);
                r = apply_finalize(e, &o, &err);
                nctk_set_log_sink(NULL, NULL);
                if (r < 0)
                        fprintf(stderr, PROG ": %s\n", err && err->msg ? err->msg : strerror(-r));
        }
        nctk_error_free(&err);
        edits_free(e);
        return r < 0 ? 1 : 0;
}
