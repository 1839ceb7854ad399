// Implementations behind the rows of entries.def, grouped by the file that defines them.
// Stream-taking implementations get `ptds` (1 for the _ptds/_ptsz entry points) and the
// copies/memsets `async` (1 for the *Async forms), so one implementation serves every variant.
#ifndef UMSHIM_TESTS_DOUBLE_IMPL_H
#define UMSHIM_TESTS_DOUBLE_IMPL_H

#include "tests/double/double.h"

// --- entry.c ---
CUresult d_init(unsigned int flags);
CUresult d_driver_version(int *v);
CUresult d_get_proc_v1(const char *symbol, void **pfn, int ver, cuuint64_t flags);
CUresult d_get_proc(const char *symbol, void **pfn, int ver, cuuint64_t flags, CUdriverProcAddressQueryResult *st);
CUresult d_error_name(CUresult e, const char **s);
CUresult d_error_string(CUresult e, const char **s);

// --- device.c ---
CUresult d_device_get(CUdevice *d, int ordinal);
CUresult d_device_count(int *n);
CUresult d_device_attr(int *pi, CUdevice_attribute a, CUdevice dev);
CUresult d_device_name(char *name, int len, CUdevice dev);
CUresult d_device_total(size_t *bytes, CUdevice dev);
CUresult d_device_uuid(CUuuid *u, CUdevice dev);
CUresult d_device_cc(int *major, int *minor, CUdevice dev);
CUresult d_device_can_peer(int *can, CUdevice dev, CUdevice peer);
CUresult d_device_pci(char *id, int len, CUdevice dev);
CUresult d_device_pool(CUmemoryPool *pool, CUdevice dev);
CUresult d_primary_retain(CUcontext *pctx, CUdevice dev);
CUresult d_primary_release(CUdevice dev);
CUresult d_primary_set_flags(CUdevice dev, unsigned int flags);
CUresult d_primary_state(CUdevice dev, unsigned int *flags, int *active);
CUresult d_primary_reset(CUdevice dev);
CUresult d_ctx_create(CUcontext *pctx, unsigned int flags, CUdevice dev);
CUresult d_ctx_create4(CUcontext *pctx, CUctxCreateParams *p, unsigned int flags, CUdevice dev);
CUresult d_ctx_destroy(CUcontext ctx);
CUresult d_ctx_get_current(CUcontext *pctx);
CUresult d_ctx_set_current(CUcontext ctx);
CUresult d_ctx_push(CUcontext ctx);
CUresult d_ctx_pop(CUcontext *pctx);
CUresult d_ctx_get_device(CUdevice *dev, CUcontext ctx);
CUresult d_ctx_sync(CUcontext ctx);
CUresult d_ctx_get_flags(unsigned int *flags);
CUresult d_ctx_api_version(CUcontext ctx, unsigned int *v);
CUresult d_ctx_get_id(CUcontext ctx, unsigned long long *id);
CUresult d_ctx_prio_range(int *least, int *greatest);
CUresult d_ctx_get_limit(size_t *v, CUlimit l);
CUresult d_ctx_set_limit(CUlimit l, size_t v);
CUresult d_ctx_peer(CUcontext peer);

// --- memory.c ---
CUresult d_mem_alloc(CUdeviceptr *dptr, size_t bytes);
CUresult d_mem_alloc_pitch(CUdeviceptr *dptr, size_t *pitch, size_t width, size_t height, unsigned int elem);
CUresult d_mem_alloc_managed(CUdeviceptr *dptr, size_t bytes, unsigned int flags);
CUresult d_mem_alloc_async(CUdeviceptr *dptr, size_t bytes, CUmemoryPool pool, CUstream s, int ptds);
CUresult d_mem_free(CUdeviceptr dptr);
CUresult d_mem_free_async(CUdeviceptr dptr, CUstream s, int ptds);
CUresult d_mem_host_alloc(void **pp, size_t bytes, unsigned int flags);
CUresult d_mem_free_host(void *p);
CUresult d_mem_host_register(void *p, size_t bytes, unsigned int flags);
CUresult d_mem_host_unregister(void *p);
CUresult d_mem_host_devptr(CUdeviceptr *pd, void *p, unsigned int flags);
CUresult d_mem_host_flags(unsigned int *flags, void *p);
CUresult d_mem_get_info(size_t *free_bytes, size_t *total);
CUresult d_mem_range(CUdeviceptr *pbase, size_t *psize, CUdeviceptr dptr);
CUresult d_ptr_attr(void *data, CUpointer_attribute a, CUdeviceptr ptr);
CUresult d_ptr_attrs(unsigned int n, CUpointer_attribute *a, void **data, CUdeviceptr ptr);
CUresult d_ptr_set_attr(const void *value, CUpointer_attribute a, CUdeviceptr ptr);
CUresult d_pool_create(CUmemoryPool *pool, const CUmemPoolProps *p);
CUresult d_pool_destroy(CUmemoryPool pool);
CUresult d_pool_trim(CUmemoryPool pool);
CUresult d_pool_attr(CUmemoryPool pool, CUmemPool_attribute a, void *v, int set);
CUresult d_vmm_reserve(CUdeviceptr *ptr, size_t size, size_t align, CUdeviceptr addr);
CUresult d_vmm_free(CUdeviceptr ptr, size_t size);
CUresult d_vmm_create(CUmemGenericAllocationHandle *h, size_t size, const CUmemAllocationProp *prop);
CUresult d_vmm_release(CUmemGenericAllocationHandle h);
CUresult d_vmm_map(CUdeviceptr ptr, size_t size, size_t offset, CUmemGenericAllocationHandle h);
CUresult d_vmm_unmap(CUdeviceptr ptr, size_t size);
CUresult d_vmm_set_access(CUdeviceptr ptr, size_t size, const CUmemAccessDesc *desc, size_t count);
CUresult d_vmm_granularity(size_t *g, const CUmemAllocationProp *prop);
CUresult d_ipc_get(CUipcMemHandle *h, CUdeviceptr dptr);
CUresult d_prefetch_legacy(CUdeviceptr p, size_t n, CUdevice dev, CUstream s, int ptds);
CUresult d_prefetch(CUdeviceptr p, size_t n, CUmemLocation loc, unsigned int flags, CUstream s, int ptds);
CUresult d_advise_legacy(CUdeviceptr p, size_t n, CUmem_advise a, CUdevice dev);
CUresult d_advise(CUdeviceptr p, size_t n, CUmem_advise a, CUmemLocation loc);
CUresult d_range_attr(void *data, size_t size, CUmem_range_attribute a, CUdeviceptr p, size_t n);
CUresult d_stream_attach(CUstream s, CUdeviceptr p, int ptds);

// --- copy.c ---
CUresult d_copy_uva(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s, int ptds, int async);
CUresult d_copy_htod(CUdeviceptr dst, const void *src, size_t n, CUstream s, int ptds, int async);
CUresult d_copy_dtoh(void *dst, CUdeviceptr src, size_t n, CUstream s, int ptds, int async);
CUresult d_copy_dtod(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s, int ptds, int async);
CUresult d_copy_2d(const CUDA_MEMCPY2D *p, CUstream s, int ptds, int async);
CUresult d_copy_3d(const CUDA_MEMCPY3D *p, CUstream s, int ptds, int async);
CUresult d_copy_peer(CUdeviceptr dst, CUcontext dctx, CUdeviceptr src, CUcontext sctx, size_t n, CUstream s, int ptds,
                     int async);
CUresult d_memset(CUdeviceptr d, unsigned int v, unsigned int elem, size_t n, CUstream s, int ptds, int async);

// --- stream.c ---
CUresult d_stream_create(CUstream *ps, unsigned int flags, int prio);
CUresult d_stream_destroy(CUstream s);
CUresult d_stream_sync(CUstream s, int ptds, int query);
CUresult d_stream_wait_event(CUstream s, CUevent e, int ptds);
CUresult d_stream_get_ctx(CUstream s, CUcontext *pc, int ptds);
CUresult d_stream_get_flags(CUstream s, unsigned int *f, int ptds);
CUresult d_stream_get_prio(CUstream s, int *p, int ptds);
CUresult d_stream_get_id(CUstream s, unsigned long long *id, int ptds);
CUresult d_stream_get_device(CUstream s, CUdevice *d, int ptds);
CUresult d_stream_callback(CUstream s, CUstreamCallback cb, void *user, int ptds);
CUresult d_launch_host(CUstream s, CUhostFn fn, void *user, int ptds);
CUresult d_capture_begin(CUstream s, CUstreamCaptureMode m, int ptds);
CUresult d_capture_end(CUstream s, CUgraph *g, int ptds);
CUresult d_capture_is(CUstream s, CUstreamCaptureStatus *st, int ptds);
CUresult d_capture_info(CUstream s, CUstreamCaptureStatus *st, cuuint64_t *id, CUgraph *g, const CUgraphNode **deps,
                        const CUgraphEdgeData **ed, size_t *nd, int ptds);
CUresult d_capture_exchange_mode(CUstreamCaptureMode *m);
CUresult d_event_create(CUevent *pe, unsigned int flags);
CUresult d_event_record(CUevent e, CUstream s, int ptds);
CUresult d_event_sync(CUevent e);
CUresult d_event_elapsed(float *ms, CUevent a, CUevent b);
CUresult d_event_destroy(CUevent e);
CUresult d_graph_create(CUgraph *g);
CUresult d_graph_destroy(CUgraph g);
CUresult d_graph_nodes(CUgraph g, CUgraphNode *nodes, size_t *n);
CUresult d_graph_instantiate(CUgraphExec *e, CUgraph g);
CUresult d_graph_instantiate_log(CUgraphExec *e, CUgraph g, CUgraphNode *err, char *log, size_t logsz);
CUresult d_graph_launch(CUgraphExec e, CUstream s, int ptds);
CUresult d_graph_upload(CUgraphExec e, CUstream s, int ptds);
CUresult d_graph_exec_destroy(CUgraphExec e);

// --- launch.c ---
CUresult d_module_load(CUmodule *m, const void *image);
CUresult d_module_unload(CUmodule m);
CUresult d_module_get_function(CUfunction *f, CUmodule m, const char *name);
// A module's __device__ variable: one 64 KiB block of device memory per process, made at the
// first lookup (strict device memory when UMDOUBLE_STRICT is on, like a GPU's).
CUresult d_module_get_global(CUdeviceptr *dptr, size_t *bytes, CUmodule m, const char *name);
CUresult d_func_param_info(CUfunction f, size_t i, size_t *off, size_t *size);
CUresult d_func_name(const char **name, CUfunction f);
CUresult d_func_attr(int *v, CUfunction_attribute a, CUfunction f);
CUresult d_func_set_attr(CUfunction f);
CUresult d_launch(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz, CUstream s,
                  void **params, void **extra, int ptds);
CUresult d_launch_ex(const CUlaunchConfig *c, CUfunction f, void **params, void **extra, int ptds);

#endif
