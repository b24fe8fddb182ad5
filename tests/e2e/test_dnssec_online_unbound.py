#!/usr/bin/python3
"""A validating resolver through answers port53 signs per query
(docs/dnssec.md, online signing): Debian's unbound, its trust anchor the
zone's KSK (as the DS `port53 ds` prints), resolves through `port53 serve
--dnssec-keys` serving the Route 53 test zone (tests/e2e/r53/example.json)
in a network namespace this test creates. Two rounds:

- compact denial (RFC 9824) with an ECDSA P-256 KSK and ZSK: routing-policy
  answers (weighted, failover, geolocation, latency, geoproximity, CIDR,
  multivalue, alias), a policy that picks nothing, NXDOMAIN (also deep) and
  NODATA, each one NSEC made and signed per query;
- an NSEC chain with an Ed25519 CSK: the same policy answers, the policy
  NODATA (the name's own NSEC, re-signed without the type) and a chain
  NXDOMAIN.

Expected: AD on every answer and denial. A compact NXDOMAIN is NOERROR to a
resolver that does not set the Compact Answers OK flag (unbound 1.17 does
not), NXDOMAIN where the resolver knows NXNAME: either, with AD and no data.
The same snapshot served without the key directory leaves policy answers
unsigned: unbound must call them bogus (SERVFAIL), which shows it validates.

Needs root (ip netns) and unbound; exits 77 (skip) without them. Every
address is on the namespace's own loopback; the namespace and every process
are removed at the end.
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import unboundns  # noqa: E402
from unboundns import sh  # noqa: E402

check = common.Checks("dnssec-online-unbound")
PORT53 = common.default_port53()
HERE = os.path.dirname(os.path.abspath(__file__))
SERVER, RESOLVER = "127.0.0.53", "127.0.0.3"
# The addresses are in the namespace's loopback range: nothing to add.
NETNS = unboundns.Netns("p53osu")


def dig(name, rdtype):
    status, ad, out = unboundns.dig(NETNS, RESOLVER, name, rdtype)
    answers = [ln.split() for ln in out.split(";; ANSWER SECTION:")[1].split("\n\n")[0]
               .strip().splitlines()] if ";; ANSWER SECTION:" in out else []
    addrs = sorted(a[4] for a in answers if len(a) > 4 and a[3] == "A")
    return status, ad, addrs, out


POLICY = [
    ("simple.example.com.", ["192.0.2.1", "192.0.2.2"], "static A"),
    ("www.example.com.", None, "weighted"),
    ("fo.example.com.", ["192.0.2.20"], "failover"),
    ("geo.example.com.", ["192.0.2.34"], "geolocation (default for the resolver)"),
    ("lat.example.com.", None, "latency"),
    ("prox.example.com.", None, "geoproximity"),
    ("cidr.example.com.", ["192.0.2.72"], "CIDR (default for the resolver)"),
    ("mv.example.com.", None, "multivalue"),
    ("alias.example.com.", ["192.0.2.20"], "alias to failover"),
    ("example.com.", None, "apex alias to weighted"),
]


def start(d, label, snap, kdir, anchor):
    """port53 serve (with the keys when kdir) and unbound; the processes."""
    procs = []
    args = [PORT53, "serve", "-s", snap, "-l", SERVER + ":53", "--rrl-rate", "0"]
    if kdir:
        args += ["--dnssec-keys", kdir]
    log = open(os.path.join(d, label + "-serve.log"), "w")
    procs.append(subprocess.Popen(NETNS.nsx(*args), stdout=log, stderr=subprocess.STDOUT))
    log.close()
    ud = os.path.join(d, label + "-unbound")
    os.makedirs(ud)
    with open(os.path.join(ud, "anchor"), "w") as f:
        f.write(anchor)
    procs.append(unboundns.start_unbound(NETNS, ud, unboundns.unbound_conf(
        ud, RESOLVER, "example.com.", SERVER, access="127.0.0.0/8", localhost=True,
        cache_max_ttl=0, no_negative_cache=True)))
    up = common.wait_for(lambda: dig("ns1.example.com.", "A")[0] == "NOERROR", deadline=20)
    ulog = os.path.join(ud, "unbound.log")
    check(up, "%s: unbound answers through port53" % label, unboundns.log_of(ud, 3000))
    return procs, ulog


def run_round(d, label, keygen, extra, negatives):
    kdir = os.path.join(d, label + "-keys")
    os.makedirs(kdir)
    for a in keygen:
        sh(PORT53, "dnssec-keygen", "-K", kdir, *a, "example.com.")
    snap = os.path.join(d, label + ".p53")
    sh(PORT53, "compile", "--quiet", "--dnssec-keys", kdir, "-o", snap, "--geo",
       os.path.join(HERE, "r53", "geo.csv"), *extra,
       "example.com=" + os.path.join(HERE, "r53", "example.json"))
    anchor = sh(PORT53, "ds", "-K", kdir, "example.com.").stdout
    procs, ulog = start(d, label, snap, kdir, anchor)
    try:
        for name, want, what in POLICY:
            status, ad, addrs, out = dig(name, "A")
            ok = status == "NOERROR" and ad and addrs and (want is None or addrs == want)
            check(ok, "%s: unbound validates %s (%s) with AD" % (label, what, name),
                  out + open(ulog).read()[-2000:])
        for name, rdtype, statuses, what in negatives:
            status, ad, addrs, out = dig(name, rdtype)
            check(status in statuses and ad and not addrs and "ANSWER: 0" in out,
                  "%s: unbound validates %s (%s %s) with AD" % (label, what, name, rdtype),
                  out + open(ulog).read()[-2000:])
    finally:
        for p in reversed(procs):
            common.stop(p)
    # Served without the keys, the same snapshot's policy answers carry no
    # RRSIG: a validator must not accept them.
    procs, ulog = start(d, label + "-nokeys", snap, None, anchor)
    try:
        status, ad, addrs, out = dig("fo.example.com.", "A")
        check(status == "SERVFAIL", "%s: unsigned policy answer is bogus to unbound" % label,
              out)
        status, ad, addrs, out = dig("simple.example.com.", "A")
        check(status == "NOERROR" and ad, "%s: static answer still validates without keys" %
              label, out)
    finally:
        for p in reversed(procs):
            common.stop(p)


def main():
    why = unboundns.missing()
    if why:
        print("skip: " + why)
        return 77
    with common.tempdir("p53osunbound-") as d:
        try:
            NETNS.create()
            compact_neg = [
                ("nx.example.com.", "A", ("NOERROR", "NXDOMAIN"), "compact NXDOMAIN"),
                ("a.b.nx.example.com.", "MX", ("NOERROR", "NXDOMAIN"), "deep compact NXDOMAIN"),
                ("simple.example.com.", "TXT", ("NOERROR",), "compact NODATA"),
                ("example.com.", "MX", ("NOERROR",), "compact NODATA at the apex"),
                ("geonodef.example.com.", "A", ("NOERROR",), "compact policy NODATA"),
            ]
            run_round(d, "compact-13", [["--ksk"], ["--zsk"]],
                      ["--compact-denial", "example.com"], compact_neg)
            chain_neg = [
                ("nx.example.com.", "A", ("NXDOMAIN",), "chain NXDOMAIN"),
                ("simple.example.com.", "TXT", ("NOERROR",), "chain NODATA"),
                ("geonodef.example.com.", "A", ("NOERROR",), "policy NODATA (re-signed NSEC)"),
            ]
            run_round(d, "chain-15", [["-a", "15"]], [], chain_neg)
        finally:
            NETNS.delete()
    return check.finish()


if __name__ == "__main__":
    t0 = time.time()
    rc = main()
    print("took %.1f s" % (time.time() - t0))
    sys.exit(rc)
