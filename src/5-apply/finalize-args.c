/* The command line of the createContainer hook that the runtime shim writes into config.json
 * (spec.c writes it, `nctk hook-finalize` reads it back here): one codec, one place. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "5-apply/apply.h"
#include "5-apply/hook-mounts.h"
#include "5-apply/spec.h"
#include "util/log.h"
#include "util/macros.h"
#include "util/strv.h"

enum {
        OPT_PROC_ROOT = 0x100,
        OPT_MASK_PROC,
        OPT_PROC_GPU,
        OPT_PROC_MOUNT,
        OPT_LINK,
        OPT_LDCACHE_DIR,
        OPT_MOUNT,
        OPT_NODE,
        OPT_CDI_HOOK,
};

static const struct option finalize_options[] = {
        {"proc-root", required_argument, NULL, OPT_PROC_ROOT},
        {"mask-proc", no_argument, NULL, OPT_MASK_PROC},
        {"proc-gpu", required_argument, NULL, OPT_PROC_GPU},
        {"proc-mount", required_argument, NULL, OPT_PROC_MOUNT},
        {"link", required_argument, NULL, OPT_LINK},
        {"ldcache-dir", required_argument, NULL, OPT_LDCACHE_DIR},
        {"mount", required_argument, NULL, OPT_MOUNT},
        {"node", required_argument, NULL, OPT_NODE},
        {"cdi-hook", required_argument, NULL, OPT_CDI_HOOK},
        {},
};

static int usage_error(struct nctk_error **err, const char *what, const char *arg) {
        return nctk_error_set(err, EINVAL, "%s '%s'", what, arg ? arg : "");
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

static int add_proc_mount(struct edits *e, const char *arg, struct nctk_error **err) {
        struct edit_mount *m = ARRAY_PUSH(e->mounts, e->n_mounts);
        int r;

        if (!m)
                return -ENOMEM;
        r = split_pair(arg, &m->source, &m->target);
        if (r < 0)
                return r == -EINVAL ? usage_error(err, "invalid --proc-mount", arg) : r;
        /* Only the driver's own files: this is all the shim ever asks for. */
        if (!startswith(m->target, "/proc/driver/nvidia/") || m->source[0] != '/')
                return usage_error(err, "--proc-mount outside /proc/driver/nvidia", arg);
        m->flags = MOUNT_RDONLY | MOUNT_NOSUID | MOUNT_NODEV | MOUNT_NOEXEC;
        return 0;
}

static int add_link(struct edits *e, const char *arg, struct nctk_error **err) {
        struct edit_link *l = ARRAY_PUSH(e->links, e->n_links);
        int r;

        if (!l)
                return -ENOMEM;
        r = split_pair(arg, &l->target, &l->path);
        if (r < 0)
                return r == -EINVAL ? usage_error(err, "invalid --link", arg) : r;
        if (l->path[0] != '/')
                return usage_error(err, "--link wants an absolute link path", arg);
        return 0;
}

/* The mounts and nodes the runtime is not trusted with (5-apply/hook-mounts.c). */
static int hook_arg(int r, const char *opt, struct nctk_error **err) {
        if (r == -EINVAL)
                return nctk_error_set(err, EINVAL, "invalid %s '%s'", opt, optarg);
        return r;
}

static int parse_one(int opt, struct edits *e, struct finalize_opts *o, struct nctk_error **err) {
        switch (opt) {
        case OPT_PROC_ROOT: o->proc_root = optarg; return 0;
        case OPT_MASK_PROC: e->mask_proc = true; return 0;
        case OPT_PROC_GPU: return push_str(&e->proc_gpus, &e->n_proc_gpus, optarg);
        case OPT_PROC_MOUNT: return add_proc_mount(e, optarg, err);
        case OPT_LINK: return add_link(e, optarg, err);
        case OPT_LDCACHE_DIR:
                if (optarg[0] != '/')
                        return usage_error(err, "--ldcache-dir wants an absolute path", optarg);
                return push_str(&e->ldcache_dirs, &e->n_ldcache_dirs, optarg);
        case OPT_MOUNT: return hook_arg(hook_mount_parse(e, optarg), "--mount", err);
        case OPT_NODE: return hook_arg(hook_node_parse(e, optarg), "--node", err);
        case OPT_CDI_HOOK: {
                char **p = ARRAY_PUSH(o->cdi_hooks, o->n_cdi_hooks);

                if (!p)
                        return -ENOMEM;
                *p = optarg; /* argv outlives the hook's run */
                return 0;
        }
        default:
                /* Newer shims may pass more: refusing would stop every container, so unknown
                 * options are ignored, as nvidia-cdi-hook does. */
                log_warning("unknown option '%s' ignored", optarg ? optarg : "");
                return 0;
        }
}

int finalize_args_parse(int argc, char **argv, struct edits *e, struct finalize_opts *o,
                        struct nctk_error **err) {
        int opt, r;

        optind = 1;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, "", finalize_options, NULL)) != -1) {
                if (opt == '?') {
                        log_warning("unknown option '%s' ignored", argv[optind - 1]);
                        continue;
                }
                r = parse_one(opt, e, o, err);
                if (r < 0)
                        return r == -ENOMEM ? usage_error(err, "out of memory at", argv[optind - 1])
                                            : r;
        }
        if (optind != argc - 1)
                return usage_error(err, "want one ROOTFS, got",
                                   optind < argc ? argv[optind + 1] : NULL);
        o->rootfs = argv[optind];
        if (o->rootfs[0] != '/' || STREQ(o->rootfs, "/"))
                return usage_error(err, "ROOTFS must be an absolute path other than '/', not",
                                   o->rootfs);
        return 0;
}
