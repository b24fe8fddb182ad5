#!/bin/sh
# Sets up, builds and starts port53 on the embedded default, which needs no
# NIC: port53d's DPDK worker answers the example zones on a TAP interface
# (no hugepages) that this script addresses. From another shell:
#   dig @198.51.100.53 www.example.com
#   dig @2001:db8:53::53 www.example.com AAAA
#   dig @198.51.100.53 example.com TXT +tcp
#   kdig @198.51.100.53 www.example.com +tls
# Ctrl-C stops it. P53_KERNEL=1 serves the same zones from the kernel-socket
# server on 127.0.0.1:5353 instead (for machines without DPDK or TAP).
set -eu
cd "$(dirname "$0")/.."
sh tools/install-deps.sh
if [ ! -f build/build.ninja ]; then
	meson setup build -Dbuildtype=release >/dev/null
fi
ninja -C build >/dev/null
if [ "${P53_KERNEL:-0}" = 1 ]; then
	build/tools/port53 compile -o build/example.p53 example.com=tests/zones/example.com.zone
	echo "port53: try  dig @127.0.0.1 -p 5353 www.example.com"
	exec build/tools/port53 serve -s build/example.p53 -l 127.0.0.1:5353 \
		--identity "$(hostname)" --version "port53 0.1.0"
fi
exec sh tools/run-tap-demo.sh
