/*
 * siphash.c - SipHash-c-d with 64- and 128-bit outputs
 *
 * The state is four 64-bit words initialized from the key; each 8-byte
 * little-endian block of the message is mixed in with c rounds, the last
 * block carries the message length in its top byte, and d rounds finish.
 * The 128-bit variant changes the initial constant of v1 and runs a second
 * finalization for the upper half.
 */
#include <stdbool.h>

#include "siphash.h"

struct sip_state {
	uint64_t v0, v1, v2, v3;
};

static inline uint64_t rotl(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

static inline uint64_t load_le64(const uint8_t *p)
{
	return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
	       (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 |
	       (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
	       (uint64_t)p[7] << 56;
}

/* Loads the last len < 8 bytes of a message as a little-endian word.
 * Byte by byte rather than through memcpy(): a call to the C library for
 * at most seven bytes costs more than the copy. */
static inline uint64_t load_tail(const uint8_t *p, size_t len)
{
	uint64_t m = 0;

	switch (len) {
	case 7:
		m |= (uint64_t)p[6] << 48;
		/* fall through */
	case 6:
		m |= (uint64_t)p[5] << 40;
		/* fall through */
	case 5:
		m |= (uint64_t)p[4] << 32;
		/* fall through */
	case 4:
		m |= (uint64_t)p[3] << 24;
		/* fall through */
	case 3:
		m |= (uint64_t)p[2] << 16;
		/* fall through */
	case 2:
		m |= (uint64_t)p[1] << 8;
		/* fall through */
	case 1:
		m |= (uint64_t)p[0];
		break;
	default:
		break;
	}
	return m;
}

static inline void sip_round(struct sip_state *s)
{
	s->v0 += s->v1;
	s->v1 = rotl(s->v1, 13);
	s->v1 ^= s->v0;
	s->v0 = rotl(s->v0, 32);
	s->v2 += s->v3;
	s->v3 = rotl(s->v3, 16);
	s->v3 ^= s->v2;
	s->v0 += s->v3;
	s->v3 = rotl(s->v3, 21);
	s->v3 ^= s->v0;
	s->v2 += s->v1;
	s->v1 = rotl(s->v1, 17);
	s->v1 ^= s->v2;
	s->v2 = rotl(s->v2, 32);
}

static inline void sip_rounds(struct sip_state *s, int rounds)
{
	for (int i = 0; i < rounds; i++)
		sip_round(s);
}

/* Initializes the state and absorbs the whole message with c rounds. */
static inline void sip_absorb(struct sip_state *s, const uint64_t key[2],
			      bool wide, const uint8_t *in, size_t len,
			      int c_rounds)
{
	const uint8_t *end = in + (len - len % 8);
	uint64_t m;

	s->v0 = key[0] ^ UINT64_C(0x736f6d6570736575);
	s->v1 = key[1] ^ UINT64_C(0x646f72616e646f6d);
	s->v2 = key[0] ^ UINT64_C(0x6c7967656e657261);
	s->v3 = key[1] ^ UINT64_C(0x7465646279746573);
	if (wide)
		s->v1 ^= 0xee;

	for (; in != end; in += 8) {
		m = load_le64(in);
		s->v3 ^= m;
		sip_rounds(s, c_rounds);
		s->v0 ^= m;
	}

	m = load_tail(in, len % 8) | (uint64_t)(len & 0xff) << 56;
	s->v3 ^= m;
	sip_rounds(s, c_rounds);
	s->v0 ^= m;
}

uint64_t cl_siphash13(const uint64_t key[2], const void *data, size_t len)
{
	struct sip_state s;

	sip_absorb(&s, key, false, data, len, 1);
	s.v2 ^= 0xff;
	sip_rounds(&s, 3);
	return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

uint64_t cl_siphash24(const uint64_t key[2], const void *data, size_t len)
{
	struct sip_state s;

	sip_absorb(&s, key, false, data, len, 2);
	s.v2 ^= 0xff;
	sip_rounds(&s, 4);
	return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

void cl_siphash24_128(const uint64_t key[2], const void *data, size_t len,
		      uint8_t out[16])
{
	struct sip_state s;
	uint64_t half;

	sip_absorb(&s, key, true, data, len, 2);
	s.v2 ^= 0xee;
	sip_rounds(&s, 4);
	half = s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(half >> (8 * i));

	s.v1 ^= 0xdd;
	sip_rounds(&s, 4);
	half = s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
	for (int i = 0; i < 8; i++)
		out[8 + i] = (uint8_t)(half >> (8 * i));
}
