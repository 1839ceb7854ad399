// `umshim timeline TRACE -o OUT.json`: the trace as Chrome trace-event JSON, which the
// Perfetto UI (https://ui.perfetto.dev) and chrome://tracing open as is. Layout:
// - process 1 "GPU streams": one track per CUDA stream, with copies, memsets, prefetches,
//   launches and graph launches as complete ("X") slices;
// - process 2 "host threads": one track per OS thread, with allocations, frees,
//   synchronisations, advise hints, host accesses and fallbacks;
// - a "device memory" counter track with the live bytes of device-side allocations.
// Times are the trace's CLOCK_MONOTONIC stamps in microseconds; a slice lasts as long as
// the call took on the host (the trace has no GPU timestamps), so an async copy shows its
// enqueue cost, not its transfer. Written while reading: nothing is held per event.
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/cli.h"
#include "tools/model.h"
#include "policy/stats.h"

static const char timeline_help[] =
    "usage: umshim timeline TRACE -o OUT.json\n"
    "\n"
    "Converts a trace to Chrome trace-event JSON: open OUT.json in https://ui.perfetto.dev\n"
    "(or chrome://tracing). Copies, prefetches and launches appear on one track per CUDA\n"
    "stream; allocations, frees and synchronisations on one track per host thread; device\n"
    "memory in use as a counter. Slice lengths are host call times (no GPU timestamps).\n"
    "\n"
    "options:\n"
    "  -o, --output OUT   where to write the JSON (required)\n"
    "  -h, --help         this text\n";

enum { PID_STREAMS = 1, PID_HOST = 2 };

typedef struct {
    FILE *f;
    int first;             // no event written yet (comma handling)
    uint64_t *streams;     // stream handle per track index (tid = index + 1)
    size_t nstreams, cap_streams;
    uint32_t *threads;
    size_t nthreads, cap_threads;
    int64_t device_bytes;
    um_stats_t *st;        // allocation records (size, kind) for the memory counter
    int oom;
} tl_t;

static void sep(tl_t *t) {
    fputs(t->first ? "\n" : ",\n", t->f);
    t->first = 0;
}

static void meta(tl_t *t, int pid, uint64_t tid, const char *what, const char *name) {
    sep(t);
    fprintf(t->f, "{\"ph\":\"M\",\"pid\":%d,\"tid\":%" PRIu64 ",\"ts\":0,\"name\":\"%s\",\"args\":{\"name\":",
            pid, tid, what);
    um_cli_json_string(t->f, name);
    fputs("}}", t->f);
}

static int grow(void **p, size_t *cap, size_t elem) {
    size_t ncap = *cap ? *cap * 2 : 16;
    void *np = realloc(*p, ncap * elem);
    if (np == NULL)
        return -1;
    *p = np;
    *cap = ncap;
    return 0;
}

static uint64_t stream_tid(tl_t *t, uint64_t stream, int device) {
    for (size_t i = 0; i < t->nstreams; i++)
        if (t->streams[i] == stream)
            return i + 1;
    if (t->nstreams == t->cap_streams &&
        grow((void **)&t->streams, &t->cap_streams, sizeof *t->streams) != 0) {
        t->oom = 1;
        return 0;
    }
    t->streams[t->nstreams++] = stream;
    char name[96];
    if (stream == 0)
        snprintf(name, sizeof name, "stream 0 (legacy default), device %d", device);
    else
        snprintf(name, sizeof name, "stream 0x%" PRIx64 ", device %d", stream, device);
    meta(t, PID_STREAMS, t->nstreams, "thread_name", name);
    return t->nstreams;
}

static uint64_t thread_tid(tl_t *t, uint32_t tid) {
    for (size_t i = 0; i < t->nthreads; i++)
        if (t->threads[i] == tid)
            return tid;
    if (t->nthreads == t->cap_threads &&
        grow((void **)&t->threads, &t->cap_threads, sizeof *t->threads) != 0) {
        t->oom = 1;
        return tid;
    }
    t->threads[t->nthreads++] = tid;
    char name[48];
    snprintf(name, sizeof name, "thread %u", tid);
    meta(t, PID_HOST, tid, "thread_name", name);
    return tid;
}

// --- the device-memory counter ---
static void counter(tl_t *t, uint64_t t_ns) {
    sep(t);
    fprintf(t->f, "{\"ph\":\"C\",\"pid\":%d,\"tid\":0,\"ts\":%.3f,\"name\":\"device memory\","
                  "\"args\":{\"bytes\":%" PRId64 "}}",
            PID_HOST, (double)t_ns / 1000.0, t->device_bytes);
}

// --- events ---
static void slice(tl_t *t, const um_event_t *ev, int pid, uint64_t tid, const char *name,
                  const char *cat) {
    sep(t);
    fprintf(t->f, "{\"ph\":\"X\",\"pid\":%d,\"tid\":%" PRIu64 ",\"ts\":%.3f,\"dur\":%.3f,\"cat\":\"%s\",\"name\":",
            pid, tid, (double)ev->t_ns / 1000.0, (double)ev->dur_ns / 1000.0, cat);
    um_cli_json_string(t->f, name);
    fprintf(t->f, ",\"args\":{\"bytes\":%" PRIu64 ",\"alloc\":%" PRIu64 ",\"device\":%d,\"result\":%d,\"async\":%d",
            ev->bytes, ev->alloc_id, ev->device, ev->result, ev->async);
    if (ev->kind == UM_EV_COPY)
        fprintf(t->f, ",\"dir\":\"%s\",\"src\":%" PRIu64, um_dir_name(ev->dir), ev->src_id);
    if (ev->kind == UM_EV_LAUNCH) {
        fputs(",\"refs\":[", t->f);
        for (uint32_t i = 0; i < ev->nrefs && i < UM_LAUNCH_MAX_REFS; i++)
            fprintf(t->f, "%s%" PRIu64, i ? "," : "", ev->refs[i]);
        fputc(']', t->f);
    }
    if (ev->site[0]) {
        fputs(",\"site\":", t->f);
        um_cli_json_string(t->f, ev->site);
    }
    if (ev->name[0] && ev->kind != UM_EV_LAUNCH) {
        fputs(",\"api\":", t->f);
        um_cli_json_string(t->f, ev->name);
    }
    fputs("}}", t->f);
}

static int on_event(const um_event_t *ev, void *ctx) {
    tl_t *t = ctx;
    char name[UM_NAME_MAX + 64], b[32];
    switch (ev->kind) {
    case UM_EV_COPY:
        snprintf(name, sizeof name, "copy %s %s", um_dir_name(ev->dir),
                 um_cli_fmt_bytes(ev->bytes, b, sizeof b));
        slice(t, ev, PID_STREAMS, stream_tid(t, ev->stream, ev->device), name, "copy");
        break;
    case UM_EV_MEMSET:
        snprintf(name, sizeof name, "memset %s", um_cli_fmt_bytes(ev->bytes, b, sizeof b));
        slice(t, ev, PID_STREAMS, stream_tid(t, ev->stream, ev->device), name, "memset");
        break;
    case UM_EV_PREFETCH:
        if (ev->device < 0)
            snprintf(name, sizeof name, "prefetch to host %s", um_cli_fmt_bytes(ev->bytes, b, sizeof b));
        else
            snprintf(name, sizeof name, "prefetch to device %d %s", ev->device,
                     um_cli_fmt_bytes(ev->bytes, b, sizeof b));
        slice(t, ev, PID_STREAMS, stream_tid(t, ev->stream, ev->device), name, "prefetch");
        break;
    case UM_EV_LAUNCH:
        slice(t, ev, PID_STREAMS, stream_tid(t, ev->stream, ev->device),
              ev->name[0] ? ev->name : "kernel", "launch");
        break;
    case UM_EV_GRAPH:
        slice(t, ev, PID_STREAMS, stream_tid(t, ev->stream, ev->device), "graph launch", "launch");
        break;
    case UM_EV_ALLOC:
        snprintf(name, sizeof name, "alloc %s %s", um_mem_kind_name(ev->mem),
                 um_cli_fmt_bytes(ev->bytes, b, sizeof b));
        slice(t, ev, PID_HOST, thread_tid(t, ev->tid), name, "alloc");
        if (ev->result == 0 && ev->alloc_id && ev->mem != UM_MEM_HOST) {
            t->device_bytes += (int64_t)ev->bytes;
            counter(t, ev->t_ns);
        }
        break;
    case UM_EV_FREE: {
        slice(t, ev, PID_HOST, thread_tid(t, ev->tid), "free", "alloc");
        const um_stats_alloc_t *a = um_stats_alloc(t->st, ev->alloc_id);
        if (ev->result == 0 && a && !a->freed && a->mem != UM_MEM_HOST) {
            t->device_bytes -= (int64_t)a->bytes;
            counter(t, ev->t_ns + ev->dur_ns);
        }
        break;
    }
    case UM_EV_FALLBACK:
        snprintf(name, sizeof name, "fallback: %s", ev->name);
        slice(t, ev, PID_HOST, thread_tid(t, ev->tid), name, "fallback");
        break;
    default: // sync, advise, host access
        slice(t, ev, PID_HOST, thread_tid(t, ev->tid), um_ev_kind_name(ev->kind),
              um_ev_kind_name(ev->kind));
        break;
    }
    um_stats_observe(t->st, ev); // after the free was looked up: it forgets freed records
    return t->oom ? -1 : 0;
}

int um_timeline_write(const char *trace, const char *out_path, char *err, size_t errlen) {
    FILE *f = fopen(out_path, "w");
    if (f == NULL) {
        snprintf(err, errlen, "%s: cannot write: %m", out_path);
        return -1;
    }
    tl_t t = {.f = f, .first = 1, .st = um_stats_create(0)};
    if (t.st == NULL) {
        fclose(f);
        snprintf(err, errlen, "%s: out of memory", trace);
        return -1;
    }
    fputs("{\"displayTimeUnit\":\"ns\",\"otherData\":{\"generator\":\"umshim timeline\",\"trace\":", f);
    um_cli_json_string(f, trace);
    fputs("},\"traceEvents\":[", f);
    meta(&t, PID_STREAMS, 0, "process_name", "GPU streams");
    meta(&t, PID_HOST, 0, "process_name", "host threads");
    int rc = um_trace_each(trace, on_event, &t, err, errlen);
    if (t.oom) {
        snprintf(err, errlen, "%s: out of memory", trace);
        rc = -1;
    }
    fputs("\n]}\n", f);
    if (fclose(f) != 0 && rc == 0) {
        snprintf(err, errlen, "%s: write error: %m", out_path);
        rc = -1;
    }
    if (rc != 0)
        remove(out_path); // never leave a half timeline that looks valid
    free(t.streams);
    free(t.threads);
    um_stats_destroy(t.st);
    return rc == 0 ? 0 : -1;
}

int um_cmd_timeline(int argc, char **argv) {
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *out = NULL;
    um_cli_getopt_reset();
    int c;
    // Not "+": `umshim timeline TRACE -o OUT` puts the option after the operand.
    while ((c = getopt_long(argc, argv, ":ho:", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'h': fputs(timeline_help, stdout); return UM_EXIT_OK;
        default: return um_cli_bad_option("timeline", c, argv);
        }
    }
    if (optind >= argc)
        return um_cli_usage_error("timeline", "missing TRACE file");
    if (optind + 1 < argc)
        return um_cli_usage_error("timeline", "one TRACE file only (got '%s' too)", argv[optind + 1]);
    if (out == NULL)
        return um_cli_usage_error("timeline", "missing -o OUT.json");
    char err[512];
    if (um_timeline_write(argv[optind], out, err, sizeof err) != 0)
        return um_cli_error("timeline", "%s", err);
    fprintf(stderr, "umshim timeline: wrote %s (open it in https://ui.perfetto.dev)\n", out);
    return UM_EXIT_OK;
}
