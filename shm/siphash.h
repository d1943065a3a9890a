/*
 * siphash.h - keyed hashing of customer keys
 *
 * SipHash (Aumasson and Bernstein, "SipHash: a fast short-input PRF",
 * 2012) keyed with the limiter's random 128-bit secret.  Without the secret
 * nobody can choose keys that collide, so colliding keys cannot lengthen
 * probe sequences beyond chance.  SipHash-1-3 places keys in the table;
 * the 128-bit output of SipHash-2-4 identifies keys too long to store.
 */
#ifndef CREDLIMIT_SHM_SIPHASH_H
#define CREDLIMIT_SHM_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

/* SipHash-1-3 with a 64-bit output. */
uint64_t cl_siphash13(const uint64_t key[2], const void *data, size_t len);

/* SipHash-2-4 with a 128-bit output, written to out[16]. */
void cl_siphash24_128(const uint64_t key[2], const void *data, size_t len,
		      uint8_t out[16]);

/* SipHash-2-4 with a 64-bit output (reference test vectors use it). */
uint64_t cl_siphash24(const uint64_t key[2], const void *data, size_t len);

#endif /* CREDLIMIT_SHM_SIPHASH_H */
