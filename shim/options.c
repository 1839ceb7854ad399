// Options (options.h): parsed once at initialisation from the environment into a static
// table. No allocation: strings are copied into fixed buffers, so getenv's storage may
// change later without affecting the shim.
#include "shim/options.h"

#include <stdlib.h>
#include <string.h>

#include "shim/log.h"

typedef struct {
    const char *name;
    um_optkind_t kind;
    const char *def;
    const char *accepted;
    const char *help;
} um_optdef_t;

static const um_optdef_t um_optdefs[UM_OPT_COUNT] = {
#define UM_OPT(name, kind, def, accepted, help) {"UMSHIM_" #name, kind, def, accepted, help},
#include "shim/options.def"
};

static um_optval_t um_optvals[UM_OPT_COUNT];

// --- parsers ---
int um_opt_parse_enum(const char *s, const char *accepted, uint64_t *out) {
    if (s == NULL || *s == 0 || accepted == NULL)
        return -1;
    size_t n = strlen(s);
    uint64_t idx = 0;
    const char *a = accepted;
    for (;;) {
        const char *bar = strchr(a, '|');
        size_t len = bar ? (size_t)(bar - a) : strlen(a);
        if (len == n && strncmp(a, s, n) == 0) {
            *out = idx;
            return 0;
        }
        if (bar == NULL)
            return -1;
        a = bar + 1;
        idx++;
    }
}

int um_opt_parse_int(const char *s, uint64_t lo, uint64_t hi, uint64_t *out) {
    uint64_t v = 0;
    if (s == NULL || *s == 0)
        return -1;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9' || v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int um_opt_list_has(const char *list, const char *site) {
    if (list == NULL || site == NULL || *site == 0)
        return 0;
    size_t n = strlen(site);
    for (const char *p = list; *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == n && strncmp(p, site, n) == 0)
            return 1;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    return 0;
}

// --- loading ---
static int parse_one(const um_optdef_t *d, const char *s, um_optval_t *v) {
    switch (d->kind) {
    case UM_OPTK_ENUM: return um_opt_parse_enum(s, d->accepted, &v->num);
    case UM_OPTK_BOOL: return um_opt_parse_enum(s, "0|1", &v->num);
    case UM_OPTK_BYTES: return um_opt_parse_bytes(s, &v->num);
    case UM_OPTK_INT: return um_opt_parse_int(s, 1, 64, &v->num);
    case UM_OPTK_STR:
        if (strlen(s) >= UM_OPT_STR_MAX)
            return -1;
        memcpy(v->str, s, strlen(s) + 1);
        return 0;
    }
    return -1;
}

static const char *plain_getenv(const char *name) {
    return getenv(name);
}

int um_opts_load(um_getenv_fn get) {
    if (get == NULL)
        get = plain_getenv;
    int bad = 0;
    for (int i = 0; i < UM_OPT_COUNT; i++) {
        const um_optdef_t *d = &um_optdefs[i];
        um_optval_t *v = &um_optvals[i];
        memset(v, 0, sizeof *v);
        v->unset_default = d->def[0] == 0;
        if (!v->unset_default && parse_one(d, d->def, v) != 0)
            v->num = 0; // unreachable with a sane options.def; keep a defined value
        const char *s = get(d->name);
        if (s == NULL || (*s == 0 && d->kind != UM_OPTK_STR))
            continue;
        um_optval_t tmp = *v;
        if (parse_one(d, s, &tmp) == 0) {
            *v = tmp;
            v->set = 1;
            v->unset_default = 0;
        } else {
            bad++;
            UM_WARN("%s=%.64s is not valid (accepted: %s); using %s", d->name, s, d->accepted,
                    d->def[0] ? d->def : "the default");
        }
    }
    return bad;
}

const um_optval_t *um_opt(um_opt_t o) {
    return &um_optvals[o];
}

uint64_t um_opt_num(um_opt_t o) {
    return um_optvals[o].num;
}

const char *um_opt_str(um_opt_t o) {
    return um_optvals[o].str;
}

const char *um_opt_name(um_opt_t o) {
    return (unsigned)o < UM_OPT_COUNT ? um_optdefs[o].name : "?";
}
