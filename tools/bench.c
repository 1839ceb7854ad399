// `umshim bench transfer`: the seed's "Unified vs Explicit" table, measured on this GPU and
// printed beside the seed's claims. The measuring is done by bench_transfer (a CUDA program
// shipped next to umshim); this file runs it, reads its lines and lays out the table, so the
// command line itself never links CUDA.
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shim/bytes.h"
#include "tools/cli.h"

static const char bench_help[] =
    "usage: umshim bench transfer [OPTIONS]\n"
    "\n"
    "Reproduces the seed document's \"Performance: Unified vs Explicit\" table on this GPU:\n"
    "host-written data moved to the GPU by explicit cudaMemcpy (pinned and pageable source)\n"
    "and by Unified Memory (CPU-written managed memory, prefetched; and faulted in by a\n"
    "kernel), timed with CUDA events after warm-up, medians. The seed's claimed numbers are\n"
    "printed beside the measured ones. Never allocates more than the GPU has free.\n"
    "\n"
    "options:\n"
    "  --sizes LIST   comma-separated sizes (default 4K,64K,1M,16M,256M,1G)\n"
    "  --reps N       timed repetitions per size (default 30 small, 10 from 64M, 5 from 512M)\n"
    "  --markdown     print the table as Markdown (for the README)\n"
    "  -h, --help     this text\n";

// The seed's claims, in microseconds (0 = no claim for that size).
static const struct {
    uint64_t bytes;
    double explicit_us, unified_us;
} seed[] = {
    {4ull << 10, 8, 8},
    {64ull << 10, 22, 23},
    {1ull << 20, 180, 182},
    {16ull << 20, 2800, 2800},
};

static void fmt_us(double us, char *buf, size_t len) {
    if (us <= 0)
        snprintf(buf, len, "-");
    else if (us < 1000)
        snprintf(buf, len, "%.1f us", us);
    else if (us < 1e6)
        snprintf(buf, len, "%.2f ms", us / 1000);
    else
        snprintf(buf, len, "%.2f s", us / 1e6);
}

static void fmt_pct(double num, double den, char *buf, size_t len) {
    if (num <= 0 || den <= 0)
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%+.0f%%", (num / den - 1.0) * 100.0);
}

typedef struct {
    int markdown;
    int header_done;
} table_t;

static void row(table_t *t, const char *size, const char *cells[8]) {
    static const char *const head[8] = {"seed explicit", "seed UM+prefetch", "pinned memcpy",
                                        "pageable memcpy", "UM+prefetch", "UM faulted",
                                        "prefetch vs pinned", "prefetch vs pageable"};
    if (!t->header_done) {
        t->header_done = 1;
        if (t->markdown) {
            printf("| size |");
            for (int i = 0; i < 8; i++)
                printf(" %s |", head[i]);
            printf("\n|---|");
            for (int i = 0; i < 8; i++)
                printf("---:|");
            putchar('\n');
        } else {
            printf("%-9s", "size");
            for (int i = 0; i < 8; i++)
                printf(" %*s", i < 6 ? 16 : 20, head[i]);
            putchar('\n');
        }
    }
    if (t->markdown) {
        printf("| %s |", size);
        for (int i = 0; i < 8; i++)
            printf(" %s |", cells[i]);
    } else {
        printf("%-9s", size);
        for (int i = 0; i < 8; i++)
            printf(" %*s", i < 6 ? 16 : 20, cells[i]);
    }
    putchar('\n');
}

static int bench_transfer(int argc, char **argv) {
    static const struct option longopts[] = {
        {"sizes", required_argument, NULL, 's'},
        {"reps", required_argument, NULL, 'r'},
        {"markdown", no_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *sizes = "4K,64K,1M,16M,256M,1G";
    const char *reps = NULL;
    table_t table = {0, 0};
    um_cli_getopt_reset();
    int c;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 's': sizes = optarg; break;
        case 'r':
            if (atoi(optarg) < 1)
                return um_cli_usage_error("bench", "--reps %s: expected a positive number", optarg);
            reps = optarg;
            break;
        case 'm': table.markdown = 1; break;
        case 'h': fputs(bench_help, stdout); return UM_EXIT_OK;
        default: return um_cli_bad_option("bench", c, argv);
        }
    }
    if (optind < argc)
        return um_cli_usage_error("bench", "unexpected argument '%s'", argv[optind]);

    // bench_transfer [--reps N] BYTES...
    char *args[40];
    char numbers[32][24];
    int na = 0, nn = 0;
    char prog[PATH_MAX];
    if (um_cli_find_sibling("bench_transfer", NULL, prog, sizeof prog) != 0)
        return um_cli_error("bench", "cannot find bench_transfer next to the umshim executable "
                                     "(build //tools:bench_transfer)");
    args[na++] = prog;
    if (reps) {
        args[na++] = "--reps";
        args[na++] = (char *)reps;
    }
    for (const char *p = sizes; *p && nn < 32;) {
        size_t len = strcspn(p, ",");
        char one[32];
        uint64_t b;
        snprintf(one, sizeof one, "%.*s", (int)(len < 31 ? len : 31), p);
        if (um_opt_parse_bytes(one, &b) != 0 || b == 0)
            return um_cli_usage_error("bench", "--sizes: '%s' is not a size (e.g. 64K, 16M, 1G)", one);
        snprintf(numbers[nn], sizeof numbers[nn], "%llu", (unsigned long long)b);
        args[na++] = numbers[nn++];
        p += len + (p[len] == ',');
    }
    args[na] = NULL;

    int fds[2];
    if (pipe(fds) != 0)
        return um_cli_error("bench", "pipe: %s", strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        execv(prog, args);
        fprintf(stderr, "cannot execute %s: %s\n", prog, strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    if (pid < 0)
        return um_cli_error("bench", "fork: %s", strerror(errno));
    FILE *in = fdopen(fds[0], "r");
    char line[512], messages[2048] = "";
    int rows = 0;
    while (in && fgets(line, sizeof line, in)) {
        unsigned long long bytes;
        double pinned, pageable, prefetch, fault;
        int r;
        char reason[400];
        if (sscanf(line, "size %llu pinned %lf pageable %lf prefetch %lf fault %lf reps %d", &bytes,
                   &pinned, &pageable, &prefetch, &fault, &r) == 6) {
            char cells[8][32], size[32];
            const char *cp[8];
            double se = 0, su = 0;
            for (size_t i = 0; i < sizeof seed / sizeof seed[0]; i++)
                if (seed[i].bytes == bytes) {
                    se = seed[i].explicit_us;
                    su = seed[i].unified_us;
                }
            fmt_us(se, cells[0], 32);
            fmt_us(su, cells[1], 32);
            fmt_us(pinned, cells[2], 32);
            fmt_us(pageable, cells[3], 32);
            fmt_us(prefetch, cells[4], 32);
            fmt_us(fault, cells[5], 32);
            fmt_pct(prefetch, pinned, cells[6], 32);
            fmt_pct(prefetch, pageable, cells[7], 32);
            for (int i = 0; i < 8; i++)
                cp[i] = cells[i];
            um_cli_fmt_bytes(bytes, size, sizeof size);
            row(&table, size, cp);
            rows++;
        } else if (sscanf(line, "skip %llu %399[^\n]", &bytes, reason) == 2) {
            char size[32];
            um_cli_fmt_bytes(bytes, size, sizeof size);
            printf("%-9s skipped: %s\n", size, reason);
        } else if (strncmp(line, "device ", 7) == 0 || strncmp(line, "memory ", 7) == 0 ||
                   strncmp(line, "concurrent_managed_access ", 26) == 0) {
            printf("# %s", line);
        } else {
            size_t used = strlen(messages);
            snprintf(messages + used, sizeof messages - used, "%s", line);
        }
        fflush(stdout);
    }
    if (in)
        fclose(in);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    size_t ml = strlen(messages);
    while (ml && messages[ml - 1] == '\n')
        messages[--ml] = '\0';
    if (WIFEXITED(status) && WEXITSTATUS(status) == 2)
        return um_cli_error("bench", "no GPU: %s", messages[0] ? messages : "bench_transfer found no CUDA device");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return um_cli_error("bench", "bench_transfer failed (%s %d)%s%s",
                            WIFEXITED(status) ? "status" : "signal",
                            WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
                            messages[0] ? ": " : "", messages);
    if (rows)
        printf("%s medians of CUDA-event times after warm-up; host-to-device; 'UM+prefetch' = "
               "cudaMemPrefetchAsync of CPU-written managed memory; 'UM faulted' = a kernel reading "
               "it; percentages: UM+prefetch over the explicit copy.\n",
               table.markdown ? "\n" : "");
    return UM_EXIT_OK;
}

int um_cmd_bench(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        if (argc < 2) {
            fputs(bench_help, stderr);
            return um_cli_usage_error("bench", "missing benchmark name (only 'transfer' exists)");
        }
        fputs(bench_help, stdout);
        return UM_EXIT_OK;
    }
    if (strcmp(argv[1], "transfer") == 0)
        return bench_transfer(argc - 1, argv + 1);
    if (argv[1][0] == '-')
        return um_cli_usage_error("bench", "unknown option '%s' (usage: umshim bench transfer [OPTIONS])",
                                  argv[1]);
    return um_cli_usage_error("bench", "unknown benchmark '%s' (only 'transfer' exists)", argv[1]);
}
