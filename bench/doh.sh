#!/bin/bash
# DNS over HTTPS beside DNS over TLS and TCP on `port53 serve`, and the
# same on Debian's Unbound 1.17 (built with libnghttp2: https-port) answering
# the same names from local-data, one run (docs/transports.md).
#
# dnsperf (closed loop: -c connections, -q queries in flight) asks the same
# names over TCP, TLS (-m dot), and HTTP/2 with GET and POST (-m doh,
# nghttp2 in dnsperf: a client independent of both servers) on loopback.
# Each server is pinned to CPU 1 and dnsperf to CPU 0; the on-CPU time of
# the server's busiest thread (port53: its TCP thread; Unbound: its one
# thread) gives answers per CPU-second, the figure that does not depend on
# what the generator managed. Rounds are interleaved (each mode on port53,
# then on Unbound, then the next round); medians and port53/Unbound printed.
#
# usage: bench/doh.sh [-b BUILD] [-t SECONDS] [-r ROUNDS] [-c CONNS] [-q INFLIGHT]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=build
SECS=5
ROUNDS=3
CONNS=4
INFLIGHT=64
while getopts b:t:r:c:q: o; do
	case $o in
	b) BUILD=$OPTARG ;;
	t) SECS=$OPTARG ;;
	r) ROUNDS=$OPTARG ;;
	c) CONNS=$OPTARG ;;
	q) INFLIGHT=$OPTARG ;;
	*) exit 2 ;;
	esac
done
P53=$BUILD/tools/port53
for t in dnsperf openssl taskset unbound ss "$P53"; do
	command -v "$t" >/dev/null || { echo "doh.sh: $t missing" >&2; exit 77; }
done
W=$(mktemp -d /tmp/p53doh-bench.XXXXXX)
SPID=
UPID=
cleanup() {
	[ -n "$SPID" ] && kill "$SPID" 2>/dev/null || true
	[ -n "$UPID" ] && kill "$UPID" 2>/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT

"$P53" compile -o "$W/z.p53" example.com=tests/zones/example.com.zone >/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj /CN=bench.test -keyout "$W/k.pem" -out "$W/c.pem" 2>/dev/null
for n in www mail ns1 ns2 api nope; do
	echo "$n.example.com A"
	echo "$n.example.com AAAA"
done >"$W/queries"
PORT=$((20000 + RANDOM % 20000))
taskset -c 1 "$P53" serve -s "$W/z.p53" -l 127.0.0.1:$PORT --rrl-rate 0 --cookies off \
	--tls-listen 127.0.0.1:$((PORT + 1)) --doh-listen 127.0.0.1:$((PORT + 2)) \
	--tls-cert "$W/c.pem" --tls-key "$W/k.pem" --tcp-max-conns 1024 --tcp-per-source 1024 \
	>"$W/serve.log" 2>&1 &
SPID=$!
for _ in $(seq 50); do
	grep -q "(doh)" "$W/serve.log" && break
	sleep 0.1
done

UPORT=$((PORT + 10))
cat >"$W/unbound.conf" <<EOF
server:
    interface: 127.0.0.1@$UPORT
    interface: 127.0.0.1@$((UPORT + 1))
    interface: 127.0.0.1@$((UPORT + 2))
    tls-port: $((UPORT + 1))
    https-port: $((UPORT + 2))
    tls-service-key: "$W/k.pem"
    tls-service-pem: "$W/c.pem"
    http-endpoint: "/dns-query"
    num-threads: 1
    incoming-num-tcp: 1024
    do-ip6: no
    username: ""
    chroot: ""
    directory: "$W"
    pidfile: "$W/unbound.pid"
    use-syslog: no
    logfile: ""
    verbosity: 0
    access-control: 127.0.0.0/8 allow
    ratelimit: 0
    ip-ratelimit: 0
    local-zone: "example.com." static
    local-data: "example.com. 3600 IN SOA ns1.example.com. hostmaster.example.com. 2024010101 7200 3600 1209600 300"
    local-data: "www.example.com. 3600 IN A 192.0.2.10"
    local-data: "www.example.com. 3600 IN AAAA 2001:db8::10"
    local-data: "mail.example.com. 3600 IN A 192.0.2.25"
    local-data: "mail.example.com. 3600 IN AAAA 2001:db8::25"
    local-data: "ns1.example.com. 3600 IN A 192.0.2.1"
    local-data: "ns1.example.com. 3600 IN AAAA 2001:db8::1"
    local-data: "ns2.example.com. 3600 IN A 192.0.2.2"
    local-data: "ns2.example.com. 3600 IN AAAA 2001:db8::2"
    local-data: "api.example.com. 300 IN A 192.0.2.30"
    local-data: "api.example.com. 300 IN A 192.0.2.31"
remote-control:
    control-enable: no
EOF
taskset -c 1 unbound -d -c "$W/unbound.conf" >"$W/unbound.log" 2>&1 &
UPID=$!
for _ in $(seq 50); do
	ss -ltn | grep -q "127.0.0.1:$((UPORT + 2)) " && break
	sleep 0.1
done

# On-CPU time (ticks) of the busiest thread of process $1: port53's TCP
# thread (its UDP thread is idle here), Unbound's only thread.
busy_ticks() {
	local t best=0 v
	for t in /proc/$1/task/*; do
		v=$(awk '{print $14 + $15}' "$t/stat")
		[ "$v" -gt "$best" ] && best=$v
	done
	echo "$best"
}

# run_mode SERVER MODE: one dnsperf run; prints a row.
run_mode() {
	local srv=$1 mode=$2 args p pid
	if [ "$srv" = port53 ]; then p=$PORT pid=$SPID; else p=$UPORT pid=$UPID; fi
	case $mode in
	tcp) args=(-m tcp -p $p) ;;
	dot) args=(-m dot -p $((p + 1))) ;;
	doh-get) args=(-m doh -p $((p + 2)) -O doh-method=GET
		-O doh-uri=https://127.0.0.1:$((p + 2))/dns-query) ;;
	doh-post) args=(-m doh -p $((p + 2)) -O doh-method=POST
		-O doh-uri=https://127.0.0.1:$((p + 2))/dns-query) ;;
	esac
	local t0 t1 out qps
	t0=$(busy_ticks "$pid")
	out=$(taskset -c 0 dnsperf -s 127.0.0.1 "${args[@]}" -d "$W/queries" -c "$CONNS" \
		-q "$INFLIGHT" -l "$SECS" 2>&1)
	t1=$(busy_ticks "$pid")
	qps=$(echo "$out" | awk '/Queries per second/ {print $4}')
	local lost
	lost=$(echo "$out" | awk '/Queries lost/ {print $3}')
	local hz
	hz=$(getconf CLK_TCK)
	awk -v m="$srv/$mode" -v q="$qps" -v l="$lost" -v s="$SECS" -v d=$((t1 - t0)) -v hz="$hz" \
		'BEGIN { cpu = d / hz; printf "%s\t%s\t%s\t%.2f\t%.0f\n", m, q, l, cpu,
			(cpu > 0 ? q * s / cpu : 0) }'
}

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
printf "server/mode\tq/s\tlost\tcpu_s\tanswers/cpu_s\n"
: >"$W/rows"
for r in $(seq "$ROUNDS"); do
	for m in tcp dot doh-get doh-post; do
		run_mode port53 "$m" | tee -a "$W/rows"
		run_mode unbound "$m" | tee -a "$W/rows"
	done
done
median() { # ROW-KEY COLUMN
	awk -F'\t' -v m="$1" -v c="$2" '$1 == m {print $c}' "$W/rows" | sort -g |
		awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'
}
echo "--- medians over $ROUNDS rounds"
printf "mode\tport53 q/s\tunbound q/s\tport53 ans/cpu_s\tunbound ans/cpu_s\tratio (ans/cpu_s)\n"
for m in tcp dot doh-get doh-post; do
	pq=$(median "port53/$m" 2) uq=$(median "unbound/$m" 2)
	pa=$(median "port53/$m" 5) ua=$(median "unbound/$m" 5)
	awk -v m="$m" -v pq="$pq" -v uq="$uq" -v pa="$pa" -v ua="$ua" 'BEGIN {
		printf "%s\t%.0f\t%.0f\t%.0f\t%.0f\t%.2f\n", m, pq, uq, pa, ua, (ua > 0 ? pa / ua : 0) }'
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
