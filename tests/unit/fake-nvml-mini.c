/* A tiny fake libnvidia-ml for test-nvml: two GPUs, the first in MIG mode with two MIG devices in
 * sparse slots, the second MIG-capable but disabled. It runs inside nctk's NVML helper child;
 * FAKE_NVML_MODE makes it misbehave: lost, mismatch, notloaded, noperm, crash, hang, garbage,
 * initflags (only nvmlInitWithFlags(NO_ATTACH) works), whoami (GPU 0's name describes the
 * helper's credentials, fds and root). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "1-discover/nvml-types.h"

#define EXPORT __attribute__((visibility("default")))

EXPORT nvml_return_t nvmlInit_v2(void);
EXPORT nvml_return_t nvmlInitWithFlags(unsigned flags);
EXPORT nvml_return_t nvmlShutdown(void);
EXPORT const char *nvmlErrorString(nvml_return_t rc);
EXPORT nvml_return_t nvmlSystemGetDriverVersion(char *buf, unsigned len);
EXPORT nvml_return_t nvmlSystemGetCudaDriverVersion(int *v);
EXPORT nvml_return_t nvmlSystemGetCudaDriverVersion_v2(int *v);
EXPORT nvml_return_t nvmlDeviceGetCount_v2(unsigned *n);
EXPORT nvml_return_t nvmlDeviceGetHandleByIndex_v2(unsigned i, nvml_device_t *dev);
EXPORT nvml_return_t nvmlDeviceGetUUID(nvml_device_t dev, char *buf, unsigned len);
EXPORT nvml_return_t nvmlDeviceGetName(nvml_device_t dev, char *buf, unsigned len);
EXPORT nvml_return_t nvmlDeviceGetPciInfo_v3(nvml_device_t dev, struct nvml_pci_info *pci);
EXPORT nvml_return_t nvmlDeviceGetBrand(nvml_device_t dev, unsigned *v);
EXPORT nvml_return_t nvmlDeviceGetArchitecture(nvml_device_t dev, unsigned *v);
EXPORT nvml_return_t nvmlDeviceGetCudaComputeCapability(nvml_device_t dev, int *major, int *minor);
EXPORT nvml_return_t nvmlDeviceGetMinorNumber(nvml_device_t dev, unsigned *v);
EXPORT nvml_return_t nvmlDeviceGetMigMode(nvml_device_t dev, unsigned *cur, unsigned *pending);
EXPORT nvml_return_t nvmlDeviceGetMaxMigDeviceCount(nvml_device_t dev, unsigned *n);
EXPORT nvml_return_t nvmlDeviceGetMigDeviceHandleByIndex(nvml_device_t dev, unsigned j,
                                                         nvml_device_t *mig);
EXPORT nvml_return_t nvmlDeviceGetGpuInstanceId(nvml_device_t dev, unsigned *v);
EXPORT nvml_return_t nvmlDeviceGetComputeInstanceId(nvml_device_t dev, unsigned *v);

struct nvml_device_opaque {
        int gpu;
        int mig; /* index into migs[], -1 for a GPU */
};

static const struct {
        const char *uuid, *name, *busid;
        unsigned minor, brand, arch, mig_mode;
        int cc_major, cc_minor;
} gpus[] = {
        {"GPU-4f1c7a52-0b6e-4d57-9a3e-1f2b3c4d5e6f", "NVIDIA H200", "00000000:1B:00.0", 3,
         NVML_BRAND_NVIDIA, NVML_ARCH_HOPPER, NVML_MIG_ENABLE, 9, 0},
        {"GPU-9a8b7c6d-5e4f-4321-8765-0fedcba98765", "NVIDIA A100-SXM4-80GB", "00000000:B3:00.0", 0,
         NVML_BRAND_TESLA, NVML_ARCH_AMPERE, NVML_MIG_DISABLE, 8, 0},
};

#define MAX_MIGS 7u
static const struct {
        unsigned slot, gi, ci;
        const char *uuid;
} migs[] = {
        {0, 2, 0, "MIG-11111111-2222-4333-8444-555555555555"},
        {3, 9, 1, "MIG-66666666-7777-4888-9999-aaaaaaaaaaaa"},
};

static struct nvml_device_opaque gpu_handles[] = {{0, -1}, {1, -1}};
static struct nvml_device_opaque mig_handles[] = {{0, 0}, {0, 1}};
static const char *mode = "";
static int initialized;

static int is_mode(const char *m) {
        return strcmp(mode, m) == 0;
}

static int count_fds(void) {
        int n = 0;

        for (int fd = 0; fd < 4096; fd++)
                if (fcntl(fd, F_GETFD) >= 0)
                        n++;
        return n;
}

static _Noreturn void write_garbage(void) {
        char junk[512];

        memset(junk, 'G', sizeof(junk));
        for (int fd = 3; fd < 1024; fd++)
                if (write(fd, junk, sizeof(junk)) < 0)
                        continue;
        _exit(0);
}

static nvml_return_t fake_init(unsigned flags, int with_flags) {
        const char *m = getenv("FAKE_NVML_MODE");
        struct rlimit no_core = {0, 0};

        mode = m ? m : "";
        if (is_mode("mismatch"))
                return NVML_E_LIB_RM_VERSION_MISMATCH;
        if (is_mode("notloaded"))
                return NVML_E_DRIVER_NOT_LOADED;
        if (is_mode("noperm"))
                return NVML_E_NO_PERMISSION;
        if (is_mode("crash")) {
                setrlimit(RLIMIT_CORE, &no_core);
                abort();
        }
        if (is_mode("hang"))
                for (;;)
                        pause();
        if (is_mode("garbage"))
                write_garbage();
        if (is_mode("initflags") && (!with_flags || flags != NVML_INIT_NO_ATTACH))
                return NVML_E_UNKNOWN;
        initialized = 1;
        return NVML_OK;
}

nvml_return_t nvmlInit_v2(void) {
        return fake_init(0, 0);
}

nvml_return_t nvmlInitWithFlags(unsigned flags) {
        return fake_init(flags, 1);
}

nvml_return_t nvmlShutdown(void) {
        initialized = 0;
        return NVML_OK;
}

const char *nvmlErrorString(nvml_return_t rc) {
        switch (rc) {
        case NVML_OK: return "Success";
        case NVML_E_INVALID_ARGUMENT: return "Invalid Argument";
        case NVML_E_NOT_SUPPORTED: return "Not Supported";
        case NVML_E_NO_PERMISSION: return "Insufficient Permissions";
        case NVML_E_NOT_FOUND: return "Not Found";
        case NVML_E_DRIVER_NOT_LOADED: return "Driver Not Loaded";
        case NVML_E_GPU_IS_LOST: return "GPU is lost";
        case NVML_E_LIB_RM_VERSION_MISMATCH: return "Driver/library version mismatch";
        default: return "Unknown Error";
        }
}

static nvml_return_t put(char *buf, unsigned len, const char *s) {
        if (!initialized)
                return NVML_E_UNINITIALIZED;
        if (strlen(s) >= len)
                return NVML_E_INSUFFICIENT_SIZE;
        snprintf(buf, len, "%s", s);
        return NVML_OK;
}

nvml_return_t nvmlSystemGetDriverVersion(char *buf, unsigned len) {
        return put(buf, len, "580.159.04");
}

/* The old call answers differently, so that the test sees the _v2 one is preferred. */
nvml_return_t nvmlSystemGetCudaDriverVersion(int *v) {
        *v = 12000;
        return initialized ? NVML_OK : NVML_E_UNINITIALIZED;
}

nvml_return_t nvmlSystemGetCudaDriverVersion_v2(int *v) {
        *v = 13000;
        return initialized ? NVML_OK : NVML_E_UNINITIALIZED;
}

nvml_return_t nvmlDeviceGetCount_v2(unsigned *n) {
        *n = 2;
        return initialized ? NVML_OK : NVML_E_UNINITIALIZED;
}

nvml_return_t nvmlDeviceGetHandleByIndex_v2(unsigned i, nvml_device_t *dev) {
        if (!initialized)
                return NVML_E_UNINITIALIZED;
        if (i >= 2)
                return NVML_E_INVALID_ARGUMENT;
        if (i == 1 && is_mode("lost"))
                return NVML_E_GPU_IS_LOST;
        *dev = &gpu_handles[i];
        return NVML_OK;
}

nvml_return_t nvmlDeviceGetUUID(nvml_device_t dev, char *buf, unsigned len) {
        return put(buf, len, dev->mig >= 0 ? migs[dev->mig].uuid : gpus[dev->gpu].uuid);
}

nvml_return_t nvmlDeviceGetName(nvml_device_t dev, char *buf, unsigned len) {
        char who[96];

        if (!is_mode("whoami") || dev->gpu != 0)
                return put(buf, len, gpus[dev->gpu].name);
        snprintf(who, sizeof(who), "uid=%u gid=%u groups=%d nnp=%d fds=%d chroot=%d",
                 (unsigned) getuid(), (unsigned) getgid(), getgroups(0, NULL),
                 prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), count_fds(),
                 access("/fake-nvml-root", F_OK) == 0);
        return put(buf, len, who);
}

nvml_return_t nvmlDeviceGetPciInfo_v3(nvml_device_t dev, struct nvml_pci_info *pci) {
        memset(pci, 0, sizeof(*pci));
        snprintf(pci->bus_id, sizeof(pci->bus_id), "%s", gpus[dev->gpu].busid);
        snprintf(pci->bus_id_legacy, sizeof(pci->bus_id_legacy), "%s", gpus[dev->gpu].busid + 4);
        return initialized ? NVML_OK : NVML_E_UNINITIALIZED;
}

nvml_return_t nvmlDeviceGetBrand(nvml_device_t dev, unsigned *v) {
        *v = gpus[dev->gpu].brand;
        return NVML_OK;
}

nvml_return_t nvmlDeviceGetArchitecture(nvml_device_t dev, unsigned *v) {
        *v = gpus[dev->gpu].arch;
        return NVML_OK;
}

nvml_return_t nvmlDeviceGetCudaComputeCapability(nvml_device_t dev, int *major, int *minor) {
        *major = gpus[dev->gpu].cc_major;
        *minor = gpus[dev->gpu].cc_minor;
        return NVML_OK;
}

nvml_return_t nvmlDeviceGetMinorNumber(nvml_device_t dev, unsigned *v) {
        *v = gpus[dev->gpu].minor;
        return NVML_OK;
}

nvml_return_t nvmlDeviceGetMigMode(nvml_device_t dev, unsigned *cur, unsigned *pending) {
        *cur = *pending = gpus[dev->gpu].mig_mode;
        return NVML_OK;
}

/* nctk must not walk MIG slots of a GPU whose MIG mode is disabled: that costs time on real
 * hardware, so here it costs the helper its life. */
static void require_mig(nvml_device_t dev) {
        if (dev->mig >= 0 || gpus[dev->gpu].mig_mode != NVML_MIG_ENABLE)
                abort();
}

nvml_return_t nvmlDeviceGetMaxMigDeviceCount(nvml_device_t dev, unsigned *n) {
        require_mig(dev);
        *n = MAX_MIGS;
        return NVML_OK;
}

nvml_return_t nvmlDeviceGetMigDeviceHandleByIndex(nvml_device_t dev, unsigned j,
                                                  nvml_device_t *mig) {
        require_mig(dev);
        if (j >= MAX_MIGS)
                return NVML_E_INVALID_ARGUMENT;
        for (size_t k = 0; k < sizeof(migs) / sizeof(migs[0]); k++) {
                if (migs[k].slot == j) {
                        *mig = &mig_handles[k];
                        return NVML_OK;
                }
        }
        return NVML_E_NOT_FOUND;
}

nvml_return_t nvmlDeviceGetGpuInstanceId(nvml_device_t dev, unsigned *v) {
        if (dev->mig < 0)
                return NVML_E_INVALID_ARGUMENT;
        *v = migs[dev->mig].gi;
        return NVML_OK;
}

nvml_return_t nvmlDeviceGetComputeInstanceId(nvml_device_t dev, unsigned *v) {
        if (dev->mig < 0)
                return NVML_E_INVALID_ARGUMENT;
        *v = migs[dev->mig].ci;
        return NVML_OK;
}
