// A stand-in for libumshim.so in the command-line tests: preloaded by `umshim run/profile/ab
// --shim`, it does what the real shim does at the edges the command line relies on, without
// CUDA: copies a canned trace to UMSHIM_TRACE (CLI_FAKE_TRACE), writes a policy file to
// UMSHIM_POLICY_OUT, and a stats file to UMSHIM_STATS whose d2h_hash is CLI_FAKE_HASH, or
// CLI_FAKE_HASH_MANAGED in managed mode (to provoke a mismatch); CUPTI counters are "na"
// unless CLI_FAKE_CUPTI is set.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void copy_file(const char *from, const char *to) {
    FILE *in = fopen(from, "r"), *out = in ? fopen(to, "w") : NULL;
    int c;
    while (out && (c = fgetc(in)) != EOF)
        fputc(c, out);
    if (out)
        fclose(out);
    if (in)
        fclose(in);
}

__attribute__((constructor)) static void fake_shim_init(void) {
    const char *trace = getenv("UMSHIM_TRACE"), *canned = getenv("CLI_FAKE_TRACE");
    if (trace && canned)
        copy_file(canned, trace);
    const char *policy = getenv("UMSHIM_POLICY_OUT");
    FILE *f = policy ? fopen(policy, "w") : NULL;
    if (f) {
        fputs("# fake policy\n", f);
        fclose(f);
    }
    const char *stats = getenv("UMSHIM_STATS");
    const char *mode = getenv("UMSHIM_MODE") ? getenv("UMSHIM_MODE") : "auto";
    const char *hash = getenv("CLI_FAKE_HASH") ? getenv("CLI_FAKE_HASH") : "0";
    if (mode[0] == 'm' && getenv("CLI_FAKE_HASH_MANAGED"))
        hash = getenv("CLI_FAKE_HASH_MANAGED");
    f = stats ? fopen(stats, "w") : NULL;
    if (f) {
        int managed = !(mode[0] == 'p' && mode[1] == 'a');
        fprintf(f, "mode %s\nallocs 3\nmanaged_allocs %d\ncopies_h2d 2\nbytes_h2d 8192\nlaunches 1\n"
                   "d2h_hash %s\n",
                mode, managed ? 3 : 0, hash);
        const char *cupti = getenv("CLI_FAKE_CUPTI");
        if (cupti && strcmp(cupti, "0") == 0) // counters collected, and nothing migrated
            fputs("cupti_gpu_page_fault_groups 0\ncupti_htod_bytes 0\ncupti_dtoh_bytes 0\n", f);
        else if (cupti) // managed memory faults; prefetching avoids most faults
            fprintf(f, "cupti_gpu_page_fault_groups %d\ncupti_htod_bytes %d\ncupti_dtoh_bytes 0\n",
                    !managed ? 0 : mode[0] == 'm' ? 1200 : 40, managed ? 8192 : 0);
        else
            fputs("cupti_gpu_page_fault_groups na\ncupti_htod_bytes na\ncupti_dtoh_bytes na\n", f);
        fclose(f);
    }
}
