// The trace line format: every field round-trips, strings with spaces, '=' and any byte
// survive, the writer respects its buffer, and every parser error path names its problem.
#include <check.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "policy/trace_format.h"
#include "tests/unit/check_main.h"

// --- helpers ---

// A deterministic pseudo-random stream (xorshift64*) so "random" events are reproducible.
static uint64_t rng_state = 88172645463325252ull;
static uint64_t rnd(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

static void rnd_str(char *dst, size_t size) {
    size_t n = rnd() % size; // 0..size-1 bytes
    for (size_t i = 0; i < n; i++) {
        char c;
        do {
            c = (char)(rnd() & 0xff);
        } while (c == '\0');
        dst[i] = c;
    }
    dst[n] = '\0';
}

static void rnd_event(um_event_t *ev) {
    memset(ev, 0, sizeof *ev);
    ev->kind = (um_ev_kind_t)(rnd() % UM_EV_KIND_COUNT);
    // Mix zero and non-zero values so both "omitted" and "written" paths run.
#define MAYBE(expr) ((rnd() & 1) ? (expr) : 0)
    ev->t_ns = MAYBE(rnd());
    ev->dur_ns = MAYBE(rnd());
    ev->tid = (uint32_t)MAYBE(rnd());
    ev->device = (int)MAYBE((int64_t)(int32_t)rnd());
    ev->stream = MAYBE(rnd());
    ev->async = (int)MAYBE(1);
    ev->result = (int)MAYBE((int32_t)rnd());
    ev->alloc_id = MAYBE(rnd());
    ev->ptr = MAYBE(rnd());
    ev->bytes = MAYBE(rnd());
    ev->mem = (um_mem_kind_t)(rnd() % UM_MEM_KIND_COUNT);
    ev->req_mem = (um_mem_kind_t)(rnd() % UM_MEM_KIND_COUNT);
    ev->dir = (um_dir_t)(rnd() % UM_DIR_COUNT);
    ev->src_id = MAYBE(rnd());
    ev->hash = MAYBE(rnd());
    ev->advice = (int)MAYBE((int32_t)rnd());
    ev->content = (int)MAYBE((int32_t)rnd());
    rnd_str(ev->site, sizeof ev->site);
    rnd_str(ev->name, sizeof ev->name);
    ev->nrefs = (uint32_t)(rnd() % (UM_LAUNCH_MAX_REFS + 1));
    for (uint32_t i = 0; i < ev->nrefs; i++) {
        ev->refs[i] = MAYBE(rnd());
    }
#undef MAYBE
}

// Field-by-field comparison (padding and unused refs are not part of the event).
static void assert_same(const um_event_t *a, const um_event_t *b) {
    ck_assert_int_eq(a->kind, b->kind);
    ck_assert_uint_eq(a->t_ns, b->t_ns);
    ck_assert_uint_eq(a->dur_ns, b->dur_ns);
    ck_assert_uint_eq(a->tid, b->tid);
    ck_assert_int_eq(a->device, b->device);
    ck_assert_uint_eq(a->stream, b->stream);
    ck_assert_int_eq(a->async, b->async);
    ck_assert_int_eq(a->result, b->result);
    ck_assert_uint_eq(a->alloc_id, b->alloc_id);
    ck_assert_uint_eq(a->ptr, b->ptr);
    ck_assert_uint_eq(a->bytes, b->bytes);
    ck_assert_int_eq(a->mem, b->mem);
    ck_assert_int_eq(a->req_mem, b->req_mem);
    ck_assert_int_eq(a->dir, b->dir);
    ck_assert_uint_eq(a->src_id, b->src_id);
    ck_assert_uint_eq(a->hash, b->hash);
    ck_assert_int_eq(a->advice, b->advice);
    ck_assert_int_eq(a->content, b->content);
    ck_assert_str_eq(a->site, b->site);
    ck_assert_str_eq(a->name, b->name);
    ck_assert_uint_eq(a->nrefs, b->nrefs);
    for (uint32_t i = 0; i < a->nrefs; i++) {
        ck_assert_uint_eq(a->refs[i], b->refs[i]);
    }
}

static void round_trip(const um_event_t *ev) {
    char line[UM_TRACE_LINE_MAX];
    int n = um_trace_format_line(ev, line, sizeof line);
    ck_assert_int_gt(n, 0);
    ck_assert_uint_eq((size_t)n, strlen(line));
    ck_assert_int_eq(line[n - 1], '\n');
    um_event_t back;
    char err[160];
    int rc = um_trace_parse_line(line, &back, err, sizeof err);
    ck_assert_msg(rc == 0, "parse of '%s' failed: %s", line, err);
    assert_same(ev, &back);
}

// Parses `line` and expects an error whose message contains `needle`.
static void expect_error(const char *line, const char *needle) {
    um_event_t ev;
    char err[200];
    int rc = um_trace_parse_line(line, &ev, err, sizeof err);
    ck_assert_msg(rc == -1, "'%s' parsed (rc %d), expected error '%s'", line, rc, needle);
    ck_assert_msg(strstr(err, needle) != NULL, "'%s': message '%s' lacks '%s'", line, err,
                  needle);
    ck_assert_msg(strncmp(err, "column ", 7) == 0, "message '%s' names no column", err);
}

static um_event_t launch_event(void) {
    um_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = UM_EV_LAUNCH;
    ev.t_ns = 1400000;
    ev.tid = 4242;
    ev.stream = 0x55d0c0a8e2f0ull;
    ev.async = 1;
    strcpy(ev.name, "saxpy");
    strcpy(ev.site, "app+0x1a2b");
    ev.nrefs = 2;
    ev.refs[0] = 3;
    ev.refs[1] = 7;
    return ev;
}

// --- core ---

START_TEST(test_trace_format_launch_line_is_readable) {
    um_event_t ev = launch_event();
    char line[UM_TRACE_LINE_MAX];
    int n = um_trace_format_line(&ev, line, sizeof line);
    ck_assert_str_eq(line, "launch t=1400000 tid=4242 dev=0 stream=0x55d0c0a8e2f0 async=1 "
                           "name=saxpy refs=3,7 site=app+0x1a2b\n");
    ck_assert_int_eq(n, (int)strlen(line));
    round_trip(&ev);
}
END_TEST

// A read-back's content evidence (added to v1): written only when compared, read back as is.
START_TEST(test_trace_format_readback_content) {
    um_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = UM_EV_COPY;
    ev.t_ns = 5;
    ev.dir = UM_DIR_D2H;
    ev.src_id = 7;
    ev.bytes = 64;
    ev.content = UM_CONTENT_CHANGED;
    char line[UM_TRACE_LINE_MAX];
    ck_assert_int_gt(um_trace_format_line(&ev, line, sizeof line), 0);
    ck_assert_str_eq(line, "copy t=5 tid=0 dev=0 bytes=64 dir=d2h src=7 content=2\n");
    round_trip(&ev);
    um_event_t back;
    char err[128];
    ck_assert_int_eq(um_trace_parse_line("copy t=5 tid=0 dev=0 dir=d2h src=7", &back, err,
                                         sizeof err), 0);
    ck_assert_int_eq(back.content, UM_CONTENT_UNKNOWN); // older traces: not compared
    ck_assert_int_eq(um_trace_parse_line("copy t=5 tid=0 dev=0 content=1 content=1", &back, err,
                                         sizeof err), -1);
}
END_TEST

START_TEST(test_trace_format_every_kind_round_trips) {
    for (int k = 0; k < UM_EV_KIND_COUNT; k++) {
        um_event_t ev = launch_event();
        ev.kind = (um_ev_kind_t)k;
        ev.dur_ns = 77;
        ev.device = -1;
        ev.result = 2;
        ev.alloc_id = 9;
        ev.ptr = 0x7f3a00000000ull;
        ev.bytes = 268435456;
        ev.mem = UM_MEM_MANAGED;
        ev.req_mem = UM_MEM_DEVICE;
        ev.dir = UM_DIR_D2H;
        ev.src_id = 8;
        ev.hash = 0x00ab;
        ev.advice = 3;
        round_trip(&ev);
    }
}
END_TEST

START_TEST(test_trace_format_zero_event_keeps_required_fields) {
    um_event_t ev;
    memset(&ev, 0, sizeof ev);
    char line[64];
    ck_assert_int_gt(um_trace_format_line(&ev, line, sizeof line), 0);
    ck_assert_str_eq(line, "alloc t=0 tid=0 dev=0\n");
    round_trip(&ev);
}
END_TEST

START_TEST(test_trace_format_hash_is_sixteen_digits) {
    um_event_t ev = launch_event();
    ev.kind = UM_EV_COPY;
    ev.hash = 0xabc;
    char line[UM_TRACE_LINE_MAX];
    um_trace_format_line(&ev, line, sizeof line);
    ck_assert_ptr_nonnull(strstr(line, " hash=0x0000000000000abc "));
}
END_TEST

START_TEST(test_trace_format_strings_with_spaces_and_equals_survive) {
    um_event_t ev = launch_event();
    strcpy(ev.name, "void cosine<float>(a=b, c\\d)\t\x01\xc3\xa9");
    strcpy(ev.site, "/opt/my app/lib.so+0x10");
    char line[UM_TRACE_LINE_MAX];
    um_trace_format_line(&ev, line, sizeof line);
    ck_assert_ptr_nonnull(
        strstr(line, "name=void\\x20cosine<float>(a=b,\\x20c\\\\d)\\x09\\x01\\xc3\\xa9 "));
    ck_assert_ptr_nonnull(strstr(line, "site=/opt/my\\x20app/lib.so+0x10\n"));
    // Exactly one line, and no raw space inside a value: fields split on ' '.
    ck_assert_ptr_eq(strchr(line, '\n'), line + strlen(line) - 1);
    round_trip(&ev);
}
END_TEST

START_TEST(test_trace_format_random_events_round_trip) {
    for (int i = 0; i < 20000; i++) {
        um_event_t ev;
        rnd_event(&ev);
        round_trip(&ev);
    }
}
END_TEST

START_TEST(test_trace_parse_comment_blank_and_header) {
    um_event_t ev;
    char err[64];
    ck_assert_int_eq(um_trace_parse_line(UM_TRACE_HEADER, &ev, err, sizeof err), 1);
    ck_assert_int_eq(um_trace_parse_line("# anything at all", &ev, err, sizeof err), 1);
    ck_assert_int_eq(um_trace_parse_line("", &ev, err, sizeof err), 1);
    ck_assert_int_eq(um_trace_parse_line("\n", &ev, err, sizeof err), 1);
    ck_assert_int_eq(um_trace_parse_line("  \t \n", &ev, err, sizeof err), 1);
    ck_assert(um_trace_is_header(UM_TRACE_HEADER));
    ck_assert(um_trace_is_header("# umshim trace v1"));
    ck_assert(!um_trace_is_header("# umshim trace v2\n"));
    ck_assert(!um_trace_is_header("# umshim trace v1 \n"));
    ck_assert(!um_trace_is_header(NULL));
}
END_TEST

START_TEST(test_trace_parse_accepts_any_key_order_and_upper_hex) {
    um_event_t ev;
    char err[128];
    int rc = um_trace_parse_line("copy site=s dir=h2d dev=-1 tid=5 t=9 ptr=0xABcd bytes=10\n", &ev,
                                 err, sizeof err);
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_int_eq(ev.kind, UM_EV_COPY);
    ck_assert_int_eq(ev.dir, UM_DIR_H2D);
    ck_assert_int_eq(ev.device, -1);
    ck_assert_uint_eq(ev.ptr, 0xabcd);
    ck_assert_uint_eq(ev.bytes, 10);
    ck_assert_str_eq(ev.site, "s");
    // An explicit zero and an empty string are the same as the key being absent.
    rc = um_trace_parse_line("sync t=0 tid=0 dev=0 async=0 name=", &ev, err, sizeof err);
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_str_eq(ev.name, "");
}
END_TEST

START_TEST(test_trace_parse_doc_examples) {
    static const char *const lines[] = {
        "alloc t=1200345 tid=4242 dev=0 id=7 ptr=0x7f3a00000000 bytes=268435456 mem=managed "
        "req=device name=cuMemAlloc_v2 site=app+0x1a2b",
        "copy t=1300001 dur=5100000 tid=4242 dev=0 id=7 ptr=0x7f3a00000000 bytes=268435456 "
        "dir=h2d name=cuMemcpyHtoD_v2 site=app+0x1b00",
        "launch t=1400000 tid=4242 dev=0 stream=0x55d0c0a8e2f0 async=1 name=cosine\\x20v2 "
        "refs=7,8,9 site=app+0x1c40",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        um_event_t ev;
        char err[128];
        ck_assert_msg(um_trace_parse_line(lines[i], &ev, err, sizeof err) == 0, "%s", err);
        // The writer produces the same text back (canonical order).
        char line[UM_TRACE_LINE_MAX];
        um_trace_format_line(&ev, line, sizeof line);
        line[strlen(line) - 1] = '\0';
        ck_assert_str_eq(line, lines[i]);
    }
}
END_TEST

START_TEST(test_trace_names_cover_every_enum) {
    for (int k = 0; k < UM_EV_KIND_COUNT; k++) {
        um_ev_kind_t back;
        const char *name = um_ev_kind_name((um_ev_kind_t)k);
        ck_assert_str_ne(name, "?");
        ck_assert_int_eq(um_ev_kind_from_name(name, strlen(name), &back), 0);
        ck_assert_int_eq(back, k);
    }
    for (int k = 0; k < UM_MEM_KIND_COUNT; k++) {
        um_mem_kind_t back;
        const char *name = um_mem_kind_name((um_mem_kind_t)k);
        ck_assert_int_eq(um_mem_kind_from_name(name, strlen(name), &back), 0);
        ck_assert_int_eq(back, k);
    }
    for (int k = 0; k < UM_DIR_COUNT; k++) {
        um_dir_t back;
        const char *name = um_dir_name((um_dir_t)k);
        ck_assert_int_eq(um_dir_from_name(name, strlen(name), &back), 0);
        ck_assert_int_eq(back, k);
    }
    ck_assert_str_eq(um_ev_kind_name(UM_EV_HOST_ACCESS), "host_access");
    ck_assert_str_eq(um_mem_kind_name(UM_MEM_MANAGED), "managed");
    ck_assert_str_eq(um_dir_name(UM_DIR_D2H), "d2h");
}
END_TEST

// --- limits ---

static um_event_t widest_event(void) {
    um_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = UM_EV_HOST_ACCESS; // the longest kind name
    ev.t_ns = ev.dur_ns = ev.stream = ev.alloc_id = ev.ptr = ev.bytes = UINT64_MAX;
    ev.src_id = ev.hash = UINT64_MAX;
    ev.tid = UINT32_MAX;
    ev.device = ev.result = ev.advice = ev.content = INT_MIN;
    ev.async = 1;
    ev.mem = ev.req_mem = UM_MEM_MANAGED;
    ev.dir = UM_DIR_PEER;
    memset(ev.site, '\x01', sizeof ev.site - 1);
    memset(ev.name, ' ', sizeof ev.name - 1);
    ev.nrefs = UM_LAUNCH_MAX_REFS;
    for (int i = 0; i < UM_LAUNCH_MAX_REFS; i++) {
        ev.refs[i] = UINT64_MAX;
    }
    return ev;
}

START_TEST(test_trace_format_widest_event_fits_line_max) {
    um_event_t ev = widest_event();
    char line[UM_TRACE_LINE_MAX];
    int n = um_trace_format_line(&ev, line, sizeof line);
    ck_assert_int_gt(n, 0);
    ck_assert_int_lt(n, 2300);
    round_trip(&ev);
}
END_TEST

START_TEST(test_trace_format_respects_buffer_size) {
    um_event_t ev = widest_event();
    char line[UM_TRACE_LINE_MAX];
    int n = um_trace_format_line(&ev, line, sizeof line);
    char exact[UM_TRACE_LINE_MAX];
    memset(exact, 'Z', sizeof exact);
    ck_assert_int_eq(um_trace_format_line(&ev, exact, (size_t)n + 1), n);
    ck_assert_str_eq(exact, line);
    ck_assert_int_eq(exact[n + 1], 'Z'); // nothing written past n+1 bytes
    // One byte short: -1 and an empty string, never a truncated line.
    memset(exact, 'Z', sizeof exact);
    ck_assert_int_eq(um_trace_format_line(&ev, exact, (size_t)n), -1);
    ck_assert_int_eq(exact[0], '\0');
    ck_assert_int_eq(exact[n], 'Z');
    ck_assert_int_eq(um_trace_format_line(&ev, exact, 1), -1);
    ck_assert_int_eq(um_trace_format_line(&ev, exact, 0), -1);
}
END_TEST

START_TEST(test_trace_parse_extreme_numbers) {
    um_event_t ev;
    char err[128];
    ck_assert_int_eq(um_trace_parse_line("free t=18446744073709551615 tid=4294967295 "
                                         "dev=-2147483648 res=2147483647 ptr=0xffffffffffffffff",
                                         &ev, err, sizeof err),
                     0);
    ck_assert_uint_eq(ev.t_ns, UINT64_MAX);
    ck_assert_uint_eq(ev.tid, UINT32_MAX);
    ck_assert_int_eq(ev.device, INT_MIN);
    ck_assert_int_eq(ev.result, INT_MAX);
    ck_assert_uint_eq(ev.ptr, UINT64_MAX);
}
END_TEST

START_TEST(test_trace_parse_longest_strings_and_refs) {
    um_event_t ev = launch_event();
    memset(ev.site, 'S', sizeof ev.site - 1);
    ev.site[sizeof ev.site - 1] = '\0';
    memset(ev.name, 'N', sizeof ev.name - 1);
    ev.name[sizeof ev.name - 1] = '\0';
    ev.nrefs = UM_LAUNCH_MAX_REFS;
    for (int i = 0; i < UM_LAUNCH_MAX_REFS; i++) {
        ev.refs[i] = (uint64_t)i;
    }
    round_trip(&ev);
}
END_TEST

START_TEST(test_trace_parse_error_message_fits_small_buffer) {
    um_event_t ev;
    char err[8];
    ck_assert_int_eq(um_trace_parse_line("bogus t=1", &ev, err, sizeof err), -1);
    ck_assert_uint_lt(strlen(err), sizeof err);
    ck_assert_int_eq(um_trace_parse_line("bogus t=1", &ev, NULL, 0), -1);
}
END_TEST

// --- errors ---

START_TEST(test_trace_parse_rejects_structure_errors) {
    expect_error("bogus t=1 tid=1 dev=0", "unknown event kind 'bogus'");
    expect_error(" alloc t=1 tid=1 dev=0", "unknown event kind ''");
    expect_error("alloc t=1 tid=1 dev=0 color=red", "unknown key 'color'");
    expect_error("alloc t=1 tid=1 dev=0 t=2", "key 't' given twice");
    expect_error("alloc t=1 tid=1 dev=0 bytes", "expected key=value");
    expect_error("alloc t=1 tid=1 dev=0 =5", "expected key=value");
    expect_error("alloc t=1  tid=1 dev=0", "empty field");
    expect_error("alloc t=1 tid=1 dev=0 ", "empty field");
    expect_error("alloc t=1 tid=1 dev=0\r\n", "line break inside a line");
    expect_error("alloc t=1 tid=1\ndev=0", "line break inside a line");
    expect_error("alloc tid=1 dev=0", "missing required key 't'");
    expect_error("alloc t=1 dev=0", "missing required key 'tid'");
    expect_error("alloc t=1 tid=1", "missing required key 'dev'");
    expect_error("alloc", "missing required key 't'");
}
END_TEST

START_TEST(test_trace_parse_rejects_bad_numbers) {
    expect_error("alloc t= tid=1 dev=0", "t: expected a decimal number");
    expect_error("alloc t=+1 tid=1 dev=0", "t: expected a decimal number");
    expect_error("alloc t=1x tid=1 dev=0", "t: expected a decimal number");
    expect_error("alloc t=18446744073709551616 tid=1 dev=0", "below 2^64");
    expect_error("alloc t=1 tid=4294967296 dev=0", "tid: expected a decimal number below 2^32");
    expect_error("alloc t=1 tid=1 dev=2147483648", "dev: expected a decimal int");
    expect_error("alloc t=1 tid=1 dev=-2147483649", "dev: expected a decimal int");
    expect_error("alloc t=1 tid=1 dev=-", "dev: expected a decimal int");
    expect_error("alloc t=1 tid=1 dev=0 async=2", "async: expected 0 or 1");
    expect_error("alloc t=1 tid=1 dev=0 ptr=123", "ptr: expected 0x and 1 to 16 hex digits");
    expect_error("alloc t=1 tid=1 dev=0 ptr=0x", "ptr: expected 0x");
    expect_error("alloc t=1 tid=1 dev=0 ptr=0xg", "ptr: expected 0x");
    expect_error("alloc t=1 tid=1 dev=0 ptr=0x10000000000000000", "ptr: expected 0x");
    expect_error("alloc t=1 tid=1 dev=0 hash=0x12", "hash: expected 0x and 16 hex digits");
    expect_error("alloc t=1 tid=1 dev=0 mem=gpu", "mem: expected unknown|device|managed");
    expect_error("alloc t=1 tid=1 dev=0 req=", "req: expected");
    expect_error("alloc t=1 tid=1 dev=0 dir=up", "dir: expected none|h2d");
    expect_error("alloc t=1 tid=1 dev=0 refs=", "refs: expected a decimal id");
    expect_error("alloc t=1 tid=1 dev=0 refs=1,,2", "refs: expected a decimal id");
    expect_error("alloc t=1 tid=1 dev=0 refs=1,", "refs: expected a decimal id");
    expect_error("alloc t=1 tid=1 dev=0 "
                 "refs=1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,"
                 "29,30,31,32,33",
                 "refs: more than 32 ids");
}
END_TEST

START_TEST(test_trace_parse_rejects_bad_strings) {
    expect_error("alloc t=1 tid=1 dev=0 name=a\\tb", "name: bad escape");
    expect_error("alloc t=1 tid=1 dev=0 name=a\\", "name: bad escape");
    expect_error("alloc t=1 tid=1 dev=0 name=a\\x4", "name: bad escape");
    expect_error("alloc t=1 tid=1 dev=0 name=a\\xzz", "name: bad escape");
    expect_error("alloc t=1 tid=1 dev=0 site=a\\x00b", "site: \\x00 is not allowed");
    expect_error("alloc t=1 tid=1 dev=0 name=a\tb", "name: byte 0x09 must be escaped");
    expect_error("alloc t=1 tid=1 dev=0 name=caf\xc3\xa9", "name: byte 0xc3 must be escaped");
    char line[400];
    strcpy(line, "alloc t=1 tid=1 dev=0 name=");
    memset(line + strlen(line), 'n', UM_NAME_MAX);
    line[27 + UM_NAME_MAX] = '\0';
    expect_error(line, "name: longer than 95 bytes");
    strcpy(line, "alloc t=1 tid=1 dev=0 site=");
    memset(line + strlen(line), 's', UM_SITE_MAX);
    line[27 + UM_SITE_MAX] = '\0';
    expect_error(line, "site: longer than 127 bytes");
}
END_TEST

START_TEST(test_trace_escape_helpers) {
    char buf[32];
    ck_assert_int_eq(um_trace_escape("a b\\c", buf, sizeof buf), 9);
    ck_assert_str_eq(buf, "a\\x20b\\\\c");
    ck_assert_int_eq(um_trace_escape("a b", buf, 6), -1); // needs 7 with the NUL
    ck_assert_str_eq(buf, "");
    ck_assert_int_eq(um_trace_escape("a b", buf, 7), 6);
    ck_assert_int_eq(um_trace_escape("x", NULL, 0), -1);
    ck_assert_int_eq(um_trace_escape("x", buf, 0), -1);
    char out[8];
    const char *why = NULL;
    size_t at = 99;
    ck_assert_int_eq(um_trace_unescape("a\\x20b", 6, out, sizeof out, &why, &at), 0);
    ck_assert_str_eq(out, "a b");
    ck_assert_int_eq(um_trace_unescape("", 0, out, 0, &why, &at), -1);
    ck_assert_str_eq(why, "too long");
    ck_assert_int_eq(um_trace_unescape("abcdefgh", 8, out, sizeof out, &why, &at), -1);
    ck_assert_str_eq(why, "too long");
    ck_assert_int_eq(um_trace_unescape("ab\\q", 4, out, sizeof out, &why, &at), -1);
    ck_assert_uint_eq(at, 2);
}
END_TEST

START_TEST(test_trace_parse_rejects_null_arguments) {
    um_event_t ev;
    char err[64];
    ck_assert_int_eq(um_trace_parse_line(NULL, &ev, err, sizeof err), -1);
    ck_assert_int_eq(um_trace_parse_line("alloc t=1 tid=1 dev=0", NULL, err, sizeof err), -1);
}
END_TEST

START_TEST(test_trace_format_rejects_unwritable_events) {
    char line[UM_TRACE_LINE_MAX];
    um_event_t ev = launch_event();
    ev.kind = UM_EV_KIND_COUNT;
    ck_assert_int_eq(um_trace_format_line(&ev, line, sizeof line), -1);
    ck_assert_int_eq(line[0], '\0');
    ev = launch_event();
    ev.kind = (um_ev_kind_t)-1;
    ck_assert_int_eq(um_trace_format_line(&ev, line, sizeof line), -1);
    ev = launch_event();
    ev.nrefs = UM_LAUNCH_MAX_REFS + 1;
    ck_assert_int_eq(um_trace_format_line(&ev, line, sizeof line), -1);
    ev = launch_event();
    ev.mem = UM_MEM_KIND_COUNT;
    ck_assert_int_eq(um_trace_format_line(&ev, line, sizeof line), -1);
    ev = launch_event();
    ev.dir = (um_dir_t)99;
    ck_assert_int_eq(um_trace_format_line(&ev, line, sizeof line), -1);
    ev = launch_event();
    memset(ev.name, 'x', sizeof ev.name); // no NUL inside the array
    ck_assert_int_eq(um_trace_format_line(&ev, line, sizeof line), -1);
    ck_assert_int_eq(line[0], '\0');
    ck_assert_int_eq(um_trace_format_line(NULL, line, sizeof line), -1);
    ev = launch_event();
    ck_assert_int_eq(um_trace_format_line(&ev, NULL, 10), -1);
    ck_assert_str_eq(um_ev_kind_name(UM_EV_KIND_COUNT), "?");
    ck_assert_str_eq(um_mem_kind_name((um_mem_kind_t)-3), "?");
    ck_assert_str_eq(um_dir_name(UM_DIR_COUNT), "?");
    um_dir_t d = UM_DIR_H2D;
    ck_assert_int_eq(um_dir_from_name("H2D", 3, &d), -1);
    ck_assert_int_eq(d, UM_DIR_H2D);
    ck_assert_int_eq(um_dir_from_name("h2d", 2, &d), -1);
}
END_TEST

Suite *trace_format_suite(void) {
    Suite *s = suite_create("trace_format");
    TCase *core = tcase_create("core");
    tcase_add_test(core, test_trace_format_launch_line_is_readable);
    tcase_add_test(core, test_trace_format_readback_content);
    tcase_add_test(core, test_trace_format_every_kind_round_trips);
    tcase_add_test(core, test_trace_format_zero_event_keeps_required_fields);
    tcase_add_test(core, test_trace_format_hash_is_sixteen_digits);
    tcase_add_test(core, test_trace_format_strings_with_spaces_and_equals_survive);
    tcase_add_test(core, test_trace_format_random_events_round_trip);
    tcase_add_test(core, test_trace_parse_comment_blank_and_header);
    tcase_add_test(core, test_trace_parse_accepts_any_key_order_and_upper_hex);
    tcase_add_test(core, test_trace_parse_doc_examples);
    tcase_add_test(core, test_trace_names_cover_every_enum);
    suite_add_tcase(s, core);
    TCase *limits = tcase_create("limits");
    tcase_add_test(limits, test_trace_format_widest_event_fits_line_max);
    tcase_add_test(limits, test_trace_format_respects_buffer_size);
    tcase_add_test(limits, test_trace_parse_extreme_numbers);
    tcase_add_test(limits, test_trace_parse_longest_strings_and_refs);
    tcase_add_test(limits, test_trace_parse_error_message_fits_small_buffer);
    suite_add_tcase(s, limits);
    TCase *errors = tcase_create("errors");
    tcase_add_test(errors, test_trace_parse_rejects_structure_errors);
    tcase_add_test(errors, test_trace_parse_rejects_bad_numbers);
    tcase_add_test(errors, test_trace_parse_rejects_bad_strings);
    tcase_add_test(errors, test_trace_escape_helpers);
    tcase_add_test(errors, test_trace_parse_rejects_null_arguments);
    tcase_add_test(errors, test_trace_format_rejects_unwritable_events);
    suite_add_tcase(s, errors);
    return s;
}

UM_CHECK_MAIN(trace_format_suite)
