#!/bin/sh
# Sets up, builds (with AddressSanitizer and UndefinedBehaviorSanitizer) and
# runs every test. Ends with "N passed, N failed, N skipped" (a test that
# exits 77 is a skip: a missing prerequisite; so is each check a test that
# ran reports as "skip - ..."); exits non-zero on failure.
set -eu
cd "$(dirname "$0")/.."
sh tools/install-deps.sh
B=build-test
if [ ! -f "$B/build.ninja" ]; then
	meson setup "$B" -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debugoptimized >/dev/null
fi
ninja -C "$B" >/dev/null
# The README's run command builds with -O3 (tools/run.sh), where GCC finds
# warnings -O2 does not; with -Werror that build must pass too. Counted in
# the summary as one test.
release=ok
if [ ! -f build/build.ninja ]; then
	meson setup build -Dbuildtype=release >/dev/null
fi
if ! ninja -C build >build-release.log 2>&1; then
	release=fail
	grep -E "error|FAILED" build-release.log | head -20
fi
# Leaks are reported but not fatal for helpers that exit through DPDK's EAL.
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
set +e
meson test -C "$B" --print-errorlogs --num-processes 1 "$@"
status=$?
set -e
/usr/bin/python3 - "$B/meson-logs/testlog.json" "$release" <<'PY'
import json, sys
passed = failed = skipped = 0
if sys.argv[2] == "ok":
    passed += 1
else:
    failed += 1
    print("FAIL: release build (tools/run.sh's -O3 -Werror build; build-release.log)")
partial = []
for line in open(sys.argv[1]):
    t = json.loads(line)
    r = t.get("result")
    if r in ("OK", "EXPECTEDFAIL"):
        passed += 1
    elif r == "SKIP":
        skipped += 1
    else:
        failed += 1
    # A test that ran but skipped some of its checks (tests/e2e/common.py
    # Checks.skip prints "skip - what: why") counts each of them as a skip.
    for out in (t.get("stdout") or "").splitlines():
        if out.startswith("skip - "):
            partial.append("%s: %s" % (t.get("name"), out[7:]))
for p in partial:
    print("skipped inside a test: " + p)
print(f"{passed} passed, {failed} failed, {skipped + len(partial)} skipped")
PY
[ "$release" = ok ] || status=1
exit $status
