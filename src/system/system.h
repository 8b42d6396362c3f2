/* Host set-up behind `nvidia-ctk system`: the NVIDIA device nodes a host may lack (devnodes.c)
 * and the /dev/char/MAJ:MIN links that systemd looks devices up by (devchar.c). Each is planned
 * first (what is there, what is missing, what is wrong) and then carried out one entry at a
 * time, so that --dry-run prints the very plan that a real run follows. */
#ifndef NCTK_SYSTEM_SYSTEM_H
#define NCTK_SYSTEM_SYSTEM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "nctk/nctk.h"

/* Where the nodes live and where the kernel's facts are read. The paths are for messages and
 * for link targets; every file operation goes through the fds. */
struct system_roots {
        const char *dev_root; /* the nodes are <dev_root>/dev/... */
        int devfd;
        const char *proc_root; /* "/proc", or a simulated one */
        int procfd;
};

enum sysnode_state {
        SYSNODE_MISSING,
        SYSNODE_PRESENT, /* a character device with the expected major and minor */
        SYSNODE_WRONG,   /* something else is in its place */
};

struct sysnode {
        char path[64]; /* as seen from the dev root: "/dev/nvidiactl" */
        unsigned major, minor;
        uid_t uid;
        gid_t gid;
        mode_t mode; /* permission bits */
        enum sysnode_state state;
        char found[64]; /* SYSNODE_WRONG: what is there ("a regular file", "char 10:5") */
};

enum sysnode_set {
        SYSNODE_CONTROL = 1u << 0,     /* nvidiactl, nvidia-modeset, nvidia-uvm, nvidia-uvm-tools */
        SYSNODE_GPUS = 1u << 1,        /* nvidiaN for each GPU the driver lists */
        SYSNODE_MIG_CONTROL = 1u << 2, /* nvidia-caps/nvidia-capN of MIG config and monitor */
};

/* The nodes of SET, with majors from <proc>/devices, GPU minors from <proc>/driver/nvidia/gpus
 * and owner and mode from <proc>/driver/nvidia/params (as nvidia-modprobe; root 0666 without
 * it), each checked under the dev root. A major that the driver does not register is -ENODEV,
 * with ERR naming the module to load. *RET is a heap array. */
int sysnodes_plan(const struct system_roots *r, unsigned set, struct sysnode **ret, size_t *ret_n,
                  struct nctk_error **err);

/* Sets N's state (and found) from what is at its path under DEVFD now. */
void sysnode_check(int devfd, struct sysnode *n);

/* Creates the missing node N: a character device with N's owner and mode. Fails with -EEXIST
 * when something took its place meanwhile; leaves no half-made node. */
int sysnode_create(const struct system_roots *r, const struct sysnode *n, struct nctk_error **err);

/* The NVIDIA nodes that exist under the dev root: /dev/nvidia* character devices, except
 * nvidia-fs*, nvidia-nvswitch* and nvidia-nvlink* (the reference leaves those out), and
 * /dev/nvidia-caps/nvidia-cap*; sorted by path. A missing /dev is no node, not an error. */
int devchar_existing(const struct system_roots *r, struct sysnode **ret, size_t *ret_n,
                     struct nctk_error **err);

enum devchar_state {
        DEVCHAR_MISSING,
        DEVCHAR_PRESENT, /* a link (whatever its text) or node that resolves to the device */
        DEVCHAR_STALE,   /* a link to something else, or dangling: it is replaced */
        DEVCHAR_BLOCKED, /* a file that is no link: left alone */
};

struct devchar_link {
        char name[24]; /* "195:0" */
        char *target;  /* "../nvidia0" in <dev root>/dev/char, else the node's absolute path */
        unsigned major, minor;
        enum devchar_state state;
        char *found; /* STALE: the old link text; BLOCKED: what is there */
};

/* Opens the directory of the links, CHAR_PATH; with CREATE, makes it (0755) and its missing
 * parents first. A missing directory without CREATE returns -ENOENT and no error. */
int devchar_open_dir(const char *char_path, bool create, struct nctk_error **err);

/* One link per node of NODES (the first for a MAJ:MIN given twice), checked against DIRFD (the
 * directory CHAR_PATH, or -1 when it does not exist yet). Free with devchar_links_free. */
int devchar_plan(const struct system_roots *r, const char *char_path, int dirfd,
                 const struct sysnode *nodes, size_t n, struct devchar_link **ret, size_t *ret_n,
                 struct nctk_error **err);
void devchar_links_free(struct devchar_link *links, size_t n);

/* Makes a missing link, or replaces a stale one atomically (a new link renamed over it). */
int devchar_apply(int dirfd, const char *char_path, const struct devchar_link *l,
                  struct nctk_error **err);

/* modules.c: the modules, in load order (nvidia, nvidia-uvm, nvidia-modeset); whether one is
 * loaded (a directory under <sys_root>/module); loading one with the host's modprobe, run with
 * an empty environment. */
#define SYSTEM_N_MODULES 3
extern const char *const system_modules[SYSTEM_N_MODULES];
bool system_module_loaded(const char *sys_root, const char *module);
int system_module_load(const char *module, struct nctk_error **err);

#endif
