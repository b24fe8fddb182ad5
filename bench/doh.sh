#!/bin/bash
# DNS over HTTPS beside DNS over TLS and TCP on `port53 serve`, one run
# (docs/transports.md, "DNS over HTTPS: what it costs").
#
# dnsperf (closed loop: -c connections, -q queries in flight) asks the same
# names over TCP, TLS (-m dot), and HTTP/2 with GET and POST (-m doh,
# nghttp2 in dnsperf: a client independent of the server) against one
# `port53 serve` on loopback. The server is pinned to CPU 1 and dnsperf to
# CPU 0; its TCP thread's on-CPU time gives answers per CPU-second, the
# figure that does not depend on what the generator managed. Rounds are
# interleaved (tcp, dot, doh-get, doh-post, tcp, ...); medians printed.
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
for t in dnsperf openssl taskset "$P53"; do
	command -v "$t" >/dev/null || { echo "doh.sh: $t missing" >&2; exit 77; }
done
W=$(mktemp -d /tmp/p53doh-bench.XXXXXX)
SPID=
cleanup() {
	[ -n "$SPID" ] && kill "$SPID" 2>/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT

"$P53" compile -o "$W/z.p53" example.com=tests/zones/example.com.zone >/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj /CN=bench.test -keyout "$W/k.pem" -out "$W/c.pem" 2>/dev/null
for n in www mail ns1 ns2 api blog ftp nope; do
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

# On-CPU time (ticks) of the thread that serves TCP, TLS and HTTPS.
tcp_ticks() {
	local t best=0 v
	for t in /proc/$SPID/task/*; do
		v=$(awk '{print $14 + $15}' "$t/stat")
		# The UDP thread is idle here: the busiest thread is the TCP one.
		[ "$v" -gt "$best" ] && best=$v
	done
	echo "$best"
}

run_mode() {
	local mode=$1 args
	case $mode in
	tcp) args=(-m tcp -p $PORT) ;;
	dot) args=(-m dot -p $((PORT + 1))) ;;
	doh-get) args=(-m doh -p $((PORT + 2)) -O doh-method=GET
		-O doh-uri=https://127.0.0.1:$((PORT + 2))/dns-query) ;;
	doh-post) args=(-m doh -p $((PORT + 2)) -O doh-method=POST
		-O doh-uri=https://127.0.0.1:$((PORT + 2))/dns-query) ;;
	esac
	local t0 t1 out qps
	t0=$(tcp_ticks)
	out=$(taskset -c 0 dnsperf -s 127.0.0.1 "${args[@]}" -d "$W/queries" -c "$CONNS" \
		-q "$INFLIGHT" -l "$SECS" 2>&1)
	t1=$(tcp_ticks)
	qps=$(echo "$out" | awk '/Queries per second/ {print $4}')
	local lost
	lost=$(echo "$out" | awk '/Queries lost/ {print $3}')
	local hz
	hz=$(getconf CLK_TCK)
	awk -v m="$mode" -v q="$qps" -v l="$lost" -v s="$SECS" -v d=$((t1 - t0)) -v hz="$hz" \
		'BEGIN { cpu = d / hz; printf "%s\t%s\t%s\t%.2f\t%.0f\n", m, q, l, cpu,
			(cpu > 0 ? q * s / cpu : 0) }'
}

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
printf "mode\tq/s\tlost\tcpu_s\tanswers/cpu_s\n"
: >"$W/rows"
for r in $(seq "$ROUNDS"); do
	for m in tcp dot doh-get doh-post; do
		run_mode "$m" | tee -a "$W/rows"
	done
done
echo "--- medians over $ROUNDS rounds"
for m in tcp dot doh-get doh-post; do
	q=$(awk -F'\t' -v m="$m" '$1 == m {print $2}' "$W/rows" | sort -g | awk '{v[NR] = $1}
		END {print v[int((NR + 1) / 2)]}')
	a=$(awk -F'\t' -v m="$m" '$1 == m {print $5}' "$W/rows" | sort -g | awk '{v[NR] = $1}
		END {print v[int((NR + 1) / 2)]}')
	printf "%s\tq/s %.0f\tanswers/cpu_s %s\n" "$m" "$q" "$a"
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
