#!/usr/bin/python3
"""DNS over QUIC (and later TCP/TLS) answered by port53d itself, from the
workers' snapshot, in the TAP mode with the exception path and in AF_XDP
mode (docs/transports.md).

TAP part (the layout of test_tap.py):
    netns H: port53d; its service port is a net_tap whose kernel side has
             the client addresses 192.0.2.10, 2001:db8::10
    netns K: port53d's exception tap, moved here, with the service
             addresses 192.0.2.53, 2001:db8::53; port53d opens its QUIC
             listeners here (--transport-netns K) before the interface
             arrives (IP_FREEBIND)
AF_XDP part (the layout of test_afxdp.py):
    netns S: veth S with the service addresses and port53's XDP program;
             port53d on net_af_xdp; its QUIC listeners in S
    netns C: veth C, the client

Checks, in both modes: UDP answered by the DPDK worker; DoQ answers from the
same snapshot (whoami.example.com TXT says which snapshot answered), several
queries on streams of one connection, v4 and v6; a large answer over DoQ is
whole (never truncated); a non-zero Message ID is a DOQ_PROTOCOL_ERROR
(RFC 9250 4.2.1); a client offering another ALPN is refused with TLS alert
no_application_protocol; strict verification against the test CA succeeds.
The DoQ client is tests/e2e/doqclient (quic-go), independent of the
server's ngtcp2.

Needs root and a build with port53d, port53, p53-xdp, p53_xdp.bpf.o and
doqclient:
    sudo /usr/bin/python3 tests/e2e/test_transports.py BUILD_DIR
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dns.flags  # noqa: E402
import dns.message  # noqa: E402
import dns.rcode  # noqa: E402
import dpnet  # noqa: E402
import xport  # noqa: E402
from dpnet import run  # noqa: E402

SVC4, CLI4 = "192.0.2.53", "192.0.2.10"
SVC6, CLI6 = "2001:db8::53", "2001:db8::10"
PID = os.getpid()
BIG_TXT = 40  # TXT records at big.example.com: ~2.6 kB, over any UDP limit


def snapshot(bdir, work, gen):
    """example.com plus whoami TXT "gen<N>" and a large RRset."""
    zone = os.path.join(work, "gen%d.zone" % gen)
    with open(dpnet.ZONE) as src, open(zone, "w") as dst:
        dst.write(src.read())
        dst.write('\nwhoami.example.com. 60 IN TXT "gen%d"\n' % gen)
        for i in range(BIG_TXT):
            dst.write('big.example.com. 60 IN TXT "record %02d %s"\n' % (i, "x" * 50))
    out = os.path.join(work, "gen%d.p53" % gen)
    run([os.path.join(bdir, "tools", "port53"), "compile", "-o", out,
         "example.com=%s" % zone], timeout=60)
    return out


def whoami_txt(m):
    if not isinstance(m, dns.message.Message):
        return repr(m)
    t = xport.rrset_texts(m, "TXT")
    return t.pop().strip('"') if len(t) == 1 else repr(t)


def check_doq(res, mode, ns, doqclient, certs, gen):
    """DoQ against port53d at the service addresses, from NS."""
    for svc in (SVC4, SVC6):
        qs = [xport.query_wire("whoami.example.com.", "TXT"),
              xport.query_wire("www.example.com.", "A"),
              xport.query_wire("big.example.com.", "TXT")]
        out, err = xport.doq(doqclient, ns, svc, qs)
        if not res.check("%s DoQ %s: connection and 3 streams" % (mode, svc),
                         out is not None and len(out) == 3, err or repr(out)):
            continue
        res.check("%s DoQ %s: answered from the workers' snapshot (gen%d)" % (mode, svc, gen),
                  whoami_txt(out[0]) == "gen%d" % gen, whoami_txt(out[0]))
        m = out[1]
        ok = (isinstance(m, dns.message.Message) and m.id == 0 and m.rcode() == 0
              and xport.rrset_texts(m, "A") == {"192.0.2.10"} and m.flags & dns.flags.AA)
        res.check("%s DoQ %s: www.example.com A, Message ID 0" % (mode, svc), ok, repr(m))
        m = out[2]
        ok = (isinstance(m, dns.message.Message) and not m.flags & dns.flags.TC
              and len(xport.rrset_texts(m, "TXT")) == BIG_TXT)
        res.check("%s DoQ %s: %d-record answer whole, no TC" % (mode, svc, BIG_TXT), ok,
                  repr(m)[:300])
    out, err = xport.doq(doqclient, ns, SVC4,
                         [xport.query_wire("www.example.com.", "A", qid=7)])
    res.check("%s DoQ: Message ID 7 closes with DOQ_PROTOCOL_ERROR (0x2)" % mode,
              out is not None and out[0].startswith("ERROR") and "0x2" in out[0],
              err or repr(out))
    out, err = xport.doq(doqclient, ns, SVC4, [xport.query_wire("www.example.com.", "A")],
                         alpn="dot")
    res.check("%s DoQ: ALPN 'dot' refused with no_application_protocol (0x178)" % mode,
              out is None and "0x178" in (err or ""), err or repr(out))
    out, err = xport.doq(doqclient, ns, SVC6, [xport.query_wire("www.example.com.", "A")],
                         ca=certs["ca.pem"])
    res.check("%s DoQ: certificate verified against the test CA" % mode,
              out is not None and isinstance(out[0], dns.message.Message), err or repr(out))


def check_udp(res, mode, ns, gen):
    for svc in (SVC4, SVC6):
        m = dpnet.dns_query(ns, svc, "whoami.example.com.", "TXT", timeout=2, tries=5)
        res.check("%s UDP %s answered by the worker (gen%d)" % (mode, svc, gen),
                  m is not None and whoami_txt(m) == "gen%d" % gen,
                  whoami_txt(m) if m else "no answer")


def part_tap(res, cleanup, work, bdir, certs, doqclient):
    ns_h, ns_k = "p53x-h-%d" % PID, "p53x-k-%d" % PID
    tap = "pxx%d" % (PID % 100000)
    exc_prefix = "pxy%d_" % (PID % 10000)
    exc = exc_prefix + "0"
    dpnet.netns_add(cleanup, ns_h)
    dpnet.netns_add(cleanup, ns_k)
    snap = snapshot(bdir, work, 1)
    eal = os.environ.get("P53_EAL", "--no-huge -m 512 --no-pci -l 0").split()
    prefix = "p53x%d" % PID
    cmd = [os.path.join(bdir, "dp", "port53d")] + eal + [
        "--file-prefix", prefix, "--vdev", "net_tap0,iface=%s" % tap,
        "--", "--snapshot", snap, "--addr", SVC4, "--addr", SVC6,
        "--exception", "tap:" + exc_prefix, "--transport-netns", ns_k,
        "--quic", "--tls-cert", certs["srv.pem"], "--tls-key", certs["srv.key"],
    ]
    cleanup.push(dpnet.rm_eal_runtime, prefix)
    d = dpnet.Proc(cleanup, cmd, os.path.join(work, "port53d-tap.log"), ns=ns_h)

    def links():
        return all(run(["ip", "link", "show", x], ns=ns_h, check=False).returncode == 0
                   for x in (tap, exc))
    up = dpnet.wait_for(lambda: not d.alive() or links(), 30)
    if not res.check("tap: port53d up with the service and exception taps", d.alive() and up,
                     d.tail()):
        return
    dpnet.addr_add(ns_h, tap, CLI4 + "/24")
    dpnet.addr_add(ns_h, tap, CLI6 + "/64")
    run(["ip", "link", "set", tap, "up"], ns=ns_h)
    run(["ip", "link", "set", exc, "netns", ns_k], ns=ns_h)
    dpnet.addr_add(ns_k, exc, SVC4 + "/24")
    dpnet.addr_add(ns_k, exc, SVC6 + "/64")
    run(["ip", "link", "set", exc, "up"], ns=ns_k)
    listening = dpnet.wait_for(
        lambda: ":853" in run(["ss", "-lunH"], ns=ns_k, check=False).stdout, 5)
    res.check("tap: QUIC listeners open in the exception namespace", listening,
              run(["ss", "-lunp"], ns=ns_k, check=False).stdout)
    check_udp(res, "tap", ns_h, 1)
    check_doq(res, "tap", ns_h, doqclient, certs, 1)
    rc = d.stop()
    res.check("tap: port53d exits 0 on SIGTERM", rc == 0, d.tail())


def part_afxdp(res, cleanup, work, bdir, certs, doqclient):
    ns_s, ns_c = "p53y-s-%d" % PID, "p53y-c-%d" % PID
    dev_s, dev_c = "pyx%ds" % (PID % 100000), "pyx%dc" % (PID % 100000)
    obj = os.path.join(bdir, "dp", "p53_xdp.bpf.o")
    dpnet.netns_add(cleanup, ns_s)
    dpnet.netns_add(cleanup, ns_c)
    dpnet.veth_pair(cleanup, dev_s, ns_s, dev_c, ns_c)
    cleanup.push(lambda: run(["ip", "link", "set", "dev", dev_s, "xdp", "off"], ns=ns_s,
                             check=False))
    dpnet.addr_add(ns_s, dev_s, SVC4 + "/24")
    dpnet.addr_add(ns_s, dev_s, SVC6 + "/64")
    dpnet.addr_add(ns_c, dev_c, CLI4 + "/24")
    dpnet.addr_add(ns_c, dev_c, CLI6 + "/64")
    # Software checksums from the client: see test_afxdp.py.
    run(["ethtool", "-K", dev_c, "tx", "off"], ns=ns_c)
    snap = snapshot(bdir, work, 2)
    eal = os.environ.get("P53_EAL_XDP", "--no-huge -m 512 --no-pci -l 1").split()
    prefix = "p53y%d" % PID
    cmd = [os.path.join(bdir, "dp", "port53d")] + eal + [
        "--file-prefix", prefix,
        "--vdev", "net_af_xdp0,iface=%s,queue_count=1,xdp_prog=%s" % (dev_s, obj),
        "--", "--snapshot", snap, "--addr", SVC4, "--addr", SVC6,
        "--quic", "--tls-cert", certs["srv.pem"], "--tls-key", certs["srv.key"],
    ]
    cleanup.push(dpnet.rm_eal_runtime, prefix)
    d = dpnet.Proc(cleanup, cmd, os.path.join(work, "port53d-xdp.log"), ns=ns_s)
    up = dpnet.wait_for(lambda: not d.alive() or "XDP program steers" in d.tail(), 30)
    if not res.check("afxdp: port53d attached the XDP program", d.alive() and up, d.tail()):
        return
    check_udp(res, "afxdp", ns_c, 2)
    check_doq(res, "afxdp", ns_c, doqclient, certs, 2)
    rc = d.stop()
    res.check("afxdp: port53d exits 0 on SIGTERM", rc == 0, d.tail())


def body(res, cleanup, work, paths):
    bdir = os.path.dirname(os.path.dirname(paths["port53d"]))
    doqclient = os.path.join(bdir, "tests", "doqclient")
    for path in (doqclient, os.path.join(bdir, "dp", "p53_xdp.bpf.o")):
        if not res.check("built: %s" % path, os.path.exists(path)):
            return
    certs = xport.make_certs(work)
    part_tap(res, cleanup, work, bdir, certs, doqclient)
    part_afxdp(res, cleanup, work, bdir, certs, doqclient)


if __name__ == "__main__":
    sys.exit(dpnet.run_dp_test("p53-xport-", body, tools=("port53d", "port53")))
