#!/bin/sh
# grow-migration.sh - stats, check, show and grow on a limiter whose table
# is in the middle of a migration into the next generation
#
# The decision that finds the table half full starts the migration and
# creates the new table.  Later decisions reserve the new table's memory,
# then move the old table's slots 64 at a time (lib/grow.c), so a table of
# 256 slots stays mid-migration for several decisions.  Between two
# limitctl runs nothing moves.

. "$TOP_SRCDIR/tests/limitctl/common.sh"
require_python

NAME=$PREFIX-migrating
BROKEN=$PREFIX-broken

# start_migration NAME: creates limiter NAME with 256 slots and acquires
# new keys m-1, m-2, ... until the table of generation 2 appears.  Sets
# $inserted to the number of keys.
start_migration() {
	expect_run 0 "create $1" create "$1" --capacity 256 \
		--max-capacity 1024 --max-requests 100 --window 366d \
		--max-credits 10
	inserted=0
	while [ "$inserted" -lt 200 ] && [ ! -e "/dev/shm/credlimit.$1.g2" ]; do
		inserted=$((inserted + 1))
		run_quietly acquire "$1" "m-$inserted"
	done
	if [ -e "/dev/shm/credlimit.$1.g2" ] &&
		[ -e "/dev/shm/credlimit.$1.g1" ]; then
		pass "$1: generation 2 appeared at key $inserted"
	else
		fail "$1: no migration after $inserted keys"
		finish
	fi
}

start_migration "$NAME"

expect_run 0 "stats --json, migration started" stats "$NAME" --json
expect_json 'd["generation"]' 1 "stats, migration started"
expect_json 'd["capacity"]' 256 "stats, migration started"
expect_json 'd["entries"]' "$inserted" "stats, migration started"
expect_json 'd["migrating"]' true "stats, migration started"
expect_json 'd["migration_capacity"]' 512 "stats, migration started"
expect_json 'd["migrations"]' 0 "stats, migration started"
# The decision that started the migration moved no slot, so fewer than
# all 256 slots are handed out.  NOTE: lib/stats.c copies the tagged
# piece counter of lib/grow.c into migration_progress, not a count of
# slots, so this check and the next progress check fail until it does.
expect_json 'd["migration_progress"] < 256' true \
	"stats, migration started: progress"
started_progress=$(json_value 'd["migration_progress"]')

expect_run 0 "stats, migration started" stats "$NAME"
expect_out "migration:         to 512 slots, $started_progress of 256 slots handed out" \
	"stats, migration started"

# Cost-0 decisions help the migration without charging anyone.  The first
# ones may reserve memory rather than move slots, so this takes up to
# three.
steps=0
progress=$started_progress
while [ "$steps" -lt 3 ] && [ "$progress" = "$started_progress" ]; do
	run_quietly acquire "$NAME" m-1 --cost 0
	steps=$((steps + 1))
	run stats "$NAME" --json
	progress=$(json_value 'd["migration_progress"]')
done
expect_json 'd["migrating"]' true "stats, $steps steps later"
expect_json "d['migration_progress'] > $started_progress" true \
	"stats, $steps steps later: progress grew"
expect_json 'd["migration_progress"] < 256' true "stats, $steps steps later"

# A key has the same counts whichever table contains it now.
for key in m-1 m-2 "m-$inserted"; do
	run show "$NAME" "$key" --json
	expect_status 0 "show $key mid-migration"
	expect_json 'd["entry"]["used"]' 1 "show $key mid-migration"
done
expect_run 0 "list mid-migration" list "$NAME" --json
expect_json 'd["total_entries"]' "$inserted" "list mid-migration"

expect_run 0 "check mid-migration" check "$NAME"
expect_equal "$out" "a migration from table generation 1 (256 slots) to generation 2 (512 slots) is under way; the check covers the entries in both
limiter \"$NAME\" is valid: no problems found" "check mid-migration"
expect_run 0 "check --json mid-migration" check "$NAME" --json
expect_json 'd["valid"]' true "check --json mid-migration"
expect_json 'd["generation"]' 1 "check --json mid-migration"
expect_json 'd["capacity"]' 256 "check --json mid-migration"
expect_json 'd["migrating"]' true "check --json mid-migration"
expect_json 'd["migration_capacity"]' 512 "check --json mid-migration"

# grow finishes the migration under way, which is all 512 slots need.
expect_run 0 "grow mid-migration" grow "$NAME" --capacity 512
expect_equal "$out" "grew limiter \"$NAME\" from 256 to 512 slots (generation 1 -> 2)" \
	"grow mid-migration"
expect_equal "$(ls /dev/shm | grep -F "credlimit.$NAME" | sort)" \
	"credlimit.$NAME
credlimit.$NAME.g2" "grow mid-migration removed generation 1"
expect_run 0 "stats after the migration" stats "$NAME" --json
expect_json 'd["migrating"]' false "stats after the migration"
expect_json 'd["migrations"]' 1 "stats after the migration"
expect_json 'd["entries"]' "$inserted" "stats after the migration"
expect_run 0 "check after the migration" check "$NAME"
expect_equal "$out" "limiter \"$NAME\" is valid: no problems found" \
	"check after the migration"
expect_run 0 "destroy" destroy "$NAME"

# A problem found mid-migration names the table it is in.  Two decisions
# let the migration reserve the new table and move a first chunk, so both
# tables contain entries.  Then the credits of an entry that the migration
# has not reached yet are set above any policy's max in generation 1.
start_migration "$BROKEN"
run_quietly acquire "$BROKEN" m-1 --cost 0
run_quietly acquire "$BROKEN" m-1 --cost 0
if [ -e "/dev/shm/credlimit.$BROKEN.g1" ]; then
	pass "$BROKEN: still mid-migration after two decisions"
else
	fail "$BROKEN: the migration ended within two decisions"
fi
# Table entries are 64 bytes after a 4096-byte header.  Bytes 4-7 contain
# the stored credits, little-endian, and the top 2 bits of bytes 8-15 the
# state flags, 0 while the entry is live.  A key of up to 32 bytes is
# stored verbatim at byte 32, padded with zeros.
python3 - "/dev/shm/credlimit.$BROKEN.g1" <<'PYTHON'
import struct
import sys

with open(sys.argv[1], "r+b") as table:
    data = table.read()
    for offset in range(4096, len(data), 64):
        hi = struct.unpack_from("<Q", data, offset + 8)[0]
        if data[offset + 32:offset + 34] == b"m-" and hi >> 62 == 0:
            table.seek(offset + 4)
            table.write(b"\xff\xff\xff\xff")
            break
    else:
        sys.exit("no live entry in generation 1")
PYTHON
expect_run 4 "check of a corrupt entry mid-migration" check "$BROKEN"
expect_out "a migration from table generation 1 (256 slots) to generation 2" \
	"check of a corrupt entry mid-migration"
expect_out "4294967295 credits stored" "check of a corrupt entry mid-migration"
expect_out "limiter \"$BROKEN\": 1 problem found" \
	"check of a corrupt entry mid-migration"
problem=$(printf '%s\n' "$out" | grep '^problem: ')
case $problem in
*"generation 1"*) pass "check mid-migration: the problem names generation 1" ;;
*) fail "check mid-migration: the problem does not name its table generation: $problem" ;;
esac
expect_run 0 "destroy of the corrupt limiter" destroy "$BROKEN"

finish
