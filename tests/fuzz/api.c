/*
 * api.c - fuzz target: sequences of API calls against the pure algorithm
 *
 * Decodes a sequence of operations from the input and runs each on a
 * private limiter and on a model that keeps every key's state in a plain
 * struct cl_algo_state and decides with cl_algo_decide() directly.  Every
 * result (verdict, remaining, credits, reset and retry times) and every
 * stored state (lookup after each operation) must match the model
 * exactly, and no result may report more credits than the policy's C.
 *
 * Operations, 4 bytes each after the opcode byte: decisions under the
 * default or the second policy with a time step forward, backward or to
 * an extreme, resets, set_credits, changes of either policy's numbers
 * (window length included) and per-key policy assignments.  Times are
 * kept below CREDLIMIT_NOW, which means "read the clock".
 */
#include <errno.h>
#include <string.h>

#include "credlimit.h"
#include "fuzz.h"
#include "lib/algorithm.h"

#define KEYS 8
#define POLICIES 2
#define MAX_OPERATIONS 256
#define MS UINT64_C(1000000)

struct model_key {
	bool exists;
	int last_policy;
	int assigned; /* CREDLIMIT_POLICY_NONE or a policy id */
	struct cl_algo_state state;
};

struct model {
	struct credlimit_policy policies[POLICIES];
	struct model_key keys[KEYS];
	uint64_t now_ns;
};

static const char *const key_names[KEYS] = {
	"k0", "k1", "k2", "k3", "k4", "k5", "\0nul",
	"a key longer than thirty-two bytes is stored hashed",
};

static size_t key_length(unsigned index)
{
	return index == 6 ? 4 : strlen(key_names[index]);
}

/* Window lengths the operations choose from: few, so that the limiter's
 * registry of 1,023 window lengths never fills. */
static const uint64_t windows_ns[8] = {
	1 * MS, 7 * MS, 100 * MS, 1000 * MS, 60000 * MS, 3600000 * MS,
	CREDLIMIT_WINDOW_MAX_NS, 3 * MS,
};

static int effective_policy(const struct model_key *k, int requested)
{
	return k->assigned >= 0 ? k->assigned : requested;
}

static void check_result(const struct credlimit_result *got,
			 const struct credlimit_result *want,
			 const struct credlimit_policy *p)
{
	FUZZ_CHECK(got->verdict == want->verdict);
	FUZZ_CHECK(got->remaining == want->remaining);
	FUZZ_CHECK(got->credits == want->credits);
	FUZZ_CHECK(got->limit == want->limit);
	FUZZ_CHECK(got->window_ns == want->window_ns);
	FUZZ_CHECK(got->reset_after_ns == want->reset_after_ns);
	FUZZ_CHECK(got->retry_after_ns == want->retry_after_ns);
	/* Never more credits than C, and never more than R + C at once. */
	FUZZ_CHECK(got->credits <= p->max_credits);
	FUZZ_CHECK(got->remaining <=
		   (uint64_t)p->max_requests + p->max_credits);
}

static void decide(credlimit_t *cl, struct model *m, unsigned index,
		   int requested, uint64_t cost)
{
	struct model_key *k = &m->keys[index];
	int applied = k->exists ? effective_policy(k, requested) : requested;
	const struct credlimit_policy *p = &m->policies[applied];
	struct cl_algo_state s = k->exists ? k->state
					   : (struct cl_algo_state){ 0 };
	struct credlimit_result want, got;
	bool store;
	int err;

	err = credlimit_acquire_policy(cl, requested, key_names[index],
				       key_length(index), cost, m->now_ns,
				       &got);
	FUZZ_CHECK(err == 0);

	store = cl_algo_decide(p, &s, m->now_ns, cost, &want, NULL);
	check_result(&got, &want, p);
	FUZZ_CHECK(got.policy == applied);
	FUZZ_CHECK(!(got.flags & (CREDLIMIT_RESULT_FULL |
				  CREDLIMIT_RESULT_UNTRACKED)));
	/* NEW means this call created the entry, which a cost that never
	 * fits does not. */
	FUZZ_CHECK(((got.flags & CREDLIMIT_RESULT_NEW) != 0) ==
		   (!k->exists && store));

	/* A cost that never fits changes nothing and inserts nothing. */
	if (!store)
		return;
	k->state = s;
	k->last_policy = applied;
	if (!k->exists) {
		k->exists = true;
		k->assigned = CREDLIMIT_POLICY_NONE;
	}
}

static void set_credits(credlimit_t *cl, struct model *m, unsigned index,
			uint32_t credits)
{
	struct model_key *k = &m->keys[index];
	int policy = k->exists ? effective_policy(k, k->last_policy)
			       : CREDLIMIT_POLICY_DEFAULT;
	const struct credlimit_policy *p = &m->policies[policy];
	int err = credlimit_set_credits(cl, key_names[index],
					key_length(index), credits, m->now_ns);

	if (credits > p->max_credits) {
		FUZZ_CHECK(err == -ERANGE);
		return;
	}
	FUZZ_CHECK(err == 0);
	if (!k->exists) {
		k->exists = true;
		k->assigned = CREDLIMIT_POLICY_NONE;
		k->last_policy = CREDLIMIT_POLICY_DEFAULT;
		k->state = (struct cl_algo_state){ 0 };
	}
	cl_algo_roll(p, &k->state, m->now_ns);
	k->state.credits = credits;
}

static void reset_key(credlimit_t *cl, struct model *m, unsigned index)
{
	struct model_key *k = &m->keys[index];
	int err = credlimit_reset(cl, key_names[index], key_length(index));

	FUZZ_CHECK(err == (k->exists ? 0 : -ENOENT));
	k->state = (struct cl_algo_state){ 0 };
}

static void assign_policy(credlimit_t *cl, struct model *m, unsigned index,
			  int policy)
{
	struct model_key *k = &m->keys[index];
	int err = credlimit_set_key_policy(cl, key_names[index],
					   key_length(index), policy);

	if (policy == CREDLIMIT_POLICY_NONE && !k->exists) {
		FUZZ_CHECK(err == -ENOENT);
		return;
	}
	FUZZ_CHECK(err == 0);
	if (!k->exists) {
		k->exists = true;
		k->last_policy = CREDLIMIT_POLICY_DEFAULT;
		k->state = (struct cl_algo_state){ 0 };
	}
	k->assigned = policy;
}

static void define_policy(credlimit_t *cl, struct model *m, int id,
			  const uint8_t bytes[4])
{
	static const char *const names[POLICIES] = { "default", "second" };
	struct credlimit_policy p = {
		.max_requests = bytes[0] % 16,
		.max_credits = bytes[1] % 32,
		.initial_credits = bytes[2] % 32,
		.window_ns = windows_ns[bytes[3] % 8],
	};
	int err = credlimit_policy_define(cl, names[id], &p);

	if (credlimit_policy_validate(&p) < 0) {
		FUZZ_CHECK(err == -EINVAL);
		return;
	}
	FUZZ_CHECK(err == id);
	m->policies[id] = p;
}

/* Compares every key's stored entry with the model. */
static void compare_entries(credlimit_t *cl, const struct model *m)
{
	for (unsigned i = 0; i < KEYS; i++) {
		const struct model_key *k = &m->keys[i];
		struct credlimit_entry e;
		int err = credlimit_lookup(cl, key_names[i], key_length(i),
					   m->now_ns, &e);

		if (!k->exists) {
			FUZZ_CHECK(err == -ENOENT);
			continue;
		}
		FUZZ_CHECK(err == 0);
		FUZZ_CHECK(e.policy_override == k->assigned);
		FUZZ_CHECK(e.fresh == (k->state.window_ns == 0));
		if (e.fresh)
			continue;
		FUZZ_CHECK(e.used == k->state.used);
		FUZZ_CHECK(e.credits == k->state.credits);
		FUZZ_CHECK(e.window_ns == k->state.window_ns);
		FUZZ_CHECK(e.window_start_ns ==
			   k->state.window * k->state.window_ns);
	}
}

/* Moves the model's clock by one operation's time byte and word. */
static void step_time(struct model *m, uint8_t kind, uint16_t amount)
{
	switch (kind % 8) {
	case 0: /* no step: several decisions at one instant */
		break;
	case 1:
	case 2:
		m->now_ns += (uint64_t)amount * 100000; /* up to 6.5 s */
		break;
	case 3: /* backwards, as a worker whose clock is behind */
		m->now_ns -= m->now_ns < (uint64_t)amount * 100000
				     ? m->now_ns
				     : (uint64_t)amount * 100000;
		break;
	case 4: /* far in the future */
		m->now_ns = UINT64_MAX - 1 - amount;
		break;
	case 5: /* far in the past */
		m->now_ns = amount;
		break;
	case 6:
		m->now_ns += (uint64_t)amount * 86400 * 1000000000;
		break;
	default: /* a window boundary of the first window length */
		m->now_ns = (m->now_ns / MS + 1) * MS;
		break;
	}
	if (m->now_ns >= CREDLIMIT_NOW)
		m->now_ns = CREDLIMIT_NOW - 1;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet_stdio();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct credlimit_options o;
	struct model m = { 0 };
	credlimit_t *cl;
	unsigned operations = 0;

	credlimit_options_init(&o);
	o.initial_capacity = 64;
	o.default_policy = (struct credlimit_policy){ 3, 4, 1, 1000 * MS };
	FUZZ_CHECK(credlimit_open(NULL, CREDLIMIT_OPEN_CREATE, &o, &cl) == 0);
	m.policies[0] = o.default_policy;
	m.policies[1] = (struct credlimit_policy){ 2, 9, 9, 7 * MS };
	FUZZ_CHECK(credlimit_policy_define(cl, "second", &m.policies[1]) == 1);
	m.now_ns = 1000 * 1000 * MS;

	while (size >= 5 && operations++ < MAX_OPERATIONS) {
		uint8_t op = data[0];
		const uint8_t *arg = data + 1;
		unsigned index = arg[0] % KEYS;

		data += 5;
		size -= 5;
		step_time(&m, arg[1], (uint16_t)(arg[2] | arg[3] << 8));

		switch (op % 8) {
		case 0:
		case 1:
			decide(cl, &m, index, CREDLIMIT_POLICY_DEFAULT,
			       arg[1] >> 3);
			break;
		case 2:
			decide(cl, &m, index, 1, arg[1] >> 3);
			break;
		case 3:
			reset_key(cl, &m, index);
			break;
		case 4:
			set_credits(cl, &m, index, arg[3] % 40);
			break;
		case 5:
			define_policy(cl, &m, (op >> 3) & 1, arg);
			break;
		case 6:
			assign_policy(cl, &m, index,
				      (int)(arg[1] % 3) - 1);
			break;
		default:
			/* A cost far above any R + C, and a huge one. */
			decide(cl, &m, index, (op >> 3) & 1,
			       arg[1] & 1 ? UINT64_MAX : 1000);
			break;
		}
		compare_entries(cl, &m);
	}

	credlimit_close(cl);
	return 0;
}
