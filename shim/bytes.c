// The byte-size parser (bytes.h), shared by the shim's options and the command line.
#include "shim/bytes.h"

#include <string.h>

int um_opt_parse_bytes(const char *s, uint64_t *out) {
    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    uint64_t v = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++) {
        uint64_t digit = (uint64_t)(*p - '0');
        if (v > (UINT64_MAX - digit) / 10)
            return -1;
        v = v * 10 + digit;
    }
    unsigned shift = 0;
    switch (*p) {
    case 0: break;
    case 'k': case 'K': shift = 10; p++; break;
    case 'm': case 'M': shift = 20; p++; break;
    case 'g': case 'G': shift = 30; p++; break;
    case 't': case 'T': shift = 40; p++; break;
    default: return -1;
    }
    if (shift != 0 && (strcmp(p, "i") == 0 || strcmp(p, "iB") == 0 || strcmp(p, "B") == 0))
        p += strlen(p);
    if (*p != 0)
        return -1;
    if (shift != 0 && v > (UINT64_MAX >> shift))
        return -1;
    *out = v << shift;
    return 0;
}
