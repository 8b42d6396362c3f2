/* nvml-probe LIBRARY: load an NVML library by path, check the API contract nctk relies on, and
 * print what it reports in a line format that test-sim.sh compares with `nctk-sim describe`.
 *
 *   init <rc>                           always; the rest only when rc is 0
 *   driver <version>
 *   cuda <int>
 *   count <n>
 *   gpu <index> <rc> <uuid> <busid> <minor> <brand> <arch> <cc> <mig-mode|na> <max-mig> <name>
 *   mig <gpu-index> <mig-index> <uuid> <gi> <ci> <name>
 *
 * A broken contract prints "FAIL: ..." on stderr and the exit status is 1. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "1-discover/nvml-types.h"

typedef nvml_return_t (*parent_fn)(nvml_device_t, nvml_device_t *);

static struct {
        nvml_init_v2_fn init;
        nvml_init_with_flags_fn init_flags;
        nvml_shutdown_fn shutdown;
        nvml_error_string_fn error_string;
        nvml_sys_driver_version_fn driver_version;
        nvml_sys_cuda_version_fn cuda_version, cuda_version_v2;
        nvml_dev_count_fn count;
        nvml_dev_by_index_fn by_index;
        nvml_dev_string_fn uuid, name;
        nvml_dev_pci_fn pci;
        nvml_dev_uint_fn brand, arch, minor, max_mig, gi, ci, is_mig;
        nvml_dev_cc_fn cc;
        nvml_dev_mig_mode_fn mig_mode;
        nvml_dev_mig_by_index_fn mig_by_index;
        parent_fn parent;
} nv;

static int failures;

#define EXPECT(call, want)                                                                         \
        do {                                                                                       \
                nvml_return_t got_ = (call);                                                       \
                if (got_ != (want)) {                                                              \
                        fprintf(stderr, "FAIL: %s = %d, want %d (line %d)\n", #call, got_, (want), \
                                __LINE__);                                                         \
                        failures++;                                                                \
                }                                                                                  \
        } while (0)

static void *sym(void *lib, const char *name) {
        void *p = dlsym(lib, name);
        if (p == NULL) {
                fprintf(stderr, "FAIL: missing symbol %s\n", name);
                exit(1);
        }
        return p;
}

static void load(const char *path) {
        void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (lib == NULL) {
                fprintf(stderr, "FAIL: dlopen %s: %s\n", path, dlerror());
                exit(1);
        }
        *(void **) &nv.init = sym(lib, "nvmlInit_v2");
        *(void **) &nv.init_flags = sym(lib, "nvmlInitWithFlags");
        *(void **) &nv.shutdown = sym(lib, "nvmlShutdown");
        *(void **) &nv.error_string = sym(lib, "nvmlErrorString");
        *(void **) &nv.driver_version = sym(lib, "nvmlSystemGetDriverVersion");
        *(void **) &nv.cuda_version = sym(lib, "nvmlSystemGetCudaDriverVersion");
        *(void **) &nv.cuda_version_v2 = sym(lib, "nvmlSystemGetCudaDriverVersion_v2");
        *(void **) &nv.count = sym(lib, "nvmlDeviceGetCount_v2");
        *(void **) &nv.by_index = sym(lib, "nvmlDeviceGetHandleByIndex_v2");
        *(void **) &nv.uuid = sym(lib, "nvmlDeviceGetUUID");
        *(void **) &nv.name = sym(lib, "nvmlDeviceGetName");
        *(void **) &nv.pci = sym(lib, "nvmlDeviceGetPciInfo_v3");
        *(void **) &nv.brand = sym(lib, "nvmlDeviceGetBrand");
        *(void **) &nv.arch = sym(lib, "nvmlDeviceGetArchitecture");
        *(void **) &nv.minor = sym(lib, "nvmlDeviceGetMinorNumber");
        *(void **) &nv.max_mig = sym(lib, "nvmlDeviceGetMaxMigDeviceCount");
        *(void **) &nv.gi = sym(lib, "nvmlDeviceGetGpuInstanceId");
        *(void **) &nv.ci = sym(lib, "nvmlDeviceGetComputeInstanceId");
        *(void **) &nv.is_mig = sym(lib, "nvmlDeviceIsMigDeviceHandle");
        *(void **) &nv.cc = sym(lib, "nvmlDeviceGetCudaComputeCapability");
        *(void **) &nv.mig_mode = sym(lib, "nvmlDeviceGetMigMode");
        *(void **) &nv.mig_by_index = sym(lib, "nvmlDeviceGetMigDeviceHandleByIndex");
        *(void **) &nv.parent = sym(lib, "nvmlDeviceGetDeviceHandleFromMigDeviceHandle");
}

static void probe_mig(unsigned gpu_index, nvml_device_t gpu, unsigned max) {
        for (unsigned j = 0; j < max; j++) {
                nvml_device_t mig, parent;
                char uuid[96], name[96];
                unsigned gi = 0, ci = 0, is_mig = 0, u;
                nvml_return_t r = nv.mig_by_index(gpu, j, &mig);
                if (r == NVML_E_NOT_FOUND)
                        continue;
                EXPECT(r, NVML_OK);
                if (r != NVML_OK)
                        continue;
                EXPECT(nv.uuid(mig, uuid, sizeof(uuid)), NVML_OK);
                EXPECT(nv.name(mig, name, sizeof(name)), NVML_OK);
                EXPECT(nv.gi(mig, &gi), NVML_OK);
                EXPECT(nv.ci(mig, &ci), NVML_OK);
                EXPECT(nv.is_mig(mig, &is_mig), NVML_OK);
                if (!is_mig) {
                        fprintf(stderr, "FAIL: MIG handle not reported as MIG\n");
                        failures++;
                }
                EXPECT(nv.parent(mig, &parent), NVML_OK);
                if (parent != gpu) {
                        fprintf(stderr, "FAIL: MIG parent is not the GPU handle\n");
                        failures++;
                }
                EXPECT(nv.minor(mig, &u), NVML_E_NOT_SUPPORTED);
                EXPECT(nv.mig_by_index(mig, 0, &parent), NVML_E_INVALID_ARGUMENT);
                EXPECT(nv.max_mig(mig, &u), NVML_E_NOT_SUPPORTED);
                printf("mig %u %u %s %u %u %s\n", gpu_index, j, uuid, gi, ci, name);
        }
        nvml_device_t m;
        EXPECT(nv.mig_by_index(gpu, max, &m), NVML_E_INVALID_ARGUMENT);
}

static void probe_gpu(unsigned i) {
        nvml_device_t dev;
        nvml_return_t r = nv.by_index(i, &dev);
        if (r != NVML_OK) {
                printf("gpu %u %d\n", i, r);
                return;
        }
        char uuid[96], name[96], small[4];
        struct nvml_pci_info pci;
        unsigned brand = 0, arch = 0, minor = 0, cur = 0, pend = 0, max = 0, is_mig = 1, u;
        int ccmaj = 0, ccmin = 0;
        nvml_device_t other;

        EXPECT(nv.uuid(dev, uuid, sizeof(uuid)), NVML_OK);
        EXPECT(nv.uuid(dev, small, sizeof(small)), NVML_E_INSUFFICIENT_SIZE);
        EXPECT(nv.uuid(dev, NULL, 96), NVML_E_INVALID_ARGUMENT);
        EXPECT(nv.name(dev, name, sizeof(name)), NVML_OK);
        EXPECT(nv.name(dev, small, sizeof(small)), NVML_E_INSUFFICIENT_SIZE);
        EXPECT(nv.pci(dev, &pci), NVML_OK);
        EXPECT(nv.pci(dev, NULL), NVML_E_INVALID_ARGUMENT);
        EXPECT(nv.brand(dev, &brand), NVML_OK);
        EXPECT(nv.arch(dev, &arch), NVML_OK);
        EXPECT(nv.minor(dev, &minor), NVML_OK);
        EXPECT(nv.cc(dev, &ccmaj, &ccmin), NVML_OK);
        EXPECT(nv.is_mig(dev, &is_mig), NVML_OK);
        if (is_mig) {
                fprintf(stderr, "FAIL: GPU handle reported as MIG\n");
                failures++;
        }
        EXPECT(nv.gi(dev, &u), NVML_E_NOT_SUPPORTED);
        EXPECT(nv.ci(dev, &u), NVML_E_NOT_SUPPORTED);
        EXPECT(nv.parent(dev, &other), NVML_E_INVALID_ARGUMENT);
        int capable = nv.mig_mode(dev, &cur, &pend) == NVML_OK;
        if (capable)
                EXPECT(nv.max_mig(dev, &max), NVML_OK);
        char mode[8];
        snprintf(mode, sizeof(mode), "%s", !capable ? "na" : cur == NVML_MIG_ENABLE ? "1" : "0");
        printf("gpu %u 0 %s %s %u %u %u %d.%d %s %u %s\n", i, uuid, pci.bus_id, minor, brand, arch,
               ccmaj, ccmin, mode, max, name);
        if (capable)
                probe_mig(i, dev, max);
}

int main(int argc, char **argv) {
        if (argc != 2) {
                fprintf(stderr, "usage: nvml-probe LIBRARY\n");
                return 2;
        }
        load(argv[1]);

        unsigned count = 0;
        char buf[80];
        int v = 0;
        nvml_device_t dev;
        EXPECT(nv.count(&count), NVML_E_UNINITIALIZED);
        EXPECT(nv.driver_version(buf, sizeof(buf)), NVML_E_UNINITIALIZED);
        EXPECT(nv.by_index(0, &dev), NVML_E_UNINITIALIZED);
        EXPECT(nv.shutdown(), NVML_E_UNINITIALIZED);
        if (strcmp(nv.error_string(NVML_E_GPU_IS_LOST), "GPU is lost") != 0) {
                fprintf(stderr, "FAIL: nvmlErrorString(15)\n");
                failures++;
        }

        nvml_return_t r = nv.init_flags(NVML_INIT_NO_ATTACH);
        printf("init %d\n", r);
        if (r != NVML_OK)
                return failures ? 1 : 0;
        EXPECT(nv.init(), NVML_OK); /* nested: reference counted */
        EXPECT(nv.shutdown(), NVML_OK);

        EXPECT(nv.driver_version(buf, sizeof(buf)), NVML_OK);
        printf("driver %s\n", buf);
        EXPECT(nv.driver_version(buf, 3), NVML_E_INSUFFICIENT_SIZE);
        EXPECT(nv.driver_version(NULL, 80), NVML_E_INVALID_ARGUMENT);
        EXPECT(nv.cuda_version_v2(&v), NVML_OK);
        printf("cuda %d\n", v);
        EXPECT(nv.cuda_version(&v), NVML_OK);
        EXPECT(nv.cuda_version(NULL), NVML_E_INVALID_ARGUMENT);
        EXPECT(nv.count(&count), NVML_OK);
        EXPECT(nv.count(NULL), NVML_E_INVALID_ARGUMENT);
        printf("count %u\n", count);
        EXPECT(nv.by_index(count, &dev), NVML_E_INVALID_ARGUMENT);
        EXPECT(nv.by_index(0, NULL), NVML_E_INVALID_ARGUMENT);
        /* Handles that were never given out are refused, not dereferenced. */
        EXPECT(nv.uuid(NULL, buf, sizeof(buf)), NVML_E_INVALID_ARGUMENT);
        EXPECT(nv.uuid((nvml_device_t) (void *) &count, buf, sizeof(buf)), NVML_E_INVALID_ARGUMENT);
        for (unsigned i = 0; i < count; i++)
                probe_gpu(i);

        EXPECT(nv.shutdown(), NVML_OK);
        EXPECT(nv.shutdown(), NVML_E_UNINITIALIZED);
        EXPECT(nv.count(&count), NVML_E_UNINITIALIZED);
        return failures ? 1 : 0;
}
