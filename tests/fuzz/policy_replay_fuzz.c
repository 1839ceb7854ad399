// libFuzzer target: a whole trace replayed through the policy engine, the way `umshim
// report` does it: every line that parses is observed, every allocation it names is asked
// for a live decision, and every decision must be sane (one-line reason naming its rule,
// host copies only into managed memory, advise only on managed memory). Exercises
// policy/stats.c's tables and inference with arbitrary, inconsistent event orders.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"
#include "policy/trace_format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

// terse: the engine was made with no_reasons (the shim's setting): a decision may then carry
// no reason text, but one it does carry must still be sane.
static void check(const um_decision_t *d, int terse) {
    size_t n = strnlen(d->reason, sizeof d->reason);
    if (!(terse && n == 0) &&
        (n == 0 || n == sizeof d->reason || memchr(d->reason, '\n', n) != NULL ||
         strstr(d->reason, um_pol_rule_name(d->rule)) == NULL)) {
        abort();
    }
    if (d->placement == UM_PLACE_DEVICE &&
        (d->advise != 0 || d->prefetch != UM_PF_NONE || d->copy_h2d == UM_COPY_HOST ||
         d->copy_d2h == UM_COPY_HOST || d->host_prefetch_before_read)) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > 65536) {
        return 0;
    }
    // The first byte picks the mode, thresholds and reason texts, so every mode gets fuzzed.
    um_pol_config_t cfg = {(um_mode_t)(data[0] & 3), (data[0] & 4) ? 0 : 1u << 20,
                           (data[0] & 8) ? 8u << 20 : 0, (data[0] & 16) != 0};
    um_pol_t *pol = um_pol_create(&cfg);
    if (pol == NULL) {
        return 0;
    }
    char *text = malloc(size);
    if (text == NULL) {
        um_pol_destroy(pol);
        return 0;
    }
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    for (char *line = text; line != NULL;) {
        char *nl = strchr(line, '\n');
        if (nl != NULL) {
            *nl = '\0';
        }
        um_event_t ev;
        char err[160];
        if (um_trace_parse_line(line, &ev, err, sizeof err) == 0) {
            um_pol_observe(pol, &ev);
            um_decision_t d = um_pol_decide_live(pol, ev.alloc_id);
            check(&d, cfg.no_reasons);
            d = um_pol_decide_live(pol, ev.src_id);
            check(&d, cfg.no_reasons);
            for (uint32_t i = 0; i < ev.nrefs; i++) {
                d = um_pol_decide_live(pol, ev.refs[i]);
                check(&d, cfg.no_reasons);
            }
            d = um_pol_decide_alloc(pol, ev.site, ev.bytes);
            check(&d, cfg.no_reasons);
        }
        line = nl != NULL ? nl + 1 : NULL;
    }
    free(text);
    um_pol_destroy(pol);
    return 0;
}
