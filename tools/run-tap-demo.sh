#!/bin/sh
# The laptop demo: port53d's DPDK worker answers DNS on a TAP interface that
# this script addresses, so the host's own dig reaches the data plane:
#
#   sudo tools/run-tap-demo.sh            # then, in another shell:
#   dig @198.51.100.53 www.example.com
#   dig @2001:db8:53::53 www.example.com AAAA
#   dig @198.51.100.53 example.com TXT +tcp
#   kdig @198.51.100.53 www.example.com +tls
#
# The host side of the TAP gets 198.51.100.1/24 and 2001:db8:53::1/64; the
# worker owns 198.51.100.53 and 2001:db8:53::53 with its own MAC and answers
# ARP and neighbour solicitations for them itself. No NIC, no hugepages.
# Everything else the worker hands to the kernel through the exception path
# (a second TAP, p53x0), which this script moves into its own network
# namespace with the service addresses: port53d's TCP, TLS (853) and QUIC
# (UDP 853) threads listen there and answer from the workers' snapshot
# (docs/transports.md). The TLS certificate is a self-signed demo one made
# at start.
# Ctrl-C (or SIGTERM) stops port53d, which prints its counters and removes
# the interface. Environment: P53_BUILD (build dir, default build/),
# P53_ZONES (origin=file list, default the example.com test zone),
# P53_IFACE (default p53tap0), P53_NETNS (the exception namespace, default
# p53demo), P53_LCORES (default 0), P53_DETACH=1 to return once the demo
# answers (port53d keeps running; its PID is printed).
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${P53_BUILD:-$ROOT/build}
IFACE=${P53_IFACE:-p53tap0}
NETNS=${P53_NETNS:-p53demo}
EXC=p53x0
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
ip netns list | grep -qw "$NETNS" && die "network namespace $NETNS exists (another demo running?)"

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
	ip netns del "$NETNS" 2>/dev/null || true
	rm -rf "$WORK"
}

# shellcheck disable=SC2086 # ZONES is a list of origin=file words
"$BUILD/tools/port53" compile -o "$WORK/demo.p53" $ZONES >/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
	-subj "/CN=port53 demo" -addext "subjectAltName=IP:$SVC4,IP:$SVC6" \
	-keyout "$WORK/demo.key" -out "$WORK/demo.pem" 2>/dev/null || die "openssl failed"
# Until the demo is up, any failure undoes everything (detached or not).
trap cleanup EXIT
trap 'exit 130' INT TERM
ip netns add "$NETNS"
ip -n "$NETNS" link set lo up

"$BUILD/dp/port53d" --no-huge -m 512 --no-pci -l "$LCORES" --file-prefix "p53tap$$" \
	--log-level warning --vdev "net_tap0,iface=$IFACE" -- \
	--snapshot "$WORK/demo.p53" --addr "$SVC4" --addr "$SVC6" --mac "$SVC_MAC" \
	--identity "$(hostname)-tap-demo" --exception tap:p53x --transport-netns "$NETNS" \
	--tcp --tls --quic --tls-cert "$WORK/demo.pem" --tls-key "$WORK/demo.key" &
PID=$!

# The PMD creates the interfaces during start-up: wait for them (10 s).
i=0
until ip link show "$IFACE" >/dev/null 2>&1 && ip link show "$EXC" >/dev/null 2>&1; do
	kill -0 "$PID" 2>/dev/null || die "port53d exited early"
	[ $i -lt 100 ] || die "$IFACE did not appear"
	sleep 0.1
	i=$((i + 1))
done
ip addr add "$HOST4" dev "$IFACE"
ip -6 addr add "$HOST6" dev "$IFACE" nodad
ip link set "$IFACE" up
# The kernel side of the exception path owns the service addresses, in a
# namespace of its own: were they on this host, it would route to them
# locally and never through port53d.
ip link set "$EXC" netns "$NETNS"
ip -n "$NETNS" addr add "$SVC4/24" dev "$EXC"
ip -n "$NETNS" -6 addr add "$SVC6/64" dev "$EXC" nodad
ip -n "$NETNS" link set "$EXC" up

cat <<EOF
port53d (pid $PID) answers on $IFACE:
  dig @$SVC4 www.example.com
  dig @$SVC6 www.example.com AAAA
  dig @$SVC4 example.com TXT +tcp            # TCP, through the exception path
  kdig @$SVC4 www.example.com +tls           # DNS over TLS (demo certificate)
  kill -USR1 $PID     # print counters
EOF

if [ "${P53_DETACH:-0}" = 1 ]; then
	trap - EXIT INT TERM
	echo "detached; stop with: kill $PID; ip netns del $NETNS; rm -r $WORK"
	exit 0
fi
echo "Ctrl-C to stop."
wait "$PID"
