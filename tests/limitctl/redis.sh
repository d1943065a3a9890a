#!/bin/sh
# redis.sh - limitctl on a limiter kept in Redis
#
# Starts its own redis-server on 127.0.0.1 and a free port, without
# persistence, and stops it on exit.  The default policy is R=3 per 366-day
# window, C=2, I=1, so every count below is exact.  Skipped (77) when
# redis-server is missing or limitctl was built without Redis support.

. "$TOP_SRCDIR/tests/limitctl/common.sh"

. "$TOP_SRCDIR/tests/limitctl/redis-common.sh"

start_redis
PORT=$REDIS_PORT
URI="redis://127.0.0.1:$PORT/0?prefix=rds-lctl:&timeout_ms=2000"

skip_without_redis_support "$URI"
expect_status 3 "list before create"
expect_err "not found: Redis has no policies hash" "list before create"

expect_run 0 "create" create "$URI" --max-requests 3 --window 366d \
	--max-credits 2 --initial-credits 1
expect_out "created limiter \"$URI\" on Redis" "create"
expect_out "default policy: 3 requests per 366d, max 2 credits, 1 initial credit" \
	"create"
expect_run 1 "create of an existing limiter" create "$URI"
expect_err "already exists" "create of an existing limiter"

expect_run 0 "acquire, new key" acquire "$URI" alice
expect_out "allowed: cost 1 for key \"alice\" under policy \"default\"" \
	"acquire, new key"
expect_out "remaining 3, credits 1, limit 3 per window" "acquire, new key"
expect_run 0 "acquire paid by credits" acquire "$URI" alice --cost 3
expect_out "remaining 0, credits 0" "acquire paid by credits"
expect_run 0 "acquire denied" acquire "$URI" alice
expect_out "denied: cost 1 for key \"alice\"" "acquire denied"
expect_run 0 "acquire of carol" acquire "$URI" carol

expect_run 0 "list" list "$URI"
expect_equal "$(table_field alice 3)" 0 "list: alice remaining"
expect_equal "$(table_field carol 3)" 3 "list: carol remaining"
expect_equal "$(table_field carol 5)" 1 "list: carol used"
expect_run 0 "list --json" list "$URI" --json
expect_valid_json "list --json"
expect_json 'len(d["entries"])' 2 "list --json"

expect_run 0 "show" show "$URI" alice
expect_out "alice" "show"
expect_run 3 "show of a missing key" show "$URI" nobody

expect_run 0 "set credits" set "$URI" alice --credits 2
expect_run 0 "show after set" show "$URI" alice --json
expect_json 'd["entry"]["credits"]' 2 "show after set"
expect_run 2 "set credits above max" set "$URI" alice --credits 3
expect_err "above the max credits (2)" "set credits above max"

expect_run 0 "policy set" policy set "$URI" premium --max-requests 10 \
	--window 1m
expect_run 0 "policy list" policy list "$URI"
expect_out "premium" "policy list"
expect_run 0 "assign policy" set "$URI" alice --policy premium
expect_run 0 "acquire under the assigned policy" acquire "$URI" alice
expect_out "under policy \"premium\"" "acquire under the assigned policy"

expect_run 0 "reset" reset "$URI" carol
expect_run 3 "reset of a reset key" reset "$URI" carol
expect_run 0 "reset --all" reset "$URI" --all

expect_run 0 "stats" stats "$URI"
expect_out "backend:           redis" "stats"
expect_out "entries:           1" "stats"
expect_out "policies:          2" "stats"
expect_run 0 "stats --json" stats "$URI" --json
expect_json 'd["backend"]' '"redis"' "stats --json"

expect_run 1 "grow" grow "$URI"
expect_err "not supported on a Redis limiter" "grow"
expect_run 2 "invalid URI" list "redis://127.0.0.1:$PORT/0?timeout=5"
expect_err "invalid Redis URI" "invalid URI"
expect_err "unknown Redis option \"timeout\"" "invalid URI"

finish
