#!/bin/bash
# Side-by-side: port53 vs Knot DNS (UDP sockets, and XDP) vs NSD on the same
# zone and the same query list, driven by kxdpgun from a client namespace
# over a veth pair. Servers run alone, one at a time, pinned to one core
# (every thread re-pinned: knotd moves its workers itself); kxdpgun runs on
# the other core. Servers are alternated over several rounds and medians are
# reported, because these 2-core VMs swing with outside load.
#
# Reported per server: answered queries/s, loss, the server's on-CPU time
# (from /proc/PID/task/*/schedstat) and answers per CPU-second, which is the
# fair figure when the generator, not the server, is the bottleneck
# (kxdpgun tops out near 0.5 M q/s on one vCPU); memory (PSS summed over the
# server's processes after the zone loaded); with -L, median/p99 latency from
# dnsperf at a fixed, modest rate.
#
# port53 runs as port53d on net_af_xdp with its XDP program when that starts
# (label "port53d-afxdp"), and always as the kernel-socket server
# `port53 serve` (label "port53-ksock", one epoll thread). Variants of
# port53d-afxdp: -bbN sets the PMD's busy_budget=N (0: no busy polling, no
# system call on an empty poll; the PMD's default is 64 with
# SO_PREFER_BUSY_POLL where the kernel has it), -old runs the binary given
# with -O (to compare builds in one run).
#
# usage: bench/sidebyside.sh [-b BUILD] [-o OUTDIR] [-z RECORDS] [-p PRESET]
#           [-t SECONDS] [-r ROUNDS] [-Q QPS] [-S "servers"] [-L] [-O PORT53D]
#   servers: any of port53d-afxdp[-bbN] port53d-afxdp-old[-bbN] port53-ksock
#            knot-udp knot-xdp nsd
# Needs root. Creates namespaces p53sb-s / p53sb-c and removes them on exit.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${P53_BUILD:-$SRC/build}
OUT=/tmp/p53sb
RECORDS=1000000
PRESET=default
DUR=5
ROUNDS=3
QPS=2000000
SERVERS="port53d-afxdp port53-ksock knot-udp knot-xdp nsd"
LAT=0
OLD=
while [ $# -gt 0 ]; do
	case "$1" in
	-b) BUILD=$2; shift 2 ;;
	-o) OUT=$2; shift 2 ;;
	-z) RECORDS=$2; shift 2 ;;
	-p) PRESET=$2; shift 2 ;;
	-t) DUR=$2; shift 2 ;;
	-r) ROUNDS=$2; shift 2 ;;
	-Q) QPS=$2; shift 2 ;;
	-S) SERVERS=$2; shift 2 ;;
	-L) LAT=1; shift ;;
	-O) OLD=$2; shift 2 ;;
	*) sed -n '2,33p' "$0"; exit 2 ;;
	esac
done
[ "$(id -u)" = 0 ] || { echo "sidebyside.sh: needs root" >&2; exit 1; }
for t in kxdpgun knotd nsd ip taskset ethtool; do
	command -v $t >/dev/null || { echo "sidebyside.sh: $t not installed" >&2; exit 1; }
done
PORT53=$BUILD/tools/port53
PORT53D=$BUILD/dp/port53d
XDPOBJ=$BUILD/dp/p53_xdp.bpf.o
QGEN=$BUILD/pcap/p53-querygen

NS_S=p53sb-s NS_C=p53sb-c DEV_S=p53sbs DEV_C=p53sbc
SVC=10.53.0.1 CLI=10.53.0.2
SRV_CPU=1 GEN_CPU=0
DPDK_PREFIX=p53sb
. "$SRC/bench/lib.sh"
mkdir -p "$OUT"
W=$(mktemp -d /tmp/p53sb-work.XXXXXX)
PIDS=()

trap bench_cleanup EXIT
log() { echo "sidebyside: $*" >&2; }

# --- network: two namespaces joined by a veth, static neighbours ---
bench_netns_up

# --- data: zone, snapshot, query list ---
ZONE=$OUT/z$RECORDS.zone
[ -s "$ZONE" ] || /usr/bin/python3 "$SRC/tools/gen-zone.py" "$RECORDS" -o "$ZONE"
SNAP=$W/bench.p53
"$PORT53" compile -o "$SNAP" bench.test="$ZONE" 2>/dev/null
LIST=$W/queries.txt
"$QGEN" -p "$PRESET" -n 200000 -s 1 -l "$LIST" bench.test="$ZONE"
"$QGEN" -p "$PRESET" -n 200000 -s 1 -l "$W/queries-plain.txt" --list-plain bench.test="$ZONE" 2>/dev/null
cp "$ZONE" "$W/bench.test.zone"
chmod 755 "$W"
chmod 644 "$W"/*

# --- servers ---
knot_conf() { # $1 = xdp or udp
	bench_knot_conf $SVC@53 bench.test "$W/bench.test.zone" "$([ "$1" = xdp ] && echo udp)" \
		"zonefile-load: whole" "semantic-checks: off"
}

nsd_conf() {
	bench_nsd_conf bench.test bench.test.zone "ip-address: $SVC@53" "verbosity: 0" \
		"hide-version: no"
}

# Starts server $1 in the server namespace; sets SPID (main process).
start_server() {
	SPID=
	case $1 in
	port53-ksock)
		ip netns exec $NS_S taskset -c $SRV_CPU "$PORT53" serve -s "$SNAP" -l $SVC:53 \
			--rrl-rate 0 >"$W/$1.log" 2>&1 &
		SPID=$! ;;
	port53d-afxdp*)
		local bin=$PORT53D extra=
		case $1 in *-old*) bin=$OLD ;; esac
		case $1 in *-bb[0-9]*) extra=",busy_budget=${1##*-bb}" ;; esac
		[ -x "$bin" ] && [ -f "$XDPOBJ" ] || return 1
		ip netns exec $NS_S "$bin" --no-huge -m 512 --no-pci -l $SRV_CPU \
			--file-prefix p53sb \
			--vdev net_af_xdp0,iface=$DEV_S,queue_count=1,xdp_prog=$XDPOBJ$extra \
			-- --snapshot "$SNAP" --addr $SVC --rrl-rate 0 >"$W/$1.log" 2>&1 &
		SPID=$! ;;
	knot-udp | knot-xdp)
		mkdir -p "$W/knot-run" "$W/knot-db"
		knot_conf "${1#knot-}" >"$W/knot.conf"
		ip netns exec $NS_S taskset -c $SRV_CPU knotd -c "$W/knot.conf" >"$W/$1.log" 2>&1 &
		SPID=$! ;;
	nsd)
		nsd_conf >"$W/nsd.conf"
		ip netns exec $NS_S taskset -c $SRV_CPU nsd -d -c "$W/nsd.conf" >"$W/$1.log" 2>&1 &
		SPID=$! ;;
	esac
	PIDS+=("$SPID")
	# Ready when it answers the SOA from the client namespace (zone loaded).
	for _ in $(seq 1 240); do
		if ! kill -0 "$SPID" 2>/dev/null; then return 1; fi
		if ip netns exec $NS_C kdig +retry=0 +timeout=1 @$SVC bench.test SOA 2>/dev/null |
			grep -q 'status: NOERROR'; then
			return 0
		fi
		sleep 0.5
	done
	return 1
}

# All processes of the server: the main one and its descendants.
server_pids() { bench_tree_pids "$SPID"; }
pin_server() {
	for p in $(server_pids); do taskset -a -p -c $SRV_CPU "$p" >/dev/null 2>&1 || true; done
}
# Sum of on-CPU nanoseconds over every thread of every server process.
server_cpu_ns() { bench_cpu_ns "$SPID"; }
server_pss_kb() { bench_pss_kb "$SPID"; }
stop_server() { bench_stop_server; }

# One kxdpgun run; prints "sent answered cpu_ns wall_ns". The server's CPU
# time is taken over the whole kxdpgun run (its start-up included), so it is
# divided by that wall time, not by the nominal duration.
gun() {
	local c0 c1 t0 t1
	t0=$(date +%s%N)
	c0=$(server_cpu_ns)
	ip netns exec $NS_C kxdpgun -t "$DUR" -Q "$QPS" -F $GEN_CPU -I $DEV_C -i "$LIST" $SVC \
		>"$W/gun.out" 2>&1 || true
	c1=$(server_cpu_ns)
	t1=$(date +%s%N)
	ip netns exec $NS_C ip link set dev $DEV_C xdp off 2>/dev/null || true
	local sent recv
	sent=$(awk '/total queries:/ {print $3; exit}' "$W/gun.out")
	recv=$(awk '/total replies:/ {print $3; exit}' "$W/gun.out")
	echo "${sent:-0} ${recv:-0} $((c1 - c0)) $((t1 - t0))"
}

# Median and p99 latency (ms) from dnsperf's per-query verbose output.
latency() {
	ip netns exec $NS_C taskset -c $GEN_CPU dnsperf -s $SVC -d "$W/queries-plain.txt" \
		-l 3 -Q 20000 -c 8 -v -e >"$W/perf.out" 2>&1 || true
	/usr/bin/python3 - "$W/perf.out" <<-'EOF'
		import re, sys
		lat = []
		for line in open(sys.argv[1], errors="replace"):
		    m = re.match(r"^> \S+ .* ([0-9.]+)$", line.strip())
		    if m:
		        lat.append(float(m.group(1)) * 1000)
		lat.sort()
		if lat:
		    print("%.3f %.3f" % (lat[len(lat) // 2], lat[min(len(lat) - 1, int(len(lat) * 0.99))]))
		else:
		    print("- -")
	EOF
}

RES=$OUT/sidebyside.tsv
printf 'round\tserver\tsent\tanswered\tduration\twall_ns\tcpu_ns\tpss_kb\tlat_p50_ms\tlat_p99_ms\n' >"$RES"
log "$(nproc) CPUs:$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2); server on CPU $SRV_CPU, kxdpgun on CPU $GEN_CPU; zone $RECORDS records, preset $PRESET, offered $QPS q/s for $DUR s, $ROUNDS rounds"
declare -A DEAD
for r in $(seq 1 "$ROUNDS"); do
	for s in $SERVERS; do
		[ -n "${DEAD[$s]:-}" ] && continue
		if ! start_server "$s"; then
			log "$s did not start (log: $(tail -c 300 "$W/$s.log" 2>/dev/null | tr '\n' ' '))"
			DEAD[$s]=1
			stop_server
			continue
		fi
		pin_server
		sleep 1
		pin_server
		pss=$(server_pss_kb)
		read -r sent ans cpu wall < <(gun)
		lat="- -"
		[ "$LAT" = 1 ] && lat=$(latency)
		read -r l50 l99 <<<"$lat"
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$s" "$sent" "$ans" "$DUR" "$wall" "$cpu" \
			"$pss" "$l50" "$l99" >>"$RES"
		log "round $r $s: sent $sent answered $ans server-cpu $((cpu / 1000000)) ms pss ${pss} kB lat $lat (load $(cut -d' ' -f1-3 /proc/loadavg))"
		stop_server
	done
done

/usr/bin/python3 - "$RES" "$RECORDS" <<-'EOF'
	import csv, statistics as st, sys
	rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
	recs = int(sys.argv[2])
	servers = list(dict.fromkeys(r["server"] for r in rows))
	agg = {}
	for s in servers:
	    rs = [r for r in rows if r["server"] == s]
	    qps = st.median(int(r["answered"]) / float(r["duration"]) for r in rs)
	    loss = st.median(1 - int(r["answered"]) / max(1, int(r["sent"])) for r in rs)
	    cpu = st.median(int(r["cpu_ns"]) / int(r["wall_ns"]) for r in rs)
	    per_cpu = st.median(int(r["answered"]) / max(1e-9, int(r["cpu_ns"]) / 1e9) for r in rs)
	    pss = st.median(int(r["pss_kb"]) for r in rs)
	    l50 = [float(r["lat_p50_ms"]) for r in rs if r["lat_p50_ms"] != "-"]
	    l99 = [float(r["lat_p99_ms"]) for r in rs if r["lat_p99_ms"] != "-"]
	    agg[s] = (qps, loss, cpu, per_cpu, pss, st.median(l50) if l50 else None,
	              st.median(l99) if l99 else None, len(rs))
	ref = next((s for s in ("port53d-afxdp", "port53-ksock") if s in agg), None)
	print("| server | answered q/s | loss | server CPU | answers per CPU-second | "
	      "PSS MB | bytes/record | p50 ms | p99 ms | %s ratio (q/s, per CPU-s) | runs |" % (ref or "port53"))
	print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for s, (qps, loss, cpu, pc, pss, l50, l99, n) in agg.items():
	    ratio = "-"
	    if ref and s != ref:
	        ratio = "%.2f / %.2f" % (agg[ref][0] / max(qps, 1), agg[ref][3] / max(pc, 1))
	    f = lambda v: "-" if v is None else "%.3f" % v
	    print("| %s | %.0f | %.1f%% | %.0f%% | %.0f | %.0f | %.0f | %s | %s | %s | %d |" % (
	        s, qps, 100 * loss, 100 * cpu, pc, pss / 1024, pss * 1024 / recs, f(l50), f(l99),
	        ratio, n))
EOF
