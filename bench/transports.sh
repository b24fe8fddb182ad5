#!/bin/bash
# DNS over TCP and TLS, side by side, and what a TCP flood costs UDP
# (docs/transports.md, figures in docs/benchmarks.md).
#
#   1. TCP: kxdpgun -T (open loop, new connection per query) from a client
#      namespace over a veth pair against port53d (AF_XDP mode, --tcp),
#      `port53 serve` (the same TCP server on kernel sockets), Knot DNS
#      (tcp-workers: 1) and NSD (server-count: 1).
#   2. TLS: dnsperf -m dot (closed loop, 8 connections) against port53d
#      (--tls) and NSD (tls-service-*). Knot DNS 3.2 (Debian 12) has no DNS
#      over TLS server, so it has no TLS figure.
#   3. What a TCP or TLS flood costs UDP answering, measured so that it
#      means something on 2 CPUs: the UDP side is a probe, not a load. The
#      UDP worker owns CPU 1 (port53d: its DPDK worker, -l 1; Knot in XDP
#      mode with TCP in the XDP worker, design (a) of docs/transports.md:
#      every thread). Everything else is on CPU 0: port53d's control
#      threads, the flood (kxdpgun -T at 200 k SYN/s from 128 sources, or
#      dnsperf -m dot with 64 connections) at nice 19, and the probe:
#      dnsperf asking $UDP_QPS (-U, default 10 k) UDP queries/s, far below
#      either server's capacity, under SCHED_FIFO so that the flood cannot
#      starve the probe itself. Each phase (alone, tcpflood, tlsflood) gives
#      the probe's answered fraction and its p50/p99 round trip from
#      per-answer times (dnsperf -v), and for port53d the worker's own view
#      from its control API: busy fraction and time in the server (p50/p99
#      by power-of-two bucket). OUTDIR/udp.tsv has the rounds.
#
# Placement in (1) and (2): Knot and NSD run every thread on CPU 1; port53d
# runs its TCP/TLS thread on CPU 1 and its DPDK worker on CPU 0, which it
# shares with the generators. For each server the on-CPU time of the
# threads that answered (port53d: its TCP thread; others: all threads)
# gives answers per CPU-second, the fair figure whatever the generator
# managed. Raw generator output is kept in OUTDIR (kxdpgun.log,
# dnsperf.log, flood.log).
#
# usage: bench/transports.sh [-b BUILD] [-B BASE_BUILD] [-o OUTDIR] [-t SECONDS]
#                             [-r ROUNDS] [-T "tcp tls udp"] [-U QPS] [-p]
#   -B  also measure port53d from another build (port53d-base), e.g. the
#       tree before a change, in the same rounds (TCP and TLS)
#   -T  which of the three tests to run (default all)
#   -p  perf record -g each server's answering threads during the TCP test
#       (OUTDIR/perf-SERVER-ROUND.data; perf report -i FILE --no-children)
# Needs root; creates namespaces p53tb-s / p53tb-c and removes them on exit.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${P53_BUILD:-$SRC/build}
OUT=/tmp/p53tb
DUR=5
ROUNDS=2
UDP_QPS=10000
BASE=
TESTS="tcp tls udp"
PERF=
while [ $# -gt 0 ]; do
	case "$1" in
	-b) BUILD=$2; shift 2 ;;
	-B) BASE=$2; shift 2 ;;
	-o) OUT=$2; shift 2 ;;
	-t) DUR=$2; shift 2 ;;
	-r) ROUNDS=$2; shift 2 ;;
	-T) TESTS=$2; shift 2 ;;
	-U) UDP_QPS=$2; shift 2 ;;
	-p) PERF=1; shift ;;
	*) sed -n '2,42p' "$0"; exit 2 ;;
	esac
done
want() { case " $TESTS " in *" $1 "*) return 0 ;; esac; return 1; }
[ "$(id -u)" = 0 ] || { echo "transports.sh: needs root" >&2; exit 1; }
for t in kxdpgun knotd nsd dnsperf ip taskset ethtool openssl; do
	command -v $t >/dev/null || { echo "transports.sh: $t not installed" >&2; exit 1; }
done
PORT53=$BUILD/tools/port53
PORT53D=$BUILD/dp/port53d
XDPOBJ=$BUILD/dp/p53_xdp.bpf.o
NS_S=p53tb-s NS_C=p53tb-c DEV_S=p53tbs DEV_C=p53tbc
SVC=10.53.1.1 CLI=10.53.1.2
DPDK_PREFIX=p53tb
. "$SRC/bench/lib.sh"
mkdir -p "$OUT"
W=$(mktemp -d /tmp/p53tb-work.XXXXXX)
PIDS=()

trap bench_cleanup EXIT
log() { echo "transports: $*" >&2; }

bench_netns_up
# kxdpgun's TCP queries come from 10.53.1.128/25: one host per source as the
# servers see it, since every server caps connections per source address.
for i in $(seq 128 255); do
	echo "neigh replace 10.53.1.$i lladdr $MAC_C dev $DEV_S nud permanent"
done | ip -n $NS_S -batch -

# The example zone and a query mix over its names (all answered NOERROR).
cp "$SRC/tests/zones/example.com.zone" "$W/example.com.zone"
"$PORT53" compile -o "$W/z.p53" example.com="$W/example.com.zone" >/dev/null
for n in www mail mail2 api ns1 ns2 @; do
	h=$([ "$n" = @ ] && echo example.com || echo $n.example.com)
	echo "$h A"
	echo "$h AAAA"
done >"$W/queries.txt"
sed 's/\.example\.com/.example.com./; s/^example\.com /example.com. /' "$W/queries.txt" \
	>"$W/perf.txt"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj /CN=bench.test -keyout "$W/key.pem" -out "$W/cert.pem" 2>/dev/null
chmod 755 "$W"
chmod 644 "$W"/*

knot_conf() { # $1 = xdp or udp
	bench_knot_conf $SVC@53 example.com "$W/example.com.zone" \
		"$([ "$1" = xdp ] && echo udp tcp)" "zonefile-load: whole"
}

nsd_conf() {
	bench_nsd_conf example.com example.com.zone "ip-address: $SVC@53" "ip-address: $SVC@853" \
		"tls-port: 853" "tls-service-key: \"$W/key.pem\"" "tls-service-pem: \"$W/cert.pem\"" \
		"tcp-count: 512" "verbosity: 0"
}

# start_server NAME WORKER_CPU: port53d's worker (or the whole server) there.
start_server() {
	SPID=
	case $1 in
	port53d | port53d-base)
		local d=$PORT53D
		[ $1 = port53d-base ] && d=$BASE/dp/port53d
		ip netns exec $NS_S "$d" --no-huge -m 512 --no-pci -l "$2" --file-prefix p53tb \
			--vdev net_af_xdp0,iface=$DEV_S,queue_count=1,xdp_prog=$XDPOBJ \
			-- --snapshot "$W/z.p53" --addr $SVC --tcp --tls --tls-cert "$W/cert.pem" \
			--tls-key "$W/key.pem" --rrl-rate 0 --control-socket "$W/ctl.sock" \
			>"$W/$1.log" 2>&1 &
		SPID=$! ;;
	port53-serve)
		ip netns exec $NS_S taskset -c "$2" "$PORT53" serve -s "$W/z.p53" -l $SVC:53 \
			--rrl-rate 0 >"$W/$1.log" 2>&1 &
		SPID=$! ;;
	knot-udp | knot-xdp)
		rm -rf "$W/knot-run" "$W/knot-db"
		mkdir -p "$W/knot-run" "$W/knot-db"
		knot_conf "${1#knot-}" >"$W/knot.conf"
		ip netns exec $NS_S taskset -c "$2" knotd -c "$W/knot.conf" >"$W/$1.log" 2>&1 &
		SPID=$! ;;
	nsd)
		nsd_conf >"$W/nsd.conf"
		ip netns exec $NS_S taskset -c "$2" nsd -d -c "$W/nsd.conf" >"$W/$1.log" 2>&1 &
		SPID=$! ;;
	esac
	PIDS+=("$SPID")
	for _ in $(seq 1 120); do
		kill -0 "$SPID" 2>/dev/null || return 1
		if ip netns exec $NS_C kdig +tcp +retry=0 +timeout=1 @$SVC example.com SOA 2>/dev/null |
			grep -q 'status: NOERROR'; then
			return 0
		fi
		sleep 0.5
	done
	return 1
}

server_pids() { bench_tree_pids "$SPID"; }
# pin NAME CPU: every thread of Knot or NSD on CPU; port53d's transport
# threads (p53-tcp, p53-quic) on CPU, its worker left where EAL put it.
pin() {
	for p in $(server_pids); do
		if [ "${1%-base}" = port53d ]; then
			for t in /proc/"$p"/task/*; do
				case $(cat "$t/comm" 2>/dev/null) in
				p53-tcp* | p53-quic*) taskset -p -c "$2" "${t##*/}" >/dev/null 2>&1 || true ;;
				esac
			done
		else
			taskset -a -p -c "$2" "$p" >/dev/null 2>&1 || true
		fi
	done
}
# On-CPU ns of the answering threads (port53d: the TCP thread only).
answer_cpu_ns() {
	if [ "${1%-base}" = port53d ]; then
		bench_cpu_ns "$SPID" p53-tcp
	else
		bench_cpu_ns "$SPID"
	fi
}
stop_server() { bench_stop_server; }
# perf_start NAME ROUND: samples the answering threads for the TCP run.
perf_start() {
	PERFPID=
	[ -n "$PERF" ] || return 0
	local tids=() p t
	for p in $(server_pids); do
		for t in /proc/"$p"/task/*; do
			if [ "${1%-base}" != port53d ] || [ "$(cat "$t/comm")" = p53-tcp ]; then
				tids+=("${t##*/}")
			fi
		done
	done
	command perf record -q -g -F 2000 -t "$(IFS=,; echo "${tids[*]}")" -o "$OUT/perf-$1-$2.data" \
		>/dev/null 2>&1 &
	PERFPID=$!
}
perf_stop() {
	[ -n "$PERFPID" ] || return 0
	kill -INT "$PERFPID" 2>/dev/null || true
	wait "$PERFPID" 2>/dev/null || true
}

# kxdpgun MODE(udp|tcp) QPS -> "sent answered"
gun() {
	local flag=
	[ "$1" = tcp ] && flag="-T -l 10.53.1.128/25"
	ip netns exec $NS_C taskset -c 0 kxdpgun $flag -t "$DUR" -Q "$2" -F 0 -I $DEV_C -i "$W/queries.txt" $SVC \
		>"$W/gun.out" 2>&1 || true
	ip netns exec $NS_C ip link set dev $DEV_C xdp off 2>/dev/null || true
	cat "$W/gun.out" >>"$OUT/kxdpgun.log"
	local sent recv
	sent=$(awk '/total (queries|SYNs):/ {print $3; exit}' "$W/gun.out")
	recv=$(awk '/total replies:/ {print $3; exit}' "$W/gun.out")
	echo "${sent:-0} ${recv:-0}"
}

# dnsperf MODE(udp|tcp|dot) CLIENTS SECONDS [QPS] -> answered
perf() {
	local port=53 rate=
	[ "$1" = dot ] && port=853
	[ -n "${4:-}" ] && rate="-Q $4"
	ip netns exec $NS_C taskset -c 0 dnsperf -m "$1" -s $SVC -p $port -d "$W/perf.txt" \
		-c "$2" -l "$3" -q 64 $rate >"$W/perf.out" 2>&1 || true
	cat "$W/perf.out" >>"$OUT/dnsperf.log"
	awk '/Queries completed:/ {print $3; exit}' "$W/perf.out"
}

# udp_probe: dnsperf on CPU 0 under SCHED_FIFO (a flood on the same CPU
# cannot starve the probe, only the server can fail it) asks $UDP_QPS
# queries/s over UDP for $DUR s; PROBE = "sent answered p50_ms p99_ms"
# from its per-answer latencies (-v).
udp_probe() {
	ip netns exec $NS_C taskset -c 0 chrt -f 50 dnsperf -m udp -s $SVC -p 53 -d "$W/perf.txt" \
		-c 8 -q 64 -l "$DUR" -Q "$UDP_QPS" -v >"$W/probe.out" 2>&1 || true
	grep -v '^>' "$W/probe.out" >>"$OUT/dnsperf.log"
	PROBE=$(awk '/Queries sent:/ {s=$3} /Queries completed:/ {c=$3} END {print s+0, c+0}' \
		"$W/probe.out")
	PROBE="$PROBE $(awk '/^> / {print $NF * 1000}' "$W/probe.out" | sort -n | awk '
		{v[NR]=$1} END {if (NR) printf "%.3f %.3f", v[int(NR*0.5)+1], v[int(NR*0.99)+1];
		else printf "- -"}')"
}
# worker_metrics NAME: port53d's UDP worker (worker 0) as its control API
# reports it: "answers busy_ns bucket:count,..." (time in the server by
# power-of-two bucket); "-" for other servers.
worker_metrics() {
	if [ "$1" != port53d ]; then echo -; return; fi
	local m i
	for i in 1 2 3 4 5; do
		m=$("$BUILD/tools/port53ctl" -s "$W/ctl.sock" metrics 2>/dev/null) && break
		sleep 0.2
	done
	echo "$m" | awk '
		/^port53_latency_answers_total\{worker="0",le_ns="/ {
			split($1, a, "\""); n += $2; h = h a[4] ":" $2 ","}
		/^port53_busy_ns_total\{worker="0"\}/ {b = $2}
		END {printf "%.0f %.0f %s", n, b, h ? h : "-"}'
}

RES=$OUT/transports.tsv
UDPRES=$OUT/udp.tsv
printf 'round\tserver\tphase\tsent\tanswered\tp50_ms\tp99_ms\tm0\tm1\tflood\tseconds\n' >"$UDPRES"
: >"$OUT/kxdpgun.log"
: >"$OUT/dnsperf.log"
printf 'round\ttest\tserver\tsent\tanswered\tseconds\tanswer_cpu_ns\n' >"$RES"
log "$(nproc) CPUs:$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2); $DUR s per run, $ROUNDS rounds"
for r in $(seq 1 "$ROUNDS"); do
	# (1) TCP and (2) TLS.
	servers="port53d port53-serve knot-udp nsd"
	[ -n "$BASE" ] && servers="port53d-base $servers"
	want tcp || want tls || servers=
	for s in $servers; do
		wcpu=1
		[ "${s%-base}" = port53d ] && wcpu=0
		if ! start_server $s $wcpu; then
			log "$s did not start: $(tail -c 300 "$W/$s.log" | tr '\n' ' ')"
			stop_server
			continue
		fi
		pin $s 1
		if want tcp; then
			perf_start $s "$r"
			c0=$(answer_cpu_ns $s)
			read -r sent ans < <(gun tcp 300000)
			c1=$(answer_cpu_ns $s)
			perf_stop
			printf '%s\ttcp\t%s\t%s\t%s\t%s\t%s\n' "$r" $s "$sent" "$ans" "$DUR" $((c1 - c0)) >>"$RES"
			log "round $r tcp $s: sent $sent answered $ans cpu $(((c1 - c0) / 1000000)) ms"
		fi
		if want tls && [ $s != knot-udp ] && [ $s != port53-serve ]; then
			c0=$(answer_cpu_ns $s)
			ans=$(perf dot 8 "$DUR")
			c1=$(answer_cpu_ns $s)
			printf '%s\ttls\t%s\t-\t%s\t%s\t%s\n' "$r" $s "${ans:-0}" "$DUR" $((c1 - c0)) >>"$RES"
			log "round $r tls $s: answered ${ans:-0} cpu $(((c1 - c0) / 1000000)) ms"
		fi
		stop_server
	done
	# (3) What a TCP or TLS flood costs UDP answering (see the header).
	want udp || continue
	for s in port53d knot-xdp; do
		if ! start_server $s 1; then
			log "$s did not start: $(tail -c 300 "$W/$s.log" | tr '\n' ' ')"
			stop_server
			continue
		fi
		[ $s = port53d ] && pin $s 0 || pin $s 1
		phases="alone tcpflood"
		[ $s = port53d ] && phases="alone tcpflood tlsflood"
		for phase in $phases; do
			FPID= fl=
			case $phase in
			tcpflood)
				ip netns exec $NS_C nice -n 19 taskset -c 0 kxdpgun -T -l 10.53.1.128/25 \
					-t $((DUR + 2)) -Q 200000 -F 0 -I $DEV_C -i "$W/queries.txt" $SVC \
					>"$W/flood.out" 2>&1 &
				FPID=$! ;;
			tlsflood)
				ip netns exec $NS_C nice -n 19 taskset -c 0 dnsperf -m dot -s $SVC -p 853 \
					-d "$W/perf.txt" -c 64 -q 512 -l $((DUR + 2)) >"$W/flood.out" 2>&1 &
				FPID=$! ;;
			esac
			[ -n "$FPID" ] && { PIDS+=("$FPID"); sleep 1; }
			m0=$(worker_metrics $s)
			udp_probe
			m1=$(worker_metrics $s)
			if [ -n "$FPID" ]; then
				wait "$FPID" 2>/dev/null || true
				ip netns exec $NS_C ip link set dev $DEV_C xdp off 2>/dev/null || true
				cat "$W/flood.out" >>"$OUT/flood.log"
				fl=$(awk '/total replies:/ {print $3; exit} /Queries completed:/ {print $3; exit}' \
					"$W/flood.out")
			fi
			printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" $s $phase \
				"$(echo $PROBE | tr ' ' '\t')" "$m0" "$m1" \
				"${fl:-0}" "$DUR" >>"$UDPRES"
			log "round $r udp $s $phase: sent/answered/p50/p99 ms $PROBE; flood answers ${fl:-0}"
		done
		stop_server
	done
done

/usr/bin/python3 - "$RES" <<-'EOF'
	import collections, statistics, sys
	rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])][1:]
	by = collections.defaultdict(list)
	for r, test, server, sent, ans, secs, cpu in rows:
	    udp = test.startswith("udp_")
	    by[(test, server)].append((float(ans) / float(secs),
	                               float(cpu) if cpu != "-" and not udp else None, float(ans),
	                               float(cpu) * 1000 if udp else None))
	print("%-14s %-10s %12s %14s %12s" % ("test", "server", "answers/s", "answers/cpu-s",
	                                      "latency ms"))
	for (test, server), v in sorted(by.items()):
	    rate = statistics.median(x[0] for x in v)
	    cps = [x[2] / (x[1] / 1e9) for x in v if x[1]]
	    lat = [x[3] for x in v if x[3] is not None]
	    print("%-14s %-10s %12.0f %14s %12s" % (test, server, rate,
	                                            "%.0f" % statistics.median(cps) if cps else "-",
	                                            "%.2f" % statistics.median(lat) if lat else "-"))
EOF

[ "$(wc -l <"$UDPRES")" -gt 1 ] || exit 0
/usr/bin/python3 - "$UDPRES" <<-'EOF'
	import collections, statistics, sys
	rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])][1:]
	by = collections.defaultdict(list)
	def hist(m):
	    f = m.split(" ")
	    h = {}
	    if len(f) == 3 and f[2] != "-":
	        for kv in f[2].strip(",").split(","):
	            k, v = kv.split(":")
	            h[int(k)] = int(v)
	    return (int(f[0]), int(f[1]), h) if len(f) == 3 else None
	def pct(h, q):
	    n = sum(h.values())
	    acc = 0
	    for k in sorted(h):
	        acc += h[k]
	        if n and acc >= q * n:
	            return k / 1000.0
	    return float("nan")
	for r, server, phase, sent, ans, p50, p99, m0, m1, flood, secs in rows:
	    a, b = hist(m0), hist(m1)
	    srv = None
	    if a and b:
	        d = {k: b[2].get(k, 0) - a[2].get(k, 0) for k in b[2]}
	        srv = ((b[1] - a[1]) / 1e9 / float(secs), pct(d, 0.5), pct(d, 0.99))
	    by[(server, phase)].append((float(ans) / max(float(sent), 1), float(sent) / float(secs),
	                                float(p50) if p50 != "-" else float("nan"),
	                                float(p99) if p99 != "-" else float("nan"),
	                                float(flood) / (float(secs) + 2), srv))
	print("%-9s %-9s %10s %9s %8s %8s %11s %11s %20s" % (
	    "server", "phase", "UDP sent/s", "answered", "p50 ms", "p99 ms", "flood ans/s",
	    "worker busy", "in-server p50/p99 us"))
	med = statistics.median
	for (server, phase), v in sorted(by.items()):
	    srv = [x[5] for x in v if x[5]]
	    print("%-9s %-9s %10.0f %8.2f%% %8.3f %8.3f %11.0f %11s %20s" % (
	        server, phase, med(x[1] for x in v), 100 * med(x[0] for x in v),
	        med(x[2] for x in v), med(x[3] for x in v), med(x[4] for x in v),
	        "%.1f%%" % (100 * med(x[0] for x in srv)) if srv else "-",
	        "<%g/<%g" % (med(x[1] for x in srv), med(x[2] for x in srv)) if srv else "-"))
EOF
