# redis-common.sh - redis-server processes for the limitctl tests on Redis
#
# Sourced after common.sh.  start_redis starts a server on 127.0.0.1 and a
# free port, without persistence, in a folder under $WORK, and waits until
# it accepts connections.  Every server started is killed on exit.  The
# test is skipped (77) when redis-server is missing.

REDIS_SERVER=${REDIS_SERVER:-redis-server}
if ! command -v "$REDIS_SERVER" >/dev/null 2>&1; then
	echo "SKIP: redis-server not found (Debian package redis-server)"
	exit 77
fi
require_python

REDIS_PIDS=

stop_redis() {
	for pid in $REDIS_PIDS; do
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	cleanup
}
trap stop_redis EXIT

# free_port [cluster]: prints a port the kernel had free a moment ago.  A
# cluster node also listens on port + 10000 for its bus, so its port must
# be at most 55535 and that one free too.
free_port() {
	python3 - "$@" <<'PY'
import socket, sys
def bound(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return s.getsockname()[1]
    except OSError:
        return None
    finally:
        s.close()
while True:
    port = bound(0)
    if len(sys.argv) == 1 or (port <= 55535 and bound(port + 10000)):
        print(port)
        break
PY
}

# start_redis [cluster]: sets REDIS_PORT; with "cluster", starts a node
# of a Redis Cluster.
start_redis() {
	if [ "${1:-}" = cluster ]; then
		REDIS_PORT=$(free_port cluster)
		set -- --cluster-enabled yes --cluster-config-file nodes.conf
	else
		REDIS_PORT=$(free_port)
	fi
	dir=$WORK/redis-$REDIS_PORT
	mkdir "$dir"
	"$REDIS_SERVER" --port "$REDIS_PORT" --bind 127.0.0.1 --save '' \
		--appendonly no --dir "$dir" --daemonize no "$@" \
		>"$dir/log" 2>&1 &
	REDIS_PIDS="$REDIS_PIDS $!"
	python3 - "$REDIS_PORT" <<'PY' || { echo "redis-server did not start on port $REDIS_PORT"; exit 99; }
import socket, sys, time
for _ in range(200):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
PY
}

# skip_without_redis_support URI: skips when limitctl reports that the
# library was built without Redis support.
skip_without_redis_support() {
	run list "$1"
	if printf '%s' "$err" | grep -q 'without Redis support'; then
		echo "SKIP: libcredlimit was built without Redis support"
		exit 77
	fi
}
