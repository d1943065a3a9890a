#!/bin/sh
# setup.sh - install what credlimit needs and build it
#
# Installs the Debian packages the build, the tests and the demo use
# (through sudo when not run as root; apache2 and redis-server without
# starting their services), generates the autotools files,
# configures in the directory build/ under the source tree and builds.
# Safe to run again: it installs only missing packages and rebuilds only
# what changed.
#
# Environment: BUILD_DIR (default: build/ under the source tree),
# CONFIGURE_FLAGS (extra options for configure).
set -eu

srcdir=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BUILD_DIR:-$srcdir/build}

packages="gcc libc6-dev make autoconf automake libtool pkgconf liburcu-dev
libcmocka-dev curl apache2-utils procps python3 util-linux apache2 apache2-dev
clang libfuzzer-14-dev libclang-rt-14-dev libhiredis-dev redis-server
redis-tools"

if [ "$(id -u)" -eq 0 ]; then
	sudo=
elif command -v sudo >/dev/null 2>&1; then
	sudo=sudo
else
	echo "setup.sh: not root and sudo is missing; install sudo or run as root" >&2
	exit 1
fi

missing=
for package in $packages; do
	status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
	case "$status" in
	*"install ok installed"*) ;;
	*) missing="$missing $package" ;;
	esac
done

if [ -n "$missing" ]; then
	echo "setup.sh: installing Debian packages:$missing"
	export DEBIAN_FRONTEND=noninteractive
	# Installing apache2 or redis-server starts its system service
	# unless policy-rc.d forbids it (exit status 101, the Debian policy
	# for chroots and build machines).  The tests run their own httpd
	# and redis-server on their own ports and need no service on port 80
	# or 6379, so forbid starts while installing, unless the machine
	# already has a policy of its own.
	policy=/usr/sbin/policy-rc.d
	added_policy=
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
		$sudo chmod 755 "$policy"
		added_policy=yes
	fi
	# A stale package list makes the first attempt fail; refresh it then.
	# shellcheck disable=SC2086
	if ! $sudo apt-get install -y --no-install-recommends $missing; then
		$sudo apt-get update
		$sudo apt-get install -y --no-install-recommends $missing || install_failed=yes
	fi
	if [ -n "$added_policy" ]; then
		$sudo rm -f "$policy"
	fi
	if [ -n "${install_failed:-}" ]; then
		echo "setup.sh: apt-get install failed for:$missing" >&2
		exit 1
	fi
fi

cd "$srcdir"
if [ ! -x configure ] || [ configure.ac -nt configure ]; then
	./bootstrap
fi

mkdir -p "$build_dir"
cd "$build_dir"
if [ ! -f Makefile ] || [ "$srcdir/configure" -nt Makefile ]; then
	# --with-redis: a missing hiredis fails here rather than leaving the
	# Redis backend and its tests out.
	# shellcheck disable=SC2086
	"$srcdir/configure" --with-redis ${CONFIGURE_FLAGS:-}
fi
make -j"$(nproc)"
echo "setup.sh: built in $build_dir"
