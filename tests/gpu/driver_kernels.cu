// Real-GPU versions of the driver test double's builtin kernels (tests/double/kernels.def),
// same names and parameter lists, compiled to PTX and loaded with cuModuleLoadData by the
// integration workload (tests/integration/workload.c) when it runs on the GPU machine.
extern "C" __global__ void nop() {}

extern "C" __global__ void fill_f32(float *p, float v, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) p[i] = v;
}

extern "C" __global__ void iota_f32(float *p, float start, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) p[i] = start + (float)i;
}

extern "C" __global__ void saxpy(float a, const float *x, float *y, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) y[i] = a * x[i] + y[i];
}

extern "C" __global__ void scale_inplace(float *p, float s, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) p[i] *= s;
}

extern "C" __global__ void vec_add(const float *a, const float *b, float *c, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) c[i] = a[i] + b[i];
}

// One block does it all in a fixed order: deterministic.
extern "C" __global__ void sum_reduce(const float *in, float *out, int n) {
    __shared__ float s[1024];
    float acc = 0.0f;
    if (blockIdx.x != 0) return;
    for (int i = threadIdx.x; i < n; i += blockDim.x) acc += in[i];
    s[threadIdx.x] = acc;
    __syncthreads();
    for (unsigned k = blockDim.x / 2; k > 0; k >>= 1) {
        if (threadIdx.x < k) s[threadIdx.x] += s[threadIdx.x + k];
        __syncthreads();
    }
    if (threadIdx.x == 0) out[0] = s[0];
}

extern "C" __global__ void copy_bytes(const unsigned char *src, unsigned char *dst, unsigned long long n) {
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n;
         i += (unsigned long long)gridDim.x * blockDim.x)
        dst[i] = src[i];
}

// The module global the workload copies to and from with cuMemcpy (the double's is 64 KiB too).
extern "C" {
__device__ unsigned char workload_global[64 * 1024];
}
