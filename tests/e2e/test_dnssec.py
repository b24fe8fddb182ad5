#!/usr/bin/python3
"""DNSSEC signing at compile time (docs/dnssec.md), checked by validators
that share no code with port53: dnspython's dns.dnssec (signatures, DS
digests) with this test's own NSEC proof checks, BIND's delv with a trust
anchor, and ldns-verify-zone on `port53 dump`. Keys from port53
dnssec-keygen (algorithms 13, 15 and 8; CSK, and KSK + ZSK) and from BIND's
dnssec-keygen.

Loopback only; every wait is bounded; servers are always stopped.
"""
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from dnssecsetup import compile_zone, keygen, serve  # noqa: E402

import dns.dnssec  # noqa: E402
import dns.flags  # noqa: E402
import dns.message  # noqa: E402
import dns.name  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdatatype as T  # noqa: E402
import dns.rrset  # noqa: E402

check = common.Checks("dnssec")
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
dn      DNAME example.net.
a.b.ent A   192.0.2.5
secure  NS  ns.secure
secure  DS  12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF
ns.secure A 192.0.2.53
insecure NS ns.insecure
ns.insecure A 192.0.2.54
long 1000000 A 192.0.2.9
"""
BIG = "".join('big TXT "%s"\n' % ("%02d" % i * 100) for i in range(12))


def ask(port, name, rdtype, do=True, tcp=False, size=1232):
    q = dns.message.make_query(name, rdtype, want_dnssec=do, use_edns=0, payload=size)
    raw = common.query(q, port, tcp=tcp)
    return None if raw is None else dns.message.from_wire(raw)


def sigs_for(section, rrset):
    for r in section:
        if r.rdtype == T.RRSIG and r.name == rrset.name and r.covers == rrset.rdtype:
            return r
    return None


def all_signed(resp, keys, sections=("answer", "authority")):
    """Every RRset (but unsigned CNAMEs synthesised from DNAME, RFC 6672
    5.3.1, and delegation NS sets) validates with the zone's keys."""
    bad = []
    for sn in sections:
        sec = getattr(resp, sn)
        for rr in sec:
            if rr.rdtype == T.RRSIG:
                continue
            if rr.rdtype == T.NS and sn == "authority" and rr.name != ORIGIN:
                continue
            if rr.rdtype == T.CNAME and any(r.rdtype == T.DNAME for r in sec):
                if not any(r.rdtype == T.RRSIG and r.covers == T.CNAME and r.name == rr.name
                           for r in sec):
                    continue
            sig = sigs_for(sec, rr)
            try:
                if sig is None:
                    raise dns.dnssec.ValidationFailure("no RRSIG")
                dns.dnssec.validate(rr, sig, keys)
            except Exception as e:  # noqa: BLE001
                bad.append("%s %s: %s" % (rr.name, T.to_text(rr.rdtype), e))
    return bad


def covers(nsec, name):
    """True when NSEC nsec (an RRset) proves name absent: owner < name <
    next in canonical order, or name beyond the last owner when next wraps."""
    owner, nxt = nsec.name, nsec[0].next
    if owner < nxt:
        return owner < name < nxt
    return name > owner or name < nxt


def nsecs(resp):
    return [r for r in resp.authority if r.rdtype == T.NSEC]


def compile_signed(d, kdir, label, extra=()):
    """The test zone signed with the keys in kdir, as d/label.p53."""
    snap, r = compile_zone(d, ZONE + BIG, label, extra, kdir)
    if snap is None:
        raise RuntimeError("compile failed: %s" % r.stderr)
    return snap


def dnskeys(port):
    r = ask(port, "example.", "DNSKEY")
    rr = r.get_rrset(r.answer, ORIGIN, 1, T.DNSKEY)
    return r, rr, {ORIGIN: rr}


def full_checks(d, port, kdir, label):
    r, keyset, keys = dnskeys(port)
    check(keyset is not None and not all_signed(r, keys), label + ": DNSKEY set self-signed")
    # DS: port53 ds against dnspython's digest of the served KSKs
    ds = common.run([PORT53, "ds", "-K", kdir, "example."]).stdout.split("\n")
    want = sorted(str(dns.dnssec.make_ds(ORIGIN, k, "SHA256")).upper()
                  for k in keyset if k.flags & 1)
    got = sorted(" ".join(line.split()[3:]).upper() for line in ds if line.strip())
    check(got == want and got, label + ": port53 ds matches dnspython's make_ds", (got, want))

    r = ask(port, "www.example.", "A")
    check(r.rcode() == 0 and len(r.answer) == 2 and not all_signed(r, keys),
          label + ": positive answer signed", r)
    r = ask(port, "www.example.", "A", do=False)
    check(not any(x.rdtype == T.RRSIG for x in r.answer + r.authority),
          label + ": DO=0 answer carries no RRSIG")

    r = ask(port, "nx.example.", "A")
    ns = nsecs(r)
    check(r.rcode() == dns.rcode.NXDOMAIN and not all_signed(r, keys)
          and any(covers(n, dns.name.from_text("nx.example.")) for n in ns)
          and any(covers(n, dns.name.from_text("*.example.")) for n in ns),
          label + ": NXDOMAIN proves the name and the wildcard absent", r)

    r = ask(port, "www.example.", "TXT")
    ns = nsecs(r)
    check(r.rcode() == 0 and not r.answer and not all_signed(r, keys)
          and any(n.name == dns.name.from_text("www.example.") and T.TXT not in common.nsec_types(n)
                  and T.A in common.nsec_types(n) for n in ns),
          label + ": NODATA: the NSEC at the name without the type", r)

    r = ask(port, "x.wild.example.", "TXT")
    sig = sigs_for(r.answer, r.answer[0]) if r.answer else None
    check(r.rcode() == 0 and sig is not None and sig[0].labels == 2
          and not all_signed(r, keys)
          and any(covers(n, dns.name.from_text("x.wild.example.")) for n in nsecs(r)),
          label + ": wildcard expansion signed, the name proven absent", r)

    r = ask(port, "x.wild.example.", "A")
    ns = nsecs(r)
    check(r.rcode() == 0 and not r.answer and not all_signed(r, keys)
          and any(covers(n, dns.name.from_text("x.wild.example.")) for n in ns)
          and any(n.name == dns.name.from_text("*.wild.example.")
                  and T.A not in common.nsec_types(n) for n in ns),
          label + ": wildcard NODATA", r)

    r = ask(port, "alias.example.", "A")
    check(r.rcode() == 0 and [x.rdtype for x in r.answer if x.rdtype != T.RRSIG] == [T.CNAME, T.A]
          and not all_signed(r, keys), label + ": CNAME chain signed", r)

    r = ask(port, "q.dn.example.", "A")
    check(r.rcode() == 0 and any(x.rdtype == T.DNAME for x in r.answer)
          and not all_signed(r, keys), label + ": DNAME signed", r)

    r = ask(port, "c.b.ent.example.", "A")
    check(r.rcode() == dns.rcode.NXDOMAIN and not all_signed(r, keys), label + ": NXDOMAIN below an ENT")
    r = ask(port, "b.ent.example.", "A")
    ns = nsecs(r)
    check(r.rcode() == 0 and not r.answer and not all_signed(r, keys)
          and any(n.name < dns.name.from_text("b.ent.example.") < n[0].next
                  and n[0].next.is_subdomain(dns.name.from_text("b.ent.example.")) for n in ns),
          label + ": empty non-terminal NODATA", r)

    r = ask(port, "host.secure.example.", "A")
    check(r.rcode() == 0 and not (r.flags & dns.flags.AA)
          and any(x.rdtype == T.DS for x in r.authority) and not all_signed(r, keys),
          label + ": secure delegation carries its signed DS", r)
    r = ask(port, "host.insecure.example.", "A")
    ns = nsecs(r)
    check(r.rcode() == 0 and not all_signed(r, keys)
          and any(n.name == dns.name.from_text("insecure.example.")
                  and T.DS not in common.nsec_types(n) and T.NS in common.nsec_types(n) for n in ns),
          label + ": insecure delegation proves no DS", r)
    r = ask(port, "secure.example.", "DS")
    check(r.rcode() == 0 and r.flags & dns.flags.AA and not all_signed(r, keys),
          label + ": DS query at a cut answered signed", r)

    r = ask(port, "example.", "MX")
    check(not all_signed(r, keys, ("answer", "authority", "additional")),
          label + ": additional section signed", r)
    r = ask(port, "long.example.", "A")
    check(r.answer and r.answer[0].ttl == 604800, label + ": TTL capped at one week", r)

    r = ask(port, "big.example.", "TXT")
    check(r is not None and r.flags & dns.flags.TC, label + ": large signed answer truncated over UDP")
    r = ask(port, "big.example.", "TXT", tcp=True)
    check(r is not None and not (r.flags & dns.flags.TC) and len(r.answer) == 2
          and not all_signed(r, keys), label + ": the TCP retry gets it whole and signed", r)
    return keyset


def delv_checks(d, port, keyset, label):
    if shutil.which("delv") is None:
        check.skip(label + ": delv", "bind9-dnsutils not installed")
        return
    anchor = os.path.join(d, "anchor.conf")
    with open(anchor, "w") as f:
        f.write("trust-anchors {\n")
        for k in keyset:
            if k.flags & 1:
                f.write('  "example." static-key %d %d %d "%s";\n' % (
                    k.flags, k.protocol, k.algorithm, dns.rdata._base64ify(k.key, 0)))
        f.write("};\n")
    for name, rdtype, want in (("www.example.", "A", "; fully validated"),
                               ("x.wild.example.", "TXT", "; fully validated"),
                               ("nx.example.", "A", "; negative response, fully validated"),
                               ("www.example.", "TXT", "; negative response, fully validated"),
                               ("alias.example.", "AAAA", "; fully validated")):
        r = common.run(["delv", "-a", anchor, "+root=example.", "@" + common.HOST, "-p",
                        str(port), name, rdtype], timeout=30)
        check(want in r.stdout, "%s: delv validates %s %s" % (label, name, rdtype),
              r.stdout + r.stderr)


def ldns_checks(d, snap, label):
    if shutil.which("ldns-verify-zone") is None:
        check.skip(label + ": ldns-verify-zone", "ldnsutils not installed")
        return
    dump = os.path.join(d, label + ".dump")
    with open(dump, "w") as f:
        subprocess.run([PORT53, "dump", snap, "example."], stdout=f, check=True, timeout=60)
    r = common.run(["ldns-verify-zone", dump])
    check(r.returncode == 0 and "Zone is verified and complete" in (r.stdout + r.stderr),
          label + ": ldns-verify-zone accepts the dump", r.stdout + r.stderr)


def same_bytes(port_a, port_b, label):
    """DO=1 answers from pre-rendered blobs equal the rendered ones."""
    diffs = []
    for name, rdtype in (("www.example.", "A"), ("www.example.", "TXT"), ("example.", "DNSKEY"),
                         ("example.", "MX"), ("x.wild.example.", "TXT"), ("nx.example.", "A"),
                         ("host.secure.example.", "A"), ("host.insecure.example.", "A"),
                         ("alias.example.", "A"), ("b.ent.example.", "A"), ("big.example.", "TXT"),
                         ("secure.example.", "DS"), ("example.", "SOA")):
        q = dns.message.make_query(name, rdtype, want_dnssec=True, use_edns=0, payload=1232)
        q.id = 4242
        a = common.query(q, port_a)
        b = common.query(q, port_b)
        if a != b or a is None:
            diffs.append("%s %s" % (name, rdtype))
    check(not diffs, label + ": pre-rendered DO=1 answers equal rendered ones", diffs)


def bad_keys(d):
    """Key files that must be refused, made with OpenSSL and python
    cryptography: an encrypted PEM key, refused without a passphrase prompt
    even on a terminal (a pseudo-terminal from script(1)); a PKCS#8 P-256
    key whose public point is another key's, which openssl's own check calls
    invalid, refused instead of publishing a DNSKEY its signatures fail."""
    from cryptography.hazmat.primitives import serialization as ser
    from cryptography.hazmat.primitives.asymmetric import ec
    kdir = os.path.join(d, "keys-encrypted")
    os.makedirs(kdir)
    pem = os.path.join(kdir, "example.csk.pem")
    r = common.run(["openssl", "genpkey", "-algorithm", "ED25519", "-aes256", "-pass",
                    "pass:test", "-out", pem])
    check(r.returncode == 0, "openssl made an encrypted key", r.stderr)
    zf = os.path.join(d, "bad.zone")
    with open(zf, "w") as f:
        f.write(ZONE)
    cmd = " ".join([PORT53, "compile", "--quiet", "-o", os.path.join(d, "bad.p53"),
                    "example.=" + zf, "--dnssec-keys", kdir, "</dev/null"])
    try:
        r = common.run(["script", "-qec", cmd, "/dev/null"], timeout=30)
        out = r.stdout + r.stderr
        check(r.returncode == 1 and "encrypted" in out and "pass phrase" not in out,
              "an encrypted key is refused, no passphrase asked", out)
    except subprocess.TimeoutExpired:
        check(False, "an encrypted key is refused, no passphrase asked (it waited)")
    kdir = os.path.join(d, "keys-mismatch")
    os.makedirs(kdir)
    a, b = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    der = a.private_bytes(ser.Encoding.DER, ser.PrivateFormat.PKCS8, ser.NoEncryption())
    pa, pb = (k.public_key().public_bytes(ser.Encoding.X962, ser.PublicFormat.UncompressedPoint)
              for k in (a, b))
    check(der.count(pa) == 1, "the PKCS#8 key holds its public point")
    bad = os.path.join(kdir, "example.csk.der")
    with open(bad, "wb") as f:
        f.write(der.replace(pa, pb))
    pem = os.path.join(kdir, "example.csk.pem")
    r = common.run(["openssl", "pkey", "-inform", "DER", "-in", bad, "-out", pem])
    os.unlink(bad)
    r2 = common.run(["openssl", "pkey", "-in", pem, "-check", "-noout"])
    check(r.returncode == 0 and r2.returncode != 0, "openssl calls the mismatched pair invalid",
          r.stderr + r2.stdout)
    snap, r = compile_zone(d, ZONE, "mismatch", (), kdir)
    check(snap is None and "does not match its public key" in r.stderr,
          "a key whose halves differ is refused", r.stderr)


def main():
    with common.tempdir("p53dnssec-") as d:
        servers = []
        try:
            configs = [("csk13", [[]]), ("ksk13-zsk15", [["--ksk"], ["--zsk", "-a", "15"]]),
                       ("csk8", [["-a", "8"]])]
            for label, keys in configs:
                kdir = os.path.join(d, "keys-" + label)
                os.makedirs(kdir)
                for k in keys:
                    keygen(kdir, *k)
                snap = compile_signed(d, kdir, label)
                s = serve(d, snap, label)
                servers.append(s)
                keyset = full_checks(d, s.port, kdir, label)
                delv_checks(d, s.port, keyset, label)
                ldns_checks(d, snap, label)
            # Ed25519 signatures are deterministic: with the signing time
            # fixed, two compiles sign alike, and the pre-rendered DO=1
            # answers must equal the ones rendered per query.
            kdir = os.path.join(d, "keys-csk15")
            os.makedirs(kdir)
            keygen(kdir, "-a", "15")
            t = ["--sig-time", str(int(time.time()))]
            pre = serve(d, compile_signed(d, kdir, "pre15", t), "pre15")
            servers.append(pre)
            raw = serve(d, compile_signed(d, kdir, "raw15", t + ["--no-prerender"]), "raw15")
            servers.append(raw)
            same_bytes(pre.port, raw.port, "csk15")
            # Keys made by BIND's own dnssec-keygen are read too.
            if shutil.which("dnssec-keygen"):
                kdir = os.path.join(d, "keys-bind")
                os.makedirs(kdir)
                r = common.run(["dnssec-keygen", "-K", kdir, "-a", "ECDSAP256SHA256", "-f", "KSK",
                                "example."])
                check(r.returncode == 0, "BIND dnssec-keygen ran", r.stderr)
                snap = compile_signed(d, kdir, "bind")
                s = serve(d, snap, "bind")
                servers.append(s)
                r, keyset, keys = dnskeys(s.port)
                r2 = ask(s.port, "www.example.", "A")
                check(keyset is not None and not all_signed(r, keys) and not all_signed(r2, keys),
                      "BIND-made key: zone signed and valid")
            else:
                check.skip("BIND-made keys", "bind9-utils not installed")
            # A zone large enough that signing grows every compiler buffer
            # (the ASan build watches), checked whole by ldns-verify-zone.
            big = os.path.join(d, "big.zone")
            common.run(["/usr/bin/python3", os.path.join(common.ROOT, "tools", "gen-zone.py"),
                        "20000", "--origin", "example.", "-o", big])
            bigsnap = os.path.join(d, "big.p53")
            r = common.run([PORT53, "compile", "--quiet", "--dnssec-keys",
                            os.path.join(d, "keys-csk13"), "-o", bigsnap, "example.=" + big],
                           timeout=300)
            check(r.returncode == 0, "a 20,000-record zone signs", r.stderr)
            if r.returncode == 0:
                ldns_checks(d, bigsnap, "big")
            bad_keys(d)
            # A zone already holding signatures is refused with keys given.
            r = common.run([PORT53, "dump", os.path.join(d, "csk13.p53"), "example."])
            pre = os.path.join(d, "presigned.zone")
            with open(pre, "w") as f:
                f.write(r.stdout)
            r = common.run([PORT53, "compile", "--quiet", "--dnssec-keys", os.path.join(d, "keys-csk13"),
                            "-o", os.path.join(d, "x.p53"), "example.=" + pre])
            check(r.returncode == 1 and "already signed" in r.stderr,
                  "keys for a pre-signed zone are refused", r.stderr)
            # ... and served as it is, DO-aware, without keys.
            r = common.run([PORT53, "compile", "--quiet", "-o", os.path.join(d, "pre.p53"),
                            "example.=" + pre])
            check(r.returncode == 0, "pre-signed zone compiles", r.stderr)
            if r.returncode == 0:
                s = serve(d, os.path.join(d, "pre.p53"), "pre")
                servers.append(s)
                r, keyset, keys = dnskeys(s.port)
                for name, rdtype in (("www.example.", "A"), ("nx.example.", "A"),
                                     ("www.example.", "TXT"), ("x.wild.example.", "TXT")):
                    a = ask(s.port, name, rdtype)
                    check(a is not None and len(a.answer) + len(a.authority) >= 2
                          and not all_signed(a, keys), "pre-signed zone: %s %s validates" % (name, rdtype), a)
                a = ask(s.port, "www.example.", "A", do=False)
                check(not any(x.rdtype == T.RRSIG for x in a.answer),
                      "pre-signed zone: DO=0 answers carry no RRSIG")
        finally:
            for s in servers:
                s.stop()
    return check.finish()


if __name__ == "__main__":
    t0 = time.time()
    rc = main()
    print("took %.1f s" % (time.time() - t0))
    sys.exit(rc)
