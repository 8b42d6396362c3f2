/* nctk's MPS daemons (nvidia-ctk mps): one nvidia-cuda-mps-control per GPU, each with its own
 * pipe and log directories and a state file under a root (/run/nvidia-mps/<GPU UUID>/), and what
 * a container given such a GPU needs to become its client. */
#ifndef NCTK_MPS_MPS_H
#define NCTK_MPS_MPS_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include "2-select/select.h"
#include "nctk/nctk.h"

#define MPS_ROOT_DEFAULT "/run/nvidia-mps"
/* Where a client container sees its GPU's pipe directory: CUDA's default, so that a process
 * whose environment nctk cannot set (the prestart-hook path) still finds the daemon. */
#define MPS_CONTAINER_PIPE_DIR "/tmp/nvidia-mps"
#define MPS_TIMEOUT_MS 5000u /* one control command, one nvidia-smi call, a daemon's exit */
#define MPS_LIMIT_MAX 32

/* One GPU's daemon as its state file records it. */
struct mps_daemon {
        char uuid[NCTK_UUID_MAX];
        char busid[NCTK_BUSID_MAX];
        unsigned index;                   /* NVML index when started */
        pid_t pid;                        /* the control daemon; 0 while starting */
        unsigned thread_percentage;       /* set_default_active_thread_percentage; 0: not set */
        char pinned_limit[MPS_LIMIT_MAX]; /* "<MiB>M"; "": not set */
        char dir[PATH_MAX];               /* <root>/<uuid> */
        char pipe_dir[PATH_MAX + 8];      /* <dir>/pipe */
        char log_dir[PATH_MAX + 8];       /* <dir>/log */
};

/* The driver's programs that manage MPS, as host paths. */
struct mps_driver {
        char *control; /* nvidia-cuda-mps-control */
        char *smi;     /* nvidia-smi */
        char *libdir;  /* LD_LIBRARY_PATH for them when the driver root is not "/", else NULL */
};

/* ---- state.c: the per-GPU directory and state file ------------------------------------------ */

/* Fills D's uuid and directories for UUID under ROOT (NULL: MPS_ROOT_DEFAULT). -ENAMETOOLONG. */
int mps_daemon_init(struct mps_daemon *d, const char *root, const char *uuid);

/* Reads ROOT/UUID/state into RET. -ENOENT: no daemon was started for UUID; -ELOOP: the
 * directory, its pipe or log directory, or the state file is a symbolic link; -EBADMSG. */
int mps_state_load(const char *root, const char *uuid, struct mps_daemon *ret);

/* Writes D's state file atomically. */
int mps_state_save(const struct mps_daemon *d);

/* The UUIDs that have a directory under ROOT (a missing root: none), sorted; free each and the
 * array. */
int mps_state_list(const char *root, char ***ret, size_t *ret_n);

/* Whether D's control daemon is alive: its pid runs a program named nvidia-cuda-mps*. */
bool mps_daemon_alive(const struct mps_daemon *d);

/* Reads the small file PATH (not through a final link) into a heap string. */
int mps_read_small(const char *path, char **ret);

/* Makes D's directory, pipe and log directories (mode 0755), refusing links. -ELOOP, -errno. */
int mps_dirs_create(const struct mps_daemon *d);

/* Removes D's directory tree without following links; a missing one is fine. */
int mps_dirs_remove(const struct mps_daemon *d);

/* ---- exec.c: running the driver's programs, bounded ---------------------------------------- */

/* Finds the programs in INV (nvidia-cuda-mps-control must exist; nvidia-smi too). */
int mps_driver_find(const struct nctk_inventory *inv, struct mps_driver *ret,
                    struct nctk_error **err);
void mps_driver_release(struct mps_driver *d);

/* Runs ARGV (ARGV[0] a host path) with ENV ("NAME=VALUE", NULL-terminated; may be NULL) added
 * to ours, INPUT (may be NULL) on stdin. With RET_OUT, stdout and stderr are collected (64 KiB
 * at most) until both close; without, they go to /dev/null and only the program's own exit is
 * awaited (a daemon that forks keeps running). -ETIMEDOUT after TIMEOUT_MS (the program is
 * killed). RET_STATUS: its exit status, or 128+signal. */
int mps_run(const struct mps_driver *drv, char *const argv[], char *const env[], const char *input,
            unsigned timeout_ms, int *ret_status, char **ret_out);

/* One command to D's control daemon (nvidia-cuda-mps-control reading it on stdin); RET_OUT
 * its answer. -ETIMEDOUT when the daemon does not answer in MPS_TIMEOUT_MS; -ECONNREFUSED when
 * the program exits non-zero (no daemon). */
int mps_control(const struct mps_driver *drv, const struct mps_daemon *d, const char *cmd,
                char **ret_out, struct nctk_error **err);

/* ---- daemon.c: start, stop, status --------------------------------------------------------- */

struct mps_start_opts {
        const char *root;                    /* NULL: MPS_ROOT_DEFAULT */
        unsigned thread_percentage;          /* 1..100, 0: leave the daemon's default */
        unsigned long long pinned_limit_mib; /* 0: none */
};

/* Checks that GPU can take an MPS daemon with O (Volta or newer, MIG off, the limit below its
 * memory), before anything is changed. One message in ERR. */
int mps_check(const struct mps_driver *drv, const struct nctk_gpu *gpu,
              const struct mps_start_opts *o, struct nctk_error **err);

/* Starts GPU's daemon: directories, EXCLUSIVE_PROCESS, the daemon, its defaults, the state file.
 * One already running is left as it is (RET_STARTED false); one that died is replaced. On
 * failure everything this call did is undone. */
int mps_start(const struct mps_driver *drv, const struct nctk_gpu *gpu,
              const struct mps_start_opts *o, bool *ret_started, struct nctk_error **err);

/* Stops the daemon recorded in D (quit, then SIGKILL after MPS_TIMEOUT_MS, and its servers),
 * restores the DEFAULT compute mode and removes D's directories. Also for one that died. */
int mps_stop(const struct mps_driver *drv, const struct mps_daemon *d, struct nctk_error **err);

/* Parses "2G", "512M", "1T", "4096" (MiB) into MiB. -EINVAL. */
int mps_size_parse(const char *s, unsigned long long *ret_mib);

/* ---- client.c: containers ------------------------------------------------------------------- */

struct mps_client {
        bool active;                 /* the container is given a GPU with a live daemon */
        char pipe_dir[PATH_MAX + 8]; /* host directory to mount at MPS_CONTAINER_PIPE_DIR */
        unsigned thread_percentage;
        char pinned_limit[MPS_LIMIT_MAX];
};

/* Whether the GPUs SEL selects on INV include one with a live nctk daemon under ROOT (NULL:
 * MPS_ROOT_DEFAULT). A CUDA process can be the client of one daemon only, and it then sees only
 * that daemon's GPU: more than one selected GPU with one of them served is -EINVAL with ERR. */
int mps_client_lookup(const char *root, const struct nctk_inventory *inv,
                      const struct selection *sel, struct mps_client *ret, struct nctk_error **err);

/* Whether ROOT (NULL: default) holds any daemon directory at all: the cheap test before a
 * front-end runs discovery only for MPS. */
bool mps_any(const char *root);

/* The container (a short id from /proc/PID/cgroup) that PID runs in, into BUF; "" for a process
 * of the host. */
void mps_pid_container(pid_t pid, char *buf, size_t len);

#endif
