// A CUDA program that checks its own result: adds two vectors on the GPU and compares with the
// CPU. Exit 0 and "vecadd ok <device name>" when correct.
#include <cstdio>
#include <cuda_runtime.h>

__global__ void add(const float *a, const float *b, float *c, int n) {
        int i = blockIdx.x * blockDim.x + threadIdx.x;
        if (i < n)
                c[i] = a[i] + b[i];
}

int main() {
        const int n = 1 << 20;
        float *a, *b, *c;
        cudaDeviceProp prop;
        int count = 0;

        if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
                printf("vecadd: no CUDA device (%s)\n", cudaGetErrorString(cudaGetLastError()));
                return 1;
        }
        cudaGetDeviceProperties(&prop, 0);
        cudaMallocManaged(&a, n * sizeof(float));
        cudaMallocManaged(&b, n * sizeof(float));
        cudaMallocManaged(&c, n * sizeof(float));
        for (int i = 0; i < n; i++) {
                a[i] = (float) i;
                b[i] = 2.0f * (float) i;
        }
        add<<<(n + 255) / 256, 256>>>(a, b, c, n);
        if (cudaDeviceSynchronize() != cudaSuccess) {
                printf("vecadd: kernel failed\n");
                return 1;
        }
        for (int i = 0; i < n; i++)
                if (c[i] != 3.0f * (float) i) {
                        printf("vecadd: wrong result at %d\n", i);
                        return 1;
                }
        printf("vecadd ok %s (%d devices)\n", prop.name, count);
        return 0;
}
