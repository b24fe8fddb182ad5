#!/usr/bin/python3
"""A signed zone's signature window in node health and /metrics
(docs/dnssec.md, docs/anycast.md): the expiration port53 reports equals
the earliest RRSIG expiration dnspython reads from the zone's answers over
the wire, an unsigned zone beside it reports none, and with
--node-min-signature-validity-s above the remaining validity the node says
it is unhealthy (so `port53ctl anycast` would withdraw it), with the reason.

Loopback only; every wait is bounded; servers are always stopped.
"""
import json
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

import dns.message  # noqa: E402
import dns.rdatatype as T  # noqa: E402

check = common.Checks("dnssec-health")
PORT53 = common.default_port53()
PORT53CTL = os.path.join(os.path.dirname(PORT53), "port53ctl")
VALIDITY_DAYS = 2

SIGNED = """$ORIGIN signed.example.
$TTL 300
@    SOA ns1 hostmaster 1 7200 3600 1209600 300
@    NS  ns1
ns1  A   192.0.2.1
www  A   192.0.2.10
"""
PLAIN = """$ORIGIN plain.example.
$TTL 300
@    SOA ns1 hostmaster 1 7200 3600 1209600 300
@    NS  ns1
ns1  A   192.0.2.2
"""


def wire_expirations(port):
    """Every RRSIG expiration in the answers to a spread of questions."""
    out = []
    for name, rdtype in (("signed.example.", "SOA"), ("signed.example.", "DNSKEY"),
                         ("signed.example.", "NS"), ("www.signed.example.", "A"),
                         ("nope.signed.example.", "A"), ("www.signed.example.", "TXT")):
        q = dns.message.make_query(name, rdtype, want_dnssec=True, use_edns=0, payload=4096)
        raw = common.query(q, port, tcp=True)
        if raw is None:
            continue
        r = dns.message.from_wire(raw)
        for sec in (r.answer, r.authority):
            for rrset in sec:
                if rrset.rdtype == T.RRSIG:
                    out.extend(rr.expiration for rr in rrset)
    return out


def ctl(sock, *args):
    return common.run([PORT53CTL, "-s", sock] + list(args))


def run(d, snap, extra):
    sock = os.path.join(d, "ctl-%d.sock" % len(extra))
    srv = common.Port53(PORT53, None, d, extra=["--control-socket", sock] + extra)
    srv.snapshot = snap
    srv.start()
    try:
        common.wait_for(lambda: os.path.exists(sock), 10)
        return srv, sock, json.loads(ctl(sock, "node", "--json").stdout or "{}"), \
            ctl(sock, "metrics").stdout
    except Exception:
        srv.stop()
        raise


def main():
    with tempfile.TemporaryDirectory() as d:
        kdir = os.path.join(d, "keys")
        os.makedirs(kdir)
        r = common.run([PORT53, "dnssec-keygen", "-K", kdir, "-a", "13", "signed.example."])
        check(r.returncode == 0, "port53 dnssec-keygen", r.stderr)
        zs = os.path.join(d, "signed.zone")
        zp = os.path.join(d, "plain.zone")
        with open(zs, "w") as f:
            f.write(SIGNED)
        with open(zp, "w") as f:
            f.write(PLAIN)
        snap = os.path.join(d, "z.p53")
        r = common.run([PORT53, "compile", "--quiet", "--dnssec-keys", kdir, "--sig-validity",
                        str(VALIDITY_DAYS), "-o", snap, "signed.example.=" + zs,
                        "plain.example.=" + zp])
        check(r.returncode == 0, "compile signed + plain", r.stderr)
        if r.returncode != 0:
            return check.finish()

        srv, sock, node, metrics = run(d, snap, [])
        try:
            exps = wire_expirations(srv.port)
            check(len(exps) >= 4, "RRSIGs on the wire: %d" % len(exps))
            m = re.findall(r'port53_zone_signature_expiry_timestamp_seconds\{zone="([^"]*)"\} (\d+)',
                           metrics)
            check([z for z, _ in m] == ["signed.example."],
                  "expiry metric for the signed zone only: %s" % m)
            if m and exps:
                check(int(m[0][1]) == min(exps),
                      "metric %s = earliest RRSIG expiration on the wire %d" % (m[0][1], min(exps)))
            sig = node.get("checks", {}).get("signatures")
            check(sig is not None and sig["ok"] and sig["signed_zones"] == 1,
                  "node check: one signed zone, ok without a limit: %s" % sig)
            if sig and exps:
                want = min(exps) - time.time()
                check(abs(sig["validity_seconds"] - want) < 60 and want <= VALIDITY_DAYS * 86400 + 60,
                      "validity %.0f s, from the wire %.0f s" % (sig["validity_seconds"], want))
            check(node.get("healthy") is True, "healthy without a limit: %s" % node.get("reasons"))
            check('port53_node_check{check="signatures"} 1' in metrics, "signatures check metric 1")
        finally:
            srv.stop()

        limit = (VALIDITY_DAYS + 1) * 86400
        srv, sock, node, metrics = run(d, snap, ["--node-min-signature-validity-s", str(limit)])
        try:
            sig = node.get("checks", {}).get("signatures") or {}
            check(node.get("healthy") is False and sig.get("ok") is False,
                  "unhealthy when validity < %d s: %s" % (limit, node.get("reasons")))
            check("earliest signature expires" in (node.get("reasons") or ""),
                  "the reason names the signatures")
            r = ctl(sock, "node")
            check(r.returncode == 1, "port53ctl node exits 1 when unhealthy (%d)" % r.returncode)
            check('port53_node_check{check="signatures"} 0' in metrics, "signatures check metric 0")
        finally:
            srv.stop()

        # An unsigned snapshot: no signatures check at all.
        plain = os.path.join(d, "plain.p53")
        r = common.run([PORT53, "compile", "--quiet", "-o", plain, "plain.example.=" + zp])
        srv, sock, node, metrics = run(d, plain, ["--node-min-signature-validity-s", "60"])
        try:
            check(node.get("checks", {}).get("signatures", "x") is None and node.get("healthy"),
                  "unsigned: no signatures check, healthy: %s" % node.get("checks"))
            check("port53_zone_signature_expiry_timestamp_seconds" not in metrics,
                  "unsigned: no expiry metric")
        finally:
            srv.stop()
    return check.finish()


if __name__ == "__main__":
    sys.exit(main())
