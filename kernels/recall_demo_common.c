// Shared half of the recall demos (see recall_demo_common.h): argument parsing with one-line
// errors, the dataset, validation against the double-precision reference, and the digest that
// proves two runs (shimmed or not, legacy or unified) returned identical top-k results.
#include "kernels/recall_demo_common.h"

#include "kernels/recall.h"
#include "kernels/recall_data.h"
#include "kernels/recall_ref.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// --- flags ---
static const char um_demo_usage[] =
    "usage: recall_demo [--n N] [--q Q] [--d D] [--k K] [--batches B] [--seed S]\n"
    "                   [--data FILE] [--write-data FILE] [--tf32] [--validate M] [--show R]\n"
    "  --n N            stored vectors (default 100000; from the file with --data)\n"
    "  --q Q            queries per batch (default 100)\n"
    "  --d D            dimension (default 768; from the file with --data)\n"
    "  --k K            results per query, 1..1024, <= N (default 10)\n"
    "  --batches B      query batches (default 4)\n"
    "  --seed S         dataset and query seed (default 42)\n"
    "  --data FILE      stored vectors from FILE (format: kernels/recall_data.h)\n"
    "  --write-data F   write the generated stored vectors to F and exit\n"
    "  --tf32           TF32 tensor-core products (results may differ from FP32)\n"
    "  --validate M     queries per batch checked against the CPU reference (default 4)\n"
    "  --show R         result rows printed (default 3)\n";

static int um_demo_num(const char *flag, const char *s, long lo, long hi, long *out, char *why,
                       size_t why_len) {
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno) {
        snprintf(why, why_len, "%s: '%s' is not an integer", flag, s);
        return -1;
    }
    if (v < lo || v > hi) {
        snprintf(why, why_len, "%s = %s out of range [%ld, %ld]", flag, s, lo, hi);
        return -1;
    }
    *out = (long)v;
    return 0;
}

int um_demo_parse(int argc, char **argv, um_demo_opts_t *o, char *why, size_t why_len) {
    memset(o, 0, sizeof *o);
    o->n = 100000;
    o->q = 100;
    o->d = 768;
    o->k = 10;
    o->batches = 4;
    o->seed = 42;
    o->validate = 4;
    o->show = 3;
    int set_n = 0, set_d = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(um_demo_usage, stdout);
            return 1;
        }
        if (!strcmp(a, "--tf32")) {
            o->flags |= UM_RECALL_TF32;
            continue;
        }
        // Every other flag takes a value: "--flag value" or "--flag=value".
        const char *val = NULL;
        char name[32];
        const char *eq = strchr(a, '=');
        if (eq && (size_t)(eq - a) < sizeof name) {
            memcpy(name, a, (size_t)(eq - a));
            name[eq - a] = 0;
            val = eq + 1;
        } else {
            snprintf(name, sizeof name, "%s", a);
        }
        static const char *const known[] = {"--n", "--q", "--d", "--k", "--batches", "--seed",
                                            "--data", "--write-data", "--validate", "--show"};
        int is_known = 0;
        for (size_t j = 0; j < sizeof known / sizeof known[0]; j++) is_known |= !strcmp(name, known[j]);
        if (!is_known || strlen(a) >= 256) {
            snprintf(why, why_len, "unknown flag '%.64s' (see --help)", a);
            return -1;
        }
        if (!val) {
            if (i + 1 >= argc) {
                snprintf(why, why_len, "%s needs a value", name);
                return -1;
            }
            val = argv[++i];
        }
        long v = 0;
        int rc = 0;
        if (!strcmp(name, "--n")) rc = um_demo_num(name, val, 1, UM_RECALL_N_MAX, &o->n, why, why_len), set_n = 1;
        else if (!strcmp(name, "--q")) rc = um_demo_num(name, val, 1, UM_RECALL_Q_MAX, &o->q, why, why_len);
        else if (!strcmp(name, "--d")) rc = um_demo_num(name, val, 1, UM_RECALL_D_MAX, &v, why, why_len), o->d = (int)v, set_d = 1;
        else if (!strcmp(name, "--k")) rc = um_demo_num(name, val, 1, UM_RECALL_K_MAX, &o->k, why, why_len);
        else if (!strcmp(name, "--batches")) rc = um_demo_num(name, val, 1, 100000, &v, why, why_len), o->batches = (int)v;
        else if (!strcmp(name, "--seed")) rc = um_demo_num(name, val, 0, 0x7fffffffffffffffL, &v, why, why_len), o->seed = (uint64_t)v;
        else if (!strcmp(name, "--validate")) rc = um_demo_num(name, val, 0, 1000000, &v, why, why_len), o->validate = (int)v;
        else if (!strcmp(name, "--show")) rc = um_demo_num(name, val, 0, 1000000, &v, why, why_len), o->show = (int)v;
        else if (!strcmp(name, "--data")) o->data = val;
        else if (!strcmp(name, "--write-data")) o->write_data = val;
        if (rc) return -1;
    }
    if (o->data && (set_n || set_d)) {
        snprintf(why, why_len, "--n/--d cannot be combined with --data (the file sets them)");
        return -1;
    }
    if (o->data && o->write_data) {
        snprintf(why, why_len, "--data and --write-data are exclusive");
        return -1;
    }
    if (!o->data && um_recall_check_dims(o->n, o->q, o->d, o->k, why, why_len) != UM_RECALL_OK) return -1;
    return 0;
}

// --- dataset ---
int um_demo_dataset(um_demo_opts_t *o, float **x, char *why, size_t why_len) {
    if (o->data) {
        long n = 0;
        int d = 0;
        if (um_recall_read_file(o->data, x, &n, &d, why, why_len) != 0) return -1;
        o->n = n;
        o->d = d;
        if (um_recall_check_dims(o->n, o->q, o->d, o->k, why, why_len) != UM_RECALL_OK) {
            free(*x);
            *x = NULL;
            return -1;
        }
        return 0;
    }
    *x = malloc((size_t)o->n * o->d * sizeof(float));
    if (!*x) {
        snprintf(why, why_len, "out of host memory for %ld x %d vectors", o->n, o->d);
        return -1;
    }
    um_recall_gen_stored(o->seed, o->n, o->d, *x);
    return 0;
}

// --- results ---
void um_demo_tally_init(um_demo_tally_t *t) {
    memset(t, 0, sizeof *t);
    t->digest = UM_RECALL_FNV_INIT;
    t->worst_recall = 1.0;
}

long um_demo_batch_results(const um_demo_opts_t *o, int batch, const float *queries,
                           const float *x, const int *idx, const float *score, um_demo_tally_t *t) {
    int k = (int)o->k;
    t->digest = um_recall_fnv1a(t->digest, idx, (size_t)o->q * k * sizeof(int));
    t->digest = um_recall_fnv1a(t->digest, score, (size_t)o->q * k * sizeof(float));
    if (batch == 0) {
        for (long i = 0; i < o->q && i < o->show; i++) {
            printf("batch 0 query %ld:", i);
            for (int r = 0; r < k && r < 8; r++) printf(" %d:%.6f", idx[i * k + r], score[i * k + r]);
            printf("%s\n", k > 8 ? " ..." : "");
        }
    }
    long failed = 0;
    int *ref_idx = malloc((size_t)k * sizeof(int));
    double *ref_s = malloc((size_t)k * sizeof(double));
    if (!ref_idx || !ref_s) {
        free(ref_idx);
        free(ref_s);
        return 0;
    }
    // Sample evenly over the batch, always including query 0.
    long m = o->validate < o->q ? o->validate : o->q;
    double eps = um_recall_score_bound(o->d);
    for (long s = 0; s < m; s++) {
        long i = s * o->q / m;
        const float *qv = queries + (size_t)i * o->d;
        um_recall_ref_topk(qv, x, o->n, o->d, k, ref_idx, ref_s);
        double rec = um_recall_ref_recall(idx + i * k, ref_idx, k);
        if (rec < t->worst_recall) t->worst_recall = rec;
        t->checked++;
        if (o->flags & UM_RECALL_TF32) continue; // judged by recall only
        char why[256];
        if (um_recall_ref_check_topk(qv, x, o->n, o->d, k, idx + i * k, score + i * k, ref_idx, ref_s,
                                     eps, why, sizeof why)) {
            failed++;
            if (t->failed + failed <= 3) fprintf(stderr, "validation: batch %d query %ld: %s\n", batch, i, why);
        }
    }
    t->failed += failed;
    free(ref_idx);
    free(ref_s);
    return failed;
}

void um_demo_error(const char *prog, const char *fmt, ...) {
    const char *base = strrchr(prog, '/');
    fprintf(stderr, "%s: error: ", base ? base + 1 : prog);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

double um_demo_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}
