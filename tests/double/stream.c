// Streams, events, stream capture and graphs of the driver test double. Work runs at
// submission (the double has no asynchrony), except on a capturing stream, where it is
// recorded into the stream's graph and runs at each cuGraphLaunch. Capture follows the real
// driver's rules closely enough to catch a shim that inserts work or synchronisation into a
// capture: synchronous copies, memsets, allocations, frees and context/stream syncs made while
// a global (or this thread's thread-local) capture is active invalidate it and return
// CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED; cuStreamEndCapture then reports
// CUDA_ERROR_STREAM_CAPTURE_INVALIDATED.
#include "tests/double/double.h"
#include "tests/double/impl.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static struct CUstream_st d_legacy = {.magic = D_MAGIC_STREAM};
static __thread struct CUstream_st t_per_thread = {.magic = D_MAGIC_STREAM};
static struct CUstream_st *d_streams; // live created streams
static struct CUevent_st *d_events;   // live events
static atomic_ullong d_stream_ids = 3, d_capture_ids = 1;
static __thread CUstreamCaptureMode t_mode = CU_STREAM_CAPTURE_MODE_GLOBAL;

// --- stream lookup (lock held) ---
CUresult d_stream_get(CUstream h, int ptds, struct CUstream_st **out) {
    if (h == NULL) {
        *out = ptds ? &t_per_thread : &d_legacy;
        return CUDA_SUCCESS;
    }
    if (h == CU_STREAM_LEGACY) {
        *out = &d_legacy;
        return CUDA_SUCCESS;
    }
    if (h == CU_STREAM_PER_THREAD) {
        *out = &t_per_thread;
        return CUDA_SUCCESS;
    }
    for (struct CUstream_st *s = d_streams; s; s = s->next)
        if (s == h) {
            *out = s;
            return CUDA_SUCCESS;
        }
    return CUDA_ERROR_INVALID_HANDLE;
}

static int d_event_valid(CUevent e) {
    for (struct CUevent_st *p = d_events; p; p = p->next)
        if (p == e) return 1;
    return 0;
}

CUresult d_capture_check_unsafe(void) {
    if (t_mode == CU_STREAM_CAPTURE_MODE_RELAXED) return CUDA_SUCCESS;
    pthread_t self = pthread_self();
    int hit = 0;
    for (struct CUstream_st *s = d_streams; s; s = s->next) {
        if (!s->capturing || s->mode == CU_STREAM_CAPTURE_MODE_RELAXED) continue;
        int own = pthread_equal(s->capture_thread, self);
        if (own || (s->mode == CU_STREAM_CAPTURE_MODE_GLOBAL && t_mode == CU_STREAM_CAPTURE_MODE_GLOBAL)) {
            s->invalidated = 1;
            hit = 1;
        }
    }
    if (hit) d_arg("capture=invalidated");
    return hit ? CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED : CUDA_SUCCESS;
}

// --- deferred work ---
static void d_op_free(d_op_t *op) {
    free(op->params);
    op->params = NULL;
}

static CUresult d_graph_append(struct CUgraph_st *g, const d_op_t *op) {
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 16;
        d_op_t *ops = realloc(g->ops, cap * sizeof *ops);
        if (!ops) return CUDA_ERROR_OUT_OF_MEMORY;
        g->ops = ops;
        g->cap = cap;
    }
    g->ops[g->n++] = *op;
    return CUDA_SUCCESS;
}

static CUresult d_op_run(d_op_t *op);

CUresult d_op_execute(d_op_t *op) {
    d_device_open();
    CUresult rc = d_op_run(op);
    d_device_close();
    return rc;
}

static CUresult d_op_run(d_op_t *op) {
    switch (op->kind) {
    case D_OP_COPY:
        if ((op->dst_dev && !d_range_ok(op->dst, op->bytes)) || (op->src_dev && !d_range_ok(op->src, op->bytes)))
            return CUDA_ERROR_ILLEGAL_ADDRESS;
        memmove((void *)op->dst, (const void *)op->src, op->bytes);
        if (op->dst_dev) d_mark_written(op->dst, op->bytes, op->device);
        d_stat_add("copies", 1);
        d_stat_add("copy_bytes", (long long)op->bytes);
        return CUDA_SUCCESS;
    case D_OP_MEMSET:
        if (!d_range_ok(op->dst, op->bytes * op->elem)) return CUDA_ERROR_ILLEGAL_ADDRESS;
        if (op->elem == 1) {
            memset((void *)op->dst, (int)(op->value & 0xff), op->bytes);
        } else if (op->elem == 2) {
            unsigned short v = (unsigned short)op->value, *p = (unsigned short *)op->dst;
            for (size_t i = 0; i < op->bytes; i++) p[i] = v;
        } else {
            unsigned int *p = (unsigned int *)op->dst;
            for (size_t i = 0; i < op->bytes; i++) p[i] = op->value;
        }
        d_touch_device(op->dst, op->bytes * op->elem, op->device);
        return CUDA_SUCCESS;
    case D_OP_LAUNCH:
        d_stat_add("launches", 1);
        return op->fn->run(op->fn, op->params, op->device);
    case D_OP_EVENT:
        if (d_event_valid(op->event)) {
            op->event->recorded = 1;
            op->event->t_ns = d_now_ns();
        }
        return CUDA_SUCCESS;
    case D_OP_HOSTFN: // run by the caller without the lock
    case D_OP_EMPTY: return CUDA_SUCCESS;
    }
    return CUDA_ERROR_UNKNOWN;
}

CUresult d_submit(struct CUstream_st *s, d_op_t *op) {
    if (s->capturing) {
        if (s->invalidated) {
            d_op_free(op);
            return CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
        }
        CUresult rc = d_graph_append(s->graph, op); // the graph owns op->params now
        if (rc != CUDA_SUCCESS) d_op_free(op);
        d_arg("captured=1");
        return rc;
    }
    CUresult rc = d_op_execute(op);
    d_op_free(op);
    return rc;
}

// --- streams ---
CUresult d_stream_create(CUstream *ps, unsigned int flags, int prio) {
    if (!ps || (flags & ~(unsigned)CU_STREAM_NON_BLOCKING)) return CUDA_ERROR_INVALID_VALUE;
    CUcontext ctx;
    CUresult rc = d_need_ctx(&ctx);
    if (rc != CUDA_SUCCESS) return rc;
    struct CUstream_st *s = calloc(1, sizeof *s);
    if (!s) return CUDA_ERROR_OUT_OF_MEMORY;
    s->magic = D_MAGIC_STREAM;
    s->ctx = ctx;
    s->flags = flags;
    s->priority = prio;
    s->id = atomic_fetch_add(&d_stream_ids, 1);
    D_LOCK();
    s->next = d_streams;
    d_streams = s;
    D_UNLOCK();
    *ps = s;
    d_arg("stream=%p", (void *)s);
    return CUDA_SUCCESS;
}

static void d_graph_clear(struct CUgraph_st *g) {
    for (size_t i = 0; i < g->n; i++) d_op_free(&g->ops[i]);
    free(g->ops);
    g->ops = NULL;
    g->n = g->cap = 0;
}

CUresult d_stream_destroy(CUstream h) {
    d_arg("stream=%p", (void *)h);
    D_LOCK();
    struct CUstream_st **pp = &d_streams;
    while (*pp && *pp != h) pp = &(*pp)->next;
    if (!*pp || !h) {
        D_UNLOCK();
        return CUDA_ERROR_INVALID_HANDLE;
    }
    struct CUstream_st *s = *pp;
    *pp = s->next;
    D_UNLOCK();
    if (s->capturing && s->graph) {
        d_graph_clear(s->graph);
        free(s->graph);
    }
    s->magic = 0;
    free(s);
    return CUDA_SUCCESS;
}

CUresult d_stream_sync(CUstream h, int ptds, int query) {
    d_arg("stream=%p", (void *)h);
    D_LOCK();
    struct CUstream_st *s;
    CUresult rc = d_stream_get(h, ptds, &s);
    if (rc == CUDA_SUCCESS && s->capturing) {
        s->invalidated = 1;
        rc = CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
    } else if (rc == CUDA_SUCCESS && !query && s == &d_legacy) {
        rc = d_capture_check_unsafe(); // the legacy stream synchronises with every stream
    }
    D_UNLOCK();
    return rc;
}

CUresult d_stream_wait_event(CUstream h, CUevent e, int ptds) {
    D_LOCK();
    struct CUstream_st *s;
    CUresult rc = d_stream_get(h, ptds, &s);
    if (rc == CUDA_SUCCESS && !d_event_valid(e)) rc = CUDA_ERROR_INVALID_HANDLE;
    if (rc == CUDA_SUCCESS && s->capturing) {
        d_op_t op = {.kind = D_OP_EMPTY};
        rc = d_submit(s, &op);
    }
    D_UNLOCK();
    return rc;
}

static CUresult d_stream_query_attr(CUstream h, int ptds, struct CUstream_st *copy) {
    D_LOCK();
    struct CUstream_st *s;
    CUresult rc = d_stream_get(h, ptds, &s);
    if (rc == CUDA_SUCCESS) *copy = *s;
    D_UNLOCK();
    return rc;
}

CUresult d_stream_get_ctx(CUstream h, CUcontext *pc, int ptds) {
    if (!pc) return CUDA_ERROR_INVALID_VALUE;
    struct CUstream_st s;
    CUresult rc = d_stream_query_attr(h, ptds, &s);
    if (rc == CUDA_SUCCESS) *pc = s.ctx ? s.ctx : d_current_ctx();
    return rc;
}

CUresult d_stream_get_flags(CUstream h, unsigned int *f, int ptds) {
    if (!f) return CUDA_ERROR_INVALID_VALUE;
    struct CUstream_st s;
    CUresult rc = d_stream_query_attr(h, ptds, &s);
    if (rc == CUDA_SUCCESS) *f = s.flags;
    return rc;
}

CUresult d_stream_get_prio(CUstream h, int *p, int ptds) {
    if (!p) return CUDA_ERROR_INVALID_VALUE;
    struct CUstream_st s;
    CUresult rc = d_stream_query_attr(h, ptds, &s);
    if (rc == CUDA_SUCCESS) *p = s.priority;
    return rc;
}

CUresult d_stream_get_id(CUstream h, unsigned long long *id, int ptds) {
    if (!id) return CUDA_ERROR_INVALID_VALUE;
    struct CUstream_st s;
    CUresult rc = d_stream_query_attr(h, ptds, &s);
    if (rc == CUDA_SUCCESS) *id = s.id ? s.id : (h == NULL && !ptds) || h == CU_STREAM_LEGACY ? 1 : 2;
    return rc;
}

CUresult d_stream_get_device(CUstream h, CUdevice *d, int ptds) {
    if (!d) return CUDA_ERROR_INVALID_VALUE;
    struct CUstream_st s;
    CUresult rc = d_stream_query_attr(h, ptds, &s);
    if (rc != CUDA_SUCCESS) return rc;
    CUcontext c = s.ctx ? s.ctx : d_current_ctx();
    if (!c) return CUDA_ERROR_INVALID_CONTEXT;
    *d = c->device;
    return CUDA_SUCCESS;
}

// Host functions run on the caller's thread once the lock is dropped (they may call back in).
static CUresult d_host_work(CUstream h, int ptds, CUhostFn fn, void *user, int *run_now) {
    if (!fn) return CUDA_ERROR_INVALID_VALUE;
    *run_now = 0;
    D_LOCK();
    struct CUstream_st *s;
    CUresult rc = d_stream_get(h, ptds, &s);
    if (rc == CUDA_SUCCESS && s->capturing) {
        d_op_t op = {.kind = D_OP_HOSTFN, .host_fn = fn, .user = user};
        rc = d_submit(s, &op);
    } else if (rc == CUDA_SUCCESS) {
        *run_now = 1;
    }
    D_UNLOCK();
    return rc;
}

CUresult d_launch_host(CUstream h, CUhostFn fn, void *user, int ptds) {
    int now = 0;
    CUresult rc = d_host_work(h, ptds, fn, user, &now);
    if (now) fn(user);
    return rc;
}

typedef struct {
    CUstreamCallback cb;
    CUstream h;
    void *user;
} d_cb_t;

CUresult d_stream_callback(CUstream h, CUstreamCallback cb, void *user, int ptds) {
    if (!cb) return CUDA_ERROR_INVALID_VALUE;
    D_LOCK();
    struct CUstream_st *s;
    CUresult rc = d_stream_get(h, ptds, &s);
    if (rc == CUDA_SUCCESS && s->capturing) rc = CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
    D_UNLOCK();
    if (rc == CUDA_SUCCESS) cb(h, CUDA_SUCCESS, user);
    return rc;
}

// --- capture ---
CUresult d_capture_begin(CUstream h, CUstreamCaptureMode m, int ptds) {
    d_arg("stream=%p mode=%d", (void *)h, (int)m);
    if (m != CU_STREAM_CAPTURE_MODE_GLOBAL && m != CU_STREAM_CAPTURE_MODE_THREAD_LOCAL &&
        m != CU_STREAM_CAPTURE_MODE_RELAXED)
        return CUDA_ERROR_INVALID_VALUE;
    D_LOCK();
    struct CUstream_st *s;
    CUresult rc = d_stream_get(h, ptds, &s);
    // The legacy stream cannot be captured; the per-thread stream is not modelled.
    if (rc == CUDA_SUCCESS && (s == &d_legacy || s == &t_per_thread)) rc = CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
    if (rc == CUDA_SUCCESS && s->capturing) rc = CUDA_ERROR_ILLEGAL_STATE;
    if (rc == CUDA_SUCCESS) {
        struct CUgraph_st *g = calloc(1, sizeof *g);
        if (!g) {
            rc = CUDA_ERROR_OUT_OF_MEMORY;
        } else {
            g->magic = D_MAGIC_GRAPH;
            s->graph = g;
            s->capturing = 1;
            s->invalidated = 0;
            s->mode = m;
            s->capture_thread = pthread_self();
            s->capture_id = atomic_fetch_add(&d_capture_ids, 1);
        }
    }
    D_UNLOCK();
    return rc;
}

CUresult d_capture_end(CUstream h, CUgraph *pg, int ptds) {
    d_arg("stream=%p", (void *)h);
    if (!pg) return CUDA_ERROR_INVALID_VALUE;
    D_LOCK();
    struct CUstream_st *s;
    CUresult rc = d_stream_get(h, ptds, &s);
    if (rc == CUDA_SUCCESS && !s->capturing) rc = CUDA_ERROR_ILLEGAL_STATE;
    if (rc == CUDA_SUCCESS && s->mode != CU_STREAM_CAPTURE_MODE_RELAXED &&
        !pthread_equal(s->capture_thread, pthread_self()))
        rc = CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD;
    if (rc == CUDA_SUCCESS) {
        struct CUgraph_st *g = s->graph;
        s->capturing = 0;
        s->graph = NULL;
        if (s->invalidated) {
            d_graph_clear(g);
            free(g);
            *pg = NULL;
            rc = CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
        } else {
            *pg = g;
            d_arg("nodes=%zu", g->n);
        }
        s->invalidated = 0;
    }
    D_UNLOCK();
    return rc;
}

CUresult d_capture_is(CUstream h, CUstreamCaptureStatus *st, int ptds) {
    return d_capture_info(h, st, NULL, NULL, NULL, NULL, NULL, ptds);
}

CUresult d_capture_info(CUstream h, CUstreamCaptureStatus *st, cuuint64_t *id, CUgraph *g, const CUgraphNode **deps,
                        const CUgraphEdgeData **ed, size_t *nd, int ptds) {
    if (!st) return CUDA_ERROR_INVALID_VALUE;
    D_LOCK();
    struct CUstream_st *s;
    CUresult rc = d_stream_get(h, ptds, &s);
    if (rc == CUDA_SUCCESS) {
        *st = !s->capturing ? CU_STREAM_CAPTURE_STATUS_NONE
            : s->invalidated ? CU_STREAM_CAPTURE_STATUS_INVALIDATED : CU_STREAM_CAPTURE_STATUS_ACTIVE;
        if (id && s->capturing) *id = s->capture_id;
        if (g) *g = s->capturing ? s->graph : NULL;
        if (deps) *deps = NULL;
        if (ed) *ed = NULL;
        if (nd) *nd = 0;
        d_arg("stream=%p status=%d", (void *)h, (int)*st);
    }
    D_UNLOCK();
    return rc;
}

CUresult d_capture_exchange_mode(CUstreamCaptureMode *m) {
    if (!m) return CUDA_ERROR_INVALID_VALUE;
    CUstreamCaptureMode old = t_mode;
    t_mode = *m;
    *m = old;
    return CUDA_SUCCESS;
}

// --- events ---
CUresult d_event_create(CUevent *pe, unsigned int flags) {
    if (!pe) return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = d_need_ctx(NULL);
    if (rc != CUDA_SUCCESS) return rc;
    struct CUevent_st *e = calloc(1, sizeof *e);
    if (!e) return CUDA_ERROR_OUT_OF_MEMORY;
    e->magic = D_MAGIC_EVENT;
    e->flags = flags;
    D_LOCK();
    e->next = d_events;
    d_events = e;
    D_UNLOCK();
    *pe = e;
    return CUDA_SUCCESS;
}

CUresult d_event_record(CUevent e, CUstream h, int ptds) {
    d_arg("event=%p stream=%p", (void *)e, (void *)h);
    D_LOCK();
    struct CUstream_st *s;
    CUresult rc = d_event_valid(e) ? d_stream_get(h, ptds, &s) : CUDA_ERROR_INVALID_HANDLE;
    if (rc == CUDA_SUCCESS) {
        d_op_t op = {.kind = D_OP_EVENT, .event = e};
        rc = d_submit(s, &op);
    }
    D_UNLOCK();
    return rc;
}

CUresult d_event_sync(CUevent e) {
    D_LOCK();
    int ok = d_event_valid(e);
    D_UNLOCK();
    return ok ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

CUresult d_event_elapsed(float *ms, CUevent a, CUevent b) {
    if (!ms) return CUDA_ERROR_INVALID_VALUE;
    D_LOCK();
    CUresult rc = CUDA_SUCCESS;
    if (!d_event_valid(a) || !d_event_valid(b) || (a->flags & CU_EVENT_DISABLE_TIMING) ||
        (b->flags & CU_EVENT_DISABLE_TIMING) || !a->recorded || !b->recorded)
        rc = CUDA_ERROR_INVALID_HANDLE;
    else
        *ms = (float)((double)((int64_t)(b->t_ns - a->t_ns)) / 1e6);
    D_UNLOCK();
    return rc;
}

CUresult d_event_destroy(CUevent e) {
    D_LOCK();
    struct CUevent_st **pp = &d_events;
    while (*pp && *pp != e) pp = &(*pp)->next;
    if (!*pp || !e) {
        D_UNLOCK();
        return CUDA_ERROR_INVALID_HANDLE;
    }
    *pp = e->next;
    D_UNLOCK();
    e->magic = 0;
    free(e);
    return CUDA_SUCCESS;
}

// --- graphs ---
static int d_graph_ok(CUgraph g) { return g && g->magic == D_MAGIC_GRAPH; }

CUresult d_graph_create(CUgraph *pg) {
    if (!pg) return CUDA_ERROR_INVALID_VALUE;
    struct CUgraph_st *g = calloc(1, sizeof *g);
    if (!g) return CUDA_ERROR_OUT_OF_MEMORY;
    g->magic = D_MAGIC_GRAPH;
    *pg = g;
    return CUDA_SUCCESS;
}

CUresult d_graph_destroy(CUgraph g) {
    if (!d_graph_ok(g)) return CUDA_ERROR_INVALID_VALUE;
    D_LOCK();
    d_graph_clear(g);
    D_UNLOCK();
    g->magic = 0;
    free(g);
    return CUDA_SUCCESS;
}

CUresult d_graph_nodes(CUgraph g, CUgraphNode *nodes, size_t *n) {
    if (!d_graph_ok(g) || !n) return CUDA_ERROR_INVALID_VALUE;
    D_LOCK();
    if (nodes) {
        for (size_t i = 0; i < *n && i < g->n; i++) nodes[i] = (CUgraphNode)(uintptr_t)(i + 1);
        if (*n > g->n) *n = g->n;
    } else {
        *n = g->n;
    }
    D_UNLOCK();
    return CUDA_SUCCESS;
}

// The pre-12.0 ABI: the error node is cleared and the log buffer gets an empty string (the
// real driver writes there too: a garbage buffer crashed it).
CUresult d_graph_instantiate_log(CUgraphExec *pe, CUgraph g, CUgraphNode *err, char *log, size_t logsz) {
    CUresult rc = d_graph_instantiate(pe, g);
    if (err) *err = NULL;
    if (log && logsz > 0) log[0] = 0;
    return rc;
}

CUresult d_graph_instantiate(CUgraphExec *pe, CUgraph g) {
    if (!pe || !d_graph_ok(g)) return CUDA_ERROR_INVALID_VALUE;
    struct CUgraphExec_st *e = calloc(1, sizeof *e);
    if (!e) return CUDA_ERROR_OUT_OF_MEMORY;
    e->magic = D_MAGIC_EXEC;
    D_LOCK();
    CUresult rc = CUDA_SUCCESS;
    for (size_t i = 0; i < g->n && rc == CUDA_SUCCESS; i++) {
        d_op_t op = g->ops[i];
        if (op.params) {
            op.params = malloc(op.params_size ? op.params_size : 1);
            if (!op.params) {
                rc = CUDA_ERROR_OUT_OF_MEMORY;
                break;
            }
            memcpy(op.params, g->ops[i].params, op.params_size);
        }
        rc = d_graph_append(&e->g, &op);
        if (rc != CUDA_SUCCESS) d_op_free(&op);
    }
    D_UNLOCK();
    if (rc != CUDA_SUCCESS) {
        d_graph_clear(&e->g);
        free(e);
        return rc;
    }
    d_arg("nodes=%zu", g->n);
    *pe = e;
    return CUDA_SUCCESS;
}

CUresult d_graph_launch(CUgraphExec e, CUstream h, int ptds) {
    d_arg("exec=%p stream=%p", (void *)e, (void *)h);
    if (!e || e->magic != D_MAGIC_EXEC) return CUDA_ERROR_INVALID_VALUE;
    D_LOCK();
    struct CUstream_st *s;
    CUresult rc = d_stream_get(h, ptds, &s);
    if (rc == CUDA_SUCCESS && s->capturing) rc = CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED; // no child graphs
    for (size_t i = 0; i < e->g.n && rc == CUDA_SUCCESS; i++) {
        d_op_t *op = &e->g.ops[i];
        if (op->kind == D_OP_HOSTFN) {
            D_UNLOCK();
            op->host_fn(op->user);
            D_LOCK();
        } else {
            rc = d_op_execute(op);
        }
    }
    D_UNLOCK();
    return rc;
}

CUresult d_graph_upload(CUgraphExec e, CUstream h, int ptds) {
    if (!e || e->magic != D_MAGIC_EXEC) return CUDA_ERROR_INVALID_VALUE;
    D_LOCK();
    struct CUstream_st *s;
    CUresult rc = d_stream_get(h, ptds, &s);
    D_UNLOCK();
    return rc;
}

CUresult d_graph_exec_destroy(CUgraphExec e) {
    if (!e || e->magic != D_MAGIC_EXEC) return CUDA_ERROR_INVALID_VALUE;
    D_LOCK();
    d_graph_clear(&e->g);
    D_UNLOCK();
    e->magic = 0;
    free(e);
    return CUDA_SUCCESS;
}
