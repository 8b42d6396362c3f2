// The CUDA program of the MPS proofs (tests/device/mps-compose.sh): prints the SM count CUDA
// reports to this process (an MPS client sees its CUDA_MPS_ACTIVE_THREAD_PERCENTAGE there), waits
// for a wall-clock start time shared by every container of a run, then runs a fixed amount of
// compute-bound work that fills only a part of the GPU, as one inference job would, and prints
// when it started and ended, so that the caller can compare runs side by side.
//
// usage: mps-work [START_EPOCH_MS [LAUNCHES [BLOCKS]]]
//   no arguments: print the SM count and exit
//   prints "sms N", then "ready" (its context made, waiting for START), then
//   "work start_ms=S end_ms=E seconds=T launches=L blocks=B ok"
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <cuda_runtime.h>

// Each thread runs four independent multiply-add chains (about 5 ms a launch on an H200 SM); the
// result is stored so that the compiler keeps the loop. Each chain tends to 1, its fixed point.
__global__ void spin(float *out, int iters) {
        float a = threadIdx.x * 1e-3f, b = a + 1.0f, c = a + 2.0f, d = a + 3.0f;

        for (int i = 0; i < iters; i++) {
                a = a * 0.999f + 0.001f;
                b = b * 0.999f + 0.001f;
                c = c * 0.999f + 0.001f;
                d = d * 0.999f + 0.001f;
        }
        out[blockIdx.x * blockDim.x + threadIdx.x] = a + b + c + d;
}

static long long now_ms() {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int fail(const char *what, cudaError_t e) {
        printf("mps-work: %s: %s\n", what, cudaGetErrorString(e));
        return 1;
}

int main(int argc, char **argv) {
        const int threads = 256, iters = 1 << 20;
        long long start = argc > 1 ? atoll(argv[1]) : 0;
        int launches = argc > 2 ? atoi(argv[2]) : 400;
        int blocks = argc > 3 ? atoi(argv[3]) : 32;
        float *out = nullptr;
        int sms = 0;
        cudaError_t e;

        // The context first (under MPS this connects to the server, which the daemon starts for
        // the first client), then the SM count as that context sees it.
        e = cudaFree(nullptr);
        if (e != cudaSuccess)
                return fail("creating the context", e);
        e = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0);
        if (e != cudaSuccess)
                return fail("cudaDeviceGetAttribute", e);
        printf("sms %d\n", sms);
        fflush(stdout);
        if (argc < 2)
                return 0;
        if (launches < 1 || blocks < 1)
                return fail("bad arguments", cudaErrorInvalidValue);
        e = cudaMalloc(&out, sizeof(float) * threads * blocks);
        if (e != cudaSuccess)
                return fail("cudaMalloc", e);
        // One launch first, so that module loading does not count as work.
        spin<<<blocks, threads>>>(out, 1);
        e = cudaDeviceSynchronize();
        if (e != cudaSuccess)
                return fail("warm-up", e);
        printf("ready\n");
        fflush(stdout);
        if (now_ms() > start)
                printf("mps-work: late by %lld ms\n", now_ms() - start);
        while (now_ms() < start) {
                struct timespec ts = {0, 1000000};
                nanosleep(&ts, nullptr);
        }
        long long t0 = now_ms();
        for (int i = 0; i < launches; i++)
                spin<<<blocks, threads>>>(out, iters);
        e = cudaDeviceSynchronize();
        long long t1 = now_ms();
        if (e != cudaSuccess)
                return fail("kernel", e);
        float got = 0.0f;
        e = cudaMemcpy(&got, out, sizeof(got), cudaMemcpyDeviceToHost);
        if (e != cudaSuccess)
                return fail("cudaMemcpy", e);
        bool ok = got > 3.9f && got < 4.1f;
        printf("work start_ms=%lld end_ms=%lld seconds=%.3f launches=%d blocks=%d %s\n", t0, t1,
               (t1 - t0) / 1e3, launches, blocks, ok ? "ok" : "wrong");
        cudaFree(out);
        return ok ? 0 : 1;
}
