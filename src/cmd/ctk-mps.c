/* nvidia-ctk mps start|stop|status (also `nctk mps`): parses the flags, discovers the driver,
 * and hands each GPU to src/mps; prints one line per GPU, or the one line that says what is
 * wrong. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/ctk.h"
#include "config/config.h"
#include "mps/mps.h"
#include "pipeline/pipeline.h"
#include "util/macros.h"
#include "util/strv.h"

enum {
        OPT_DEVICE = 0x100,
        OPT_THREADS,
        OPT_PINNED,
        OPT_ROOT,
        OPT_DRIVER_ROOT,
        OPT_PROC_ROOT,
};

struct mps_args {
        const char *cmd;
        const char *devices;
        const char *root;
        const char *driver_root, *proc_root;
        struct mps_start_opts start;
};

static const struct option mps_options[] = {
        {"device", required_argument, NULL, OPT_DEVICE},
        {"thread-percentage", required_argument, NULL, OPT_THREADS},
        {"pinned-memory-limit", required_argument, NULL, OPT_PINNED},
        {"root", required_argument, NULL, OPT_ROOT},
        {"driver-root", required_argument, NULL, OPT_DRIVER_ROOT},
        {"proc-root", required_argument, NULL, OPT_PROC_ROOT},
        {"help", no_argument, NULL, 'h'},
        {},
};

static void mps_help(FILE *f, const char *prog) {
        fprintf(f,
                "Usage: %s mps start --device=GPU[,GPU...] [--thread-percentage=N]\n"
                "                         [--pinned-memory-limit=SIZE]\n"
                "       %s mps stop [--device=GPU[,GPU...]]\n"
                "       %s mps status [--device=GPU[,GPU...]]\n"
                "\n"
                "Runs one CUDA MPS control daemon per GPU, each with its own pipe and log\n"
                "directories under ROOT/<GPU UUID>; the GPU is set to EXCLUSIVE_PROCESS while it\n"
                "runs. A container given such a GPU (and the compute capability) becomes its\n"
                "client: the pipe directory is mounted at /tmp/nvidia-mps (NVIDIA_MPS=disabled\n"
                "opts out). See docs/mps.md.\n"
                "\n"
                "  --device GPU[,GPU]       GPU indices or UUIDs (stop, status: default all)\n"
                "  --thread-percentage N    the share of the GPU's SMs each client gets, 1-100\n"
                "  --pinned-memory-limit SIZE\n"
                "                           device memory each client may allocate (512M, 2G)\n"
                "  --root DIR               where the daemons live (default: mps-root of\n"
                "                           config.toml, else /run/nvidia-mps)\n"
                "  --driver-root DIR        the driver's root (default: config.toml's root, /)\n"
                "  --proc-root DIR          the procfs that describes the driver\n",
                prog, prog, prog);
}

static int parse_percentage(const struct ctk_ctx *c, const char *v, unsigned *ret) {
        char *end;
        long n = strtol(v, &end, 10);

        if (!*v || *end || n < 1 || n > 100)
                return cmd_error(&c->out,
                                 "--thread-percentage '%s': give a whole number from 1 to 100", v);
        *ret = (unsigned) n;
        return 0;
}

static int parse_args(const struct ctk_ctx *c, int argc, char **argv, struct mps_args *a) {
        int opt;

        optind = 1;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, "+h", mps_options, NULL)) != -1) {
                switch (opt) {
                case OPT_DEVICE: a->devices = optarg; break;
                case OPT_THREADS:
                        if (parse_percentage(c, optarg, &a->start.thread_percentage) < 0)
                                return -1;
                        break;
                case OPT_PINNED:
                        if (mps_size_parse(optarg, &a->start.pinned_limit_mib) < 0)
                                return cmd_error(&c->out,
                                                 "--pinned-memory-limit '%s': give a size in "
                                                 "whole MiB with a unit, like 512M or 2G",
                                                 optarg);
                        break;
                case OPT_ROOT: a->root = optarg; break;
                case OPT_DRIVER_ROOT: a->driver_root = optarg; break;
                case OPT_PROC_ROOT: a->proc_root = optarg; break;
                case 'h': mps_help(stdout, c->out.prog); return 0;
                default:
                        return cmd_error(&c->out, "mps %s: unknown or incomplete option '%s'",
                                         a->cmd, argv[optind - 1]);
                }
        }
        if (optind < argc)
                return cmd_error(&c->out, "mps %s: unexpected argument '%s'", a->cmd, argv[optind]);
        if (STREQ(a->cmd, "start") && !a->devices)
                return cmd_error(&c->out, "mps start: say which GPUs with --device=INDEX|UUID");
        if (!STREQ(a->cmd, "start") && (a->start.thread_percentage || a->start.pinned_limit_mib))
                return cmd_error(&c->out, "mps %s: limits are set by 'mps start'", a->cmd);
        return 1;
}

/* The driver, as config.toml and the flags place it. */
static int discover(const struct ctk_ctx *c, struct mps_args *a, struct nctk_config *cfg,
                    struct nctk_inventory **ret) {
        struct nctk_error *err = NULL;
        struct pipeline_opts o;
        int r;

        pipeline_opts_init(&o);
        r = config_discover_opts(cfg, &o.dopts, &err);
        if (a->driver_root)
                o.dopts.driver_root = a->driver_root;
        if (a->proc_root)
                o.dopts.proc_root = a->proc_root;
        if (r >= 0)
                r = pipeline_discover(&o, NULL, ret, &err);
        if (r < 0) {
                cmd_error(&c->out, "mps %s: %s", a->cmd, err && err->msg ? err->msg : strerror(-r));
                nctk_error_free(&err);
        }
        return r;
}

/* The GPUs --device names, as indices into INV; MIG devices cannot take a daemon. */
static int selected(const struct ctk_ctx *c, const struct mps_args *a,
                    const struct nctk_inventory *inv, bool **ret) {
        struct nctk_error *err = NULL;
        struct selection sel;
        int r = selection_parse(inv, a->devices ? a->devices : "all", &sel, &err);

        if (r < 0) {
                cmd_error(&c->out, "mps %s: --device: %s", a->cmd, err->msg);
                nctk_error_free(&err);
                return r;
        }
        for (size_t i = 0; i < sel.n_gpus; i++)
                if (sel.has_mig[i] && !sel.gpus[i]) {
                        selection_release(&sel);
                        return cmd_error(&c->out,
                                         "mps %s: --device: '%s' names a MIG device; an MPS "
                                         "daemon runs on a full GPU",
                                         a->cmd, a->devices);
                }
        *ret = TAKE_PTR(sel.gpus);
        selection_release(&sel);
        return 0;
}

static int fail(const struct ctk_ctx *c, const struct mps_args *a, struct nctk_error **err) {
        cmd_error(&c->out, "mps %s: %s", a->cmd, (*err)->msg);
        nctk_error_free(err);
        return -1;
}

/* Stops what this start made before FAILED, so that a failed start leaves nothing behind. */
static void start_rollback(const struct mps_driver *drv, const struct mps_args *a,
                           const struct nctk_inventory *inv, const bool *made, size_t n) {
        for (size_t i = 0; i < n; i++) {
                struct nctk_error *ignored = NULL;
                struct mps_daemon d;
                if (made[i] && mps_state_load(a->root, inv->gpus[i].uuid, &d) >= 0)
                        mps_stop(drv, &d, &ignored);
                nctk_error_free(&ignored);
        }
}

static int cmd_start(const struct ctk_ctx *c, struct mps_args *a, const struct mps_driver *drv,
                     const struct nctk_inventory *inv, const bool *gpus) {
        _cleanup_free_ bool *made = calloc(inv->n_gpus + 1, sizeof(bool));
        struct nctk_error *err = NULL;

        if (!made)
                return cmd_error(&c->out, "out of memory");
        a->start.root = a->root;
        /* Every GPU is checked before any is touched. */
        for (size_t i = 0; i < inv->n_gpus; i++)
                if (gpus[i] && mps_check(drv, &inv->gpus[i], &a->start, &err) < 0)
                        return fail(c, a, &err);
        for (size_t i = 0; i < inv->n_gpus; i++) {
                struct mps_daemon d;
                if (!gpus[i])
                        continue;
                if (mps_start(drv, &inv->gpus[i], &a->start, &made[i], &err) < 0) {
                        start_rollback(drv, a, inv, made, i);
                        return fail(c, a, &err);
                }
                mps_state_load(a->root, inv->gpus[i].uuid, &d);
                printf("GPU %zu (%s): MPS control daemon %d %s, pipe directory %s\n", i,
                       inv->gpus[i].uuid, (int) d.pid, made[i] ? "started" : "already running",
                       d.pipe_dir);
        }
        return 0;
}

/* The UUIDs to stop or show: those of --device, else every daemon under the root. */
static int targets(const struct ctk_ctx *c, const struct mps_args *a,
                   const struct nctk_inventory *inv, char ***ret, size_t *ret_n) {
        _cleanup_free_ bool *gpus = NULL;
        char **list = NULL;
        size_t n = 0;

        if (!a->devices) {
                if (mps_state_list(a->root, ret, ret_n) < 0)
                        return cmd_error(&c->out, "mps %s: cannot read '%s'", a->cmd,
                                         a->root ? a->root : MPS_ROOT_DEFAULT);
                return 0;
        }
        if (selected(c, a, inv, &gpus) < 0)
                return -1;
        for (size_t i = 0; i < inv->n_gpus; i++) {
                char **slot;
                if (!gpus[i])
                        continue;
                if (!(slot = ARRAY_PUSH(list, n)) || !(*slot = strdup(inv->gpus[i].uuid)))
                        return cmd_error(&c->out, "out of memory");
        }
        *ret = list;
        *ret_n = n;
        return 0;
}

static int stop_one(const struct ctk_ctx *c, const struct mps_args *a, const struct mps_driver *drv,
                    const char *uuid) {
        struct nctk_error *err = NULL;
        struct mps_daemon d;
        int r = mps_state_load(a->root, uuid, &d);

        if (r == -ENOENT) {
                printf("%s: no MPS daemon\n", uuid);
                return 0;
        }
        if (r == -ELOOP)
                return cmd_error(&c->out,
                                 "mps stop: '%s/%s' holds a symbolic link, not nctk's "
                                 "directory: remove it yourself",
                                 a->root ? a->root : MPS_ROOT_DEFAULT, uuid);
        if (r < 0 && mps_daemon_init(&d, a->root, uuid) < 0)
                return cmd_error(&c->out, "mps stop: %s: %s", uuid, strerror(-r));
        bool was_alive = mps_daemon_alive(&d);
        if (mps_stop(drv, &d, &err) < 0)
                return fail(c, a, &err);
        printf("%s: MPS control daemon %d %s, compute mode DEFAULT\n", uuid, (int) d.pid,
               was_alive ? "stopped" : "was gone; cleaned up");
        return 0;
}

/* One line per server: its clients, and the container each runs in when it can be told. */
static void print_servers(const struct mps_driver *drv, const struct mps_daemon *d) {
        _cleanup_free_ char *servers = NULL;
        struct nctk_error *err = NULL;
        char *save = NULL;

        if (mps_control(drv, d, "get_server_list", &servers, &err) < 0) {
                printf("  the daemon does not answer: %s\n", err->msg);
                nctk_error_free(&err);
                return;
        }
        if (!*strstrip(servers))
                printf("  no server (no client yet)\n");
        for (char *t = strtok_r(servers, " \n", &save); t; t = strtok_r(NULL, " \n", &save)) {
                _cleanup_free_ char *cmd = NULL, *clients = NULL;
                char *save2 = NULL;
                printf("  server %s, clients:", t);
                if (asprintf(&cmd, "get_client_list %s", t) < 0 ||
                    mps_control(drv, d, cmd, &clients, &err) < 0) {
                        printf(" unknown\n");
                        nctk_error_free(&err);
                        continue;
                }
                bool any = false;
                for (char *p = strtok_r(clients, " \n", &save2); p;
                     p = strtok_r(NULL, " \n", &save2)) {
                        char ctr[32];
                        mps_pid_container(atoi(p), ctr, sizeof(ctr));
                        printf(" %s (%s%s)", p, ctr[0] ? "container " : "host", ctr);
                        any = true;
                }
                printf("%s\n", any ? "" : " none");
        }
}

static void status_one(const struct mps_args *a, const struct mps_driver *drv, const char *uuid) {
        struct mps_daemon d;
        int r = mps_state_load(a->root, uuid, &d);

        if (r < 0) {
                printf("%s: no MPS daemon%s\n", uuid,
                       r == -ENOENT ? "" : " (its directory is damaged; 'mps stop' cleans up)");
                return;
        }
        if (!mps_daemon_alive(&d)) {
                printf("%s (GPU %u, %s): not running: control daemon %d is gone; "
                       "'mps stop' cleans up\n",
                       uuid, d.index, d.busid, (int) d.pid);
                return;
        }
        printf("%s (GPU %u, %s): running, control daemon %d\n", uuid, d.index, d.busid,
               (int) d.pid);
        printf("  pipe directory %s, thread percentage %s%u, pinned memory limit %s\n", d.pipe_dir,
               d.thread_percentage ? "" : "(default) ",
               d.thread_percentage ? d.thread_percentage : 100,
               d.pinned_limit[0] ? d.pinned_limit : "none");
        print_servers(drv, &d);
}

static int run(const struct ctk_ctx *c, struct mps_args *a, const struct mps_driver *drv,
               const struct nctk_inventory *inv) {
        char **uuids = NULL;
        size_t n = 0;
        int r = 0;

        if (STREQ(a->cmd, "start")) {
                _cleanup_free_ bool *gpus = NULL;
                return selected(c, a, inv, &gpus) < 0 ? -1 : cmd_start(c, a, drv, inv, gpus);
        }
        if (targets(c, a, inv, &uuids, &n) < 0)
                return -1;
        if (!n)
                printf("no MPS daemons under %s\n", a->root ? a->root : MPS_ROOT_DEFAULT);
        for (size_t i = 0; i < n; i++) {
                if (STREQ(a->cmd, "stop") && stop_one(c, a, drv, uuids[i]) < 0)
                        r = -1;
                else if (STREQ(a->cmd, "status"))
                        status_one(a, drv, uuids[i]);
                free(uuids[i]);
        }
        free(uuids);
        return r;
}

int ctk_mps_main(struct ctk_ctx *c, int argc, char **argv) {
        struct mps_args a = {};
        struct nctk_config *cfg = NULL;
        struct nctk_inventory *inv = NULL;
        struct nctk_error *err = NULL;
        struct mps_driver drv = {};
        int r;

        if (argc < 2 || STREQ(argv[1], "--help") || STREQ(argv[1], "-h")) {
                mps_help(argc < 2 ? stderr : stdout, c->out.prog);
                return argc < 2 ? 1 : 0;
        }
        a.cmd = argv[1];
        if (!STREQ(a.cmd, "start") && !STREQ(a.cmd, "stop") && !STREQ(a.cmd, "status"))
                return -cmd_error(&c->out, "mps: unknown command '%s' (start, stop, status)",
                                  a.cmd);
        r = parse_args(c, argc - 1, argv + 1, &a);
        if (r <= 0)
                return r < 0 ? 1 : 0;
        if (config_load(c->config, c->config != NULL, &cfg, &err) < 0)
                return -fail(c, &a, &err);
        if (!a.root)
                a.root = cfg->cli.mps_root && *cfg->cli.mps_root ? cfg->cli.mps_root : NULL;
        r = discover(c, &a, cfg, &inv);
        if (r >= 0 && (r = mps_driver_find(inv, &drv, &err)) < 0)
                fail(c, &a, &err);
        if (r >= 0)
                r = run(c, &a, &drv, inv);
        mps_driver_release(&drv);
        nctk_inventory_free(inv);
        config_free(cfg);
        return r < 0 ? 1 : 0;
}
