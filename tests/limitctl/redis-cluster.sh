#!/bin/sh
# redis-cluster.sh - limitctl on a limiter kept in a Redis Cluster
#
# Starts three primaries on loopback ports, joins them with redis-cli
# --cluster create, and checks that list and stats see the customers of
# every node.  Skipped (77) without redis-server or redis-cli.

. "$TOP_SRCDIR/tests/limitctl/common.sh"
. "$TOP_SRCDIR/tests/limitctl/redis-common.sh"

REDIS_CLI=${REDIS_CLI:-redis-cli}
if ! command -v "$REDIS_CLI" >/dev/null 2>&1; then
	echo "SKIP: redis-cli not found (Debian package redis-tools)"
	exit 77
fi

nodes=
for _ in 1 2 3; do
	start_redis cluster
	nodes="$nodes 127.0.0.1:$REDIS_PORT"
done
FIRST=${nodes# }
FIRST=${FIRST%% *}

# shellcheck disable=SC2086 # one argument per node
if ! "$REDIS_CLI" --cluster create $nodes --cluster-replicas 0 \
	--cluster-yes >"$WORK/cluster-create" 2>&1; then
	cat "$WORK/cluster-create"
	exit 99
fi
for _ in $(seq 200); do
	ready=0
	for node in $nodes; do
		"$REDIS_CLI" -h 127.0.0.1 -p "${node#*:}" cluster info |
			grep -q 'cluster_state:ok' && ready=$((ready + 1))
	done
	[ "$ready" -eq 3 ] && break
	sleep 0.05
done
expect_equal "$ready" 3 "cluster state ok on every node"

URI="redis+cluster://$FIRST?prefix=rds-lctl:&timeout_ms=2000"
skip_without_redis_support "$URI"

expect_run 0 "create" create "$URI" --max-requests 3 --window 366d
for i in $(seq 30); do
	run_quietly acquire "$URI" "customer-$i" ||
		fail "acquire customer-$i: exit status $?"
done

with_keys=0
for node in $nodes; do
	keys=$("$REDIS_CLI" -h 127.0.0.1 -p "${node#*:}" dbsize)
	[ "$keys" -gt 0 ] && with_keys=$((with_keys + 1))
done
expect_equal "$with_keys" 3 "customers on every primary"

expect_run 0 "list across nodes" list "$URI" --json
expect_json 'len(d["entries"])' 30 "list across nodes"
expect_json 'sorted(e["used"] for e in d["entries"])[0]' 1 "list across nodes"
expect_run 0 "show" show "$URI" customer-7
expect_run 0 "stats" stats "$URI"
expect_out "entries:           30" "stats"
expect_out "servers:           3" "stats"

finish
