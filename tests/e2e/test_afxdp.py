#!/usr/bin/python3
"""End-to-end test of AF_XDP mode.

    server netns: veth S (192.0.2.53, 192.0.2.54, 2001:db8::53) with port53's
                  XDP program; port53d on net_af_xdp (iface=S, xdp_prog=...);
                  `port53 serve` on the kernel stack for TCP/53
    client netns: veth C (192.0.2.10, 2001:db8::10)

Part 1 (program only, no DPDK): p53-xdp attaches the program, crafted frames
go in from the client side, and the program's counters must show each frame
classified as expected (service UDP/53 -> would redirect; everything else
-> kernel).

Part 2 (port53d): UDP queries over IPv4 and IPv6 are answered by port53d
(the XDP redirect counter rises, answers are right); the client resolves
the service address by ARP and ND (the kernel answers: the address is on S);
TCP/53 reaches the kernel `port53 serve`; ping reaches the kernel; after
SIGTERM port53d exits 0 and the PMD has removed the program.

Needs root, ethtool, and a build with port53d, p53-xdp and p53_xdp.bpf.o:
    sudo /usr/bin/python3 tests/e2e/test_afxdp.py [BUILD_DIR]
Prints 'N passed, N failed'; exits non-zero on any failure.
"""

import os
import signal
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dns.rcode  # noqa: E402
import dpnet  # noqa: E402
from dpnet import check_answer, dns_query, run  # noqa: E402

SVC4, OTHER4, CLI4 = "192.0.2.53", "192.0.2.54", "192.0.2.10"
SVC6, OTHER6, CLI6 = "2001:db8::53", "2001:db8::54", "2001:db8::10"

# veth queues and AF_XDP sockets. A veth reports separate RX/TX channels and
# no combined count, which DPDK 22.11's net_af_xdp reads as one queue: more
# than one is refused, and frames on the other RX queues of a multi-queue veth
# would only reach the kernel (no_xsk). So one queue, the veth default.
QUEUES = int(os.environ.get("P53_QUEUES", "1"))
PID = os.getpid()
NS_S, NS_C = "p53a-s-%d" % PID, "p53a-c-%d" % PID
DEV_S, DEV_C = "pxa%ds" % (PID % 100000), "pxa%dc" % (PID % 100000)


def counted(ctl, before, want, deadline=5.0):
    """The program's counters once each counter in want ({name: n}) has
    grown by n (the frames sent have been seen), or at the deadline."""
    def moved():
        now = xdp_stats(ctl)
        return now if all(now.get(k, 0) - before.get(k, 0) >= n for k, n in want.items()) \
            else None
    return dpnet.wait_for(moved, deadline) or xdp_stats(ctl)


def xdp_stats(ctl):
    out = run([ctl, "show", DEV_S], ns=NS_S).stdout
    stats = {}
    for line in out.splitlines():
        k, _, v = line.partition(" ")
        if v.isdigit():
            stats[k] = int(v)
    return stats


def part1_program(res, ctl, obj, mac_s, mac_c):
    """The XDP program alone, driven by crafted frames."""
    run([ctl, "attach", DEV_S, obj], ns=NS_S)
    run([ctl, "addr", DEV_S, SVC4, SVC6], ns=NS_S)
    q = dpnet.dns_wire()
    E4, E6 = 0x0800, 0x86DD

    def f4(dst, proto, l4, **kw):
        vlan = kw.pop("vlan", None)
        return dpnet.eth(mac_s, mac_c, E4, dpnet.ipv4(CLI4, dst, proto, l4, **kw), vlan=vlan)

    def f6(dst, nh, l4, vlan=None):
        return dpnet.eth(mac_s, mac_c, E6, dpnet.ipv6(CLI6, dst, nh, l4), vlan=vlan)

    u53 = dpnet.udp(40000, 53, q)
    ext = dpnet.ext_hdr
    cases = [
        ("v4 UDP/53 to service address", f4(SVC4, 17, u53), "no_xsk"),
        ("v4 UDP/53 with IP options", f4(SVC4, 17, u53, ihl_words=7), "no_xsk"),
        ("v4 UDP/53 in 802.1Q VLAN", f4(SVC4, 17, u53, vlan=(0x8100, 100)), "no_xsk"),
        ("v4 UDP/53 in QinQ (802.1ad)", f4(SVC4, 17, u53, vlan=(0x88A8, 100)), "pass_not_ip"),
        ("v4 UDP/53 to another address", f4(OTHER4, 17, u53), "pass_addr"),
        ("v4 UDP/5353 to service address", f4(SVC4, 17, dpnet.udp(40000, 5353, q)),
         "pass_port"),
        ("v4 TCP/53", f4(SVC4, 6, dpnet.tcp_syn(40000, 53)), "pass_not_udp"),
        ("v4 first fragment (MF)", f4(SVC4, 17, u53, frag=0x2000), "pass_frag"),
        ("v4 later fragment", f4(SVC4, 17, u53, frag=0x0010), "pass_frag"),
        ("v4 truncated header", dpnet.eth(mac_s, mac_c, E4, b"\x45\x00\x00"), "pass_malformed"),
        ("v4 IHL < 5", f4(SVC4, 17, u53)[:14] + b"\x44" + f4(SVC4, 17, u53)[15:],
         "pass_malformed"),
        ("v4 UDP header cut off", f4(SVC4, 17, b"\x9c\x40\x00"), "pass_malformed"),
        ("v6 UDP/53 to service address", f6(SVC6, 17, u53), "no_xsk"),
        ("v6 UDP/53 in 802.1Q VLAN", f6(SVC6, 17, u53, vlan=(0x8100, 7)), "no_xsk"),
        ("v6 hop-by-hop + dstopts + UDP/53", f6(SVC6, 0, ext(60) + ext(17) + u53), "no_xsk"),
        ("v6 hop-by-hop not first", f6(SVC6, 60, ext(0) + ext(17) + u53), "pass_malformed"),
        ("v6 five dstopts headers", f6(SVC6, 60, ext(60) * 4 + ext(17) + u53), "pass_exthdr"),
        ("v6 routing header, segments left", f6(SVC6, 43, bytes([17, 0, 4, 1, 0, 0, 0, 0])
                                                + u53), "pass_exthdr"),
        ("v6 routing header, no segments left", f6(SVC6, 43, bytes([17, 0, 4, 0, 0, 0, 0, 0])
                                                   + u53), "no_xsk"),
        ("v6 fragment header", f6(SVC6, 44, bytes([17, 0, 0, 1, 0, 0, 0, 1]) + u53),
         "pass_frag"),
        ("v6 AH", f6(SVC6, 51, bytes([17, 1]) + b"\0" * 10 + u53), "pass_exthdr"),
        ("v6 UDP/53 to another address", f6(OTHER6, 17, u53), "pass_addr"),
        ("v6 ICMPv6 echo", f6(SVC6, 58, b"\x80\x00\x00\x00\x00\x01\x00\x01"), "pass_not_udp"),
        ("ARP", dpnet.eth("ff:ff:ff:ff:ff:ff", mac_c, 0x0806, b"\0" * 28), "pass_not_ip"),
        ("bare Ethernet header, IPv4 type", dpnet.eth(mac_s, mac_c, E4, b""), "pass_malformed"),
    ]
    for name, frame, want in cases:
        before = xdp_stats(ctl)
        dpnet.send_frames(NS_C, DEV_C, [frame])
        after = counted(ctl, before, {want: 1})
        delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
        ok = delta.get(want, 0) >= 1
        # Nothing but our frame can be service UDP/53: exactness there.
        if want == "no_xsk":
            ok = ok and delta["no_xsk"] == 1
        elif delta.get("no_xsk", 0):
            ok = False
        res.check("xdp: %s -> %s" % (name, want), ok,
                  "deltas %s" % {k: v for k, v in delta.items() if v})

    # Config map: another port, then any destination address.
    run([ctl, "config", DEV_S, "--port", "5353"], ns=NS_S)
    before = xdp_stats(ctl)
    dpnet.send_frames(NS_C, DEV_C, [f4(SVC4, 17, dpnet.udp(40000, 5353, q)),
                                    f4(SVC4, 17, u53)])
    after = counted(ctl, before, {"no_xsk": 1, "pass_port": 1})
    res.check("xdp: --port 5353 steers 5353, passes 53",
              after["no_xsk"] - before["no_xsk"] == 1
              and after["pass_port"] - before["pass_port"] == 1)
    run([ctl, "config", DEV_S, "--port", "53", "--any-addr"], ns=NS_S)
    before = xdp_stats(ctl)
    dpnet.send_frames(NS_C, DEV_C, [f4(OTHER4, 17, u53), f6(OTHER6, 17, u53)])
    after = counted(ctl, before, {"no_xsk": 2})
    res.check("xdp: --any-addr steers UDP/53 to any address",
              after["no_xsk"] - before["no_xsk"] == 2)
    run([ctl, "config", DEV_S, "--match-addr"], ns=NS_S)
    run([ctl, "del", DEV_S, SVC6], ns=NS_S)
    shown = run([ctl, "show", DEV_S], ns=NS_S).stdout
    res.check("xdp: del removes an address", "addr %s" % SVC4 in shown
              and "addr %s" % SVC6 not in shown, shown)

    # The host keeps working with the program attached and no socket bound.
    res.check("xdp: ping v4 passes to the kernel", dpnet.ping(NS_C, SVC4))
    res.check("xdp: ping v6 passes to the kernel", dpnet.ping(NS_C, SVC6))
    run([ctl, "detach", DEV_S], ns=NS_S)
    res.check("xdp: detach", not dpnet.xdp_prog_attached(NS_S, DEV_S))


def part2_port53d(res, cleanup, bdir, ctl, obj, mac_s, work):
    port53d = os.path.join(bdir, "dp", "port53d")
    port53 = os.path.join(bdir, "tools", "port53")
    for path in (port53d, port53):
        if not os.access(path, os.X_OK):
            res.check("port53d part: %s built" % os.path.basename(path), False, path)
            return
    snap = dpnet.compile_snapshot(bdir, work, "dataplane")
    ksnap = dpnet.compile_snapshot(bdir, work, "kernel")

    # TCP (and anything UDP the program passes) lands on the kernel stack. It
    # serves the same zone but says "kernel" at whoami.example.com.
    kserve = dpnet.Proc(cleanup, [port53, "serve", "-s", ksnap, "-l", "%s:53" % SVC4,
                                  "-l", "[%s]:53" % SVC6],
                        os.path.join(work, "serve.log"), ns=NS_S)

    # One worker for the one queue (see QUEUES); core 0 stays with the kernel.
    eal = os.environ.get("P53_EAL", "--no-huge -m 512 --no-pci -l 1").split()
    cmd = [port53d] + eal + [
        "--file-prefix", "p53a%d" % PID,
        "--vdev", "net_af_xdp0,iface=%s,queue_count=%d,xdp_prog=%s" % (DEV_S, QUEUES, obj),
        "--", "--snapshot", snap, "--addr", SVC4, "--addr", SVC6,
    ]
    # EAL leaves its runtime directory behind; it goes after port53d stops.
    cleanup.push(dpnet.rm_eal_runtime, "p53a%d" % PID)
    d = dpnet.Proc(cleanup, cmd, os.path.join(work, "port53d.log"), ns=NS_S)

    def filled():
        if not d.alive():
            return None
        r = run([ctl, "show", DEV_S], ns=NS_S, check=False)
        return r.returncode == 0 and ("addr %s" % SVC4) in r.stdout and (
            "addr %s" % SVC6) in r.stdout
    up = dpnet.wait_for(filled, 30)
    if not res.check("port53d attached the program and filled the address map", up,
                     "port53d log:\n" + d.tail()):
        return
    res.check("kernel port53 serve listening", dpnet.wait_listening(NS_S, kserve),
              kserve.tail())

    before = xdp_stats(ctl)
    m = dns_query(NS_C, SVC4, "www.example.com.", "A")
    check_answer(res, "UDP v4 www.example.com A", m, "A", {"192.0.2.10"})
    m = dns_query(NS_C, SVC6, "www.example.com.", "AAAA")
    check_answer(res, "UDP v6 www.example.com AAAA", m, "AAAA", {"2001:db8::10"})
    m = dns_query(NS_C, SVC4, "example.com.", "MX")
    check_answer(res, "UDP v4 example.com MX", m, "MX",
                 {"10 mail.example.com.", "20 mail2.example.com."})
    m = dns_query(NS_C, SVC6, "nope.example.com.", "A")
    check_answer(res, "UDP v6 nope.example.com NXDOMAIN", m, "A", set(),
                 rcode=dns.rcode.NXDOMAIN)
    got = dpnet.kdig(NS_C, SVC4, "mail.example.com", "A")
    res.check("kdig UDP v4 mail.example.com A", got == {"192.0.2.25"}, repr(got))
    for ip in (SVC4, SVC6):
        who = dpnet.whoami(NS_C, ip)
        res.check("UDP to %s answered by the data plane" % ip, who == "dataplane", repr(who))
    after = xdp_stats(ctl)
    n = after["redirect"] - before["redirect"]
    res.check("UDP/53 went through the AF_XDP socket (redirect +%d)" % n, n >= 7,
              "stats %s" % after)
    res.check("no UDP/53 for a service address fell back to the kernel",
              after["no_xsk"] == before["no_xsk"])

    # ARP / ND: flush the client's cache and resolve again; the kernel of the
    # server namespace answers because the program passes ARP and ND.
    run(["ip", "neigh", "flush", "dev", DEV_C], ns=NS_C, check=False)
    dpnet.ping(NS_C, SVC4, count=1)
    dpnet.ping(NS_C, SVC6, count=1)
    for ip in (SVC4, SVC6):
        ll = dpnet.wait_for(lambda: dpnet.neigh_lladdr(NS_C, DEV_C, ip), 3)
        res.check("%s resolution of %s" % ("ND" if ":" in ip else "ARP", ip), ll == mac_s,
                  "got %s want %s" % (ll, mac_s))

    m = dns_query(NS_C, SVC4, "www.example.com.", "A", tcp=True, timeout=3)
    check_answer(res, "TCP v4 www.example.com A (kernel)", m, "A", {"192.0.2.10"})
    m = dns_query(NS_C, SVC6, "ftp.example.com.", "A", tcp=True, timeout=3)
    check_answer(res, "TCP v6 ftp.example.com A (kernel)", m, "A", {"192.0.2.10"})
    got = dpnet.kdig(NS_C, SVC4, "www.example.com", "AAAA", tcp=True)
    res.check("kdig TCP v4 www.example.com AAAA", got == {"2001:db8::10"}, repr(got))
    for ip in (SVC4, SVC6):
        who = dpnet.whoami(NS_C, ip, tcp=True)
        res.check("TCP to %s answered by the kernel" % ip, who == "kernel", repr(who))

    before = xdp_stats(ctl)
    res.check("ping v4 reaches the kernel", dpnet.ping(NS_C, SVC4))
    res.check("ping v6 reaches the kernel", dpnet.ping(NS_C, SVC6))
    after = xdp_stats(ctl)
    res.check("ping was passed by the program", after["pass_not_udp"] > before["pass_not_udp"])

    printed = d.tail(1 << 20).count("port53d counters")
    d.signal(signal.SIGUSR1)
    res.check("SIGUSR1 prints the counters",
              dpnet.wait_for(lambda: d.tail(1 << 20).count("port53d counters") > printed, 10))
    res.check("port53d alive after SIGUSR1", d.alive(), d.tail())
    rc = d.stop()
    res.check("port53d exits 0 on SIGTERM", rc == 0, "rc=%s\n%s" % (rc, d.tail()))
    res.check("PMD removed the XDP program on exit",
              not dpnet.xdp_prog_attached(NS_S, DEV_S))
    print("--- port53d log (tail) ---\n%s\n---" % d.tail(1500))


def main():
    res = dpnet.Results()
    if os.geteuid() != 0:
        print("test_afxdp: needs root (namespaces, XDP)")
        res.check("running as root", False)
        return res.finish()
    bdir = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else dpnet.build_dir()
    ctl = os.path.join(bdir, "dp", "p53-xdp")
    obj = os.path.join(bdir, "dp", "p53_xdp.bpf.o")
    for path in (ctl, obj):
        if not os.path.exists(path):
            res.check("built: %s" % path, False)
            return res.finish()

    cleanup = dpnet.Cleanup()
    work = tempfile.mkdtemp(prefix="p53-afxdp-")
    cleanup.push(lambda: run(["rm", "-rf", work], check=False))
    try:
        dpnet.netns_add(cleanup, NS_S)
        dpnet.netns_add(cleanup, NS_C)
        dpnet.veth_pair(cleanup, DEV_S, NS_S, DEV_C, NS_C, queues=QUEUES)
        # An attached program must go even if the namespace outlives us.
        cleanup.push(lambda: run(["ip", "link", "set", "dev", DEV_S, "xdp", "off"], ns=NS_S,
                                 check=False))
        for cidr in (SVC4 + "/24", OTHER4 + "/24", SVC6 + "/64", OTHER6 + "/64"):
            dpnet.addr_add(NS_S, DEV_S, cidr)
        for cidr in (CLI4 + "/24", CLI6 + "/64"):
            dpnet.addr_add(NS_C, DEV_C, cidr)
        # A veth hands locally generated packets over with the UDP checksum
        # only partially computed (CHECKSUM_PARTIAL); the kernel tolerates
        # that, an AF_XDP reader sees a wrong checksum. Real NICs deliver
        # full checksums; here the client must compute them in software.
        run(["ethtool", "-K", DEV_C, "tx", "off"], ns=NS_C)
        mac_s = dpnet.mac_of(NS_S, DEV_S)
        mac_c = dpnet.mac_of(NS_C, DEV_C)

        part1_program(res, ctl, obj, mac_s, mac_c)
        if os.environ.get("P53_XDP_ONLY"):
            res.skip("port53d part", "P53_XDP_ONLY set")
        else:
            part2_port53d(res, cleanup, bdir, ctl, obj, mac_s, work)
    except Exception as e:  # report, then clean up
        res.check("test ran to completion", False, "%s: %s" % (type(e).__name__, e))
    finally:
        cleanup.run()
    return res.finish()


if __name__ == "__main__":
    sys.exit(main())
