#!/bin/sh
# Builds and runs port53's libFuzzer targets (docs/fuzzing.md).
#
#   tools/fuzz.sh build                  set up and build build-fuzz (clang, ASan+UBSan)
#   tools/fuzz.sh ci                     every target for a fixed count on its seed corpus
#   tools/fuzz.sh run TARGET [ARGS...]   one target, open-ended; ARGS go to libFuzzer
#   tools/fuzz.sh list                   the targets
#   tools/fuzz.sh seeds                  regenerate the generated seeds (after a format change)
#   tools/fuzz.sh dnskey-seeds           new test keys for the dnskey target's seeds
#
# Inputs libFuzzer finds go to build-fuzz/work/TARGET, never into the tree: a
# crash is reported with its file, and after the fix it is added by hand to
# fuzz/corpus/TARGET/ (which the ordinary suite then replays).
set -eu
cd "$(dirname "$0")/.."
B=${P53_FUZZ_BUILD:-build-fuzz}
TARGETS="answer pkt zone r53json fwcompile snapshot conf rconf r53hc aliasmap trafficpolicy tcpframe doh rshare dnskey"

# Executions per target in CI: a few seconds each on one core.
ci_runs() {
	case $1 in
	answer) echo 60000 ;;
	pkt) echo 100000 ;;
	zone) echo 10000 ;;
	r53json) echo 1500 ;;
	fwcompile) echo 300 ;;
	snapshot) echo 2000 ;;
	conf) echo 20000 ;;
	rconf) echo 20000 ;;
	r53hc) echo 20000 ;;
	aliasmap) echo 1500 ;;
	trafficpolicy) echo 3500 ;;
	tcpframe) echo 50000 ;;
	doh) echo 20000 ;;
	rshare) echo 100000 ;;
	dnskey) echo 5000 ;;
	esac
}

build() {
	if ! command -v clang >/dev/null 2>&1; then
		echo "fuzz: clang not found (tools/install-deps.sh installs it)" >&2
		exit 77
	fi
	if [ ! -f "$B/build.ninja" ]; then
		CC=clang CXX=clang++ meson setup "$B" -Dfuzz=true -Ddpdk=disabled \
			-Dbenchmarks=disabled -Db_sanitize=address,undefined -Db_lundef=false \
			-Dbuildtype=debugoptimized -Dwerror=false \
			-Dc_args=-fno-sanitize-recover=undefined >/dev/null
	fi
	ninja -C "$B" $(for t in $TARGETS; do printf 'fuzz/fuzz_%s ' "$t"; done) >/dev/null
}

# Short allocation stacks, a small quarantine and no returning memory to
# the kernel: the same findings, several times the executions per second.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1:malloc_context_size=4:quarantine_size_mb=16:allocator_release_to_os_interval_ms=-1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# Leaks inside libraries we cannot mend are listed, with why, in fuzz/lsan.supp.
export LSAN_OPTIONS="suppressions=$PWD/fuzz/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"

# run WORK TARGET [libFuzzer args]: the work corpus first (libFuzzer adds
# to it), then the seeds.
run() {
	w=$1
	t=$2
	shift 2
	mkdir -p "$w/$t" "$B/crashes/$t"
	"$B/fuzz/fuzz_$t" -timeout=30 -rss_limit_mb=2048 -max_len=65536 \
		-artifact_prefix="$B/crashes/$t/" "$@" "$w/$t" "fuzz/corpus/$t"
}

# The seeds that are generated rather than copied: queries and frames
# (fuzz/mkseeds.py) and compiled snapshots.
seeds() {
	/usr/bin/python3 fuzz/mkseeds.py
	ninja -C "$B" tools/port53 >/dev/null
	d=fuzz/corpus/snapshot
	rm -f "$d"/seed-*
	z=tests/zones
	"$B/tools/port53" compile --serial 1 -o "$d/seed-rfc4592" example="$z/example.zone" >/dev/null
	"$B/tools/port53" compile --serial 1 -o "$d/seed-com" example.com="$z/example.com.zone" \
		2.0.192.in-addr.arpa="$z/2.0.192.in-addr.arpa.zone" >/dev/null
	"$B/tools/port53" compile --serial 1 -o "$d/seed-deleg" example.org="$z/example.org.zone" \
		child.example.org="$z/child.example.org.zone" >/dev/null
	"$B/tools/port53" compile --serial 1 --no-prerender -o "$d/seed-deleg-noprerender" \
		example.org="$z/example.org.zone" child.example.org="$z/child.example.org.zone" >/dev/null
	"$B/tools/port53" compile --serial 1 -o "$d/seed-net" example.net="$z/example.net.zone" >/dev/null
	"$B/tools/port53" compile --serial 1 -o "$d/seed-r53" --geo tests/e2e/r53/geo.csv \
		--latency fuzz/data/latency.csv example.com=tests/e2e/r53/example.json >/dev/null
	# Traffic flow kept for export (R53TF), nested rules, aliases to AWS.
	r=tests/e2e/r53
	"$B/tools/port53" compile --serial 1 -o "$d/seed-tf" --geo $r/geo.csv \
		--health-checks $r/health-check.json --alias-map $r/alias-map.json \
		example.org=$r/cidr.json,$r/list-output.json,$r/aliases.json,$r/traffic-policy.json \
		>/dev/null
	# DNSSEC: signed zones (NSEC chain, RRSIGs, DO=1 answers), with fresh keys.
	k=$(mktemp -d)
	"$B/tools/port53" dnssec-keygen -K "$k" --ksk example.org >/dev/null
	"$B/tools/port53" dnssec-keygen -K "$k" --zsk -a 15 example.org >/dev/null
	"$B/tools/port53" dnssec-keygen -K "$k" example >/dev/null
	"$B/tools/port53" compile --serial 1 --dnssec-keys "$k" -o "$d/seed-dnssec" \
		example.org="$z/example.org.zone" example="$z/example.zone" >/dev/null
	"$B/tools/port53" compile --serial 1 --no-prerender --dnssec-keys "$k" \
		-o "$d/seed-dnssec-noprerender" example="$z/example.zone" >/dev/null
	# NSEC3: an opt-out chain and a salted one with iterations, proofs
	# per node (NODESEC3) and hash lists (NSEC3Z, NSEC3).
	"$B/tools/port53" compile --serial 1 --dnssec-keys "$k" --nsec3-opt-out example.org \
		--nsec3 example --nsec3-iterations 2 --nsec3-salt 0a0b -o "$d/seed-nsec3" \
		example.org="$z/example.org.zone" example="$z/example.zone" >/dev/null
	rm -rf "$k"
	dnskey_seeds
}

# dnskey: test keys made by BIND's dnssec-keygen and by openssl, each made
# into one input: a byte choosing the PEM key's role (0 KSK, 1 ZSK, 2 CSK;
# +4 for the root as owner), then the .key text, NUL, the .private text,
# NUL, a PEM file.
dnskey_seeds() {
	d=fuzz/corpus/dnskey
	mkdir -p "$d"
	rm -f "$d"/seed-*
	k=$(mktemp -d)
	for a in 8:RSASHA256 13:ECDSAP256SHA256 15:ED25519; do
		n=${a%%:*}
		for role in ksk zsk; do
			f= bits=
			[ $role = ksk ] && f="-f KSK"
			# RSA: a 2048-bit KSK and a 1024-bit ZSK (faster per input).
			[ "$n" = 8 ] && bits="-b 1024" && [ $role = ksk ] && bits="-b 2048"
			b=$(cd "$k" && dnssec-keygen -q -a "$n" $bits $f example.com)
			{ printf '\000'; cat "$k/$b.key"; printf '\000'; cat "$k/$b.private"; } \
				>"$d/seed-bind-$(echo "${a#*:}" | tr A-Z a-z)-$role"
		done
	done
	pem() { # NAME ROLE-BYTE, PEM on standard input
		{ printf "\\$2"; printf '\000\000'; cat; } >"$d/seed-pem-$1"
	}
	openssl genpkey -algorithm ED25519 2>/dev/null | pem ed25519-csk 002
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 2>/dev/null | pem ecdsap256-zsk 001
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 2>/dev/null | pem rsa-ksk 000
	# The older PEM forms OpenSSL also writes (RFC 5915, PKCS #1), the root as owner.
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 2>/dev/null |
		openssl ec -outform PEM 2>/dev/null | pem ec-traditional-root-ksk 004
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 2>/dev/null |
		openssl rsa -traditional 2>/dev/null | pem rsa-traditional-zsk 001
	# Encrypted, which port53 refuses: it must not ask for a passphrase.
	openssl genpkey -algorithm ED25519 -aes256 -pass pass:test 2>/dev/null | pem encrypted 000
	rm -rf "$k"
}

case ${1:-} in
dnskey-seeds)
	dnskey_seeds
	;;
seeds)
	build
	seeds
	;;
build)
	build
	;;
list)
	echo "$TARGETS"
	;;
run)
	[ $# -ge 2 ] || { echo "usage: $0 run TARGET [libFuzzer args]" >&2; exit 2; }
	build
	t=$2
	shift 2
	run "$B/work" "$t" "$@"
	;;
ci)
	build
	failed=0
	# A fresh work corpus each time: the same seeds, the same runs.
	rm -rf "$B/ci-work"
	for t in $TARGETS; do
		n=$(ci_runs "$t")
		log="$B/ci-$t.log"
		start=$(date +%s)
		if run "$B/ci-work" "$t" -runs="$n" -max_total_time=60 -seed=1 >"$log" 2>&1; then
			echo "fuzz $t: $n runs, no crash ($(($(date +%s) - start)) s)"
		else
			echo "fuzz $t: FAILED (log $log, input in $B/crashes/$t/)"
			tail -n 40 "$log"
			failed=1
		fi
	done
	exit $failed
	;;
*)
	sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
	;;
esac
