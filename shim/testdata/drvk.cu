// Kernel for drvcheck.c, compiled to PTX and loaded with cuModuleLoad (driver API).
extern "C" __global__ void saxpy(float a, const float *x, float *y, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        y[i] = a * x[i] + y[i];
}
