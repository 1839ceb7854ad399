// The policy engine: events in (um_pol_observe), decisions out (um_pol_decide_alloc at an
// allocation, um_pol_decide_live later). The four modes are the A/B ladder of DESIGN.md;
// only `auto` learns. Its rules are the table below, each with the measurement that
// justifies it. Learning is a pure function of the observed event sequence and the loaded
// policy file, so a replayed trace gives the shim's decisions back exactly.
//
// Evidence comes from policy/stats.c: an allocation's own access pattern so far, and its
// site's history (the final patterns of the site's freed allocations, or a policy file
// written by an earlier run). Own evidence wins when it is conclusive (read back, re-
// uploaded); otherwise the site's history speaks for a new or not-yet-used allocation.
#include "policy/policy.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy_file.h"
#include "policy/stats.h"

// --- rules: name, short citation (goes into every reason), justification ---

typedef struct {
    const char *cite;
    const char *why;
} rule_text_t;

static const rule_text_t rule_texts[UM_RULE_COUNT] = {
    [UM_RULE_UNKNOWN] = {"unknown allocation: nothing to do",
                         "The policy has not seen this allocation id (no alloc event, or already "
                         "freed): it asks for nothing."},
    [UM_RULE_PASSTHROUGH] = {"observe only",
                             "Mode passthrough observes and traces; behaviour is identical to "
                             "running without the shim (DESIGN.md Modes): device memory, the "
                             "program's own copies, no prefetch, no advise, no staging."},
    [UM_RULE_KEEP_DEVICE] = {"kept on device memory (UMSHIM_KEEP_DEVICE)",
                             "The user listed the site in UMSHIM_KEEP_DEVICE (e.g. it exports IPC "
                             "handles): it stays plain device memory in every mode."},
    [UM_RULE_IPC] = {"IPC handles cannot be taken on managed memory",
                     "An allocation from this site was passed to cuIpc*: IPC handles cannot be "
                     "taken on managed memory (DESIGN.md Semantics), so later allocations there "
                     "stay device memory in every rewriting mode."},
    [UM_RULE_SMALL] = {"managed alloc+free 27 vs 5.5 us, 4 KiB prefetch 70 us",
                       "Below the managed threshold: cuMemAllocManaged + free costs ~27 us vs "
                       "~5.5 us for cuMemAlloc, and a 4 KiB prefetch ~70 us (Measured, H100), so "
                       "small buffers gain nothing from managed memory and stay device memory."},
    [UM_RULE_AS_ALLOCATED] = {"not rewritten: left as the program made it",
                              "Not a rewritten allocation (the managed allocation was refused or "
                              "over budget and fell back, or a pool, VMM, pitch or host "
                              "allocation, which pass through): no hints; copies go to the "
                              "driver (staged when large, if staging is on)."},
    [UM_RULE_PROGRAM_MANAGED] = {"program's own managed memory: host use unseen",
                                 "The program allocated managed memory itself and touches it on "
                                 "the host unseen (no HMM events), so no advise is inferred; in "
                                 "prefetch and auto it is prefetched before launches: CPU-written "
                                 "256 MiB faults in in 32-64 ms, prefetched in 5.5-6 ms "
                                 "(Measured)."},
    [UM_RULE_NAIVE] = {"naive UM port: host copies, no prefetch/advise",
                       "Mode managed is the naive port: allocations at or above the threshold "
                       "become managed, synchronous copies become host memcpy into/out of "
                       "managed memory, no prefetch, no advise (DESIGN.md Modes). It shows what "
                       "page faults cost."},
    [UM_RULE_PREFETCH] = {"prefetched 5.5-6 ms vs 32-64 ms fault-in per 256 MiB",
                          "Mode prefetch is managed plus a prefetch of every referenced range to "
                          "the launch's device before each kernel and to the host before host "
                          "reads (the seed's prefetching solution): CPU-written 256 MiB faulted "
                          "in by a kernel takes 32-64 ms, prefetched first 5.5-6 ms (Measured)."},
    [UM_RULE_NEW] = {"prefer_device: driver copies cost as into device memory",
                     "Auto, no evidence yet. The program asked for device memory, so it only "
                     "reaches it through copies; auto does those with the driver, which costs "
                     "the same into/out of GPU-resident managed memory as device memory, while "
                     "a host memcpy into GPU-resident managed memory is 4x slower (Measured). "
                     "PreferredLocation=GPU keeps the pages there; prefetch on launch covers "
                     "pages not yet resident (5.5-6 ms vs 32-64 ms fault-in per 256 MiB)."},
    [UM_RULE_INPUT] = {"read by kernels, never read back: PreferredLocation=GPU",
                       "Uploaded before its first launch only, read by a kernel since (the shim "
                       "asks again at the next launch) or so at earlier allocations of the site, "
                       "never read back: the seed's query/target vectors. PreferredLocation=GPU "
                       "keeps the pages resident, where driver copies cost the same as into "
                       "device memory (Measured). No ReadMostly: its win needs host reads of "
                       "the pages, and a buffer never read back gives no evidence that kernels "
                       "leave it alone, while a kernel writing read-mostly pages turns them "
                       "into a fault storm (measured on the H100: 40,215 GPU page-fault groups "
                       "for 20 launches of a kernel writing such a buffer). Rule read_mostly "
                       "grants it once read-backs show the content unchanged; a policy file "
                       "can ask for it per site."},
    [UM_RULE_STREAMED] = {"re-uploaded: read_mostly would collapse on every upload",
                          "Uploaded again after launches (streamed input): every upload writes "
                          "the pages, which would collapse read-mostly copies each time, so "
                          "only PreferredLocation=GPU, where driver uploads cost the same as "
                          "into device memory (Measured)."},
    [UM_RULE_RESULT] = {"D2H driver copy from GPU-resident managed = device cost",
                        "Written on the device, read back by the host: the read-back is a "
                        "driver copy, which costs the same from GPU-resident managed memory as "
                        "from device memory (Measured), so the pages stay on the GPU "
                        "(PreferredLocation=GPU). Not AccessedBy(host): with driver copies the "
                        "host never maps these pages, and ReadMostly would fault on every kernel "
                        "write."},
    [UM_RULE_INOUT] = {"kernels may write it: no read_mostly",
                       "Uploaded, launched and read back, and either its read-backs showed a "
                       "device write (then for the rest of the run at its site) or fewer than "
                       "two were compared unchanged yet: a write to read-mostly pages faults, "
                       "so only PreferredLocation=GPU; both copies go to the driver at "
                       "device-memory cost (Measured). Rule read_mostly takes over on evidence."},
    [UM_RULE_SCRATCH] = {"device-only: no host copy ever needed",
                         "Never copied to or from the host (device-only scratch): "
                         "PreferredLocation=GPU so its pages are created and kept on the GPU "
                         "and never migrate to the host."},
    [UM_RULE_HOST_ONLY] = {"copied, not launched yet: safe hints only",
                           "Copied or set but not referenced by a kernel yet: nothing to learn "
                           "from; the safe hints of rule new apply."},
    [UM_RULE_MIXED] = {"site's allocations disagree: safe hints only",
                       "The site's earlier allocations showed different patterns (e.g. a "
                       "wrapper allocating everything): only the hints that suit every "
                       "pattern (rule new) apply."},
    [UM_RULE_FILE] = {"policy file",
                      "A policy file entry (UMSHIM_POLICY) for the site overrides the built-in "
                      "rules key by key; keys it leaves out keep the built-in decision."},
    [UM_RULE_READ_MOSTLY] = {"read back unchanged: ReadMostly, host reads its own copy",
                             "Launched, then read back at least twice with its sampled content "
                             "unchanged since the host last saw it, never re-uploaded, set or "
                             "copied into after launches, and no device write ever seen at its "
                             "site: the alternating GPU-read/host-read pattern. ReadMostly keeps "
                             "a read-only copy on each side (alternating GPU/CPU reads of 64 MiB: "
                             "46.9 -> 0.15 ms per round, Measured), so read-backs become host "
                             "copies out of the host's copy (made once by a prefetch, then a "
                             "parallel memcpy) instead of DMA. The first read-back found written "
                             "(sampled bytes differ, or the host copy was gone: a kernel wrote "
                             "the pages, even with equal values) revokes it for the allocation "
                             "and its site for the rest of the run: writes to read-mostly pages "
                             "fault (40,215 fault groups for 20 launches, Measured)."},
};

static const char *const rule_names[] = {
#define UM_POL_RULE_NAME(id, name) name,
    UM_POL_RULES(UM_POL_RULE_NAME)
#undef UM_POL_RULE_NAME
};

const char *um_pol_rule_name(int rule) {
    return (unsigned)rule < UM_RULE_COUNT ? rule_names[rule] : "?";
}

const char *um_pol_rule_why(int rule) {
    return (unsigned)rule < UM_RULE_COUNT ? rule_texts[rule].why : "?";
}

const char *um_pol_mode_name(um_mode_t mode) {
    static const char *const names[] = {
        [UM_MODE_PASSTHROUGH] = "passthrough",
        [UM_MODE_MANAGED] = "managed",
        [UM_MODE_PREFETCH] = "prefetch",
        [UM_MODE_AUTO] = "auto",
    };
    return (unsigned)mode < sizeof names / sizeof names[0] ? names[mode] : "?";
}

// --- the engine ---

struct um_pol {
    um_pol_config_t cfg;
    um_stats_t *stats;
    um_pf_t file;       // loaded policy file (empty when none)
    char file_name[64]; // its base name, for reasons
    char **keep;        // UMSHIM_KEEP_DEVICE sites
    size_t nkeep;
};

um_pol_t *um_pol_create(const um_pol_config_t *cfg) {
    um_pol_t *pol = calloc(1, sizeof *pol);
    if (pol == NULL) {
        return NULL;
    }
    if (cfg != NULL) {
        pol->cfg = *cfg;
    } else {
        pol->cfg.mode = UM_MODE_AUTO;
    }
    if ((unsigned)pol->cfg.mode > UM_MODE_AUTO) {
        pol->cfg.mode = UM_MODE_AUTO;
    }
    pol->stats = um_stats_create(0);
    if (pol->stats == NULL) {
        free(pol);
        return NULL;
    }
    return pol;
}

void um_pol_destroy(um_pol_t *pol) {
    if (pol == NULL) {
        return;
    }
    um_stats_destroy(pol->stats);
    um_pf_free(&pol->file);
    for (size_t i = 0; i < pol->nkeep; i++) {
        free(pol->keep[i]);
    }
    free(pol->keep);
    free(pol);
}

void um_pol_observe(um_pol_t *pol, const um_event_t *ev) {
    if (pol != NULL) {
        um_stats_observe(pol->stats, ev);
    }
}

const um_stats_t *um_pol_stats(const um_pol_t *pol) {
    return pol != NULL ? pol->stats : NULL;
}

int um_pol_keep_device(um_pol_t *pol, const char *site) {
    if (pol == NULL || site == NULL) {
        return -1;
    }
    char **n = realloc(pol->keep, (pol->nkeep + 1) * sizeof *n);
    if (n == NULL) {
        return -1;
    }
    pol->keep = n;
    pol->keep[pol->nkeep] = strdup(site);
    if (pol->keep[pol->nkeep] == NULL) {
        return -1;
    }
    pol->nkeep++;
    return 0;
}

static int is_kept(const um_pol_t *pol, const char *site) {
    for (size_t i = 0; i < pol->nkeep; i++) {
        if (strcmp(pol->keep[i], site) == 0) {
            return 1;
        }
    }
    return 0;
}

// --- decisions ---

// snprintf for texts that may be cut short on purpose (reasons, comments are one line).
static void fmt_trunc(char *buf, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fmt_trunc(char *buf, size_t n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, n, fmt, ap);
    va_end(ap);
}

// "<mode> <rule>: <facts>; <citation>" — one line, truncated to fit.
static void format_reason(const um_pol_t *pol, um_decision_t *d, int rule, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void format_reason(const um_pol_t *pol, um_decision_t *d, int rule, const char *fmt, ...) {
    char facts[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(facts, sizeof facts, fmt, ap);
    va_end(ap);
    snprintf(d->reason, sizeof d->reason, "%s %s: %s%s%s", um_pol_mode_name(pol->cfg.mode),
             um_pol_rule_name(rule), facts, facts[0] ? "; " : "", rule_texts[rule].cite);
}

// Sets the decision's rule and, unless the engine was made with no_reasons, its reason text.
// A macro, so that with no_reasons the arguments (bytes_text calls and the like: ~0.8k
// instructions an allocation, tools/alloc_cost.sh) are not evaluated either.
#define UM_SET_REASON(pol_, d_, rule_, ...)                                                        \
    do {                                                                                           \
        (d_)->rule = (rule_);                                                                      \
        if ((pol_)->cfg.no_reasons)                                                                \
            (d_)->reason[0] = '\0';                                                                \
        else                                                                                       \
            format_reason((pol_), (d_), (rule_), __VA_ARGS__);                                     \
    } while (0)

static um_decision_t device_decision(void) {
    um_decision_t d;
    memset(&d, 0, sizeof d);
    d.placement = UM_PLACE_DEVICE;
    d.prefetch = UM_PF_NONE;
    d.copy_h2d = UM_COPY_DRIVER;
    d.copy_d2h = UM_COPY_DRIVER;
    return d;
}

// Copy strategies for the placement and mode. Host copies only make sense into managed
// memory and only the naive ladders use them; auto keeps the driver (host memcpy into
// GPU-resident managed memory is 4x slower than cudaMemcpy, Measured) and, when staging is
// on, stages big pageable uploads through the transfer engine (2.3-4.0x the driver's
// pageable H2D at 16 MiB-1 GiB, README "Transfer engine"). Read-backs stay with the driver:
// staged D2H out of GPU-resident managed memory into a warm pageable buffer was not faster
// on the H100 (alternating 64 MiB rounds: 4.96 ms staged vs 4.59 ms driver per round, 5
// interleaved runs; the engine's 3-4x D2H gain was measured into cold destinations).
static void set_copies(const um_pol_t *pol, um_decision_t *d, uint64_t bytes) {
    um_mode_t m = pol->cfg.mode;
    d->host_prefetch_before_read = 0;
    if (m != UM_MODE_PASSTHROUGH && d->placement == UM_PLACE_MANAGED &&
        (m == UM_MODE_MANAGED || m == UM_MODE_PREFETCH)) {
        d->copy_h2d = d->copy_d2h = UM_COPY_HOST;
        d->host_prefetch_before_read = m == UM_MODE_PREFETCH;
        return;
    }
    d->copy_h2d = d->copy_d2h = UM_COPY_DRIVER;
    if (m != UM_MODE_PASSTHROUGH && pol->cfg.staging_threshold > 0 &&
        bytes >= pol->cfg.staging_threshold) {
        d->copy_h2d = UM_COPY_STAGED;
    }
}

// The short tail auto adds to a managed allocation's facts: what it does beyond the rule's
// advise (populate at allocation, staged copies), so a report line names every action.
static const char *action_tags(const um_decision_t *d, char *buf, size_t n) {
    int h = d->copy_h2d == UM_COPY_STAGED, b = d->copy_d2h == UM_COPY_STAGED;
    snprintf(buf, n, " [%s%s%s%s%s]", d->populate ? "populated" : "no populate",
             h || b ? ", staged " : "", h ? (b ? "h2d+d2h" : "h2d") : "", !h && b ? "d2h" : "",
             d->copy_d2h == UM_COPY_HOST ? ", host d2h" : "");
    return buf;
}

static const char *bytes_text(uint64_t b, char *buf, size_t n) {
    if (b >= (1ull << 30) && b % (1ull << 30) == 0) {
        snprintf(buf, n, "%llu GiB", (unsigned long long)(b >> 30));
    } else if (b >= (1ull << 20) && b % (1ull << 20) == 0) {
        snprintf(buf, n, "%llu MiB", (unsigned long long)(b >> 20));
    } else if (b >= (1ull << 10) && b % (1ull << 10) == 0) {
        snprintf(buf, n, "%llu KiB", (unsigned long long)(b >> 10));
    } else {
        snprintf(buf, n, "%llu B", (unsigned long long)b);
    }
    return buf;
}

static void counts_facts(const um_stats_counts_t *c, char *buf, size_t n) {
    int k = snprintf(buf, n, "%llu uploads, %llu launches, %llu read-backs",
                     (unsigned long long)c->h2d_n, (unsigned long long)c->launch_n,
                     (unsigned long long)(c->d2h_n + c->host_read_n));
    if (c->d2h_changed_n > 0 && k > 0 && (size_t)k < n) {
        snprintf(buf + k, n - (size_t)k, " (%llu seen written)", (unsigned long long)c->d2h_changed_n);
    }
}

static int rule_of_pattern(um_pattern_t p) {
    switch (p) {
    case UM_PAT_INPUT:
        return UM_RULE_INPUT;
    case UM_PAT_STREAMED:
        return UM_RULE_STREAMED;
    case UM_PAT_RESULT:
        return UM_RULE_RESULT;
    case UM_PAT_INOUT:
        return UM_RULE_INOUT;
    case UM_PAT_SCRATCH:
        return UM_RULE_SCRATCH;
    case UM_PAT_HOST_ONLY:
        return UM_RULE_HOST_ONLY;
    default:
        return UM_RULE_NEW;
    }
}

// The evidence read_mostly needs (UM_RULE_READ_MOSTLY). Nothing written into the memory
// from the host or by a copy after a launch (each such write would collapse the read-only
// copies) and no device write ever seen; then two read-backs found unchanged, of this
// allocation or of earlier ones at its site (so a site that allocates its buffer anew each
// time, or a replayed trace, keeps the hint). A device write seen anywhere at the site
// ends it there.
static int no_writes_after_launch(const um_stats_counts_t *c) {
    return c->d2h_changed_n == 0 && c->h2d_after_launch_n == 0 && c->memset_n == 0 &&
           c->d2d_in_n == 0 && c->host_write_n == 0;
}

static int read_mostly_site(const um_stats_site_t *s) {
    return s != NULL && s->c.launch_n >= 1 && s->c.d2h_same_n >= 2 && no_writes_after_launch(&s->c);
}

static int read_mostly_evidence(const um_stats_alloc_t *a, const um_stats_site_t *s) {
    if (a == NULL) {
        return read_mostly_site(s);
    }
    if (a->mem != UM_MEM_MANAGED || a->req_mem != UM_MEM_DEVICE || !no_writes_after_launch(&a->c) ||
        (s != NULL && s->c.d2h_changed_n > 0)) {
        return 0;
    }
    return (a->c.launch_n >= 1 && a->c.d2h_same_n >= 2) || read_mostly_site(s);
}

// Auto's class for a managed allocation: the rule and its facts. `a` may be NULL (a new
// allocation), `s` may be NULL (a new site).
static int classify(const um_stats_alloc_t *a, const um_stats_site_t *s, char *facts, size_t n) {
    um_pattern_t own = a != NULL ? a->pattern : UM_PAT_UNUSED;
    int mixed = 0;
    um_pattern_t hist = s != NULL ? um_stats_site_pattern(s, 0, &mixed) : UM_PAT_UNUSED;
    uint64_t freed = 0;
    if (s != NULL) {
        for (int p = 0; p < UM_PAT_COUNT; p++) {
            freed += s->pattern_freed[p];
        }
    }
    facts[0] = '\0';
    if (read_mostly_evidence(a, s)) {
        const um_stats_counts_t *c = a != NULL && a->c.d2h_same_n >= 2 ? &a->c : &s->c;
        snprintf(facts, n, "%s%llu launches, %llu read-backs unchanged",
                 c == &s->c ? "site: " : "", (unsigned long long)c->launch_n,
                 (unsigned long long)c->d2h_same_n);
        return UM_RULE_READ_MOSTLY;
    }
    switch (own) {
    case UM_PAT_INPUT:
    case UM_PAT_RESULT:
    case UM_PAT_INOUT:
    case UM_PAT_STREAMED:
    case UM_PAT_SCRATCH:
        counts_facts(&a->c, facts, n);
        return rule_of_pattern(own);
    default:
        break;
    }
    if (hist != UM_PAT_UNUSED) {
        snprintf(facts, n, "site history: %llu freed allocations were %s",
                 (unsigned long long)freed, um_pattern_name(hist));
        return rule_of_pattern(hist);
    }
    if (mixed) {
        snprintf(facts, n, "site history: %llu freed allocations, mixed patterns",
                 (unsigned long long)freed);
        return UM_RULE_MIXED;
    }
    if (own == UM_PAT_HOST_ONLY) {
        counts_facts(&a->c, facts, n);
        return UM_RULE_HOST_ONLY;
    }
    snprintf(facts, n, "no history");
    return UM_RULE_NEW;
}

static unsigned advise_of_rule(int rule) {
    // Every auto class keeps its pages on the GPU; ReadMostly only where the content was
    // seen unchanged across launches (UM_RULE_READ_MOSTLY), never on a guess (see
    // UM_RULE_INPUT's reason).
    if (rule == UM_RULE_READ_MOSTLY) {
        return UM_ADV_READ_MOSTLY | UM_ADV_PREFER_DEVICE;
    }
    return UM_ADV_PREFER_DEVICE;
}

// Applies a policy file entry's keys over auto's built-in decision for managed memory (the
// caller has settled placement: a device placement never gets here, so every key applies).
// Keys the entry leaves out keep the built-in choice, copies included: a learned file names
// every managed site, and must not undo the read-mostly rule's host read-backs.
static void apply_file(const um_pol_t *pol, um_decision_t *d, const um_pf_entry_t *e) {
    if (e->set & UM_PF_ADVISE) {
        d->advise = e->advise;
        // Host read-backs were chosen for read-mostly pages; without the advice they would
        // fault every page back to the host.
        if (!(d->advise & UM_ADV_READ_MOSTLY) && d->copy_d2h == UM_COPY_HOST &&
            pol->cfg.mode == UM_MODE_AUTO) {
            d->copy_d2h = UM_COPY_DRIVER;
        }
    }
    if (e->set & UM_PF_PREFETCH) {
        d->prefetch = e->prefetch;
    }
    if (e->set & UM_PF_HOST_PREFETCH) {
        d->host_prefetch_before_read = e->host_prefetch_before_read;
    }
    if (e->set & UM_PF_COPY_H2D) {
        d->copy_h2d = e->copy_h2d;
    }
    if (e->set & UM_PF_COPY_D2H) {
        d->copy_d2h = e->copy_d2h;
    }
    // Pages populated on the GPU would only be faulted back by host writes.
    d->populate = d->copy_h2d != UM_COPY_HOST;
    char text[128];
    if (e->comment[0] != '\0') {
        fmt_trunc(text, sizeof text, "%s:%u: %s", pol->file_name, e->line, e->comment);
    } else {
        snprintf(text, sizeof text, "%s:%u", pol->file_name, e->line);
    }
    UM_SET_REASON(pol, d, UM_RULE_FILE, "%s", text);
}

// The common path of both decide calls. `a` is the live allocation (NULL for a new one);
// `bytes` its size.
static um_decision_t decide(um_pol_t *pol, const char *site, uint64_t bytes,
                            const um_stats_alloc_t *a) {
    um_decision_t d = device_decision();
    um_mode_t mode = pol->cfg.mode;
    char sz[32];
    if (site == NULL) {
        site = "";
    }
    const um_stats_site_t *s = um_stats_site(pol->stats, site);
    const um_pf_entry_t *fe = mode == UM_MODE_PASSTHROUGH ? NULL : um_pf_find(&pol->file, site);

    if (mode == UM_MODE_PASSTHROUGH) {
        UM_SET_REASON(pol, &d, UM_RULE_PASSTHROUGH, "%s", "");
        set_copies(pol, &d, bytes);
        return d;
    }

    // Placement: what the allocation is (live), or what it should become (new).
    if (a != NULL) {
        if (a->mem != UM_MEM_MANAGED) {
            set_copies(pol, &d, bytes);
            if (a->req_mem == UM_MEM_DEVICE && a->mem == UM_MEM_DEVICE) {
                if (is_kept(pol, site)) {
                    UM_SET_REASON(pol, &d, UM_RULE_KEEP_DEVICE, "site %s", site);
                } else if (s != NULL && s->c.ipc_n > 0) {
                    UM_SET_REASON(pol, &d, UM_RULE_IPC, "site %s", site);
                } else if (fe != NULL && (fe->set & UM_PF_PLACEMENT) &&
                           fe->placement == UM_PLACE_DEVICE) {
                    UM_SET_REASON(pol, &d, UM_RULE_FILE, "%s:%u: placement=device", pol->file_name,
                               fe->line);
                } else if (bytes < pol->cfg.managed_threshold) {
                    UM_SET_REASON(pol, &d, UM_RULE_SMALL, "%s < %llu",
                               bytes_text(bytes, sz, sizeof sz),
                               (unsigned long long)pol->cfg.managed_threshold);
                } else {
                    UM_SET_REASON(pol, &d, UM_RULE_AS_ALLOCATED,
                               "device memory (managed allocation refused or over budget)");
                }
            } else {
                UM_SET_REASON(pol, &d, UM_RULE_AS_ALLOCATED, "%s memory", um_mem_kind_name(a->mem));
            }
            return d;
        }
        d.placement = UM_PLACE_MANAGED;
        if (a->req_mem == UM_MEM_MANAGED) {
            d.prefetch = mode == UM_MODE_MANAGED ? UM_PF_NONE : UM_PF_ON_LAUNCH;
            d.copy_h2d = d.copy_d2h = UM_COPY_DRIVER;
            if (pol->cfg.staging_threshold > 0 && bytes >= pol->cfg.staging_threshold) {
                d.copy_h2d = UM_COPY_STAGED;
            }
            UM_SET_REASON(pol, &d, UM_RULE_PROGRAM_MANAGED, "%s", bytes_text(bytes, sz, sizeof sz));
            return d;
        }
    } else {
        if (is_kept(pol, site)) {
            set_copies(pol, &d, bytes);
            UM_SET_REASON(pol, &d, UM_RULE_KEEP_DEVICE, "site %s", site);
            return d;
        }
        if (s != NULL && s->c.ipc_n > 0) {
            set_copies(pol, &d, bytes);
            UM_SET_REASON(pol, &d, UM_RULE_IPC, "%llu cuIpc calls at site %s",
                       (unsigned long long)s->c.ipc_n, site);
            return d;
        }
        int file_places = fe != NULL && (fe->set & UM_PF_PLACEMENT) &&
                          (mode == UM_MODE_AUTO || fe->placement == UM_PLACE_DEVICE);
        if (file_places) {
            d.placement = fe->placement;
        } else {
            d.placement = bytes < pol->cfg.managed_threshold ? UM_PLACE_DEVICE : UM_PLACE_MANAGED;
        }
        if (d.placement == UM_PLACE_DEVICE) {
            set_copies(pol, &d, bytes);
            if (file_places) {
                UM_SET_REASON(pol, &d, UM_RULE_FILE, "%s:%u: placement=device", pol->file_name,
                           fe->line);
            } else {
                UM_SET_REASON(pol, &d, UM_RULE_SMALL, "%s < %llu", bytes_text(bytes, sz, sizeof sz),
                           (unsigned long long)pol->cfg.managed_threshold);
            }
            return d;
        }
    }

    // Managed (new or live rewrite): the ladders, or auto's rules.
    set_copies(pol, &d, bytes);
    if (mode == UM_MODE_MANAGED) {
        UM_SET_REASON(pol, &d, UM_RULE_NAIVE, "%s", bytes_text(bytes, sz, sizeof sz));
        return d;
    }
    if (mode == UM_MODE_PREFETCH) {
        d.prefetch = UM_PF_ON_LAUNCH;
        UM_SET_REASON(pol, &d, UM_RULE_PREFETCH, "%s", bytes_text(bytes, sz, sizeof sz));
        return d;
    }
    char facts[128], tags[48];
    int rule = classify(a, s, facts, sizeof facts);
    d.advise = advise_of_rule(rule);
    d.prefetch = UM_PF_ON_LAUNCH;
    d.populate = 1;
    if (rule == UM_RULE_READ_MOSTLY) {
        d.copy_d2h = UM_COPY_HOST; // the win: the host reads its own copy, no DMA
    }
    UM_SET_REASON(pol, &d, rule, "%s%s", facts, action_tags(&d, tags, sizeof tags));
    if (fe != NULL) {
        apply_file(pol, &d, fe);
    }
    return d;
}

um_decision_t um_pol_decide_alloc(um_pol_t *pol, const char *site, uint64_t bytes) {
    if (pol == NULL) {
        um_decision_t d = device_decision();
        snprintf(d.reason, sizeof d.reason, "no policy engine: device memory");
        d.rule = UM_RULE_UNKNOWN;
        return d;
    }
    return decide(pol, site, bytes, NULL);
}

um_decision_t um_pol_decide_live(um_pol_t *pol, uint64_t alloc_id) {
    const um_stats_alloc_t *a = pol != NULL ? um_stats_alloc(pol->stats, alloc_id) : NULL;
    if (a == NULL || a->freed) {
        um_decision_t d = device_decision();
        d.rule = UM_RULE_UNKNOWN;
        snprintf(d.reason, sizeof d.reason, "%s unknown: allocation %llu not seen; %s",
                 pol != NULL ? um_pol_mode_name(pol->cfg.mode) : "none",
                 (unsigned long long)alloc_id, rule_texts[UM_RULE_UNKNOWN].cite);
        return d;
    }
    return decide(pol, a->site, a->bytes, a);
}

// --- policy file in and out ---

int um_pol_load(um_pol_t *pol, const char *path, char *err, size_t errlen) {
    if (pol == NULL || path == NULL) {
        if (err != NULL && errlen > 0) {
            snprintf(err, errlen, "%s: no policy engine", path != NULL ? path : "(null)");
        }
        return -1;
    }
    um_pf_t pf;
    if (um_pf_read(path, &pf, err, errlen) != 0) {
        return -1; // the built-in policy (and any earlier file) stays in force
    }
    um_pf_free(&pol->file);
    pol->file = pf;
    const char *base = strrchr(path, '/');
    snprintf(pol->file_name, sizeof pol->file_name, "%s", base != NULL ? base + 1 : path);
    return 0;
}

// The learned entry for an observed site (what auto would decide there, as file keys).
static void learned_entry(const um_pol_t *pol, const um_stats_site_t *s, um_pf_entry_t *e) {
    memset(e, 0, sizeof *e);
    snprintf(e->site, sizeof e->site, "%s", s->site);
    char mx[32];
    bytes_text(s->max_bytes, mx, sizeof mx);
    if (is_kept(pol, s->site) || s->c.ipc_n > 0) {
        e->set = UM_PF_PLACEMENT;
        e->placement = UM_PLACE_DEVICE;
        snprintf(e->comment, sizeof e->comment, "%s: %llu cuIpc calls, %llu allocs, max %s",
                 is_kept(pol, s->site) ? "keep_device" : "ipc", (unsigned long long)s->c.ipc_n,
                 (unsigned long long)s->allocs, mx);
        return;
    }
    uint64_t thr = pol->cfg.managed_threshold;
    if (s->max_bytes < thr) {
        e->set = UM_PF_PLACEMENT;
        e->placement = UM_PLACE_DEVICE;
        snprintf(e->comment, sizeof e->comment, "small: %llu allocs, all below %llu bytes",
                 (unsigned long long)s->allocs, (unsigned long long)thr);
        return;
    }
    int mixed = 0;
    um_pattern_t p = um_stats_site_pattern(s, 1, &mixed);
    int rule = mixed ? UM_RULE_MIXED : rule_of_pattern(p);
    if (s->min_bytes >= thr) {
        e->set |= UM_PF_PLACEMENT;
        e->placement = UM_PLACE_MANAGED;
    }
    if (read_mostly_site(s)) {
        // No advise key: a file's keys override the built-in rules, and read_mostly must stay
        // revocable by the next run's evidence. The built-in rule grants it again online.
        rule = UM_RULE_READ_MOSTLY;
        e->set |= UM_PF_PREFETCH;
    } else {
        e->set |= UM_PF_ADVISE | UM_PF_PREFETCH;
        e->advise = advise_of_rule(rule);
    }
    e->prefetch = UM_PF_ON_LAUNCH;
    char facts[96];
    counts_facts(&s->c, facts, sizeof facts);
    fmt_trunc(e->comment, sizeof e->comment, "%s: %llu allocs, max %s, %s, %llu redundant uploads",
              um_pol_rule_name(rule), (unsigned long long)s->allocs, mx, facts,
              (unsigned long long)s->c.h2d_redundant_n);
}

static int entry_cmp(const void *x, const void *y) {
    return strcmp(((const um_pf_entry_t *)x)->site, ((const um_pf_entry_t *)y)->site);
}

int um_pol_save(const um_pol_t *pol, const char *path) {
    if (pol == NULL || path == NULL) {
        errno = EINVAL;
        return -1;
    }
    size_t nsites = um_stats_site_count(pol->stats);
    um_pf_entry_t *all = calloc(nsites + pol->file.n + 1, sizeof *all);
    if (all == NULL) {
        return -1;
    }
    size_t n = 0;
    // Loaded entries win over what was learned: a person tuned them.
    for (size_t i = 0; i < pol->file.n; i++) {
        all[n] = pol->file.entries[i];
        all[n].line = 0;
        n++;
    }
    for (size_t i = 0; i < nsites; i++) {
        const um_stats_site_t *s = um_stats_site_at(pol->stats, i);
        if (s->site[0] == '\0' || um_pf_find(&pol->file, s->site) != NULL) {
            continue; // an unknown site cannot be matched next run
        }
        learned_entry(pol, s, &all[n++]);
    }
    qsort(all, n, sizeof *all, entry_cmp);
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        int e = errno;
        free(all);
        errno = e;
        return -1;
    }
    int rc = 0;
    if (fprintf(
            f,
            "%s\n"
            "# Learned by umshim: what mode auto decides for each allocation call site, from\n"
            "# what this run observed (managed threshold %llu bytes). Edit freely; a key left\n"
            "# out keeps the built-in rule. Keys: placement=device|managed,\n"
            "# advise=none|read_mostly,prefer_device,prefer_host,accessed_by_device,\n"
            "# accessed_by_host, prefetch=none|launch, copy|copy_h2d|copy_d2h=driver|host|staged,\n"
            "# host_prefetch=on|off. Format: policy/policy_file.h.\n",
            UM_PF_HEADER, (unsigned long long)pol->cfg.managed_threshold) < 0) {
        rc = -1;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        char line[UM_PF_LINE_MAX + 2];
        if (um_pf_format_entry(&all[i], line, sizeof line) < 0) {
            errno = EINVAL;
            rc = -1;
        } else if (fputs(line, f) == EOF) {
            rc = -1;
        }
    }
    int e = errno;
    if (fclose(f) != 0 && rc == 0) {
        e = errno;
        rc = -1;
    }
    free(all);
    errno = e;
    return rc;
}
