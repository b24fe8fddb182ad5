#!/bin/sh
# DNSSEC answer costs per core (docs/dnssec.md): the Route 53 test zone signed
# with an ECDSA P-256 CSK (NSEC chain) and with Ed25519 KSK+ZSK (compact
# denial), answered by the engine alone on one core.
#   sh bench/dnssec.sh [BUILD_DIR] [ROUNDS]
set -eu
B=${1:-build}
ROUNDS=${2:-5}
SRC=$(cd "$(dirname "$0")/.." && pwd)
W=$(mktemp -d /tmp/p53-bench-dnssec.XXXXXX)
trap 'rm -rf "$W"' EXIT
P="$B/tools/port53"
mkdir "$W/k13" "$W/k15"
"$P" dnssec-keygen -K "$W/k13" example.com >/dev/null
"$P" dnssec-keygen -K "$W/k15" --ksk -a 15 example.com >/dev/null
"$P" dnssec-keygen -K "$W/k15" --zsk -a 15 example.com >/dev/null
Z="example.com=$SRC/tests/e2e/r53/example.json"
G="$SRC/tests/e2e/r53/geo.csv"
"$P" compile --quiet --dnssec-keys "$W/k13" --geo "$G" -o "$W/chain.p53" "$Z"
"$P" compile --quiet --dnssec-keys "$W/k15" --compact-denial example.com --geo "$G" \
	-o "$W/compact.p53" "$Z"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
taskset -c 1 "$B/bench/p53-bench-dnssec" "$W/chain.p53" "$W/k13" "$W/compact.p53" "$W/k15" "$ROUNDS"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
