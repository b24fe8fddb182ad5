#!/usr/bin/python3
"""Route 53 health checks as Route 53 runs them, seen through answers.

`port53 serve` with failover records whose primaries carry health checks:
- a check by FullyQualifiedDomainName only ("localhost", resolved at each
  check): it reaches the local HTTP server with that Host header, and its
  failure moves the answer to the secondary;
- Route 53's timing: an endpoint that accepts at once but sends its status
  line 3 s later fails (2 s after connecting), one that answers in 1 s passes;
- the alarm stand-in (CLOUDWATCH_METRIC, StatusFile) follows the alarm at
  once even with FailureThreshold 3;
- the checks file in the shape `aws route53 list-health-checks` prints.
Answers are read with dnspython over UDP. Loopback only; bounded waits.
"""
import http.server
import json
import os
import sys
import threading
import time


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

PORT53 = common.default_port53()


check = common.Checks("test_r53_health")


class Endpoint(http.server.BaseHTTPRequestHandler):
    status = 200
    hosts = []

    def do_GET(self):
        Endpoint.hosts.append((self.path, self.headers.get("Host")))
        if self.path.startswith("/slow"):
            time.sleep(float(self.path[5:]))  # the slow endpoint the check must time out on
            self.send_response(200)
        else:
            self.send_response(Endpoint.status)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *a):
        pass


def wait_answer(port, name, want, limit):
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        if common.addresses(port, name) == want:
            return True, time.monotonic() - t0
        time.sleep(0.1)
    return common.addresses(port, name) == want, time.monotonic() - t0


def main():
    httpd = http.server.ThreadingHTTPServer((common.HOST, 0), Endpoint)
    hport = httpd.server_address[1]
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    with common.tempdir() as tmp:
        alarm = os.path.join(tmp, "alarm.state")
        with open(alarm, "w") as f:
            f.write("OK\n")

        def hc(cid, cfg):
            # list-health-checks output: CallerReference, version, the config.
            return {"Id": cid, "CallerReference": "ref-" + cid, "HealthCheckVersion": 1,
                    "HealthCheckConfig": dict(cfg, RequestInterval=10,
                                              MeasureLatency=False, Inverted=False,
                                              Disabled=False, EnableSNI=False)}
        checks = {"HealthChecks": [
            hc("hc-fqdn", {"Type": "HTTP", "FullyQualifiedDomainName": "localhost",
                           "Port": hport, "ResourcePath": "/health", "FailureThreshold": 1}),
            hc("hc-slow3", {"Type": "HTTP", "IPAddress": "127.0.0.1", "Port": hport,
                            "ResourcePath": "/slow3", "FailureThreshold": 1}),
            hc("hc-slow1", {"Type": "HTTP", "IPAddress": "127.0.0.1", "Port": hport,
                            "ResourcePath": "/slow1", "FailureThreshold": 1}),
            hc("hc-alarm", {"Type": "CLOUDWATCH_METRIC", "StatusFile": alarm,
                            "AlarmIdentifier": {"Region": "us-east-1", "Name": "a"},
                            "FailureThreshold": 3,
                            "InsufficientDataHealthStatus": "LastKnownStatus"}),
        ], "IsTruncated": False, "MaxItems": "100", "Marker": ""}
        cpath = os.path.join(tmp, "checks.json")
        with open(cpath, "w") as f:
            json.dump(checks, f)
        sets = [
            {"Name": "example.com.", "Type": "SOA", "TTL": 900, "ResourceRecords": [
                {"Value": "ns.example.com. h.example.com. 1 7200 900 1209600 86400"}]},
            {"Name": "example.com.", "Type": "NS", "TTL": 900,
             "ResourceRecords": [{"Value": "ns.example.com."}]},
        ]
        sets += common.r53_failover("fq.example.com.", "hc-fqdn", "192.0.2.1", "192.0.2.2")
        sets += common.r53_failover("slow.example.com.", "hc-slow3", "192.0.2.11", "192.0.2.12")
        sets += common.r53_failover("okslow.example.com.", "hc-slow1", "192.0.2.21", "192.0.2.22")
        sets += common.r53_failover("alarm.example.com.", "hc-alarm", "192.0.2.31", "192.0.2.32")
        zpath = os.path.join(tmp, "zone.json")
        with open(zpath, "w") as f:
            json.dump({"ResourceRecordSets": sets}, f)
        snap = os.path.join(tmp, "z.p53")
        r = common.run([PORT53, "compile", "-o", snap, "--health-checks", cpath,
                        "example.com=" + zpath])
        check(r.returncode == 0, "compile with --health-checks: " + r.stderr)
        srv = common.Port53(PORT53, None, tmp, extra=["--health-checks", cpath])
        srv.snapshot = snap
        try:
            srv.start()
            port = srv.port
            # Slow status line: fails 2 s after connecting; 1 s passes.
            ok, t = wait_answer(port, "slow.example.com", ["192.0.2.12"], 8)
            check(ok, "status 3 s after connecting fails the check (%.1f s)" % t)
            check(common.addresses(port, "okslow.example.com") == ["192.0.2.21"],
                  "status 1 s after connecting passes")
            # By name: the server saw Host: localhost:PORT on /health.
            check(common.addresses(port, "fq.example.com") == ["192.0.2.1"], "FQDN check healthy")
            hosts = [h for p, h in Endpoint.hosts if p == "/health"]
            check(hosts and hosts[0] == "localhost:%d" % hport,
                  "FQDN check reached the endpoint as %s" % hosts)
            Endpoint.status = 503
            ok, t = wait_answer(port, "fq.example.com", ["192.0.2.2"], 13)
            check(ok, "FQDN check fails -> secondary (%.1f s)" % t)
            Endpoint.status = 200
            # The alarm stand-in: ALARM flips at the next read, not after
            # FailureThreshold (3) reads, i.e. within one 10 s interval.
            check(common.addresses(port, "alarm.example.com") == ["192.0.2.31"],
                  "alarm OK -> primary")
            with open(alarm, "w") as f:
                f.write("ALARM\n")
            ok, t = wait_answer(port, "alarm.example.com", ["192.0.2.32"], 12)
            check(ok, "ALARM -> secondary within one interval (%.1f s)" % t)
            with open(alarm, "w") as f:
                f.write("garbage\n")  # insufficient data: last known status
            ok, t = wait_answer(port, "alarm.example.com", ["192.0.2.31"], 11)
            check(not ok, "insufficient data keeps the last known status")
            with open(alarm, "w") as f:
                f.write("OK\n")
            ok, t = wait_answer(port, "alarm.example.com", ["192.0.2.31"], 12)
            check(ok, "OK -> primary within one interval (%.1f s)" % t)
            check(srv.alive(), "server still running")
        finally:
            srv.stop()
            httpd.shutdown()
    return check.finish()


if __name__ == "__main__":
    sys.exit(main())
