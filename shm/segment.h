/*
 * segment.h - naming, creating, attaching and validating segments
 *
 * Functions here deal with one segment at a time and never trust what a
 * segment contains: a header is validated field by field against the
 * layout this build knows before any offset or size in it is used.
 */
#ifndef CREDLIMIT_SHM_SEGMENT_H
#define CREDLIMIT_SHM_SEGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "shm/layout.h"

/* Longest POSIX shm name we build: "/credlimit." NAME ".g" 20 digits. */
#define CL_SHM_NAME_MAX (11 + 200 + 2 + 20)

/* Returns 0 when name is a valid limiter name, else -EINVAL or
 * -ENAMETOOLONG. */
int cl_name_validate(const char *name);

/* Writes "/credlimit.NAME" (generation 0) or "/credlimit.NAME.gN" into
 * buf, which has room for CL_SHM_NAME_MAX + 1 bytes. */
void cl_shm_name(char *buf, const char *name, uint64_t generation);

/* A mapped segment. */
struct cl_mapping {
	void *addr;
	size_t size;
};

/*
 * Creates segment shm_name exclusively with exactly `mode` permissions,
 * owned by `owner` (only root may give it to another user), in `group`
 * ((gid_t)-1: the creator's; only root or a member may choose another),
 * with `size` zero bytes.  Reserves its memory when `reserve` (else the
 * caller must, with cl_segment_reserve(), before any process touches
 * it), and maps it read-write.
 *
 * Returns 0, -EEXIST, -ENOSPC (not enough free space in /dev/shm),
 * -ENOMEM (see cl_segment_room()), -EPERM, or another negative errno
 * value from shm_open(), fchmod(), fchown(), ftruncate(),
 * posix_fallocate() and mmap().  On failure nothing is left behind and
 * *map is zeroed.
 */
int cl_segment_create(const char *shm_name, size_t size, mode_t mode,
		      uid_t owner, gid_t group, bool reserve,
		      struct cl_mapping *map);

/*
 * Checks that a new segment of `size` bytes fits: in the free space of
 * /dev/shm, and in the memory Linux reports available (MemAvailable plus
 * free swap, where tmpfs pages live).  Returns 0, -ENOSPC or -ENOMEM.
 * Other processes may take that room before the caller does: this only
 * rejects what cannot fit now.
 */
int cl_segment_room(uint64_t size);

/* Reserves the memory of bytes [offset, offset + length) of a segment.
 * Returns 0, -ENOSPC, or another negative errno value. */
int cl_segment_reserve(const char *shm_name, uint64_t offset, uint64_t length);

/* Maps `size` bytes of anonymous shared memory (a private limiter). */
int cl_segment_create_anonymous(size_t size, struct cl_mapping *map);

/*
 * Opens an existing segment and maps all of it.  The owner must be `owner`
 * unless any_owner.  Returns 0 with *map, *st_uid, *st_gid and *st_mode
 * set, or
 * -ENOENT, -EACCES, -EPERM (other owner), -ENODATA (smaller than
 * min_size), -EMSGSIZE (larger than max_size), or an errno of shm_open(),
 * fstat() or mmap().  On failure *map is zeroed.
 */
int cl_segment_attach(const char *shm_name, bool rdonly, uid_t owner,
		      bool any_owner, size_t min_size, size_t max_size,
		      struct cl_mapping *map, uid_t *st_uid, gid_t *st_gid,
		      mode_t *st_mode);

/* Unmaps a mapping made by the functions above; a zeroed one is fine. */
void cl_segment_unmap(struct cl_mapping *map);

/*
 * Validates a control segment header of `size` mapped bytes.  Returns 0,
 * -EPROTO (bad magic), -EPROTONOSUPPORT (layout version), -EMSGSIZE (sizes
 * differ from this build's layout) or -EBADMSG (a field out of range), and
 * points *why at a static description of the first problem.
 */
int cl_ctl_validate(const struct cl_ctl *ctl, size_t size, const char **why);

/*
 * Validates a table segment header of `size` mapped bytes, for generation
 * `generation` of the limiter whose control header is ctl.  Same returns
 * as cl_ctl_validate().
 */
int cl_table_validate(const struct cl_table *table, size_t size,
		      const struct cl_ctl *ctl, uint64_t generation,
		      const char **why);

/* Writes a table header for `capacity` slots (8 to 2^32) into a
 * zeroed mapping of cl_table_size(capacity) bytes, magic last. */
void cl_table_init(struct cl_table *table, const struct cl_ctl *ctl,
		   uint64_t generation, uint64_t capacity);

/* Bytes of a table segment of `capacity` slots. */
static inline uint64_t cl_table_size(uint64_t capacity)
{
	return CL_TABLE_HEADER_SIZE + capacity * CL_ENTRY_SIZE;
}

/* Slots one lookup examines in a table of `capacity` slots. */
static inline uint32_t cl_probe_limit(uint64_t capacity)
{
	return capacity < CL_PROBE_MAX ? (uint32_t)capacity : CL_PROBE_MAX;
}

#endif /* CREDLIMIT_SHM_SEGMENT_H */
