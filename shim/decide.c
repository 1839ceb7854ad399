// Decisions (decide.h): the policy engine behind a mutex (it is not thread-safe by
// contract), plus the shim-owned safety rules. The mutex is never held across a driver
// call: capability and free-memory queries happen before it is taken.
#include "shim/decide.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "shim/entry.h"
#include "shim/forklock.h"
#include "shim/log.h"
#include "shim/options.h"

#define UM_MAX_DEVICES 64

static pthread_mutex_t um_dec_lock = PTHREAD_MUTEX_INITIALIZER;
static um_pol_t *um_pol;
static uint64_t um_managed_bytes; // atomic: bytes of live managed rewrites
static int um_capable[UM_MAX_DEVICES]; // 0 unknown, 1 yes, 2 no
static int (*um_free_query)(uint64_t *free_bytes);
// Allocations smaller than this are not given a call site (um_dec_needs_site); 0 until
// um_dec_init has decided, so that every allocation gets one.
static uint64_t um_site_floor;

// --- engine ---
int um_dec_init(void) {
    um_pol_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.mode = um_cfg.mode;
    cfg.managed_threshold = um_opt_num(UM_OPT_MANAGED_THRESHOLD);
    cfg.staging_threshold = um_cfg.staging ? um_opt_num(UM_OPT_STAGING_THRESHOLD) : 0;
    cfg.no_reasons = 1; // nothing in the shim reads them; `umshim report` makes its own
    um_pol = um_pol_create(&cfg);
    if (um_pol == NULL) {
        UM_WARN("the policy engine could not be created; allocations stay device memory");
        return -1;
    }
    // UMSHIM_KEEP_DEVICE is a placement rule like any other: the policy owns it.
    const char *keep = um_opt_str(UM_OPT_KEEP_DEVICE);
    while (*keep) {
        const char *comma = strchr(keep, ',');
        size_t len = comma ? (size_t)(comma - keep) : strlen(keep);
        char site[UM_SITE_MAX];
        if (len > 0 && len < sizeof site) {
            memcpy(site, keep, len);
            site[len] = 0;
            um_pol_keep_device(um_pol, site);
        }
        keep += len + (comma ? 1 : 0);
    }
    const char *path = um_opt_str(UM_OPT_POLICY);
    int file_loaded = 0;
    if (path[0] != 0) {
        char err[256] = "";
        if (um_pol_load(um_pol, path, err, sizeof err) != 0)
            UM_WARN("UMSHIM_POLICY: %s; built-in rules are used", err[0] ? err : path);
        else
            file_loaded = 1;
    }
    int sites_all = um_cfg.mode == UM_MODE_PASSTHROUGH || um_cfg.trace || file_loaded ||
                    um_opt_str(UM_OPT_POLICY_OUT)[0] != 0;
    __atomic_store_n(&um_site_floor, sites_all ? 0 : cfg.managed_threshold, __ATOMIC_RELAXED);
    return 0;
}

int um_dec_needs_site(uint64_t bytes) {
    return bytes >= __atomic_load_n(&um_site_floor, __ATOMIC_RELAXED);
}

void um_dec_fini(void) {
    pthread_mutex_lock(&um_dec_lock);
    um_pol_t *pol = um_pol;
    um_pol = NULL;
    pthread_mutex_unlock(&um_dec_lock);
    if (pol == NULL)
        return;
    const char *out = um_opt_str(UM_OPT_POLICY_OUT);
    if (out[0] != 0 && um_pol_save(pol, out) != 0)
        UM_WARN("UMSHIM_POLICY_OUT=%s could not be written", out);
    um_pol_destroy(pol);
}

// fork (entry.c): held across fork() so the child's policy engine is not mid-update.
UM_FORK_MUTEX(um_dec, um_dec_lock)

void um_dec_observe(const um_event_t *ev) {
    pthread_mutex_lock(&um_dec_lock);
    if (um_pol != NULL)
        um_pol_observe(um_pol, ev);
    pthread_mutex_unlock(&um_dec_lock);
}

int um_dec_live(uint64_t alloc_id, um_decision_t *out) {
    int rc = -1;
    pthread_mutex_lock(&um_dec_lock);
    if (um_pol != NULL) {
        *out = um_pol_decide_live(um_pol, alloc_id);
        rc = 0;
    }
    pthread_mutex_unlock(&um_dec_lock);
    return rc;
}

// --- capability ---
int um_dec_capable(int device) {
    if (device < 0 || device >= UM_MAX_DEVICES)
        return 0;
    int c = __atomic_load_n(&um_capable[device], __ATOMIC_ACQUIRE);
    if (c != 0)
        return c == 1;
    int managed = 0, concurrent = 0;
    if (um_real.cuDeviceGetAttribute == NULL ||
        um_real.cuDeviceGetAttribute(&managed, CU_DEVICE_ATTRIBUTE_MANAGED_MEMORY, device) !=
            CUDA_SUCCESS ||
        um_real.cuDeviceGetAttribute(&concurrent, CU_DEVICE_ATTRIBUTE_CONCURRENT_MANAGED_ACCESS,
                                     device) != CUDA_SUCCESS) {
        managed = concurrent = 0;
    }
    c = (managed && concurrent) ? 1 : 2;
    if (c == 2)
        UM_WARN("device %d lacks %s: allocations stay device memory (original behaviour)", device,
                managed ? "concurrentManagedAccess" : "managed memory");
    __atomic_store_n(&um_capable[device], c, __ATOMIC_RELEASE);
    return c == 1;
}

// --- budget ---
int um_dec_budget_ok(uint64_t managed_now, uint64_t bytes, uint64_t budget_opt,
                     uint64_t margin, uint64_t free_now, int oversubscribe) {
    if (oversubscribe)
        return 1;
    uint64_t budget;
    if (budget_opt != 0)
        budget = budget_opt;
    else
        budget = free_now > margin ? free_now - margin : 0;
    return managed_now <= budget && bytes <= budget - managed_now;
}

void um_dec_set_free_query(int (*fn)(uint64_t *free_bytes)) {
    um_free_query = fn;
}

static int driver_free(uint64_t *free_bytes) {
    size_t fr = 0, total = 0;
    if (um_real.cuMemGetInfo_v2 == NULL || um_real.cuMemGetInfo_v2(&fr, &total) != CUDA_SUCCESS)
        return -1;
    *free_bytes = fr;
    return 0;
}

// Reserves bytes under the guard; 1 reserved, 0 refused.
static int reserve(uint64_t bytes) {
    int over = (int)um_opt_num(UM_OPT_OVERSUBSCRIBE);
    uint64_t budget = um_opt_num(UM_OPT_DEVICE_BUDGET);
    uint64_t margin = um_opt_num(UM_OPT_BUDGET_MARGIN);
    uint64_t free_now = 0;
    if (!over && budget == 0) {
        int (*q)(uint64_t *) = um_free_query ? um_free_query : driver_free;
        if (q(&free_now) != 0)
            return 0; // unknown free memory: never guess in favour of oversubscription
    }
    uint64_t cur = __atomic_load_n(&um_managed_bytes, __ATOMIC_RELAXED);
    do {
        if (!um_dec_budget_ok(cur, bytes, budget, margin, free_now, over))
            return 0;
    } while (!__atomic_compare_exchange_n(&um_managed_bytes, &cur, cur + bytes, 1,
                                          __ATOMIC_ACQ_REL, __ATOMIC_RELAXED));
    return 1;
}

void um_dec_unreserve(uint64_t bytes) {
    __atomic_fetch_sub(&um_managed_bytes, bytes, __ATOMIC_ACQ_REL);
}

uint64_t um_dec_managed_bytes(void) {
    return __atomic_load_n(&um_managed_bytes, __ATOMIC_RELAXED);
}

// --- allocation ---
const char *um_dec_alloc(const char *site, uint64_t bytes, int device, um_decision_t *out) {
    memset(out, 0, sizeof *out);
    out->placement = UM_PLACE_DEVICE;
    if (um_cfg.mode == UM_MODE_PASSTHROUGH)
        return NULL; // passthrough must behave exactly like no shim: never ask to rewrite
    pthread_mutex_lock(&um_dec_lock);
    if (um_pol != NULL)
        *out = um_pol_decide_alloc(um_pol, site ? site : "", bytes);
    pthread_mutex_unlock(&um_dec_lock);
    if (out->placement != UM_PLACE_MANAGED)
        return NULL;
    const char *why = NULL;
    if (!um_dec_capable(device))
        why = "no_managed_capability";
    else if (!reserve(bytes)) {
        why = "device_budget";
        UM_LOG_ONCE(UM_LOG_WARNING, "managed memory budget reached (%llu bytes managed): larger "
                    "allocations fall back to cuMemAlloc (UMSHIM_DEVICE_BUDGET, "
                    "UMSHIM_BUDGET_MARGIN, UMSHIM_OVERSUBSCRIBE=1 to allow more)",
                    (unsigned long long)um_dec_managed_bytes());
    }
    if (why != NULL) {
        out->placement = UM_PLACE_DEVICE;
        out->prefetch = UM_PF_NONE;
        out->advise = 0;
        // Host copies need managed memory; staging works for device memory too.
        if (out->copy_h2d == UM_COPY_HOST)
            out->copy_h2d = UM_COPY_DRIVER;
        if (out->copy_d2h == UM_COPY_HOST)
            out->copy_d2h = UM_COPY_DRIVER;
        out->host_prefetch_before_read = 0;
        snprintf(out->reason, sizeof out->reason, "shim override: %s", why);
    }
    return why;
}
