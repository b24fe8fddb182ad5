#!/usr/bin/python3
"""DNSSEC answers of the DPDK data plane byte for byte against the kernel-socket
server (docs/dnssec.md): port53d (on a net_tap port, then on net_af_xdp: below)
and `port53 serve` on loopback serve the same snapshot with the same keys
directory and the same signing time (--dnssec-sig-time). Ed25519 signatures
are deterministic (RFC 8032), so every DO=1 answer, static ones with the
compiled RRSIGs and those signed per query (routing-policy picks by EDNS
Client Subnet, failover, policy NODATA, NSEC-chain and compact NXDOMAIN and
NODATA), must be the same bytes from both. Each answer is also validated with
dnspython against the zone's DNSKEY set, so two equally wrong answers do not
pass; an answer left unsigned by either server fails.

Two rounds: an NSEC-chain zone with an Ed25519 CSK, and a compact-denial
zone (RFC 9824) with an Ed25519 KSK and ZSK, both from the Route 53 test zone
(tests/e2e/r53/example.json). Only answers that cannot depend on which
server or client asked are compared: weighted and multivalue picks are
random per server, and geolocation without ECS follows the source address.

Each round runs port53d in two port modes against the same `port53 serve`:
net_tap (the client on the TAP's kernel side) and net_af_xdp on a veth
with port53's XDP program (server and client in namespaces of their own,
the layout of test_afxdp.py); the AF_XDP mode is reported as a skip when
p53_xdp.bpf.o is not built.

Needs root and a build with port53d and port53:
    sudo /usr/bin/python3 tests/e2e/test_dp_dnssec.py [BUILD_DIR]
"""

import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import dns.dnssec  # noqa: E402
import dns.edns  # noqa: E402
import dns.exception  # noqa: E402
import dns.message  # noqa: E402
import dns.name  # noqa: E402
import dns.rdatatype as T  # noqa: E402
import dpnet  # noqa: E402
from dpnet import run  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PID = os.getpid()
NS = "p53ds-%d" % PID
TAP = "pxs%d" % (PID % 100000)
NS_S, NS_C = "p53ds-s-%d" % PID, "p53ds-c-%d" % PID
DEV_S, DEV_C = "pxs%ds" % (PID % 100000), "pxs%dc" % (PID % 100000)
SVC, CLI = "192.0.2.53", "192.0.2.10"
ZONE = dns.name.from_text("example.com.")

# (name, type, ECS, "CO" or None, what); every answer signed.
CASES = [
    ("simple.example.com.", "A", None, "static A"),
    ("example.com.", "DNSKEY", None, "static DNSKEY"),
    ("txt.example.com.", "TXT", None, "static TXT"),
    ("example.com.", "SOA", None, "static SOA"),
    ("fo.example.com.", "A", None, "failover pick"),
    ("alias.example.com.", "A", None, "alias to failover"),
    ("geo.example.com.", "A", ("10.1.2.0", 24), "geolocation US-WA by ECS"),
    ("geo.example.com.", "A", ("10.3.2.0", 24), "geolocation EU by ECS"),
    ("geo.example.com.", "A", ("10.200.0.0", 24), "geolocation default by ECS"),
    ("geonodef.example.com.", "A", ("10.3.2.0", 24), "geolocation DE by ECS"),
    ("geonodef.example.com.", "A", ("10.1.2.0", 24), "policy NODATA by ECS"),
    ("lat.example.com.", "A", ("10.5.2.0", 24), "latency by ECS"),
    ("prox.example.com.", "A", ("10.4.2.0", 24), "geoproximity by ECS"),
    ("cidr.example.com.", "A", ("10.9.3.0", 24), "CIDR by ECS"),
    ("cidr.example.com.", "A", ("10.8.3.0", 24), "CIDR default by ECS"),
    ("nx.example.com.", "A", None, "NXDOMAIN"),
    ("a.b.nx.example.com.", "MX", None, "deep NXDOMAIN"),
    ("simple.example.com.", "TXT", None, "NODATA"),
    ("example.com.", "MX", None, "apex NODATA"),
    ("nx.example.com.", "A", "CO", "NXDOMAIN, Compact Answers OK set"),
]


class Client:
    """Raw UDP: the same query bytes to both servers, the reply bytes back."""

    def __init__(self, ns=None):
        if ns:
            with dpnet.InNetns(ns):
                self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(1.0)

    def ask(self, addr, wire):
        for _ in range(3):
            try:
                self.sock.sendto(wire, addr)
                while True:
                    raw = self.sock.recv(65535)
                    if raw[:2] == wire[:2]:
                        return raw
            except socket.timeout:
                continue
        return None


def query_wire(name, rdtype, subnet):
    """subnet: (address, prefix) for ECS, or "CO" for the Compact Answers
    OK flag (RFC 9824 5.1, 0x4000 in the EDNS flags)."""
    opts = [dns.edns.ECSOption(subnet[0], subnet[1])] if isinstance(subnet, tuple) else []
    q = dns.message.make_query(name, rdtype, want_dnssec=True, use_edns=0, payload=1232,
                               options=opts)
    if subnet == "CO":
        q.ednsflags |= 0x4000
    return q.to_wire()


def validate_all(m, keys):
    """Every RRset of the answer and authority sections has an RRSIG that
    validates with the zone's keys; returns the failures."""
    bad = []
    for sec in (m.answer, m.authority):
        for rr in sec:
            if rr.rdtype == T.RRSIG:
                continue
            sig = next((s for s in sec if s.rdtype == T.RRSIG and s.name == rr.name and
                        s.covers == rr.rdtype), None)
            try:
                if sig is None:
                    raise dns.dnssec.ValidationFailure("no RRSIG")
                dns.dnssec.validate(rr, sig, keys)
            except Exception as e:  # noqa: BLE001
                bad.append("%s %s: %s" % (rr.name, T.to_text(rr.rdtype), e))
    return bad


def main():
    return dpnet.run_dp_test("p53-dpdnssec-", body, tools=("port53d", "port53"))


def start_tap(cleanup, rdir, tools, snap, online, label):
    """port53d on a net_tap port in NS; the client on the TAP's kernel side.
    Returns (process, client, error text or None)."""
    prefix = "p53ds%d%st" % (PID, label[:1])
    eal = os.environ.get("P53_EAL", "--no-huge -m 512 --no-pci -l 0").split()
    cmd = [tools["port53d"]] + eal + [
        "--file-prefix", prefix, "--vdev", "net_tap0,iface=%s" % TAP,
        "--", "--snapshot", snap, "--addr", SVC, "--rrl-rate", "0"] + online
    cleanup.push(dpnet.rm_eal_runtime, prefix)
    d = dpnet.Proc(cleanup, cmd, os.path.join(rdir, "port53d-tap.log"), ns=NS)
    up = dpnet.wait_for(lambda: not d.alive() or run(
        ["ip", "link", "show", TAP], ns=NS, check=False).returncode == 0, 30)
    if not (d.alive() and up):
        return d, None, d.tail()
    dpnet.addr_add(NS, TAP, CLI + "/24")
    run(["ip", "link", "set", TAP, "up"], ns=NS)
    return d, Client(NS), None


def start_afxdp(cleanup, rdir, tools, snap, online, label, obj):
    """port53d on net_af_xdp over the veth in NS_S (service address on it,
    port53's XDP program steering UDP/53 to the worker); the client in
    NS_C."""
    prefix = "p53ds%d%sx" % (PID, label[:1])
    eal = os.environ.get("P53_EAL_XDP", "--no-huge -m 512 --no-pci -l 1").split()
    cmd = [tools["port53d"]] + eal + [
        "--file-prefix", prefix,
        "--vdev", "net_af_xdp0,iface=%s,queue_count=1,xdp_prog=%s" % (DEV_S, obj),
        "--", "--snapshot", snap, "--addr", SVC, "--rrl-rate", "0"] + online
    cleanup.push(dpnet.rm_eal_runtime, prefix)
    d = dpnet.Proc(cleanup, cmd, os.path.join(rdir, "port53d-xdp.log"), ns=NS_S)
    up = dpnet.wait_for(lambda: not d.alive() or "XDP program steers" in d.tail(100000), 30)
    if not (d.alive() and up):
        return d, None, d.tail()
    return d, Client(NS_C), None


def setup_afxdp(cleanup):
    dpnet.netns_add(cleanup, NS_S)
    dpnet.netns_add(cleanup, NS_C)
    dpnet.veth_pair(cleanup, DEV_S, NS_S, DEV_C, NS_C)
    cleanup.push(lambda: run(["ip", "link", "set", "dev", DEV_S, "xdp", "off"], ns=NS_S,
                             check=False))
    dpnet.addr_add(NS_S, DEV_S, SVC + "/24")
    dpnet.addr_add(NS_C, DEV_C, CLI + "/24")
    # Kernel-sent UDP over a veth carries partial checksums (docs/af_xdp.md).
    run(["ethtool", "-K", DEV_C, "tx", "off"], ns=NS_C)


def one_round(res, cleanup, work, tools, label, keygen, extra, modes):
    rdir = os.path.join(work, label)
    kdir = os.path.join(rdir, "keys")
    os.makedirs(kdir)
    for args in keygen:
        run([tools["port53"], "dnssec-keygen", "-K", kdir] + args + ["example.com."])
    snap = os.path.join(rdir, "zone.p53")
    run([tools["port53"], "compile", "--quiet", "--dnssec-keys", kdir, "-o", snap,
         "--geo", os.path.join(HERE, "r53", "geo.csv")] + extra +
        ["example.com=" + os.path.join(HERE, "r53", "example.json")], timeout=60)
    # One signing time for both servers; the compile signed at "now" too.
    sig_time = str(int(time.time()))
    online = ["--dnssec-keys", kdir, "--dnssec-sig-time", sig_time]

    kserve = common.Port53(tools["port53"], None, os.path.join(rdir, "serve"),
                           extra=online + ["--rrl-rate", "0"])
    os.makedirs(kserve.workdir, exist_ok=True)
    kserve.snapshot = snap
    kserve.start()
    cleanup.push(kserve.stop)
    kc = Client()
    k_addr = (common.HOST, kserve.port)

    kraw = kc.ask(k_addr, query_wire("example.com.", "DNSKEY", None))
    keys = None
    try:
        km = dns.message.from_wire(kraw)
        ks = km.find_rrset(km.answer, ZONE, 1, T.DNSKEY)
        dns.dnssec.validate(ks, km.find_rrset(km.answer, ZONE, 1, T.RRSIG, T.DNSKEY),
                            {ZONE: ks})
        keys = {ZONE: ks}
    except Exception as e:  # noqa: BLE001
        res.check("%s: DNSKEY set self-signed" % label, False, repr(e))
        return
    for mode, start in modes:
        tag = "%s %s" % (label, mode)
        d, dc, err = start(cleanup, rdir, tools, snap, online, label)
        if not res.check("%s: port53d up with --dnssec-keys" % tag, err is None, err):
            d.stop()
            continue
        dp_addr = (SVC, 53)
        probe = query_wire("simple.example.com.", "A", None)
        if not res.check("%s: port53d answers" % tag,
                         dpnet.wait_for(lambda: dc.ask(dp_addr, probe), 15), d.tail()):
            d.stop()
            continue
        compare(res, tag, dc, dp_addr, kc, k_addr, keys)
        rc = d.stop()
        res.check("%s: port53d exits 0 on SIGTERM" % tag, rc == 0,
                  "rc=%s\n%s" % (rc, d.tail()))
    kserve.stop()


def compare(res, tag, dc, dp_addr, kc, k_addr, keys):
    for name, rdtype, subnet, what in CASES:
        wire = query_wire(name, rdtype, subnet)
        a = dc.ask(dp_addr, wire)
        b = kc.ask(k_addr, wire)
        if not res.check("%s: %s answered by both" % (tag, what), a and b,
                         "port53d %r, serve %r" % (a is not None, b is not None)):
            continue
        ma, mb = dns.message.from_wire(a), dns.message.from_wire(b)
        res.check("%s: %s byte for byte" % (tag, what), a == b,
                  "port53d:\n%s\nserve:\n%s" % (ma, mb))
        sigs = sum(1 for sec in (ma.answer, ma.authority) for rr in sec if rr.rdtype == T.RRSIG)
        bad = validate_all(ma, keys)
        res.check("%s: %s signed and valid (dnspython)" % (tag, what),
                  sigs and not bad, "%s\n%s" % (bad, ma))


def body(res, cleanup, work, tools):
    dpnet.netns_add(cleanup, NS)
    modes = [("tap", start_tap)]
    obj = os.path.join(os.path.dirname(tools["port53d"]), "p53_xdp.bpf.o")
    if os.path.exists(obj):
        setup_afxdp(cleanup)
        modes.append(("afxdp", lambda *a: start_afxdp(*a, obj)))
    else:
        res.skip("AF_XDP mode", "%s not built" % obj)
    one_round(res, cleanup, work, tools, "chain-15", [["-a", "15"]], [], modes)
    one_round(res, cleanup, work, tools, "compact-15",
              [["--ksk", "-a", "15"], ["--zsk", "-a", "15"]],
              ["--compact-denial", "example.com"], modes)


if __name__ == "__main__":
    sys.exit(main())
