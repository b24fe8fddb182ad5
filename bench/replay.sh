#!/bin/bash
# Engine replay matrix: for each zone size and each query-mix preset, generate
# the zone (tools/gen-zone.py) and the capture (p53-querygen), compile, and
# time p53-bench-replay on one pinned core. Writes replay.tsv and, when
# gnuplot is installed, replay.png (throughput by mix and zone size).
#
# usage: bench/replay.sh [-b BUILD] [-o OUTDIR] [-s "1000 1000000"] [-p "default exact"]
#                        [-n QUERIES] [-t SECONDS] [-c CPU] [--verify]
#   --verify also starts `port53 serve` on each snapshot and checks that the
#   engine's answers are byte-identical to the kernel-socket server's.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${P53_BUILD:-$SRC/build}
OUT=/tmp/p53bench
SIZES="1000 1000000"
PRESETS="default exact nxdomain-heavy water-torture dnssec ecs"
QUERIES=1000000
SECS=3
CPU=1
VERIFY=0
while [ $# -gt 0 ]; do
	case "$1" in
	-b) BUILD=$2; shift 2 ;;
	-o) OUT=$2; shift 2 ;;
	-s) SIZES=$2; shift 2 ;;
	-p) PRESETS=$2; shift 2 ;;
	-n) QUERIES=$2; shift 2 ;;
	-t) SECS=$2; shift 2 ;;
	-c) CPU=$2; shift 2 ;;
	--verify) VERIFY=1; shift ;;
	*) sed -n '2,11p' "$0"; exit 2 ;;
	esac
done
PORT53=$BUILD/tools/port53
QGEN=$BUILD/pcap/p53-querygen
REPLAY=$BUILD/bench/p53-bench-replay
for x in "$PORT53" "$QGEN" "$REPLAY"; do
	[ -x "$x" ] || { echo "replay.sh: $x missing: build first (ninja -C $BUILD)" >&2; exit 1; }
done
mkdir -p "$OUT"
TSV=$OUT/replay.tsv
printf 'records\tpreset\tpath\tqps\tns_per_query\ttsc_cycles_per_query\tpasses\n' >"$TSV"
SERVE_PID=
cleanup() { [ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null; true; }
trap cleanup EXIT

echo "# $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-); replay pinned to CPU $CPU" >&2
rc=0
for n in $SIZES; do
	zone=$OUT/z$n.zone snap=$OUT/z$n.p53
	[ -s "$zone" ] || /usr/bin/python3 "$SRC/tools/gen-zone.py" "$n" -o "$zone"
	if [ ! -s "$snap" ] || [ "$snap" -ot "$zone" ]; then
		t0=$(date +%s.%N)
		"$PORT53" compile -o "$snap" bench.test="$zone"
		t1=$(date +%s.%N)
		echo "# compiled $n records in $(echo "$t1 - $t0" | bc) s: $(stat -c %s "$snap") bytes" >&2
	fi
	vopt=()
	if [ "$VERIFY" = 1 ]; then
		# A random port may be taken: try a few, each until the server
		# answers (a large snapshot takes seconds to verify) or exits.
		up=0
		for _ in 1 2 3 4 5; do
			port=$((20000 + RANDOM % 20000))
			"$PORT53" serve -s "$snap" -l 127.0.0.1:$port --rrl-rate 0 2>/dev/null &
			SERVE_PID=$!
			for _ in $(seq 1 240); do
				kill -0 "$SERVE_PID" 2>/dev/null || break
				if kdig +retry=0 +timeout=1 @127.0.0.1 -p $port bench.test SOA 2>/dev/null |
					grep -q 'status: NOERROR'; then
					up=1
					break
				fi
				sleep 0.5
			done
			[ "$up" = 1 ] && break
			cleanup
		done
		[ "$up" = 1 ] || { echo "replay.sh: port53 serve did not come up" >&2; exit 1; }
		vopt=(--verify 127.0.0.1:$port --verify-count 2000)
	fi
	for p in $PRESETS; do
		pcap=$OUT/q-$n-$p.pcap
		"$QGEN" -p "$p" -n "$QUERIES" -s 1 -o "$pcap" bench.test="$zone" 2>/dev/null
		"$REPLAY" -s "$snap" -r "$pcap" --cpu "$CPU" --seconds "$SECS" --json \
			--label "$n/$p" "${vopt[@]}" >"$OUT/r.json" || rc=1
		/usr/bin/python3 - "$n" "$p" "$OUT/r.json" >>"$TSV" <<-'EOF'
			import json, sys
			for line in open(sys.argv[3]):
			    r = json.loads(line)
			    print("\t".join([sys.argv[1], sys.argv[2], r["path"], str(r["qps"]),
			        str(r["ns_per_query"]), str(r["tsc_cycles_per_query"]), str(r["passes"])]))
		EOF
		rm -f "$pcap"
	done
	cleanup
	SERVE_PID=
done
column -t "$TSV"

if command -v gnuplot >/dev/null; then
	# One cluster per preset, one bar per (zone size, path).
	/usr/bin/python3 - "$TSV" "$OUT/replay.dat" <<-'EOF'
		import csv, sys
		rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
		sizes = sorted({int(r["records"]) for r in rows})
		presets = list(dict.fromkeys(r["preset"] for r in rows))
		cols = [(s, p) for s in sizes for p in ("engine", "dp")]
		with open(sys.argv[2], "w") as f:
		    f.write("preset " + " ".join(f"{p}-{s}" for s, p in cols) + "\n")
		    for pr in presets:
		        vals = []
		        for s, p in cols:
		            v = [r["qps"] for r in rows if int(r["records"]) == s and r["path"] == p and r["preset"] == pr]
		            vals.append(str(float(v[0]) / 1e6) if v else "NaN")
		        f.write(pr + " " + " ".join(vals) + "\n")
	EOF
	ncol=$(head -1 "$OUT/replay.dat" | wc -w)
	gnuplot <<-EOF
		set terminal pngcairo size 1100,520 noenhanced
		set output "$OUT/replay.png"
		set title "port53 engine replay, one core: answers per second by query mix and zone size"
		set ylabel "million answers / s"
		set style data histograms
		set style histogram clustered gap 1
		set style fill solid 0.85 border -1
		set key outside right top
		set grid ytics
		set yrange [0:*]
		plot for [i=2:$ncol] "$OUT/replay.dat" using i:xtic(1) title columnheader(i)
	EOF
	echo "replay.sh: plot $OUT/replay.png" >&2
fi
exit $rc
