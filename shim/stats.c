// Counters and the UMSHIM_STATS file (stats.h). The file is written once at exit with
// plain stdio: by then no wrapper runs on this thread, and `umshim ab` reads it.
#include "shim/stats.h"

#include <stdio.h>

static uint64_t um_stats[UM_ST_COUNT];
static uint64_t um_hash_sum;

static const char *const um_stat_names[UM_ST_COUNT] = {
#define UM_ST_NAME(k) #k,
    UM_STATS_LIST(UM_ST_NAME)
#undef UM_ST_NAME
};

void um_stat_add(um_stat_t s, uint64_t n) {
    __atomic_fetch_add(&um_stats[s], n, __ATOMIC_RELAXED);
}

uint64_t um_stat_get(um_stat_t s) {
    return __atomic_load_n(&um_stats[s], __ATOMIC_RELAXED);
}

void um_stat_reset(void) {
    for (int i = 0; i < UM_ST_COUNT; i++)
        __atomic_store_n(&um_stats[i], 0, __ATOMIC_RELAXED);
    __atomic_store_n(&um_hash_sum, 0, __ATOMIC_RELAXED);
}

uint64_t um_fnv1a64(const void *data, uint64_t n) {
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ull;
    for (uint64_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

void um_stat_add_hash(uint64_t h) {
    __atomic_fetch_add(&um_hash_sum, h, __ATOMIC_RELAXED);
}

uint64_t um_stat_hash(void) {
    return __atomic_load_n(&um_hash_sum, __ATOMIC_RELAXED);
}

int um_stat_write(const char *path, const char *mode_name,
                   const struct um_cupti_counters_view *cupti) {
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "mode %s\n", mode_name);
    for (int i = 0; i < UM_ST_COUNT; i++)
        fprintf(f, "%s %llu\n", um_stat_names[i], (unsigned long long)um_stat_get((um_stat_t)i));
    fprintf(f, "d2h_hash %016llx\n", (unsigned long long)um_stat_hash());
    if (cupti != NULL && cupti->available) {
        fprintf(f, "cupti_gpu_page_fault_groups %llu\n",
                (unsigned long long)cupti->gpu_page_fault_groups);
        fprintf(f, "cupti_htod_bytes %llu\n", (unsigned long long)cupti->htod_bytes);
        fprintf(f, "cupti_dtoh_bytes %llu\n", (unsigned long long)cupti->dtoh_bytes);
    } else {
        fprintf(f, "cupti_gpu_page_fault_groups na\ncupti_htod_bytes na\ncupti_dtoh_bytes na\n");
    }
    return fclose(f) == 0 ? 0 : -1;
}
