/* The part of the NVML ABI that nctk uses, declared in the project's own words: the return codes,
 * the handle and struct layouts, and the signatures of the entry points we look up with dlsym.
 * The simulated driver's fake libnvidia-ml.so.1 implements exactly these. */
#ifndef NCTK_DISCOVER_NVML_TYPES_H
#define NCTK_DISCOVER_NVML_TYPES_H

typedef int nvml_return_t;

enum {
        NVML_OK = 0,
        NVML_E_UNINITIALIZED = 1,
        NVML_E_INVALID_ARGUMENT = 2,
        NVML_E_NOT_SUPPORTED = 3,
        NVML_E_NO_PERMISSION = 4,
        NVML_E_NOT_FOUND = 6,
        NVML_E_INSUFFICIENT_SIZE = 7,
        NVML_E_DRIVER_NOT_LOADED = 9,
        NVML_E_GPU_IS_LOST = 15,
        NVML_E_LIB_RM_VERSION_MISMATCH = 18,
        NVML_E_UNKNOWN = 999,
};

/* nvmlInitWithFlags: skip attaching to the GPUs. Not usable for discovery: on the H200 (driver
 * 580) NVML then counts no GPUs at all. */
#define NVML_INIT_NO_ATTACH 2u

/* Opaque device handle. */
typedef struct nvml_device_opaque *nvml_device_t;

#define NVML_BUSID_LEGACY_SIZE 16
#define NVML_BUSID_SIZE 32

/* nvmlPciInfo_t, as filled by nvmlDeviceGetPciInfo_v3. */
struct nvml_pci_info {
        char bus_id_legacy[NVML_BUSID_LEGACY_SIZE];
        unsigned domain;
        unsigned bus;
        unsigned device;
        unsigned pci_device_id;
        unsigned pci_subsystem_id;
        char bus_id[NVML_BUSID_SIZE];
};

/* nvmlBrandType_t values. */
enum {
        NVML_BRAND_UNKNOWN = 0,
        NVML_BRAND_QUADRO = 1,
        NVML_BRAND_TESLA = 2,
        NVML_BRAND_NVS = 3,
        NVML_BRAND_GRID = 4,
        NVML_BRAND_GEFORCE = 5,
        NVML_BRAND_TITAN = 6,
        NVML_BRAND_VAPPS = 7,
        NVML_BRAND_VPC = 8,
        NVML_BRAND_VCS = 9,
        NVML_BRAND_VWS = 10,
        NVML_BRAND_CLOUD_GAMING = 11,
        NVML_BRAND_QUADRO_RTX = 12,
        NVML_BRAND_NVIDIA_RTX = 13,
        NVML_BRAND_NVIDIA = 14,
        NVML_BRAND_GEFORCE_RTX = 15,
        NVML_BRAND_TITAN_RTX = 16,
};

/* nvmlDeviceArchitecture_t values. */
enum {
        NVML_ARCH_KEPLER = 2,
        NVML_ARCH_MAXWELL = 3,
        NVML_ARCH_PASCAL = 4,
        NVML_ARCH_VOLTA = 5,
        NVML_ARCH_TURING = 6,
        NVML_ARCH_AMPERE = 7,
        NVML_ARCH_ADA = 8,
        NVML_ARCH_HOPPER = 9,
        NVML_ARCH_BLACKWELL = 10,
};

#define NVML_MIG_DISABLE 0u
#define NVML_MIG_ENABLE 1u

/* nvmlComputeMode_t values. */
enum {
        NVML_COMPUTEMODE_DEFAULT = 0,
        NVML_COMPUTEMODE_EXCLUSIVE_THREAD = 1, /* no longer supported by the driver */
        NVML_COMPUTEMODE_PROHIBITED = 2,
        NVML_COMPUTEMODE_EXCLUSIVE_PROCESS = 3,
};

/* nvmlMemory_t, as filled by nvmlDeviceGetMemoryInfo: bytes. */
struct nvml_memory {
        unsigned long long total;
        unsigned long long free;
        unsigned long long used;
};

/* Entry points, by the names the library exports. */
typedef nvml_return_t (*nvml_init_v2_fn)(void);             /* nvmlInit_v2 */
typedef nvml_return_t (*nvml_init_with_flags_fn)(unsigned); /* nvmlInitWithFlags */
typedef nvml_return_t (*nvml_shutdown_fn)(void);            /* nvmlShutdown */
typedef const char *(*nvml_error_string_fn)(nvml_return_t); /* nvmlErrorString */
typedef nvml_return_t (*nvml_sys_driver_version_fn)(char *,
                                                    unsigned); /* nvmlSystemGetDriverVersion */
typedef nvml_return_t (*nvml_sys_cuda_version_fn)(int *); /* nvmlSystemGetCudaDriverVersion(_v2) */
typedef nvml_return_t (*nvml_dev_count_fn)(unsigned *);   /* nvmlDeviceGetCount_v2 */
typedef nvml_return_t (*nvml_dev_by_index_fn)(unsigned, nvml_device_t *); /* ..HandleByIndex_v2 */
typedef nvml_return_t (*nvml_dev_string_fn)(nvml_device_t, char *, unsigned); /* GetUUID, GetName */
typedef nvml_return_t (*nvml_dev_pci_fn)(nvml_device_t, struct nvml_pci_info *); /* GetPciInfo_v3 */
typedef nvml_return_t (*nvml_dev_uint_fn)(nvml_device_t, unsigned *);
/* ^ GetBrand, GetArchitecture, GetMinorNumber, GetMaxMigDeviceCount, GetGpuInstanceId,
 *   GetComputeInstanceId, IsMigDeviceHandle, GetPersistenceMode (an nvmlEnableState_t) */
typedef nvml_return_t (*nvml_dev_cc_fn)(nvml_device_t, int *, int *); /* GetCudaComputeCapability */
typedef nvml_return_t (*nvml_dev_mig_mode_fn)(nvml_device_t, unsigned *,
                                              unsigned *); /* GetMigMode */
typedef nvml_return_t (*nvml_dev_mig_by_index_fn)(nvml_device_t, unsigned, nvml_device_t *);
/* ^ GetMigDeviceHandleByIndex */
typedef nvml_return_t (*nvml_dev_memory_fn)(nvml_device_t,
                                            struct nvml_memory *);      /* GetMemoryInfo */
typedef nvml_return_t (*nvml_dev_set_uint_fn)(nvml_device_t, unsigned); /* SetComputeMode */
/* GetComputeMode is an nvml_dev_uint_fn. */

#endif
