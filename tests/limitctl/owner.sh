#!/bin/sh
# owner.sh - limiters of another user: the owner check, --owner, and
# root's access to any owner's limiter

. "$TOP_SRCDIR/tests/limitctl/common.sh"

NAME=$PREFIX-owner
me_uid=$(id -u)
me=$(id -un)

if [ "$me_uid" -eq 65534 ]; then
	echo "SKIP: the test uses uid 65534 as the other user"
	exit 77
fi

expect_run 0 "create" create "$NAME" --mode 0666 --max-capacity 8192
expect_run 0 "--owner naming the owner" --owner "$me_uid" list "$NAME"
expect_run 1 "--owner naming another user" --owner 65534 list "$NAME"
expect_err "limiter \"$NAME\" belongs to $me (uid $me_uid), not to " \
	"--owner naming another user"
if [ "$me_uid" -eq 0 ]; then
	expect_err "pass --owner root, or leave --owner out: root opens a limiter of any owner" \
		"--owner naming another user"
else
	expect_err "run limitctl as $me or as root, or pass --owner $me" \
		"--owner naming another user"
fi
expect_run 1 "--owner after the command" stats "$NAME" --owner 65534
expect_err "belongs to $me (uid $me_uid)" "--owner after the command"

if [ "$me_uid" -ne 0 ] || ! command -v setpriv >/dev/null 2>&1; then
	echo "# not root, or no setpriv: checks across users skipped"
	expect_run 0 "destroy" destroy "$NAME"
	finish
fi

as_nobody() {
	run_as_nobody "$@"
}
as_nobody --version
if [ "$status" -ne 0 ]; then
	echo "SKIP: user nobody cannot run $LIMITCTL: $err"
	exit 77
fi

# A user other than root opens only its own limiters by default, even
# where the mode (0666 here) would let it.
as_nobody list "$NAME"
expect_status 1 "nobody opening root's limiter"
expect_err "limiter \"$NAME\" belongs to root (uid 0), not to nobody (uid 65534); run limitctl as root, or pass --owner root" \
	"nobody opening root's limiter"
as_nobody --owner root acquire "$NAME" k
expect_status 0 "nobody with --owner root"
# The mode lets nobody write the table, but not create a table segment
# that belongs to root, as growth needs.
as_nobody --owner root grow "$NAME"
expect_status 1 "nobody growing root's limiter"
expect_err "cannot grow limiter \"$NAME\": its new table segment must belong to the limiter's owner, root (uid 0), and only that user or root may create it" \
	"nobody growing root's limiter"
expect_equal "$(ls /dev/shm | grep -c -F "credlimit.$NAME.g")" 1 \
	"nobody growing root's limiter left one table segment"
expect_run 0 "stats after a failed grow" stats "$NAME"
expect_out "generation:        1" "stats after a failed grow"
expect_out "migration:         none" "stats after a failed grow"
as_nobody destroy "$NAME"
expect_status 1 "nobody destroying root's limiter"
if [ -k /dev/shm ]; then
	expect_err "cannot destroy limiter \"$NAME\": permission denied; /dev/shm has the sticky bit, so only the owner of /dev/shm/credlimit.$NAME or root may remove it" \
		"nobody destroying root's limiter"
	# The mode (0666 here) lets nobody write the segment, yet not
	# remove it.
	expect_no_err "mode" "nobody destroying root's limiter"
else
	expect_err "cannot destroy limiter \"$NAME\": permission denied; removing /dev/shm/credlimit.$NAME needs write permission on /dev/shm" \
		"nobody destroying root's limiter"
fi

# Root opens a limiter of any owner unless --owner names one.
OTHER=$PREFIX-nobody
as_nobody create "$OTHER" --max-requests 3 --window 366d --max-capacity 8192
expect_status 0 "nobody creating a limiter"
as_nobody acquire "$OTHER" k
expect_status 0 "nobody using its limiter"
expect_run 0 "root listing nobody's limiter" list "$OTHER"
expect_equal "$(table_field k 5)" 1 "root listing nobody's limiter"
expect_run 0 "root reading nobody's stats" stats "$OTHER"
expect_out "owner:             nobody (uid 65534)" "root reading nobody's stats"
expect_run 0 "root changing nobody's limiter" reset "$OTHER" k
expect_run 1 "root with --owner root" --owner root list "$OTHER"
expect_err "limiter \"$OTHER\" belongs to nobody (uid 65534), not to root (uid 0); pass --owner nobody" \
	"root with --owner root"
expect_run 0 "root with --owner nobody" --owner nobody show "$OTHER" k
# Root grows another user's limiter, and the new table belongs to that
# user, as the old one did.
expect_run 0 "root growing nobody's limiter" grow "$OTHER" --capacity 8192
expect_out "(generation 1 -> 2)" "root growing nobody's limiter"
expect_equal "$(stat -c %U "/dev/shm/credlimit.$OTHER.g2" 2>&1)" nobody \
	"owner of the table root grew"
as_nobody acquire "$OTHER" k
expect_status 0 "nobody using its grown limiter"

expect_run 0 "destroy of nobody's limiter by root" destroy "$OTHER"
expect_run 0 "destroy" destroy "$NAME"

finish
