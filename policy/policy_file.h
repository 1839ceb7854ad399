// The policy file: per-call-site decisions a person can read, edit and diff. A profiling run
// writes one (UMSHIM_POLICY_OUT, um_pol_save); `auto` reads one (UMSHIM_POLICY, um_pol_load)
// and lets it override its built-in rules site by site. This file parses and writes the
// format; policy.c applies it.
//
// ---------------------------------------------------------------------------------------
// FORMAT (v1)
//
//     # umshim policy v1
//     # comment lines and blank lines are ignored
//     site app+0x1a2b placement=managed advise=read_mostly,prefer_device prefetch=launch  # input
//     site app+0x1c00 placement=device  # exported through IPC
//     site libfoo.so+0x88 copy_h2d=staged
//
// Line 1 is exactly the header. Every other line is blank, a comment (first non-blank
// character '#'), or a site line: the word `site`, the call site, then one or more
// key=value settings, then optionally `# comment` (kept as the decision's reason). Tokens
// are separated by spaces or tabs. The call site is the opaque string the shim computes
// ("module+0xoffset"), escaped like trace strings (trace_format.h: \xHH for a space,
// control or non-ASCII byte, \\ for a backslash; a raw '=' or '#' must be written \x3d /
// \x23 here). Each site appears once; each key at most once per line.
//
//     key            values                                   default (key absent)
//     placement      device | managed                         built-in rule (threshold)
//     advise         none | a ','-list of read_mostly,        built-in rule
//                    prefer_device, prefer_host,
//                    accessed_by_device, accessed_by_host
//     prefetch       none | launch                            built-in rule
//     copy           driver | host | staged (sets both)       built-in rule
//     copy_h2d       driver | host | staged
//     copy_d2h       driver | host | staged
//     host_prefetch  on | off (prefetch to host before reads) built-in rule
//
// A key that is absent keeps what the built-in rules decide for that allocation. advise,
// prefetch, host copies and host_prefetch act only on managed memory, so combining them
// with placement=device is an error, as are prefer_device with prefer_host, `none` inside a
// list, and a repeated advice. In modes managed and prefetch only placement=device is
// applied (a site that must stay on device memory, e.g. for IPC); passthrough ignores the
// file.
//
// Errors are reported as "FILE:LINE: problem" (the first one only); the caller then keeps
// its built-in policy, so a typo never changes behaviour silently.
// ---------------------------------------------------------------------------------------
#ifndef UMSHIM_POLICY_POLICY_FILE_H
#define UMSHIM_POLICY_POLICY_FILE_H

#include <stddef.h>
#include <stdio.h>

#include "policy/event.h"
#include "policy/policy.h"

#define UM_PF_HEADER "# umshim policy v1"
#define UM_PF_LINE_MAX 4096        // longest accepted line, without '\n'
#define UM_PF_FILE_MAX (16u << 20) // largest accepted file

// Which settings a site line gives (um_pf_entry_t.set).
enum {
    UM_PF_PLACEMENT = 1u << 0,
    UM_PF_ADVISE = 1u << 1,
    UM_PF_PREFETCH = 1u << 2,
    UM_PF_COPY_H2D = 1u << 3,
    UM_PF_COPY_D2H = 1u << 4,
    UM_PF_HOST_PREFETCH = 1u << 5,
};

typedef struct {
    char site[UM_SITE_MAX];
    unsigned set; // UM_PF_* bits
    um_placement_t placement;
    unsigned advise; // UM_ADV_* bits
    um_prefetch_t prefetch;
    um_copy_t copy_h2d, copy_d2h;
    int host_prefetch_before_read;
    unsigned line;     // where it came from (0 when built in memory)
    char comment[160]; // text after '#', trimmed; "" when none
} um_pf_entry_t;

typedef struct {
    um_pf_entry_t *entries; // file order
    size_t n;
} um_pf_t;

// Parses a whole file held in text[0..len) (need not be NUL-terminated); `name` prefixes
// messages. Returns 0 with *out filled (release with um_pf_free), or -1 with
// "NAME:LINE: problem" in err and *out empty.
int um_pf_parse(const char *text, size_t len, const char *name, um_pf_t *out, char *err,
                size_t errlen);

// Reads and parses the file at `path` ("PATH: cannot open: ..." when unreadable).
int um_pf_read(const char *path, um_pf_t *out, char *err, size_t errlen);

void um_pf_free(um_pf_t *pf);

// The entry for `site`, or NULL.
const um_pf_entry_t *um_pf_find(const um_pf_t *pf, const char *site);

// Formats one entry as a site line with '\n' into buf[0..n). Returns the length, or -1 when
// it does not fit or the entry is invalid (it would not parse back).
int um_pf_format_entry(const um_pf_entry_t *e, char *buf, size_t n);

// Writes the header and the entries. Returns 0 or -1 (errno from stdio).
int um_pf_write(FILE *f, const um_pf_entry_t *entries, size_t n);

// Names used in the file: "read_mostly,prefer_device" / "none"; "launch"; "staged".
// um_pf_advise_text returns buf.
const char *um_pf_advise_text(unsigned advise, char *buf, size_t n);
const char *um_pf_placement_name(um_placement_t p);
const char *um_pf_prefetch_name(um_prefetch_t p);
const char *um_pf_copy_name(um_copy_t c);

#endif
