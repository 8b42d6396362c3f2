/* Is the driver loaded, and do its parts agree? The kernel module's version (/proc), the
 * user-space libraries' (the file name of libnvidia-ml behind the ld cache) and what NVML
 * answers must be one version: after a driver upgrade without a reboot the libraries are new,
 * the module old, and every NVML user fails with "Driver/library version mismatch". */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "1-discover/discover.h"
#include "doctor/doctor.h"
#include "util/fileio.h"
#include "util/macros.h"
#include "util/strv.h"

#define RELOAD_FIX                                                                                 \
        "reboot, or reload the driver: rmmod nvidia_uvm nvidia_drm nvidia_modeset nvidia && "      \
        "modprobe nvidia && modprobe nvidia_uvm"

/* Whether the driver's user-space half is installed: its ld cache names libnvidia-ml. */
static bool libs_installed(const struct doctor_state *s) {
        _cleanup_free_ char *path = path_join(s->o->driver_root ? s->o->driver_root : "/",
                                              "/etc/ld.so.cache"),
                            *data = NULL;
        _cleanup_close_ int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -EBADF;
        size_t len = 0;

        return fd >= 0 && read_full_fd(fd, 64u << 20, &data, &len) >= 0 &&
               memmem(data, len, "libnvidia-ml.so.1", 18);
}

static int check_loaded(struct doctor_state *s, int procfd) {
        const char *proc = s->o->proc_root ? s->o->proc_root : "/proc";
        int r = procfd < 0 ? procfd : procfs_driver_version(procfd, s->proc_version);

        if (r >= 0)
                return doctor_add(s, "driver.loaded", DOCTOR_OK, NULL,
                                  "NVIDIA kernel module %s is loaded", s->proc_version);
        s->proc_version[0] = '\0';
        if (r == -EINVAL)
                return doctor_add(s, "driver.loaded", DOCTOR_FAIL,
                                  "reinstall the NVIDIA driver (the file reads 'NVRM version: ... "
                                  "Kernel Module  VERSION')",
                                  "%s/driver/nvidia/version names no driver version", proc);
        if (libs_installed(s))
                return doctor_add(s, "driver.loaded", DOCTOR_FAIL,
                                  "modprobe nvidia (if it fails, the module is not built for this "
                                  "kernel: reinstall the driver or its DKMS package, then "
                                  "reboot)",
                                  "the driver's libraries are installed but no NVIDIA kernel "
                                  "module is loaded (%s/driver/nvidia/version: %s): no container "
                                  "can get a GPU",
                                  proc, strerror(-r));
        return doctor_add(s, "driver.loaded", DOCTOR_FAIL,
                          "install the NVIDIA driver for this kernel (Debian: apt-get install "
                          "nvidia-driver; or NVIDIA's installer), then load it: modprobe nvidia "
                          "(nvidia-smi must then list the GPUs)",
                          "no NVIDIA driver is installed or loaded (%s/driver/nvidia/version: "
                          "%s): no container can get a GPU",
                          proc, strerror(-r));
}

/* The version in the file name of the 64-bit libnvidia-ml ("libnvidia-ml.so.580.159.04"). */
static const char *nvml_lib_version(const struct nctk_inventory *inv) {
        for (size_t i = 0; i < inv->n_libs; i++) {
                const struct nctk_file *f = &inv->libs[i];
                const char *base = strrchr(f->path, '/');

                base = base ? base + 1 : f->path;
                if (!f->is_32bit && startswith(base, "libnvidia-ml.so.") &&
                    strchr(base + strlen("libnvidia-ml.so."), '.'))
                        return base + strlen("libnvidia-ml.so.");
        }
        return NULL;
}

static int discover_failed(struct doctor_state *s, int r, const struct nctk_error *err) {
        const char *why = err && err->msg ? err->msg : strerror(-r);

        if (r == -EPROTO)
                return doctor_add(s, "driver.versions", DOCTOR_FAIL, RELOAD_FIX,
                                  "%s: NVML, nvidia-smi and CUDA fail with 'Driver/library "
                                  "version mismatch'",
                                  why);
        if (r == -ENOENT)
                return doctor_add(s, "driver.nvml", DOCTOR_FAIL,
                                  "install the driver's user-space libraries of the same version "
                                  "(Debian/Ubuntu: the libnvidia-compute package of the driver), "
                                  "then run ldconfig",
                                  "the driver's libraries cannot be found in the driver root "
                                  "(%s)",
                                  why);
        return doctor_add(s, "driver.nvml", DOCTOR_FAIL,
                          "run nvidia-smi: it fails with the driver's own words; fix what it "
                          "names (the device checks below may already say)",
                          "NVML does not answer: %s", why);
}

static int check_versions(struct doctor_state *s) {
        const char *lib = nvml_lib_version(s->inv), *nvml = s->inv->driver_version;

        if (lib && !STREQ(lib, s->proc_version))
                return doctor_add(s, "driver.versions", DOCTOR_FAIL, RELOAD_FIX,
                                  "the kernel module is %s but libnvidia-ml is %s (a driver "
                                  "upgrade without a reboot): NVML fails with 'Driver/library "
                                  "version mismatch'",
                                  s->proc_version, lib);
        if (nvml[0] && !STREQ(nvml, s->proc_version))
                return doctor_add(s, "driver.versions", DOCTOR_FAIL, RELOAD_FIX,
                                  "the kernel module is %s but NVML reports driver %s",
                                  s->proc_version, nvml);
        return doctor_add(s, "driver.versions", DOCTOR_OK, NULL,
                          "kernel module, libnvidia-ml and NVML agree: %s; %zu GPU(s)%s%s",
                          s->proc_version, s->inv->n_gpus, s->inv->cuda_version[0] ? ", CUDA " : "",
                          s->inv->cuda_version);
}

/* Without persistence mode the driver tears a GPU's state down when its last client exits and
 * builds it again for the next: every container start (and its nvidia-smi) pays that, and
 * nctk's NVML cache sees the GPUs come and go. */
static int check_persistence(struct doctor_state *s) {
        size_t off = 0, unknown = 0, first = 0;

        for (size_t i = 0; i < s->inv->n_gpus; i++) {
                enum nctk_persistence p = s->inv->gpus[i].persistence;
                if (p == NCTK_PERSISTENCE_OFF && off++ == 0)
                        first = i;
                unknown += p == NCTK_PERSISTENCE_UNKNOWN;
        }
        if (off)
                return doctor_add(s, "driver.persistence", DOCTOR_WARN,
                                  "systemctl enable --now nvidia-persistenced (or, until the next "
                                  "reboot: nvidia-smi -pm 1)",
                                  "persistence mode is off on %zu of %zu GPU(s) (first: GPU %u, "
                                  "%s): the driver re-initialises a GPU for each first client, "
                                  "which slows every container start",
                                  off, s->inv->n_gpus, s->inv->gpus[first].index,
                                  s->inv->gpus[first].busid);
        if (unknown)
                return doctor_add(s, "driver.persistence", DOCTOR_OK, NULL,
                                  "NVML does not report persistence mode for %zu GPU(s)", unknown);
        return doctor_add(s, "driver.persistence", DOCTOR_OK, NULL,
                          "persistence mode is on for every GPU");
}

int doctor_check_driver(struct doctor_state *s) {
        const struct doctor_opts *o = s->o;
        _cleanup_close_ int procfd = -EBADF;
        struct nctk_discover_opts d;
        struct nctk_error *err = NULL;
        int r;

        procfd = open(o->proc_root ? o->proc_root : "/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (procfd < 0)
                procfd = -errno;
        r = check_loaded(s, procfd);
        if (r < 0 || !s->proc_version[0])
                return r;
        nctk_discover_opts_init(&d);
        d.driver_root = o->driver_root;
        d.dev_root = o->dev_root;
        d.proc_root = o->proc_root;
        r = nctk_discover(&d, &s->inv, &err);
        if (r < 0) {
                s->inv = NULL;
                r = discover_failed(s, r, err);
                nctk_error_free(&err);
                return r;
        }
        r = check_versions(s);
        return r < 0 ? r : check_persistence(s);
}
