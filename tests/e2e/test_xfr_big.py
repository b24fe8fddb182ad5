#!/usr/bin/python3
"""Large zones through port53, both ways (docs/transfers.md): NSD as the
primary, port53 as its secondary, Knot DNS and another NSD as port53's
secondaries, all with TSIG.

A zone of 40,000 records is far more than 100 messages. RFC 8945 5.3.1
lets a primary leave up to 99 messages unsigned between signed ones (the
MAC covering them); NSD 4.6 signs every message (measured here: NSD's
stream is printed), so a dnspython primary makes the unsigned streams.

  - dnspython's own AXFR from NSD: more than 100 messages, the TSIG chain
    verified by dnspython
  - port53 takes the zone from NSD; served, it equals the file (dnspython)
  - a new version on NSD: NOTIFY, transfer (NSD answers IXFR with the whole
    zone), served by port53 within a bounded, printed time, equal to the
    file
  - a dnspython primary signing the first, the last and every 100th
    message (99 unsigned in a row, RFC 8945 5.3.1's limit): port53 takes
    the zone, equal to the primary's; a changed unsigned message, 100
    unsigned in a row, or an unsigned last message are refused and serial
    1 stays served; the good stream is then taken
  - Knot and NSD, secondaries of port53, hold the zone (AXFR, every message
    signed by port53) and, after port53's NOTIFY, the new version (by IXFR
    from port53's journal), equal to the file, with the times printed

A stream whose unsigned messages were changed, dropped, or that ends
unsigned is refused: tests/unit/test_xfr.c.

Loopback only; every wait is bounded; every server is stopped.
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import xfrlib  # noqa: E402

import dns.message  # noqa: E402
import dns.opcode  # noqa: E402
import dns.query  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdatatype  # noqa: E402
import dns.zone  # noqa: E402

ZONE = "big.example."
UZONE = "unsigned.example."
N = 20000  # names, each with an A and a 64-byte TXT: 40,000 records, ~2.5 MB

check = common.Checks("xfr-big", verbose=True)


def metric(ctl, sock, family, label, value):
    r = common.run([ctl, "-s", sock, "metrics"])
    for line in r.stdout.splitlines():
        name = line.split("{")[0]
        if name in ("port53_" + family, "port53_" + family + "_total") and \
                '%s="%s"' % (label, value) in line:
            return int(float(line.split()[-1]))
    return None


def nsd_messages(port):
    """dnspython's AXFR from NSD: (messages, unsigned messages); dnspython
    checks the TSIG chain over the unsigned ones itself."""
    n = unsigned = 0
    for m in dns.query.xfr(common.HOST, ZONE, port=port, timeout=30, lifetime=120,
                           relativize=False, keyring=xfrlib.KEYRING, keyname=xfrlib.KEY_NAME,
                           keyalgorithm="hmac-sha256"):
        n += 1
        unsigned += 0 if m.had_tsig else 1
    return n, unsigned


def notify(port, zone):
    m = dns.message.make_query(zone, "SOA")
    m.set_opcode(dns.opcode.NOTIFY)
    m.flags |= 0x400
    m.use_tsig(xfrlib.KEYRING, keyname=xfrlib.KEY_NAME)
    try:
        return dns.query.udp(m, common.HOST, port=port, timeout=2).rcode()
    except Exception as e:
        return repr(e)


def xfr_serial(port, zone, serial):
    """The serial port53's transfers out give: an IXFR from serial (signed)
    is answered with the current SOA alone when we are not behind."""
    import dns.rrset
    q = dns.message.make_query(zone, "IXFR")
    q.authority.append(dns.rrset.from_text(zone, 0, "IN", "SOA",
                                           ". . %d 0 0 0 0" % serial))
    q.use_tsig(xfrlib.KEYRING, keyname=xfrlib.KEY_NAME)
    try:
        r = dns.query.tcp(q, common.HOST, port=port, timeout=5)
    except Exception:
        return None
    return r.answer[0][0].serial if r.answer and r.answer[0].rdtype == dns.rdatatype.SOA \
        else None


def same(port, want, what, host=common.HOST, zone=ZONE):
    """The zone by AXFR equals want. Transfers out take a new generation
    once its zone images are built, after the swap (docs/transfers.md):
    an AXFR just after the swap may still give the previous serial, so the
    AXFR is repeated (bounded) until its SOA is want's."""
    want_soa = [r for r in want if r[2] == "SOA"]
    end = time.monotonic() + 60
    while True:
        got = xfrlib.records(xfrlib.axfr(port, zone, xfrlib.KEYRING, timeout=60, host=host))
        if [r for r in got if r[2] == "SOA"] == want_soa or time.monotonic() > end:
            break
        time.sleep(0.2)
    return check(got == want, what, "missing %d, extra %d (e.g. %s)" % (
        len(want - got), len(got - want), sorted(want ^ got)[:3]))


def unsigned_part(pport, ctl, sock, p53, py, utext):
    """The dnspython primary: unsigned messages within the limits are
    taken; a changed unsigned message, 100 unsigned in a row, or a stream
    ending unsigned are refused and change nothing served."""
    check(xfrlib.wait_serial(pport, UZONE, 1, 30) is not None,
          "port53 serves the zone of the primary that signs one message in 100",
          p53.read_log()[-2000:])
    check(py.transfers and py.transfers[-1] == (151, 148),
          "that transfer had 151 messages, 148 unsigned (99 in a row)", repr(py.transfers))
    want1 = xfrlib.records(dns.zone.from_text(utext[0], UZONE, relativize=False))
    same(pport, want1, "and it equals the primary's zone (dnspython)", zone=UZONE)
    # The first fault is set before the new version exists: a refresh at
    # the zone's own timer must not find a good stream either.
    py.tamper = True
    py.set_zone(utext[1])
    faults = (("tamper", "an unsigned message changed in transit", "TSIG of answer message"),
              ("sign_every", "100 unsigned messages in a row", "unsigned messages in a row"),
              ("drop_last_sig", "a stream whose last message is unsigned", "must be"))
    for attr, what, logged in faults:
        f0 = metric(ctl, sock, "secondary_failures", "zone", UZONE) or 0
        # One assignment: a retry of the previous fault never sees a good
        # stream in between.
        py.tamper, py.drop_last_sig, py.sign_every = (
            attr == "tamper", attr == "drop_last_sig", 101 if attr == "sign_every" else 100)
        check(notify(pport, UZONE) == dns.rcode.NOERROR, "NOTIFY taken (%s)" % what)
        ok = common.wait_for(
            lambda: (metric(ctl, sock, "secondary_failures", "zone", UZONE) or 0) > f0, 30)
        check(ok and logged in p53.read_log(), "%s: the transfer is refused (%r logged)" % (
            what, logged), p53.read_log()[-1500:])
        check(xfrlib.soa_serial(pport, UZONE) == 1, "and serial 1 is still served")
    py.tamper, py.drop_last_sig, py.sign_every = False, False, 100
    t0 = time.monotonic()
    check(notify(pport, UZONE) == dns.rcode.NOERROR, "NOTIFY taken (good stream again)")
    ok = xfrlib.wait_serial(pport, UZONE, 2, 30) is not None
    check(ok, "the good stream is taken: serial 2 served", p53.read_log()[-1500:])
    if ok:
        print("# NOTIFY to served from the primary that signs 1 message in 100: %.2f s" % (
            time.monotonic() - t0), flush=True)
        want2 = xfrlib.records(dns.zone.from_text(utext[1], UZONE, relativize=False))
        same(pport, want2, "serial 2 equals the primary's zone", zone=UZONE)


def main():
    if not xfrlib.have_reference_servers():
        print("skip: knotd or nsd not installed")
        return 77
    port53 = common.default_port53()
    ctl = os.environ.get("PORT53CTL", os.path.join(os.path.dirname(port53), "port53ctl"))
    with common.tempdir("p53xfrbig-") as d:
        nd, sd, kd, pd = (os.path.join(d, x) for x in ("nsd", "nsd2", "knot", "p53"))
        for x in (nd, sd, kd, pd):
            os.mkdir(x)
        zfile = xfrlib.write_zone(os.path.join(nd, "big.zone"), ZONE, 1, N, txt=True)
        pport = common.free_port()
        nsd = xfrlib.NsdPeer(nd, "primary", [(ZONE, zfile)], pport)
        sock = os.path.join(pd, "ctl.sock")
        servers = []
        p53 = None
        # 3,006 records, 20 a message: 151 messages, signed 0, 100, 150.
        utext = [xfrlib.zone_text(UZONE, s, 3000) for s in (1, 2)]
        py = xfrlib.PyPrimary(UZONE, utext[0], sign_every=100, per_msg=20)
        try:
            nsd.start()
            servers.append(nsd)
            check(xfrlib.wait_serial(nsd.port, ZONE, 1, 60) is not None, "NSD serves the zone",
                  nsd.read_log())
            n, unsigned = nsd_messages(nsd.port)
            print("# NSD's AXFR of %d records: %d messages, %d unsigned" % (
                2 * N + 6, n, unsigned), flush=True)
            # NSD 4.6 signs every message; the unsigned messages RFC 8945
            # allows come from the dnspython primary below.
            check(n > 100, "NSD's transfer is over 100 messages (dnspython verified the "
                  "TSIG chain)", "%d messages, %d unsigned" % (n, unsigned))
            want1 = xfrlib.records(xfrlib.zone_from_file(zfile, ZONE))

            # Knot and a second NSD follow port53; port53 follows NSD.
            knot = xfrlib.KnotPeer(kd, "secondary", [(ZONE, None)], pport)
            nsd2 = xfrlib.NsdPeer(sd, "secondary", [(ZONE, None)], pport)
            knot.port, nsd2.port = common.free_port(), common.free_port()
            args = [port53, "serve", "-l", "%s:%d" % (common.HOST, pport), "--rrl-rate", "0",
                    "--control-socket", sock,
                    "--tsig-key", xfrlib.KEY_ARG,
                    "--secondary", "%s %s:%d key k1" % (ZONE, common.HOST, nsd.port),
                    "--secondary", "%s %s:%d key k1" % (UZONE, common.HOST, py.port),
                    "--secondary-dir", os.path.join(pd, "sec"),
                    "--xfr-allow", "127.0.0.1 key k1",
                    "--notify", "%s:%d key k1" % (common.HOST, knot.port),
                    "--notify", "%s:%d key k1" % (common.HOST, nsd2.port)]
            p53 = common.Port53(port53, pd, pd, port=pport)
            p53.logf = open(p53.log, "w")
            t0 = time.monotonic()
            p53.proc = subprocess.Popen(args, stdout=p53.logf, stderr=subprocess.STDOUT)
            servers.append(p53)
            up = common.wait_answering(pport, p53.proc, 120)
            check(up, "port53 starts as NSD's secondary of the large zone", p53.read_log())
            if not up:
                return check.finish()
            ok = xfrlib.wait_serial(pport, ZONE, 1, 60) is not None
            check(ok, "port53 serves serial 1", p53.read_log())
            print("# port53 start to serving the %d-record zone from NSD: %.2f s" % (
                2 * N + 6, time.monotonic() - t0), flush=True)
            check(not [ln for ln in p53.read_log().splitlines()
                       if ZONE in ln and ("fail" in ln or "TSIG" in ln)],
                  "no failure for %s in port53's log" % ZONE, p53.read_log()[-2000:])
            same(pport, want1, "the zone served by port53 equals NSD's file")

            unsigned_part(pport, ctl, sock, p53, py, utext)

            for srv in (knot, nsd2):
                srv.start()
                servers.append(srv)
            for srv in (knot, nsd2):
                got = xfrlib.wait_serial(srv.port, ZONE, 1, 120)
                check(got is not None, "%s takes the zone from port53" % type(srv).__name__,
                      srv.read_log())
                if got is not None:
                    same(srv.port, want1, "%s's copy equals the file" % type(srv).__name__)

            # Version 2 on NSD: NOTIFY -> port53 -> NOTIFY -> Knot, NSD.
            v2 = xfrlib.write_zone(os.path.join(nd, "big2.zone"), ZONE, 2, N, variant=1, txt=True)
            os.replace(v2, zfile)
            want2 = xfrlib.records(xfrlib.zone_from_file(zfile, ZONE))
            ix0 = metric(ctl, sock, "xfr_out", "event", "ixfr") or 0
            t0 = time.monotonic()
            r = nsd.reload()
            # First seen serving serial 2, each server polled in turn (UDP),
            # before any comparison costs time.
            seen = {}
            ports = {"port53": pport, "Knot": knot.port, "NSD": nsd2.port}
            end = t0 + 180
            while len(seen) < len(ports) and time.monotonic() < end:
                for who, port in ports.items():
                    if who not in seen and xfrlib.soa_serial(port, ZONE, 0.2) == 2:
                        seen[who] = time.monotonic() - t0
                time.sleep(0.01)
            check("port53" in seen, "serial 2 served by port53 after NSD's NOTIFY",
                  "%s\n%s" % (r.stdout + r.stderr, p53.read_log()[-3000:]))
            if "port53" in seen:
                print("# NOTIFY to served: %d-record zone from NSD (whole zone, %d messages) "
                      "in %.2f s (nsd-control reload to serial 2 answered by port53)" % (
                          2 * N + 6, n, seen["port53"]), flush=True)
            for who in ("Knot", "NSD"):
                ok = check(who in seen, "%s takes version 2 from port53 after its NOTIFY" % who)
                if ok:
                    print("# NSD -> port53 -> %s: serial 2 served %.2f s after NSD's reload "
                          "(IXFR from port53)" % (who, seen[who]), flush=True)
            if "port53" in seen:
                t1 = time.monotonic()
                common.wait_for(lambda: xfr_serial(pport, ZONE, 2) == 2, 120, 0.05)
                print("# serial 2 in port53's transfers out %.2f s after it was first checked "
                      "(zone images built after the swap)" % (time.monotonic() - t1), flush=True)
                same(pport, want2, "version 2 as served by port53 equals the file")
            for srv in (knot, nsd2):
                if xfrlib.soa_serial(srv.port, ZONE) == 2:
                    same(srv.port, want2, "%s's version 2 equals the file" % type(srv).__name__)
            ix1 = metric(ctl, sock, "xfr_out", "event", "ixfr") or 0
            check(ix1 >= ix0 + 1, "the secondaries' transfers of version 2 were IXFR from "
                  "port53's journal", "%d -> %d" % (ix0, ix1))

            check(p53.alive(), "port53 still runs", p53.read_log()[-2000:])
        except Exception as e:
            import traceback
            traceback.print_exc()
            check(False, "test ran to the end", "%r\n%s" % (e, p53.read_log()[-3000:] if p53 else ""))
        finally:
            for s in servers:
                s.stop()
            py.stop()
    return check.finish()


if __name__ == "__main__":
    sys.exit(main())
