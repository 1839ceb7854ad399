// `umshim ab -- app`: the migration experiment. The same binary runs in every mode
// (passthrough = the original, managed, prefetch, auto), interleaved round by round so that
// drift on a shared machine hits every mode alike, N timed runs each plus one instrumented run
// per mode (UMSHIM_HASH=1, UMSHIM_CUPTI=1) whose stats file carries the result hash and the
// migration counters; we print medians and
// ratios against passthrough, refuse loudly when the device-to-host data differ between
// runs, and write a self-contained HTML page with an SVG bar chart.
#include "tools/ab.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tools/cli.h"

const char *const um_ab_key_names[UM_AB_NKEYS] = {
#define UM_AB_NAME(key, cupti) #key,
    UM_AB_STATS(UM_AB_NAME)
#undef UM_AB_NAME
};

static const unsigned char key_is_cupti[UM_AB_NKEYS] = {
#define UM_AB_CUPTI(key, cupti) cupti,
    UM_AB_STATS(UM_AB_CUPTI)
#undef UM_AB_CUPTI
};

static const char *const all_modes[] = {
#define UM_AB_MODE(m) #m,
    UM_CLI_MODES(UM_AB_MODE)
#undef UM_AB_MODE
};
enum { NMODES_MAX = sizeof all_modes / sizeof all_modes[0] };

// --- stats files ---
int um_ab_parse_stats(const char *text, um_ab_stats_t *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    int lineno = 0;
    for (const char *p = text; *p;) {
        lineno++;
        size_t len = strcspn(p, "\n");
        char line[256];
        if (len >= sizeof line) {
            snprintf(err, errlen, "line %d: too long", lineno);
            return -1;
        }
        memcpy(line, p, len);
        line[len] = '\0';
        p += len + (p[len] == '\n');
        char key[64], val[128], extra[2];
        int n = sscanf(line, "%63s %127s %1s", key, val, extra);
        if (n <= 0 || key[0] == '#')
            continue; // blank line or comment
        if (n != 2) {
            snprintf(err, errlen, "line %d: expected 'key value'", lineno);
            return -1;
        }
        if (strcmp(key, "mode") == 0) {
            snprintf(out->mode, sizeof out->mode, "%.31s", val);
            continue;
        }
        if (strcmp(key, "d2h_hash") == 0) {
            char *end;
            errno = 0;
            out->d2h_hash = strtoull(val, &end, 16);
            // strtoull takes a sign, blanks and "0x": the shim writes 16 bare hex digits.
            if (errno || *end || !isxdigit((unsigned char)val[0]) || strlen(val) > 18) {
                snprintf(err, errlen, "line %d: d2h_hash '%s' is not hex", lineno, val);
                return -1;
            }
            out->have_hash = 1;
            continue;
        }
        int k = 0;
        while (k < UM_AB_NKEYS && strcmp(key, um_ab_key_names[k]) != 0)
            k++;
        if (k == UM_AB_NKEYS)
            continue; // a key from a newer shim
        if (strcmp(val, "na") == 0) {
            out->have[k] = UM_AB_NA;
            continue;
        }
        char *end;
        errno = 0;
        double v = strtod(val, &end);
        if (errno || *end || val[0] == '-' || !isfinite(v)) {
            snprintf(err, errlen, "line %d: %s '%s' is not a number", lineno, key, val);
            return -1;
        }
        out->v[k] = v;
        out->have[k] = UM_AB_VALUE;
    }
    return 0;
}

int um_ab_read_stats(const char *path, um_ab_stats_t *out, char *err, size_t errlen) {
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char text[16384];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    char perr[128];
    if (um_ab_parse_stats(text, out, perr, sizeof perr) != 0) {
        snprintf(err, errlen, "%s: %s", path, perr);
        return -1;
    }
    return 0;
}

// --- summaries ---
int um_ab_check_hashes(const um_ab_run_t *runs, size_t n, const char *const *mode_names,
                       char *msg, size_t msglen) {
    const um_ab_run_t *ref = NULL;
    msg[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const um_ab_run_t *r = &runs[i];
        if (!r->have_stats || !r->stats.have_hash || r->stats.d2h_hash == 0)
            continue;
        if (ref == NULL) {
            ref = r;
            continue;
        }
        if (r->stats.d2h_hash != ref->stats.d2h_hash) {
            snprintf(msg, msglen,
                     "device-to-host data differ: %s run gave d2h_hash %016llx, %s run gave %016llx",
                     mode_names[ref->mode], (unsigned long long)ref->stats.d2h_hash,
                     mode_names[r->mode], (unsigned long long)r->stats.d2h_hash);
            return -1;
        }
    }
    if (ref == NULL) {
        snprintf(msg, msglen, "no run reported a d2h_hash (UMSHIM_HASH not honoured?)");
        return 0;
    }
    snprintf(msg, msglen, "%016llx", (unsigned long long)ref->stats.d2h_hash);
    return 1;
}

size_t um_ab_median(const um_ab_run_t *runs, size_t n, int mode, int key, double *out, int *all_na) {
    double *v = malloc((n ? n : 1) * sizeof *v);
    size_t k = 0, na = 0, of_mode = 0;
    for (size_t i = 0; v && i < n; i++) {
        if (runs[i].mode != mode)
            continue;
        of_mode++;
        if (key < 0) {
            if (!runs[i].instrumented)
                v[k++] = runs[i].wall_s;
        } else if (runs[i].have_stats && runs[i].stats.have[key] == UM_AB_VALUE) {
            v[k++] = runs[i].stats.v[key];
        } else if (runs[i].have_stats && runs[i].stats.have[key] == UM_AB_NA) {
            na++;
        }
    }
    *out = um_cli_median(v, k);
    if (all_na)
        *all_na = of_mode > 0 && na == of_mode;
    free(v);
    return k;
}

size_t um_ab_time_range(const um_ab_run_t *runs, size_t n, int mode, double *lo, double *hi) {
    size_t k = 0;
    *lo = INFINITY;
    *hi = 0;
    for (size_t i = 0; i < n; i++) {
        if (runs[i].mode != mode || runs[i].instrumented)
            continue;
        *lo = fmin(*lo, runs[i].wall_s);
        *hi = fmax(*hi, runs[i].wall_s);
        k++;
    }
    if (k == 0)
        *lo = 0;
    return k;
}

double um_ab_ratio(double value, double baseline) {
    return baseline > 0 ? value / baseline : 0.0;
}

// The largest k with P(X < k) <= 0.025 for X ~ Binomial(n, 1/2): [x_(k), x_(n+1-k)] of n
// sorted values then covers their median with >= 95%. 0 when none does (n < 6).
static size_t sign_test_rank(size_t n) {
    double cum = 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        double p = exp(lgamma((double)n + 1) - lgamma((double)i + 1) - lgamma((double)(n - i) + 1) -
                       (double)n * log(2.0));
        if (cum + p > 0.025)
            break;
        cum += p;
        k = i + 1;
    }
    return k;
}

size_t um_ab_paired_ratio(const um_ab_run_t *runs, size_t n, int mode, int base, double *med,
                          double *lo, double *hi) {
    *med = *lo = *hi = 0;
    double *r = malloc((n ? n : 1) * sizeof *r);
    size_t k = 0;
    for (size_t i = 0; r && i < n; i++) {
        if (runs[i].mode != mode || runs[i].instrumented)
            continue;
        for (size_t j = 0; j < n; j++) {
            if (runs[j].mode == base && !runs[j].instrumented && runs[j].round == runs[i].round &&
                runs[j].wall_s > 0) {
                r[k++] = runs[i].wall_s / runs[j].wall_s;
                break;
            }
        }
    }
    if (k > 0) {
        um_cli_sort(r, k);
        *med = um_cli_median_sorted(r, k);
        size_t c = sign_test_rank(k);
        if (c > 0) {
            *lo = r[c - 1];
            *hi = r[k - c];
        }
    }
    free(r);
    return k;
}

// --- the experiment ---
typedef struct {
    const char *modes[NMODES_MAX];
    int nmodes;
    int runs;
    double timeout_s;
    const char *html, *out, *shim;
    char **cmd;
} ab_opts_t;

static const char ab_help[] =
    "usage: umshim ab [OPTIONS] -- PROGRAM [ARGS...]\n"
    "\n"
    "Runs PROGRAM in passthrough (the original), managed, prefetch and auto mode, interleaved,\n"
    "N timed runs each, plus one run per mode with UMSHIM_HASH=1 and UMSHIM_CUPTI=1 for the\n"
    "result check and migration counters (not timed: both cost time). Prints the\n"
    "median wall time and shim counters per mode with ratios against passthrough (and each\n"
    "mode's ratio paired by round, with a distribution-free 95% interval from 6 runs up),\n"
    "checks that every run produced the same device-to-host data (exit status 1 and a loud\n"
    "message when not), and writes an HTML page with a bar chart. Progress goes to stderr;\n"
    "each run's output and stats file are kept in the work folder.\n"
    "\n"
    "options:\n"
    "  --runs N        runs per mode (default 5)\n"
    "  --modes LIST    comma-separated subset, e.g. passthrough,auto (default: all four)\n"
    "  --html FILE     the HTML page (default umshim-ab.html)\n"
    "  --out DIR       work folder for logs and stats (default: a new /tmp/umshim-ab.XXXXXX)\n"
    "  --timeout S     kill a run that takes longer than S seconds (default: no limit)\n"
    "  --shim PATH     use this libumshim.so instead of the one beside umshim\n"
    "  -h, --help      this text\n";

static int parse_modes(const char *list, ab_opts_t *o) {
    o->nmodes = 0;
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        int found = -1;
        for (int m = 0; m < NMODES_MAX; m++)
            if (strlen(all_modes[m]) == len && strncmp(p, all_modes[m], len) == 0)
                found = m;
        if (found < 0)
            return um_cli_usage_error("ab", "--modes: '%.*s' is not passthrough, managed, prefetch or auto",
                                      (int)len, p);
        for (int i = 0; i < o->nmodes; i++)
            if (o->modes[i] == all_modes[found])
                return um_cli_usage_error("ab", "--modes: '%s' given twice", all_modes[found]);
        o->modes[o->nmodes++] = all_modes[found];
        p += len + (p[len] == ',');
    }
    return o->nmodes ? 0 : um_cli_usage_error("ab", "--modes: empty list");
}

static int ab_parse(int argc, char **argv, ab_opts_t *o) {
    static const struct option longopts[] = {
        {"runs", required_argument, NULL, 'n'}, {"modes", required_argument, NULL, 'm'},
        {"html", required_argument, NULL, 'H'}, {"out", required_argument, NULL, 'o'},
        {"shim", required_argument, NULL, 's'}, {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},     {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof *o);
    o->runs = 5;
    o->html = "umshim-ab.html";
    for (int m = 0; m < NMODES_MAX; m++)
        o->modes[o->nmodes++] = all_modes[m];
    um_cli_getopt_reset();
    int c, rc;
    while ((c = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'n': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 1000)
                return um_cli_usage_error("ab", "--runs %s: expected a number from 1 to 1000", optarg);
            o->runs = (int)v;
            break;
        }
        case 'm':
            if ((rc = parse_modes(optarg, o)) != 0)
                return rc;
            break;
        case 'H': o->html = optarg; break;
        case 'o': o->out = optarg; break;
        case 's': o->shim = optarg; break;
        case 't': {
            char *end;
            o->timeout_s = strtod(optarg, &end);
            if (*end || !(o->timeout_s > 0))
                return um_cli_usage_error("ab", "--timeout %s: expected seconds > 0", optarg);
            break;
        }
        case 'h': fputs(ab_help, stdout); return UM_PARSE_HELP;
        default: return um_cli_bad_option("ab", c, argv);
        }
    }
    if (optind >= argc)
        return um_cli_usage_error("ab", "missing command: umshim ab [OPTIONS] -- PROGRAM [ARGS...]");
    o->cmd = argv + optind;
    return 0;
}

// --- output ---
static int key_is_bytes(int k) {
    return strstr(um_ab_key_names[k], "bytes") != NULL;
}

// How many of the first n runs exited with status 0.
static size_t ran_ok(const um_ab_run_t *runs, size_t n) {
    size_t ok = 0;
    for (size_t i = 0; i < n; i++)
        ok += WIFEXITED(runs[i].status) && WEXITSTATUS(runs[i].status) == 0;
    return ok;
}

static const char *fmt_seconds(double v, char *buf, size_t len) {
    if (v < 1.0)
        snprintf(buf, len, "%.2f ms", v * 1e3);
    else
        snprintf(buf, len, "%.3f s", v);
    return buf;
}

// One table cell for key k (or wall time when k < 0) of mode m; returns buf.
static const char *cell(const um_ab_run_t *runs, size_t n, int m, int k, char *buf, size_t len) {
    double v;
    int all_na;
    if (um_ab_median(runs, n, m, k, &v, &all_na) == 0) {
        snprintf(buf, len, "%s", all_na ? "not available" : "-");
    } else if (k < 0) {
        fmt_seconds(v, buf, len);
    } else if (key_is_bytes(k)) {
        um_cli_fmt_bytes((uint64_t)llround(v), buf, len);
    } else {
        snprintf(buf, len, "%.0f", v);
    }
    return buf;
}

// The index of passthrough (the baseline of every ratio) in the mode list, or -1.
static int passthrough_index(const ab_opts_t *o) {
    for (int m = 0; m < o->nmodes; m++)
        if (strcmp(o->modes[m], "passthrough") == 0)
            return m;
    return -1;
}

// "lo-hi x" of um_ab_paired_ratio for `mode` against `base`; with under 6 pairs the median
// ratio and "(<6)"; "-" for the base itself or without pairs. Returns buf.
static const char *interval_cell(const um_ab_run_t *runs, size_t n, int mode, int base,
                                 char *buf, size_t len) {
    double med, lo, hi;
    if (mode == base || um_ab_paired_ratio(runs, n, mode, base, &med, &lo, &hi) == 0)
        snprintf(buf, len, "-");
    else if (hi > 0)
        snprintf(buf, len, "%.2f-%.2fx", lo, hi);
    else
        snprintf(buf, len, "%.2fx (<6)", med);
    return buf;
}

static void html_td(FILE *f, const char *text) {
    fputs("<td>", f);
    um_cli_html_text(f, text);
    fputs("</td>", f);
}

static void print_table(FILE *f, const ab_opts_t *o, const um_ab_run_t *runs, size_t n) {
    char buf[64];
    fprintf(f, "%-30s", "median of runs");
    for (int m = 0; m < o->nmodes; m++)
        fprintf(f, " %15s", o->modes[m]);
    fputc('\n', f);
    double base = 0;
    int base_mode = passthrough_index(o);
    if (base_mode >= 0)
        um_ab_median(runs, n, base_mode, -1, &base, NULL);
    fprintf(f, "%-30s", "wall time");
    for (int m = 0; m < o->nmodes; m++) {
        cell(runs, n, m, -1, buf, sizeof buf);
        fprintf(f, " %15s", buf);
    }
    fputc('\n', f);
    if (base_mode >= 0) {
        fprintf(f, "%-30s", "  vs passthrough");
        for (int m = 0; m < o->nmodes; m++) {
            double v;
            um_ab_median(runs, n, m, -1, &v, NULL);
            double r = um_ab_ratio(v, base);
            if (r > 0)
                snprintf(buf, sizeof buf, "%.2fx", r);
            else
                snprintf(buf, sizeof buf, "-");
            fprintf(f, " %15s", buf);
        }
        fputc('\n', f);
    }
    // Each round runs every mode once, so a pair shares the machine's drift between rounds.
    if (base_mode >= 0) {
        fprintf(f, "%-30s", "  paired, 95% interval");
        for (int m = 0; m < o->nmodes; m++) {
            interval_cell(runs, n, m, base_mode, buf, sizeof buf);
            fprintf(f, " %15s", buf);
        }
        fputc('\n', f);
    }
    // The spread says whether a ratio near 1.00x is a difference or noise.
    fprintf(f, "%-30s", "  fastest-slowest run");
    for (int m = 0; m < o->nmodes; m++) {
        double lo, hi;
        if (um_ab_time_range(runs, n, m, &lo, &hi) == 0)
            snprintf(buf, sizeof buf, "-");
        else if (hi >= 1.0)
            snprintf(buf, sizeof buf, "%.2f-%.2f s", lo, hi);
        else
            snprintf(buf, sizeof buf, hi >= 0.01 ? "%.1f-%.1f ms" : "%.2f-%.2f ms", lo * 1e3, hi * 1e3);
        fprintf(f, " %15s", buf);
    }
    fputc('\n', f);
    for (int k = 0; k < UM_AB_NKEYS; k++) {
        char label[64];
        snprintf(label, sizeof label, "%s%s", um_ab_key_names[k], key_is_cupti[k] ? "" : "");
        fprintf(f, "%-30s", label);
        for (int m = 0; m < o->nmodes; m++) {
            cell(runs, n, m, k, buf, sizeof buf);
            fprintf(f, " %15s", buf);
        }
        fputc('\n', f);
    }
}

enum { UNIT_SECONDS, UNIT_COUNT, UNIT_BYTES };

static void axis_label(double v, int unit, double top, char *buf, size_t len) {
    if (unit == UNIT_SECONDS)
        snprintf(buf, len, top < 1.0 ? "%g ms" : "%g s", top < 1.0 ? v * 1e3 : v);
    else if (unit == UNIT_BYTES)
        um_cli_fmt_bytes((uint64_t)llround(v), buf, len);
    else
        snprintf(buf, len, "%g", v);
}

// A "nice" axis top (1, 2 or 5 times a power of ten, times 4 ticks) at or above max.
static double nice_top(double max) {
    if (max <= 0)
        return 1;
    double step = max / 4, mag = pow(10, floor(log10(step)));
    double f = step / mag, nice = f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10;
    return 4 * nice * mag;
}

// One bar per mode (value val[m], whiskers lo..hi), mode colours fixed, inline SVG.
static void svg_bars(FILE *f, const ab_opts_t *o, const char *title, const double *val,
                     const double *lo, const double *hi, int unit) {
    static const char *const colour[NMODES_MAX] = {"#888888", "#d9822b", "#3b7dd8", "#2a9d5c"};
    double max = 0, base = 0;
    for (int m = 0; m < o->nmodes; m++) {
        max = fmax(max, fmax(val[m], hi[m]));
        if (strcmp(o->modes[m], "passthrough") == 0)
            base = val[m];
    }
    // Bytes get a nice top in their binary unit (256 MiB, not 268.4 MB).
    double scale = 1;
    while (unit == UNIT_BYTES && max / scale >= 1024 && scale < 0x1p40)
        scale *= 1024;
    double top = nice_top(max / scale) * scale;
    const int W = 640, H = 300, left = 80, bottom = 40, plot_h = H - bottom - 30;
    int slot = (W - left - 20) / (o->nmodes ? o->nmodes : 1);
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n",
            W, H);
    for (int t = 0; t <= 4; t++) {
        char label[32];
        int y = H - bottom - (int)(plot_h * t / 4.0);
        axis_label(top * t / 4.0, unit, top, label, sizeof label);
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>\n", left - 6, y + 4, label);
        fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\"/>\n", left, y, W - 10,
                y, t ? "#eee" : "#444");
    }
    fprintf(f, "<line x1=\"%d\" y1=\"20\" x2=\"%d\" y2=\"%d\" stroke=\"#444\"/>\n", left, left, H - bottom);
    for (int m = 0; m < o->nmodes; m++) {
        int x = left + 10 + m * slot, bw = slot - 20, cx = x + bw / 2;
        int h = (int)(plot_h * val[m] / top), y = H - bottom - h;
        int ylo = H - bottom - (int)(plot_h * lo[m] / top), yhi = H - bottom - (int)(plot_h * hi[m] / top);
        int ci = 0;
        for (int a = 0; a < NMODES_MAX; a++)
            if (o->modes[m] == all_modes[a])
                ci = a;
        char label[32];
        axis_label(val[m], unit, top, label, sizeof label);
        fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\"><title>%s: %s</title></rect>\n",
                x, y, bw, h, colour[ci], o->modes[m], label);
        if (hi[m] > lo[m]) {
            fprintf(f, "<path d=\"M%d %dV%dM%d %dH%dM%d %dH%d\" stroke=\"#000\" fill=\"none\"/>\n", cx, ylo,
                    yhi, cx - 6, yhi, cx + 6, cx - 6, ylo, cx + 6);
        }
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", cx, H - bottom + 16,
                o->modes[m]);
        if (unit == UNIT_SECONDS && base > 0)
            fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-weight=\"bold\">%.2fx</text>\n",
                    cx, (hi[m] > val[m] ? yhi : y) - 6, val[m] / base);
        else if (unit != UNIT_SECONDS)
            fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", cx, y - 6, label);
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">", W / 2, H - 6);
    um_cli_html_text(f, title);
    fputs("</text>\n</svg>\n", f);
}

static void write_html(const char *path, const ab_opts_t *o, const um_ab_run_t *runs, size_t n,
                       const char *hash_line, int hash_state) {
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        um_cli_warn("ab", "cannot write %s: %s", path, strerror(errno));
        return;
    }
    char cmdline[1024] = "";
    for (char **a = o->cmd; *a; a++) {
        size_t used = strlen(cmdline);
        snprintf(cmdline + used, sizeof cmdline - used, "%s%s", a == o->cmd ? "" : " ", *a);
    }
    time_t now = time(NULL);
    char when[64];
    strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", gmtime(&now));
    fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>umshim ab</title>\n"
          "<style>body{font-family:sans-serif;margin:2em;color:#222}"
          "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}"
          "th:first-child,td:first-child{text-align:left}.bad{color:#b00;font-weight:bold}"
          "code{background:#f4f4f4;padding:2px 4px}</style></head><body>\n",
          f);
    fputs("<h1>umshim ab</h1>\n<p>Command: <code>", f);
    um_cli_html_text(f, cmdline);
    fprintf(f, "</code><br>%d runs per mode, interleaved; %s.</p>\n", o->runs, when);

    // --- the charts: wall time, then what CUPTI saw (when it saw anything) ---
    double med[NMODES_MAX], lo[NMODES_MAX], hi[NMODES_MAX];
    for (int m = 0; m < o->nmodes; m++) {
        um_ab_median(runs, n, m, -1, &med[m], NULL);
        um_ab_time_range(runs, n, m, &lo[m], &hi[m]);
    }
    svg_bars(f, o, "median wall time per mode; whiskers: fastest and slowest timed run; ratio "
                   "vs passthrough on top", med, lo, hi, UNIT_SECONDS);
    static const struct {
        int key;
        int unit;
        const char *title;
    } cupti_charts[] = {
        {UM_AB_cupti_gpu_page_fault_groups, UNIT_COUNT, "GPU page-fault groups (CUPTI), median"},
        {UM_AB_cupti_htod_bytes, UNIT_BYTES, "bytes migrated host to device by the driver (CUPTI), median"},
    };
    for (size_t c = 0; c < sizeof cupti_charts / sizeof cupti_charts[0]; c++) {
        size_t have = 0;
        int nonzero = 0;
        for (int m = 0; m < o->nmodes; m++) {
            have += um_ab_median(runs, n, m, cupti_charts[c].key, &med[m], NULL);
            lo[m] = hi[m] = med[m];
            nonzero |= med[m] != 0;
        }
        if (have && nonzero)
            svg_bars(f, o, cupti_charts[c].title, med, lo, hi, cupti_charts[c].unit);
        else if (have) // an empty chart with a 0..1 axis says less than a sentence
            fprintf(f, "<p>%s: 0 in every mode.</p>\n", cupti_charts[c].title);
        else
            fprintf(f, "<p>%s: not available (CUPTI could not be loaded or enabled).</p>\n",
                    cupti_charts[c].title);
    }

    // --- the table ---
    int base_mode = passthrough_index(o);
    fputs("<h2>Counters (medians)</h2>\n<table><tr><th></th>", f);
    for (int m = 0; m < o->nmodes; m++)
        fprintf(f, "<th>%s</th>", o->modes[m]);
    fputs("</tr>\n", f);
    for (int k = -1; k < UM_AB_NKEYS; k++) {
        fprintf(f, "<tr><td>%s</td>", k < 0 ? "wall time" : um_ab_key_names[k]);
        char buf[64];
        for (int m = 0; m < o->nmodes; m++)
            html_td(f, cell(runs, n, m, k, buf, sizeof buf));
        fputs("</tr>\n", f);
        if (k < 0 && base_mode >= 0) {
            fputs("<tr><td>vs passthrough, paired by round: 95% interval</td>", f);
            for (int m = 0; m < o->nmodes; m++)
                html_td(f, interval_cell(runs, n, m, base_mode, buf, sizeof buf));
            fputs("</tr>\n", f);
        }
    }
    fputs("</table>\n<h2>Results</h2>\n<p", f);
    if (hash_state < 0)
        fputs(" class=\"bad\">MISMATCH: ", f);
    else
        fputs(">", f);
    um_cli_html_text(f, hash_state > 0 ? "device-to-host data identical in every run: d2h_hash " : "");
    um_cli_html_text(f, hash_line);
    fputs("</p>\n", f);
    size_t failed = n - ran_ok(runs, n);
    if (failed)
        fprintf(f, "<p class=\"bad\">%zu run(s) did not exit with status 0.</p>\n", failed);
    fputs("</body></html>\n", f);
    if (fclose(f) != 0)
        um_cli_warn("ab", "write error on %s", path);
}

int um_cmd_ab(int argc, char **argv) {
    ab_opts_t o;
    int rc = ab_parse(argc, argv, &o);
    if (rc != 0)
        return rc == UM_PARSE_HELP ? UM_EXIT_OK : rc;
    char shim[PATH_MAX];
    if ((rc = um_cli_prepare("ab", o.cmd[0], o.shim, shim, sizeof shim)) != 0)
        return rc;
    char dir[PATH_MAX];
    if (o.out) {
        if (um_cli_make_dir("ab", o.out, dir, sizeof dir) != 0)
            return UM_EXIT_FAIL;
    } else {
        snprintf(dir, sizeof dir, "/tmp/umshim-ab.XXXXXX");
        if (mkdtemp(dir) == NULL)
            return um_cli_error("ab", "cannot create a work folder in /tmp: %s", strerror(errno));
    }

    // Round 0 runs every mode once with UMSHIM_HASH=1 and UMSHIM_CUPTI=1, for the result
    // check and the migration counters; rounds 1..N are the timed runs, with neither. Both
    // cost time that differs by mode (measured on the H100: hashing 1.3 GB of read-backs
    // added 2.2 s to a 0.6 s program in passthrough, CUPTI 2 s), so timing them together
    // would measure the instruments, not the modes.
    size_t total = (size_t)(o.runs + 1) * (size_t)o.nmodes;
    um_ab_run_t *runs = calloc(total, sizeof *runs);
    if (runs == NULL)
        return um_cli_error("ab", "out of memory");
    fprintf(stderr, "umshim ab: %d modes x %d runs; logs and stats in %s\n", o.nmodes, o.runs, dir);
    size_t done = 0;
    for (int r = 0; r <= o.runs; r++) {
        for (int i = 0; i < o.nmodes; i++) {
            // Rotate the order each round so no mode always runs first (cold caches).
            int m = (i + r) % o.nmodes;
            um_ab_run_t *run = &runs[done];
            run->mode = m;
            char stats[PATH_MAX + 64], log[PATH_MAX + 64], env_mode[64], env_stats[PATH_MAX + 96];
            snprintf(stats, sizeof stats, "%s/%s-%d.stats", dir, o.modes[m], r);
            snprintf(log, sizeof log, "%s/%s-%d.log", dir, o.modes[m], r);
            snprintf(env_mode, sizeof env_mode, "UMSHIM_MODE=%s", o.modes[m]);
            snprintf(env_stats, sizeof env_stats, "UMSHIM_STATS=%s", stats);
            run->instrumented = r == 0;
            run->round = r;
            const char *envp[] = {env_mode, env_stats, "UMSHIM_HASH=1", "UMSHIM_CUPTI=1", NULL};
            if (!run->instrumented)
                envp[2] = NULL; // timed run: mode and stats only
            remove(stats);
            int timed_out = 0;
            um_spawn_t sp = {.shim = shim, .setenv = envp, .output = log, .quiet_signals = 0,
                             .timeout_s = o.timeout_s, .timed_out = &timed_out};
            if (run->instrumented)
                fprintf(stderr, "umshim ab: [%zu/%zu] %-11s counters+hash ... ", done + 1, total,
                        o.modes[m]);
            else
                fprintf(stderr, "umshim ab: [%zu/%zu] %-11s run %d/%d ... ", done + 1, total,
                        o.modes[m], r, o.runs);
            if (um_cli_spawn(o.cmd, &sp, &run->status, &run->wall_s) != 0) {
                fputc('\n', stderr);
                free(runs);
                return um_cli_error("ab", "cannot start '%s': %s", o.cmd[0], strerror(errno));
            }
            done++;
            char serr[PATH_MAX + 128];
            run->have_stats = um_ab_read_stats(stats, &run->stats, serr, sizeof serr) == 0;
            char secs[32];
            if (WIFEXITED(run->status) && WEXITSTATUS(run->status) == 0)
                fprintf(stderr, "%s\n", fmt_seconds(run->wall_s, secs, sizeof secs));
            else if (timed_out)
                fprintf(stderr, "TIMED OUT after %.0f s, killed (see %s)\n", o.timeout_s, log);
            else if (WIFSIGNALED(run->status))
                fprintf(stderr, "KILLED by signal %d (see %s)\n", WTERMSIG(run->status), log);
            else
                fprintf(stderr, "FAILED with status %d (see %s)\n", WEXITSTATUS(run->status), log);
            if (!run->have_stats)
                fprintf(stderr, "umshim ab:   no stats: %s\n", serr);
        }
        // A program that fails in every mode (no GPU, wrong arguments) would fail in every
        // timed round too: a table of failures would only look like a result.
        if (r == 0 && ran_ok(runs, done) == 0) {
            free(runs);
            return um_cli_error("ab", "'%s' failed in every mode: nothing to compare (logs in %s)",
                                o.cmd[0], dir);
        }
    }

    putchar('\n');
    print_table(stdout, &o, runs, total);
    char hash_msg[512];
    int hash_state = um_ab_check_hashes(runs, total, o.modes, hash_msg, sizeof hash_msg);
    int status = UM_EXIT_OK;
    if (hash_state > 0) {
        printf("%-30s identical in all runs (d2h_hash %s)\n", "results", hash_msg);
    } else if (hash_state == 0) {
        printf("%-30s not checked: %s\n", "results", hash_msg);
    } else {
        printf("%-30s MISMATCH\n", "results");
        fprintf(stderr,
                "\numshim ab: error: RESULTS DIFFER BETWEEN MODES\numshim ab: error: %s\n"
                "umshim ab: error: the shim changed what the program computed; logs in %s\n\n",
                hash_msg, dir);
        status = UM_EXIT_FAIL;
    }
    size_t failed = total - ran_ok(runs, total);
    if (failed) {
        um_cli_error("ab", "%zu of %zu runs did not exit with status 0 (logs in %s)", failed, total, dir);
        status = UM_EXIT_FAIL;
    }
    write_html(o.html, &o, runs, total, hash_msg, hash_state);
    fprintf(stderr, "umshim ab: chart and table written to %s\n", o.html);
    free(runs);
    return status;
}
