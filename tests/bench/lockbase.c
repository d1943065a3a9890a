/*
 * lockbase.c - the lock-based baseline: credlimit's algorithm and table
 * layout behind one process-shared, robust pthread mutex
 *
 * Besides the work credlimit does too, a decision here costs one
 * pthread_mutex_lock() and pthread_mutex_unlock() pair.  While no other
 * process waits, that is a pair of atomic instructions on the header's
 * cache line.  When one waits, it adds a futex wait and wake in the
 * kernel.  Hashing and the preparation of the key's words happen before
 * the lock is taken, so the critical section holds only the probe, the
 * algorithm and the stores.
 *
 * Entries are credlimit's struct cl_entry, with their own encoding of the
 * state and meta words.  The state is written with plain stores under the
 * lock:
 *
 *   state_lo  bits 31..0 used, bits 63..32 credits
 *   state_hi  window index + 1, or 0 for a customer without state
 *
 * meta is 0 for an empty slot, else bit 0 set, the key length in bits
 * 16..1 and 6 bits of the hash in bits 63..58, so most other keys are
 * skipped without comparing their words, as in credlimit.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lockbase.h"
#include "shm/layout.h"
#include "shm/siphash.h"

#define META_USED UINT64_C(1)
#define META_LEN_SHIFT 1
#define META_TAG_SHIFT 58

/* A fixed SipHash key: the baseline needs placement as good as
 * credlimit's, not protection against chosen keys. */
static const uint64_t lockbase_secret[2] = {
	UINT64_C(0x0706050403020100), UINT64_C(0x0f0e0d0c0b0a0908),
};

struct lockbase_header {
	pthread_mutex_t mutex;
	struct credlimit_policy policy;
	uint64_t capacity;
	uint64_t allowed;
	uint64_t denied;
	uint64_t inserts;
} __attribute__((aligned(CL_CACHE_LINE)));

/* A key ready for the table: its hash, meta word and 32 stored bytes. */
struct lockbase_key {
	uint64_t hash;
	uint64_t meta;
	uint64_t words[4];
};

static int init_mutex(pthread_mutex_t *mutex)
{
	pthread_mutexattr_t attr;
	int err;

	err = pthread_mutexattr_init(&attr);
	if (err != 0)
		return -err;
	err = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	if (err == 0)
		err = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
	if (err == 0)
		err = pthread_mutex_init(mutex, &attr);
	pthread_mutexattr_destroy(&attr);
	return -err;
}

int lockbase_create(struct lockbase *lb, uint64_t capacity,
		    const struct credlimit_policy *policy)
{
	static unsigned created;
	size_t bytes = sizeof(struct lockbase_header) +
		       capacity * sizeof(struct cl_entry);
	char name[64];
	void *map;
	int fd, err;

	if (capacity == 0 || (capacity & (capacity - 1)) != 0)
		return -EINVAL;

	snprintf(name, sizeof(name), "/bench-lock-%d-%u", (int)getpid(),
		 created++);
	fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)bytes) < 0) {
		err = -errno;
		close(fd);
		shm_unlink(name);
		return err;
	}
	map = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	err = map == MAP_FAILED ? -errno : 0;
	close(fd);
	shm_unlink(name);
	if (err < 0)
		return err;

	lb->header = map;
	lb->entries = (struct cl_entry *)(lb->header + 1);
	lb->bytes = bytes;
	lb->mask = capacity - 1;
	lb->header->policy = *policy;
	lb->header->capacity = capacity;

	err = init_mutex(&lb->header->mutex);
	if (err < 0) {
		munmap(map, bytes);
		return err;
	}
	return 0;
}

void lockbase_destroy(struct lockbase *lb)
{
	if (lb->header == NULL)
		return;
	pthread_mutex_destroy(&lb->header->mutex);
	munmap(lb->header, lb->bytes);
	lb->header = NULL;
}

static int prepare_key(struct lockbase_key *k, const void *key, size_t len)
{
	if (len == 0 || len > sizeof(k->words))
		return -E2BIG;
	memset(k->words, 0, sizeof(k->words));
	memcpy(k->words, key, len);
	k->hash = cl_siphash13(lockbase_secret, key, len);
	k->meta = META_USED | (uint64_t)len << META_LEN_SHIFT |
		  (k->hash >> META_TAG_SHIFT) << META_TAG_SHIFT;
	return 0;
}

static int lock_segment(struct lockbase_header *h)
{
	int err = pthread_mutex_lock(&h->mutex);

	/* NOTE: a server would have to repair the entry that the dead
	 * owner was writing.  The benchmark's workers never die while they
	 * hold the lock, so marking the mutex consistent is enough here. */
	if (err == EOWNERDEAD)
		err = pthread_mutex_consistent(&h->mutex);
	return -err;
}

/* Finds the key's entry, or inserts it into the first empty slot of its
 * probe sequence.  Slots are never emptied, so the first empty slot also
 * ends the search.  Returns NULL when the sequence has no room. */
static struct cl_entry *find_or_insert(struct lockbase *lb,
					     const struct lockbase_key *k,
					     bool insert, bool *inserted)
{
	for (uint64_t i = 0; i < CL_PROBE_MAX && i <= lb->mask; i++) {
		struct cl_entry *e = &lb->entries[(k->hash + i) & lb->mask];

		if (e->meta == 0) {
			if (!insert)
				return NULL;
			memcpy(e->key, k->words, sizeof(e->key));
			e->meta = k->meta;
			e->state_lo = 0;
			e->state_hi = 0;
			*inserted = true;
			return e;
		}
		if (e->meta == k->meta &&
		    memcmp(e->key, k->words, sizeof(e->key)) == 0)
			return e;
	}
	return NULL;
}

static void decode_state(const struct cl_entry *e,
			 const struct credlimit_policy *policy,
			 struct cl_algo_state *s)
{
	s->used = (uint32_t)e->state_lo;
	s->credits = (uint32_t)(e->state_lo >> 32);
	s->window = e->state_hi == 0 ? 0 : e->state_hi - 1;
	s->window_ns = e->state_hi == 0 ? 0 : policy->window_ns;
}

int lockbase_acquire(struct lockbase *lb, const void *key, size_t key_len,
		     uint64_t cost, uint64_t now_ns,
		     struct credlimit_result *result)
{
	struct lockbase_header *h = lb->header;
	struct cl_entry *e;
	struct lockbase_key k;
	struct cl_algo_state s;
	bool inserted = false;
	int err;

	err = prepare_key(&k, key, key_len);
	if (err < 0)
		return err;
	err = lock_segment(h);
	if (err < 0)
		return err;

	e = find_or_insert(lb, &k, true, &inserted);
	if (e == NULL) {
		pthread_mutex_unlock(&h->mutex);
		return -ENOSPC;
	}
	decode_state(e, &h->policy, &s);
	if (cl_algo_decide(&h->policy, &s, now_ns, cost, result, NULL)) {
		e->state_lo = (uint64_t)s.used | (uint64_t)s.credits << 32;
		e->state_hi = s.window + 1;
		e->last_seen_ns = now_ns;
	}
	if (result->verdict == CREDLIMIT_ALLOWED)
		h->allowed++;
	else
		h->denied++;
	if (inserted)
		h->inserts++;

	pthread_mutex_unlock(&h->mutex);
	result->policy = CREDLIMIT_POLICY_DEFAULT;
	result->flags = inserted ? CREDLIMIT_RESULT_NEW : 0;
	return 0;
}

int lockbase_lookup(struct lockbase *lb, const void *key, size_t key_len,
		    struct cl_algo_state *state)
{
	struct cl_entry *e;
	struct lockbase_key k;
	bool inserted = false;
	int err;

	err = prepare_key(&k, key, key_len);
	if (err < 0)
		return err;
	err = lock_segment(lb->header);
	if (err < 0)
		return err;
	e = find_or_insert(lb, &k, false, &inserted);
	if (e != NULL)
		decode_state(e, &lb->header->policy, state);
	pthread_mutex_unlock(&lb->header->mutex);
	return e == NULL ? -ENOENT : 0;
}

uint64_t lockbase_allowed(const struct lockbase *lb)
{
	return lb->header->allowed;
}
