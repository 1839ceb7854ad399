// `umshim options`: the UMSHIM_* table, straight from the shim's shim/options.def (the one
// list of options), so the command line can never describe a different set than the shim
// reads. Also the defaults `umshim report` replays the policy with.
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim/bytes.h"
#include "tools/cli.h"
#include "tools/model.h"

typedef struct {
    const char *name, *kind, *def, *accepted, *help;
} opt_row_t;

// The kind is kept as its spelling ("UM_OPTK_BYTES"): we only print it, so options.h (and
// its enum) is not needed here.
static const opt_row_t rows[] = {
#define UM_OPT(name, kind, def, accepted, help) {"UMSHIM_" #name, #kind, def, accepted, help},
#include "shim/options.def"
};

static const char options_help[] =
    "usage: umshim options [--help]\n"
    "\n"
    "Lists every UMSHIM_* environment variable the shim reads, with its default, accepted\n"
    "values and meaning; values set in the current environment are shown too. A bad value\n"
    "makes the shim warn once and use the default. Byte values take K/M/G/T suffixes (binary).\n";

static const char *default_text(const opt_row_t *r) {
    if (r->def[0])
        return r->def;
    return strcmp(r->kind, "UM_OPTK_STR") == 0 ? "(off)" : "(by mode)";
}

int um_cmd_options(int argc, char **argv) {
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    um_cli_getopt_reset();
    int c;
    while ((c = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
        if (c == 'h') {
            fputs(options_help, stdout);
            return UM_EXIT_OK;
        }
        return um_cli_bad_option("options", c, argv);
    }
    if (optind < argc)
        return um_cli_usage_error("options", "unexpected argument '%s'", argv[optind]);
    printf("%-26s %-9s %-32s %s\n", "VARIABLE", "DEFAULT", "ACCEPTED", "MEANING");
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        printf("%-26s %-9s %-32s %s\n", rows[i].name, default_text(&rows[i]), rows[i].accepted,
               rows[i].help);
        const char *now = getenv(rows[i].name);
        if (now)
            printf("%-26s %-9s set here: %s\n", "", "", now);
    }
    return UM_EXIT_OK;
}

// --- defaults for the policy replay ---
static uint64_t default_bytes(const char *name) {
    uint64_t v = 0;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        if (strcmp(rows[i].name, name) == 0)
            um_opt_parse_bytes(rows[i].def, &v);
    return v;
}

um_pol_config_t um_report_policy_config(void) {
    um_pol_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.mode = UM_MODE_AUTO;
    cfg.managed_threshold = default_bytes("UMSHIM_MANAGED_THRESHOLD");
    // UMSHIM_STAGING defaults to on in auto, so auto's replay stages at the default threshold.
    cfg.staging_threshold = default_bytes("UMSHIM_STAGING_THRESHOLD");
    return cfg;
}
