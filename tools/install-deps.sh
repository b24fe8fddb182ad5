#!/bin/sh
# Installs every Debian 12 package port53 needs to build, test and benchmark.
# Idempotent: packages already present are skipped and nothing is printed for them.
set -eu

PKGS="
build-essential pkg-config meson ninja-build clang llvm lld libclang-rt-14-dev
libdpdk-dev dpdk dpdk-dev libbpf-dev libxdp-dev libpcap-dev libnuma-dev
libhyperscan-dev libjansson-dev libmicrohttpd-dev libcurl4-openssl-dev libssl-dev
libnghttp2-dev libngtcp2-dev libngtcp2-crypto-gnutls-dev libgnutls28-dev
libmaxminddb-dev libknot-dev libunbound-dev libevent-dev libldns-dev libfyaml-dev libbenchmark-dev libfstrm-dev libprotobuf-c-dev protobuf-c-compiler
python3-dnspython iproute2 nftables iputils-ping tcpdump ethtool bpftool gnuplot-nox bc
nsd knot knot-dnsutils bind9-dnsutils bind9-utils dnsperf unbound ldnsutils nginx-light bird2 curl python3-cryptography
softhsm2 libengine-pkcs11-openssl opensc
golang-go golang-github-lucas-clemente-quic-go-dev openssl
scdoc debhelper dpkg-dev systemd systemd-container chromium libjs-chart.js iso-codes
"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done

[ -z "$missing" ] && exit 0

echo "install-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Debian starts nsd, knot, unbound, nginx and bird on install; port53's tests start their own instances.
apt-get install -y -qq --no-install-recommends $missing >/dev/null
for svc in nsd knot unbound nginx bird; do
	if command -v systemctl >/dev/null 2>&1; then
		systemctl disable --now "$svc" >/dev/null 2>&1 || true
	fi
	pkill -x "${svc}d" 2>/dev/null || pkill -x "$svc" 2>/dev/null || true
done
