// The policy file format: the documented example parses, entries round-trip through the
// writer, odd-but-valid input is accepted, and every error path yields one clear
// "NAME:LINE: problem" message.
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy/policy_file.h"
#include "tests/unit/check_main.h"

#define HDR UM_PF_HEADER "\n"

static um_pf_t parse_ok(const char *text) {
    um_pf_t pf;
    char err[256];
    int rc = um_pf_parse(text, strlen(text), "p.txt", &pf, err, sizeof err);
    ck_assert_msg(rc == 0, "parse failed: %s", err);
    return pf;
}

// Parses `text` and expects exactly the message `want` ("p.txt:LINE: problem").
static void expect_error(const char *text, const char *want) {
    um_pf_t pf = {(um_pf_entry_t *)1, 99};
    char err[256];
    int rc = um_pf_parse(text, strlen(text), "p.txt", &pf, err, sizeof err);
    ck_assert_msg(rc == -1, "'%s' parsed, expected '%s'", text, want);
    ck_assert_str_eq(err, want);
    ck_assert_ptr_null(pf.entries);
    ck_assert_uint_eq(pf.n, 0);
}

// --- core ---

START_TEST(test_policy_file_parses_documented_example) {
    um_pf_t pf = parse_ok("# umshim policy v1\n"
                          "# comment lines and blank lines are ignored\n"
                          "site app+0x1a2b placement=managed advise=read_mostly,prefer_device "
                          "prefetch=launch  # input\n"
                          "site app+0x1c00 placement=device  # exported through IPC\n"
                          "site libfoo.so+0x88 copy_h2d=staged\n");
    ck_assert_uint_eq(pf.n, 3);
    const um_pf_entry_t *e = &pf.entries[0];
    ck_assert_str_eq(e->site, "app+0x1a2b");
    ck_assert_uint_eq(e->set, UM_PF_PLACEMENT | UM_PF_ADVISE | UM_PF_PREFETCH);
    ck_assert_int_eq(e->placement, UM_PLACE_MANAGED);
    ck_assert_uint_eq(e->advise, UM_ADV_READ_MOSTLY | UM_ADV_PREFER_DEVICE);
    ck_assert_int_eq(e->prefetch, UM_PF_ON_LAUNCH);
    ck_assert_str_eq(e->comment, "input");
    ck_assert_uint_eq(e->line, 3);
    e = &pf.entries[1];
    ck_assert_int_eq(e->placement, UM_PLACE_DEVICE);
    ck_assert_str_eq(e->comment, "exported through IPC");
    e = um_pf_find(&pf, "libfoo.so+0x88");
    ck_assert_ptr_eq(e, &pf.entries[2]);
    ck_assert_uint_eq(e->set, UM_PF_COPY_H2D);
    ck_assert_int_eq(e->copy_h2d, UM_COPY_STAGED);
    ck_assert_ptr_null(um_pf_find(&pf, "app"));
    um_pf_free(&pf);
    ck_assert_ptr_null(pf.entries);
}
END_TEST

START_TEST(test_policy_file_every_setting) {
    um_pf_t pf = parse_ok(HDR "site a copy=host host_prefetch=on advise=none prefetch=none\n"
                              "site b copy_h2d=driver copy_d2h=staged host_prefetch=off\n"
                              "site c advise=accessed_by_host,accessed_by_device,prefer_host\n");
    ck_assert_uint_eq(pf.n, 3);
    ck_assert_int_eq(pf.entries[0].copy_h2d, UM_COPY_HOST);
    ck_assert_int_eq(pf.entries[0].copy_d2h, UM_COPY_HOST);
    ck_assert_int_eq(pf.entries[0].host_prefetch_before_read, 1);
    ck_assert_uint_eq(pf.entries[0].advise, 0);
    ck_assert_uint_eq(pf.entries[0].set & UM_PF_ADVISE, UM_PF_ADVISE);
    ck_assert_int_eq(pf.entries[1].copy_h2d, UM_COPY_DRIVER);
    ck_assert_int_eq(pf.entries[1].copy_d2h, UM_COPY_STAGED);
    ck_assert_uint_eq(pf.entries[1].set & UM_PF_HOST_PREFETCH, UM_PF_HOST_PREFETCH);
    ck_assert_uint_eq(pf.entries[2].advise,
                      UM_ADV_ACCESSED_BY_HOST | UM_ADV_ACCESSED_BY_DEVICE | UM_ADV_PREFER_HOST);
    um_pf_free(&pf);
}
END_TEST

START_TEST(test_policy_file_whitespace_comments_and_escapes) {
    um_pf_t pf = parse_ok(HDR "\n   \n\t# indented comment\n"
                              "\t site \t my\\x20app.so+0x10\tplacement=device   #  two  words  \n"
                              "site a\\x3db\\x23c\\\\d placement=device #\n"
                              "site last placement=managed"); // no final newline
    ck_assert_uint_eq(pf.n, 3);
    ck_assert_str_eq(pf.entries[0].site, "my app.so+0x10");
    ck_assert_str_eq(pf.entries[0].comment, "two  words");
    ck_assert_uint_eq(pf.entries[0].line, 5);
    ck_assert_str_eq(pf.entries[1].site, "a=b#c\\d");
    ck_assert_str_eq(pf.entries[1].comment, "");
    ck_assert_str_eq(pf.entries[2].site, "last");
    um_pf_free(&pf);
    pf = parse_ok(UM_PF_HEADER); // header only, no newline
    ck_assert_uint_eq(pf.n, 0);
    um_pf_free(&pf);
}
END_TEST

START_TEST(test_policy_file_entries_round_trip) {
    um_pf_entry_t in[4];
    memset(in, 0, sizeof in);
    strcpy(in[0].site, "app+0x10");
    in[0].set = UM_PF_PLACEMENT | UM_PF_ADVISE | UM_PF_PREFETCH;
    in[0].placement = UM_PLACE_MANAGED;
    in[0].advise = UM_ADV_READ_MOSTLY | UM_ADV_PREFER_DEVICE;
    in[0].prefetch = UM_PF_ON_LAUNCH;
    strcpy(in[0].comment, "input: 3 launches # not a second comment");
    strcpy(in[1].site, "sp ace=eq#hash\\back\x01\xff");
    in[1].set = UM_PF_COPY_H2D | UM_PF_COPY_D2H | UM_PF_HOST_PREFETCH;
    in[1].copy_h2d = UM_COPY_STAGED;
    in[1].copy_d2h = UM_COPY_HOST;
    in[1].host_prefetch_before_read = 1;
    strcpy(in[2].site, "x");
    in[2].set = UM_PF_COPY_H2D | UM_PF_COPY_D2H;
    in[2].copy_h2d = in[2].copy_d2h = UM_COPY_DRIVER;
    strcpy(in[3].site, "y");
    in[3].set = UM_PF_ADVISE;
    in[3].advise = 0;
    strcpy(in[3].comment, "trailing spaces are trimmed   ");
    char line[UM_PF_LINE_MAX + 2];
    ck_assert_int_gt(um_pf_format_entry(&in[2], line, sizeof line), 0);
    ck_assert_str_eq(line, "site x copy=driver\n");
    ck_assert_int_gt(um_pf_format_entry(&in[1], line, sizeof line), 0);
    ck_assert_str_eq(line, "site sp\\x20ace\\x3deq\\x23hash\\\\back\\x01\\xff copy_h2d=staged "
                           "copy_d2h=host host_prefetch=on\n");

    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(um_pf_write(f, in, 4), 0);
    long size = ftell(f);
    rewind(f);
    char *text = calloc(1, (size_t)size + 1);
    ck_assert_uint_eq(fread(text, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    um_pf_t pf = parse_ok(text);
    ck_assert_uint_eq(pf.n, 4);
    for (int i = 0; i < 4; i++) {
        const um_pf_entry_t *a = &in[i], *b = &pf.entries[i];
        ck_assert_str_eq(a->site, b->site);
        ck_assert_uint_eq(a->set, b->set);
        ck_assert_int_eq(a->placement, b->placement);
        ck_assert_uint_eq(a->advise, b->advise);
        ck_assert_int_eq(a->prefetch, b->prefetch);
        ck_assert_int_eq(a->copy_h2d, b->copy_h2d);
        ck_assert_int_eq(a->copy_d2h, b->copy_d2h);
        ck_assert_int_eq(a->host_prefetch_before_read, b->host_prefetch_before_read);
    }
    ck_assert_str_eq(pf.entries[0].comment, "input: 3 launches # not a second comment");
    ck_assert_str_eq(pf.entries[3].comment, "trailing spaces are trimmed");
    um_pf_free(&pf);
    free(text);
}
END_TEST

START_TEST(test_policy_file_read_from_disk) {
    char path[512];
    const char *dir = getenv("TEST_TMPDIR");
    snprintf(path, sizeof path, "%s/umpfXXXXXX", dir != NULL && dir[0] ? dir : "/tmp");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    const char *text = HDR "site a placement=device\n";
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    um_pf_t pf;
    char err[256];
    ck_assert_int_eq(um_pf_read(path, &pf, err, sizeof err), 0);
    ck_assert_uint_eq(pf.n, 1);
    um_pf_free(&pf);
    unlink(path);
}
END_TEST

START_TEST(test_policy_file_value_names) {
    char buf[128];
    ck_assert_str_eq(um_pf_advise_text(0, buf, sizeof buf), "none");
    ck_assert_str_eq(um_pf_advise_text(UM_ADV_PREFER_DEVICE | UM_ADV_READ_MOSTLY, buf, sizeof buf),
                     "read_mostly,prefer_device");
    ck_assert_str_eq(um_pf_advise_text(UM_ADV_READ_MOSTLY, buf, 5), "");
    buf[0] = 'x';
    um_pf_advise_text(0, buf, 0); // no room at all: untouched
    ck_assert_int_eq(buf[0], 'x');
    ck_assert_str_eq(um_pf_advise_text(UM_ADV_READ_MOSTLY | UM_ADV_PREFER_HOST, buf, 20),
                     "read_mostly");
    ck_assert_str_eq(um_pf_placement_name(UM_PLACE_MANAGED), "managed");
    ck_assert_str_eq(um_pf_prefetch_name(UM_PF_ON_LAUNCH), "launch");
    ck_assert_str_eq(um_pf_copy_name(UM_COPY_STAGED), "staged");
    ck_assert_str_eq(um_pf_copy_name((um_copy_t)7), "?");
}
END_TEST

// --- limits ---

START_TEST(test_policy_file_longest_site_and_line) {
    char text[UM_PF_LINE_MAX + 200];
    // A site of UM_SITE_MAX - 1 bytes is fine; one more is not.
    int k = snprintf(text, sizeof text, HDR "site ");
    memset(text + k, 's', UM_SITE_MAX - 1);
    strcpy(text + k + UM_SITE_MAX - 1, " placement=device\n");
    um_pf_t pf = parse_ok(text);
    ck_assert_uint_eq(strlen(pf.entries[0].site), UM_SITE_MAX - 1);
    um_pf_free(&pf);
    memset(text + k, 's', UM_SITE_MAX);
    strcpy(text + k + UM_SITE_MAX, " placement=device\n");
    expect_error(text, "p.txt:2: call site longer than 127 bytes");
    // A line of exactly UM_PF_LINE_MAX bytes (padded by its comment) is fine.
    k = snprintf(text, sizeof text, HDR);
    int body = snprintf(text + k, sizeof text - (size_t)k, "site a placement=device #");
    memset(text + k + body, 'c', (size_t)(UM_PF_LINE_MAX - body));
    strcpy(text + k + UM_PF_LINE_MAX, "\n");
    pf = parse_ok(text);
    ck_assert_uint_eq(strlen(pf.entries[0].comment), sizeof pf.entries[0].comment - 1);
    um_pf_free(&pf);
    text[k + UM_PF_LINE_MAX] = 'c';
    strcpy(text + k + UM_PF_LINE_MAX + 1, "\n");
    expect_error(text, "p.txt:2: line longer than 4096 bytes");
}
END_TEST

// Found by the fuzzer: a long comment cut at 159 bytes right before spaces kept them, and
// the writer (which trims) then wrote a different comment.
START_TEST(test_policy_file_long_comment_cut_is_trimmed) {
    char text[512];
    int k = snprintf(text, sizeof text, HDR "site a placement=device # ");
    memset(text + k, 'c', 157);
    strcpy(text + k + 157, "      tail\n");
    um_pf_t pf = parse_ok(text);
    ck_assert_uint_eq(strlen(pf.entries[0].comment), 157);
    char line[UM_PF_LINE_MAX + 2];
    ck_assert_int_gt(um_pf_format_entry(&pf.entries[0], line, sizeof line), 0);
    ck_assert_str_eq(line + strlen(line) - 4, "ccc\n");
    um_pf_free(&pf);
}
END_TEST

START_TEST(test_policy_file_many_sites) {
    size_t cap = 20000 * 48;
    char *text = malloc(cap);
    size_t k = (size_t)snprintf(text, cap, HDR);
    for (int i = 0; i < 20000; i++) {
        k += (size_t)snprintf(text + k, cap - k, "site lib.so+0x%x placement=device\n", i);
    }
    um_pf_t pf = parse_ok(text);
    ck_assert_uint_eq(pf.n, 20000);
    ck_assert_ptr_nonnull(um_pf_find(&pf, "lib.so+0x4e1f"));
    um_pf_free(&pf);
    // The duplicate is found however far apart the two lines are.
    k += (size_t)snprintf(text + k, cap - k, "site lib.so+0x3 placement=managed\n");
    expect_error(text, "p.txt:20002: site lib.so+0x3 already set at line 5");
    free(text);
}
END_TEST

// Files bigger than the first read buffer, and bigger than UM_PF_FILE_MAX, from disk.
START_TEST(test_policy_file_read_large_files) {
    char path[512];
    const char *dir = getenv("TEST_TMPDIR");
    snprintf(path, sizeof path, "%s/umpfbigXXXXXX", dir != NULL && dir[0] ? dir : "/tmp");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, HDR);
    for (int i = 0; i < 3000; i++) {
        fprintf(f, "site lib.so+0x%x placement=device  # number %d\n", i, i);
    }
    fflush(f);
    um_pf_t pf;
    char err[600];
    ck_assert_msg(um_pf_read(path, &pf, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(pf.n, 3000);
    um_pf_free(&pf);
    // Pad with comment lines past the size limit.
    static char pad[1 << 16];
    memset(pad, '#', sizeof pad - 1);
    pad[0] = '\n';
    for (size_t total = 0; total <= UM_PF_FILE_MAX; total += sizeof pad - 1) {
        fputs(pad, f);
    }
    fclose(f);
    ck_assert_int_eq(um_pf_read(path, &pf, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, ":0: file larger than 16777216 bytes"));
    unlink(path);
}
END_TEST

START_TEST(test_policy_file_format_limits) {
    um_pf_entry_t e;
    memset(&e, 0, sizeof e);
    memset(e.site, '\x01', sizeof e.site - 1); // every byte escaped: 4x
    e.set = UM_PF_PLACEMENT;
    memset(e.comment, 'c', sizeof e.comment - 1);
    char line[UM_PF_LINE_MAX + 2];
    int n = um_pf_format_entry(&e, line, sizeof line);
    ck_assert_int_gt(n, 4 * (UM_SITE_MAX - 1));
    ck_assert_int_eq(um_pf_format_entry(&e, line, (size_t)n + 1), n);
    ck_assert_int_eq(um_pf_format_entry(&e, line, (size_t)n), -1);
    ck_assert_str_eq(line, "");
    um_pf_t pf = {NULL, 0};
    char text[UM_PF_LINE_MAX + 64];
    snprintf(text, sizeof text, HDR "%s", (um_pf_format_entry(&e, line, sizeof line), line));
    pf = parse_ok(text);
    ck_assert_str_eq(pf.entries[0].site, e.site);
    um_pf_free(&pf);
}
END_TEST

// --- errors ---

START_TEST(test_policy_file_header_errors) {
    expect_error("", "p.txt:1: empty file: the first line must be '# umshim policy v1'");
    expect_error("site a placement=device\n",
                 "p.txt:1: the first line must be '# umshim policy v1', got 'site a "
                 "placement=device'");
    expect_error("# umshim policy v1 \n",
                 "p.txt:1: the first line must be '# umshim policy v1', got '# umshim policy v1 '");
    expect_error("# umshim policy v2\n",
                 "p.txt:1: the first line must be '# umshim policy v1', got '# umshim policy v2'");
    expect_error("# umshim policy v1\r\n",
                 "p.txt:1: carriage return in the line (save the file with \\n line ends)");
}
END_TEST

START_TEST(test_policy_file_structure_errors) {
    expect_error(HDR "place a placement=device\n", "p.txt:2: expected 'site', got 'place'");
    expect_error(HDR "site\n", "p.txt:2: 'site' needs a call site and settings");
    expect_error(HDR "site   # comment\n", "p.txt:2: 'site' needs a call site and settings");
    expect_error(HDR "site a\n", "p.txt:2: site a: no settings (give at least one key=value)");
    expect_error(HDR "site placement=device\n",
                 "p.txt:2: missing call site before 'placement=device' (write 'site "
                 "MODULE+0xOFFSET key=value ...'; a '=' in a site is written \\x3d)");
    expect_error(HDR "site a placement=device# c\n",
                 "p.txt:2: '#' inside 'placement=device#': put a space before a comment (or "
                 "write \\x23)");
    expect_error(HDR "site a#b placement=device\n",
                 "p.txt:2: '#' inside 'a#b': put a space before a comment (or write \\x23)");
    expect_error(HDR "site a placement\n", "p.txt:2: expected key=value, got 'placement'");
    expect_error(HDR "site a =device\n", "p.txt:2: expected key=value, got '=device'");
    expect_error(HDR "site a colour=red\n",
                 "p.txt:2: unknown key 'colour' (accepted: placement, advise, prefetch, copy, "
                 "copy_h2d, copy_d2h, host_prefetch)");
    expect_error(HDR "site a placement=device placement=managed\n",
                 "p.txt:2: 'placement' sets a key again (copy sets both copy_h2d and copy_d2h)");
    expect_error(HDR "site a copy=driver copy_d2h=host\n",
                 "p.txt:2: 'copy_d2h' sets copy_d2h again (copy sets both copy_h2d and copy_d2h)");
    expect_error(HDR "site a copy_h2d=driver copy=host\n",
                 "p.txt:2: 'copy' sets copy_h2d again (copy sets both copy_h2d and copy_d2h)");
    expect_error(HDR "site a placement=device\nsite a placement=managed\n",
                 "p.txt:3: site a already set at line 2");
    const char nul[] = HDR "site a\0 placement=device\n";
    um_pf_t pf;
    char err[256];
    ck_assert_int_eq(um_pf_parse(nul, sizeof nul - 1, "p.txt", &pf, err, sizeof err), -1);
    ck_assert_str_eq(err, "p.txt:2: NUL byte in the line (not a text file?)");
    expect_error(HDR "site a placement=device\r\n",
                 "p.txt:2: carriage return in the line (save the file with \\n line ends)");
}
END_TEST

START_TEST(test_policy_file_value_errors) {
    expect_error(HDR "site a placement=gpu\n", "p.txt:2: placement: 'gpu' is not device|managed");
    expect_error(HDR "site a placement=\n", "p.txt:2: placement: '' is not device|managed");
    expect_error(HDR "site a prefetch=always\n", "p.txt:2: prefetch: 'always' is not none|launch");
    expect_error(HDR "site a copy=fast\n", "p.txt:2: copy: 'fast' is not driver|host|staged");
    expect_error(HDR "site a copy_h2d=Driver\n",
                 "p.txt:2: copy_h2d: 'Driver' is not driver|host|staged");
    expect_error(HDR "site a copy_d2h=\n", "p.txt:2: copy_d2h: '' is not driver|host|staged");
    expect_error(HDR "site a host_prefetch=yes\n", "p.txt:2: host_prefetch: 'yes' is not on|off");
    expect_error(HDR "site a advise=readmostly\n",
                 "p.txt:2: advise: unknown hint 'readmostly' (accepted: none, read_mostly, "
                 "prefer_device, prefer_host, accessed_by_device, accessed_by_host)");
    expect_error(HDR "site a advise=\n",
                 "p.txt:2: advise: unknown hint '' (accepted: none, read_mostly, prefer_device, "
                 "prefer_host, accessed_by_device, accessed_by_host)");
    expect_error(HDR "site a advise=read_mostly,\n",
                 "p.txt:2: advise: unknown hint '' (accepted: none, read_mostly, prefer_device, "
                 "prefer_host, accessed_by_device, accessed_by_host)");
    expect_error(HDR "site a advise=read_mostly,none\n",
                 "p.txt:2: advise: 'none' cannot be combined with other hints");
    expect_error(HDR "site a advise=read_mostly,read_mostly\n",
                 "p.txt:2: advise: 'read_mostly' given twice");
    expect_error(HDR "site a\\q placement=device\n",
                 "p.txt:2: call site: bad escape (only \\\\ and \\xHH are allowed)");
    expect_error(HDR "site a\\x00 placement=device\n", "p.txt:2: call site: \\x00 is not allowed");
    expect_error(HDR "site caf\xc3\xa9 placement=device\n",
                 "p.txt:2: call site: byte 0xc3 must be escaped as \\xHH");
}
END_TEST

START_TEST(test_policy_file_consistency_errors) {
    expect_error(HDR "site a advise=prefer_device,prefer_host\n",
                 "p.txt:2: site a: prefer_device and prefer_host exclude each other");
    expect_error(HDR "site a placement=device advise=read_mostly\n",
                 "p.txt:2: site a: advise needs placement=managed (hints apply to managed "
                 "memory only)");
    expect_error(HDR "site a placement=device prefetch=launch\n",
                 "p.txt:2: site a: prefetch=launch needs placement=managed");
    expect_error(HDR "site a placement=device copy_d2h=host\n",
                 "p.txt:2: site a: host copies need placement=managed (the host cannot address "
                 "device memory)");
    expect_error(HDR "site a placement=device host_prefetch=on\n",
                 "p.txt:2: site a: host_prefetch=on needs placement=managed");
    // The same settings with placement left to the built-in rule, or their "off" values
    // with placement=device, are fine.
    um_pf_t pf = parse_ok(HDR "site a advise=read_mostly prefetch=launch copy=host\n"
                              "site b placement=device advise=none prefetch=none copy=staged "
                              "host_prefetch=off\n");
    um_pf_free(&pf);
}
END_TEST

START_TEST(test_policy_file_io_and_argument_errors) {
    um_pf_t pf;
    char err[256];
    ck_assert_int_eq(um_pf_read("/nonexistent/p.txt", &pf, err, sizeof err), -1);
    ck_assert_str_eq(err, "/nonexistent/p.txt: cannot open: No such file or directory");
    ck_assert_int_eq(um_pf_read("/", &pf, err, sizeof err), -1); // a directory: read error
    ck_assert_ptr_nonnull(strstr(err, "/: "));
    ck_assert_int_eq(um_pf_parse(NULL, 0, "p", &pf, err, sizeof err), -1);
    ck_assert_int_eq(um_pf_parse("x", 1, "p", NULL, err, sizeof err), -1);
    ck_assert_int_eq(um_pf_parse("x", (size_t)UM_PF_FILE_MAX + 1, "p", &pf, err, sizeof err), -1);
    ck_assert_str_eq(err, "p:0: file larger than 16777216 bytes");
    ck_assert_int_eq(um_pf_parse("", 0, NULL, &pf, NULL, 0), -1); // no name, no message buffer
    char tiny[6];
    ck_assert_int_eq(um_pf_parse("", 0, "p.txt", &pf, tiny, sizeof tiny), -1);
    ck_assert_str_eq(tiny, "p.txt");
    ck_assert_ptr_null(um_pf_find(NULL, "a"));
    um_pf_free(NULL);
    // The writer refuses entries that would not parse back.
    um_pf_entry_t e;
    memset(&e, 0, sizeof e);
    char line[256];
    ck_assert_int_eq(um_pf_format_entry(&e, line, sizeof line), -1); // no site
    strcpy(e.site, "a");
    ck_assert_int_eq(um_pf_format_entry(&e, line, sizeof line), -1); // no settings
    e.set = UM_PF_ADVISE;
    e.advise = UM_ADV_PREFER_DEVICE | UM_ADV_PREFER_HOST;
    ck_assert_int_eq(um_pf_format_entry(&e, line, sizeof line), -1);
    e.advise = 1u << 9;
    ck_assert_int_eq(um_pf_format_entry(&e, line, sizeof line), -1);
    e.advise = 0;
    e.set = UM_PF_PLACEMENT;
    e.placement = (um_placement_t)5;
    ck_assert_int_eq(um_pf_format_entry(&e, line, sizeof line), -1);
    e.placement = UM_PLACE_DEVICE;
    ck_assert_int_eq(um_pf_format_entry(&e, NULL, 0), -1);
    ck_assert_int_eq(um_pf_format_entry(NULL, line, sizeof line), -1);
    memset(e.site, 'x', sizeof e.site); // not NUL-terminated
    ck_assert_int_eq(um_pf_format_entry(&e, line, sizeof line), -1);
    FILE *f = tmpfile();
    ck_assert_int_eq(um_pf_write(f, &e, 1), -1);
    fclose(f);
}
END_TEST

Suite *policy_file_suite(void) {
    Suite *s = suite_create("policy_file");
    TCase *core = tcase_create("core");
    tcase_add_test(core, test_policy_file_parses_documented_example);
    tcase_add_test(core, test_policy_file_every_setting);
    tcase_add_test(core, test_policy_file_whitespace_comments_and_escapes);
    tcase_add_test(core, test_policy_file_entries_round_trip);
    tcase_add_test(core, test_policy_file_read_from_disk);
    tcase_add_test(core, test_policy_file_value_names);
    suite_add_tcase(s, core);
    TCase *limits = tcase_create("limits");
    tcase_set_timeout(limits, 60);
    tcase_add_test(limits, test_policy_file_longest_site_and_line);
    tcase_add_test(limits, test_policy_file_long_comment_cut_is_trimmed);
    tcase_add_test(limits, test_policy_file_many_sites);
    tcase_add_test(limits, test_policy_file_read_large_files);
    tcase_add_test(limits, test_policy_file_format_limits);
    suite_add_tcase(s, limits);
    TCase *errors = tcase_create("errors");
    tcase_add_test(errors, test_policy_file_header_errors);
    tcase_add_test(errors, test_policy_file_structure_errors);
    tcase_add_test(errors, test_policy_file_value_errors);
    tcase_add_test(errors, test_policy_file_consistency_errors);
    tcase_add_test(errors, test_policy_file_io_and_argument_errors);
    suite_add_tcase(s, errors);
    return s;
}

UM_CHECK_MAIN(policy_file_suite)
