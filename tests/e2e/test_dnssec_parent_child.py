#!/usr/bin/python3
"""A signed parent and its children compiled into one snapshot and served by
one port53 (docs/dnssec.md): the parent example. (KSK + ZSK) delegates
sec.example. (signed, its DS in the parent's file), island.example. (signed,
no DS: an insecure delegation of a signed zone) and insec.example. (unsigned,
no DS); lone.example. is served signed with no delegation in the parent's
file at all. RFC 4035 3.1.4.1: a DS query for a child's apex is answered from
the parent, its DS set with the parent's signature, or NODATA with the
parent's SOA and the parent's NSEC at the cut (NS RRSIG NSEC), never the
child's data; the parent's NSEC chain runs through each child's apex.

The same tree is compiled a second time with NSEC3 chains (the parent and
the secure child) and checked by dnspython's NSEC3 hashing, delv and unbound.

Checked by tools that share no code with port53: dnspython (every signature
against the right zone's DNSKEY set, DS digests, NSEC coverage against the
canonical order of the parent's own names), ldns-verify-zone on the parent's
and the children's `port53 dump`, BIND's delv with only the parent's KSK as
trust anchor, and Debian's unbound as a validating resolver in a network
namespace this test creates (needs root; that part is reported as a skip
without it or without unbound).
"""
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import dnssecsetup  # noqa: E402
import unboundns  # noqa: E402

import dns.dnssec  # noqa: E402
import dns.flags  # noqa: E402
import dns.message  # noqa: E402
import dns.name  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdata  # noqa: E402
import dns.rdatatype as T  # noqa: E402

check = common.Checks("dnssec-parent-child")
PORT53 = common.default_port53()
N = dns.name.from_text
PARENT = N("example.")
NSADDR = "10.53.1.1"  # the server's address inside the namespace
RESOLVER = "10.53.1.2"

# Owner names chosen around the children in canonical order: sea < sec <
# secz, and secb (absent) sorts after sec. and before secz.
PARENT_ZONE = """$ORIGIN example.
$TTL 300
@       SOA ns1 hostmaster 1 7200 3600 1209600 60
@       NS  ns1
ns1     A   {addr}
sea     A   192.0.2.1
secz    A   192.0.2.2
www     A   192.0.2.10
sec     NS  ns.sec
ns.sec  A   {addr}
{sec_ds}
island  NS  ns.island
ns.island A {addr}
insec   NS  ns.insec
ns.insec A  {addr}
"""
CHILD_ZONE = """$ORIGIN {origin}
$TTL 300
@       SOA ns hostmaster 1 7200 3600 1209600 60
@       NS  ns
ns      A   {addr}
www     A   192.0.2.20
*.wild  TXT "wildcard"
"""
# Names the parent's own file gives it, for the chain the parent must have:
# its data and delegations, the apex of every served child (lone. has no
# delegation in the file: the server delegates to what it serves).
PARENT_NAMES = ["example.", "ns1.example.", "sea.example.", "secz.example.", "www.example.",
                "sec.example.", "island.example.", "insec.example.", "lone.example."]


def ask(port, name, rdtype, do=True, tcp=False):
    q = dns.message.make_query(name, rdtype, want_dnssec=do, use_edns=0, payload=1232)
    raw = common.query(q, port, tcp=tcp)
    return None if raw is None else dns.message.from_wire(raw)


def rrsets(sec, rdtype, name=None):
    return [r for r in sec if r.rdtype == rdtype and (name is None or r.name == name)]


def sig_of(sec, rrset):
    for r in sec:
        if r.rdtype == T.RRSIG and r.name == rrset.name and r.covers == rrset.rdtype:
            return r
    return None


def validated(resp, keys, sections=("answer", "authority")):
    """Problems (empty when none): every RRset but referral NS sets carries
    an RRSIG that validates with keys ({zone: DNSKEY rrset})."""
    bad = []
    for sn in sections:
        sec = getattr(resp, sn)
        for rr in sec:
            if rr.rdtype == T.RRSIG:
                continue
            sig = sig_of(sec, rr)
            try:
                if sig is None:
                    raise dns.dnssec.ValidationFailure("no RRSIG")
                dns.dnssec.validate(rr, sig, keys)
            except Exception as e:  # noqa: BLE001
                bad.append("%s %s: %s" % (rr.name, T.to_text(rr.rdtype), e))
    return bad


def signer(resp, sn="answer"):
    return {r[0].signer for r in getattr(resp, sn) if r.rdtype == T.RRSIG}


def chain_next(name):
    """The next name after name in the parent's chain: the parent's names
    in dnspython's canonical order, wrapping to the apex."""
    names = sorted(N(x) for x in PARENT_NAMES)
    i = names.index(N(name))
    return names[(i + 1) % len(names)]


def covers(nsec, name):
    owner, nxt = nsec.name, nsec[0].next
    if owner < nxt:
        return owner < name < nxt
    return name > owner or name < nxt


def dnspython_checks(port, kdir):
    r = ask(port, "example.", "DNSKEY")
    pkeys = r.get_rrset(r.answer, PARENT, 1, T.DNSKEY)
    keys = {PARENT: pkeys}
    check(pkeys is not None and not validated(r, keys), "parent DNSKEY set self-signed", r)
    for child in ("sec.example.", "island.example.", "lone.example."):
        r = ask(port, child, "DNSKEY")
        ks = r.get_rrset(r.answer, N(child), 1, T.DNSKEY) if r else None
        keys[N(child)] = ks
        check(ks is not None and not validated(r, keys) and signer(r) == {N(child)},
              "%s DNSKEY set signed by the child's own key" % child, r)

    # DS at the secure child's apex: the parent's set, the parent's signature.
    r = ask(port, "sec.example.", "DS")
    ds = rrsets(r.answer, T.DS, N("sec.example."))
    want = {dns.dnssec.make_ds(N("sec.example."), k, "SHA256")
            for k in keys[N("sec.example.")] if k.flags & 1}
    check(r.rcode() == 0 and r.flags & dns.flags.AA and ds and set(ds[0]) == want
          and signer(r) == {PARENT} and not validated(r, keys) and not r.authority,
          "DS at a secure child's apex, DO=1: the parent's DS, signed by the parent", r)
    r = ask(port, "sec.example.", "DS", do=False)
    ds = rrsets(r.answer, T.DS, N("sec.example."))
    check(r.rcode() == 0 and ds and set(ds[0]) == want and len(r.answer) == 1
          and not r.authority, "DS at a secure child's apex, DO=0: the DS set alone", r)

    # No DS: NODATA from the parent, its SOA and its NSEC at the cut.
    for child in ("insec.example.", "island.example.", "lone.example."):
        r = ask(port, child, "DS")
        soa = rrsets(r.authority, T.SOA)
        nsec = rrsets(r.authority, T.NSEC, N(child))
        check(r.rcode() == 0 and r.flags & dns.flags.AA and not r.answer
              and len(soa) == 1 and soa[0].name == PARENT and len(nsec) == 1
              and common.nsec_types(nsec[0]) == {T.NS, T.RRSIG, T.NSEC}
              and nsec[0][0].next == chain_next(child)
              and signer(r, "authority") == {PARENT} and not validated(r, keys),
              "DS at %s, DO=1: NODATA, the parent's SOA and NSEC (NS RRSIG NSEC), "
              "signed by the parent" % child, r)
        r = ask(port, child, "DS", do=False)
        soa = rrsets(r.authority, T.SOA)
        check(r.rcode() == 0 and not r.answer and len(r.authority) == 1
              and soa and soa[0].name == PARENT,
              "DS at %s, DO=0: NODATA with the parent's SOA" % child, r)

    # The parent's chain runs through the child's apex: a name after sec.
    # and before secz. is covered by the parent's NSEC at sec.
    r = ask(port, "secb.example.", "A")
    ns = rrsets(r.authority, T.NSEC)
    at_sec = [n for n in ns if n.name == N("sec.example.")]
    check(r.rcode() == dns.rcode.NXDOMAIN and at_sec
          and common.nsec_types(at_sec[0]) == {T.NS, T.DS, T.RRSIG, T.NSEC}
          and at_sec[0][0].next == chain_next("sec.example.")
          and covers(at_sec[0], N("secb.example.")) and not validated(r, keys),
          "NXDOMAIN next to a child: the parent's NSEC at the child's apex (NS DS RRSIG NSEC)",
          r)
    r = ask(port, "s.example.", "A")
    check(r.rcode() == dns.rcode.NXDOMAIN and not validated(r, keys)
          and all(n[0].next != chain_next("sec.example.") or n.name == N("sec.example.")
                  for n in rrsets(r.authority, T.NSEC))
          and any(covers(n, N("s.example.")) and n[0].next <= N("sea.example.")
                  for n in rrsets(r.authority, T.NSEC)),
          "NXDOMAIN before the child: the covering NSEC does not jump over it", r)

    # The children's own data, signed by their own keys.
    for child in ("sec.example.", "island.example.", "lone.example."):
        r = ask(port, "www." + child, "A")
        check(r.rcode() == 0 and signer(r) == {N(child)} and not validated(r, keys),
              "www.%s signed by the child" % child, r)
        r = ask(port, "nx." + child, "A")
        check(r.rcode() == dns.rcode.NXDOMAIN and signer(r, "authority") == {N(child)}
              and not validated(r, keys)
              and rrsets(r.authority, T.SOA)[0].name == N(child),
              "NXDOMAIN in %s: the child's SOA and NSEC, the child's signatures" % child, r)
        r = ask(port, child, "SOA")
        check(r.rcode() == 0 and rrsets(r.answer, T.SOA, N(child)) and signer(r) == {N(child)}
              and not validated(r, keys), "%s SOA answered by the child" % child, r)
    r = ask(port, "www.insec.example.", "A")
    check(r.rcode() == 0 and r.answer and not signer(r), "the unsigned child answers unsigned", r)
    r = ask(port, "insec.example.", "DNSKEY")
    check(r.rcode() == 0 and not r.answer and rrsets(r.authority, T.SOA)[0].name
          == N("insec.example."), "the unsigned child has no DNSKEY set", r)
    # The parent's own names are unaffected.
    r = ask(port, "secz.example.", "A")
    check(r.rcode() == 0 and signer(r) == {PARENT} and not validated(r, keys),
          "secz.example. answered and signed by the parent", r)
    return pkeys


def nsec3_checks(port):
    """The NSEC3 form of the parent's proofs at a cut, checked with
    dnspython: signatures, and the NSEC3 whose hash is the child's apex's."""
    r = ask(port, "example.", "DNSKEY")
    keys = {PARENT: r.get_rrset(r.answer, PARENT, 1, T.DNSKEY)}
    r3 = ask(port, "example.", "NSEC3PARAM")
    param = rrsets(r3.answer, T.NSEC3PARAM)
    check(param and not validated(r3, keys), "NSEC3: the parent's NSEC3PARAM, signed", r3)
    if not param:
        return
    pr = param[0][0]

    def hashed(name):
        h = dns.dnssec.nsec3_hash(name, pr.salt, pr.iterations, pr.algorithm)
        return N(h.lower() + ".example.")

    for child, types in (("insec.example.", {T.NS}), ("sec.example.", {T.NS, T.DS})):
        r = ask(port, child, "DS")
        n3 = rrsets(r.authority, T.NSEC3)
        match = [n for n in n3 if n.name == hashed(child)]
        want_ds = T.DS in types
        check(r.rcode() == 0 and r.flags & dns.flags.AA and not validated(r, keys)
              and (bool(rrsets(r.answer, T.DS)) == want_ds)
              and (want_ds or (match and {T.NS} <= common.nsec_types(match[0])
                               and T.DS not in common.nsec_types(match[0])
                               and T.SOA not in common.nsec_types(match[0])))
              and signer(r, "answer" if want_ds else "authority") == {PARENT},
              "NSEC3: DS at %s from the parent, %s" % (
                  child, "its DS signed" if want_ds else "NODATA with the NSEC3 of the "
                  "child's apex (NS, no DS, no SOA)"), r)


def ldns_checks(d, snap):
    if shutil.which("ldns-verify-zone") is None:
        check.skip("ldns-verify-zone", "ldnsutils not installed")
        return
    for zone in ("example.", "sec.example.", "island.example.", "lone.example."):
        dump = os.path.join(d, zone + "dump")
        with open(dump, "w") as f:
            subprocess.run([PORT53, "dump", snap, zone], stdout=f, check=True, timeout=60)
        r = common.run(["ldns-verify-zone", dump])
        check(r.returncode == 0 and "Zone is verified and complete" in (r.stdout + r.stderr),
              "ldns-verify-zone accepts the dump of %s" % zone, r.stdout + r.stderr)
    with open(os.path.join(d, "example.dump")) as f:
        text = f.read()
    check("sec.example.\t300\tIN\tDS" in text and "lone.example.\t300\tIN\tNS" in text,
          "the parent's dump holds its side of the cuts (DS, the NS it delegates with)", text)


def delv_checks(d, port, pkeys, label):
    if shutil.which("delv") is None:
        check.skip("delv", "bind9-dnsutils not installed")
        return
    anchor = os.path.join(d, "anchor.conf")
    with open(anchor, "w") as f:
        f.write("trust-anchors {\n")
        for k in pkeys:
            if k.flags & 1:
                f.write('  "example." static-key %d %d %d "%s";\n' % (
                    k.flags, k.protocol, k.algorithm, dns.rdata._base64ify(k.key, 0)))
        f.write("};\n")
    for name, rdtype, want in (("www.sec.example.", "A", "; fully validated"),
                               ("nx.sec.example.", "A", "; negative response, fully validated"),
                               ("sec.example.", "DS", "; fully validated"),
                               ("insec.example.", "DS", "; negative response, fully validated"),
                               ("www.insec.example.", "A", "; unsigned answer"),
                               ("www.island.example.", "A", "; unsigned answer"),
                               ("secb.example.", "A", "; negative response, fully validated")):
        r = common.run(["delv", "-a", anchor, "+root=example.", "@" + common.HOST, "-p",
                        str(port), name, rdtype], timeout=30)
        check(want in r.stdout, "%s: delv: %s %s: %s" % (label, name, rdtype, want.strip("; ")),
              r.stdout + r.stderr)


def unbound_checks(d, snap, kdir, label):
    why = unboundns.missing()
    if why:
        check.skip("unbound", why)
        return
    ns = unboundns.Netns("p53pc", (NSADDR, RESOLVER))
    procs = []

    def dig(name, rdtype):
        return unboundns.dig(ns, RESOLVER, name, rdtype)

    try:
        ns.create()
        log = open(os.path.join(d, "serve-ns.log"), "w")
        procs.append(subprocess.Popen(ns.nsx(PORT53, "serve", "-s", snap, "-l", NSADDR + ":53",
                                             "--rrl-rate", "0"),
                                      stdout=log, stderr=subprocess.STDOUT))
        with open(os.path.join(d, "anchor.ds"), "w") as f:
            f.write(dnssecsetup.ds(kdir, "example."))
        procs.append(unboundns.start_unbound(ns, d, unboundns.unbound_conf(
            d, RESOLVER, "example.", NSADDR, anchor="anchor.ds")))
        up = common.wait_for(lambda: dig("ns1.example.", "A")[0] == "NOERROR", deadline=15)
        check(up, "%s: unbound answers through port53" % label, unboundns.log_of(d))
        for name, rdtype, want, ad in (
                ("www.sec.example.", "A", "NOERROR", True),
                ("x.wild.sec.example.", "TXT", "NOERROR", True),
                ("nx.sec.example.", "A", "NXDOMAIN", True),
                ("sec.example.", "DS", "NOERROR", True),
                ("www.lone.example.", "A", "NOERROR", False),
                ("www.island.example.", "A", "NOERROR", False),
                ("www.insec.example.", "A", "NOERROR", False),
                ("nx.insec.example.", "A", "NXDOMAIN", False),
                ("insec.example.", "DS", "NOERROR", True),
                ("secb.example.", "A", "NXDOMAIN", True),
                ("secz.example.", "A", "NOERROR", True)):
            status, got_ad, out = dig(name, rdtype)
            check(status == want and got_ad == ad,
                  "%s: unbound: %s %s is %s%s" % (label, name, rdtype, want, " with AD" if ad
                                                  else " without AD"), out)
    finally:
        for p in reversed(procs):
            common.stop(p)
        ns.delete()


def main():
    with common.tempdir("p53pc-") as d:
        kdir = os.path.join(d, "keys")
        dnssecsetup.keygen(kdir, "--ksk")
        dnssecsetup.keygen(kdir, "--zsk")
        for child in ("sec.example.", "island.example.", "lone.example."):
            dnssecsetup.keygen(kdir, zone=child)
        sec_ds = "\n".join("sec DS " + " ".join(line.split()[3:])
                           for line in dnssecsetup.ds(kdir, "sec.example.").splitlines()
                           if line.strip())
        zones = []
        zp = os.path.join(d, "example.zone")
        with open(zp, "w") as f:
            f.write(PARENT_ZONE.format(addr=NSADDR, sec_ds=sec_ds))
        zones.append("example.=" + zp)
        for child in ("sec.example.", "island.example.", "insec.example.", "lone.example."):
            p = os.path.join(d, child + "zone")
            with open(p, "w") as f:
                f.write(CHILD_ZONE.format(origin=child, addr=NSADDR))
            zones.append(child + "=" + p)
        snap = os.path.join(d, "all.p53")
        r = dnssecsetup.compile_zones(snap, zones, kdir)
        if r.returncode != 0:
            raise RuntimeError("compile failed: %s" % r.stderr)
        # The same tree with NSEC3 chains (RFC 5155): the parent's covers its
        # side of every cut as it covers its other names.
        snap3 = os.path.join(d, "all-nsec3.p53")
        r = dnssecsetup.compile_zones(snap3, zones, kdir,
                                      ["--nsec3", "example.", "--nsec3", "sec.example."])
        if r.returncode != 0:
            raise RuntimeError("compile --nsec3 failed: %s" % r.stderr)
        s = dnssecsetup.serve(d, snap, "serve")
        try:
            pkeys = dnspython_checks(s.port, kdir)
            delv_checks(d, s.port, pkeys, "NSEC")
        finally:
            s.stop()
        s = dnssecsetup.serve(d, snap3, "serve3")
        try:
            nsec3_checks(s.port)
            delv_checks(d, s.port, pkeys, "NSEC3")
        finally:
            s.stop()
        ldns_checks(d, snap)
        unbound_checks(d, snap, kdir, "NSEC")
        unbound_checks(d, snap3, kdir, "NSEC3")
    return check.finish()


if __name__ == "__main__":
    t0 = time.time()
    rc = main()
    print("took %.1f s" % (time.time() - t0))
    sys.exit(rc)
