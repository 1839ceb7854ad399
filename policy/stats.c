// Folds events into per-allocation and per-site statistics (see stats.h for what the numbers
// mean and where inference stops). Two small open-addressing tables: allocation id ->
// record, site name -> site. Records live in growable arrays; with retain_freed == 0 a freed
// record is removed (swap with the last one) so the table tracks live allocations only and
// a program that allocates in a loop costs constant memory. Everything is a pure function of
// the event sequence: no clocks, no addresses, no randomness.
#include "policy/stats.h"

#include <stdlib.h>
#include <string.h>

// --- pattern names ---

static const char *const pattern_names[] = {
#define UM_PAT_NAME(id, name, what) name,
    UM_STATS_PATTERNS(UM_PAT_NAME)
#undef UM_PAT_NAME
};

static const char *const pattern_whats[] = {
#define UM_PAT_WHAT(id, name, what) what,
    UM_STATS_PATTERNS(UM_PAT_WHAT)
#undef UM_PAT_WHAT
};

const char *um_pattern_name(um_pattern_t p) {
    return (unsigned)p < UM_PAT_COUNT ? pattern_names[p] : "?";
}

const char *um_pattern_what(um_pattern_t p) {
    return (unsigned)p < UM_PAT_COUNT ? pattern_whats[p] : "?";
}

um_pattern_t um_stats_pattern_of(const um_stats_counts_t *c) {
    int uploaded = c->h2d_n + c->host_write_n > 0;
    int read_back = c->d2h_n + c->host_read_n > 0;
    if (c->launch_n == 0) {
        int touched = uploaded || read_back || c->memset_n || c->d2d_in_n || c->d2d_out_n ||
                      c->host_access_n || c->h2d_src_n || c->d2h_dst_n || c->h2h_n;
        return touched ? UM_PAT_HOST_ONLY : UM_PAT_UNUSED;
    }
    if (uploaded && read_back) {
        return UM_PAT_INOUT;
    }
    if (read_back) {
        return UM_PAT_RESULT;
    }
    if (uploaded) {
        return c->h2d_after_launch_n > 0 ? UM_PAT_STREAMED : UM_PAT_INPUT;
    }
    return UM_PAT_SCRATCH;
}

um_pattern_t um_stats_site_pattern(const um_stats_site_t *s, int include_live, int *mixed) {
    um_pattern_t found = UM_PAT_UNUSED;
    if (mixed != NULL) {
        *mixed = 0;
    }
    for (int p = UM_PAT_UNUSED + 1; p < UM_PAT_COUNT; p++) {
        uint64_t n = s->pattern_freed[p] + (include_live ? s->pattern_live[p] : 0);
        if (n == 0) {
            continue;
        }
        if (found != UM_PAT_UNUSED) {
            if (mixed != NULL) {
                *mixed = 1;
            }
            return UM_PAT_UNUSED;
        }
        found = (um_pattern_t)p;
    }
    return found;
}

// --- tables ---

typedef struct {
    uint64_t key; // allocation id; 0 = empty slot
    size_t index;
} id_slot_t;

typedef struct {
    uint64_t hash; // of the site name; the index tells apart collisions
    size_t index_plus_1; // 0 = empty slot
} site_slot_t;

struct um_stats {
    int retain_freed;
    uint64_t epoch; // bumped by events that may write any allocation
    um_stats_alloc_t *recs;
    size_t nrecs, rec_cap;
    id_slot_t *ids; // capacity a power of two, at most half full
    size_t id_cap, id_used;
    um_stats_site_t *sites;
    size_t nsites, site_cap;
    site_slot_t *site_slots;
    size_t site_slot_cap;
    um_stats_totals_t tot;
};

static uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static uint64_t fnv1a(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    return h;
}

static id_slot_t *id_find_slot(const um_stats_t *st, uint64_t id) {
    if (st->id_cap == 0) {
        return NULL;
    }
    size_t mask = st->id_cap - 1;
    for (size_t i = mix64(id) & mask;; i = (i + 1) & mask) {
        if (st->ids[i].key == id || st->ids[i].key == 0) {
            return &st->ids[i];
        }
    }
}

static int id_grow(um_stats_t *st) {
    size_t ncap = st->id_cap ? st->id_cap * 2 : 64;
    id_slot_t *old = st->ids;
    size_t ocap = st->id_cap;
    id_slot_t *n = calloc(ncap, sizeof *n);
    if (n == NULL) {
        return -1;
    }
    st->ids = n;
    st->id_cap = ncap;
    for (size_t i = 0; i < ocap; i++) {
        if (old[i].key != 0) {
            *id_find_slot(st, old[i].key) = old[i];
        }
    }
    free(old);
    return 0;
}

static int id_put(um_stats_t *st, uint64_t id, size_t index) {
    if ((st->id_used + 1) * 2 > st->id_cap && id_grow(st) != 0) {
        return -1;
    }
    id_slot_t *s = id_find_slot(st, id);
    if (s->key == 0) {
        st->id_used++;
    }
    s->key = id;
    s->index = index;
    return 0;
}

// Linear-probing delete with backward shift: no tombstones, so lookups stay short.
static void id_del(um_stats_t *st, uint64_t id) {
    id_slot_t *s = id_find_slot(st, id);
    if (s == NULL || s->key == 0) {
        return;
    }
    size_t mask = st->id_cap - 1;
    size_t i = (size_t)(s - st->ids);
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (st->ids[j].key == 0) {
            break;
        }
        size_t home = mix64(st->ids[j].key) & mask;
        // Move j into the hole at i when its home slot is not within (i, j] (cyclically).
        int in_between = (i <= j) ? (home > i && home <= j) : (home > i || home <= j);
        if (!in_between) {
            st->ids[i] = st->ids[j];
            i = j;
        }
    }
    st->ids[i].key = 0;
    st->id_used--;
}

static um_stats_alloc_t *rec_of(const um_stats_t *st, uint64_t id) {
    if (id == 0) {
        return NULL;
    }
    id_slot_t *s = id_find_slot(st, id);
    return (s != NULL && s->key == id) ? &st->recs[s->index] : NULL;
}

// Events are folded into live allocations only (a retained freed record stays as it was).
static um_stats_alloc_t *live_of(const um_stats_t *st, uint64_t id) {
    um_stats_alloc_t *a = rec_of(st, id);
    return a != NULL && !a->freed ? a : NULL;
}

static site_slot_t *site_find_slot(const um_stats_t *st, const char *name, uint64_t h) {
    if (st->site_slot_cap == 0) {
        return NULL;
    }
    size_t mask = st->site_slot_cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        site_slot_t *s = &st->site_slots[i];
        if (s->index_plus_1 == 0 ||
            (s->hash == h && strcmp(st->sites[s->index_plus_1 - 1].site, name) == 0)) {
            return s;
        }
    }
}

static int site_slots_grow(um_stats_t *st) {
    size_t ncap = st->site_slot_cap ? st->site_slot_cap * 2 : 64;
    site_slot_t *n = calloc(ncap, sizeof *n);
    if (n == NULL) {
        return -1;
    }
    free(st->site_slots);
    st->site_slots = n;
    st->site_slot_cap = ncap;
    for (size_t i = 0; i < st->nsites; i++) {
        uint64_t h = fnv1a(st->sites[i].site);
        site_slot_t *s = site_find_slot(st, st->sites[i].site, h);
        s->hash = h;
        s->index_plus_1 = i + 1;
    }
    return 0;
}

// The site record for `name`, created on first use; SIZE_MAX when out of memory.
static size_t site_intern(um_stats_t *st, const char *name) {
    uint64_t h = fnv1a(name);
    site_slot_t *s = site_find_slot(st, name, h);
    if (s != NULL && s->index_plus_1 != 0) {
        return s->index_plus_1 - 1;
    }
    if ((st->nsites + 1) * 2 > st->site_slot_cap && site_slots_grow(st) != 0) {
        return SIZE_MAX;
    }
    if (st->nsites == st->site_cap) {
        size_t ncap = st->site_cap ? st->site_cap * 2 : 16;
        um_stats_site_t *n = realloc(st->sites, ncap * sizeof *n);
        if (n == NULL) {
            return SIZE_MAX;
        }
        st->sites = n;
        st->site_cap = ncap;
    }
    um_stats_site_t *site = &st->sites[st->nsites];
    memset(site, 0, sizeof *site);
    // The caller's string is NUL-terminated within UM_SITE_MAX (checked on entry).
    strcpy(site->site, name);
    s = site_find_slot(st, name, h);
    s->hash = h;
    s->index_plus_1 = st->nsites + 1;
    return st->nsites++;
}

// --- lifecycle ---

um_stats_t *um_stats_create(int retain_freed) {
    um_stats_t *st = calloc(1, sizeof *st);
    if (st != NULL) {
        st->retain_freed = retain_freed != 0;
    }
    return st;
}

void um_stats_destroy(um_stats_t *st) {
    if (st == NULL) {
        return;
    }
    free(st->recs);
    free(st->ids);
    free(st->sites);
    free(st->site_slots);
    free(st);
}

// --- folding ---

static um_stats_site_t *site_of(um_stats_t *st, const um_stats_alloc_t *a) {
    return &st->sites[a->site_index];
}

// Adds v to counter `field` of the allocation and of its site.
#define BUMP(st, a, field, v)                                                                      \
    do {                                                                                           \
        (a)->c.field += (v);                                                                       \
        site_of((st), (a))->c.field += (v);                                                        \
    } while (0)

// The clean range and pending uploads belong to an epoch; an event that may have touched
// every allocation (graph launch, truncated refs) starts a new one, emptying them all in O(1).
static void sync_epoch(um_stats_t *st, um_stats_alloc_t *a) {
    if (a->epoch != st->epoch) {
        a->clean_lo = a->clean_hi = 0;
        a->pending_n = a->pending_b = 0;
        a->epoch = st->epoch;
    }
}

static void device_wrote(um_stats_t *st, um_stats_alloc_t *a) {
    sync_epoch(st, a);
    a->clean_lo = a->clean_hi = 0;
}

static void device_used(um_stats_t *st, um_stats_alloc_t *a) {
    sync_epoch(st, a);
    a->pending_n = a->pending_b = 0;
}

static void repattern(um_stats_t *st, um_stats_alloc_t *a) {
    um_pattern_t p = um_stats_pattern_of(&a->c);
    if (p != a->pattern) {
        um_stats_site_t *s = site_of(st, a);
        s->pattern_live[a->pattern]--;
        s->pattern_live[p]++;
        a->pattern = p;
    }
}

static void touch(um_stats_alloc_t *a, uint64_t t) {
    if (t > a->t_last_use) {
        a->t_last_use = t;
    }
}

static void close_rec(um_stats_t *st, um_stats_alloc_t *a, uint64_t t) {
    um_stats_site_t *s = site_of(st, a);
    sync_epoch(st, a);
    if (a->pending_n > 0) {
        BUMP(st, a, h2d_unused_n, a->pending_n);
        BUMP(st, a, h2d_unused_b, a->pending_b);
        st->tot.h2d_unused_n += a->pending_n;
        st->tot.h2d_unused_b += a->pending_b;
        a->pending_n = a->pending_b = 0;
    }
    a->freed = 1;
    a->t_free = t;
    uint64_t life = t >= a->t_alloc ? t - a->t_alloc : 0;
    s->frees++;
    s->live--;
    s->live_bytes -= a->bytes;
    s->lifetime_ns_sum += life;
    if (life > s->lifetime_ns_max) {
        s->lifetime_ns_max = life;
    }
    s->pattern_live[a->pattern]--;
    s->pattern_freed[a->pattern]++;
    st->tot.frees++;
    st->tot.live--;
    st->tot.live_bytes -= a->bytes;
    if (a->mem == UM_MEM_MANAGED) {
        st->tot.managed_live_bytes -= a->bytes;
    }
}

// Removes the (freed) record from the tables unless freed records are retained.
static void drop_rec(um_stats_t *st, um_stats_alloc_t *a) {
    if (st->retain_freed) {
        return;
    }
    size_t i = (size_t)(a - st->recs);
    id_del(st, a->id);
    size_t last = st->nrecs - 1;
    if (i != last) {
        st->recs[i] = st->recs[last];
        id_slot_t *s = id_find_slot(st, st->recs[i].id);
        if (s != NULL && s->key == st->recs[i].id && s->index == last) {
            s->index = i;
        }
    }
    st->nrecs--;
}

static um_stats_alloc_t *on_alloc(um_stats_t *st, const um_event_t *ev) {
    if (ev->alloc_id == 0 || memchr(ev->site, '\0', sizeof ev->site) == NULL) {
        return NULL;
    }
    um_stats_alloc_t *old = live_of(st, ev->alloc_id);
    if (old != NULL) {
        // An id reused without a free (a missed event): close the old one first.
        close_rec(st, old, ev->t_ns);
        drop_rec(st, old);
    }
    size_t si = site_intern(st, ev->site);
    if (si == SIZE_MAX) {
        return NULL;
    }
    if (st->nrecs == st->rec_cap) {
        size_t ncap = st->rec_cap ? st->rec_cap * 2 : 64;
        um_stats_alloc_t *n = realloc(st->recs, ncap * sizeof *n);
        if (n == NULL) {
            return NULL;
        }
        st->recs = n;
        st->rec_cap = ncap;
    }
    if (id_put(st, ev->alloc_id, st->nrecs) != 0) {
        return NULL;
    }
    um_stats_alloc_t *a = &st->recs[st->nrecs++];
    memset(a, 0, sizeof *a);
    a->id = ev->alloc_id;
    a->ptr = ev->ptr;
    a->bytes = ev->bytes;
    a->mem = ev->mem;
    a->req_mem = ev->req_mem;
    a->device = ev->device;
    strcpy(a->site, ev->site);
    a->site_index = si;
    a->t_alloc = ev->t_ns;
    a->epoch = st->epoch;
    a->pattern = UM_PAT_UNUSED;

    um_stats_site_t *s = &st->sites[si];
    s->allocs++;
    s->live++;
    s->live_bytes += a->bytes;
    if (s->live_bytes > s->peak_live_bytes) {
        s->peak_live_bytes = s->live_bytes;
    }
    s->total_bytes += a->bytes;
    if (s->allocs == 1 || a->bytes < s->min_bytes) {
        s->min_bytes = a->bytes;
    }
    if (a->bytes > s->max_bytes) {
        s->max_bytes = a->bytes;
    }
    if (a->mem == UM_MEM_MANAGED) {
        s->managed_allocs++;
    } else if (a->mem == UM_MEM_DEVICE) {
        s->device_allocs++;
    } else {
        s->other_allocs++;
    }
    s->pattern_live[UM_PAT_UNUSED]++;

    um_stats_totals_t *t = &st->tot;
    t->allocs++;
    t->live++;
    t->live_bytes += a->bytes;
    if (t->live_bytes > t->peak_live_bytes) {
        t->peak_live_bytes = t->live_bytes;
    }
    if (a->mem == UM_MEM_MANAGED) {
        t->managed_live_bytes += a->bytes;
        if (t->managed_live_bytes > t->peak_managed_bytes) {
            t->peak_managed_bytes = t->managed_live_bytes;
        }
    }
    return a;
}

// Offsets [lo, hi) of a copy's device range inside `a`; 0 when unknown (no pointer, or
// outside the allocation).
static int range_in(const um_stats_alloc_t *a, uint64_t ptr, uint64_t bytes, uint64_t *lo,
                    uint64_t *hi) {
    if (ptr < a->ptr || ptr == 0) {
        return 0;
    }
    uint64_t off = ptr - a->ptr;
    if (off > a->bytes || bytes > a->bytes - off) {
        return 0;
    }
    *lo = off;
    *hi = off + bytes;
    return 1;
}

static void on_upload(um_stats_t *st, um_stats_alloc_t *a, const um_event_t *ev) {
    sync_epoch(st, a);
    BUMP(st, a, h2d_n, 1);
    BUMP(st, a, h2d_b, ev->bytes);
    if (a->c.launch_n > 0) {
        BUMP(st, a, h2d_after_launch_n, 1);
    }
    uint64_t lo, hi;
    if (!range_in(a, ev->ptr, ev->bytes, &lo, &hi)) {
        a->clean_lo = a->clean_hi = 0; // unknown range: claim nothing
    } else {
        if (hi > lo && lo >= a->clean_lo && hi <= a->clean_hi) {
            BUMP(st, a, h2d_redundant_n, 1);
            BUMP(st, a, h2d_redundant_b, ev->bytes);
            st->tot.h2d_redundant_n++;
            st->tot.h2d_redundant_b += ev->bytes;
        }
        if (a->clean_hi == a->clean_lo || hi < a->clean_lo || lo > a->clean_hi) {
            a->clean_lo = lo;
            a->clean_hi = hi;
        } else {
            a->clean_lo = lo < a->clean_lo ? lo : a->clean_lo;
            a->clean_hi = hi > a->clean_hi ? hi : a->clean_hi;
        }
    }
    a->pending_n++;
    a->pending_b += ev->bytes;
}

static void on_readback(um_stats_t *st, um_stats_alloc_t *a, const um_event_t *ev) {
    BUMP(st, a, d2h_n, 1);
    BUMP(st, a, d2h_b, ev->bytes);
    if (ev->content == UM_CONTENT_SAME) {
        BUMP(st, a, d2h_same_n, 1);
    } else if (ev->content == UM_CONTENT_CHANGED || ev->content == UM_CONTENT_LOST) {
        BUMP(st, a, d2h_changed_n, 1);
    }
    device_used(st, a);
    if (a->c.launch_n > 0) {
        a->readback_since_launch = 1;
    }
}

static um_stats_alloc_t *on_copy(um_stats_t *st, const um_event_t *ev) {
    um_stats_alloc_t *dst = live_of(st, ev->alloc_id);
    um_stats_alloc_t *src = live_of(st, ev->src_id);
    st->tot.unknown_refs += (ev->alloc_id != 0 && dst == NULL) + (ev->src_id != 0 && src == NULL);
    if ((unsigned)ev->dir < UM_DIR_COUNT) {
        st->tot.copies_n[ev->dir]++;
        st->tot.copies_b[ev->dir] += ev->bytes;
    }
    switch (ev->dir) {
    case UM_DIR_H2D:
        if (dst != NULL) {
            on_upload(st, dst, ev);
        }
        if (src != NULL) {
            BUMP(st, src, h2d_src_n, 1);
            BUMP(st, src, h2d_src_b, ev->bytes);
        }
        break;
    case UM_DIR_D2H:
        if (src != NULL) {
            on_readback(st, src, ev);
        }
        if (dst != NULL) {
            BUMP(st, dst, d2h_dst_n, 1);
            BUMP(st, dst, d2h_dst_b, ev->bytes);
        }
        break;
    case UM_DIR_D2D:
    case UM_DIR_PEER:
        if (dst != NULL) {
            BUMP(st, dst, d2d_in_n, 1);
            BUMP(st, dst, d2d_in_b, ev->bytes);
            device_wrote(st, dst);
        }
        if (src != NULL) {
            BUMP(st, src, d2d_out_n, 1);
            BUMP(st, src, d2d_out_b, ev->bytes);
            device_used(st, src);
        }
        break;
    case UM_DIR_H2H:
        if (dst != NULL) {
            BUMP(st, dst, h2h_n, 1);
            BUMP(st, dst, h2h_b, ev->bytes);
        }
        if (src != NULL && src != dst) {
            BUMP(st, src, h2h_n, 1);
            BUMP(st, src, h2h_b, ev->bytes);
        }
        break;
    default:
        break;
    }
    if (src != NULL) {
        touch(src, ev->t_ns);
        repattern(st, src);
    }
    if (dst != NULL) {
        touch(dst, ev->t_ns);
        repattern(st, dst);
    }
    return dst != NULL ? dst : src;
}

static void on_launch(um_stats_t *st, const um_event_t *ev) {
    st->tot.launches++;
    uint32_t n = ev->nrefs <= UM_LAUNCH_MAX_REFS ? ev->nrefs : UM_LAUNCH_MAX_REFS;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t id = ev->refs[i];
        int dup = 0;
        for (uint32_t j = 0; j < i; j++) {
            dup |= ev->refs[j] == id;
        }
        if (dup || id == 0) {
            continue;
        }
        um_stats_alloc_t *a = live_of(st, id);
        if (a == NULL) {
            st->tot.unknown_refs++;
            continue;
        }
        if (a->readback_since_launch) {
            BUMP(st, a, round_trips, 1);
            a->readback_since_launch = 0;
        }
        BUMP(st, a, launch_n, 1);
        device_used(st, a);
        device_wrote(st, a);
        if (a->t_first_launch == 0) {
            a->t_first_launch = ev->t_ns ? ev->t_ns : 1;
        }
        touch(a, ev->t_ns);
        repattern(st, a);
    }
    if (ev->nrefs >= UM_LAUNCH_MAX_REFS) {
        st->epoch++; // the list may have been cut: anything may have been touched
    }
}

const um_stats_alloc_t *um_stats_observe(um_stats_t *st, const um_event_t *ev) {
    if (st == NULL || ev == NULL || (unsigned)ev->kind >= UM_EV_KIND_COUNT) {
        return NULL;
    }
    um_stats_totals_t *t = &st->tot;
    t->events++;
    t->by_kind[ev->kind]++;
    if (t->events == 1 || ev->t_ns < t->t_first) {
        t->t_first = ev->t_ns;
    }
    if (ev->t_ns > t->t_last) {
        t->t_last = ev->t_ns;
    }
    um_stats_alloc_t *a = NULL;
    if (ev->kind == UM_EV_FALLBACK) {
        // A fallback reports what the shim did instead, whatever the call returned.
        t->fallbacks++;
        a = live_of(st, ev->alloc_id);
        if (a != NULL) {
            BUMP(st, a, fallback_n, 1);
        }
    } else if (ev->result != 0) {
        t->failed++;
        return NULL;
    }
    switch (ev->kind) {
    case UM_EV_ALLOC:
        a = on_alloc(st, ev);
        break;
    case UM_EV_FREE:
        a = live_of(st, ev->alloc_id);
        if (a == NULL) {
            t->unknown_refs += ev->alloc_id != 0;
            return NULL;
        }
        close_rec(st, a, ev->t_ns);
        drop_rec(st, a);
        // The record may have moved or gone; hand back the retained one only.
        return st->retain_freed ? rec_of(st, ev->alloc_id) : NULL;
    case UM_EV_COPY:
        a = on_copy(st, ev);
        break;
    case UM_EV_MEMSET:
        a = live_of(st, ev->alloc_id);
        if (a != NULL) {
            BUMP(st, a, memset_n, 1);
            BUMP(st, a, memset_b, ev->bytes);
            device_wrote(st, a);
            touch(a, ev->t_ns);
        }
        break;
    case UM_EV_LAUNCH:
        on_launch(st, ev);
        return NULL;
    case UM_EV_SYNC:
        t->syncs++;
        break;
    case UM_EV_PREFETCH:
        t->prefetches++;
        t->prefetch_b += ev->bytes;
        a = live_of(st, ev->alloc_id);
        if (a != NULL) {
            BUMP(st, a, prefetch_n, 1);
            BUMP(st, a, prefetch_b, ev->bytes);
        }
        break;
    case UM_EV_ADVISE:
        t->advises++;
        a = live_of(st, ev->alloc_id);
        if (a != NULL) {
            BUMP(st, a, advise_n, 1);
        }
        break;
    case UM_EV_HOST_ACCESS:
        // The shim's rewritten copy: the managed side is the destination of a host write
        // (dir=h2d) and the source of a host read (dir=d2h, src_id), as in the COPY event
        // that follows it.
        a = live_of(st, ev->dir == UM_DIR_D2H ? ev->src_id : ev->alloc_id);
        if (a != NULL) {
            BUMP(st, a, host_access_n, 1);
            BUMP(st, a, host_access_b, ev->bytes);
            if (ev->dir == UM_DIR_H2D) {
                BUMP(st, a, host_write_n, 1);
            } else if (ev->dir == UM_DIR_D2H) {
                BUMP(st, a, host_read_n, 1);
                if (a->c.launch_n > 0) {
                    a->readback_since_launch = 1;
                }
            }
            touch(a, ev->t_ns);
        }
        break;
    case UM_EV_GRAPH:
        t->graphs++;
        st->epoch++; // a graph's kernels may touch any allocation
        break;
    default:
        break;
    }
    if (ev->kind != UM_EV_ALLOC && ev->kind != UM_EV_COPY && ev->kind != UM_EV_FALLBACK &&
        ev->kind != UM_EV_HOST_ACCESS && ev->alloc_id != 0 && a == NULL) {
        t->unknown_refs++;
    }
    if (a != NULL) {
        if (strncmp(ev->name, "cuIpc", 5) == 0) {
            BUMP(st, a, ipc_n, 1);
        }
        repattern(st, a);
    }
    return a;
}

// --- queries ---

const um_stats_alloc_t *um_stats_alloc(const um_stats_t *st, uint64_t id) {
    return st != NULL ? rec_of(st, id) : NULL;
}

size_t um_stats_alloc_count(const um_stats_t *st) {
    return st != NULL ? st->nrecs : 0;
}

const um_stats_alloc_t *um_stats_alloc_at(const um_stats_t *st, size_t i) {
    return st != NULL && i < st->nrecs ? &st->recs[i] : NULL;
}

const um_stats_site_t *um_stats_site(const um_stats_t *st, const char *site) {
    if (st == NULL || site == NULL) {
        return NULL;
    }
    site_slot_t *s = site_find_slot(st, site, fnv1a(site));
    return s != NULL && s->index_plus_1 != 0 ? &st->sites[s->index_plus_1 - 1] : NULL;
}

size_t um_stats_site_count(const um_stats_t *st) {
    return st != NULL ? st->nsites : 0;
}

const um_stats_site_t *um_stats_site_at(const um_stats_t *st, size_t i) {
    return st != NULL && i < st->nsites ? &st->sites[i] : NULL;
}

const um_stats_totals_t *um_stats_totals(const um_stats_t *st) {
    return st != NULL ? &st->tot : NULL;
}
