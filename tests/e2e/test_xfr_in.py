#!/usr/bin/python3
"""port53 as a secondary (docs/transfers.md): Knot DNS and NSD as primaries,
signed with TSIG, sending NOTIFY; port53 transfers their zones, compiles
them with a zone from a file into one snapshot and serves them.

  - both zones and the file's zone are served; each transferred zone,
    fetched back from port53 by AXFR, equals its primary's file, parsed by
    dnspython
  - a new version on each primary: NOTIFY, IXFR (port53's counters say so;
    NSD 4.6 answers it with the whole zone), served within a bounded time,
    which is measured and printed
  - a zone whose primary does not know port53's key is not served and its
    failures are counted; the others are unaffected
  - an unsigned NOTIFY, or one from an address that is not the primary's,
    is refused
  - the primary stops: refreshes fail, the zone keeps being served; past
    the SOA expire time the zone answers SERVFAIL (metrics say expired),
    and it comes back when the primary does

Loopback only; every wait is bounded; every server is stopped.
"""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import xfrlib  # noqa: E402

import dns.message  # noqa: E402
import dns.opcode  # noqa: E402
import dns.query  # noqa: E402
import dns.rcode  # noqa: E402

KZONE = "knot.example."
NZONE = "nsd.example."
BADZONE = "bad.example."
N = 2000

check = common.Checks("xfr-in")


def metric(ctl, sock, family, zone):
    r = common.run([ctl, "-s", sock, "metrics"])
    for line in r.stdout.splitlines():
        name = line.split("{")[0]
        if name in ("port53_" + family, "port53_" + family + "_total") and \
                'zone="%s"' % zone in line:
            return int(float(line.split()[-1]))
    return None


def notify(port, zone, keyring=None):
    m = dns.message.make_query(zone, "SOA")
    m.set_opcode(dns.opcode.NOTIFY)
    m.flags |= 0x400
    if keyring is not None:
        m.use_tsig(keyring, keyname=xfrlib.KEY_NAME)
    try:
        return dns.query.udp(m, common.HOST, port=port, timeout=2).rcode()
    except Exception as e:
        return repr(e)


def rcode_of(port, name):
    raw = common.send_udp(dns.message.make_query(name, "A").to_wire(), port, 0.5)
    return None if raw is None else dns.message.from_wire(raw).rcode()


def served(port, zone):
    raw = common.send_udp(dns.message.make_query("ns1." + zone, "A").to_wire(), port, 0.5)
    return raw is not None and dns.message.from_wire(raw).rcode() == dns.rcode.NOERROR and \
        bool(dns.message.from_wire(raw).answer)


def main():
    if not xfrlib.have_reference_servers():
        print("skip: knotd or nsd not installed")
        return 77
    port53 = common.default_port53()
    ctl = os.environ.get("PORT53CTL", os.path.join(os.path.dirname(port53), "port53ctl"))
    with common.tempdir("p53xfrin-") as d:
        kd, nd, pd = (os.path.join(d, x) for x in ("knot", "nsd", "p53"))
        for x in (kd, nd, pd):
            os.mkdir(x)
        kfile = xfrlib.write_zone(os.path.join(kd, "k.zone"), KZONE, 1, N)
        nfile = xfrlib.write_zone(os.path.join(nd, "n.zone"), NZONE, 1, N // 4, expire=8)
        bfile = xfrlib.write_zone(os.path.join(kd, "b.zone"), BADZONE, 1, 3)
        pport = common.free_port()
        knot = xfrlib.KnotPeer(kd, "primary", [(KZONE, kfile), (BADZONE, bfile)], pport)
        nsd = xfrlib.NsdPeer(nd, "primary", [(NZONE, nfile)], pport)
        sock = os.path.join(pd, "ctl.sock")
        local = os.path.join(common.DEFAULT_ZONES, "example.com.zone")
        servers = []
        p53 = None
        try:
            knot.start()
            servers.append(knot)
            nsd.start()
            servers.append(nsd)
            check(xfrlib.wait_serial(knot.port, KZONE, 1, 30) is not None, "Knot serves the zone",
                  knot.read_log())
            args = [port53, "serve", "-l", "%s:%d" % (common.HOST, pport), "--rrl-rate", "0",
                    "--control-socket", sock,
                    "--tsig-key", xfrlib.KEY_ARG,
                    "--tsig-key", "hmac-sha256:wrong:" + xfrlib.BAD_SECRET,
                    "--secondary", "%s %s:%d key k1" % (KZONE, common.HOST, knot.port),
                    "--secondary", "%s %s:%d key k1" % (NZONE, common.HOST, nsd.port),
                    "--secondary", "%s %s:%d key wrong" % (BADZONE, common.HOST, knot.port),
                    "--secondary-dir", os.path.join(pd, "sec"),
                    "--zone", "example.com=" + local,
                    "--xfr-allow", "127.0.0.1 key k1"]
            p53 = common.Port53(port53, pd, pd, port=pport)
            p53.logf = open(p53.log, "w")
            import subprocess
            p53.proc = subprocess.Popen(args, stdout=p53.logf, stderr=subprocess.STDOUT)
            servers.append(p53)
            up = common.wait_answering(pport, p53.proc, 30)
            check(up, "port53 starts as a secondary", p53.read_log())
            if not up:
                return check.finish()

            want = {
                KZONE: xfrlib.records(xfrlib.zone_from_file(kfile, KZONE)),
                NZONE: xfrlib.records(xfrlib.zone_from_file(nfile, NZONE)),
            }
            for z in (KZONE, NZONE):
                check(xfrlib.wait_serial(pport, z, 1, 20) is not None, "%s is served" % z,
                      p53.read_log())
                got = xfrlib.records(xfrlib.axfr(pport, z, xfrlib.KEYRING))
                check(got == want[z], "%s as served equals the primary's file" % z,
                      "missing %d, extra %d" % (len(want[z] - got), len(got - want[z])))
            raw = common.send_udp(dns.message.make_query("www.example.com.", "A").to_wire(), pport)
            check(raw is not None and dns.message.from_wire(raw).answer,
                  "the zone compiled from a file is served beside them")
            check(not served(pport, BADZONE), "a zone whose transfer is refused (unknown key) "
                  "is not served")
            check(common.wait_for(lambda: (metric(ctl, sock, "secondary_failures", BADZONE) or 0) >= 1,
                                  10), "its failures are counted",
                  common.run([ctl, "-s", sock, "metrics"]).stdout[-2000:])
            check("BADKEY" in knot.read_log() or "TSIG" in p53.read_log() or
                  "NOTAUTH" in p53.read_log(), "the primary refused the unknown key",
                  p53.read_log())

            check(notify(pport, KZONE) == dns.rcode.REFUSED,
                  "an unsigned NOTIFY for a zone with a key is refused")
            check(notify(pport, "other.example.", xfrlib.KEYRING) == dns.rcode.NOTAUTH,
                  "a NOTIFY for a zone we are not secondary for is NOTAUTH")

            # New versions: NOTIFY -> IXFR -> served.
            v2 = {KZONE: os.path.join(kd, "k2.zone"), NZONE: os.path.join(nd, "n2.zone")}
            xfrlib.write_zone(v2[KZONE], KZONE, 2, N, variant=1)
            xfrlib.write_zone(v2[NZONE], NZONE, 2, N // 4, variant=1, expire=8)
            for z, srv, f in ((KZONE, knot, kfile), (NZONE, nsd, nfile)):
                os.replace(v2[z], f)
                ix0 = metric(ctl, sock, "secondary_ixfr", z) or 0
                t0 = time.monotonic()
                r = srv.reload()
                ok = common.wait_for(lambda: xfrlib.soa_serial(pport, z) == 2, 20, 0.005)
                dt = time.monotonic() - t0
                check(ok, "%s serial 2 served after the primary's NOTIFY" % z,
                      "%s\n%s\n%s" % (r.stdout + r.stderr, p53.read_log(), srv.read_log()))
                print("# NOTIFY to served: %s from %s in %.3f s (reload command to "
                      "serial 2 answered by port53)" % (z, type(srv).__name__, dt), flush=True)
                want2 = xfrlib.records(xfrlib.zone_from_file(f, z))
                if ok:
                    got = xfrlib.records(xfrlib.axfr(pport, z, xfrlib.KEYRING))
                    check(got == want2, "%s version 2 as served equals the primary's" % z,
                          "missing %d, extra %d" % (len(want2 - got), len(got - want2)))
                ix1 = metric(ctl, sock, "secondary_ixfr", z) or 0
                # NSD 4.6 keeps no differences for zones it loads from files:
                # it answers port53's IXFR with the whole zone (RFC 1995 4).
                if srv is knot:
                    check(ix1 == ix0 + 1, "%s came by IXFR" % z,
                          "%d -> %d\n%s" % (ix0, ix1, p53.read_log()))

            # The primary goes away: still served until expire, then not.
            nsd.stop()
            servers.remove(nsd)
            check(notify(pport, NZONE, xfrlib.KEYRING) == dns.rcode.NOERROR,
                  "a signed NOTIFY from the primary's address is taken")
            check(common.wait_for(lambda: (metric(ctl, sock, "secondary_failing", NZONE) or 0) == 1,
                                  10), "the refresh fails with the primary down")
            check(served(pport, NZONE), "the zone is still served after a failed refresh")
            check(common.wait_for(lambda: metric(ctl, sock, "secondary_expired", NZONE) == 1, 20),
                  "past the SOA expire time the zone is marked expired", p53.read_log())
            check(common.wait_for(lambda: rcode_of(pport, "ns1." + NZONE) == dns.rcode.SERVFAIL,
                                  10), "an expired zone answers SERVFAIL")
            raw = common.send_tcp(dns.message.make_query("h1." + NZONE, "A").to_wire(), pport)
            check(raw is not None and dns.message.from_wire(raw).rcode() == dns.rcode.SERVFAIL,
                  "over TCP too")
            r = common.run([ctl, "-s", sock, "node"])
            check(r.returncode == 1 and "1 zones past their expire time" in r.stdout,
                  "the node reports itself unhealthy while a zone is expired (GET /v1/node)",
                  r.stdout + r.stderr)
            check(served(pport, KZONE), "the other zones are unaffected")
            nsd = xfrlib.NsdPeer(nd, "primary", [(NZONE, nfile)], pport, port=nsd.port)
            nsd.start()
            servers.append(nsd)
            check(common.wait_for(lambda: served(pport, NZONE), 30),
                  "the zone comes back with its primary", p53.read_log())
            check(metric(ctl, sock, "secondary_expired", NZONE) == 0, "and is no longer expired")
            check(common.wait_for(lambda: common.run([ctl, "-s", sock, "node"]).returncode == 0,
                                  5), "and the node is healthy again (GET /v1/node)")
            check(p53.alive(), "port53 still runs", p53.read_log())
        except Exception as e:
            check(False, "test ran to the end", "%r\n%s" % (e, p53.read_log() if p53 else ""))
        finally:
            for s in servers:
                s.stop()
    return check.finish()


if __name__ == "__main__":
    sys.exit(main())
