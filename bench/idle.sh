#!/bin/bash
# An idle node and a lightly loaded one: port53d as it sleeps when idle (the
# default), with other idle settings, busy-polling (--idle-sleep-us 0), an
# older binary, and Knot DNS in XDP mode, one at a time, pinned to one core,
# over the veth of sidebyside.sh (port53d on net_af_xdp).
#
# Reported per server:
#   idle_cpu   share of its core used over -t seconds with no traffic
#   sparse     round trips of -n single queries sent 10 ms apart from the
#              client namespace (min / median / p99, microseconds): the
#              first frame after a quiet spell, what sleeping costs
#   light      the same round trips while kxdpgun offers -q queries/s
#              (default 20k) in the background: latency under light load
#   100k       answers/s and answers per CPU-second with kxdpgun offering
#              -Q queries/s (default 100k), the light-load efficiency
# Rounds alternate the servers; medians over rounds; one table on stdout
# and $OUT/idle.txt.
#
# usage: bench/idle.sh [-b BUILD] [-o OUTDIR] [-t SECONDS] [-r ROUNDS]
#           [-n QUERIES] [-Q QPS] [-q QPS] [-S "servers"] [-O OLD-PORT53D]
#           [-X "LABEL:OPTIONS"]...
#   servers: any of port53d (the defaults), port53d-napN (naps of N us
#            only: --idle-wake nap, fixed naps), port53d-spin
#            (--idle-sleep-us 0), port53d-old (the binary given with -O, its
#            defaults), knot-xdp, and each LABEL given with -X: port53d with
#            OPTIONS (e.g. -X "a20:--idle-after-us 20"); a bare KEY=VALUE
#            word among them is a net_af_xdp devarg (-X "bb0:busy_budget=0")
#   sparse_cpu server CPU per answered probe over the sparse phase, less
#              the idle share: what one sleep/wake cycle costs (us)
#   -q 0 skips the light-load round trips
#   -W   on the last round, trace one more sparse phase system-wide (perf:
#        scheduler, idle, send/receive events) and split the round trip
#        with bench/wakepath.py: $OUT/wake-SERVER.txt and stdout
#   -P   after each server's rounds, profile it at -Q queries/s: two more
#        kxdpgun runs, one under `perf trace -s` (system calls per answer,
#        by name), one under `perf record -e cpu-clock` with the threads'
#        user/system ticks and context switches from /proc; per server a
#        summary line on stdout and in $OUT/idle-profile.txt, the full
#        outputs in $OUT/prof-SERVER.*
# Needs root. Creates namespaces p53id-s / p53id-c and removes them on exit.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${P53_BUILD:-$SRC/build}
OUT=/tmp/p53idle
DUR=5
ROUNDS=3
NQ=300
QPS=100000
LQPS=20000
OLD=
PROF=
WAKE=
declare -A XOPT
SERVERS="port53d port53d-spin knot-xdp"
while [ $# -gt 0 ]; do
	case "$1" in
	-b) BUILD=$2; shift 2 ;;
	-o) OUT=$2; shift 2 ;;
	-t) DUR=$2; shift 2 ;;
	-r) ROUNDS=$2; shift 2 ;;
	-n) NQ=$2; shift 2 ;;
	-Q) QPS=$2; shift 2 ;;
	-q) LQPS=$2; shift 2 ;;
	-S) SERVERS=$2; shift 2 ;;
	-O) OLD=$2; shift 2 ;;
	-X) XOPT[${2%%:*}]=${2#*:}; shift 2 ;;
	-P) PROF=1; shift ;;
	-W) WAKE=1; shift ;;
	*) sed -n '2,41p' "$0"; exit 2 ;;
	esac
done
[ "$(id -u)" = 0 ] || { echo "idle.sh: needs root" >&2; exit 1; }
for t in kxdpgun knotd ip taskset ethtool; do
	command -v $t >/dev/null || { echo "idle.sh: $t not installed" >&2; exit 1; }
done
PORT53=$BUILD/tools/port53
PORT53D=$BUILD/dp/port53d
XDPOBJ=$BUILD/dp/p53_xdp.bpf.o

NS_S=p53id-s NS_C=p53id-c DEV_S=p53ids DEV_C=p53idc
SVC=10.53.1.1 CLI=10.53.1.2
SRV_CPU=1 GEN_CPU=0
DPDK_PREFIX=p53id
. "$SRC/bench/lib.sh"
mkdir -p "$OUT"
W=$(mktemp -d /tmp/p53id-work.XXXXXX)
PIDS=()
trap bench_cleanup EXIT
log() { echo "idle: $*" >&2; }

bench_netns_up
ZONE=$W/bench.test.zone
/usr/bin/python3 "$SRC/tools/gen-zone.py" 1000 -o "$ZONE"
SNAP=$W/bench.p53
"$PORT53" compile -o "$SNAP" bench.test="$ZONE" 2>/dev/null
"$BUILD/pcap/p53-querygen" -n 20000 -s 1 -l "$W/q.txt" bench.test="$ZONE"
QNAME=$(awk 'NR == 1 {print $1}' "$W/q.txt")
chmod 755 "$W"
chmod 644 "$W"/*

start_server() {
	SPID=
	if [ -n "${XOPT[$1]:-}" ]; then
		# A bare KEY=VALUE word is a net_af_xdp devarg (busy_budget=0).
		local w opts= dev=
		for w in ${XOPT[$1]}; do
			case $w in [a-z]*=*) dev+=,$w ;; *) opts+=" $w" ;; esac
		done
		ip netns exec $NS_S "$PORT53D" --no-huge -m 512 --no-pci -l $SRV_CPU \
			--file-prefix $DPDK_PREFIX \
			--vdev net_af_xdp0,iface=$DEV_S,queue_count=1,xdp_prog=$XDPOBJ$dev \
			-- --snapshot "$SNAP" --addr $SVC --rrl-rate 0 $opts \
			>"$W/$1.log" 2>&1 &
		SPID=$!
	fi
	[ -n "$SPID" ] || case $1 in
	port53d*)
		local nap= bin=$PORT53D
		case $1 in
		port53d-spin) nap="--idle-sleep-us 0" ;;
		port53d-nap[0-9]*)
			local us=${1#port53d-nap}
			nap="--idle-sleep-us $us --idle-sleep-max-us $us --idle-wake nap" ;;
		port53d-old) bin=$OLD ;;
		port53d) ;;
		*) return 1 ;;
		esac
		[ -x "$bin" ] || return 1
		ip netns exec $NS_S "$bin" --no-huge -m 512 --no-pci -l $SRV_CPU \
			--file-prefix $DPDK_PREFIX \
			--vdev net_af_xdp0,iface=$DEV_S,queue_count=1,xdp_prog=$XDPOBJ \
			-- --snapshot "$SNAP" --addr $SVC --rrl-rate 0 $nap \
			>"$W/$1.log" 2>&1 &
		SPID=$! ;;
	knot-xdp)
		mkdir -p "$W/knot-run" "$W/knot-db"
		bench_knot_conf $SVC@53 bench.test "$ZONE" udp "zonefile-load: whole" \
			"semantic-checks: off" >"$W/knot.conf"
		ip netns exec $NS_S taskset -c $SRV_CPU knotd -c "$W/knot.conf" >"$W/$1.log" 2>&1 &
		SPID=$! ;;
	esac
	PIDS+=("$SPID")
	for _ in $(seq 1 120); do
		kill -0 "$SPID" 2>/dev/null || return 1
		if ip netns exec $NS_C kdig +retry=0 +timeout=1 @$SVC bench.test SOA 2>/dev/null |
			grep -q 'status: NOERROR'; then
			for p in $(bench_tree_pids "$SPID"); do
				taskset -a -p -c $SRV_CPU "$p" >/dev/null 2>&1 || true
			done
			return 0
		fi
		sleep 0.5
	done
	return 1
}

# Round trips of single queries 10 ms apart: "min median p99" in us.
sparse() {
	ip netns exec $NS_C taskset -c $GEN_CPU /usr/bin/python3 - "$SVC" "$NQ" "$QNAME" <<-'PY'
		import socket, sys, time
		import dns.message
		svc, n = sys.argv[1], int(sys.argv[2])
		wire = dns.message.make_query(sys.argv[3], "A").to_wire()
		s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
		s.settimeout(0.5)
		rtt = []
		for i in range(n):
		    time.sleep(0.01)
		    t0 = time.perf_counter()
		    s.sendto(wire, (svc, 53))
		    try:
		        s.recv(4096)
		    except socket.timeout:
		        continue
		    rtt.append((time.perf_counter() - t0) * 1e6)
		rtt.sort()
		if not rtt:
		    print("nan nan nan 0")
		else:
		    print("%.0f %.0f %.0f %d" % (rtt[0], rtt[len(rtt) // 2],
		                                 rtt[min(len(rtt) - 1, int(len(rtt) * 0.99))], len(rtt)))
	PY
}

# "utime stime voluntary nonvoluntary" (ticks, switches) summed over the
# threads of PID and its descendants.
thread_ticks() {
	local p d u=0 k=0 v=0 n=0 a b
	for p in $(bench_tree_pids "$1"); do
		for d in /proc/"$p"/task/*; do
			read -r a b < <(awk '{sub(/.*\) /, ""); print $12, $13}' "$d/stat" 2>/dev/null || echo "0 0")
			u=$((u + a)); k=$((k + b))
			v=$((v + $(awk '/^voluntary_ctxt/ {print $2}' "$d/status" 2>/dev/null || echo 0)))
			n=$((n + $(awk '/^nonvoluntary_ctxt/ {print $2}' "$d/status" 2>/dev/null || echo 0)))
		done
	done
	echo "$u $k $v $n"
}

# profile SERVER: where its CPU goes at $QPS offered (see -P).
profile() {
	local s=$1 pids out ans ans2 u0 k0 v0 n0 u1 k1 v1 n1 P=$OUT/prof-$1
	pids=$(bench_tree_pids "$SPID" | paste -sd,)
	perf trace -s -p "$pids" -o "$P.trace" -- sleep $((DUR + 1)) >/dev/null 2>&1 &
	local TR=$!
	sleep 0.5
	out=$(ip netns exec $NS_C kxdpgun -t "$DUR" -Q "$QPS" -F $GEN_CPU -I $DEV_C \
		-i "$W/q.txt" $SVC 2>&1 || true)
	wait $TR 2>/dev/null || true
	ip netns exec $NS_C ip link set dev $DEV_C xdp off 2>/dev/null || true
	ans=$(echo "$out" | awk '/total replies:/ {print $3; exit}')
	read -r u0 k0 v0 n0 < <(thread_ticks "$SPID")
	perf record -q -e cpu-clock -F 1999 -p "$pids" -o "$P.data" -- sleep "$DUR" >/dev/null 2>&1 &
	local PR=$!
	out=$(ip netns exec $NS_C kxdpgun -t "$DUR" -Q "$QPS" -F $GEN_CPU -I $DEV_C \
		-i "$W/q.txt" $SVC 2>&1 || true)
	wait $PR 2>/dev/null || true
	read -r u1 k1 v1 n1 < <(thread_ticks "$SPID")
	ip netns exec $NS_C ip link set dev $DEV_C xdp off 2>/dev/null || true
	ans2=$(echo "$out" | awk '/total replies:/ {print $3; exit}')
	perf report -q -i "$P.data" --sort sym --stdio 2>/dev/null | head -40 >"$P.syms" || true
	perf report -q -i "$P.data" --sort dso --stdio >"$P.dso" 2>/dev/null || true
	/usr/bin/python3 - "$s" "$P.trace" "${ans:-0}" "${ans2:-0}" "$P.dso" \
		$((u1 - u0)) $((k1 - k0)) $((v1 - v0)) $((n1 - n0)) <<-'PY' | tee -a "$OUT/idle-profile.txt"
		import re, sys
		s, tr, ans, ans2, dso = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
		ut, st, vol, nvol = (int(x) for x in sys.argv[6:10])
		calls = {}
		for l in open(tr):
		    m = re.match(r"\s+(\w+)\s+(\d+)\s+\d+\s+[\d.]+", l)
		    if m:
		        calls[m.group(1)] = calls.get(m.group(1), 0) + int(m.group(2))
		tot = sum(calls.values())
		per = lambda n, a: n / a if a else float("nan")
		top = sorted(calls.items(), key=lambda kv: -kv[1])[:5]
		k = u = 0.0
		for l in open(dso):
		    m = re.match(r"\s*([\d.]+)%\s+(\S+)", l)
		    if m:
		        if m.group(2).startswith("[kernel"):
		            k += float(m.group(1))
		        else:
		            u += float(m.group(1))
		print("%s: %.2f syscalls/answer (%s); %.3f ctx switches/answer (%d vol, %d invol);"
		      " user/system ticks %d/%d; cpu-clock samples kernel %.0f%% user %.0f%%"
		      % (s, per(tot, ans), " ".join("%s %.2f" % (n, per(c, ans)) for n, c in top),
		         per(vol + nvol, ans2), vol, nvol, ut, st, k, u))
	PY
}

# wakepath SERVER: one more sparse phase under a system-wide perf trace,
# split by bench/wakepath.py (see -W).
wakepath() {
	local pids=$(bench_tree_pids "$SPID") P=$OUT/wake-$1
	perf record -q -a -o "$P.data" -e sched:sched_waking -e sched:sched_switch \
		-e power:cpu_idle -e syscalls:sys_enter_sendto -e syscalls:sys_exit_recvfrom \
		-- sleep $((NQ / 100 + 3)) >/dev/null 2>&1 &
	local PR=$!
	sleep 1
	sparse >/dev/null
	wait $PR 2>/dev/null || true
	perf script -i "$P.data" -F comm,pid,tid,cpu,time,event,trace 2>/dev/null |
		/usr/bin/python3 "$SRC/bench/wakepath.py" $pids >"$P.txt" || true
	sed "s/^/$1: /" "$P.txt" | tee -a "$OUT/idle-wake.txt"
}

RES=$W/results.txt
: >"$RES"
for r in $(seq 1 "$ROUNDS"); do
	for s in $SERVERS; do
		if ! start_server "$s"; then
			log "$s did not start (round $r)"; tail -5 "$W/$s.log" >&2 || true
			bench_stop_server; continue
		fi
		sleep 1
		c0=$(bench_cpu_ns "$SPID"); t0=$(date +%s%N)
		sleep "$DUR"
		c1=$(bench_cpu_ns "$SPID"); t1=$(date +%s%N)
		idle=$(echo "scale=4; ($c1 - $c0) / ($t1 - $t0)" | bc)
		c0=$(bench_cpu_ns "$SPID"); t0=$(date +%s%N)
		read -r mn md p99 got < <(sparse)
		c1=$(bench_cpu_ns "$SPID"); t1=$(date +%s%N)
		scpu=$(echo "scale=3; ($c1 - $c0 - $idle * ($t1 - $t0)) / 1000 / ($got + 0.0001)" | bc)
		lmd=nan lp99=nan
		if [ "$LQPS" != 0 ]; then
			ip netns exec $NS_C kxdpgun -t $((NQ / 100 + 3)) -Q "$LQPS" -F $GEN_CPU \
				-I $DEV_C -i "$W/q.txt" $SVC >/dev/null 2>&1 &
			GUN=$!
			sleep 1
			read -r _ lmd lp99 _ < <(sparse)
			wait $GUN 2>/dev/null || true
			ip netns exec $NS_C ip link set dev $DEV_C xdp off 2>/dev/null || true
		fi
		c0=$(bench_cpu_ns "$SPID")
		out=$(ip netns exec $NS_C kxdpgun -t "$DUR" -Q "$QPS" -F $GEN_CPU -I $DEV_C \
			-i "$W/q.txt" $SVC 2>&1 || true)
		c1=$(bench_cpu_ns "$SPID")
		ip netns exec $NS_C ip link set dev $DEV_C xdp off 2>/dev/null || true
		ans=$(echo "$out" | awk '/total replies:/ {print $3; exit}')
		ans=${ans:-0}
		cpu=$(echo "scale=6; ($c1 - $c0) / 1000000000" | bc)
		sent=$(echo "$out" | awk '/total queries:/ {print $3; exit}')
		echo "$s $r $idle $mn $md $p99 $got $ans $cpu $lmd $lp99 $scpu ${sent:-0}" >>"$RES"
		[ -z "$PROF" ] || [ "$r" != "$ROUNDS" ] || profile "$s"
		[ -z "$WAKE" ] || [ "$r" != "$ROUNDS" ] || wakepath "$s"
		log "$s round $r: idle cpu $idle, sparse rtt $mn/$md/$p99 us ($got), $scpu us CPU per probe, at ${LQPS}/s $lmd/$lp99 us, $ans replies of ${sent:-0}, cpu $cpu s (load $(cut -d' ' -f1-3 /proc/loadavg))"
		bench_stop_server
	done
done

/usr/bin/python3 - "$RES" "$DUR" "$QPS" <<-'PY' | tee "$OUT/idle.txt"
	import statistics, sys
	rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
	dur, qps = float(sys.argv[2]), int(sys.argv[3])
	by = {}
	for r in rows:
	    by.setdefault(r[0], []).append(r)
	print("%-14s %9s %21s %9s %15s %12s %9s %14s" % (
	    "server", "idle CPU", "sparse RTT us min/med/p99", "us/probe", "light med/p99",
	    "answers/s", "answered", "answers/CPU-s"))
	agg = {}
	for s, rs in by.items():
	    med = lambda i: statistics.median(float(x[i]) for x in rs)
	    ans = med(7) / dur
	    per = statistics.median(float(x[7]) / float(x[8]) if float(x[8]) > 0 else 0 for x in rs)
	    got = statistics.median(float(x[7]) / float(x[12]) if len(x) > 12 and float(x[12]) > 0
	                            else float("nan") for x in rs)
	    agg[s] = per
	    print("%-14s %8.1f%% %9.0f/%5.0f/%5.0f %9.1f %9.0f/%5.0f %12.0f %8.1f%% %14.0f" % (
	        s, 100 * med(2), med(3), med(4), med(5), med(11), med(9), med(10), ans, 100 * got,
	        per))
	if "knot-xdp" in agg:
	    for s in agg:
	        if s != "knot-xdp" and agg["knot-xdp"] > 0:
	            print("%s answers per CPU-second at %d/s offered: %.2fx knot-xdp" % (
	                s, qps, agg[s] / agg["knot-xdp"]))
	print("(medians over %d rounds)" % max(len(v) for v in by.values()))
PY
