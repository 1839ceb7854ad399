// Helpers every subcommand shares (see cli.h): one error format, getopt handling, finding
// files shipped beside the executable, starting a program under the shim and passing its
// fate back, and the small formatters the reports use.
#include "tools/cli.h"

#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

const char *um_cli_argv0 = "umshim";

// --- messages ---
static void vmessage(const char *cmd, const char *level, const char *fmt, va_list ap) {
    fprintf(stderr, "umshim%s%s: %s: ", cmd ? " " : "", cmd ? cmd : "", level);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int um_cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vmessage(cmd, "error", fmt, ap);
    va_end(ap);
    fprintf(stderr, "Try 'umshim %s%s--help'.\n", cmd ? cmd : "", cmd ? " " : "");
    return UM_EXIT_USAGE;
}

int um_cli_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vmessage(cmd, "error", fmt, ap);
    va_end(ap);
    return UM_EXIT_FAIL;
}

void um_cli_warn(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vmessage(cmd, "warning", fmt, ap);
    va_end(ap);
}

int um_cli_bad_option(const char *cmd, int c, char **argv) {
    // getopt leaves the offending word at argv[optind - 1] for long options; optopt holds a
    // short option's letter.
    const char *word = optind > 0 ? argv[optind - 1] : "?";
    if (c == ':')
        return um_cli_usage_error(cmd, "option '%s' needs a value", word);
    if (optopt != 0 && strncmp(word, "--", 2) != 0)
        return um_cli_usage_error(cmd, "unknown option '-%c'", optopt);
    return um_cli_usage_error(cmd, "unknown option '%s'", word);
}

void um_cli_getopt_reset(void) {
    optind = 0; // glibc: 0 re-initialises getopt completely (also the "+" scan mode)
    opterr = 0;
    optopt = 0;
}

// --- files next to the executable ---
static int exists_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

int um_cli_find_sibling(const char *name, const char *alt_dir, char *out, size_t outlen) {
    char dirs[2][PATH_MAX];
    int ndirs = 0;
    // /proc/self/exe: the real file, e.g. bazel-out/k8-fastbuild/bin/tools/umshim.
    ssize_t n = readlink("/proc/self/exe", dirs[0], sizeof dirs[0] - 1);
    if (n > 0) {
        dirs[0][n] = '\0';
        char *d = dirname(dirs[0]); // may return a static "." instead of editing in place
        memmove(dirs[0], d, strlen(d) + 1);
        ndirs = 1;
    }
    // argv[0] as typed: a symlinked packed folder keeps its siblings beside the link.
    if (um_cli_argv0 && strchr(um_cli_argv0, '/')) {
        snprintf(dirs[ndirs], sizeof dirs[ndirs], "%s", um_cli_argv0);
        char *d = dirname(dirs[ndirs]);
        memmove(dirs[ndirs], d, strlen(d) + 1);
        ndirs++;
    }
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1 && alt_dir == NULL)
            break;
        for (int i = 0; i < ndirs; i++) {
            int w = pass == 0 ? snprintf(out, outlen, "%s/%s", dirs[i], name)
                              : snprintf(out, outlen, "%s/%s/%s", dirs[i], alt_dir, name);
            if (w > 0 && (size_t)w < outlen && exists_file(out))
                return 0;
        }
    }
    return -1;
}

int um_cli_find_shim(const char *cmd, const char *explicit_path, char *out, size_t outlen) {
    if (explicit_path) {
        if (!exists_file(explicit_path))
            return um_cli_error(cmd, "--shim %s: no such file", explicit_path), -1;
        // LD_PRELOAD needs a path the child resolves the same way: make it absolute.
        if (realpath(explicit_path, out) == NULL || strlen(out) >= outlen)
            return um_cli_error(cmd, "--shim %s: %s", explicit_path, strerror(errno)), -1;
        return 0;
    }
    if (um_cli_find_sibling("libumshim.so", "../shim", out, outlen) == 0) {
        char abs[PATH_MAX];
        if (realpath(out, abs) && strlen(abs) < outlen)
            strcpy(out, abs);
        return 0;
    }
    um_cli_error(cmd, "cannot find libumshim.so next to the umshim executable (looked in its "
                      "folder and ../shim); build //shim:libumshim.so or pass --shim PATH");
    return -1;
}

int um_cli_prepare(const char *cmd, const char *program, const char *shim_opt, char *shim,
                   size_t shimlen) {
    char err[PATH_MAX + 64];
    int rc = um_cli_check_command(program, err, sizeof err);
    if (rc != 0) {
        um_cli_error(cmd, "%s", err);
        return rc;
    }
    return um_cli_find_shim(cmd, shim_opt, shim, shimlen) == 0 ? 0 : UM_EXIT_FAIL;
}

int um_cli_make_dir(const char *cmd, const char *path, char *abs, size_t abslen) {
    char buf[PATH_MAX];
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
        return um_cli_error(cmd, "cannot create %s: %s", path, strerror(errno));
    if (realpath(path, buf) == NULL)
        return um_cli_error(cmd, "%s: %s", path, strerror(errno));
    if (strlen(buf) >= abslen)
        return um_cli_error(cmd, "%s: path too long", path);
    strcpy(abs, buf);
    return 0;
}

// --- starting programs ---
int um_cli_preload_compose(const char *existing, const char *lib, char *out, size_t outlen) {
    size_t used = 0;
    int w = snprintf(out, outlen, "%s", lib);
    if (w < 0 || (size_t)w >= outlen)
        return -1;
    used = (size_t)w;
    if (existing == NULL)
        return 0;
    // ld.so splits LD_PRELOAD on spaces and colons; keep every other entry in order.
    const char *p = existing;
    while (*p) {
        size_t len = strcspn(p, " :");
        if (len > 0 && !(len == strlen(lib) && strncmp(p, lib, len) == 0)) {
            if (used + 1 + len >= outlen)
                return -1;
            out[used++] = ':';
            memcpy(out + used, p, len);
            used += len;
            out[used] = '\0';
        }
        p += len;
        if (*p)
            p++;
    }
    return 0;
}

static int check_path(const char *path, char *err, size_t errlen) {
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "'%s': %s", path, strerror(errno));
        return errno == EACCES ? UM_EXIT_NOEXEC : UM_EXIT_NOTFOUND;
    }
    if (S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "'%s' is a directory, not a program", path);
        return UM_EXIT_NOEXEC;
    }
    if (access(path, X_OK) != 0) {
        snprintf(err, errlen, "'%s' is not executable", path);
        return UM_EXIT_NOEXEC;
    }
    return 0;
}

int um_cli_check_command(const char *argv0, char *err, size_t errlen) {
    if (argv0 == NULL || *argv0 == '\0') {
        snprintf(err, errlen, "missing command (usage: ... -- PROGRAM [ARGS...])");
        return UM_EXIT_USAGE;
    }
    if (strchr(argv0, '/'))
        return check_path(argv0, err, errlen);
    const char *path = getenv("PATH");
    if (path == NULL || *path == '\0')
        path = "/usr/local/bin:/usr/bin:/bin";
    int found_noexec = 0;
    char cand[PATH_MAX];
    for (const char *p = path; *p;) {
        size_t len = strcspn(p, ":");
        snprintf(cand, sizeof cand, "%.*s/%s", (int)len, len ? p : ".", argv0);
        struct stat st;
        if (stat(cand, &st) == 0 && !S_ISDIR(st.st_mode)) {
            if (access(cand, X_OK) == 0)
                return 0;
            found_noexec = 1;
        }
        p += len;
        if (*p)
            p++;
    }
    if (found_noexec) {
        snprintf(err, errlen, "'%s' is not executable", argv0);
        return UM_EXIT_NOEXEC;
    }
    snprintf(err, errlen, "'%s': command not found in PATH", argv0);
    return UM_EXIT_NOTFOUND;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

// Child side of um_cli_spawn: only async-signal-safe-ish work plus setenv, which is fine in
// a single-threaded parent (umshim never starts threads).
static void child_exec(char *const argv[], const um_spawn_t *sp) {
    if (sp->setenv)
        for (const char *const *e = sp->setenv; *e; e++) {
            const char *eq = strchr(*e, '=');
            if (eq == NULL)
                continue;
            char name[256];
            snprintf(name, sizeof name, "%.*s", (int)(eq - *e), *e);
            setenv(name, eq + 1, 1);
        }
    if (sp->shim) {
        static char preload[8192];
        if (um_cli_preload_compose(getenv("LD_PRELOAD"), sp->shim, preload, sizeof preload) == 0)
            setenv("LD_PRELOAD", preload, 1);
    }
    if (sp->output) {
        int fd = open(sp->output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
    }
    execvp(argv[0], argv);
    fprintf(stderr, "umshim: error: cannot execute '%s': %s\n", argv[0], strerror(errno));
    _exit(errno == ENOENT ? UM_EXIT_NOTFOUND : UM_EXIT_NOEXEC);
}

int um_cli_spawn(char *const argv[], const um_spawn_t *sp, int *wstatus, double *wall_s) {
    struct sigaction ign = {.sa_handler = SIG_IGN}, old_int, old_quit;
    if (sp->quiet_signals) {
        // Like system(): Ctrl-C reaches the child (same process group); we outlive it to
        // report how it ended.
        sigaction(SIGINT, &ign, &old_int);
        sigaction(SIGQUIT, &ign, &old_quit);
    }
    fflush(NULL);
    double t0 = now_s();
    pid_t pid = fork();
    if (pid == 0) {
        if (sp->quiet_signals) {
            sigaction(SIGINT, &old_int, NULL);
            sigaction(SIGQUIT, &old_quit, NULL);
        }
        child_exec(argv, sp);
    }
    int rc = 0;
    if (sp->timed_out)
        *sp->timed_out = 0;
    if (pid < 0) {
        rc = -1;
    } else if (sp->timeout_s > 0) {
        // Poll: a hung run must not hang the whole experiment (ab --timeout).
        for (;;) {
            pid_t w = waitpid(pid, wstatus, WNOHANG);
            if (w == pid)
                break;
            if (w < 0 && errno != EINTR) {
                rc = -1;
                break;
            }
            if (now_s() - t0 > sp->timeout_s) {
                kill(pid, SIGKILL);
                if (sp->timed_out)
                    *sp->timed_out = 1;
                while (waitpid(pid, wstatus, 0) < 0 && errno == EINTR) {
                }
                break;
            }
            struct timespec nap = {0, 5 * 1000 * 1000};
            nanosleep(&nap, NULL);
        }
    } else {
        while (waitpid(pid, wstatus, 0) < 0) {
            if (errno != EINTR) {
                rc = -1;
                break;
            }
        }
    }
    if (wall_s)
        *wall_s = now_s() - t0;
    if (sp->quiet_signals) {
        int saved = errno;
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGQUIT, &old_quit, NULL);
        errno = saved;
    }
    return rc;
}

int um_cli_pass_status(int wstatus) {
    if (WIFEXITED(wstatus))
        return WEXITSTATUS(wstatus);
    if (WIFSIGNALED(wstatus)) {
        int sig = WTERMSIG(wstatus);
        // Die the same way so shells and CI see the real cause; the child already dumped
        // any core, so do not write a second one of umshim.
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        fflush(NULL);
        signal(sig, SIG_DFL);
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, sig);
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        raise(sig);
        return 128 + sig; // a signal that does not kill (e.g. SIGCHLD) ends up here
    }
    return UM_EXIT_FAIL;
}

// --- formatting ---
const char *um_cli_fmt_bytes(uint64_t bytes, char *buf, size_t len) {
    static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%llu B", (unsigned long long)bytes);
    else
        snprintf(buf, len, "%.1f %s", v, unit[u]);
    return buf;
}

void um_cli_json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\t': fputs("\\t", f); break;
        case '\r': fputs("\\r", f); break;
        default:
            if (*p < 0x20)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f);
        }
    }
    fputc('"', f);
}

void um_cli_html_text(FILE *f, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void um_cli_sort(double *v, size_t n) {
    qsort(v, n, sizeof *v, cmp_double);
}

double um_cli_median_sorted(const double *v, size_t n) {
    if (n == 0)
        return 0.0;
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

double um_cli_median(const double *v, size_t n) {
    if (n == 0)
        return 0.0;
    double *c = malloc(n * sizeof *c);
    if (c == NULL)
        return v[0];
    memcpy(c, v, n * sizeof *c);
    um_cli_sort(c, n);
    double m = um_cli_median_sorted(c, n);
    free(c);
    return m;
}
