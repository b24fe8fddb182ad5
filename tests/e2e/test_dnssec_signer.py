#!/usr/bin/python3
"""The control-plane signer (docs/dnssec.md "The server signs on a timer"):
`port53 serve --zone ORIGIN=PATH --sign-keys DIR` signs the zone itself and
builds again at each key timing event. A ZSK rollover by pre-publication is
set up with `port53 dnssec-rollover` with steps a few seconds apart; then,
with no command run, the served DNSKEY set and the signing key must change
at each step time and not before, every answer must validate under
dnspython's dns.dnssec, /v1/dnssec and /metrics must report the next event
and the last signing, and a key directory broken mid-run must leave the
last snapshot served, with the failure logged and counted.

Loopback only; every wait polls with a deadline; the server is always
stopped.
"""
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from dnssecsetup import api_get, api_json, ask, signed_rrsets  # noqa: E402

import dns.dnssec  # noqa: E402
import dns.name  # noqa: E402
import dns.rdataset  # noqa: E402
import dns.rdatatype as T  # noqa: E402

check = common.Checks("dnssec-signer")
PORT53 = common.default_port53()
ORIGIN = dns.name.from_text("sig.example.")
ZONE = """$ORIGIN sig.example.
$TTL 300
@    SOA ns1 hostmaster 1 7200 3600 1209600 300
@    NS  ns1
ns1  A   192.0.2.1
www  A   192.0.2.10
"""
LEAD = 8     # s from now to the rollover's first step (the server starts first)
PREPUB = 4   # --prepublish and --retire: the steps' spacing
RESIGN = 3   # --resign-interval
SLACK = 3    # s after a step time by which the server must have built


class View:
    """What the server serves now: the DNSKEY set and its signatures, and
    a few answers with theirs, validated as a resolver would."""

    def __init__(self, port, ksk_tag):
        self.at = time.time()
        r = ask(port, "sig.example.", "DNSKEY")
        keys = [s for s in r.answer if s.rdtype == T.DNSKEY]
        sigs = [s for s in r.answer if s.rdtype == T.RRSIG]
        self.dnskey = keys[0] if keys else None
        self.tags = sorted(dns.dnssec.key_id(k) for k in self.dnskey) if keys else []
        self.problems = []
        if not keys or not sigs:
            self.problems.append("no signed DNSKEY set")
            self.signers = set()
            return
        ksk = [k for k in self.dnskey if dns.dnssec.key_id(k) == ksk_tag]
        try:
            anchor = dns.rdataset.from_rdata_list(self.dnskey.ttl, ksk)
            dns.dnssec.validate(self.dnskey, sigs[0], {ORIGIN: anchor})
        except (dns.dnssec.ValidationFailure, ValueError) as e:
            self.problems.append("DNSKEY set not signed by the KSK: %s" % e)
        self.signers = set()
        for name, rdtype in (("sig.example.", "SOA"), ("www.sig.example.", "A"),
                             ("nope.sig.example.", "A")):
            for s, sig in signed_rrsets(ask(port, name, rdtype)):
                if sig is None:
                    self.problems.append("%s %s unsigned" % (s.name, T.to_text(s.rdtype)))
                    continue
                self.signers |= {x.key_tag for x in sig}
                try:
                    dns.dnssec.validate(s, sig, {ORIGIN: self.dnskey})
                except dns.dnssec.ValidationFailure as e:
                    self.problems.append("%s %s: %s" % (s.name, T.to_text(s.rdtype), e))


def port53(*args):
    r = common.run([PORT53] + list(args))
    if r.returncode != 0:
        raise RuntimeError("port53 %s: %s" % (" ".join(args), r.stderr))
    return r.stdout


def metric(text, name, **labels):
    want = ",".join('%s="%s"' % kv for kv in sorted(labels.items()))
    for line in text.splitlines():
        m = re.match(r'^(\w+)(?:\{([^}]*)\})? (\S+)$', line)
        if not m or m.group(1) != name:
            continue
        got = ",".join(sorted((m.group(2) or "").split(","))) if m.group(2) else ""
        if got == want:
            return float(m.group(3))
    return None


def main():
    with tempfile.TemporaryDirectory() as d:
        kdir = os.path.join(d, "keys")
        os.makedirs(kdir)
        port53("dnssec-keygen", "-K", kdir, "--ksk", "sig.example.")
        port53("dnssec-keygen", "-K", kdir, "--zsk", "sig.example.")
        zf = os.path.join(d, "sig.zone")
        with open(zf, "w") as f:
            f.write(ZONE)
        t0 = int(time.time()) + LEAD
        port53("dnssec-rollover", "-K", kdir, "--zsk", "--at", str(t0), "--prepublish",
               str(PREPUB), "--retire", str(PREPUB), "sig.example.")
        status = port53("dnssec-status", "-K", kdir, "--at", str(t0 - 1), "sig.example.")
        ksk = int(re.search(r"^KSK (\d+)", status, re.M).group(1))
        zsk_old = int(re.search(r"^ZSK (\d+) alg \d+ active", status, re.M).group(1))
        zsk_new = int(re.search(r"^ZSK (\d+) alg \d+ future", status, re.M).group(1))
        steps = [(t0, "publish"), (t0 + PREPUB, "activate"), (t0 + 2 * PREPUB, "delete")]

        port = common.free_port()
        sock = os.path.join(d, "api.sock")
        snap = os.path.join(d, "serving.p53")
        log = os.path.join(d, "serve.log")
        logf = open(log, "w")
        proc = subprocess.Popen([PORT53, "serve", "-s", snap, "-l", "127.0.0.1:%d" % port,
                                 "--rrl-rate", "0", "--zone", "sig.example.=" + zf,
                                 "--sign-keys", kdir, "--resign-interval", str(RESIGN),
                                 "--control-socket", sock],
                                stdout=logf, stderr=subprocess.STDOUT)
        try:
            run(proc, port, sock, kdir, ksk, zsk_old, zsk_new, steps, log)
        finally:
            common.stop(proc)
            logf.close()
            if check.failed:
                with open(log) as f:
                    print(f.read()[-3000:])
    return check.finish()


def run(proc, port, sock, kdir, ksk, zsk_old, zsk_new, steps, log):
    if not check(common.wait_answering(port, proc, 15.0, "sig.example."), "server answers"):
        return
    check(time.time() < steps[0][0], "the server is up before the first step",
          "raise LEAD")
    v = View(port, ksk)
    check(not v.problems, "before the rollover: every answer validates", v.problems)
    check(v.tags == sorted([ksk, zsk_old]), "before: DNSKEY set is KSK + old ZSK", v.tags)
    check(v.signers == {zsk_old}, "before: the old ZSK signs", v.signers)

    st, doc = api_json(sock, "/v1/dnssec")
    z = doc["zones"][0] if st == 200 and doc and doc.get("zones") else {}
    check(z.get("zone") == "sig.example.", "/v1/dnssec lists the signed zone", (st, doc))
    ev = z.get("next_event") or {}
    check(ev.get("event") == "publish" and ev.get("time") == steps[0][0]
          and ev.get("key") == zsk_new, "/v1/dnssec: next event is the new ZSK's publish", ev)
    roles = sorted((k["role"], k["tag"], k["state"]) for k in z.get("keys", []))
    check(roles == sorted([("KSK", ksk, "active"), ("ZSK", zsk_old, "active"),
                           ("ZSK", zsk_new, "future")]), "/v1/dnssec: keys, roles, states",
          roles)
    check(z.get("last_result") == "ok" and z.get("last_signing")
          and abs(z["last_signing"] - time.time()) < 30, "/v1/dnssec: last signing", z)
    st, text = api_get(sock, "/metrics")
    check(metric(text, "port53_dnssec_next_event_timestamp_seconds", zone="sig.example.",
                 event="publish") == steps[0][0], "/metrics: next event (publish)")
    check((metric(text, "port53_dnssec_last_signing_timestamp_seconds", zone="sig.example.")
           or 0) > 0, "/metrics: last signing")
    check(metric(text, "port53_dnssec_signing_failures_total", zone="sig.example.") == 0,
          "/metrics: no failures yet")

    serial0 = (api_json(sock, "/v1/status")[1] or {}).get("serial")
    want = [
        (sorted([ksk, zsk_old, zsk_new]), {zsk_old}),   # new ZSK published
        (sorted([ksk, zsk_old, zsk_new]), {zsk_new}),   # new ZSK signs, old stays
        (sorted([ksk, zsk_new]), {zsk_new}),            # old ZSK gone
    ]
    prev = (v.tags, v.signers)
    for (t, what), (tags, signers) in zip(steps, want):
        seen = []

        def reached():
            x = View(port, ksk)
            seen.append(x)
            return (x.tags, x.signers) == (tags, signers)

        common.wait_for(reached, deadline=t + SLACK - time.time(), step=0.2)
        x = seen[-1] if seen else View(port, ksk)
        # A view taken across a swap may mix the two generations: only a
        # view of the new state counts as early.
        early = [s for s in seen if s.at < t - 0.5 and (s.tags, s.signers) == (tags, signers)]
        check(not early, "%s: nothing changes before its time" % what,
              [(s.at - t, s.tags, s.signers) for s in early])
        bad = [p for s in seen for p in s.problems]
        check(not bad, "%s: every answer validates across the step" % what, bad[:5])
        check(x.tags == tags and x.signers == signers,
              "%s at +%ds: DNSKEY set %s signed by %s" % (what, t - steps[0][0], tags, signers),
              (x.tags, x.signers, time.time() - t))
        check((tags, signers) != prev, "%s: the step changes what is served" % what)
        prev = (tags, signers)
        if what == "publish":
            st, doc = api_json(sock, "/v1/dnssec")
            ev = ((doc or {}).get("zones") or [{}])[0].get("next_event") or {}
            check(ev.get("event") in ("activate", "inactive") and ev.get("time") == steps[1][0],
                  "/v1/dnssec after publish: next is the activation", ev)
            st, text = api_get(sock, "/metrics")
            nxt = [metric(text, "port53_dnssec_next_event_timestamp_seconds",
                          zone="sig.example.", event=e) for e in ("activate", "inactive")]
            check(steps[1][0] in nxt, "/metrics after publish: next event", nxt)
    serial1 = (api_json(sock, "/v1/status")[1] or {}).get("serial")
    check(serial0 is not None and serial1 is not None and serial1 > serial0,
          "each step is a new snapshot generation", (serial0, serial1))
    with open(log) as f:
        text = f.read()
    for t, what in steps:
        # The build for a step is planned by name ("next build at T (...)")
        # and, unless a re-signing build already running took it, named
        # as due when it starts.
        tags = [zsk_new] if what == "publish" else [zsk_old] if what == "delete" else \
            [zsk_new, zsk_old]
        evs = ["activate", "inactive"] if what == "activate" else [what]
        named = any(re.search(r"\(sig\.example\.: ZSK %d %s\)|sig\.example\.: ZSK %d %s is due"
                              % (k, e, k, e), text) for k in tags for e in evs)
        check(named, "log names the %s step" % what)

    # A broken key directory: builds fail, what is served stays.
    with open(os.path.join(kdir, "Ksig.example.+013+00001.key"), "w") as f:
        f.write("sig.example. IN DNSKEY 256 3 13 not-base64!\n")
    with open(os.path.join(kdir, "Ksig.example.+013+00001.private"), "w") as f:
        f.write("Private-key-format: v1.3\nAlgorithm: 13 (ECDSAP256SHA256)\nPrivateKey: !!\n")

    def failures():
        st, doc = api_json(sock, "/v1/dnssec")
        return (doc or {}).get("failures", 0)

    check(common.wait_for(lambda: failures() >= 1, deadline=RESIGN + 5, step=0.2),
          "a broken key directory fails the build")
    serial2 = (api_json(sock, "/v1/status")[1] or {}).get("serial")
    check(common.wait_for(lambda: failures() >= 2, deadline=RESIGN + 5, step=0.2),
          "the failed build is retried")
    serial3 = (api_json(sock, "/v1/status")[1] or {}).get("serial")
    check(serial2 == serial3, "no snapshot swapped in while the keys are broken",
          (serial2, serial3))
    v = View(port, ksk)
    check(not v.problems and v.tags == sorted([ksk, zsk_new]) and v.signers == {zsk_new},
          "the last good snapshot still serves and validates", (v.problems, v.tags, v.signers))
    st, doc = api_json(sock, "/v1/dnssec")
    z = ((doc or {}).get("zones") or [{}])[0]
    check(z.get("last_result") == "failed" and z.get("last_error"),
          "/v1/dnssec reports the failure", z)
    st, text = api_get(sock, "/metrics")
    check((metric(text, "port53_dnssec_signing_failures_total", zone="sig.example.") or 0) >= 2,
          "/metrics counts the failures")
    with open(log) as f:
        check("build failed, the previous snapshot stays served" in f.read(),
              "the failure is logged")
    check(proc.poll() is None, "the server is still running")


if __name__ == "__main__":
    sys.exit(main())
