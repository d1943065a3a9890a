#!/bin/sh
# grow.sh - table growth seen through limitctl
#
# A limiter that fills grows into new generations and keeps every key's
# counts.  grow resizes it by hand up to its max capacity.  Only the table
# segment of the current generation stays in /dev/shm.

. "$TOP_SRCDIR/tests/limitctl/common.sh"
require_python

NAME=$PREFIX-grow
FIXED=$PREFIX-fixed
COMPACT=$PREFIX-compact
# The table of 4096 slots is half full at key 2048 and doubles then.
# Later decisions move its slots 64 at a time, so the 252 keys after key
# 2048 finish that migration.
KEYS=2300

# Prints the segments of limiter $1 in /dev/shm, one name a line.
segments_of() {
	for segment in "/dev/shm/credlimit.$1" "/dev/shm/credlimit.$1".g*; do
		if [ -e "$segment" ]; then
			printf '%s\n' "${segment#/dev/shm/}"
		fi
	done
}

# expect_segments NAME GENERATION WHAT: the control segment and the table
# of GENERATION are the only segments of limiter NAME.
expect_segments() {
	expect_equal "$(segments_of "$1")" "credlimit.$1
credlimit.$1.g$2" "$3: segments are the control segment and generation $2"
}

# expect_used KEY USED WHAT: KEY has an entry with USED requests counted
# in this window, and 100 - USED remaining.
expect_used() {
	run show "$NAME" "$1" --json
	expect_status 0 "$3: show $1"
	expect_json 'd["entry"]["used"]' "$2" "$3: $1"
	expect_json 'd["entry"]["remaining"]' "$((100 - $2))" "$3: $1"
}

# The window outlasts the test, so every count below is exact.
expect_run 0 "create" create "$NAME" --capacity 64 --max-capacity 65536 \
	--max-requests 100 --window 366d --max-credits 10
expect_out "64 slots (max 65536)" "create"
expect_segments "$NAME" 1 "create"

# A few keys are charged more than once, at different table sizes, so
# the counts prove that every migration carried them over.
run_quietly acquire "$NAME" key-1 --cost 7
failures=0
i=1
while [ "$i" -le "$KEYS" ]; do
	run_quietly acquire "$NAME" "key-$i" || failures=$((failures + 1))
	case $i in
	500) run_quietly acquire "$NAME" key-20 --cost 4 ;;
	1500) run_quietly acquire "$NAME" key-1000 --cost 9 ;;
	esac
	i=$((i + 1))
done
expect_equal "$failures" 0 "acquire of $KEYS keys: failed runs"

# A key that lands 16 or more slots from its home starts a growth before
# the table is half full, so rarely another migration is still under way
# here.  Cost-0 decisions move its slots without charging anyone.
i=0
while [ "$i" -lt 300 ] && [ -n "$(segments_of "$NAME" | sed 1,2d)" ]; do
	run_quietly acquire "$NAME" key-1 --cost 0
	i=$((i + 1))
done

expect_run 0 "stats --json after filling" stats "$NAME" --json
expect_json 'd["entries"]' "$KEYS" "stats after filling"
expect_json 'd["generation"] > 1' true "stats after filling"
# Each growth doubles the table, and every entry found room: at most
# half of the table is used.
expect_json 'd["capacity"] == 64 << (d["generation"] - 1)' true \
	"stats after filling: capacity doubled per generation"
expect_json 'd["capacity"] >= 2 * d["entries"]' true "stats after filling"
expect_json 'd["migrations"] == d["generation"] - 1' true "stats after filling"
expect_json 'd["entries_moved"] >= 2048' true "stats after filling"
expect_json 'd["entries_dropped"]' 0 "stats after filling"
expect_json 'd["full_events"]' 0 "stats after filling"
expect_json 'd["migrating"]' false "stats after filling"
expect_json 'd["migration_progress"]' null "stats after filling"
expect_json 'abs(d["load_percent"] - 100.0 * d["entries"] / d["capacity"]) < 0.01' \
	true "stats after filling: load"
generation=$(json_value 'd["generation"]')
capacity=$(json_value 'd["capacity"]')
expect_segments "$NAME" "$generation" "after filling"

expect_run 0 "stats after filling" stats "$NAME"
expect_out "capacity:          $capacity slots (max 65536)" "stats after filling"
expect_out "generation:        $generation" "stats after filling"
expect_out "migrations:        $((generation - 1)) finished" "stats after filling"
expect_out "entries dropped:   0" "stats after filling"
expect_out "migration:         none" "stats after filling"

expect_run 0 "list --json after filling" list "$NAME" --json
expect_json 'd["total_entries"]' "$KEYS" "list after filling"
expect_json "sorted(e['key'] for e in d['entries']) == sorted('key-%d' % i for i in range(1, $KEYS + 1))" \
	true "list after filling: every key is there once"
expect_used key-1 8 "after filling"
expect_used key-20 5 "after filling"
expect_used key-1000 10 "after filling"
expect_used key-777 1 "after filling"
expect_used "key-$KEYS" 1 "after filling"

expect_run 0 "check after filling" check "$NAME"
expect_equal "$out" "limiter \"$NAME\" is valid: no problems found" \
	"check after filling"

# grow by hand to 20000 slots, not a power of two.
expect_run 0 "grow --capacity 20000" grow "$NAME" --capacity 20000
grow_output=$out
expect_run 0 "stats --json after grow" stats "$NAME" --json
expect_json 'd["capacity"]' 20000 "stats after grow"
expect_json "d['generation'] > $generation" true "stats after grow"
expect_json 'd["migrations"] == d["generation"] - 1' true "stats after grow"
expect_json 'd["entries"]' "$KEYS" "stats after grow"
expect_json 'd["migrating"]' false "stats after grow"
grown=$(json_value 'd["generation"]')
expect_equal "$grow_output" "grew limiter \"$NAME\" from $capacity to 20000 slots (generation $generation -> $grown)" \
	"grow --capacity 20000"
expect_segments "$NAME" "$grown" "after grow"
expect_used key-1 8 "after grow"
expect_used key-20 5 "after grow"
expect_used key-1000 10 "after grow"
expect_used "key-$KEYS" 1 "after grow"
expect_run 0 "check after grow" check "$NAME"
expect_out "is valid: no problems found" "check after grow"

# The text of a grow, checked on a second grow with known numbers.
expect_run 0 "grow to the max capacity" grow "$NAME" --capacity 65536
expect_equal "$out" "grew limiter \"$NAME\" from 20000 to 65536 slots (generation $grown -> $((grown + 1)))" \
	"grow to the max capacity"
grown=$((grown + 1))
expect_segments "$NAME" "$grown" "grow to the max capacity"

expect_run 0 "grow to a smaller capacity" grow "$NAME" --capacity 1000
expect_equal "$out" "limiter \"$NAME\" already has 65536 slots (generation $grown), at least the 1000 requested; nothing changed" \
	"grow to a smaller capacity"
expect_run 0 "grow to the same capacity" grow "$NAME" --capacity 65536
expect_out "nothing changed" "grow to the same capacity"

expect_run 2 "grow by doubling above the max" grow "$NAME"
expect_err "cannot double limiter \"$NAME\" from 65536 to 131072 slots: its max capacity is 65536 slots; to go beyond that, create a new limiter with a larger --max-capacity" \
	"grow by doubling above the max"
expect_equal "$out" "" "grow by doubling above the max prints no result"
expect_run 2 "grow --capacity above the max" grow "$NAME" --capacity 65537
expect_err "cannot grow limiter \"$NAME\" to 65537 slots: its max capacity is 65536 slots" \
	"grow --capacity above the max"
expect_run 2 "grow --capacity 2^32 above the max" grow "$NAME" \
	--capacity 4294967296 --json
expect_err "cannot grow limiter \"$NAME\" to 4294967296 slots: its max capacity is 65536 slots" \
	"grow --capacity 2^32 above the max"
expect_equal "$out" "" "grow --json above the max prints no document"
expect_segments "$NAME" "$grown" "rejected grows"
expect_run 0 "stats after rejected grows" stats "$NAME" --json
expect_json 'd["capacity"]' 65536 "stats after rejected grows"
expect_json 'd["migrating"]' false "stats after rejected grows"

expect_run 0 "check at the max capacity" check "$NAME"
expect_out "is valid: no problems found" "check at the max capacity"
expect_run 0 "destroy" destroy "$NAME"
expect_equal "$(segments_of "$NAME")" "" "destroy removed every segment"

# A limiter created without --max-capacity never grows.
expect_run 0 "create without max capacity" create "$FIXED"
expect_out "4096 slots (max 4096)" "create without max capacity"
expect_run 2 "grow without max capacity" grow "$FIXED"
expect_err "cannot double limiter \"$FIXED\" from 4096 to 8192 slots: its max capacity is 4096 slots" \
	"grow without max capacity"
expect_run 0 "grow to fewer slots" grow "$FIXED" --capacity 8
expect_out "already has 4096 slots (generation 1), at least the 8 requested; nothing changed" \
	"grow to fewer slots"
expect_segments "$FIXED" 1 "limiter without max capacity"
expect_run 0 "destroy without max capacity" destroy "$FIXED"

# A table of 2^32 slots (256 GiB) fits in no test machine's /dev/shm or
# memory: it is refused before any of it is reserved.
expect_run 0 "create with a max of 2^32" create "$FIXED" --capacity 8 \
	--max-capacity 4294967296
expect_run 1 "grow beyond the memory" grow "$FIXED" --capacity 4294967296
case $err in
*"not enough free space in /dev/shm"* | *"larger than the memory available"*)
	pass "grow beyond the memory: the error names the cause" ;;
*)
	fail "grow beyond the memory: unexpected error: $err" ;;
esac
expect_segments "$FIXED" 1 "grow beyond the memory"
expect_run 0 "stats after grow beyond the memory" stats "$FIXED" --json
expect_json 'd["capacity"]' 8 "stats after grow beyond the memory"
expect_json 'd["migrating"]' false "stats after grow beyond the memory"
expect_run 0 "destroy after grow beyond the memory" destroy "$FIXED"

expect_run 3 "grow of a missing limiter" grow "$PREFIX-missing"
expect_err "limiter \"$PREFIX-missing\" not found" "grow of a missing limiter"

# Compaction: a migration does not copy entries indistinguishable from new
# customers.  With max credits 0 (equal to the initial credits) an entry
# is one as soon as its 1 ms window has passed.
expect_run 0 "create for compaction" create "$COMPACT" --capacity 8 \
	--max-capacity 64 --max-requests 5 --window 1ms --max-credits 0
for key in c-1 c-2 c-3 c-4; do
	run_quietly acquire "$COMPACT" "$key"
done
sleep 0.05
run_quietly acquire "$COMPACT" c-5
sleep 0.05
run_quietly acquire "$COMPACT" c-6
expect_run 0 "stats after compaction" stats "$COMPACT" --json
expect_json 'd["generation"] >= 2' true "stats after compaction"
expect_json 'd["entries_dropped"] >= 1' true "stats after compaction"
expect_json 'd["entries"] == d["inserts"] - d["entries_dropped"]' true \
	"stats after compaction"
entries=$(json_value 'd["entries"]')
expect_run 0 "list after compaction" list "$COMPACT" --json
expect_json 'd["total_entries"]' "$entries" "list after compaction"
expect_json 'len({"c-1", "c-2", "c-3", "c-4"} - {e["key"] for e in d["entries"]}) >= 1' \
	true "list after compaction: a dropped key is gone"
expect_run 0 "check after compaction" check "$COMPACT"
expect_run 0 "destroy after compaction" destroy "$COMPACT"

finish
