// Trace lines, both directions (the format itself is documented in trace_format.h). One
// field table drives the writer and the parser, so the two cannot drift apart. The writer
// is called by the shim on every intercepted call, so it formats numbers by hand into the
// caller's buffer: no snprintf (locale, possible malloc), no stdio, no allocation.
#include "policy/trace_format.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

// --- field table ---

typedef enum {
    F_U64,  // decimal u64
    F_U32,  // decimal u32
    F_INT,  // decimal int, may be negative
    F_BOOL, // 0 or 1, stored in an int
    F_HEX,  // 0x-hex u64
    F_HASH, // 0x + 16 hex digits
    F_MEM,  // um_mem_kind_t by name
    F_DIR,  // um_dir_t by name
    F_STR,  // escaped string in a char array
    F_REFS, // comma-separated ids -> refs[], nrefs
} field_type_t;

// key, type, um_event_t member. Order = the order the writer uses.
#define UM_TRACE_FIELDS(X)                                                                         \
    X("t", F_U64, t_ns)                                                                            \
    X("dur", F_U64, dur_ns)                                                                        \
    X("tid", F_U32, tid)                                                                           \
    X("dev", F_INT, device)                                                                        \
    X("stream", F_HEX, stream)                                                                     \
    X("async", F_BOOL, async)                                                                      \
    X("res", F_INT, result)                                                                        \
    X("id", F_U64, alloc_id)                                                                       \
    X("ptr", F_HEX, ptr)                                                                           \
    X("bytes", F_U64, bytes)                                                                       \
    X("mem", F_MEM, mem)                                                                           \
    X("req", F_MEM, req_mem)                                                                       \
    X("dir", F_DIR, dir)                                                                           \
    X("src", F_U64, src_id)                                                                        \
    X("hash", F_HASH, hash)                                                                        \
    X("advice", F_INT, advice)                                                                     \
    X("content", F_INT, content)                                                                   \
    X("name", F_STR, name)                                                                         \
    X("refs", F_REFS, refs)                                                                        \
    X("site", F_STR, site)

typedef struct {
    const char *key;
    field_type_t type;
    size_t offset;
    size_t size;
} field_t;

#define UM_FIELD_ROW(key, type, member)                                                            \
    {key, type, offsetof(um_event_t, member), sizeof(((um_event_t *)0)->member)},
static const field_t fields[] = {UM_TRACE_FIELDS(UM_FIELD_ROW)};
#undef UM_FIELD_ROW

enum { NFIELDS = sizeof fields / sizeof fields[0] };
_Static_assert(NFIELDS <= 32, "the seen-set below is a 32-bit mask");

// Fields every event line carries (t, tid, dev): indexes 0, 2, 3 of the table.
static const unsigned required_mask = (1u << 0) | (1u << 2) | (1u << 3);

static const char hexdigits[] = "0123456789abcdef";

// --- writer ---

typedef struct {
    char *p;
    char *end; // one past the last byte usable for text (the NUL goes at most here)
    int ok;
} out_t;

static void put_bytes(out_t *o, const char *s, size_t len) {
    if (!o->ok || (size_t)(o->end - o->p) < len) {
        o->ok = 0;
        return;
    }
    memcpy(o->p, s, len);
    o->p += len;
}

static void put_str(out_t *o, const char *s) {
    put_bytes(o, s, strlen(s));
}

static void put_u64(out_t *o, uint64_t v) {
    char tmp[20];
    int i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    put_bytes(o, tmp + i, sizeof tmp - (size_t)i);
}

static void put_int(out_t *o, int v) {
    if (v < 0) {
        put_bytes(o, "-", 1);
        // Through int64 so INT_MIN negates without overflow.
        put_u64(o, (uint64_t)(-(int64_t)v));
    } else {
        put_u64(o, (uint64_t)v);
    }
}

static void put_hex(out_t *o, uint64_t v, int min_digits) {
    char tmp[18];
    int i = sizeof tmp;
    int nd = 0;
    do {
        tmp[--i] = hexdigits[v & 0xf];
        v >>= 4;
        nd++;
    } while (v != 0 || nd < min_digits);
    tmp[--i] = 'x';
    tmp[--i] = '0';
    put_bytes(o, tmp + i, sizeof tmp - (size_t)i);
}

static void put_escaped(out_t *o, const char *s, size_t len) {
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\\') {
            put_bytes(o, "\\\\", 2);
        } else if (c >= '!' && c <= '~') {
            put_bytes(o, (const char *)&c, 1);
        } else {
            char esc[4] = {'\\', 'x', hexdigits[c >> 4], hexdigits[c & 0xf]};
            put_bytes(o, esc, 4);
        }
    }
}

// Writes " key=value" for field f unless its value is zero/empty and the field is
// optional. Returns -1 for a value that cannot be written.
static int put_field(out_t *o, const field_t *f, const um_event_t *ev, int always) {
    const char *base = (const char *)ev + f->offset;
    uint64_t u = 0;
    int iv = 0;
    switch (f->type) {
    case F_U64:
    case F_HEX:
    case F_HASH:
        memcpy(&u, base, sizeof u);
        if (u == 0 && !always) {
            return 0;
        }
        break;
    case F_U32: {
        uint32_t u32;
        memcpy(&u32, base, sizeof u32);
        u = u32;
        if (u == 0 && !always) {
            return 0;
        }
        break;
    }
    case F_INT:
    case F_BOOL:
    case F_MEM:
    case F_DIR:
        memcpy(&iv, base, sizeof iv);
        if (iv == 0 && !always) {
            return 0;
        }
        break;
    case F_STR: {
        const char *nul = memchr(base, '\0', f->size);
        if (nul == NULL) {
            return -1;
        }
        if (nul == base) {
            return 0;
        }
        put_bytes(o, " ", 1);
        put_str(o, f->key);
        put_bytes(o, "=", 1);
        put_escaped(o, base, (size_t)(nul - base));
        return 0;
    }
    case F_REFS:
        if (ev->nrefs > UM_LAUNCH_MAX_REFS) {
            return -1;
        }
        if (ev->nrefs == 0) {
            return 0;
        }
        put_str(o, " refs=");
        for (uint32_t i = 0; i < ev->nrefs; i++) {
            if (i > 0) {
                put_bytes(o, ",", 1);
            }
            put_u64(o, ev->refs[i]);
        }
        return 0;
    }
    put_bytes(o, " ", 1);
    put_str(o, f->key);
    put_bytes(o, "=", 1);
    switch (f->type) {
    case F_U64:
    case F_U32:
        put_u64(o, u);
        break;
    case F_HEX:
        put_hex(o, u, 1);
        break;
    case F_HASH:
        put_hex(o, u, 16);
        break;
    case F_INT:
        put_int(o, iv);
        break;
    case F_BOOL:
        put_bytes(o, iv ? "1" : "0", 1);
        break;
    case F_MEM:
        if ((unsigned)iv >= UM_MEM_KIND_COUNT) {
            return -1;
        }
        put_str(o, um_mem_kind_name((um_mem_kind_t)iv));
        break;
    case F_DIR:
        if ((unsigned)iv >= UM_DIR_COUNT) {
            return -1;
        }
        put_str(o, um_dir_name((um_dir_t)iv));
        break;
    default:
        return -1;
    }
    return 0;
}

int um_trace_escape(const char *s, char *buf, size_t n) {
    if (buf == NULL || n == 0) {
        return -1;
    }
    out_t o = {buf, buf + n - 1, 1};
    put_escaped(&o, s, strlen(s));
    if (!o.ok) {
        buf[0] = '\0';
        return -1;
    }
    *o.p = '\0';
    return (int)(o.p - buf);
}

int um_trace_format_line(const um_event_t *ev, char *buf, size_t n) {
    if (buf == NULL || n == 0) {
        return -1;
    }
    buf[0] = '\0';
    if (ev == NULL || (unsigned)ev->kind >= UM_EV_KIND_COUNT) {
        return -1;
    }
    out_t o = {buf, buf + n - 1, 1};
    put_str(&o, um_ev_kind_name(ev->kind));
    for (int i = 0; i < NFIELDS; i++) {
        if (put_field(&o, &fields[i], ev, (required_mask >> i) & 1u) != 0) {
            buf[0] = '\0';
            return -1;
        }
    }
    put_bytes(&o, "\n", 1);
    if (!o.ok) {
        buf[0] = '\0';
        return -1;
    }
    *o.p = '\0';
    return (int)(o.p - buf);
}

// --- parser ---

static int fail(char *err, size_t errlen, size_t col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, size_t col, const char *fmt, ...) {
    if (err != NULL && errlen > 0) {
        int k = snprintf(err, errlen, "column %zu: ", col);
        if (k >= 0 && (size_t)k < errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(err + k, errlen - (size_t)k, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

// Plain decimal digits, no sign; 0 on success.
static int parse_dec(const char *s, size_t len, uint64_t max, uint64_t *out) {
    if (len == 0) {
        return -1;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (max - d) / 10) {
            return -1;
        }
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static int parse_int(const char *s, size_t len, int *out) {
    int neg = len > 0 && s[0] == '-';
    uint64_t mag;
    if (parse_dec(s + neg, len - (size_t)neg, neg ? 2147483648u : 2147483647u, &mag) != 0) {
        return -1;
    }
    *out = neg ? (int)(-(int64_t)mag) : (int)mag;
    return 0;
}

// "0x" then 1..16 hex digits (exactly 16 when exact16).
static int parse_hex(const char *s, size_t len, int exact16, uint64_t *out) {
    if (len < 3 || s[0] != '0' || s[1] != 'x' || len - 2 > 16 || (exact16 && len - 2 != 16)) {
        return -1;
    }
    uint64_t v = 0;
    for (size_t i = 2; i < len; i++) {
        int h = hexval(s[i]);
        if (h < 0) {
            return -1;
        }
        v = (v << 4) | (uint64_t)h;
    }
    *out = v;
    return 0;
}

int um_trace_unescape(const char *s, size_t len, char *dst, size_t size, const char **why,
                      size_t *at) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        *at = i;
        if (c == '\\') {
            if (i + 1 < len && s[i + 1] == '\\') {
                i += 1;
            } else if (i + 3 < len && s[i + 1] == 'x' && hexval(s[i + 2]) >= 0 &&
                       hexval(s[i + 3]) >= 0) {
                c = (unsigned char)(hexval(s[i + 2]) << 4 | hexval(s[i + 3]));
                if (c == 0) {
                    *why = "\\x00 is not allowed";
                    return -1;
                }
                i += 3;
            } else {
                *why = "bad escape (only \\\\ and \\xHH are allowed)";
                return -1;
            }
        } else if (c < '!' || c > '~') {
            *why = "a space, control or non-ASCII byte must be escaped as \\xHH";
            return -1;
        }
        if (n + 1 >= size) {
            *why = "too long";
            *at = 0;
            return -1;
        }
        dst[n++] = (char)c;
    }
    if (size == 0) {
        *why = "too long";
        *at = 0;
        return -1;
    }
    dst[n] = '\0';
    return 0;
}

// Unescapes a string field, with a message naming the field.
static int parse_str(const char *s, size_t len, char *dst, size_t size, size_t col, char *err,
                     size_t errlen, const char *key) {
    const char *why = "";
    size_t at = 0;
    if (um_trace_unescape(s, len, dst, size, &why, &at) != 0) {
        if (strcmp(why, "too long") == 0) {
            return fail(err, errlen, col, "%s: longer than %zu bytes", key, size - 1);
        }
        if (s[at] != '\\') {
            return fail(err, errlen, col + at, "%s: byte 0x%02x must be escaped as \\xHH", key,
                        (unsigned char)s[at]);
        }
        return fail(err, errlen, col + at, "%s: %s", key, why);
    }
    return 0;
}

static int parse_refs(const char *s, size_t len, um_event_t *ev, size_t col, char *err,
                      size_t errlen) {
    size_t i = 0;
    uint32_t n = 0;
    for (;;) {
        size_t j = i;
        while (j < len && s[j] != ',') {
            j++;
        }
        if (n == UM_LAUNCH_MAX_REFS) {
            return fail(err, errlen, col + i, "refs: more than %d ids", UM_LAUNCH_MAX_REFS);
        }
        if (parse_dec(s + i, j - i, UINT64_MAX, &ev->refs[n]) != 0) {
            return fail(err, errlen, col + i, "refs: expected a decimal id");
        }
        n++;
        if (j == len) {
            break;
        }
        i = j + 1;
    }
    ev->nrefs = n;
    return 0;
}

static int parse_value(const field_t *f, const char *v, size_t len, um_event_t *ev, size_t col,
                       char *err, size_t errlen) {
    char *base = (char *)ev + f->offset;
    uint64_t u;
    int iv;
    switch (f->type) {
    case F_U64:
        if (parse_dec(v, len, UINT64_MAX, &u) != 0) {
            return fail(err, errlen, col, "%s: expected a decimal number below 2^64", f->key);
        }
        memcpy(base, &u, sizeof u);
        return 0;
    case F_U32: {
        if (parse_dec(v, len, UINT32_MAX, &u) != 0) {
            return fail(err, errlen, col, "%s: expected a decimal number below 2^32", f->key);
        }
        uint32_t u32 = (uint32_t)u;
        memcpy(base, &u32, sizeof u32);
        return 0;
    }
    case F_INT:
        if (parse_int(v, len, &iv) != 0) {
            return fail(err, errlen, col, "%s: expected a decimal int", f->key);
        }
        memcpy(base, &iv, sizeof iv);
        return 0;
    case F_BOOL:
        if (len != 1 || (v[0] != '0' && v[0] != '1')) {
            return fail(err, errlen, col, "%s: expected 0 or 1", f->key);
        }
        iv = v[0] - '0';
        memcpy(base, &iv, sizeof iv);
        return 0;
    case F_HEX:
    case F_HASH:
        if (parse_hex(v, len, f->type == F_HASH, &u) != 0) {
            return fail(err, errlen, col,
                        f->type == F_HASH ? "%s: expected 0x and 16 hex digits"
                                          : "%s: expected 0x and 1 to 16 hex digits",
                        f->key);
        }
        memcpy(base, &u, sizeof u);
        return 0;
    case F_MEM: {
        um_mem_kind_t m;
        if (um_mem_kind_from_name(v, len, &m) != 0) {
            return fail(err, errlen, col,
                        "%s: expected unknown|device|managed|host|pool|vmm|pitch", f->key);
        }
        memcpy(base, &m, sizeof m);
        return 0;
    }
    case F_DIR: {
        um_dir_t d;
        if (um_dir_from_name(v, len, &d) != 0) {
            return fail(err, errlen, col, "%s: expected none|h2d|d2h|d2d|h2h|peer", f->key);
        }
        memcpy(base, &d, sizeof d);
        return 0;
    }
    case F_STR:
        return parse_str(v, len, base, f->size, col, err, errlen, f->key);
    case F_REFS:
        return parse_refs(v, len, ev, col, err, errlen);
    }
    return fail(err, errlen, col, "%s: internal error", f->key);
}

static int is_blank(const char *s) {
    for (; *s != '\0' && *s != '\n'; s++) {
        if (*s != ' ' && *s != '\t') {
            return 0;
        }
    }
    return *s == '\0' || s[1] == '\0';
}

int um_trace_parse_line(const char *line, um_event_t *ev, char *err, size_t errlen) {
    if (err != NULL && errlen > 0) {
        err[0] = '\0';
    }
    if (ev != NULL) {
        memset(ev, 0, sizeof *ev);
    }
    if (line == NULL || ev == NULL) {
        return fail(err, errlen, 1, "no line");
    }
    if (line[0] == '#') {
        return 1;
    }
    if (is_blank(line)) {
        return 1;
    }
    size_t len = strlen(line);
    if (len > 0 && line[len - 1] == '\n') {
        len--;
    }
    for (size_t i = 0; i < len; i++) {
        if (line[i] == '\n' || line[i] == '\r') {
            return fail(err, errlen, i + 1, "line break inside a line");
        }
    }

    // The kind.
    size_t i = 0;
    while (i < len && line[i] != ' ') {
        i++;
    }
    if (um_ev_kind_from_name(line, i, &ev->kind) != 0) {
        return fail(err, errlen, 1, "unknown event kind '%.*s'", (int)(i < 32 ? i : 32), line);
    }

    unsigned seen = 0;
    while (i < len) {
        // line[i] == ' '
        size_t start = ++i;
        if (start >= len || line[start] == ' ') {
            return fail(err, errlen, start + 1, "empty field (one space between fields)");
        }
        size_t end = start;
        while (end < len && line[end] != ' ') {
            end++;
        }
        const char *eq = memchr(line + start, '=', end - start);
        if (eq == NULL || eq == line + start) {
            return fail(err, errlen, start + 1, "expected key=value, got '%.*s'",
                        (int)(end - start < 32 ? end - start : 32), line + start);
        }
        size_t klen = (size_t)(eq - (line + start));
        int fi = -1;
        for (int k = 0; k < NFIELDS; k++) {
            if (strlen(fields[k].key) == klen && memcmp(fields[k].key, line + start, klen) == 0) {
                fi = k;
                break;
            }
        }
        if (fi < 0) {
            return fail(err, errlen, start + 1, "unknown key '%.*s'",
                        (int)(klen < 32 ? klen : 32), line + start);
        }
        if (seen & (1u << fi)) {
            return fail(err, errlen, start + 1, "key '%s' given twice", fields[fi].key);
        }
        seen |= 1u << fi;
        size_t vstart = start + klen + 1;
        if (parse_value(&fields[fi], line + vstart, end - vstart, ev, vstart + 1, err, errlen) !=
            0) {
            return -1;
        }
        i = end;
    }
    if ((seen & required_mask) != required_mask) {
        for (int k = 0; k < NFIELDS; k++) {
            if (((required_mask & ~seen) >> k) & 1u) {
                return fail(err, errlen, len + 1, "missing required key '%s'", fields[k].key);
            }
        }
    }
    return 0;
}

int um_trace_is_header(const char *line) {
    static const char hdr[] = "# umshim trace v1";
    size_t n = sizeof hdr - 1;
    return line != NULL && strncmp(line, hdr, n) == 0 &&
           (line[n] == '\0' || (line[n] == '\n' && line[n + 1] == '\0'));
}
