// The policy file parser and writer (format in policy_file.h). A strict, small, hand-written
// parser: the file is a few dozen lines a person edits during an A/B experiment, so the one
// thing that matters is that every mistake is caught and named ("FILE:LINE: problem")
// rather than half-applied. Names of values come from one table per setting, shared by the
// parser, the writer and the messages.
#include "policy/policy_file.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/trace_format.h"

// --- value tables ---

typedef struct {
    const char *name;
    int value;
} name_val_t;

static const name_val_t placement_names[] = {
    {"device", UM_PLACE_DEVICE},
    {"managed", UM_PLACE_MANAGED},
};
static const name_val_t prefetch_names[] = {
    {"none", UM_PF_NONE},
    {"launch", UM_PF_ON_LAUNCH},
};
static const name_val_t copy_names[] = {
    {"driver", UM_COPY_DRIVER},
    {"host", UM_COPY_HOST},
    {"staged", UM_COPY_STAGED},
};
static const name_val_t onoff_names[] = {
    {"off", 0},
    {"on", 1},
};
// In the order the writer lists them.
static const name_val_t advise_names[] = {
    {"read_mostly", UM_ADV_READ_MOSTLY},
    {"prefer_device", UM_ADV_PREFER_DEVICE},
    {"prefer_host", UM_ADV_PREFER_HOST},
    {"accessed_by_device", UM_ADV_ACCESSED_BY_DEVICE},
    {"accessed_by_host", UM_ADV_ACCESSED_BY_HOST},
};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const unsigned advise_all =
    UM_ADV_READ_MOSTLY | UM_ADV_PREFER_DEVICE | UM_ADV_PREFER_HOST | UM_ADV_ACCESSED_BY_DEVICE |
    UM_ADV_ACCESSED_BY_HOST;

static const char *name_of(const name_val_t *t, size_t n, int v) {
    for (size_t i = 0; i < n; i++) {
        if (t[i].value == v) {
            return t[i].name;
        }
    }
    return "?";
}

static int value_of(const name_val_t *t, size_t n, const char *s, size_t len, int *out) {
    for (size_t i = 0; i < n; i++) {
        if (strlen(t[i].name) == len && memcmp(t[i].name, s, len) == 0) {
            *out = t[i].value;
            return 0;
        }
    }
    return -1;
}

const char *um_pf_placement_name(um_placement_t p) {
    return name_of(placement_names, COUNT(placement_names), (int)p);
}

const char *um_pf_prefetch_name(um_prefetch_t p) {
    return name_of(prefetch_names, COUNT(prefetch_names), (int)p);
}

const char *um_pf_copy_name(um_copy_t c) {
    return name_of(copy_names, COUNT(copy_names), (int)c);
}

const char *um_pf_advise_text(unsigned advise, char *buf, size_t n) {
    if (n == 0) {
        return buf;
    }
    buf[0] = '\0';
    if (advise == 0) {
        snprintf(buf, n, "none");
        return buf;
    }
    size_t used = 0;
    for (size_t i = 0; i < COUNT(advise_names); i++) {
        if (advise & (unsigned)advise_names[i].value) {
            int k = snprintf(buf + used, n - used, "%s%s", used ? "," : "", advise_names[i].name);
            if (k < 0 || (size_t)k >= n - used) {
                buf[used] = '\0'; // whole names only
                break;
            }
            used += (size_t)k;
        }
    }
    return buf;
}

// --- consistency ---

// The rules a site line must satisfy beyond its syntax; NULL when fine.
static const char *entry_problem(const um_pf_entry_t *e) {
    if (e->set == 0) {
        return "no settings (give at least one key=value)";
    }
    if ((e->set & UM_PF_PLACEMENT) && (unsigned)e->placement > UM_PLACE_MANAGED) {
        return "invalid placement";
    }
    if ((e->advise & ~advise_all) != 0 || (unsigned)e->prefetch > UM_PF_ON_LAUNCH ||
        (unsigned)e->copy_h2d > UM_COPY_STAGED || (unsigned)e->copy_d2h > UM_COPY_STAGED) {
        return "invalid setting value";
    }
    if ((e->advise & UM_ADV_PREFER_DEVICE) && (e->advise & UM_ADV_PREFER_HOST)) {
        return "prefer_device and prefer_host exclude each other";
    }
    if ((e->set & UM_PF_PLACEMENT) && e->placement == UM_PLACE_DEVICE) {
        if ((e->set & UM_PF_ADVISE) && e->advise != 0) {
            return "advise needs placement=managed (hints apply to managed memory only)";
        }
        if ((e->set & UM_PF_PREFETCH) && e->prefetch != UM_PF_NONE) {
            return "prefetch=launch needs placement=managed";
        }
        if (((e->set & UM_PF_COPY_H2D) && e->copy_h2d == UM_COPY_HOST) ||
            ((e->set & UM_PF_COPY_D2H) && e->copy_d2h == UM_COPY_HOST)) {
            return "host copies need placement=managed (the host cannot address device memory)";
        }
        if ((e->set & UM_PF_HOST_PREFETCH) && e->host_prefetch_before_read) {
            return "host_prefetch=on needs placement=managed";
        }
    }
    return NULL;
}

// --- parser ---

typedef struct {
    const char *name;
    unsigned line;
    char *err;
    size_t errlen;
} ctx_t;

static int fail(const ctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(const ctx_t *c, const char *fmt, ...) {
    if (c->err != NULL && c->errlen > 0) {
        int k = snprintf(c->err, c->errlen, "%s:%u: ", c->name, c->line);
        if (k >= 0 && (size_t)k < c->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(c->err + k, c->errlen - (size_t)k, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

// At most this much of an offending token is quoted in a message.
#define QUOTE(len) (int)((len) < 40 ? (len) : 40)

static int is_sep(char ch) {
    return ch == ' ' || ch == '\t';
}

static int parse_advise(const ctx_t *c, const char *v, size_t len, unsigned *out) {
    if (len == 4 && memcmp(v, "none", 4) == 0) {
        *out = 0;
        return 0;
    }
    unsigned set = 0;
    size_t i = 0;
    for (;;) {
        size_t j = i;
        while (j < len && v[j] != ',') {
            j++;
        }
        int bit;
        if (j - i == 4 && memcmp(v + i, "none", 4) == 0) {
            return fail(c, "advise: 'none' cannot be combined with other hints");
        }
        if (value_of(advise_names, COUNT(advise_names), v + i, j - i, &bit) != 0) {
            return fail(c,
                        "advise: unknown hint '%.*s' (accepted: none, read_mostly, "
                        "prefer_device, prefer_host, accessed_by_device, accessed_by_host)",
                        QUOTE(j - i), v + i);
        }
        if (set & (unsigned)bit) {
            return fail(c, "advise: '%.*s' given twice", QUOTE(j - i), v + i);
        }
        set |= (unsigned)bit;
        if (j == len) {
            break;
        }
        i = j + 1;
    }
    *out = set;
    return 0;
}

// One key=value token into e. Returns 0 or -1 (message set).
static int parse_setting(const ctx_t *c, const char *tok, size_t len, um_pf_entry_t *e) {
    const char *eq = memchr(tok, '=', len);
    if (eq == NULL || eq == tok) {
        return fail(c, "expected key=value, got '%.*s'", QUOTE(len), tok);
    }
    size_t klen = (size_t)(eq - tok);
    const char *v = eq + 1;
    size_t vlen = len - klen - 1;
#define KEY_IS(s) (klen == sizeof(s) - 1 && memcmp(tok, s, klen) == 0)
    unsigned bits;
    if (KEY_IS("placement")) {
        bits = UM_PF_PLACEMENT;
    } else if (KEY_IS("advise")) {
        bits = UM_PF_ADVISE;
    } else if (KEY_IS("prefetch")) {
        bits = UM_PF_PREFETCH;
    } else if (KEY_IS("copy")) {
        bits = UM_PF_COPY_H2D | UM_PF_COPY_D2H;
    } else if (KEY_IS("copy_h2d")) {
        bits = UM_PF_COPY_H2D;
    } else if (KEY_IS("copy_d2h")) {
        bits = UM_PF_COPY_D2H;
    } else if (KEY_IS("host_prefetch")) {
        bits = UM_PF_HOST_PREFETCH;
    } else {
        return fail(c,
                    "unknown key '%.*s' (accepted: placement, advise, prefetch, copy, copy_h2d, "
                    "copy_d2h, host_prefetch)",
                    QUOTE(klen), tok);
    }
#undef KEY_IS
    if (e->set & bits) {
        return fail(c, "'%.*s' sets %s again (copy sets both copy_h2d and copy_d2h)",
                    QUOTE(klen), tok,
                    (e->set & bits & UM_PF_COPY_H2D) ? "copy_h2d"
                    : (e->set & bits & UM_PF_COPY_D2H) ? "copy_d2h"
                                                        : "a key");
    }
    int iv;
    switch (bits) {
    case UM_PF_PLACEMENT:
        if (value_of(placement_names, COUNT(placement_names), v, vlen, &iv) != 0) {
            return fail(c, "placement: '%.*s' is not device|managed", QUOTE(vlen), v);
        }
        e->placement = (um_placement_t)iv;
        break;
    case UM_PF_ADVISE:
        if (parse_advise(c, v, vlen, &e->advise) != 0) {
            return -1;
        }
        break;
    case UM_PF_PREFETCH:
        if (value_of(prefetch_names, COUNT(prefetch_names), v, vlen, &iv) != 0) {
            return fail(c, "prefetch: '%.*s' is not none|launch", QUOTE(vlen), v);
        }
        e->prefetch = (um_prefetch_t)iv;
        break;
    case UM_PF_HOST_PREFETCH:
        if (value_of(onoff_names, COUNT(onoff_names), v, vlen, &iv) != 0) {
            return fail(c, "host_prefetch: '%.*s' is not on|off", QUOTE(vlen), v);
        }
        e->host_prefetch_before_read = iv;
        break;
    default: // a copy key
        if (value_of(copy_names, COUNT(copy_names), v, vlen, &iv) != 0) {
            return fail(c, "%.*s: '%.*s' is not driver|host|staged", QUOTE(klen), tok,
                        QUOTE(vlen), v);
        }
        if (bits & UM_PF_COPY_H2D) {
            e->copy_h2d = (um_copy_t)iv;
        }
        if (bits & UM_PF_COPY_D2H) {
            e->copy_d2h = (um_copy_t)iv;
        }
        break;
    }
    e->set |= bits;
    return 0;
}

// Parses one line (no '\n') into e. Returns 0 for a site line, 1 for blank/comment, -1.
static int parse_line(const ctx_t *c, const char *s, size_t len, um_pf_entry_t *e) {
    memset(e, 0, sizeof *e);
    e->line = c->line;
    size_t i = 0;
    int ntok = 0;
    for (;;) {
        while (i < len && is_sep(s[i])) {
            i++;
        }
        if (i == len) {
            break;
        }
        if (s[i] == '#') {
            // A comment: the rest of the line, trimmed, becomes the reason.
            size_t a = i + 1, b = len;
            while (a < b && is_sep(s[a])) {
                a++;
            }
            if (b - a > sizeof e->comment - 1) {
                b = a + sizeof e->comment - 1; // cut long comments...
            }
            while (b > a && is_sep(s[b - 1])) {
                b--; // ...and trim after the cut, so the comment writes back unchanged
            }
            memcpy(e->comment, s + a, b - a);
            e->comment[b - a] = '\0';
            break;
        }
        size_t j = i;
        while (j < len && !is_sep(s[j])) {
            j++;
        }
        const char *tok = s + i;
        size_t tlen = j - i;
        const char *hash = memchr(tok, '#', tlen);
        if (hash != NULL) {
            return fail(c, "'#' inside '%.*s': put a space before a comment (or write \\x23)",
                        QUOTE(tlen), tok);
        }
        if (ntok == 0) {
            if (tlen != 4 || memcmp(tok, "site", 4) != 0) {
                return fail(c, "expected 'site', got '%.*s'", QUOTE(tlen), tok);
            }
        } else if (ntok == 1) {
            if (memchr(tok, '=', tlen) != NULL) {
                return fail(c, "missing call site before '%.*s' (write 'site MODULE+0xOFFSET "
                               "key=value ...'; a '=' in a site is written \\x3d)",
                            QUOTE(tlen), tok);
            }
            const char *why = "";
            size_t at = 0;
            if (um_trace_unescape(tok, tlen, e->site, sizeof e->site, &why, &at) != 0) {
                if (strcmp(why, "too long") == 0) {
                    return fail(c, "call site longer than %d bytes", UM_SITE_MAX - 1);
                }
                if (tok[at] != '\\') {
                    return fail(c, "call site: byte 0x%02x must be escaped as \\xHH",
                                (unsigned char)tok[at]);
                }
                return fail(c, "call site: %s", why);
            }
        } else if (parse_setting(c, tok, tlen, e) != 0) {
            return -1;
        }
        ntok++;
        i = j;
    }
    if (ntok == 0) {
        return 1;
    }
    if (ntok == 1) {
        return fail(c, "'site' needs a call site and settings");
    }
    const char *problem = entry_problem(e);
    if (problem != NULL) {
        return fail(c, "site %s: %s", e->site, problem);
    }
    return 0;
}

// A tiny set of site names (indexes into the entry array) to catch duplicates in O(1).
typedef struct {
    size_t *slot; // index + 1; 0 = empty
    size_t cap;
} site_set_t;

static uint64_t hash_str(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s != '\0'; s++) {
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    }
    return h;
}

// Returns the index of an existing entry with the same site, SIZE_MAX after inserting
// `idx`, or SIZE_MAX - 1 when out of memory.
static size_t site_set_add(site_set_t *set, const um_pf_entry_t *entries, size_t idx) {
    if ((idx + 1) * 2 > set->cap) {
        size_t ncap = set->cap ? set->cap * 2 : 64;
        size_t *n = calloc(ncap, sizeof *n);
        if (n == NULL) {
            return SIZE_MAX - 1;
        }
        for (size_t i = 0; i < set->cap; i++) {
            if (set->slot[i] != 0) {
                size_t k = hash_str(entries[set->slot[i] - 1].site) & (ncap - 1);
                while (n[k] != 0) {
                    k = (k + 1) & (ncap - 1);
                }
                n[k] = set->slot[i];
            }
        }
        free(set->slot);
        set->slot = n;
        set->cap = ncap;
    }
    size_t k = hash_str(entries[idx].site) & (set->cap - 1);
    while (set->slot[k] != 0) {
        if (strcmp(entries[set->slot[k] - 1].site, entries[idx].site) == 0) {
            return set->slot[k] - 1;
        }
        k = (k + 1) & (set->cap - 1);
    }
    set->slot[k] = idx + 1;
    return SIZE_MAX;
}

int um_pf_parse(const char *text, size_t len, const char *name, um_pf_t *out, char *err,
                size_t errlen) {
    ctx_t c = {name != NULL ? name : "(policy)", 1, err, errlen};
    if (err != NULL && errlen > 0) {
        err[0] = '\0';
    }
    if (out == NULL) {
        return fail(&c, "no output");
    }
    out->entries = NULL;
    out->n = 0;
    if (text == NULL) {
        return fail(&c, "no text");
    }
    if (len > UM_PF_FILE_MAX) {
        c.line = 0;
        return fail(&c, "file larger than %u bytes", UM_PF_FILE_MAX);
    }
    um_pf_entry_t *entries = NULL;
    size_t n = 0, cap = 0;
    site_set_t seen = {NULL, 0};
    size_t pos = 0;
    int rc = 0;
    for (c.line = 1;; c.line++) {
        if (pos >= len) {
            if (c.line == 1) {
                rc = fail(&c, "empty file: the first line must be '%s'", UM_PF_HEADER);
            }
            break;
        }
        const char *s = text + pos;
        const char *nl = memchr(s, '\n', len - pos);
        size_t llen = nl != NULL ? (size_t)(nl - s) : len - pos;
        pos += llen + (nl != NULL);
        if (memchr(s, '\0', llen) != NULL) {
            rc = fail(&c, "NUL byte in the line (not a text file?)");
            break;
        }
        if (memchr(s, '\r', llen) != NULL) {
            rc = fail(&c, "carriage return in the line (save the file with \\n line ends)");
            break;
        }
        if (llen > UM_PF_LINE_MAX) {
            rc = fail(&c, "line longer than %d bytes", UM_PF_LINE_MAX);
            break;
        }
        if (c.line == 1) {
            if (llen != strlen(UM_PF_HEADER) || memcmp(s, UM_PF_HEADER, llen) != 0) {
                rc = fail(&c, "the first line must be '%s', got '%.*s'", UM_PF_HEADER,
                          QUOTE(llen), s);
                break;
            }
            continue;
        }
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            um_pf_entry_t *ne = realloc(entries, ncap * sizeof *ne);
            if (ne == NULL) {
                rc = fail(&c, "out of memory");
                break;
            }
            entries = ne;
            cap = ncap;
        }
        int got = parse_line(&c, s, llen, &entries[n]);
        if (got < 0) {
            rc = -1;
            break;
        }
        if (got == 1) {
            continue;
        }
        size_t dup = site_set_add(&seen, entries, n);
        if (dup == SIZE_MAX - 1) {
            rc = fail(&c, "out of memory");
            break;
        }
        if (dup != SIZE_MAX) {
            rc = fail(&c, "site %s already set at line %u", entries[n].site, entries[dup].line);
            break;
        }
        n++;
    }
    free(seen.slot);
    if (rc != 0) {
        free(entries);
        return -1;
    }
    out->entries = entries;
    out->n = n;
    return 0;
}

int um_pf_read(const char *path, um_pf_t *out, char *err, size_t errlen) {
    if (out != NULL) {
        out->entries = NULL;
        out->n = 0;
    }
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        if (err != NULL && errlen > 0) {
            snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        }
        return -1;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    int rc = 0;
    while (buf != NULL) {
        if (len == cap) {
            if (cap > UM_PF_FILE_MAX) {
                break; // um_pf_parse reports the size
            }
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            break;
        }
    }
    if (buf == NULL) {
        if (err != NULL && errlen > 0) {
            snprintf(err, errlen, "%s: out of memory", path);
        }
        rc = -1;
    } else if (ferror(f)) {
        if (err != NULL && errlen > 0) {
            snprintf(err, errlen, "%s: read error: %s", path, strerror(errno));
        }
        rc = -1;
    } else {
        rc = um_pf_parse(buf, len, path, out, err, errlen);
    }
    free(buf);
    fclose(f);
    return rc;
}

void um_pf_free(um_pf_t *pf) {
    if (pf != NULL) {
        free(pf->entries);
        pf->entries = NULL;
        pf->n = 0;
    }
}

const um_pf_entry_t *um_pf_find(const um_pf_t *pf, const char *site) {
    if (pf == NULL || site == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < pf->n; i++) {
        if (strcmp(pf->entries[i].site, site) == 0) {
            return &pf->entries[i];
        }
    }
    return NULL;
}

// --- writer ---

int um_pf_format_entry(const um_pf_entry_t *e, char *buf, size_t n) {
    if (buf == NULL || n == 0) {
        return -1;
    }
    buf[0] = '\0';
    if (e == NULL || memchr(e->site, '\0', sizeof e->site) == NULL || e->site[0] == '\0' ||
        entry_problem(e) != NULL) {
        return -1;
    }
    char site[UM_SITE_MAX * 4];
    if (um_trace_escape(e->site, site, sizeof site) < 0) {
        return -1;
    }
    // '=' and '#' are plain in traces but mean something here.
    char esc[UM_SITE_MAX * 4 + 8]; // every byte escaped is at most 4 bytes
    size_t k = 0;
    for (const char *p = site; *p != '\0'; p++) {
        if (*p == '=' || *p == '#') {
            k += (size_t)snprintf(esc + k, sizeof esc - k, "\\x%02x", (unsigned char)*p);
        } else {
            esc[k++] = *p;
        }
    }
    esc[k] = '\0';
    char line[UM_PF_LINE_MAX + 2];
    size_t used = (size_t)snprintf(line, sizeof line, "site %s", esc);
#define APPEND(...)                                                                                \
    do {                                                                                           \
        int w_ = snprintf(line + used, sizeof line - used, __VA_ARGS__);                           \
        if (w_ < 0 || (size_t)w_ >= sizeof line - used) {                                          \
            return -1;                                                                             \
        }                                                                                          \
        used += (size_t)w_;                                                                        \
    } while (0)
    if (e->set & UM_PF_PLACEMENT) {
        APPEND(" placement=%s", um_pf_placement_name(e->placement));
    }
    if (e->set & UM_PF_ADVISE) {
        char adv[128];
        APPEND(" advise=%s", um_pf_advise_text(e->advise, adv, sizeof adv));
    }
    if (e->set & UM_PF_PREFETCH) {
        APPEND(" prefetch=%s", um_pf_prefetch_name(e->prefetch));
    }
    unsigned copies = e->set & (UM_PF_COPY_H2D | UM_PF_COPY_D2H);
    if (copies == (UM_PF_COPY_H2D | UM_PF_COPY_D2H) && e->copy_h2d == e->copy_d2h) {
        APPEND(" copy=%s", um_pf_copy_name(e->copy_h2d));
    } else {
        if (copies & UM_PF_COPY_H2D) {
            APPEND(" copy_h2d=%s", um_pf_copy_name(e->copy_h2d));
        }
        if (copies & UM_PF_COPY_D2H) {
            APPEND(" copy_d2h=%s", um_pf_copy_name(e->copy_d2h));
        }
    }
    if (e->set & UM_PF_HOST_PREFETCH) {
        APPEND(" host_prefetch=%s", e->host_prefetch_before_read ? "on" : "off");
    }
    if (e->comment[0] != '\0' && memchr(e->comment, '\0', sizeof e->comment) != NULL) {
        // A comment runs to the end of the line: keep it on one line.
        APPEND("  # ");
        for (const char *p = e->comment; *p != '\0' && used + 2 < sizeof line; p++) {
            line[used++] = (*p == '\n' || *p == '\r' || *p == '\0') ? ' ' : *p;
        }
        while (used > 0 && is_sep(line[used - 1])) {
            used--;
        }
    }
#undef APPEND
    if (used > UM_PF_LINE_MAX || used + 2 > n) {
        return -1;
    }
    memcpy(buf, line, used);
    buf[used] = '\n';
    buf[used + 1] = '\0';
    return (int)used + 1;
}

int um_pf_write(FILE *f, const um_pf_entry_t *entries, size_t n) {
    if (fprintf(f, "%s\n", UM_PF_HEADER) < 0) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        char line[UM_PF_LINE_MAX + 2];
        if (um_pf_format_entry(&entries[i], line, sizeof line) < 0) {
            errno = EINVAL;
            return -1;
        }
        if (fputs(line, f) == EOF) {
            return -1;
        }
    }
    return fflush(f) == 0 ? 0 : -1;
}
