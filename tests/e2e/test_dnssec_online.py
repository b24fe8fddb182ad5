#!/usr/bin/python3
"""Online DNSSEC signing (docs/dnssec.md): routing-policy and ECS answers
signed per query by `port53 serve --dnssec-keys`, and compact denial of
existence (RFC 9824, compile --compact-denial), checked with validators that
share no code with port53: dnspython's dns.dnssec against the zone's DNSKEY
set, and BIND's delv with the key as trust anchor. What each policy must pick
comes from the Route 53 test zone (tests/e2e/r53/example.json) and its geo
table, not from port53's output.

Loopback only; every wait is bounded; servers are always stopped.
"""
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

import dns.dnssec  # noqa: E402
import dns.edns  # noqa: E402
import dns.flags  # noqa: E402
import dns.message  # noqa: E402
import dns.name  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdata  # noqa: E402
import dns.rdatatype as T  # noqa: E402

check = common.Checks("dnssec-online")
PORT53 = common.default_port53()
HERE = os.path.dirname(os.path.abspath(__file__))
ZONE = dns.name.from_text("example.com.")
NXNAME = 128


CO = 0x4000  # Compact Answers OK, RFC 9824 5.1: the EDNS flag after DO


def ask(port, name, rdtype="A", subnet=None, do=True, tcp=False, co=False):
    opts = [dns.edns.ECSOption(subnet[0], subnet[1])] if subnet else []
    q = dns.message.make_query(name, rdtype, want_dnssec=do, use_edns=0, payload=1232,
                               options=opts)
    if co:
        q.ednsflags |= CO
    raw = common.query(q, port, tcp=tcp)
    return None if raw is None else dns.message.from_wire(raw)


def validate_all(resp, keys):
    """Every RRset of the answer and authority sections validates with the
    zone's keys; returns the failures."""
    bad = []
    for sec in (resp.answer, resp.authority):
        for rr in sec:
            if rr.rdtype == T.RRSIG:
                continue
            sig = next((s for s in sec if s.rdtype == T.RRSIG and s.name == rr.name
                        and s.covers == rr.rdtype), None)
            try:
                if sig is None:
                    raise dns.dnssec.ValidationFailure("no RRSIG")
                dns.dnssec.validate(rr, sig, keys)
            except Exception as e:  # noqa: BLE001
                bad.append("%s %s: %s" % (rr.name, T.to_text(rr.rdtype), e))
    return bad


def addrs(resp):
    return sorted(r.address for rr in resp.answer if rr.rdtype == T.A for r in rr)


def sig_of(resp, name, rdtype):
    for rr in resp.answer:
        if rr.rdtype == T.RRSIG and rr.name == dns.name.from_text(name) and rr.covers == rdtype:
            return rr
    return None


def keygen(kdir, *args):
    r = common.run([PORT53, "dnssec-keygen", "-K", kdir] + list(args) + ["example.com."])
    if r.returncode != 0:
        raise RuntimeError("dnssec-keygen: %s" % r.stderr)


def compile_zone(d, kdir, out, extra=()):
    r = common.run([PORT53, "compile", "--quiet", "--dnssec-keys", kdir, "-o", out,
                    "--geo", os.path.join(HERE, "r53", "geo.csv")] + list(extra) +
                   ["example.com=" + os.path.join(HERE, "r53", "example.json")])
    if r.returncode != 0:
        raise RuntimeError("compile failed: %s" % r.stderr)


def serve(d, snap, kdir, tag):
    wd = os.path.join(d, tag)
    os.makedirs(wd, exist_ok=True)
    s = common.Port53(PORT53, None, wd, extra=["--dnssec-keys", kdir])
    s.snapshot = snap
    return s.start()


def dnskeys(port):
    r = ask(port, ZONE, "DNSKEY")
    ks = r.find_rrset(r.answer, ZONE, 1, T.DNSKEY)
    sig = r.find_rrset(r.answer, ZONE, 1, T.RRSIG, T.DNSKEY)
    dns.dnssec.validate(ks, sig, {ZONE: ks})
    return ks


def zone_names():
    with open(os.path.join(HERE, "r53", "example.json")) as f:
        rrs = json.load(f)["ResourceRecordSets"]
    return sorted({dns.name.from_text(r["Name"]) for r in rrs})


def policy_checks(port, keys, label):
    """Each policy's pick, as the Route 53 zone and geo table say, signed."""
    now = int(time.time())
    cases = [
        ("www.example.com", None, None, ["192.0.2.10", "192.0.2.11"], "weighted"),
        ("fo.example.com", None, ["192.0.2.20"], None, "failover"),
        ("geo.example.com", ("10.1.2.0", 24), ["192.0.2.31"], None, "geolocation US-WA by ECS"),
        ("geo.example.com", ("10.3.2.0", 24), ["192.0.2.33"], None, "geolocation EU by ECS"),
        ("geo.example.com", ("192.168.1.0", 24), ["192.0.2.34"], None, "geolocation default"),
        ("geonodef.example.com", ("10.3.2.0", 24), ["192.0.2.35"], None, "geolocation DE"),
        ("lat.example.com", None, None, None, "latency"),
        ("prox.example.com", None, None, None, "geoproximity"),
        ("cidr.example.com", ("10.9.3.0", 24), ["192.0.2.71"], None, "CIDR by ECS"),
        ("mv.example.com", None, None, None, "multivalue"),
        ("alias.example.com", None, None, None, "alias to the weighted group"),
    ]
    for name, subnet, want, one_of, what in cases:
        r = ask(port, name, "A", subnet)
        if not check(r is not None and r.rcode() == dns.rcode.NOERROR and r.answer,
                     "%s: %s answers" % (label, what)):
            continue
        got = addrs(r)
        if want is not None:
            check(got == want, "%s: %s picks %s" % (label, what, want), got)
        if one_of is not None:
            check(len(got) == 1 and got[0] in one_of, "%s: %s picks one of %s" %
                  (label, what, one_of), got)
        bad = validate_all(r, {ZONE: keys})
        check(not bad, "%s: %s validates (dnspython)" % (label, what), bad)
        sig = sig_of(r, name + ".", T.A)
        if check(sig is not None, "%s: %s has an RRSIG" % (label, what)):
            s = sig[0]
            # Signed under the query name (not a wildcard), in force now,
            # 14 days from the window's start plus the hour of lag.
            check(s.labels == len(dns.name.from_text(name)) - 1,
                  "%s: %s RRSIG labels are the query name's" % (label, what), s.labels)
            check(s.inception <= now <= s.expiration and
                  s.expiration - s.inception == 14 * 86400 + 3600 and
                  s.expiration - now >= 13 * 86400 - 60,
                  "%s: %s RRSIG validity window" % (label, what),
                  (s.inception, s.expiration, now))
        if subnet:
            scope = next((o.scopelen for o in r.options if isinstance(o, dns.edns.ECSOption)),
                         None)
            check(scope is not None, "%s: %s echoes ECS" % (label, what))


def cache_checks(port, label):
    """ECDSA signatures are randomised: the same bytes twice mean the second
    answer came from the signature cache, not from a new signature."""
    a = ask(port, "fo.example.com", "A")
    b = ask(port, "fo.example.com", "A")
    sa, sb = sig_of(a, "fo.example.com.", T.A), sig_of(b, "fo.example.com.", T.A)
    check(sa is not None and sb is not None and sa[0].signature == sb[0].signature,
          "%s: a repeated policy answer reuses its cached signature" % label)
    # Different picks of one name have different signatures.
    x = ask(port, "geo.example.com", "A", ("10.1.2.0", 24))
    y = ask(port, "geo.example.com", "A", ("10.3.2.0", 24))
    sx, sy = sig_of(x, "geo.example.com.", T.A), sig_of(y, "geo.example.com.", T.A)
    check(sx is not None and sy is not None and sx[0].signature != sy[0].signature,
          "%s: different ECS picks are signed apart" % label)


def notype_chain_checks(port, keys, label):
    """A policy that picks nothing, in an NSEC-chain zone: the name's own
    NSEC (the chain's next name) without A, signed per query."""
    r = ask(port, "geonodef.example.com", "A")
    nsec = [rr for rr in r.authority if rr.rdtype == T.NSEC] if r else []
    names = zone_names()
    owner = dns.name.from_text("geonodef.example.com.")
    nxt = names[(names.index(owner) + 1) % len(names)]
    check(r is not None and r.rcode() == dns.rcode.NOERROR and not r.answer and len(nsec) == 1,
          "%s: policy NODATA with one NSEC" % label, r)
    if nsec:
        check(nsec[0].name == owner and nsec[0][0].next == nxt and T.A not in common.nsec_types(nsec[0]),
              "%s: policy NODATA NSEC is the name's, next %s, without A" % (label, nxt),
              nsec[0].to_text())
    check(r is not None and not validate_all(r, {ZONE: keys}),
          "%s: policy NODATA validates (dnspython)" % label, r and validate_all(r, {ZONE: keys}))


def compact_checks(port, keys, label):
    """RFC 9824 answers: one NSEC at the name, next \\000.name."""
    for name, rdtype, want, absent, what in (
            ("nx.example.com", "A", {T.RRSIG, T.NSEC, NXNAME}, None, "NXDOMAIN"),
            ("a.b.nx.example.com", "MX", {T.RRSIG, T.NSEC, NXNAME}, None, "deep NXDOMAIN"),
            ("simple.example.com", "TXT", {T.A, T.RRSIG, T.NSEC}, T.TXT, "NODATA"),
            ("geonodef.example.com", "A", {T.RRSIG, T.NSEC}, T.A, "policy NODATA"),
            ("example.com", "MX", None, T.MX, "NODATA at the apex")):
        r = ask(port, name, rdtype)
        owner = dns.name.from_text(name)
        nsec = [rr for rr in r.authority if rr.rdtype == T.NSEC] if r else []
        if not check(r is not None and r.rcode() == dns.rcode.NOERROR and not r.answer and
                     len(nsec) == 1, "%s: %s is NOERROR with one NSEC" % (label, what), r):
            continue
        n = nsec[0]
        check(n.name == owner and n[0].next == dns.name.Name((b"\x00",) + owner.labels),
              "%s: %s NSEC owner is the name, next \\000.name" % (label, what), n.to_text())
        types = common.nsec_types(n)
        if want is not None:
            check(types == want, "%s: %s bitmap" % (label, what), sorted(types))
        if absent is not None:
            check(absent not in types and T.RRSIG in types and T.NSEC in types,
                  "%s: %s bitmap lacks the type" % (label, what), sorted(types))
        check(not validate_all(r, {ZONE: keys}), "%s: %s validates (dnspython)" % (label, what),
              validate_all(r, {ZONE: keys}))
    # Apex bitmap from the zone's own types.
    r = ask(port, "example.com", "MX")
    n = [rr for rr in r.authority if rr.rdtype == T.NSEC]
    check(n and {T.SOA, T.NS, T.A, T.DNSKEY} <= common.nsec_types(n[0]), "%s: apex NSEC lists SOA NS A "
          "DNSKEY" % label, n and sorted(common.nsec_types(n[0])))
    # DO=0 keeps NXDOMAIN and carries no NSEC.
    r = ask(port, "nx.example.com", "A", do=False)
    check(r is not None and r.rcode() == dns.rcode.NXDOMAIN and
          not any(rr.rdtype == T.NSEC for rr in r.authority),
          "%s: DO=0 NXDOMAIN unchanged" % label, r)
    # RFC 9824 3.5: an explicit NXNAME query is FORMERR.
    r = ask(port, "www.example.com", NXNAME)
    check(r is not None and r.rcode() == dns.rcode.FORMERR, "%s: qtype NXNAME is FORMERR" %
          label, r and dns.rcode.to_text(r.rcode()))
    # RFC 9824 5: a resolver that sets Compact Answers OK gets NXDOMAIN
    # back with the same NXNAME proof, and CO echoed; NODATA stays NOERROR.
    r = ask(port, "nx.example.com", "A", co=True)
    nsec = [rr for rr in r.authority if rr.rdtype == T.NSEC] if r else []
    check(r is not None and r.rcode() == dns.rcode.NXDOMAIN and r.ednsflags & CO and
          len(nsec) == 1 and NXNAME in common.nsec_types(nsec[0]) and
          not validate_all(r, {ZONE: keys}),
          "%s: CO=1 NXDOMAIN keeps its rcode, NXNAME proof, CO echoed" % label, r)
    r = ask(port, "simple.example.com", "TXT", co=True)
    check(r is not None and r.rcode() == dns.rcode.NOERROR and r.ednsflags & CO and
          not r.answer and not validate_all(r, {ZONE: keys}),
          "%s: CO=1 NODATA stays NOERROR" % label, r)
    r = ask(port, "nx.example.com", "A", do=False, co=True)
    check(r is not None and r.rcode() == dns.rcode.NXDOMAIN and not r.ednsflags & CO,
          "%s: CO without DO is not echoed" % label, r)
    # Over TCP too, the same proofs.
    r = ask(port, "nx.example.com", "A", tcp=True)
    check(r is not None and not validate_all(r, {ZONE: keys}) and
          any(rr.rdtype == T.NSEC for rr in r.authority), "%s: compact NXDOMAIN over TCP" % label)


def delv_checks(d, port, keys, label, cases):
    if shutil.which("delv") is None:
        check.skip(label + ": delv", "bind9-dnsutils not installed")
        return
    anchor = os.path.join(d, "anchor-%s.conf" % label)
    with open(anchor, "w") as f:
        f.write("trust-anchors {\n")
        for k in keys:
            if k.flags & 1:
                f.write('  "example.com." static-key %d %d %d "%s";\n' % (
                    k.flags, k.protocol, k.algorithm, dns.rdata._base64ify(k.key, 0)))
        f.write("};\n")
    for name, rdtype, subnet, want in cases:
        # delv sends no ECS: geolocation answers it by its source address.
        args = ["delv", "-a", anchor, "+root=example.com.", "@" + common.HOST, "-p", str(port)]
        r = common.run(args + [name, rdtype], timeout=30)
        check(want in r.stdout, "%s: delv validates %s %s %s" % (label, name, rdtype, subnet or ""),
              r.stdout + r.stderr)


def main():
    d = tempfile.mkdtemp(prefix="p53-dnssec-online-")
    servers = []
    try:
        # An NSEC-chain zone with an ECDSA P-256 CSK.
        k1 = os.path.join(d, "k13")
        os.makedirs(k1)
        keygen(k1)
        s1 = os.path.join(d, "chain.p53")
        compile_zone(d, k1, s1)
        a = serve(d, s1, k1, "chain")
        servers.append(a)
        keys = dnskeys(a.port)
        policy_checks(a.port, keys, "chain-13")
        cache_checks(a.port, "chain-13")
        notype_chain_checks(a.port, keys, "chain-13")
        delv_checks(d, a.port, keys, "chain-13", (
            ("www.example.com.", "A", None, "; fully validated"),
            ("geo.example.com.", "A", None, "; fully validated"),
            ("fo.example.com.", "A", None, "; fully validated"),
            ("mv.example.com.", "A", None, "; fully validated"),
            ("geonodef.example.com.", "A", None, "; negative response, fully validated")))

        # Without the key directory the same snapshot serves the policy
        # answers unsigned (what online signing adds).
        wd = os.path.join(d, "nokeys")
        os.makedirs(wd)
        plain = common.Port53(PORT53, None, wd)
        plain.snapshot = s1
        plain.start()
        servers.append(plain)
        r = ask(plain.port, "fo.example.com", "A")
        check(r is not None and sig_of(r, "fo.example.com.", T.A) is None,
              "without --dnssec-keys a policy answer has no RRSIG")

        # RSA/SHA-256 (algorithm 8): a 2048-bit KSK and a 1024-bit ZSK,
        # the ZSK signing online, in an NSEC-chain zone.
        k8 = os.path.join(d, "k8")
        os.makedirs(k8)
        keygen(k8, "--ksk", "-a", "8", "-b", "2048")
        keygen(k8, "--zsk", "-a", "8", "-b", "1024")
        s8 = os.path.join(d, "rsa.p53")
        compile_zone(d, k8, s8)
        c8 = serve(d, s8, k8, "rsa")
        servers.append(c8)
        keys8 = dnskeys(c8.port)
        zsk8 = [k for k in keys8 if not k.flags & 1]
        policy_checks(c8.port, keys8, "chain-8")
        notype_chain_checks(c8.port, keys8, "chain-8")
        r = ask(c8.port, "fo.example.com", "A")
        s = sig_of(r, "fo.example.com.", T.A)
        check(s is not None and s[0].algorithm == 8 and len(zsk8) == 1 and
              s[0].key_tag == dns.dnssec.key_id(zsk8[0]) and len(s[0].signature) == 128,
              "chain-8: a policy answer is signed by the 1024-bit RSA ZSK", s)
        delv_checks(d, c8.port, keys8, "chain-8", (
            ("fo.example.com.", "A", None, "; fully validated"),
            ("mv.example.com.", "A", None, "; fully validated"),
            ("geonodef.example.com.", "A", None, "; negative response, fully validated")))

        # Compact denial with an Ed25519 KSK and ZSK.
        k2 = os.path.join(d, "k15")
        os.makedirs(k2)
        keygen(k2, "--ksk", "-a", "15")
        keygen(k2, "--zsk", "-a", "15")
        s2 = os.path.join(d, "compact.p53")
        compile_zone(d, k2, s2, ["--compact-denial", "example.com"])
        b = serve(d, s2, k2, "compact")
        servers.append(b)
        keys2 = dnskeys(b.port)
        policy_checks(b.port, keys2, "compact-15")
        compact_checks(b.port, keys2, "compact-15")
        delv_checks(d, b.port, keys2, "compact-15", (
            ("www.example.com.", "A", None, "; fully validated"),
            ("nx.example.com.", "A", None, "; negative response, fully validated"),
            ("simple.example.com.", "TXT", None, "; negative response, fully validated"),
            ("geonodef.example.com.", "A", None, "; negative response, fully validated")))
        # A compact zone names no other name in its denials: no walk.
        r = ask(b.port, "zzz.example.com", "A")
        named = {rr.name for rr in r.authority} | {rr[0].next for rr in r.authority
                                                    if rr.rdtype == T.NSEC}
        check(named <= {ZONE, dns.name.from_text("zzz.example.com."),
                        dns.name.from_text("\\000.zzz.example.com.")},
              "compact denial reveals no other name", named)
        # Compact denial without keys is refused at compile time.
        r = common.run([PORT53, "compile", "--quiet", "-o", os.path.join(d, "x.p53"),
                        "--compact-denial", "example.com",
                        "example.com=" + os.path.join(HERE, "r53", "example.json")])
        check(r.returncode != 0 and "needs --dnssec-keys" in r.stderr,
              "--compact-denial without keys refused", r.stderr)
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(d, ignore_errors=True)
    return check.finish()


if __name__ == "__main__":
    sys.exit(main())
