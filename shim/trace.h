// Events out: every wrapper describes what happened as a um_event_t (policy/event.h) and
// hands it to um_emit, which feeds the policy engine and writes the trace line through
// policy/trace_format.h. Nothing here decides anything.
#ifndef UMSHIM_SHIM_TRACE_H
#define UMSHIM_SHIM_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "policy/event.h"

// Opens the trace file and writes the header. 0, or -1 (logged; tracing stays off).
int um_trace_open(const char *path);
void um_trace_close(void);
// fork: the writer's lock is held across fork() (see registry.h).
void um_trace_atfork_prepare(void);
void um_trace_atfork_parent(void);
void um_trace_atfork_child(void);

// Zeroes *ev and fills kind, time, thread id, device -1 and the API name.
void um_ev_init(um_event_t *ev, um_ev_kind_t kind, const char *api);

// Delivers an event: policy observation, then the trace line when tracing.
void um_emit(um_event_t *ev);

// Writes one event to the trace (no policy); for tests.
void um_trace_write(const um_event_t *ev);

uint64_t um_now_ns(void);

// Copies a C string into a fixed array, truncating, always NUL-terminated.
void um_strcpy(char *dst, size_t n, const char *src);

// The calling site "module+0xoffset": the first caller outside the shim, libcuda and
// libcudart (see site.c for the static-cudart limit).
void um_site_capture(char *out, size_t n);

void um_site_atfork_prepare(void);
void um_site_atfork_parent(void);
void um_site_atfork_child(void);

// "module+0xoffset" for one code address (the module's base name).
void um_site_format(const void *addr, char *out, size_t n);

#endif
