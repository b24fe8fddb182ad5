#!/bin/bash
# DNSSEC costs in one run (docs/dnssec.md, docs/benchmarks.md), side by side
# with Knot DNS signing the same zone with the same algorithm:
#
#   engine, one core   the answer engine alone (bench/dnssec.c) on the Route
#                      53 test zone: static DO=0 vs DO=1, a geolocation policy
#                      answer signed online with a warm and a cold signature
#                      cache, compact NXDOMAIN (a new name each time), and
#                      signatures/s per core for algorithms 8, 13 and 15;
#   signing, RECORDS   tools/gen-zone.py's zone compiled unsigned and signed
#                      (a CSK of ALG, NSEC chain) on every core; wall and CPU
#                      seconds; Knot DNS loading the same file unsigned and
#                      with automatic signing (dnssec-signing: on, the same
#                      algorithm, a CSK, NSEC, signing-threads = cores): time
#                      until it answers, and until the SOA carries an RRSIG;
#   memory             RSS and PSS of `port53 serve` holding the signed and
#                      unsigned snapshots, the snapshot bytes, Knot's PSS with
#                      the signed zone; bytes per record;
#   answers/s          dnsperf (CPU 0) against `port53 serve` and knotd (one
#                      UDP worker, every thread on CPU 1), on loopback, A
#                      queries for names of the zone, DO=0 then DO=1; the
#                      server's on-CPU seconds give answers per CPU-second.
#
# Writes dnssec.tsv and, with gnuplot, dnssec.png into OUTDIR. Loopback only,
# no root needed; every process it starts is stopped on exit.
#
# usage: bench/dnssec.sh [-b BUILD] [-o OUTDIR] [-s RECORDS] [-a 13|15|8]
#                        [-r ROUNDS] [-t SECONDS] [-T "THREADS..."] [-K]
#   -r  engine rounds (best of); -t  seconds per dnsperf run; -T  also
#   compile with these --sign-threads counts (scaling); -K  skip Knot.
#   The old form `bench/dnssec.sh BUILD [ROUNDS]` runs the engine part only.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${P53_BUILD:-$SRC/build}
OUT=/tmp/p53dnssec
RECORDS=1000000
ALG=13
ROUNDS=5
DUR=5
THREADS=""
KNOT=1
ENGINE_ONLY=0
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
	BUILD=$1
	ROUNDS=${2:-5}
	ENGINE_ONLY=1
	set --
fi
while [ $# -gt 0 ]; do
	case "$1" in
	-b) BUILD=$2; shift 2 ;;
	-o) OUT=$2; shift 2 ;;
	-s) RECORDS=$2; shift 2 ;;
	-a) ALG=$2; shift 2 ;;
	-r) ROUNDS=$2; shift 2 ;;
	-t) DUR=$2; shift 2 ;;
	-T) THREADS=$2; shift 2 ;;
	-K) KNOT=0; shift ;;
	*) sed -n '2,31p' "$0"; exit 2 ;;
	esac
done
KSIZE=""
case $ALG in
13) KALG=ecdsap256sha256 ;;
15) KALG=ed25519 ;;
8) KALG=rsasha256 KSIZE="    ksk-size: 2048
    zsk-size: 2048" ;;
*) echo "dnssec.sh: -a 13, 15 or 8" >&2; exit 2 ;;
esac
P=$BUILD/tools/port53
[ -x "$P" ] || { echo "dnssec.sh: $P not built" >&2; exit 1; }
[ -x "$BUILD/bench/p53-bench-dnssec" ] || { echo "dnssec.sh: p53-bench-dnssec not built" >&2; exit 1; }
mkdir -p "$OUT"
W=$(mktemp -d /tmp/p53-bench-dnssec.XXXXXX)
SPID=
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$W"
}
trap cleanup EXIT
. "$SRC/bench/lib.sh"
NCPU=$(nproc)
load() { cut -d' ' -f1-3 /proc/loadavg; }
TSV=$OUT/dnssec.tsv
printf 'part\tcase\tvalue\tunit\tnote\n' >"$TSV"
row() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$TSV"; }
echo "load average at start: $(load)"

# ---- engine, one core ---------------------------------------------------------
mkdir "$W/k8" "$W/k13" "$W/k15"
"$P" dnssec-keygen -K "$W/k13" example.com >/dev/null
"$P" dnssec-keygen -K "$W/k15" --ksk -a 15 example.com >/dev/null
"$P" dnssec-keygen -K "$W/k15" --zsk -a 15 example.com >/dev/null
"$P" dnssec-keygen -K "$W/k8" -a 8 -b 2048 example.com >/dev/null
Z="example.com=$SRC/tests/e2e/r53/example.json"
G="$SRC/tests/e2e/r53/geo.csv"
"$P" compile --quiet --dnssec-keys "$W/k13" --geo "$G" -o "$W/chain.p53" "$Z"
"$P" compile --quiet --dnssec-keys "$W/k15" --compact-denial example.com --geo "$G" \
	-o "$W/compact.p53" "$Z"
"$P" compile --quiet --dnssec-keys "$W/k8" --geo "$G" -o "$W/rsa.p53" "$Z"
taskset -c $((NCPU - 1)) "$BUILD/bench/p53-bench-dnssec" "$W/chain.p53" "$W/k13" \
	"$W/compact.p53" "$W/k15" "$ROUNDS" "$W/rsa.p53" "$W/k8" >"$W/engine.tsv"
while IFS=$'\t' read -r c v ratio; do
	row engine "$c" "$v" "per s, one core" "$ratio"
done <"$W/engine.tsv"
echo "engine part done; load average: $(load)"
if [ $ENGINE_ONLY = 1 ]; then
	column -t -s $'\t' "$TSV"
	exit 0
fi

# ---- signing a large zone -----------------------------------------------------
for t in dnsperf kdig taskset; do
	command -v $t >/dev/null || { echo "dnssec.sh: $t not installed" >&2; exit 1; }
done
if [ $KNOT = 1 ] && ! command -v knotd >/dev/null; then
	echo "dnssec.sh: knotd not installed (-K to skip Knot)" >&2
	exit 1
fi
zone=$OUT/z$RECORDS.zone
[ -s "$zone" ] || /usr/bin/python3 "$SRC/tools/gen-zone.py" "$RECORDS" -o "$zone" 2>/dev/null
cp "$zone" "$W/bench.test.zone"
mkdir "$W/kz"
kargs=()
[ "$ALG" = 8 ] && kargs=(-b 2048)
"$P" dnssec-keygen -K "$W/kz" -a "$ALG" "${kargs[@]}" bench.test >/dev/null

# timed LABEL CMD...: runs CMD, adds wall and CPU seconds (user+sys, all
# threads) and its peak RSS to the table; prints "wall cpu".
timed() {
	local label=$1 wall cpu rss
	shift
	/usr/bin/time -f "%e %U %S %M" -o "$W/time" "$@"
	read -r wall u s rss <"$W/time"
	cpu=$(echo "$u + $s" | bc)
	row signing "$label wall" "$wall" s ""
	row signing "$label cpu" "$cpu" s "peak RSS ${rss} kB"
	echo "$wall $cpu"
}
read -r uw uc < <(timed "port53 compile unsigned" "$P" compile --quiet -o "$W/plain.p53" \
	bench.test="$zone")
read -r sw sc < <(timed "port53 compile signed alg $ALG" "$P" compile --quiet \
	--dnssec-keys "$W/kz" -o "$W/signed.p53" bench.test="$zone")
row signing "port53 signing alone (signed - unsigned)" "$(echo "$sw - $uw" | bc)" s \
	"cpu $(echo "$sc - $uc" | bc) s; $NCPU threads"
for t in $THREADS; do
	timed "port53 compile signed alg $ALG, --sign-threads $t" "$P" compile --quiet \
		--sign-threads "$t" --dnssec-keys "$W/kz" -o "$W/signed-t$t.p53" \
		bench.test="$zone" >/dev/null
	rm -f "$W/signed-t$t.p53"
done
echo "port53 compiles done; load average: $(load)"

PORT=$((20000 + RANDOM % 20000))
# ready_wait PID DIG-ARGS... PATTERN: seconds until kdig's output matches.
ready_wait() {
	local pid=$1 pat=${*: -1} t0
	t0=$(date +%s.%N)
	for _ in $(seq 1 2400); do
		kill -0 "$pid" 2>/dev/null || { echo -; return; }
		if kdig +retry=0 +timeout=1 @127.0.0.1 -p $PORT "${@:2:$#-2}" 2>/dev/null | grep -q "$pat"; then
			echo "$(date +%s.%N) - $t0" | bc
			return
		fi
		sleep 0.25
	done
	echo -
}
rss_kb() { awk '/^VmRSS:/ {print $2}' /proc/"$1"/status; }
# CPU seconds (user + system) of PID so far, threads that have exited
# included (knotd's signing threads are gone once the zone is signed).
proc_cpu_s() {
	local t
	t=$(sed 's/.*) //' /proc/"$1"/stat | awk '{print $12 + $13}')
	echo "scale=2; $t / $(getconf CLK_TCK)" | bc
}
stop_pid() {
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# The query list: A records of the zone's hosts (names that exist).
# (awk stops itself: head would end the pipe early and, with pipefail, the script.)
awk '$2 == "A" && $1 ~ /^h/ && n++ < 200000 {print $1 ".bench.test. A"}' "$zone" >"$W/queries"

# perf LABEL PID: dnsperf DO=0 then DO=1 against the server on $PORT.
perf() {
	local label=$1 pid=$2 do c0 c1 qps done_ cpu
	for do in 0 1; do
		flag=()
		[ $do = 1 ] && flag=(-D)
		c0=$(bench_cpu_ns "$pid")
		taskset -c 0 dnsperf -s 127.0.0.1 -p $PORT -d "$W/queries" -l "$DUR" -c 1 -q 64 \
			"${flag[@]}" >"$W/perf.out" 2>&1 || true
		c1=$(bench_cpu_ns "$pid")
		qps=$(awk '/Queries per second/ {print $4}' "$W/perf.out")
		done_=$(awk '/Queries completed/ {print $3}' "$W/perf.out")
		cpu=$(echo "scale=3; ($c1 - $c0) / 1000000000" | bc)
		row answers "$label DO=$do" "${qps:-0}" "answers/s" \
			"$(echo "scale=0; ${done_:-0} / ($cpu + 0.001)" | bc) per server CPU-s"
	done
}

# port53 serve: the signed snapshot with its key (online signing on).
for snap in signed plain; do
	args=()
	[ $snap = signed ] && args=(--dnssec-keys "$W/kz")
	taskset -c 1 "$P" serve -s "$W/$snap.p53" -l 127.0.0.1:$PORT --rrl-rate 0 "${args[@]}" \
		>"$W/serve.log" 2>&1 &
	SPID=$!
	PIDS+=($SPID)
	r=$(ready_wait $SPID bench.test SOA 'status: NOERROR')
	sleep 1
	pss=$(bench_pss_kb $SPID)
	rss=$(rss_kb $SPID)
	bytes=$(stat -c %s "$W/$snap.p53")
	row memory "port53 serve $snap PSS" "$pss" kB "$((pss * 1024 / RECORDS)) B/record; ready in $r s"
	row memory "port53 serve $snap RSS" "$rss" kB "$((rss * 1024 / RECORDS)) B/record"
	row memory "port53 snapshot $snap" "$bytes" bytes "$((bytes / RECORDS)) B/record"
	[ $snap = signed ] && perf "port53 serve" $SPID
	stop_pid $SPID
done
echo "port53 serve done; load average: $(load)"

# ---- Knot DNS -------------------------------------------------------------------
knot_conf() { # knot_conf SIGNING(on|off)
	cat <<-EOF
		server:
		    rundir: "$W/knot-run"
		    user: root:root
		    listen: 127.0.0.1@$PORT
		    udp-workers: 1
		    tcp-workers: 1
		    background-workers: $NCPU
		database:
		    storage: "$W/knot-db"
		log:
		  - target: stderr
		    any: warning
		policy:
		  - id: bench
		    algorithm: $KALG
		$KSIZE
		    single-type-signing: on
		    nsec3: off
		    signing-threads: $NCPU
		    rrsig-lifetime: 14d
		    rrsig-refresh: 7d
		template:
		  - id: default
		    storage: "$W"
		    zonefile-sync: -1
		    zonefile-load: whole
		    journal-content: none
		    semantic-checks: off
		    dnssec-signing: $1
		    dnssec-policy: bench
		zone:
		  - domain: bench.test
		    file: "$W/bench.test.zone"
	EOF
}
if [ $KNOT = 1 ]; then
	for signing in off on; do
		rm -rf "$W/knot-run" "$W/knot-db"
		mkdir -p "$W/knot-run" "$W/knot-db"
		knot_conf $signing >"$W/knot.conf"
		knotd -c "$W/knot.conf" >"$W/knot.log" 2>&1 &
		SPID=$!
		PIDS+=($SPID)
		if [ $signing = on ]; then
			r=$(ready_wait $SPID +dnssec bench.test SOA 'RRSIG')
		else
			r=$(ready_wait $SPID bench.test SOA 'status: NOERROR')
		fi
		cpu=$(proc_cpu_s $SPID)
		row signing "knotd load, signing $signing (to first answer)" "$r" s "cpu $cpu s"
		[ "$r" = - ] && { tail -5 "$W/knot.log" >&2; stop_pid $SPID; continue; }
		if [ $signing = on ]; then
			kw=$r
			sleep 1
			pss=$(bench_pss_kb $SPID)
			row memory "knotd signed PSS" "$pss" kB "$((pss * 1024 / RECORDS)) B/record"
			taskset -a -p -c 1 $SPID >/dev/null
			perf "knotd" $SPID
		else
			kuw=$r
		fi
		stop_pid $SPID
	done
	[ -n "${kw:-}" ] && [ -n "${kuw:-}" ] &&
		row signing "knotd signing alone (signed - unsigned)" "$(echo "$kw - $kuw" | bc)" s ""
fi
echo "load average at end: $(load)"
column -t -s $'\t' "$TSV"

if command -v gnuplot >/dev/null; then
	/usr/bin/python3 - "$TSV" "$W/ans.dat" "$W/sign.dat" <<-'EOF'
		import csv, sys
		rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
		def val(part, case):
		    for r in rows:
		        if r["part"] == part and r["case"] == case:
		            try:
		                return float(r["value"])
		            except ValueError:
		                return float("nan")
		    return float("nan")
		with open(sys.argv[2], "w") as f:
		    f.write("server DO=0 DO=1\n")
		    for s in ("port53 serve", "knotd"):
		        f.write('"%s" %f %f\n' % (s, val("answers", s + " DO=0") / 1e3,
		                                  val("answers", s + " DO=1") / 1e3))
		with open(sys.argv[3], "w") as f:
		    f.write("server unsigned signed\n")
		    ps = [r["case"] for r in rows if r["case"].startswith("port53 compile signed") and r["case"].endswith("wall")]
		    f.write('"port53 compile" %f %f\n' % (val("signing", "port53 compile unsigned wall"),
		                                         val("signing", ps[0]) if ps else float("nan")))
		    f.write('"knotd load" %f %f\n' % (val("signing", "knotd load, signing off (to first answer)"),
		                                     val("signing", "knotd load, signing on (to first answer)")))
	EOF
	gnuplot <<-EOF
		set terminal pngcairo size 1100,460 noenhanced
		set output "$OUT/dnssec.png"
		set multiplot layout 1,2 title "DNSSEC, $RECORDS records, algorithm $ALG (load average $(load))"
		set style data histograms
		set style histogram clustered gap 1
		set style fill solid 0.85 border -1
		set key top right
		set yrange [0:*]
		set title "answers/s, one server core, loopback UDP (thousands)"
		plot "$W/ans.dat" using 2:xtic(1) title columnheader(2), '' using 3 title columnheader(3)
		set title "seconds from zone file to serving"
		plot "$W/sign.dat" using 2:xtic(1) title columnheader(2), '' using 3 title columnheader(3)
		unset multiplot
	EOF
	echo "plot: $OUT/dnssec.png"
fi
