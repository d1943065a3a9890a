#!/bin/sh
# lease.sh - limitctl on a lease limiter and on its lease cache
#
# Starts its own redis-server on 127.0.0.1.  The default policy is R=5 per
# 366-day window, C=0, so every count below is exact.  Skipped (77) when
# redis-server is missing or limitctl was built without Redis support.

. "$TOP_SRCDIR/tests/limitctl/common.sh"

. "$TOP_SRCDIR/tests/limitctl/redis-common.sh"

start_redis
CACHE=$PREFIX-lease
REDIS="redis://127.0.0.1:$REDIS_PORT/0?prefix=lctl-lease:&timeout_ms=2000"
LEASE="shm:$CACHE?lease=4&upstream=$REDIS"

skip_without_redis_support "$REDIS"

expect_run 0 "create" create "$LEASE" --max-requests 5 --window 366d \
	--max-credits 0
expect_out "on Redis" "create"

expect_run 0 "acquire through the lease" acquire "$LEASE" alice
expect_out "allowed: cost 1 for key \"alice\"" "acquire through the lease"
expect_run 0 "acquire again" acquire "$LEASE" alice
expect_run 0 "acquire on Redis" acquire "$REDIS" alice
expect_out "remaining 2" "acquire on Redis"

# Each command closes its lease limiter, which returns what the host held.
expect_run 0 "stats of the lease cache" stats "$CACHE"
expect_out "leases taken:      2 (3 units)" "stats of the lease cache"
expect_out "units held now:    0" "stats of the lease cache"
expect_out "units returned:    1 taken back by Redis, 0 lost" \
	"stats of the lease cache"
expect_run 0 "stats --json" stats "$CACHE" --json
expect_json 'd["lease_cache"]' true "stats --json"
expect_json 'd["lease_fetches"]' 2 "stats --json"

expect_run 0 "list of the lease cache" list "$CACHE"
expect_equal "$(table_field alice 3)" 0 "list: alice holds no units"
expect_run 0 "show of the lease cache" show "$CACHE" alice
expect_out "units leased for the window of 366d" "show of the lease cache"
expect_run 0 "check of the lease cache" check "$CACHE"

expect_run 0 "list through the lease" list "$LEASE"
expect_equal "$(table_field alice 3)" 2 "list through the lease: alice"

expect_run 1 "acquire on the lease cache" acquire "$CACHE" alice
expect_err "lease cache" "acquire on the lease cache"

expect_run 2 "invalid lease option" list "shm:$CACHE?size=4&upstream=$REDIS"
expect_run 0 "create a plain limiter" create "$PREFIX-plain"
expect_run 1 "plain limiter with an upstream" list \
	"shm:$PREFIX-plain?upstream=$REDIS"
expect_err "segment kind" "plain limiter with an upstream"

expect_run 0 "destroy by the short lease name" destroy "shm:$CACHE"
expect_run 3 "stats after destroy" stats "$CACHE"

finish
