// Replays a fuzzer's corpus through its LLVMFuzzerTestOneInput with a plain main(), so the
// corpus runs in every `bazel test` (gcc, no libFuzzer; under --config=asan too). Usage:
// corpus_replay DIR... ; fails when a directory is missing or empty, and aborts (as the
// fuzz target does) on a broken invariant.
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int replay_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "corpus_replay: cannot open %s\n", dir);
        return -1;
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }
        names = realloc(names, (n + 1) * sizeof *names);
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, by_name); // a stable order makes failures reproducible
    size_t ran = 0;
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "rb");
        if (f != NULL) {
            static uint8_t buf[1 << 20];
            size_t len = fread(buf, 1, sizeof buf, f);
            fclose(f);
            // Copy to an exact-size heap block so ASan catches reads past the input.
            uint8_t *exact = malloc(len ? len : 1);
            memcpy(exact, buf, len);
            LLVMFuzzerTestOneInput(exact, len);
            free(exact);
            ran++;
        }
        free(names[i]);
    }
    free(names);
    printf("corpus_replay: %s: %zu inputs\n", dir, ran);
    return ran > 0 ? 0 : -1;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: corpus_replay DIR...\n");
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        if (replay_dir(argv[i]) != 0) {
            return 1;
        }
    }
    return 0;
}
