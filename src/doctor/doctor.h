/* nctk doctor: checks of this host's GPU container set-up, each ending in a finding and, when
 * something is wrong, the exact command that fixes it. One file per family of checks; the
 * front-end (cmd/doctor.c) only parses flags and prints the report. */
#ifndef NCTK_DOCTOR_DOCTOR_H
#define NCTK_DOCTOR_DOCTOR_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "nctk/nctk.h"

enum doctor_status { DOCTOR_OK, DOCTOR_WARN, DOCTOR_FAIL };

struct doctor_check {
        char *id; /* "devices.uvm": stable, for scripts */
        enum doctor_status status;
        char *finding; /* one sentence: what was found */
        char *fix;     /* the command (or step) that fixes it; NULL when nothing to do */
};

struct doctor_report {
        struct doctor_check *v;
        size_t n;
};

/* Where the host is. Every path defaults to the running host's; a tool that runs in a container
 * with the host mounted somewhere (or a test) points them elsewhere. */
struct doctor_opts {
        const char *host_root;   /* "/": the host's /etc, /run, /sys and engine configs */
        const char *driver_root; /* "/": where the driver is installed */
        const char *dev_root;    /* NULL: the driver root */
        const char *proc_root;   /* "/proc": the kernel's procfs */
        const char *path;        /* where runtimes are looked up: $PATH */
        const struct nctk_config *cfg;
        const char *cfg_path; /* the config.toml it came from, for fix lines */
};

/* What the checks found out and later checks use. */
struct doctor_state {
        const struct doctor_opts *o;
        char proc_version[NCTK_VERSION_MAX]; /* "" when no driver is loaded */
        struct nctk_inventory *inv;          /* NULL when discovery failed */
        int docker_cgroup;                   /* docker's cgroup driver: -1 no docker, 0 its default,
                                                1 cgroupfs, 2 systemd */
        bool containerd_systemd;             /* containerd's runc runtimes use SystemdCgroup */
        bool engine_native_cdi;              /* an engine injects CDI devices itself */
        size_t n_cdi_specs;                  /* NVIDIA specs found in the spec dirs */
        char *root_flags;     /* " --driver-root=R --dev-root=D --proc-root=P" for fix lines
                                 of nvidia-ctk system, only those not the default */
        const char *dev_root; /* resolved: the dev root, else the driver root */
        struct doctor_report *report;
};

/* Adds a check; FIX may be NULL. Returns 0 or -ENOMEM. */
int doctor_add(struct doctor_state *s, const char *id, enum doctor_status status, const char *fix,
               const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* A path of the host: HOST_ROOT + PATH (PATH absolute). Heap string, NULL on ENOMEM. */
char *doctor_host_path(const struct doctor_state *s, const char *path);

/* Whether PATH (absolute, of the host) exists. */
bool doctor_host_exists(const struct doctor_state *s, const char *path);
/* NAME found in the host's PATH ($PATH, then the usual directories), or NULL; heap string. An
 * absolute NAME is looked up as is, under the host root. */
char *doctor_host_which(const struct doctor_state *s, const char *name);

/* The families, in the order they run (later ones read what earlier ones recorded: the driver's
 * version and inventory, the CDI specs, the engines' cgroup driver and CDI use). */
int doctor_check_driver(struct doctor_state *s);   /* driver.c */
int doctor_check_devices(struct doctor_state *s);  /* devices.c */
int doctor_check_cache(struct doctor_state *s);    /* cache.c */
int doctor_check_cdi(struct doctor_state *s);      /* cdi.c */
int doctor_check_engines(struct doctor_state *s);  /* engines.c */
int doctor_check_cgroup(struct doctor_state *s);   /* cgroup.c */
int doctor_check_runtime(struct doctor_state *s);  /* runtime.c */
int doctor_check_ldconfig(struct doctor_state *s); /* ldconfig.c */
int doctor_check_security(struct doctor_state *s); /* security.c */
int doctor_check_rootless(struct doctor_state *s); /* security.c */

/* Runs every check. Returns 0 (the report may hold FAILs) or -ENOMEM. */
int doctor_run(const struct doctor_opts *o, struct doctor_report *ret);
void doctor_report_release(struct doctor_report *r);
/* The worst status in R. */
enum doctor_status doctor_worst(const struct doctor_report *r);
const char *doctor_status_name(enum doctor_status s);

#endif
