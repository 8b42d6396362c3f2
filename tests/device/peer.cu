// Peer access between every pair of the GPUs CUDA sees, for tests/device/multi-gpu.sh: run on
// the host and inside a container given all GPUs, the two outputs must agree.
//   peer         "device I BUSID NAME" per GPU, then "access I J 0|1" and "bw I J GB/s" per
//                ordered pair (cudaMemcpyPeer of 256 MiB, median of 7 timed copies)
//   peer list    only the "device" lines (which GPUs this process reaches)
// Exit 0 when every CUDA call succeeded; "peer: <call>: <error>" and exit 1 otherwise. GPUs are
// named by PCI bus id so that outputs of processes with different numbering can be compared.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cuda_runtime.h>

#define CHECK(call)                                                                                \
        do {                                                                                       \
                cudaError_t e_ = (call);                                                           \
                if (e_ != cudaSuccess) {                                                           \
                        printf("peer: %s: %s\n", #call, cudaGetErrorString(e_));                   \
                        exit(1);                                                                   \
                }                                                                                  \
        } while (0)

static const size_t BYTES = 256u << 20;
static const int REPS = 7;

static void list_devices(int n) {
        for (int i = 0; i < n; i++) {
                char bus[32];
                cudaDeviceProp prop;

                CHECK(cudaDeviceGetPCIBusId(bus, sizeof(bus), i));
                CHECK(cudaGetDeviceProperties(&prop, i));
                printf("device %d %s %s\n", i, bus, prop.name);
        }
}

// Median time of REPS copies of BYTES from GPU SRC to GPU DST, in GB/s (10^9 bytes per second).
static double copy_bandwidth(void *const *bufs, int src, int dst) {
        cudaEvent_t start, stop;
        float ms[REPS];

        CHECK(cudaSetDevice(src));
        CHECK(cudaEventCreate(&start));
        CHECK(cudaEventCreate(&stop));
        CHECK(cudaMemcpyPeer(bufs[dst], dst, bufs[src], src, BYTES)); // warm-up: links, mappings
        CHECK(cudaDeviceSynchronize());
        for (int r = 0; r < REPS; r++) {
                CHECK(cudaEventRecord(start, 0));
                CHECK(cudaMemcpyPeerAsync(bufs[dst], dst, bufs[src], src, BYTES, 0));
                CHECK(cudaEventRecord(stop, 0));
                CHECK(cudaEventSynchronize(stop));
                CHECK(cudaEventElapsedTime(&ms[r], start, stop));
        }
        CHECK(cudaEventDestroy(start));
        CHECK(cudaEventDestroy(stop));
        std::sort(ms, ms + REPS);
        return (double) BYTES / (ms[REPS / 2] * 1e-3) / 1e9;
}

int main(int argc, char **argv) {
        int n = 0;

        CHECK(cudaGetDeviceCount(&n));
        list_devices(n);
        if (argc > 1 && strcmp(argv[1], "list") == 0)
                return 0;

        void **bufs = (void **) calloc((size_t) n, sizeof(void *));
        for (int i = 0; i < n; i++) {
                CHECK(cudaSetDevice(i));
                CHECK(cudaMalloc(&bufs[i], BYTES));
                CHECK(cudaMemset(bufs[i], i, BYTES));
        }
        for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++) {
                        int can = 0;

                        if (i == j)
                                continue;
                        CHECK(cudaDeviceCanAccessPeer(&can, i, j));
                        printf("access %d %d %d\n", i, j, can);
                        if (can) {
                                CHECK(cudaSetDevice(i));
                                cudaError_t e = cudaDeviceEnablePeerAccess(j, 0);
                                if (e != cudaSuccess && e != cudaErrorPeerAccessAlreadyEnabled)
                                        CHECK(e);
                                (void) cudaGetLastError(); // clear "already enabled"
                        }
                }
        for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++)
                        if (i != j)
                                printf("bw %d %d %.1f\n", i, j, copy_bandwidth(bufs, i, j));
        for (int i = 0; i < n; i++)
                CHECK(cudaFree(bufs[i]));
        free(bufs);
        return 0;
}
