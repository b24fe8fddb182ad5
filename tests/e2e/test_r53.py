#!/usr/bin/python3
"""Route 53 routing policies end to end: a JSON zone with every policy,
compiled with a CSV geo database and served by `port53 serve`, queried with
dnspython using ECS from different subnets; a failover flip driven by a
local HTTP server's health; export round trip (JSON -> snapshot -> JSON).

Loopback only; every wait is bounded; the server is always stopped.
"""
import http.server
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

import dns.edns
import dns.message
import dns.query
import http.client

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402

PORT53 = os.environ.get("PORT53", "port53")
PORT53CTL = os.environ.get("PORT53CTL", "port53ctl")


check = common.Checks("test_r53")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def ask(port, name, subnet=None):
    opts = [dns.edns.ECSOption(*subnet)] if subnet else []
    q = dns.message.make_query(name, "A", use_edns=0, options=opts)
    r = dns.query.udp(q, "127.0.0.1", port=port, timeout=2)
    ips = sorted(rd.address for rr in r.answer for rd in rr if rr.rdtype == 1)
    scope = None
    for o in r.options:
        if isinstance(o, dns.edns.ECSOption):
            scope = o.scopelen
    return ips, scope


class Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):
        self.send_response(Health.status)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *a):
        pass



def api(sock, method, path, body=None):
    c = common.UnixHTTPConnection(sock, timeout=5)
    c.request(method, path, body=json.dumps(body) if isinstance(body, dict) else body,
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, json.loads(data)


def ctl(sock, *args):
    return subprocess.run([PORT53CTL, "-s", sock] + list(args), capture_output=True, text=True,
                          timeout=10)


def wait_answer(port, name, want, limit):
    t0 = time.time()
    while time.time() - t0 < limit and ask(port, name)[0] != want:
        time.sleep(0.1)
    return ask(port, name)[0] == want, time.time() - t0


def health_api(port, sock):
    """GET /v1/health, port53ctl health, and voting through
    POST /v1/health/reports while the local check fails (Health.status 500)."""
    st, doc = api(sock, "GET", "/v1/health")
    ids = [c["id"] for c in doc.get("checks", [])]
    check(st == 200 and doc["configured"] and ids == ["hc-primary", "hc-mv3"],
          "GET /v1/health lists every check: %s" % doc)
    c0 = doc["checks"][0]
    check(c0["type"] == "HTTP" and c0["state"] in ("healthy", "unhealthy") and
          c0["last_result"] and c0["last_change"] > 1e9 and c0["inverted"] is False and
          c0["disabled"] is False and c0["checkers"] == {"reporting": 1, "healthy": 1},
          "check fields: %s" % c0)
    r = ctl(sock, "health")
    check(r.returncode == 0 and "hc-primary" in r.stdout and "CLOUDWATCH_METRIC" in r.stdout and
          "LAST RESULT" in r.stdout, "port53ctl health table: " + r.stdout + r.stderr)
    r = ctl(sock, "--json", "health")
    check(r.returncode == 0 and json.loads(r.stdout)["checks"][1]["id"] == "hc-mv3",
          "port53ctl --json health")
    # Bad reports change nothing.
    for body, what in [({"checker": "n2", "results": {"nope": True}}, "unknown check"),
                       ({"checker": "n2", "results": {"hc-primary": "yes"}}, "not a boolean"),
                       ({"checker": "local", "results": {}}, "reserved name"),
                       ({"checker": "n2"}, "no results"),
                       ({"checker": "n2", "results": {}, "x": 1}, "unknown field"),
                       ("{", "invalid JSON")]:
        st, err = api(sock, "POST", "/v1/health/reports", body)
        check(st == 400 and "error" in err, "report refused (%s): %d %s" % (what, st, err))
    st, err = api(sock, "GET", "/v1/health/reports")
    check(st == 405, "GET on reports is 405")
    # The local check fails: secondary. Another checker says the
    # primary is up: 1 of 2 is more than 18%, primary again.
    Health.status = 500
    ok, t = wait_answer(port, "fo.example.com", ["192.0.2.21"], 13)
    check(ok, "local failure -> secondary")
    st, doc = api(sock, "POST", "/v1/health/reports",
                  {"checker": "n2", "results": {"hc-primary": True}})
    check(st == 200 and doc["accepted"] == 1, "report accepted: %s" % doc)
    ok, t = wait_answer(port, "fo.example.com", ["192.0.2.20"], 3)
    check(ok, "1 of 2 checkers healthy (50%% > 18%%) -> primary (%.1f s)" % t)
    # 1 healthy of 6 is 16.7%: unhealthy; of 5 it is 20%: healthy.
    for n in ("n3", "n4", "n5", "n6"):
        api(sock, "POST", "/v1/health/reports", {"checker": n, "results": {"hc-primary": False}})
    ok, t = wait_answer(port, "fo.example.com", ["192.0.2.21"], 3)
    check(ok, "1 of 6 healthy (16.7%) -> secondary")
    st, doc = api(sock, "GET", "/v1/health")
    check(doc["checks"][0]["checkers"] == {"reporting": 6, "healthy": 1} and
          doc["checks"][0]["state"] == "unhealthy", "votes shown: %s" % doc["checks"][0])
    api(sock, "POST", "/v1/health/reports", {"checker": "n6", "results": {}})
    ok, t = wait_answer(port, "fo.example.com", ["192.0.2.20"], 3)
    check(ok, "1 of 5 healthy (20%) -> primary")
    # Withdraw every report: back to the local result (failing).
    for n in ("n2", "n3", "n4", "n5"):
        api(sock, "POST", "/v1/health/reports", {"checker": n, "results": {}})
    ok, t = wait_answer(port, "fo.example.com", ["192.0.2.21"], 3)
    check(ok, "reports withdrawn -> the local result again")
    Health.status = 200
    ok, t = wait_answer(port, "fo.example.com", ["192.0.2.20"], 13)
    check(ok, "local check passes again -> primary")


def main():
    tmp = tempfile.mkdtemp()
    zone = json.load(open(os.path.join(HERE, "r53", "example.json")))
    hport = free_port()
    httpd = http.server.HTTPServer(("127.0.0.1", hport), Health)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    checks = {"HealthChecks": [
        {"Id": "hc-primary", "HealthCheckConfig": {
            "Type": "HTTP", "IPAddress": "127.0.0.1", "Port": hport, "ResourcePath": "/health",
            "RequestInterval": 10, "FailureThreshold": 1}},
        {"Id": "hc-mv3", "HealthCheckConfig": {
            "Type": "CLOUDWATCH_METRIC", "StatusFile": os.path.join(tmp, "mv3.status"),
            "RequestInterval": 10, "FailureThreshold": 1,
            "InsufficientDataHealthStatus": "Unhealthy"}}]}
    with open(os.path.join(tmp, "checks.json"), "w") as f:
        json.dump(checks, f)
    snap = os.path.join(tmp, "z.p53")
    subprocess.run([PORT53, "compile", "-o", snap, "--geo", os.path.join(HERE, "r53", "geo.csv"),
                    "example.com=" + os.path.join(HERE, "r53", "example.json")], check=True)
    port = free_port()
    sock = os.path.join(tmp, "control.sock")
    srv = subprocess.Popen([PORT53, "serve", "-s", snap, "-l", "127.0.0.1:%d" % port,
                            "--health-checks", os.path.join(tmp, "checks.json"),
                            "--control-socket", sock, "--rrl-rate", "0"],
                           stderr=subprocess.PIPE)
    try:
        for _ in range(50):
            try:
                ask(port, "simple.example.com")
                break
            except Exception:
                time.sleep(0.1)
        # Geolocation by ECS subnet, with the scope of the geo range.
        grid = [(("10.1.2.0", 24), ["192.0.2.31"], 16),  # US-WA
                (("10.2.2.0", 24), ["192.0.2.32"], 16),  # US
                (("10.3.2.0", 24), ["192.0.2.33"], 16),  # EU
                (("10.5.2.0", 24), ["192.0.2.34"], 16),  # JP -> *
                (("192.168.1.0", 24), ["192.0.2.34"], 24)]  # unmapped -> *
        for sn, want, scope in grid:
            ips, sc = ask(port, "geo.example.com", sn)
            check(ips == want and sc == scope, "geo %s: %s scope %s" % (sn, ips, sc))
        ips, _ = ask(port, "geonodef.example.com", ("10.5.0.0", 24))
        check(ips == [], "geolocation without * and no match is NODATA")
        check(ask(port, "lat.example.com", ("10.5.0.0", 24))[0] == ["192.0.2.43"], "latency JP")
        check(ask(port, "lat.example.com", ("10.2.0.0", 24))[0] == ["192.0.2.41"], "latency US")
        check(ask(port, "prox.example.com", ("10.4.0.0", 24))[0] == ["192.0.2.51"], "geoprox")
        check(ask(port, "cidr.example.com", ("10.9.3.0", 24))[0] == ["192.0.2.71"], "cidr hit")
        check(ask(port, "cidr.example.com", ("10.9.0.0", 8))[0] == ["192.0.2.72"], "cidr short")
        ips, sc = ask(port, "simple.example.com", ("10.1.0.0", 24))
        check(ips == ["192.0.2.1", "192.0.2.2"] and sc == 0, "simple, ECS scope 0")
        seen = {}
        for _ in range(300):
            for ip in ask(port, "www.example.com")[0]:
                seen[ip] = seen.get(ip, 0) + 1
        check("192.0.2.12" not in seen and 150 < seen.get("192.0.2.10", 0) < 270,
              "weighted 70/30/0: %s" % seen)
        # Multivalue: mv3's status file says nothing -> Unhealthy (once its
        # first check has run).
        ok, _ = wait_answer(port, "mv.example.com", ["192.0.2.61", "192.0.2.62"], 10)
        check(ok, "multivalue healthy only")
        # Failover: primary healthy; the HTTP check fails -> secondary within one interval.
        check(ask(port, "fo.example.com")[0] == ["192.0.2.20"], "failover primary")
        check(ask(port, "alias.example.com")[0] == ["192.0.2.20"], "alias to failover group")
        Health.status = 500
        t0 = time.time()
        while time.time() - t0 < 13 and ask(port, "fo.example.com")[0] != ["192.0.2.21"]:
            time.sleep(0.2)
        check(ask(port, "fo.example.com")[0] == ["192.0.2.21"],
              "failover to secondary after the check fails")
        print("failover flip after %.1f s" % (time.time() - t0))
        Health.status = 200
        t0 = time.time()
        while time.time() - t0 < 13 and ask(port, "fo.example.com")[0] != ["192.0.2.20"]:
            time.sleep(0.2)
        check(ask(port, "fo.example.com")[0] == ["192.0.2.20"], "back to primary")
        health_api(port, sock)
    finally:
        srv.terminate()
        srv.wait(timeout=5)
        httpd.shutdown()
    # Export round trip: the exported JSON compiles to a snapshot that
    # exports the same sets.
    out1 = subprocess.run([PORT53, "export", "--format", "route53", snap, "example.com"],
                          check=True, capture_output=True).stdout
    with open(os.path.join(tmp, "exported.json"), "wb") as f:
        f.write(out1)
    snap2 = os.path.join(tmp, "z2.p53")
    # Health checks live beside the zone (as in Route 53): the export names
    # them, the second compile is given them.
    subprocess.run([PORT53, "compile", "-o", snap2, "--health-checks",
                    os.path.join(tmp, "checks.json"),
                    "example.com=" + os.path.join(tmp, "exported.json")], check=True)
    out2 = subprocess.run([PORT53, "export", "--format", "route53", snap2, "example.com"],
                          check=True, capture_output=True).stdout

    def norm(doc):
        sets = set()
        for s in doc["ResourceRecordSets"]:
            s = dict(s)
            s.pop("AliasTarget", None) if False else None
            if "ResourceRecords" in s:
                s["ResourceRecords"] = sorted(v["Value"] for v in s["ResourceRecords"])
            if "AliasTarget" in s:
                s["AliasTarget"] = dict(s["AliasTarget"], HostedZoneId="")
            sets.add(json.dumps(s, sort_keys=True))
        return sets
    e1, e2 = norm(json.loads(out1)), norm(json.loads(out2))
    check(e1 == e2, "export round trip")
    check(e1 == norm(zone), "export equals the input: %s" % (e1 ^ norm(zone)))
    return check.finish()


if __name__ == "__main__":
    sys.exit(main())
