// Reads a trace and summarises it per allocation site (see model.h). Events are streamed,
// never kept: a trace of a long run can hold millions of lines. The per-site traffic,
// patterns, redundant and unused uploads come from policy/stats (the same numbers the policy
// engine learns from; stats.h says what they can and cannot infer). Added here: peak device
// memory (device-side kinds only, not pinned host), redundant read-backs (the same
// allocation read back again with nothing able to write it since, hashes agreeing when
// recorded), the kernels that used each site, and auto's decision per site: the policy
// engine replays the same events and is then asked what it would do with a new allocation
// at each site (its largest size), which is what a policy file learned from this run says.
#include "tools/model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy_file.h"
#include "policy/trace_format.h"

// --- reading ---
int um_trace_each(const char *path, um_trace_fn fn, void *ctx, char *err, size_t errlen) {
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    unsigned long lineno = 0;
    int rc = 0;
    um_event_t ev;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (lineno == 1) {
            // The header is the one thing every trace has: check it before anything else so
            // a wrong file gets one clear message instead of a parse error about line 1.
            if (strlen(line) != (size_t)len || !um_trace_is_header(line)) {
                snprintf(err, errlen, "%s: not a umshim trace (its first line is not '# umshim trace v1')",
                         path);
                rc = -1;
                break;
            }
            continue;
        }
        if (strlen(line) != (size_t)len) {
            snprintf(err, errlen, "%s:%lu: binary data in a trace line", path, lineno);
            rc = -1;
            break;
        }
        char perr[160];
        int got = um_trace_parse_line(line, &ev, perr, sizeof perr);
        if (got < 0) { // -1 malformed, 0 an event, 1 blank or comment
            snprintf(err, errlen, "%s:%lu: %s", path, lineno, perr);
            rc = -1;
            break;
        }
        if (got == 1)
            continue;
        rc = fn(&ev, ctx);
        if (rc != 0)
            break;
    }
    if (rc == 0 && lineno == 0) {
        snprintf(err, errlen, "%s: empty file, not a umshim trace", path);
        rc = -1;
    }
    if (rc == 0 && ferror(f)) {
        snprintf(err, errlen, "%s: read error", path);
        rc = -1;
    }
    free(line);
    fclose(f);
    return rc;
}

// --- what stats.h does not keep ---
// Per allocation read back so far: its last read-back, for D2H redundancy. Sizes, kinds,
// sites and traffic counters come from policy/stats.
typedef struct {
    uint64_t id;      // 0 = empty slot
    uint64_t d2h_bytes, d2h_hash;
    int written_since_d2h;
} readback_t;

typedef struct {
    readback_t *slot;
    size_t cap, used;
} alloc_map_t;

static uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

static readback_t *map_find(alloc_map_t *mp, uint64_t id) {
    if (id == 0 || mp->cap == 0)
        return NULL;
    for (size_t i = mix(id) & (mp->cap - 1);; i = (i + 1) & (mp->cap - 1)) {
        if (mp->slot[i].id == id)
            return &mp->slot[i];
        if (mp->slot[i].id == 0)
            return NULL;
    }
}

// Inserts id; NULL on out of memory. Ids are never reused within a trace.
static readback_t *map_insert(alloc_map_t *mp, uint64_t id) {
    if ((mp->used + 1) * 2 > mp->cap) {
        size_t ncap = mp->cap ? mp->cap * 2 : 1024;
        readback_t *ns = calloc(ncap, sizeof *ns);
        if (ns == NULL)
            return NULL;
        for (size_t j = 0; j < mp->cap; j++) {
            if (mp->slot[j].id == 0)
                continue;
            size_t i = mix(mp->slot[j].id) & (ncap - 1);
            while (ns[i].id != 0)
                i = (i + 1) & (ncap - 1);
            ns[i] = mp->slot[j];
        }
        free(mp->slot);
        mp->slot = ns;
        mp->cap = ncap;
    }
    size_t i = mix(id) & (mp->cap - 1);
    while (mp->slot[i].id != 0 && mp->slot[i].id != id)
        i = (i + 1) & (mp->cap - 1);
    if (mp->slot[i].id == 0) {
        memset(&mp->slot[i], 0, sizeof mp->slot[i]);
        mp->slot[i].id = id;
        mp->used++;
    }
    return &mp->slot[i];
}

// Per site, indexed like stats.h's sites (first-seen order).
typedef struct {
    uint64_t d2h_redundant_n, d2h_redundant_b;
    char kernels[UM_MODEL_KERNELS_PER_SITE][UM_NAME_MAX];
    unsigned nkernels;
} site_extra_t;

typedef struct {
    um_model_t *m;
    um_stats_t *st;
    um_pol_t *pol;
    alloc_map_t allocs;
    site_extra_t *extra;
    size_t extra_cap, kernel_cap;
    int oom;
} build_t;

static int on_device(um_mem_kind_t k) {
    return k == UM_MEM_DEVICE || k == UM_MEM_MANAGED || k == UM_MEM_POOL || k == UM_MEM_VMM ||
           k == UM_MEM_PITCH;
}

// The extra record of the site of allocation `id` (NULL when unknown).
static site_extra_t *extra_of(build_t *b, uint64_t id) {
    const um_stats_alloc_t *a = um_stats_alloc(b->st, id);
    if (a == NULL)
        return NULL;
    while (a->site_index >= b->extra_cap) {
        size_t ncap = b->extra_cap ? b->extra_cap * 2 : 32;
        site_extra_t *ne = realloc(b->extra, ncap * sizeof *ne);
        if (ne == NULL) {
            b->oom = 1;
            return NULL;
        }
        memset(ne + b->extra_cap, 0, (ncap - b->extra_cap) * sizeof *ne);
        b->extra = ne;
        b->extra_cap = ncap;
    }
    return &b->extra[a->site_index];
}

static void kernel_seen(build_t *b, const um_event_t *ev) {
    um_model_t *m = b->m;
    const char *name = ev->name[0] ? ev->name : "(unnamed kernel)";
    um_kernel_stats_t *k = NULL;
    for (size_t i = 0; i < m->nkernels && k == NULL; i++)
        if (strcmp(m->kernels[i].name, name) == 0)
            k = &m->kernels[i];
    if (k == NULL) {
        if (m->nkernels == b->kernel_cap) {
            size_t ncap = b->kernel_cap ? b->kernel_cap * 2 : 32;
            um_kernel_stats_t *nk = realloc(m->kernels, ncap * sizeof *nk);
            if (nk == NULL) {
                b->oom = 1;
                return;
            }
            m->kernels = nk;
            b->kernel_cap = ncap;
        }
        k = &m->kernels[m->nkernels++];
        memset(k, 0, sizeof *k);
        snprintf(k->name, sizeof k->name, "%s", name);
    }
    k->launches++;
    k->dur_ns += ev->dur_ns;
    uint32_t n = ev->nrefs < UM_LAUNCH_MAX_REFS ? ev->nrefs : UM_LAUNCH_MAX_REFS;
    for (uint32_t i = 0; i < n; i++) {
        readback_t *a = map_find(&b->allocs, ev->refs[i]);
        if (a)
            a->written_since_d2h = 1; // a kernel may write what it can reach
        site_extra_t *x = extra_of(b, ev->refs[i]);
        if (x == NULL)
            continue;
        int known = 0;
        for (unsigned j = 0; j < x->nkernels; j++)
            known |= strcmp(x->kernels[j], name) == 0;
        if (!known && x->nkernels < UM_MODEL_KERNELS_PER_SITE)
            snprintf(x->kernels[x->nkernels++], UM_NAME_MAX, "%s", name);
    }
}

// A live device-side allocation's record (NULL for unknown, freed or pinned host memory).
static const um_stats_alloc_t *device_alloc(build_t *b, uint64_t id) {
    const um_stats_alloc_t *a = id ? um_stats_alloc(b->st, id) : NULL;
    return a && !a->freed && on_device(a->mem) ? a : NULL;
}

// A D2H copy is redundant when the same allocation was read back with the same size before,
// nothing could have written it since, and the content hashes (when recorded) agree.
static void copy_seen(build_t *b, const um_event_t *ev) {
    const um_stats_alloc_t *dst = device_alloc(b, ev->alloc_id), *src = device_alloc(b, ev->src_id);
    if (dst == NULL && src == NULL)
        b->m->unattributed_copies++;
    readback_t *w = dst ? map_find(&b->allocs, dst->id) : NULL;
    if (w)
        w->written_since_d2h = 1;
    if (ev->dir != UM_DIR_D2H || src == NULL)
        return;
    readback_t *r = map_find(&b->allocs, src->id);
    if (r && r->d2h_bytes == ev->bytes && !r->written_since_d2h &&
        (ev->hash == 0 || r->d2h_hash == 0 || ev->hash == r->d2h_hash)) {
        site_extra_t *x = extra_of(b, src->id);
        if (x) {
            x->d2h_redundant_n++;
            x->d2h_redundant_b += ev->bytes;
        }
    }
    if (r == NULL && (r = map_insert(&b->allocs, src->id)) == NULL) {
        b->oom = 1;
        return;
    }
    r->d2h_bytes = ev->bytes;
    r->d2h_hash = ev->hash;
    r->written_since_d2h = 0;
}

static int on_event(const um_event_t *ev, void *ctx) {
    build_t *b = ctx;
    um_model_t *m = b->m;
    const um_stats_alloc_t *a;
    readback_t *r;
    if (ev->result == 0) {
        switch (ev->kind) {
        case UM_EV_ALLOC:
            if (ev->alloc_id && on_device(ev->mem)) {
                m->device_bytes += ev->bytes;
                if (m->device_bytes > m->peak_device_bytes)
                    m->peak_device_bytes = m->device_bytes;
            }
            break;
        case UM_EV_FREE: // looked up before stats sees the free
            if ((a = device_alloc(b, ev->alloc_id)) != NULL)
                m->device_bytes -= a->bytes;
            break;
        case UM_EV_COPY: copy_seen(b, ev); break;
        case UM_EV_LAUNCH: kernel_seen(b, ev); break;
        case UM_EV_MEMSET:
            if ((r = map_find(&b->allocs, ev->alloc_id)) != NULL)
                r->written_since_d2h = 1;
            break;
        case UM_EV_GRAPH: // a graph may touch anything
            for (size_t i = 0; i < b->allocs.cap; i++)
                b->allocs.slot[i].written_since_d2h = 1;
            break;
        default: break;
        }
    }
    um_stats_observe(b->st, ev);
    if (b->pol)
        um_pol_observe(b->pol, ev);
    return b->oom ? -1 : 0;
}

static uint64_t moved(const um_site_stats_t *s) {
    return s->st.c.h2d_b + s->st.c.d2h_b + s->st.c.d2d_in_b;
}

static int by_bytes_moved(const void *x, const void *y) {
    const um_site_stats_t *a = x, *b = y;
    uint64_t ma = moved(a), mb = moved(b);
    if (ma != mb)
        return ma < mb ? 1 : -1;
    if (a->st.total_bytes != b->st.total_bytes)
        return a->st.total_bytes < b->st.total_bytes ? 1 : -1;
    return strcmp(a->st.site, b->st.site);
}

// Copies stats.h's sites into the model, with the extras and the latest allocation's kind.
static int collect_sites(build_t *b) {
    um_model_t *m = b->m;
    size_t n = um_stats_site_count(b->st);
    m->sites = calloc(n ? n : 1, sizeof *m->sites);
    if (m->sites == NULL)
        return -1;
    m->nsites = n;
    for (size_t i = 0; i < n; i++) {
        um_site_stats_t *s = &m->sites[i];
        s->st = *um_stats_site_at(b->st, i);
        s->pattern = um_stats_site_pattern(&s->st, 1, &s->mixed);
        s->copied_no_kernel = s->st.pattern_live[UM_PAT_HOST_ONLY] + s->st.pattern_freed[UM_PAT_HOST_ONLY];
        if (i < b->extra_cap) {
            const site_extra_t *x = &b->extra[i];
            s->d2h_redundant_n = x->d2h_redundant_n;
            s->d2h_redundant_b = x->d2h_redundant_b;
            memcpy(s->kernels, x->kernels, sizeof s->kernels);
            s->nkernels = x->nkernels;
        }
        // What auto would do with the next allocation at this site, given the whole run:
        // decide_alloc, not decide_live (a traced allocation's placement is already made).
        if (b->pol) {
            s->decision = um_pol_decide_alloc(b->pol, s->st.site, s->st.max_bytes);
            s->have_decision = 1;
        }
    }
    for (size_t i = 0; i < um_stats_alloc_count(b->st); i++) { // allocation order: latest wins
        const um_stats_alloc_t *a = um_stats_alloc_at(b->st, i);
        if (a && a->site_index < n) {
            m->sites[a->site_index].mem = a->mem;
            m->sites[a->site_index].req_mem = a->req_mem;
        }
    }
    // Pinned host buffers are allocations too, but they neither get copies "into the GPU"
    // nor a placement: a pinned buffer never touched by a kernel is not "copied, unused".
    for (size_t i = 0; i < n; i++)
        if (m->sites[i].mem == UM_MEM_HOST)
            m->sites[i].copied_no_kernel = 0;
    if (n > 1)
        qsort(m->sites, n, sizeof *m->sites, by_bytes_moved);
    return 0;
}

int um_model_load(const char *path, const um_pol_config_t *cfg, um_model_t *m, char *err,
                  size_t errlen) {
    memset(m, 0, sizeof *m);
    build_t b = {.m = m};
    b.st = um_stats_create(1); // keep freed records: each site's latest allocation kind
    if (b.st == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    if (cfg) {
        b.pol = um_pol_create(cfg);
        m->have_policy = b.pol != NULL;
    }
    int rc = um_trace_each(path, on_event, &b, err, errlen);
    if (rc == 0) {
        m->tot = *um_stats_totals(b.st);
        if (collect_sites(&b) != 0)
            b.oom = 1;
    }
    if (b.oom) {
        snprintf(err, errlen, "%s: out of memory", path);
        rc = -1;
    }
    if (b.pol)
        um_pol_destroy(b.pol);
    um_stats_destroy(b.st);
    free(b.allocs.slot);
    free(b.extra);
    if (rc != 0)
        um_model_free(m);
    return rc == 0 ? 0 : -1;
}

void um_model_free(um_model_t *m) {
    free(m->sites);
    free(m->kernels);
    m->sites = NULL;
    m->kernels = NULL;
    m->nsites = m->nkernels = 0;
}

const um_site_stats_t *um_model_site(const um_model_t *m, const char *site) {
    for (size_t i = 0; i < m->nsites; i++)
        if (strcmp(m->sites[i].st.site, site) == 0)
            return &m->sites[i];
    return NULL;
}

// The decision in the policy file's own words ("placement=managed advise=read_mostly
// prefetch=launch"), so a report reads like the policy file the same run writes.
const char *um_model_decision_text(const um_decision_t *d, char *buf, size_t len) {
    char adv[128];
    size_t n = (size_t)snprintf(buf, len, "placement=%s", um_pf_placement_name(d->placement));
    if (n < len && d->placement == UM_PLACE_MANAGED)
        n += (size_t)snprintf(buf + n, len - n, " advise=%s prefetch=%s%s",
                              um_pf_advise_text(d->advise, adv, sizeof adv),
                              um_pf_prefetch_name(d->prefetch),
                              d->host_prefetch_before_read ? " host_prefetch=on" : "");
    if (n < len && (d->copy_h2d != UM_COPY_DRIVER || d->copy_d2h != UM_COPY_DRIVER))
        snprintf(buf + n, len - n, " copy_h2d=%s copy_d2h=%s", um_pf_copy_name(d->copy_h2d),
                 um_pf_copy_name(d->copy_d2h));
    return buf;
}
