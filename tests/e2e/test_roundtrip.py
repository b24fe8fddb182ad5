#!/usr/bin/python3
"""Snapshot round trip, checked against the zone files themselves.

Every test zone (tests/zones/*.zone and the corpus) is compiled into one
snapshot, dumped back to zone-file text zone by zone, and both the original
file and the dump are read with dnspython (a parser independent of port53's).
The RRsets must be the same: owner, type, TTL and every rdata in canonical
form (RFC 4034 6.2). The dumps are then compiled again and dumped again: that
second dump must hold the same RRsets as the original too, and so must
`export --format zone` of every zone and the dump of that export compiled.

Expected differences, from what the snapshot is (docs/answering.md): when a
zone and a zone below it are both served, the parent's records below the
child's apex belong to the child and are not kept; its NS and DS sets at the
child's apex are its side of the cut and kept with the parent, which gets
the child's apex NS set when its file does not delegate to the child; a DS
set in the child's own file at its apex is not kept.

Prints `N passed, N failed`; exits 1 on any failure.
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

import dns.name  # noqa: E402
import dns.rdataclass  # noqa: E402
import dns.rdatatype  # noqa: E402
import dns.zone  # noqa: E402



check = common.Checks()


def rrsets(path, origin):
    """{(owner, type): (ttl, frozenset of canonical rdata)} of a zone file."""
    z = dns.zone.from_file(path, origin, relativize=False, check_origin=False)
    out = {}
    for name, node in z.nodes.items():
        for rds in node.rdatasets:
            if rds.rdclass != dns.rdataclass.IN:
                continue
            out[(name.canonicalize(), rds.rdtype)] = (
                rds.ttl, frozenset(rd.to_digestable(dns.name.root) for rd in rds))
    return out


def expected(origins, origin, data, files):
    """What the snapshot keeps of zone origin's data (see the docstring);
    files: {origin: that zone file's RRsets}."""
    apex = dns.name.from_text(origin)
    children = [dns.name.from_text(o) for o in origins
                if o != origin and dns.name.from_text(o).is_subdomain(apex)]
    # Only the children whose closest served zone above is this one.
    children = [c for c in children
                if not any(c.is_subdomain(o) and o != c and o.is_subdomain(apex) and o != apex
                           for o in children)]
    parent_served = any(apex.is_subdomain(dns.name.from_text(o)) and o != origin
                        for o in origins)
    out = {}
    for (name, t), v in data.items():
        if name == apex and t == dns.rdatatype.DS and parent_served:
            continue  # the parent's DS answers for this apex
        below = [c for c in children if name.is_subdomain(c)]
        if below and not (t in (dns.rdatatype.DS, dns.rdatatype.NS) and name in below):
            continue  # the child's data now
        out[(name, t)] = v
    for c in children:
        if (c, dns.rdatatype.NS) not in out:  # delegated to what is served
            ns = files[c.to_text()].get((c, dns.rdatatype.NS))
            if ns:
                out[(c, dns.rdatatype.NS)] = ns
    return out


def show(key):
    return "%s %s" % (key[0], dns.rdatatype.to_text(key[1]))


def compare(what, want, got):
    diff = []
    for k in sorted(set(want) | set(got)):
        if k not in got:
            diff.append("  missing %s" % show(k))
        elif k not in want:
            diff.append("  extra   %s" % show(k))
        elif want[k] != got[k]:
            diff.append("  differs %s: ttl %s vs %s, %d vs %d records" % (
                show(k), want[k][0], got[k][0], len(want[k][1]), len(got[k][1])))
    check(not diff and len(want) > 0, "%s: %d RRsets as in the zone file" % (what, len(want)),
          "\n".join(diff[:20]))


def compile_and_dump(port53, inputs, snap, outdir):
    r = common.run([port53, "compile", "-o", snap] + ["%s=%s" % x for x in inputs])
    if not check(r.returncode == 0, "compile %s" % snap, r.stderr):
        return None
    dumps = []
    for origin, _ in inputs:
        path = os.path.join(outdir, origin + "dump")
        with open(path, "w") as f:
            r = subprocess.run([port53, "dump", snap, origin], stdout=f, stderr=subprocess.PIPE,
                               text=True, timeout=60)
        check(r.returncode == 0, "dump %s" % origin, r.stderr)
        dumps.append((origin, path))
    return dumps


def main():
    port53 = common.default_port53()
    inputs = common.zone_files(common.DEFAULT_ZONES)
    inputs += common.zone_files(os.path.join(common.DEFAULT_ZONES, "corpus"))
    origins = [o for o, _ in inputs]
    with tempfile.TemporaryDirectory(prefix="p53rt-") as d:
        os.makedirs(os.path.join(d, "a"))
        os.makedirs(os.path.join(d, "b"))
        files = {dns.name.from_text(o).to_text(): rrsets(p, o) for o, p in inputs}
        want = {o: expected(origins, o, files[dns.name.from_text(o).to_text()], files)
                for o, p in inputs}
        first = compile_and_dump(port53, inputs, os.path.join(d, "a.p53"), os.path.join(d, "a"))
        if first is None:
            return 1
        for origin, path in first:
            compare("dump of %s" % origin, want[origin], rrsets(path, origin))
        second = compile_and_dump(port53, first, os.path.join(d, "b.p53"), os.path.join(d, "b"))
        if second is None:
            return 1
        for origin, path in second:
            compare("dump of the recompiled dump of %s" % origin, want[origin],
                    rrsets(path, origin))
        # `export --format zone` (the re-importable form) holds every type
        # too, and compiles back to the same RRsets.
        os.makedirs(os.path.join(d, "e"))
        exports = []
        for origin, _ in inputs:
            path = os.path.join(d, "e", origin + "zone")
            with open(path, "w") as f:
                r = subprocess.run([port53, "export", "--format", "zone",
                                    os.path.join(d, "a.p53"), origin], stdout=f,
                                   stderr=subprocess.PIPE, text=True, timeout=60)
            if check(r.returncode == 0, "export --format zone %s" % origin, r.stderr):
                compare("zone export of %s" % origin, want[origin], rrsets(path, origin))
                exports.append((origin, path))
        os.makedirs(os.path.join(d, "c"))
        third = compile_and_dump(port53, exports, os.path.join(d, "c.p53"), os.path.join(d, "c"))
        for origin, path in third or []:
            compare("dump of the compiled zone export of %s" % origin, want[origin],
                    rrsets(path, origin))
    check.label = "round trip of %d zones" % len(inputs)
    return check.finish()


if __name__ == "__main__":
    sys.exit(main())
