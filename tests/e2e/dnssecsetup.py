"""The set-up the DNSSEC tests share: keys made with `port53 dnssec-keygen`,
zones compiled and signed with them, a snapshot served by `port53 serve`
(test_dnssec.py, test_dnssec_nsec3.py, test_dnssec_parent_child.py,
test_dnssec_unbound.py, test_dnssec_rollover_unbound.py), and the way the
rollover tests (test_dnssec_rollover.py, test_dnssec_signer.py,
test_dnssec_signer_ksk.py) ask for signed RRsets and check them with
dnspython's dns.dnssec. What the tests check stays in the tests; this only
runs port53 and dnspython the way they all did.
"""
import http.client
import json
import os

import common

import dns.dnssec
import dns.message
import dns.rdataset
import dns.rdatatype

PORT53 = common.default_port53()


def keygen(kdir, *args, zone="example."):
    """port53 dnssec-keygen -K kdir ARGS zone (kdir made when missing);
    its output. Raises when it fails."""
    os.makedirs(kdir, exist_ok=True)
    r = common.run([PORT53, "dnssec-keygen", "-K", kdir] + list(args) + [zone])
    if r.returncode != 0:
        raise RuntimeError("dnssec-keygen failed: %s" % r.stderr)
    return r.stdout.strip()


def ds(kdir, zone):
    """The DS records `port53 ds` prints for zone's keys in kdir."""
    r = common.run([PORT53, "ds", "-K", kdir, zone])
    if r.returncode != 0:
        raise RuntimeError("port53 ds %s: %s" % (zone, r.stderr))
    return r.stdout


def compile_zones(out, zones, keys=None, extra=(), timeout=60):
    """port53 compile --quiet -o out ZONES EXTRA, signed with the keys in
    the directory keys when given; zones are ORIGIN=FILE arguments. The
    finished run (the caller looks at its return code)."""
    cmd = [PORT53, "compile", "--quiet", "-o", out] + list(zones) + list(extra)
    if keys:
        cmd += ["--dnssec-keys", keys]
    return common.run(cmd, timeout=timeout)


def compile_zone(d, text, label, extra=(), keys=None, origin="example."):
    """Writes text to d/label.zone and compiles it into d/label.p53:
    (the snapshot's path, or None when the compile failed; the run)."""
    zf = os.path.join(d, label + ".zone")
    with open(zf, "w") as f:
        f.write(text)
    snap = os.path.join(d, label + ".p53")
    r = compile_zones(snap, [origin + "=" + zf], keys, extra)
    return snap if r.returncode == 0 else None, r


def serve(d, snap, tag, extra=()):
    """`port53 serve` on snap on a free loopback port, working directory
    d/tag; the started common.Port53 (the caller stops it)."""
    wd = os.path.join(d, tag)
    os.makedirs(wd, exist_ok=True)
    s = common.Port53(PORT53, None, wd, extra=list(extra))
    s.snapshot = snap
    return s.start()


def ask(port, name, rdtype):
    """A DO=1 query over TCP to port53 on port; the parsed answer."""
    q = dns.message.make_query(name, rdtype, want_dnssec=True, use_edns=0, payload=4096)
    return dns.message.from_wire(common.query(q, port, tcp=True))


def signed_rrsets(msg):
    """Every RRset of the answer and authority sections with the RRSIG set
    that covers it (None when unsigned): [(rrset, rrsig), ...]."""
    out = []
    for sec in (msg.answer, msg.authority):
        sigs = {(s.name, s.covers): s for s in sec if s.rdtype == dns.rdatatype.RRSIG}
        out += [(s, sigs.get((s.name, s.rdtype))) for s in sec
                if s.rdtype != dns.rdatatype.RRSIG]
    return out


def apex_set(port, name, rdtype):
    """(rrset, rrsig) of name's rdtype in the answer; (None, None) when
    there is none."""
    want = dns.rdatatype.from_text(rdtype)
    for rr, sig in signed_rrsets(ask(port, name, rdtype)):
        if rr.rdtype == want and rr.name.to_text() == name:
            return rr, sig
    return None, None


def validate(rrset, sig, keys, origin, now=None):
    """None when rrset's RRSIG set validates under the DNSKEY rdataset keys
    (dns.dnssec), else why not."""
    if rrset is None or sig is None or keys is None:
        return "missing %s" % ("RRset" if rrset is None else "RRSIG" if sig is None
                               else "keys")
    try:
        dns.dnssec.validate(rrset, sig, {origin: keys}, now=now)
        return None
    except (dns.dnssec.ValidationFailure, ValueError) as e:
        return str(e) or "does not validate"


def ds_text(origin, key):
    """The SHA-256 DS of a DNSKEY rdata, as dnspython prints DS rdata."""
    return dns.dnssec.make_ds(origin, key, "SHA256").to_text()


def anchored(dnskey, ds, origin):
    """The keys of the DNSKEY rrset a DS set (rdata texts) names, as an
    rdataset a validator would take as its anchor; None when none is."""
    keys = [k for k in (dnskey or []) if ds_text(origin, k) in ds]
    return dns.rdataset.from_rdata_list(dnskey.ttl, keys) if keys else None


def parent_ds(kdir, zone):
    """The DS set a parent starts with: `port53 ds` for zone's keys, as
    dnspython prints DS rdata (the set anchored() takes)."""
    out = set()
    for line in ds(kdir, zone).splitlines():
        f = line.split()  # zone IN DS tag alg digest-type HEX
        if len(f) >= 7:
            out.add("%s %s %s %s" % (f[3], f[4], f[5], "".join(f[6:]).lower()))
    return out



def api_get(sock, url):
    """GET url on the control socket: (status or None, body text)."""
    c = common.UnixHTTPConnection(sock)
    try:
        c.request("GET", url)
        r = c.getresponse()
        return r.status, r.read().decode()
    except (OSError, http.client.HTTPException):
        return None, ""
    finally:
        c.close()


def api_json(sock, url):
    """GET url on the control socket: (status or None, parsed JSON or None)."""
    st, body = api_get(sock, url)
    try:
        return st, json.loads(body)
    except ValueError:
        return st, None
