// Modules, functions and launches of the driver test double. Any image loads; functions are
// the builtin host "kernels" of kernels.def, reached by name. A launch packs its arguments
// (kernelParams, or the `extra` CU_LAUNCH_PARAM_BUFFER_POINTER/SIZE buffer) into the layout
// cuFuncGetParamInfo reports, then runs (or is captured) like any other stream operation.
// Kernels check every pointer range against the allocation map, so a kernel handed memory the
// device could not reach fails with CUDA_ERROR_ILLEGAL_ADDRESS, and they feed the managed
// residency model (d_touch_device) that counts "GPU faults".
#include "tests/double/double.h"
#include "tests/double/impl.h"

#include <stdlib.h>
#include <string.h>

enum { D_P_0 = 0, D_P_PTR = 8, D_P_F32 = 4, D_P_I32 = 4 + 0x100, D_P_U64 = 8 + 0x100 };
#define D_PK(k) ((k) & 0xff)

// --- parameter access ---
static const void *d_pp(const d_func_t *fn, const unsigned char *p, int i) { return p + fn->offset[i]; }
static uintptr_t d_ptr(const d_func_t *fn, const unsigned char *p, int i) {
    uintptr_t v;
    memcpy(&v, d_pp(fn, p, i), sizeof v);
    return v;
}
static float d_f32(const d_func_t *fn, const unsigned char *p, int i) {
    float v;
    memcpy(&v, d_pp(fn, p, i), sizeof v);
    return v;
}
static int d_i32(const d_func_t *fn, const unsigned char *p, int i) {
    int v;
    memcpy(&v, d_pp(fn, p, i), sizeof v);
    return v < 0 ? 0 : v;
}
static unsigned long long d_u64(const d_func_t *fn, const unsigned char *p, int i) {
    unsigned long long v;
    memcpy(&v, d_pp(fn, p, i), sizeof v);
    return v;
}

// A kernel's memory access: the whole range must be device-reachable; managed memory migrates.
static int d_access(uintptr_t p, size_t bytes, int device) {
    if (bytes == 0) return 1;
    if (!d_range_ok(p, bytes)) return 0;
    d_touch_device(p, bytes, device);
    return 1;
}
#define D_NEED(p, bytes) do { if (!d_access((p), (bytes), device)) return CUDA_ERROR_ILLEGAL_ADDRESS; } while (0)

// --- the kernels ---
static CUresult k_nop(const d_func_t *fn, const unsigned char *p, int device) { return CUDA_SUCCESS; }

static CUresult k_fill_f32(const d_func_t *fn, const unsigned char *p, int device) {
    uintptr_t dst = d_ptr(fn, p, 0);
    float v = d_f32(fn, p, 1);
    int n = d_i32(fn, p, 2);
    D_NEED(dst, (size_t)n * 4);
    float *x = (float *)dst;
    for (int i = 0; i < n; i++) x[i] = v;
    return CUDA_SUCCESS;
}

static CUresult k_iota_f32(const d_func_t *fn, const unsigned char *p, int device) {
    uintptr_t dst = d_ptr(fn, p, 0);
    float v = d_f32(fn, p, 1);
    int n = d_i32(fn, p, 2);
    D_NEED(dst, (size_t)n * 4);
    float *x = (float *)dst;
    for (int i = 0; i < n; i++) x[i] = v + (float)i;
    return CUDA_SUCCESS;
}

static CUresult k_saxpy(const d_func_t *fn, const unsigned char *p, int device) {
    float a = d_f32(fn, p, 0);
    uintptr_t xs = d_ptr(fn, p, 1), ys = d_ptr(fn, p, 2);
    int n = d_i32(fn, p, 3);
    D_NEED(xs, (size_t)n * 4);
    D_NEED(ys, (size_t)n * 4);
    const float *x = (const float *)xs;
    float *y = (float *)ys;
    for (int i = 0; i < n; i++) y[i] = a * x[i] + y[i];
    return CUDA_SUCCESS;
}

static CUresult k_scale_inplace(const d_func_t *fn, const unsigned char *p, int device) {
    uintptr_t xs = d_ptr(fn, p, 0);
    float s = d_f32(fn, p, 1);
    int n = d_i32(fn, p, 2);
    D_NEED(xs, (size_t)n * 4);
    float *x = (float *)xs;
    for (int i = 0; i < n; i++) x[i] *= s;
    return CUDA_SUCCESS;
}

static CUresult k_vec_add(const d_func_t *fn, const unsigned char *p, int device) {
    uintptr_t as = d_ptr(fn, p, 0), bs = d_ptr(fn, p, 1), cs = d_ptr(fn, p, 2);
    int n = d_i32(fn, p, 3);
    D_NEED(as, (size_t)n * 4);
    D_NEED(bs, (size_t)n * 4);
    D_NEED(cs, (size_t)n * 4);
    const float *a = (const float *)as, *b = (const float *)bs;
    float *c = (float *)cs;
    for (int i = 0; i < n; i++) c[i] = a[i] + b[i];
    return CUDA_SUCCESS;
}

static CUresult k_sum_reduce(const d_func_t *fn, const unsigned char *p, int device) {
    uintptr_t in = d_ptr(fn, p, 0), out = d_ptr(fn, p, 1);
    int n = d_i32(fn, p, 2);
    D_NEED(in, (size_t)n * 4);
    D_NEED(out, 4);
    const float *x = (const float *)in;
    double acc = 0;
    for (int i = 0; i < n; i++) acc += x[i];
    *(float *)out = (float)acc;
    return CUDA_SUCCESS;
}

static CUresult k_copy_bytes(const d_func_t *fn, const unsigned char *p, int device) {
    uintptr_t src = d_ptr(fn, p, 0), dst = d_ptr(fn, p, 1);
    unsigned long long n = d_u64(fn, p, 2);
    D_NEED(src, n);
    D_NEED(dst, n);
    memmove((void *)dst, (const void *)src, n);
    return CUDA_SUCCESS;
}

// --- the function table ---
#define PTR D_P_PTR
#define F32 D_P_F32
#define I32 D_P_I32
#define U64 D_P_U64
#define D_UNPACK(...) {__VA_ARGS__}
static const int d_kinds[][8] = {
#define D_KERNEL(kname, n, kinds) D_UNPACK kinds,
#include "tests/double/kernels.def"
#undef D_KERNEL
};
#undef PTR
#undef F32
#undef I32
#undef U64

static d_func_t d_funcs[] = {
#define D_KERNEL(kname, n, kinds) {.name = #kname, .nparams = n, .run = k_##kname},
#include "tests/double/kernels.def"
#undef D_KERNEL
};
#define D_NFUNCS (sizeof d_funcs / sizeof d_funcs[0])
static pthread_once_t d_funcs_once = PTHREAD_ONCE_INIT;

static void d_funcs_init(void) {
    for (size_t f = 0; f < D_NFUNCS; f++) {
        size_t off = 0;
        for (int i = 0; i < d_funcs[f].nparams; i++) {
            size_t sz = (size_t)D_PK(d_kinds[f][i]);
            off = (off + sz - 1) / sz * sz;
            d_funcs[f].offset[i] = off;
            d_funcs[f].size[i] = sz;
            off += sz;
        }
        d_funcs[f].total = off;
        d_funcs[f].magic = D_MAGIC_FUNC;
    }
}

static const d_func_t *d_func_get(CUfunction f) {
    pthread_once(&d_funcs_once, d_funcs_init);
    for (size_t i = 0; i < D_NFUNCS; i++)
        if ((const void *)f == (const void *)&d_funcs[i]) return &d_funcs[i];
    return NULL;
}

// --- modules ---
typedef struct d_module {
    uint32_t magic;
    struct d_module *next;
} d_module_t;
static d_module_t *d_modules;

static int d_module_valid(CUmodule m) {
    for (d_module_t *p = d_modules; p; p = p->next)
        if ((void *)p == (void *)m) return 1;
    return 0;
}

CUresult d_module_load(CUmodule *m, const void *image) {
    if (!m || !image) return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = d_need_ctx(NULL);
    if (rc != CUDA_SUCCESS) return rc;
    d_module_t *mod = calloc(1, sizeof *mod);
    if (!mod) return CUDA_ERROR_OUT_OF_MEMORY;
    mod->magic = D_MAGIC_MODULE;
    D_LOCK();
    mod->next = d_modules;
    d_modules = mod;
    D_UNLOCK();
    *m = (CUmodule)(void *)mod;
    d_arg("module=%p", (void *)mod);
    return CUDA_SUCCESS;
}

CUresult d_module_unload(CUmodule m) {
    D_LOCK();
    d_module_t **pp = &d_modules;
    while (*pp && (void *)*pp != (void *)m) pp = &(*pp)->next;
    if (!*pp || !m) {
        D_UNLOCK();
        return CUDA_ERROR_INVALID_HANDLE;
    }
    d_module_t *mod = *pp;
    *pp = mod->next;
    D_UNLOCK();
    free(mod);
    return CUDA_SUCCESS;
}

CUresult d_module_get_function(CUfunction *f, CUmodule m, const char *name) {
    if (!f || !name) return CUDA_ERROR_INVALID_VALUE;
    d_arg("name=%s", name);
    D_LOCK();
    int ok = d_module_valid(m);
    D_UNLOCK();
    if (!ok) return CUDA_ERROR_INVALID_HANDLE;
    pthread_once(&d_funcs_once, d_funcs_init);
    for (size_t i = 0; i < D_NFUNCS; i++)
        if (strcmp(d_funcs[i].name, name) == 0) {
            *f = (CUfunction)(void *)&d_funcs[i];
            return CUDA_SUCCESS;
        }
    return CUDA_ERROR_NOT_FOUND;
}

// --- function queries ---
CUresult d_func_param_info(CUfunction f, size_t i, size_t *off, size_t *size) {
    if (d_knobs.no_paraminfo) return CUDA_ERROR_NOT_SUPPORTED;
    const d_func_t *fn = d_func_get(f);
    if (!fn) return CUDA_ERROR_INVALID_HANDLE;
    d_arg("func=%s index=%zu", fn->name, i);
    if (i >= (size_t)fn->nparams) return CUDA_ERROR_INVALID_VALUE;
    if (off) *off = fn->offset[i];
    if (size) *size = fn->size[i];
    return CUDA_SUCCESS;
}

CUresult d_func_name(const char **name, CUfunction f) {
    if (!name) return CUDA_ERROR_INVALID_VALUE;
    const d_func_t *fn = d_func_get(f);
    if (!fn) return CUDA_ERROR_INVALID_HANDLE;
    *name = fn->name;
    return CUDA_SUCCESS;
}

CUresult d_func_attr(int *v, CUfunction_attribute a, CUfunction f) {
    if (!v) return CUDA_ERROR_INVALID_VALUE;
    if (!d_func_get(f)) return CUDA_ERROR_INVALID_HANDLE;
    switch (a) {
    case CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK: *v = 1024; break;
    case CU_FUNC_ATTRIBUTE_NUM_REGS: *v = 16; break;
    case CU_FUNC_ATTRIBUTE_PTX_VERSION: case CU_FUNC_ATTRIBUTE_BINARY_VERSION: *v = 90; break;
    default: *v = 0; break;
    }
    return CUDA_SUCCESS;
}

CUresult d_func_set_attr(CUfunction f) { return d_func_get(f) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE; }

// --- launches ---
static CUresult d_pack(const d_func_t *fn, void **params, void **extra, unsigned char **out) {
    if (params && extra) return CUDA_ERROR_INVALID_VALUE;
    unsigned char *buf = calloc(1, fn->total ? fn->total : 1);
    if (!buf) return CUDA_ERROR_OUT_OF_MEMORY;
    if (params) {
        for (int i = 0; i < fn->nparams; i++) {
            if (!params[i]) {
                free(buf);
                return CUDA_ERROR_INVALID_VALUE;
            }
            memcpy(buf + fn->offset[i], params[i], fn->size[i]);
        }
    } else if (extra) {
        void *ptr = NULL;
        size_t *size = NULL;
        for (size_t i = 0; extra[i] != CU_LAUNCH_PARAM_END; i += 2) {
            if (extra[i] == CU_LAUNCH_PARAM_BUFFER_POINTER) ptr = extra[i + 1];
            else if (extra[i] == CU_LAUNCH_PARAM_BUFFER_SIZE) size = extra[i + 1];
            else {
                free(buf);
                return CUDA_ERROR_INVALID_VALUE;
            }
        }
        if (!ptr || !size || *size < fn->total) {
            free(buf);
            return CUDA_ERROR_INVALID_VALUE;
        }
        memcpy(buf, ptr, fn->total);
    } else if (fn->nparams > 0) {
        free(buf);
        return CUDA_ERROR_INVALID_VALUE;
    }
    *out = buf;
    return CUDA_SUCCESS;
}

CUresult d_launch(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz, CUstream s,
                  void **params, void **extra, int ptds) {
    CUcontext ctx;
    CUresult rc = d_need_ctx(&ctx);
    if (rc != CUDA_SUCCESS) return rc;
    const d_func_t *fn = d_func_get(f);
    if (!fn) return CUDA_ERROR_INVALID_HANDLE;
    d_arg("func=%s grid=%u,%u,%u block=%u,%u,%u stream=%p", fn->name, gx, gy, gz, bx, by, bz, (void *)s);
    if (!gx || !gy || !gz || !bx || !by || !bz || (unsigned long long)bx * by * bz > 1024 || bz > 64 || gy > 65535 ||
        gz > 65535)
        return CUDA_ERROR_INVALID_VALUE;
    unsigned char *buf = NULL;
    rc = d_pack(fn, params, extra, &buf);
    if (rc != CUDA_SUCCESS) return rc;
    D_LOCK();
    struct CUstream_st *st;
    rc = d_stream_get(s, ptds, &st);
    if (rc == CUDA_SUCCESS) {
        d_op_t op = {.kind = D_OP_LAUNCH, .fn = fn, .params = buf, .params_size = fn->total, .device = ctx->device};
        rc = d_submit(st, &op);
    } else {
        free(buf);
    }
    D_UNLOCK();
    return rc;
}

CUresult d_launch_ex(const CUlaunchConfig *c, CUfunction f, void **params, void **extra, int ptds) {
    if (!c) return CUDA_ERROR_INVALID_VALUE;
    return d_launch(f, c->gridDimX, c->gridDimY, c->gridDimZ, c->blockDimX, c->blockDimY, c->blockDimZ, c->hStream,
                    params, extra, ptds);
}
