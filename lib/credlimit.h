/*
 * credlimit.h - credit-based rate limiting shared by the processes of one host
 *
 * A limiter is a named table of customers kept in POSIX shared memory.  Every
 * process that opens the same name, and every child fork()ed after an open,
 * sees the same counters, so the workers of a prefork server enforce one
 * limit per customer together instead of one limit each.
 *
 * The algorithm.  A policy has four numbers: max_requests R per window of
 * window_ns W nanoseconds, max_credits C and initial_credits I.  Windows are
 * aligned: the window of time t is floor(t / W).  A customer may make R
 * requests in each window from its base allowance.  When a window ends,
 * every base request it did not use becomes a credit (R for each fully idle
 * window), and stored credits are capped at C.  A request of cost k is
 * allowed while k <= (R - used) + credits: the base allowance pays first and
 * credits pay the rest.  A denied request is not charged.  A customer seen
 * for the first time starts with I credits.  Over any interval of length W
 * a customer can be allowed at most 2R + C: R at the end of one window and
 * R + C at the start of the next.
 *
 * Conventions.  Functions return 0 (or a non-negative count or id) on
 * success and a negative errno value on failure; they never leave the cause
 * in errno alone.  credlimit_strerror() describes every error.  A verdict
 * (allowed or denied) is a successful call: it is reported in struct
 * credlimit_result, never as an error.  Out-parameters are written on
 * success only, unless a function says otherwise.  Times are uint64_t
 * nanoseconds on CLOCK_MONOTONIC unless the caller passes its own, and
 * every now_ns parameter accepts CREDLIMIT_NOW to read that clock.
 *
 * Threads and processes.  A handle may be used by any number of threads at
 * once, and by the children of a process that fork()s after opening it.
 * Decisions are lock-free: a process killed at any instruction leaves a
 * table the others keep using.  credlimit_close() must not race with other
 * calls on the same handle.
 *
 * Redis.  A name of the form redis://HOST:PORT/DB?OPTIONS (or
 * redis+shards://..., redis+cluster://...) opens a limiter kept in Redis
 * instead, with the same functions.  Every host that opens the same URI
 * shares it.  docs/redis.md describes the URI, the keys and the failure
 * actions.  Each function below states what differs on Redis.  A handle
 * on Redis makes one connection per server and process, and its threads
 * take turns on it.
 *
 * The library never prints.  It reports conditions worth an operator's
 * attention (a recovered insert, a full table) through the optional log
 * callback in struct credlimit_options.
 */
#ifndef CREDLIMIT_H
#define CREDLIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(CREDLIMIT_BUILDING) && defined(__GNUC__)
#define CREDLIMIT_API __attribute__((visibility("default")))
#else
#define CREDLIMIT_API
#endif

#define CREDLIMIT_VERSION_MAJOR 0
#define CREDLIMIT_VERSION_MINOR 2
#define CREDLIMIT_VERSION_PATCH 0
/* MAJOR * 10000 + MINOR * 100 + PATCH, so 0.2.0 is 200. */
#define CREDLIMIT_VERSION_NUMBER                                            \
	(CREDLIMIT_VERSION_MAJOR * 10000 + CREDLIMIT_VERSION_MINOR * 100 +  \
	 CREDLIMIT_VERSION_PATCH)
#define CREDLIMIT_VERSION_STRING "0.2.0"

/* Longest limiter name, in bytes.  Names use [A-Za-z0-9._-], may not
 * start with '.', and may not end in ".g" and digits (the suffix of table
 * segments). */
#define CREDLIMIT_NAME_MAX 200

/* Longest key, in bytes.  Keys are arbitrary bytes, NUL included. */
#define CREDLIMIT_KEY_MAX 65535

/* Keys up to this many bytes are stored verbatim.  Longer keys are stored
 * as a keyed 128-bit digest plus their first CREDLIMIT_KEY_PREFIX bytes,
 * which limitctl shows followed by "...". */
#define CREDLIMIT_KEY_INLINE_MAX 32
#define CREDLIMIT_KEY_PREFIX 16

/* Number of policy ids (0 .. CREDLIMIT_POLICY_MAX - 1) and longest policy
 * name, in bytes.  Policy names use [A-Za-z0-9._:-]. */
#define CREDLIMIT_POLICY_MAX 256
#define CREDLIMIT_POLICY_NAME_MAX 47

/* The policy every limiter has: id 0, named "default". */
#define CREDLIMIT_POLICY_DEFAULT 0
/* No per-key policy assignment (credlimit_set_key_policy()). */
#define CREDLIMIT_POLICY_NONE (-1)

/* Largest table, in slots.  The smallest is 8: a smaller capacity asked
 * for becomes 8.  Any capacity in between is used as given. */
#define CREDLIMIT_CAPACITY_MAX (UINT64_C(1) << 32)

/* Valid window lengths, in nanoseconds: 1 ms to 366 days. */
#define CREDLIMIT_WINDOW_MIN_NS UINT64_C(1000000)
#define CREDLIMIT_WINDOW_MAX_NS (UINT64_C(366) * 86400 * 1000000000)

/* At most this many distinct window lengths over a limiter's lifetime. */
#define CREDLIMIT_WINDOWS_MAX 1023

/* Passed as now_ns: read CLOCK_MONOTONIC. */
#define CREDLIMIT_NOW UINT64_MAX

/* A retry_after_ns of UINT64_MAX means never, or later than 2^64 - 1 ns. */
#define CREDLIMIT_NEVER UINT64_MAX

/* Per-process handle on a limiter. */
typedef struct credlimit credlimit_t;

/*
 * Numbers of a policy.  Valid ranges: 1 <= max_requests <= 2^32 - 1,
 * CREDLIMIT_WINDOW_MIN_NS <= window_ns <= CREDLIMIT_WINDOW_MAX_NS,
 * 0 <= max_credits <= 2^32 - 1 and 0 <= initial_credits <= max_credits.
 */
struct credlimit_policy {
	uint32_t max_requests;    /* R: requests per window, base allowance */
	uint32_t max_credits;     /* C: cap on stored credits */
	uint32_t initial_credits; /* I: credits of a customer seen first */
	uint64_t window_ns;       /* W: window length, nanoseconds */
};

/* A named policy, as credlimit_policy_get() and _list() report it. */
struct credlimit_policy_info {
	int id;
	char name[CREDLIMIT_POLICY_NAME_MAX + 1];
	struct credlimit_policy policy;
};

enum credlimit_verdict {
	/* Over the limit: retry_after_ns tells when the same cost fits. */
	CREDLIMIT_DENIED = 0,
	CREDLIMIT_ALLOWED = 1,
	/* Cost above R + C: no wait makes it fit, nothing was charged. */
	CREDLIMIT_DENIED_NEVER = 2,
};

/* Flags in struct credlimit_result. */
enum {
	/* The key had no entry: this call created it, or (peek) it has none
	 * and the result describes a customer seen for the first time. */
	CREDLIMIT_RESULT_NEW = 1u << 0,
	/* The table had no room: the full-table action allowed the request
	 * and nothing was recorded. */
	CREDLIMIT_RESULT_UNTRACKED = 1u << 1,
	/* The table had no room: the full-table action denied the request. */
	CREDLIMIT_RESULT_FULL = 1u << 2,
	/* With NEW: another key's entry was evicted to make room. */
	CREDLIMIT_RESULT_EVICTED = 1u << 3,
	/* Redis only: Redis was unreachable or slow, and the URI's on_error
	 * action decided: deny (retry_after_ns is retry_min_ms), allow (with
	 * UNTRACKED), or the local shared-memory limiter. */
	CREDLIMIT_RESULT_FALLBACK = 1u << 4,
	/* Leases only: this host's leased units decided without a round
	 * trip to Redis.  remaining then counts the units leased here, and
	 * credits is 0 (this host does not know the customer's credits). */
	CREDLIMIT_RESULT_LEASED = 1u << 5,
};

/*
 * Outcome of one decision.  Counts are after the decision.  Under
 * CREDLIMIT_RESULT_FULL or CREDLIMIT_RESULT_UNTRACKED nothing was stored:
 * the counts are those of a new customer making this request, and a FULL
 * denial's retry_after_ns is the end of the current window, when idle
 * entries may have become evictable.
 */
struct credlimit_result {
	int verdict;             /* enum credlimit_verdict */
	unsigned flags;          /* CREDLIMIT_RESULT_* */
	int policy;              /* id of the policy applied */
	uint32_t limit;          /* R of that policy */
	uint32_t credits;        /* stored credits c */
	uint64_t remaining;      /* (R - used) + c: the largest cost that fits now */
	uint64_t window_ns;      /* W of that policy, nanoseconds */
	uint64_t reset_after_ns; /* until the current window ends, 0 < x <= W */
	/* 0 when allowed; else the wait until a request of the same cost
	 * would be allowed if no other request came; CREDLIMIT_NEVER when
	 * verdict is CREDLIMIT_DENIED_NEVER or the wait overflows. */
	uint64_t retry_after_ns;
};

/* Returns true when result->verdict is CREDLIMIT_ALLOWED. */
static inline bool credlimit_allowed(const struct credlimit_result *result)
{
	return result->verdict == CREDLIMIT_ALLOWED;
}

/* Flags of credlimit_open(). */
enum {
	/* Create the limiter when it does not exist. */
	CREDLIMIT_OPEN_CREATE = 1u << 0,
	/* With CREATE: fail with -EEXIST when it exists. */
	CREDLIMIT_OPEN_EXCL = 1u << 1,
	/* Map read-only: only lookups, peeks, iteration and statistics. */
	CREDLIMIT_OPEN_RDONLY = 1u << 2,
	/* Accept a segment owned by any user (root inspecting another
	 * user's limiter).  Without it the owner must be options.owner. */
	CREDLIMIT_OPEN_ANY_OWNER = 1u << 3,
};

/* What a decision does when its key is new and no slot can be freed. */
enum credlimit_full_action {
	CREDLIMIT_FULL_DENY = 0,  /* deny with CREDLIMIT_RESULT_FULL */
	CREDLIMIT_FULL_ALLOW = 1, /* allow with CREDLIMIT_RESULT_UNTRACKED */
};

enum credlimit_log_level {
	CREDLIMIT_LOG_ERROR = 0,
	CREDLIMIT_LOG_WARNING = 1,
	CREDLIMIT_LOG_INFO = 2,
};

/*
 * Log callback.  Called from the thread that made the call, possibly from
 * several threads at once, with a NUL-terminated message without a
 * trailing newline.  The message is valid only during the call.
 */
typedef void (*credlimit_log_fn)(void *context, int level,
				 const char *message);

/*
 * Options of credlimit_open().  Initialize with credlimit_options_init().
 * Capacity, policy, mode and full action apply only when the call creates
 * the limiter; an existing limiter keeps its own.
 */
struct credlimit_options {
	/* Slots of the table, at least 8 (see CREDLIMIT_CAPACITY_MAX).  In
	 * tests with random keys, new keys started to find no room at about
	 * 80% load in large tables; growth starts at 50%.  Default 4096. */
	uint64_t initial_capacity;
	/* Largest table the limiter may grow to, in slots; 0 means equal to
	 * initial_capacity.  Default 0.  A private limiter never grows: its
	 * max capacity is its initial capacity, whatever this field is. */
	uint64_t max_capacity;
	/* Numbers of policy 0, "default".  Default 60 requests per minute,
	 * 60 credits, 0 initial credits. */
	struct credlimit_policy default_policy;
	/* Permissions of the segments, at most 0777 and including 0600
	 * (the creator must read and write them).  Default 0600. */
	mode_t mode;
	/* enum credlimit_full_action.  Default CREDLIMIT_FULL_DENY. */
	int full_action;
	/* User that an existing segment must belong to.  Segments this
	 * call creates are given to that user, which only root may do for
	 * another user.  (uid_t)-1, the default, means the effective user
	 * id. */
	uid_t owner;
	credlimit_log_fn log; /* NULL: no logging */
	void *log_context;

	/* Leases (docs/leases.md).  upstream: the Redis URI whose counts
	 * the shared-memory limiter named by credlimit_open() takes in
	 * batches; NULL, the default, for a plain limiter (a name of the
	 * form "shm:NAME?upstream=..." sets it too, and wins).  lease:
	 * largest batch, units, 1 .. CREDLIMIT_LEASE_MAX, default 32.
	 * lease_idle_ms: a key's leased units unused for this long go back
	 * to Redis, default 1000, at least 1.  lease_wait_us: how long a
	 * decision waits for another process's lease of the same key before
	 * taking its own, default 2000. */
	const char *upstream;
	uint32_t lease;
	uint32_t lease_idle_ms;
	uint32_t lease_wait_us;
};

/* Largest lease, units. */
#define CREDLIMIT_LEASE_MAX (UINT32_C(1) << 30)

/* Information about a limiter, from credlimit_stats(). */
struct credlimit_stats {
	uint64_t allowed;       /* decisions allowed */
	uint64_t denied;        /* decisions denied, full-table denials included */
	uint64_t credits_spent; /* credits that paid for allowed requests */
	uint64_t inserts;       /* entries created */
	uint64_t evictions;     /* entries evicted to make room */
	uint64_t full_events;   /* new keys that found no room */
	uint64_t recoveries;    /* half-written entries of dead processes reused */
	uint64_t entries;       /* entries in the table now */
	uint64_t capacity;      /* slots of the current table */
	uint64_t max_capacity;  /* slots the table may grow to */
	uint64_t generation;    /* current table generation, from 1 */
	uint64_t migrations;    /* table migrations (growth steps) finished */
	uint64_t entries_moved; /* entries copied into new tables */
	/* Entries migrations did not copy: indistinguishable from new
	 * customers, or (rarely) no room in the new table. */
	uint64_t entries_dropped;
	bool migrating;              /* a migration is under way */
	uint64_t migration_capacity; /* slots of its target table */
	/* Slots of the current table handed out to be moved (some may be
	 * in progress); 0 while the new table is prepared. */
	uint64_t migration_progress;
	uint64_t probe_limit;   /* slots a lookup examines at most */
	uint64_t segment_bytes; /* control segment plus current table */
	int full_action;        /* enum credlimit_full_action */
	int policies;           /* named policies defined */
	int windows;            /* distinct window lengths registered */
	mode_t mode;            /* permissions of the control segment */
	uid_t owner;            /* owner of the control segment */

	/* On Redis, allowed, denied and credits_spent count this process's
	 * decisions since open or fork(), entries counts the customer keys
	 * that SCAN finds, and the table sizes above are 0.  The fields
	 * below are Redis only (0 on shared memory) and count this
	 * process's events: */
	uint64_t redis_errors;     /* commands or connects that failed */
	uint64_t redis_timeouts;   /* of which timed out */
	uint64_t redis_reconnects; /* servers answering again after failing */
	uint64_t redis_noscript;   /* NOSCRIPT replies, sent again by EVAL */
	uint64_t redis_moved;      /* cluster MOVED redirections followed */
	uint64_t redis_ask;        /* cluster ASK redirections followed */
	uint64_t fallback_denied;  /* decisions on_error=deny denied */
	uint64_t fallback_allowed; /* decisions on_error=allow allowed */
	uint64_t fallback_local;   /* decisions of the local limiter */
	uint64_t redis_nodes;      /* servers known: URI's and cluster's */

	/* Leases: true for a lease cache (kind of segment), and host-wide
	 * counts since it was created (all processes of this host), 0 on
	 * other limiters. */
	bool lease_cache;
	uint64_t lease_fetches;        /* round trips that took a lease */
	uint64_t lease_units_taken;    /* units those leases granted */
	uint64_t lease_returns;        /* round trips that only returned units */
	uint64_t lease_units_returned; /* units Redis took back */
	/* Units returned too late (Redis had rolled past the window after
	 * theirs, or changed the window length), lost with a return that
	 * failed, or dropped with an evicted entry. */
	uint64_t lease_units_lost;
	/* Decisions served from leased units without a round trip: the
	 * round trips saved against one call to Redis per decision. */
	uint64_t lease_local;
	/* Units leased to this host and not yet spent or returned, now:
	 * what other hosts cannot take until this host returns them or
	 * their window ends. */
	uint64_t lease_units_held;
};

/*
 * One entry, as credlimit_lookup() and credlimit_foreach() report it.  The
 * stored state is consistent: it is a value the entry had at one instant.
 */
struct credlimit_entry {
	/* The key, or its first CREDLIMIT_KEY_PREFIX bytes when key_hashed. */
	uint8_t key[CREDLIMIT_KEY_INLINE_MAX];
	size_t key_len;    /* length of the original key, bytes */
	size_t key_stored; /* valid bytes in key[] */
	bool key_hashed;   /* longer than CREDLIMIT_KEY_INLINE_MAX */
	uint8_t digest[16]; /* keyed digest when key_hashed, else zero */
	int policy;          /* policy of the last decision */
	int policy_override; /* operator's assignment or CREDLIMIT_POLICY_NONE */
	bool fresh;          /* no decision since creation or reset */
	uint32_t used;       /* base requests counted in the stored window */
	uint32_t credits;    /* credits stored */
	uint64_t window_start_ns; /* start of the stored window */
	uint64_t window_ns;       /* length of the stored window */
	uint64_t last_seen_ns;    /* time of the last decision */
	/* Lease caches: units leased to this host for the stored window
	 * (window_start_ns, window_ns), still unspent; used and credits are
	 * 0 there. */
	uint64_t leased;
	/* The entry seen at the time passed to lookup or foreach, as a
	 * cost-0 decision under its effective policy would report it,
	 * without changing it. */
	struct credlimit_result now;
};

/* Called by credlimit_foreach() for each entry; a non-zero return stops
 * the iteration and is returned by credlimit_foreach(). */
typedef int (*credlimit_entry_fn)(void *context,
				  const struct credlimit_entry *entry);

/*
 * Called by credlimit_check() for each finding: level CREDLIMIT_LOG_ERROR
 * for a problem (the segment is corrupt), CREDLIMIT_LOG_INFO for a note
 * on something in progress or left by a dead process that the next writer
 * recovers by itself (a half-written entry, a lock of a dead process).
 */
typedef void (*credlimit_problem_fn)(void *context, int level,
				     const char *message);

/* Version of the library at run time, as CREDLIMIT_VERSION_NUMBER and
 * CREDLIMIT_VERSION_STRING give it at compile time. */
CREDLIMIT_API unsigned credlimit_version_number(void);
CREDLIMIT_API const char *credlimit_version_string(void);

/*
 * Returns a static English description of a value returned by this
 * library: an error (negative errno) or 0.  Never returns NULL.
 */
CREDLIMIT_API const char *credlimit_strerror(int error);

/* Sets every field of *options to its default. */
CREDLIMIT_API void credlimit_options_init(struct credlimit_options *options);

/*
 * Checks a policy's numbers against the valid ranges.
 * Returns 0, or -EINVAL naming nothing more: callers that report which
 * number is wrong test the ranges documented at struct credlimit_policy.
 */
CREDLIMIT_API int credlimit_policy_validate(const struct credlimit_policy *p);

/*
 * Opens the limiter called name, creating it with CREDLIMIT_OPEN_CREATE.
 * It lives in the shared-memory segment "/credlimit.NAME" and its table in
 * "/credlimit.NAME.gN", N being the table generation.  name NULL with
 * CREDLIMIT_OPEN_CREATE makes a private limiter: anonymous shared memory
 * that only this process and its later children see, and a table that
 * keeps its initial capacity.
 *
 * options may be NULL for the defaults; with CREDLIMIT_OPEN_CREATE they
 * are validated even when the limiter exists and they go unused.  On
 * success *out is a new handle
 * that the caller releases with credlimit_close(); on failure *out is NULL.
 * A handle stays valid in children fork()ed after this call.
 *
 * Errors: -EINVAL (bad name, flags or options), -ENAMETOOLONG, -ENOENT (no
 * such limiter and no CREATE), -EEXIST (EXCL and it exists), -EACCES
 * (segment permissions), -EPERM (segment owned by another user, or a
 * creation for another user by a process that may not chown), -EPROTO
 * (not a credlimit segment, or never initialized), -EPROTONOSUPPORT (other
 * layout version), -EMSGSIZE (size does not match the header), -ENODATA
 * (segment truncated), -EBADMSG (corrupt header, or the table segment of
 * an existing limiter is missing), -ENOSPC (creating: not enough free
 * space in /dev/shm for the table), -ENOMEM, or an errno of shm_open(),
 * ftruncate() or mmap().  Details of a refused segment go to the log
 * callback.
 *
 * Redis: name is a URI (docs/redis.md).  The call connects, loads the
 * decision script and the policies; a limiter exists when its policies
 * hash does, and CREATE makes it with options->default_policy as policy
 * 0 (the other options apply only to an on_error=local limiter, which it
 * opens or creates).  Extra errors: -EINVAL (invalid URI, logged with the
 * part at fault), -ECONNREFUSED, -ETIMEDOUT, -EAGAIN, -EIO (Redis
 * unreachable), -EPROTO (unexpected reply), -EBADMSG (invalid policy in
 * Redis), -EPROTONOSUPPORT (library built without hiredis).
 *
 * Leases (docs/leases.md): "shm:NAME?lease=N&idle_ms=N&wait_us=N&upstream=URI",
 * or NAME with options->upstream set, opens the lease cache NAME (created
 * with CREATE, with the options that apply to shared memory) and the Redis
 * URI.  "shm:NAME" without upstream is the plain limiter NAME.  Extra
 * errors: -EINVAL (invalid lease option, logged), -EMEDIUMTYPE (NAME is a
 * plain limiter), -EXDEV (the lease cache was first opened with another
 * upstream: other servers, database or prefix), and those of both opens.
 */
CREDLIMIT_API int credlimit_open(const char *name, unsigned flags,
				 const struct credlimit_options *options,
				 credlimit_t **out);

/*
 * Unmaps the limiter and frees the handle.  The segments stay: other
 * processes keep using them.  NULL is accepted.  Returns 0.
 */
CREDLIMIT_API int credlimit_close(credlimit_t *cl);

/*
 * Removes the limiter's segments by name; a Redis URI is an invalid name
 * here (-EINVAL), and a lease name removes its lease cache.  Processes that have it open
 * keep using their mappings; a later open creates a new limiter.
 * Errors: -EINVAL, -ENAMETOOLONG, -ENOENT, -EACCES, -EPERM.
 */
CREDLIMIT_API int credlimit_unlink(const char *name);

/* Returns the name the handle was opened with ("" for a private one, the
 * URI for Redis). */
CREDLIMIT_API const char *credlimit_name(const credlimit_t *cl);

/*
 * Returns the current time, in ns, in the time base of the limiter's
 * decisions at CREDLIMIT_NOW.  That is CLOCK_MONOTONIC for shared memory
 * and CLOCK_REALTIME of this host (an estimate of Redis TIME) for Redis.
 * For a lease handle or lease cache it is CLOCK_MONOTONIC plus the
 * cache's offset to Redis TIME, or CLOCK_MONOTONIC alone until its first
 * lease.  For tools that show ages and waits of stored times.  NULL gives
 * CLOCK_MONOTONIC.
 */
CREDLIMIT_API uint64_t credlimit_now(const credlimit_t *cl);

/* Returns true when credlimit_open() created the limiter, false when it
 * attached to an existing one. */
CREDLIMIT_API bool credlimit_created(const credlimit_t *cl);

/*
 * Decides one request of cost for key under the default policy at the
 * current CLOCK_MONOTONIC time, and charges it when allowed.  A new key is
 * inserted.  Cost 0 reads the state without charging.  Never allocates
 * memory; makes no system call except clock_gettime() (vDSO) and, on the
 * rare paths of a half-written entry or a full table, kill(pid, 0) and
 * sched_yield().
 *
 * Errors: -EINVAL (key NULL, key_len 0), -E2BIG (key_len above
 * CREDLIMIT_KEY_MAX), -EROFS (read-only handle), -EBADMSG (corrupt policy
 * or entry), -EBUSY (an entry stayed half-written by a live process for
 * more than a second).  *result is written on success only.
 *
 * Redis: one EVALSHA (two for a key with an assigned policy), waiting at
 * most the URI's timeout_ms per command, serialized with the handle's
 * other threads.  The time is Redis TIME (CLOCK_REALTIME of the server)
 * for CREDLIMIT_NOW.  When Redis is down or slow the on_error action
 * decides and sets CREDLIMIT_RESULT_FALLBACK: that is a success.  Extra
 * errors: -ENOENT (policy unknown to Redis), -EBUSY (the key's assigned
 * policy kept changing), errors of the local limiter.
 *
 * Leases: no system call and no round trip while this host's units of the
 * key cover the cost (CREDLIMIT_RESULT_LEASED).  Otherwise one round trip
 * takes the next lease, after a wait of up to lease_wait_us for another
 * process's lease of the key.  A decision may also return idle units (docs/leases.md).
 * Extra error: -EMEDIUMTYPE on a lease cache opened without its upstream.
 */
CREDLIMIT_API int credlimit_acquire(credlimit_t *cl, const void *key,
				    size_t key_len, uint64_t cost,
				    struct credlimit_result *result);

/* As credlimit_acquire(), at time now_ns (CREDLIMIT_NOW: the clock). */
CREDLIMIT_API int credlimit_acquire_at(credlimit_t *cl, const void *key,
				       size_t key_len, uint64_t cost,
				       uint64_t now_ns,
				       struct credlimit_result *result);

/*
 * As credlimit_acquire_at(), under policy id `policy` instead of the
 * default.  A per-key assignment (credlimit_set_key_policy()) wins over
 * `policy`.  Extra error: -ENOENT (no policy with that id).
 */
CREDLIMIT_API int credlimit_acquire_policy(credlimit_t *cl, int policy,
					   const void *key, size_t key_len,
					   uint64_t cost, uint64_t now_ns,
					   struct credlimit_result *result);

/*
 * Reports what a cost-0 decision for key would report at now_ns, without
 * changing anything; works on read-only handles.  The key's assigned
 * policy applies, else the policy of its last decision, else the default.
 * A key without an entry reports a new customer with CREDLIMIT_RESULT_NEW.
 * Errors: -EINVAL, -E2BIG, -EBADMSG.  Redis: also the connection errors
 * of credlimit_open(); peeks never fall back.
 */
CREDLIMIT_API int credlimit_peek(credlimit_t *cl, const void *key,
				 size_t key_len, uint64_t now_ns,
				 struct credlimit_result *result);

/*
 * Copies the key's entry into *entry, its `now` member computed at now_ns.
 * Errors: -EINVAL, -E2BIG, -ENOENT (no entry), -EBADMSG.  Redis: a key
 * over CREDLIMIT_KEY_INLINE_MAX bytes reports an unkeyed SipHash digest.
 * The state and `now` are read by two commands, not atomically.  Extra
 * errors: the connection errors of credlimit_open().
 */
CREDLIMIT_API int credlimit_lookup(credlimit_t *cl, const void *key,
				   size_t key_len, uint64_t now_ns,
				   struct credlimit_entry *entry);

/*
 * Makes the key a new customer again: its next decision starts from
 * initial_credits.  A per-key policy assignment is kept.
 * Errors: -EINVAL, -E2BIG, -EROFS, -ENOENT (no entry), -EBADMSG.  Redis:
 * the key's hash is deleted (only its counts, when it has an assigned
 * policy), so a later lookup returns -ENOENT; connection errors.
 */
CREDLIMIT_API int credlimit_reset(credlimit_t *cl, const void *key,
				  size_t key_len);

/* Resets every entry as credlimit_reset() does.  Returns the number of
 * entries reset, or -EROFS.  Redis: walks the keys with SCAN; connection
 * errors stop it. */
CREDLIMIT_API int64_t credlimit_reset_all(credlimit_t *cl);

/*
 * Sets the key's stored credits to `credits` at now_ns: the stored window
 * first rolls to now_ns, so the value is exact from then on.  Inserts the
 * key when it has no entry.  Errors: -EINVAL, -E2BIG, -EROFS, -ERANGE
 * (credits above the key's max_credits), -EBADMSG, -EBUSY, -ENOSPC (table
 * full).  Redis: atomic in the decision script, at Redis TIME for
 * CREDLIMIT_NOW; no -ENOSPC; connection errors.
 */
CREDLIMIT_API int credlimit_set_credits(credlimit_t *cl, const void *key,
					size_t key_len, uint32_t credits,
					uint64_t now_ns);

/*
 * Assigns policy id `policy` to the key, or removes the assignment with
 * CREDLIMIT_POLICY_NONE.  The assignment wins over the policy a caller
 * names, and the key keeps its counts: they are clamped to the new numbers
 * at its next decision.  Inserts the key when it has no entry (not for
 * CREDLIMIT_POLICY_NONE), last seen at the current CLOCK_MONOTONIC time.
 * An assigned key is never evicted.
 * Errors: -EINVAL, -E2BIG, -EROFS, -ENOENT (no such policy, or NONE for a
 * key without entry), -EBUSY, -ENOSPC.  Redis: an assigned key never
 * expires; no -EBUSY or -ENOSPC; connection errors.
 */
CREDLIMIT_API int credlimit_set_key_policy(credlimit_t *cl, const void *key,
					   size_t key_len, int policy);

/*
 * Defines a named policy, or changes the numbers of an existing one.
 * Customers keep their counts across a change.  Returns the policy id
 * (stable for the limiter's life; "default" is 0).
 * Errors: -EINVAL (bad name or numbers), -EROFS, -ENOSPC (all
 * CREDLIMIT_POLICY_MAX ids used, or CREDLIMIT_WINDOWS_MAX distinct window
 * lengths used), -EBUSY (another process held the policy lock for over two
 * seconds).  Redis: stored in the policies hash by a script; other
 * handles see a change within their policy_refresh_ms; no window-length
 * limit; connection errors.
 */
CREDLIMIT_API int credlimit_policy_define(credlimit_t *cl, const char *name,
					  const struct credlimit_policy *policy);

/* Looks a policy up by name.  Returns its id and, when out is not NULL,
 * copies its numbers.  Errors: -EINVAL, -ENOENT, -EBADMSG.  Redis: from
 * the handle's cache, reloaded when older than policy_refresh_ms, which
 * can fail with connection errors (also for _get and _list). */
CREDLIMIT_API int credlimit_policy_find(credlimit_t *cl, const char *name,
					struct credlimit_policy *out);

/* Copies policy `id`.  Errors: -ENOENT (id out of range or unused),
 * -EBADMSG. */
CREDLIMIT_API int credlimit_policy_get(credlimit_t *cl, int id,
				       struct credlimit_policy_info *out);

/* Copies up to `max` defined policies in id order into out[] and returns
 * how many are defined (which may exceed max). */
CREDLIMIT_API int credlimit_policy_list(credlimit_t *cl,
					struct credlimit_policy_info *out,
					size_t max);

/*
 * Calls fn for every entry, in table order, with `now` computed at now_ns.
 * Entries inserted or removed meanwhile may or may not be visited; the
 * others are visited exactly once.  Returns 0, fn's non-zero return, or
 * -EBADMSG.  Works on read-only handles.  Redis: walks every server that
 * stores customers with SCAN, in no particular order, and calls fn without
 * the handle's lock.  A key may be visited twice while a cluster
 * reshards.  Extra errors: the connection errors of credlimit_open().
 */
CREDLIMIT_API int credlimit_foreach(credlimit_t *cl, uint64_t now_ns,
				    credlimit_entry_fn fn, void *context);

/*
 * Grows the table to `capacity` slots (0 doubles it) and waits until the
 * new table is current: the way to resize before a known peak.  A
 * migration already running is finished first; with capacity 0 that is
 * all the call does, since that migration already grows the table.  A
 * growth started here ignores the wait that decisions keep after a
 * failed growth.  Decisions of other processes go on meanwhile.
 *
 * Returns 0 (also when the table is already that large), -ERANGE (above
 * the limiter's maximum capacity), -EROFS, -ENOSPC (no room in /dev/shm
 * for the new table), -ENOMEM (the new table is larger than the memory
 * available), -EPERM (the caller may not create segments with the
 * owner and group of the limiter), or -EINVAL.  Redis: -EOPNOTSUPP
 * (Redis sizes itself).
 */
CREDLIMIT_API int credlimit_grow(credlimit_t *cl, uint64_t capacity);

/* Fills *out with counters and sizes.  Counters are sums of per-thread
 * stripes read one by one, so they are exact only when no decision runs.
 * Redis: see struct credlimit_stats; counting entries walks every key
 * with SCAN; connection errors. */
CREDLIMIT_API int credlimit_stats(credlimit_t *cl,
				  struct credlimit_stats *out);

/*
 * Validates the control segment, the policies, the table header and every
 * entry's invariants (status, key layout, tag and probe distance, no key
 * stored twice, window id registered, counts within the largest numbers
 * any policy had), calling report (may be NULL) for each finding.  Returns
 * the number of problems (findings of level CREDLIMIT_LOG_ERROR; 0 means
 * valid) or a negative error.  Works on read-only handles; entries being
 * changed while it runs are read consistently, one at a time.  Redis:
 * -EOPNOTSUPP (no segments to validate).
 */
CREDLIMIT_API int credlimit_check(credlimit_t *cl, credlimit_problem_fn report,
				  void *context);

/*
 * Returns leased units to Redis: those of every key whose last decision on
 * this host is at least min_idle_ns old at now_ns (0: every key), and those
 * whose window has ended by now_ns whatever their age.  now_ns is in the
 * time base of the decisions: CREDLIMIT_NOW for limiters that decide at
 * Redis TIME, the caller's clock for those that pass times.  Decisions
 * already do this in small steps, and credlimit_close() does it for every
 * key.  A server whose workers may sit idle calls it from a timer, so that
 * idle hosts do not keep capacity other hosts need.  One round trip per
 * key returned.
 *
 * Returns the number of units Redis took back (late units it refuses are
 * counted as lost in the statistics), or -EINVAL (not a lease limiter),
 * -EROFS, or an error of the local table.  A Redis failure is not an
 * error: the units of the keys it hit are lost (under-admission only)
 * and counted, and the failure is logged.  Safe from any process and
 * thread; concurrent calls return each unit at most once.
 */
CREDLIMIT_API int64_t credlimit_lease_return(credlimit_t *cl,
					     uint64_t now_ns,
					     uint64_t min_idle_ns);

#ifdef __cplusplus
}
#endif

#endif /* CREDLIMIT_H */
