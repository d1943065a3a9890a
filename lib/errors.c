/*
 * errors.c - descriptions of error values, and the library version
 */
#include <errno.h>
#include <string.h>

#include "credlimit.h"

const char *credlimit_strerror(int error)
{
	switch (error) {
	case 0:
		return "success";
	case -EINVAL:
		return "invalid argument";
	case -ENAMETOOLONG:
		return "name too long";
	case -E2BIG:
		return "key too long";
	case -ENOENT:
		return "not found";
	case -EEXIST:
		return "limiter already exists";
	case -EACCES:
		return "permission denied by the segment's mode";
	case -EPERM:
		return "segment is owned by another user";
	case -EPROTO:
		return "not a credlimit segment (bad magic) or never "
		       "initialized, or an unexpected reply from Redis";
	case -EPROTONOSUPPORT:
		return "segment has an unsupported layout version";
	case -EMSGSIZE:
		return "segment size does not match its header";
	case -ENODATA:
		return "segment is truncated";
	case -EBADMSG:
		return "segment is corrupt";
	case -EROFS:
		return "limiter was opened read-only";
	case -ENOSPC:
		return "no room left (table full, all policy ids or window "
		       "lengths used, or /dev/shm full)";
	case -ERANGE:
		return "value out of range (a policy's numbers, or a capacity "
		       "above the limiter's max capacity)";
	case -EBUSY:
		return "another process kept the entry or lock busy for too "
		       "long";
	case -ENOMEM:
		return "out of memory (or a new table larger than the memory "
		       "available)";
	case -EOPNOTSUPP:
		return "operation not supported on a Redis limiter";
	case -EXDEV:
		return "lease cache holds units of another Redis upstream";
	case -EMEDIUMTYPE:
		return "segment kind does not fit: a lease cache decides only "
		       "when opened with its Redis upstream, and a plain "
		       "limiter cannot hold leases";
	case -ETIMEDOUT:
		return "Redis did not answer within the timeout";
	case -ECONNREFUSED:
		return "Redis refused the connection";
	case -EAGAIN:
		return "Redis unavailable: waiting before reconnecting";
	case -ELOOP:
		return "too many Redis Cluster redirections";
	case -EMFILE:
	case -ENFILE:
		return "too many open files";
	default:
		if (error < 0 && error > -4096 &&
		    strerrordesc_np(-error) != NULL)
			return strerrordesc_np(-error);
		return "unknown error";
	}
}

unsigned credlimit_version_number(void)
{
	return CREDLIMIT_VERSION_NUMBER;
}

const char *credlimit_version_string(void)
{
	return CREDLIMIT_VERSION_STRING;
}
