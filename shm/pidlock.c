/*
 * pidlock.c - lock word holding its holder's pid, recovered when it dies
 *
 * Taking the lock is a compare-and-swap from 0 to our pid.  A waiter backs
 * off, and every few rounds checks whether the holder still exists; if it
 * does not, the waiter swaps the dead pid for its own.  The swap from the
 * exact dead value makes the takeover safe among several waiters: only one
 * of them succeeds.  Pid reuse can make a dead holder look alive; the
 * timeout bounds the wait in that case.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <urcu/arch.h>
#include <urcu/system.h>
#include <urcu/uatomic.h>

#include "pidlock.h"

uint64_t cl_monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

bool cl_pid_alive(uint64_t pid)
{
	if (pid == 0 || pid > INT32_MAX)
		return false;
	return kill((pid_t)pid, 0) == 0 || errno != ESRCH;
}

void cl_backoff(unsigned round)
{
	if (round < 64) {
		for (unsigned i = 0; i < (1u << (round < 6 ? round : 6)); i++)
			caa_cpu_relax();
		return;
	}
	sched_yield();
}

int cl_wait_for_owner(struct cl_wait *w, uint64_t pid)
{
	/* Spin and yield for 64 rounds before the first liveness check, so
	 * a claim that is about to be published costs no system call. */
	if (w->round >= 64 && w->round % 16 == 0) {
		uint64_t now = cl_monotonic_ns();

		if (!cl_pid_alive(pid))
			return 1;
		if (w->deadline == 0)
			w->deadline = now + CL_OWNER_TIMEOUT_NS;
		else if (now > w->deadline)
			return -EBUSY;
	}
	cl_backoff(w->round++);
	return 0;
}

int cl_pidlock_acquire(uint64_t *word, uint64_t timeout_ns)
{
	uint64_t self = (uint64_t)getpid();
	uint64_t deadline = 0;
	unsigned round = 0;

	for (;;) {
		/* Full barrier; pairs with the release in
		 * cl_pidlock_release() and with other takers' swaps. */
		uint64_t holder = uatomic_cmpxchg(word, 0, self);

		if (holder == 0)
			return 0;

		if (round >= 64 && round % 16 == 0) {
			uint64_t now = cl_monotonic_ns();

			if (deadline == 0)
				deadline = now + timeout_ns;
			/* Same pairing as above: the dead holder's pid is
			 * replaced only if it is still the holder. */
			if (!cl_pid_alive(holder) &&
			    uatomic_cmpxchg(word, holder, self) == holder)
				return 1;
			if (now > deadline)
				return -EBUSY;
		}
		cl_backoff(round++);
	}
}

void cl_pidlock_release(uint64_t *word)
{
	/* Orders the critical section's stores before the release; pairs
	 * with the compare-and-swap in cl_pidlock_acquire(). */
	cmm_smp_mb();
	CMM_STORE_SHARED(*word, 0);
}
