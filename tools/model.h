// The trace read back: events streamed from a trace file (parsed only through
// policy/trace_format.h), and the per-allocation-site summary `umshim report` prints:
// bytes by direction, copies per launch, redundant copies, buffers copied but never used by
// a kernel, leaks, peak device memory, and what auto decides for the site (the policy engine
// replaying the same trace).
#ifndef UMSHIM_TOOLS_MODEL_H
#define UMSHIM_TOOLS_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "policy/event.h"
#include "policy/policy.h"
#include "policy/stats.h"

// Calls fn for every event of the trace at `path`, in file order. Returns 0; -1 with
// "PATH: problem" or "PATH:LINE: problem" in err (not a trace, unreadable, bad line), or the
// first non-zero value fn returned.
typedef int (*um_trace_fn)(const um_event_t *ev, void *ctx);
int um_trace_each(const char *path, um_trace_fn fn, void *ctx, char *err, size_t errlen);

#define UM_MODEL_KERNELS_PER_SITE 4

// One allocation site. The traffic counters are policy/stats.h's (the numbers the policy
// engine learns from); d2h_redundant, the kernel names and the decision are added here.
typedef struct {
    um_stats_site_t st;            // allocs, peak_live_bytes, live (= leaked at the end), c.*
    um_mem_kind_t mem;             // what its latest allocation became
    um_mem_kind_t req_mem;         // what the program asked for
    um_pattern_t pattern;          // the pattern its allocations agree on (UNUSED: none/mixed)
    int mixed;                     // its allocations show different patterns
    uint64_t copied_no_kernel;     // allocations copied to/from but never used by a kernel
    uint64_t d2h_redundant_n, d2h_redundant_b; // same unchanged bytes read back again
    char kernels[UM_MODEL_KERNELS_PER_SITE][UM_NAME_MAX]; // first kernels that used it
    unsigned nkernels;
    int have_decision;
    um_decision_t decision;        // what auto would do with a new allocation here
} um_site_stats_t;

typedef struct {
    char name[UM_NAME_MAX];
    uint64_t launches;
    uint64_t dur_ns; // time in the launch calls (not kernel time)
} um_kernel_stats_t;

typedef struct {
    um_site_stats_t *sites;
    size_t nsites;
    um_kernel_stats_t *kernels;
    size_t nkernels;
    um_stats_totals_t tot;         // policy/stats.h totals (copies_n/b by direction, ...)
    uint64_t unattributed_copies;  // successful copies touching no known device allocation
    uint64_t device_bytes, peak_device_bytes; // device, managed, pool, vmm, pitch live bytes
    int have_policy;
} um_model_t;

// Reads and summarises a trace; `cfg` configures the policy engine replay (NULL: no
// decisions). Sites are sorted by bytes moved, largest first. Returns 0 or -1 (err).
int um_model_load(const char *path, const um_pol_config_t *cfg, um_model_t *m, char *err,
                  size_t errlen);
void um_model_free(um_model_t *m);

// Looks a site up by name (NULL when absent).
const um_site_stats_t *um_model_site(const um_model_t *m, const char *site);

// "placement=managed advise=read_mostly prefetch=launch" (policy file words; no reason).
const char *um_model_decision_text(const um_decision_t *d, char *buf, size_t len);

// --- renderers (report.c, timeline.c), shared with `profile` ---
// The per-site summary, as text for people or JSON for scripts.
void um_report_print(FILE *f, const um_model_t *m, const char *trace, int json);

// Writes the trace as Chrome trace-event JSON (Perfetto, chrome://tracing) to out_path.
// Returns 0, or -1 with a message in err.
int um_timeline_write(const char *trace, const char *out_path, char *err, size_t errlen);

// The policy configuration a report replays with: auto mode and the shim's defaults.
um_pol_config_t um_report_policy_config(void);

#endif
