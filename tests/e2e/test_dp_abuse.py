#!/usr/bin/python3
"""Abuse controls on the DPDK worker (port53d on a net_tap port in its own
namespace), by counted outcomes, as tests/e2e/test_abuse.py does for
port53 serve:

- a spoofed-source flood from one /24 (twenty addresses on the client side of
  the TAP), ten times the configured rate, is answered in full at the rate
  only, every other limited answer truncated (slip 2), while another prefix
  asking the same name is answered in full and an exempt prefix is never
  limited; /metrics agrees;
- DNS Cookies: the worker's server cookie checked by an independent SipHash
  against the secret file; a client holding it is exempt from the limit; a
  limited client with a client cookie only gets BADCOOKIE.

Needs root and a build with port53d and port53:
  sudo /usr/bin/python3 tests/e2e/test_dp_abuse.py [BUILD_DIR]
"""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import abuse_lib as al  # noqa: E402
import dpnet  # noqa: E402
import test_api  # noqa: E402
from dpnet import run  # noqa: E402

import dns.message  # noqa: E402

PID = os.getpid()
NS = "p53a-%d" % PID
TAP = "pxa%d" % (PID % 100000)
SVC, CLI = "192.0.2.53", "192.0.2.10"
EXEMPT = "192.0.2.200"
LEGIT = "203.0.113.10"
ATTACK = ["198.51.100.%d" % i for i in range(1, 21)]
RATE = 20
NAME = "www.example.com."


def metrics(sock):
    st, _, body = test_api.Api(unix=sock).call("GET", "/metrics")
    out = {}
    for m in re.finditer(r'^port53_abuse(?:_total)?\{([^}]*)\} (\d+)', (body or b"").decode(), re.M):
        lab = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        out[lab.get("outcome")] = out.get(lab.get("outcome"), 0) + int(m.group(2))
    return out


def socks(addrs):
    with dpnet.InNetns(NS):
        return [al.bound_socket(a) for a in addrs]


def body(res, cleanup, work, tools):
    dpnet.netns_add(cleanup, NS)
    snap = os.path.join(work, "zones.p53")
    run([tools["port53"], "compile", "-o", snap, "example.com=" + dpnet.ZONE])
    secret = al.new_secret()
    secret_path = os.path.join(work, "cookie.secret")
    with open(secret_path, "w") as f:
        f.write(secret.hex() + "\n")
    ctl = os.path.join(work, "ctl.sock")
    eal = os.environ.get("P53_EAL", "--no-huge -m 512 --no-pci -l 0").split()
    cmd = [tools["port53d"]] + eal + [
        "--file-prefix", "p53a%d" % PID, "--vdev", "net_tap0,iface=%s" % TAP,
        "--", "--snapshot", snap, "--addr", SVC, "--control-socket", ctl,
        "--rrl-rate", str(RATE), "--rrl-slip", "2", "--rrl-exempt", "192.0.2.128/25",
        "--cookie-secret-file", secret_path]
    cleanup.push(dpnet.rm_eal_runtime, "p53a%d" % PID)
    d = dpnet.Proc(cleanup, cmd, os.path.join(work, "port53d.log"), ns=NS)
    up = dpnet.wait_for(lambda: not d.alive() or (os.path.exists(ctl) and run(
        ["ip", "link", "show", TAP], ns=NS, check=False).returncode == 0), 30)
    if not res.check("port53d up", d.alive() and up, d.tail()):
        return
    dpnet.addr_add(NS, TAP, CLI + "/24")
    dpnet.addr_add(NS, TAP, EXEMPT + "/32")
    dpnet.addr_add(NS, TAP, LEGIT + "/32")
    for a in ATTACK:
        dpnet.addr_add(NS, TAP, a + "/32")
    run(["ip", "link", "set", TAP, "up"], ns=NS)
    first = dpnet.dns_query(NS, SVC, NAME, "A", timeout=2, tries=5)
    if not res.check("worker answers", first is not None and first.answer, d.tail()):
        return
    time.sleep(1.1)  # by design: the first query's bucket refills in one second
    target = (SVC, 53)

    attackers, legit, exempt = socks(ATTACK), socks([LEGIT]), socks([EXEMPT])
    before = metrics(ctl)
    secs = 2.0
    r = al.flood(target, {
        "attack": (attackers, RATE * 10, lambda i: al.qid_wire(NAME, i)),
        "legit": (legit, RATE / 2, lambda i: al.qid_wire(NAME, i)),
        "exempt": (exempt, RATE * 5, lambda i: al.qid_wire(NAME, i)),
    }, secs)
    a, lg, ex, el = r["attack"], r["legit"], r["exempt"], r["_elapsed"]
    full, tc = a.get("full", 0), a.get("tc", 0)
    limited = a["sent"] - full
    res.check("flood answered in full at the configured rate",
              RATE * secs <= full <= RATE * (1 + el) + 3, "%r in %.2fs" % (a, el))
    res.check("slip 2: every other limited answer truncated", abs(tc - limited / 2) <= 2, repr(a))
    res.check("another prefix answered in full", lg.get("full", 0) == lg["sent"], repr(lg))
    res.check("exempt prefix never limited", ex.get("full", 0) == ex["sent"], repr(ex))
    after = metrics(ctl)
    dd = {k: after.get(k, 0) - before.get(k, 0) for k in ("rrl_dropped", "rrl_slipped")}
    res.check("/metrics counts what the clients saw",
              dd["rrl_slipped"] == tc and dd["rrl_dropped"] == limited - tc, "%r %r" % (dd, a))
    for s in attackers + legit + exempt:
        s.close()

    # Cookies.
    cc = bytes.fromhex("fc93fc62807ddb86")
    m = dpnet.dns_query(NS, SVC, NAME, "A", timeout=2)  # warm-up, no cookie
    [s] = socks([CLI])
    s.setblocking(True)
    s.settimeout(1)
    s.sendto(al.qid_wire(NAME, 1, cc), target)
    m = dns.message.from_wire(s.recv(65535))
    opt = al.cookie_of(m)
    res.check("worker's server cookie is RFC 9018's for our secret",
              opt is not None and al.server_cookie_ok(secret, opt, CLI, time.time()), repr(opt))
    s.close()
    if opt:
        holder, client_only = socks([CLI]), socks([ATTACK[0]])
        time.sleep(1.1)  # by design: the cookie query's bucket refills in one second
        r = al.flood(target, {
            "holder": (holder, RATE * 10, lambda i: al.qid_wire(NAME, i, opt)),
            "client": (client_only, RATE * 10, lambda i: al.qid_wire(NAME, i, cc)),
        }, 1.0)
        h, c = r["holder"], r["client"]
        res.check("valid server cookie exempt on the worker", h.get("full", 0) == h["sent"],
                  repr(h))
        lim = c["sent"] - c.get("full", 0)
        res.check("client cookie only, limited: BADCOOKIE on the worker",
                  c.get("badcookie", 0) > 0 and abs(c.get("badcookie", 0) - lim / 2) <= 2,
                  repr(c))
        for s in holder + client_only:
            s.close()
    res.check("port53d exits 0", d.stop() == 0, d.tail())


if __name__ == "__main__":
    sys.exit(dpnet.run_dp_test("p53dpabuse-", body, tools=("port53d", "port53")))
