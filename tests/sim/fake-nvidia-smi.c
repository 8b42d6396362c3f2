/* Fake nvidia-smi for the simulated driver.
 *
 * Like the real one it is a dynamically linked program that dlopen()s "libnvidia-ml.so.1" by
 * SONAME, so whether it works inside a container says whether the ld.so cache, the library mounts
 * and the device nodes there are right. It prints the few outputs tests look at in the real
 * formats (-L, a subset of -q, --query-gpu ... --format=csv) and exits with the real codes. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "1-discover/nvml-types.h"

#define MAX_MIG 16

static struct {
        nvml_init_v2_fn init;
        nvml_shutdown_fn shutdown;
        nvml_error_string_fn error_string;
        nvml_sys_driver_version_fn driver_version;
        nvml_sys_cuda_version_fn cuda_version;
        nvml_dev_count_fn count;
        nvml_dev_by_index_fn by_index;
        nvml_dev_string_fn uuid, name;
        nvml_dev_pci_fn pci;
        nvml_dev_uint_fn brand, arch, minor, max_mig;
        nvml_dev_cc_fn cc;
        nvml_dev_mig_mode_fn mig_mode;
        nvml_dev_mig_by_index_fn mig_by_index;
        nvml_dev_memory_fn memory;
        nvml_dev_uint_fn compute_mode;
        nvml_dev_set_uint_fn set_compute_mode;
} nvml;

struct mig_info {
        char uuid[96];
        char name[96];
};

struct gpu_info {
        nvml_return_t rc; /* of nvmlDeviceGetHandleByIndex_v2 */
        char name[96];
        char uuid[96];
        struct nvml_pci_info pci;
        unsigned brand, arch, minor;
        int cc_major, cc_minor;
        int mig_capable;
        unsigned compute_mode;
        unsigned long long memory_total; /* bytes */
        unsigned mig_current, mig_pending;
        unsigned n_mig;
        struct mig_info mig[MAX_MIG];
};

static char driver_version[80];
static char cuda_version[16];
static const char *selected; /* -i: indices, UUIDs or bus ids, comma-separated; NULL: all */
static int no_units;         /* --format=csv,nounits */

static const char *const compute_mode_names[] = {"DEFAULT", "EXCLUSIVE_THREAD", "PROHIBITED",
                                                 "EXCLUSIVE_PROCESS"};
/* How -q and --query-gpu=compute_mode spell them. */
static const char *const compute_mode_labels[] = {"Default", "Exclusive_Thread", "Prohibited",
                                                  "Exclusive_Process"};

/* nvidia-smi exits with the NVML code that stopped it; codes that do not fit become 255. */
static int exit_code(nvml_return_t r) {
        return r > 0 && r < 255 ? r : 255;
}

static const char *brand_name(unsigned b) {
        static const char *const names[] = {
                "Unknown",
                "Quadro",
                "Tesla",
                "NVS",
                "Grid",
                "GeForce",
                "Titan",
                "NVIDIA Virtual Applications",
                "NVIDIA Virtual PC",
                "NVIDIA Virtual Compute Server",
                "NVIDIA RTX Virtual Workstation",
                "NVIDIA Cloud Gaming",
                "Quadro RTX",
                "NVIDIA RTX",
                "NVIDIA",
                "GeForce RTX",
                "Titan RTX",
        };
        return b < sizeof(names) / sizeof(names[0]) ? names[b] : "Unknown";
}

static const char *arch_name(unsigned a) {
        switch (a) {
        case NVML_ARCH_KEPLER: return "Kepler";
        case NVML_ARCH_MAXWELL: return "Maxwell";
        case NVML_ARCH_PASCAL: return "Pascal";
        case NVML_ARCH_VOLTA: return "Volta";
        case NVML_ARCH_TURING: return "Turing";
        case NVML_ARCH_AMPERE: return "Ampere";
        case NVML_ARCH_ADA: return "Ada Lovelace";
        case NVML_ARCH_HOPPER: return "Hopper";
        case NVML_ARCH_BLACKWELL: return "Blackwell";
        default: return "Unknown";
        }
}

/* Length of "580.159" in "580.159.04": NVML's own version is the driver's first two parts. */
static int major_minor_len(const char *v) {
        const char *dot = strchr(v, '.');
        if (dot != NULL)
                dot = strchr(dot + 1, '.');
        return dot != NULL ? (int) (dot - v) : (int) strlen(v);
}

/* "NVIDIA H200 MIG 1g.18gb" -> "1g.18gb": the real tool prints the GPU instance profile. */
static const char *mig_profile(const char *name) {
        const char *p = strstr(name, " MIG ");
        return p != NULL ? p + 5 : name;
}

static int load(void **lib) {
        *lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
        if (*lib == NULL) {
                printf("NVIDIA-SMI couldn't find libnvidia-ml.so library in your system. Please "
                       "make "
                       "sure that the NVIDIA Display Driver is properly installed and present in "
                       "your system.\nPlease also try adding directory that contains "
                       "libnvidia-ml.so to your system PATH.\n");
                return 12;
        }
#define SYM(field, name)                                                                           \
        if ((*(void **) &nvml.field = dlsym(*lib, name)) == NULL) {                                \
                printf("Failed to initialize NVML: Function Not Found (%s)\n", name);              \
                return 13;                                                                         \
        }
        SYM(init, "nvmlInit_v2");
        SYM(shutdown, "nvmlShutdown");
        SYM(error_string, "nvmlErrorString");
        SYM(driver_version, "nvmlSystemGetDriverVersion");
        SYM(cuda_version, "nvmlSystemGetCudaDriverVersion_v2");
        SYM(count, "nvmlDeviceGetCount_v2");
        SYM(by_index, "nvmlDeviceGetHandleByIndex_v2");
        SYM(uuid, "nvmlDeviceGetUUID");
        SYM(name, "nvmlDeviceGetName");
        SYM(pci, "nvmlDeviceGetPciInfo_v3");
        SYM(brand, "nvmlDeviceGetBrand");
        SYM(arch, "nvmlDeviceGetArchitecture");
        SYM(minor, "nvmlDeviceGetMinorNumber");
        SYM(max_mig, "nvmlDeviceGetMaxMigDeviceCount");
        SYM(cc, "nvmlDeviceGetCudaComputeCapability");
        SYM(mig_mode, "nvmlDeviceGetMigMode");
        SYM(mig_by_index, "nvmlDeviceGetMigDeviceHandleByIndex");
        SYM(memory, "nvmlDeviceGetMemoryInfo");
        SYM(compute_mode, "nvmlDeviceGetComputeMode");
        SYM(set_compute_mode, "nvmlDeviceSetComputeMode");
#undef SYM
        return 0;
}

static int start(void *lib) {
        nvml_return_t r = nvml.init();
        if (r == NVML_E_DRIVER_NOT_LOADED) {
                printf("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA "
                       "driver. Make sure that the latest NVIDIA driver is installed and "
                       "running.\n\n");
                return 9;
        }
        if (r == NVML_E_LIB_RM_VERSION_MISMATCH) {
                /* The real tool then prints the library's "major.minor". */
                const char *v = dlsym(lib, "nctk_sim_driver_version");
                printf("Failed to initialize NVML: Driver/library version mismatch\n");
                if (v != NULL)
                        printf("NVML library version: %.*s\n", major_minor_len(v), v);
                return 18;
        }
        if (r != NVML_OK) {
                printf("Failed to initialize NVML: %s\n", nvml.error_string(r));
                return exit_code(r);
        }
        int cv = 0;
        if (nvml.driver_version(driver_version, sizeof(driver_version)) != NVML_OK)
                snprintf(driver_version, sizeof(driver_version), "N/A");
        if (nvml.cuda_version(&cv) == NVML_OK)
                snprintf(cuda_version, sizeof(cuda_version), "%d.%d", cv / 1000, cv % 1000 / 10);
        else
                snprintf(cuda_version, sizeof(cuda_version), "N/A");
        return 0;
}

static void query_gpu(unsigned index, struct gpu_info *g) {
        nvml_device_t dev;

        memset(g, 0, sizeof(*g));
        g->rc = nvml.by_index(index, &dev);
        if (g->rc != NVML_OK)
                return;
        nvml.name(dev, g->name, sizeof(g->name));
        nvml.uuid(dev, g->uuid, sizeof(g->uuid));
        nvml.pci(dev, &g->pci);
        nvml.brand(dev, &g->brand);
        nvml.arch(dev, &g->arch);
        nvml.minor(dev, &g->minor);
        nvml.cc(dev, &g->cc_major, &g->cc_minor);
        nvml.compute_mode(dev, &g->compute_mode);
        struct nvml_memory mem = {0, 0, 0};
        nvml.memory(dev, &mem);
        g->memory_total = mem.total;
        g->mig_capable = nvml.mig_mode(dev, &g->mig_current, &g->mig_pending) == NVML_OK;
        if (!g->mig_capable || g->mig_current != NVML_MIG_ENABLE)
                return;
        unsigned max = 0;
        if (nvml.max_mig(dev, &max) != NVML_OK)
                return;
        for (unsigned i = 0; i < max && g->n_mig < MAX_MIG; i++) {
                nvml_device_t mig;
                if (nvml.mig_by_index(dev, i, &mig) != NVML_OK)
                        continue;
                struct mig_info *m = &g->mig[g->n_mig++];
                nvml.uuid(mig, m->uuid, sizeof(m->uuid));
                nvml.name(mig, m->name, sizeof(m->name));
        }
}

static int handle_error(unsigned index, nvml_return_t rc) {
        if (rc == NVML_E_GPU_IS_LOST)
                printf("Unable to determine the device handle for GPU%u: GPU is lost.  Reboot the "
                       "system to recover this GPU\n",
                       index);
        else
                printf("Unable to determine the device handle for GPU%u: %s\n", index,
                       nvml.error_string(rc));
        return exit_code(rc);
}

/* Does -i name GPU I? Each comma-separated item is an index, a UUID or a PCI bus id (either
 * form). Without -i every GPU is selected. */
static int is_selected(unsigned i, const struct gpu_info *g) {
        if (selected == NULL)
                return 1;
        char list[512];
        snprintf(list, sizeof(list), "%s", selected);
        for (char *save = NULL, *t = strtok_r(list, ",", &save); t != NULL;
             t = strtok_r(NULL, ",", &save)) {
                char *end;
                unsigned long n = strtoul(t, &end, 10);
                if ((*t != '\0' && *end == '\0' && n == i) || strcmp(t, g->uuid) == 0 ||
                    strcasecmp(t, g->pci.bus_id) == 0 || strcasecmp(t, g->pci.bus_id_legacy) == 0)
                        return 1;
        }
        return 0;
}

/* With -i, a selection that names no GPU is what the real tool calls "No devices were found". */
static int any_selected(unsigned count) {
        for (unsigned i = 0; i < count; i++) {
                struct gpu_info g;
                query_gpu(i, &g);
                if (g.rc == NVML_OK && is_selected(i, &g))
                        return 1;
        }
        return 0;
}

static int list_gpus(unsigned count) {
        int status = 0;
        for (unsigned i = 0; i < count; i++) {
                struct gpu_info g;
                query_gpu(i, &g);
                if (g.rc == NVML_OK && !is_selected(i, &g))
                        continue;
                if (g.rc != NVML_OK) {
                        status = handle_error(i, g.rc);
                        continue;
                }
                printf("GPU %u: %s (UUID: %s)\n", i, g.name, g.uuid);
                for (unsigned j = 0; j < g.n_mig; j++)
                        printf("  MIG %-11s Device %2u: (UUID: %s)\n", mig_profile(g.mig[j].name),
                               j, g.mig[j].uuid);
        }
        return status;
}

static void field(const char *key, const char *value) {
        printf("%-55s: %s\n", key, value);
}

static void timestamp(char *buf, size_t len) {
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        strftime(buf, len, "%a %b %d %H:%M:%S %Y", &tm);
}

static int query(unsigned count) {
        char ts[64], buf[64];
        int status = 0;

        timestamp(ts, sizeof(ts));
        printf("\n==============NVSMI LOG==============\n\n");
        field("Timestamp", ts);
        field("Driver Version", driver_version);
        field("CUDA Version", cuda_version);
        printf("\n");
        snprintf(buf, sizeof(buf), "%u", count);
        field("Attached GPUs", buf);
        for (unsigned i = 0; i < count; i++) {
                struct gpu_info g;
                query_gpu(i, &g);
                if (g.rc != NVML_OK) {
                        status = handle_error(i, g.rc);
                        continue;
                }
                if (!is_selected(i, &g))
                        continue;
                const char *cur = !g.mig_capable                     ? "N/A"
                                  : g.mig_current == NVML_MIG_ENABLE ? "Enabled"
                                                                     : "Disabled";
                const char *pend = !g.mig_capable                     ? "N/A"
                                   : g.mig_pending == NVML_MIG_ENABLE ? "Enabled"
                                                                      : "Disabled";
                printf("GPU %s\n", g.pci.bus_id);
                field("    Product Name", g.name);
                field("    Product Brand", brand_name(g.brand));
                field("    Product Architecture", arch_name(g.arch));
                printf("    MIG Mode\n");
                field("        Current", cur);
                field("        Pending", pend);
                field("    GPU UUID", g.uuid);
                snprintf(buf, sizeof(buf), "%u", g.minor);
                field("    Minor Number", buf);
                printf("    FB Memory Usage\n");
                snprintf(buf, sizeof(buf), "%llu MiB", g.memory_total >> 20);
                field("        Total", buf);
                field("    Compute Mode", compute_mode_labels[g.compute_mode & 3]);
                printf("    PCI\n");
                snprintf(buf, sizeof(buf), "0x%02X", g.pci.bus);
                field("        Bus", buf);
                snprintf(buf, sizeof(buf), "0x%02X", g.pci.device);
                field("        Device", buf);
                snprintf(buf, sizeof(buf), "0x%04X", g.pci.domain);
                field("        Domain", buf);
                snprintf(buf, sizeof(buf), "0x%08X", g.pci.pci_device_id);
                field("        Device Id", buf);
                field("        Bus Id", g.pci.bus_id);
                snprintf(buf, sizeof(buf), "0x%08X", g.pci.pci_subsystem_id);
                field("        Sub System Id", buf);
                printf("\n");
        }
        return status;
}

/* One value of --query-gpu; NULL for a field we do not know. */
static const char *gpu_field(const char *name, unsigned index, unsigned count,
                             const struct gpu_info *g, char *buf, size_t len) {
        if (strcmp(name, "index") == 0)
                snprintf(buf, len, "%u", index);
        else if (strcmp(name, "count") == 0)
                snprintf(buf, len, "%u", count);
        else if (strcmp(name, "name") == 0 || strcmp(name, "gpu_name") == 0)
                snprintf(buf, len, "%s", g->name);
        else if (strcmp(name, "uuid") == 0 || strcmp(name, "gpu_uuid") == 0)
                snprintf(buf, len, "%s", g->uuid);
        else if (strcmp(name, "pci.bus_id") == 0 || strcmp(name, "gpu_bus_id") == 0)
                snprintf(buf, len, "%s", g->pci.bus_id);
        else if (strcmp(name, "pci.domain") == 0)
                snprintf(buf, len, "0x%04X", g->pci.domain);
        else if (strcmp(name, "pci.bus") == 0)
                snprintf(buf, len, "0x%02X", g->pci.bus);
        else if (strcmp(name, "pci.device") == 0)
                snprintf(buf, len, "0x%02X", g->pci.device);
        else if (strcmp(name, "pci.device_id") == 0)
                snprintf(buf, len, "0x%08X", g->pci.pci_device_id);
        else if (strcmp(name, "pci.sub_device_id") == 0)
                snprintf(buf, len, "0x%08X", g->pci.pci_subsystem_id);
        else if (strcmp(name, "driver_version") == 0)
                snprintf(buf, len, "%s", driver_version);
        else if (strcmp(name, "compute_mode") == 0)
                snprintf(buf, len, "%s", compute_mode_labels[g->compute_mode & 3]);
        else if (strcmp(name, "memory.total") == 0)
                snprintf(buf, len, no_units ? "%llu" : "%llu MiB", g->memory_total >> 20);
        else if (strcmp(name, "compute_cap") == 0)
                snprintf(buf, len, "%d.%d", g->cc_major, g->cc_minor);
        else if (strcmp(name, "mig.mode.current") == 0 || strcmp(name, "mig.mode.pending") == 0) {
                unsigned mode = name[9] == 'c' ? g->mig_current : g->mig_pending;
                snprintf(buf, len, "%s",
                         !g->mig_capable           ? "[N/A]"
                         : mode == NVML_MIG_ENABLE ? "Enabled"
                                                   : "Disabled");
        } else
                return NULL;
        return buf;
}

static int split(char *s, char **out, int max) {
        int n = 0;
        for (char *save = NULL, *t = strtok_r(s, ",", &save); t != NULL && n < max;
             t = strtok_r(NULL, ",", &save))
                out[n++] = t;
        return n;
}

/* Checked before NVML is loaded, as the real tool rejects bad fields first. */
static int check_fields(char **fields, int n) {
        struct gpu_info dummy;
        char buf[8];
        memset(&dummy, 0, sizeof(dummy));
        for (int i = 0; i < n; i++)
                if (gpu_field(fields[i], 0, 0, &dummy, buf, sizeof(buf)) == NULL) {
                        printf("Field \"%s\" is not a valid field to query.\n\n", fields[i]);
                        return 2;
                }
        return 0;
}

static int query_csv(unsigned count, char **fields, int n, int header) {
        int status = 0;
        if (header)
                for (int i = 0; i < n; i++)
                        printf("%s%s", fields[i], i + 1 < n ? ", " : "\n");
        for (unsigned i = 0; i < count; i++) {
                struct gpu_info g;
                char buf[128];
                query_gpu(i, &g);
                if (g.rc != NVML_OK) {
                        status = handle_error(i, g.rc);
                        continue;
                }
                if (!is_selected(i, &g))
                        continue;
                for (int f = 0; f < n; f++)
                        printf("%s%s", gpu_field(fields[f], i, count, &g, buf, sizeof(buf)),
                               f + 1 < n ? ", " : "\n");
        }
        return status;
}

/* -c: "0".."3" or the mode's name, any case. Returns the mode, or -1. */
static int parse_compute_mode(const char *s) {
        for (int m = 0; m < 4; m++) {
                char digit[2] = {(char) ('0' + m), '\0'};
                if (strcmp(s, digit) == 0 || strcasecmp(s, compute_mode_names[m]) == 0)
                        return m;
        }
        return -1;
}

static int set_compute_mode(unsigned count, int mode) {
        for (unsigned i = 0; i < count; i++) {
                struct gpu_info g;
                nvml_device_t dev;
                query_gpu(i, &g);
                if (g.rc != NVML_OK)
                        return handle_error(i, g.rc);
                if (!is_selected(i, &g) || nvml.by_index(i, &dev) != NVML_OK)
                        continue;
                nvml_return_t r = nvml.set_compute_mode(dev, (unsigned) mode);
                if (r != NVML_OK) {
                        printf("Unable to set the compute mode for GPU %s: %s\n"
                               "Terminating early due to previous errors.\n",
                               g.pci.bus_id, nvml.error_string(r));
                        return exit_code(r);
                }
                printf("Set compute mode to %s for GPU %s.\n", compute_mode_names[mode],
                       g.pci.bus_id);
        }
        printf("All done.\n");
        return 0;
}

static int table(unsigned count) {
        static const char rule[] =
                "+-----------------------------------------+------------------------"
                "+----------------------+";
        char ts[64], head[256];
        int status = 0;

        timestamp(ts, sizeof(ts));
        printf("%s\n+%.89s+\n", ts,
               "-----------------------------------------------------------"
               "------------------------------");
        snprintf(head, sizeof(head), " NVIDIA-SMI %-21s Driver Version: %-14s CUDA Version: %-9s",
                 driver_version, driver_version, cuda_version);
        printf("|%-89s|\n%s\n", head, rule);
        printf("| GPU  Name                               | Bus-Id                 |"
               "               MIG M. |\n");
        printf("|=========================================+========================+"
               "======================|\n");
        for (unsigned i = 0; i < count; i++) {
                struct gpu_info g;
                query_gpu(i, &g);
                if (g.rc != NVML_OK) {
                        status = handle_error(i, g.rc);
                        continue;
                }
                const char *mig = !g.mig_capable                     ? "N/A"
                                  : g.mig_current == NVML_MIG_ENABLE ? "Enabled"
                                                                     : "Disabled";
                printf("| %3u  %-34.34s | %22s | %20s |\n%s\n", i, g.name, g.pci.bus_id, mig, rule);
        }
        return status;
}

static int usage(int code) {
        printf("NVIDIA System Management Interface -- v%s (nctk simulated driver)\n\n"
               "  -L, --list-gpus        Display a list of GPUs connected to the system.\n"
               "  -q, --query            Display GPU or Unit info.\n"
               "  -i, --id=ID            Target a specific GPU (index, UUID or PCI bus id).\n"
               "  -c, --compute-mode=    Set MODE for compute applications: 0/DEFAULT,\n"
               "                         2/PROHIBITED, 3/EXCLUSIVE_PROCESS.\n"
               "  --query-gpu=FIELDS --format=csv[,noheader][,nounits]\n"
               "  --version              Print version information.\n",
               driver_version[0] ? driver_version : "?");
        return code;
}

int main(int argc, char **argv) {
        enum { TABLE, LIST, QUERY, QUERY_CSV, VERSION, SET_COMPUTE } mode = TABLE;
        int compute_mode = -1;
        char *fields[32];
        int n_fields = 0, have_format = 0, header = 1;
        void *lib;

        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                if (strcmp(a, "-L") == 0 || strcmp(a, "--list-gpus") == 0)
                        mode = LIST;
                else if (strcmp(a, "-q") == 0 || strcmp(a, "--query") == 0)
                        mode = QUERY;
                else if (strcmp(a, "--version") == 0)
                        mode = VERSION;
                else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
                        return usage(0);
                else if ((strcmp(a, "-i") == 0 || strcmp(a, "--id") == 0) && i + 1 < argc)
                        selected = argv[++i];
                else if (strncmp(a, "--id=", 5) == 0)
                        selected = a + 5;
                else if ((strcmp(a, "-c") == 0 || strcmp(a, "--compute-mode") == 0) &&
                         i + 1 < argc) {
                        mode = SET_COMPUTE;
                        compute_mode = parse_compute_mode(argv[++i]);
                } else if (strncmp(a, "--compute-mode=", 15) == 0) {
                        mode = SET_COMPUTE;
                        compute_mode = parse_compute_mode(a + 15);
                } else if (strncmp(a, "--query-gpu=", 12) == 0) {
                        mode = QUERY_CSV;
                        n_fields = split(argv[i] + 12, fields, 32);
                } else if (strncmp(a, "--format=", 9) == 0) {
                        char *opts[8];
                        int n = split(argv[i] + 9, opts, 8);
                        have_format = n > 0 && strcmp(opts[0], "csv") == 0;
                        for (int j = 1; j < n; j++)
                                if (strcmp(opts[j], "noheader") == 0)
                                        header = 0;
                                else if (strcmp(opts[j], "nounits") == 0)
                                        no_units = 1;
                } else {
                        printf("Invalid combination of input arguments. Please run 'nvidia-smi -h' "
                               "for help.\n\n");
                        return 2;
                }
        }
        if (mode == SET_COMPUTE && compute_mode < 0) {
                printf("Invalid compute mode. Valid values are 0/DEFAULT, 2/PROHIBITED and "
                       "3/EXCLUSIVE_PROCESS.\n\n");
                return 2;
        }
        if (mode == QUERY_CSV) {
                if (!have_format || n_fields == 0) {
                        printf("Invalid combination of input arguments. Please run 'nvidia-smi -h' "
                               "for help.\n\n");
                        return 2;
                }
                int r = check_fields(fields, n_fields);
                if (r != 0)
                        return r;
        }

        int r = load(&lib);
        if (r == 0)
                r = start(lib);
        if (r != 0)
                return r;

        unsigned count = 0;
        nvml_return_t nr = nvml.count(&count);
        if (nr != NVML_OK) {
                printf("Failed to get device count: %s\n", nvml.error_string(nr));
                r = exit_code(nr);
        } else if (mode == VERSION) {
                printf("NVIDIA-SMI version  : %s\nNVML version        : %.*s\n"
                       "DRIVER version      : %s\nCUDA Version        : %s\n",
                       driver_version, major_minor_len(driver_version), driver_version,
                       driver_version, cuda_version);
        } else if (count == 0 || (selected != NULL && !any_selected(count))) {
                printf("No devices were found\n");
                r = 6;
        } else if (mode == SET_COMPUTE) {
                r = set_compute_mode(count, compute_mode);
        } else if (mode == LIST) {
                r = list_gpus(count);
        } else if (mode == QUERY) {
                r = query(count);
        } else if (mode == QUERY_CSV) {
                r = query_csv(count, fields, n_fields, header);
        } else {
                r = table(count);
        }
        nvml.shutdown();
        return r;
}
