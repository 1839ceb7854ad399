// Options (options.def): read once from the environment; a bad value warns once, naming the
// variable and the accepted values, and the default is used instead.
#ifndef UMSHIM_SHIM_OPTIONS_H
#define UMSHIM_SHIM_OPTIONS_H

#include <stdint.h>

#include "shim/bytes.h"

typedef enum { UM_OPTK_ENUM, UM_OPTK_BOOL, UM_OPTK_BYTES, UM_OPTK_INT, UM_OPTK_STR } um_optkind_t;

typedef enum {
#define UM_OPT(name, kind, def, accepted, help) UM_OPT_##name,
#include "shim/options.def"
    UM_OPT_COUNT
} um_opt_t;

#define UM_OPT_STR_MAX 1024

typedef struct {
    uint64_t num;               // ENUM index, BOOL, BYTES, INT
    int set;                    // 1 when taken from the environment (valid)
    int unset_default;          // 1 when the default is "" (STAGING: decided by mode)
    char str[UM_OPT_STR_MAX];   // STR value ("" = off)
} um_optval_t;

typedef const char *(*um_getenv_fn)(const char *name);

// Loads every option through `get` (getenv when NULL). Returns the number of bad values.
int um_opts_load(um_getenv_fn get);

const um_optval_t *um_opt(um_opt_t o);
uint64_t um_opt_num(um_opt_t o);
const char *um_opt_str(um_opt_t o); // "" when off
const char *um_opt_name(um_opt_t o); // "UMSHIM_MODE"

// Parsers (0 on success, -1 on a bad value; *out untouched on failure); byte sizes:
// um_opt_parse_bytes (shim/bytes.h).
int um_opt_parse_enum(const char *s, const char *accepted, uint64_t *out);
int um_opt_parse_int(const char *s, uint64_t lo, uint64_t hi, uint64_t *out);

// Whether `site` is listed in a comma-separated list (UMSHIM_KEEP_DEVICE).
int um_opt_list_has(const char *list, const char *site);

#endif
