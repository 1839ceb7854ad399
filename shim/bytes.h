// Byte sizes as UMSHIM_* options and `umshim` flags spell them: one parser for both.
#ifndef UMSHIM_SHIM_BYTES_H
#define UMSHIM_SHIM_BYTES_H

#include <stdint.h>

// Decimal digits, then optionally K, M, G or T (either case, powers of 1024) followed by
// nothing, "i", "iB" or "B": "4096", "4K", "4Ki", "4KiB", "4KB", "16m". No sign, no spaces.
// 0 on success; -1 on anything else or a value over UINT64_MAX (*out untouched then).
int um_opt_parse_bytes(const char *s, uint64_t *out);

#endif
