#!/usr/bin/python3
"""Writes the generated part of the seed corpus (docs/fuzzing.md): queries
for the answer target and frames for the packet target. Run from the source
root: /usr/bin/python3 fuzz/mkseeds.py. Other seeds are files of the tree
copied as they are, and snapshots compiled by tools/fuzz.sh seeds."""
import hashlib
import os
import struct

import dns.edns
import dns.flags
import dns.message
import dns.rdataclass
import dns.rdatatype

OUT = "fuzz/corpus"


def put(target, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    name = "seed-" + hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def query(name, rtype, rclass="IN", edns=None, ecs=None, payload=1232):
    q = dns.message.make_query(name, rtype, rclass)
    if edns is not None or ecs is not None:
        opts = [dns.edns.ECSOption(*ecs)] if ecs else []
        q.use_edns(0, payload=payload, options=opts)
    return q.to_wire()


def answer_seeds():
    qs = [
        ("www.example.com", "A"), ("www.example.com", "AAAA"), ("example.com", "ANY"),
        ("example.com", "MX"), ("example.com", "SOA"), ("example.com", "NS"),
        ("ftp.example.com", "A"), ("blog.example.com", "AAAA"), ("_http._tcp.example.com", "SRV"),
        ("nope.example.com", "A"), ("x.dn.example.net", "A"), ("a.b.dn2.example.net", "AAAA"),
        ("x.dnout.example.net", "A"), ("x.dnchain.example.net", "A"), ("q.wild.example.net", "A"),
        ("cdname.example.net", "A"), ("www.child.example.org", "A"), ("child.example.org", "DS"),
        ("deep.below.child.example.org", "MX"), ("host1.example", "MX"), ("z.example", "TXT"),
        ("1.2.0.192.in-addr.arpa", "PTR"), ("geo.example.com", "A"), ("lat.example.com", "A"),
        ("prox.example.com", "A"), ("mv.example.com", "A"), ("cidr.example.com", "A"),
        ("alias.example.com", "A"), ("fo.example.com", "A"), ("svc.example.com", "A"),
        ("mail.example.com", "A"), ("aaaaaaaaaaaaaaaa.example.com", "A"), ("drop1.example", "A"),
        ("x.ovr.example.net", "A"), ("example.invalid", "A"),
    ]
    for i, (n, t) in enumerate(qs):
        for sel in (0x00 | (i & 3), 0x04 | (i & 3), 0x18 | (i & 3), 0xa4 | (i & 3)):
            hdr = bytes([sel, 0x5a ^ i, 10, 1 + i % 6, 0, 1, i & 3])
            edns = None if i % 3 == 0 else 0
            ecs = ("10.3.0.0", 16) if i % 5 == 1 else None
            put("answer", hdr + query(n, t, edns=edns, ecs=ecs))
    hdr = bytes([0x04, 0xff, 10, 1, 0, 1, 1])
    put("answer", hdr + query("id.server", "TXT", "CH"))
    put("answer", hdr + query("version.bind", "TXT", "CH", edns=0))
    put("answer", hdr + query("example.com", "AXFR"))
    put("answer", hdr + query("www.example.com", "A", "ANY"))
    q = bytearray(query("www.example.com", "A", edns=0))
    q[-6] = 1  # EDNS version 1: BADVERS
    put("answer", hdr + bytes(q))
    put("answer", hdr + b"\x12\x34\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00")
    put("answer", hdr + b"\x12\x34\x28\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x01")


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


OUR = bytes([0x02, 0, 0, 0, 0x53, 0x01])
CLI = bytes([0x02, 0, 0, 0, 0xC1, 0x01])


def udp4(payload, dst=bytes([198, 51, 100, 53]), src=bytes([198, 51, 100, 1]), sport=33333,
         dport=53, vlan=False):
    udp_len = 8 + len(payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, 1, 0, 64, 17, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    ph = src + dst + struct.pack("!BBH", 0, 17, udp_len)
    u = struct.pack("!HHHH", sport, dport, udp_len, 0) + payload
    c = csum(ph + u) or 0xFFFF
    u = u[:6] + struct.pack("!H", c) + u[8:]
    l2 = OUR + CLI + (b"\x81\x00\x00\x05" if vlan else b"") + b"\x08\x00"
    return l2 + ip + u


def udp6(payload, dst, src, nh_ext=b""):
    udp_len = 8 + len(payload)
    ph = src + dst + struct.pack("!IxxxB", udp_len, 17)
    u = struct.pack("!HHHH", 33333, 53, udp_len, 0) + payload
    c = csum(ph + u) or 0xFFFF
    u = u[:6] + struct.pack("!H", c) + u[8:]
    nh = 0 if nh_ext else 17
    ip = struct.pack("!IHBB16s16s", 0x60000000, len(nh_ext) + udp_len, nh, 64, src, dst)
    return OUR + CLI + b"\x86\xdd" + ip + nh_ext + u


def pkt_seeds():
    dnsq = query("www.example.com", "A")
    v6dst = bytes.fromhex("20010db8005300000000000000000053")
    v6src = bytes.fromhex("20010db8005300000000000000000001")
    for flags in (0x00, 0x05, 0x10):
        put("pkt", bytes([flags, 40]) + udp4(dnsq))
    put("pkt", bytes([0, 200]) + udp4(dnsq, vlan=True))
    put("pkt", bytes([0, 90]) + udp6(dnsq, v6dst, v6src))
    put("pkt", bytes([0, 90]) + udp6(dnsq, v6dst, v6src, nh_ext=bytes([17, 0, 1, 4, 0, 0, 0, 0])))
    put("pkt", bytes([0, 1]) + udp4(dnsq, sport=19))
    put("pkt", bytes([0, 1]) + udp4(dnsq, dst=bytes([192, 0, 2, 99])))
    # ARP request for a service address
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, CLI, bytes([198, 51, 100, 1]),
                      bytes(6), bytes([198, 51, 100, 53]))
    put("pkt", bytes([0, 0]) + b"\xff" * 6 + CLI + b"\x08\x06" + arp)
    # neighbour solicitation for 2001:db8:53::53 from a link-local address
    tgt = v6dst
    sol = bytes.fromhex("ff0200000000000000000001ff000053")
    src = bytes.fromhex("fe800000000000000000000000000001")
    body = struct.pack("!BBHI16s", 135, 0, 0, 0, tgt) + bytes([1, 1]) + CLI
    ph = src + sol + struct.pack("!IxxxB", len(body), 58)
    body = body[:2] + struct.pack("!H", csum(ph + body)) + body[4:]
    ip = struct.pack("!IHBB16s16s", 0x60000000, len(body), 58, 255, src, sol)
    put("pkt", bytes([0, 0]) + bytes.fromhex("3333ff000053") + CLI + b"\x86\xdd" + ip + body)


if __name__ == "__main__":
    answer_seeds()
    pkt_seeds()
