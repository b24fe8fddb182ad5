#!/usr/bin/python3
"""Route 53 routing policies and health-driven failover on the DPDK data plane.

port53d serves the Route 53 JSON test zone (tests/e2e/r53/example.json, with
tests/e2e/r53/geo.csv) on a net_tap port in its own namespace, with health
checks from a file: the failover primary's check reads a status file (the
stand-in for a metric alarm), so the test flips it without any network. A
client in the namespace asks the DPDK worker: geolocation by EDNS Client
Subnet (with the scope echoed), weighted shares, multivalue, failover to the
secondary when the status file says ALARM and back on OK, alias to the
failover group; `port53ctl health` shows the check.

Needs root and a build with port53d, port53 and port53ctl:
    sudo /usr/bin/python3 tests/e2e/test_dp_r53.py [BUILD_DIR]
"""

import json
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dns.edns  # noqa: E402
import dns.message  # noqa: E402
import dns.rdatatype  # noqa: E402
import dpnet  # noqa: E402
from dpnet import run  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PID = os.getpid()
NS = "p53r-%d" % PID
TAP = "pxr%d" % (PID % 100000)
SVC, CLI = "192.0.2.53", "192.0.2.10"


class Client:
    """UDP queries to the worker from inside the namespace."""

    def __init__(self):
        with dpnet.InNetns(NS):
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(1.0)

    def ask(self, name, subnet=None):
        opts = [dns.edns.ECSOption(subnet[0], subnet[1])] if subnet else []
        q = dns.message.make_query(name, "A", use_edns=0, options=opts)
        for _ in range(3):
            try:
                self.sock.sendto(q.to_wire(), (SVC, 53))
                m = dns.message.from_wire(self.sock.recv(4096))
            except (socket.timeout, dns.exception.DNSException):
                continue
            if m.id != q.id:
                continue
            ips = sorted(r.address for rr in m.answer for r in rr if rr.rdtype == dns.rdatatype.A)
            scope = next((o.scopelen for o in m.options if isinstance(o, dns.edns.ECSOption)), None)
            return ips, scope
        return None, None


def main():
    return dpnet.run_dp_test("p53-dpr53-", body)


def body(res, cleanup, work, tools):
    dpnet.netns_add(cleanup, NS)
    status = os.path.join(work, "primary.status")
    with open(status, "w") as f:
        f.write("OK\n")
    checks = {"HealthChecks": [
        {"Id": "hc-primary", "HealthCheckConfig": {
            "Type": "CLOUDWATCH_METRIC", "StatusFile": status,
            "RequestInterval": 10, "FailureThreshold": 1}},
        {"Id": "hc-mv3", "HealthCheckConfig": {
            "Type": "CLOUDWATCH_METRIC", "StatusFile": os.path.join(work, "mv3.status"),
            "RequestInterval": 10, "FailureThreshold": 1,
            "InsufficientDataHealthStatus": "Unhealthy"}}]}
    checks_path = os.path.join(work, "checks.json")
    with open(checks_path, "w") as f:
        json.dump(checks, f)
    snap = os.path.join(work, "r53.p53")
    run([tools["port53"], "compile", "-o", snap, "--geo", os.path.join(HERE, "r53", "geo.csv"),
         "example.com=" + os.path.join(HERE, "r53", "example.json")])
    ctl_sock = os.path.join(work, "ctl.sock")
    eal = os.environ.get("P53_EAL", "--no-huge -m 512 --no-pci -l 0").split()
    cmd = [tools["port53d"]] + eal + [
        "--file-prefix", "p53r%d" % PID, "--vdev", "net_tap0,iface=%s" % TAP,
        "--", "--snapshot", snap, "--addr", SVC, "--control-socket", ctl_sock,
        "--health-checks", checks_path, "--rrl-rate", "0"]
    cleanup.push(dpnet.rm_eal_runtime, "p53r%d" % PID)
    d = dpnet.Proc(cleanup, cmd, os.path.join(work, "port53d.log"), ns=NS)
    up = dpnet.wait_for(lambda: not d.alive() or (os.path.exists(ctl_sock) and run(
        ["ip", "link", "show", TAP], ns=NS, check=False).returncode == 0), 30)
    if not res.check("port53d up with health checks", d.alive() and up, d.tail()):
        return
    dpnet.addr_add(NS, TAP, CLI + "/24")
    run(["ip", "link", "set", TAP, "up"], ns=NS)
    c = Client()
    dpnet.wait_for(lambda: c.ask("simple.example.com")[0], 10)

    for subnet, want, scope in ((("10.1.2.0", 24), ["192.0.2.31"], 16),
                                (("10.3.2.0", 24), ["192.0.2.33"], 16),
                                (("192.168.1.0", 24), ["192.0.2.34"], 24)):
        ips, sc = c.ask("geo.example.com", subnet)
        res.check("geolocation for %s/%d answered by the worker" % subnet,
                  ips == want and sc == scope, "%s scope %s" % (ips, sc))
    seen = {}
    for _ in range(300):
        for ip in c.ask("www.example.com")[0] or []:
            seen[ip] = seen.get(ip, 0) + 1
    res.check("weighted 70/30/0 on the worker", "192.0.2.12" not in seen and
              150 < seen.get("192.0.2.10", 0) < 270, repr(seen))
    # mv3 turns unhealthy once its first check has run.
    res.check("multivalue serves healthy records only",
              dpnet.wait_for(lambda: c.ask("mv.example.com")[0] == ["192.0.2.61", "192.0.2.62"],
                             10), repr(c.ask("mv.example.com")))

    res.check("failover: primary while its check is OK",
              c.ask("fo.example.com")[0] == ["192.0.2.20"], repr(c.ask("fo.example.com")))
    with open(status, "w") as f:
        f.write("ALARM\n")
    t0 = time.time()
    flipped = dpnet.wait_for(lambda: c.ask("fo.example.com")[0] == ["192.0.2.21"], 15, step=0.2)
    print("failover to the secondary after %.1f s" % (time.time() - t0))
    res.check("failover: secondary once the check says ALARM", flipped, d.tail())
    res.check("alias to the failover group follows it",
              c.ask("alias.example.com")[0] == ["192.0.2.21"], repr(c.ask("alias.example.com")))
    r = subprocess.run([tools["port53ctl"], "-s", ctl_sock, "health"], capture_output=True,
                       text=True, timeout=30)
    res.check("port53ctl health shows the failing check", r.returncode == 0 and
              "hc-primary" in r.stdout and "unhealthy" in r.stdout.lower(), r.stdout + r.stderr)
    with open(status, "w") as f:
        f.write("OK\n")
    back = dpnet.wait_for(lambda: c.ask("fo.example.com")[0] == ["192.0.2.20"], 15, step=0.2)
    res.check("failover: back to the primary on OK", back, d.tail())
    rc = d.stop()
    res.check("port53d exits 0 on SIGTERM", rc == 0, "rc=%s\n%s" % (rc, d.tail()))


if __name__ == "__main__":
    sys.exit(main())
