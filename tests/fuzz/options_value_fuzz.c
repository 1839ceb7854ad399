// libFuzzer target: the UMSHIM_* value parsers (shim/options.h). Input: one selector byte
// ('b' bytes, 'e' enum, 'i' int, 'l' list; any other byte picks one by its value mod 4), then
// the value, then optionally a NUL and a second piece: the accepted "a|b|c" list (enum), "LO
// HI" in decimal (int; 1..64, the shim's range, when absent), or the comma list (list).
// Beyond "no crash", each parser is held to its contract: it agrees with a naive
// reimplementation written from options.def's description, never touches *out on failure,
// and whatever parses prints as plain decimal that parses back to the same number.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim/options.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define UNTOUCHED 0x5a5a5a5a5a5a5a5aull

// Decimal digits of s into *v; 0 when s is not all digits (or empty), -1 on overflow.
static int naive_decimal(const char *s, size_t len, uint64_t *v) {
    if (len == 0) {
        return 0;
    }
    *v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
        if (__builtin_mul_overflow(*v, 10, v) || __builtin_add_overflow(*v, s[i] - '0', v)) {
            return -1;
        }
    }
    return 1;
}

// --- bytes: digits, then nothing or one of K/M/G/T (any case), optionally followed by B, i or iB ---
static void check_bytes(const char *s) {
    static const char unit_chars[] = "kKmMgGtT";
    size_t digits = strspn(s, "0123456789");
    const char *suffix = s + digits;
    unsigned shift = 0;
    int grammar = digits > 0;
    if (*suffix != 0) {
        const char *units = strchr(unit_chars, *suffix);
        grammar = grammar && units != NULL;
        if (grammar) {
            shift = (unsigned)(10 * (1 + (units - unit_chars) / 2));
            grammar = strcmp(suffix + 1, "") == 0 || strcmp(suffix + 1, "B") == 0 ||
                      strcmp(suffix + 1, "i") == 0 || strcmp(suffix + 1, "iB") == 0;
        }
    }
    uint64_t want = 0;
    int fits = grammar && naive_decimal(s, digits, &want) == 1 && want <= (UINT64_MAX >> shift);
    want <<= shift;

    uint64_t got = UNTOUCHED;
    int rc = um_opt_parse_bytes(s, &got);
    if (rc != 0 && rc != -1) {
        abort();
    }
    if (rc == -1) {
        if (fits || got != UNTOUCHED) {
            abort(); // a valid value refused, or *out written on failure
        }
        return;
    }
    if (!fits || got != want) {
        abort(); // accepted outside the grammar, or the wrong number
    }
    char plain[32];
    snprintf(plain, sizeof plain, "%llu", (unsigned long long)got);
    uint64_t back = UNTOUCHED;
    if (um_opt_parse_bytes(plain, &back) != 0 || back != got) {
        abort();
    }
}

// --- enum: the index of the first '|'-separated choice equal to s ---
static void check_enum(const char *s, const char *accepted) {
    uint64_t got = UNTOUCHED;
    int rc = um_opt_parse_enum(s, accepted, &got);
    if (rc != 0 && rc != -1) {
        abort();
    }
    size_t n = strlen(s);
    uint64_t idx = 0, first = UINT64_MAX, choices = 1;
    for (const char *a = accepted;; idx++) {
        size_t len = strcspn(a, "|");
        if (first == UINT64_MAX && n > 0 && len == n && memcmp(a, s, n) == 0) {
            first = idx;
        }
        if (a[len] != '|') {
            break;
        }
        a += len + 1;
        choices++;
    }
    if (rc == -1) {
        if (first != UINT64_MAX || got != UNTOUCHED) {
            abort();
        }
        return;
    }
    if (got >= choices || got != first) {
        abort(); // the index names no choice, or not the first one equal to the input
    }
}

// --- int: all digits, no overflow, lo <= v <= hi ---
static void check_int(const char *s, const char *range) {
    uint64_t lo = 1, hi = 64;
    unsigned long long l, h;
    if (sscanf(range, "%llu %llu", &l, &h) == 2) {
        lo = l;
        hi = h;
    }
    uint64_t want = 0;
    int ok = naive_decimal(s, strlen(s), &want) == 1 && want >= lo && want <= hi;

    uint64_t got = UNTOUCHED;
    int rc = um_opt_parse_int(s, lo, hi, &got);
    if (rc != 0 && rc != -1) {
        abort();
    }
    if (rc == -1) {
        if (ok || got != UNTOUCHED) {
            abort();
        }
        return;
    }
    if (!ok || got != want || got < lo || got > hi) {
        abort();
    }
    char plain[32];
    snprintf(plain, sizeof plain, "%llu", (unsigned long long)got);
    uint64_t back = UNTOUCHED;
    if (um_opt_parse_int(plain, lo, hi, &back) != 0 || back != got) {
        abort();
    }
}

// --- list: site is one of the comma-separated elements (an element holds no comma) ---
static void check_list(const char *site, const char *list) {
    int want = 0;
    if (site[0] != 0 && strchr(site, ',') == NULL) {
        size_t ln = strlen(list), sn = strlen(site);
        char *hay = malloc(ln + 3), *needle = malloc(sn + 3);
        if (hay == NULL || needle == NULL) {
            abort();
        }
        snprintf(hay, ln + 3, ",%s,", list);
        snprintf(needle, sn + 3, ",%s,", site);
        want = strstr(hay, needle) != NULL;
        free(hay);
        free(needle);
    }
    if (um_opt_list_has(list, site) != want) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0 || size > 4096) {
        return 0; // real values are a few bytes; keeps the fuzzer on the parsers' logic
    }
    // Pieces as C strings: text = value, then second = what follows the first NUL ("" if none).
    char *text = malloc(size + 1);
    if (text == NULL) {
        return 0;
    }
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    text[size] = '\0';
    size_t vlen = strlen(text);
    const char *value = text;
    const char *second = vlen < size - 1 ? text + vlen + 1 : text + size;

    static const char sel[] = "beil";
    const char *which = memchr(sel, data[0], 4);
    switch (which != NULL ? *which : sel[data[0] % 4]) {
    case 'b':
        check_bytes(value);
        break;
    case 'e':
        check_enum(value, second);
        break;
    case 'i':
        check_int(value, second);
        break;
    default:
        check_list(value, second);
        break;
    }
    free(text);
    return 0;
}
