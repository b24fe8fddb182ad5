#!/usr/bin/python3
"""port53d as a secondary taking NOTIFY over UDP (docs/transfers.md).

    netns H: port53d, its service port a net_tap whose kernel side has the
             client address 192.0.2.10; Knot DNS, the primary, listens on
             127.0.0.1 in H (port53d transfers from it directly) and sends
             NOTIFY to the service address 192.0.2.53 through the tap
    netns K: port53d's exception tap with 192.0.2.53, where port53d opens
             its TCP listener and its NOTIFY socket (--transport-netns K)

A NOTIFY reaches a DPDK worker like any UDP query; the worker hands it to
the kernel over the exception path, and port53d's control side answers it
and transfers the zone. NSD, a second primary (also on 127.0.0.1 in H),
sends its NOTIFY over UDP; Knot 3.2 sends NOTIFY over TCP, which crosses
the exception path to port53d's TCP listener. Checks:
  - the zone from Knot is served by the worker (UDP) and equals the file
    (AXFR over TCP with TSIG, parsed by dnspython)
  - an unsigned NOTIFY is REFUSED and one for a zone port53d is no
    secondary for is NOTAUTH (answered by the control side, not NOTIMP)
  - Knot gets a new version: its NOTIFY (signed) makes port53d fetch it
    by IXFR; the worker answers the new serial within a bounded time,
    printed; the zone equals the new file
  - NSD gets a new version: its UDP NOTIFY goes through a worker and the
    exception path (notify_to_kernel, notify_udp counters) and the new
    serial is served within a bounded time, printed, equal to the file
AF_XDP part (the layout of test_afxdp.py): port53d on net_af_xdp over a
veth in netns S (service address 192.0.2.53), NSD the primary in netns C
(192.0.2.10) across the veth. port53's XDP program passes NOTIFY to the
kernel when port53d is a secondary (pass_notify), where the same NOTIFY
socket takes it: NSD's UDP NOTIFY brings the new serial to the worker's
answers, timed; the zone equals the file.

Needs root; exits 77 when Knot or NSD is missing.
"""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import dpnet  # noqa: E402
import xfrlib  # noqa: E402
from dpnet import run  # noqa: E402

import dns.message  # noqa: E402
import dns.opcode  # noqa: E402
import dns.query  # noqa: E402
import dns.rcode  # noqa: E402

SVC4, CLI4 = "192.0.2.53", "192.0.2.10"
ZONE = "sec.example."    # from Knot DNS (which sends NOTIFY over TCP)
NZONE = "nsd.example."   # from NSD (NOTIFY over UDP)
N = 2000
PID = os.getpid()
NS_H, NS_K = "p53n-h-%d" % PID, "p53n-k-%d" % PID
NS_S, NS_C = "p53n-s-%d" % PID, "p53n-c-%d" % PID
DEV_S, DEV_C = "pnx%ds" % (PID % 100000), "pnx%dc" % (PID % 100000)
TAP = "pnt%d" % (PID % 100000)
EXC_PREFIX = "pne%d_" % (PID % 10000)
EXC = EXC_PREFIX + "0"


def serial(zone=ZONE, ns=NS_H):
    m = dpnet.dns_query(ns, SVC4, zone, "SOA", timeout=0.3, tries=1)
    if m is None or not m.answer:
        return None
    return m.answer[0][0].serial


def notify(zone, keyring=None):
    m = dns.message.make_query(zone, "SOA")
    m.set_opcode(dns.opcode.NOTIFY)
    m.flags |= 0x400
    if keyring is not None:
        m.use_tsig(keyring, keyname=xfrlib.KEY_NAME)
    with dpnet.InNetns(NS_H):
        try:
            return dns.query.udp(m, SVC4, port=53, timeout=3).rcode()
        except Exception as e:
            return repr(e)


def metric(ctl, sock, family, label, value):
    r = common.run([ctl, "-s", sock, "metrics"])
    total = None
    for line in r.stdout.splitlines():
        name = line.split("{")[0]
        if name in ("port53_" + family, "port53_" + family + "_total") and \
                '%s="%s"' % (label, value) in line:
            total = (total or 0) + int(float(line.split()[-1]))
    return total


def served_zone(zone=ZONE):
    with dpnet.InNetns(NS_H):
        return xfrlib.records(xfrlib.axfr(53, zone, xfrlib.KEYRING, timeout=10, host=SVC4))


def body(res, cleanup, work, paths):
    dpnet.netns_add(cleanup, NS_H)
    dpnet.netns_add(cleanup, NS_K)
    kd = os.path.join(work, "knot")
    os.mkdir(kd)
    kfile = xfrlib.write_zone(os.path.join(kd, "sec.zone"), ZONE, 1, N)
    knot = xfrlib.KnotPeer(kd, "primary", [(ZONE, kfile)], 53, port=5300, host="127.0.0.1",
                           peer_host=SVC4, acl="127.0.0.1")
    nd = os.path.join(work, "nsd")
    os.mkdir(nd)
    nfile = xfrlib.write_zone(os.path.join(nd, "nsd.zone"), NZONE, 1, N // 4)
    nsd = xfrlib.NsdPeer(nd, "primary", [(NZONE, nfile)], 53, port=5301, host="127.0.0.1",
                         peer_host=SVC4, acl="127.0.0.1")
    with dpnet.InNetns(NS_H):  # started inside H: they live there
        knot.start()
        cleanup.push(knot.stop)
        nsd.start()
        cleanup.push(nsd.stop)

    sock = os.path.join(work, "ctl.sock")
    eal = os.environ.get("P53_EAL", "--no-huge -m 512 --no-pci -l 0-1").split()
    prefix = "p53n%d" % PID
    cmd = [paths["port53d"]] + eal + [
        "--file-prefix", prefix, "--vdev", "net_tap0,iface=%s" % TAP,
        "--", "--addr", SVC4, "--exception", "tap:" + EXC_PREFIX, "--transport-netns", NS_K,
        "--tcp", "--control-socket", sock,
        "--tsig-key", xfrlib.KEY_ARG,
        "--secondary", "%s 127.0.0.1:5300 key k1" % ZONE,
        "--secondary", "%s 127.0.0.1:5301 key k1" % NZONE,
        "--secondary-dir", os.path.join(work, "sec"),
        # Knot's NOTIFY leaves H through the tap, from H's address there.
        "--notify-allow", "%s key k1" % CLI4,
        "--xfr-allow", "192.0.2.0/24 key k1",
    ]
    cleanup.push(dpnet.rm_eal_runtime, prefix)
    d = dpnet.Proc(cleanup, cmd, os.path.join(work, "port53d.log"), ns=NS_H)
    up = dpnet.wait_for(lambda: not d.alive() or (
        run(["ip", "link", "show", TAP], ns=NS_H, check=False).returncode == 0 and
        run(["ip", "link", "show", EXC], ns=NS_H, check=False).returncode == 0), 60)
    if not res.check("port53d started as Knot's secondary (tap and exception tap made)",
                     d.alive() and up, d.tail()):
        return
    dpnet.addr_add(NS_H, TAP, CLI4 + "/24")
    run(["ip", "link", "set", TAP, "up"], ns=NS_H)
    run(["ip", "link", "set", EXC, "netns", NS_K], ns=NS_H)
    dpnet.addr_add(NS_K, EXC, SVC4 + "/24")
    run(["ip", "link", "set", EXC, "up"], ns=NS_K)

    ok = dpnet.wait_for(lambda: serial() == 1, 30)
    if not res.check("the worker answers the zone's SOA (serial 1)", ok, d.tail()):
        return
    res.check("and NSD's zone (serial 1)", dpnet.wait_for(lambda: serial(NZONE) == 1, 10))
    want1 = xfrlib.records(xfrlib.zone_from_file(kfile, ZONE))
    got = served_zone()
    res.check("the zone served equals Knot's file (AXFR over the exception path)", got == want1,
              "missing %d, extra %d" % (len(want1 - got), len(got - want1)))

    rc = notify(ZONE)
    res.check("an unsigned NOTIFY over UDP is REFUSED by the control side",
              rc == dns.rcode.REFUSED, "got %r (NOTIMP = 4: the worker answered)" % (rc,))
    rc = notify("other.example.", xfrlib.KEYRING)
    res.check("a signed NOTIFY for a zone we are no secondary for is NOTAUTH",
              rc == dns.rcode.NOTAUTH, repr(rc))

    ctl = paths["port53ctl"]
    n0 = metric(ctl, sock, "secondary_notifies", "zone", ZONE) or 0
    ix0 = metric(ctl, sock, "secondary_ixfr", "zone", ZONE) or 0
    v2 = xfrlib.write_zone(os.path.join(kd, "sec2.zone"), ZONE, 2, N, variant=1)
    os.replace(v2, kfile)
    t0 = time.monotonic()
    r = knot.reload()
    ok = dpnet.wait_for(lambda: serial() == 2, 20, 0.01)
    dt = time.monotonic() - t0
    res.check("serial 2 answered by the worker after Knot's NOTIFY (Knot 3.2 sends it over "
              "TCP: the exception path to port53d's TCP listener)", ok,
              "%s\n%s\n%s" % (r.stdout + r.stderr, d.tail(), knot.read_log()))
    if ok:
        print("# NOTIFY to served (port53d, Knot's NOTIFY over the exception path): %.3f s "
              "(knotc zone-reload to serial 2 answered by the DPDK worker, %d records)" % (
                  dt, N + 5), flush=True)
    n1 = metric(ctl, sock, "secondary_notifies", "zone", ZONE) or 0
    ix1 = metric(ctl, sock, "secondary_ixfr", "zone", ZONE) or 0
    res.check("Knot's NOTIFY was taken (secondary_notifies %d -> %d)" % (n0, n1), n1 > n0)
    res.check("and the change came by IXFR (%d -> %d)" % (ix0, ix1), ix1 == ix0 + 1)
    k = metric(ctl, sock, "dataplane", "counter", "notify_to_kernel") or 0
    u = metric(ctl, sock, "notify_udp", "event", "answered") or 0
    res.check("dnspython's UDP NOTIFYs went through a worker to the kernel (notify_to_kernel "
              "%d) and the control side answered them (notify_udp answered %d)" % (k, u),
              k >= 2 and u >= 2)
    want2 = xfrlib.records(xfrlib.zone_from_file(kfile, ZONE))
    got = served_zone()
    res.check("version 2 as served equals Knot's file", got == want2,
              "missing %d, extra %d" % (len(want2 - got), len(got - want2)))

    # NSD sends its NOTIFY over UDP: through a worker and the exception
    # path to the control side's NOTIFY socket.
    k0 = metric(ctl, sock, "dataplane", "counter", "notify_to_kernel") or 0
    u0 = metric(ctl, sock, "notify_udp", "event", "answered") or 0
    v2 = xfrlib.write_zone(os.path.join(nd, "nsd2.zone"), NZONE, 2, N // 4, variant=1)
    os.replace(v2, nfile)
    t0 = time.monotonic()
    r = nsd.reload()
    ok = dpnet.wait_for(lambda: serial(NZONE) == 2, 20, 0.01)
    dt = time.monotonic() - t0
    res.check("NSD's zone: serial 2 answered by the worker after NSD's UDP NOTIFY", ok,
              "%s\n%s\n%s" % (r.stdout + r.stderr, d.tail(), nsd.read_log()))
    k1 = metric(ctl, sock, "dataplane", "counter", "notify_to_kernel") or 0
    u1 = metric(ctl, sock, "notify_udp", "event", "answered") or 0
    res.check("NSD's NOTIFY came over UDP through a worker and the exception path "
              "(notify_to_kernel %d -> %d, notify_udp answered %d -> %d)" % (k0, k1, u0, u1),
              k1 > k0 and u1 > u0)
    if ok:
        print("# NOTIFY to served (port53d, NSD's UDP NOTIFY through a worker and the "
              "exception path): %.3f s (nsd-control reload to serial 2 answered by the DPDK "
              "worker, %d records)" % (dt, N // 4 + 5), flush=True)
    want2 = xfrlib.records(xfrlib.zone_from_file(nfile, NZONE))
    got = served_zone(NZONE)
    res.check("NSD's version 2 as served equals its file", got == want2,
              "missing %d, extra %d" % (len(want2 - got), len(got - want2)))

    m = dpnet.dns_query(NS_H, SVC4, "www.example.com.", "A", timeout=1)
    res.check("ordinary queries are still answered by the worker (REFUSED for a zone not "
              "served)", m is not None and m.rcode() == dns.rcode.REFUSED, repr(m))
    rc = d.stop()
    res.check("port53d exits 0 on SIGTERM", rc == 0, "rc=%s\n%s" % (rc, d.tail()))
    body_xdp(res, cleanup, work, paths)


def body_xdp(res, cleanup, work, paths):
    bdir = os.path.dirname(os.path.dirname(paths["port53d"]))
    obj = os.path.join(bdir, "dp", "p53_xdp.bpf.o")
    xctl = os.path.join(bdir, "dp", "p53-xdp")
    if not (os.path.exists(obj) and os.path.exists(xctl)):
        res.skip("AF_XDP part", "no p53_xdp.bpf.o in this build (clang, libbpf)")
        return
    dpnet.netns_add(cleanup, NS_S)
    dpnet.netns_add(cleanup, NS_C)
    dpnet.veth_pair(cleanup, DEV_S, NS_S, DEV_C, NS_C)
    cleanup.push(lambda: run(["ip", "link", "set", "dev", DEV_S, "xdp", "off"], ns=NS_S,
                             check=False))
    dpnet.addr_add(NS_S, DEV_S, SVC4 + "/24")
    dpnet.addr_add(NS_C, DEV_C, CLI4 + "/24")
    # Full UDP checksums from the veth for the AF_XDP reader (test_afxdp.py).
    run(["ethtool", "-K", DEV_C, "tx", "off"], ns=NS_C)
    nd = os.path.join(work, "nsd-xdp")
    os.mkdir(nd)
    nfile = xfrlib.write_zone(os.path.join(nd, "nsd.zone"), NZONE, 1, N // 4)
    nsd = xfrlib.NsdPeer(nd, "primary", [(NZONE, nfile)], 53, port=5301, host=CLI4,
                         peer_host=SVC4, acl=SVC4)
    with dpnet.InNetns(NS_C):
        nsd.start()
        cleanup.push(nsd.stop)
    sock = os.path.join(work, "ctl-xdp.sock")
    eal = os.environ.get("P53_EAL", "--no-huge -m 512 --no-pci -l 1").split()
    prefix = "p53nx%d" % PID
    cmd = [paths["port53d"]] + eal + [
        "--file-prefix", prefix,
        "--vdev", "net_af_xdp0,iface=%s,queue_count=1,xdp_prog=%s" % (DEV_S, obj),
        "--", "--addr", SVC4, "--control-socket", sock,
        "--tsig-key", xfrlib.KEY_ARG,
        "--secondary", "%s %s:5301 key k1" % (NZONE, CLI4),
        "--secondary-dir", os.path.join(work, "sec-xdp"),
        "--tcp", "--xfr-allow", "192.0.2.0/24 key k1",
    ]
    cleanup.push(dpnet.rm_eal_runtime, prefix)
    d = dpnet.Proc(cleanup, cmd, os.path.join(work, "port53d-xdp.log"), ns=NS_S)

    def serial_c(zone=NZONE):
        m = dpnet.dns_query(NS_C, SVC4, zone, "SOA", timeout=0.3, tries=1)
        return m.answer[0][0].serial if m is not None and m.answer else None

    def xdp_stat(name):
        out = run([xctl, "show", DEV_S], ns=NS_S, check=False).stdout
        for line in out.splitlines():
            k, _, v = line.partition(" ")
            if k == name and v.isdigit():
                return int(v)
        return 0
    ok = dpnet.wait_for(lambda: not d.alive() or serial_c() == 1, 60)
    if not res.check("AF_XDP: port53d, NSD's secondary, answers serial 1 from its worker",
                     ok and d.alive(), d.tail()):
        return
    ctl = paths["port53ctl"]
    p0, u0 = xdp_stat("pass_notify"), metric(ctl, sock, "notify_udp", "event", "answered") or 0
    v2 = xfrlib.write_zone(os.path.join(nd, "nsd2.zone"), NZONE, 2, N // 4, variant=1)
    os.replace(v2, nfile)
    t0 = time.monotonic()
    r = nsd.reload()
    ok = dpnet.wait_for(lambda: serial_c() == 2, 20, 0.01)
    dt = time.monotonic() - t0
    res.check("AF_XDP: serial 2 answered by the worker after NSD's UDP NOTIFY", ok,
              "%s\n%s\n%s" % (r.stdout + r.stderr, d.tail(), nsd.read_log()))
    p1, u1 = xdp_stat("pass_notify"), metric(ctl, sock, "notify_udp", "event", "answered") or 0
    res.check("AF_XDP: the XDP program passed the NOTIFY to the kernel (pass_notify %d -> %d) "
              "and the control side answered it (notify_udp answered %d -> %d)" % (
                  p0, p1, u0, u1), p1 > p0 and u1 > u0)
    if ok:
        print("# NOTIFY to served (port53d on AF_XDP, NSD's UDP NOTIFY passed by the XDP "
              "program): %.3f s (nsd-control reload to serial 2 answered by the DPDK worker, "
              "%d records)" % (dt, N // 4 + 5), flush=True)
    want2 = xfrlib.records(xfrlib.zone_from_file(nfile, NZONE))
    with dpnet.InNetns(NS_C):
        got = xfrlib.records(xfrlib.axfr(53, NZONE, xfrlib.KEYRING, timeout=10, host=SVC4))
    res.check("AF_XDP: version 2 as served equals NSD's file", got == want2,
              "missing %d, extra %d" % (len(want2 - got), len(got - want2)))
    rc = d.stop()
    res.check("AF_XDP: port53d exits 0 on SIGTERM", rc == 0, "rc=%s\n%s" % (rc, d.tail()))


def main():
    if not xfrlib.have_reference_servers():
        print("skip: knotd or nsd not installed")
        return 77
    return dpnet.run_dp_test("p53-dpnotify-", body)


if __name__ == "__main__":
    sys.exit(main())
