// `umshim timeline`: the output must be valid JSON (checked by a small strict parser here:
// no trailing commas, proper escapes, nothing after the value) and valid Chrome trace-event
// format: every event has ph, name, pid, tid and ts; complete events ("X") have a
// non-negative dur; counters ("C") have numeric args; every track used is named by a
// thread_name metadata event; copies, prefetches and launches sit on per-stream tracks.
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/check_main.h"
#include "tools/cli.h"
#include "tools/model.h"

// --- a strict JSON parser (RFC 8259), just enough to inspect the result ---
typedef enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } jtype_t;

typedef struct jv {
    jtype_t type;
    double num;
    char *str;        // J_STR
    struct jv *items; // J_ARR / J_OBJ values
    char **keys;      // J_OBJ keys
    size_t n;
} jv_t;

typedef struct {
    const char *p;
    const char *why;
} jp_t;

static int parse_value(jp_t *j, jv_t *out, int depth);
static void jv_free(jv_t *v);

static void skip_ws(jp_t *j) {
    while (*j->p == ' ' || *j->p == '\n' || *j->p == '\t' || *j->p == '\r')
        j->p++;
}

static int jfail(jp_t *j, const char *why) {
    j->why = why;
    return -1;
}

static int parse_string(jp_t *j, char **out) {
    if (*j->p != '"')
        return jfail(j, "expected string");
    j->p++;
    size_t cap = 16, n = 0;
    char *s = malloc(cap);
    for (;;) {
        unsigned char c = (unsigned char)*j->p++;
        if (c == '\0' || c < 0x20) {
            free(s);
            return jfail(j, "unterminated string or raw control character");
        }
        if (c == '"')
            break;
        if (c == '\\') {
            char e = *j->p++;
            switch (e) {
            case '"': case '\\': case '/': c = (unsigned char)e; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            case 'u':
                for (int i = 0; i < 4; i++)
                    if (!strchr("0123456789abcdefABCDEF", j->p[i]) || j->p[i] == '\0') {
                        free(s);
                        return jfail(j, "bad \\u escape");
                    }
                j->p += 4;
                c = '?';
                break;
            default: free(s); return jfail(j, "bad escape");
            }
        }
        if (n + 2 > cap)
            s = realloc(s, cap *= 2);
        s[n++] = (char)c;
    }
    s[n] = '\0';
    *out = s;
    return 0;
}

static int parse_number(jp_t *j, double *out) {
    const char *start = j->p;
    if (*j->p == '-')
        j->p++;
    if (*j->p == '0') {
        j->p++;
    } else if (*j->p >= '1' && *j->p <= '9') {
        while (*j->p >= '0' && *j->p <= '9')
            j->p++;
    } else {
        return jfail(j, "bad number");
    }
    if (*j->p == '.') {
        j->p++;
        if (!(*j->p >= '0' && *j->p <= '9'))
            return jfail(j, "bad fraction");
        while (*j->p >= '0' && *j->p <= '9')
            j->p++;
    }
    if (*j->p == 'e' || *j->p == 'E') {
        j->p++;
        if (*j->p == '+' || *j->p == '-')
            j->p++;
        if (!(*j->p >= '0' && *j->p <= '9'))
            return jfail(j, "bad exponent");
        while (*j->p >= '0' && *j->p <= '9')
            j->p++;
    }
    *out = strtod(start, NULL);
    return 0;
}

static int parse_container(jp_t *j, jv_t *out, int depth, int obj) {
    char close = obj ? '}' : ']';
    j->p++;
    out->type = obj ? J_OBJ : J_ARR;
    size_t cap = 0;
    skip_ws(j);
    if (*j->p == close) {
        j->p++;
        return 0;
    }
    for (;;) {
        if (out->n == cap) {
            cap = cap ? cap * 2 : 8;
            out->items = realloc(out->items, cap * sizeof *out->items);
            if (obj)
                out->keys = realloc(out->keys, cap * sizeof *out->keys);
        }
        skip_ws(j);
        if (obj) {
            if (parse_string(j, &out->keys[out->n]) != 0)
                return -1;
            skip_ws(j);
            if (*j->p++ != ':') {
                free(out->keys[out->n]);
                return jfail(j, "expected ':'");
            }
        }
        memset(&out->items[out->n], 0, sizeof out->items[0]);
        if (parse_value(j, &out->items[out->n], depth + 1) != 0) {
            jv_free(&out->items[out->n]); // the half-parsed item is not counted in n
            if (obj)
                free(out->keys[out->n]);
            return -1;
        }
        out->n++;
        skip_ws(j);
        if (*j->p == ',') {
            j->p++;
            continue;
        }
        if (*j->p == close) {
            j->p++;
            return 0;
        }
        return jfail(j, "expected ',' or end of container");
    }
}

static int parse_value(jp_t *j, jv_t *out, int depth) {
    if (depth > 64)
        return jfail(j, "too deep");
    skip_ws(j);
    switch (*j->p) {
    case '{': return parse_container(j, out, depth, 1);
    case '[': return parse_container(j, out, depth, 0);
    case '"': out->type = J_STR; return parse_string(j, &out->str);
    case 't': if (strncmp(j->p, "true", 4) == 0) { j->p += 4; out->type = J_BOOL; out->num = 1; return 0; } break;
    case 'f': if (strncmp(j->p, "false", 5) == 0) { j->p += 5; out->type = J_BOOL; return 0; } break;
    case 'n': if (strncmp(j->p, "null", 4) == 0) { j->p += 4; out->type = J_NULL; return 0; } break;
    default: out->type = J_NUM; return parse_number(j, &out->num);
    }
    return jfail(j, "unexpected token");
}

static void jv_free(jv_t *v) {
    for (size_t i = 0; i < v->n; i++) {
        jv_free(&v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->str);
}

static const jv_t *get(const jv_t *obj, const char *key) {
    if (obj->type != J_OBJ)
        return NULL;
    for (size_t i = 0; i < obj->n; i++)
        if (strcmp(obj->keys[i], key) == 0)
            return &obj->items[i];
    return NULL;
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static int parse_doc(const char *text, jv_t *doc, const char **why) {
    jp_t j = {text, NULL};
    memset(doc, 0, sizeof *doc);
    if (parse_value(&j, doc, 0) != 0) {
        *why = j.why;
        return -1;
    }
    skip_ws(&j);
    if (*j.p != '\0') {
        *why = "garbage after the value";
        return -1;
    }
    return 0;
}

// --- the trace-event checks ---
typedef struct {
    size_t events, complete, counters, meta;
    size_t by_cat[8]; // copy, launch, prefetch, memset, alloc, other
    size_t stream_tracks;
} tl_summary_t;

static const char *const cats[] = {"copy", "launch", "prefetch", "memset", "alloc"};

static int is_int(const jv_t *v) {
    return v && v->type == J_NUM && v->num == (double)(long long)v->num;
}

// Validates the document against the trace-event format; fails the test on a violation.
static void check_trace_events(const jv_t *doc, tl_summary_t *sum) {
    memset(sum, 0, sizeof *sum);
    ck_assert_int_eq(doc->type, J_OBJ);
    const jv_t *evs = get(doc, "traceEvents");
    ck_assert_msg(evs && evs->type == J_ARR, "traceEvents array missing");
    // named tracks: (pid, tid) pairs from thread_name metadata
    double named[256][2];
    size_t nnamed = 0;
    for (size_t i = 0; i < evs->n; i++) {
        const jv_t *e = &evs->items[i];
        ck_assert_msg(e->type == J_OBJ, "event %zu is not an object", i);
        const jv_t *ph = get(e, "ph"), *name = get(e, "name"), *pid = get(e, "pid"),
                   *tid = get(e, "tid"), *ts = get(e, "ts");
        ck_assert_msg(ph && ph->type == J_STR && strlen(ph->str) == 1, "event %zu: ph", i);
        ck_assert_msg(name && name->type == J_STR && name->str[0], "event %zu: name", i);
        ck_assert_msg(is_int(pid), "event %zu: pid must be an integer", i);
        ck_assert_msg(is_int(tid), "event %zu: tid must be an integer", i);
        ck_assert_msg(ts && ts->type == J_NUM && ts->num >= 0, "event %zu: ts", i);
        ck_assert_msg(strchr("XBEiICMbnesftPOND", ph->str[0]) != NULL, "event %zu: unknown ph %s", i, ph->str);
        sum->events++;
        if (ph->str[0] == 'M') {
            sum->meta++;
            const jv_t *args = get(e, "args");
            ck_assert_msg(args && get(args, "name") && get(args, "name")->type == J_STR,
                          "metadata event %zu needs args.name", i);
            if (strcmp(name->str, "thread_name") == 0 && nnamed < 256) {
                named[nnamed][0] = pid->num;
                named[nnamed][1] = tid->num;
                nnamed++;
                if (pid->num == 1)
                    sum->stream_tracks++;
            } else {
                ck_assert_str_eq(name->str, "process_name");
            }
        } else if (ph->str[0] == 'X') {
            sum->complete++;
            const jv_t *dur = get(e, "dur");
            ck_assert_msg(dur && dur->type == J_NUM && dur->num >= 0, "complete event %zu: dur", i);
            const jv_t *cat = get(e, "cat");
            ck_assert_msg(cat && cat->type == J_STR, "event %zu: cat", i);
            size_t c = 0;
            while (c < sizeof cats / sizeof cats[0] && strcmp(cats[c], cat->str) != 0)
                c++;
            sum->by_cat[c]++;
            // copies, prefetches, memsets and launches live on stream tracks (pid 1)
            if (c <= 3)
                ck_assert_msg(pid->num == 1, "event %zu (%s) not on a stream track", i, cat->str);
        } else if (ph->str[0] == 'C') {
            sum->counters++;
            const jv_t *args = get(e, "args");
            ck_assert_msg(args && args->type == J_OBJ && args->n > 0, "counter %zu: args", i);
            for (size_t k = 0; k < args->n; k++)
                ck_assert_msg(args->items[k].type == J_NUM, "counter %zu: non-numeric arg", i);
        }
    }
    // every track carrying slices is named
    for (size_t i = 0; i < evs->n; i++) {
        const jv_t *e = &evs->items[i];
        if (strcmp(get(e, "ph")->str, "X") != 0)
            continue;
        int found = 0;
        for (size_t k = 0; k < nnamed; k++)
            found |= named[k][0] == get(e, "pid")->num && named[k][1] == get(e, "tid")->num;
        ck_assert_msg(found, "event %zu is on an unnamed track", i);
    }
}

static char out_path[512];

static void setup(void) {
    const char *tmp = getenv("TEST_TMPDIR");
    snprintf(out_path, sizeof out_path, "%s/timeline_%d.json", tmp ? tmp : "/tmp", (int)getpid());
}

static void convert(const char *trace, jv_t *doc) {
    char err[512];
    ck_assert_msg(um_timeline_write(trace, out_path, err, sizeof err) == 0, "%s", err);
    char *text = slurp(out_path);
    const char *why = NULL;
    ck_assert_msg(parse_doc(text, doc, &why) == 0, "invalid JSON: %s", why);
    free(text);
}

// --- core ---
START_TEST(test_timeline_legacy_trace_valid) {
    jv_t doc;
    convert("tools/testdata/legacy_recall.umt", &doc);
    tl_summary_t sum;
    check_trace_events(&doc, &sum);
    ck_assert_uint_eq(sum.by_cat[0], 10); // 6 h2d + 4 d2h copies
    ck_assert_uint_eq(sum.by_cat[1], 3);  // launches
    ck_assert_uint_eq(sum.stream_tracks, 2); // legacy default stream and 0x55d0c0a8e2f0
    ck_assert_uint_eq(sum.by_cat[4], 9);  // 5 allocs + 4 frees
    ck_assert_uint_eq(sum.counters, 4 + 3); // device allocs up, device frees down
    jv_free(&doc);
}
END_TEST

START_TEST(test_timeline_prefetch_trace_valid) {
    jv_t doc;
    convert("tools/testdata/managed_prefetch.umt", &doc);
    tl_summary_t sum;
    check_trace_events(&doc, &sum);
    ck_assert_uint_eq(sum.by_cat[2], 2);  // prefetches
    ck_assert_uint_eq(sum.by_cat[3], 1);  // memset
    ck_assert_uint_eq(sum.stream_tracks, 2); // 0x1234 and 0x5678
    jv_free(&doc);
}
END_TEST

START_TEST(test_json_checker_is_strict) {
    jv_t doc;
    const char *why;
    ck_assert_int_eq(parse_doc("{\"a\":[1,2,]}", &doc, &why), -1);
    jv_free(&doc);
    ck_assert_int_eq(parse_doc("{\"a\":1} x", &doc, &why), -1);
    jv_free(&doc);
    ck_assert_int_eq(parse_doc("{\"a\":\"\\q\"}", &doc, &why), -1);
    jv_free(&doc);
    ck_assert_int_eq(parse_doc("{\"a\":01}", &doc, &why), -1);
    jv_free(&doc);
    ck_assert_int_eq(parse_doc("{\"a\":[1.5e3,-0,\"\\u00e9\",true,null]}", &doc, &why), 0);
    jv_free(&doc);
}
END_TEST

// --- limits ---
START_TEST(test_timeline_empty_trace) {
    jv_t doc;
    convert("tools/testdata/empty.umt", &doc);
    tl_summary_t sum;
    check_trace_events(&doc, &sum);
    ck_assert_uint_eq(sum.complete, 0);
    ck_assert_uint_eq(sum.meta, 2); // the two process names
    jv_free(&doc);
}
END_TEST

// --- errors ---
START_TEST(test_timeline_not_a_trace_leaves_no_file) {
    char err[512];
    remove(out_path);
    ck_assert_int_eq(um_timeline_write("tools/testdata/not_a_trace.txt", out_path, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "not a umshim trace"));
    ck_assert_ptr_null(fopen(out_path, "r"));
}
END_TEST

START_TEST(test_timeline_unwritable_output) {
    char err[512];
    ck_assert_int_eq(um_timeline_write("tools/testdata/legacy_recall.umt", "/nonexistent/dir/t.json",
                                       err, sizeof err),
                     -1);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/dir/t.json"));
}
END_TEST

Suite *cli_timeline_suite(void) {
    Suite *s = suite_create("cli_timeline");
    TCase *core = tcase_create("core");
    tcase_add_checked_fixture(core, setup, NULL);
    tcase_add_test(core, test_timeline_legacy_trace_valid);
    tcase_add_test(core, test_timeline_prefetch_trace_valid);
    tcase_add_test(core, test_json_checker_is_strict);
    suite_add_tcase(s, core);
    TCase *limits = tcase_create("limits");
    tcase_add_checked_fixture(limits, setup, NULL);
    tcase_add_test(limits, test_timeline_empty_trace);
    suite_add_tcase(s, limits);
    TCase *errors = tcase_create("errors");
    tcase_add_checked_fixture(errors, setup, NULL);
    tcase_add_test(errors, test_timeline_not_a_trace_leaves_no_file);
    tcase_add_test(errors, test_timeline_unwritable_output);
    suite_add_tcase(s, errors);
    return s;
}

UM_CHECK_MAIN(cli_timeline_suite)
