#!/bin/sh
# demo.sh BUILD_DIR: two shmif-node processes on one bus (`make demo`).
#
# A server at 10.0.0.1 answers ARP, ICMP echo and UDP echo; a client at
# 10.0.0.2 sends it 1000 UDP echoes of 1400 bytes, then 100 pings of 56
# bytes, and prints the round-trip times. The bus is a file in a temporary
# directory, removed at exit. Exits with the first failing client's status.
set -u

build=${1:?usage: sh scripts/demo.sh BUILD_DIR}
node=$build/shmif-node
if [ ! -x "$node" ]; then
	echo "demo: $node is not built (run make all)" >&2
	exit 2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/shmif-demo.XXXXXX") || exit 2
server=
cleanup() {
	if [ -n "$server" ]; then
		kill "$server" 2>/dev/null
		wait "$server" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bus=$tmp/bus
echo "== bus $bus"
"$node" "$bus" 10.0.0.1/24 serve 30 &
server=$!

# The client retries ARP, so it does not matter which process attaches first.
echo "== 10.0.0.2: udpping 10.0.0.1, 1000 echoes of 1400 bytes"
"$node" "$bus" 10.0.0.2/24 udpping 10.0.0.1 1000 1400
status=$?

echo "== 10.0.0.2: ping 10.0.0.1, 100 echoes of 56 bytes"
"$node" "$bus" 10.0.0.2/24 ping 10.0.0.1 100
rc=$?
[ "$status" -ne 0 ] || status=$rc

# SIGTERM ends the server early; it prints what it answered.
kill -TERM "$server"
wait "$server"
server=
exit "$status"
