// Call sites: where in the program an allocation or copy came from, as "module+0xoffset"
// (module base name, offset from its load address), stable across runs with ASLR so a
// policy file can name it. Found by walking the stack past the shim and the CUDA libraries.
#include <dlfcn.h>
#include <execinfo.h>
#include <stdio.h>
#include <string.h>

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

// Frames in these modules are plumbing between the program and the driver.
static int is_plumbing(const void *addr, const void *self_base) {
    Dl_info info;
    if (dladdr(addr, &info) == 0)
        return 0;
    if (info.dli_fbase == self_base)
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

void um_site_capture(char *out, size_t n) {
    void *frames[24];
    Dl_info self;
    if (n == 0)
        return;
    out[0] = 0;
    int nf = backtrace(frames, 24);
    const void *self_base = dladdr((void *)um_site_capture, &self) ? self.dli_fbase : NULL;
    for (int i = 1; i < nf; i++) {
        if (!is_plumbing(frames[i], self_base)) {
            // A return address points after the call; -1 names the call instruction.
            um_site_format((const char *)frames[i] - 1, out, n);
            return;
        }
    }
    if (nf > 1)
        um_site_format((const char *)frames[nf - 1] - 1, out, n);
}
