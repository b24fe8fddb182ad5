#!/usr/bin/python3
"""A key-signing key that never leaves a PKCS#11 token (docs/dnssec.md):
SoftHSM2 (Debian softhsm2) holds an ECDSA P-256 key made inside the token
by OpenSC's pkcs11-tool, marked sensitive and not extractable; port53
compiles the zone with it through OpenSSL's pkcs11 engine (libp11) and a
ZSK from files. dnspython validates the DNSKEY set with the token's key
(whose DS `port53 ds` prints) and the answers with the ZSK; the token's
public key, read by pkcs11-tool, is the DNSKEY served.

Loopback only; every wait is bounded; servers are always stopped. A
missing softhsm2, pkcs11-tool or engine is counted as a skip.
"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

import dns.dnssec  # noqa: E402
import dns.message  # noqa: E402
import dns.name  # noqa: E402
import dns.rdataset  # noqa: E402
import dns.rdatatype as T  # noqa: E402

check = common.Checks("dnssec-pkcs11")
PORT53 = common.default_port53()
ORIGIN = dns.name.from_text("hsm.example.")
MODULE = "/usr/lib/softhsm/libsofthsm2.so"
ENGINE = "/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so"
ZONE = """$ORIGIN hsm.example.
$TTL 300
@    SOA ns1 hostmaster 1 7200 3600 1209600 300
@    NS  ns1
ns1  A   192.0.2.1
www  A   192.0.2.10
"""


def ask(port, name, rdtype):
    q = dns.message.make_query(name, rdtype, want_dnssec=True, use_edns=0, payload=4096)
    return dns.message.from_wire(common.query(q, port, tcp=True))


def main():
    missing = [p for p in ("softhsm2-util", "pkcs11-tool") if shutil.which(p) is None]
    missing += [f for f in (MODULE, ENGINE) if not os.path.exists(f)]
    if missing:
        check.skip("PKCS#11 path", "not installed: %s" % ", ".join(missing))
        return check.finish()
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, SOFTHSM2_CONF=os.path.join(d, "softhsm2.conf"))
        os.makedirs(os.path.join(d, "tokens"))
        with open(env["SOFTHSM2_CONF"], "w") as f:
            f.write("directories.tokendir = %s/tokens\nobjectstore.backend = file\n"
                    "log.level = ERROR\n" % d)

        def run(args):
            return subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)
        r = run(["softhsm2-util", "--init-token", "--free", "--label", "port53", "--pin", "1234",
                 "--so-pin", "5678"])
        check(r.returncode == 0, "SoftHSM2 token made", r.stderr)
        p11 = ["pkcs11-tool", "--module", MODULE, "--token-label", "port53", "--login",
               "--pin", "1234"]
        r = run(p11 + ["--keypairgen", "--key-type", "EC:prime256v1", "--label", "ksk",
                       "--id", "01"])
        check(r.returncode == 0, "P-256 key pair made inside the token", r.stderr)
        r = run(p11 + ["--list-objects", "--type", "privkey"])
        check("never extractable" in r.stdout and "sensitive" in r.stdout,
              "the private key is sensitive and never extractable", r.stdout)
        r = run(p11 + ["--read-object", "--type", "pubkey", "--label", "ksk", "-o",
                       os.path.join(d, "pub.der")])
        check(r.returncode == 0, "public key read from the token", r.stderr)

        kdir = os.path.join(d, "keys")
        os.makedirs(kdir)
        with open(os.path.join(kdir, "hsm.example.ksk.pkcs11"), "w") as f:
            f.write("# the KSK stays in the token\n"
                    "pkcs11:token=port53;object=ksk;type=private?pin-value=1234"
                    "&module-path=%s\n" % MODULE)
        r = common.run([PORT53, "dnssec-keygen", "-K", kdir, "--zsk", "hsm.example."])
        check(r.returncode == 0, "file ZSK made", r.stderr)
        zf = os.path.join(d, "hsm.zone")
        with open(zf, "w") as f:
            f.write(ZONE)
        snap = os.path.join(d, "z.p53")
        r = subprocess.run([PORT53, "compile", "--quiet", "--dnssec-keys", kdir, "-o", snap,
                            "hsm.example.=" + zf], capture_output=True, text=True, env=env,
                           timeout=120)
        check(r.returncode == 0, "compile signs with the token's KSK", r.stderr)
        r = subprocess.run([PORT53, "ds", "-K", kdir, "hsm.example."], capture_output=True,
                           text=True, env=env, timeout=60)
        check(r.returncode == 0 and " DS " in r.stdout, "port53 ds reads the token key",
              r.stderr)
        ds = {" ".join(line.split()[3:6] + [line.split()[6].lower()])
              for line in r.stdout.splitlines() if " DS " in line}
        if not os.path.exists(snap):
            return check.finish()

        # A wrong PIN is refused with a message, and nothing is written.
        bad = os.path.join(d, "bad")
        os.makedirs(bad)
        with open(os.path.join(bad, "hsm.example.ksk.pkcs11"), "w") as f:
            f.write("pkcs11:token=port53;object=ksk;type=private?pin-value=0000"
                    "&module-path=%s\n" % MODULE)
        r = subprocess.run([PORT53, "compile", "--quiet", "--dnssec-keys", bad, "-o",
                            os.path.join(d, "bad.p53"), "hsm.example.=" + zf],
                           capture_output=True, text=True, env=env, timeout=120)
        check(r.returncode != 0 and "hsm.example.ksk.pkcs11" in r.stderr and
              not os.path.exists(os.path.join(d, "bad.p53")),
              "wrong PIN refused, naming the key file", r.stderr)

        srv = common.Port53(PORT53, None, d)
        srv.snapshot = snap
        srv.start()
        try:
            r = ask(srv.port, "hsm.example.", "DNSKEY")
            keys = r.get_rrset(r.answer, ORIGIN, 1, T.DNSKEY)
            sig = r.get_rrset(r.answer, ORIGIN, 1, T.RRSIG, T.DNSKEY)
            ksks = [k for k in keys if k.flags == 257]
            check(len(ksks) == 1 and len(keys) == 2, "DNSKEY set: the token KSK and the ZSK")
            with open(os.path.join(d, "pub.der"), "rb") as f:
                der = f.read()
            # The SubjectPublicKeyInfo of a P-256 key ends in the 64 bytes
            # of the point (after 0x04): the DNSKEY's public key field.
            check(ksks and der.endswith(ksks[0].key), "the served KSK is the token's key")
            check(ksks and dns.dnssec.make_ds(ORIGIN, ksks[0], "SHA256").to_text() in ds,
                  "port53 ds matches dnspython's DS of the served KSK")
            anchored = dns.rdataset.from_rdata_list(keys.ttl, ksks)
            try:
                dns.dnssec.validate(keys, sig, {ORIGIN: anchored})
                ok = True
            except dns.dnssec.ValidationFailure as e:
                ok, why = False, str(e)
            check(ok, "DNSKEY set validates with the token's KSK alone")
            r = ask(srv.port, "www.hsm.example.", "A")
            a = r.get_rrset(r.answer, dns.name.from_text("www.hsm.example."), 1, T.A)
            asig = r.get_rrset(r.answer, dns.name.from_text("www.hsm.example."), 1, T.RRSIG,
                               T.A)
            try:
                dns.dnssec.validate(a, asig, {ORIGIN: keys})
                ok = True
            except dns.dnssec.ValidationFailure:
                ok = False
            check(ok, "answers validate with the DNSKEY set (ZSK)")
        finally:
            srv.stop()
    return check.finish()


if __name__ == "__main__":
    sys.exit(main())
