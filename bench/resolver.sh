#!/bin/sh
# The resolver benchmark (bench/resolver.py, docs/resolver.md): port53 serve
# --resolver beside Debian's unbound on the signed test tree, in a network
# namespace of its own. Root; PORT53=path, RUNS=3, SECS=5 by default.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
: "${PORT53:=$here/../build/tools/port53}"
export PORT53
exec /usr/bin/python3 "$here/resolver.py"
