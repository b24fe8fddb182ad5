#!/usr/bin/python3
"""Zone files: every type, deep names and reverse zones, against Knot DNS,
NSD and dnspython.

The corpus (tests/zones/corpus) and two generated zones (an ip6.arpa reverse
zone of real size, and a zone with a 127-label name and names 20+ labels
below the apex) are compiled by port53 and loaded by Knot DNS and NSD, each
started here on its own loopback port with its own config and rundir.
dnspython parses the same files as a third, independent reader. For every
RRset dnspython finds, the answer of each server must hold the same RRset
(rdata compared in canonical form, and TTL). Then: the dump of the snapshot
parses (dnspython) into the same zone; the compiler's limits and $INCLUDE
policy reject with file:line and never echo a file that is not a zone file.

Usage: test_zonefiles.py [--port53 PATH] [--knotd PATH] [--nsd PATH]
Exits 77 (skip) when knotd or nsd is missing.
"""

import argparse
import os
import random
import shutil
import sys

import dns.message
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.zone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

CORPUS = os.path.join(common.ROOT, "tests", "zones", "corpus")
REV6 = "0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa."
REV6_RECORDS = 20000

check = common.Checks()


def write_rev6(path):
    """An ip6.arpa reverse zone for a /48: every owner 20 nibbles below the
    apex, so nearly every label in between is an empty non-terminal."""
    rng = random.Random(53)
    with open(path, "w") as f:
        f.write("$ORIGIN %s\n$TTL 3600\n" % REV6)
        f.write("@ SOA ns1.example.com. hostmaster.example.com. 1 7200 3600 1209600 300\n")
        f.write("@ NS ns1.example.com.\n")
        seen = set()
        while len(seen) < REV6_RECORDS:
            nib = ".".join(rng.choice("0123456789abcdef") for _ in range(20))
            if nib in seen:
                continue
            seen.add(nib)
            f.write("%s PTR host%d.example.com.\n" % (nib, len(seen)))


def write_deep(path):
    """A 127-label name (255 bytes, the most a name can be) and a chain of
    names down to it."""
    with open(path, "w") as f:
        f.write("$ORIGIN d.\n$TTL 300\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n")
        for depth in (20, 21, 40, 126):
            f.write("%s TXT \"depth %d\"\n" % (".".join(["a"] * depth), depth))
        f.write("%s A 192.0.2.2\n" % ".".join(["b"] * 126))


def ask(port, name, rdtype):
    q = dns.message.make_query(name, rdtype, use_edns=0, payload=4096)
    q.flags &= ~0x0100  # RD off
    raw = common.query(q, port)
    if raw is None:
        return None
    r = dns.message.from_wire(raw)
    if r.flags & 0x0200:  # TC
        raw = common.query(q, port, tcp=True)
        r = dns.message.from_wire(raw) if raw else None
    return r


def answer_rrset(msg, name, rdtype):
    if msg is None:
        return None
    for rrset in msg.answer:
        if rrset.name == name and rrset.rdtype == rdtype:
            return rrset
    return None


def below_cut(zone, name):
    """Names at or below a delegation (other than its apex side DS)."""
    origin = zone.origin
    n = name
    while n != origin and n.is_subdomain(origin):
        node = zone.get_node(n)
        if node is not None and node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.NS):
            return n
        n = n.parent()
    return None


def compare_zone(origin, path, servers, sample=None):
    z = dns.zone.from_file(path, origin, relativize=False)
    items = list(z.iterate_rdatasets())
    if sample and len(items) > sample:
        items = random.Random(1).sample(items, sample)
    n = 0
    for name, rds in items:
        cut = below_cut(z, name)
        if cut is not None and not (cut == name and rds.rdtype == dns.rdatatype.DS):
            continue  # referral data: not answered authoritatively
        want = sorted(r.to_digestable(z.origin) for r in rds)
        if rds.rdtype == dns.rdatatype.NSEC3:
            # An NSEC3 owner is not a name of the zone (RFC 5155 7.2.8): each
            # server must answer it as the others do, not with the record.
            seen = {}
            for label, port in servers:
                r = ask(port, name, rds.rdtype)
                seen[label] = None if r is None else (r.rcode(), len(r.answer))
            check(None not in seen.values() and len(set(seen.values())) == 1,
                  "NSEC3 owner %s answered alike" % name, seen)
            n += 1
            continue
        for label, port in servers:
            got = answer_rrset(ask(port, name, rds.rdtype), name, rds.rdtype)
            ok = got is not None and sorted(r.to_digestable(z.origin) for r in got) == want \
                and got.ttl == rds.ttl
            check(ok, "%s %s %s" % (label, name, dns.rdatatype.to_text(rds.rdtype)),
                  "want %s got %s" % ([r.to_text() for r in rds],
                                      got.to_text() if got is not None else None))
        n += 1
    return n


def compile_fails(port53, args, want):
    r = common.run([port53, "check", "--quiet"] + args)
    return r.returncode == 1 and want in r.stderr, r.stderr.strip()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port53", default=common.default_port53())
    ap.add_argument("--knotd", default=shutil.which("knotd") or "/usr/sbin/knotd")
    ap.add_argument("--nsd", default=shutil.which("nsd") or "/usr/sbin/nsd")
    a = ap.parse_args()
    for b in (a.knotd, a.nsd):
        if not os.access(b, os.X_OK):
            print("SKIP: %s not found" % b)
            return 77

    with common.tempdir("p53zf-") as d:
        zdir = os.path.join(d, "zones")
        os.mkdir(zdir)
        for fn in os.listdir(CORPUS):
            if fn.endswith(".zone"):
                shutil.copy(os.path.join(CORPUS, fn), zdir)
        shutil.copy(os.path.join(common.DEFAULT_ZONES, "2.0.192.in-addr.arpa.zone"), zdir)
        write_rev6(os.path.join(zdir, REV6 + "zone"))
        write_deep(os.path.join(zdir, "d.zone"))
        zones = common.zone_files(zdir)

        for sub in ("p53", "knot", "nsd"):
            os.mkdir(os.path.join(d, sub))
        p53 = common.Port53(a.port53, zdir, os.path.join(d, "p53"))
        knot = common.Knot(a.knotd, zones, os.path.join(d, "knot"))
        nsd = common.Nsd(a.nsd, zdir, os.path.join(d, "nsd"))
        try:
            p53.start(deadline=120)
            knot.start()
            nsd.start()
            servers = [("port53", p53.port), ("knot", knot.port), ("nsd", nsd.port)]
            total = 0
            for origin, path in zones:
                total += compare_zone(origin, path, servers,
                                      sample=400 if origin == REV6 else None)
            print("compared %d RRsets on port53, Knot and NSD" % total)

            # An empty non-terminal of the reverse zone: NODATA everywhere.
            z = dns.zone.from_file(os.path.join(zdir, REV6 + "zone"), REV6, relativize=False)
            leaf = next(n for n in z.nodes if len(n) == len(dns.name.from_text(REV6)) + 20)
            ent = leaf.parent().parent()
            for label, port in servers:
                r = ask(port, ent, "PTR")
                check(r is not None and r.rcode() == 0 and not r.answer and r.authority,
                      "%s empty non-terminal %s NODATA" % (label, ent))

            # The dump is the same zone, read by dnspython.
            r = common.run([a.port53, "dump", p53.snapshot, "types.example."])
            check(r.returncode == 0, "dump types.example.", r.stderr)
            orig = dns.zone.from_file(os.path.join(zdir, "types.example.zone"),
                                      "types.example.", relativize=False)
            back = dns.zone.from_text(r.stdout, "types.example.", relativize=False)
            for name, rds in orig.iterate_rdatasets():
                got = back.get_rdataset(name, rds.rdtype, rds.covers)
                check(got is not None and sorted(x.to_digestable() for x in got) ==
                      sorted(x.to_digestable() for x in rds),
                      "dump keeps %s %s" % (name, dns.rdatatype.to_text(rds.rdtype)),
                      got.to_text() if got is not None else "missing")
            check(len(list(back.iterate_rdatasets())) == len(list(orig.iterate_rdatasets())),
                  "dump has no extra RRsets")
        finally:
            for s in (p53, knot, nsd):
                s.stop()

        # Limits and $INCLUDE policy.
        big = os.path.join(d, "big.zone")
        with open(big, "w") as f:
            f.write("$ORIGIN e.\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n")
            for i in range(65536):
                f.write("big TXT \"%d\"\n" % i)
        ok, msg = compile_fails(a.port53, ["e.=" + big],
                                "%s:65540: big.e.: RRset of more than 65535 records" % big)
        check(ok, "65536-record RRset rejected at file:line", msg)

        secret = os.path.join(d, "secret.key")
        with open(secret, "w") as f:
            f.write("root:$6$s3cr3tHASHvalue:19000:0:99999:7:::\n")
        incdir = os.path.join(d, "inc")
        os.mkdir(incdir)
        with open(os.path.join(incdir, "hosts.inc"), "w") as f:
            f.write("www A 192.0.2.80\n")
        zf = os.path.join(d, "inc.zone")
        with open(zf, "w") as f:
            f.write("$ORIGIN e.\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n"
                    "$INCLUDE %s\n" % secret)
        r = common.run([a.port53, "check", "--quiet", "e.=" + zf])
        check(r.returncode == 1 and "s3cr3t" not in r.stderr and "root" not in r.stderr,
              "a file that is not a zone file is never echoed", r.stderr)
        check(r.stderr.startswith(secret + ":1: "), "its error names file:line", r.stderr)
        ok, msg = compile_fails(a.port53, ["--no-include", "e.=" + zf],
                                "%s:5: $INCLUDE is not allowed here" % zf)
        check(ok, "--no-include", msg)
        ok, msg = compile_fails(a.port53, ["--include-dir", incdir, "e.=" + zf],
                                "%s:5: $INCLUDE '%s' is outside the include directory" % (zf, secret))
        check(ok, "--include-dir refuses a file outside", msg)
        with open(zf, "w") as f:
            f.write("$ORIGIN e.\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n"
                    "$INCLUDE %s/../secret.key\n$INCLUDE %s/hosts.inc\n" % (incdir, incdir))
        ok, msg = compile_fails(a.port53, ["--include-dir", incdir, "e.=" + zf],
                                "is outside the include directory")
        check(ok, "--include-dir refuses ../", msg)
        with open(zf, "w") as f:
            f.write("$ORIGIN e.\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n"
                    "$INCLUDE %s/hosts.inc\n" % incdir)
        r = common.run([a.port53, "check", "--quiet", "--include-dir", incdir, "e.=" + zf])
        check(r.returncode == 0, "--include-dir allows a file inside", r.stderr)

    return check.finish()


if __name__ == "__main__":
    sys.exit(main())
