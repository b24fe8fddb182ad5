#!/usr/bin/python3
"""Mutation check for the answer engine: can its tests fail?

Each mutation below breaks one chosen line of the engine (the EDNS size cap,
TC, glue, wildcards, compression, ...) the way a plausible bug would. For
each, one at a time, the script applies it to a scratch copy of the tree,
builds the engine's unit test (tests/unit/test_answer.c) and runs it: the
test must fail. A mutation the test survives is a hole in the tests, and the
check fails. The unmutated copy must pass first, every mutation must still
apply exactly once (a refactor that moves a line makes the check fail until
the mutation is updated) and must build.

The scratch copy and its build directory are kept (default: a `mutation`
directory beside this script's build, given with --scratch) and reused, so a
run after the first rebuilds little: the engine is one translation unit
(zones/answer/engine.c), and each mutation recompiles only that.

Usage: mutate.py --scratch DIR [--src TREE] [--only NAME] [--list]
Prints one line per mutation and `N killed, N survived`; exits 1 if any
survived or could not be checked.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

# (name, file, original, replacement). Whitespace in `original` matches any
# run of whitespace, so formatting does not matter.
MUTATIONS = [
    ("edns-size-cap: the client's EDNS size is not capped at ours",
     "zones/answer/encode.c",
     "q->edns_size > ctx->cfg->edns_udp_max ? ctx->cfg->edns_udp_max",
     "q->edns_size < 0x100 ? ctx->cfg->edns_udp_max"),
    ("edns-size-floor: an EDNS size below 512 is used as given",
     "zones/answer/encode.c",
     "lim = q->edns_size < 512 ? 512",
     "lim = q->edns_size < 256 ? 512"),
    ("tc-answer: an answer section cut short does not set TC",
     "zones/answer/encode.c",
     "bool tc = w.cnt[0] < an_all ||",
     "bool tc = w.cnt[0] > an_all ||"),
    ("tc-blob: a pre-rendered answer cut short does not set TC",
     "zones/answer/blob.c",
     "bool tc = c->an < b->an ||",
     "bool tc = c->an > b->an ||"),
    ("glue-tc: a referral whose glue does not fit has no TC",
     "zones/answer/answer_int.h",
     "return rcode == RCODE_NOERROR && !aa && an == 0 && ar_sent < ar_all;",
     "return rcode == RCODE_NOERROR && !aa && an == 0 && ar_sent > ar_all;"),
    ("glue: referrals carry no glue from below the cut",
     "zones/answer/decide.c",
     "add_additional(s, ns, SNAP_NONE, p, true);",
     "add_additional(s, ns, SNAP_NONE, p, false);"),
    ("wildcard: no synthesis from *.<closest encloser>",
     "zones/answer/decide.c",
     "if (n->wild == SNAP_NONE) {",
     "if (1) {"),
    ("compression: pointers one byte off",
     "zones/answer/encode.c",
     "(uint16_t)(0xc000 | w->comp[i])",
     "(uint16_t)(0xc000 | (w->comp[i] + 1))"),
    ("compression-off: names never compressed",
     "zones/answer/encode.c",
     "if (w->comp_len[i] == rem &&",
     "if (w->comp_len[i] == rem + 256 &&"),
    ("case: query names not folded to lower case",
     "zones/answer/query.c",
     "name_lower_copy(q->qname, m + 12, out);",
     "memcpy(q->qname, m + 12, out);"),
    ("nxdomain: a name that does not exist is answered NOERROR",
     "zones/answer/decide.c",
     "p->rcode = RCODE_NXDOMAIN;",
     "p->rcode = RCODE_NOERROR;"),
    ("ds-parent: DS at a served child's apex answered by the child",
     "zones/answer/decide.c",
     "if (exact && qtype == RR_DS && (n->flags & NODE_APEX) &&",
     "if (exact && qtype == RR_NS && (n->flags & NODE_APEX) &&"),
    ("opt-on-errors: an OPT after other records is not looked for",
     "zones/answer/query.c",
     "for (uint32_t i = 0; i < (uint32_t)an + ns && framed; i++)",
     "for (uint32_t i = 0; i < (uint32_t)an + ns && framed; i++, framed = false)"),
]

TEST_TARGET = "tests/test_answer"


def pattern(text):
    return re.compile(r"\s+".join(re.escape(p) for p in text.split()))


def tracked_files(src):
    try:
        out = subprocess.run(["git", "-C", src, "ls-files", "-z", "--cached", "--others",
                              "--exclude-standard"], capture_output=True,
                             check=True, timeout=60).stdout
        return [f for f in out.decode().split("\0") if f]
    except (OSError, subprocess.CalledProcessError):
        files = []
        for d, dirs, names in os.walk(src):
            dirs[:] = [x for x in dirs if not x.startswith(("build", ".git"))]
            files += [os.path.relpath(os.path.join(d, n), src) for n in names]
        return files


def sync(src, dst):
    """Copies the tree to dst, touching only files whose content differs, so
    the scratch build stays incremental."""
    for rel in tracked_files(src):
        a, b = os.path.join(src, rel), os.path.join(dst, rel)
        if not os.path.isfile(a):
            continue
        with open(a, "rb") as f:
            data = f.read()
        try:
            with open(b, "rb") as f:
                if f.read() == data:
                    continue
        except OSError:
            os.makedirs(os.path.dirname(b), exist_ok=True)
        with open(b, "wb") as f:
            f.write(data)
        shutil.copymode(a, b)


def build(bdir):
    r = subprocess.run(["ninja", "-C", bdir, TEST_TARGET], capture_output=True, text=True,
                       timeout=1800)
    return r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]


def run_test(bdir, src):
    try:
        r = subprocess.run([os.path.join(bdir, TEST_TARGET)], cwd=src, capture_output=True,
                           text=True, timeout=300)
    except subprocess.TimeoutExpired:
        return False, "timed out"  # a hang is a failing test too
    return r.returncode == 0, (r.stdout + r.stderr)[-1500:]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scratch", help="kept between runs, reused (required to run)")
    ap.add_argument("--src", default=ROOT)
    ap.add_argument("--only", help="run the mutations whose name starts with this")
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args()
    todo = [m for m in MUTATIONS if not a.only or m[0].startswith(a.only)]
    if a.list:
        for m in todo:
            print("%s  (%s)" % (m[0], m[1]))
        return 0
    if not todo:
        print("no mutation matches --only %s" % a.only)
        return 1
    if not a.scratch:
        ap.error("--scratch DIR is required")
    src = os.path.join(a.scratch, "src")
    bdir = os.path.join(a.scratch, "build")
    os.makedirs(src, exist_ok=True)
    t0 = time.monotonic()
    sync(a.src, src)
    if not os.path.exists(os.path.join(bdir, "build.ninja")):
        r = subprocess.run(["meson", "setup", bdir, src, "-Dbuildtype=debugoptimized",
                            "-Ddpdk=disabled", "-Dbenchmarks=disabled", "-Dfuzz=false"],
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            print("meson setup failed:\n" + r.stdout[-3000:] + r.stderr[-3000:])
            return 1
    ok, log = build(bdir)
    if not ok:
        print("the unmutated tree does not build:\n" + log)
        return 1
    ok, log = run_test(bdir, src)
    if not ok:
        print("the unmutated tree fails its test, so no mutation can be judged:\n" + log)
        return 1
    print("baseline: %s passes (%.0f s)" % (TEST_TARGET, time.monotonic() - t0), flush=True)

    killed = survived = broken = 0
    for name, rel, orig, repl in todo:
        path = os.path.join(src, rel)
        with open(path) as f:
            text = f.read()
        hits = pattern(orig).findall(text)
        if len(hits) != 1:
            print("ERROR   %s: the line to mutate occurs %d times in %s (update %s)"
                  % (name, len(hits), rel, os.path.relpath(__file__, a.src)), flush=True)
            broken += 1
            continue
        t1 = time.monotonic()
        try:
            with open(path, "w") as f:
                f.write(pattern(orig).sub(lambda _: repl, text, count=1))
            built, blog = build(bdir)
            passed, tlog = run_test(bdir, src) if built else (None, "")
        finally:
            with open(path, "w") as f:
                f.write(text)
        secs = time.monotonic() - t1
        if not built:
            print("ERROR   %s: the mutant does not build\n%s" % (name, blog), flush=True)
            broken += 1
        elif passed:
            print("SURVIVED %s: %s passes with it (%.0f s)" % (name, TEST_TARGET, secs),
                  flush=True)
            survived += 1
        else:
            first = next((ln for ln in tlog.splitlines() if "failed" in ln), "")
            print("killed  %s (%.0f s): %s" % (name, secs, first.strip()), flush=True)
            killed += 1
    # Leave the scratch build matching the tree for the next run.
    build(bdir)
    print("%d killed, %d survived%s  (%.0f s)" % (
        killed, survived, ", %d could not be checked" % broken if broken else "",
        time.monotonic() - t0))
    return 1 if survived or broken else 0


if __name__ == "__main__":
    sys.exit(main())
