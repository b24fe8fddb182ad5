#!/usr/bin/python3
"""NSEC3 (RFC 5155, docs/dnssec.md): zones signed at compile time with an
NSEC3 chain (plain, opt-out, with a salt and iterations) and zones pre-signed
with NSEC3 by ldns-signzone and BIND's dnssec-signzone, served, and every
negative answer's proof checked with tools that share no code with port53:
dnspython's dns.dnssec validates the signatures and its nsec3_hash gives the
hashes this test's own RFC 5155 8 checks (matching, covering, closest
encloser, opt-out) compare the served NSEC3 records with; BIND's delv with
the zone's KSK as trust anchor validates answers; ldns-verify-zone checks the
chain in `port53 dump`.

Loopback only; every wait is bounded; servers are always stopped.
"""
import base64
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from dnssecsetup import compile_zone, compile_zones, keygen, serve  # noqa: E402

import dns.dnssec  # noqa: E402
import dns.flags  # noqa: E402
import dns.message  # noqa: E402
import dns.name  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdata  # noqa: E402
import dns.rdatatype as T  # noqa: E402
import dns.zone  # noqa: E402

check = common.Checks("dnssec-nsec3")
PORT53 = common.default_port53()
ORIGIN = dns.name.from_text("example.")

ZONE = """$ORIGIN example.
$TTL 3600
@       SOA ns1 hostmaster 1 7200 3600 1209600 300
@       NS  ns1
@       MX  10 www
ns1     A   192.0.2.1
www     A   192.0.2.10
www     AAAA 2001:db8::10
*.wild  TXT "from the wildcard"
alias   CNAME www
a.b.ent A   192.0.2.5
secure  NS  ns.secure
secure  DS  12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF
ns.secure A 192.0.2.53
insecure NS ns.insecure
ns.insecure A 192.0.2.54
x.y.deep NS ns.other.net.
"""


def N(t):
    return dns.name.from_text(t)


def ask(port, name, rdtype, do=True, tcp=False):
    q = dns.message.make_query(name, rdtype, want_dnssec=do, use_edns=0, payload=1232)
    raw = common.query(q, port, tcp=tcp)
    return None if raw is None else dns.message.from_wire(raw)


# ---- RFC 5155 8: the resolver's side, written here from the RFC -----------

class Chain:
    """The NSEC3 records of one answer, with the zone's parameters."""

    def __init__(self, resp, salt, iters):
        self.recs = [r for r in resp.authority if r.rdtype == T.NSEC3]
        self.salt, self.iters = salt, iters

    def h(self, name):
        return dns.dnssec.nsec3_hash(name, self.salt, self.iters, 1).lower()

    @staticmethod
    def owner(rr):
        return rr.name.labels[0].decode().lower()

    @staticmethod
    def nxt(rr):
        return base64.b32hexencode(rr[0].next).decode().lower().rstrip("=")

    def matching(self, name):
        h = self.h(name)
        return [r for r in self.recs if self.owner(r) == h]

    def covering(self, name):
        h = self.h(name)
        out = []
        for r in self.recs:
            o, n = self.owner(r), self.nxt(r)
            if (o < h < n) if o < n else (h > o or h < n):
                out.append(r)
        return out

    def closest_encloser(self, qname):
        """RFC 5155 8.3: the closest provable encloser of qname and whether
        the NSEC3 covering the next closer name has Opt-Out; None if the
        answer does not prove one."""
        name = qname
        while name != ORIGIN and len(name) > 1:
            parent = name.parent()
            if self.matching(parent):
                cov = self.covering(name)
                if not cov:
                    return None
                return parent, bool(cov[0][0].flags & 1)
            name = parent
        return None


def types(rr):
    return common.nsec_types(rr)


def all_signed(resp, keys, sections=("answer", "authority")):
    bad = []
    for sn in sections:
        sec = getattr(resp, sn)
        for rr in sec:
            if rr.rdtype == T.RRSIG or (rr.rdtype == T.NS and sn == "authority"
                                        and rr.name != ORIGIN):
                continue
            sig = next((r for r in sec if r.rdtype == T.RRSIG and r.name == rr.name
                        and r.covers == rr.rdtype), None)
            try:
                if sig is None:
                    raise dns.dnssec.ValidationFailure("no RRSIG")
                dns.dnssec.validate(rr, sig, keys)
            except Exception as e:  # noqa: BLE001
                bad.append("%s %s: %s" % (rr.name, T.to_text(rr.rdtype), e))
    return bad


def dnskeys(port):
    r = ask(port, "example.", "DNSKEY")
    rr = r.get_rrset(r.answer, ORIGIN, 1, T.DNSKEY) if r else None
    return rr, {ORIGIN: rr}


def proof_checks(port, keys, label, salt, iters, optout, signed_ents=True):
    """Each kind of negative answer carries the NSEC3 records RFC 5155 7.2
    asks for, all signed."""
    def chain(r):
        return Chain(r, salt, iters)

    r = ask(port, "example.", "NSEC3PARAM")
    p = r.answer[0][0] if r and r.answer else None
    check(p is not None and p.iterations == iters and p.salt == (bytes.fromhex(salt) if salt else b"")
          and p.flags == 0 and p.algorithm == 1 and not all_signed(r, keys),
          label + ": NSEC3PARAM with the chain's parameters, signed", r)

    # NXDOMAIN (7.2.2): closest encloser, next closer, wildcard.
    for qn, ce in (("nx.example.", "example."), ("c.b.ent.example.", "b.ent.example."),
                   ("q.nx.example.", "example.")):
        r = ask(port, qn, "A")
        c = chain(r)
        enc = c.closest_encloser(N(qn))
        check(r.rcode() == dns.rcode.NXDOMAIN and enc is not None and enc[0] == N(ce)
              and c.covering(N("*." + ce)) and not all_signed(r, keys),
              "%s: NXDOMAIN %s: closest encloser %s, next closer and wildcard covered"
              % (label, qn, ce), r)

    # NODATA (7.2.3): the NSEC3 matching the name, without the type.
    r = ask(port, "www.example.", "TXT")
    m = chain(r).matching(N("www.example."))
    check(r.rcode() == 0 and not r.answer and m and T.A in types(m[0])
          and T.TXT not in types(m[0]) and T.RRSIG in types(m[0]) and not all_signed(r, keys),
          label + ": NODATA: the name's NSEC3 without the type", r)
    r = ask(port, "example.", "TXT")
    m = chain(r).matching(ORIGIN)
    check(r.rcode() == 0 and m and {T.SOA, T.NS, T.DNSKEY, T.NSEC3PARAM} <= types(m[0])
          and not all_signed(r, keys), label + ": apex NODATA", r)

    # Empty non-terminal: an NSEC3 of its own with no types (7.1).
    r = ask(port, "b.ent.example.", "A")
    m = chain(r).matching(N("b.ent.example."))
    if signed_ents:
        check(r.rcode() == 0 and not r.answer and m and not types(m[0])
              and not all_signed(r, keys), label + ": empty non-terminal NODATA", r)
    else:
        check(r.rcode() == 0 and not r.answer and not all_signed(r, keys)
              and (m or chain(r).closest_encloser(N("b.ent.example."))),
              label + ": empty non-terminal NODATA", r)

    # Wildcard expansion (7.2.6): the next closer name covered; the RRSIG's
    # label count names the closest encloser.
    r = ask(port, "x.wild.example.", "TXT")
    sig = next((x for x in r.answer if x.rdtype == T.RRSIG), None) if r else None
    c = chain(r)
    check(r.rcode() == 0 and sig is not None and sig[0].labels == 2
          and c.covering(N("x.wild.example.")) and not all_signed(r, keys),
          label + ": wildcard expansion, next closer covered", r)
    r = ask(port, "a.b.wild.example.", "TXT")
    c = chain(r)
    check(r.rcode() == 0 and r.answer and c.covering(N("b.wild.example."))
          and not all_signed(r, keys), label + ": wildcard two labels down", r)

    # Wildcard NODATA (7.2.5).
    r = ask(port, "x.wild.example.", "A")
    c = chain(r)
    w = c.matching(N("*.wild.example."))
    enc = c.closest_encloser(N("x.wild.example."))
    check(r.rcode() == 0 and not r.answer and enc and enc[0] == N("wild.example.")
          and w and T.TXT in types(w[0]) and T.A not in types(w[0])
          and not all_signed(r, keys), label + ": wildcard NODATA", r)

    # Insecure delegation: referral and DS query (7.2.7, 7.2.4).
    for qn, qt in (("host.insecure.example.", "A"), ("insecure.example.", "DS")):
        r = ask(port, qn, qt)
        c = chain(r)
        m = c.matching(N("insecure.example."))
        if optout:
            enc = c.closest_encloser(N("insecure.example."))
            ok = not m and enc is not None and enc[0] == ORIGIN and enc[1]
        else:
            ok = m and T.NS in types(m[0]) and T.DS not in types(m[0]) \
                and T.RRSIG not in types(m[0])
        aa = bool(r.flags & dns.flags.AA) if r else False
        check(r is not None and r.rcode() == 0 and not r.answer and aa == (qt == "DS") and ok
              and not all_signed(r, keys),
              "%s: %s %s at an insecure delegation: %s" % (
                  label, qn, qt, "opt-out closest provable encloser" if optout
                  else "the cut's NSEC3, NS without DS"), r)
    # A delegation two labels down, under an empty non-terminal.
    r = ask(port, "x.y.deep.example.", "DS")
    c = chain(r)
    ok = (c.closest_encloser(N("x.y.deep.example.")) or (None, False))[1] if optout \
        else bool(c.matching(N("x.y.deep.example.")))
    check(r.rcode() == 0 and not r.answer and ok and not all_signed(r, keys),
          label + ": DS at a delegation below an empty non-terminal", r)

    # Secure delegation: its DS, signed; DS query answered.
    r = ask(port, "host.secure.example.", "A")
    check(r.rcode() == 0 and any(x.rdtype == T.DS for x in r.authority)
          and not all_signed(r, keys), label + ": secure delegation's DS", r)

    # An NSEC3 owner name is answered as a name that does not exist (7.2.8).
    own = N(Chain(r, salt, iters).h(N("www.example.")) + ".example.")
    for qt in ("A", "NSEC3"):
        r = ask(port, own, qt)
        enc = chain(r).closest_encloser(own)
        check(r.rcode() == dns.rcode.NXDOMAIN and enc and enc[0] == ORIGIN
              and not all_signed(r, keys), "%s: NSEC3 owner name, %s: NXDOMAIN" % (label, qt), r)

    # Over TCP the same; DO=0 carries none of it.
    r = ask(port, "nx.example.", "A", tcp=True)
    check(r.rcode() == dns.rcode.NXDOMAIN and chain(r).closest_encloser(N("nx.example."))
          and not all_signed(r, keys), label + ": NXDOMAIN over TCP", r)
    r = ask(port, "nx.example.", "A", do=False)
    check(r.rcode() == dns.rcode.NXDOMAIN
          and not any(x.rdtype in (T.NSEC3, T.RRSIG) for x in r.authority),
          label + ": DO=0 NXDOMAIN without NSEC3", r)
    r = ask(port, "www.example.", "A")
    check(r.rcode() == 0 and len(r.answer) == 2 and not all_signed(r, keys),
          label + ": positive answer signed", r)


def chain_checks(d, snap, label, salt, iters, optout):
    """The chain as `port53 dump` prints it: an NSEC3 for each name that
    must have one (computed here from the zone text with dnspython), and
    ldns-verify-zone's verdict."""
    dump = os.path.join(d, label + ".dump")
    with open(dump, "w") as f:
        subprocess.run([PORT53, "dump", snap, "example."], stdout=f, check=True, timeout=60)
    z = dns.zone.from_file(dump, origin=ORIGIN, relativize=False)
    owners = {n.labels[0].decode().lower() for n, node in z.nodes.items()
              if node.get_rdataset(dns.rdataclass.IN, T.NSEC3)}
    names = set()
    for n in dns.zone.from_text(ZONE, origin=ORIGIN, relativize=False).nodes:
        if n.is_subdomain(N("ns.secure.example.")) or n.is_subdomain(N("ns.insecure.example.")):
            continue  # glue below a cut
        while n != ORIGIN:
            names.add(n)
            n = n.parent()
    names.add(ORIGIN)
    insecure = {N("insecure.example."), N("x.y.deep.example.")}
    want = {dns.dnssec.nsec3_hash(n, salt, iters, 1).lower() for n in names
            if not (optout and n in insecure)}
    check(want == owners, label + ": NSEC3 owners are the hashes of the zone's names"
          + (" but insecure delegations" if optout else ""), (sorted(want - owners),
                                                               sorted(owners - want)))
    flags = {rd.flags for n, node in z.nodes.items()
             for rd in (node.get_rdataset(dns.rdataclass.IN, T.NSEC3) or [])}
    check(flags == ({1} if optout else {0}), label + ": Opt-Out flag", flags)
    if shutil.which("ldns-verify-zone") is None:
        check.skip(label + ": ldns-verify-zone", "ldnsutils not installed")
        return
    r = common.run(["ldns-verify-zone", dump])
    check(r.returncode == 0 and "Zone is verified and complete" in (r.stdout + r.stderr),
          label + ": ldns-verify-zone accepts the dump", r.stdout + r.stderr)


def delv_checks(d, port, keyset, label, optout):
    if shutil.which("delv") is None:
        check.skip(label + ": delv", "bind9-dnsutils not installed")
        return
    anchor = os.path.join(d, label + ".anchor")
    with open(anchor, "w") as f:
        f.write("trust-anchors {\n")
        for k in keyset:
            if k.flags & 1:
                f.write('  "example." static-key %d %d %d "%s";\n' % (
                    k.flags, k.protocol, k.algorithm, dns.rdata._base64ify(k.key, 0)))
        f.write("};\n")
    # Under opt-out an NSEC3 covering a name may hide an unsigned
    # delegation, so what it proves is insecure (RFC 5155 9.2): a wildcard
    # answer comes out unsigned, as with BIND's own signer; the absent DS
    # of an insecure delegation is proven by the opt-out closest encloser
    # proof (8.6), which delv's trace reports.
    cases = [("www.example.", "A", "; fully validated"),
             ("x.wild.example.", "TXT", "; unsigned answer" if optout else "; fully validated"),
             ("nx.example.", "A", "; negative response, fully validated"),
             ("c.b.ent.example.", "A", "; negative response, fully validated"),
             ("www.example.", "TXT", "; negative response, fully validated"),
             ("b.ent.example.", "A", "; negative response, fully validated"),
             ("x.wild.example.", "A", "; negative response, fully validated"),
             ("secure.example.", "DS", "; fully validated")]
    if not optout:
        cases.append(("insecure.example.", "DS", "; negative response, fully validated"))
    for name, rdtype, want in cases:
        r = common.run(["delv", "-a", anchor, "+root=example.", "@" + common.HOST, "-p",
                        str(port), name, rdtype], timeout=30)
        check(want in r.stdout, "%s: delv validates %s %s" % (label, name, rdtype),
              r.stdout + r.stderr)
    if optout:
        r = common.run(["delv", "-a", anchor, "+root=example.", "@" + common.HOST, "-p",
                        str(port), "insecure.example.", "DS", "+vtrace"], timeout=30)
        out = r.stdout + r.stderr
        check("NSEC3 indicates optout" in out and "nonexistence proof(s) found" in out
              and "; negative response, fully validated" in out,
              label + ": delv validates the opt-out proof of no DS", out)


def presigned(d, servers, label, sign_cmd, salt, iters, optout):
    """A zone file NSEC3-signed by another signer, compiled without keys
    and served as it is: the same proofs."""
    snap, r = compile_zone(d, open(sign_cmd(d)).read(), label)
    check(snap is not None, label + ": pre-signed NSEC3 zone compiles", r.stderr)
    if snap is None:
        return
    s = serve(d, snap, label)
    servers.append(s)
    keyset, keys = dnskeys(s.port)
    check(keyset is not None, label + ": DNSKEY served")
    if keyset is None:
        return
    proof_checks(s.port, keys, label, salt, iters, optout, signed_ents=not optout)
    delv_checks(d, s.port, keyset, label, optout)


def ldns_signed(d, iterations=0):
    kd = os.path.join(d, "ldnskeys")
    os.makedirs(kd, exist_ok=True)
    if not any(f.endswith(".private") for f in os.listdir(kd)):
        subprocess.run(["ldns-keygen", "-a", "ECDSAP256SHA256", "-k", "example."], cwd=kd,
                       capture_output=True, text=True, timeout=60, check=True)
    base = os.path.join(kd, next(f for f in os.listdir(kd) if f.endswith(".private"))[:-8])
    zf = os.path.join(d, "ldns-in.zone")
    with open(zf, "w") as f:
        f.write(ZONE)
    out = os.path.join(d, "ldns%d.signed" % iterations)
    subprocess.run(["ldns-signzone", "-n", "-t", str(iterations), "-f", out, "-o", "example.",
                    zf, base], check=True, timeout=60, capture_output=True)
    return out


def bind_signed(d):
    kd = os.path.join(d, "bindkeys")
    os.makedirs(kd, exist_ok=True)
    for extra in (["-f", "KSK"], []):
        subprocess.run(["dnssec-keygen", "-q", "-K", kd, "-a", "ECDSAP256SHA256"] + extra
                       + ["example."], check=True, timeout=60, capture_output=True)
    zf = os.path.join(d, "bind-in.zone")
    with open(zf, "w") as f:
        f.write(ZONE)
    out = os.path.join(d, "bind.signed")
    subprocess.run(["dnssec-signzone", "-q", "-K", kd, "-S", "-3", "ab12", "-H", "3", "-A",
                    "-o", "example.", "-f", out, zf], cwd=kd, check=True, timeout=120,
                   capture_output=True)
    return out


def policy_checks(d, servers):
    """Online signing in an NSEC3 zone: the Route 53 test zone's policy
    answers signed per query, and a policy that picks nothing proven by the
    name's NSEC3 with the type taken out of its bitmap, signed per query."""
    here = os.path.dirname(os.path.abspath(__file__))
    zone = N("example.com.")
    kdir = os.path.join(d, "r53keys")
    keygen(kdir, zone="example.com.")
    snap = os.path.join(d, "r53.p53")
    r = compile_zones(snap, ["example.com=" + os.path.join(here, "r53", "example.json")], kdir,
                      ["--nsec3", "example.com", "--geo", os.path.join(here, "r53", "geo.csv")])
    check(r.returncode == 0, "r53: the Route 53 zone compiles with NSEC3", r.stderr)
    if r.returncode:
        return
    s = serve(d, snap, "r53", extra=["--dnssec-keys", kdir])
    servers.append(s)
    k = ask(s.port, "example.com.", "DNSKEY")
    keys = {zone: k.get_rrset(k.answer, zone, 1, T.DNSKEY)}
    r = ask(s.port, "geo.example.com.", "A")
    check(r.rcode() == 0 and r.answer and not all_signed(r, keys),
          "r53: a geolocation answer signed per query", r)
    r = ask(s.port, "geonodef.example.com.", "A")
    n3 = [x for x in r.authority if x.rdtype == T.NSEC3]
    h = dns.dnssec.nsec3_hash("geonodef.example.com.", "", 0, 1).lower()
    check(r.rcode() == 0 and not r.answer and len(n3) == 1
          and n3[0].name.labels[0].decode().lower() == h and T.A not in types(n3[0])
          and T.RRSIG in types(n3[0]) and not all_signed(r, keys),
          "r53: policy NODATA: the name's NSEC3 without A, signed per query", r)


def same_bytes(d, servers):
    """DO=1 answers pre-rendered by the compiler (NSEC3 proofs found per
    node) equal the ones the engine renders per query: Ed25519 signatures
    are deterministic, so two compiles at one signing time sign alike."""
    kdir = os.path.join(d, "keys15")
    keygen(kdir, "-a", "15")
    t = ["--sig-time", str(int(time.time())), "--nsec3-opt-out", "example."]
    a, r1 = compile_zone(d, ZONE, "pre15", t, kdir)
    b, r2 = compile_zone(d, ZONE, "raw15", t + ["--no-prerender"], kdir)
    check(a and b, "Ed25519 NSEC3 zone compiles, pre-rendered and not", r1.stderr + r2.stderr)
    if not (a and b):
        return
    sa, sb = serve(d, a, "pre15"), serve(d, b, "raw15")
    servers += [sa, sb]
    diffs = []
    for name, rdtype in (("www.example.", "TXT"), ("example.", "TXT"), ("b.ent.example.", "A"),
                         ("x.wild.example.", "A"), ("x.wild.example.", "TXT"),
                         ("nx.example.", "A"), ("host.insecure.example.", "A"),
                         ("insecure.example.", "DS"), ("x.y.deep.example.", "DS"),
                         ("secure.example.", "DS"), ("example.", "NSEC3PARAM"),
                         ("www.example.", "A"), ("deep.example.", "A")):
        q = dns.message.make_query(name, rdtype, want_dnssec=True, use_edns=0, payload=1232)
        q.id = 4242
        x, y = common.query(q, sa.port), common.query(q, sb.port)
        if x is None or x != y:
            diffs.append("%s %s" % (name, rdtype))
    check(not diffs, "pre-rendered NSEC3 DO=1 answers equal rendered ones", diffs)


def main():
    with common.tempdir("p53nsec3-") as d:
        servers = []
        try:
            kdir = os.path.join(d, "keys")
            keygen(kdir, "--ksk")
            keygen(kdir, "--zsk")
            for label, extra, salt, iters, optout in (
                    ("nsec3", ["--nsec3", "example."], "", 0, False),
                    ("optout", ["--nsec3-opt-out", "example."], "", 0, True),
                    ("salted", ["--nsec3", "example", "--nsec3-salt", "C0FFEE",
                                "--nsec3-iterations", "7"], "c0ffee", 7, False)):
                snap, r = compile_zone(d, ZONE, label, extra, kdir)
                check(snap is not None, label + ": compiles", r.stderr)
                if snap is None:
                    continue
                s = serve(d, snap, label)
                servers.append(s)
                keyset, keys = dnskeys(s.port)
                proof_checks(s.port, keys, label, salt, iters, optout)
                chain_checks(d, snap, label, salt, iters, optout)
                if label != "salted":
                    delv_checks(d, s.port, keyset, label, optout)

            # What is refused, with a message.
            for extra, why in ((["--nsec3", "example.", "--nsec3-iterations", "151"], "150"),
                               (["--nsec3", "example.", "--compact-denial", "example."],
                                "exclude each other"),
                               (["--nsec3", "other."], "no such zone"),
                               (["--nsec3", "example.", "--nsec3-salt", "abc"], "hex")):
                snap, r = compile_zone(d, ZONE, "bad", extra, kdir)
                check(snap is None and why in r.stderr, "refused: %s" % " ".join(extra), r.stderr)
            snap, r = compile_zone(d, ZONE, "nokeys", ["--nsec3", "example."])
            check(snap is None and "--dnssec-keys" in r.stderr, "--nsec3 without keys refused",
                  r.stderr)

            policy_checks(d, servers)
            same_bytes(d, servers)

            if shutil.which("ldns-signzone") and shutil.which("ldns-keygen"):
                presigned(d, servers, "ldns-presigned", ldns_signed, "", 0, False)
                # More iterations than the server hashes per query: refused.
                snap, r = compile_zone(d, open(ldns_signed(d, 200)).read(), "ldns200")
                check(snap is None and "200 iterations" in r.stderr,
                      "a pre-signed chain of 200 iterations is refused", r.stderr)
            else:
                check.skip("pre-signed by ldns-signzone", "ldnsutils not installed")
            if shutil.which("dnssec-signzone") and shutil.which("dnssec-keygen"):
                presigned(d, servers, "bind-presigned", bind_signed, "ab12", 3, True)
            else:
                check.skip("pre-signed by dnssec-signzone", "bind9-utils not installed")
        finally:
            for s in servers:
                s.stop()
    return check.finish()


if __name__ == "__main__":
    t0 = time.time()
    rc = main()
    print("took %.1f s" % (time.time() - t0))
    sys.exit(rc)
