/*
 * segment.c - naming, creating, attaching and validating segments
 *
 * Creation is exclusive (O_EXCL), so two processes creating one limiter
 * cannot both initialize it: the loser attaches instead.  A creator sizes
 * and fills the segment before it publishes the header's magic with a
 * release store, and an attacher reads the magic first with an acquire
 * load, so a valid magic implies a complete header.
 *
 * glibc's shm_open() opens /dev/shm/NAME with O_NOFOLLOW, so a symbolic
 * link planted under a limiter's name is rejected rather than followed.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <urcu/arch.h>
#include <urcu/system.h>

#include "credlimit.h"
#include "segment.h"

/* Returns true when name[0 .. len) ends in ".g" and one or more digits. */
static bool ends_like_generation(const char *name, size_t len)
{
	size_t digits = 0;

	while (digits < len && name[len - 1 - digits] >= '0' &&
	       name[len - 1 - digits] <= '9')
		digits++;

	return digits > 0 && len >= digits + 2 &&
	       name[len - digits - 1] == 'g' && name[len - digits - 2] == '.';
}

int cl_name_validate(const char *name)
{
	size_t len;

	if (name == NULL || name[0] == '\0' || name[0] == '.')
		return -EINVAL;

	len = strnlen(name, CREDLIMIT_NAME_MAX + 1);
	if (len > CREDLIMIT_NAME_MAX)
		return -ENAMETOOLONG;

	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return -EINVAL;
	}

	/* "/credlimit.NAME.gN" is a table segment of limiter NAME, so a
	 * limiter called "NAME.gN" would share a file with it. */
	if (ends_like_generation(name, len))
		return -EINVAL;
	return 0;
}

void cl_shm_name(char *buf, const char *name, uint64_t generation)
{
	if (generation == 0)
		snprintf(buf, CL_SHM_NAME_MAX + 1, "/credlimit.%s", name);
	else
		snprintf(buf, CL_SHM_NAME_MAX + 1, "/credlimit.%s.g%" PRIu64,
			 name, generation);
}

static int map_fd(int fd, size_t size, bool rdonly, struct cl_mapping *map)
{
	int prot = rdonly ? PROT_READ : PROT_READ | PROT_WRITE;
	void *addr = mmap(NULL, size, prot, MAP_SHARED, fd, 0);

	if (addr == MAP_FAILED)
		return -errno;
	map->addr = addr;
	map->size = size;
	return 0;
}

/* Returns MemAvailable plus SwapFree from /proc/meminfo in bytes, or
 * UINT64_MAX when the file cannot be read or lacks them. */
static uint64_t memory_available(void)
{
	uint64_t available = 0, swap_free = 0;
	unsigned found = 0;
	char line[128];
	FILE *f = fopen("/proc/meminfo", "re");

	if (f == NULL)
		return UINT64_MAX;
	while (found < 2 && fgets(line, sizeof(line), f) != NULL) {
		unsigned long long kib;

		if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1) {
			available = kib * 1024;
			found++;
		} else if (sscanf(line, "SwapFree: %llu kB", &kib) == 1) {
			swap_free = kib * 1024;
			found++;
		}
	}
	fclose(f);
	return found == 2 ? available + swap_free : UINT64_MAX;
}

int cl_segment_room(uint64_t size)
{
	struct statvfs vfs;

	if (statvfs("/dev/shm", &vfs) == 0 &&
	    (uint64_t)vfs.f_bavail * vfs.f_frsize < size)
		return -ENOSPC;
	if (memory_available() < size)
		return -ENOMEM;
	return 0;
}

int cl_segment_create(const char *shm_name, size_t size, mode_t mode,
		      uid_t owner, gid_t group, bool reserve,
		      struct cl_mapping *map)
{
	uid_t new_owner = owner != geteuid() ? owner : (uid_t)-1;
	gid_t new_group = group != (gid_t)-1 && group != getegid()
				  ? group
				  : (gid_t)-1;
	int fd;
	int err;

	memset(map, 0, sizeof(*map));

	/* posix_fallocate() on a tmpfs larger than the memory left would
	 * take that memory first and wake the OOM killer; fail at once. */
	err = cl_segment_room(size);
	if (err < 0)
		return err;

	fd = shm_open(shm_name, O_RDWR | O_CREAT | O_EXCL, mode & 0777);
	if (fd < 0)
		return -errno;

	/* shm_open() applies the umask; the caller asked for exact bits. */
	if (fchmod(fd, mode & 0777) != 0)
		goto fail_unlink;
	if ((new_owner != (uid_t)-1 || new_group != (gid_t)-1) &&
	    fchown(fd, new_owner, new_group) != 0)
		goto fail_unlink;
	if (ftruncate(fd, (off_t)size) != 0)
		goto fail_unlink;

	/* Reserve the pages now.  A sparse segment larger than the free
	 * space of /dev/shm would map fine, and every process touching a
	 * page that cannot be allocated would die of SIGBUS. */
	err = reserve ? posix_fallocate(fd, 0, (off_t)size) : 0;
	if (err != 0 && err != EOPNOTSUPP && err != ENOSYS) {
		errno = err;
		goto fail_unlink;
	}

	err = map_fd(fd, size, false, map);
	if (err != 0) {
		errno = -err;
		goto fail_unlink;
	}

	close(fd);
	return 0;

fail_unlink:
	err = -errno;
	shm_unlink(shm_name);
	close(fd);
	return err;
}

int cl_segment_reserve(const char *shm_name, uint64_t offset, uint64_t length)
{
	int fd = shm_open(shm_name, O_RDWR | O_NONBLOCK, 0);
	int err;

	if (fd < 0)
		return -errno;
	err = posix_fallocate(fd, (off_t)offset, (off_t)length);
	close(fd);
	if (err == EOPNOTSUPP || err == ENOSYS)
		return 0;
	return -err;
}

int cl_segment_create_anonymous(size_t size, struct cl_mapping *map)
{
	void *addr = mmap(NULL, size, PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	memset(map, 0, sizeof(*map));
	if (addr == MAP_FAILED)
		return -errno;
	map->addr = addr;
	map->size = size;
	return 0;
}

int cl_segment_attach(const char *shm_name, bool rdonly, uid_t owner,
		      bool any_owner, size_t min_size, size_t max_size,
		      struct cl_mapping *map, uid_t *st_uid, gid_t *st_gid,
		      mode_t *st_mode)
{
	struct stat st;
	int fd;
	int err;

	memset(map, 0, sizeof(*map));

	/* O_NONBLOCK: opening a FIFO planted under the name must not wait
	 * for a writer; it is rejected below as not a regular file. */
	fd = shm_open(shm_name, (rdonly ? O_RDONLY : O_RDWR) | O_NONBLOCK, 0);
	if (fd < 0)
		return -errno;

	if (fstat(fd, &st) != 0) {
		err = -errno;
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		err = -EPROTO;
		goto out_close;
	}
	if (!any_owner && st.st_uid != owner) {
		err = -EPERM;
		goto out_close;
	}
	if ((uint64_t)st.st_size < min_size) {
		err = -ENODATA;
		goto out_close;
	}
	if ((uint64_t)st.st_size > max_size) {
		err = -EMSGSIZE;
		goto out_close;
	}

	err = map_fd(fd, (size_t)st.st_size, rdonly, map);
	if (err == 0) {
		*st_uid = st.st_uid;
		*st_gid = st.st_gid;
		*st_mode = st.st_mode & 07777;
	}

out_close:
	close(fd);
	return err;
}

void cl_segment_unmap(struct cl_mapping *map)
{
	if (map->addr != NULL)
		munmap(map->addr, map->size);
	map->addr = NULL;
	map->size = 0;
}

#define INVALID(code, text)                                                  \
	do {                                                                 \
		*why = (text);                                               \
		return (code);                                               \
	} while (0)

int cl_ctl_validate(const struct cl_ctl *ctl, size_t size, const char **why)
{
	uint64_t magic;

	if (size < sizeof(*ctl))
		INVALID(-ENODATA, "control segment smaller than its header");

	magic = CMM_LOAD_SHARED(ctl->magic);
	/* Orders the magic load before the header loads; pairs with the
	 * creator's cmm_smp_wmb() before it stores the magic. */
	cmm_smp_rmb();
	if (magic != CL_CTL_MAGIC)
		INVALID(-EPROTO, "bad magic: not a credlimit control segment, "
				 "or its creator died before initializing it");
	if (ctl->layout_version != CL_LAYOUT_VERSION)
		INVALID(-EPROTONOSUPPORT, "unsupported layout version");
	if (ctl->header_size != sizeof(*ctl) || ctl->entry_size != CL_ENTRY_SIZE)
		INVALID(-EMSGSIZE, "header or entry size differs from this "
				   "library's layout");
	if (ctl->segment_size != CL_CTL_SIZE)
		INVALID(-EMSGSIZE, "recorded segment size differs from this "
				   "library's layout");
	if (size < CL_CTL_SIZE)
		INVALID(-ENODATA, "segment is shorter than its header records");
	if (size > CL_CTL_SIZE)
		INVALID(-EMSGSIZE, "segment is longer than its header records");
	if (ctl->window_slots != CL_WINDOW_SLOTS ||
	    ctl->policy_slots != CL_POLICY_SLOTS ||
	    ctl->stat_stripes != CL_STAT_STRIPES ||
	    ctl->windows_off != CL_CTL_WINDOWS_OFF ||
	    ctl->policies_off != CL_CTL_POLICIES_OFF ||
	    ctl->stats_off != CL_CTL_STATS_OFF)
		INVALID(-EBADMSG, "array counts or offsets are corrupt");
	if (ctl->initial_capacity < CL_CAPACITY_MIN ||
	    ctl->max_capacity < ctl->initial_capacity ||
	    ctl->max_capacity > CL_CAPACITY_MAX)
		INVALID(-EBADMSG, "capacities are corrupt");
	if (ctl->full_action != CREDLIMIT_FULL_DENY &&
	    ctl->full_action != CREDLIMIT_FULL_ALLOW)
		INVALID(-EBADMSG, "full-table action is corrupt");
	if (ctl->kind != CL_KIND_LIMITER && ctl->kind != CL_KIND_LEASE)
		INVALID(-EBADMSG, "segment kind is corrupt");
	return 0;
}

int cl_table_validate(const struct cl_table *table, size_t size,
		      const struct cl_ctl *ctl, uint64_t generation,
		      const char **why)
{
	uint64_t magic;

	if (size < CL_TABLE_HEADER_SIZE)
		INVALID(-ENODATA, "table segment smaller than its header");

	magic = CMM_LOAD_SHARED(table->magic);
	/* Orders the magic load before the header loads; pairs with the
	 * creator's cmm_smp_wmb() in cl_table_init(). */
	cmm_smp_rmb();
	if (magic != CL_TABLE_MAGIC)
		INVALID(-EPROTO, "bad magic: not a credlimit table segment");
	if (table->layout_version != CL_LAYOUT_VERSION)
		INVALID(-EPROTONOSUPPORT, "unsupported table layout version");
	if (table->header_size != CL_TABLE_HEADER_SIZE ||
	    table->entry_size != CL_ENTRY_SIZE)
		INVALID(-EMSGSIZE, "table header or entry size differs from "
				   "this library's layout");
	if (table->locks_off != CL_TABLE_LOCKS_OFF ||
	    table->entries_off != CL_TABLE_HEADER_SIZE)
		INVALID(-EBADMSG, "table offsets are corrupt");
	if (table->segment_id != ctl->segment_id)
		INVALID(-EBADMSG, "table belongs to another limiter");
	if (table->generation != generation)
		INVALID(-EBADMSG, "table generation differs from its name");
	if (table->capacity < CL_CAPACITY_MIN ||
	    table->capacity > ctl->max_capacity)
		INVALID(-EBADMSG, "table capacity is corrupt");
	if (table->probe_limit != cl_probe_limit(table->capacity))
		INVALID(-EBADMSG, "table probe limit is corrupt");
	if (table->segment_size != cl_table_size(table->capacity))
		INVALID(-EMSGSIZE, "recorded table size does not match its "
				   "capacity");
	if (size < table->segment_size)
		INVALID(-ENODATA, "table segment is shorter than its header "
				  "records");
	if (size > table->segment_size)
		INVALID(-EMSGSIZE, "table segment is longer than its header "
				   "records");
	return 0;
}

void cl_table_init(struct cl_table *table, const struct cl_ctl *ctl,
		   uint64_t generation, uint64_t capacity)
{
	table->layout_version = CL_LAYOUT_VERSION;
	table->header_size = CL_TABLE_HEADER_SIZE;
	table->segment_size = cl_table_size(capacity);
	table->segment_id = ctl->segment_id;
	table->generation = generation;
	table->capacity = capacity;
	table->entry_size = CL_ENTRY_SIZE;
	table->probe_limit = cl_probe_limit(capacity);
	table->locks_off = CL_TABLE_LOCKS_OFF;
	table->entries_off = CL_TABLE_HEADER_SIZE;

	/* Publishes the header; pairs with cmm_smp_rmb() in
	 * cl_table_validate(). */
	cmm_smp_wmb();
	CMM_STORE_SHARED(table->magic, CL_TABLE_MAGIC);
}
