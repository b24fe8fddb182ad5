#!/usr/bin/python3
"""The resolver through `port53 serve --resolver` (docs/resolver.md).

Runs in a network namespace of its own: a signed private DNS tree on NSD
and Knot (dnstree.py), a forwarder, and port53 with one view on one
listener and none on another. dnspython asks and checks against the tree's
data: recursion to a leaf with DNSSEC (AD), a FORWARD rule with failover
past a dead target, SYSTEM overriding the broader FORWARD, a firewall
BLOCK reached only through a CNAME in the resolved answer, a bogus
signature answered SERVFAIL with an Extended DNS Error, clients outside
every view and RD=0 queries kept authoritative-only, the query log's
resolver fields, and cache hits answered with the tree's servers stopped.
"""

import json
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import dnstree  # noqa: E402

import dns.edns  # noqa: E402
import dns.flags  # noqa: E402
import dns.message  # noqa: E402
import dns.query  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdatatype  # noqa: E402

VIEW_ADDR = "127.53.0.53"
AUTH_ADDR = "127.53.0.54"
LAB_ADDR = "127.53.0.55"
TLS_PORT = 8853
DOH_PORT = 8443
PORT = 5353

check = common.Checks(label="resolver", verbose=True)


def ask(name, qtype="A", where=VIEW_ADDR, rd=True, dnssec=False, timeout=3.0, tcp=False):
    q = dns.message.make_query(name, qtype, use_edns=0, want_dnssec=dnssec, payload=1232)
    if not rd:
        q.flags &= ~dns.flags.RD
    if tcp:
        try:
            return dns.query.tcp(q, where, port=PORT, timeout=timeout)
        except (dns.exception.Timeout, OSError):
            return None
    for _ in range(3):
        try:
            return dns.query.udp(q, where, port=PORT, timeout=timeout)
        except dns.exception.Timeout:
            continue
    return None


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def metric(port53, name):
    """A resolver counter from the control API's metrics, or None."""
    raw = common.run([os.environ.get("PORT53CTL", "port53ctl"), "-s", port53.sock, "metrics"])
    for line in raw.stdout.splitlines():
        if line.startswith("port53_resolver_total") and 'outcome="%s"' % name in line:
            return int(float(line.split()[-1]))
    return None


class Server:
    def __init__(self, binary, wd, tree):
        self.wd = wd
        self.sock = os.path.join(wd, "ctl.sock")
        zdir = os.path.join(wd, "own")
        os.makedirs(zdir, exist_ok=True)
        write(os.path.join(zdir, "own.example.zone"),
              "$ORIGIN own.example.\n@ 3600 IN SOA ns hm 1 1800 900 604800 300\n"
              "@ 3600 IN NS ns\nns 3600 IN A 192.0.2.53\nwww 300 IN A 192.0.2.80\n")
        self.snap = os.path.join(wd, "own.p53")
        r = common.run([binary, "compile", "-o", self.snap,
                        "own.example.=" + os.path.join(zdir, "own.example.zone")])
        if r.returncode:
            raise RuntimeError(r.stderr)
        # Private zones: the view "inside" has its own own.example (split
        # horizon) and corp.internal; the view "lab" another own.example.
        for view, www, extra in (("inside", "10.0.0.80", True), ("lab", "10.1.0.80", False)):
            pdir = os.path.join(wd, view)
            os.makedirs(pdir, exist_ok=True)
            args = [binary, "compile", "-o", os.path.join(wd, view + ".p53"),
                    "own.example.=" + write(os.path.join(pdir, "own.zone"),
                                            "$ORIGIN own.example.\n"
                                            "@ 3600 IN SOA ns hm 7 1800 900 604800 300\n"
                                            "@ 3600 IN NS ns\nns 3600 IN A 10.0.0.53\n"
                                            "www 300 IN A %s\n" % www)]
            if extra:
                args.append("corp.internal.=" + write(
                    os.path.join(pdir, "corp.zone"),
                    "$ORIGIN corp.internal.\n@ 3600 IN SOA ns hm 1 1800 900 604800 300\n"
                    "@ 3600 IN NS ns\nns 3600 IN A 10.0.0.53\nwww 300 IN A 10.0.0.5\n"))
            r = common.run(args)
            if r.returncode:
                raise RuntimeError(r.stderr)
        rules = write(os.path.join(wd, "fw.json"), json.dumps({
            "rule_groups": [{"name": "g", "priority": 10, "rules": [
                {"name": "evil", "priority": 1, "action": "BLOCK",
                 "block_response": "NXDOMAIN", "domains": ["bad.evil.tree"]}]}]}))
        self.fw = os.path.join(wd, "fw.p53fw")
        r = common.run([binary, "fw-compile", "-o", self.fw, rules])
        if r.returncode:
            raise RuntimeError(r.stderr)
        hints, anchor = tree
        self.conf = write(os.path.join(wd, "resolver.yaml"), """
recursion:
  root-hints: {hints}
  trust-anchor: {anchor}
  qname-minimisation: true
rules:
  - name: corp
    domain: fwd.tree
    type: FORWARD
    targets: ["127.53.0.99:5399", "{fwd}:{fport}"]
  - name: corp-system
    domain: sys.fwd.tree.
    type: SYSTEM
views:
  - name: inside
    sources: [127.0.0.0/8]
    listen: ["{view}:{port}", "{view}:{tls}", "{view}:{doh}"]
    zones: [inside.p53]
  - name: lab
    sources: [127.0.0.0/8]
    listen: ["{lab}:{port}"]
    zones: [lab.p53]
    rules: []
""".format(hints=hints, anchor=anchor, fwd=dnstree.FWD_NS, fport=dnstree.FWD_PORT,
           view=VIEW_ADDR, lab=LAB_ADDR, port=PORT, tls=TLS_PORT, doh=DOH_PORT))
        # DNS over TLS on the view's address: a certificate made here.
        self.cert = os.path.join(wd, "tls.crt")
        self.key = os.path.join(wd, "tls.key")
        r = common.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
                        "/CN=resolver.test", "-keyout", self.key, "-out", self.cert])
        if r.returncode:
            raise RuntimeError("openssl: " + r.stderr)
        self.qlog = os.path.join(wd, "queries.jsonl")
        self.log = open(os.path.join(wd, "port53.log"), "w")
        self.args = [binary, "serve", "-s", self.snap, "-l", "%s:%d" % (VIEW_ADDR, PORT),
                     "-l", "%s:%d" % (AUTH_ADDR, PORT), "-l", "%s:%d" % (LAB_ADDR, PORT),
                     "--tls-listen", "%s:%d" % (VIEW_ADDR, TLS_PORT),
                     "--tls-listen", "%s:%d" % (AUTH_ADDR, TLS_PORT),
                     "--tls-cert", self.cert, "--tls-key", self.key,
                     "--doh-listen", "%s:%d" % (VIEW_ADDR, DOH_PORT),
                     "--doh-listen", "%s:%d" % (AUTH_ADDR, DOH_PORT),
                     "--resolver", self.conf,
                     "--firewall", self.fw, "--query-log", self.qlog, "--rrl-rate", "0",
                     "--control-socket", self.sock]
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT)
        ok = common.wait_for(lambda: self.proc.poll() is None and
                             ask("www.own.example.", where=AUTH_ADDR, rd=False,
                                 timeout=0.3) is not None, 15)
        if not ok:
            self.stop()
            raise RuntimeError("port53 did not come up: " + self.read_log())

    def read_log(self):
        with open(os.path.join(self.wd, "port53.log")) as f:
            return f.read()[-3000:]

    def stop(self):
        rc = common.stop(self.proc)
        self.log.close()
        return rc


def qlog_lines(path):
    try:
        with open(path) as f:
            return [json.loads(x) for x in f if x.strip()]
    except OSError:
        return []


def inner():
    binary = common.default_port53()
    with common.tempdir("p53res-") as wd:
        tree_dir = os.path.join(wd, "tree")
        tree = dnstree.Tree(tree_dir)
        try:
            ta = dnstree.build(tree_dir)
            tree.start()
        except Exception as e:  # a missing tool or a server that will not start
            tree.stop()
            print("FAIL - the test tree: %s" % e)
            return 1
        srv = None
        try:
            srv = Server(binary, wd, ta)
            run_cases(srv, tree)
        finally:
            if srv:
                rc = srv.stop()
                check(rc == 0, "port53 stopped cleanly", "rc=%s %s" % (rc, srv.read_log()))
            tree.stop()
    return check.finish()


def run_cases(srv, tree):
    # Split horizon: own.example is a private zone in both views, with
    # other data in each; the public one answers everyone else.
    r = ask("www.own.example.")
    check(r is not None and dnstree.addrs(r) == {"10.0.0.80"} and r.flags & dns.flags.AA,
          "split horizon: view inside gets its private own.example", r)
    r = ask("www.own.example.", where=LAB_ADDR)
    check(dnstree.addrs(r) == {"10.1.0.80"}, "split horizon: view lab gets its own", r)
    r = ask("www.own.example.", where=AUTH_ADDR)
    check(dnstree.addrs(r) == {"192.0.2.80"} and r.flags & dns.flags.AA,
          "split horizon: outside every view, the public zone", r)
    # A private zone only one view sees.
    r = ask("www.corp.internal.")
    check(dnstree.addrs(r) == {"10.0.0.5"} and r.flags & dns.flags.AA,
          "private zone visible in its view", r)
    r = ask("nope.corp.internal.")
    check(r is not None and r.rcode() == dns.rcode.NXDOMAIN and r.flags & dns.flags.AA,
          "a name missing from the private zone: NXDOMAIN from it", r)
    r = ask("www.corp.internal.", where=AUTH_ADDR)
    check(r is not None and r.rcode() == dns.rcode.REFUSED,
          "private zone invisible outside every view: REFUSED", r)
    r = ask("www.corp.internal.", where=LAB_ADDR)
    check(r is not None and r.rcode() == dns.rcode.NXDOMAIN and not dnstree.addrs(r) and
          not r.flags & dns.flags.AA,
          "private zone invisible to the other view: recursion says NXDOMAIN", r)

    # Recursion to a leaf of the signed tree, validated.
    r = ask("www.leaf.tree.", dnssec=True)
    check(r is not None and r.rcode() == dns.rcode.NOERROR and dnstree.addrs(r) == {"192.0.2.1"},
          "recursion to a leaf", r)
    check(r is not None and bool(r.flags & dns.flags.AD) and bool(r.flags & dns.flags.RA)
          and not r.flags & dns.flags.AA, "validated answer: AD and RA set, AA clear", r)
    check(r is not None and any(x.rdtype == dns.rdatatype.RRSIG for x in r.answer),
          "DO set: the RRSIG comes along", r)
    r = ask("www.leaf.tree.", "AAAA")
    check(r is not None and dnstree.addrs(r, "AAAA") == {"2001:db8::1"} and
          not any(x.rdtype == dns.rdatatype.RRSIG for x in r.answer) and
          not r.flags & dns.flags.AD, "DO clear: no RRSIG, no AD", r)
    r = ask("nope.leaf.tree.")
    check(r is not None and r.rcode() == dns.rcode.NXDOMAIN, "NXDOMAIN from the tree", r)

    # Bogus: SERVFAIL with an Extended DNS Error (RFC 8914: 6 DNSSEC Bogus
    # or a more precise DNSSEC code 7..12).
    r = ask("www.bogus.tree.")
    check(r is not None and r.rcode() == dns.rcode.SERVFAIL, "bogus signature: SERVFAIL", r)
    check(dnstree.ede(r) in (6, 7, 8, 9, 10, 12), "bogus signature: EDE DNSSEC code", dnstree.ede(r))

    # FORWARD with failover past a dead first target; SYSTEM beneath it.
    r = ask("www.fwd.tree.")
    check(dnstree.addrs(r) == {"192.0.2.100"}, "FORWARD rule: answer from the forwarder", r)
    r = ask("www.sys.fwd.tree.")
    check(dnstree.addrs(r) == {"192.0.2.2"}, "SYSTEM rule overrides the broader FORWARD", r)

    # The firewall on the resolved chain: go.leaf.tree is not listed, its
    # CNAME target is.
    r = ask("go.leaf.tree.")
    check(r is not None and r.rcode() == dns.rcode.NXDOMAIN and not dnstree.addrs(r),
          "firewall BLOCK through a CNAME in the resolved answer", r)
    check(dnstree.ede(r) == 15, "the block carries EDE 15 (Blocked)", dnstree.ede(r))
    r = ask("ok.leaf.tree.")
    check(dnstree.addrs(r) == {"192.0.2.1"}, "an unlisted chain is answered", r)

    # Outside every view, or RD clear: authoritative only.
    r = ask("www.leaf.tree.", where=AUTH_ADDR)
    check(r is not None and r.rcode() == dns.rcode.REFUSED,
          "listener outside every view: REFUSED", r)
    r = ask("www.leaf.tree.", rd=False)
    check(r is not None and r.rcode() == dns.rcode.REFUSED, "RD clear: REFUSED", r)

    # TCP: views, private zones and the resolver alike.
    r = ask("www.own.example.", tcp=True)
    check(dnstree.addrs(r) == {"10.0.0.80"}, "TCP: split horizon", r)
    r = ask("www.own.example.", where=AUTH_ADDR, tcp=True)
    check(dnstree.addrs(r) == {"192.0.2.80"}, "TCP: outside every view, the public zone", r)
    r = ask("ok.leaf.tree.", tcp=True, dnssec=True)
    check(dnstree.addrs(r) == {"192.0.2.1"} and r is not None and bool(r.flags & dns.flags.AD),
          "TCP: recursion through the resolver", r)
    r = ask("www.sys.fwd.tree.", "TXT", tcp=True)
    check(r is not None and r.rcode() == dns.rcode.NOERROR and not r.answer,
          "TCP: NODATA through recursion", r)
    r = ask("www.leaf.tree.", where=AUTH_ADDR, tcp=True)
    check(r is not None and r.rcode() == dns.rcode.REFUSED,
          "TCP: outside every view, REFUSED", r)

    # SIGHUP reloads the private zones; a broken one keeps the old serving.
    inside = os.path.join(srv.wd, "inside.p53")
    r = common.run([os.environ.get("PORT53", "port53"), "compile", "-o", inside + ".new",
                    "own.example.=" + write(os.path.join(srv.wd, "own2.zone"),
                                            "$ORIGIN own.example.\n"
                                            "@ 3600 IN SOA ns hm 8 1800 900 604800 300\n"
                                            "@ 3600 IN NS ns\nns 3600 IN A 10.0.0.53\n"
                                            "www 300 IN A 10.0.0.81\n")])
    os.rename(inside + ".new", inside)
    srv.proc.send_signal(signal.SIGHUP)
    check(common.wait_for(lambda: dnstree.addrs(ask("www.own.example.", timeout=0.5)) == {"10.0.0.81"},
                          10), "SIGHUP: the view's private zone reloaded")
    # Replaced by rename, as snapshots are (the live one is mapped).
    os.rename(write(inside + ".bad", "not a snapshot"), inside)
    srv.proc.send_signal(signal.SIGHUP)
    common.wait_for(lambda: "private zones not reloaded" in srv.read_log(), 10)
    check("private zones not reloaded" in srv.read_log() and
          dnstree.addrs(ask("www.own.example.")) == {"10.0.0.81"},
          "SIGHUP with a broken private snapshot: the old one serves", srv.read_log()[-300:])

    # DNS over TLS (RFC 7858) with kdig +tls, as a client would ask.
    def kdig(name, where, qtype="A"):
        r = common.run(["kdig", "@%s" % where, "-p", str(TLS_PORT), "+tls", "+short",
                        "+timeout=5", "+retry=0", name, qtype], timeout=30)
        return r.returncode, r.stdout.split()
    rc, out = kdig("www.leaf.tree.", VIEW_ADDR)
    check(rc == 0 and out == ["192.0.2.1"], "DoT (kdig +tls): recursion", (rc, out))
    rc, out = kdig("www.own.example.", VIEW_ADDR)
    check(rc == 0 and out == ["10.0.0.81"], "DoT: the view's private zone (as reloaded)",
          (rc, out))
    rc, out = kdig("www.own.example.", AUTH_ADDR)
    check(rc == 0 and out == ["192.0.2.80"], "DoT outside every view: the public zone",
          (rc, out))
    r = common.run(["kdig", "@%s" % AUTH_ADDR, "-p", str(TLS_PORT), "+tls", "+timeout=5",
                    "+retry=0", "www.leaf.tree.", "A"], timeout=30)
    check("status: REFUSED" in r.stdout, "DoT outside every view: REFUSED", r.stdout[-300:])

    # DNS over HTTPS (RFC 8484) with kdig +https (POST) and +https-get:
    # the same views and resolver path as DoT, the firewall included.
    def kdig_doh(name, where, mode="+https", qtype="A"):
        r = common.run(["kdig", "@%s" % where, "-p", str(DOH_PORT), mode, "+timeout=5",
                        "+retry=0", name, qtype], timeout=30)
        try:
            wire_text = r.stdout
            ans = [ln.split()[-1] for ln in wire_text.splitlines()
                   if ln and not ln.startswith(";") and len(ln.split()) >= 5 and
                   ln.split()[3] == qtype]
        except IndexError:
            ans = []
        return r.stdout, ans
    for mode in ("+https", "+https-get"):
        out, ans = kdig_doh("www.leaf.tree.", VIEW_ADDR, mode)
        check("status: 200" in out and "status: NOERROR" in out and ans == ["192.0.2.1"] and
              " ra" in out and " aa" not in out.split("Flags:")[1].split(";")[0],
              "DoH (kdig %s): recursion to a leaf" % mode, out[-500:])
    out, ans = kdig_doh("www.own.example.", VIEW_ADDR)
    check(ans == ["10.0.0.81"], "DoH: the view's private zone", out[-400:])
    out, ans = kdig_doh("www.fwd.tree.", VIEW_ADDR, "+https-get")
    check(ans == ["192.0.2.100"], "DoH: a FORWARD rule's answer", out[-400:])
    out, ans = kdig_doh("go.leaf.tree.", VIEW_ADDR)
    check("status: NXDOMAIN" in out and "EDE: 15" in out and not ans,
          "DoH: firewall BLOCK reached through the resolved CNAME (EDE 15)", out[-500:])
    out, ans = kdig_doh("www.own.example.", AUTH_ADDR)
    check(ans == ["192.0.2.80"], "DoH outside every view: the public zone", out[-400:])
    out, ans = kdig_doh("www.leaf.tree.", AUTH_ADDR)
    check("status: 200" in out and "status: REFUSED" in out,
          "DoH outside every view: REFUSED", out[-400:])

    # Cache: the tree's servers stop; cached names still answer.
    before = metric(srv, "cache_hit")
    tree.stop_authorities()
    r = ask("www.leaf.tree.", dnssec=True)
    check(dnstree.addrs(r) == {"192.0.2.1"} and r is not None and bool(r.flags & dns.flags.AD),
          "cache hit with every authority stopped", r)
    r = ask("www.fwd.tree.")
    check(dnstree.addrs(r) == {"192.0.2.100"}, "forwarded answer cached", r)
    after = metric(srv, "cache_hit")
    check(before is not None and after is not None and after >= before + 2,
          "cache hits counted in the metrics", (before, after))

    # Query log: the resolver's fields (the drain runs every 50 ms).
    def logged():
        lines = qlog_lines(srv.qlog)
        return [x for x in lines if "resolver" in x]
    common.wait_for(lambda: len(logged()) >= 10, 5)
    res = logged()
    fwd = [x for x in res if x["query_name"] == "www.fwd.tree."]
    check(any(x["resolver"]["rule"] == "corp" and
              x["resolver"]["upstream"] == "%s@%d" % (dnstree.FWD_NS, dnstree.FWD_PORT)
              for x in fwd), "log: rule and upstream of the forwarded query", fwd)
    check(any(x["resolver"]["cache_hit"] for x in fwd), "log: cache hit", fwd)
    blk = [x for x in res if x["query_name"] == "go.leaf.tree."]
    check(any(x["resolver"]["firewall_action"] == "BLOCK_NXDOMAIN" and
              x["resolver"]["firewall_chain"] for x in blk), "log: firewall action on chain", blk)
    check(all(x["resolver"]["view"] == "inside" for x in res
              if x["query_name"] != "www.corp.internal."), "log: the view", res[:2])
    check(any(x["resolver"]["view"] == "lab" for x in res
              if x["query_name"] == "www.corp.internal."), "log: the other view", res[:2])
    sec = [x for x in res if x["query_name"] == "www.leaf.tree."]
    check(any(x["resolver"]["dnssec"] == "secure" for x in sec), "log: DNSSEC state", sec)


def main():
    if "--inner" in sys.argv:
        return inner()
    for tool in ("nsd", "knotd", "ldns-keygen", "ldns-signzone", "ip"):
        if not any(os.access(os.path.join(p, tool), os.X_OK)
                   for p in os.environ.get("PATH", "/usr/sbin:/usr/bin").split(":") +
                   ["/usr/sbin", "/sbin"]):
            print("FAIL - %s is missing (tools/install-deps.sh installs it)" % tool)
            return 1
    return dnstree.in_netns(["/usr/bin/python3", os.path.abspath(__file__), "--inner"])


if __name__ == "__main__":
    sys.exit(main())
