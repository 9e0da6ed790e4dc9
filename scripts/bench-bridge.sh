#!/bin/sh
# bench-bridge.sh BUILD_DIR: bridge throughput (a short run; needs root).
#
# TCP between two kernel stacks in two network namespaces, measured with
# iperf3 (one stream, SECONDS seconds, default 5), over three paths:
#   shmif   tap <-> shmif_bridge <-> bus <-> shmif_bridge <-> tap
#   vde     tap <-> vde_plug <-> vde_switch <-> vde_plug <-> tap
#   veth    a veth pair: the ceiling
# and frames per second from one bus to another over a shmif:// bridge,
# over two VXLAN bridges on the loopback, and through a bridge with an
# impairment stage (go test -bench in core/bridge, 60- and 1514-byte
# frames, the writer kept within half a bus of the reader); and the error
# of delivery times against the schedule of a 10ms ± 1ms delay at 100,000
# frames/s. Prints a table; the shmif
# row also shows its ratio to VDE. Each path runs RUNS times (default 3)
# and the table shows the median. Uses BUILD_DIR/shmif_bridge, building
# it there if missing. Needs iproute2, iperf3, vde2 and vdeplug.
set -u

build=${1:?usage: sh scripts/bench-bridge.sh BUILD_DIR}
secs=${SECONDS_PER_RUN:-5}
runs=${RUNS:-3}
root=$(cd "$(dirname "$0")/.." && pwd)

die() { echo "bench-bridge: $*" >&2; exit 2; }
[ "$(id -u)" = 0 ] || die "needs root (network namespaces and taps)"
for t in ip iperf3 vde_switch vde_plug go; do
	command -v $t >/dev/null 2>&1 || die "$t not found (Debian: iproute2 iperf3 vde2 vdeplug; Go)"
done
mkdir -p "$build"
bridge=$build/shmif_bridge
if [ ! -x "$bridge" ]; then
	(cd "$root" && go build -o "$build/shmif_bridge" ./cmd/shmif_bridge) || die "building shmif_bridge failed"
fi
bridge=$(cd "$(dirname "$bridge")" && pwd)/shmif_bridge

tag=bb$$
ns1=${tag}a ns2=${tag}b
tmp=$(mktemp -d)
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	ip netns del "$ns1" 2>/dev/null
	ip netns del "$ns2" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

netns() {
	ip netns add "$ns1" && ip netns add "$ns2" || die "cannot make network namespaces"
	ip -n "$ns1" link set lo up
	ip -n "$ns2" link set lo up
}

# iperf DEV1 DEV2: addresses on the two devices, then one iperf3 run;
# prints Mbit/s as the receiver saw them.
iperf() {
	ip -n "$ns1" addr add 10.99.0.1/24 dev "$1"
	ip -n "$ns2" addr add 10.99.0.2/24 dev "$2"
	ip -n "$ns1" link set "$1" up
	ip -n "$ns2" link set "$2" up
	ip netns exec "$ns2" iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
	s=$!
	# Wait for the server and the path (ARP) before timing.
	i=0
	until timeout 5 ip netns exec "$ns1" iperf3 -c 10.99.0.2 -p 5201 -n 64K >/dev/null 2>&1 || [ $i -ge 50 ]; do
		sleep 0.1; i=$((i + 1))
	done
	kill $s 2>/dev/null
	wait $s 2>/dev/null
	ip netns exec "$ns2" iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
	s=$!
	sleep 0.2
	timeout $((secs + 20)) ip netns exec "$ns1" iperf3 -c 10.99.0.2 -p 5201 -t "$secs" -f m 2>/dev/null |
		awk '/receiver/ { print $(NF-2) }'
	kill $s 2>/dev/null
	wait $s 2>/dev/null
}

run_shmif() {
	netns
	ip netns exec "$ns1" "$bridge" "$tmp/bus" tap://${tag}t1 2>"$tmp/b1.err" & pids="$pids $!"
	ip netns exec "$ns2" "$bridge" "$tmp/bus" tap://${tag}t2 2>"$tmp/b2.err" & pids="$pids $!"
	i=0
	until ip -n "$ns1" link show ${tag}t1 >/dev/null 2>&1 && ip -n "$ns2" link show ${tag}t2 >/dev/null 2>&1 || [ $i -ge 50 ]; do
		sleep 0.1; i=$((i + 1))
	done
	iperf ${tag}t1 ${tag}t2
	stop
}

run_vde() {
	netns
	vde_switch -s "$tmp/sw" -d -p "$tmp/sw.pid" >/dev/null 2>&1 || die "vde_switch failed"
	ip netns exec "$ns1" vde_plug -d -p "$tmp/p1.pid" "vde://$tmp/sw" tap://${tag}t1
	ip netns exec "$ns2" vde_plug -d -p "$tmp/p2.pid" "vde://$tmp/sw" tap://${tag}t2
	sleep 0.3
	pids="$pids $(cat "$tmp/sw.pid" "$tmp/p1.pid" "$tmp/p2.pid" 2>/dev/null)"
	iperf ${tag}t1 ${tag}t2
	stop
}

run_veth() {
	netns
	ip link add ${tag}v1 netns "$ns1" type veth peer name ${tag}v2 netns "$ns2"
	iperf ${tag}v1 ${tag}v2
	stop
}

stop() {
	for p in $pids; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	pids=""
	ip netns del "$ns1" 2>/dev/null
	ip netns del "$ns2" 2>/dev/null
	rm -rf "$tmp/bus" "$tmp/sw"
	sleep 0.2
}

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print 0 }'; }

for path in shmif vde veth; do
	: >"$tmp/$path.runs"
	r=0
	while [ $r -lt "$runs" ]; do
		v=$(run_$path)
		echo "bench-bridge: $path run $((r + 1)): ${v:-failed} Mbit/s" >&2
		echo "${v:-0}" >>"$tmp/$path.runs"
		r=$((r + 1))
	done
done
shmif=$(median <"$tmp/shmif.runs")
vde=$(median <"$tmp/vde.runs")
veth=$(median <"$tmp/veth.runs")

echo "bench-bridge: bus to bus (go test -bench BusToBus)" >&2
benchout=$(cd "$root" && go test -run '^$' -bench 'BusToBus$|BusToBusVXLAN|BusToBusImpaired/none' -benchtime 1000000x -count "$runs" ./core/bridge 2>/dev/null)
fps=$(echo "$benchout" | awk '/^BenchmarkBusToBus/ {
	name = $1; sub(/^Benchmark/, "", name); sub(/-[0-9]+$/, "", name)
	for (i = 3; i < NF; i++) { if ($(i+1) == "frames/s") f = $i; if ($(i+1) == "lost%") l = $i }
	print name, f, l }')
echo "bench-bridge: delay 10ms 1ms at 100,000 frames/s (go test -bench BusToBusImpaired/delay)" >&2
sched=$(cd "$root" && go test -run '^$' -bench 'BusToBusImpaired/delay' -benchtime 500000x -count "$runs" ./core/bridge 2>/dev/null |
	awk '/^BenchmarkBusToBusImpaired/ {
	for (i = 3; i < NF; i++) {
		if ($(i+1) == "offered-frames/s") o = $i; if ($(i+1) == "lost%") l = $i
		if ($(i+1) == "p50-err-µs") p50 = $i; if ($(i+1) == "p99-err-µs") p99 = $i; if ($(i+1) == "max-err-µs") mx = $i }
	print p99, p50, mx, o, l }' | sort -n)

echo
printf 'TCP, one iperf3 stream, %ss, median of %s runs\n' "$secs" "$runs"
printf '%-34s %12s %10s\n' "path" "Gbit/s" "of veth"
for p in "veth (ceiling):$veth" "tap-bus-tap (shmif_bridge):$shmif" "tap-vde_switch-tap (vde_plug):$vde"; do
	name=${p%:*} v=${p##*:}
	awk -v n="$name" -v v="$v" -v c="$veth" 'BEGIN { printf "%-34s %12.2f %9.0f%%\n", n, v / 1000, (c > 0 ? 100 * v / c : 0) }'
done
awk -v s="$shmif" -v v="$vde" 'BEGIN { if (v > 0) printf "shmif_bridge / VDE: %.1fx\n", s / v }'
echo
echo "bus to bus, frames/s (median of $runs; 1,000,000 frames, the writer kept within half a bus of the reader)"
printf '%-40s %14s %8s\n' "path" "frames/s" "lost%"
echo "$fps" | awk '
	{ n[$1]++; f[$1, n[$1]] = $2; l[$1, n[$1]] = $3 }
	END {
		for (k in n) {
			m = int((n[k] + 1) / 2)
			for (i = 1; i <= n[k]; i++) for (j = i + 1; j <= n[k]; j++)
				if (f[k, j] < f[k, i]) { t = f[k, i]; f[k, i] = f[k, j]; f[k, j] = t; t = l[k, i]; l[k, i] = l[k, j]; l[k, j] = t }
			label = k
			sub(/^BusToBus\//, "bus-bus (shmif://) ", label)
			sub(/^BusToBusVXLAN\//, "bus-VXLAN-bus (127.0.0.1) ", label)
			sub(/^BusToBusImpaired\/none\//, "bus-bus, impair stage, no settings ", label)
			printf "%-40s %14.0f %8s\n", label, f[k, m], l[k, m]
		}
	}' | sort
echo
echo "bus-bus with delay 10ms 1ms at 100,000 frames/s offered (500,000 frames; run with the median p99)"
echo "error = arrival on the other bus - the time the stage scheduled"
printf '%12s %12s %12s %16s %8s\n' "p50 err µs" "p99 err µs" "max err µs" "offered/s" "lost%"
echo "$sched" | awk -v runs="$runs" '{ v[NR] = $0 } END { if (NR) { split(v[int((NR + 1) / 2)], a, " "); printf "%12s %12s %12s %16.0f %8s\n", a[2], a[1], a[3], a[4], a[5] } }'
