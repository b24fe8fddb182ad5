#!/bin/sh
# The resolver benchmark (bench/resolver.py, docs/resolver.md): port53 serve
# --resolver beside Debian's unbound on the signed test tree, in a network
# namespace of its own, and port53d's resolver path on a TAP when port53d is
# built. Root; PORT53=path, PORT53D=path (empty: not measured), RUNS=3,
# SECS=5 by default.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
: "${PORT53:=$here/../build/tools/port53}"
if [ -z "${PORT53D+set}" ] && [ -x "$here/../build/dp/port53d" ]; then
	PORT53D=$here/../build/dp/port53d
fi
export PORT53 PORT53D
exec /usr/bin/python3 "$here/resolver.py"
