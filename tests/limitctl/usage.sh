#!/bin/sh
# usage.sh - limitctl help, version and usage errors (exit status 2)
#
# Every case here is rejected before any segment is opened.

. "$TOP_SRCDIR/tests/limitctl/common.sh"

NAME=$PREFIX-usage
commands="create list show acquire reset set policy stats check destroy replay"

expect_run 0 "--help" --help
expect_out "Usage: limitctl" "--help"
expect_out "Exit status:" "--help"
for command in $commands; do
	expect_out "  $command " "--help lists $command"
done

expect_run 0 "--version" --version
expect_out "limitctl 0.2.0" "--version"
expect_out "compiled with credlimit 0.2.0, running with libcredlimit 0.2.0" \
	"--version"

for command in $commands; do
	expect_run 0 "$command --help" "$command" --help
	expect_out "Usage: limitctl $command " "$command --help"
	expect_out "5  replay stopped at a malformed input line" \
		"$command --help"
	expect_run 0 "help $command" help "$command"
	expect_out "Usage: limitctl $command " "help $command"
done

expect_run 2 "no command"
expect_equal "$err" "limitctl: missing command
Try 'limitctl --help'." "no command: one hint"
expect_run 2 "unknown command" frobnicate
expect_err 'unknown command "frobnicate"' "unknown command"
expect_run 2 "help for unknown command" help frobnicate
expect_err 'unknown command "frobnicate"' "help for unknown command"
expect_run 2 "unknown global option" --frobnicate list "$NAME"
expect_err "unknown option --frobnicate" "unknown global option"

expect_run 2 "unknown command option" list "$NAME" --frobnicate
expect_err "unknown option --frobnicate" "unknown command option"
expect_err "Try 'limitctl list --help'." "unknown command option"
expect_no_err "put -- before it" "unknown option of a command without KEY"

# A KEY that starts with "-" is parsed as options, so the error of a
# command that takes a KEY shows how to pass one.
for command in show acquire reset set; do
	expect_run 2 "$command with a key starting with -" "$command" "$NAME" \
		-dash-key
	expect_err 'unknown option -d; to pass a key that starts with "-", put -- before it' \
		"$command with a key starting with -"
done
expect_run 2 "option without its value" create "$NAME" --window
expect_err "option --window needs a value" "option without its value"
expect_run 2 "flag given a value" list "$NAME" --json=yes
expect_err "option --json=yes takes no value" "flag given a value"
expect_run 2 "unknown --owner" --owner no-such-user-lctl list "$NAME"
expect_err 'invalid --owner "no-such-user-lctl": no such user' \
	"unknown --owner"

expect_run 2 "create with --owner" --owner 0 create "$NAME"
expect_err "--owner does not apply to create" "create with --owner"
expect_run 2 "create without NAME" create
expect_err "missing argument NAME" "create without NAME"
expect_run 2 "create with two names" create "$NAME" other
expect_err 'unexpected argument "other"' "create with two names"
expect_run 2 "limiter name with a slash" create "a/b"
expect_err 'invalid limiter name "a/b"' "limiter name with a slash"
expect_run 2 "limiter name with a leading dot" create ".hidden"
expect_err 'invalid limiter name ".hidden"' "limiter name with a leading dot"

# Table segments are "/credlimit.NAME.gN", so no limiter name may end in
# ".g" and digits.  Every command checks the name before opening.
table_suffix_rule='a name may not end in ".g" and digits, which table segments use; choose another name'
for name in x.g1 a.b.g12 "$NAME.g0"; do
	expect_run 2 "create of limiter name $name" create "$name"
	expect_err "invalid limiter name \"$name\": $table_suffix_rule" \
		"create of limiter name $name"
done
expect_run 2 "destroy of limiter name x.g1" destroy x.g1
expect_err "invalid limiter name \"x.g1\": $table_suffix_rule" \
	"destroy of limiter name x.g1"
for command in list stats check "policy list"; do
	# shellcheck disable=SC2086 # "policy list" is two words
	expect_run 2 "$command of limiter name x.g1" $command x.g1
	expect_err "$table_suffix_rule" "$command of limiter name x.g1"
done
for command in show acquire reset; do
	expect_run 2 "$command of limiter name x.g1" "$command" x.g1 key
	expect_err "$table_suffix_rule" "$command of limiter name x.g1"
done
expect_run 2 "set of limiter name x.g1" set x.g1 key --credits 1
expect_err "$table_suffix_rule" "set of limiter name x.g1"
expect_run 2 "policy set of limiter name x.g1" policy set x.g1 gold \
	--max-requests 1 --window 1s
expect_err "$table_suffix_rule" "policy set of limiter name x.g1"
# Names that only look close to the suffix are valid: not found, not a
# usage error.
for name in "$NAME.g" "$NAME.g1x" "$NAME.gg1" "$NAME-g1"; do
	expect_run 3 "list of valid limiter name $name" list "$name"
done

expect_run 2 "window without unit" create "$NAME" --window 10x
expect_equal "$err" 'limitctl: invalid --window "10x": expected a number with unit ms, s, m, h or d, such as 500ms or 10m' \
	"window without unit"
expect_run 2 "window of a bare number" create "$NAME" --window 10
expect_err 'invalid --window "10": expected a number with unit' \
	"window of a bare number"
expect_run 2 "window of 0ms" create "$NAME" --window 0ms
expect_err 'invalid --window "0ms": a window must be from 1ms to 366d' \
	"window of 0ms"
expect_run 2 "window of 367d" create "$NAME" --window 367d
expect_err 'invalid --window "367d": a window must be from 1ms to 366d' \
	"window of 367d"
expect_run 2 "window below a nanosecond" create "$NAME" --window 1.0000000001s
expect_err "not a whole number of nanoseconds" "window below a nanosecond"
expect_run 2 "max-requests 0" create "$NAME" --max-requests 0
expect_err 'invalid --max-requests "0": expected a whole number from 1 to 4294967295' \
	"max-requests 0"
expect_run 2 "max-requests above 32 bits" create "$NAME" --max-requests 4294967296
expect_err 'invalid --max-requests "4294967296"' "max-requests above 32 bits"
expect_run 2 "negative max-credits" create "$NAME" --max-credits -1
expect_err 'invalid --max-credits "-1"' "negative max-credits"
expect_run 2 "initial credits above max" create "$NAME" --max-credits 2 \
	--initial-credits 3
expect_err "invalid --initial-credits 3: it must be at most the max credits (2)" \
	"initial credits above max"
expect_run 2 "max-capacity below capacity" create "$NAME" --capacity 64 \
	--max-capacity 16
expect_err "invalid --max-capacity 16: it must be at least the capacity (64)" \
	"max-capacity below capacity"
expect_run 2 "capacity 0" create "$NAME" --capacity 0
expect_err 'invalid --capacity "0"' "capacity 0"
expect_run 2 "capacity above 2^32" create "$NAME" --capacity 4294967297
expect_equal "$err" 'limitctl: invalid --capacity "4294967297": expected a whole number of slots from 1 to 4294967296 (2^32)' \
	"capacity above 2^32"
expect_run 2 "max-capacity above 2^32" create "$NAME" \
	--max-capacity 18446744073709551615
expect_err 'invalid --max-capacity "18446744073709551615": expected a whole number of slots from 1 to 4294967296 (2^32)' \
	"max-capacity above 2^32"
expect_run 2 "max-capacity below the default capacity" create "$NAME" \
	--max-capacity 100
expect_err "invalid --max-capacity 100: it must be at least the capacity (4096, the default); raise --max-capacity or lower --capacity" \
	"max-capacity below the default capacity"
expect_run 2 "mode not octal" create "$NAME" --mode 0800
expect_err 'invalid --mode "0800": expected octal permission bits' \
	"mode not octal"
expect_run 2 "mode without owner write" create "$NAME" --mode 0400
expect_err 'invalid --mode "0400": the owner needs read and write permission (0600)' \
	"mode without owner write"
expect_run 2 "mode with setuid bit" create "$NAME" --mode 4600
expect_err 'invalid --mode "4600"' "mode with setuid bit"
expect_run 2 "unknown full action" create "$NAME" --full-action maybe
expect_err 'invalid --full-action "maybe": expected deny or allow' \
	"unknown full action"

expect_run 2 "unknown sort field" list "$NAME" --sort size
expect_err 'invalid --sort "size": expected key, remaining, credits or last-seen' \
	"unknown sort field"
expect_run 2 "top 0" list "$NAME" --top 0
expect_err 'invalid --top "0"' "top 0"

expect_run 2 "show without KEY" show "$NAME"
expect_err "missing argument KEY" "show without KEY"
expect_run 2 "empty key" show "$NAME" ""
expect_err "invalid key of 0 bytes: a key must have 1 to 65535 bytes" \
	"empty key"
expect_run 2 "hex key of odd length" show "$NAME" abc --hex
expect_err 'invalid key "abc" for --hex: expected an even number of hex digits' \
	"hex key of odd length"
expect_run 2 "hex key with a non-hex digit" show "$NAME" 00zz --hex
expect_err '"zz" at offset 2 is not a hex byte' "hex key with a non-hex digit"

expect_run 2 "acquire with a bad cost" acquire "$NAME" k --cost x
expect_err 'invalid --cost "x"' "acquire with a bad cost"
expect_run 2 "reset without KEY or --all" reset "$NAME"
expect_err "missing argument KEY; give a KEY, or --all" \
	"reset without KEY or --all"
expect_run 2 "reset with KEY and --all" reset "$NAME" k --all
expect_err 'unexpected argument "k"' "reset with KEY and --all"
expect_run 2 "set without a change" set "$NAME" k
expect_err "nothing to set: give --policy POLICY, --policy none or --credits N" \
	"set without a change"
expect_run 2 "set with a bad policy name" set "$NAME" k --policy "a b"
expect_err 'invalid policy name "a b"' "set with a bad policy name"

expect_run 2 "policy without subcommand" policy
expect_err "missing subcommand: give list or set" "policy without subcommand"
expect_run 2 "policy with unknown subcommand" policy show "$NAME"
expect_err 'unknown subcommand "show": expected list or set' \
	"policy with unknown subcommand"
expect_run 2 "policy list with numbers" policy list "$NAME" --max-requests 3
expect_err "'policy list' takes no policy numbers" "policy list with numbers"
expect_run 2 "policy set without POLICY" policy set "$NAME"
expect_err "missing argument POLICY" "policy set without POLICY"
expect_run 2 "policy named none" policy set "$NAME" none --max-requests 1 \
	--window 1s
expect_err 'the policy name "none" is reserved' "policy named none"

expect_run 2 "replay without max-requests" replay --window-ms 10
expect_err "missing --max-requests R" "replay without max-requests"
expect_run 2 "replay without window" replay --max-requests 1
expect_err "missing --window-ms W" "replay without window"
expect_run 2 "replay window 0" replay --max-requests 1 --window-ms 0
expect_err 'invalid --window-ms "0": expected a whole number from 1 to 31622400000' \
	"replay window 0"
expect_run 2 "replay window above 366 days" replay --max-requests 1 \
	--window-ms 31622400001
expect_err 'invalid --window-ms "31622400001"' "replay window above 366 days"
expect_run 2 "replay with two files" replay --max-requests 1 --window-ms 1 a b
expect_err 'unexpected argument "b"' "replay with two files"
expect_run 2 "replay capacity above 2^32" replay --max-requests 1 \
	--window-ms 1 --capacity 4294967297
expect_err 'invalid --capacity "4294967297": expected a whole number of slots from 1 to 4294967296 (2^32)' \
	"replay capacity above 2^32"

# The help of create states what the max capacity means now that the
# table grows, and no longer that growth is missing.
expect_run 0 "create --help" create --help
expect_out "max slots the table may grow to" "create --help on growth"
expect_out "doubles into a new generation when
                        it is half full" "create --help on growth"
expect_no_out "not implemented" "create --help on growth"

expect_run 0 "grow --help" grow --help
expect_out "Usage: limitctl grow NAME [--capacity N]" "grow --help"
expect_out "grow to N slots, 1 to 4294967296" "grow --help"
expect_out "Exits with status 2 when the new capacity" "grow --help"
expect_run 0 "--help lists grow" --help
expect_out "  grow      Grow the table of limiter NAME now" "--help lists grow"
expect_run 2 "grow without NAME" grow
expect_err "missing argument NAME" "grow without NAME"
expect_run 2 "grow with two names" grow "$NAME" other
expect_err 'unexpected argument "other"' "grow with two names"
expect_run 2 "grow --capacity 0" grow "$NAME" --capacity 0
expect_err 'invalid --capacity "0": expected a whole number of slots from 1 to 4294967296 (2^32)' \
	"grow --capacity 0"
expect_run 2 "grow --capacity above 2^32" grow "$NAME" --capacity 4294967297
expect_err 'invalid --capacity "4294967297"' "grow --capacity above 2^32"
expect_run 2 "grow --capacity without a value" grow "$NAME" --capacity
expect_err "option --capacity needs a value" "grow --capacity without a value"
expect_run 2 "grow with an unknown option" grow "$NAME" --max-capacity 8
expect_err "unknown option --max-capacity" "grow with an unknown option"
expect_run 2 "grow of an invalid name" grow x.g1
expect_err "x.g1" "grow of an invalid name"
expect_run 0 "set --help" set --help
expect_out "no policy may be named none" "set --help on the name none"

# Nothing above may have created the limiter.
if [ -e "/dev/shm/credlimit.$NAME" ]; then
	fail "usage errors created /dev/shm/credlimit.$NAME"
else
	pass "usage errors created no segment"
fi

finish
