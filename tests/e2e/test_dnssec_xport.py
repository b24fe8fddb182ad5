#!/usr/bin/python3
"""DNSSEC answers validated through every transport (docs/dnssec.md,
docs/transports.md): DO=1 answers of signed zones fetched over UDP, TCP,
DNS over TLS, DNS over HTTPS (GET and POST) and DNS over QUIC, from
`port53 serve` (loopback: UDP, TCP, DoT, DoH; it has no DoQ listener) and
from port53d on net_af_xdp (veth in namespaces made here: UDP by the DPDK
worker, TCP, DoT, DoH and DoQ by port53d's transport threads).

Zones, one snapshot: the Route 53 test zone (tests/e2e/r53/example.json)
as example.com (an Ed25519 CSK, NSEC chain), as example.org (an ECDSA
P-256 KSK and ZSK, NSEC3) and as example.info (an ECDSA P-256 CSK,
compact denial, RFC 9824: every denial signed online), each with a wildcard, a CNAME chain, a CNAME
into a geolocation policy, TXT sets of 700 bytes, 3 KB and 24 KB added;
health checks taken out, so the failover pick cannot change under the
test. Routing-policy answers and denials that depend on them are signed
online (--dnssec-keys, --dnssec-sig-time pinned).

Clients, each independent of the server: dnspython (UDP, TCP, and DoT on
one TLS connection with the test CA), kdig (+tls-ca, +https, +https-get;
its text output parsed back into RRsets), curl --http2 (RFC 8484 GET and
POST, the wire answer kept) and tests/e2e/doqclient (quic-go). Python's
http.client cannot be used for DoH: both servers serve HTTP/2 only, and
Debian's python3 has no h2. Every answer of every transport is validated
with dnspython's dns.dnssec: the DNSKEY set fetched over that transport
against the trust anchor (the test's KSK or CSK, read from its key file),
then every RRset of the answer and authority sections against that DNSKEY
set; the denial proofs (NSEC covering and matching, NSEC3 closest encloser
and next closer hashed with dnspython) are checked as a resolver would; and
the RRsets of each transport's answer must equal the UDP answer's (TCP's
for the answer UDP truncates), RRSIG bytes included for the Ed25519 zone
(deterministic signatures), the RRSIG fields but the signature for ECDSA;
and port53d's must equal `port53 serve`'s the same way (one snapshot, one
key directory, one pinned signing time).
BIND's delv, with a trust-anchor file, validates the UDP and TCP answers
(delv speaks no DoT, DoH or DoQ). Debian's unbound, as a validating
resolver whose only upstream is the server's DoT listener
(forward-tls-upstream, certificate checked) and whose trust anchors are
the test's keys, must answer every kind of case with AD, and call a zone
served unsigned under a trust anchor bogus (SERVFAIL); unbound 1.17 has no
DoH or DoQ upstream.

Cases: DNSKEY, a static A, NXDOMAIN, NODATA, wildcard expansion, wildcard
NODATA, a CNAME chain of three, a CNAME into a policy, geolocation,
CIDR, latency and geoproximity picks by EDNS Client Subnet, failover, an
alias to it, a policy NODATA, weighted and multivalue picks (validated
only: random per query), a policy pick, a wildcard and an NXDOMAIN asked
in mixed case (0x20; unbound asks that way too, use-caps-for-id), answers
of 700 bytes, 3 KB and 24 KB (more than one HTTP/2 DATA frame, one TLS
record, many QUIC packets).

Needs root, kdig with HTTPS (Debian 12's knot-dnsutils), curl, delv, unbound, and a
build with port53d, port53, p53_xdp.bpf.o and doqclient:
    sudo /usr/bin/python3 tests/e2e/test_dnssec_xport.py BUILD_DIR
"""

import base64
import contextlib
import glob
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import dns.dnssec  # noqa: E402
import dns.edns  # noqa: E402
import dns.exception  # noqa: E402
import dns.flags  # noqa: E402
import dns.message  # noqa: E402
import dns.name  # noqa: E402
import dns.query  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdata  # noqa: E402
import dns.rdataclass  # noqa: E402
import dns.rdatatype as T  # noqa: E402
import dns.rrset  # noqa: E402
import dpnet  # noqa: E402
import xport  # noqa: E402
from dpnet import run  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PID = os.getpid()
SVC4, CLI4 = "192.0.2.53", "192.0.2.10"
SNI = "dns.example.test"  # the name in xport.make_certs' server certificate

# apex, denial, keygen arguments (each a key), what the test's keys are.
# Ed25519 signatures are deterministic, so with it the RRSIG bytes are
# compared across transports too; ECDSA's are randomised per signing.
ZONES = [
    ("example.com.", "nsec", [["-a", "15"]], "Ed25519 CSK, NSEC"),
    ("example.org.", "nsec3", [["--ksk", "-a", "13"], ["--zsk", "-a", "13"]],
     "ECDSA P-256 KSK + ZSK, NSEC3"),
    ("example.info.", "compact", [["-a", "13"]], "ECDSA P-256 CSK, compact denial"),
]
CONTROL = "example.net."  # served unsigned: unbound's negative control
REF = {}  # the first server's answers, which the second's must equal

# (owner below the apex, type, ECS or None, kind, compared with UDP/TCP)
# kind: pos, nxdomain, nodata, wild, wildnodata, cname
CASES = [
    ("", "DNSKEY", None, "pos", True),
    ("simple", "A", None, "pos", True),
    ("nx", "A", None, "nxdomain", True),
    ("simple", "TXT", None, "nodata", True),
    ("x.wild", "TXT", None, "wild", True),
    ("x.wild", "A", None, "wildnodata", True),
    ("c1", "A", None, "cname", True),
    ("cgeo", "A", ("10.3.2.0", 24), "cname", True),
    ("geo", "A", ("10.1.2.0", 24), "pos", True),
    ("cidr", "A", ("10.9.3.0", 24), "pos", True),
    ("fo", "A", None, "pos", True),
    ("geonodef", "A", ("10.1.2.0", 24), "nodata", True),
    ("lat", "A", ("10.5.2.0", 24), "pos", True),
    ("prox", "A", ("10.4.2.0", 24), "pos", True),
    ("alias", "A", None, "pos", True),
    ("www", "A", None, "pos", False),
    ("mv", "A", None, "pos", False),
    ("mid", "TXT", None, "pos", True),
    ("big", "TXT", None, "pos", True),
    ("huge", "TXT", None, "pos", True),
    # Names in mixed case, as resolvers send them (0x20): an answer signed
    # online must be signed over the canonical, lower-case owner.
    ("GeO", "A", ("10.3.2.0", 24), "pos", True),
    ("Y.WiLd", "TXT", None, "wild", True),
    ("Nx2", "A", None, "nxdomain", True),
]
# What delv validates (over UDP, or TCP), and what it must say. The 3 KB
# answer comes truncated over UDP, and delv asks again over TCP.
DELV = [("simple", "A", "; fully validated", True),
        ("big", "TXT", "; fully validated", False),
        ("nx", "A", "; negative response, fully validated", False),
        ("x.wild", "A", "; negative response, fully validated", True),
        ("x.wild", "TXT", "; fully validated", False),
        ("c1", "A", "; fully validated", False),
        ("geo", "A", "; fully validated", False)]


def qname(apex, label):
    return dns.name.from_text(label + "." + apex if label else apex)


# --- zones ---------------------------------------------------------------------

def zone_json(work, apex):
    """The Route 53 test zone under APEX, health checks out, the test's
    records in."""
    with open(os.path.join(HERE, "r53", "example.json")) as f:
        d = json.loads(f.read().replace("example.com.", apex))
    d.pop("HealthChecks", None)
    for rrs in d["ResourceRecordSets"]:
        rrs.pop("HealthCheckId", None)

    def rr(name, rtype, values, ttl=300):
        return {"Name": name + "." + apex, "Type": rtype, "TTL": ttl,
                "ResourceRecords": [{"Value": v} for v in values]}
    d["ResourceRecordSets"] += [
        rr("*.wild", "TXT", ['"from the wildcard"']),
        rr("c1", "CNAME", ["c2." + apex]),
        rr("c2", "CNAME", ["c3." + apex]),
        rr("c3", "CNAME", ["simple." + apex]),
        rr("cgeo", "CNAME", ["geo." + apex]),
        rr("mid", "TXT", ['"%02d %s"' % (i, "m" * 90) for i in range(6)]),
        rr("big", "TXT", ['"%02d %s"' % (i, "b" * 90) for i in range(30)]),
        rr("huge", "TXT", ['"%03d %s"' % (i, "h" * 230) for i in range(100)]),
    ]
    path = os.path.join(work, apex + "json")
    with open(path, "w") as f:
        json.dump(d, f)
    return path


def anchors(kdir, apex):
    """The zone's key-signing keys (flags 257) as an RRset, read from the
    key files the test made: the trust anchor, not what a server says."""
    name = dns.name.from_text(apex)
    rrset = dns.rrset.RRset(name, dns.rdataclass.IN, T.DNSKEY)
    for path in glob.glob(os.path.join(kdir, "K%s+*.key" % apex)):
        with open(path) as f:
            for line in f:
                if line.startswith(";") or "DNSKEY" not in line:
                    continue
                rd = dns.rdata.from_text(dns.rdataclass.IN, T.DNSKEY,
                                         line.split("DNSKEY", 1)[1].strip())
                if rd.flags & 1:
                    rrset.add(rd, 3600)
    return rrset


def write_anchor_file(work, apex, anchor):
    path = os.path.join(work, "anchor-%s" % apex)
    with open(path, "w") as f:
        f.write("trust-anchors {\n")
        for k in anchor:
            f.write('  "%s" static-key %d %d %d "%s";\n' % (
                apex, k.flags, k.protocol, k.algorithm, base64.b64encode(k.key).decode()))
        f.write("};\n")
    return path


# --- answers, whatever the client ------------------------------------------------

class Ans:
    """What the checks read of an answer: rcode, AA, TC and the RRsets of
    each section (from a wire message or from kdig's text)."""

    def __init__(self, rcode, aa, tc, answer, authority, additional, wire_id=None):
        self.rcode, self.aa, self.tc = rcode, aa, tc
        self.sec = {"answer": answer, "authority": authority, "additional": additional}
        self.id = wire_id

    @classmethod
    def of(cls, m):
        return cls(m.rcode(), bool(m.flags & dns.flags.AA), bool(m.flags & dns.flags.TC),
                   list(m.answer), list(m.authority), list(m.additional), m.id)

    def __repr__(self):
        out = ["rcode=%s aa=%s tc=%s" % (dns.rcode.to_text(self.rcode), self.aa, self.tc)]
        for s, rrs in self.sec.items():
            out += ["%s: %s" % (s, rr.to_text()[:160]) for rr in rrs]
        return "\n".join(out)


def parse_kdig(text):
    """kdig's default output, one block per query, back into Ans objects."""
    out = []
    for block in text.split(";; ->>HEADER<<-")[1:]:
        st = re.search(r"status: (\w+)", block)
        fl = re.search(r";; Flags: ([^;]*);", block)
        if not st or not fl:
            out.append("unparsed kdig block: %r" % block[:200])
            continue
        flags = fl.group(1).split()
        secs = {"answer": {}, "authority": {}, "additional": {}}
        cur = None
        for line in block.splitlines():
            if line.startswith(";;"):
                m = re.match(r";; (ANSWER|AUTHORITY|ADDITIONAL) SECTION:", line)
                cur = secs[m.group(1).lower()] if m else (None if "SECTION" in line else cur)
                continue
            if not line.strip() or line.startswith(";") or cur is None:
                continue
            name, ttl, cls, rtype, rest = line.split(None, 4)
            rd = dns.rdata.from_text(dns.rdataclass.from_text(cls), T.from_text(rtype), rest,
                                     origin=dns.name.root, relativize=False)
            covers = rd.covers() if rd.rdtype == T.RRSIG else T.NONE
            key = (dns.name.from_text(name), rd.rdtype, covers)
            if key not in cur:
                cur[key] = dns.rrset.RRset(key[0], rd.rdclass, rd.rdtype, covers)
            cur[key].add(rd, int(ttl))
        out.append(Ans(dns.rcode.from_text(st.group(1)), "aa" in flags, "tc" in flags,
                       list(secs["answer"].values()), list(secs["authority"].values()),
                       list(secs["additional"].values())))
    return out


def make_query(apex, label, rtype, ecs, qid):
    opts = [dns.edns.ECSOption(ecs[0], ecs[1])] if ecs else []
    q = dns.message.make_query(qname(apex, label), rtype, want_dnssec=True, use_edns=0,
                               payload=1232, options=opts)
    q.id = qid
    return q


# --- validation ----------------------------------------------------------------------

def rrsig_for(rrs, rr):
    for s in rrs:
        if s.rdtype == T.RRSIG and s.name == rr.name and s.covers == rr.rdtype:
            return s
    return None


def signatures_bad(ans, apex, keys):
    """Every RRset of the answer and authority sections validates with the
    DNSKEY set; returns what does not (and an answer with no RRSIG)."""
    bad = []
    zone = dns.name.from_text(apex)
    nsig = 0
    for sn in ("answer", "authority"):
        rrs = ans.sec[sn]
        for rr in rrs:
            if rr.rdtype == T.RRSIG:
                nsig += 1
                continue
            sig = rrsig_for(rrs, rr)
            try:
                if sig is None:
                    raise dns.dnssec.ValidationFailure("no RRSIG")
                dns.dnssec.validate(rr, sig, {zone: keys})
            except Exception as e:  # noqa: BLE001
                bad.append("%s %s %s: %s" % (sn, rr.name, T.to_text(rr.rdtype), e))
    if not nsig:
        bad.append("no RRSIG at all")
    return bad


def nsec_covers(owner, nxt, name):
    """owner < name < next in canonical order (dnspython's Name order is
    RFC 4034 6.1's); the last NSEC wraps to the apex."""
    if owner < nxt:
        return owner < name < nxt
    return name > owner or name < nxt


def nsec_types(rd):
    return set(rd.to_text().split()[1:])


def b32hex(raw):
    return base64.b32hexencode(raw).decode().lower().rstrip("=")


class Nsec3Set:
    def __init__(self, rrs, apex):
        self.apex = dns.name.from_text(apex)
        self.recs = []
        for rr in rrs:
            if rr.rdtype == T.NSEC3:
                for rd in rr:
                    self.recs.append((rr.name.labels[0].decode().lower(), b32hex(rd.next), rd))
        rd0 = self.recs[0][2] if self.recs else None
        self.salt = rd0.salt if rd0 else b""
        self.iters = rd0.iterations if rd0 else 0

    def h(self, name):
        return dns.dnssec.nsec3_hash(name, self.salt, self.iters, 1).lower()

    def match(self, name):
        h = self.h(name)
        return next((rd for o, _, rd in self.recs if o == h), None)

    def covered(self, name):
        h = self.h(name)
        for o, n, _ in self.recs:
            if (o < n and o < h < n) or (o >= n and (h > o or h < n)):
                return True
        return False


def ancestors(name, apex):
    """NAME's ancestors from its parent up to the apex."""
    out = []
    n = name
    while n != apex and len(n) > len(apex):
        n = n.parent()
        out.append(n)
    return out


def proof_bad(ans, apex, label, rtype, kind, denial):
    """The denial of existence proves what the answer says (RFC 4035 5.4,
    RFC 5155 8), read from the NSEC or NSEC3 records as a resolver would.
    Returns a reason or None."""
    qn = qname(apex, label)
    zone = dns.name.from_text(apex)
    auth = ans.sec["authority"]
    # RFC 9824 3: without the Compact Answers OK flag a compact zone
    # answers a name that does not exist NOERROR, with an NXNAME proof.
    nx = kind == "nxdomain" and denial != "compact"
    if nx and ans.rcode != dns.rcode.NXDOMAIN:
        return "rcode %s, NXDOMAIN expected" % dns.rcode.to_text(ans.rcode)
    if not nx and ans.rcode != dns.rcode.NOERROR:
        return "rcode %s" % dns.rcode.to_text(ans.rcode)
    types = {rr.rdtype for rr in ans.sec["answer"]}
    if kind in ("nodata", "wildnodata", "nxdomain") and types:
        return "answer section not empty"
    if kind in ("pos", "wild") and T.from_text(rtype) not in types:
        return "no %s in the answer" % rtype
    if kind == "cname":
        chain = [rr for rr in ans.sec["answer"] if rr.rdtype == T.CNAME]
        if not chain or T.A not in types:
            return "no CNAME chain ending in A"
    wild_sig = None
    if kind == "wild" and denial == "compact":
        # Signed online under the query name (docs/dnssec.md): the label
        # count is the name's, nothing to prove about the wildcard.
        sig = next((rr for rr in ans.sec["answer"] if rr.rdtype == T.RRSIG
                    and rr.covers == T.TXT), None)
        if sig is None or sig[0].labels != len(qn) - 1:
            return "a compact zone's wildcard answer not signed under the query name"
        return None
    if kind == "wild":
        sig = next((rr for rr in ans.sec["answer"] if rr.rdtype == T.RRSIG
                    and rr.covers == T.TXT), None)
        if sig is None or sig[0].labels >= len(qn) - 1:
            return "the RRSIG's label count does not mark a wildcard expansion"
        wild_sig = sig[0].labels
    if kind not in ("nxdomain", "nodata", "wild", "wildnodata"):
        return None
    qt = rtype
    if denial == "compact":
        # One NSEC at the name, next name \000.name (RFC 9824 3.1, 3.2);
        # NXNAME (type 128) in its bitmap when the name does not exist.
        ns = [(rr.name, rd) for rr in auth if rr.rdtype == T.NSEC for rd in rr]
        if len(ns) != 1 or ns[0][0] != qn:
            return "not one NSEC at the name: %s" % [str(o) for o, _ in ns]
        rd = ns[0][1]
        types = nsec_types(rd)
        if rd.next != dns.name.Name((b"\x00",) + qn.labels):
            return "next name %s, not \\000.%s" % (rd.next, qn)
        if qt in types or "CNAME" in types:
            return "%s in the bitmap %s" % (qt, types)
        if (kind == "nxdomain") != bool(types & {"NXNAME", "TYPE128"}):
            return "NXNAME %s the bitmap %s" % ("missing from" if kind == "nxdomain" else "in",
                                                types)
        return None
    if denial == "nsec":
        ns = [(rr.name, rd) for rr in auth if rr.rdtype == T.NSEC for rd in rr]
        cover = [(o, rd) for o, rd in ns if nsec_covers(o, rd.next, qn)]
        if kind == "nodata":
            at = [rd for o, rd in ns if o == qn]
            if not at or qt in nsec_types(at[0]) or "CNAME" in nsec_types(at[0]):
                return "no NSEC at the name without %s" % qt
            return None
        if not cover:
            return "no NSEC covers %s" % qn
        if kind == "wild":
            return None
        o, rd = cover[0]
        common_labels = max(qn.fullcompare(o)[2], qn.fullcompare(rd.next)[2])
        ce = dns.name.Name(qn.labels[-common_labels:])
        star = dns.name.Name((b"*",) + ce.labels)
        if kind == "nxdomain":
            if not any(nsec_covers(o2, rd2.next, star) for o2, rd2 in ns):
                return "no NSEC covers the wildcard %s" % star
            return None
        at = [rd2 for o2, rd2 in ns if o2 == star]  # wildnodata
        if not at or qt in nsec_types(at[0]):
            return "no NSEC at %s without %s" % (star, qt)
        return None
    n3 = Nsec3Set(auth, apex)
    if not n3.recs:
        return "no NSEC3 records"
    if kind == "nodata":
        rd = n3.match(qn)
        if rd is None or qt in nsec_types(rd) or "CNAME" in nsec_types(rd):
            return "no NSEC3 matching the name without %s" % qt
        return None
    if kind == "wild":
        # The closest encloser has the RRSIG's labels (plus the root);
        # the next closer name one more.
        nc = dns.name.Name(qn.labels[-(wild_sig + 2):])
        return None if n3.covered(nc) else "next closer %s not covered" % nc
    ce = next((a for a in ancestors(qn, zone) if n3.match(a) is not None), None)
    if ce is None:
        return "no closest encloser proven"
    nc = dns.name.Name(qn.labels[-(len(ce) + 1):])
    if not n3.covered(nc):
        return "next closer %s not covered" % nc
    star = dns.name.Name((b"*",) + ce.labels)
    if kind == "nxdomain":
        return None if n3.covered(star) else "wildcard %s not covered" % star
    rd = n3.match(star)  # wildnodata
    if rd is None or qt in nsec_types(rd):
        return "no NSEC3 at %s without %s" % (star, qt)
    return None


def rrsets_key(ans, keep_sig):
    """The RRsets of every section in a form two answers can be compared
    by: owner, type, TTL and canonical rdata; an ECDSA RRSIG without its
    signature (randomised per signing)."""
    out = [ans.rcode, ans.aa]
    for sn in ("answer", "authority", "additional"):
        items = []
        for rr in ans.sec[sn]:
            rds = []
            for rd in rr:
                if rr.rdtype == T.RRSIG and not keep_sig:
                    rds.append(repr((rd.type_covered, rd.algorithm, rd.labels, rd.original_ttl,
                                     rd.expiration, rd.inception, rd.key_tag,
                                     rd.signer.to_text().lower())))
                else:
                    rds.append(rd.to_digestable(dns.name.root).hex())
            items.append((rr.name.to_text().lower(), rr.rdtype, rr.covers, rr.ttl,
                          tuple(sorted(rds))))
        out.append(tuple(sorted(items)))
    return out


# --- clients -----------------------------------------------------------------------------

def in_ns(ns):
    return dpnet.InNetns(ns) if ns else contextlib.nullcontext()


def ask_udp_tcp(ep, qs, tcp):
    out = []
    for q in qs:
        a = None
        with in_ns(ep["ns"]):
            for _ in range(3):
                try:
                    if tcp:
                        a = dns.query.tcp(q, ep["addr"], port=ep["port"], timeout=5)
                    else:
                        a = dns.query.udp(q, ep["addr"], port=ep["port"], timeout=1.5)
                    break
                except (dns.exception.Timeout, OSError) as e:
                    a = "error: %r" % e
        out.append(a)
    return out


def ask_dot_python(ep, qs, ca):
    """dnspython over one TLS connection, the certificate verified against
    the test CA for the name in it."""
    ctx = ssl.create_default_context(cafile=ca)
    ctx.set_alpn_protocols(["dot"])
    with in_ns(ep["ns"]):
        raw = socket.create_connection((ep["addr"], ep["dot"]), timeout=10)
    out = []
    try:
        s = ctx.wrap_socket(raw, server_hostname=SNI)
        for q in qs:
            try:
                out.append(dns.query.tls(q, ep["addr"], port=ep["dot"], timeout=10, sock=s))
            except (dns.exception.DNSException, OSError) as e:
                out.append("error: %r" % e)
        s.close()
    except (ssl.SSLError, OSError) as e:
        out = ["error: %r" % e] * len(qs)
    finally:
        raw.close()
    return out


def kdig_args(apex, case):
    label, rtype, ecs = case[0], case[1], case[2]
    a = [qname(apex, label).to_text(), rtype]
    if ecs:
        a.append("+subnet=%s/%d" % ecs)
    return a


def ask_kdig(ep, apex, cases, mode, ca):
    """kdig, every case one query of one invocation; strict TLS (the test
    CA and name). mode: +tls, +https or +https-get."""
    port = ep["dot"] if mode == "+tls" else ep["doh"]
    cmd = ["kdig", "@" + ep["addr"], "-p", str(port), mode, "+tls-ca=%s" % ca,
           "+tls-hostname=" + SNI, "+dnssec", "+bufsize=1232", "+timeout=10", "+retry=0"]
    for c in cases:
        cmd += kdig_args(apex, c)
    r = run(cmd, ns=ep["ns"], check=False, timeout=120)
    got = parse_kdig(r.stdout)
    # What kdig says of each exchange: a TLS 1.3 session, and for DoH the
    # HTTP/2 method and status. A kdig built without nghttp2 would ask
    # over plain TLS and fail here.
    via = {"+tls": ";; TLS session (TLS1.3)",
           "+https": ";; HTTP session (HTTP/2-POST)-(%s/dns-query)-(status: 200)" % SNI,
           "+https-get": ";; HTTP session (HTTP/2-GET)-(%s/dns-query)-(status: 200)" % SNI}[mode]
    n = r.stdout.count(via)
    if len(got) != len(cases) or n != len(cases) or (mode == "+tls" and "HTTP session" in
                                                      r.stdout):
        return ["error: kdig rc %d, %d answers, %d times %r: %s" % (
            r.returncode, len(got), n, via, (r.stdout + r.stderr)[:600])] * len(cases)
    return got


def ask_doh_curl(ep, qs, work, method, ca):
    """RFC 8484 through curl --http2 (nghttp2): every request on one
    connection (--next), GET with ?dns= base64url or POST with
    application/dns-message; the wire answer and the HTTP status kept."""
    url = "https://%s:%d/dns-query" % (SNI, ep["doh"])
    base = ["-s", "--http2", "--cacert", ca, "--resolve", "%s:%d:%s" % (SNI, ep["doh"],
            ep["addr"]), "--max-time", "20", "-w", "%{http_code} %{content_type}\\n"]
    cmd = ["curl"]
    files = []
    for i, q in enumerate(qs):
        q.id = 0  # RFC 8484 4.1: cache-friendly
        wire = q.to_wire()
        outf = os.path.join(work, "doh-%s-%d.out" % (method, i))
        files.append(outf)
        if i:
            cmd.append("--next")
        cmd += base + ["-o", outf]
        if method == "GET":
            cmd.append(url + "?dns=" + base64.urlsafe_b64encode(wire).decode().rstrip("="))
        else:
            inf = os.path.join(work, "doh-%d.in" % i)
            with open(inf, "wb") as f:
                f.write(wire)
            cmd += ["-H", "content-type: application/dns-message", "--data-binary",
                    "@" + inf, url]
    r = run(cmd, ns=ep["ns"], check=False, timeout=120)
    status = r.stdout.splitlines()
    out = []
    for i, outf in enumerate(files):
        st = status[i] if i < len(status) else "none"
        try:
            with open(outf, "rb") as f:
                m = dns.message.from_wire(f.read())
            out.append(m if st == "200 application/dns-message" else "error: HTTP %s" % st)
        except (OSError, dns.exception.DNSException) as e:
            out.append("error: HTTP %s, %r %s" % (st, e, r.stderr[-200:]))
    return out


def ask_doq(ep, qs, doqclient, ca):
    for q in qs:
        q.id = 0  # RFC 9250 4.2.1
    got, err = xport.doq(doqclient, ep["ns"], ep["addr"], qs, ca=ca, timeout=15)
    if got is None:
        return ["error: %s" % err] * len(qs)
    return [m if isinstance(m, dns.message.Message) else "error: %s" % m for m in got]


# --- one server ----------------------------------------------------------------------

def transports(ep, work, ca, doqclient):
    """(name, fetch(apex) -> list of Ans or error strings, in CASES order)."""
    def wire(fn):
        def fetch(apex):
            qs = [make_query(apex, c[0], c[1], c[2], 1000 + i) for i, c in enumerate(CASES)]
            return [Ans.of(m) if isinstance(m, dns.message.Message) else m for m in fn(qs)]
        return fetch
    out = [("UDP", wire(lambda qs: ask_udp_tcp(ep, qs, False))),
           ("TCP", wire(lambda qs: ask_udp_tcp(ep, qs, True))),
           ("DoT dnspython", wire(lambda qs: ask_dot_python(ep, qs, ca))),
           ("DoT kdig +tls-ca", lambda apex: ask_kdig(ep, apex, CASES, "+tls", ca)),
           ("DoH curl GET", wire(lambda qs: ask_doh_curl(ep, qs, work, "GET", ca))),
           ("DoH curl POST", wire(lambda qs: ask_doh_curl(ep, qs, work, "POST", ca))),
           ("DoH kdig +https (POST)", lambda apex: ask_kdig(ep, apex, CASES, "+https", ca)),
           ("DoH kdig +https-get", lambda apex: ask_kdig(ep, apex, CASES, "+https-get", ca))]
    if ep.get("doq"):
        out.append(("DoQ doqclient", wire(lambda qs: ask_doq(ep, qs, doqclient, ca))))
    return out


def check_server(res, label, ep, work, ca, doqclient, zones, ref):
    """ref: {apex: {case: RRsets}} of the server checked before, filled
    when empty; the answers of this one must equal it (the same snapshot,
    keys and signing time)."""
    for apex, denial, anchor, what, det in zones:
        base = {}
        tag = "%s %s (%s)" % (label, apex, what)
        delv = start_delv(ep, work, apex, anchor)
        for tname, fetch in transports(ep, work, ca, doqclient):
            got = fetch(apex)
            errs = [(CASES[i][:2], g) for i, g in enumerate(got) if not isinstance(g, Ans)]
            if not res.check("%s, %s: %d DO=1 answers" % (tag, tname, len(CASES)),
                             not errs and len(got) == len(CASES), repr(errs[:3])):
                continue
            dk = got[0]
            keys = next((rr for rr in dk.sec["answer"] if rr.rdtype == T.DNSKEY), None)
            try:
                dns.dnssec.validate(keys, rrsig_for(dk.sec["answer"], keys),
                                    {dns.name.from_text(apex): anchor})
            except Exception as e:  # noqa: BLE001
                res.check("%s, %s: DNSKEY set signed by the trust anchor" % (tag, tname),
                          False, "%r\n%r" % (e, dk))
                continue
            bad, proofs, diff = [], [], []
            for case, a in zip(CASES, got):
                label_, rtype, _, kind, compared = case
                what_ = "%s %s" % (qname(apex, label_), rtype)
                if a.tc:
                    # Only UDP may truncate, and only the 3 and 24 KB answers.
                    if not (tname == "UDP" and label_ in ("big", "huge")):
                        bad.append("%s: TC over %s" % (what_, tname))
                    continue
                if not a.aa:
                    bad.append("%s: no AA" % what_)
                bad += ["%s: %s" % (what_, b) for b in signatures_bad(a, apex, keys)]
                p = proof_bad(a, apex, label_, rtype, kind, denial)
                if p:
                    proofs.append("%s: %s\n%r" % (what_, p, a))
                if not compared:
                    continue
                k = rrsets_key(a, keep_sig=det)
                if what_ not in base:
                    base[what_] = (tname, k)
                elif base[what_][1] != k:
                    diff.append("%s: %s differs from %s:\n%r" % (what_, tname, base[what_][0],
                                                                  a))
            res.check("%s, %s: DNSKEY set validated against the trust anchor, every RRset "
                      "of %d answers validated (dnspython)" % (tag, tname, len(CASES)),
                      not bad, "\n".join(bad[:6]))
            res.check("%s, %s: NXDOMAIN, NODATA, wildcard and policy NODATA proofs hold"
                      % (tag, tname), not proofs, "\n".join(proofs[:3]))
            if tname == "UDP":
                big = [got[[c[0] for c in CASES].index(x)] for x in ("big", "huge")]
                res.check("%s, UDP: the 3 and 24 KB answers truncated (TC), so they are "
                          "fetched whole over TCP and the others" % tag,
                          all(b.tc for b in big), repr(big))
            else:
                res.check("%s, %s: the same RRsets as over UDP (TCP for the large answers)%s"
                          % (tag, tname, ", RRSIG bytes included" if det else ""),
                          not diff, "\n".join(diff[:3]))
        finish_delv(res, tag, delv)
        keys_now = {w: k for w, (_, k) in base.items()}
        if apex not in ref:
            ref[apex] = (label, keys_now)
        elif keys_now:
            other, want = ref[apex]
            diff = sorted(w for w in set(want) | set(keys_now) if want.get(w) != keys_now.get(w))
            res.check("%s: the same answers as %s%s" % (tag, other, ", RRSIG bytes included"
                                                         if det else ""), not diff, diff)


def start_delv(ep, work, apex, anchor):
    """Every delv of DELV started at once (each mostly waits, not
    computes), to run while the other transports are asked."""
    af = write_anchor_file(work, apex, anchor)
    procs = []
    for label, rtype, want, tcp in DELV:
        cmd = ["delv", "-a", af, "+root=" + apex, "@" + ep["addr"], "-p", str(ep["port"]),
               qname(apex, label).to_text(), rtype]
        if tcp:
            cmd.insert(1, "+tcp")
        if ep["ns"]:
            cmd = ["ip", "netns", "exec", ep["ns"]] + cmd
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True))
    return procs


def finish_delv(res, tag, procs):
    bad = []
    for (label, rtype, want, tcp), p in zip(DELV, procs):
        try:
            out = p.communicate(timeout=60)[0]
        except subprocess.TimeoutExpired:
            p.kill()
            out = p.communicate()[0] + " (timed out)"
        if want not in out:
            bad.append("%s %s%s: %s" % (label, rtype, " +tcp" if tcp else "", out[-300:]))
    ntcp = sum(1 for c in DELV if c[3])
    res.check("%s: delv with the trust anchor validates %d answers over UDP and %d over TCP"
              % (tag, len(DELV) - ntcp, ntcp), not bad, "\n".join(bad[:3]))


# --- a validating resolver over DoT ---------------------------------------------------

UNBOUND_CONF = """server:
    interface: 127.0.0.1
    port: {port}
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "{d}"
    pidfile: "{d}/unbound.pid"
    logfile: "{d}/unbound.log"
    use-syslog: no
    verbosity: 1
    val-log-level: 2
    do-ip6: no
    do-not-query-localhost: no
    access-control: 127.0.0.0/8 allow
    module-config: "validator iterator"
    qname-minimisation: no
    aggressive-nsec: no
    harden-dnssec-stripped: yes
    use-caps-for-id: yes
    tls-cert-bundle: "{ca}"
{anchors}
remote-control:
    control-enable: no
{zones}"""

FORWARD = """forward-zone:
    name: "{zone}"
    forward-tls-upstream: yes
    forward-addr: {addr}@{port}#{sni}
"""
# Anything else (the root, were unbound to prime it) goes to the server's
# plain port too, so the resolver never sends a packet off this machine.
FORWARD_ROOT = """forward-zone:
    name: "."
    forward-addr: {addr}@{port}
"""

# What unbound is asked through DoT, the rcode it must give with AD, and
# whether the answer section holds the type asked for (else it is empty;
# None: either, a pick by unbound's own address that may find nothing).
UNBOUND_CASES = [("", "DNSKEY", "NOERROR", True), ("simple", "A", "NOERROR", True),
                 ("nx", "A", "NXDOMAIN", False), ("simple", "TXT", "NOERROR", False),
                 ("x.wild", "TXT", "NOERROR", True), ("x.wild", "A", "NOERROR", False),
                 ("c1", "A", "NOERROR", True), ("cgeo", "A", "NOERROR", True),
                 ("geo", "A", "NOERROR", True), ("fo", "A", "NOERROR", True),
                 ("geonodef", "A", "NOERROR", False), ("www", "A", "NOERROR", True),
                 ("lat", "A", "NOERROR", None), ("prox", "A", "NOERROR", None),
                 ("mv", "A", "NOERROR", None), ("alias", "A", "NOERROR", True),
                 ("big", "TXT", "NOERROR", True)]


def check_unbound(res, cleanup, label, ep, work, ca, zones, control):
    """Debian's unbound, its only upstream the server's DoT listener
    (forward-tls-upstream, the certificate checked against the test CA),
    its trust anchors the test's keys: every answer of the signed zones
    must come back with AD. control: (zone, anchor) of a zone the server
    serves unsigned, under a trust anchor: unbound must call it bogus
    (SERVFAIL), which shows it validates what comes over DoT."""
    if shutil.which("unbound") is None:
        res.check("%s: unbound installed" % label, False)
        return
    d = os.path.join(work, "unbound-" + label.split()[-1])
    os.makedirs(d)
    port = common.free_port() if ep["ns"] is None else 53
    anchors_txt = ""
    fwd = ""
    for apex, anchor in [(z[0], z[2]) for z in zones] + [control]:
        for k in anchor:
            anchors_txt += '    trust-anchor: "%s DNSKEY %d %d %d %s"\n' % (
                apex, k.flags, k.protocol, k.algorithm, base64.b64encode(k.key).decode())
        fwd += FORWARD.format(zone=apex, addr=ep["addr"], port=ep["dot"], sni=SNI)
    fwd += FORWARD_ROOT.format(addr=ep["addr"], port=ep["port"])
    conf = os.path.join(d, "unbound.conf")
    with open(conf, "w") as f:
        f.write(UNBOUND_CONF.format(port=port, d=d, ca=ca, anchors=anchors_txt, zones=fwd))
    u = dpnet.Proc(cleanup, ["unbound", "-d", "-c", conf], os.path.join(d, "stderr"),
                   ns=ep["ns"])

    def ask(name, rtype):
        q = dns.message.make_query(name, rtype, want_dnssec=True, use_edns=0, payload=1232)
        with in_ns(ep["ns"]):
            try:
                return dns.query.tcp(q, "127.0.0.1", port=port, timeout=8)
            except (dns.exception.DNSException, OSError):
                return None
    first = zones[0][0]
    up = dpnet.wait_for(lambda: not u.alive() or ask(first, "SOA") is not None, 20)

    def log():
        try:
            with open(os.path.join(d, "unbound.log"), errors="replace") as f:
                return f.read()[-2000:] + u.tail()
        except OSError:
            return u.tail()
    if not res.check("%s: unbound up, forwarding over DoT" % label, up and u.alive(), log()):
        return
    for apex, denial, _, what, _ in zones:
        bad = []
        for lbl, rtype, rcode, data in UNBOUND_CASES:
            if rcode == "NXDOMAIN" and denial == "compact":
                rcode = "NOERROR"  # RFC 9824 3, no CO flag
            m = ask(qname(apex, lbl).to_text(), rtype)
            has = m is not None and any(rr.rdtype == T.from_text(rtype) for rr in m.answer)
            if m is None or dns.rcode.to_text(m.rcode()) != rcode or \
                    not m.flags & dns.flags.AD or (data is not None and has != data):
                bad.append("%s %s: %s" % (lbl, rtype, m if m is None else
                                          "%s ad=%s\n%s" % (dns.rcode.to_text(m.rcode()),
                                                              bool(m.flags & dns.flags.AD),
                                                              m.to_text()[:600])))
        res.check("%s %s (%s): unbound validates %d answers fetched over DoT (AD)"
                  % (label, apex, what, len(UNBOUND_CASES)), not bad,
                  "\n".join(bad[:3]) + "\n" + log())
    m = ask(qname(control[0], "simple").to_text(), "A")
    res.check("%s %s (unsigned, under a trust anchor): unbound says bogus (SERVFAIL)"
              % (label, control[0]), m is not None and m.rcode() == dns.rcode.SERVFAIL,
              repr(m))
    u.stop()


# --- the servers ---------------------------------------------------------------------

def part_serve(res, cleanup, work, tools, snap, online, certs, zones, doqclient, control):
    wd = os.path.join(work, "serve")
    os.makedirs(wd)
    dot_port, doh_port = common.free_port(), common.free_port()
    s = common.Port53(tools["port53"], None, wd, extra=online + [
        "--tls-listen", "%s:%d" % (common.HOST, dot_port),
        "--doh-listen", "%s:%d" % (common.HOST, doh_port),
        "--tls-cert", certs["srv.pem"], "--tls-key", certs["srv.key"]])
    s.snapshot = snap
    try:
        s.start()
    except RuntimeError as e:
        res.check("port53 serve up with TLS and HTTPS listeners", False, str(e))
        return
    cleanup.push(s.stop)
    ep = {"ns": None, "addr": common.HOST, "port": s.port, "dot": dot_port, "doh": doh_port}
    up = dpnet.wait_for(lambda: all(port_open(None, common.HOST, p) for p in (dot_port, doh_port)),
                        10)
    if not res.check("port53 serve: DoT and DoH listeners up", up, s.read_log()):
        return
    check_server(res, "port53 serve", ep, work, certs["ca.pem"], doqclient, zones, REF)
    check_unbound(res, cleanup, "port53 serve", ep, work, certs["ca.pem"], zones, control)
    s.stop()


def port_open(ns, addr, port):
    with in_ns(ns):
        try:
            socket.create_connection((addr, port), timeout=1).close()
            return True
        except OSError:
            return False


def part_dp(res, cleanup, work, tools, snap, online, certs, zones, doqclient, obj, control):
    ns_s, ns_c = "p53dx-s-%d" % PID, "p53dx-c-%d" % PID
    dev_s, dev_c = "pdx%ds" % (PID % 100000), "pdx%dc" % (PID % 100000)
    dpnet.netns_add(cleanup, ns_s)
    dpnet.netns_add(cleanup, ns_c)
    dpnet.veth_pair(cleanup, dev_s, ns_s, dev_c, ns_c)
    cleanup.push(lambda: run(["ip", "link", "set", "dev", dev_s, "xdp", "off"], ns=ns_s,
                             check=False))
    dpnet.addr_add(ns_s, dev_s, SVC4 + "/24")
    dpnet.addr_add(ns_c, dev_c, CLI4 + "/24")
    # Software checksums from the client: see test_afxdp.py.
    run(["ethtool", "-K", dev_c, "tx", "off"], ns=ns_c)
    eal = os.environ.get("P53_EAL_XDP", "--no-huge -m 512 --no-pci -l 1").split()
    prefix = "p53dx%d" % PID
    cmd = [tools["port53d"]] + eal + [
        "--file-prefix", prefix,
        "--vdev", "net_af_xdp0,iface=%s,queue_count=1,xdp_prog=%s" % (dev_s, obj),
        "--", "--snapshot", snap, "--addr", SVC4, "--rrl-rate", "0",
        "--tcp", "--tls", "--quic", "--doh", "--tls-cert", certs["srv.pem"],
        "--tls-key", certs["srv.key"]] + online
    cleanup.push(dpnet.rm_eal_runtime, prefix)
    d = dpnet.Proc(cleanup, cmd, os.path.join(work, "port53d.log"), ns=ns_s)
    up = dpnet.wait_for(lambda: not d.alive() or "XDP program steers" in d.tail(100000), 30)
    if not res.check("port53d on AF_XDP up, with --dnssec-keys", d.alive() and up, d.tail()):
        return
    ep = {"ns": ns_c, "addr": SVC4, "port": 53, "dot": 853, "doh": 443, "doq": True}
    up = dpnet.wait_for(lambda: all(port_open(ns_c, SVC4, p) for p in (53, 853, 443)) and
                        dpnet.dns_query(ns_c, SVC4, "example.com.", "SOA", timeout=1,
                                        tries=1) is not None, 15)
    if not res.check("port53d: UDP, TCP, DoT and DoH answer", up, d.tail()):
        return
    check_server(res, "port53d AF_XDP", ep, work, certs["ca.pem"], doqclient, zones, REF)
    check_unbound(res, cleanup, "port53d AF_XDP", ep, work, certs["ca.pem"], zones, control)
    rc = d.stop()
    res.check("port53d exits 0 on SIGTERM", rc == 0, "rc=%s\n%s" % (rc, d.tail()))


def body(res, cleanup, work, tools):
    bdir = os.path.dirname(os.path.dirname(tools["port53d"]))
    doqclient = os.path.join(bdir, "tests", "doqclient")
    obj = os.path.join(bdir, "dp", "p53_xdp.bpf.o")
    for path in (doqclient, obj):
        if not res.check("built: %s" % path, os.path.exists(path)):
            return
    # delv: bind9-dnsutils; kdig: knot-dnsutils (tools/install-deps.sh).
    for tool in ("kdig", "curl", "delv", "unbound", "openssl", "ethtool"):
        if not res.check("installed: %s" % tool, shutil.which(tool) is not None):
            return
    kdir = os.path.join(work, "keys")
    os.makedirs(kdir)
    zones, args = [], []
    for apex, denial, keygen, what in ZONES:
        for a in keygen:
            run([tools["port53"], "dnssec-keygen", "-K", kdir] + a + [apex])
        anchor = anchors(kdir, apex)
        if not res.check("%s: trust anchor read from the key files" % apex, len(anchor) == 1,
                         repr(anchor)):
            return
        zones.append((apex, denial, anchor, what, all("15" in a for a in keygen)))
        args.append("%s=%s" % (apex.rstrip("."), zone_json(work, apex)))
    # The control zone: served unsigned (no key of its in kdir), while a
    # key kept elsewhere is unbound's trust anchor for it.
    spare = os.path.join(work, "spare")
    os.makedirs(spare)
    run([tools["port53"], "dnssec-keygen", "-K", spare, CONTROL])
    control = (CONTROL, anchors(spare, CONTROL))
    args.append("%s=%s" % (CONTROL.rstrip("."), zone_json(work, CONTROL)))
    snap = os.path.join(work, "zones.p53")
    run([tools["port53"], "compile", "--quiet", "--dnssec-keys", kdir, "-o", snap,
         "--geo", os.path.join(HERE, "r53", "geo.csv"), "--nsec3", "example.org",
         "--compact-denial", "example.info"] + args,
        timeout=60)
    online = ["--dnssec-keys", kdir, "--dnssec-sig-time", str(int(time.time()))]
    certs = xport.make_certs(work)
    part_serve(res, cleanup, work, tools, snap, online, certs, zones, doqclient, control)
    part_dp(res, cleanup, work, tools, snap, online, certs, zones, doqclient, obj, control)


if __name__ == "__main__":
    sys.exit(dpnet.run_dp_test("p53-dnsxport-", body, tools=("port53d", "port53")))
