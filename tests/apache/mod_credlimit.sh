#!/bin/sh
# End-to-end test of mod_credlimit: Apache httpd with the prefork MPM and 8
# to 10 children, started as a normal process from tests/apache/httpd.conf.in
# on a free port of 127.0.0.1, driven by ApacheBench and curl.
#
# Policy "burst": R=6 requests per 1h window, C=4 max credits, I=4 initial
# credits, so every new customer gets exactly R + I = 10 requests.  The test
# waits for a new window when the current one ends within 120 s, so no
# window ends during the exact counts.  Checked:
#   - exact 200/429 counts per customer with several customers at once
#     (ab with and without keep-alive, curl), decided by several children;
#   - RateLimit-Policy, RateLimit and Retry-After values;
#   - keys from a header, an environment variable set by SetEnvIf and the
#     client address; requests without a key (deny, skip); CredlimitLimit off;
#   - CredlimitDenyStatus, a cost from a header (and an invalid one);
#   - invalid costs from a variable: 500, and error lines capped per child;
#   - credits earned over idle 1 s windows;
#   - CREDLIMIT_RESULT in the access log with a local ErrorDocument 429;
#   - dry run: nothing denied, every decision counted, denials logged;
#   - the denial log: lines per key bounded by the number of children;
#   - a full table: fail-open serves, fail-closed returns 503, the cause
#     is logged once per child;
#   - limitctl list and show on the live segment;
#   - a graceful restart keeps the counts; a full restart with a changed
#     policy applies the new numbers and keeps the entries;
#   - configuration errors that httpd -t rejects with the file and line;
#   - stopping leaves no process; the test removes its segments.
#
# Environment (set by make check): APACHE_HTTPD, APACHE_LIBEXECDIR,
# MOD_CREDLIMIT, LIMITCTL, CURL, AB, CREDLIMIT_SANITIZERS.  Exit status 77
# (skip) when httpd, curl, ab or python3 is missing, or in a sanitizer
# build: httpd would need the sanitizer runtime preloaded to load the
# module.
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
I=4
ALLOWED=$((R + I))
CHILDREN=8

APACHE_HTTPD=${APACHE_HTTPD:-}
APACHE_LIBEXECDIR=${APACHE_LIBEXECDIR:-/usr/lib/apache2/modules}
MOD_CREDLIMIT=${MOD_CREDLIMIT:-examples/apache/.libs/mod_credlimit.so}
LIMITCTL=${LIMITCTL:-tools/limitctl}
LIBCREDLIMIT_DIR=${LIBCREDLIMIT_DIR:-.libs}
CURL=${CURL:-$(command -v curl || true)}
AB=${AB:-$(command -v ab || true)}
TOP_SRCDIR=${TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}

if [ -n "${CREDLIMIT_SANITIZERS:-}" ]; then
	echo "SKIP: sanitizer build; httpd cannot load a module built with $CREDLIMIT_SANITIZERS without the sanitizer runtime (the normal build runs this test)"
	exit 77
fi
if [ -z "$APACHE_HTTPD" ] || [ ! -x "$APACHE_HTTPD" ]; then
	echo "SKIP: Apache httpd not found; install the Debian packages apache2 and apache2-dev and rerun configure"
	exit 77
fi
for tool in "$CURL" "$AB"; do
	if [ -z "$tool" ] || [ ! -x "$tool" ]; then
		echo "SKIP: curl or ab not found; install the Debian packages curl and apache2-utils"
		exit 77
	fi
done
if ! command -v python3 >/dev/null 2>&1; then
	echo "SKIP: python3 not found; the test needs it to find a free port"
	exit 77
fi
if [ ! -f "$MOD_CREDLIMIT" ] || [ ! -x "$LIMITCTL" ]; then
	echo "ERROR: '$MOD_CREDLIMIT' or '$LIMITCTL' not found; run make first"
	exit 99
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/apt-httpd-$$.XXXXXX") || exit 99
segment="apt-$$"
conf="$work/httpd.conf"
errors="$work/logs/error.log"
passed=0
failed=0

server_pid() {
	cat "$work/run/httpd.pid" 2>/dev/null
}

# Stops httpd and waits until the parent and its children have exited.
stop_httpd() {
	local pid

	pid=$(server_pid)
	[ -n "$pid" ] || return 0
	"$APACHE_HTTPD" -f "$conf" -k stop 2>/dev/null || kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 1 200); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "httpd $pid did not stop in 20 s; killing it"
		pkill -KILL -P "$pid" 2>/dev/null
		kill -KILL "$pid" 2>/dev/null
	fi
	rm -f "$work/run/httpd.pid"
}

cleanup() {
	if [ "$failed" -gt 0 ] && [ -f "$errors" ]; then
		echo "# error log of httpd:"
		tail -n 60 "$errors"
	fi
	stop_httpd
	for name in "$segment" "$segment"-tiny "$segment"-slots "$segment"-windows "$segment"-huge; do
		rm -f /dev/shm/credlimit."$name" /dev/shm/credlimit."$name".g*
	done
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

# check_range DESCRIPTION MIN MAX ACTUAL
check_range() {
	if [ "$4" -ge "$2" ] && [ "$4" -le "$3" ]; then
		pass "$1 ($4)"
	else
		fail "$1: expected $2 to $3, got '$4'"
	fi
}

# render BURST_REQUESTS: writes the configuration for policy burst's R.
render() {
	local user_group=

	if [ "$(id -u)" -eq 0 ]; then
		user_group="User nobody
Group nogroup"
	fi
	awk -v root="$work" -v port="$port" -v modules="$APACHE_LIBEXECDIR" \
		-v module="$MOD_CREDLIMIT" -v segment="$segment" -v burst="$1" \
		-v user_group="$user_group" -v huge="$huge" '
		{
			gsub("@ROOT@", root); gsub("@PORT@", port)
			gsub("@MODULES@", modules); gsub("@MOD_CREDLIMIT@", module)
			gsub("@SEGMENT@", segment); gsub("@BURST_REQUESTS@", burst)
			gsub("@USER_GROUP@", user_group); gsub("@HUGE@", huge)
			print
		}' "$TOP_SRCDIR/tests/apache/httpd.conf.in" >"$conf"
}

# Counts the children of the running httpd.
count_children() {
	local pid

	pid=$(server_pid)
	[ -n "$pid" ] || { echo 0; return; }
	pgrep -c -P "$pid" 2>/dev/null || echo 0
}

# wait_ready GENERATION: waits until the error log reports the GENERATION-th
# "resuming normal operations" and CHILDREN children run.
wait_ready() {
	for _ in $(seq 1 300); do
		if [ "$(grep -c 'resuming normal operations' "$errors" 2>/dev/null)" -ge "$1" ] &&
			[ "$(count_children)" -ge "$CHILDREN" ]; then
			return 0
		fi
		sleep 0.1
	done
	echo "httpd did not become ready; error log:"
	cat "$errors" 2>/dev/null
	return 1
}

start_httpd() {
	if ! "$APACHE_HTTPD" -f "$conf" -k start; then
		echo "httpd failed to start; error log:"
		cat "$errors" 2>/dev/null
		exit 1
	fi
}

url() {
	echo "http://127.0.0.1:$port$1"
}

# get PATH [CURL-ARGS...]: prints the status code; headers go to $work/h.
get() {
	local path=$1
	shift
	"$CURL" -s -o /dev/null -D "$work/h" -w '%{http_code}' "$@" "$(url "$path")"
}

# field NAME: prints header field NAME of the last get.
field() {
	tr -d '\r' <"$work/h" | awk -v name="$1" '
		BEGIN { name = tolower(name) ": " }
		tolower(substr($0, 1, length(name))) == name { print substr($0, length(name) + 1) }'
}

# count_codes N PATH [CURL-ARGS...]: N sequential requests; prints
# "200-count other-count" and the other codes seen.
count_codes() {
	local n=$1 path=$2 ok=0 other=0 codes= code
	shift 2
	for _ in $(seq 1 "$n"); do
		code=$(get "$path" "$@")
		if [ "$code" = 200 ]; then
			ok=$((ok + 1))
		else
			other=$((other + 1))
			codes="$code"
		fi
	done
	echo "$ok $other $codes"
}

# ab_ok FILE: prints the number of 2xx responses in ab's output.
ab_ok() {
	local complete non2xx
	complete=$(awk '/^Complete requests:/ { print $3 }' "$1")
	non2xx=$(awk '/^Non-2xx responses:/ { print $3 }' "$1")
	echo $((${complete:-0} - ${non2xx:-0}))
}

# stored KEY: prints "used U, credits C" of KEY from limitctl show.
stored() {
	"$LIMITCTL" show "$segment" "$1" | awk -F': *' '/^stored state:/ { sub(/, window.*/, "", $2); print $2 }'
}

# config_rejected DESCRIPTION REGEX LINE...: appends each LINE to the test
# configuration, runs httpd -t on the result, and checks that it fails with
# a message matching REGEX that names the file and line of the last LINE.
config_rejected() {
	local description=$1 regex=$2 bad="$work/bad.conf" last output
	shift 2

	cp "$conf" "$bad"
	printf '%s\n' "$@" >>"$bad"
	last=$(wc -l <"$bad")
	if output=$("$APACHE_HTTPD" -t -f "$bad" 2>&1); then
		fail "$description: httpd -t accepted the configuration"
		return
	fi
	check_match "$description" "$regex" "$output"
	check_match "$description: file and line" "line $last of $bad" "$output"
}

# fill_limiter SEGMENT policies|windows: defines policies in the live
# limiter SEGMENT through libcredlimit until every policy slot, or every
# window length it can register, is used.  limitctl would need one run per
# definition, over 1000 of them for the window lengths.
fill_limiter() {
	python3 - "$LIBCREDLIMIT_DIR/libcredlimit.so.1" "$1" "$2" <<'PYTHON'
import ctypes, errno, sys

library, segment, what = sys.argv[1:]
credlimit = ctypes.CDLL(library)

class Policy(ctypes.Structure):
    _fields_ = [("max_requests", ctypes.c_uint32),
                ("max_credits", ctypes.c_uint32),
                ("initial_credits", ctypes.c_uint32),
                ("window_ns", ctypes.c_uint64)]

CREDLIMIT_OPEN_ANY_OWNER = 1 << 3
limiter = ctypes.c_void_p()
rc = credlimit.credlimit_open(segment.encode(), CREDLIMIT_OPEN_ANY_OWNER,
                              None, ctypes.byref(limiter))
if rc < 0:
    sys.exit(f"cannot open limiter {segment}: error {-rc}")
hour_ns = 3600 * 10**9
for i in range(1, 2000):
    if what == "policies":
        name, policy = f"filler{i}", Policy(1, 0, 0, hour_ns)
    else:
        name, policy = "filler", Policy(1, 0, 0, i * 10**6)
    rc = credlimit.credlimit_policy_define(limiter, name.encode(),
                                           ctypes.byref(policy))
    if rc == -errno.ENOSPC:
        sys.exit(0)
    if rc < 0:
        sys.exit(f"cannot define policy {name} in {segment}: error {-rc}")
sys.exit(f"limiter {segment} still had room after {i} definitions")
PYTHON
}

mkdir -p "$work/run" "$work/logs" "$work/htdocs"
echo ok >"$work/htdocs/ok.txt"
mkdir -p "$work/htdocs/errors"
echo "too many requests" >"$work/htdocs/errors/429.txt"
# The children (user nobody when run as root) read the documents.
chmod 755 "$work" "$work/htdocs" "$work/htdocs/errors"
# Zone huge's table of 2^32 64-byte entries must not fit in /dev/shm.
huge_bytes=$((64 << 32))
if [ "$(df -B1 --output=avail /dev/shm | tail -n 1)" -lt "$huge_bytes" ]; then
	huge=
else
	huge="# "
	echo "# /dev/shm has 256 GiB free: zone huge is left out"
fi
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
render "$R"

echo "# configuration errors found by httpd -t"
config_rejected "two zones on one segment" \
	"CredlimitZone z: segment $segment-same is already used by zone y" \
	"CredlimitZone y segment=$segment-same" "CredlimitZone z segment=$segment-same"
for code in 420 499 599; do
	config_rejected "CredlimitDenyStatus $code unknown to httpd" \
		"CredlimitDenyStatus: status $code is unknown to httpd" \
		"CredlimitDenyStatus $code"
done
config_rejected "requests=0" \
	"CredlimitPolicy main p0: requests '0' is invalid: it must be a whole number from 1 to 4294967295" \
	"CredlimitPolicy main p0 requests=0 window=1s"
config_rejected "requests=4294967296" \
	"CredlimitPolicy main p1: requests '4294967296' is invalid: it must be a whole number from 1 to 4294967295" \
	"CredlimitPolicy main p1 requests=4294967296 window=1s"
config_rejected "zone option given twice" \
	"CredlimitZone twice: option capacity is given twice" \
	"CredlimitZone twice segment=$segment-twice capacity=100 capacity=200"
config_rejected "policy option given twice" \
	"CredlimitPolicy main twice: option window is given twice" \
	"CredlimitPolicy main twice requests=1 window=1s window=2s"
config_rejected "header name with a space" \
	"CredlimitKey: invalid header field name 'X Y'" \
	'CredlimitKey "header:X Y"'
config_rejected "cost header name with a colon" \
	"CredlimitCost: invalid header field name 'X:Y'" \
	'CredlimitCost header:X:Y'
policies=("CredlimitZone many segment=$segment-many")
for i in $(seq 1 256); do
	policies+=("CredlimitPolicy many p$i requests=1 window=1h")
done
config_rejected "256 named policies in one zone" \
	"CredlimitPolicy many p256: zone many already has 255 named policies" \
	"${policies[@]}"

echo "# starting httpd on 127.0.0.1:$port, segment $segment"
start_httpd
wait_ready 1 || exit 1
check_range "prefork children" "$CHILDREN" 10 "$(count_children)"
check_match "zone created in post_config" "created segment /dev/shm/credlimit.$segment " "$(cat "$errors")"
if [ -z "$huge" ]; then
	check_match "table larger than /dev/shm" \
		"zone huge \(.*:[0-9]+\): cannot create segment /dev/shm/credlimit.$segment-huge: its table of 4294967296 slots needs $huge_bytes bytes, more than the [0-9]+ bytes free in /dev/shm" \
		"$(cat "$errors")"
fi
if [ "$(id -u)" -eq 0 ]; then
	check_eq "segment owned by the children's user" nobody \
		"$(stat -c %U /dev/shm/credlimit."$segment")"
fi

# Waits for a new window when the current one ends too soon.
get /api -H "X-Customer: probe" >/dev/null
reset=$(field RateLimit | sed -n 's/.*;t=\([0-9]*\).*/\1/p')
if [ -n "$reset" ] && [ "$reset" -lt 120 ]; then
	echo "# the current 1h window ends in $reset s; waiting for the next"
	sleep $((reset + 1))
fi

echo "# invalid costs from a variable: 500, error lines capped per child"
"$AB" -n 200 -c 10 -H "X-Customer: ivan" -H "X-Cost: lots" "$(url /envcost)" >"$work/ab-ivan" 2>&1
first_burst=$SECONDS
check_eq "invalid variable cost answers 500" 0 "$(ab_ok "$work/ab-ivan")"
check_eq "invalid variable cost status" 500 "$(get /envcost -H 'X-Customer: ivan' -H 'X-Cost: lots')"
cost_lines=$(grep -c 'invalid cost "lots" in variable REQUEST_COST' "$errors")
check_range "invalid cost lines after 201 requests (one per child)" 1 10 "$cost_lines"

echo "# exact counts: three customers at once across the children"
"$AB" -n 30 -c 8 -H "X-Customer: alice" "$(url /api)" >"$work/ab-alice" 2>&1 &
ab1=$!
"$AB" -k -n 30 -c 8 -H "X-Customer: bob" "$(url /api)" >"$work/ab-bob" 2>&1 &
ab2=$!
count_codes 30 /api -H "X-Customer: carol" >"$work/carol" &
curl_pid=$!
wait "$ab1" "$ab2" "$curl_pid"
check_eq "alice (ab -c 8): 200 responses" "$ALLOWED" "$(ab_ok "$work/ab-alice")"
check_eq "bob (ab -k -c 8): 200 responses" "$ALLOWED" "$(ab_ok "$work/ab-bob")"
check_eq "carol (curl): 200 and other responses" "$ALLOWED 20 429" "$(cat "$work/carol")"
deciders=$(awk '$2 ~ /"(alice|bob|carol)"/ { print $1 }' "$work/logs/access.log" | sort -u | wc -l)
check_range "children that decided for them" 2 10 "$deciders"
check_eq "requests logged as denied" 60 \
	"$(grep -c '"\(alice\|bob\|carol\)" 429 denied' "$work/logs/access.log")"

echo "# response fields"
check_eq "first request of dave" 200 "$(get /api -H 'X-Customer: dave')"
check_eq "RateLimit-Policy" "\"burst\";q=$R;w=3600" "$(field RateLimit-Policy)"
check_match "RateLimit after one request" "^\"burst\";r=$((ALLOWED - 1));t=[0-9]+$" "$(field RateLimit)"
count_codes $((ALLOWED - 1)) /api -H "X-Customer: dave" >/dev/null
check_eq "request of dave over the limit" 429 "$(get /api -H 'X-Customer: dave')"
check_match "RateLimit when denied" '^"burst";r=0;t=[0-9]+$' "$(field RateLimit)"
retry=$(field Retry-After)
reset=$(field RateLimit | sed -n 's/.*;t=\([0-9]*\).*/\1/p')
check_range "Retry-After in seconds" 1 3600 "${retry:-0}"
check_eq "Retry-After equals the window's reset" "$reset" "$retry"
check_eq "request without the key header (CredlimitNoKey deny)" 403 "$(get /api)"
check_eq "CredlimitLimit off" 200 "$(get /api/free -H 'X-Customer: dave')"
check_eq "no RateLimit field where the limit is off" "" "$(field RateLimit)"

echo "# other keys and statuses"
check_eq "key from SetEnvIf (env:CUSTOMER)" "$ALLOWED 2 429" "$(count_codes 12 /env/erin)"
check_eq "no key, CredlimitNoKey skip" 200 "$(get /env/)"
check_eq "no RateLimit field for a skipped request" "" "$(field RateLimit)"
check_eq "client address key, CredlimitDenyStatus 503" "$ALLOWED 2 503" "$(count_codes 12 /ip)"

echo "# local ErrorDocument 429"
check_eq "denials with a local ErrorDocument" "$ALLOWED 1 429" "$(count_codes $((ALLOWED + 1)) /errdoc -H 'X-Customer: judy')"
check_eq "ErrorDocument body" "too many requests" "$("$CURL" -s -H 'X-Customer: judy' "$(url /errdoc)")"
check_eq "CREDLIMIT_RESULT logged after the redirect" 2 \
	"$(grep -c '"judy" 429 denied$' "$work/logs/access.log")"

echo "# dry run"
check_eq "dry run denies nothing" "15 0 " "$(count_codes 15 /dry -H 'X-Customer: frank')"
check_eq "dry run charged frank's allowance" "used $R, credits 0" "$(stored frank)"
check_match "dry run logs the denials" 'dry run, would deny key "frank" in zone main, policy burst' "$(cat "$errors")"
check_eq "dry-run denials in the access log" 5 \
	"$(grep -c '"frank" 200 dry-run-denied' "$work/logs/access.log")"

echo "# denial log"
lines=$(grep -c 'denied key "alice" in zone main, policy burst: cost 1, remaining 0, credits 0' "$errors")
check_range "denial lines for alice (first per window per child)" 1 10 "$lines"

echo "# credits earned over idle windows (policy earn: R=1 per 1s, C=3)"
check_eq "first request of gina" 200 "$(get /earn -H 'X-Customer: gina')"
check_eq "cost 4 before idle windows" 429 "$(get /earn -H 'X-Customer: gina' -H 'X-Cost: 4')"
check_match "Retry-After for cost 4" '^[1-5]$' "$(field Retry-After)"
sleep 5
check_eq "cost 4 after idle windows" 200 "$(get /earn -H 'X-Customer: gina' -H 'X-Cost: 4')"
check_match "RateLimit after spending the credits" '^"earn";r=0;t=1$' "$(field RateLimit)"
check_eq "invalid cost header" 400 "$(get /earn -H 'X-Customer: gina' -H 'X-Cost: lots')"

# Ten seconds after the first burst each child may log one line again,
# which reports the invalid costs it left out.
sleep $((first_burst + 11 - SECONDS > 0 ? first_burst + 11 - SECONDS : 0))
"$AB" -n 50 -c 10 -H "X-Customer: ivan" -H "X-Cost: lots" "$(url /envcost)" >"$work/ab-ivan" 2>&1
cost_lines=$(grep -c 'invalid cost "lots" in variable REQUEST_COST' "$errors")
check_range "invalid cost lines after the second burst" 2 20 "$cost_lines"
check_match "left-out invalid costs reported" \
	'invalid cost "lots" in variable REQUEST_COST: .*; check the directive that sets it \([0-9]+ more since the last such line, not logged by this process\)' \
	"$(cat "$errors")"

echo "# full table (zone tiny, 8 slots)"
open_codes=
for i in $(seq 1 12); do
	open_codes="$open_codes$(get /full-open -H "X-Customer: k$i") "
done
check_eq "fail-open serves every key" "$(printf '200 %.0s' $(seq 1 12))" "$open_codes"
check_eq "fail-closed answers 503 for a new key" 503 "$(get /full-closed -H 'X-Customer: k99')"
check_eq "fail-closed still decides a stored key" 200 "$(get /full-closed -H 'X-Customer: k1')"
full_lines=$(grep -c 'zone tiny: the table is full' "$errors")
check_range "full table logged once per child" 1 10 "$full_lines"
check_match "full table advice at max-capacity" \
	"zone tiny: the table is full and a new key found no room: it has 8 slots, its max-capacity; .* run limitctl destroy $segment-tiny .* raise max-capacity in CredlimitZone tiny" \
	"$(cat "$errors")"

echo "# limitctl on the live segment"
list=$("$LIMITCTL" list "$segment")
for key in alice bob carol dave erin frank gina 127.0.0.1; do
	check_match "limitctl list shows $key" "^$key " "$list"
done
check_eq "alice's stored state" "used $R, credits 0" "$(stored alice)"
if [ "$(id -u)" -eq 0 ]; then
	check_match "limitctl list --owner of the children's user" "^alice " \
		"$("$LIMITCTL" list "$segment" --owner nobody)"
fi

echo "# graceful restart"
pid=$(server_pid)
"$APACHE_HTTPD" -f "$conf" -k graceful
wait_ready 2 || exit 1
check_eq "same parent after graceful restart" "$pid" "$(server_pid)"
check_eq "alice's state kept" "used $R, credits 0" "$(stored alice)"
check_eq "alice still limited" 429 "$(get /api -H 'X-Customer: alice')"
check_match "segment reopened" "opened the existing segment /dev/shm/credlimit.$segment;" "$(cat "$errors")"

echo "# full restart with policy burst raised to R=$((R + 2))"
stop_httpd
if fill_limiter "$segment-slots" policies && fill_limiter "$segment-windows" windows; then
	pass "policy slots and window lengths filled"
else
	fail "policy slots and window lengths filled"
fi
check_eq "no httpd process left after stop" 0 "$(pgrep -f -c -- "-f $conf" || true)"
render $((R + 2))
start_httpd
wait_ready 3 || exit 1
check_match "policy changed in place" "changed policy burst from requests=$R .* to requests=$((R + 2)) " "$(cat "$errors")"
check_eq "alice gets the two new requests" "2 1 429" "$(count_codes 3 /api -H 'X-Customer: alice')"
check_eq "RateLimit-Policy after the change" "\"burst\";q=$((R + 2));w=3600" "$(field RateLimit-Policy)"
check_match "entries kept across the full restart" "^carol " "$("$LIMITCTL" list "$segment")"
check_match "startup names the lack of policy slots" \
	"zone slots: cannot define policy p$((R + 2)) .*: all 256 policy slots of segment $segment-slots are used" \
	"$(cat "$errors")"
check_match "startup names the lack of window slots" \
	"zone windows: cannot define policy changing .*: segment $segment-windows has registered all 1023 window lengths" \
	"$(cat "$errors")"

stop_httpd
check_eq "no httpd process left at the end" 0 "$(pgrep -f -c -- "-f $conf" || true)"
if grep -E '\[(crit|alert|emerg)\]|child pid [0-9]+ exit signal' "$errors"; then
	fail "error log has critical lines or crashed children (above)"
else
	pass "no crashes or critical lines in the error log"
fi

echo "# $passed passed, $failed failed"
[ "$failed" -eq 0 ]
