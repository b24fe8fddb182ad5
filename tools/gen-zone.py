#!/usr/bin/python3
"""Writes a large synthetic zone for benchmarks: N records, seeded, so the
same command writes the same file (benchmarks ship the command, not the zone).

The mix is meant to look like a hosting provider's zone rather than a list
of A records: mostly A/AAAA hosts, some CNAMEs to them, MX and TXT at some
names, delegations with glue, a few wildcards, and a tenth of the names one
level down (which makes empty non-terminals). The same file loads in port53,
Knot DNS and NSD, so the memory comparison uses identical data.

usage: gen-zone.py [--seed N] [--origin bench.test.] RECORDS > zone
"""
import argparse
from array import array
import random
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("records", type=int, help="approximate number of records")
    ap.add_argument("--origin", default="bench.test.")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("-o", "--output", help="file (default stdout)")
    a = ap.parse_args()
    origin = a.origin if a.origin.endswith(".") else a.origin + "."
    rnd = random.Random(a.seed)
    out = open(a.output, "w") if a.output else sys.stdout
    w = out.write
    w(f"$ORIGIN {origin}\n$TTL 3600\n")
    w(f"@ SOA ns1 hostmaster 1 7200 900 1209600 300\n@ NS ns1\n@ NS ns2\n")
    w("@ A 192.0.2.1\n@ MX 10 mx1\n@ TXT \"v=spf1 mx -all\"\n")
    w("ns1 A 192.0.2.53\nns2 A 192.0.2.54\nns2 AAAA 2001:db8::54\nmx1 A 192.0.2.25\n")
    n = 10
    i = 0
    buf = []
    hosts = array("q")  # indexes of names that own an A record: CNAME targets

    def name(k):
        return f"h{k}" if k % 10 else f"h{k}.g{k % 997}"

    while n < a.records:
        owner = name(i)
        r = rnd.random()
        if r < 0.55:
            buf.append(f"{owner} A 10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}\n")
            n += 1
            if rnd.random() < 0.3:
                buf.append(f"{owner} AAAA 2001:db8:{(i >> 16) & 0xffff:x}::{i & 0xffff:x}\n")
                n += 1
            hosts.append(i)
        elif r < 0.70:
            buf.append(f"{owner} AAAA 2001:db8:{(i >> 16) & 0xffff:x}::{i & 0xffff:x}\n")
            n += 1
        elif r < 0.80:
            # one hop to a host that has an A record, as most CNAMEs are
            t = name(hosts[rnd.randrange(len(hosts))]) if hosts else "ns1"
            buf.append(f"{owner} CNAME {t}\n")
            n += 1
        elif r < 0.87:
            buf.append(f"{owner} MX 10 mx1.{origin}\n{owner} A 10.1.{(i >> 8) & 255}.{i & 255}\n")
            n += 2
        elif r < 0.975:
            buf.append(f"{owner} TXT \"id={i:08x} tenant={rnd.randrange(1 << 30)}\"\n")
            n += 1
        elif r < 0.99:
            # a delegation with in-zone glue
            buf.append(f"d{i} NS ns.d{i}\nd{i} NS ns2\nns.d{i} A 10.2.{(i >> 8) & 255}.{i & 255}\n")
            n += 3
        else:
            buf.append(f"*.w{i} A 10.3.{(i >> 8) & 255}.{i & 255}\n")
            n += 1
        i += 1
        if len(buf) >= 10000:
            w("".join(buf))
            buf.clear()
    w("".join(buf))
    if a.output:
        out.close()
    print(f"gen-zone: {n} records, {i} names under {origin}", file=sys.stderr)


if __name__ == "__main__":
    main()
