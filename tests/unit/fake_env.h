// An environment for um_opts_load made of {name, value, ..., NULL} pairs, so a test sets
// UMSHIM_* options without touching the process's own environment.
#ifndef UMSHIM_TESTS_UNIT_FAKE_ENV_H
#define UMSHIM_TESTS_UNIT_FAKE_ENV_H

#include <string.h>

static const char *const *fake_env;

static const char *fake_getenv(const char *name) {
    for (const char *const *p = fake_env; p && *p; p += 2)
        if (strcmp(p[0], name) == 0)
            return p[1];
    return NULL;
}

#endif
