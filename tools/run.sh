#!/bin/sh
# Sets up, builds and starts port53 on the embedded default: the example
# zones served on 127.0.0.1:5353 by the kernel-socket server (no NIC needed).
#   dig @127.0.0.1 -p 5353 www.example.com
set -eu
cd "$(dirname "$0")/.."
sh tools/install-deps.sh
if [ ! -f build/build.ninja ]; then
	meson setup build -Dbuildtype=release >/dev/null
fi
ninja -C build >/dev/null
build/tools/port53 compile -o build/example.p53 \
	example.com=tests/zones/example.com.zone
echo "port53: try  dig @127.0.0.1 -p 5353 www.example.com"
exec build/tools/port53 serve -s build/example.p53 -l 127.0.0.1:5353 \
	--identity "$(hostname)" --version "port53 0.1.0" "$@"
