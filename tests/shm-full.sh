#!/bin/sh
# shm-full.sh - creating a limiter whose table does not fit in /dev/shm
# fails cleanly instead of leaving workers to die of SIGBUS later
#
# Runs limitctl in a private mount namespace whose /dev/shm is a 1 MiB
# tmpfs, so the host's /dev/shm is never filled.  Needs root and unshare
# (util-linux); skips otherwise.
set -u

: "${LIMITCTL:?set LIMITCTL to the limitctl binary, as make check does}"

if [ "$(id -u)" -ne 0 ] || ! command -v unshare >/dev/null 2>&1; then
	echo "SKIP: needs root and unshare to mount a small /dev/shm"
	exit 77
fi

# The namespace gets its own small /dev/shm: a 65,536-slot table (4 MiB)
# cannot fit, a 1,024-slot table (68 KiB) can.
unshare -m sh -c '
	mount -t tmpfs -o size=1m tmpfs /dev/shm || exit 77
	"$0" create shmfull --capacity 65536 --window 1h >out 2>err
	echo "big=$?"
	ls /dev/shm | grep -c shmfull | sed "s/^/left=/"
	cat err
	"$0" create shmfull --capacity 1024 --window 1h >/dev/null 2>&1
	echo "small=$?"
	"$0" acquire shmfull key >/dev/null 2>&1
	echo "acquire=$?"
' "$LIMITCTL" >"${TMPDIR:-/tmp}/shm-full.$$" 2>&1
status=$?
result=$(cat "${TMPDIR:-/tmp}/shm-full.$$")
rm -f "${TMPDIR:-/tmp}/shm-full.$$"

if [ "$status" -eq 77 ]; then
	echo "SKIP: cannot mount a tmpfs in a new mount namespace"
	exit 77
fi

failed=0
expect() {
	if printf '%s\n' "$result" | grep -q -- "$1"; then
		echo "ok - $2"
	else
		echo "FAIL - $2: expected \"$1\" in:"
		printf '%s\n' "$result"
		failed=1
	fi
}

expect "^big=1$" "a table larger than /dev/shm is refused with exit 1"
expect "^left=0$" "the refused create leaves no segment behind"
expect "no room left" "the error says there is no room"
expect "^small=0$" "a table that fits is created"
expect "^acquire=0$" "the table that fits works"
exit "$failed"
