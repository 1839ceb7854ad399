// `umshim report TRACE`: what the program's data movement looks like per allocation site,
// and what auto would do about it. The numbers come from model.c; this file only renders
// them, as a table for people or as JSON (--json) for scripts.
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "shim/bytes.h"
#include "tools/cli.h"
#include "tools/model.h"
#include "policy/policy_file.h"

static const char report_help[] =
    "usage: umshim report [OPTIONS] TRACE\n"
    "\n"
    "Summarises a trace (written with UMSHIM_TRACE, 'umshim run --trace' or 'umshim profile')\n"
    "per allocation site: bytes moved by direction, launches and copies per launch, redundant\n"
    "copies (the same unchanged bytes copied again), uploads nothing used, buffers copied but\n"
    "never used by a kernel, leaks, peak device memory, and the\n"
    "decision auto mode takes for the site, with its reason.\n"
    "\n"
    "options:\n"
    "  --json              machine-readable output\n"
    "  --timeline OUT      also write the Chrome trace-event / Perfetto timeline to OUT\n"
    "  --threshold BYTES   managed threshold the auto replay uses (default: the shim's)\n"
    "  -h, --help          this text\n";

// --- text ---
static const char *count_bytes(uint64_t n, uint64_t bytes, char *buf, size_t len) {
    char b[32];
    snprintf(buf, len, "%s (%llu)", um_cli_fmt_bytes(bytes, b, sizeof b), (unsigned long long)n);
    return buf;
}

static const char *pattern_text(const um_site_stats_t *s) {
    return s->mixed ? "mixed" : um_pattern_name(s->pattern);
}

static void print_text(FILE *f, const um_model_t *m, const char *trace) {
    const um_stats_totals_t *t = &m->tot;
    char b1[64], b2[64], b3[64], b4[64];
    double secs = t->t_last > t->t_first ? (double)(t->t_last - t->t_first) * 1e-9 : 0;
    fprintf(f, "umshim report: %s\n", trace);
    fprintf(f, "  %llu events over %.3f s; %zu allocation sites; %zu kernels, %llu launches\n",
            (unsigned long long)t->events, secs, m->nsites, m->nkernels,
            (unsigned long long)t->launches);
    fprintf(f, "  copies: h2d %s, d2h %s, d2d %s; peak device memory %s\n",
            count_bytes(t->copies_n[UM_DIR_H2D], t->copies_b[UM_DIR_H2D], b1, sizeof b1),
            count_bytes(t->copies_n[UM_DIR_D2H], t->copies_b[UM_DIR_D2H], b2, sizeof b2),
            count_bytes(t->copies_n[UM_DIR_D2D], t->copies_b[UM_DIR_D2D], b3, sizeof b3),
            um_cli_fmt_bytes(m->peak_device_bytes, b4, sizeof b4));
    if (m->unattributed_copies)
        fprintf(f, "  %llu copies touched no known device allocation\n",
                (unsigned long long)m->unattributed_copies);
    if (t->failed)
        fprintf(f, "  %llu calls failed (res != 0; not counted)\n", (unsigned long long)t->failed);
    if (t->fallbacks)
        fprintf(f, "  %llu fallbacks to the original behaviour (see the trace's fallback lines)\n",
                (unsigned long long)t->fallbacks);
    fputc('\n', f);

    fprintf(f, "%-24s %-8s %-9s %6s %10s %16s %16s %6s %6s %16s %16s %6s %16s\n", "SITE", "MEMORY",
            "PATTERN", "ALLOCS", "PEAK", "H2D (copies)", "D2H (copies)", "LAUNCH", "COPY/L",
            "REDUNDANT", "UNUSED UPLOADS", "NO-KRN", "LEAKED");
    for (size_t i = 0; i < m->nsites; i++) {
        const um_site_stats_t *s = &m->sites[i];
        const um_stats_counts_t *c = &s->st.c;
        uint64_t copies = c->h2d_n + c->d2h_n + c->d2d_in_n;
        char cpl[16], red[48], unused[48], leak[48], h2d[48], d2h[48], peak[32];
        if (c->launch_n)
            snprintf(cpl, sizeof cpl, "%.2f", (double)copies / (double)c->launch_n);
        else
            snprintf(cpl, sizeof cpl, "%s", copies ? "none" : "-");
        fprintf(f, "%-24s %-8s %-9s %6llu %10s %16s %16s %6llu %6s %16s %16s %6llu %16s\n",
                s->st.site, um_mem_kind_name(s->mem), pattern_text(s),
                (unsigned long long)s->st.allocs,
                um_cli_fmt_bytes(s->st.peak_live_bytes, peak, sizeof peak),
                count_bytes(c->h2d_n, c->h2d_b, h2d, sizeof h2d),
                count_bytes(c->d2h_n, c->d2h_b, d2h, sizeof d2h),
                (unsigned long long)c->launch_n, cpl,
                count_bytes(c->h2d_redundant_n + s->d2h_redundant_n,
                            c->h2d_redundant_b + s->d2h_redundant_b, red, sizeof red),
                count_bytes(c->h2d_unused_n, c->h2d_unused_b, unused, sizeof unused),
                (unsigned long long)s->copied_no_kernel,
                count_bytes(s->st.live, s->st.live_bytes, leak, sizeof leak));
    }
    if (m->nsites == 0)
        fputs("(no allocations in this trace)\n", f);
    fputs("\nREDUNDANT: uploads of a range already uploaded with no possible device write since\n"
          "(redundant if the host bytes are unchanged too), plus read-backs of unchanged data.\n"
          "UNUSED UPLOADS: uploads nothing used before the next upload or the free. NO-KRN:\n"
          "allocations copied to or from but never used by a kernel. LEAKED: never freed.\n",
          f);

    if (m->have_policy && m->nsites) {
        fputs("\nauto would decide:\n", f);
        for (size_t i = 0; i < m->nsites; i++) {
            const um_site_stats_t *s = &m->sites[i];
            if (!s->have_decision || s->mem == UM_MEM_HOST)
                continue; // pinned host memory is never rewritten: nothing to decide
            char text[256];
            fprintf(f, "  %-24s %s\n  %-24s   because: %s\n", s->st.site,
                    um_model_decision_text(&s->decision, text, sizeof text), "",
                    s->decision.reason[0] ? s->decision.reason : "(no reason given)");
        }
    }

    if (m->nkernels) {
        fputs("\nkernels:\n", f);
        for (size_t i = 0; i < m->nkernels; i++)
            fprintf(f, "  %-40s %8llu launches\n", m->kernels[i].name,
                    (unsigned long long)m->kernels[i].launches);
    }
}

// --- JSON ---
static void json_dirs(FILE *f, const uint64_t *n, const uint64_t *b) {
    fputc('{', f);
    for (int d = UM_DIR_H2D; d < UM_DIR_COUNT; d++)
        fprintf(f, "%s\"%s\":{\"copies\":%llu,\"bytes\":%llu}", d == UM_DIR_H2D ? "" : ",",
                um_dir_name((um_dir_t)d), (unsigned long long)n[d], (unsigned long long)b[d]);
    fputc('}', f);
}

static void json_decision(FILE *f, const um_decision_t *d) {
    char text[256], adv[128];
    fprintf(f, "{\"placement\":\"%s\",\"advise\":\"%s\",\"prefetch\":\"%s\",\"copy_h2d\":\"%s\","
               "\"copy_d2h\":\"%s\",\"rule\":\"%s\",\"text\":",
            um_pf_placement_name(d->placement), um_pf_advise_text(d->advise, adv, sizeof adv),
            um_pf_prefetch_name(d->prefetch), um_pf_copy_name(d->copy_h2d),
            um_pf_copy_name(d->copy_d2h), um_pol_rule_name(d->rule));
    um_cli_json_string(f, um_model_decision_text(d, text, sizeof text));
    fputs(",\"reason\":", f);
    um_cli_json_string(f, d->reason);
    fputc('}', f);
}

#define U(x) ((unsigned long long)(x))

static void print_json(FILE *f, const um_model_t *m, const char *trace) {
    const um_stats_totals_t *t = &m->tot;
    fputs("{\"trace\":", f);
    um_cli_json_string(f, trace);
    fprintf(f, ",\"events\":%llu,\"duration_ns\":%llu,\"peak_device_bytes\":%llu,\"launches\":%llu,"
               "\"failed\":%llu,\"unattributed_copies\":%llu,\"fallbacks\":%llu,\"copies\":",
            U(t->events), U(t->t_last > t->t_first ? t->t_last - t->t_first : 0),
            U(m->peak_device_bytes), U(t->launches), U(t->failed), U(m->unattributed_copies),
            U(t->fallbacks));
    json_dirs(f, t->copies_n, t->copies_b);
    fputs(",\"sites\":[", f);
    for (size_t i = 0; i < m->nsites; i++) {
        const um_site_stats_t *s = &m->sites[i];
        const um_stats_counts_t *c = &s->st.c;
        fputs(i ? ",\n{\"site\":" : "\n{\"site\":", f);
        um_cli_json_string(f, s->st.site);
        fprintf(f, ",\"mem\":\"%s\",\"req_mem\":\"%s\",\"pattern\":\"%s\",\"allocs\":%llu,"
                   "\"alloc_bytes\":%llu,\"max_bytes\":%llu,\"peak_live_bytes\":%llu,"
                   "\"h2d\":{\"copies\":%llu,\"bytes\":%llu},\"d2h\":{\"copies\":%llu,\"bytes\":%llu},"
                   "\"d2d_in\":{\"copies\":%llu,\"bytes\":%llu},\"launches\":%llu,\"copies_per_launch\":",
                um_mem_kind_name(s->mem), um_mem_kind_name(s->req_mem), pattern_text(s),
                U(s->st.allocs), U(s->st.total_bytes), U(s->st.max_bytes), U(s->st.peak_live_bytes),
                U(c->h2d_n), U(c->h2d_b), U(c->d2h_n), U(c->d2h_b), U(c->d2d_in_n), U(c->d2d_in_b),
                U(c->launch_n));
        if (c->launch_n)
            fprintf(f, "%.4f", (double)(c->h2d_n + c->d2h_n + c->d2d_in_n) / (double)c->launch_n);
        else
            fputs("null", f);
        fputs(",\"kernels\":[", f);
        for (unsigned k = 0; k < s->nkernels; k++) {
            if (k)
                fputc(',', f);
            um_cli_json_string(f, s->kernels[k]);
        }
        fprintf(f, "],\"h2d_redundant\":{\"copies\":%llu,\"bytes\":%llu},"
                   "\"d2h_redundant\":{\"copies\":%llu,\"bytes\":%llu},"
                   "\"h2d_unused\":{\"copies\":%llu,\"bytes\":%llu},\"copied_no_kernel\":%llu,"
                   "\"leaks\":%llu,\"leak_bytes\":%llu,\"memsets\":%llu,\"prefetches\":%llu,"
                   "\"prefetch_bytes\":%llu,\"advises\":%llu,\"host_accesses\":%llu,\"auto\":",
                U(c->h2d_redundant_n), U(c->h2d_redundant_b), U(s->d2h_redundant_n),
                U(s->d2h_redundant_b), U(c->h2d_unused_n), U(c->h2d_unused_b),
                U(s->copied_no_kernel), U(s->st.live), U(s->st.live_bytes), U(c->memset_n),
                U(c->prefetch_n), U(c->prefetch_b), U(c->advise_n), U(c->host_access_n));
        if (s->have_decision && s->mem != UM_MEM_HOST)
            json_decision(f, &s->decision);
        else
            fputs("null", f);
        fputc('}', f);
    }
    fputs("],\n\"kernels\":[", f);
    for (size_t i = 0; i < m->nkernels; i++) {
        fputs(i ? ",{\"name\":" : "{\"name\":", f);
        um_cli_json_string(f, m->kernels[i].name);
        fprintf(f, ",\"launches\":%llu,\"launch_call_ns\":%llu}", U(m->kernels[i].launches),
                U(m->kernels[i].dur_ns));
    }
    fputs("]}\n", f);
}

void um_report_print(FILE *f, const um_model_t *m, const char *trace, int json) {
    if (json)
        print_json(f, m, trace);
    else
        print_text(f, m, trace);
}

// --- the subcommand ---
int um_cmd_report(int argc, char **argv) {
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"timeline", required_argument, NULL, 't'},
        {"threshold", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int json = 0;
    const char *timeline = NULL;
    um_pol_config_t cfg = um_report_policy_config();
    um_cli_getopt_reset();
    int c;
    // Options may follow the operand: `umshim report TRACE --json`.
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 'j': json = 1; break;
        case 't': timeline = optarg; break;
        case 'T':
            if (um_opt_parse_bytes(optarg, &cfg.managed_threshold) != 0)
                return um_cli_usage_error("report", "--threshold %s: expected bytes (e.g. 1M)", optarg);
            break;
        case 'h': fputs(report_help, stdout); return UM_EXIT_OK;
        default: return um_cli_bad_option("report", c, argv);
        }
    }
    if (optind >= argc)
        return um_cli_usage_error("report", "missing TRACE file");
    if (optind + 1 < argc)
        return um_cli_usage_error("report", "one TRACE file only (got '%s' too)", argv[optind + 1]);
    const char *trace = argv[optind];
    char err[512];
    um_model_t m;
    if (um_model_load(trace, &cfg, &m, err, sizeof err) != 0)
        return um_cli_error("report", "%s", err);
    um_report_print(stdout, &m, trace, json);
    um_model_free(&m);
    if (timeline && um_timeline_write(trace, timeline, err, sizeof err) != 0)
        return um_cli_error("report", "%s", err);
    if (timeline && !json)
        fprintf(stderr, "umshim report: timeline written to %s (open it in https://ui.perfetto.dev)\n",
                timeline);
    return fflush(stdout) == 0 ? UM_EXIT_OK : UM_EXIT_FAIL;
}
