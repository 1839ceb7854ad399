// The shim's side of every decision: it asks the policy engine (policy/policy.h) and then
// applies only the safety rules the shim owns — passthrough stays passthrough, no managed
// memory where the device cannot do it (capability) and the oversubscription guard.
// (UMSHIM_KEEP_DEVICE is handed to the policy, which owns placement.) Wrappers call these
// and act.
#ifndef UMSHIM_SHIM_DECIDE_H
#define UMSHIM_SHIM_DECIDE_H

#include <stdint.h>

#include "policy/event.h"
#include "policy/policy.h"

// Creates the policy engine from the options (and loads UMSHIM_POLICY). 0 or -1.
int um_dec_init(void);
// Saves UMSHIM_POLICY_OUT and destroys the engine (at exit).
void um_dec_fini(void);
// fork: the engine's lock is held across fork() (see registry.h).
void um_dec_atfork_prepare(void);
void um_dec_atfork_parent(void);
void um_dec_atfork_child(void);

void um_dec_observe(const um_event_t *ev);

// Decision for a new device allocation of `bytes` at `site` on `device` (-1 unknown).
// When the result is UM_PLACE_MANAGED, `bytes` are reserved against the budget: call
// um_dec_unreserve if the managed allocation is not made or later freed.
// Returns NULL, or the reason the shim overrode a managed placement (for a fallback event).
const char *um_dec_alloc(const char *site, uint64_t bytes, int device, um_decision_t *out);
// Whether a new allocation of `bytes` needs its call site (the stack walk is most of the
// shim's own cost per allocation): always when tracing, learning a policy file or reading
// one (its entries may place any site); otherwise only at or above the managed threshold,
// since below it every site gets device memory and the learned site statistics decide
// nothing (the IPC rule learns only from failed exports of managed allocations).
int um_dec_needs_site(uint64_t bytes);
void um_dec_unreserve(uint64_t bytes);
uint64_t um_dec_managed_bytes(void);

// The policy's decision for a live allocation (at its first launch). 0, or -1 no engine.
int um_dec_live(uint64_t alloc_id, um_decision_t *out);

// Device capability: 1 when `device` supports managed memory with concurrent access.
// Queried once per device (driver calls, no lock held); logs the fallback once.
int um_dec_capable(int device);

// Pure budget rule, for tests: may `bytes` more managed bytes be allocated?
int um_dec_budget_ok(uint64_t managed_now, uint64_t bytes, uint64_t budget_opt,
                     uint64_t margin, uint64_t free_now, int oversubscribe);

// Test seam: replaces the device-free-memory query used by the guard (NULL = driver).
void um_dec_set_free_query(int (*fn)(uint64_t *free_bytes));

#endif
