#!/usr/bin/python3
"""The resolver path through port53d on TAP (docs/dataplane.md, "The
resolver path"; docs/resolver.md).

Everything runs in a network namespace H of its own (dnstree.in_netns):
the signed private tree on NSD and Knot (dnstree.py) on H's loopback,
port53d with a net_tap service port whose kernel side carries the client
addresses, and the resolver thread inside port53d, which reaches the tree
through H's kernel. The exception tap goes to a second namespace K with
the service address, where port53d's TCP/TLS listeners live
(--transport-netns), as in test_transports.py.

    client 192.0.2.10, 2001:db8::10 (TAP, kernel of H) --> port53d worker
        --> resolver thread (control core) --> libunbound --> tree on lo
        <-- response frame built there, sent by the worker on its port

Views: "inside" = source 192.0.2.10/32 on 192.0.2.53 port 53 and 853,
with a private zone corp.internal; "v6" = source 2001:db8::/64 on
[2001:db8::53]:53, with its own example.com (split horizon). 192.0.2.11 is
in no view.

Checked with dnspython (and kdig for DoT and DoH) against the tree's data:
recursion to a leaf (validated: AD), a FORWARD rule to the "corporate"
forwarder, a SYSTEM rule beneath it, split horizon (view v6's own
example.com beside the public one), the private zone answered in its view and recursed (NXDOMAIN)
in the other, REFUSED outside every view, the firewall's BLOCK answers
(NXDOMAIN, NODATA, OVERRIDE) on the query name (the engine's) and reached
only through a resolved CNAME (the resolver's), each with EDE 15 "Blocked"
(RFC 8914) to a query with EDNS and with no OPT record to one without,
ALERT and ALLOW answered normally without EDE, a bogus signature (SERVFAIL with a
DNSSEC EDE), authoritative answers unchanged (AA, the snapshot's data,
RD=0 REFUSED for a foreign name), DoT to port53d in the view, the
counters in /metrics (handed over, sent by the worker, answers per view),
and cache hits answered after the tree's servers were stopped.

    sudo /usr/bin/python3 tests/e2e/test_dp_resolver.py BUILD_DIR
"""

import json
import os
import shutil
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dnstree  # noqa: E402
import dpnet  # noqa: E402
from dpnet import run  # noqa: E402

import dns.edns  # noqa: E402
import dns.exception  # noqa: E402
import dns.flags  # noqa: E402
import dns.message  # noqa: E402
import dns.query  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdatatype  # noqa: E402

SVC4, CLI4, OUT4 = "192.0.2.53", "192.0.2.10", "192.0.2.11"
SVC6, CLI6 = "2001:db8::53", "2001:db8::10"
PID = os.getpid()
TAP = "prt%d" % (PID % 100000)
EXC_PREFIX = "pre%d_" % (PID % 10000)
EXC = EXC_PREFIX + "0"
NS_K = "p53r-k-%d" % PID


def ask(name, qtype="A", where=SVC4, source=CLI4, rd=True, dnssec=False, timeout=2.0,
        tries=3, edns=True):
    if edns:
        q = dns.message.make_query(name, qtype, use_edns=0, want_dnssec=dnssec, payload=1232)
    else:
        q = dns.message.make_query(name, qtype, use_edns=False)
    if not rd:
        q.flags &= ~dns.flags.RD
    for _ in range(tries):
        try:
            return dns.query.udp(q, where, port=53, timeout=timeout, source=source)
        except (dns.exception.Timeout, OSError):
            continue
    return None


def show(r):
    return "no answer" if r is None else r.to_text()[:600]


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def metrics(port53ctl, sock):
    """{(family, label value, worker): value} from /metrics."""
    r = run([port53ctl, "-s", sock, "metrics"], check=False)
    out = {}
    for line in r.stdout.splitlines():
        if not line.startswith("port53_") or "{" not in line:
            continue
        name, rest = line.split("{", 1)
        labels, value = rest.rsplit("} ", 1)
        kv = dict(x.split("=", 1) for x in labels.split(",") if "=" in x)
        kv = {k: v.strip('"') for k, v in kv.items()}
        other = [v for k, v in kv.items() if k != "worker"]
        out[(name, other[0] if other else "", kv.get("worker", ""))] = int(float(value))
    return out


def total(m, name, label):
    return sum(v for (n, lab, _), v in m.items() if n == name and lab == label)


def setup_files(work, bdir, hints, anchor):
    port53 = os.path.join(bdir, "tools", "port53")
    snap = dpnet.compile_snapshot(bdir, work, "dataplane")
    run([port53, "compile", "-o", os.path.join(work, "inside.p53"),
         "corp.internal.=" + write(os.path.join(work, "corp.zone"),
                                   "$ORIGIN corp.internal.\n"
                                   "@ 3600 IN SOA ns hm 1 1800 900 604800 300\n"
                                   "@ 3600 IN NS ns\nns 3600 IN A 10.0.0.53\n"
                                   "www 300 IN A 10.0.0.5\n")], timeout=60)
    # Split horizon: view v6 has its own example.com.
    run([port53, "compile", "-o", os.path.join(work, "v6.p53"),
         "example.com.=" + write(os.path.join(work, "v6.zone"),
                                 "$ORIGIN example.com.\n"
                                 "@ 3600 IN SOA ns hm 1 1800 900 604800 300\n"
                                 "@ 3600 IN NS ns\nns 3600 IN A 10.6.0.53\n"
                                 "www 300 IN A 10.6.0.80\n")], timeout=60)
    fw_src = write(os.path.join(work, "fw.json"), json.dumps({
        "rule_groups": [{"name": "g", "priority": 10, "rules": [
            {"name": "evil", "priority": 1, "action": "BLOCK",
             "block_response": "NXDOMAIN", "domains": ["bad.evil.tree"]},
            {"name": "quiet", "priority": 2, "action": "BLOCK",
             "block_response": "NODATA", "domains": ["nodata.wild.leaf.tree"]},
            {"name": "wall", "priority": 3, "action": "BLOCK",
             "block_response": "OVERRIDE", "block_override_domain": "walled.example.net.",
             "block_override_ttl": 60, "domains": ["wall.evil.tree"]},
            {"name": "watch", "priority": 4, "action": "ALERT",
             "domains": ["*.wild.leaf.tree"]},
            {"name": "fine", "priority": 5, "action": "ALLOW",
             "domains": ["ok.leaf.tree"]}]}]}))
    fw = os.path.join(work, "fw.p53fw")
    run([port53, "fw-compile", "-o", fw, fw_src], timeout=60)
    conf = write(os.path.join(work, "resolver.yaml"), """
recursion:
  root-hints: {hints}
  trust-anchor: {anchor}
rules:
  - name: corp
    domain: fwd.tree
    type: FORWARD
    targets: ["{fwd}:{fport}"]
  - name: corp-system
    domain: sys.fwd.tree
    type: SYSTEM
views:
  - name: inside
    sources: [{cli}/32]
    listen: ["{svc}:53", "{svc}:853", "{svc}:443"]
    zones: [inside.p53]
  - name: v6
    sources: ["2001:db8::/64"]
    listen: ["[{svc6}]:53"]
    zones: [v6.p53]
""".format(hints=hints, anchor=anchor, fwd=dnstree.FWD_NS, fport=dnstree.FWD_PORT, cli=CLI4,
           svc=SVC4, svc6=SVC6))
    certs = {"crt": os.path.join(work, "tls.crt"), "key": os.path.join(work, "tls.key")}
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "2", "-subj", "/CN=resolver.test", "-keyout", certs["key"],
         "-out", certs["crt"]])
    return snap, fw, conf, certs


def body(res, cleanup, work, bdir, tree):
    tree_dir = os.path.join(work, "tree")
    try:
        hints, anchor = dnstree.build(tree_dir)
        tree.start()
    except Exception as e:  # a missing tool or a server that will not start
        res.check("the test tree is up", False, str(e))
        return
    cleanup.push(tree.stop)
    snap, fw, conf, certs = setup_files(work, bdir, hints, anchor)
    dpnet.netns_add(cleanup, NS_K)
    sock = os.path.join(work, "ctl.sock")
    prefix = "p53r%d" % PID
    eal = os.environ.get("P53_EAL", "--no-huge -m 512 --no-pci -l 0").split()
    cmd = [os.path.join(bdir, "dp", "port53d")] + eal + [
        "--file-prefix", prefix, "--vdev", "net_tap0,iface=%s" % TAP, "--",
        "--snapshot", snap, "--addr", SVC4, "--addr", SVC6,
        "--exception", "tap:" + EXC_PREFIX, "--transport-netns", NS_K,
        "--tls", "--quic", "--doh", "--tls-cert", certs["crt"], "--tls-key", certs["key"],
        "--resolver", conf, "--firewall", fw, "--rrl-rate", "0", "--control-socket", sock,
        "--query-log", os.path.join(work, "queries.jsonl")]
    cleanup.push(dpnet.rm_eal_runtime, prefix)
    d = dpnet.Proc(cleanup, cmd, os.path.join(work, "port53d.log"))

    def links():
        return all(run(["ip", "link", "show", x], check=False).returncode == 0
                   for x in (TAP, EXC))
    up = dpnet.wait_for(lambda: not d.alive() or links(), 30)
    if not res.check("port53d up with the resolver, the service and exception taps",
                     d.alive() and up, d.tail()):
        return
    for cidr in (CLI4 + "/24", OUT4 + "/24", CLI6 + "/64"):
        run(["ip", "addr", "add", cidr, "dev", TAP] + (["nodad"] if ":" in cidr else []))
    run(["ip", "link", "set", TAP, "up"])
    run(["ip", "link", "set", EXC, "netns", NS_K])
    dpnet.addr_add(NS_K, EXC, SVC4 + "/24")
    run(["ip", "link", "set", EXC, "up"], ns=NS_K)
    line = "resolver: 2 views, 2 rules, private zones, on a control thread"
    res.check("port53d says the resolver runs on a control thread",
              dpnet.wait_for(lambda: line in d.tail(), 10), d.tail())

    # Authoritative answers: as before, from the worker, for everyone.
    r = ask("www.example.com.", tries=10)
    res.check("authoritative answer in the view: AA and the snapshot's data",
              r is not None and bool(r.flags & dns.flags.AA) and dnstree.addrs(r) == {"192.0.2.10"},
              show(r))
    r = ask("whoami.example.com.", "TXT", source=OUT4)
    res.check("authoritative answer outside every view",
              r is not None and bool(r.flags & dns.flags.AA) and r.answer and
              r.answer[0][0].to_text() == '"dataplane"', show(r))

    # Recursion to a leaf, validated.
    r = ask("www.leaf.tree.", dnssec=True, timeout=3)
    res.check("recursion to a leaf through port53d", r is not None and
              r.rcode() == dns.rcode.NOERROR and dnstree.addrs(r) == {"192.0.2.1"}, show(r))
    res.check("validated: AD and RA set, AA clear, RRSIG with DO", r is not None and
              bool(r.flags & dns.flags.AD) and bool(r.flags & dns.flags.RA) and
              not r.flags & dns.flags.AA and
              any(x.rdtype == dns.rdatatype.RRSIG for x in r.answer), show(r))
    r = ask("www.leaf.tree.", "AAAA", where=SVC6, source=CLI6, timeout=3)
    res.check("recursion over IPv6 in the other view", dnstree.addrs(r, "AAAA") == {"2001:db8::1"},
              show(r))
    # Cache hits on the worker (the resolver's shared answers): the same
    # question again, in the asker's case, DO clear this time, TTLs counted
    # down; the worker answers without the resolver thread.
    ctl = os.path.join(bdir, "tools", "port53ctl")
    hits0 = total(metrics(ctl, sock), "port53_dataplane_total", "resolver_cache_hit")
    r1 = ask("www.leaf.tree.", dnssec=True)
    r = ask("WwW.LeAf.TrEe.")
    res.check("worker cache hit: the asker's case, no RRSIG or AD without DO",
              r is not None and dnstree.addrs(r) == {"192.0.2.1"} and
              r.question[0].name.to_text() == "WwW.LeAf.TrEe." and
              not any(x.rdtype == dns.rdatatype.RRSIG for x in r.answer) and
              not r.flags & dns.flags.AD and bool(r.flags & dns.flags.RA), show(r))
    ttl0 = r1.answer[0].ttl if r1 is not None and r1.answer else None
    later = []

    def counted_down():
        x = ask("www.leaf.tree.", dnssec=True)
        later[:] = [x]
        return x is not None and x.answer and ttl0 is not None and x.answer[0].ttl < ttl0
    res.check("worker cache hit: TTLs counted down, RRSIG with DO",
              dpnet.wait_for(counted_down, 4) and
              any(x.rdtype == dns.rdatatype.RRSIG for x in later[0].answer) and
              bool(later[0].flags & dns.flags.AD), (ttl0, show(later[0] if later else None)))
    hits1 = total(metrics(ctl, sock), "port53_dataplane_total", "resolver_cache_hit")
    res.check("worker cache hits counted", hits1 >= hits0 + 3, (hits0, hits1))

    # A new snapshot (SIGHUP) makes every shared answer stale: the next
    # query goes to the resolver thread again, the one after is a worker hit.
    def swaps():
        r = run([ctl, "-s", sock, "metrics"], check=False).stdout
        for line in r.splitlines():
            if line.startswith("port53_snapshot_swaps_total "):
                return int(float(line.split()[-1]))
        return -1
    s0 = swaps()
    d.signal(signal.SIGHUP)
    swapped = dpnet.wait_for(lambda: swaps() > s0, 10)
    m0 = metrics(ctl, sock)
    r = ask("www.leaf.tree.", dnssec=True)
    m1 = metrics(ctl, sock)
    r2 = ask("www.leaf.tree.", dnssec=True)
    m2 = metrics(ctl, sock)

    def delta(a, b, label):
        return total(b, "port53_dataplane_total", label) - total(a, "port53_dataplane_total",
                                                                 label)
    res.check("after a snapshot swap: handed to the resolver thread, then a worker hit again",
              swapped and dnstree.addrs(r) == {"192.0.2.1"} and dnstree.addrs(r2) == {"192.0.2.1"} and
              delta(m0, m1, "resolver_handed") == 1 and
              delta(m0, m1, "resolver_cache_hit") == 0 and
              delta(m1, m2, "resolver_cache_hit") == 1,
              (swapped, delta(m0, m1, "resolver_handed"), delta(m0, m1, "resolver_cache_hit"),
               delta(m1, m2, "resolver_cache_hit")))

    r = ask("nope.leaf.tree.")
    res.check("NXDOMAIN from the tree", r is not None and r.rcode() == dns.rcode.NXDOMAIN,
              show(r))

    # A FORWARD rule: the forwarder's data, not the tree's.
    r = ask("www.fwd.tree.")
    res.check("FORWARD rule: answer from the forwarder", dnstree.addrs(r) == {"192.0.2.100"}, show(r))
    r = ask("www.sys.fwd.tree.")
    res.check("SYSTEM rule beneath the FORWARD rule: the tree's answer, not the forwarder's",
              dnstree.addrs(r) == {"192.0.2.2"}, show(r))

    # Split horizon: the same name, another zone in view v6 than the public one.
    r = ask("www.example.com.", where=SVC6, source=CLI6)
    res.check("split horizon: view v6 gets its private example.com (AA)",
              r is not None and dnstree.addrs(r) == {"10.6.0.80"} and bool(r.flags & dns.flags.AA),
              show(r))
    r = ask("www.example.com.")
    res.check("split horizon: view inside gets the public example.com",
              dnstree.addrs(r) == {"192.0.2.10"}, show(r))

    # A private zone seen by its view only.
    r = ask("www.corp.internal.")
    res.check("private zone in its view: AA from the private snapshot",
              r is not None and dnstree.addrs(r) == {"10.0.0.5"} and bool(r.flags & dns.flags.AA),
              show(r))
    r = ask("www.corp.internal.", where=SVC6, source=CLI6)
    res.check("private zone invisible to the other view: recursion's NXDOMAIN",
              r is not None and r.rcode() == dns.rcode.NXDOMAIN and not dnstree.addrs(r) and
              not r.flags & dns.flags.AA, show(r))
    r = ask("www.corp.internal.", source=OUT4)
    res.check("private zone outside every view: REFUSED",
              r is not None and r.rcode() == dns.rcode.REFUSED, show(r))
    r = ask("www.leaf.tree.", source=OUT4)
    res.check("recursion outside every view: REFUSED",
              r is not None and r.rcode() == dns.rcode.REFUSED, show(r))
    r = ask("www.leaf.tree.", rd=False)
    res.check("RD clear in the view: the engine's REFUSED",
              r is not None and r.rcode() == dns.rcode.REFUSED, show(r))

    # The firewall. A blocked query name is the engine's answer on the
    # worker, never resolved (a BLOCK NODATA outside every zone looks like
    # a referral); a block reached through a resolved CNAME is the
    # resolver thread's. Each says "Blocked" (EDE 15, RFC 8914) to a query
    # with EDNS, and has no OPT record for one without (RFC 6891 7).
    def is_nx(r):
        return r is not None and r.rcode() == dns.rcode.NXDOMAIN and not r.answer

    def is_nodata(r):
        return r is not None and r.rcode() == dns.rcode.NOERROR and not r.answer

    def is_wall(name):
        return lambda r: (r is not None and r.rcode() == dns.rcode.NOERROR and
                          len(r.answer) == 1 and r.answer[0].rdtype == dns.rdatatype.CNAME and
                          r.answer[0].name.to_text() == name and r.answer[0].ttl == 60 and
                          r.answer[0][0].target.to_text() == "walled.example.net.")

    for name, shape, what in (
            ("bad.evil.tree.", is_nx, "BLOCK NXDOMAIN on the query name"),
            ("go.leaf.tree.", is_nx, "BLOCK NXDOMAIN reached through a CNAME"),
            ("nodata.wild.leaf.tree.", is_nodata, "BLOCK NODATA on the query name"),
            ("gonodata.leaf.tree.", is_nodata, "BLOCK NODATA reached through a CNAME"),
            ("wall.evil.tree.", is_wall("wall.evil.tree."), "BLOCK OVERRIDE on the query name"),
            ("gowall.leaf.tree.", is_wall("gowall.leaf.tree."),
             "BLOCK OVERRIDE reached through a CNAME")):
        r = ask(name)
        res.check("firewall %s: EDE 15" % what, shape(r) and dnstree.ede(r) == 15, show(r))
        r = ask(name, edns=False)
        res.check("firewall %s, query without EDNS: no OPT, no EDE" % what,
                  shape(r) and r.edns < 0 and not r.options, show(r))
    r = ask("ok.leaf.tree.")
    res.check("ALLOW on the query name: the chain answered, no EDE",
              dnstree.addrs(r) == {"192.0.2.1"} and dnstree.ede(r) is None, show(r))
    r = ask("other.wild.leaf.tree.")
    res.check("ALERT on the name beside the blocked one: resolved, no EDE",
              dnstree.addrs(r) == {"192.0.2.9"} and dnstree.ede(r) is None, show(r))

    # A bogus signature.
    r = ask("www.bogus.tree.", timeout=3)
    res.check("bogus signature: SERVFAIL with a DNSSEC EDE",
              r is not None and r.rcode() == dns.rcode.SERVFAIL and
              dnstree.ede(r) in (6, 7, 8, 9, 10, 12), show(r))

    # DNS over TLS to port53d: the TLS thread hands the view's query over.
    if shutil.which("kdig"):
        k = run(["kdig", "@" + SVC4, "-b", CLI4, "+tls", "+short", "+timeout=5", "+retry=1",
                 "www.leaf.tree.", "A"], check=False, timeout=30)
        res.check("DoT (kdig +tls) in the view: recursion", k.stdout.split() == ["192.0.2.1"],
                  k.stdout + k.stderr)
        k = run(["kdig", "@" + SVC4, "-b", CLI4, "+tls", "+short", "+timeout=5", "+retry=1",
                 "www.corp.internal.", "A"], check=False, timeout=30)
        res.check("DoT in the view: the private zone", k.stdout.split() == ["10.0.0.5"],
                  k.stdout + k.stderr)
        k = run(["kdig", "@" + SVC4, "-b", OUT4, "+tls", "+timeout=5", "+retry=1",
                 "www.leaf.tree.", "A"], check=False, timeout=30)
        res.check("DoT outside every view: REFUSED", "status: REFUSED" in k.stdout,
                  k.stdout[-400:] + k.stderr)
        # DNS over HTTPS (RFC 8484) to port53d: the same thread, the same hand-off.
        for mode in ("+https", "+https-get"):
            k = run(["kdig", "@" + SVC4, "-b", CLI4, mode, "+short", "+timeout=5",
                     "+retry=1", "www.leaf.tree.", "A"], check=False, timeout=30)
            res.check("DoH (kdig %s) in the view: recursion" % mode,
                      k.stdout.split() == ["192.0.2.1"], k.stdout + k.stderr)
        k = run(["kdig", "@" + SVC4, "-b", CLI4, "+https", "+short", "+timeout=5", "+retry=1",
                 "www.corp.internal.", "A"], check=False, timeout=30)
        res.check("DoH in the view: the private zone", k.stdout.split() == ["10.0.0.5"],
                  k.stdout + k.stderr)
        k = run(["kdig", "@" + SVC4, "-b", CLI4, "+https", "+timeout=5", "+retry=1",
                 "go.leaf.tree.", "A"], check=False, timeout=30)
        res.check("DoH in the view: firewall BLOCK through a CNAME (NXDOMAIN, EDE 15)",
                  "status: NXDOMAIN" in k.stdout and "EDE: 15" in k.stdout,
                  k.stdout[-500:] + k.stderr)
        k = run(["kdig", "@" + SVC4, "-b", OUT4, "+https", "+timeout=5", "+retry=1",
                 "www.leaf.tree.", "A"], check=False, timeout=30)
        res.check("DoH outside every view: REFUSED", "status: REFUSED" in k.stdout,
                  k.stdout[-400:] + k.stderr)
    else:
        res.check("kdig installed (tools/install-deps.sh)", False)

    # DNS over QUIC: the QUIC thread hands the view's queries over too.
    doqclient = os.path.join(bdir, "tests", "doqclient")
    if os.access(doqclient, os.X_OK):
        import xport
        qs = [xport.query_wire("www.leaf.tree.", "A"), xport.query_wire("www.fwd.tree.", "A"),
              xport.query_wire("www.corp.internal.", "A"),
              xport.query_wire("www.example.com.", "A")]
        out, err = xport.doq(doqclient, None, SVC4, qs)
        ok = out is not None and len(out) == 4 and all(
            isinstance(x, dns.message.Message) for x in out)
        res.check("DoQ in the view: 4 streams answered", ok, err or repr(out))
        if ok:
            res.check("DoQ: recursion, forwarding, the private zone, an authoritative name",
                      [dnstree.addrs(x) for x in out] == [{"192.0.2.1"}, {"192.0.2.100"},
                                                  {"10.0.0.5"}, {"192.0.2.10"}] and
                      all(x.id == 0 for x in out), [show(x) for x in out])
    else:
        print("skip - DoQ: %s not built (needs Go and quic-go)" % doqclient)

    # Counters: handed over by the worker, sent by the worker, per view.
    m = metrics(ctl, sock)
    res.check("metrics: queries handed over by the worker",
              total(m, "port53_dataplane_total", "resolver_handed") >= 8, m)
    res.check("metrics: resolver responses sent by the worker on its port",
              total(m, "port53_dataplane_total", "resolver_tx") >= 8, m)
    res.check("metrics: answers per view",
              total(m, "port53_resolver_view_total", "inside") >= 6 and
              total(m, "port53_resolver_view_total", "v6") >= 2, m)
    res.check("metrics: ring drops and queue depth reported",
              any(k[0] == "port53_resolver_queue_total" for k in m) and
              total(m, "port53_dataplane_total", "drop_resolver_ring_full") == 0 and
              total(m, "port53_resolver_total", "ring_full") == 0, m)

    # Cache hits: the tree's servers stop, the cached names still answer,
    # from the worker's shared answers or the resolver thread's cache.
    before = total(m, "port53_resolver_total", "cache_hit") + total(
        m, "port53_dataplane_total", "resolver_cache_hit")
    tree.stop_authorities()
    r = ask("www.leaf.tree.", dnssec=True)
    res.check("cache hit with every authority stopped", dnstree.addrs(r) == {"192.0.2.1"} and
              r is not None and bool(r.flags & dns.flags.AD), show(r))
    r = ask("www.fwd.tree.")
    res.check("forwarded answer from the cache", dnstree.addrs(r) == {"192.0.2.100"}, show(r))
    r = ask("www.example.com.")
    res.check("authoritative answers unaffected after", dnstree.addrs(r) == {"192.0.2.10"}, show(r))
    m = metrics(ctl, sock)
    after = total(m, "port53_resolver_total", "cache_hit") + total(
        m, "port53_dataplane_total", "resolver_cache_hit")
    res.check("cache hits counted", after >= before + 2, (before, after))

    # The query log: the resolver thread logs what the workers handed over.
    def logged():
        try:
            with open(os.path.join(work, "queries.jsonl")) as f:
                return [json.loads(x) for x in f if x.strip()]
        except (OSError, ValueError):
            return []
    dpnet.wait_for(lambda: any("resolver" in x for x in logged()), 5)
    lines = logged()
    fwd = [x for x in lines if x.get("query_name") == "www.fwd.tree." and "resolver" in x]
    res.check("query log: the forwarded query with its view, rule and upstream",
              any(x["resolver"]["view"] == "inside" and x["resolver"]["rule"] == "corp" and
                  x["resolver"]["upstream"] == "%s@%d" % (dnstree.FWD_NS, dnstree.FWD_PORT)
                  for x in fwd), fwd)
    auth = [x for x in lines if x.get("query_name") == "www.example.com."]
    res.check("query log: authoritative answers logged by the worker, without resolver fields",
              auth and all("resolver" not in x for x in auth), auth[:2])

    rc = d.stop()
    res.check("port53d exits 0 on SIGTERM", rc == 0, d.tail())
    print("--- port53d log (tail) ---\n%s\n---" % d.tail(2000))


def inner(bdir):
    res = dpnet.Results()
    cleanup = dpnet.Cleanup()
    work = subprocess.run(["mktemp", "-d", "/tmp/p53-dpres-XXXXXX"], stdout=subprocess.PIPE,
                          text=True, check=True).stdout.strip()
    cleanup.push(lambda: run(["rm", "-rf", work], check=False))
    tree = dnstree.Tree(os.path.join(work, "tree"))
    try:
        body(res, cleanup, work, bdir, tree)
    except Exception as e:
        res.check("test ran to completion", False, "%s: %s" % (type(e).__name__, e))
    finally:
        cleanup.run()
    return res.finish()


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--inner":
        return inner(sys.argv[2])
    bdir = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else dpnet.build_dir()
    for tool in ("nsd", "knotd", "ldns-keygen", "ldns-signzone", "kdig", "openssl"):
        if shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin") is None:
            print("FAIL - %s is missing (tools/install-deps.sh installs it)" % tool)
            return 1
    for path in (os.path.join(bdir, "dp", "port53d"), os.path.join(bdir, "tools", "port53")):
        if not os.access(path, os.X_OK):
            print("FAIL - not built: %s" % path)
            return 1
    return dnstree.in_netns(["/usr/bin/python3", os.path.abspath(__file__), "--inner", bdir])


if __name__ == "__main__":
    sys.exit(main())
