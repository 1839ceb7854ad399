// Synthetic event sequences for the policy suites: one constructor per event kind, with a
// shared clock, so a test reads like the program it imitates
// (alloc, upload, launch, read back, free).
#ifndef UMSHIM_TESTS_POLICY_EVENTS_H
#define UMSHIM_TESTS_POLICY_EVENTS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "policy/event.h"

static uint64_t um_test_clock = 1000;

static inline um_event_t ev_base(um_ev_kind_t kind) {
    um_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = kind;
    ev.t_ns = (um_test_clock += 1000);
    ev.tid = 77;
    return ev;
}

// An allocation of `bytes` at pointer id << 32 (so ranges never overlap).
static inline um_event_t ev_alloc_kind(uint64_t id, uint64_t bytes, um_mem_kind_t mem,
                                       um_mem_kind_t req, const char *site) {
    um_event_t ev = ev_base(UM_EV_ALLOC);
    ev.alloc_id = id;
    ev.ptr = id << 32;
    ev.bytes = bytes;
    ev.mem = mem;
    ev.req_mem = req;
    strncpy(ev.site, site, sizeof ev.site - 1);
    strcpy(ev.name, "cuMemAlloc_v2");
    return ev;
}

static inline um_event_t ev_alloc(uint64_t id, uint64_t bytes, const char *site) {
    return ev_alloc_kind(id, bytes, UM_MEM_MANAGED, UM_MEM_DEVICE, site);
}

static inline um_event_t ev_free(uint64_t id) {
    um_event_t ev = ev_base(UM_EV_FREE);
    ev.alloc_id = id;
    ev.ptr = id << 32;
    return ev;
}

// H2D into allocation `id` at byte offset `off`.
static inline um_event_t ev_upload_at(uint64_t id, uint64_t off, uint64_t bytes) {
    um_event_t ev = ev_base(UM_EV_COPY);
    ev.dir = UM_DIR_H2D;
    ev.alloc_id = id;
    ev.ptr = (id << 32) + off;
    ev.bytes = bytes;
    strcpy(ev.name, "cuMemcpyHtoD_v2");
    return ev;
}

static inline um_event_t ev_upload(uint64_t id, uint64_t bytes) {
    return ev_upload_at(id, 0, bytes);
}

// D2H out of allocation `id` into pageable memory.
static inline um_event_t ev_readback(uint64_t id, uint64_t bytes) {
    um_event_t ev = ev_base(UM_EV_COPY);
    ev.dir = UM_DIR_D2H;
    ev.src_id = id;
    ev.bytes = bytes;
    strcpy(ev.name, "cuMemcpyDtoH_v2");
    return ev;
}

// A read-back whose sampled content the shim compared (um_content_t).
static inline um_event_t ev_readback_seen(uint64_t id, uint64_t bytes, int content) {
    um_event_t ev = ev_readback(id, bytes);
    ev.content = content;
    return ev;
}

static inline um_event_t ev_d2d(uint64_t dst, uint64_t src, uint64_t bytes) {
    um_event_t ev = ev_base(UM_EV_COPY);
    ev.dir = UM_DIR_D2D;
    ev.alloc_id = dst;
    ev.src_id = src;
    ev.ptr = dst << 32;
    ev.bytes = bytes;
    return ev;
}

static inline um_event_t ev_memset(uint64_t id, uint64_t bytes) {
    um_event_t ev = ev_base(UM_EV_MEMSET);
    ev.alloc_id = id;
    ev.ptr = id << 32;
    ev.bytes = bytes;
    return ev;
}

// A launch referencing the given allocation ids: ev_launch(3, 7).
static inline um_event_t ev_launch_ids(const uint64_t *ids, size_t n) {
    um_event_t ev = ev_base(UM_EV_LAUNCH);
    strcpy(ev.name, "cosine");
    for (size_t i = 0; i < n && i < UM_LAUNCH_MAX_REFS; i++) {
        ev.refs[ev.nrefs++] = ids[i];
    }
    return ev;
}
#define ev_launch(...)                                                                             \
    ev_launch_ids((const uint64_t[]){__VA_ARGS__},                                                 \
                  sizeof((const uint64_t[]){__VA_ARGS__}) / sizeof(uint64_t))

static inline um_event_t ev_named(um_ev_kind_t kind, uint64_t id, const char *name) {
    um_event_t ev = ev_base(kind);
    ev.alloc_id = id;
    strncpy(ev.name, name, sizeof ev.name - 1);
    return ev;
}

#endif
