#!/usr/bin/python3
"""compile --geo FILE.mmdb: the same networks written as a MaxMind DB
(tests/e2e/mmdb_write.py) and as port53's geo CSV compile to the same geo
sections (GEO4, GEO6, GEOLOC byte for byte) and the same `port53 dump`, and
`port53 serve` gives the same answers and ECS scopes for clients in every
network. Record sizes 24/28/32, an IPv6 tree (with the IPv4-mapped and 6to4
aliases MaxMind's databases carry) and an IPv4-only tree; detection by the
metadata marker without the .mmdb extension; corrupt databases refused with
the file name and the reason, and nothing written.

Loopback only; every wait is bounded; the servers are always stopped.
"""
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time

import dns.edns
import dns.message
import dns.query

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402
import mmdb_write  # noqa: E402

PORT53 = os.environ.get("PORT53", "port53")
ZONE = "example.com=" + os.path.join(HERE, "r53", "example.json")

# prefix, continent, country, subdivision, latitude, longitude; IPv4 then
# IPv6, each in address order, so the CSV lists them in the order the tree
# walk finds them (and GEOLOC matches byte for byte).
NETS = [
    ("10.1.0.0/16", "NA", "US", "WA", 47.6, -122.3),
    ("10.2.0.0/16", "NA", "US", "NY", 40.7, -74.0),
    ("10.3.0.0/16", "EU", "DE", "", 50.1, 8.7),
    ("10.4.0.0/16", "EU", "FR", "", 48.9, 2.35),
    ("10.5.0.0/16", "AS", "JP", "", 35.7, 139.7),
    ("10.6.0.0/16", "OC", "AU", "", -33.9, 151.2),
    ("10.7.1.0/24", "EU", "GB", "ENG", 51.5, -0.13),
    ("10.7.2.128/25", "SA", "BR", "", -23.55, -46.63),
    ("172.16.0.0/12", "AF", "ZA", "", -33.92, 18.42),
    ("203.0.113.7/32", "NA", "CA", "", 45.5, -73.57),
    ("2001:db8:1::/48", "EU", "DE", "", 50.1, 8.7),
    ("2001:db8:2::/47", "NA", "US", "CA", 37.77, -122.42),
    ("2001:db8:8000::/33", "AS", "SG", "", 1.35, 103.82),
    ("2a02:c0::/29", "EU", "FR", "", 48.86, 2.35),
]
# A network with only registered_country: nothing to route on, so the
# loader leaves it unmapped, as a CSV without its line does.
BARE = ("10.9.9.0/24", {"registered_country": {"iso_code": "NL"}})


check = common.Checks("mmdb")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def write_csv(path, nets):
    with open(path, "w") as f:
        f.write("# prefix,continent,country,subdivision,latitude,longitude\n")
        for n in nets:
            f.write("%s,%s,%s,%s,%r,%r\n" % n)


def mmdb_nets(nets):
    out = [(n[0], mmdb_write.city_record(*n[1:])) for n in nets]
    return out + [BARE]


def compile_snap(geo, out):
    return subprocess.run([PORT53, "compile", "-o", out, "--geo", geo, ZONE],
                          capture_output=True, text=True)


def sections(path):
    """GEO4 (13), GEO6 (14), GEOLOC (15) from the snapshot header
    (docs/snapshot-format.md: 96-byte header, then 40-byte section entries)."""
    b = open(path, "rb").read()
    nsect = struct.unpack_from("<I", b, 12)[0]
    out = {}
    for i in range(nsect):
        sid, _, off, ln = struct.unpack_from("<IIQQ", b, 96 + 40 * i)
        out[sid] = b[off:off + ln]
    return {k: out.get(k, b"") for k in (13, 14, 15)}


def dump(path):
    return subprocess.run([PORT53, "dump", path], check=True, capture_output=True).stdout


def ask(port, name, subnet):
    q = dns.message.make_query(name, "A", use_edns=0, options=[dns.edns.ECSOption(*subnet)])
    r = dns.query.udp(q, "127.0.0.1", port=port, timeout=2)
    ips = sorted(rd.address for rr in r.answer for rd in rr if rr.rdtype == 1)
    scope = [o.scopelen for o in r.options if isinstance(o, dns.edns.ECSOption)]
    return r.rcode(), ips, scope


def serve(snap):
    port = free_port()
    p = subprocess.Popen([PORT53, "serve", "-s", snap, "-l", "127.0.0.1:%d" % port],
                         stderr=subprocess.DEVNULL)
    for _ in range(50):
        try:
            ask(port, "geo.example.com", ("10.1.0.0", 24))
            return p, port
        except Exception:
            time.sleep(0.1)
    return p, port


def clients():
    """ECS subnets: inside every network (start, end, a narrower prefix),
    just outside some, through the IPv4-mapped alias, and unmapped."""
    import ipaddress
    out = []
    for n in NETS + [BARE]:
        net = ipaddress.ip_network(n[0])
        full = 32 if net.version == 4 else 128
        for a in (net.network_address, net.broadcast_address):
            out.append((str(a), full))
        out.append((str(net.network_address), min(net.prefixlen + 4, full)))
        out.append((str(net.network_address), max(net.prefixlen - 1, 1)))
        nxt = int(net.broadcast_address) + 1
        if nxt < 1 << full:
            out.append((str(ipaddress.ip_address(nxt)), full))
    out += [("::ffff:10.1.2.0", 120), ("2002:a01::", 32), ("192.0.2.0", 24),
            ("2001:db8:3::", 48), ("0.0.0.0", 1), ("::", 1)]
    return out


def same_answers(snap_a, snap_b, what, v6):
    sa, pa = serve(snap_a)
    sb, pb = serve(snap_b)
    try:
        n = 0
        for c in clients():
            for name in ("geo.example.com", "geonodef.example.com", "lat.example.com",
                         "prox.example.com"):
                ra, rb = ask(pa, name, c), ask(pb, name, c)
                check(ra == rb, "%s: %s %s: csv %s mmdb %s" % (what, name, c, ra, rb))
                n += 1
        # Not merely equal: these are the answers test_r53.py expects.
        for sn, want, scope in [(("10.1.2.0", 24), ["192.0.2.31"], 16),
                                (("10.2.2.0", 24), ["192.0.2.32"], 16),
                                (("10.3.2.0", 24), ["192.0.2.33"], 16),
                                (("10.7.1.0", 24), ["192.0.2.33"], 24),
                                (("10.9.9.0", 24), ["192.0.2.34"], 24)]:
            r = ask(pb, "geo.example.com", sn)
            check(r[1] == want and r[2] == [scope], "%s: geo %s: %s" % (what, sn, r))
        r = ask(pb, "geonodef.example.com", ("2001:db8:1::", 56))
        check(bool(r[1]) == v6 and r[2] == [48 if v6 else 56],
              "%s: IPv6 geolocation: %s" % (what, r))
        print("%s: %d queries compared" % (what, n))
    finally:
        for s in (sa, sb):
            s.terminate()
            s.wait(timeout=5)


def refused(tmp, name, blob, *needles):
    path = os.path.join(tmp, name)
    with open(path, "wb") as f:
        f.write(blob)
    out = os.path.join(tmp, "never.p53")
    r = compile_snap(path, out)
    msg = r.stderr.strip()
    check(r.returncode != 0 and path in msg and all(n in msg for n in needles)
          and not os.path.exists(out), "%s refused: rc %d: %r" % (name, r.returncode, msg))
    print("%s: %s" % (name, msg))


def main():
    tmp = tempfile.mkdtemp()
    csv6 = os.path.join(tmp, "geo.csv")
    csv4 = os.path.join(tmp, "geo4.csv")
    write_csv(csv6, NETS)
    v4 = [n for n in NETS if ":" not in n[0]]
    write_csv(csv4, v4)
    ref6, ref4 = os.path.join(tmp, "csv6.p53"), os.path.join(tmp, "csv4.p53")
    for csv, snap in ((csv6, ref6), (csv4, ref4)):
        r = compile_snap(csv, snap)
        check(r.returncode == 0, "compile %s: %s" % (csv, r.stderr))
    s6, s4 = sections(ref6), sections(ref4)
    check(len(s6[13]) == 16 * 10 and len(s6[14]) == 40 * 4 and len(s6[15]) == 28 * 14,
          "CSV reference sizes %s" % [len(x) for x in s6.values()])

    cases = [("rs24-v6.mmdb", 24, 6, ref6, s6), ("rs28-v6.mmdb", 28, 6, ref6, s6),
             ("rs32-v6.mmdb", 32, 6, ref6, s6), ("rs24-v4.mmdb", 24, 4, ref4, s4),
             ("rs28-v4.mmdb", 28, 4, ref4, s4)]
    for name, rs, ipv, ref, sect in cases:
        db = os.path.join(tmp, name)
        mmdb_write.write_mmdb(db, mmdb_nets(v4 if ipv == 4 else NETS),
                              record_size=rs, ip_version=ipv)
        snap = os.path.join(tmp, name + ".p53")
        r = compile_snap(db, snap)
        check(r.returncode == 0, "compile %s: %s" % (name, r.stderr))
        if r.returncode:
            continue
        got = sections(snap)
        for sid, what in ((13, "GEO4"), (14, "GEO6"), (15, "GEOLOC")):
            check(got[sid] == sect[sid], "%s: %s differs from the CSV's" % (name, what))
        check(dump(snap) == dump(ref), "%s: port53 dump differs" % name)
    # Served answers: the 28-bit IPv6 database against its CSV.
    same_answers(ref6, os.path.join(tmp, "rs28-v6.mmdb.p53"), "rs28-v6", True)
    same_answers(ref4, os.path.join(tmp, "rs24-v4.mmdb.p53"), "rs24-v4", False)

    # Detected by the metadata marker whatever the file is called.
    plain = os.path.join(tmp, "geo-data.bin")
    with open(plain, "wb") as f:
        f.write(mmdb_write.build(mmdb_nets(NETS)))
    snap = os.path.join(tmp, "plain.p53")
    r = compile_snap(plain, snap)
    check(r.returncode == 0 and sections(snap) == s6, "marker detection: %s" % r.stderr)

    # Corrupt databases: refused, named, nothing written.
    good = mmdb_write.build(mmdb_nets(NETS), record_size=24)
    refused(tmp, "garbage.mmdb", os.urandom(4096), "MaxMind")
    refused(tmp, "truncated.mmdb", good[:len(good) // 2], "MaxMind")
    # The first record (24-bit) pointing far past the data section.
    refused(tmp, "badrecord.mmdb", b"\xff\xff\xf0" + good[3:], "outside the data section")
    # A data record that is not a map entry of the expected type.
    bad = [(n[0], mmdb_write.city_record(*n[1:])) for n in NETS]
    bad[3][1]["country"]["iso_code"] = 7
    refused(tmp, "badtype.mmdb", mmdb_write.build(bad), "10.4.0.0/16",
            "country.iso_code is not a string")
    bad[3][1]["country"]["iso_code"] = "FRA"
    refused(tmp, "badlen.mmdb", mmdb_write.build(bad), "longer than 2")
    bad[3][1]["country"]["iso_code"] = "FR"
    bad[3][1]["location"]["latitude"] = 91.0
    refused(tmp, "badlat.mmdb", mmdb_write.build(bad), "location.latitude")
    refused(tmp, "empty.mmdb", b"", "not a valid MaxMind DB")
    r = compile_snap(os.path.join(tmp, "absent.mmdb"), os.path.join(tmp, "never.p53"))
    check(r.returncode != 0 and "absent.mmdb: cannot open" in r.stderr, "absent: %s" % r.stderr)

    return check.finish()


if __name__ == "__main__":
    sys.exit(main())
