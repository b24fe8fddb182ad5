#!/usr/bin/python3
"""Route 53's TCP-connect deadlines of health checks, seen through answers.

Route 53 (route53-semantics.md section 3) gives an HTTP check 4 s to
connect, then 2 s for the status (test_r53_health.py covers the status);
a TCP check 10 s to connect. Here `port53 serve` runs in one network
namespace of a pair this test creates (veth, addresses inside the
namespaces only) and the endpoints in the other, where nftables holds back
the SYNs of some ports: the kernel's own SYN retransmissions (1 s, 3 s,
7 s) then connect after ~3 s on port 8081 and ~7 s on port 8083, and
never on port 8082. Expected, per failover record read with dnspython:

- TCP check: ~3 s and ~7 s pass (within 10 s), dropped SYN fails;
- HTTP check: ~3 s passes, ~7 s and dropped SYN fail (over 4 s);
- the last result (`port53ctl --json health`) names the connect deadline.

The handshake delays themselves are measured first with plain sockets, so
a fixture that delays nothing fails the test instead of passing it.
Needs root (ip netns) and nft; exits 77 without them. Namespaces and
processes are removed in all cases; every wait is bounded.
"""
import ctypes
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

check = common.Checks("r53-health-connect")
PORT53 = common.default_port53()
PORT53CTL = os.path.join(os.path.dirname(PORT53), "port53ctl")
NS_CHECKER = "p53hcA%d" % os.getpid()
NS_TARGET = "p53hcB%d" % os.getpid()
CHECKER, TARGET = "10.53.7.1", "10.53.7.2"
NOW, SLOW3, DROP, SLOW7 = 8080, 8081, 8082, 8083
CLONE_NEWNET = 0x40000000

# SYN only (ACK clear): the first SYN of a connection (source address and
# port) is dropped and starts a hold; every retransmission inside the hold
# is dropped too, the first one after it goes through.
NFT = """table inet p53hc {
	set seen { type ipv4_addr . inet_service; flags dynamic,timeout; timeout 60s; }
	set hold3 { type ipv4_addr . inet_service; flags dynamic,timeout; timeout 2500ms; }
	set hold7 { type ipv4_addr . inet_service; flags dynamic,timeout; timeout 6500ms; }
	chain input {
		type filter hook input priority 0; policy accept;
		tcp dport %(drop)d tcp flags & (syn|ack) == syn drop
		tcp dport %(s3)d tcp flags & (syn|ack) == syn ip saddr . tcp sport @hold3 drop
		tcp dport %(s3)d tcp flags & (syn|ack) == syn ip saddr . tcp sport != @seen \
add @seen { ip saddr . tcp sport } add @hold3 { ip saddr . tcp sport } drop
		tcp dport %(s7)d tcp flags & (syn|ack) == syn ip saddr . tcp sport @hold7 drop
		tcp dport %(s7)d tcp flags & (syn|ack) == syn ip saddr . tcp sport != @seen \
add @seen { ip saddr . tcp sport } add @hold7 { ip saddr . tcp sport } drop
	}
}
""" % {"drop": DROP, "s3": SLOW3, "s7": SLOW7}

# The endpoints: 200 at once on every port.
TARGET_SERVER = """
import http.server, sys, threading
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a):
        pass
for p in sys.argv[2:]:
    s = http.server.ThreadingHTTPServer((sys.argv[1], int(p)), H)
    threading.Thread(target=s.serve_forever, daemon=True).start()
print("up", flush=True)
sys.stdin.read()
"""


def sh(*args, timeout=30):
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(args), r.stderr))
    return r


def enter_netns(name):
    """Moves this (still single-threaded) process into a namespace, so that
    port53, port53ctl and dnspython all run in it. Python 3.11 has no
    os.setns."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open("/run/netns/" + name, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns " + name)
    finally:
        os.close(fd)


def connect_time(port, limit):
    """Seconds a plain TCP connect to the target took, or None if it did
    not connect within limit."""
    s = socket.socket()
    s.settimeout(limit)
    t0 = time.monotonic()
    try:
        s.connect((TARGET, port))
        return time.monotonic() - t0
    except OSError:
        return None
    finally:
        s.close()


def health(sock):
    r = common.run([PORT53CTL, "-s", sock, "--json", "health"])
    if r.returncode != 0:
        return {}
    return {c["id"]: c for c in json.loads(r.stdout).get("checks", [])}


# (check id, type, port, passes, what its last result must say)
CASES = [
    ("tcp-now", "TCP", NOW, True, "pass: connected"),
    ("tcp-3s", "TCP", SLOW3, True, "pass: connected"),
    ("tcp-7s", "TCP", SLOW7, True, "pass: connected"),
    ("tcp-drop", "TCP", DROP, False, "fail: no TCP connection within 10 s"),
    ("http-now", "HTTP", NOW, True, "pass: HTTP 200"),
    ("http-3s", "HTTP", SLOW3, True, "pass: HTTP 200"),
    ("http-7s", "HTTP", SLOW7, False, "fail: no TCP connection within 4 s"),
    ("http-drop", "HTTP", DROP, False, "fail: no TCP connection within 4 s"),
]


def setup():
    sh("ip", "netns", "add", NS_CHECKER)
    sh("ip", "netns", "add", NS_TARGET)
    sh("ip", "link", "add", "p53hca", "netns", NS_CHECKER, "type", "veth",
       "peer", "name", "p53hcb", "netns", NS_TARGET)
    sh("ip", "-n", NS_CHECKER, "addr", "add", CHECKER + "/24", "dev", "p53hca")
    sh("ip", "-n", NS_TARGET, "addr", "add", TARGET + "/24", "dev", "p53hcb")
    for ns, dev in ((NS_CHECKER, "p53hca"), (NS_TARGET, "p53hcb")):
        sh("ip", "-n", ns, "link", "set", dev, "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")
    r = subprocess.run(["ip", "netns", "exec", NS_TARGET, "nft", "-f", "-"], input=NFT,
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise RuntimeError("nft: " + r.stderr)


def run(tmp):
    target = subprocess.Popen(
        ["ip", "netns", "exec", NS_TARGET, "/usr/bin/python3", "-c", TARGET_SERVER, TARGET]
        + [str(p) for p in (NOW, SLOW3, DROP, SLOW7)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    srv = None
    try:
        up = target.stdout.readline().strip() == "up"
        check(up and common.wait_for(lambda: connect_time(NOW, 0.5) is not None, 10),
              "endpoints up in the target namespace")
        # The fixture itself, by plain sockets, in parallel with the checks.
        measured = {}

        def measure(port, limit):
            measured[port] = connect_time(port, limit)
        threads = [threading.Thread(target=measure, args=a)
                   for a in ((SLOW3, 6), (SLOW7, 10), (DROP, 5))]

        checks = {"HealthChecks": [
            {"Id": cid, "CallerReference": "ref-" + cid, "HealthCheckVersion": 1,
             "HealthCheckConfig": {"Type": typ, "IPAddress": TARGET, "Port": port,
                                   **({"ResourcePath": "/"} if typ == "HTTP" else {}),
                                   "RequestInterval": 10, "FailureThreshold": 1}}
            for cid, typ, port, _, _ in CASES]}
        cpath = os.path.join(tmp, "checks.json")
        with open(cpath, "w") as f:
            json.dump(checks, f)
        sets = [
            {"Name": "example.com.", "Type": "SOA", "TTL": 900, "ResourceRecords": [
                {"Value": "ns.example.com. h.example.com. 1 7200 900 1209600 86400"}]},
            {"Name": "example.com.", "Type": "NS", "TTL": 900,
             "ResourceRecords": [{"Value": "ns.example.com."}]},
        ]
        for i, (cid, _, _, _, _) in enumerate(CASES):
            sets += common.r53_failover(cid + ".example.com.", cid, "192.0.2.%d" % (i + 1),
                             "198.51.100.%d" % (i + 1))
        zpath = os.path.join(tmp, "zone.json")
        with open(zpath, "w") as f:
            json.dump({"ResourceRecordSets": sets}, f)
        snap = os.path.join(tmp, "z.p53")
        r = common.run([PORT53, "compile", "-o", snap, "--health-checks", cpath,
                        "example.com=" + zpath])
        if not check(r.returncode == 0, "compile with --health-checks", r.stderr):
            return
        sock = os.path.join(tmp, "ctl.sock")
        srv = common.Port53(PORT53, None, tmp,
                            extra=["--health-checks", cpath, "--control-socket", sock])
        srv.snapshot = snap
        for t in threads:
            t.start()
        srv.start()
        # The slowest first result is the TCP check on the dropped port:
        # 10 s after it starts.
        done = common.wait_for(
            lambda: (lambda h: len(h) == len(CASES) and all(
                c["last_result"] != "no data yet" for c in h.values()) and h)(health(sock)),
            20, 0.2)
        for t in threads:
            t.join(12)
        t3, t7, td = measured.get(SLOW3), measured.get(SLOW7), measured.get(DROP)
        check(t3 is not None and 2.5 <= t3 < 4, "fixture: handshake on :%d takes ~3 s" % SLOW3,
              t3)
        check(t7 is not None and 6 <= t7 < 10, "fixture: handshake on :%d takes ~7 s" % SLOW7,
              t7)
        check(td is None, "fixture: no handshake on :%d" % DROP, td)
        check(bool(done), "every check has a first result", done)
        done = done or {}
        for i, (cid, typ, port, passes, last) in enumerate(CASES):
            want = ["192.0.2.%d" % (i + 1)] if passes else ["198.51.100.%d" % (i + 1)]
            got = common.addresses(srv.port, cid + ".example.com")
            check(got == want, "%s check on :%d %s -> %s" % (
                typ, port, "passes" if passes else "fails", want), got)
            res = done.get(cid, {}).get("last_result")
            check(res == last, "%s last result" % cid, res)
        check(srv.alive(), "server still running")
    finally:
        if srv is not None:
            srv.stop()
        target.stdin.close()
        common.stop(target)


def main():
    if os.geteuid() != 0:
        print("skip: needs root for ip netns")
        return 77
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            print("skip: %s not installed" % tool)
            return 77
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    try:
        with common.tempdir("p53hcconn-") as tmp:
            try:
                setup()
                enter_netns(NS_CHECKER)
                run(tmp)
            finally:
                libc = ctypes.CDLL(None, use_errno=True)
                libc.setns(home, CLONE_NEWNET)
                for ns in (NS_CHECKER, NS_TARGET):
                    subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)
    finally:
        os.close(home)
    return check.finish()


if __name__ == "__main__":
    sys.exit(main())
