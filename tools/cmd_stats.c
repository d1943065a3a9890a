/*
 * cmd_stats.c - limitctl stats: the counters and sizes of a limiter
 */
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>

#include "limitctl.h"

/* Prints one "label: value" line with the values aligned. */
static void print_line(const char *label, const char *format, ...)
	__attribute__((format(printf, 2, 3)));

static void print_line(const char *label, const char *format, ...)
{
	va_list args;

	printf("%-19s", label);
	va_start(args, format);
	vprintf(format, args);
	va_end(args);
	putchar('\n');
}

/*
 * Returns the slots of the current table handed out to migration helpers.
 * The library counts whole chunks, so the count may pass the capacity
 * near the end of a migration; it is capped there.
 */
static uint64_t migration_slots_handed_out(const struct credlimit_stats *st)
{
	return st->migration_progress < st->capacity ? st->migration_progress
						     : st->capacity;
}

/*
 * Round trips a lease cache saved against one Redis call per decision:
 * its decisions minus the round trips it made.  Negative when leases cost
 * more round trips than they saved (a lease of 1 with returns).
 */
static int64_t round_trips_saved(const struct credlimit_stats *st)
{
	return (int64_t)(st->allowed + st->denied) -
	       (int64_t)(st->lease_fetches + st->lease_returns);
}

static void print_lease_text(const struct credlimit_stats *st)
{
	print_line("leases taken:", "%" PRIu64 " (%" PRIu64 " units)",
		   st->lease_fetches, st->lease_units_taken);
	print_line("units returned:",
		   "%" PRIu64 " taken back by Redis, %" PRIu64
		   " lost, %" PRIu64 " return-only round trips",
		   st->lease_units_returned, st->lease_units_lost,
		   st->lease_returns);
	print_line("decided locally:", "%" PRIu64 " decisions",
		   st->lease_local);
	print_line("round trips saved:", "%" PRId64, round_trips_saved(st));
	print_line("units held now:", "%" PRIu64 " (stranded on this host "
		   "until spent or returned)", st->lease_units_held);
}

static void print_text(const char *name, const struct credlimit_stats *st,
		       double load_percent)
{
	struct passwd *owner = getpwuid(st->owner);

	print_line("limiter:", "%s", name);
	print_line("allowed:", "%" PRIu64, st->allowed);
	print_line("denied:", "%" PRIu64, st->denied);
	print_line("credits spent:", "%" PRIu64, st->credits_spent);
	print_line("inserts:", "%" PRIu64, st->inserts);
	print_line("evictions:", "%" PRIu64, st->evictions);
	print_line("full-table events:", "%" PRIu64, st->full_events);
	print_line("recoveries:", "%" PRIu64, st->recoveries);
	print_line("entries:", "%" PRIu64, st->entries);
	print_line("capacity:", "%" PRIu64 " slots (max %" PRIu64 ")",
		   st->capacity, st->max_capacity);
	print_line("load:", "%.1f%%", load_percent);
	print_line("generation:", "%" PRIu64, st->generation);
	print_line("migrations:", "%" PRIu64 " finished", st->migrations);
	print_line("entries moved:", "%" PRIu64, st->entries_moved);
	print_line("entries dropped:", "%" PRIu64, st->entries_dropped);
	if (st->migrating)
		print_line("migration:",
			   "to %" PRIu64 " slots, %" PRIu64 " of %" PRIu64
			   " slots handed out",
			   st->migration_capacity,
			   migration_slots_handed_out(st), st->capacity);
	else
		print_line("migration:", "none");
	print_line("probe limit:", "%" PRIu64 " slots", st->probe_limit);
	print_line("segment bytes:", "%" PRIu64, st->segment_bytes);
	print_line("full action:", "%s", full_action_name(st->full_action));
	print_line("policies:", "%d", st->policies);
	print_line("window lengths:", "%d", st->windows);
	print_line("mode:", "%04o", (unsigned)(st->mode & 07777));
	if (owner != NULL)
		print_line("owner:", "%s (uid %u)", owner->pw_name,
			   (unsigned)st->owner);
	else
		print_line("owner:", "uid %u", (unsigned)st->owner);
	if (st->lease_cache)
		print_lease_text(st);
}

static void print_json(const char *name, const struct credlimit_stats *st,
		       double load_percent)
{
	struct passwd *owner = getpwuid(st->owner);
	struct json out;
	char mode[8];

	snprintf(mode, sizeof(mode), "%04o", (unsigned)(st->mode & 07777));
	json_init(&out, stdout);
	json_object_begin(&out);
	json_field_string(&out, "limiter", name);
	json_field_u64(&out, "allowed", st->allowed);
	json_field_u64(&out, "denied", st->denied);
	json_field_u64(&out, "credits_spent", st->credits_spent);
	json_field_u64(&out, "inserts", st->inserts);
	json_field_u64(&out, "evictions", st->evictions);
	json_field_u64(&out, "full_events", st->full_events);
	json_field_u64(&out, "recoveries", st->recoveries);
	json_field_u64(&out, "entries", st->entries);
	json_field_u64(&out, "capacity", st->capacity);
	json_field_u64(&out, "max_capacity", st->max_capacity);
	json_field_double(&out, "load_percent", load_percent);
	json_field_u64(&out, "generation", st->generation);
	json_field_u64(&out, "migrations", st->migrations);
	json_field_u64(&out, "entries_moved", st->entries_moved);
	json_field_u64(&out, "entries_dropped", st->entries_dropped);
	json_field_bool(&out, "migrating", st->migrating);
	if (st->migrating) {
		json_field_u64(&out, "migration_capacity",
			       st->migration_capacity);
		json_field_u64(&out, "migration_progress",
			       migration_slots_handed_out(st));
	} else {
		json_field_null(&out, "migration_capacity");
		json_field_null(&out, "migration_progress");
	}
	json_field_u64(&out, "probe_limit", st->probe_limit);
	json_field_u64(&out, "segment_bytes", st->segment_bytes);
	json_field_string(&out, "full_action",
			  full_action_name(st->full_action));
	json_field_i64(&out, "policies", st->policies);
	json_field_i64(&out, "windows", st->windows);
	json_field_string(&out, "mode", mode);
	json_field_u64(&out, "owner_uid", st->owner);
	if (owner != NULL)
		json_field_string(&out, "owner", owner->pw_name);
	else
		json_field_null(&out, "owner");
	json_field_bool(&out, "lease_cache", st->lease_cache);
	if (st->lease_cache) {
		json_field_u64(&out, "lease_fetches", st->lease_fetches);
		json_field_u64(&out, "lease_units_taken", st->lease_units_taken);
		json_field_u64(&out, "lease_returns", st->lease_returns);
		json_field_u64(&out, "lease_units_returned",
			       st->lease_units_returned);
		json_field_u64(&out, "lease_units_lost", st->lease_units_lost);
		json_field_u64(&out, "lease_local", st->lease_local);
		json_field_i64(&out, "round_trips_saved", round_trips_saved(st));
		json_field_u64(&out, "lease_units_held", st->lease_units_held);
	}
	json_object_end(&out);
}

/* Prints the statistics of a Redis limiter.  The counters of decisions
 * and failures are those of this process, which decides nothing. */
static void print_redis(const char *name, const struct credlimit_stats *st,
			bool json)
{
	struct json out;

	if (!json) {
		print_line("limiter:", "%s", name);
		print_line("backend:", "redis");
		print_line("servers:", "%" PRIu64, st->redis_nodes);
		print_line("entries:", "%" PRIu64, st->entries);
		print_line("policies:", "%d", st->policies);
		print_line("redis errors:", "%" PRIu64 " (%" PRIu64
			   " timed out)", st->redis_errors,
			   st->redis_timeouts);
		print_line("redirections:", "%" PRIu64 " MOVED, %" PRIu64
			   " ASK", st->redis_moved, st->redis_ask);
		return;
	}

	json_init(&out, stdout);
	json_object_begin(&out);
	json_field_string(&out, "limiter", name);
	json_field_string(&out, "backend", "redis");
	json_field_u64(&out, "servers", st->redis_nodes);
	json_field_u64(&out, "entries", st->entries);
	json_field_i64(&out, "policies", st->policies);
	json_field_u64(&out, "redis_errors", st->redis_errors);
	json_field_u64(&out, "redis_timeouts", st->redis_timeouts);
	json_field_u64(&out, "redis_moved", st->redis_moved);
	json_field_u64(&out, "redis_ask", st->redis_ask);
	json_object_end(&out);
}

int cmd_stats(int argc, char **argv, struct limitctl_globals *globals)
{
	struct credlimit_stats st;
	double load_percent;
	const char *name;
	credlimit_t *cl;
	int status;
	int error;

	status = parse_name_only("stats", argc, argv, globals, &name);
	if (status != OPTION_HANDLED)
		return status;

	status = open_limiter(name, false, globals, &cl);
	if (status != EXIT_OK)
		return status;
	error = credlimit_stats(cl, &st);
	credlimit_close(cl);
	if (error < 0) {
		print_error("cannot read the statistics of limiter \"%s\": %s",
			    name, credlimit_strerror(error));
		return EXIT_FAILED;
	}

	if (is_redis_uri(name)) {
		print_redis(name, &st, globals->json);
		return EXIT_OK;
	}

	load_percent = st.capacity ? 100.0 * (double)st.entries /
					     (double)st.capacity
				   : 0.0;
	if (globals->json)
		print_json(name, &st, load_percent);
	else
		print_text(name, &st, load_percent);
	return EXIT_OK;
}
