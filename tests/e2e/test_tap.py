#!/usr/bin/python3
"""End-to-end test of net_tap mode with the exception path.

    host netns H:   port53d runs here; its service port is a net_tap whose
                    kernel side (TAP) gets the client addresses 192.0.2.10,
                    2001:db8::10 - the laptop-demo layout
    kernel netns K: port53d's exception tap (EXC0) is moved here and carries
                    the service addresses 192.0.2.53, 2001:db8::53;
                    `port53 serve` listens on them (TCP/53)

The exception interface lives in its own namespace because a kernel that
owned both the client and the service addresses would route between them
locally and never touch port53d.

Checks: UDP over IPv4 and IPv6 answered by the DPDK worker (the data plane's
snapshot says "dataplane" at whoami.example.com, the kernel's says "kernel");
ARP and ND for the service addresses answered by port53d itself (K's kernel
cannot see H's solicitations except through port53d, and the answer carries
the port's MAC); TCP/53 crosses the exception path to the kernel server;
ping reaches K's kernel; SIGUSR1 keeps it running; an idle worker naps and
answers the first query after a quiet spell; SIGTERM exits 0.

Needs root and a build with port53d and port53:
    sudo /usr/bin/python3 tests/e2e/test_tap.py [BUILD_DIR]
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

SVC4, CLI4 = "192.0.2.53", "192.0.2.10"
SVC6, CLI6 = "2001:db8::53", "2001:db8::10"

PID = os.getpid()
NS_H, NS_K = "p53t-h-%d" % PID, "p53t-k-%d" % PID
TAP = "pxt%d" % (PID % 100000)       # service port's kernel side
EXC_PREFIX = "pxe%d_" % (PID % 10000)  # port53d appends the port index
EXC = EXC_PREFIX + "0"


def final_counters(log):
    """Totals from the last counter block port53d printed ("name total per-worker...")."""
    block = log.rsplit("port53d counters", 1)[-1]
    out = {}
    for line in block.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 2 and parts[1].isdigit():
            out[parts[0]] = int(parts[1])
    return out


def link_exists(ns, dev):
    return run(["ip", "link", "show", dev], ns=ns, check=False).returncode == 0


def main():
    res = dpnet.Results()
    if os.geteuid() != 0:
        res.check("running as root", False)
        return res.finish()
    bdir = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else dpnet.build_dir()
    port53d = os.path.join(bdir, "dp", "port53d")
    port53 = os.path.join(bdir, "tools", "port53")
    for path in (port53d, port53):
        if not os.access(path, os.X_OK):
            res.check("built: %s" % path, False)
            return res.finish()

    cleanup = dpnet.Cleanup()
    work = tempfile.mkdtemp(prefix="p53-tap-")
    cleanup.push(lambda: run(["rm", "-rf", work], check=False))
    try:
        body(res, cleanup, work, port53d, port53, bdir)
    except Exception as e:
        res.check("test ran to completion", False, "%s: %s" % (type(e).__name__, e))
    finally:
        cleanup.run()
    return res.finish()


def body(res, cleanup, work, port53d, port53, bdir):
    dpnet.netns_add(cleanup, NS_H)
    dpnet.netns_add(cleanup, NS_K)
    snap = dpnet.compile_snapshot(bdir, work, "dataplane")
    ksnap = dpnet.compile_snapshot(bdir, work, "kernel")

    eal = os.environ.get("P53_EAL", "--no-huge -m 512 --no-pci -l 0-1").split()
    cmd = [port53d] + eal + [
        "--file-prefix", "p53t%d" % PID,
        "--vdev", "net_tap0,iface=%s" % TAP,
        "--", "--snapshot", snap, "--addr", SVC4, "--addr", SVC6,
        "--exception", "tap:" + EXC_PREFIX,
    ]
    # EAL leaves its runtime directory behind; it goes after port53d stops.
    cleanup.push(dpnet.rm_eal_runtime, "p53t%d" % PID)
    d = dpnet.Proc(cleanup, cmd, os.path.join(work, "port53d.log"), ns=NS_H)
    up = dpnet.wait_for(lambda: not d.alive() or (link_exists(NS_H, TAP)
                                                  and link_exists(NS_H, EXC)), 30)
    if not res.check("port53d created the service tap and the exception tap",
                     d.alive() and up, "port53d log:\n" + d.tail()):
        return

    # Kernel side of the service port: the "laptop" with client addresses.
    dpnet.addr_add(NS_H, TAP, CLI4 + "/24")
    dpnet.addr_add(NS_H, TAP, CLI6 + "/64")
    run(["ip", "link", "set", TAP, "up"], ns=NS_H)
    # Exception port: into its own namespace with the service addresses.
    run(["ip", "link", "set", EXC, "netns", NS_K], ns=NS_H)
    dpnet.addr_add(NS_K, EXC, SVC4 + "/24")
    dpnet.addr_add(NS_K, EXC, SVC6 + "/64")
    run(["ip", "link", "set", EXC, "up"], ns=NS_K)
    port_mac = dpnet.mac_of(NS_K, EXC)  # the exception tap carries the port's MAC

    kserve = dpnet.Proc(cleanup, [port53, "serve", "-s", ksnap, "-l", "%s:53" % SVC4,
                                  "-l", "[%s]:53" % SVC6],
                        os.path.join(work, "serve.log"), ns=NS_K)
    res.check("kernel port53 serve listening", dpnet.wait_listening(NS_K, kserve),
              kserve.tail())

    # UDP straight from the DPDK worker.
    m = dns_query(NS_H, SVC4, "www.example.com.", "A", timeout=2, tries=5)
    check_answer(res, "UDP v4 www.example.com A", m, "A", {"192.0.2.10"})
    m = dns_query(NS_H, SVC6, "www.example.com.", "AAAA", timeout=2, tries=5)
    check_answer(res, "UDP v6 www.example.com AAAA", m, "AAAA", {"2001:db8::10"})
    m = dns_query(NS_H, SVC4, "nope.example.com.", "A")
    check_answer(res, "UDP v4 nope.example.com NXDOMAIN", m, "A", set(),
                 rcode=dns.rcode.NXDOMAIN)
    got = dpnet.kdig(NS_H, SVC6, "mail.example.com", "A")
    res.check("kdig UDP v6 mail.example.com A", got == {"192.0.2.25"}, repr(got))
    for ip in (SVC4, SVC6):
        who = dpnet.whoami(NS_H, ip)
        res.check("UDP to %s answered by the DPDK worker" % ip, who == "dataplane", repr(who))

    # ARP / ND answered by port53d: flush and resolve again.
    run(["ip", "neigh", "flush", "dev", TAP], ns=NS_H, check=False)
    dns_query(NS_H, SVC4, "example.com.", "SOA", tries=1)
    dns_query(NS_H, SVC6, "example.com.", "SOA", tries=1)
    for ip in (SVC4, SVC6):
        ll = dpnet.wait_for(lambda: dpnet.neigh_lladdr(NS_H, TAP, ip), 3)
        res.check("%s for %s answered with the port's MAC" % ("ND" if ":" in ip else "ARP", ip),
                  ll is not None and ll == port_mac, "got %s want %s" % (ll, port_mac))

    # TCP and ICMP through the exception path to the kernel of K.
    m = dns_query(NS_H, SVC4, "www.example.com.", "A", tcp=True, timeout=3)
    check_answer(res, "TCP v4 www.example.com A via exception path", m, "A", {"192.0.2.10"})
    m = dns_query(NS_H, SVC6, "ftp.example.com.", "A", tcp=True, timeout=3)
    check_answer(res, "TCP v6 ftp.example.com A via exception path", m, "A", {"192.0.2.10"})
    got = dpnet.kdig(NS_H, SVC4, "www.example.com", "AAAA", tcp=True)
    res.check("kdig TCP v4 www.example.com AAAA", got == {"2001:db8::10"}, repr(got))
    for ip in (SVC4, SVC6):
        who = dpnet.whoami(NS_H, ip, tcp=True)
        res.check("TCP to %s answered by the kernel" % ip, who == "kernel", repr(who))
    res.check("ping v4 reaches the kernel", dpnet.ping(NS_H, SVC4))
    res.check("ping v6 reaches the kernel", dpnet.ping(NS_H, SVC6))

    printed = d.tail(1 << 20).count("port53d counters")
    d.signal(signal.SIGUSR1)
    res.check("SIGUSR1 prints the counters",
              dpnet.wait_for(lambda: d.tail(1 << 20).count("port53d counters") > printed, 10))
    res.check("port53d alive after SIGUSR1", d.alive(), d.tail())

    # An idle worker naps (dp/worker.c) and still answers the first query
    # after a quiet spell.
    def sleeps():
        n = d.tail(1 << 20).count("port53d counters")
        d.signal(signal.SIGUSR1)
        dpnet.wait_for(lambda: d.tail(1 << 20).count("port53d counters") > n, 5)
        return final_counters(d.tail(1 << 20)).get("idle_sleeps", 0)
    before = sleeps()
    napped = dpnet.wait_for(lambda: sleeps() > before, 10, 0.5)
    res.check("an idle worker naps (idle_sleeps %d -> %d)" % (before, sleeps()), napped)
    m = dns_query(NS_H, SVC4, "www.example.com.", "A", timeout=2, tries=1)
    check_answer(res, "the first query after a quiet spell is answered", m, "A",
                 {"192.0.2.10"})
    rc = d.stop()
    res.check("port53d exits 0 on SIGTERM", rc == 0, "rc=%s\n%s" % (rc, d.tail()))
    res.check("taps removed on exit", not link_exists(NS_H, TAP) and not link_exists(NS_K, EXC))
    # The neighbour entries above prove a reply came with the port's MAC; the
    # counters prove port53d built it rather than handing the request to K.
    counters = final_counters(d.tail(100000))
    for name in ("arp_reply", "na_reply"):
        res.check("port53d answered %s itself (%s %s)" % (name.split("_")[0].upper(), name,
                                                         counters.get(name)),
                  counters.get(name, 0) >= 1, "counters %s" % counters)
    print("--- port53d log (tail) ---\n%s\n---" % d.tail(1500))


if __name__ == "__main__":
    sys.exit(main())
