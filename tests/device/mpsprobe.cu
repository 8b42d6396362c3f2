// What an MPS client is given: the SM count CUDA reports (smaller under an active thread
// percentage), whether cudaMalloc of each size in MiB given on the command line succeeds (the
// pinned device memory limit), then it keeps its context for HOLD seconds so that nvidia-smi can
// show it. usage: mpsprobe HOLD_SECONDS [MIB...]
#include <cstdio>
#include <cstdlib>
#include <cuda_runtime.h>
#include <unistd.h>

int main(int argc, char **argv) {
        int sms = 0;
        const char *pct = getenv("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE");

        if (cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0) != cudaSuccess) {
                printf("mpsprobe: no CUDA device (%s)\n", cudaGetErrorString(cudaGetLastError()));
                return 1;
        }
        printf("sms %d (CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=%s)\n", sms, pct ? pct : "unset");
        for (int i = 2; i < argc; i++) {
                size_t mib = strtoul(argv[i], NULL, 10);
                void *p = NULL;
                cudaError_t e = cudaMalloc(&p, mib << 20);
                printf("malloc %zu %s\n", mib, e == cudaSuccess ? "ok" : cudaGetErrorName(e));
                if (e == cudaSuccess)
                        cudaFree(p);
                else
                        cudaGetLastError();
        }
        fflush(stdout);
        sleep(argc > 1 ? atoi(argv[1]) : 0);
        return 0;
}
