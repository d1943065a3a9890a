#!/bin/sh
# lifecycle.sh - every limitctl command on one real named limiter
#
# The default policy is R=3 requests per 366-day window, C=2, I=1, so no
# window ends while the test runs and every count below is exact.

. "$TOP_SRCDIR/tests/limitctl/common.sh"

NAME=$PREFIX-life

expect_run 0 "create" create "$NAME" --max-requests 3 --window 366d \
	--max-credits 2 --initial-credits 1
expect_out "created limiter \"$NAME\": 4096 slots (max 4096), mode 0600, full action deny" \
	"create"
expect_out "default policy: 3 requests per 366d, max 2 credits, 1 initial credit" \
	"create"
if [ -e "/dev/shm/credlimit.$NAME" ] && [ -e "/dev/shm/credlimit.$NAME.g1" ]; then
	pass "create made the control and table segments"
else
	fail "create: /dev/shm/credlimit.$NAME or its .g1 table is missing"
fi
expect_equal "$(stat -c %a "/dev/shm/credlimit.$NAME")" 600 \
	"create: segment mode"

expect_run 1 "create of an existing limiter" create "$NAME"
expect_err "limiter \"$NAME\" already exists; 'limitctl destroy $NAME' removes it" \
	"create of an existing limiter"

expect_run 0 "stats of a new limiter" stats "$NAME"
expect_out "entries:           0" "stats of a new limiter"
expect_out "capacity:          4096 slots (max 4096)" "stats of a new limiter"
expect_out "mode:              0600" "stats of a new limiter"
expect_out "full action:       deny" "stats of a new limiter"
expect_out "owner:             " "stats of a new limiter"

expect_run 0 "list of an empty limiter" list "$NAME"
expect_equal "$out" "no entries in limiter \"$NAME\"" "list of an empty limiter"

# alice: base allowance, then credits, then a denial.
expect_run 0 "acquire, new key" acquire "$NAME" alice
expect_out "allowed: cost 1 for key \"alice\" under policy \"default\"" \
	"acquire, new key"
expect_out "remaining 3, credits 1, limit 3 per window" "acquire, new key"
expect_out "new key: this decision created its entry" "acquire, new key"
expect_run 0 "acquire paid by credits" acquire "$NAME" alice --cost 3
expect_out "remaining 0, credits 0" "acquire paid by credits"
expect_run 0 "acquire denied" acquire "$NAME" alice
expect_out "denied: cost 1 for key \"alice\"" "acquire denied"
expect_out "retry after " "acquire denied"
expect_run 0 "acquire above R + C" acquire "$NAME" alice --cost 6
expect_out "denied: cost 6 for key \"alice\"" "acquire above R + C"
expect_out "remaining 0, credits 0" "acquire above R + C"
expect_out "no wait makes it fit" "acquire above R + C"
expect_run 0 "acquire of carol" acquire "$NAME" carol

expect_run 0 "list" list "$NAME"
expect_equal "$(printf '%s\n' "$out" | head -n 1 | tr -s ' ')" \
	"KEY POLICY REMAINING CREDITS USED RESET LAST SEEN" "list header"
expect_equal "$(table_field alice 2)" default "list: alice policy"
expect_equal "$(table_field alice 3)" 0 "list: alice remaining"
expect_equal "$(table_field alice 4)" 0 "list: alice credits"
expect_equal "$(table_field alice 5)" 3 "list: alice used"
expect_equal "$(table_field alice 8)" ago "list: alice last seen"
expect_equal "$(table_field carol 3)" 3 "list: carol remaining"
expect_equal "$(table_field carol 4)" 1 "list: carol credits"
expect_equal "$(table_field carol 5)" 1 "list: carol used"

expect_run 0 "list --limited" list "$NAME" --limited
expect_equal "$(table_field alice 3)" 0 "list --limited: alice"
expect_equal "$(table_field carol 1)" "" "list --limited: carol is not limited"

expect_run 0 "list --sort key" list "$NAME" --sort key
expect_equal "$(printf '%s\n' "$out" | awk 'NR > 1 { printf "%s ", $1 }')" \
	"alice carol " "list --sort key"
expect_run 0 "list --sort remaining" list "$NAME" --sort remaining
expect_equal "$(printf '%s\n' "$out" | awk 'NR == 2 { print $1 }')" alice \
	"list --sort remaining: fewest first"
expect_run 0 "list --sort credits" list "$NAME" --sort credits
expect_equal "$(printf '%s\n' "$out" | awk 'NR == 2 { print $1 }')" alice \
	"list --sort credits: fewest first"
expect_run 0 "list --sort last-seen" list "$NAME" --sort last-seen
expect_equal "$(printf '%s\n' "$out" | awk 'NR == 2 { print $1 }')" carol \
	"list --sort last-seen: most recent first"
expect_run 0 "list --top 1" list "$NAME" --top 1
expect_equal "$(printf '%s\n' "$out" | wc -l | tr -d ' ')" 2 \
	"list --top 1: header and one row"

expect_run 0 "show" show "$NAME" alice
expect_out "key:              alice" "show"
expect_out "key hex:          616c696365" "show"
expect_out "key length:       5 bytes" "show"
expect_out "policy:           default (id 0): 3 requests per 366d, max 2 credits, 1 initial credit" \
	"show"
expect_out "assigned policy:  none" "show"
expect_out "remaining:        0" "show"
expect_out "used:             3 of 3 in this window" "show"
expect_run 3 "show of a missing key" show "$NAME" nobody
expect_err "key \"nobody\" not found in limiter \"$NAME\"" \
	"show of a missing key"

expect_run 0 "set --credits" set "$NAME" carol --credits 2
expect_out "key \"carol\" of limiter \"$NAME\": credits set to 2" "set --credits"
expect_run 0 "show after set --credits" show "$NAME" carol
expect_out "credits:          2" "show after set --credits"
expect_out "remaining:        4" "show after set --credits"
expect_run 2 "set --credits above max" set "$NAME" carol --credits 3
expect_err "invalid --credits 3: above the max credits (2) of the key's policy \"default\" in limiter \"$NAME\"; give at most 2" \
	"set --credits above max"
expect_run 0 "show after set --credits above max" show "$NAME" carol
expect_out "credits:          2" "set --credits above max changed nothing"

expect_run 0 "policy list" policy list "$NAME"
expect_equal "$(printf '%s\n' "$out" | awk '$2 == "default" { print $1, $3, $4, $5, $6 }')" \
	"0 3 366d 2 1" "policy list: default"
expect_run 0 "policy set, new" policy set "$NAME" gold --max-requests 10 \
	--window 366d --max-credits 5
expect_out "policy \"gold\" (id 1) defined in limiter \"$NAME\": 10 requests per 366d, max 5 credits, 0 initial credits" \
	"policy set, new"
expect_run 0 "policy set, change" policy set "$NAME" gold --max-credits 6
expect_out "policy \"gold\" (id 1) changed in limiter \"$NAME\": 10 requests per 366d, max 6 credits, 0 initial credits" \
	"policy set, change"
expect_run 0 "policy list after set" policy list "$NAME"
expect_equal "$(printf '%s\n' "$out" | awk '$2 == "gold" { print $1, $3, $4, $5, $6 }')" \
	"1 10 366d 6 0" "policy list: gold"
expect_run 2 "policy set of a new policy without numbers" policy set "$NAME" \
	silver --max-credits 1
expect_err "policy \"silver\" does not exist in limiter \"$NAME\" yet: give --max-requests and --window" \
	"policy set of a new policy without numbers"
expect_run 2 "policy set with initial above max" policy set "$NAME" gold \
	--initial-credits 7
expect_err "invalid --initial-credits 7: it must be at most the max credits (6)" \
	"policy set with initial above max"
# default keeps 1 initial credit, which a max of 0 would exceed.
expect_run 2 "policy set with max below the kept initial credits" policy set \
	"$NAME" default --max-credits 0
expect_err "the kept initial credits (1) of policy \"default\" exceed the new --max-credits 0; pass --initial-credits as well, at most 0" \
	"policy set with max below the kept initial credits"
expect_no_err "invalid --initial-credits" \
	"policy set with max below the kept initial credits"
expect_run 0 "policy set with max and initial credits lowered" policy set \
	"$NAME" default --max-credits 2 --initial-credits 1

expect_run 0 "set --policy" set "$NAME" alice --policy gold
expect_out "key \"alice\" of limiter \"$NAME\": policy \"gold\" assigned" \
	"set --policy"
expect_run 0 "list after set --policy" list "$NAME"
expect_equal "$(table_field alice 2)" "gold*" "list: assigned policy"
expect_equal "$(table_field alice 3)" 7 "list: counts kept under the new policy"
expect_out "* policy assigned to the key" "list after set --policy"
expect_run 0 "show after set --policy" show "$NAME" alice
expect_out "assigned policy:  gold (id 1)" "show after set --policy"
expect_run 0 "set --policy none" set "$NAME" alice --policy none
expect_out "policy assignment removed" "set --policy none"
expect_run 0 "show after set --policy none" show "$NAME" alice
expect_out "assigned policy:  none" "show after set --policy none"
expect_run 3 "set of an unknown policy" set "$NAME" alice --policy platinum
expect_err "policy \"platinum\" not found in limiter \"$NAME\"; 'limitctl policy list $NAME' shows its policies" \
	"set of an unknown policy"
expect_run 3 "set --policy none of a missing key" set "$NAME" nobody \
	--policy none
expect_err "key \"nobody\" not found" "set --policy none of a missing key"
# --credits above the max of the policy being assigned changes nothing.
expect_run 2 "set --policy with --credits above its max" set "$NAME" frank \
	--policy gold --credits 7
expect_err "invalid --credits 7: above the max credits (6) of policy \"gold\" in limiter \"$NAME\"; give at most 6" \
	"set --policy with --credits above its max"
expect_run 3 "show after a rejected set --policy" show "$NAME" frank

# The policy is assigned before the credits are checked against it: 6 is
# above the default policy's 2 but within gold's 6.
expect_run 0 "set --policy and --credits" set "$NAME" dave --policy gold \
	--credits 6
expect_run 0 "show after set --policy and --credits" show "$NAME" dave
expect_out "credits:          6" "show after set --policy and --credits"
expect_out "remaining:        16" "show after set --policy and --credits"

expect_run 0 "acquire --policy" acquire "$NAME" eve --policy gold
expect_out "under policy \"gold\"" "acquire --policy"
expect_out "remaining 9, credits 0, limit 10 per window" "acquire --policy"
expect_run 3 "acquire with an unknown policy" acquire "$NAME" eve --policy tin
expect_err "policy \"tin\" not found" "acquire with an unknown policy"

expect_run 0 "reset" reset "$NAME" alice
expect_out "reset key \"alice\" of limiter \"$NAME\"" "reset"
expect_run 0 "show after reset" show "$NAME" alice
expect_out "remaining:        4" "show after reset"
expect_out "(fresh: no decision since creation or reset)" "show after reset"
expect_run 3 "reset of a missing key" reset "$NAME" nobody
expect_err "key \"nobody\" not found in limiter \"$NAME\"" \
	"reset of a missing key"

# Keys are bytes: a NUL, a high byte and a backslash, named with --hex.
expect_run 0 "acquire of a binary key" acquire "$NAME" 00ff5c41 --hex
expect_run 0 "list shows a binary key escaped" list "$NAME"
expect_equal "$(table_field '\x00\xff\\A' 3)" 3 "list: binary key escaped"
expect_run 0 "show of a binary key" show "$NAME" 00FF5C41 --hex
expect_out 'key:              \x00\xff\\A' "show of a binary key"
expect_out "key hex:          00ff5c41" "show of a binary key"
expect_run 3 "show of a binary key given literally" show "$NAME" 00ff5c41

# Keys above 32 bytes are stored as a digest plus their first 16 bytes.
long_key=0123456789abcdefLONG-KEY-STORED-AS-DIGEST
expect_run 0 "acquire of a long key" acquire "$NAME" "$long_key"
expect_run 0 "show of a long key" show "$NAME" "$long_key"
expect_out "key length:       41 bytes, stored as a digest and its first 16 bytes" \
	"show of a long key"
digest8=$(printf '%s\n' "$out" | awk '$1 == "key" && $2 == "digest:" { print substr($3, 1, 8) }')
expect_equal "${#digest8}" 8 "show of a long key: digest shown"
expect_out "key:              0123456789abcdef...#$digest8" \
	"show of a long key: prefix, ... and digest"
expect_run 0 "list shows a long key's prefix and digest" list "$NAME"
expect_equal "$(table_field "0123456789abcdef...#$digest8" 3)" 3 \
	"list: long key shown as prefix and digest"
expect_run 3 "show of another key with the same prefix" show "$NAME" \
	0123456789abcdefOTHER-KEY-STORED-AS-DIGEST

expect_run 0 "stats after decisions" stats "$NAME"
expect_out "entries:           6" "stats after decisions"
expect_out "policies:          2" "stats after decisions"
expect_out "denied:            2" "stats after decisions"

expect_run 0 "check" check "$NAME"
expect_equal "$out" "limiter \"$NAME\" is valid: no problems found" "check"

expect_run 0 "reset --all" reset "$NAME" --all
expect_equal "$out" "reset 6 entries of limiter \"$NAME\"" "reset --all"
expect_run 0 "list after reset --all" list "$NAME"
expect_equal "$(table_field carol 3)" 4 "list after reset --all: carol"
expect_equal "$(table_field dave 3)" 10 "list after reset --all: dave keeps gold"

# Two long keys with the same first 16 bytes differ in the digest shown.
expect_run 0 "acquire of a second long key" acquire "$NAME" \
	0123456789abcdefOTHER-KEY-STORED-AS-DIGEST
expect_run 0 "list of two long keys" list "$NAME"
expect_equal "$(printf '%s\n' "$out" | awk '/^0123456789abcdef\.\.\.#/ { print $1 }' | sort -u | wc -l | tr -d ' ')" \
	2 "list: two long keys with one prefix look different"

# Counts of 1 take the singular.
expect_run 0 "policy set of ones" policy set "$NAME" single --max-requests 1 \
	--window 366d --max-credits 1 --initial-credits 1
expect_out "1 request per 366d, max 1 credit, 1 initial credit" \
	"policy set of ones"
expect_run 0 "acquire of a one-byte key" acquire "$NAME" z
expect_run 0 "show of a one-byte key" show "$NAME" z
expect_out "key length:       1 byte" "show of a one-byte key"
expect_no_out "1 bytes" "show of a one-byte key"

# A key that starts with "-" follows --.
expect_run 0 "acquire of a key starting with -" acquire "$NAME" -- -dash-key
expect_out "allowed: cost 1 for key \"-dash-key\"" \
	"acquire of a key starting with -"
expect_run 0 "show of a key starting with -" show "$NAME" -- -dash-key
expect_out "key:              -dash-key" "show of a key starting with -"
expect_run 0 "set of a key starting with -" set "$NAME" --credits 1 -- \
	-dash-key
expect_run 0 "reset of a key starting with -" reset "$NAME" -- -dash-key

expect_run 0 "destroy" destroy "$NAME"
expect_equal "$out" "destroyed limiter \"$NAME\"" "destroy"
if [ -e "/dev/shm/credlimit.$NAME" ] || [ -e "/dev/shm/credlimit.$NAME.g1" ]; then
	fail "destroy left a segment of $NAME in /dev/shm"
else
	pass "destroy removed both segments"
fi
expect_run 3 "destroy of a destroyed limiter" destroy "$NAME"
expect_err "limiter \"$NAME\" not found" "destroy of a destroyed limiter"

finish
