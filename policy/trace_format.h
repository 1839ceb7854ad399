// The umshim trace format, version 1: one um_event_t per line of text. The shim writes it
// (UMSHIM_TRACE), `umshim report`/`profile` and the policy replay read it. Both directions
// go through this file only, so the format has exactly one definition.
//
// ---------------------------------------------------------------------------------------
// FORMAT (v1)
//
// A trace is a text file. Its first line is the header
//
//     # umshim trace v1
//
// Every other line is blank, a comment (first character '#'), or one event:
//
//     <kind> t=<ns> tid=<tid> dev=<d> [key=value ...]
//
// e.g.
//
//     alloc t=1200345 tid=4242 dev=0 id=7 ptr=0x7f3a00000000 bytes=268435456 mem=managed req=device name=cuMemAlloc_v2 site=app+0x1a2b
//     copy t=1300001 dur=5100000 tid=4242 dev=0 id=7 ptr=0x7f3a00000000 bytes=268435456 dir=h2d name=cuMemcpyHtoD_v2 site=app+0x1b00
//     launch t=1400000 tid=4242 dev=0 stream=0x55d0c0a8e2f0 async=1 name=cosine\x20v2 refs=7,8,9 site=app+0x1c40
//
// Tokens are separated by exactly one space; a line ends at '\n' (no '\r'). <kind> is
// um_ev_kind_name(): alloc free copy memset launch sync prefetch advise host_access
// fallback graph. t, tid and dev are always present; every other key is written only when
// its value is not zero/empty and is zero/empty when absent, so a missing key and "=0" mean
// the same thing. Keys appear in this order (the parser accepts any order, each key once):
//
//     key     um_event_t field  value
//     t       t_ns              decimal u64, CLOCK_MONOTONIC ns
//     dur     dur_ns            decimal u64, ns spent in the call
//     tid     tid               decimal u32
//     dev     device            decimal int (-1 = host / unknown)
//     stream  stream            0x-hex u64 (CUstream handle; 0 = legacy default stream)
//     async   async             0 or 1
//     res     result            decimal int (CUresult returned to the program)
//     id      alloc_id          decimal u64 (the allocation, or the copy's destination)
//     ptr     ptr               0x-hex u64
//     bytes   bytes             decimal u64
//     mem     mem               um_mem_kind_name(): unknown device managed host pool vmm pitch
//     req     req_mem           same names (what the program asked for)
//     dir     dir               um_dir_name(): none h2d d2h d2d h2h peer
//     src     src_id            decimal u64 (a copy's source allocation)
//     hash    hash              0x + exactly 16 hex digits (FNV-1a 64)
//     advice  advice            decimal int (CUmem_advise)
//     content content           decimal int (um_content_t, d2h copies; added to v1: absent
//                               in older traces, which read as 0 = not compared)
//     name    name              string, < UM_NAME_MAX bytes (kernel / API name / reason)
//     refs    nrefs, refs[]     decimal u64 ids separated by ',' (1..UM_LAUNCH_MAX_REFS)
//     site    site              string, < UM_SITE_MAX bytes ("module+0xoffset", opaque)
//
// Hex values accept 1..16 digits in either case; the writer uses lower case. Decimal
// values are plain digits (a leading '-' only for dev/res/advice), no '+', no spaces.
// Strings are escaped so that any byte string survives: a byte outside '!'..'~' (space,
// control, non-ASCII) is written \xHH (two hex digits) and a backslash as \\; '=' and ','
// need no escape (a value runs from the first '=' of its token to the next space). An
// embedded NUL cannot be represented (C strings). Greppable as is: `grep '^copy .*dir=d2h'`,
// `grep 'site=app+0x1a2b'`, `awk '/^launch/'`.
//
// The parser is strict: an unknown kind or key, a repeated key, a malformed number, an
// out-of-range value, an unknown escape, a raw control or non-ASCII byte, a string that is
// too long, more than UM_LAUNCH_MAX_REFS refs, or a missing t/tid/dev is an error with a
// message naming the column and the problem. A new field means a new version number.
// ---------------------------------------------------------------------------------------
#ifndef UMSHIM_POLICY_TRACE_FORMAT_H
#define UMSHIM_POLICY_TRACE_FORMAT_H

#include <stddef.h>

#include "policy/event.h"

// The first line of every trace, with its newline.
#define UM_TRACE_HEADER "# umshim trace v1\n"

// A buffer of this many bytes always holds one formatted event (the longest possible line,
// every field at its widest and every string byte escaped, is under 2,300 bytes).
#define UM_TRACE_LINE_MAX 2560

// Formats `ev` as one line ending in '\n', NUL-terminated, into buf[0..n). Returns the
// line's length (without the NUL), or -1 when n is too small or the event cannot be
// written (kind/mem/dir out of range, nrefs > UM_LAUNCH_MAX_REFS, a string not
// NUL-terminated within its array); on -1, buf is "" when n > 0. No allocation, no locks,
// no locale, no stdio: safe in the shim's hot path and async-signal-safe.
int um_trace_format_line(const um_event_t *ev, char *buf, size_t n);

// Parses one line (with or without its trailing '\n') into *ev, which is zeroed first.
// Returns 0 for an event, 1 for a blank line or a comment (including the header), -1 for
// a malformed line with a one-line message ("column 12: unknown key 'foo'") in err
// (when errlen > 0). The caller adds "FILE:LINE: ".
int um_trace_parse_line(const char *line, um_event_t *ev, char *err, size_t errlen);

// Whether `line` (with or without '\n') is the v1 header. 1 or 0.
int um_trace_is_header(const char *line);

// The string escaping above, shared with the policy file (policy_file.h). um_trace_escape
// writes s escaped into buf[0..n), NUL-terminated, and returns the length, or -1 (buf "")
// when it does not fit. um_trace_unescape decodes s[0..len) into dst[0..size); returns 0,
// or -1 with a static message in *why ("bad escape ...", "too long", ...) and the offset of
// the offending byte in *at.
int um_trace_escape(const char *s, char *buf, size_t n);
int um_trace_unescape(const char *s, size_t len, char *dst, size_t size, const char **why,
                      size_t *at);

#endif
