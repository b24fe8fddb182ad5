#!/usr/bin/python3
"""Snapshot hot swap under load on the DPDK data plane.

port53d serves example.com on a net_tap port in its own namespace; a client
in that namespace keeps querying the DPDK worker while this test pushes 50
snapshots through the control API (port53ctl push over the unix socket).
Snapshot i has SOA serial 1000+i and www.example.com A 10.1.0.i and
10.2.0.i, so every answer names the snapshot it came from, and an answer
that mixed two snapshots would show two different i.

A DNS Firewall runs on the workers too: blocked.example.com is blocked
(NXDOMAIN) by the first rules file; midway through the pushes the rules file
is replaced (blocking other.example.com instead) and reloaded through the
API, so the list changes under the same load. Per-rule hits must show in
`port53ctl firewall`, and DPDK telemetry must report the counters.

Checks: every answer is well-formed and from exactly one pushed snapshot;
no answer is older than a push that had completed before the query was sent;
no query goes unanswered beyond a small allowance for the test's own
traffic; a corrupt snapshot is refused while answers continue; port53d exits
0 on SIGTERM. Prints sent/answered/wrong/stale and the swap latencies the
control API reports.

Needs root and a build with port53d, port53 and port53ctl:
    sudo /usr/bin/python3 tests/e2e/test_dp_swap.py [BUILD_DIR]
"""

import json
import os
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dns.message  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdatatype  # noqa: E402
import dpnet  # noqa: E402
from dpnet import run  # noqa: E402

PID = os.getpid()
NS = "p53s-%d" % PID
TAP = "pxs%d" % (PID % 100000)
SVC, CLI = "192.0.2.53", "192.0.2.10"
PUSHES = 50
MAX_QUERIES = 200000  # the load stops by itself even if pushing hangs
MAX_SECONDS = 120

ZONE = """$ORIGIN example.com.
$TTL 300
@ SOA ns1 hostmaster {serial} 7200 900 1209600 60
@ NS ns1
ns1 A 192.0.2.1
www A 10.1.0.{i}
www A 10.2.0.{i}
blocked A 192.0.2.66
other A 192.0.2.67
"""

RULES = """{{"rule_groups": [{{"name": "g", "priority": 1, "rules": [
  {{"name": "{name}", "priority": 1, "action": "BLOCK", "block_response": "NXDOMAIN",
    "domains": ["{domain}"]}}]}}]}}"""


def compile_fw(port53, work, name, domain, out):
    rules = os.path.join(work, name + ".json")
    with open(rules, "w") as f:
        f.write(RULES.format(name=name, domain=domain))
    tmp = out + ".tmp"
    run([port53, "fw-compile", "-o", tmp, rules])
    os.replace(tmp, out)


def telemetry(prefix, cmd):
    """One command over DPDK's telemetry socket; the decoded JSON or None."""
    for base in ("/var/run/dpdk", "/run/dpdk"):
        path = os.path.join(base, prefix, "dpdk_telemetry.v2")
        if not os.path.exists(path):
            continue
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as t:
            t.settimeout(5)
            t.connect(path)
            t.recv(16384)  # the greeting
            t.send(cmd.encode())
            return json.loads(t.recv(65536).decode())
    return None


def compile_snap(port53, work, i):
    zf = os.path.join(work, "z%d.zone" % i)
    with open(zf, "w") as f:
        f.write(ZONE.format(serial=1000 + i, i=i))
    out = os.path.join(work, "s%d.p53" % i)
    run([port53, "compile", "--serial", str(1000 + i), "-o", out, "example.com=" + zf])
    return out


class Load:
    """Sequential UDP queries from inside the namespace; records for each
    answer the snapshot number it names and when the query was sent."""

    def __init__(self):
        with dpnet.InNetns(NS):
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(0.5)
        self.stop = False
        self.sent = self.answered = self.wrong = 0
        self.seen = []  # (send time, snapshot i)
        self.errors = []

    def classify(self, wire, qid, kind):
        m = dns.message.from_wire(wire)
        if m.id != qid:
            return None
        if kind == "A":
            addrs = sorted(r.address for rr in m.answer for r in rr if rr.rdtype == dns.rdatatype.A)
            if m.rcode() != 0 or len(addrs) != 2:
                raise ValueError("bad A answer %s" % addrs)
            ids = {a.split(".")[3] for a in addrs}
            if len(ids) != 1 or not addrs[0].startswith("10.1.0.") or not addrs[1].startswith("10.2.0."):
                raise ValueError("mixed answer %s" % addrs)
            return int(ids.pop())
        soa = [r for rr in m.authority for r in rr if rr.rdtype == dns.rdatatype.SOA]
        if m.rcode() != dns.rcode.NXDOMAIN or len(soa) != 1:
            raise ValueError("bad NXDOMAIN answer")
        return soa[0].serial - 1000

    def run(self):
        n = 0
        while not self.stop and n < MAX_QUERIES:
            kind = "A" if n % 2 == 0 else "NX"
            q = dns.message.make_query("www.example.com." if kind == "A" else
                                       "nope%d.example.com." % n, "A")
            t = time.monotonic()
            n += 1
            self.sent += 1
            try:
                self.sock.sendto(q.to_wire(), (SVC, 53))
                while True:
                    wire = self.sock.recv(4096)
                    i = self.classify(wire, q.id, kind)
                    if i is not None:
                        break
            except socket.timeout:
                continue
            except Exception as e:  # malformed or mixed: count and go on
                self.wrong += 1
                self.errors.append(str(e))
                continue
            self.answered += 1
            self.seen.append((t, i))


def main():
    return dpnet.run_dp_test("p53-swap-", body)


def body(res, cleanup, work, tools):
    dpnet.netns_add(cleanup, NS)
    snaps = [compile_snap(tools["port53"], work, i) for i in range(PUSHES + 1)]
    fw = os.path.join(work, "rules.p53fw")
    compile_fw(tools["port53"], work, "block-first", "blocked.example.com", fw)
    ctl_sock = os.path.join(work, "ctl.sock")
    qlog_path = os.path.join(work, "queries.jsonl")
    watch = os.path.join(work, "watch")
    os.mkdir(watch)
    eal = os.environ.get("P53_EAL", "--no-huge -m 512 --no-pci -l 0").split()
    cmd = [tools["port53d"]] + eal + [
        "--file-prefix", "p53s%d" % PID, "--vdev", "net_tap0,iface=%s" % TAP,
        "--", "--snapshot", snaps[0], "--addr", SVC, "--control-socket", ctl_sock,
        "--firewall", fw, "--query-log", qlog_path, "--watch-dir", watch,
        "--reload-dir", work, "--rrl-rate", "0"]
    cleanup.push(dpnet.rm_eal_runtime, "p53s%d" % PID)
    d = dpnet.Proc(cleanup, cmd, os.path.join(work, "port53d.log"), ns=NS)
    up = dpnet.wait_for(lambda: not d.alive() or (os.path.exists(ctl_sock) and run(
        ["ip", "link", "show", TAP], ns=NS, check=False).returncode == 0), 30)
    if not res.check("port53d up with its control socket", d.alive() and up, d.tail()):
        return
    dpnet.addr_add(NS, TAP, CLI + "/24")
    run(["ip", "link", "set", TAP, "up"], ns=NS)
    first = dpnet.dns_query(NS, SVC, "www.example.com.", "A", timeout=2, tries=5)
    res.check("DPDK worker answers before the pushes", first is not None and first.answer,
              d.tail())
    m = dpnet.dns_query(NS, SVC, "blocked.example.com.", "A", timeout=2)
    res.check("firewall on the workers blocks blocked.example.com (NXDOMAIN)",
              m is not None and m.rcode() == dns.rcode.NXDOMAIN, repr(m))

    def ctl(*args):
        return subprocess.run([tools["port53ctl"], "-s", ctl_sock] + list(args),
                              capture_output=True, text=True, timeout=30)

    # Node health (docs/anycast.md): each DPDK worker's poll loop is seen moving.
    r = ctl("node", "--json")
    try:
        w = json.loads(r.stdout)["checks"]["workers"]
    except (ValueError, KeyError, TypeError):
        w = {}
    res.check("GET /v1/node: healthy, every DPDK worker's loop moving",
              r.returncode == 0 and w.get("of", 0) >= 1 and w.get("answering") == w.get("of"),
              r.stdout + r.stderr)

    load = Load()
    th = threading.Thread(target=load.run)
    th.start()
    done = []  # (completion time, i) of each push
    failed = 0
    try:
        # The pushes start once the load is being answered.
        res.check("load answered before the pushes",
                  dpnet.wait_for(lambda: load.answered > 0, 10))
        for i in range(1, PUSHES + 1):
            if i == PUSHES // 2:
                # Replace the block list under load: reloading the live
                # snapshot rebuilds what is loaded with it, the firewall too.
                compile_fw(tools["port53"], work, "block-second", "other.example.com", fw)
                r = ctl("reload", snaps[i - 1])
                res.check("firewall list replaced through the API", r.returncode == 0,
                          r.stdout + r.stderr)
            r = ctl("push", snaps[i])
            if r.returncode != 0:
                failed += 1
                print("push %d failed: %s%s" % (i, r.stdout, r.stderr))
            else:
                done.append((time.monotonic(), i))
            time.sleep(0.02)
        # A corrupt snapshot is refused while the last one keeps serving.
        bad = os.path.join(work, "bad.p53")
        with open(snaps[-1], "rb") as f:
            data = bytearray(f.read())
        data[len(data) // 2] ^= 0xff
        with open(bad, "wb") as f:
            f.write(bytes(data))
        r = ctl("push", bad)
        out = r.stdout + r.stderr
        res.check("corrupt snapshot refused", r.returncode == 1 and
                  ("checksum" in out or "padding" in out),
                  r.stdout + r.stderr)
        # ... and answers go on after the refusal.
        after_bad = load.answered
        res.check("answers go on after the refused push",
                  dpnet.wait_for(lambda: load.answered >= after_bad + 20, 10))
    finally:
        load.stop = True
        th.join(30)
    res.check("all %d pushes accepted" % PUSHES, failed == 0, "%d failed" % failed)

    # Staleness: a query sent after push i completed must see i or later.
    stale = 0
    k, latest = 0, 0
    for t, i in load.seen:
        while k < len(done) and done[k][0] <= t:
            latest = done[k][1]
            k += 1
        if i < latest:
            stale += 1
    late = [i for _, i in load.seen[-20:]]
    print("swap under load: sent %d, answered %d, wrong %d, stale %d, unanswered %d" %
          (load.sent, load.answered, load.wrong, stale, load.sent - load.answered - load.wrong))
    res.check("no wrong or mixed answers", load.wrong == 0, "; ".join(load.errors[:5]))
    res.check("no stale answers", stale == 0, "%d stale" % stale)
    res.check("answers kept coming during the pushes", load.answered >= 0.98 * load.sent,
              "%d of %d" % (load.answered, load.sent))
    res.check("the last snapshot serves after the refused one", late and all(i == PUSHES for i in late),
              repr(late))

    m1 = dpnet.dns_query(NS, SVC, "blocked.example.com.", "A", timeout=2)
    m2 = dpnet.dns_query(NS, SVC, "other.example.com.", "A", timeout=2)
    res.check("after the list change: blocked.example.com answers, other.example.com is blocked",
              m1 is not None and m1.rcode() == 0 and m2 is not None and
              m2.rcode() == dns.rcode.NXDOMAIN, "%r %r" % (m1, m2))
    # A snapshot renamed into the watched directory is loaded like a push.
    extra = compile_snap(tools["port53"], work, PUSHES + 1)
    os.replace(extra, os.path.join(watch, "next.p53"))
    seen = dpnet.wait_for(lambda: (lambda m: m is not None and any(
        r.address == "10.1.0.%d" % (PUSHES + 1) for rr in m.answer for r in rr))(
        dpnet.dns_query(NS, SVC, "www.example.com.", "A", timeout=1, tries=1)), 5)
    res.check("snapshot dropped into --watch-dir serves", bool(seen), d.tail())
    r = ctl("firewall")
    res.check("port53ctl firewall shows the rule's hits", "g/block-second" in r.stdout and
              r.returncode == 0, r.stdout + r.stderr)
    tel = telemetry("p53s%d" % PID, "/port53/stats")
    st = (tel or {}).get("/port53/stats") or {}
    res.check("DPDK telemetry /port53/stats counts the answers",
              st.get("answered", 0) >= load.answered, repr(tel)[:300])
    r = ctl("--json", "status")
    try:
        st = json.loads(r.stdout)
        print("control API status: %s" % json.dumps(st, sort_keys=True)[:600])
        res.check("status reports the last serial", st.get("serial") == 1000 + PUSHES + 1,
                  r.stdout[:300])
    except ValueError:
        res.check("status is JSON", False, r.stdout + r.stderr)
    rc = d.stop()
    res.check("port53d exits 0 on SIGTERM", rc == 0, "rc=%s\n%s" % (rc, d.tail()))
    # The query log: drained from the workers' rings by the control side.
    try:
        with open(qlog_path) as f:
            recs = [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError) as e:
        recs = []
        print("query log unreadable: %s" % e)
    www = [r for r in recs if r.get("query_name", r.get("qname", "")).rstrip(".") == "www.example.com"]
    blocked = [r for r in recs if r.get("query_name", "").rstrip(".") == "blocked.example.com"]
    res.check("query log names the firewall rule of a blocked query",
              blocked and blocked[0].get("firewall_rule") is not None, repr(blocked[:1]))
    res.check("query log holds the workers' queries (%d records for %d answers)" %
              (len(recs), load.answered), len(recs) >= 0.9 * load.answered and www,
              repr(recs[:2]))


if __name__ == "__main__":
    sys.exit(main())
