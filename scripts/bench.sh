#!/bin/sh
# bench.sh BUILD_DIR: libshmif against a VDE hub and a shared-memory floor
# (`make bench`).
#
# Builds the benchmark (every bench/*.c) into BUILD_DIR, where it loads the
# libshmif next to it, then runs every workload on every backend: throughput
# (1->1, 1->4, 4->1 processes; the floor 1->1 only) and ping-pong round
# trips, with 60- and 1514-byte frames, and the wake-up delay of a
# NetBSD-style sleeping reader. Each workload runs three times (--repeat 3)
# and the table shows the median run, so that one run disturbed by the host
# (a descheduled vCPU) does not decide it. System calls are counted when
# run as root (perf tracepoint); otherwise the table says n/a.
# Progress and per-process details go to stderr, the table to stdout, every
# run to BUILD_DIR/bench.csv. Extra shmif-bench options come from
# $BENCH_ARGS and override these (a later option wins), e.g.
# BENCH_ARGS='--quick', BENCH_ARGS='--repeat 1' or
# BENCH_ARGS='--wait spin --batch 1'.
# Needs vde_switch and libvdeplug (Debian: vde2 and libvdeplug-dev).
set -u

build=${1:?usage: sh scripts/bench.sh BUILD_DIR}
cc=${CC:-cc}
root=$(cd "$(dirname "$0")/.." && pwd)

if [ ! -f "$build/libshmif.so.0" ]; then
	echo "bench: $build/libshmif.so.0 is not built (run make lib)" >&2
	exit 2
fi
if ! command -v vde_switch >/dev/null 2>&1; then
	echo "bench: vde_switch not found: install the Debian packages vde2 libvdeplug-dev" >&2
	exit 2
fi
if ! printf '#include <libvdeplug.h>\nint main(void) { return vde_datafd(0); }\n' |
	"$cc" -x c -o /dev/null - -lvdeplug >/dev/null 2>&1; then
	echo "bench: libvdeplug (libvdeplug.h, -lvdeplug) not found: install the Debian packages vde2 libvdeplug-dev" >&2
	exit 2
fi

# libshmif is not linked: the processes that use it dlopen libshmif.so.0,
# which the run path $ORIGIN finds next to the program, wherever BUILD_DIR is.
"$cc" -O2 -Wall -Wextra -Werror -I"$root/include" -o "$build/shmif-bench" \
	"$root"/bench/*.c -lvdeplug -lm -lpthread -ldl \
	-Wl,-rpath,'$ORIGIN' || exit 2

# BENCH_ARGS is split into words on purpose.
# shellcheck disable=SC2086
exec "$build/shmif-bench" --backend both --repeat 3 --csv "$build/bench.csv" ${BENCH_ARGS:-}
