#!/bin/bash
# Runs every benchmark once on a tiny input so none of them can rot: the
# query generator (each preset, pcap and list, same seed gives same bytes),
# the replay benchmark through bench/replay.sh (engine and dp paths, answers
# compared with a running `port53 serve`), the Google Benchmark
# micro-benchmarks (when built), the abuse-controls benchmark and a syntax check of the side-by-side script
# (which needs root, namespaces and minutes, so CI does not run it).
#
# usage: tests/e2e/test_bench_smoke.sh [BUILD_DIR]     (or P53_BUILD=...)
# Builds nothing. Exit 0 on success, 1 on the first failure.
set -uo pipefail

SRC=${P53_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${1:-${P53_BUILD:-$SRC/build}}
BUILD=$(cd "$BUILD" && pwd) || { echo "bench-smoke: no build dir" >&2; exit 1; }
W=$(mktemp -d /tmp/p53-bench-smoke.XXXXXX)
trap 'rm -rf "$W"' EXIT

fail() {
	echo "bench-smoke: FAIL: $*" >&2
	exit 1
}
step() { echo "bench-smoke: $*"; }

QGEN=$BUILD/pcap/p53-querygen
MICRO=$BUILD/bench/p53-bench-micro
[ -x "$QGEN" ] || fail "$QGEN not built"
[ -x "$BUILD/bench/p53-bench-replay" ] || fail "p53-bench-replay not built"

step "gen-zone"
/usr/bin/python3 "$SRC/tools/gen-zone.py" 300 -o "$W/z300.zone" 2>/dev/null || fail "gen-zone.py"

step "querygen: every preset"
presets=$("$QGEN" --list-presets | awk '{print $1}')
[ -n "$presets" ] || fail "no presets"
for p in $presets; do
	"$QGEN" -p "$p" -n 200 -s 7 -o "$W/$p.pcap" -l "$W/$p.txt" bench.test="$W/z300.zone" \
		2>/dev/null || fail "querygen -p $p"
	[ "$(wc -l <"$W/$p.txt")" = 200 ] || fail "querygen -p $p: list has not 200 lines"
done
"$QGEN" -n 200 -s 7 -o "$W/again.pcap" --vlan 5 bench.test="$W/z300.zone" 2>/dev/null &&
	"$QGEN" -n 200 -s 7 -o "$W/again2.pcap" --vlan 5 bench.test="$W/z300.zone" 2>/dev/null ||
	fail "querygen --vlan"
cmp -s "$W/again.pcap" "$W/again2.pcap" || fail "querygen: same seed, different bytes"
cmp -s "$W/default.pcap" "$W/again.pcap" && fail "querygen: --vlan changed nothing"

step "replay (engine + dp paths, verified against port53 serve)"
"$SRC/bench/replay.sh" -b "$BUILD" -o "$W/replay" -s 300 -p "default water-torture" -n 300 \
	-t 0 --verify >"$W/replay.out" 2>&1 || { cat "$W/replay.out"; fail "replay.sh"; }
[ "$(grep -c $'^300\t' "$W/replay/replay.tsv")" = 4 ] || { cat "$W/replay.out"; fail "replay.tsv"; }

if [ -x "$MICRO" ]; then
	step "micro-benchmarks (one short run each)"
	"$MICRO" --benchmark_min_time=0.001 --benchmark_filter='-BM_Lookup/1000000' \
		>"$W/micro.out" 2>&1 || { cat "$W/micro.out"; fail "p53-bench-micro"; }
	grep -q 'ERROR OCCURRED' "$W/micro.out" && { cat "$W/micro.out"; fail "micro: a benchmark errored"; }
	grep -q 'BM_Answer/0/1' "$W/micro.out" || fail "micro: BM_Answer missing"
	grep -q 'BM_DpAnswer' "$W/micro.out" || fail "micro: BM_DpAnswer missing"
else
	step "micro-benchmarks not built (no Google Benchmark): skipped"
fi

step "abuse controls (engine, rrl, cookies, dp, dp+rrl in one run)"
"$BUILD/tools/port53" compile -o "$W/z300.p53" bench.test="$W/z300.zone" >/dev/null 2>&1 ||
	fail "port53 compile z300"
"$BUILD/bench/p53-bench-abuse" -s "$W/z300.p53" -r "$W/default.pcap" --seconds 0.05 \
	>"$W/abuse.out" 2>"$W/abuse.err" || { cat "$W/abuse.err"; fail "p53-bench-abuse"; }
for c in engine rrl cookies dp dp+rrl; do
	grep -q "^$c " "$W/abuse.out" || { cat "$W/abuse.out"; fail "abuse: $c missing"; }
done
# Normal traffic: no answer may be rate limited, or the cost measured is not RRL's on it.
grep -q 'limited 0.0000%' "$W/abuse.err" || { cat "$W/abuse.err"; fail "abuse: answers limited"; }

step "sidebyside.sh and dnssec.sh syntax"
bash -n "$SRC/bench/sidebyside.sh" || fail "sidebyside.sh syntax"
bash -n "$SRC/bench/dnssec.sh" || fail "dnssec.sh syntax"
echo "bench-smoke: ok"
exit 0
