/* Fake libnvidia-ml.so.1 for the simulated driver (tests/sim/nctk-sim builds it per root).
 *
 * It implements the NVML entry points that nctk uses (src/1-discover/nvml-types.h), answering from
 * a GPU description that the generator compiles in (nctk-sim-data.h): inside a container only this
 * one file is mounted, so it cannot read a side file.
 *
 * What makes container tests meaningful is that, like the real library, it only sees the GPUs whose
 * device nodes it can reach: a GPU counts only if /dev/nvidia<minor> is a character device with
 * the right numbers that open() does not refuse with EPERM/EACCES (a cgroup device rule or a nodev
 * mount refuses it; ENXIO, "no driver behind this major", is what a simulated node answers and is
 * accepted). MIG devices likewise need their /dev/nvidia-caps nodes. Paths are taken relative to a
 * prefix: when this file is loaded from <prefix><the path it was generated for>, the prefix is
 * <prefix> (a test on the host that loads DIR/usr/lib/.../libnvidia-ml.so.1 sees DIR/dev); anywhere
 * else (chroot, container) the prefix is empty. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "1-discover/nvml-types.h"

#define NVML_API __attribute__((visibility("default")))

struct sim_gpu {
        const char *uuid;
        const char *name;
        const char *bus_id;        /* "00000000:18:00.0" */
        const char *bus_id_legacy; /* "0000:18:00.0" */
        unsigned domain, bus, device;
        unsigned pci_device_id, pci_subsystem_id;
        unsigned brand, arch;
        int cc_major, cc_minor;
        unsigned minor;
        int lost;         /* nvmlDeviceGetHandleByIndex_v2 answers GPU_IS_LOST */
        unsigned max_mig; /* 0: not MIG capable */
        unsigned mig_mode;
        unsigned first_mig, n_mig; /* this GPU's slice of sim_migs[] */
        unsigned persistence;      /* nvmlDeviceGetPersistenceMode: 1 enabled */
        unsigned long long memory_mib;
};

struct sim_mig {
        unsigned gpu; /* index into sim_gpus[] */
        const char *uuid;
        const char *name;
        unsigned gi, ci;
        unsigned gi_cap_minor, ci_cap_minor;
};

/* Generated: SIM_* macros, sim_gpus[SIM_GPU_COUNT + 1], sim_migs[SIM_MIG_COUNT + 1]
 * (one spare element each, so that zero GPUs still makes valid C). */
#include "nctk-sim-data.h"

/* Handles are addresses inside these arrays, so a handle can be validated without dereferencing
 * whatever a caller passes. */
struct nvml_device_opaque {
        unsigned gpu;
        int mig; /* index into sim_migs[], or -1 for a full GPU */
};

/* Loop bounds as variables: with zero GPUs the macros would make "i < 0" comparisons. */
static const unsigned gpu_count = SIM_GPU_COUNT, mig_count = SIM_MIG_COUNT;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned init_count;
static char prefix[PATH_MAX];
static struct nvml_device_opaque gpu_handles[SIM_GPU_COUNT + 1];
static struct nvml_device_opaque mig_handles[SIM_MIG_COUNT + 1];
static unsigned visible[SIM_GPU_COUNT + 1]; /* sim_gpus[] indices, PCI order */
static unsigned n_visible;
static unsigned char gpu_visible[SIM_GPU_COUNT + 1];
static unsigned char mig_visible[SIM_MIG_COUNT + 1];

NVML_API const char nctk_sim_driver_version[] = SIM_DRIVER_VERSION;

/* NCTK_SIM_TRACE=FILE: one line per call, to see what a toolkit asked. */
static void trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void trace(const char *fmt, ...) {
        const char *path = getenv("NCTK_SIM_TRACE");
        if (path == NULL || *path == '\0')
                return;
        FILE *f = fopen(path, "ae");
        if (f == NULL)
                return;
        va_list ap;
        va_start(ap, fmt);
        fprintf(f, "%d ", (int) getpid());
        vfprintf(f, fmt, ap);
        fputc('\n', f);
        va_end(ap);
        fclose(f);
}

static nvml_return_t ret(const char *fn, nvml_return_t r) {
        trace("%s -> %d", fn, r);
        return r;
}

static void find_prefix(void) {
        static const char lib_path[] = SIM_LIB_PATH;
        Dl_info info;
        char real[PATH_MAX];
        const char *self = NULL;

        prefix[0] = '\0';
        if (dladdr((void *) &find_prefix, &info) == 0 || info.dli_fname == NULL)
                return;
        /* The loader reports the name it opened (often the libnvidia-ml.so.1 link); the
         * generator recorded the file the links end at. */
        self = realpath(info.dli_fname, real) != NULL ? real : info.dli_fname;
        size_t n = strlen(self), m = sizeof(lib_path) - 1;
        if (n > m && strcmp(self + n - m, lib_path) == 0 && n - m < sizeof(prefix)) {
                memcpy(prefix, self, n - m);
                prefix[n - m] = '\0';
        }
}

enum node_state { NODE_ABSENT, NODE_DENIED, NODE_OK };

/* Would the driver let us use this node? See the top of the file for why open() is tried. */
static enum node_state check_node(const char *rel, unsigned major_nr, unsigned minor_nr) {
        char path[PATH_MAX + 64];
        struct stat st;

        snprintf(path, sizeof(path), "%s%s", prefix, rel);
        if (stat(path, &st) != 0 || !S_ISCHR(st.st_mode) || major(st.st_rdev) != major_nr ||
            minor(st.st_rdev) != minor_nr)
                return NODE_ABSENT;
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd >= 0) {
                close(fd);
                return NODE_OK;
        }
        return (errno == EPERM || errno == EACCES) ? NODE_DENIED : NODE_OK;
}

static void scan_devices(void) {
        char rel[64];

        n_visible = 0;
        for (unsigned i = 0; i < gpu_count; i++) {
                snprintf(rel, sizeof(rel), "/dev/nvidia%u", sim_gpus[i].minor);
                gpu_visible[i] = check_node(rel, SIM_NVIDIA_MAJOR, sim_gpus[i].minor) == NODE_OK;
                if (gpu_visible[i])
                        visible[n_visible++] = i;
                gpu_handles[i].gpu = i;
                gpu_handles[i].mig = -1;
        }
        for (unsigned i = 0; i < mig_count; i++) {
                const struct sim_mig *m = &sim_migs[i];
                char rel2[64];
                snprintf(rel, sizeof(rel), "/dev/nvidia-caps/nvidia-cap%u", m->gi_cap_minor);
                snprintf(rel2, sizeof(rel2), "/dev/nvidia-caps/nvidia-cap%u", m->ci_cap_minor);
                mig_visible[i] = gpu_visible[m->gpu] &&
                                 sim_gpus[m->gpu].mig_mode == NVML_MIG_ENABLE &&
                                 check_node(rel, SIM_CAPS_MAJOR, m->gi_cap_minor) == NODE_OK &&
                                 check_node(rel2, SIM_CAPS_MAJOR, m->ci_cap_minor) == NODE_OK;
                mig_handles[i].gpu = m->gpu;
                mig_handles[i].mig = (int) i;
        }
}

static nvml_return_t init(const char *fn, unsigned flags) {
        nvml_return_t r = NVML_OK;

        (void) flags; /* NO_ATTACH and NO_GPUS change nothing here: nothing is attached */
        pthread_mutex_lock(&lock);
        if (init_count > 0) {
                init_count++;
                goto out;
        }
        find_prefix();
        switch (check_node("/dev/nvidiactl", SIM_NVIDIA_MAJOR, 255)) {
        case NODE_ABSENT: r = NVML_E_DRIVER_NOT_LOADED; goto out;
        case NODE_DENIED:
                /* The classic "Failed to initialize NVML: Unknown Error" of a container
                 * whose device cgroup lost nvidiactl. */
                r = NVML_E_UNKNOWN;
                goto out;
        case NODE_OK: break;
        }
        if (SIM_INIT_ERROR != NVML_OK) {
                r = SIM_INIT_ERROR;
                goto out;
        }
        scan_devices();
        init_count = 1;
out:
        pthread_mutex_unlock(&lock);
        trace("%s(0x%x) prefix='%s' visible=%u -> %d", fn, flags, prefix, n_visible, r);
        return r;
}

NVML_API nvml_return_t nvmlInit_v2(void) {
        return init(__func__, 0);
}

NVML_API nvml_return_t nvmlInitWithFlags(unsigned flags) {
        return init(__func__, flags);
}

NVML_API nvml_return_t nvmlShutdown(void) {
        nvml_return_t r = NVML_OK;
        pthread_mutex_lock(&lock);
        if (init_count == 0)
                r = NVML_E_UNINITIALIZED;
        else
                init_count--;
        pthread_mutex_unlock(&lock);
        return ret(__func__, r);
}

NVML_API const char *nvmlErrorString(nvml_return_t r) {
        switch (r) {
        case NVML_OK: return "Success";
        case NVML_E_UNINITIALIZED: return "Uninitialized";
        case NVML_E_INVALID_ARGUMENT: return "Invalid Argument";
        case NVML_E_NOT_SUPPORTED: return "Not Supported";
        case NVML_E_NO_PERMISSION: return "Insufficient Permissions";
        case 5: return "Already Initialized";
        case NVML_E_NOT_FOUND: return "Not Found";
        case NVML_E_INSUFFICIENT_SIZE: return "Insufficient Size";
        case 8: return "Insufficient External Power";
        case NVML_E_DRIVER_NOT_LOADED: return "Driver Not Loaded";
        case 10: return "Timeout";
        case 11: return "Interrupt request issue";
        case 12: return "NVML Shared Library Not Found";
        case 13: return "Function Not Found";
        case 14: return "Corrupted infoROM";
        case NVML_E_GPU_IS_LOST: return "GPU is lost";
        case 16: return "GPU requires restart";
        case 17: return "Driver or OS disallows operation";
        case NVML_E_LIB_RM_VERSION_MISMATCH: return "RM has detected an NVML/RM version mismatch.";
        default: return "Unknown Error";
        }
}

static int initialized(void) {
        pthread_mutex_lock(&lock);
        int ok = init_count > 0;
        pthread_mutex_unlock(&lock);
        return ok;
}

static nvml_return_t copy_string(const char *s, char *buf, unsigned len) {
        if (buf == NULL)
                return NVML_E_INVALID_ARGUMENT;
        if (strlen(s) + 1 > len)
                return NVML_E_INSUFFICIENT_SIZE;
        memcpy(buf, s, strlen(s) + 1);
        return NVML_OK;
}

NVML_API nvml_return_t nvmlSystemGetDriverVersion(char *buf, unsigned len) {
        if (!initialized())
                return ret(__func__, NVML_E_UNINITIALIZED);
        return ret(__func__, copy_string(SIM_DRIVER_VERSION, buf, len));
}

static nvml_return_t cuda_version(const char *fn, int *v) {
        if (!initialized())
                return ret(fn, NVML_E_UNINITIALIZED);
        if (v == NULL)
                return ret(fn, NVML_E_INVALID_ARGUMENT);
        *v = SIM_CUDA_VERSION;
        return ret(fn, NVML_OK);
}

NVML_API nvml_return_t nvmlSystemGetCudaDriverVersion(int *v) {
        return cuda_version(__func__, v);
}

NVML_API nvml_return_t nvmlSystemGetCudaDriverVersion_v2(int *v) {
        return cuda_version(__func__, v);
}

NVML_API nvml_return_t nvmlDeviceGetCount_v2(unsigned *count) {
        if (!initialized())
                return ret(__func__, NVML_E_UNINITIALIZED);
        if (count == NULL)
                return ret(__func__, NVML_E_INVALID_ARGUMENT);
        *count = n_visible;
        return ret(__func__, NVML_OK);
}

NVML_API nvml_return_t nvmlDeviceGetHandleByIndex_v2(unsigned index, nvml_device_t *dev) {
        if (!initialized())
                return ret(__func__, NVML_E_UNINITIALIZED);
        if (dev == NULL || index >= n_visible)
                return ret(__func__, NVML_E_INVALID_ARGUMENT);
        unsigned g = visible[index];
        if (sim_gpus[g].lost)
                return ret(__func__, NVML_E_GPU_IS_LOST);
        *dev = &gpu_handles[g];
        trace("%s(%u) = %s", __func__, index, sim_gpus[g].bus_id);
        return ret(__func__, NVML_OK);
}

/* Resolve a caller's handle: NULL unless it is one we gave out for a device still visible. */
static const struct nvml_device_opaque *lookup(nvml_device_t dev) {
        uintptr_t p = (uintptr_t) dev;
        uintptr_t g0 = (uintptr_t) gpu_handles, m0 = (uintptr_t) mig_handles;
        size_t sz = sizeof(struct nvml_device_opaque);

        if (!initialized() || dev == NULL)
                return NULL;
        if (p >= g0 && p < g0 + gpu_count * sz && (p - g0) % sz == 0) {
                unsigned g = (unsigned) ((p - g0) / sz);
                return gpu_visible[g] && !sim_gpus[g].lost ? &gpu_handles[g] : NULL;
        }
        if (p >= m0 && p < m0 + mig_count * sz && (p - m0) % sz == 0) {
                unsigned m = (unsigned) ((p - m0) / sz);
                return mig_visible[m] ? &mig_handles[m] : NULL;
        }
        return NULL;
}

/* Every device query starts the same way. */
#define DEVICE_PROLOGUE(dev, h)                                                                    \
        if (!initialized())                                                                        \
                return ret(__func__, NVML_E_UNINITIALIZED);                                        \
        const struct nvml_device_opaque *h = lookup(dev);                                          \
        if (h == NULL)                                                                             \
                return ret(__func__, NVML_E_INVALID_ARGUMENT);                                     \
        const struct sim_gpu *gpu = &sim_gpus[h->gpu];                                             \
        (void) gpu

NVML_API nvml_return_t nvmlDeviceGetUUID(nvml_device_t dev, char *buf, unsigned len) {
        DEVICE_PROLOGUE(dev, h);
        return ret(__func__,
                   copy_string(h->mig >= 0 ? sim_migs[h->mig].uuid : gpu->uuid, buf, len));
}

NVML_API nvml_return_t nvmlDeviceGetName(nvml_device_t dev, char *buf, unsigned len) {
        DEVICE_PROLOGUE(dev, h);
        return ret(__func__,
                   copy_string(h->mig >= 0 ? sim_migs[h->mig].name : gpu->name, buf, len));
}

/* A MIG device answers with its parent's PCI identity, as the real library does. */
NVML_API nvml_return_t nvmlDeviceGetPciInfo_v3(nvml_device_t dev, struct nvml_pci_info *pci) {
        DEVICE_PROLOGUE(dev, h);
        if (pci == NULL)
                return ret(__func__, NVML_E_INVALID_ARGUMENT);
        memset(pci, 0, sizeof(*pci));
        snprintf(pci->bus_id_legacy, sizeof(pci->bus_id_legacy), "%s", gpu->bus_id_legacy);
        snprintf(pci->bus_id, sizeof(pci->bus_id), "%s", gpu->bus_id);
        pci->domain = gpu->domain;
        pci->bus = gpu->bus;
        pci->device = gpu->device;
        pci->pci_device_id = gpu->pci_device_id;
        pci->pci_subsystem_id = gpu->pci_subsystem_id;
        return ret(__func__, NVML_OK);
}

NVML_API nvml_return_t nvmlDeviceGetBrand(nvml_device_t dev, unsigned *brand) {
        DEVICE_PROLOGUE(dev, h);
        if (brand == NULL)
                return ret(__func__, NVML_E_INVALID_ARGUMENT);
        *brand = gpu->brand;
        return ret(__func__, NVML_OK);
}

NVML_API nvml_return_t nvmlDeviceGetArchitecture(nvml_device_t dev, unsigned *arch) {
        DEVICE_PROLOGUE(dev, h);
        if (arch == NULL)
                return ret(__func__, NVML_E_INVALID_ARGUMENT);
        *arch = gpu->arch;
        return ret(__func__, NVML_OK);
}

NVML_API nvml_return_t nvmlDeviceGetCudaComputeCapability(nvml_device_t dev, int *major_nr,
                                                          int *minor_nr) {
        DEVICE_PROLOGUE(dev, h);
        if (major_nr == NULL || minor_nr == NULL)
                return ret(__func__, NVML_E_INVALID_ARGUMENT);
        *major_nr = gpu->cc_major;
        *minor_nr = gpu->cc_minor;
        return ret(__func__, NVML_OK);
}

/* The minor belongs to the full GPU; a MIG device is reached through nvidia-caps instead. */
NVML_API nvml_return_t nvmlDeviceGetMinorNumber(nvml_device_t dev, unsigned *minor_nr) {
        DEVICE_PROLOGUE(dev, h);
        if (minor_nr == NULL)
                return ret(__func__, NVML_E_INVALID_ARGUMENT);
        if (h->mig >= 0)
                return ret(__func__, NVML_E_NOT_SUPPORTED);
        *minor_nr = gpu->minor;
        return ret(__func__, NVML_OK);
}

NVML_API nvml_return_t nvmlDeviceGetMigMode(nvml_device_t dev, unsigned *current,
                                            unsigned *pending) {
        DEVICE_PROLOGUE(dev, h);
        if (current == NULL || pending == NULL)
                return ret(__func__, NVML_E_INVALID_ARGUMENT);
        if (h->mig >= 0 || gpu->max_mig == 0)
                return ret(__func__, NVML_E_NOT_SUPPORTED);
        *current = *pending = gpu->mig_mode;
        return ret(__func__, NVML_OK);
}

NVML_API nvml_return_t nvmlDeviceGetPersistenceMode(nvml_device_t dev, unsigned *mode) {
        DEVICE_PROLOGUE(dev, h);
        if (mode == NULL)
                return ret(__func__, NVML_E_INVALID_ARGUMENT);
        if (h->mig >= 0)
                return ret(__func__, NVML_E_NOT_SUPPORTED);
        *mode = gpu->persistence;
        return ret(__func__, NVML_OK);
}

NVML_API nvml_return_t nvmlDeviceGetMaxMigDeviceCount(nvml_device_t dev, unsigned *count) {
        DEVICE_PROLOGUE(dev, h);
        if (count == NULL)
                return ret(__func__, NVML_E_INVALID_ARGUMENT);
        if (h->mig >= 0 || gpu->max_mig == 0)
                return ret(__func__, NVML_E_NOT_SUPPORTED);
        *count = gpu->max_mig;
        return ret(__func__, NVML_OK);
}

/* MIG indices are renumbered over the MIG devices this process can reach, as GPU indices are. */
NVML_API nvml_return_t nvmlDeviceGetMigDeviceHandleByIndex(nvml_device_t dev, unsigned index,
                                                           nvml_device_t *mig) {
        DEVICE_PROLOGUE(dev, h);
        if (mig == NULL || h->mig >= 0)
                return ret(__func__, NVML_E_INVALID_ARGUMENT);
        if (gpu->max_mig == 0)
                return ret(__func__, NVML_E_NOT_SUPPORTED);
        if (index >= gpu->max_mig)
                return ret(__func__, NVML_E_INVALID_ARGUMENT);
        unsigned seen = 0;
        for (unsigned i = gpu->first_mig; i < gpu->first_mig + gpu->n_mig; i++) {
                if (!mig_visible[i])
                        continue;
                if (seen++ == index) {
                        *mig = &mig_handles[i];
                        return ret(__func__, NVML_OK);
                }
        }
        return ret(__func__, NVML_E_NOT_FOUND);
}

NVML_API nvml_return_t nvmlDeviceGetGpuInstanceId(nvml_device_t dev, unsigned *id) {
        DEVICE_PROLOGUE(dev, h);
        if (id == NULL)
                return ret(__func__, NVML_E_INVALID_ARGUMENT);
        if (h->mig < 0)
                return ret(__func__, NVML_E_NOT_SUPPORTED);
        *id = sim_migs[h->mig].gi;
        return ret(__func__, NVML_OK);
}

NVML_API nvml_return_t nvmlDeviceGetComputeInstanceId(nvml_device_t dev, unsigned *id) {
        DEVICE_PROLOGUE(dev, h);
        if (id == NULL)
                return ret(__func__, NVML_E_INVALID_ARGUMENT);
        if (h->mig < 0)
                return ret(__func__, NVML_E_NOT_SUPPORTED);
        *id = sim_migs[h->mig].ci;
        return ret(__func__, NVML_OK);
}

NVML_API nvml_return_t nvmlDeviceGetDeviceHandleFromMigDeviceHandle(nvml_device_t mig,
                                                                    nvml_device_t *dev) {
        DEVICE_PROLOGUE(mig, h);
        if (dev == NULL || h->mig < 0)
                return ret(__func__, NVML_E_INVALID_ARGUMENT);
        *dev = &gpu_handles[h->gpu];
        return ret(__func__, NVML_OK);
}

NVML_API nvml_return_t nvmlDeviceIsMigDeviceHandle(nvml_device_t dev, unsigned *is_mig) {
        DEVICE_PROLOGUE(dev, h);
        if (is_mig == NULL)
                return ret(__func__, NVML_E_INVALID_ARGUMENT);
        *is_mig = h->mig >= 0;
        return ret(__func__, NVML_OK);
}

NVML_API nvml_return_t nvmlDeviceGetMemoryInfo(nvml_device_t dev, struct nvml_memory *mem) {
        DEVICE_PROLOGUE(dev, h);
        if (mem == NULL)
                return ret(__func__, NVML_E_INVALID_ARGUMENT);
        /* Nothing runs on a simulated GPU, beyond what the driver reserves. */
        mem->total = gpu->memory_mib << 20;
        mem->used = (unsigned long long) 520 << 20;
        mem->free = mem->total - mem->used;
        return ret(__func__, NVML_OK);
}

/* The compute mode outlives the process, as on a real GPU: it lives in a file of the root
 * (<prefix>/var/lib/nctk-sim/compute-mode/<uuid>), so that `nvidia-smi -c` in one process is seen
 * by the next. No file: DEFAULT, the driver's mode after boot. */
static void compute_mode_path(const struct sim_gpu *gpu, char *buf, size_t len) {
        snprintf(buf, len, "%s/var/lib/nctk-sim/compute-mode/%s", prefix, gpu->uuid);
}

NVML_API nvml_return_t nvmlDeviceGetComputeMode(nvml_device_t dev, unsigned *mode) {
        char path[PATH_MAX + 128];
        DEVICE_PROLOGUE(dev, h);
        if (mode == NULL)
                return ret(__func__, NVML_E_INVALID_ARGUMENT);
        *mode = NVML_COMPUTEMODE_DEFAULT;
        compute_mode_path(gpu, path, sizeof(path));
        FILE *f = fopen(path, "re");
        if (f != NULL) {
                unsigned m;
                if (fscanf(f, "%u", &m) == 1 && m <= NVML_COMPUTEMODE_EXCLUSIVE_PROCESS)
                        *mode = m;
                fclose(f);
        }
        return ret(__func__, NVML_OK);
}

static int mkdir_p(char *path) {
        for (char *p = strchr(path + 1, '/'); p != NULL; p = strchr(p + 1, '/')) {
                *p = '\0';
                int r = mkdir(path, 0755);
                *p = '/';
                if (r != 0 && errno != EEXIST)
                        return -1;
        }
        return 0;
}

/* Root only, as with the real driver; a MIG device has no compute mode of its own. */
NVML_API nvml_return_t nvmlDeviceSetComputeMode(nvml_device_t dev, unsigned mode) {
        char path[PATH_MAX + 128], tmp[PATH_MAX + 160];
        DEVICE_PROLOGUE(dev, h);
        if (h->mig >= 0)
                return ret(__func__, NVML_E_NOT_SUPPORTED);
        if (mode > NVML_COMPUTEMODE_EXCLUSIVE_PROCESS)
                return ret(__func__, NVML_E_INVALID_ARGUMENT);
        if (mode == NVML_COMPUTEMODE_EXCLUSIVE_THREAD)
                return ret(__func__, NVML_E_NOT_SUPPORTED);
        if (geteuid() != 0)
                return ret(__func__, NVML_E_NO_PERMISSION);
        compute_mode_path(gpu, path, sizeof(path));
        snprintf(tmp, sizeof(tmp), "%s.%d", path, (int) getpid());
        if (mkdir_p(tmp) != 0)
                return ret(__func__, NVML_E_UNKNOWN);
        FILE *f = fopen(tmp, "we");
        if (f == NULL)
                return ret(__func__, NVML_E_UNKNOWN);
        fprintf(f, "%u\n", mode);
        if (fclose(f) != 0 || rename(tmp, path) != 0) {
                unlink(tmp);
                return ret(__func__, NVML_E_UNKNOWN);
        }
        trace("%s(%s, %u)", __func__, gpu->uuid, mode);
        return ret(__func__, NVML_OK);
}

/* The compiler checks each entry point against the type nctk will call it through. */
__attribute__((unused)) static const struct {
        nvml_init_v2_fn init_v2;
        nvml_init_with_flags_fn init_with_flags;
        nvml_shutdown_fn shutdown;
        nvml_error_string_fn error_string;
        nvml_sys_driver_version_fn driver_version;
        nvml_sys_cuda_version_fn cuda_version, cuda_version_v2;
        nvml_dev_count_fn count;
        nvml_dev_by_index_fn by_index;
        nvml_dev_string_fn uuid, name;
        nvml_dev_pci_fn pci;
        nvml_dev_uint_fn brand, arch, minor, max_mig, gi, ci, is_mig, persistence;
        nvml_dev_cc_fn cc;
        nvml_dev_mig_mode_fn mig_mode;
        nvml_dev_mig_by_index_fn mig_by_index;
        nvml_dev_memory_fn memory;
        nvml_dev_uint_fn get_compute_mode;
        nvml_dev_set_uint_fn set_compute_mode;
} signature_check = {
        nvmlInit_v2,
        nvmlInitWithFlags,
        nvmlShutdown,
        nvmlErrorString,
        nvmlSystemGetDriverVersion,
        nvmlSystemGetCudaDriverVersion,
        nvmlSystemGetCudaDriverVersion_v2,
        nvmlDeviceGetCount_v2,
        nvmlDeviceGetHandleByIndex_v2,
        nvmlDeviceGetUUID,
        nvmlDeviceGetName,
        nvmlDeviceGetPciInfo_v3,
        nvmlDeviceGetBrand,
        nvmlDeviceGetArchitecture,
        nvmlDeviceGetMinorNumber,
        nvmlDeviceGetMaxMigDeviceCount,
        nvmlDeviceGetGpuInstanceId,
        nvmlDeviceGetComputeInstanceId,
        nvmlDeviceIsMigDeviceHandle,
        nvmlDeviceGetPersistenceMode,
        nvmlDeviceGetCudaComputeCapability,
        nvmlDeviceGetMigMode,
        nvmlDeviceGetMigDeviceHandleByIndex,
        nvmlDeviceGetMemoryInfo,
        nvmlDeviceGetComputeMode,
        nvmlDeviceSetComputeMode,
};
