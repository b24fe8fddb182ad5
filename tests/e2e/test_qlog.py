#!/usr/bin/python3
"""Query logging on port53 serve: JSON lines fields and counts over UDP and
TCP, ECS, rotation by rename + SIGHUP, dnstap read back with dnstap-read
(when built with dnstap and bind9-dnsutils is installed), and 1-in-4 sampling.

Loopback only; every wait is bounded; the server is always stopped.
"""
import json
import os
import shutil
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

import dns.edns  # noqa: E402
import dns.message  # noqa: E402
import dns.rcode  # noqa: E402



check = common.Checks("qlog")


def ask(name, rtype, port, tcp=False, ecs=None):
    opts = [dns.edns.ECSOption(ecs[0], ecs[1])] if ecs else []
    q = dns.message.make_query(name, rtype, use_edns=0 if ecs else None, options=opts)
    raw = common.query(q, port, tcp=tcp)
    return None if raw is None else dns.message.from_wire(raw)


def read_lines(path, prefix):
    """Parsed JSON lines whose query_name starts with prefix (the test's own
    queries, not wait_answering's)."""
    out = []
    with open(path) as f:
        for line in f:
            rec = json.loads(line)  # every line must be valid JSON
            if (rec.get("query_name") or "").startswith(prefix):
                out.append(rec)
    return out


def logged(path, prefix):
    """How many complete lines so far are about names starting with prefix
    (for polling while the log is being written)."""
    try:
        with open(path) as f:
            lines = [x for x in f.read().split("\n")[:-1] if x]
    except OSError:
        return 0
    return sum((json.loads(x).get("query_name") or "").startswith(prefix) for x in lines)


def dnstap_supported(binary, work):
    """True when this port53 was built with dnstap."""
    r = common.run([binary, "serve", "-s", "/nonexistent", "--query-log-dnstap",
                    os.path.join(work, "probe.fstrm")], timeout=10)
    return "built without dnstap" not in r.stderr + r.stdout


def main():
    binary = common.default_port53()
    zdir = os.path.join(common.ROOT, "tests", "zones")
    with common.tempdir() as work:
        jpath = os.path.join(work, "q.jsonl")
        tpath = os.path.join(work, "q.fstrm")
        dnstap = dnstap_supported(binary, work) and shutil.which("dnstap-read")
        extra = ["--query-log", jpath]
        if dnstap:
            extra += ["--query-log-dnstap", tpath]
        else:
            print("note: dnstap not checked (not built in, or no dnstap-read)")
        srv = common.Port53(binary, zdir, work, extra=extra)
        srv.start()
        try:
            port = srv.port
            udp_n, tcp_n = 40, 10
            for i in range(udp_n):
                r = ask("q%d.qlog.example.com." % i, "A", port)
                check(r is not None, "udp answer %d" % i)
            for i in range(tcp_n):
                r = ask("t%d.qlog.example.com." % i, "AAAA", port, tcp=True)
                check(r is not None, "tcp answer %d" % i)
            r = ask("www.example.com.", "A", port, ecs=("198.51.100.0", 24))
            check(r is not None and r.rcode() == dns.rcode.NOERROR, "www answer")
            # Everything so far is in the file before it is renamed.
            check(common.wait_for(lambda: logged(jpath, "q") + logged(jpath, "t") == udp_n + tcp_n
                                  and logged(jpath, "www.") == 1, 10),
                  "records written before rotation")
            # A SIGHUP (snapshot reload) without a rename keeps the files.
            reloads = srv.read_log().count("reloaded")
            srv.proc.send_signal(signal.SIGHUP)
            check(common.wait_for(lambda: srv.read_log().count("reloaded") > reloads, 10),
                  "first SIGHUP handled")
            # Rotation: rename, SIGHUP, then the new files get what follows.
            os.rename(jpath, jpath + ".1")
            if dnstap:
                os.rename(tpath, tpath + ".1")
            reloads = srv.read_log().count("reloaded")
            srv.proc.send_signal(signal.SIGHUP)
            check(common.wait_for(lambda: srv.read_log().count("reloaded") > reloads
                                  and os.path.exists(jpath), 10),
                  "second SIGHUP handled, log reopened")
            for i in range(5):
                check(ask("after%d.qlog.example.com." % i, "A", port) is not None,
                      "answer after rotation %d" % i)
        finally:
            rc = srv.stop()
        check(rc == 0, "clean exit (rc=%s)" % rc)

        old = read_lines(jpath + ".1", "q") + read_lines(jpath + ".1", "t")
        check(len(old) == udp_n + tcp_n, "%d records before rotation, want %d"
              % (len(old), udp_n + tcp_n))
        names = sorted(r["query_name"] for r in old)
        check(len(set(names)) == len(names), "no duplicates")
        for rec in old:
            udp = rec["query_name"].startswith("q")
            check(rec["version"] == "1.0", "version")
            check(rec["query_timestamp"].endswith("Z") and "T" in rec["query_timestamp"],
                  "timestamp %s" % rec["query_timestamp"])
            check(rec["query_type"] == ("A" if udp else "AAAA"), "qtype %s" % rec)
            check(rec["query_class"] == "IN", "class")
            check(rec["protocol"] == ("UDP" if udp else "TCP"), "protocol %s" % rec)
            check(rec["resolver_ip"] == "127.0.0.1", "resolver ip")
            check(0 < rec["resolver_port"] < 65536, "resolver port")
            check(rec["rcode"] == "NXDOMAIN" and rec["aa"] is True, "rcode %s" % rec)
            check(rec["response_size"] > 12, "response size")
            check(rec["worker"] == 0 and rec["firewall_rule"] is None, "worker, rule")
            check(rec["edns_client_subnet"] is None, "no ecs")
        www = read_lines(jpath + ".1", "www.example.com.")
        check(len(www) == 1, "one www record")
        if www:
            check(www[0]["edns_client_subnet"] == "198.51.100.0/24", "ecs %s" % www[0])
            check(www[0]["rcode"] == "NOERROR" and www[0]["edns"] is True, "www rcode")
        new = read_lines(jpath, "after")
        check(len(new) == 5, "%d records after rotation, want 5" % len(new))
        check(not read_lines(jpath, "q") and not read_lines(jpath + ".1", "after"),
              "rotation split the log at the SIGHUP")

        if dnstap:
            # Read back with BIND's reader: before and after the rotation.
            for path, want in ((tpath + ".1", udp_n + tcp_n), (tpath, 5)):
                out = subprocess.run(["dnstap-read", path], capture_output=True, text=True,
                                     timeout=30)
                check(out.returncode == 0, "dnstap-read %s: %s" % (path, out.stderr))
                lines = [x for x in out.stdout.splitlines() if ".qlog.example.com/IN/" in x]
                print("dnstap %s: %d records, e.g. %s" % (os.path.basename(path), len(lines),
                                                          lines[:1]))
                check(len(lines) == want, "%d dnstap records in %s, want %d"
                      % (len(lines), path, want))
                check(all(" AR 127.0.0.1:" in x for x in lines), "dnstap fields")
                check(sum(" TCP " in x for x in lines) == (tcp_n if want > 5 else 0),
                      "dnstap transport")

        # Sampling: 1 in 4 over 200 queries logs about a quarter.
        os.unlink(jpath)
        srv = common.Port53(binary, zdir, work,
                            extra=["--query-log", jpath, "--query-log-sample", "4"])
        srv.start()
        try:
            sent = 200
            answered = sum(ask("s%d.qlog.example.com." % i, "A", srv.port) is not None
                           for i in range(sent))
            check(answered == sent, "sampling: %d of %d answered" % (answered, sent))
        finally:
            rc = srv.stop()
        check(rc == 0, "clean exit (rc=%s)" % rc)
        got = read_lines(jpath, "s")
        print("sampling 1 in 4: %d of %d logged" % (len(got), sent))
        check(45 <= len(got) <= 55, "sampled %d of %d, want about 50" % (len(got), sent))

    if check.finish():
        return 1
    if not dnstap:
        # A missing prerequisite is a skip, never a silent pass.
        print("qlog: the dnstap part did not run (port53 built without dnstap, or no "
              "dnstap-read): reported as a skip")
        return 77
    return 0


if __name__ == "__main__":
    sys.exit(main())
