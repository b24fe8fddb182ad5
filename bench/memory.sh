#!/bin/bash
# Memory and build cost per zone size: for each size, the compile time and
# snapshot size of port53 (with and without pre-rendered answers), and the
# memory of port53 serve, Knot DNS and NSD holding the same generated zone
# (PSS summed over each server's processes, after the zone answers, so
# shared pages are counted once). Loopback only; needs no root.
#
# usage: bench/memory.sh [-b BUILD] [-o OUTDIR] [-s "1000000"]
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${P53_BUILD:-$SRC/build}
OUT=/tmp/p53bench
SIZES=1000000
while [ $# -gt 0 ]; do
	case "$1" in
	-b) BUILD=$2; shift 2 ;;
	-o) OUT=$2; shift 2 ;;
	-s) SIZES=$2; shift 2 ;;
	*) sed -n '2,8p' "$0"; exit 2 ;;
	esac
done
PORT53=$BUILD/tools/port53
. "$SRC/bench/lib.sh"
mkdir -p "$OUT"
W=$(mktemp -d /tmp/p53mem.XXXXXX)
SPID=
cleanup() {
	[ -n "$SPID" ] && kill "$SPID" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
PORT=$((20000 + RANDOM % 20000))

pss_tree() { bench_pss_kb "$1"; } # PSS (kB) of $1 and its descendants

# Runs "$@" in the background, waits until the zone answers, prints PSS kB
# and seconds to ready.
measure() {
	local t0 t1 pss
	t0=$(date +%s.%N)
	"$@" >"$W/server.log" 2>&1 &
	SPID=$!
	for _ in $(seq 1 1200); do
		kill -0 $SPID 2>/dev/null || { echo "- -"; tail -3 "$W/server.log" >&2; SPID=; return; }
		kdig +retry=0 +timeout=1 @127.0.0.1 -p $PORT bench.test SOA 2>/dev/null |
			grep -q 'status: NOERROR' && break
		sleep 0.25
	done
	t1=$(date +%s.%N)
	sleep 1
	pss=$(pss_tree $SPID)
	kill $SPID
	wait $SPID 2>/dev/null || true
	SPID=
	echo "$pss $(echo "$t1 - $t0" | bc)"
}

TSV=$OUT/memory.tsv
printf 'records\twhat\tpss_kb\tready_s\tbytes_per_record\tsnapshot_bytes\tcompile_s\tcompile_maxrss_kb\n' >"$TSV"
for n in $SIZES; do
	zone=$OUT/z$n.zone
	[ -s "$zone" ] || /usr/bin/python3 "$SRC/tools/gen-zone.py" "$n" -o "$zone"
	cp "$zone" "$W/bench.test.zone"
	for mode in prerender no-prerender; do
		snap=$W/$mode.p53
		flag=()
		[ $mode = no-prerender ] && flag=(--no-prerender)
		/usr/bin/time -f "%e %M" -o "$W/time" "$PORT53" compile "${flag[@]}" -o "$snap" \
			bench.test="$zone"
		read -r cs crss <"$W/time"
		read -r pss ready < <(measure "$PORT53" serve -s "$snap" -l 127.0.0.1:$PORT)
		size=$(stat -c %s "$snap")
		printf '%s\tport53 serve (%s)\t%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$mode" "$pss" "$ready" \
			"$((pss * 1024 / n))" "$size" "$cs" "$crss" >>"$TSV"
		rm -f "$snap"
	done

	mkdir -p "$W/knot-run" "$W/knot-db"
	bench_knot_conf 127.0.0.1@$PORT bench.test "$W/bench.test.zone" "" "semantic-checks: off" \
		>"$W/knot.conf"
	read -r pss ready < <(measure knotd -c "$W/knot.conf")
	printf '%s\tknotd\t%s\t%s\t%s\t-\t-\t-\n' "$n" "$pss" "$ready" "$((${pss/-/0} * 1024 / n))" >>"$TSV"

	bench_nsd_conf bench.test bench.test.zone "ip-address: 127.0.0.1@$PORT" >"$W/nsd.conf"
	read -r pss ready < <(measure nsd -d -c "$W/nsd.conf")
	printf '%s\tnsd\t%s\t%s\t%s\t-\t-\t-\n' "$n" "$pss" "$ready" "$((${pss/-/0} * 1024 / n))" >>"$TSV"
done
column -t -s $'\t' "$TSV"
