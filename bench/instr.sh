#!/bin/bash
# Cost per query that machine load cannot move: instructions, and with -c
# the simulated last-level cache misses (lines fetched from memory), counted
# by valgrind's callgrind over p53-bench-replay's timed passes only
# (--toggle-collect=pass_engine or pass_dp: the loading and checks are left
# out). engine = p53_answer on the UDP payloads; dp = what a worker does per
# frame (classification, burst prefetch, answer, reply headers and
# checksums; bench/replay.c), without the PMD's receive and transmit.
#
# usage: bench/instr.sh [-b BUILD] [-O OLD-BUILD] [-o OUTDIR] [-s "SIZES"]
#          [-p "PATHS"] [-n QUERIES] [-c]
#   SIZES    zone sizes in records (default "1000 1000000"; tools/gen-zone.py)
#   PATHS    default "engine dp"
#   QUERIES  capture length (default 20000 below 100k records, else 200000:
#            distinct names, so a big zone's working set outgrows the cache)
#   -O       a second build tree (e.g. the commit before a change), measured
#            on the same zones and captures: the table gives both and new/old
#   -c       cache simulation on zones of 100k records and more: LL misses
#            per query (data reads + writes), the cache given as this VM's
#            (AMD Zen 5: D1 48 KiB 12-way, LL 32 MiB 16-way, 64-byte lines;
#            the VM does not expose its caches), and the top functions and
#            source lines by LL read misses in $OUT/misses-SIZE-PATH-BIN.txt
# Writes $OUT/instr.txt. Needs valgrind.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$SRC/build
OLD=
OUT=/tmp/p53instr
SIZES="1000 1000000"
PATHS="engine dp"
NQ=
CACHE=0
while [ $# -gt 0 ]; do
	case "$1" in
	-b) BUILD=$2; shift 2 ;;
	-O) OLD=$2; shift 2 ;;
	-o) OUT=$2; shift 2 ;;
	-s) SIZES=$2; shift 2 ;;
	-p) PATHS=$2; shift 2 ;;
	-n) NQ=$2; shift 2 ;;
	-c) CACHE=1; shift ;;
	*) sed -n '2,24p' "$0"; exit 2 ;;
	esac
done
command -v valgrind >/dev/null || { echo "instr.sh: valgrind not installed (tools/install-deps.sh)" >&2; exit 1; }
mkdir -p "$OUT"
W=$(mktemp -d /tmp/p53instr-work.XXXXXX)
trap 'rm -rf "$W"' EXIT
RES=$W/res.txt
: >"$RES"
CACHEOPTS="--cache-sim=yes --I1=32768,8,64 --D1=49152,12,64 --LL=33554432,16,64"

for size in $SIZES; do
	nq=$NQ
	[ -n "$nq" ] || { [ "$size" -lt 100000 ] && nq=20000 || nq=200000; }
	/usr/bin/python3 "$SRC/tools/gen-zone.py" "$size" -o "$W/z.zone" >/dev/null
	"$BUILD/pcap/p53-querygen" -n "$nq" -s 1 -o "$W/q.pcap" bench.test="$W/z.zone" >/dev/null
	for bin in new ${OLD:+old}; do
		b=$BUILD
		[ "$bin" = old ] && b=$OLD
		# Each build compiles its own snapshot: a format change stays fair.
		"$b/tools/port53" compile -o "$W/z-$bin.p53" bench.test="$W/z.zone" >/dev/null
	done
	rm -f "$W/z.zone"
	for path in $PATHS; do
		for bin in new ${OLD:+old}; do
			b=$BUILD
			[ "$bin" = old ] && b=$OLD
			opts=
			sim=0
			if [ "$CACHE" = 1 ] && [ "$size" -ge 100000 ]; then
				opts=$CACHEOPTS
				sim=1
			fi
			# --seconds 0 --min-passes 2: a warm-up pass and two timed
			# ones, all three inside pass_*.
			# shellcheck disable=SC2086
			valgrind --tool=callgrind --toggle-collect="pass_$path" $opts \
				--callgrind-out-file="$W/cg.out" \
				"$b/bench/p53-bench-replay" -s "$W/z-$bin.p53" -r "$W/q.pcap" \
				--path "$path" --seconds 0 --min-passes 2 --json \
				>"$W/replay.json" 2>"$W/vg.log"
			passes=$(sed -n 's/.*"passes":\([0-9]*\).*/\1/p' "$W/replay.json")
			queries=$(sed -n 's/.*"queries":\([0-9]*\).*/\1/p' "$W/replay.json")
			n=$(((passes + 1) * queries))
			# The events line names the columns of the totals line.
			read -r -a ev < <(sed -n 's/^events: //p' "$W/cg.out")
			read -r -a tot < <(sed -n 's/^totals: //p;s/^summary: //p' "$W/cg.out" | head -1)
			ir=0 llr=0 llw=0 d1r=0
			for i in "${!ev[@]}"; do
				case "${ev[$i]}" in
				Ir) ir=${tot[$i]} ;;
				DLmr) llr=${tot[$i]} ;;
				DLmw) llw=${tot[$i]} ;;
				D1mr) d1r=${tot[$i]} ;;
				esac
			done
			echo "$size $path $bin $n $ir $sim $llr $llw $d1r" >>"$RES"
			msg="$(echo "scale=1; $ir / $n" | bc) instructions per query"
			[ "$sim" = 1 ] && msg="$msg, $(echo "scale=2; ($llr + $llw) / $n" | bc) LL misses per query"
			echo "instr: $size records, $path, $bin: $msg" >&2
			if [ "$sim" = 1 ]; then
				{
					echo "# $size records, $path, $bin: $n queries; LL data read misses (DLmr) by function, then by line"
					callgrind_annotate --show=DLmr,DLmw,D1mr,Ir --sort=DLmr "$W/cg.out" 2>/dev/null |
						sed -n '/^Ir\|file:function/,$p' | head -30
					callgrind_annotate --show=DLmr --sort=DLmr --auto=yes --context=0 "$W/cg.out" 2>/dev/null |
						grep -E '^ *[0-9][0-9,]{6,} ' | sort -t' ' -k1,1 -rn | head -40
				} >"$OUT/misses-$size-$path-$bin.txt" || true
			fi
		done
	done
done

/usr/bin/python3 - "$RES" <<-'PY' | tee "$OUT/instr.txt"
	import sys
	rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
	cells = {(r[0], r[1], r[2]): [int(x) for x in r[3:]] for r in rows}
	print("%-9s %-7s %-4s %14s %12s %14s" % (
	    "records", "path", "bin", "instr/query", "new/old", "LL miss/query"))
	for (size, path, binl), (n, ir, sim, llr, llw, d1r) in sorted(
	        cells.items(), key=lambda kv: (int(kv[0][0]), kv[0][1], kv[0][2])):
	    ratio = ""
	    if binl == "new" and (size, path, "old") in cells:
	        o = cells[(size, path, "old")]
	        ratio = "%.3f" % ((ir / n) / (o[1] / o[0]))
	    print("%-9s %-7s %-4s %14.1f %12s %14s" % (
	        size, path, binl, ir / n, ratio, "%.2f" % ((llr + llw) / n) if sim else ""))
	print("(callgrind over the replay's passes; LL misses from its cache simulation, -c)")
PY
