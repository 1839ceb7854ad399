// libFuzzer target: a whole policy file (policy/policy_file.h). Checks beyond "no crash":
// an error always has a "NAME:LINE: " message, and whatever parses is written back by
// um_pf_write/um_pf_format_entry into text that parses to the same entries.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    um_pf_t pf;
    char err[256];
    if (um_pf_parse((const char *)data, size, "fuzz", &pf, err, sizeof err) != 0) {
        if (strncmp(err, "fuzz:", 5) != 0 || pf.entries != NULL || pf.n != 0) {
            abort();
        }
        return 0;
    }
    // Write it back (header + one formatted line per entry) and parse again.
    size_t cap = strlen(UM_PF_HEADER) + 1 + pf.n * (UM_PF_LINE_MAX + 1) + 1;
    char *text = malloc(cap);
    if (text == NULL) {
        um_pf_free(&pf);
        return 0;
    }
    size_t len = (size_t)snprintf(text, cap, "%s\n", UM_PF_HEADER);
    for (size_t i = 0; i < pf.n; i++) {
        int n = um_pf_format_entry(&pf.entries[i], text + len, cap - len);
        if (n <= 0) {
            abort(); // every parsed entry can be written
        }
        len += (size_t)n;
    }
    um_pf_t back;
    if (um_pf_parse(text, len, "again", &back, err, sizeof err) != 0 || back.n != pf.n) {
        abort();
    }
    for (size_t i = 0; i < pf.n; i++) {
        const um_pf_entry_t *a = &pf.entries[i], *b = &back.entries[i];
        if (strcmp(a->site, b->site) != 0 || a->set != b->set ||
            ((a->set & UM_PF_PLACEMENT) && a->placement != b->placement) ||
            a->advise != b->advise || a->prefetch != b->prefetch ||
            a->copy_h2d != b->copy_h2d || a->copy_d2h != b->copy_d2h ||
            a->host_prefetch_before_read != b->host_prefetch_before_read ||
            strcmp(a->comment, b->comment) != 0) {
            abort();
        }
    }
    um_pf_free(&back);
    um_pf_free(&pf);
    free(text);
    return 0;
}
