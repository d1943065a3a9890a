/*
 * state.h - an entry's state word as the algorithm sees it, and counters
 */
#ifndef CREDLIMIT_STATE_H
#define CREDLIMIT_STATE_H

#include <stdint.h>

#include "algorithm.h"
#include "policy.h"
#include "shm/entry.h"
#include "shm/table.h"

struct credlimit;

/* Internal: the slot changed identity; look the key up again. */
#define CL_RETRY_LOOKUP (-EAGAIN)

/* Decodes a state word.  -EBADMSG when its window id is invalid. */
int cl_state_decode(const struct credlimit *cl, struct cl_state_word w,
		    struct cl_algo_state *s);

/* Encodes an algorithm state counted in window id `wid` as the successor
 * of `old`: a window-length change starts a new slot generation. */
struct cl_state_word cl_state_encode(const struct cl_algo_state *s,
				     unsigned wid, struct cl_state_word old);

/* The fresh state that follows `old`, in the next slot generation. */
struct cl_state_word cl_state_fresh_after(struct cl_state_word old);

/* Policy applied to an entry with this meta word: its per-key assignment,
 * else the policy of its last decision. */
int cl_entry_policy(uint64_t meta);

/* Adds the CL_SLOT_* events of a lookup to the statistics. */
void cl_count_events(struct credlimit *cl, unsigned events);

#endif /* CREDLIMIT_STATE_H */
