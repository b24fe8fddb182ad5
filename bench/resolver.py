#!/usr/bin/python3
"""Resolver benchmark: port53 serve --resolver beside Debian's unbound, on
the signed private tree of tests/e2e/dnstree.py, in one run, in a network
namespace of its own (bench/resolver.sh makes it).

Measures, alternating the two servers, RUNS times each:
  - cache-hit answers/s: dnsperf (closed loop, pinned to CPU 0; the server
    on CPU 1) over names already in the cache;
  - recursion latency: a fresh server resolving www.leaf.tree. cold (root,
    TLD and leaf all asked), then each of a set of names under the leaf
    (delegations cached: one upstream round trip each), with dnspython;
  - the cost of the resolver on authoritative answering: dnsperf on
    port53's own zone from a client in no view, with and without
    --resolver.
With PORT53D set (a port53d binary), the same for port53d on a net_tap
port in the namespace (worker on CPU 1, -l 1; its control threads, the
resolver's among them, share CPU 0 with dnsperf on this 2-core layout),
the client on the TAP's kernel side: cache hits and latency through the
worker and the resolver thread, and authoritative q/s from a client in
the view (the worst case: the query is copied to the ring slot before it
is answered) with and without --resolver.
With PORT53D set, also per worker core without the TAP: port53d replays a
capture (net_pcap, one worker) of PCAP_N queries from a client in the
view, once for port53's own name (authoritative answers) and once for
names under the FORWARD rule (resolver cache hits, served by the worker
from the shared answers after the first of each), and reports answers/s
over each replay.
Prints medians and the port53/unbound ratio. Every address is on the
namespace's loopback or its TAP; every loop is bounded.
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
import dnstree  # noqa: E402

import dns.message  # noqa: E402
import dns.query  # noqa: E402

PORT53 = os.environ.get("PORT53", os.path.join(HERE, "..", "build", "tools", "port53"))
PORT53D = os.environ.get("PORT53D")  # unset: port53d is not measured
PCAP_N = int(os.environ.get("PCAP_N", "500000"))
DP_SVC, DP_CLI, DP_TAP = ("192.0.2.53", 53), "192.0.2.10", "p53btap%d" % (os.getpid() % 10000)
RUNS = int(os.environ.get("RUNS", "3"))
SECS = int(os.environ.get("SECS", "5"))
P53 = ("127.53.0.53", 5353)
P53_AUTH = ("127.53.0.54", 5353)
UNB = ("127.53.0.60", 5353)
NAMES = ["www.leaf.tree. A", "www.leaf.tree. AAAA", "ok.leaf.tree. A", "www.fwd.tree. A",
         "www.sys.fwd.tree. A", "bad.evil.tree. A"]


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def wait_up(addr, proc, deadline=15.0):
    """Any answer to a CHAOS query: up, with nothing put in its cache."""
    end = time.monotonic() + deadline
    while time.monotonic() < end and proc.poll() is None:
        try:
            dns.query.udp(dns.message.make_query("version.server.", "TXT", "CH"), addr[0],
                          port=addr[1], timeout=0.5)
            return True
        except Exception:
            time.sleep(0.05)
    return False


def pin(proc, cpu):
    subprocess.run(["taskset", "-a", "-p", "-c", str(cpu), str(proc.pid)],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class Servers:
    def __init__(self, wd, hints, anchor):
        self.wd = wd
        own = write(os.path.join(wd, "own.zone"),
                    "$ORIGIN own.example.\n@ 3600 IN SOA ns hm 1 1800 900 604800 300\n"
                    "@ 3600 IN NS ns\nns 3600 IN A 192.0.2.53\nwww 300 IN A 192.0.2.80\n")
        self.snap = os.path.join(wd, "own.p53")
        subprocess.run([PORT53, "compile", "-o", self.snap, "own.example.=" + own], check=True,
                       stdout=subprocess.DEVNULL)
        self.rconf = write(os.path.join(wd, "resolver.yaml"), """
recursion: {{root-hints: {h}, trust-anchor: {a}}}
rules:
  - {{name: corp, domain: fwd.tree, type: FORWARD, targets: ["{f}:{fp}"]}}
  - {{name: sys, domain: sys.fwd.tree, type: SYSTEM}}
views:
  - {{name: inside, sources: [127.0.0.0/8], listen: ["{v}:{vp}"]}}
""".format(h=hints, a=anchor, f=dnstree.FWD_NS, fp=dnstree.FWD_PORT, v=P53[0], vp=P53[1]))
        self.uconf = write(os.path.join(wd, "unbound.conf"), """server:
    interface: {u}@{up}
    port: {up}
    do-ip6: no
    num-threads: 1
    username: ""
    chroot: ""
    directory: "{d}"
    pidfile: "{d}/unbound.pid"
    use-syslog: no
    logfile: ""
    verbosity: 0
    do-not-query-localhost: no
    qname-minimisation: yes
    root-hints: "{h}"
    trust-anchor-file: "{a}"
    access-control: 127.0.0.0/8 allow
    local-zone: "tree." nodefault
    ratelimit: 0
    ip-ratelimit: 0
    module-config: "validator iterator"
remote-control:
    control-enable: no
forward-zone:
    name: "fwd.tree."
    forward-addr: {f}@{fp}
""".format(u=UNB[0], up=UNB[1], d=wd, h=hints, a=anchor, f=dnstree.FWD_NS,
           fp=dnstree.FWD_PORT))

    def port53(self, resolver=True):
        args = [PORT53, "serve", "-s", self.snap, "-l", "%s:%d" % P53, "-l", "%s:%d" % P53_AUTH,
                "--rrl-rate", "0", "--cookies", "off"]
        if resolver:
            args += ["--resolver", self.rconf]
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_up(P53_AUTH, p):
            raise RuntimeError("port53 did not start")
        pin(p, 1)
        return p

    def port53d(self, resolver=True):
        """port53d on a TAP whose kernel side is the client; worker on CPU 1."""
        if not hasattr(self, "dconf"):
            self.dconf = write(os.path.join(self.wd, "resolver-dp.yaml"), open(
                self.rconf).read().replace('["%s:%d"]' % P53, '["%s:53"]' % DP_SVC[0]).replace(
                    "127.0.0.0/8", DP_CLI + "/32"))
        self.prefix = "p53bres%d" % os.getpid()
        args = [PORT53D, "--no-huge", "-m", "512", "--no-pci", "-l", "1", "--file-prefix",
                self.prefix, "--vdev", "net_tap0,iface=" + DP_TAP, "--", "-s", self.snap,
                "--addr", DP_SVC[0], "--rrl-rate", "0", "--cookies", "off"]
        if resolver:
            args += ["--resolver", self.dconf]
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.monotonic() + 30
        while time.monotonic() < end and p.poll() is None and subprocess.run(
                ["ip", "link", "show", DP_TAP], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL).returncode != 0:
            time.sleep(0.1)
        subprocess.run(["ip", "addr", "add", DP_CLI + "/24", "dev", DP_TAP])
        subprocess.run(["ip", "link", "set", DP_TAP, "up"], check=True)
        if not wait_up(DP_SVC, p, 30):
            stop(p)
            raise RuntimeError("port53d did not start")
        return p

    def unbound(self):
        p = subprocess.Popen(["unbound", "-d", "-c", self.uconf], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        if not wait_up(UNB, p):
            raise RuntimeError("unbound did not start")
        pin(p, 1)
        return p


def stop(p):
    p.terminate()
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(10)


def pcap_replay(srv, names, tag, resolver=True):
    """Replays PCAP_N queries for names (cycled, varying ID and source
    port) through one port53d worker with the resolver; returns
    (answers/s, counters)."""
    import pcapgen as g
    our, cli = "02:00:00:00:53:01", "02:00:00:00:00:10"
    frames = []
    for i in range(512):
        name, qt = names[i % len(names)]
        q = dns.message.make_query(name, qt, use_edns=0 if i % 2 else None)
        q.id = i
        frames.append(g.udp4_frame(g.mac(our), g.mac(cli), DP_CLI, DP_SVC[0], 1024 + i, 53,
                                   q.to_wire()))
    inp = os.path.join(srv.wd, "%s.pcap" % tag)
    g.write_pcap(inp, [frames[i % len(frames)] for i in range(PCAP_N)])
    prefix = "p53bpc%d" % os.getpid()
    r = subprocess.run([PORT53D, "--no-huge", "-m", "512", "--no-pci",
                        "-l", "1", "--file-prefix", prefix, "--log-level", "warning",
                        "--vdev", "net_pcap0,rx_pcap=%s,tx_pcap=/dev/null" % inp, "--",
                        "-s", srv.snap, "--addr", DP_SVC[0], "--mac", our, "--rrl-rate", "0",
                        "--cookies", "off"] + (["--resolver", srv.dconf] if resolver else []),
                       stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=600)
    subprocess.run(["rm", "-rf", "/var/run/dpdk/" + prefix, "/run/dpdk/" + prefix])
    os.unlink(inp)
    ctr = {}
    rate = None
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1].isdigit():
            ctr[parts[0]] = int(parts[1])
        if "answers/s" in line:
            rate = float(line.split()[-2])
    if rate is None:
        raise RuntimeError("port53d replay: " + r.stdout[-1500:])
    return rate, ctr


def stop_dp(srv, p):
    stop(p)
    subprocess.run(["rm", "-rf", "/var/run/dpdk/" + srv.prefix, "/run/dpdk/" + srv.prefix])


def dnsperf(addr, qfile):
    r = subprocess.run(["taskset", "-c", "0", "dnsperf", "-s", addr[0], "-p", str(addr[1]),
                        "-d", qfile, "-l", str(SECS), "-c", "4", "-q", "64"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=SECS + 60)
    for line in r.stdout.splitlines():
        if "Queries per second" in line:
            return float(line.split()[-1])
    raise RuntimeError("dnsperf: " + r.stdout[-500:])


def timed(addr, name, qtype="A"):
    q = dns.message.make_query(name, qtype, want_dnssec=True)
    t = time.perf_counter()
    r = dns.query.udp(q, addr[0], port=addr[1], timeout=10)
    dt = time.perf_counter() - t
    if not r.answer:
        raise RuntimeError("no answer for %s from %s: %s" % (name, addr, r))
    return dt * 1000.0


def latency(addr):
    """Cold full resolution, then the median of names that need only the
    leaf (its delegation cached), in milliseconds."""
    cold = timed(addr, "www.leaf.tree.")
    warm = [timed(addr, "h%d.wild.leaf.tree." % i) for i in range(20)]
    return cold, statistics.median(warm)


def main():
    wd = tempfile.mkdtemp(prefix="p53bench-res-")
    tree = dnstree.Tree(os.path.join(wd, "tree"))
    hints, anchor = dnstree.build(os.path.join(wd, "tree"))
    tree.start()
    srv = Servers(wd, hints, anchor)
    qhit = write(os.path.join(wd, "hit.txt"), "\n".join(NAMES) + "\n")
    qauth = write(os.path.join(wd, "auth.txt"), "www.own.example. A\n")
    res = {"p53_hit": [], "unb_hit": [], "p53_cold": [], "unb_cold": [], "p53_leaf": [],
           "unb_leaf": [], "auth_off": [], "auth_on": [], "dp_hit": [], "dp_cold": [],
           "dp_leaf": [], "dp_auth_off": [], "dp_auth_on": [], "pc_auth": [],
           "pc_auth_off": [], "pc_hit": [], "pc_hit_share": []}
    try:
        for run in range(RUNS):
            for which in ("port53", "unbound"):
                p = srv.port53() if which == "port53" else srv.unbound()
                addr = P53 if which == "port53" else UNB
                key = "p53" if which == "port53" else "unb"
                try:
                    cold, leaf = latency(addr)
                    res[key + "_cold"].append(cold)
                    res[key + "_leaf"].append(leaf)
                    for n in NAMES:  # into the cache
                        name, qt = n.split()
                        dns.query.udp(dns.message.make_query(name, qt), addr[0], port=addr[1],
                                      timeout=10)
                    res[key + "_hit"].append(dnsperf(addr, qhit))
                finally:
                    stop(p)
            for on in (False, True):
                p = srv.port53(resolver=on)
                try:
                    res["auth_on" if on else "auth_off"].append(dnsperf(P53_AUTH, qauth))
                finally:
                    stop(p)
            if PORT53D:
                p = srv.port53d()
                try:
                    cold, leaf = latency(DP_SVC)
                    res["dp_cold"].append(cold)
                    res["dp_leaf"].append(leaf)
                    for n in NAMES:
                        name, qt = n.split()
                        dns.query.udp(dns.message.make_query(name, qt), DP_SVC[0], timeout=10)
                    res["dp_hit"].append(dnsperf(DP_SVC, qhit))
                    res["dp_auth_on"].append(dnsperf(DP_SVC, qauth))
                finally:
                    stop_dp(srv, p)
                p = srv.port53d(resolver=False)
                try:
                    res["dp_auth_off"].append(dnsperf(DP_SVC, qauth))
                finally:
                    stop_dp(srv, p)
                rate, _ = pcap_replay(srv, [("www.own.example.", "A")], "auth")
                res["pc_auth"].append(rate)
                rate, _ = pcap_replay(srv, [("www.own.example.", "A")], "off", resolver=False)
                res["pc_auth_off"].append(rate)
                rate, ctr = pcap_replay(srv, [("www.fwd.tree.", "A"), ("ns.fwd.tree.", "A"),
                                              ("www.fwd.tree.", "AAAA"),
                                              ("nope.fwd.tree.", "A")], "hit")
                res["pc_hit"].append(rate)
                res["pc_hit_share"].append(100.0 * ctr.get("resolver_cache_hit", 0) / PCAP_N)
            print("run %d done" % (run + 1), flush=True)
    finally:
        tree.stop()
    m = {k: statistics.median(v) for k, v in res.items() if v}
    print("\nresolver benchmark, %d runs of %d s, medians (dnsperf -c 4 -q 64 on CPU 0, "
          "server on CPU 1)" % (RUNS, SECS))
    print("%-44s %12s %12s %8s" % ("", "port53", "unbound", "ratio"))
    print("%-44s %12.0f %12.0f %8.2f" % ("cache-hit answers/s", m["p53_hit"], m["unb_hit"],
                                          m["p53_hit"] / m["unb_hit"]))
    print("%-44s %12.2f %12.2f %8.2f" % ("cold recursion to a leaf, ms", m["p53_cold"],
                                          m["unb_cold"], m["p53_cold"] / m["unb_cold"]))
    print("%-44s %12.2f %12.2f %8.2f" % ("leaf name, delegations cached, ms", m["p53_leaf"],
                                          m["unb_leaf"], m["p53_leaf"] / m["unb_leaf"]))
    print("%-44s %12.0f %12.0f %8.3f" % ("port53 authoritative q/s: resolver off / on",
                                          m["auth_off"], m["auth_on"],
                                          m["auth_on"] / m["auth_off"]))
    if PORT53D:
        print("\nport53d on TAP (worker on CPU 1; resolver thread and dnsperf on CPU 0)")
        print("%-44s %12s %12s %8s" % ("", "port53d", "unbound", "ratio"))
        print("%-44s %12.0f %12.0f %8.2f" % ("cache-hit answers/s", m["dp_hit"], m["unb_hit"],
                                              m["dp_hit"] / m["unb_hit"]))
        print("%-44s %12.2f %12.2f %8.2f" % ("cold recursion to a leaf, ms", m["dp_cold"],
                                              m["unb_cold"], m["dp_cold"] / m["unb_cold"]))
        print("%-44s %12.2f %12.2f %8.2f" % ("leaf name, delegations cached, ms", m["dp_leaf"],
                                              m["unb_leaf"], m["dp_leaf"] / m["unb_leaf"]))
        print("%-44s %12.0f %12.0f %8.3f" % ("port53d authoritative q/s, in a view: off / on",
                                              m["dp_auth_off"], m["dp_auth_on"],
                                              m["dp_auth_on"] / m["dp_auth_off"]))
    if PORT53D:
        print("\nport53d, one worker core (CPU 1), %d queries replayed from a capture "
              "(net_pcap), resolver on:" % PCAP_N)
        print("%-44s %12.0f" % ("authoritative answers/s, no --resolver", m["pc_auth_off"]))
        print("%-44s %12.0f   (%.3f of the above)" % (
            "authoritative answers/s, client in a view", m["pc_auth"],
            m["pc_auth"] / m["pc_auth_off"]))
        print("%-44s %12.0f   (%.1f%% of the queries hit on the worker)" % (
            "resolver cache-hit answers/s", m["pc_hit"], m["pc_hit_share"]))
        print("%-44s %12.2f" % ("ratio cache hit / authoritative in a view",
                                 m["pc_hit"] / m["pc_auth"]))
    print("raw:", {k: [round(x, 2) for x in v] for k, v in res.items()})
    return 0


if __name__ == "__main__":
    if "--inner" in sys.argv:
        sys.exit(main())
    sys.exit(dnstree.in_netns(["/usr/bin/python3", os.path.abspath(__file__), "--inner"],
                              env=dict(os.environ)))
