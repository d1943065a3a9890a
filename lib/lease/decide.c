/*
 * decide.c - decisions on units leased from Redis
 *
 * A decision looks the key up in the lease cache (inserting it) and runs
 * one compare-and-swap loop on its state word (lease/entry.h):
 *
 *   - units of the current window cover the cost: take them, done;
 *   - Redis had nothing left for this window (EMPTY): deny here, done;
 *   - otherwise claim the lease: set this process as the fetcher, take out
 *     units of an ended window to return them with the request, and adapt
 *     the size.  Then request 2^exponent units, at least the cost, from
 *     the lease script in Redis, and add the grant minus the cost to the
 *     entry.
 *
 * While another live process fetches for the key, a decision waits up to
 * lease_wait_us for its units, then takes a lease of its own: a slow Redis
 * must not make every worker of the host wait for one of them.  A fetcher
 * that dies leaves its pid in the entry, and the next decision that finds
 * the pid dead claims the lease itself.
 *
 * Why the global limit holds: Redis charges each lease in full, as one
 * request of that cost, at the time it grants it, and units are spent only
 * in the window Redis charged them in.  So every host together spends at
 * most what Redis charged, and a return gives back only what was not
 * spent (see the lease script in lib/redis/script.c for how a return
 * after the window's end is capped).
 *
 * Sizing: the exponent grows by one when a lease runs out within its
 * window, and shrinks by one when a window ends with more than half of a
 * lease unused, so a busy key takes large leases and a quiet one leases a
 * unit at a time.  Keys longer than CREDLIMIT_KEY_INLINE_MAX are stored
 * as digests, which a sweep could not return to Redis by name, so they
 * lease only the cost of each request.
 */
#include <errno.h>
#include <time.h>

#include <urcu-bp.h>
#include <urcu/system.h>
#include <urcu/uatomic.h>

#include "backend.h"
#include "grow.h"
#include "handle.h"
#include "lease/entry.h"
#include "lease/lease.h"
#include "locate.h"
#include "view.h"
#include "redis/decide.h"
#include "redis/lease.h"
#include "shm/pidlock.h"
#include "state.h"

/* Internal outcomes of spend(). */
#define LEASE_NEEDED 1 /* claimed: take a lease from Redis */
#define LEASE_WAIT 2   /* another process is taking one */
#define LEASE_READ 3   /* a read without units here: Redis decides */

/* Units a claim took out of the entry, and the lease it requests. */
struct claim {
	bool ours;          /* this call set the fetcher pid */
	unsigned exponent;  /* size exponent of the lease to take */
	uint64_t refund;    /* units of an ended window, to return */
	uint64_t refund_window;
	uint64_t refund_window_ns;
};

/* A granted lease to add to the entry, and the units it displaces. */
struct install {
	unsigned wid;        /* window id, in the lease cache, of its length */
	uint64_t window;     /* window index Redis charged it in */
	uint64_t window_ns;
	uint32_t extra;      /* units left after the request's cost */
	bool empty;          /* Redis has nothing left for the window */
	struct cl_lease *st;
	const struct claim *claim;
	int local_id;        /* policy Redis applied, in the lease cache */
	bool assigned;       /* Redis applied its assignment, not the request */
	unsigned version;    /* its version's low bits */
	uint64_t now_ns;     /* lease cache time of the decision */
	uint32_t units;      /* out: units of the entry after installing */
	bool grow;           /* out: the insert requests growth */
	uint64_t capacity;   /* out: slots of the table it went into */
	/* out: units the entry cannot keep, and their window */
	uint64_t back;
	uint64_t back_window;
	uint64_t back_window_ns;
};

/* Fills *r for a decision made on this host's units alone. */
static void local_result(struct cl_lease *st, int local_id,
			 const struct cl_params *params, int requested,
			 uint64_t cost, bool allowed, uint32_t units_left,
			 uint64_t window, uint64_t window_ns, uint64_t now_ns,
			 struct credlimit_result *r)
{
	uint64_t start = window * window_ns;
	int upstream = __atomic_load_n(&st->upstream_of[local_id], __ATOMIC_RELAXED);

	r->flags = CREDLIMIT_RESULT_LEASED;
	r->policy = upstream >= 0 ? upstream : requested;
	r->limit = params->policy.max_requests;
	r->credits = 0;
	r->remaining = units_left;
	r->window_ns = window_ns;
	r->reset_after_ns = start + window_ns - (now_ns > start ? now_ns : start);
	r->retry_after_ns = 0;
	r->verdict = CREDLIMIT_ALLOWED;
	if (allowed)
		return;

	/* Denied here because Redis had nothing left for the window: the
	 * window's end is the earliest a request can pass.  A cost beyond
	 * R + C never fits. */
	r->verdict = CREDLIMIT_DENIED;
	r->retry_after_ns = r->reset_after_ns;
	if ((unsigned __int128)cost >
	    (unsigned __int128)params->policy.max_requests +
		    params->policy.max_credits) {
		r->verdict = CREDLIMIT_DENIED_NEVER;
		r->retry_after_ns = CREDLIMIT_NEVER;
	}
}

/* Records the time of a decision for the idle sweep; advisory. */
static void touch_lease_entry(const struct cl_slot *slot, uint64_t now_ns)
{
	struct cl_entry *e = slot->entry;

	if (CMM_LOAD_SHARED(e->last_seen_ns) < now_ns)
		CMM_STORE_SHARED(e->last_seen_ns, now_ns);
}

/* A lease cache entry's state word, decoded. */
struct lease_state {
	unsigned gen;
	unsigned wid;
	uint64_t window;
	uint32_t units;
	unsigned exponent;
	unsigned fetcher;
	unsigned version;
	bool empty;
};

static void lease_decode(struct cl_state_word w, struct lease_state *out)
{
	out->gen = cl_state_gen(w.hi);
	out->wid = cl_state_wid(w.hi);
	out->window = cl_state_window(w.hi);
	out->units = cl_lease_units(w.lo);
	out->exponent = cl_lease_exponent(w.lo);
	out->fetcher = cl_lease_fetcher(w.lo);
	out->version = cl_lease_version(w.lo);
	out->empty = cl_lease_empty(w.lo);
}

/* Arguments and results of a decision's compare-and-swap loop. */
struct spend_call {
	struct cl_lease *st;
	int policy;
	int local_id; /* the requested policy's id in the lease cache */
	uint64_t cost;
	uint64_t now_ns;
	bool known;    /* now_ns is in Redis's time base */
	bool take_own; /* a live fetcher is no reason to wait */
	bool grow;     /* the insert requests growth */
	uint64_t capacity; /* slots of the table it went into */
	struct claim claim;
	struct credlimit_result result;
};

/*
 * Runs the compare-and-swap loop of a decision on a found slot.  Returns
 * 0 with call->result filled (decided here), LEASE_NEEDED with
 * call->claim filled (claimed), LEASE_WAIT, LEASE_READ, CL_RETRY_LOOKUP
 * or -EBADMSG.
 */
static int spend(const struct cl_slot *slot, struct spend_call *call)
{
	struct cl_state_word current = slot->state;
	int local_id = cl_entry_policy(slot->meta);
	/* Redis applies its assignment to the key whatever policy the
	 * caller names; the entry mirrors it as its per-key policy. */
	bool policy_applies = cl_meta_override(slot->meta) >= 0 ||
			      local_id == call->local_id;
	struct cl_lease *st = call->st;
	struct claim *c = &call->claim;
	uint64_t cost = call->cost;
	unsigned self = cl_self_pid();
	struct cl_params params;

	if (cl_policy_read(st->local, local_id, &params) < 0)
		return -EBADMSG;

	for (;;) {
		struct cl_state_word next = current;
		struct lease_state ls;
		bool valid = false, ended = false;
		uint64_t window_ns = 0;

		if (cl_state_flags(current.hi) != CL_STATE_LIVE)
			return CL_RETRY_LOOKUP;
		lease_decode(current, &ls);
		if (ls.wid != 0) {
			if (cl_window_length(st->local, ls.wid, &window_ns) < 0)
				return -EBADMSG;
			valid = call->known &&
				call->now_ns / window_ns <= ls.window;
			ended = call->known && !valid;
		}
		if (valid && (ls.wid != params.wid || !policy_applies ||
			      ls.version != (params.version & CL_LEASE_VERSION_MASK))) {
			/* Leased under other rules: the policy's numbers
			 * changed, or the caller names another policy.  Redis
			 * now applies those rules, under which the units
			 * could exceed the limit: they go back instead.  With
			 * a new window length, Redis counts in windows that
			 * may end before the one they were charged in. */
			valid = false;
			ended = call->known;
		}

		/* Decide here: units cover the cost, or Redis is empty. */
		if (valid && (ls.units >= cost || ls.empty)) {
			bool allowed = ls.units >= cost;
			uint32_t left = ls.units - (allowed ? (uint32_t)cost : 0);

			next.lo -= ls.units - left;
			if (cost == 0 || !allowed ||
			    cl_state_cas(slot->entry, &current, next)) {
				local_result(st, local_id, &params,
					     call->policy, cost, allowed, left,
					     ls.window, window_ns, call->now_ns,
					     &call->result);
				return 0;
			}
			if (cl_state_gen(current.hi) != ls.gen)
				return CL_RETRY_LOOKUP;
			continue;
		}

		if (cost == 0)
			return LEASE_READ;
		if (ls.fetcher != 0 && !call->take_own &&
		    (ls.fetcher == self || cl_pid_alive(ls.fetcher)))
			return LEASE_WAIT;

		c->ours = ls.fetcher == 0 ||
			  (ls.fetcher != self && !cl_pid_alive(ls.fetcher));
		c->exponent = ls.exponent;
		if (valid)
			c->exponent = ls.exponent + 1; /* ran out in its window */
		else if (ended && ls.exponent > 0 &&
			 (uint64_t)ls.units * 2 > (UINT64_C(1) << ls.exponent))
			c->exponent = ls.exponent - 1;
		if (c->exponent > st->config.exponent_max)
			c->exponent = st->config.exponent_max;
		c->refund = ended ? ls.units : 0;
		c->refund_window = ls.window;
		c->refund_window_ns = window_ns;

		next.lo = cl_lease_make_lo(ended ? 0 : ls.units, c->exponent,
					   ended ? false : ls.empty,
					   c->ours ? self : ls.fetcher, ls.version);
		if (cl_state_cas(slot->entry, &current, next))
			return LEASE_NEEDED;
		if (cl_state_gen(current.hi) != ls.gen)
			return CL_RETRY_LOOKUP;
	}
}

/* Adds a granted lease to the entry (see struct install). */
static int install_on_slot(const struct cl_slot *slot, struct install *in)
{
	struct cl_state_word current = slot->state;
	bool same_policy = cl_entry_policy(slot->meta) == in->local_id;
	unsigned self = cl_self_pid();

	for (;;) {
		bool ours = in->claim != NULL && in->claim->ours;
		struct cl_state_word next;
		struct lease_state ls;
		uint64_t sum;

		if (cl_state_flags(current.hi) != CL_STATE_LIVE)
			return CL_RETRY_LOOKUP;
		lease_decode(current, &ls);

		in->back = 0;
		if (ours && ls.fetcher == self)
			ls.fetcher = 0;
		if (ours)
			ls.exponent = in->claim->exponent;

		if (ls.wid == in->wid && ls.window == in->window &&
		    same_policy && ls.version == in->version) {
			sum = (uint64_t)ls.units + in->extra;
			ls.units = sum > UINT32_MAX ? UINT32_MAX : (uint32_t)sum;
			in->back = sum - ls.units;
			in->back_window = in->window;
			in->back_window_ns = in->window_ns;
			ls.empty = in->empty;
		} else if (ls.wid != 0 && ls.wid == in->wid &&
			   ls.window > in->window) {
			/* Another process installed a later window: ours
			 * cannot be spent any more. */
			in->back = in->extra;
			in->back_window = in->window;
			in->back_window_ns = in->window_ns;
		} else {
			/* Units of an earlier window, or of another window
			 * length, go back; the entry takes the new lease. */
			if (ls.wid != 0 && ls.units > 0 &&
			    cl_window_length(in->st->local, ls.wid,
					     &in->back_window_ns) == 0) {
				in->back = ls.units;
				in->back_window = ls.window;
			}
			ls.units = in->extra;
			ls.window = in->window;
			ls.wid = in->wid;
			ls.version = in->version;
			ls.empty = in->empty;
		}

		next.lo = cl_lease_make_lo(ls.units, ls.exponent, ls.empty,
					   ls.fetcher, ls.version);
		next.hi = cl_state_make_hi(ls.window, ls.wid, ls.gen,
					   CL_STATE_LIVE);
		if (cl_state_cas(slot->entry, &current, next)) {
			in->units = ls.units;
			return 0;
		}
		if (cl_state_gen(current.hi) != ls.gen)
			return CL_RETRY_LOOKUP;
	}
}

/* Clears this process's claim after a failed lease. */
static int release_change(struct credlimit *cl, struct cl_located *loc,
			  void *arg)
{
	struct cl_state_word current = loc->slot.state;
	unsigned self = cl_self_pid();

	(void)cl;
	(void)arg;
	for (;;) {
		struct cl_state_word next = current;

		if (cl_state_flags(current.hi) != CL_STATE_LIVE)
			return CL_RETRY_LOOKUP;
		if (cl_lease_fetcher(current.lo) != self)
			return 0;
		next.lo &= ~(CL_LEASE_PID_MASK << CL_LEASE_PID_SHIFT);
		if (cl_state_cas(loc->slot.entry, &current, next))
			return 0;
	}
}

static int install_change(struct credlimit *cl, struct cl_located *loc,
			  void *arg)
{
	struct install *in = arg;
	struct cl_entry *e = loc->slot.entry;
	uint64_t meta;
	int err;

	err = install_on_slot(&loc->slot, in);
	if (err < 0)
		return err;

	touch_lease_entry(&loc->slot, in->now_ns);
	meta = cl_meta_with_last_policy(loc->slot.meta, (unsigned)in->local_id);
	meta = cl_meta_with_override(meta, in->assigned ? in->local_id
						       : CREDLIMIT_POLICY_NONE);
	if (meta != loc->slot.meta) {
		/* Full barrier, unneeded here but part of the swap; it
		 * changes nothing if the slot's meta moved on. */
		uatomic_cmpxchg(&e->meta, loc->slot.meta, meta);
	}

	in->grow = cl_grow_wanted(cl, loc->table, loc->events);
	in->capacity = loc->table->capacity;
	return 0;
}

static int spend_change(struct credlimit *cl, struct cl_located *loc,
			void *arg)
{
	struct spend_call *call = arg;
	int err;

	call->grow = cl_grow_wanted(cl, loc->table, loc->events);
	call->capacity = loc->table->capacity;
	err = spend(&loc->slot, call);
	if (err == 0)
		touch_lease_entry(&loc->slot, call->now_ns);
	return err;
}

/* Sleeps 20 to 160 us while another process takes a lease. */
static void pause_briefly(unsigned round)
{
	struct timespec ts = {
		.tv_sec = 0,
		.tv_nsec = 20000L << (round < 3 ? round : 3),
	};

	nanosleep(&ts, NULL);
}

static void count_verdict(struct cl_lease *st,
			  const struct credlimit_result *r, bool local)
{
	struct cl_stripe *stripe = cl_stripe_of_thread(st->local);

	if (r->verdict == CREDLIMIT_ALLOWED)
		uatomic_inc(&stripe->allowed);
	else
		uatomic_inc(&stripe->denied);
	if (local)
		uatomic_inc(&stripe->lease_local);
}

/*
 * Returns some idle units to Redis when this process's sweep is due: at
 * most SWEEP_SLOTS slots every lease_idle_ms / 4 (at least 1 ms), from
 * where its last sweep stopped, and refreshes the mirrored policies.  One
 * thread of a process sweeps at a time.
 */
#define SWEEP_SLOTS 256
static void maybe_sweep(struct cl_lease *st, uint64_t now_ns, bool known)
{
	uint64_t interval = st->config.idle_ns / 4;
	uint64_t start, next;

	if (!known ||
	    now_ns < __atomic_load_n(&st->sweep_at_ns, __ATOMIC_RELAXED))
		return;
	if (pthread_mutex_trylock(&st->lock) != 0)
		return;
	if (now_ns < st->sweep_at_ns) {
		pthread_mutex_unlock(&st->lock);
		return;
	}
	if (interval < 1000000)
		interval = 1000000;
	__atomic_store_n(&st->sweep_at_ns, now_ns + interval, __ATOMIC_RELAXED);
	start = st->sweep_cursor;
	pthread_mutex_unlock(&st->lock);

	if (cl_lease_sweep(st, now_ns, st->config.idle_ns, start, SWEEP_SLOTS,
			   &next) >= 0) {
		pthread_mutex_lock(&st->lock);
		st->sweep_cursor = next;
		pthread_mutex_unlock(&st->lock);
	}

	/* A change of a policy's numbers makes the units held under the
	 * old ones unspendable (spend()) once the lease cache has it. */
	cl_lease_mirror_all(st);
}

/*
 * Takes a lease from Redis for a claimed entry, installs what the request
 * leaves of it, and fills *r with Redis's decision.  Applies the upstream's
 * on_error action when Redis fails.
 */
static int take_lease(struct cl_lease *st, const struct cl_key *k,
		      int policy, const void *key, size_t key_len,
		      uint64_t cost, uint64_t now_ns, const struct claim *c,
		      struct credlimit_result *r)
{
	struct cl_stripe *stripe = cl_stripe_of_thread(st->local);
	struct cl_redis_lease_request req = { 0 };
	struct cl_redis_lease_reply rep;
	struct install in = { 0 };
	struct cl_params params;
	uint64_t sent_ns, t;
	bool known;
	int err;

	req.policy = policy;
	req.cost = cost;
	req.want = UINT64_C(1) << c->exponent;
	if (req.want > st->config.lease_max)
		req.want = st->config.lease_max;
	if (key_len > CREDLIMIT_KEY_INLINE_MAX || req.want < cost)
		req.want = cost;
	req.refund = c->refund;
	req.refund_window = c->refund_window;
	req.refund_window_ns = c->refund_window_ns;
	req.now_ns = now_ns != CREDLIMIT_NOW ? &now_ns : NULL;

	sent_ns = cl_monotonic_ns();
	err = cl_redis_lease_locked(st->upstream, key, key_len, &req, &rep);
	if (err < 0) {
		t = cl_lease_time(st->local, now_ns, &known);
		if (c->ours)
			cl_with_entry(st->local, k, CL_LOCATE_WRITE, t, 0,
				      release_change, NULL);
		if (c->refund > 0)
			uatomic_add(&stripe->lease_units_lost, c->refund);
		if (!cl_redis_unavailable(err))
			return err;
		err = cl_redis_fallback(st->upstream, policy, key, key_len,
					cost, now_ns, err, r);
		if (err == 0)
			count_verdict(st, r, false);
		return err;
	}

	if (now_ns == CREDLIMIT_NOW && rep.redis_now_ns > sent_ns) {
		/* Relaxed: every offset written is an upper bound, so a
		 * reader of an older one judges windows as safely. */
		__atomic_store_n(&st->local->ctl->lease_clock_offset,
				 rep.redis_now_ns - sent_ns, __ATOMIC_RELAXED);
	}
	t = cl_lease_time(st->local, now_ns, &known);

	uatomic_inc(&stripe->lease_fetches);
	uatomic_add(&stripe->lease_units_taken, rep.granted);
	if (c->refund > 0) {
		uatomic_add(&stripe->lease_units_returned, rep.refunded);
		uatomic_add(&stripe->lease_units_lost, c->refund - rep.refunded);
	}

	in.st = st;
	in.claim = c;
	in.assigned = rep.result.policy != policy;
	in.window = rep.window;
	in.window_ns = rep.result.window_ns;
	in.extra = rep.result.verdict == CREDLIMIT_ALLOWED
			   ? (uint32_t)(rep.granted - cost)
			   : 0;
	in.empty = rep.result.remaining == 0;
	in.now_ns = t;
	in.local_id = cl_lease_mirror_policy(st, rep.result.policy, &params);
	err = in.local_id;
	if (err >= 0 && params.policy.window_ns != rep.result.window_ns)
		err = -ESTALE; /* the mirror lags Redis: keep nothing */
	if (err >= 0) {
		in.wid = params.wid;
		in.version = params.version & CL_LEASE_VERSION_MASK;
		err = cl_with_entry(st->local, k, CL_LOCATE_INSERT, t,
				    (unsigned)in.local_id, install_change, &in);
		if (err == 0)
			cl_grow_after_decision(st->local, in.grow, in.capacity,
					       t);
	}
	if (err < 0) {
		/* No entry to keep the units in: they all go back. */
		in.units = 0;
		in.back = in.extra;
		in.back_window = in.window;
		in.back_window_ns = in.window_ns;
	}
	if (in.back > 0)
		cl_lease_give_back(st, rep.result.policy, key, key_len, in.back,
				   in.back_window, in.back_window_ns);

	*r = rep.result;
	if (r->verdict == CREDLIMIT_ALLOWED)
		r->remaining += in.units;
	count_verdict(st, r, false);
	return 0;
}

/* Starts the growth of a lease cache that had no room for a key, or helps
 * the migration under way.  This request goes to Redis meanwhile. */
static void grow_for_room(struct credlimit *local, uint64_t now_ns)
{
	struct cl_view *view;
	uint64_t capacity = 0;

	rcu_read_lock();
	view = cl_view_enter(local);
	if (view != NULL)
		capacity = view->current->table.capacity;
	rcu_read_unlock();
	if (capacity > 0)
		cl_grow_after_decision(local, capacity < local->max_capacity,
				       capacity, now_ns);
}

int cl_lease_decide(struct credlimit *cl, int policy, const void *key,
		    size_t key_len, uint64_t cost, uint64_t now_ns,
		    struct credlimit_result *result)
{
	struct cl_lease *st = cl->backend_state;
	struct spend_call call = { .st = st, .policy = policy, .cost = cost };
	struct cl_params params;
	uint64_t wait_until = 0;
	unsigned round = 0;
	struct cl_key k;
	int local_id;
	int err;

	if (result == NULL)
		return -EINVAL;
	err = cl_key_validate(key, key_len);
	if (err < 0)
		return err;
	if (st->rdonly)
		return -EROFS;
	if (policy < 0 || policy >= CREDLIMIT_POLICY_MAX)
		return -ENOENT;

	local_id = __atomic_load_n(&st->local_of[policy], __ATOMIC_RELAXED);
	if (local_id < 0) {
		local_id = cl_lease_mirror_policy(st, policy, &params);
		if (cl_redis_unavailable(local_id)) {
			/* No policy mirrored yet and no Redis to read it
			 * from: the upstream's on_error action decides. */
			err = cl_redis_fallback(st->upstream, policy, key,
						key_len, cost, now_ns, local_id,
						result);
			if (err == 0)
				count_verdict(st, result, false);
			return err;
		}
		if (local_id < 0)
			return local_id;
	}
	call.local_id = local_id;
	cl_key_prepare(&k, st->local->secret, key, key_len);

	for (;;) {
		call.now_ns = cl_lease_time(st->local, now_ns, &call.known);
		err = cl_with_entry(st->local, &k, CL_LOCATE_INSERT,
				    call.now_ns, (unsigned)local_id,
				    spend_change, &call);
		if (err != LEASE_WAIT)
			break;
		if (wait_until == 0)
			wait_until = cl_monotonic_ns() + st->config.wait_ns;
		if (cl_monotonic_ns() >= wait_until)
			call.take_own = true;
		else
			pause_briefly(round++);
	}

	if (err == -ENOSPC)
		grow_for_room(st->local, call.now_ns);
	else if (err >= 0)
		cl_grow_after_decision(st->local, call.grow, call.capacity,
				       call.now_ns);

	if (err == -ENOSPC || err == LEASE_READ) {
		/* No room in the lease cache, or a read of a key without
		 * units here: Redis decides this request alone. */
		err = credlimit_acquire_policy(st->upstream, policy, key,
					       key_len, cost, now_ns, result);
		if (err == 0)
			count_verdict(st, result, false);
		return err;
	}
	if (err < 0)
		return err;
	if (err == 0) {
		count_verdict(st, &call.result, true);
		*result = call.result;
		maybe_sweep(st, call.now_ns, call.known);
		return 0;
	}

	err = take_lease(st, &k, policy, key, key_len, cost, now_ns,
			 &call.claim, result);
	maybe_sweep(st, call.now_ns, call.known);
	return err;
}
