#!/usr/bin/python3
"""Abuse controls on port53 serve (docs/abuse.md), by counted outcomes:

- a spoofed-source amplification flood (one /24 of many loopback sources, ten
  times the configured rate) is answered in full at the configured rate only,
  the rest truncated (slip 2) or dropped, while another prefix asking the
  same name is answered in full; the counters in /metrics agree;
- an exempt prefix is never limited; TCP is never limited;
- DNS Cookies: our server cookie checked by an independent SipHash against
  the secret file; dig and kdig +cookie interoperate; a client holding a
  valid server cookie is exempt from the limit; a limited client with only a
  client cookie gets BADCOOKIE with a fresh cookie; malformed cookie options
  are FORMERR; a rotated secret file is picked up and the previous secret
  still accepted;
- queries from reflection source ports (7, 19, 123) are not answered (needs
  root to bind them; skipped otherwise).

Loopback only (127.0.0.0/8 sources); every wait is bounded.
"""
import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import abuse_lib as al  # noqa: E402
import common  # noqa: E402
import test_api  # noqa: E402

import dns.message  # noqa: E402
import dns.rcode  # noqa: E402

RATE = 20
NAME = "www.example.com."


check = common.Checks("abuse")


def metrics(sock):
    st, _, body = test_api.Api(unix=sock).call("GET", "/metrics")
    out = {}
    for m in re.finditer(r'^port53_(\w+?)(?:_total)?\{([^}]*)\} (\d+)', (body or b"").decode(), re.M):
        fam, labels, v = m.group(1), m.group(2), int(m.group(3))
        lab = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        key = (fam, lab.get("outcome") or lab.get("reason") or "")
        out[key] = out.get(key, 0) + v
    return out


def ask_from(src, port, wire, timeout=1.0, sport=0):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((src, sport))
        s.settimeout(timeout)
        s.sendto(wire, (common.HOST, port))
        try:
            return s.recv(65535)
        except socket.timeout:
            return None


def test_flood(srv, ctl):
    target = (common.HOST, srv.port)
    attackers = [al.bound_socket("127.1.1.%d" % i) for i in range(1, 41)]
    legit = [al.bound_socket("127.2.2.1")]
    exempt = [al.bound_socket("127.9.0.%d" % i) for i in range(1, 5)]
    before = metrics(ctl)
    secs = 2.0
    res = al.flood(target, {
        "attack": (attackers, RATE * 10, lambda i: al.qid_wire(NAME, i)),
        "legit": (legit, RATE / 2, lambda i: al.qid_wire(NAME, i)),
        "exempt": (exempt, RATE * 5, lambda i: al.qid_wire(NAME, i)),
    }, secs)
    el = res["_elapsed"]
    a, lg, ex = res["attack"], res["legit"], res["exempt"]
    full, tc = a.get("full", 0), a.get("tc", 0)
    limited = a["sent"] - full
    # One second's burst, then RATE per second over the flood's duration.
    check(RATE * secs <= full <= RATE * (1 + el) + 3,
          "flood answered in full at the configured rate", "%r in %.2fs" % (a, el))
    check(abs(tc - limited / 2) <= 2, "slip 2: every other limited answer truncated", repr(a))
    check(a.get("other", 0) == 0, "limited answers are truncated or dropped, nothing else", repr(a))
    check(lg.get("full", 0) == lg["sent"], "another prefix answered in full", repr(lg))
    check(ex.get("full", 0) == ex["sent"], "exempt prefix never limited", repr(ex))
    after = metrics(ctl)
    d = {k: after.get(("abuse", k), 0) - before.get(("abuse", k), 0)
         for k in ("rrl_dropped", "rrl_slipped", "rrl_exempt")}
    check(d["rrl_slipped"] == tc and d["rrl_dropped"] == limited - tc,
          "/metrics counts what the clients saw", "%r vs %r" % (d, a))
    # The exempt prefix's bucket fills as any other: what it does not pass
    # is counted as exempt.
    check(ex["sent"] - RATE * (1 + el) - 3 <= d["rrl_exempt"] <= ex["sent"] - RATE * secs,
          "/metrics counts exempt answers", repr(d))
    for s in attackers + legit + exempt:
        s.close()
    # TCP is never limited: RATE * 3 queries on one connection.
    with socket.create_connection((common.HOST, srv.port), timeout=3) as s:
        n = RATE * 3
        for i in range(n):
            w = al.qid_wire(NAME, i)
            s.sendall(len(w).to_bytes(2, "big") + w)
        got = 0
        buf = b""
        deadline = time.monotonic() + 5
        while got < n and time.monotonic() < deadline:
            chunk = s.recv(65535)
            if not chunk:
                break
            buf += chunk
            while len(buf) >= 2 and len(buf) >= 2 + int.from_bytes(buf[:2], "big"):
                ln = int.from_bytes(buf[:2], "big")
                got += al.classify(buf[2:2 + ln]) == "full"
                buf = buf[2 + ln:]
        check(got == n, "TCP answered in full, never limited", "%d/%d" % (got, n))
    # The log says which prefix was limited, once per episode.
    common.wait_for(lambda: "127.1.1.0/24 positive" in srv.read_log(), 3, 0.1)
    check("rrl: limiting 127.1.1.0/24 positive responses" in srv.read_log(),
          "limited prefix logged", srv.read_log()[-500:])
    check(srv.read_log().count("127.1.1.0/24 positive") == 1, "logged once per episode")


def test_cookies(srv, secret, secret_path):
    port = srv.port
    cc = bytes.fromhex("2464c4abcf10c957")
    # A client cookie alone: our server cookie comes back, verifiably ours.
    raw = ask_from("127.3.3.1", port, al.qid_wire(NAME, 1, cc))
    m = dns.message.from_wire(raw)
    opt = al.cookie_of(m)
    check(m.rcode() == 0 and m.answer, "client cookie only: a normal answer")
    check(opt is not None and opt[:8] == cc, "client cookie echoed", repr(opt))
    check(opt is not None and al.server_cookie_ok(secret, opt, "127.3.3.1", time.time()),
          "server cookie is RFC 9018's for our secret (independent SipHash)", repr(opt))
    full_cookie = opt
    # Malformed: FORMERR (RFC 7873 5.2.2).
    for bad in (cc[:7], cc + b"x", cc + b"\0" * 7, cc + b"\0" * 33):
        r = ask_from("127.3.3.2", port, al.qid_wire(NAME, 2, bad))
        check(r is not None and al.classify(r) == "formerr",
              "COOKIE option of %d bytes: FORMERR" % len(bad))
    # A server cookie that is not ours: answered as if client-only, fresh cookie.
    wrong = full_cookie[:16] + bytes(8)
    r = dns.message.from_wire(ask_from("127.3.3.1", port, al.qid_wire(NAME, 3, wrong)))
    check(r.rcode() == 0 and r.answer and
          al.server_cookie_ok(secret, al.cookie_of(r), "127.3.3.1", time.time()),
          "invalid server cookie: normal answer with a fresh cookie")

    target = (common.HOST, port)
    holder = [al.bound_socket("127.3.3.1")]
    client_only = [al.bound_socket("127.4.4.1")]
    res = al.flood(target, {
        "holder": (holder, RATE * 10, lambda i: al.qid_wire(NAME, i, full_cookie)),
        "client": (client_only, RATE * 10, lambda i: al.qid_wire(NAME, i, cc)),
    }, 1.0)
    h, c = res["holder"], res["client"]
    check(h.get("full", 0) == h["sent"], "valid server cookie: exempt from the limit", repr(h))
    limited = c["sent"] - c.get("full", 0)
    check(c.get("full", 0) <= RATE * (1 + res["_elapsed"]) + 3 and
          abs(c.get("badcookie", 0) - limited / 2) <= 2 and c.get("tc", 0) == 0,
          "client cookie only, limited: BADCOOKIE in place of truncation", repr(c))
    # BADCOOKIE carries a cookie that then makes the client exempt.
    s = client_only[0]
    s.setblocking(True)
    s.settimeout(0.02)  # a drop is waited out briefly: the bucket refills slowly
    got = None
    for i in range(RATE * 4):
        s.sendto(al.qid_wire(NAME, 40000 + i, cc), target)
        try:
            w = s.recv(65535)
        except socket.timeout:
            continue
        m = dns.message.from_wire(w)
        if m.rcode() == al.BADCOOKIE:
            got = al.cookie_of(m)
            break
    check(got is not None and al.server_cookie_ok(secret, got, "127.4.4.1", time.time()),
          "BADCOOKIE carries a valid server cookie")
    if got:
        ok = 0
        s.settimeout(1)
        for i in range(RATE * 2):
            s.sendto(al.qid_wire(NAME, 50000 + i, got), target)
            try:
                ok += al.classify(s.recv(65535)) == "full"
            except socket.timeout:
                pass
        check(ok == RATE * 2, "retry with the BADCOOKIE's cookie: answered in full",
              "%d/%d" % (ok, RATE * 2))
    for s in holder + client_only:
        s.close()

    # dig and kdig: they send a client cookie and check ours comes back.
    for tool, args in (("dig", ["+cookie", "+norec"]), ("kdig", ["+cookie", "+norec"])):
        path = "/usr/bin/" + tool
        if not os.access(path, os.X_OK):
            check.skip(tool, "not installed")
            continue
        r = common.run([path, "-b", "127.6.6.1", "@" + common.HOST, "-p", str(port)] + args +
                       [NAME, "A"], timeout=10)
        out = r.stdout
        mm = re.search(r"COOKIE: ([0-9a-fA-F]{48})", out)
        check(r.returncode == 0 and "NOERROR" in out and mm is not None,
              "%s +cookie: answered with a full cookie" % tool, out[-600:])
        if mm:
            check(al.server_cookie_ok(secret, bytes.fromhex(mm.group(1)), "127.6.6.1",
                                      time.time()), "%s got our server cookie" % tool)
            # dig marks an echoed client cookie "(good)"; kdig warns when not.
            check("(good)" in out or not re.search(r"warning|bad cookie|mismatch", out, re.I),
                  "%s accepts the cookie" % tool, out[-600:])
            # The cookie learned, sent back: still NOERROR, no BADCOOKIE.
            r2 = common.run([path, "-b", "127.6.6.1", "@" + common.HOST, "-p", str(port),
                             "+cookie=" + mm.group(1), NAME, "A"], timeout=10)
            check("NOERROR" in r2.stdout and "BADCOOKIE" not in r2.stdout,
                  "%s with the learned cookie" % tool, r2.stdout[-600:])

    # Rotation through the file: new secret first, the old one second.
    new = al.new_secret()
    with open(secret_path + ".tmp", "w") as f:
        f.write(new.hex() + "\n" + secret.hex() + "\n")
    os.rename(secret_path + ".tmp", secret_path)
    deadline = time.monotonic() + 5
    rotated = False
    while time.monotonic() < deadline and not rotated:
        m = dns.message.from_wire(ask_from("127.3.3.1", port, al.qid_wire(NAME, 7, full_cookie)))
        rotated = al.server_cookie_ok(new, al.cookie_of(m) or b"", "127.3.3.1", time.time())
        if not rotated:
            time.sleep(0.2)
    check(rotated, "rotated secret file picked up")
    # A cookie made with the previous secret still exempts.
    s = al.bound_socket("127.3.3.1")
    res = al.flood(target, {"old": ([s], RATE * 5, lambda i: al.qid_wire(NAME, i, full_cookie))},
                   1.0)
    check(res["old"].get("full", 0) == res["old"]["sent"],
          "cookie of the previous secret still exempt", repr(res["old"]))
    s.close()


def test_ports(srv, ctl):
    if os.geteuid() != 0:
        check.skip("source ports below 1024", "need root")
        return
    before = metrics(ctl).get(("drops", "src_port"), 0)
    for p in (7, 19, 123):
        try:
            r = ask_from(common.HOST, srv.port, al.qid_wire(NAME, p), timeout=0.5, sport=p)
        except OSError as e:
            check(False, "bind source port %d" % p, str(e))
            continue
        check(r is None, "query from source port %d not answered" % p)
    check(ask_from(common.HOST, srv.port, al.qid_wire(NAME, 9), sport=1053) is not None,
          "query from source port 1053 answered")
    check(metrics(ctl).get(("drops", "src_port"), 0) - before == 3,
          "/metrics counts the source-port drops")


def main():
    binary = common.default_port53()
    zdir = common.DEFAULT_ZONES
    with common.tempdir("p53abuse-") as work:
        secret = al.new_secret()
        secret_path = os.path.join(work, "cookie.secret")
        with open(secret_path, "w") as f:
            f.write(secret.hex() + "\n")
        ctl = os.path.join(work, "ctl.sock")
        srv = common.Port53(binary, zdir, work, extra=[
            "--rrl-rate", str(RATE), "--rrl-slip", "2", "--rrl-exempt", "127.9.0.0/16",
            "--cookie-secret-file", secret_path, "--control-socket", ctl])
        srv.start()
        try:
            common.wait_for(lambda: os.path.exists(ctl), 5)
            # By design, not a wait for an event: the buckets wait_answering's
            # queries drew on refill in one second.
            time.sleep(1.1)
            test_flood(srv, ctl)
            test_cookies(srv, secret, secret_path)
            test_ports(srv, ctl)
            check(srv.alive(), "server alive at the end", srv.read_log())
        finally:
            srv.stop()
        # Bad settings are refused with a reason.
        for bad, why in ((["--rrl-rate", "x"], "rrl-rate"), (["--rrl-exempt", "10.0.0.1/8"],
                                                              "rrl-exempt"),
                         (["--cookies", "maybe"], "cookies"), (["--drop-ports", "7-"], "drop-ports")):
            r = common.run([binary, "serve", "-s", srv.snapshot, "-l", "127.0.0.1:%d" %
                            common.free_port()] + bad, timeout=10)
            check(r.returncode != 0 and why in r.stderr, "bad %s refused" % why, r.stderr)
        with open(secret_path, "w") as f:
            f.write("not hex\n")
        r = common.run([binary, "serve", "-s", srv.snapshot, "-l", "127.0.0.1:%d" %
                        common.free_port(), "--cookie-secret-file", secret_path], timeout=10)
        check(r.returncode != 0 and "32 hex digits" in r.stderr and "not hex" not in r.stderr,
              "bad secret file refused without echoing it", r.stderr)
    return check.finish()


if __name__ == "__main__":
    sys.exit(main())
