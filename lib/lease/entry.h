/*
 * entry.h - a lease cache entry's state word
 *
 * A lease cache is an ordinary table (shm/) whose entries hold units that
 * Redis charged to the customer and leased to this host, instead of the
 * algorithm's (w, u, c).  The state word keeps the layout of shm/entry.h
 * where the table layer reads it, so lookups, inserts, evictions and
 * migrations work unchanged:
 *
 *   state_hi  bits 44..0   window index the units were charged in, in
 *                          units of the window length below
 *             bits 54..45  window id of that length (0: nothing leased
 *                          yet), slot generation and flags: as
 *                          shm/entry.h
 *   state_lo  bits 31..0   units left
 *             bits 36..32  size exponent: the next lease requests
 *                          2^exponent units, capped by the lease option
 *             bit  37      EMPTY: Redis had nothing left for this window
 *                          when it last replied, so decisions that need
 *                          more than the units left are denied here
 *             bits 59..38  pid of the process taking a lease for this
 *                          key now, 0 for none
 *             bits 63..60  low bits of the version of the policy the
 *                          units were leased under (see below)
 *
 * Units may be spent only in the window they were charged in: a unit
 * charged in window w and spent in w + 1 would let the customer have it
 * twice, once here and once as a credit that Redis rolled over at the
 * window's end.  They may be spent only under the policy and the policy
 * numbers they were leased under, which the entry's last-policy field and
 * the version bits record.  Known imprecision: the version bits wrap
 * after 16 changes of one policy, so an entry that holds units through
 * exactly 16 changes would take them as current.
 */
#ifndef CREDLIMIT_LEASE_ENTRY_H
#define CREDLIMIT_LEASE_ENTRY_H

#include <stdbool.h>
#include <stdint.h>

#include "shm/entry.h"

#define CL_LEASE_EXP_SHIFT 32
#define CL_LEASE_EXP_MASK UINT64_C(0x1f)
#define CL_LEASE_EMPTY (UINT64_C(1) << 37)
#define CL_LEASE_PID_SHIFT 38
#define CL_LEASE_PID_MASK ((UINT64_C(1) << 22) - 1)
#define CL_LEASE_VERSION_SHIFT 60
#define CL_LEASE_VERSION_MASK UINT64_C(0xf)

/* Largest size exponent: 2^30 is CREDLIMIT_LEASE_MAX. */
#define CL_LEASE_EXP_MAX 30

static inline uint32_t cl_lease_units(uint64_t lo)
{
	return (uint32_t)lo;
}

static inline unsigned cl_lease_exponent(uint64_t lo)
{
	return (unsigned)((lo >> CL_LEASE_EXP_SHIFT) & CL_LEASE_EXP_MASK);
}

static inline bool cl_lease_empty(uint64_t lo)
{
	return (lo & CL_LEASE_EMPTY) != 0;
}

static inline unsigned cl_lease_fetcher(uint64_t lo)
{
	return (unsigned)((lo >> CL_LEASE_PID_SHIFT) & CL_LEASE_PID_MASK);
}

static inline unsigned cl_lease_version(uint64_t lo)
{
	return (unsigned)((lo >> CL_LEASE_VERSION_SHIFT) & CL_LEASE_VERSION_MASK);
}

static inline uint64_t cl_lease_make_lo(uint32_t units, unsigned exponent,
					bool empty, unsigned fetcher,
					unsigned version)
{
	return (uint64_t)units |
	       (uint64_t)(exponent & CL_LEASE_EXP_MASK) << CL_LEASE_EXP_SHIFT |
	       (empty ? CL_LEASE_EMPTY : 0) |
	       (uint64_t)(fetcher & CL_LEASE_PID_MASK) << CL_LEASE_PID_SHIFT |
	       (uint64_t)(version & CL_LEASE_VERSION_MASK)
		       << CL_LEASE_VERSION_SHIFT;
}

#endif /* CREDLIMIT_LEASE_ENTRY_H */
