#!/bin/sh
# End-to-end test of examples/prefork-httpd: a real server with 4 workers on
# a free loopback port and its own limiter, driven by curl and ApacheBench.
#
# Policy: R=6 requests per 1h window, C=4 max credits, I=4 initial credits,
# so every new customer gets exactly R + I = 10 requests in its first
# window.  Several customers send at once (curl in a loop, curl --parallel,
# ab with and without keep-alive, one customer keyed by client address),
# and each must see exactly 10 responses with 200 and the rest with 429.
# The window is an hour long, and the test waits for a new window when the
# current one ends within 90 s, so the counts are exact and no timing
# decides a result.
#
# Also checked: the RateLimit-Policy, RateLimit and Retry-After fields,
# malformed requests, pipelining, the idle timeout, a worker killed with
# SIGKILL being restarted while the counts stay shared, limitctl agreeing
# with the server, IPv6, and SIGTERM leaving no process and no segment.
#
# Environment: PREFORK_HTTPD (the server binary), LIMITCTL (optional),
# CURL and AB (default: found on PATH).  Exit status 77 (skip) when curl
# or ab is missing.
# shellcheck shell=bash disable=SC2317 # cleanup runs from a trap

if [ -z "${BASH_VERSION:-}" ]; then
	if command -v bash >/dev/null 2>&1; then
		exec bash "$0" "$@"
	fi
	echo "SKIP: bash not found; this test needs it"
	exit 77
fi

set -u

R=6
C=4
I=4
ALLOWED=$((R + I))
WORKERS=4

PREFORK_HTTPD=${PREFORK_HTTPD:-examples/prefork-httpd/prefork-httpd}
LIMITCTL=${LIMITCTL:-}
CURL=${CURL:-$(command -v curl || true)}
AB=${AB:-$(command -v ab || true)}

if [ -z "$CURL" ] || [ ! -x "$CURL" ]; then
	echo "SKIP: curl not found; install the Debian package curl"
	exit 77
fi
if [ -z "$AB" ] || [ ! -x "$AB" ]; then
	echo "SKIP: ab (ApacheBench) not found; install the Debian package apache2-utils"
	exit 77
fi
if [ ! -x "$PREFORK_HTTPD" ]; then
	echo "ERROR: server binary '$PREFORK_HTTPD' not found; run make first or set PREFORK_HTTPD"
	exit 99
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/httpdtest-$$.XXXXXX") || exit 99
name="httpdtest-$$"
name6="httpdtest-$$-v6"
server_pid=
server6_pid=
full_pid=
passed=0
failed=0

stop_server() {
	local pid=$1

	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}

cleanup() {
	stop_server "$server_pid"
	stop_server "$server6_pid"
	stop_server "$full_pid"
	rm -f "/dev/shm/credlimit.$name" "/dev/shm/credlimit.$name".g* \
		"/dev/shm/credlimit.$name6" "/dev/shm/credlimit.$name6".g* \
		"/dev/shm/credlimit.$name-full" "/dev/shm/credlimit.$name-full".g*
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 99' INT TERM HUP

pass() {
	passed=$((passed + 1))
	echo "ok: $1"
}

fail() {
	failed=$((failed + 1))
	echo "FAIL: $1"
}

# check_eq DESCRIPTION EXPECTED ACTUAL
check_eq() {
	if [ "$2" = "$3" ]; then
		pass "$1 ($3)"
	else
		fail "$1: expected '$2', got '$3'"
	fi
}

# check_match DESCRIPTION EXTENDED-REGEX TEXT
check_match() {
	if printf '%s\n' "$3" | grep -Eq -- "$2"; then
		pass "$1"
	else
		fail "$1: '$3' does not match /$2/"
	fi
}

# start_server LOG ARGS...: starts the server in the background and sets
# REPLY to its pid.  Waits until the server logs its port and all workers,
# then writes the port to LOG.port.
start_server() {
	local log=$1
	shift
	"$PREFORK_HTTPD" "$@" 2>"$log" &
	REPLY=$!
	for _ in $(seq 1 300); do
		if grep -q 'listening on' "$log" &&
			[ "$(grep -c 'started worker' "$log")" -ge "$WORKERS_STARTED" ]; then
			grep -o 'listening on .*' "$log" | head -n 1 |
				sed 's/.*:\([0-9]*\)$/\1/' >"$log.port"
			return 0
		fi
		kill -0 "$REPLY" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# field FILE NAME: prints the value of header field NAME in FILE (curl -D).
field() {
	tr -d '\r' <"$1" | awk -v name="$2" '
		BEGIN { name = tolower(name) ": " }
		tolower(substr($0, 1, length(name))) == name { print substr($0, length(name) + 1) }'
}

# record CODE...: adds charged requests' status codes to the ledger that
# the limiter's own statistics are compared with at the end.
record() {
	printf '%s\n' "$@" >>"$work/ledger"
}

# get KEY [CURL-OPTIONS...]: sends one GET with X-Api-Key KEY, or without
# the field when KEY is empty.  Headers go to $work/h and the body to
# $work/b.  The status goes to stdout and to the ledger.
get() {
	local key=$1
	local status
	shift
	if [ -n "$key" ]; then
		set -- -H "X-Api-Key: $key" "$@"
	fi
	status=$("$CURL" -s -o "$work/b" -D "$work/h" -w '%{http_code}' "$@" "$base/")
	record "$status"
	printf '%s' "$status"
}

# count_codes FILE CODE: prints how many lines of FILE are CODE.
count_codes() {
	grep -c "^$2\$" "$1"
}

# ab_counts OUTPUT-FILE: prints "OK DENIED ERRORS" from ApacheBench output.
ab_counts() {
	awk '
		/^Complete requests:/ { complete = $3 }
		/^Non-2xx responses:/ { non2xx = $3 }
		/^Failed requests:/ { failed = $3 }
		/Connect: [0-9]+, Receive: [0-9]+, Length: [0-9]+, Exceptions: [0-9]+/ {
			gsub(/[(),]/, "")
			errors = $2 + $4 + $8
		}
		END { print complete - non2xx, non2xx + 0, (failed > 0 ? errors + 0 : 0) }' "$1"
}

# record_ab OK DENIED: adds an ab run's counts to the ledger.  ab counts
# only 2xx and other statuses; the checks after the runs show the others
# are 429.
record_ab() {
	local i
	for ((i = 0; i < $1; i++)); do record 200; done
	for ((i = 0; i < $2; i++)); do record 429; done
}

# worker_pids LOG: prints the pid of each running worker, taken from the
# last "started worker N (pid P)" line of each worker number.
worker_pids() {
	sed -n 's/.*started worker \([0-9]*\) (pid \([0-9]*\)).*/\1 \2/p' "$1" |
		awk '{ pid[$1] = $2 } END { for (n in pid) print pid[n] }'
}

# --- start ---------------------------------------------------------------

WORKERS_STARTED=$WORKERS
if ! start_server "$work/server.log" --listen 127.0.0.1:0 --workers "$WORKERS" \
	--name "$name" --recreate --unlink-on-exit \
	--max-requests "$R" --window 1h --max-credits "$C" --initial-credits "$I" \
	--timeout 5s --keepalive-timeout 2s; then
	echo "ERROR: the server did not start; its log:"
	cat "$work/server.log"
	exit 99
fi
server_pid=$REPLY
port=$(cat "$work/server.log.port")
base="http://127.0.0.1:$port"
echo "server pid $server_pid listening on port $port, limiter $name"

# --- probe and window boundary -------------------------------------------

status=$(get "probe-$$-1")
check_eq "probe status" 200 "$status"
reset=$(field "$work/h" RateLimit | sed -n 's/.*;t=\([0-9]*\).*/\1/p')
if [ -n "$reset" ] && [ "$reset" -lt 90 ]; then
	echo "the window ends in $reset s: waiting for the next one so the counts are exact"
	sleep $((reset + 1))
	status=$(get "probe-$$-2")
	check_eq "probe status in the next window" 200 "$status"
fi

check_eq "RateLimit-Policy on 200" "\"default\";q=$R;w=3600" \
	"$(field "$work/h" RateLimit-Policy)"
check_match "RateLimit on 200" "^\"default\";r=$((ALLOWED - 1));t=[0-9]+\$" \
	"$(field "$work/h" RateLimit)"
check_match "Content-Length on 200" '^[0-9]+$' "$(field "$work/h" Content-Length)"
check_match "Date on 200" 'GMT$' "$(field "$work/h" Date)"

# --- customers in parallel ------------------------------------------------

# alice: one curl per request, in sequence: 16 requests.
(
	for _ in $(seq 1 16); do
		"$CURL" -s -o /dev/null -w '%{http_code}\n' -H 'X-Api-Key: alice' "$base/"
	done >"$work/alice.codes"
) &
alice_pid=$!

# dave: 14 requests from one curl, 4 at a time (--parallel).
urls=()
for _ in $(seq 1 14); do
	urls+=(-o /dev/null "$base/")
done
"$CURL" -s --no-progress-meter -Z --parallel-max 4 -w '%{http_code}\n' \
	-H 'X-Api-Key: dave' "${urls[@]}" >"$work/dave.codes" 2>"$work/dave.err" &
dave_pid=$!

# bob: ab with keep-alive (HTTP/1.0 with Connection: keep-alive).
"$AB" -q -n 25 -c 3 -k -l -H 'X-Api-Key: bob' "$base/" >"$work/bob.ab" 2>&1 &
bob_pid=$!

# carol: ab without keep-alive, a new connection per request.
"$AB" -q -n 20 -c 4 -l -H 'X-Api-Key: carol' "$base/" >"$work/carol.ab" 2>&1 &
carol_pid=$!

# No X-Api-Key: the customer is the client address, 127.0.0.1.
"$AB" -q -n 14 -c 2 -k -l "$base/" >"$work/address.ab" 2>&1 &
address_pid=$!

wait "$alice_pid" "$dave_pid"
wait "$bob_pid" || echo "ab for bob exited with status $?"
wait "$carol_pid" || echo "ab for carol exited with status $?"
wait "$address_pid" || echo "ab for the address exited with status $?"

cat "$work/alice.codes" "$work/dave.codes" >>"$work/ledger"
check_eq "alice (curl): 200 count" "$ALLOWED" "$(count_codes "$work/alice.codes" 200)"
check_eq "alice (curl): 429 count" 6 "$(count_codes "$work/alice.codes" 429)"
check_eq "dave (curl --parallel): 200 count" "$ALLOWED" "$(count_codes "$work/dave.codes" 200)"
check_eq "dave (curl --parallel): 429 count" 4 "$(count_codes "$work/dave.codes" 429)"

read -r ok denied errors < <(ab_counts "$work/bob.ab")
record_ab "$ok" "$denied"
check_eq "bob (ab -k): 2xx count" "$ALLOWED" "$ok"
check_eq "bob (ab -k): non-2xx count" 15 "$denied"
check_eq "bob (ab -k): connection errors" 0 "$errors"
check_match "bob (ab -k): connections kept alive" '^Keep-Alive requests: +25$' \
	"$(grep '^Keep-Alive requests' "$work/bob.ab")"

read -r ok denied errors < <(ab_counts "$work/carol.ab")
record_ab "$ok" "$denied"
check_eq "carol (ab): 2xx count" "$ALLOWED" "$ok"
check_eq "carol (ab): non-2xx count" 10 "$denied"
check_eq "carol (ab): connection errors" 0 "$errors"

read -r ok denied errors < <(ab_counts "$work/address.ab")
record_ab "$ok" "$denied"
check_eq "client address (ab -k): 2xx count" "$ALLOWED" "$ok"
check_eq "client address (ab -k): non-2xx count" 4 "$denied"
check_eq "client address (ab -k): connection errors" 0 "$errors"

# ab counts every status but 2xx together: these must all be 429.
for key in bob carol; do
	check_eq "$key is denied with 429 afterwards" 429 "$(get "$key")"
done
check_eq "client address is denied with 429 afterwards" 429 "$(get "")"
check_match "client address key in the body" '"key":"127.0.0.1","key_source":"client address"' \
	"$(cat "$work/b")"

# --- 429 fields ------------------------------------------------------------

check_eq "alice: status after the limit" 429 "$(get alice)"
check_eq "RateLimit-Policy on 429" "\"default\";q=$R;w=3600" \
	"$(field "$work/h" RateLimit-Policy)"
check_match "RateLimit on 429" '^"default";r=0;t=[0-9]+$' "$(field "$work/h" RateLimit)"
retry=$(field "$work/h" Retry-After)
check_match "Retry-After on 429 is a whole number" '^[0-9]+$' "$retry"
if [ "${retry:-0}" -ge 1 ] 2>/dev/null && [ "$retry" -le 3600 ]; then
	pass "Retry-After is between 1 and 3600 ($retry)"
else
	fail "Retry-After '$retry' is not between 1 and 3600"
fi
reset=$(field "$work/h" RateLimit | sed -n 's/.*;t=\([0-9]*\).*/\1/p')
check_eq "Retry-After equals t for a cost of 1" "$reset" "$retry"

status=$("$CURL" -s -I -o "$work/head" -w '%{http_code}' -H 'X-Api-Key: alice' "$base/")
record "$status"
check_eq "HEAD is answered like GET" 429 "$status"
check_match "HEAD carries the GET body's Content-Length" '^Content-Length: [1-9][0-9]*' \
	"$(tr -d '\r' <"$work/head" | grep -i '^Content-Length')"

# --- protocol errors (not charged) ------------------------------------------

# raw REQUEST: sends REQUEST (printf format) on a new connection and prints
# the status code of the first response line.
raw() {
	local reply
	exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
	# shellcheck disable=SC2059 # REQUEST is a printf format on purpose.
	printf "$1" >&3
	reply=$(timeout 30 cat <&3)
	exec 3<&-
	printf '%s\n' "$reply" | head -n 1 | awk '{ print $2 }'
}

check_eq "malformed request line" 400 "$(raw 'GARBAGE\r\n\r\n')"
check_eq "HTTP/1.1 without Host" 400 "$(raw 'GET / HTTP/1.1\r\nX-Api-Key: eve\r\n\r\n')"
check_eq "space before colon" 400 \
	"$(raw 'GET / HTTP/1.1\r\nHost: x\r\nX-Api-Key : eve\r\n\r\n')"
check_eq "two X-Api-Key fields" 400 \
	"$(raw 'GET / HTTP/1.1\r\nHost: x\r\nX-Api-Key: eve\r\nX-Api-Key: mallory\r\n\r\n')"
check_eq "HTTP/2.0 request line" 505 "$(raw 'GET / HTTP/2.0\r\nHost: x\r\n\r\n')"
check_eq "chunked request body" 501 \
	"$(raw 'GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n')"
check_eq "POST" 405 "$("$CURL" -s -o /dev/null -D "$work/h" -w '%{http_code}' \
	-H 'X-Api-Key: eve' -d x "$base/")"
check_eq "Allow on 405" "GET, HEAD" "$(field "$work/h" Allow)"
check_eq "unknown method" 501 "$("$CURL" -s -o /dev/null -w '%{http_code}' \
	-H 'X-Api-Key: eve' -X BREW "$base/")"
big=$(head -c 9000 /dev/zero | tr '\0' a)
check_eq "header larger than 8 KiB" 431 "$("$CURL" -s -o /dev/null -w '%{http_code}' \
	-H 'X-Api-Key: eve' -H "X-Big: $big" "$base/")"
check_eq "request line larger than 8 KiB" 414 "$("$CURL" -s -o /dev/null -w '%{http_code}' \
	-H 'X-Api-Key: eve' "$base/$big")"

check_eq "eve's first GET after rejected requests" 200 "$(get eve)"
check_match "rejected requests were not charged" "^\"default\";r=$((ALLOWED - 1));t=" \
	"$(field "$work/h" RateLimit)"

exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'GET / HTTP/1.0\r\nx-api-KEY: \t frank \t\r\n\r\n' >&3
timeout 30 cat <&3 >"$work/frank"
exec 3<&-
record "$(head -n 1 "$work/frank" | awk '{ print $2 }')"
check_match "X-Api-Key is trimmed and its field name is case-insensitive" \
	'"key":"frank"' "$(cat "$work/frank")"

# --- keep-alive, pipelining and the idle timeout -----------------------------

exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'GET /1 HTTP/1.1\r\nHost: x\r\nX-Api-Key: gina\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\nX-Api-Key: gina\r\n\r\nGET /3 HTTP/1.1\r\nHost: x\r\nX-Api-Key: gina\r\nConnection: close\r\n\r\n' >&3
timeout 30 cat <&3 >"$work/pipelined"
exec 3<&-
check_eq "three pipelined requests get three responses" 3 \
	"$(grep -c '^HTTP/1.1 200 OK' "$work/pipelined")"
record 200 200 200
check_match "the last pipelined response closes" '^Connection: close' \
	"$(tr -d '\r' <"$work/pipelined" | grep '^Connection')"
check_match "pipelined responses count down" "r=$((ALLOWED - 3));t=" \
	"$(tr -d '\r' <"$work/pipelined" | grep '^RateLimit:' | tail -n 1)"

# An idle connection is closed after --keepalive-timeout (2s); the bound
# below is only a guard against a server that never closes it.
exec 3<>"/dev/tcp/127.0.0.1/$port"
if timeout 60 cat <&3 >/dev/null; then
	pass "an idle connection is closed by the server"
else
	fail "an idle connection stayed open for 60 s"
fi
exec 3<&-

# --- worker killed with SIGKILL ------------------------------------------------

# henry makes 5 requests, a worker dies, then henry makes 10 more: exactly
# 5 of those may pass if the count survived in shared memory.
for _ in $(seq 1 5); do
	"$CURL" -s -o /dev/null -w '%{http_code}\n' -H 'X-Api-Key: henry' "$base/"
done >"$work/henry1.codes"
cat "$work/henry1.codes" >>"$work/ledger"
check_eq "henry before the kill: 200 count" 5 "$(count_codes "$work/henry1.codes" 200)"

victim=$(worker_pids "$work/server.log" | head -n 1)
if [ -z "$victim" ] || ! kill -0 "$victim" 2>/dev/null; then
	fail "no running worker found in the server log"
else
	kill -KILL "$victim"
	restarted=no
	for _ in $(seq 1 300); do
		if grep -q "(pid $victim) was killed by signal 9" "$work/server.log" &&
			[ "$(grep -c 'started worker' "$work/server.log")" -gt "$WORKERS" ]; then
			restarted=yes
			break
		fi
		sleep 0.1
	done
	check_eq "the master logs the death and restarts the worker" yes "$restarted"
	running=0
	for pid in $(worker_pids "$work/server.log"); do
		kill -0 "$pid" 2>/dev/null && running=$((running + 1))
	done
	check_eq "workers running after the restart" "$WORKERS" "$running"
	if kill -0 "$victim" 2>/dev/null; then
		fail "the killed worker $victim still exists"
	else
		pass "the killed worker $victim is gone"
	fi
fi

for _ in $(seq 1 10); do
	"$CURL" -s -o /dev/null -w '%{http_code}\n' -H 'X-Api-Key: henry' "$base/"
done >"$work/henry2.codes"
cat "$work/henry2.codes" >>"$work/ledger"
check_eq "henry after the kill: 200 count" $((ALLOWED - 5)) "$(count_codes "$work/henry2.codes" 200)"
check_eq "henry after the kill: 429 count" 5 "$(count_codes "$work/henry2.codes" 429)"
check_eq "alice is still denied after the kill" 429 "$(get alice)"

# --- limitctl agrees ------------------------------------------------------------

if [ -n "$LIMITCTL" ] && [ -x "$LIMITCTL" ]; then
	for key in alice bob carol dave henry 127.0.0.1; do
		"$LIMITCTL" show "$name" "$key" >"$work/show" 2>&1
		check_eq "limitctl show $key: remaining" 0 \
			"$(awk -F': *' '$1 == "remaining" { print $2 }' "$work/show")"
		check_eq "limitctl show $key: used" "$R of $R in this window" \
			"$(awk -F': *' '$1 == "used" { print $2 }' "$work/show")"
		check_eq "limitctl show $key: credits" 0 \
			"$(awk -F': *' '$1 == "credits" { print $2 }' "$work/show")"
	done
	"$LIMITCTL" list "$name" >"$work/list" 2>&1
	check_match "limitctl list shows bob with nothing left" '^bob +default +0 +0 +6 ' \
		"$(grep '^bob ' "$work/list")"
	check_match "limitctl list shows eve with 9 left" '^eve +default +9 +4 +1 ' \
		"$(grep '^eve ' "$work/list")"
	# Counters are exact here because no request is in flight.
	"$LIMITCTL" stats "$name" >"$work/stats" 2>&1
	check_eq "limitctl stats: allowed equals the 200s clients saw" \
		"$(count_codes "$work/ledger" 200)" \
		"$(awk -F': *' '$1 == "allowed" { print $2 }' "$work/stats")"
	check_eq "limitctl stats: denied equals the 429s clients saw" \
		"$(count_codes "$work/ledger" 429)" \
		"$(awk -F': *' '$1 == "denied" { print $2 }' "$work/stats")"
else
	echo "note: LIMITCTL not set; limitctl checks skipped"
fi

# --- IPv6 ------------------------------------------------------------------------

WORKERS_STARTED=1
if start_server "$work/server6.log" --listen '[::1]:0' --workers 1 \
	--name "$name6" --recreate --unlink-on-exit; then
	server6_pid=$REPLY
	port6=$(cat "$work/server6.log.port")
	check_eq "IPv6 listener answers" 200 \
		"$("$CURL" -s -g -o "$work/b6" -w '%{http_code}' "http://[::1]:$port6/")"
	check_match "IPv6 client address is the key" '"key":"::1","key_source":"client address"' \
		"$(cat "$work/b6")"
	stop_server "$server6_pid"
	server6_pid=
elif grep -q 'cannot bind' "$work/server6.log"; then
	server6_pid=$REPLY
	echo "note: [::1] cannot be bound here; IPv6 checks skipped"
else
	server6_pid=$REPLY
	fail "the IPv6 server did not start"
	cat "$work/server6.log"
fi

# --- full table ---------------------------------------------------------------------

# 20 new customers in a table of 8 slots, with --full-action deny: every
# request gets 200 or 503, and a 503 carries Retry-After.
WORKERS_STARTED=1
if start_server "$work/full.log" --listen 127.0.0.1:0 --workers 1 \
	--name "$name-full" --recreate --unlink-on-exit --capacity 8 \
	--full-action deny --window 1h; then
	full_pid=$REPLY
	full_base="http://127.0.0.1:$(cat "$work/full.log.port")"
	for i in $(seq 1 20); do
		"$CURL" -s -o /dev/null -D "$work/full.h.$i" -w '%{http_code}\n' \
			-H "X-Api-Key: new-$i" "$full_base/"
	done >"$work/full.codes"
	check_eq "full table: every status is 200 or 503" 20 \
		"$(grep -cE '^(200|503)$' "$work/full.codes")"
	denied_at=$(grep -n '^503$' "$work/full.codes" | head -n 1 | cut -d: -f1)
	if [ -n "$denied_at" ]; then
		pass "full table: a new customer gets 503 (request $denied_at)"
		check_match "full table: Retry-After on 503" '^[1-9][0-9]*$' \
			"$(field "$work/full.h.$denied_at" Retry-After)"
	else
		fail "full table: 20 new customers in 8 slots got no 503"
	fi
	check_match "full table: the server logs it" 'warning: limiter table full' \
		"$(cat "$work/full.log")"
	stop_server "$full_pid"
	full_pid=
else
	full_pid=$REPLY
	fail "the full-table server did not start"
	cat "$work/full.log"
fi

# --- SIGTERM -------------------------------------------------------------------

workers=$(worker_pids "$work/server.log")
kill -TERM "$server_pid"
for _ in $(seq 1 600); do
	kill -0 "$server_pid" 2>/dev/null || break
	sleep 0.1
done
if kill -0 "$server_pid" 2>/dev/null; then
	fail "the server still runs 60 s after SIGTERM"
else
	wait "$server_pid"
	check_eq "exit status after SIGTERM" 0 "$?"
	server_pid=
fi
left=
for pid in $workers; do
	kill -0 "$pid" 2>/dev/null && left="$left $pid"
done
check_eq "worker processes left after SIGTERM" "" "$left"
check_eq "workers that logged their stop" "$WORKERS" \
	"$(grep -c 'worker [0-9]* stopping' "$work/server.log")"
check_match "the server logs its stop" 'info: stopped$' "$(tail -n 1 "$work/server.log")"
if [ -e "/dev/shm/credlimit.$name" ]; then
	fail "segment /dev/shm/credlimit.$name remains after --unlink-on-exit"
else
	pass "--unlink-on-exit removed the segment"
fi
check_eq "error lines in the server log" "" "$(grep ' error: ' "$work/server.log")"

echo "$passed passed, $failed failed"
if [ "$failed" -gt 0 ]; then
	echo "server log:"
	cat "$work/server.log"
	exit 1
fi
exit 0
