#!/usr/bin/python3
"""The compile on one thread and on two gives the same snapshot.

`port53 compile --threads 2` reads a large zone file in two parts on two
threads (cut at a line that names its owner, each part started in the
state the text before the cut implies, checked against the state the first
part really ended in) and shares sorting, layout and verification between
two threads. None of it may change a byte: every zone of the project's
corpus, a generated zone, and zones built to put $ORIGIN and $TTL changes,
records spread over lines by parentheses (cuts inside them and beside them),
RFC 1035's last-TTL rule, HIP entries and errors around the cut, are
compiled with --threads 1 and --threads 2 (SOURCE_DATE_EPOCH fixes the
creation time) and must give identical files, or identical messages (node
checks, split in halves too, must report the first bad name in canonical
order, the line the zone text puts it on). The
records of the split zones are also checked against dnspython's own reading
of the same text, and --timings must say the file was read in parts where
the cut is clean, so the two-part path is the one being compared.

Usage: test_compile_parts.py [--port53 PATH]
"""

import argparse
import os
import subprocess
import sys

import dns.rdatatype
import dns.zone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

check = common.Checks()

ORIGIN = "parts.example."
FILLER = 60000  # records: some 1.3 MB of text, past the 1 MiB a cut needs


def zone_text(kind, pad):
    """A zone whose middle holds what kind names (see the module doc)."""
    out = []
    w = out.append
    if kind != "nottl":
        w("$TTL 300\n")
    w("@ 3600 SOA ns1 hm 1 7200 900 1209600 300\n@ 3600 NS ns1\nns1 3600 A 192.0.2.1\n")

    def filler(a, b, ttl=""):
        for i in range(a, b):
            w("h%d %sA 10.%d.%d.%d\n" % (i, ttl, i >> 16 & 255, i >> 8 & 255, i & 255))
            if i % 7 == 0:
                w(" %sAAAA 2001:db8::%x\n" % (ttl, i & 0xffff))  # owner of the line before

    n = FILLER
    filler(0, n * 2 // 5, "77 " if kind == "nottl" else "")
    if kind == "origin":
        w("$ORIGIN sub.%s\n" % ORIGIN)
        filler(n * 2 // 5, n)
        w("$ORIGIN %s\n$TTL 99\n" % ORIGIN)
        filler(n, n + 10)
    elif kind == "paren":
        # Inner lines that look like owners: a cut may fall on one.
        for j in range(n // 2):
            w('t%d TXT ( "a"\nbcd\n"e" )\n' % j)
        filler(n * 2 // 5, n)
    elif kind == "nottl":
        filler(n * 2 // 5, n)
        w("last 55 A 192.0.2.55\n")
    elif kind == "ttlchange":
        w("$TTL 1234\n")
        filler(n * 2 // 5, n)
    elif kind == "err-late":
        filler(n * 2 // 5, n)
        w("bad A 192.0.2\n")
    elif kind == "err-early":
        w("bad A 192.0.2\n")
        filler(n * 2 // 5, n)
    elif kind == "hip":
        filler(n * 2 // 5, n - 100)
        w("hip1 HIP 2 200100107B1A74DF365639CC39F1D578 AwEAAbdxyhNuSutc5EMzxTs9LBPCIkOFH8c"
          "IvM4p9+LrV4e19WzK00+CI6zBCQTdtWsuxKbWIy87UOoJTwkUs7lBu+Upr1gsNrut79ryra+bSRGQb1"
          "slImA8YVJyuIDsj7kwzG7jnERNqnWxZ48AWkskmdHaVDP4BcelrTI3rMXdXF5D rvs1.example.com.\n")
        filler(n - 100, n)
    else:
        filler(n * 2 // 5, n)
    # A long comment at the end moves the middle, and so the cut.
    w(";" + "x" * pad + "\n")
    return "".join(out)


def paren_pad(kind, where):
    """The length of the closing comment that puts the middle of the file,
    where the cut is looked for from, on the line before an inner "bcd"
    line of a parenthesised record (the cut then falls inside the
    parentheses) or on its last line (the cut falls on the next owner)."""
    if kind != "paren":
        return 0
    text = zone_text(kind, 0)
    base = len(text) - 2  # without the comment line (";" and "\n")
    bcd = text.index("\nbcd\n", base // 2 + 64)
    # The middle on the '(' line before "bcd", or on the '"e" )' line after.
    target = bcd - 4 if where == "inside" else bcd + 7
    return 2 * target - base - 2
 

def compile_zone(port53, d, origin, path, threads, tag):
    out = os.path.join(d, "%s.%d.p53" % (tag, threads))
    env = dict(os.environ, SOURCE_DATE_EPOCH="1700000000")
    r = subprocess.run([port53, "compile", "--serial", "7", "--threads", str(threads),
                        "--timings", "-o", out, "%s=%s" % (origin, path)],
                       capture_output=True, text=True, timeout=300, env=env)
    data = open(out, "rb").read() if r.returncode == 0 else None
    parts = None
    for line in r.stderr.splitlines():
        if line.startswith("zone files read in parts:"):
            parts = int(line.split(":")[1])
    # Only the error line: the summary's seconds differ from run to run.
    msg = [x for x in r.stderr.splitlines() if not x.startswith(("phase ", "compiled:", "zone files"))]
    msg = msg[:1]
    return r.returncode, data, parts, msg


def same_both_ways(port53, d, origin, path, tag, want_parts=None):
    r1, d1, p1, m1 = compile_zone(port53, d, origin, path, 1, tag)
    r2, d2, p2, m2 = compile_zone(port53, d, origin, path, 2, tag)
    check(r1 == r2, "%s: same exit status on 1 and 2 threads" % tag, (r1, r2, m1, m2))
    if r1 == 0:
        check(d1 == d2, "%s: identical snapshot on 1 and 2 threads" % tag,
              "%d and %d bytes" % (len(d1 or b""), len(d2 or b"")))
    else:
        check(m1 == m2 and m1, "%s: identical message on 1 and 2 threads" % tag, (m1, m2))
    if r1 == 0:
        check(p1 == 0, "%s: read in one piece on one thread" % tag, p1)
    if want_parts is not None:
        check(p2 == want_parts, "%s: read in %s on two threads" %
              (tag, "parts" if want_parts else "one piece"), p2)
    return r2, p2


def rrsets(zone):
    return {(n, r.rdtype): (r.ttl, sorted(x.to_digestable(zone.origin) for x in r))
            for n, r in zone.iterate_rdatasets()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port53", default=common.default_port53())
    a = ap.parse_args()
    with common.tempdir("p53parts-") as d:
        # The project's zone corpus (small: one thread does all of it, and
        # must give the same bytes whatever --threads says).
        corpus = [os.path.join(common.DEFAULT_ZONES, f) for f in
                  sorted(os.listdir(common.DEFAULT_ZONES)) if f.endswith(".zone")]
        cdir = os.path.join(common.DEFAULT_ZONES, "corpus")
        corpus += [os.path.join(cdir, f) for f in sorted(os.listdir(cdir)) if f.endswith(".zone")]
        for path in corpus:
            origin = os.path.basename(path)[:-len("zone")]
            same_both_ways(a.port53, d, origin, path, os.path.basename(path))

        # A generated zone large enough for every two-thread phase.
        big = os.path.join(d, "big.zone")
        subprocess.run([sys.executable, os.path.join(common.ROOT, "tools", "gen-zone.py"),
                        "--origin", "bench.test.", "-o", big, "100000"], check=True,
                       capture_output=True)
        same_both_ways(a.port53, d, "bench.test.", big, "gen-zone 100000", want_parts=1)

        # Node checks run half the nodes on each thread (past 65536 nodes):
        # a CNAME beside other data in the second half, then in both halves,
        # where the first name in canonical order must be the one reported.
        for tag, early in (("cname-late", False), ("cname-both", True)):
            lines = ["$TTL 300", "@ SOA ns1 hm 1 7200 900 1209600 300", "@ NS ns1",
                     "ns1 A 192.0.2.1"]
            if early:
                lines += ["a0 CNAME h1", "a0 A 192.0.2.2"]
            lines += ["h%d A 10.%d.%d.%d" % (i, i >> 16 & 255, i >> 8 & 255, i & 255)
                      for i in range(70000)]
            lines += ["zz CNAME h1", "zz A 192.0.2.3"]
            want_line = 5 if early else len(lines) - 1
            path = os.path.join(d, tag + ".zone")
            with open(path, "w") as f:
                f.write("\n".join(lines) + "\n")
            rc, _ = same_both_ways(a.port53, d, ORIGIN, path, tag)
            _, _, _, msg = compile_zone(a.port53, d, ORIGIN, path, 2, tag)
            check(rc != 0 and msg and ":%d:" % want_line in msg[0] and
                  "CNAME beside other data" in msg[0],
                  "%s: the CNAME of line %d reported" % (tag, want_line), msg)

        # Zones built around the cut.
        cases = [("origin", None, 1), ("ttlchange", None, 1), ("hip", None, 1),
                 ("nottl", None, None), ("err-late", None, None), ("err-early", None, None),
                 ("paren", "inside", 0), ("paren", "beside", 1)]
        for kind, where, want in cases:
            tag = kind + (" " + where if where else "")
            path = os.path.join(d, tag.replace(" ", "-") + ".zone")
            text = zone_text(kind, paren_pad(kind, where))
            with open(path, "w") as f:
                f.write(text)
            rc, _ = same_both_ways(a.port53, d, ORIGIN, path, tag, want)
            if kind == "origin" and rc == 0:
                # The records against dnspython's reading of the text.
                p53 = os.path.join(d, "%s.2.p53" % tag)
                r = common.run([a.port53, "dump", p53, ORIGIN], timeout=120)
                check(r.returncode == 0, "dump %s" % tag, r.stderr)
                got = dns.zone.from_text(r.stdout, ORIGIN, relativize=False)
                want_z = dns.zone.from_text(text, ORIGIN, relativize=False)
                check(rrsets(got) == rrsets(want_z),
                      "%s: the RRsets dnspython reads from the text" % tag)
    return check.finish()


if __name__ == "__main__":
    sys.exit(main())
