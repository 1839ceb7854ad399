// Call sites: where in the program an allocation or copy came from, as "module+0xoffset"
// (module base name, offset from its load address), stable across runs with ASLR so a
// policy file can name it. Found by walking the stack past the shim and the CUDA libraries.
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unwind.h>

#include "shim/entry.h"
#include "shim/forklock.h"
#include "shim/trace.h"

static const char *base_name(const char *path) {
    const char *s = path ? strrchr(path, '/') : NULL;
    return s ? s + 1 : (path && *path ? path : "?");
}

void um_site_format(const void *addr, char *out, size_t n) {
    Dl_info info;
    if (n == 0)
        return;
    if (addr != NULL && dladdr(addr, &info) != 0 && info.dli_fbase != NULL) {
        const char *mod = base_name(info.dli_fname);
        if (*mod == 0 || strcmp(mod, "?") == 0)
            mod = "exe";
        snprintf(out, n, "%s+0x%lx", mod,
                 (unsigned long)((const char *)addr - (const char *)info.dli_fbase));
    } else {
        snprintf(out, n, "?+0x%lx", (unsigned long)addr);
    }
}

// --- static cudart inside the executable ---
// nvcc links cudart statically by default, so its frames sit in the executable itself and
// dladdr (dynamic symbols only) cannot tell them from the program's. The executable's own
// .symtab can (unless stripped): cudart's functions are named cuda*, __cuda*,
// libcudart_static_*.
typedef struct {
    uintptr_t lo, hi;
} um_range_t;

static um_range_t *um_cudart_ranges;
static size_t um_cudart_n;
static struct link_map *um_main_map; // the executable's link map (NULL: unknown)

// CUDA 13's static cudart names its internals libcudart_static_<hash>; older ones __cudart*.
static int cudart_name(const char *nm) {
    return strncmp(nm, "cuda", 4) == 0 || strncmp(nm, "__cuda", 6) == 0 ||
           strncmp(nm, "_ZN6cudart", 10) == 0 || strncmp(nm, "libcudart_static", 16) == 0;
}

static int cmp_range(const void *a, const void *b) {
    uintptr_t x = ((const um_range_t *)a)->lo, y = ((const um_range_t *)b)->lo;
    return x < y ? -1 : x > y;
}

static void add_range(uintptr_t lo, uintptr_t hi, size_t *cap) {
    if (um_cudart_n == *cap) {
        size_t c = *cap ? *cap * 2 : 1024;
        um_range_t *r = realloc(um_cudart_ranges, c * sizeof *r);
        if (r == NULL)
            return;
        um_cudart_ranges = r;
        *cap = c;
    }
    um_cudart_ranges[um_cudart_n].lo = lo;
    um_cudart_ranges[um_cudart_n].hi = hi;
    um_cudart_n++;
}

// Reads cudart's function ranges from the executable's .symtab (once, lazily).
static void load_cudart_ranges(void) {
    void *self = dlopen(NULL, RTLD_NOW | RTLD_NOLOAD);
    if (self == NULL || dlinfo(self, RTLD_DI_LINKMAP, &um_main_map) != 0)
        um_main_map = NULL;
    if (um_main_map == NULL)
        return;
    int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    struct stat st;
    void *map = MAP_FAILED;
    if (fstat(fd, &st) == 0 && st.st_size > (off_t)sizeof(Elf64_Ehdr))
        map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return;
    const unsigned char *b = map;
    const Elf64_Ehdr *eh = map;
    size_t size = (size_t)st.st_size, cap = 0;
    uintptr_t bias = (uintptr_t)um_main_map->l_addr; // 0 for non-PIE executables
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 && eh->e_ident[EI_CLASS] == ELFCLASS64 &&
        eh->e_shoff != 0 && eh->e_shoff + (size_t)eh->e_shnum * sizeof(Elf64_Shdr) <= size) {
        const Elf64_Shdr *sh = (const Elf64_Shdr *)(b + eh->e_shoff);
        for (int i = 0; i < eh->e_shnum; i++) {
            if (sh[i].sh_type != SHT_SYMTAB || sh[i].sh_link >= eh->e_shnum)
                continue;
            const Elf64_Shdr *strs = &sh[sh[i].sh_link];
            if (sh[i].sh_offset + sh[i].sh_size > size || strs->sh_offset + strs->sh_size > size)
                continue;
            const Elf64_Sym *sym = (const Elf64_Sym *)(b + sh[i].sh_offset);
            size_t nsym = sh[i].sh_size / sizeof(Elf64_Sym);
            for (size_t k = 0; k < nsym; k++) {
                if (ELF64_ST_TYPE(sym[k].st_info) != STT_FUNC || sym[k].st_size == 0 ||
                    sym[k].st_name >= strs->sh_size)
                    continue;
                if (cudart_name((const char *)(b + strs->sh_offset + sym[k].st_name)))
                    add_range(bias + sym[k].st_value, bias + sym[k].st_value + sym[k].st_size, &cap);
            }
        }
        if (um_cudart_n > 0)
            qsort(um_cudart_ranges, um_cudart_n, sizeof *um_cudart_ranges, cmp_range);
    }
    munmap(map, size);
}

static int in_static_cudart(const void *addr) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, load_cudart_ranges);
    Dl_info info;
    struct link_map *lm = NULL;
    if (um_cudart_n == 0 || dladdr1(addr, &info, (void **)&lm, RTLD_DL_LINKMAP) == 0 ||
        lm != um_main_map)
        return 0;
    uintptr_t a = (uintptr_t)addr;
    size_t lo = 0, hi = um_cudart_n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (um_cudart_ranges[mid].lo <= a)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo > 0 && a < um_cudart_ranges[lo - 1].hi;
}

// Frames in these modules are plumbing between the program and the driver.
static int is_plumbing(const void *addr, const void *self_base) {
    Dl_info info;
    if (dladdr(addr, &info) == 0)
        return 0;
    if (info.dli_fbase == self_base)
        return 1;
    if (in_static_cudart(addr))
        return 1;
    const char *mod = base_name(info.dli_fname);
    if (strncmp(mod, "libcudart", 9) == 0 || strncmp(mod, "libcuda.", 8) == 0)
        return 1;
    // Static cudart lives inside the executable: its exported helpers, when visible, are
    // skipped by name; stripped executables give cudart's own call site (a known limit).
    if (info.dli_sname != NULL &&
        (strncmp(info.dli_sname, "cuda", 4) == 0 || strncmp(info.dli_sname, "__cuda", 6) == 0 ||
         strncmp(info.dli_sname, "_ZN6cudart", 10) == 0))
        return 1;
    return 0;
}

// --- per-address cache ---
// dladdr takes the loader's lock and walks symbol tables: far too slow to run for every
// frame of every traced call. Return addresses repeat, so their verdicts are cached.
#define UM_SITE_CACHE 4096

typedef struct {
    const void *addr;
    int plumbing;
    char site[UM_SITE_MAX];
} um_site_entry_t;

static um_site_entry_t um_site_cache[UM_SITE_CACHE];
static pthread_mutex_t um_site_lock = PTHREAD_MUTEX_INITIALIZER;

// fork (entry.c): held across fork() so the child's cache has no half-written entry.
UM_FORK_MUTEX(um_site, um_site_lock)

static const void *self_base(void) {
    static const void *base;
    const void *b = __atomic_load_n(&base, __ATOMIC_ACQUIRE);
    if (b == NULL) {
        Dl_info self;
        b = dladdr((void *)um_site_capture, &self) ? self.dli_fbase : (const void *)1;
        __atomic_store_n(&base, b, __ATOMIC_RELEASE);
    }
    return b;
}

// Classifies one return address; fills `site` for a program frame. 1 = plumbing.
static int classify(const void *ret, char *site, size_t n) {
    size_t h = ((uintptr_t)ret * 0x9E3779B97F4A7C15ull) >> 52; // 12 bits
    um_site_entry_t *e = &um_site_cache[h % UM_SITE_CACHE];
    pthread_mutex_lock(&um_site_lock);
    if (e->addr == ret) {
        int p = e->plumbing;
        if (!p)
            um_strcpy(site, n, e->site);
        pthread_mutex_unlock(&um_site_lock);
        return p;
    }
    pthread_mutex_unlock(&um_site_lock);
    int p = is_plumbing(ret, self_base());
    char buf[UM_SITE_MAX] = "";
    if (!p)
        um_site_format((const char *)ret - 1, buf, sizeof buf); // -1: the call instruction
    pthread_mutex_lock(&um_site_lock);
    e->addr = ret;
    e->plumbing = p;
    memcpy(e->site, buf, sizeof buf);
    pthread_mutex_unlock(&um_site_lock);
    if (!p)
        um_strcpy(site, n, buf);
    return p;
}

// --- the walk ---
// glibc's backtrace() unwinds the whole stack (up to the frames asked for) before the first
// frame is looked at, at ~1,900 instructions a frame (DWARF: find the FDE, run its CFA
// program): 70% of auto's cost per allocation (15k of 21k instructions an alloc/free pair,
// callgrind, tests/integration against the driver double). The site is the first frame that
// is not plumbing, a few frames up, so the walk stops there: libgcc's _Unwind_Backtrace with
// a callback, the unwinder backtrace() itself uses, looked up at run time. Without libgcc_s
// there is no site (backtrace() finds no frames without it either).
#define UM_SITE_FRAMES 24

typedef _Unwind_Reason_Code (*unwind_backtrace_fn)(_Unwind_Trace_Fn, void *);
typedef _Unwind_Ptr (*unwind_getip_fn)(struct _Unwind_Context *);
static unwind_backtrace_fn um_unwind_backtrace;
static unwind_getip_fn um_unwind_getip;
static pthread_once_t um_unwind_once = PTHREAD_ONCE_INIT;

static void find_unwinder(void) {
    void *h = dlopen("libgcc_s.so.1", RTLD_NOW | RTLD_LOCAL); // kept open: used until exit
    if (h == NULL)
        return;
    unwind_backtrace_fn bt = (unwind_backtrace_fn)um_real_dlsym(h, "_Unwind_Backtrace");
    unwind_getip_fn ip = (unwind_getip_fn)um_real_dlsym(h, "_Unwind_GetIP");
    if (bt != NULL && ip != NULL) {
        um_unwind_getip = ip;
        um_unwind_backtrace = bt;
    }
}

typedef struct {
    char *out;
    size_t n;
    int depth; // frames seen; frame 0 is um_site_capture itself
    int found;
    const void *last;
} walk_t;

static _Unwind_Reason_Code walk_frame(struct _Unwind_Context *ctx, void *arg) {
    walk_t *w = arg;
    const void *ip = (const void *)um_unwind_getip(ctx);
    if (ip == NULL)
        return _URC_END_OF_STACK;
    if (w->depth++ == 0)
        return _URC_NO_REASON;
    w->last = ip;
    if (!classify(ip, w->out, w->n)) {
        w->found = 1;
        return _URC_NORMAL_STOP;
    }
    return w->depth < UM_SITE_FRAMES ? _URC_NO_REASON : _URC_NORMAL_STOP;
}

void um_site_capture(char *out, size_t n) {
    if (n == 0)
        return;
    out[0] = 0;
    pthread_once(&um_unwind_once, find_unwinder);
    if (um_unwind_backtrace == NULL)
        return;
    walk_t w = {out, n, 0, 0, NULL};
    um_unwind_backtrace(walk_frame, &w);
    if (!w.found && w.last != NULL) // all plumbing: the outermost frame seen
        um_site_format((const char *)w.last - 1, out, n);
}
