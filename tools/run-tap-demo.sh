#!/bin/sh
# The laptop demo: port53d's DPDK worker answers DNS on a TAP interface that
# this script addresses, so the host's own dig reaches the data plane:
#
#   sudo tools/run-tap-demo.sh            # then, in another shell:
#   dig @198.51.100.53 www.example.com
#   dig @2001:db8:53::53 www.example.com AAAA
#
# The host side of the TAP gets 198.51.100.1/24 and 2001:db8:53::1/64; the
# worker owns 198.51.100.53 and 2001:db8:53::53 with its own MAC and answers
# ARP and neighbour solicitations for them itself. No NIC, no hugepages.
# Ctrl-C (or SIGTERM) stops port53d, which prints its counters and removes
# the interface. Environment: P53_BUILD (build dir, default build/),
# P53_ZONES (origin=file list, default the example.com test zone),
# P53_IFACE (default p53tap0), P53_LCORES (default 0), P53_DETACH=1 to return
# once the demo answers (port53d keeps running; its PID is printed).
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${P53_BUILD:-$ROOT/build}
IFACE=${P53_IFACE:-p53tap0}
LCORES=${P53_LCORES:-0}
ZONES=${P53_ZONES:-example.com=$ROOT/tests/zones/example.com.zone}
HOST4=198.51.100.1/24
SVC4=198.51.100.53
HOST6=2001:db8:53::1/64
SVC6=2001:db8:53::53
SVC_MAC=02:00:00:00:53:53

die() {
	echo "run-tap-demo: $*" >&2
	exit 1
}

[ "$(id -u)" = 0 ] || die "needs root (TAP interface, DPDK)"
[ -x "$BUILD/dp/port53d" ] || die "no $BUILD/dp/port53d; build first (meson setup build && ninja -C build)"
[ -x "$BUILD/tools/port53" ] || die "no $BUILD/tools/port53"
ip link show "$IFACE" >/dev/null 2>&1 && die "$IFACE already exists (another demo running?)"

WORK=$(mktemp -d /tmp/p53tap.XXXXXX)
PID=
cleanup() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -TERM "$PID" 2>/dev/null || true
		# Bounded wait: 50 x 0.1 s, then give up politely.
		i=0
		while kill -0 "$PID" 2>/dev/null && [ $i -lt 50 ]; do
			sleep 0.1
			i=$((i + 1))
		done
	fi
	rm -rf "$WORK"
}

# shellcheck disable=SC2086 # ZONES is a list of origin=file words
"$BUILD/tools/port53" compile -o "$WORK/demo.p53" $ZONES >/dev/null

"$BUILD/dp/port53d" --no-huge -m 512 --no-pci -l "$LCORES" --file-prefix "p53tap$$" \
	--log-level warning --vdev "net_tap0,iface=$IFACE" -- \
	--snapshot "$WORK/demo.p53" --addr "$SVC4" --addr "$SVC6" --mac "$SVC_MAC" \
	--identity "$(hostname)-tap-demo" &
PID=$!
if [ "${P53_DETACH:-0}" != 1 ]; then
	trap cleanup EXIT
	trap 'exit 130' INT TERM
fi

# The PMD creates the interface during EAL start-up: wait for it (10 s).
i=0
until ip link show "$IFACE" >/dev/null 2>&1; do
	kill -0 "$PID" 2>/dev/null || die "port53d exited early"
	[ $i -lt 100 ] || die "$IFACE did not appear"
	sleep 0.1
	i=$((i + 1))
done
ip addr add "$HOST4" dev "$IFACE"
ip -6 addr add "$HOST6" dev "$IFACE" nodad
ip link set "$IFACE" up

cat <<EOF
port53d (pid $PID) answers on $IFACE:
  dig @$SVC4 www.example.com
  dig @$SVC6 www.example.com AAAA
  kill -USR1 $PID     # print counters
EOF

if [ "${P53_DETACH:-0}" = 1 ]; then
	echo "detached; stop with: kill $PID"
	exit 0
fi
echo "Ctrl-C to stop."
wait "$PID"
