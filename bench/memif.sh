#!/bin/bash
# port53d's data plane without the kernel: dpdk-testpmd (Debian dpdk-dev)
# replays a query capture from net_pcap (infinite_rx) into net_memif with io
# forwarding on CPU 0; port53d holds the other end of the memif, parses
# L2-L4, answers and transmits on its worker(s); its answers come back
# through testpmd and are dropped there. No NIC, no kernel, no syscalls on
# either side once running.
#
# One generator core cannot saturate a worker on a small zone, so the figure
# is the worker's capacity: answers/s divided by its busy fraction (the TSC
# share of polls that received frames, busy_ns in /v1/stats), i.e. the
# answers/s it would give with its core all to itself. Also reported:
# offered frames/s, answers/s, busy fraction, ns per answer at capacity,
# and for two workers the scaling factor (capacity of two / of one).
#
# usage: bench/memif.sh [-b BUILD] [-o OUTDIR] [-s "SIZES"] [-w "WORKERS"]
#          [-t SECONDS] [-r ROUNDS] [-n QUERIES] [-O OLD-PORT53D] [-R] [-P] [-C]
#   SIZES    zone sizes in records (default "1000 1000000")
#   WORKERS  worker counts (default "1 2"); two workers on this 2-core VM
#            share their cores with the generator, so only their capacity,
#            not their answers/s, says what two cores would do
#   QUERIES  capture length (default 200000; distinct names on big zones)
#   -O       also run this port53d binary in each round, alternating with
#            the build's (label "old" in the table)
#   -R       also run the build's port53d with response rate limiting on at
#            its default rate and slip (label "rrl"), alternating with the
#            run without it: RRL's cost on normal traffic. Its buckets are per
#            client address (/32, /128) instead of the default /24 and /56,
#            because the capture's 65,536 clients sit in 256 /24s and one
#            /56 and, replayed at millions of frames a second, those few
#            networks would be a flood; the work per answer is the same.
#            The table gives the share of answers limited (it should be 0);
#            P53_RRL_EXTRA adds options to that run (--rrl-table-size 4096);
#            with -O, the old binary is run both ways too ("oldrrl"), so
#            two builds' RRL costs are compared in the same rounds
#   -P       perf profile (cpu-clock) of the worker thread over each
#            one-worker measurement: $OUT/perf-SIZE-BIN.txt, the split by
#            object (port53d, the memif PMD, libc, kernel) and the top
#            symbols (needs perf); also of the ceiling testpmd
#   -C       no ceiling row. By default each one-worker round also runs the
#            ceiling: a second dpdk-testpmd in port53d's place (CPU 1)
#            sending every frame back (macswap), its capacity from its own
#            busy cycles per frame (--record-core-cycles); the table gives
#            port53d's capacity as a share of it: DPDK's own per-core
#            forwarding through memif on this machine
# Writes $OUT/memif.txt (table), $OUT/memif.dat and $OUT/memif.png (gnuplot).
# Needs root (DPDK's runtime directory).
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${P53_BUILD:-$SRC/build}
OUT=/tmp/p53memif
SIZES="1000 1000000"
WORKERS="1 2"
DUR=5
ROUNDS=3
NQ=200000
OLD=
PROF=0
CEIL=1
RRL=
while [ $# -gt 0 ]; do
	case "$1" in
	-b) BUILD=$2; shift 2 ;;
	-o) OUT=$2; shift 2 ;;
	-s) SIZES=$2; shift 2 ;;
	-w) WORKERS=$2; shift 2 ;;
	-t) DUR=$2; shift 2 ;;
	-r) ROUNDS=$2; shift 2 ;;
	-n) NQ=$2; shift 2 ;;
	-O) OLD=$2; shift 2 ;;
	-R) RRL=1; shift ;;
	-P) PROF=1; shift ;;
	-C) CEIL=0; shift ;;
	*) sed -n '2,47p' "$0"; exit 2 ;;
	esac
done
[ "$(id -u)" = 0 ] || { echo "memif.sh: needs root" >&2; exit 1; }
for t in dpdk-testpmd curl; do
	command -v $t >/dev/null || { echo "memif.sh: $t not installed (tools/install-deps.sh)" >&2; exit 1; }
done
PORT53=$BUILD/tools/port53
PORT53D=$BUILD/dp/port53d
MAC=02:53:00:00:00:01
W=$(mktemp -d /tmp/p53mf-work.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	sleep 0.5
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	rm -rf "$W" /var/run/dpdk/p53mf-d /var/run/dpdk/p53mf-g /var/run/dpdk/p53mf-c
}
trap cleanup EXIT
log() { echo "memif: $*" >&2; }
mkdir -p "$OUT"

stats() { # answers (frames sent), frames received, answers rate limited
	# (dropped, truncated or answered BADCOOKIE) and busy_ns per worker, one line
	curl -s --max-time 5 --unix-socket "$W/ctl.sock" http://port53d/v1/stats |
		/usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
ab = d["total"].get("abuse", {})
print(d["total"]["dataplane"]["tx"], d["total"]["dataplane"]["rx"],
      sum(ab.get(k, 0) for k in ("rrl_dropped", "rrl_slipped", "rrl_badcookie")),
      " ".join(str(w["counters"]["busy_ns"]) for w in d["per_worker"]))'
}

wait_for() { # wait_for SECONDS COMMAND...: polls COMMAND until it succeeds
	local end=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $end ] || return 1
		sleep 0.2
	done
}

perf_table() { # perf_table TITLE FILE: the profile in $W/perf.data, if any, by
	# object and then by symbol, into FILE
	[ -s "$W/perf.data" ] || return 0
	{
		echo "# $1: by object, then by symbol"
		perf report -i "$W/perf.data" --no-children --sort dso --stdio \
			2>/dev/null | grep -v '^#' | grep -v '^$' | head -12
		perf report -i "$W/perf.data" --no-children --sort dso,symbol \
			--stdio 2>/dev/null | grep -v '^#' | grep -v '^$' | head -30
	} >"$2" || true
	rm -f "$W/perf.data"
}

# The ceiling: the same generator against a second dpdk-testpmd on the
# memif's server end, in port53d's place (CPU 1), forwarding every frame
# back out of the memif with its MAC addresses swapped (macswap: the least
# a responder does to a frame). Its busy cycles come from testpmd's own
# accounting (--record-core-cycles counts only polls that received frames,
# as port53d's busy_ns does), printed when it exits: capacity = TSC rate /
# busy cycles per frame, DPDK's own per-core forwarding rate through memif.
ceiling() { # ceiling SIZE ROUND RXPCAP MEM
	local size=$1 r=$2 rxp=$3 mem=$4 cpid gpid n0 fwd cyc mhz cap busy
	rm -f "$W/memif.sock"
	# stdbuf: testpmd prints its totals on SIGINT and then re-raises it,
	# which would lose a block-buffered stdout.
	stdbuf -oL dpdk-testpmd --no-huge -m 512 --no-pci -l 0,1 --main-lcore 0 \
		--file-prefix p53mf-c \
		--vdev net_memif0,role=server,socket=$W/memif.sock,mac=$MAC \
		-- --forward-mode=macswap --port-topology=loop --auto-start \
		--disable-link-check --no-lsc-interrupt --nb-cores=1 --total-num-mbufs=32768 \
		--record-core-cycles --stats-period 1 >"$W/ceiling.log" 2>&1 &
	cpid=$!
	PIDS+=("$cpid")
	# Forwarding started (the memif socket is in the abstract namespace).
	if ! wait_for 60 grep -q 'forwards packets on' "$W/ceiling.log"; then
		log "ceiling testpmd did not start: cell skipped"; tail -5 "$W/ceiling.log" >&2
		kill "$cpid" 2>/dev/null || true
		wait "$cpid" 2>/dev/null || true
		return 0
	fi
	dpdk-testpmd --no-huge -m "$mem" --no-pci -l 0,1 --main-lcore 1 \
		--file-prefix p53mf-g \
		--vdev "net_pcap0,$rxp,infinite_rx=1" \
		--vdev net_memif0,role=client,socket=$W/memif.sock \
		-- --forward-mode=io --auto-start --no-lsc-interrupt \
		--rxq=1 --txq=1 --nb-cores=1 \
		--total-num-mbufs=$((NQ + 32768)) \
		--stats-period 1 >"$W/testpmd.log" 2>&1 &
	gpid=$!
	PIDS+=("$gpid")
	# Warm: the ceiling's memif port forwarding (its cumulative TX count).
	if ! wait_for 300 sh -c "! kill -0 $gpid 2>/dev/null || [ \$(awk '/TX-packets:/ {v = \$2} END {print v + 0}' $W/ceiling.log) -gt 100000 ]" || ! kill -0 "$gpid" 2>/dev/null; then
		log "no frames flowing (ceiling): cell skipped"; tail -5 "$W/testpmd.log" >&2
		kill "$gpid" "$cpid" 2>/dev/null || true
		wait "$gpid" "$cpid" 2>/dev/null || true
		return 0
	fi
	sleep 1
	n0=$(grep -c 'Tx-pps:' "$W/ceiling.log" || true)
	if [ "$PROF" = 1 ]; then
		# Every thread of the ceiling testpmd: its main lcore only sleeps.
		perf record -q -e cpu-clock -p "$cpid" -o "$W/perf.data" -- sleep "$DUR" \
			>/dev/null 2>&1 || true
	else
		sleep "$DUR"
	fi
	# Forwarded frames/s over the window: the mean of testpmd's per-second rates.
	fwd=$(awk -v n0="$n0" '/Tx-pps:/ {if (++n > n0) {s += $2; k++}} END {printf "%.0f\n", k ? s / k : 0}' "$W/ceiling.log")
	offered=$(awk '/NIC statistics for port/ {p = $(NF - 1)}
		/Rx-pps:/ && p == 0 {v = $2} END {print v + 0}' "$W/testpmd.log")
	kill -INT "$cpid" 2>/dev/null || true
	wait_for 20 sh -c "! kill -0 $cpid" || kill -9 "$cpid" 2>/dev/null || true
	wait "$cpid" 2>/dev/null || true
	kill "$gpid" 2>/dev/null || true
	wait "$gpid" 2>/dev/null || true
	# "CPU cycles/packet=C (busy cycles=...) at M MHz Clock", since start.
	cyc=$(sed -n 's/.*CPU cycles\/packet=\([0-9.]*\).*/\1/p' "$W/ceiling.log" | tail -1)
	mhz=$(sed -n 's/.* at \([0-9]*\) MHz Clock.*/\1/p' "$W/ceiling.log" | tail -1)
	if [ -z "$cyc" ] || [ -z "$mhz" ] || [ "$fwd" = 0 ]; then
		log "ceiling: no cycle count from testpmd: cell skipped"; tail -20 "$W/ceiling.log" >&2
		return 0
	fi
	cap=$(echo "scale=1; $mhz * 1000000 / $cyc" | bc)
	busy=$(echo "scale=6; $fwd / $cap" | bc)
	echo "$size 1 ceiling $r $offered $fwd $fwd 0 $busy" >>"$RES"
	log "$size records, ceiling, round $r: offered ~$offered/s, forwarded $fwd/s, $cyc cycles per frame at $mhz MHz, capacity $cap/s (load $(cut -d' ' -f1-3 /proc/loadavg))"
	perf_table "ceiling (testpmd macswap), $size records, round $r" "$OUT/perf-$size-ceiling.txt"
}

RES=$W/results.txt
: >"$RES"
for size in $SIZES; do
	ZONE=$W/bench.test.zone
	/usr/bin/python3 "$SRC/tools/gen-zone.py" "$size" -o "$ZONE" >/dev/null
	"$PORT53" compile -o "$W/z.p53" bench.test="$ZONE" >/dev/null
	"$BUILD/pcap/p53-querygen" -n "$NQ" -s 1 --dst-mac $MAC -o "$W/q.pcap" \
		bench.test="$ZONE" >/dev/null
	rm -f "$ZONE"
	for nw in $WORKERS; do
		lcores=1
		[ "$nw" = 2 ] && lcores=1,0
		# net_pcap keeps the capture in mbufs per rx queue (infinite_rx).
		mem=$(((NQ * nw * 4096 + 512 * 1024 * 1024) / 1048576))
		rxp="rx_pcap=$W/q.pcap"
		[ "$nw" = 2 ] && rxp="$rxp,rx_pcap=$W/q.pcap"
		for r in $(seq 1 "$ROUNDS"); do
			bins="new ${OLD:+old} ${RRL:+rrl} ${OLD:+${RRL:+oldrrl}}"
			[ "$nw" = 1 ] && [ "$CEIL" = 1 ] && bins="$bins ceiling"
			for bin in $bins; do
				if [ "$bin" = ceiling ]; then
					ceiling "$size" "$r" "$rxp" "$mem"
					continue
				fi
				exe=$PORT53D
				case $bin in old*) exe=$OLD ;; esac
				rrlopts=(--rrl-rate 0)
				case $bin in *rrl) rrlopts=(--rrl-ipv4-prefix 32 --rrl-ipv6-prefix 128 ${P53_RRL_EXTRA:-}) ;; esac
				rm -f "$W/memif.sock" "$W/ctl.sock"
				"$exe" --no-huge -m 1024 --no-pci -l $lcores --file-prefix p53mf-d \
					--vdev net_memif0,role=server,socket=$W/memif.sock,mac=$MAC \
					-- --snapshot "$W/z.p53" --addr 192.0.2.53 --addr 2001:db8::53 \
					"${rrlopts[@]}" --idle-sleep-us 0 --control-socket "$W/ctl.sock" \
					>"$W/port53d.log" 2>&1 &
				DPID=$!
				PIDS+=("$DPID")
				if ! wait_for 120 stats; then
					log "$bin port53d did not start: cell skipped"; tail -5 "$W/port53d.log" >&2
					kill "$DPID" 2>/dev/null || true
					wait "$DPID" 2>/dev/null || true
					continue
				fi
				dpdk-testpmd --no-huge -m "$mem" --no-pci -l 0,1 --main-lcore 1 \
					--file-prefix p53mf-g \
					--vdev "net_pcap0,$rxp,infinite_rx=1" \
					--vdev net_memif0,role=client,socket=$W/memif.sock \
					-- --forward-mode=io --auto-start --no-lsc-interrupt \
					--rxq="$nw" --txq="$nw" --nb-cores=1 \
					--total-num-mbufs=$((NQ * nw + 32768)) \
					--stats-period 1 >"$W/testpmd.log" 2>&1 &
				GPID=$!
				PIDS+=("$GPID")
				# Warm: answers flowing (the capture is loaded first).
				# (or the generator gone: then there is nothing to wait for).
				if ! wait_for 300 sh -c "! kill -0 $GPID 2>/dev/null || [ \$(curl -s --unix-socket $W/ctl.sock http://p/v1/stats | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[\"total\"][\"dataplane\"][\"tx\"])') -gt 100000 ]" || ! kill -0 "$GPID" 2>/dev/null; then
					log "no answers flowing ($bin): cell skipped"; tail -5 "$W/testpmd.log" >&2
					kill "$GPID" "$DPID" 2>/dev/null || true
					wait "$GPID" "$DPID" 2>/dev/null || true
					continue
				fi
				sleep 1
				read -r -a s0 < <(stats)
				t0=$(date +%s%N)
				if [ "$PROF" = 1 ] && [ "$nw" = 1 ]; then
					# The worker is port53d's main thread (one lcore).
					perf record -q -e cpu-clock -t "$DPID" -o "$W/perf.data" -- sleep "$DUR" \
						>/dev/null 2>&1 || true
				else
					sleep "$DUR"
				fi
				read -r -a s1 < <(stats)
				t1=$(date +%s%N)
				# The pcap port's receive rate: what the generator offers.
				offered=$(awk '/NIC statistics for port/ {p = $(NF - 1)}
					/Rx-pps:/ && p == 0 {v = $2} END {print v + 0}' "$W/testpmd.log")
				busy=""
				for ((i = 3; i < ${#s1[@]}; i++)); do
					busy="$busy $(echo "scale=6; (${s1[$i]} - ${s0[$i]}) / ($t1 - $t0)" | bc)"
				done
				ans=$(echo "scale=1; (${s1[0]} - ${s0[0]}) * 1000000000 / ($t1 - $t0)" | bc)
				rx=$(echo "scale=1; (${s1[1]} - ${s0[1]}) * 1000000000 / ($t1 - $t0)" | bc)
				lim=$(echo "scale=6; (${s1[2]} - ${s0[2]}) / (${s1[0]} - ${s0[0]} + 1)" | bc)
				echo "$size $nw $bin $r $offered $rx $ans $lim$busy" >>"$RES"
				log "$size records, $nw worker(s), $bin, round $r: offered ~$offered/s, rx $rx/s, answers $ans/s, limited $lim, busy$busy (load $(cut -d' ' -f1-3 /proc/loadavg))"
				perf_table "$size records, $bin, round $r" "$OUT/perf-$size-$bin.txt"
				# port53d first: DPDK 22.11's memif PMD unmaps the
				# peer's regions when the peer leaves while a worker
				# may be copying from them (docs/benchmarks.md).
				kill "$DPID" 2>/dev/null || true
				wait "$DPID" 2>/dev/null || true
				kill "$GPID" 2>/dev/null || true
				wait "$GPID" 2>/dev/null || true
			done
		done
	done
done

/usr/bin/python3 - "$RES" "$OUT" <<-'PY' | tee "$OUT/memif.txt"
	import statistics, sys
	rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
	out = sys.argv[2]
	cells = {}
	for r in rows:
	    if len(r) < 9:
	        continue  # a cell without busy fractions (its tool printed none)
	    size, nw, binl = int(r[0]), int(r[1]), r[2]
	    ans = float(r[6])
	    busy = [float(x) for x in r[8:]]
	    # Each worker's capacity is its share of the answers over its busy
	    # fraction; with one queue per worker the answers split evenly.
	    cap = sum((ans / len(busy)) / b for b in busy if b > 0)
	    cells.setdefault((size, nw, binl), []).append(
	        (float(r[4]), float(r[5]), ans, busy, cap, float(r[7])))
	print("%-10s %2s %-4s %12s %12s %12s %-13s %14s %9s" % (
	    "records", "w", "bin", "offered/s", "rx/s", "answers/s", "busy", "capacity/s", "ns/answer"))
	dat = open(out + "/memif.dat", "w")
	for (size, nw, binl), v in sorted(cells.items()):
	    caps = sorted(x[4] for x in v)
	    med = statistics.median
	    busy = [med(x[3][i] for x in v) for i in range(nw)]
	    c = med(caps)
	    print("%-10d %2d %-4s %12.0f %12.0f %12.0f %-13s %14.0f %9.1f  (capacity min/max %.0f/%.0f)" % (
	        size, nw, binl, med(x[0] for x in v), med(x[1] for x in v), med(x[2] for x in v),
	        "/".join("%.2f" % b for b in busy), c, 1e9 * nw / c if c else 0, caps[0], caps[-1]))
	    if binl == "new":
	        dat.write("%d %d %.0f %.0f %.0f\n" % (size, nw, c, caps[0], caps[-1]))
	for size in sorted({k[0] for k in cells}):
	    for binl in ("new", "old"):
	        if (size, 1, binl) in cells and (size, 2, binl) in cells:
	            one = statistics.median(x[4] for x in cells[(size, 1, binl)])
	            two = statistics.median(x[4] for x in cells[(size, 2, binl)])
	            print("%d records, %s: two workers' capacity / one worker's = %.2f" % (
	                size, binl, two / one))
	    for nw in (1, 2):
	        for off, on in (("new", "rrl"), ("old", "oldrrl")):
	            if (size, nw, off) not in cells or (size, nw, on) not in cells:
	                continue
	            n = statistics.median(x[4] for x in cells[(size, nw, off)])
	            r = statistics.median(x[4] for x in cells[(size, nw, on)])
	            lim = max(x[5] for x in cells[(size, nw, on)])
	            print("%d records, %d worker(s), %s: capacity with RRL / without = %.3f (RRL "
	                  "costs %.1f%%, %.1f ns per answer; at most %.4f%% of answers limited)" % (
	                      size, nw, off, r / n, 100 * (n / r - 1), 1e9 * nw / r - 1e9 * nw / n,
	                      100 * lim))
	    if (size, 1, "new") in cells and (size, 1, "old") in cells:
	        n = statistics.median(x[4] for x in cells[(size, 1, "new")])
	        o = statistics.median(x[4] for x in cells[(size, 1, "old")])
	        print("%d records, one worker: capacity new / old = %.2f" % (size, n / o))
	    if (size, 1, "ceiling") in cells:
	        c = statistics.median(x[4] for x in cells[(size, 1, "ceiling")])
	        for binl in ("new", "old"):
	            if (size, 1, binl) in cells:
	                b = statistics.median(x[4] for x in cells[(size, 1, binl)])
	                print("%d records, one worker, %s: capacity / ceiling = %.2f "
	                      "(%.0f of its %.0f ns per frame beyond the ceiling's)" % (
	                          size, binl, b / c, 1e9 / b - 1e9 / c, 1e9 / b))
	print("(medians over %d rounds; capacity = answers/s / busy fraction, summed over workers;"
	      "\n ceiling = testpmd macswap in port53d's place, capacity from its busy cycles per frame)"
	      % max(len(v) for v in cells.values()))
PY
if command -v gnuplot >/dev/null; then
	gnuplot <<-EOF || true
		set terminal pngcairo size 800,500
		set output "$OUT/memif.png"
		set logscale x
		set xlabel "zone records"
		set ylabel "capacity, M answers/s"
		set title "port53d over net_memif: capacity (answers/s / busy fraction)"
		plot "$OUT/memif.dat" using 1:(\$2 == 1 ? \$3 / 1e6 : 1/0):(\$4 / 1e6):(\$5 / 1e6) with yerrorlines title "1 worker", \
		     "$OUT/memif.dat" using 1:(\$2 == 2 ? \$3 / 1e6 : 1/0):(\$4 / 1e6):(\$5 / 1e6) with yerrorlines title "2 workers"
	EOF
fi
