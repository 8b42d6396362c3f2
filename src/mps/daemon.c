/* Starting and stopping one GPU's MPS control daemon. Each step that changes the host (the
 * directories, the compute mode, the daemon) is undone when a later one fails, so that a start
 * either completes or leaves the GPU as it was; every call into the driver's programs is bounded
 * (exec.c), so a daemon that hangs costs seconds, not a stuck command. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "mps/mps.h"
#include "util/fileio.h"
#include "util/macros.h"
#include "util/strv.h"

int mps_size_parse(const char *s, unsigned long long *ret_mib) {
        unsigned long long v, kib;
        char *end;

        if (!s || !isdigit((unsigned char) *s))
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || v == 0 || !end[0] ||
            (end[1] && strcasecmp(end + 1, "iB") != 0 && strcasecmp(end + 1, "B") != 0))
                return -EINVAL;
        switch (toupper((unsigned char) end[0])) {
        case 'K': kib = v; break;
        case 'M': kib = v << 10; break;
        case 'G': kib = v << 20; break;
        case 'T': kib = v << 30; break;
        default: return -EINVAL;
        }
        if (v > (1ull << 40) || kib % 1024 != 0)
                return -EINVAL; /* absurd, or not a whole MiB */
        *ret_mib = kib >> 10;
        return 0;
}

static int smi(const struct mps_driver *drv, const char *uuid, const char *a1, const char *a2,
               const char *a3, char **ret_out, struct nctk_error **err) {
        _cleanup_free_ char *out = NULL;
        char *argv[] = {drv->smi,    (char *) "-i", (char *) uuid, (char *) a1,
                        (char *) a2, (char *) a3,   NULL};
        int status = 0;
        int r = mps_run(drv, argv, NULL, NULL, MPS_TIMEOUT_MS, &status, &out);

        if (r == -ETIMEDOUT)
                return nctk_error_set(err, ETIMEDOUT, "'%s' did not finish within %u s", drv->smi,
                                      MPS_TIMEOUT_MS / 1000);
        if (r < 0)
                return nctk_error_set(err, -r, "cannot run '%s': %s", drv->smi, strerror(-r));
        if (status != 0)
                return nctk_error_set(err, EIO, "'nvidia-smi -i %s %s %s' failed (%d): %s", uuid,
                                      a1, a2 ? a2 : "", status, strstrip(out));
        if (ret_out)
                *ret_out = TAKE_PTR(out);
        return 0;
}

static int compute_mode(const struct mps_driver *drv, const char *uuid, const char *mode,
                        struct nctk_error **err) {
        return smi(drv, uuid, "-c", mode, NULL, NULL, err);
}

static int memory_mib(const struct mps_driver *drv, const char *uuid, unsigned long long *ret,
                      struct nctk_error **err) {
        _cleanup_free_ char *out = NULL;
        char *end;
        int r = smi(drv, uuid, "--query-gpu=memory.total", "--format=csv,noheader,nounits", NULL,
                    &out, err);

        if (r < 0)
                return r;
        *ret = strtoull(strstrip(out), &end, 10);
        if (end == out || *ret == 0)
                return nctk_error_set(err, EBADMSG, "nvidia-smi reports memory.total '%s' for %s",
                                      out, uuid);
        return 0;
}

int mps_check(const struct mps_driver *drv, const struct nctk_gpu *gpu,
              const struct mps_start_opts *o, struct nctk_error **err) {
        unsigned long long total = 0;
        int r;

        if (gpu->cc_major < 7)
                return nctk_error_set(err, ENOTSUP,
                                      "GPU %u (%s) is %s%s, compute capability %d.%d: nctk's MPS "
                                      "shares need Volta or newer (compute capability 7.0)",
                                      gpu->index, gpu->uuid,
                                      gpu->arch_name[0] ? gpu->arch_name
                                                        : "of an unknown "
                                                          "architecture",
                                      gpu->cc_major ? "" : " (NVML did not answer)", gpu->cc_major,
                                      gpu->cc_minor);
        if (gpu->mig_enabled)
                return nctk_error_set(err, ENOTSUP,
                                      "GPU %u (%s) has MIG enabled: MPS here runs on a full GPU; "
                                      "disable MIG (nvidia-smi -i %u -mig 0) or choose another GPU",
                                      gpu->index, gpu->uuid, gpu->index);
        if (!o->pinned_limit_mib)
                return 0;
        r = memory_mib(drv, gpu->uuid, &total, err);
        if (r < 0)
                return r;
        if (o->pinned_limit_mib > total)
                return nctk_error_set(err, EINVAL,
                                      "--pinned-memory-limit %lluM is more than GPU %u's memory "
                                      "(%llu MiB)",
                                      o->pinned_limit_mib, gpu->index, total);
        return 0;
}

/* The daemon's pid, from the file it writes into its pipe directory once it listens. */
static int wait_pid_file(const struct mps_daemon *d, pid_t *ret) {
        _cleanup_free_ char *path = path_join(d->pipe_dir, "nvidia-cuda-mps-control.pid");

        if (!path)
                return -ENOMEM;
        for (unsigned waited = 0; waited < MPS_TIMEOUT_MS; waited += 20) {
                _cleanup_free_ char *data = NULL;
                if (mps_read_small(path, &data) >= 0 && atoi(data) > 0) {
                        *ret = atoi(data);
                        return 0;
                }
                usleep(20000);
        }
        return -ETIMEDOUT;
}

static int spawn(const struct mps_driver *drv, struct mps_daemon *d, struct nctk_error **err) {
        _cleanup_free_ char *vis = NULL, *pipe_env = NULL, *log_env = NULL;
        char *argv[] = {drv->control, (char *) "-d", NULL};
        int status = 0, r;

        if (asprintf(&vis, "CUDA_VISIBLE_DEVICES=%s", d->uuid) < 0 ||
            asprintf(&pipe_env, "CUDA_MPS_PIPE_DIRECTORY=%s", d->pipe_dir) < 0 ||
            asprintf(&log_env, "CUDA_MPS_LOG_DIRECTORY=%s", d->log_dir) < 0)
                return nctk_error_set(err, ENOMEM, "out of memory");
        char *env[] = {vis, pipe_env, log_env, NULL};
        r = mps_run(drv, argv, env, NULL, MPS_TIMEOUT_MS, &status, NULL);
        if (r >= 0 && status != 0)
                r = -ECHILD;
        if (r >= 0)
                r = wait_pid_file(d, &d->pid);
        if (r >= 0 && !mps_daemon_alive(d))
                r = -ESRCH;
        if (r < 0)
                return nctk_error_set(err, -r == ECHILD ? EIO : -r,
                                      "the MPS control daemon of %s did not start (%s); see "
                                      "%s/control.log",
                                      d->uuid, r == -ECHILD ? "it exited at once" : strerror(-r),
                                      d->log_dir);
        return 0;
}

/* The defaults every server of this daemon starts with, and a first answer: a daemon that
 * does not answer now is not left running. */
static int set_defaults(const struct mps_driver *drv, const struct mps_daemon *d,
                        struct nctk_error **err) {
        _cleanup_free_ char *out = NULL, *cmd = NULL;
        int r = mps_control(drv, d, "get_server_list", NULL, err);

        if (r >= 0 && d->thread_percentage) {
                if (asprintf(&cmd, "set_default_active_thread_percentage %u",
                             d->thread_percentage) < 0)
                        return nctk_error_set(err, ENOMEM, "out of memory");
                r = mps_control(drv, d, cmd, NULL, err);
                /* What the daemon now says, whatever it answered to the setting. */
                if (r >= 0)
                        r = mps_control(drv, d, "get_default_active_thread_percentage", &out, err);
                if (r >= 0 && (unsigned) atof(out) != d->thread_percentage)
                        r = nctk_error_set(err, EINVAL,
                                           "the MPS daemon of %s did not take '%s' (it reports "
                                           "'%s')",
                                           d->uuid, cmd, strstrip(out));
                free(TAKE_PTR(cmd));
                free(TAKE_PTR(out));
        }
        if (r >= 0 && d->pinned_limit[0]) {
                /* The daemon sees only this GPU (CUDA_VISIBLE_DEVICES): it is device 0. */
                if (asprintf(&cmd, "set_default_device_pinned_mem_limit 0 %s", d->pinned_limit) < 0)
                        return nctk_error_set(err, ENOMEM, "out of memory");
                r = mps_control(drv, d, cmd, &out, err);
                if (r >= 0 && (strcasestr(out, "invalid") || strcasestr(out, "error")))
                        r = nctk_error_set(err, EINVAL, "the MPS daemon of %s refused '%s': %s",
                                           d->uuid, cmd, strstrip(out));
        }
        return r;
}

static bool wait_gone(const struct mps_daemon *d, unsigned ms) {
        for (unsigned waited = 0; waited < ms; waited += 20) {
                if (!mps_daemon_alive(d))
                        return true;
                usleep(20000);
        }
        return !mps_daemon_alive(d);
}

/* Ends D's daemon and the servers it lists: quit, then SIGKILL when it does not go. */
static void end_daemon(const struct mps_driver *drv, const struct mps_daemon *d) {
        _cleanup_free_ char *servers = NULL;
        struct nctk_error *ignored = NULL;
        char *save = NULL;

        if (!mps_daemon_alive(d))
                return;
        if (mps_control(drv, d, "get_server_list", &servers, &ignored) < 0 ||
            mps_control(drv, d, "quit", NULL, &ignored) < 0 || !wait_gone(d, MPS_TIMEOUT_MS)) {
                kill(d->pid, SIGKILL);
                wait_gone(d, 1000);
        }
        nctk_error_free(&ignored);
        for (char *t = servers ? strtok_r(servers, " \n", &save) : NULL; t;
             t = strtok_r(NULL, " \n", &save)) {
                struct mps_daemon server = {.pid = atoi(t)};
                if (mps_daemon_alive(&server) && !wait_gone(&server, 1000)) {
                        kill(server.pid, SIGKILL);
                        wait_gone(&server, 1000);
                }
        }
}

static void undo(const struct mps_driver *drv, struct mps_daemon *d, bool mode_set) {
        struct nctk_error *ignored = NULL;

        end_daemon(drv, d);
        if (mode_set)
                compute_mode(drv, d->uuid, "DEFAULT", &ignored);
        nctk_error_free(&ignored);
        mps_dirs_remove(d);
}

static int dirs_error(const struct mps_daemon *d, int r, struct nctk_error **err) {
        if (r == -ELOOP || r == -ENOTDIR)
                return nctk_error_set(err, ELOOP,
                                      "'%s' or its pipe or log directory is a symbolic link or "
                                      "not a directory: remove it, nctk makes its own",
                                      d->dir);
        return nctk_error_set(err, -r, "cannot make '%s': %s", d->pipe_dir, strerror(-r));
}

int mps_start(const struct mps_driver *drv, const struct nctk_gpu *gpu,
              const struct mps_start_opts *o, bool *ret_started, struct nctk_error **err) {
        struct mps_daemon d, old;
        bool mode_set = false;
        int r;

        int loaded = mps_state_load(o->root, gpu->uuid, &old);
        if (loaded >= 0 && mps_daemon_alive(&old)) {
                *ret_started = false;
                return 0;
        }
        r = mps_daemon_init(&d, o->root, gpu->uuid);
        if (r < 0)
                return nctk_error_set(err, -r, "the MPS root's path is too long");
        if (loaded == -ELOOP)
                return dirs_error(&d, -ELOOP, err);
        if (loaded >= 0)
                undo(drv, &old, true); /* the leftovers of a daemon that died */
        strscpy(d.busid, sizeof(d.busid), gpu->busid);
        d.index = gpu->index;
        d.thread_percentage = o->thread_percentage;
        if (o->pinned_limit_mib)
                snprintf(d.pinned_limit, sizeof(d.pinned_limit), "%lluM", o->pinned_limit_mib);
        r = mps_dirs_create(&d);
        if (r < 0) {
                dirs_error(&d, r, err);
                if (r != -ELOOP && r != -ENOTDIR)
                        mps_dirs_remove(&d);
                return -ELOOP;
        }
        r = compute_mode(drv, d.uuid, "EXCLUSIVE_PROCESS", err);
        mode_set = r >= 0;
        if (r >= 0)
                r = spawn(drv, &d, err);
        if (r >= 0)
                r = set_defaults(drv, &d, err);
        if (r >= 0 && (r = mps_state_save(&d)) < 0)
                nctk_error_set(err, -r, "cannot write '%s/state': %s", d.dir, strerror(-r));
        if (r < 0) {
                undo(drv, &d, mode_set);
                return r;
        }
        *ret_started = true;
        return 0;
}

int mps_stop(const struct mps_driver *drv, const struct mps_daemon *d, struct nctk_error **err) {
        int r;

        end_daemon(drv, d);
        if (mps_daemon_alive(d))
                return nctk_error_set(err, EBUSY, "the MPS control daemon %d of %s did not end",
                                      (int) d->pid, d->uuid);
        r = compute_mode(drv, d->uuid, "DEFAULT", err);
        if (r < 0)
                return nctk_error_prefix(err, "restoring the DEFAULT compute mode");
        r = mps_dirs_remove(d);
        if (r < 0)
                return nctk_error_set(err, -r, "cannot remove '%s': %s", d->dir, strerror(-r));
        return 0;
}
