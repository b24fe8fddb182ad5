#!/bin/sh
# NSEC3 beside NSEC (docs/dnssec.md): a synthetic zone signed both ways
# (compile time and snapshot size of each), then DO=1 NXDOMAIN and NODATA
# answered by the engine alone on one core.
#   sh bench/nsec3.sh [BUILD_DIR] [RECORDS] [ROUNDS]
set -eu
B=${1:-build}
RECORDS=${2:-100000}
ROUNDS=${3:-5}
SRC=$(cd "$(dirname "$0")/.." && pwd)
W=$(mktemp -d /tmp/p53-bench-nsec3.XXXXXX)
trap 'rm -rf "$W"' EXIT
P="$B/tools/port53"
mkdir "$W/k"
"$P" dnssec-keygen -K "$W/k" example >/dev/null
/usr/bin/python3 "$SRC/tools/gen-zone.py" "$RECORDS" --origin example. -o "$W/z.zone"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for kind in nsec nsec3; do
	x=""
	[ "$kind" = nsec3 ] && x="--nsec3 example."
	# shellcheck disable=SC2086
	/usr/bin/time -f "$kind: compile %e s wall, %U s user, %M KB peak" \
		"$P" compile --quiet --dnssec-keys "$W/k" $x -o "$W/$kind.p53" "example.=$W/z.zone"
	echo "$kind: snapshot $(stat -c %s "$W/$kind.p53") bytes"
done
# A name of the zone, asked for a type it does not have.
name=$("$P" dump "$W/nsec.p53" example. | awk '$4 == "A" && $1 != "example." {print $1; exit}')
taskset -c 1 "$B/bench/p53-bench-nsec3" "$W/nsec.p53" "$W/nsec3.p53" "$name" "$ROUNDS"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
