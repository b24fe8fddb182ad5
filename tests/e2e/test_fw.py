#!/usr/bin/python3
"""DNS Firewall end to end through `port53 serve --firewall`.

Compiles rules and lists with `port53 fw-compile`, then checks every action
on the wire with dnspython (NXDOMAIN with SOA, NODATA through a CNAME chain,
OVERRIDE, REFUSED, DROP, patterns, ALERT), replaces a list at run time with
SIGHUP while a bounded query loop runs (every answer must match the old or
the new rules, never anything else), and keeps the old rules when a broken
file is loaded. Loopback only; every loop and wait is bounded.
"""

import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

import dns.message  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdatatype  # noqa: E402

check = common.Checks(verbose=True)


def ask(name, qtype, port, timeout=1.0, retries=2):
    q = dns.message.make_query(name, qtype, use_edns=False)
    raw = common.query(q, port, timeout=timeout, retries=retries)
    return None if raw is None else dns.message.from_wire(raw)


def rules(listfile):
    return {
        "fail_open": False,
        "domain_lists": {"blocked": listfile},
        "rule_groups": [
            {"name": "main", "priority": 10, "rules": [
                {"name": "allow-www", "priority": 1, "action": "ALLOW",
                 "domains": ["www.example.com"], "qtype": "A"},
                {"name": "blocklist", "priority": 2, "action": "BLOCK",
                 "block_response": "NXDOMAIN", "domain_list": "blocked"},
                {"name": "www-v6", "priority": 3, "action": "BLOCK",
                 "block_response": "NODATA", "qtype": "AAAA",
                 "domains": ["www.example.com"]},
                {"name": "walled", "priority": 4, "action": "BLOCK",
                 "block_response": "OVERRIDE",
                 "block_override_domain": "walled.example.net.",
                 "block_override_ttl": 42, "domains": ["*.override.example.com"]},
                {"name": "flood", "priority": 5, "action": "REFUSED",
                 "patterns": [r"^[a-z0-9]{20,}\.example\.com$"]},
                {"name": "drop", "priority": 6, "action": "DROP",
                 "domains": ["drop.example.com"]},
            ]},
            {"name": "watch", "priority": 20, "rules": [
                {"name": "alert-all", "priority": 1, "action": "ALERT", "domains": ["*"]},
            ]},
        ],
    }


def fw_compile(binary, work, listname, serial):
    path = os.path.join(work, "rules.json")
    with open(path, "w") as f:
        json.dump(rules(listname), f)
    out = os.path.join(work, "fw.p53fw")
    r = common.run([binary, "fw-compile", "-o", out, "--serial", str(serial), path])
    return r, out


def a_of(resp):
    return sorted(rr.address for s in resp.answer for rr in s
                  if rr.rdtype == dns.rdatatype.A)


def wait_log(srv, text, deadline=10.0):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if text in srv.read_log():
            return True
        time.sleep(0.05)
    return False


def main():
    binary = common.default_port53()
    zdir = os.path.join(common.ROOT, "tests", "zones")
    with common.tempdir() as work:
        with open(os.path.join(work, "v1.txt"), "w") as f:
            f.write("# version 1\nmail.example.com\n0.0.0.0 nothere.example.org\n")
        with open(os.path.join(work, "v2.txt"), "w") as f:
            f.write("# version 2\n*.example.org ; everything below\nmail2.example.com\n")
        with open(os.path.join(work, "bad.txt"), "w") as f:
            f.write("ok.example.com\nnot a domain\n")

        # Bad input is reported with file:line, and nothing is written.
        r, out = fw_compile(binary, work, "bad.txt", 1)
        check(r.returncode == 1 and "bad.txt:2:" in r.stderr and not os.path.exists(out),
              "invalid list line reported as file:line")

        r, fwfile = fw_compile(binary, work, "v1.txt", 1)
        check(r.returncode == 0 and "7 rules" in r.stdout, "fw-compile: %s" % r.stdout.strip())
        if r.returncode != 0:
            print(r.stderr)
            return 1

        srv = common.Port53(binary, zdir, work, extra=["--firewall", fwfile])
        srv.start()
        try:
            port = srv.port
            resp = ask("www.example.com.", "A", port)
            check(resp is not None and a_of(resp) == ["192.0.2.10"], "allowed name answered")

            resp = ask("mail.example.com.", "A", port)
            check(resp is not None and resp.rcode() == dns.rcode.NXDOMAIN
                  and not resp.answer and len(resp.authority) == 1
                  and resp.authority[0].rdtype == dns.rdatatype.SOA
                  and resp.flags & 0x0400, "listed name: NXDOMAIN, AA, SOA")

            resp = ask("MAIL.Example.COM.", "A", port)
            check(resp is not None and resp.rcode() == dns.rcode.NXDOMAIN, "case-insensitive")

            resp = ask("www.example.com.", "AAAA", port)
            check(resp is not None and resp.rcode() == 0 and not resp.answer
                  and resp.authority and resp.authority[0].rdtype == dns.rdatatype.SOA,
                  "qtype-filtered rule: NODATA with SOA")

            # ftp CNAME www: the chain's target is blocked for AAAA.
            resp = ask("ftp.example.com.", "AAAA", port)
            check(resp is not None and resp.rcode() == 0 and not resp.answer
                  and resp.authority, "CNAME chain target inspected (NODATA)")
            resp = ask("ftp.example.com.", "A", port)
            check(resp is not None and a_of(resp) == ["192.0.2.10"], "chain allowed for A")

            resp = ask("x.override.example.com.", "A", port)
            ok = (resp is not None and resp.rcode() == 0 and len(resp.answer) == 1
                  and resp.answer[0].rdtype == dns.rdatatype.CNAME
                  and resp.answer[0].ttl == 42
                  and resp.answer[0][0].target.to_text() == "walled.example.net.")
            check(ok, "OVERRIDE: CNAME walled.example.net. TTL 42")

            resp = ask("abcdefghijklmnopqrstuvwxyz.example.com.", "A", port)
            check(resp is not None and resp.rcode() == dns.rcode.REFUSED, "pattern: REFUSED")
            resp = ask("short.example.com.", "A", port)
            check(resp is not None and resp.rcode() == dns.rcode.NXDOMAIN
                  and resp.authority, "pattern does not match short labels")

            resp = ask("drop.example.com.", "A", port, timeout=0.3, retries=0)
            check(resp is None, "DROP: no reply")

            resp = ask("mail2.example.com.", "A", port)
            check(resp is not None and a_of(resp) == ["192.0.2.26"], "ALERT answers normally")

            # Replace the list under a bounded query loop: every answer is
            # v1's or v2's, never anything else, and never missing.
            wrong = missing = 0
            swapped_at = None
            for i in range(1200):
                if i == 200:
                    r, _ = fw_compile(binary, work, "v2.txt", 2)
                    check(r.returncode == 0, "v2 compiled")
                    srv.proc.send_signal(signal.SIGHUP)
                if swapped_at is None and i > 200 and "serial 2," in srv.read_log():
                    swapped_at = i
                name = ("mail.example.com.", "mail2.example.com.", "www.example.com.")[i % 3]
                resp = ask(name, "A", port)
                if resp is None:
                    missing += 1
                    continue
                nx = resp.rcode() == dns.rcode.NXDOMAIN
                if name == "www.example.com.":
                    good = a_of(resp) == ["192.0.2.10"]
                elif name == "mail.example.com.":
                    good = nx or a_of(resp) == ["192.0.2.25"]
                    if swapped_at is not None and i > swapped_at:
                        good = a_of(resp) == ["192.0.2.25"]
                    if i < 200:
                        good = nx
                else:
                    good = nx or a_of(resp) == ["192.0.2.26"]
                    if swapped_at is not None and i > swapped_at:
                        good = nx
                    if i < 200:
                        good = a_of(resp) == ["192.0.2.26"]
                wrong += 0 if good else 1
            check(swapped_at is not None, "SIGHUP reloaded the firewall (at query %s)" % swapped_at)
            check(wrong == 0 and missing == 0,
                  "live list replacement: %d wrong, %d missing answers" % (wrong, missing))
            resp = ask("a.b.example.org.", "A", port)
            check(resp is not None and resp.rcode() == dns.rcode.NXDOMAIN, "v2 wildcard line")

            # A broken file on SIGHUP: reported, old rules stay.
            with open(fwfile, "r+b") as f:
                f.seek(300)
                b = f.read(1)
                f.seek(300)
                f.write(bytes([b[0] ^ 0xff]))
            srv.proc.send_signal(signal.SIGHUP)
            # The firewall is loaded with the snapshot: a bad one refuses
            # the reload as a whole, and both old ones keep serving.
            check(wait_log(srv, "reload failed, still serving"), "corrupt firewall reported")
            resp = ask("mail2.example.com.", "A", port)
            check(resp is not None and resp.rcode() == dns.rcode.NXDOMAIN,
                  "old rules still enforced")
            check(srv.alive(), "server alive")
        finally:
            rc = srv.stop()
            check(rc == 0, "clean shutdown (rc=%s)" % rc)
            if check.failed:
                print(srv.read_log())
    return check.finish()


if __name__ == "__main__":
    sys.exit(main())
