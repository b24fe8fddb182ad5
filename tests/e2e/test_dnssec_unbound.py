#!/usr/bin/python3
"""A validating resolver through a signed parent and child served by port53
(docs/dnssec.md): Debian's unbound, its trust anchor the parent's KSK,
resolves through two `port53 serve` instances in a network namespace this
test creates (so both can own port 53 on their own addresses): the parent
example. (signed) delegates sub.example. (signed, DS in the parent),
insec.example. (unsigned, no DS) and bad.example. (signed, but the parent's
DS names another key). Expected: AD on answers and denials below secure
delegations, no AD but answers for the insecure child, SERVFAIL for the
bogus one; a large signed answer through unbound (TC, then TCP). All of it
twice: with NSEC chains, and with NSEC3 (the parent with opt-out, so the
insecure delegation is proven by an opt-out NSEC3; the children plain).

Needs root (ip netns) and unbound; exits 77 (skip) without them. The
namespace and every process are removed at the end.
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import dnssecsetup  # noqa: E402
import unboundns  # noqa: E402
from unboundns import sh  # noqa: E402

check = common.Checks("dnssec-unbound")
PORT53 = common.default_port53()
PARENT, CHILD, RESOLVER = "10.53.0.1", "10.53.0.2", "10.53.0.3"
NETNS = unboundns.Netns("p53dnssec", (PARENT, CHILD, RESOLVER))

PARENT_ZONE = """$ORIGIN example.
$TTL 300
@ SOA ns1 hostmaster 1 7200 3600 1209600 60
@ NS ns1
ns1 A {parent}
www A 192.0.2.10
sub NS ns.sub
ns.sub A {child}
{sub_ds}
insec NS ns.insec
ns.insec A {child}
bad NS ns.bad
ns.bad A {child}
bad DS {bad_ds}
"""
CHILD_ZONE = """$ORIGIN {origin}
$TTL 300
@ SOA ns hostmaster 1 7200 3600 1209600 60
@ NS ns
ns A {child}
www A 192.0.2.20
*.wild TXT "wildcard"
alias CNAME www
"""
BIG = "".join('big TXT "%s"\n' % ("%02d" % i * 100) for i in range(15))

def dig(name, rdtype, tcp=False):
    return unboundns.dig(NETNS, RESOLVER, name, rdtype, *(["+tcp"] if tcp else []))


def main():
    why = unboundns.missing()
    if why:
        print("skip: " + why)
        return 77
    for mode in ("nsec", "nsec3"):
        run(mode)
    return check.finish()


def run(mode):
    """The whole tree with one kind of denial chain."""
    parent_x, child_x = [], []
    if mode == "nsec3":
        parent_x = ["--nsec3-opt-out", "example."]
        child_x = ["--nsec3", "sub.example.", "--nsec3", "bad.example."]
    procs = []
    with common.tempdir("p53unbound-") as d:
        try:
            NETNS.create()
            keys = os.path.join(d, "keys")
            dnssecsetup.keygen(keys, "--ksk")
            dnssecsetup.keygen(keys, "--zsk", "-a", "15")
            dnssecsetup.keygen(keys, zone="sub.example.")
            dnssecsetup.keygen(keys, zone="bad.example.")
            sub_ds = dnssecsetup.ds(keys, "sub.example.").strip()
            # A DS that matches no key of bad.example.: a validator must
            # call that child bogus.
            bad_ds = "4711 13 2 " + "AB" * 32
            zp = os.path.join(d, "parent.zone")
            with open(zp, "w") as f:
                f.write(PARENT_ZONE.format(parent=PARENT, child=CHILD, sub_ds=sub_ds,
                                           bad_ds=bad_ds))
            zones = []
            for origin in ("sub.example.", "insec.example.", "bad.example."):
                p = os.path.join(d, origin + "zone")
                with open(p, "w") as f:
                    f.write(CHILD_ZONE.format(origin=origin, child=CHILD) + BIG)
                zones.append(origin + "=" + p)
            snap_p = os.path.join(d, "parent.p53")
            snap_c = os.path.join(d, "child.p53")
            sh(PORT53, "compile", "--quiet", "--dnssec-keys", keys, "-o", snap_p, "example.=" + zp,
               *parent_x)
            sh(PORT53, "compile", "--quiet", "--dnssec-keys", keys, "-o", snap_c, *zones, *child_x)
            for snap, addr in ((snap_p, PARENT), (snap_c, CHILD)):
                log = open(os.path.join(d, addr + ".log"), "w")
                procs.append(subprocess.Popen(
                    NETNS.nsx(PORT53, "serve", "-s", snap, "-l", addr + ":53", "--rrl-rate", "0"),
                    stdout=log, stderr=subprocess.STDOUT))
            with open(os.path.join(d, "anchor"), "w") as f:
                f.write(dnssecsetup.ds(keys, "example."))
            procs.append(unboundns.start_unbound(NETNS, d, unboundns.unbound_conf(
                d, RESOLVER, "example.", PARENT, cache_max_ttl=0)))
            up = common.wait_for(lambda: dig("ns1.example.", "A")[0] == "NOERROR", deadline=15)
            check(up, mode + ": unbound answers through port53", unboundns.log_of(d))

            cases = [
                ("www.example.", "A", "NOERROR", True),
                # Under opt-out the NSEC3 covering nx.example. could hide an
                # unsigned delegation: unbound takes the NXDOMAIN as insecure.
                ("nx.example.", "A", "NXDOMAIN", mode == "nsec"),
                ("www.example.", "TXT", "NOERROR", True),
                ("www.sub.example.", "A", "NOERROR", True),
                ("x.wild.sub.example.", "TXT", "NOERROR", True),
                ("x.wild.sub.example.", "A", "NOERROR", True),
                ("nx.sub.example.", "A", "NXDOMAIN", True),
                ("alias.sub.example.", "A", "NOERROR", True),
                ("www.insec.example.", "A", "NOERROR", False),
                ("nx.insec.example.", "A", "NXDOMAIN", False),
                ("www.bad.example.", "A", "SERVFAIL", False),
                # No DS at the insecure cut: proven by its NSEC, or under
                # opt-out by an NSEC3 covering the name with the Opt-Out
                # flag, which proves only insecurity (RFC 5155 8.6): no AD.
                ("insec.example.", "DS", "NOERROR", mode == "nsec"),
            ]
            for name, rdtype, want, ad in cases:
                status, got_ad, out = dig(name, rdtype)
                check(status == want and got_ad == ad,
                      "%s: unbound: %s %s is %s%s" % (mode, name, rdtype, want,
                                                       " with AD" if ad else ""),
                      out)
            # The answer is too large for 1232 bytes with its signatures:
            # unbound gets TC from port53 and asks again over TCP.
            status, ad, out = dig("big.sub.example.", "TXT", tcp=True)
            check(status == "NOERROR" and ad and out.count("\tTXT\t") == 15,
                  mode + ": unbound: a large signed answer validates (TC, then TCP)", out)
        finally:
            for p in reversed(procs):
                common.stop(p)
            NETNS.delete()


if __name__ == "__main__":
    t0 = time.time()
    rc = main()
    print("took %.1f s" % (time.time() - t0))
    sys.exit(rc)
