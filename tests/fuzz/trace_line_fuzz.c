// libFuzzer target: one trace line (policy/trace_format.h). Beyond "no crash, no sanitizer
// report", it checks the format's promise: whatever parses, formats, and the formatted line
// parses back to the same event.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/trace_format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_or_abort(const um_event_t *a, const um_event_t *b) {
    int same = a->kind == b->kind && a->t_ns == b->t_ns && a->dur_ns == b->dur_ns &&
               a->tid == b->tid && a->device == b->device && a->stream == b->stream &&
               a->async == b->async && a->result == b->result && a->alloc_id == b->alloc_id &&
               a->ptr == b->ptr && a->bytes == b->bytes && a->mem == b->mem &&
               a->req_mem == b->req_mem && a->dir == b->dir && a->src_id == b->src_id &&
               a->hash == b->hash && a->advice == b->advice && strcmp(a->site, b->site) == 0 &&
               strcmp(a->name, b->name) == 0 && a->nrefs == b->nrefs &&
               memcmp(a->refs, b->refs, a->nrefs * sizeof a->refs[0]) == 0;
    if (!same) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 8192) {
        return 0; // far beyond any real line; keeps the fuzzer on the parser's logic
    }
    char *line = malloc(size + 1);
    if (line == NULL) {
        return 0;
    }
    memcpy(line, data, size);
    line[size] = '\0';
    um_event_t ev;
    char err[160];
    int rc = um_trace_parse_line(line, &ev, err, sizeof err);
    if (rc < -1 || rc > 1 || (rc == -1 && err[0] == '\0')) {
        abort(); // every error carries a message
    }
    if (rc == 0) {
        char out[UM_TRACE_LINE_MAX];
        int n = um_trace_format_line(&ev, out, sizeof out);
        if (n <= 0 || (size_t)n != strlen(out)) {
            abort(); // a parsed event always formats
        }
        um_event_t back;
        if (um_trace_parse_line(out, &back, err, sizeof err) != 0) {
            abort();
        }
        same_or_abort(&ev, &back);
    }
    free(line);
    return 0;
}
