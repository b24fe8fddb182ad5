#!/usr/bin/python3
"""port53 as a primary (docs/transfers.md): AXFR and IXFR out with TSIG and
address rules, NOTIFY to secondaries, with Knot DNS and NSD as the
secondaries. Every zone is compared through dnspython with the zone file
port53 compiled, parsed by dnspython itself.

  - AXFR by dnspython with the key: the zone of the file; several messages
  - no key, a bad key, a key the rules do not name: refused / NOTAUTH
  - Knot and NSD transfer the zone (AXFR, signed) and serve it
  - a new version is compiled and reloaded: port53 sends NOTIFY, Knot and
    NSD fetch it by IXFR (port53's counters say so) within a bounded time,
    and hold the new zone; dnspython's IXFR from the old serial gives it too
  - an IXFR from a serial the journal does not hold gets the whole zone
  - XoT (RFC 9103): AXFR over the TLS listener (ALPN "dot", the server's
    certificate verified against the test CA) gives the zone file's
    records; the same address/key rules apply there (no key: REFUSED);
    a rule marked "tls" allows its key over TLS and refuses it over plain
    TCP

Loopback only; every wait is bounded; every server is stopped.
"""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import xfrlib  # noqa: E402

import dns.exception  # noqa: E402
import dns.message  # noqa: E402
import dns.query  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdatatype  # noqa: E402
import dns.tsigkeyring  # noqa: E402
import dns.xfr  # noqa: E402
import dns.zone  # noqa: E402

ORIGIN = "xfr.example."
N = 3000  # about 100 KB of records: several 16 KB messages

check = common.Checks("xfr-out")


def metric(ctl, sock, event):
    r = common.run([ctl, "-s", sock, "metrics"])
    for line in r.stdout.splitlines():
        if line.startswith("port53_xfr_out") and 'event="%s"' % event in line:
            return int(float(line.split()[-1]))
    return None


def refused(port, keyring, expect):
    """True when the transfer fails with the expected error text."""
    try:
        xfrlib.axfr(port, ORIGIN, keyring=keyring, timeout=5)
    except Exception as e:  # dnspython raises TransferError, PeerBadSignature...
        return expect.lower() in (type(e).__name__ + " " + str(e)).lower(), repr(e)
    return False, "transfer succeeded"


XOT_SECRET = "eG90LW9ubHkta2V5LWZvci1wb3J0NTMtdGVzdHMtMzI="
XOT_KEYRING = dns.tsigkeyring.from_text({"xot.": ("hmac-sha256", XOT_SECRET)})


def make_certs(d):
    """A test CA and a server certificate for dns.example.test (openssl)."""
    ca_key, ca, key, csr, crt, ext = (os.path.join(d, x) for x in (
        "ca.key", "ca.pem", "srv.key", "srv.csr", "srv.pem", "san.ext"))
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:dns.example.test\n")
    for cmd in (["openssl", "req", "-x509"] + ec + ["-days", "2", "-subj", "/CN=xot test CA",
                                                   "-keyout", ca_key, "-out", ca],
                ["openssl", "req", "-new"] + ec + ["-subj", "/CN=dns.example.test",
                                                   "-keyout", key, "-out", csr],
                ["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
                 "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", crt]):
        r = common.run(cmd)
        if r.returncode != 0:
            raise RuntimeError(r.stderr)
    return ca, crt, key


def axfr_tls(port, ca, keyring, keyname, timeout=10.0):
    """AXFR over TLS (RFC 9103: ALPN "dot", the certificate verified), the
    messages read and their TSIG chain checked by dnspython as dns.query.xfr
    does over TCP. Returns (records, messages, ALPN, TLS version) or raises
    with the rcode."""
    import socket
    import ssl
    import struct
    ctx = ssl.create_default_context(cafile=ca)
    ctx.set_alpn_protocols(["dot"])
    q = dns.message.make_query(ORIGIN, "AXFR")
    if keyring is not None:
        q.use_tsig(keyring, keyname=keyname)
    wire = q.to_wire()
    msgs = []
    with socket.create_connection((common.HOST, port), timeout=timeout) as raw:
        with ctx.wrap_socket(raw, server_hostname="dns.example.test") as s:
            alpn, version = s.selected_alpn_protocol(), s.version()
            s.sendall(struct.pack("!H", len(wire)) + wire)
            tsig_ctx, soas = None, 0
            while soas < 2:
                n = struct.unpack("!H", common._recv_exact(s, 2))[0]
                r = dns.message.from_wire(common._recv_exact(s, n), keyring=q.keyring,
                                          request_mac=q.mac, xfr=True, origin=q.origin,
                                          tsig_ctx=tsig_ctx, multi=True,
                                          one_rr_per_rrset=True)
                if r.rcode() != dns.rcode.NOERROR:
                    raise RuntimeError("rcode %s" % dns.rcode.to_text(r.rcode()))
                tsig_ctx = r.tsig_ctx
                msgs.append(r)
                soas += sum(1 for rr in r.answer if rr.rdtype == dns.rdatatype.SOA)
    return xfrlib.records(dns.zone.from_xfr(msgs, relativize=False)), len(msgs), alpn, version


def main():
    if not xfrlib.have_reference_servers():
        print("skip: knotd or nsd not installed")
        return 77
    port53 = common.default_port53()
    ctl = os.environ.get("PORT53CTL", os.path.join(os.path.dirname(port53), "port53ctl"))
    with common.tempdir("p53xfr-") as d:
        kd = os.path.join(d, "knot")
        nd = os.path.join(d, "nsd")
        pd = os.path.join(d, "p53")
        for x in (kd, nd, pd):
            os.mkdir(x)
        v1 = xfrlib.write_zone(os.path.join(pd, "v1.zone"), ORIGIN, 1, N)
        v2 = xfrlib.write_zone(os.path.join(pd, "v2.zone"), ORIGIN, 2, N, variant=1)
        snap = os.path.join(pd, "zones.p53")
        r = common.run([port53, "compile", "-o", snap, "%s=%s" % (ORIGIN, v1)])
        if r.returncode != 0:
            print(r.stdout + r.stderr)
            return 1
        pport = common.free_port()
        tport = common.free_port()
        ca, crt, key = make_certs(pd)
        knot = xfrlib.KnotPeer(kd, "secondary", [(ORIGIN, None)], pport)
        nsd = xfrlib.NsdPeer(nd, "secondary", [(ORIGIN, None)], pport)
        sock = os.path.join(pd, "ctl.sock")
        p53 = common.Port53(port53, pd, pd, port=pport, extra=[
            "--control-socket", sock,
            "--tsig-key", xfrlib.KEY_ARG,
            "--tsig-key", "hmac-sha256:other:" + xfrlib.BAD_SECRET,
            "--tsig-key", "hmac-sha256:xot:" + XOT_SECRET,
            "--xfr-allow", "127.0.0.1 key k1",
            "--xfr-allow", "127.0.0.1 key xot tls",
            "--tls-listen", "%s:%d" % (common.HOST, tport), "--tls-cert", crt, "--tls-key", key,
            "--notify", "127.0.0.1:%d key k1" % knot.port,
            "--notify", "127.0.0.1:%d key k1" % nsd.port,
        ])
        p53.snapshot = snap
        servers = []
        try:
            p53.start()
            servers.append(p53)
            want1 = xfrlib.records(xfrlib.zone_from_file(v1, ORIGIN))
            want2 = xfrlib.records(xfrlib.zone_from_file(v2, ORIGIN))

            msgs = list(dns.query.xfr(common.HOST, ORIGIN, port=pport, keyring=xfrlib.KEYRING,
                                      keyname=xfrlib.KEY_NAME, relativize=False, timeout=10))
            got = xfrlib.records(dns.zone.from_xfr(msgs, relativize=False))
            check(got == want1, "AXFR with TSIG gives the zone file's records",
                  "missing %d, extra %d" % (len(want1 - got), len(got - want1)))
            check(len(msgs) > 3, "the zone came in several messages", "%d" % len(msgs))

            ok, why = refused(pport, None, "REFUSED")
            check(ok, "AXFR without the key the rule names is refused", why)
            ok, why = refused(pport, xfrlib.BAD_KEYRING, "BADSIG")
            check(ok, "AXFR with a wrong secret is answered BADSIG", why)
            other = dns.tsigkeyring.from_text({"other.": ("hmac-sha256", xfrlib.BAD_SECRET)})
            try:
                dns.zone.from_xfr(dns.query.xfr(common.HOST, ORIGIN, port=pport, keyring=other,
                                                keyname="other.", timeout=5), relativize=False)
                check(False, "AXFR signed with a key the rule does not name is refused")
            except Exception as e:
                check("REFUSED" in str(e), "AXFR signed with a key the rule does not name is refused",
                      repr(e))
            try:
                dns.zone.from_xfr(dns.query.xfr(common.HOST, "nothere.example.", port=pport,
                                                keyring=xfrlib.KEYRING, keyname=xfrlib.KEY_NAME,
                                                timeout=5), relativize=False)
                check(False, "AXFR of a zone not served is refused")
            except Exception as e:
                check("NOTAUTH" in str(e), "AXFR of a zone not served is NOTAUTH", repr(e))

            # XoT: the same zone over the TLS listener, the same rules.
            try:
                got, nmsg, alpn, ver = axfr_tls(tport, ca, xfrlib.KEYRING, xfrlib.KEY_NAME)
                check(got == want1 and nmsg > 3, "AXFR over TLS with TSIG gives the zone file's "
                      "records (%d messages, ALPN %s, %s)" % (nmsg, alpn, ver),
                      "missing %d, extra %d" % (len(want1 - got), len(got - want1)))
                check(alpn == "dot", "ALPN dot negotiated (RFC 9103)", repr(alpn))
            except Exception as e:
                check(False, "AXFR over TLS with TSIG", repr(e))
            for what, kr, kn in (("without a key", None, None),
                                 ("signed with a key no rule names for it",
                                  dns.tsigkeyring.from_text({"other.": ("hmac-sha256",
                                                                         xfrlib.BAD_SECRET)}),
                                  "other.")):
                try:
                    axfr_tls(tport, ca, kr, kn, timeout=5)
                    check(False, "AXFR over TLS %s is refused" % what)
                except Exception as e:
                    check("REFUSED" in str(e), "AXFR over TLS %s is refused as over TCP" % what,
                          repr(e))
            try:
                got, _, _, _ = axfr_tls(tport, ca, XOT_KEYRING, "xot.")
                check(got == want1, "the key of a \"tls\" rule is allowed over TLS")
            except Exception as e:
                check(False, "the key of a \"tls\" rule is allowed over TLS", repr(e))
            try:
                dns.zone.from_xfr(dns.query.xfr(common.HOST, ORIGIN, port=pport,
                                                keyring=XOT_KEYRING, keyname="xot.",
                                                timeout=5), relativize=False)
                check(False, "and refused over plain TCP")
            except Exception as e:
                check("REFUSED" in str(e), "and refused over plain TCP", repr(e))

            knot.start()
            servers.append(knot)
            nsd.start()
            servers.append(nsd)
            for name, srv in (("Knot", knot), ("NSD", nsd)):
                t = xfrlib.wait_serial(srv.port, ORIGIN, 1, 30)
                check(t is not None, "%s transfers serial 1 from port53" % name, srv.read_log())
                if t is not None:
                    got = xfrlib.records(xfrlib.axfr(srv.port, ORIGIN, xfrlib.KEYRING))
                    check(got == want1, "%s holds the zone file's records" % name,
                          "missing %d, extra %d" % (len(want1 - got), len(got - want1)))

            ixfr0 = metric(ctl, sock, "ixfr") or 0
            r = common.run([port53, "compile", "-o", snap + ".new", "%s=%s" % (ORIGIN, v2)])
            check(r.returncode == 0, "version 2 compiles", r.stderr)
            os.rename(snap + ".new", snap)
            t0 = time.monotonic()
            p53.proc.send_signal(signal.SIGHUP)
            for name, srv in (("Knot", knot), ("NSD", nsd)):
                ok = common.wait_for(lambda: xfrlib.soa_serial(srv.port, ORIGIN) == 2, 30, 0.01)
                dt = time.monotonic() - t0
                check(ok, "%s has serial 2 after port53's NOTIFY" % name, srv.read_log())
                print("# %s serves serial 2 %.3f s after port53's reload" % (name, dt))
                if ok:
                    got = xfrlib.records(xfrlib.axfr(srv.port, ORIGIN, xfrlib.KEYRING))
                    check(got == want2, "%s holds version 2's records" % name,
                          "missing %d, extra %d" % (len(want2 - got), len(got - want2)))
            ixfr1 = metric(ctl, sock, "ixfr") or 0
            check(ixfr1 >= ixfr0 + 2, "both secondaries asked by IXFR and got differences",
                  "%d -> %d" % (ixfr0, ixfr1))
            sent = metric(ctl, sock, "notify_acked")
            check(sent is not None and sent >= 2, "port53's NOTIFYs were acknowledged", str(sent))

            # dnspython applies port53's IXFR to version 1 and gets version 2.
            zone = xfrlib.zone_from_file(v1, ORIGIN)
            q, _ = dns.xfr.make_query(zone, keyring=xfrlib.KEYRING, keyname=xfrlib.KEY_NAME)
            dns.query.inbound_xfr(common.HOST, zone, query=q, port=pport, timeout=10)
            got = xfrlib.records(zone)
            check(got == want2, "dnspython's IXFR from serial 1 turns version 1 into version 2",
                  "missing %d, extra %d" % (len(want2 - got), len(got - want2)))
            # From a serial the journal never held: the whole zone.
            old = xfrlib.zone_from_file(xfrlib.write_zone(os.path.join(pd, "v0.zone"), ORIGIN,
                                                          0, 5), ORIGIN)
            q, _ = dns.xfr.make_query(old, keyring=xfrlib.KEYRING, keyname=xfrlib.KEY_NAME)
            dns.query.inbound_xfr(common.HOST, old, query=q, port=pport, timeout=10)
            got = xfrlib.records(old)
            check(got == want2, "an IXFR from an unknown serial gets the whole zone",
                  "missing %d, extra %d" % (len(want2 - got), len(got - want2)))
            check(p53.alive(), "port53 still runs", p53.read_log())
        except Exception as e:
            check(False, "test ran to the end", "%r\n%s" % (e, p53.read_log()))
        finally:
            for s in servers:
                s.stop()
    return check.finish()


if __name__ == "__main__":
    sys.exit(main())
