/* Facts the kernel driver publishes under /proc: the running module's version, the character
 * device majors, the per-GPU information files and the MIG capability minors. Reading them needs
 * neither NVML nor the GPU, so they are cheap and work for an unprivileged caller. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "1-discover/discover.h"
#include "util/chase.h"
#include "util/fileio.h"
#include "util/macros.h"
#include "util/strv.h"

#define PROC_FILE_MAX (1u << 20)

static bool is_version_word(const char *w, size_t n) {
        bool dot = false;

        if (n == 0 || n >= NCTK_VERSION_MAX || !isdigit((unsigned char) w[0]))
                return false;
        for (size_t i = 0; i < n; i++) {
                if (w[i] == '.')
                        dot = true;
                else if (!isdigit((unsigned char) w[i]))
                        return false;
        }
        return dot;
}

/* "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.159.04  Release Build ..." and
 * the proprietary "NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.159.04  ...": the version
 * is the first dotted number on the NVRM line. */
int procfs_driver_version(int procfd, char ret[NCTK_VERSION_MAX]) {
        _cleanup_free_ char *buf = NULL;
        const char *p;
        int r;

        r = read_full_at(procfd, "driver/nvidia/version", PROC_FILE_MAX, &buf, NULL);
        if (r < 0)
                return r;
        p = strstr(buf, "NVRM version:");
        if (!p)
                return -EINVAL;
        p += strlen("NVRM version:");
        while (*p && *p != '\n') {
                size_t n = strcspn(p, " \t\n");
                if (is_version_word(p, n)) {
                        memcpy(ret, p, n);
                        ret[n] = '\0';
                        return 0;
                }
                p += n;
                p += strspn(p, " \t");
        }
        return -EINVAL;
}

static void majors_set(struct nctk_majors *m, int major, const char *name) {
        if (STREQ(name, "nvidia-frontend") || STREQ(name, "nvidia"))
                m->nvidia = major;
        else if (STREQ(name, "nvidia-uvm"))
                m->uvm = major;
        else if (STREQ(name, "nvidia-caps"))
                m->caps = major;
        else if (STREQ(name, "nvidia-caps-imex-channels"))
                m->caps_imex = major;
}

int procfs_majors(int procfd, struct nctk_majors *ret) {
        _cleanup_free_ char *buf = NULL;
        struct nctk_majors m = {-1, -1, -1, -1, -1};
        char *line, *save = NULL;
        bool chr = false;
        int r;

        r = read_full_at(procfd, "devices", PROC_FILE_MAX, &buf, NULL);
        if (r < 0)
                return r;
        for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char name[64];
                int major;

                if (startswith(line, "Character devices:")) {
                        chr = true;
                        continue;
                }
                if (startswith(line, "Block devices:"))
                        break;
                if (chr && sscanf(line, "%d %63s", &major, name) == 2 && major > 0)
                        majors_set(&m, major, name);
        }
        /* nvidia-modeset is minor 254 of the nvidia major, not a major of its own. */
        m.modeset = m.nvidia;
        *ret = m;
        return 0;
}

/* Parses one gpus/<busid>/information file ("Key: \t value" lines). */
static int gpu_info_parse(char *buf, struct nctk_gpu *g) {
        char *line, *save = NULL;
        bool have_minor = false;

        for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *colon = strchr(line, ':');
                char *v;

                if (!colon)
                        continue;
                *colon = '\0';
                v = strstrip(colon + 1);
                if (STREQ(line, "Model"))
                        strscpy(g->model, sizeof(g->model), v);
                else if (STREQ(line, "GPU UUID"))
                        strscpy(g->uuid, sizeof(g->uuid), v);
                else if (STREQ(line, "Bus Location"))
                        snprintf(g->busid, sizeof(g->busid), "0000%s", v);
                else if (STREQ(line, "Device Minor")) {
                        char *end;
                        unsigned long minor = strtoul(v, &end, 10);
                        if (end == v || *end || minor > 255)
                                return -EINVAL;
                        g->minor = (unsigned) minor;
                        have_minor = true;
                }
        }
        return have_minor && g->uuid[0] ? 0 : -EINVAL;
}

static int busid_cmp(const void *a, const void *b) {
        return strcmp(((const struct nctk_gpu *) a)->busid, ((const struct nctk_gpu *) b)->busid);
}

static int procfs_gpu_read(int gpusfd, const char *busid, struct nctk_gpu *g) {
        _cleanup_free_ char *buf = NULL;
        _cleanup_free_ char *path = path_join(busid, "information");
        int r;

        if (!path)
                return -ENOMEM;
        r = read_full_at(gpusfd, path, PROC_FILE_MAX, &buf, NULL);
        if (r < 0)
                return r;
        return gpu_info_parse(buf, g);
}

/* GPUs as the kernel module lists them, in PCI order (which is NVML's index order). */
int procfs_gpus(int procfd, struct nctk_gpu **ret, size_t *ret_n) {
        _cleanup_free_ struct nctk_gpu *gpus = NULL;
        _cleanup_closedir_ DIR *d = NULL;
        size_t n = 0;
        struct dirent *de;
        int r;

        r = chase_opendir(procfd, "driver/nvidia/gpus", &d);
        if (r < 0)
                return r;
        while ((de = readdir(d))) {
                struct nctk_gpu *g;

                if (de->d_name[0] == '.')
                        continue;
                g = ARRAY_PUSH(gpus, n);
                if (!g)
                        return -ENOMEM;
                r = procfs_gpu_read(dirfd(d), de->d_name, g);
                if (r < 0)
                        return r;
        }
        if (n > 1)
                qsort(gpus, n, sizeof(*gpus), busid_cmp);
        for (size_t i = 0; i < n; i++)
                gpus[i].index = (unsigned) i;
        *ret = TAKE_PTR(gpus);
        *ret_n = n;
        return 0;
}

/* driver/nvidia-caps/mig-minors: "config 1", "monitor 2", "gpu0/gi0/access 3", ... */
/* A capability file ("DeviceFileMinor: 3\nDeviceFileMode: 292\n..."): the nvidia-caps minor
 * of that capability. Reading these few small files is cheap, while the driver's
 * nvidia-caps/mig-minors lists every possible GPU instance and takes ~5 ms to generate. */
int procfs_cap_minor(int procfd, const char *path) {
        _cleanup_free_ char *buf = NULL;
        const char *p;
        char *end;
        long v;
        int r;

        r = read_full_at(procfd, path, 4096, &buf, NULL);
        if (r < 0)
                return r;
        p = strstr(buf, "DeviceFileMinor:");
        if (!p)
                return -EINVAL;
        p += strlen("DeviceFileMinor:");
        v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > (1 << 20))
                return -EINVAL;
        return (int) v;
}
