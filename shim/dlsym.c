// The exported dlsym, linked only into libumshim.so (never into shim_core, whose test
// binaries must keep glibc's dlsym). It asks um_dlsym_hook (entry.c) first and otherwise
// tail-jumps to glibc's dlsym. exports.lds defines the two glibc version nodes it binds to.

// The exported dlsym is a tail-jumping trampoline so that glibc's dlsym sees the
// program's return address: RTLD_NEXT lookups are resolved relative to the caller, and a
// C wrapper would make them relative to the shim instead.
#if defined(__x86_64__)
__asm__(".text\n"
        ".globl um_dlsym_225\n"
        ".type um_dlsym_225, @function\n"
        ".globl um_dlsym_234\n"
        ".type um_dlsym_234, @function\n"
        "um_dlsym_225:\n"
        "um_dlsym_234:\n"
        "  push %rdi\n"
        "  push %rsi\n"
        "  sub $8, %rsp\n"
        "  call um_dlsym_hook\n"
        "  add $8, %rsp\n"
        "  pop %rsi\n"
        "  pop %rdi\n"
        "  test %rax, %rax\n"
        "  jnz 1f\n"
        "  jmp *um_glibc_dlsym(%rip)\n"
        "1:\n"
        "  ret\n"
        ".size um_dlsym_225, .-um_dlsym_225\n"
        ".size um_dlsym_234, .-um_dlsym_234\n"
        ".symver um_dlsym_225, dlsym@GLIBC_2.2.5\n"
        ".symver um_dlsym_234, dlsym@@GLIBC_2.34\n");
#else
#error "umshim's dlsym entry is written for x86_64"
#endif
