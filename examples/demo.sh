#!/usr/bin/env bash
# demo.sh - the quick start.  It builds credlimit, runs the example prefork
# HTTP server with 4 workers and sends real requests for several customers
# at once.  Then it shows that each customer got exactly what the policy
# allows, however its requests were spread over the workers.  Last, it
# inspects, resets and counts the live limiter with limitctl, stops the
# server and removes the limiter.
#
# Usage: ./examples/demo.sh
#
# It first runs tools/setup.sh, which installs the Debian packages it needs
# (through sudo when not root) and builds in build/ under the source tree,
# or in BUILD_DIR when that is set.  setup.sh installs only missing
# packages and rebuilds only what changed, so a second run starts at once.
#
# Exit status: 0 when every count matched the policy and the reset worked,
# 1 otherwise.  The server, its port and the limiter are freed on any exit,
# so the script can be run again at once.

set -euo pipefail

# The policy: R requests per window, C max credits, I initial credits.  A
# new customer may make R + I requests in its first window.
R=10
C=5
I=5
WINDOW=1h
WORKERS=4
NAME=credlimit-demo

cd "$(dirname -- "$0")/.."
root=$PWD

section() {
	printf '\n== %s ==\n' "$1"
}

# print_command CMD...: prints the command as a shell would read it.
print_command() {
	local arg
	printf '$'
	for arg in "$@"; do
		case $arg in
		*[!A-Za-z0-9_./:=@%+-]*) printf " '%s'" "$arg" ;;
		*) printf ' %s' "$arg" ;;
		esac
	done
	printf '\n'
}

# show CMD...: prints the command, then runs it.
show() {
	print_command "$@"
	"$@"
}

die() {
	printf 'demo.sh: %s\n' "$1" >&2
	exit 1
}

# Two demos at once would share the build and the limiter name, so only
# one runs at a time.  The lock is on this script itself, so no lock file
# is left behind.
exec 9<"$root/examples/demo.sh"
if command -v flock >/dev/null && ! flock -n 9; then
	die "another examples/demo.sh is running; wait for it to finish"
fi

# --- build ---------------------------------------------------------------

section "Installing packages and building (tools/setup.sh)"
[ -x tools/setup.sh ] ||
	die "tools/setup.sh not found in $root; run this script from a credlimit checkout"
tools/setup.sh
build=${BUILD_DIR:-$root/build}

httpd=$build/examples/prefork-httpd/prefork-httpd
limitctl=$build/tools/limitctl
[ -x "$httpd" ] || die "$httpd not found: the build did not produce the example server (run make in $build)"
[ -x "$limitctl" ] || die "$limitctl not found: the build did not produce limitctl (run make in $build)"
command -v curl >/dev/null || die "curl not found: install the Debian package curl"
command -v ab >/dev/null || die "ab not found: install the Debian package apache2-utils"

# --- start the server ----------------------------------------------------------

work=$(mktemp -d "${TMPDIR:-/tmp}/credlimit-demo.XXXXXX")
server_pid=

cleanup() {
	local status=$?

	if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
		kill -TERM "$server_pid" 2>/dev/null || true
		for _ in $(seq 1 100); do
			kill -0 "$server_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	"$limitctl" destroy "$NAME" >/dev/null 2>&1 || true
	rm -rf "$work"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

section "Starting prefork-httpd: $WORKERS workers, $R requests per $WINDOW, $C max credits, $I initial credits"
server_command=("$httpd" --listen 127.0.0.1:0 --workers "$WORKERS" --name "$NAME"
	--recreate --max-requests "$R" --window "$WINDOW" --max-credits "$C"
	--initial-credits "$I")
print_command "${server_command[@]}"
"${server_command[@]}" 2>"$work/server.log" &
server_pid=$!

for _ in $(seq 1 300); do
	if grep -q 'listening on' "$work/server.log" &&
		[ "$(grep -c 'started worker' "$work/server.log")" -ge "$WORKERS" ]; then
		break
	fi
	kill -0 "$server_pid" 2>/dev/null || {
		cat "$work/server.log" >&2
		die "the server exited during start; its log is above"
	}
	sleep 0.1
done
grep -q 'listening on' "$work/server.log" || die "the server did not start within 30 s"
sed 's/^/  /' "$work/server.log"
port=$(grep -o 'listening on .*' "$work/server.log" | head -n 1 | sed 's/.*://')
base="http://127.0.0.1:$port"

# The counts are exact within one window.  Windows are aligned to the
# monotonic clock, so when the current one ends within 90 s, wait for the
# next.  The probe key is one more customer, shown by limitctl below.
reset_in=$(curl -s -o /dev/null -D - -H 'X-Api-Key: window-probe' "$base/" |
	tr -d '\r' | sed -n 's/^RateLimit: .*;t=\([0-9]*\).*/\1/p')
if [ -n "$reset_in" ] && [ "$reset_in" -lt 90 ]; then
	echo "The current window ends in $reset_in s; waiting for the next one so the counts are exact."
	sleep $((reset_in + 1))
fi

# --- traffic --------------------------------------------------------------------

section "Sending requests for 5 customers at once"
cat <<EOF
  alice      20 requests, curl, one connection each, in sequence
  bob        40 requests, ab -k (keep-alive), 4 at a time
  carol      25 requests, ab, a new connection each, 2 at a time
  dave       18 requests, curl --parallel, 4 at a time
  127.0.0.1  30 requests without X-Api-Key (keyed by client address), ab -k, 2 at a time
EOF

(
	for i in $(seq 1 20); do
		curl -s -o "$work/alice.$i.body" -w '%{http_code}\n' -H 'X-Api-Key: alice' "$base/"
	done >"$work/alice.codes"
) &
alice_pid=$!

urls=()
for _ in $(seq 1 18); do
	urls+=(-o /dev/null "$base/")
done
curl -s --no-progress-meter -Z --parallel-max 4 -w '%{http_code}\n' \
	-H 'X-Api-Key: dave' "${urls[@]}" >"$work/dave.codes" 2>/dev/null &
dave_pid=$!

ab -q -n 40 -c 4 -k -l -H 'X-Api-Key: bob' "$base/" >"$work/bob.ab" 2>&1 &
bob_pid=$!
ab -q -n 25 -c 2 -l -H 'X-Api-Key: carol' "$base/" >"$work/carol.ab" 2>&1 &
carol_pid=$!
ab -q -n 30 -c 2 -k -l "$base/" >"$work/address.ab" 2>&1 &
address_pid=$!

for pid in "$alice_pid" "$dave_pid" "$bob_pid" "$carol_pid" "$address_pid"; do
	wait "$pid" || echo "a client exited with status $? (see the table)"
done

# Prints "OK DENIED" from a file of curl status codes.
curl_counts() {
	printf '%s %s\n' "$(grep -c '^200$' "$1" || true)" "$(grep -c '^429$' "$1" || true)"
}

# Prints "OK DENIED" from ApacheBench output.  ab reports 2xx and non-2xx
# responses only, so for ab runs the 429 column counts every non-2xx one.
ab_counts() {
	awk '/^Complete requests:/ { complete = $3 }
	     /^Non-2xx responses:/ { non2xx = $3 }
	     END { print complete - non2xx, non2xx + 0 }' "$1"
}

section "Result per customer (expected: the first $((R + I)) requests allowed, the rest denied)"
printf '%-10s %-16s %5s %5s %9s %5s %9s  %s\n' \
	customer client sent 200 expected 429 expected match
mismatches=0
row() {
	local customer=$1 client=$2 sent=$3 ok=$4 denied=$5
	local expected_ok=$((sent < R + I ? sent : R + I))
	local expected_denied=$((sent - expected_ok))
	local match=yes

	if [ "$ok" != "$expected_ok" ] || [ "$denied" != "$expected_denied" ]; then
		match=NO
		mismatches=$((mismatches + 1))
	fi
	printf '%-10s %-16s %5s %5s %9s %5s %9s  %s\n' "$customer" "$client" \
		"$sent" "$ok" "$expected_ok" "$denied" "$expected_denied" "$match"
}
read -r ok denied < <(curl_counts "$work/alice.codes")
row alice "curl" 20 "$ok" "$denied"
read -r ok denied < <(ab_counts "$work/bob.ab")
row bob "ab -k" 40 "$ok" "$denied"
read -r ok denied < <(ab_counts "$work/carol.ab")
row carol "ab" 25 "$ok" "$denied"
read -r ok denied < <(curl_counts "$work/dave.codes")
row dave "curl --parallel" 18 "$ok" "$denied"
read -r ok denied < <(ab_counts "$work/address.ab")
row 127.0.0.1 "ab -k, no key" 30 "$ok" "$denied"

# Each response body contains the pid of the worker that sent it.
served_by=$(cat "$work"/alice.*.body | grep -o '"worker":[0-9]*' | sort -u | wc -l)
echo "alice's 20 requests were served by $served_by different worker processes sharing one limit."
if [ "$mismatches" -eq 0 ]; then
	echo "Every customer got exactly what the policy allows."
else
	echo "MISMATCH: $mismatches customers got other counts than the policy allows."
fi

# --- a denied response --------------------------------------------------------------

section "A denied request: 429 with Retry-After and the RateLimit fields"
print_command curl -s -i -H 'X-Api-Key: bob' "$base/"
curl -s -i -H 'X-Api-Key: bob' "$base/" | tr -d '\r' | sed 's/^/  /'
echo

# --- limitctl on the live limiter ---------------------------------------------------

section "limitctl: the customers in the live limiter"
show "$limitctl" list "$NAME"

section "limitctl: one customer in detail"
show "$limitctl" show "$NAME" alice

section "limitctl: reset alice, who is then allowed again"
show "$limitctl" reset "$NAME" alice
status=$(curl -s -o "$work/after-reset" -D "$work/after-reset.h" -w '%{http_code}' \
	-H 'X-Api-Key: alice' "$base/")
print_command curl -H 'X-Api-Key: alice' "$base/"
printf '  %s  %s\n' "$status" "$(cat "$work/after-reset")"
printf '  %s\n' "$(tr -d '\r' <"$work/after-reset.h" | grep '^RateLimit:')"
if [ "$status" != 200 ]; then
	echo "MISMATCH: alice got $status after the reset, expected 200."
	mismatches=$((mismatches + 1))
fi

section "limitctl: counters of the limiter"
show "$limitctl" stats "$NAME"

# --- stop --------------------------------------------------------------------------

section "Stopping the server (SIGTERM) and removing the limiter"
print_command kill -TERM "$server_pid"
kill -TERM "$server_pid"
server_status=0
wait "$server_pid" || server_status=$?
server_pid=
if [ "$server_status" -ne 0 ]; then
	echo "MISMATCH: the server exited with status $server_status after SIGTERM, expected 0."
	mismatches=$((mismatches + 1))
fi
grep -E 'received SIGTERM|stopped$' "$work/server.log" | sed 's/^/  /'
show "$limitctl" destroy "$NAME"

if [ "$mismatches" -ne 0 ]; then
	section "Demo FAILED: $mismatches mismatches (see above)"
	exit 1
fi
section "Demo passed: every count matched the policy exactly"
