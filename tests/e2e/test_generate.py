#!/usr/bin/python3
"""$GENERATE, HIP and AMTRELAY against BIND.

The same zone files, full of $GENERATE directives (ranges with steps,
${offset,width,base} in every base including nibbles for ip6.arpa, TTL and
class in either order, quoted rdata, "$$", directives in an $INCLUDEd file,
records without an owner after a directive, the last-TTL rule without
$TTL), are expanded by BIND's named-compilezone (Debian bind9-utils) and
compiled by port53. dnspython reads BIND's output and port53's dump: they
must hold the same RRsets (names, types, TTLs, rdata in canonical form),
and BIND must read port53's dump back into the same zone. A zone of HIP
(RFC 8005) and AMTRELAY (RFC 8777) records in presentation form, which
neither Knot DNS 3.2 nor NSD 4.6 reads, goes through the same comparison.
Then `port53 serve` answers a sample of BIND's RRsets over the wire, and the
limits reject with file:line.

Usage: test_generate.py [--port53 PATH] [--named-compilezone PATH]
Exits 77 (skip) when named-compilezone is missing.
"""

import argparse
import os
import random
import shutil
import sys

import dns.message
import dns.rdatatype
import dns.zone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

check = common.Checks()

REV6 = "0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa."

MAIN = """$ORIGIN gen.example.
$TTL 300
@ SOA ns hostmaster 1 7200 3600 1209600 300
@ NS ns
ns A 192.0.2.1
$GENERATE 1-254 host$ A 192.0.2.$
$GENERATE 0-4000/250 h${0,5} 60 IN AAAA 2001:db8::${0,4,x}
$generate 10-20/5 o${0,0,o}.oct IN 120 TXT "octal ${0,6,o} hex ${0,0,X} $$$$ $"
$GENERATE 1-8 mx$ MX "${0,0,d}0 mail${-1,2}.gen.example."
$GENERATE 1-3 _sip._tcp.s$ SRV "0 5 ${5059} sip$"
$GENERATE 1-4 c$ CNAME host${10}
$GENERATE 5-6 @ 77 TXT "at the apex $"
   TXT "no owner: the one before the directive"
$GENERATE 3-4 w${-3,3,X} 30 TXT a\\ b$ ; a comment
sub NS ns.sub
ns.sub A 192.0.2.53
$GENERATE 1-2 d$.sub TXT "glue side $"
$INCLUDE {include}
after TXT "after the include"
multi TXT ( "one"
  "two" )
$GENERATE 100-102 last$ PTR host$.gen.example.
"""

INCLUDED = """$GENERATE 1-5 inc$ A 198.51.100.$
$GENERATE 0-3 ${0,0,x}.x TXT "x$"
"""

# An ip6.arpa reverse zone made of nibble names: one PTR per address
# 2001:db8::0 to 2001:db8::1ff, every owner 20 nibbles below the apex.
REVERSE = """$ORIGIN {rev}
$TTL 3600
@ SOA ns1.gen.example. hostmaster.gen.example. 1 7200 3600 1209600 300
@ NS ns1.gen.example.
$GENERATE 0-511 ${{0,39,n}} PTR v6-${{0,3,x}}.gen.example.
""".format(rev=REV6)

# No $TTL: a directive without a TTL takes the last TTL written (RFC 1035),
# and one with a TTL sets it for what follows.
NOTTL = """$ORIGIN nottl.example.
@ 100 SOA ns hostmaster 1 7200 3600 1209600 300
@ NS ns
ns A 192.0.2.1
$GENERATE 1-2 a$ A 192.0.2.$
$GENERATE 1-2 b$ 200 A 192.0.2.$
c A 192.0.2.3
"""


# HIP and AMTRELAY in presentation form (RFC 8005 5, RFC 8777 4.2), one HIP
# spread over lines, a relay of every type, and RFC 3597 forms beside them.
HIPZONE = """$ORIGIN hip.example.
$TTL 600
@ SOA ns hostmaster 1 7200 3600 1209600 300
@ NS ns
ns A 192.0.2.1
www HIP ( 2 200100107B1A74DF365639CC39F1D578
        AwEAAbdxyhNuSutc5EMzxTs9LBPCIkOFH8cIvM4p9+LrV4e19WzK00+CI6zBCQTdtWsuxKbWIy87UOoJTwkUs7lBu+Upr1gsNrut79ryra+bSRGQb1slImA8YVJyuIDsj7kwzG7jnERNqnWxZ48AWkskmdHaVDP4BcelrTI3rMXdXF5D
        rvs1.example.com.
        rvs2 )
    AMTRELAY 10 0 1 203.0.113.15
nohost 60 HIP 2 0a 3q2+7w==
am AMTRELAY 128 1 3 amtrelays
am AMTRELAY 0 0 0 .
am AMTRELAY 10 1 2 2001:db8::15
generic TYPE55 \\# 9 010200040adeadbeef
generic TYPE260 \\# 6 0a01cb00710f
$GENERATE 1-3 g$ AMTRELAY "$ 0 1 198.51.100.$"
"""


def rrsets(zone):
    return {(n, r.rdtype): (r.ttl, sorted(x.to_digestable(zone.origin) for x in r))
            for n, r in zone.iterate_rdatasets()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port53", default=common.default_port53())
    ap.add_argument("--named-compilezone",
                    default=shutil.which("named-compilezone") or "/usr/bin/named-compilezone")
    a = ap.parse_args()
    if not os.access(a.named_compilezone, os.X_OK):
        print("SKIP: %s not found (Debian bind9-utils)" % a.named_compilezone)
        return 77

    with common.tempdir("p53gen-") as d:
        zdir = os.path.join(d, "zones")
        os.mkdir(zdir)
        inc = os.path.join(d, "gen.inc")
        with open(inc, "w") as f:
            f.write(INCLUDED)
        files = {"gen.example.": MAIN.replace("{include}", inc),
                 REV6: REVERSE, "nottl.example.": NOTTL, "hip.example.": HIPZONE}
        for origin, text in files.items():
            with open(os.path.join(zdir, origin + "zone"), "w") as f:
                f.write(text)

        p53dir = os.path.join(d, "p53")
        os.mkdir(p53dir)
        p53 = common.Port53(a.port53, zdir, p53dir)
        p53.compile()
        bind = {}
        for origin in files:
            path = os.path.join(zdir, origin + "zone")
            out = os.path.join(d, origin + "bind")
            r = common.run([a.named_compilezone, "-q", "-k", "ignore", "-i", "none",
                            "-o", out, origin, path])
            check(r.returncode == 0, "named-compilezone %s" % origin, r.stdout + r.stderr)
            if r.returncode != 0:
                continue
            want = dns.zone.from_file(out, origin, relativize=False)
            bind[origin] = want
            r = common.run([a.port53, "dump", p53.snapshot, origin])
            check(r.returncode == 0, "dump %s" % origin, r.stderr)
            got = dns.zone.from_text(r.stdout, origin, relativize=False)
            w, g = rrsets(want), rrsets(got)
            missing = sorted(str(k) for k in w if k not in g)
            extra = sorted(str(k) for k in g if k not in w)
            differ = sorted(str(k) for k in w if k in g and w[k] != g[k])
            check(not missing and not extra and not differ,
                  "%s: port53 has BIND's %d RRsets" % (origin, len(w)),
                  "missing %s extra %s differ %s" % (missing[:5], extra[:5], differ[:5]))
            if origin == "hip.example.":
                check("\tHIP\t2 200100107B1A74DF365639CC39F1D578 AwEAAbdx" in r.stdout and
                      "\tAMTRELAY\t128 1 3 amtrelays.hip.example." in r.stdout and
                      "TYPE55" not in r.stdout and "TYPE260" not in r.stdout,
                      "HIP and AMTRELAY dumped in presentation form", r.stdout)
            # BIND reads port53's dump back into the same zone.
            dumped = os.path.join(d, origin + "dump")
            with open(dumped, "w") as f:
                f.write(r.stdout)
            back = os.path.join(d, origin + "back")
            rb = common.run([a.named_compilezone, "-q", "-k", "ignore", "-i", "none",
                             "-o", back, origin, dumped])
            check(rb.returncode == 0 and
                  rrsets(dns.zone.from_file(back, origin, relativize=False)) == w,
                  "%s: BIND reads port53's dump back" % origin, rb.stdout + rb.stderr)

        # Answers over the wire, for a sample of BIND's RRsets.
        p53.start()
        try:
            rng = random.Random(53)
            n = 0
            for origin, z in bind.items():
                items = list(z.iterate_rdatasets())
                for name, rds in rng.sample(items, min(40, len(items))):
                    if rds.rdtype == dns.rdatatype.NS and name != z.origin:
                        continue  # a delegation: a referral, not an answer
                    if name.is_subdomain(dns.name.from_text("sub.gen.example.")):
                        continue
                    q = dns.message.make_query(name, rds.rdtype, use_edns=0, payload=4096)
                    raw = common.query(q, p53.port)
                    resp = dns.message.from_wire(raw) if raw else None
                    got = None
                    if resp is not None:
                        got = next((r for r in resp.answer
                                    if r.name == name and r.rdtype == rds.rdtype), None)
                    ok = got is not None and got.ttl == rds.ttl and \
                        sorted(x.to_digestable() for x in got) == \
                        sorted(x.to_digestable() for x in rds)
                    check(ok, "answer %s %s" % (name, dns.rdatatype.to_text(rds.rdtype)),
                          resp.to_text() if resp is not None else "no reply")
                    n += 1
            print("asked %d RRsets over UDP" % n)
        finally:
            p53.stop()

        # Errors name file:line; the cap and the switch that forbids.
        bad = os.path.join(d, "bad.zone")
        head = "$ORIGIN e.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n"
        cases = [
            ("$GENERATE 1-300 h$ A 192.0.2.$\n", [],
             "bad.zone:6: $GENERATE: invalid IPv4 address (iteration 256)"),
            ("$GENERATE 9-1 h$ A 192.0.2.1\n", [], "bad.zone:6: $GENERATE: range must be"),
            ("$GENERATE 1-2 h${0,3,z} A 192.0.2.1\n", [],
             "bad.zone:6: $GENERATE: bad ${offset,width,base} modifier"),
            ("$GENERATE 1-2 h$ A 192.0.2.1 more\n", [],
             "bad.zone:6: $GENERATE: extra text after the rdata"),
            ("; x\n$GENERATE 1-100 h$ A 192.0.2.1\n", ["--max-generate", "99"],
             "bad.zone:7: $GENERATE would make 100 records, more than the 99 left"),
            ("$GENERATE 1-70000 h$ A 192.0.2.1\n", [],
             "bad.zone:6: $GENERATE would make 70000 records, more than the 65536 left"),
            ("$GENERATE 1-1 h$ A 192.0.2.1\n", ["--max-generate", "0"],
             "bad.zone:6: $GENERATE is not allowed here"),
            ("$GENERATE 1-2 h$ A 192.0.2.1\nh1 CNAME x\n", [],
             "h1.e.: CNAME beside other data"),
        ]
        for text, opts, want in cases:
            with open(bad, "w") as f:
                f.write(head + text)
            r = common.run([a.port53, "check", "--quiet"] + opts + ["e.=" + bad])
            check(r.returncode == 1 and want in r.stderr, "rejects %r %s" % (text.strip(), opts),
                  r.stderr.strip())
        with open(bad, "w") as f:
            f.write(head + "$GENERATE 1-100 h$ A 192.0.2.1\n")
        r = common.run([a.port53, "check", "--quiet", "--max-generate", "100", "e.=" + bad])
        check(r.returncode == 0, "--max-generate 100 allows 100", r.stderr)

    return check.finish()


if __name__ == "__main__":
    sys.exit(main())
