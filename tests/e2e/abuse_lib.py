"""Shared pieces of the abuse-control end-to-end tests (port53 serve and
port53d): an independent SipHash-2-4 and RFC 9018 server-cookie check, DNS
Cookie options with dnspython, and a paced flood from many sources whose
outcomes are counted.

SipHash here is written from the SipHash paper, apart from the server's C
code, so a cookie the server makes is checked by a second implementation.
"""
import os
import select
import socket
import struct
import time

import dns.edns
import dns.flags
import dns.message
import dns.rcode

COOKIE = 10
BADCOOKIE = 23
M64 = (1 << 64) - 1


def _rotl(x, b):
    return ((x << b) | (x >> (64 - b))) & M64


def siphash24(key, data):
    k0, k1 = struct.unpack("<QQ", key)
    v = [k0 ^ 0x736f6d6570736575, k1 ^ 0x646f72616e646f6d,
         k0 ^ 0x6c7967656e657261, k1 ^ 0x7465646279746573]

    def rnd():
        v[0] = (v[0] + v[1]) & M64; v[1] = _rotl(v[1], 13); v[1] ^= v[0]; v[0] = _rotl(v[0], 32)
        v[2] = (v[2] + v[3]) & M64; v[3] = _rotl(v[3], 16); v[3] ^= v[2]
        v[0] = (v[0] + v[3]) & M64; v[3] = _rotl(v[3], 21); v[3] ^= v[0]
        v[2] = (v[2] + v[1]) & M64; v[1] = _rotl(v[1], 17); v[1] ^= v[2]; v[2] = _rotl(v[2], 32)

    n = len(data)
    tail = data[n - n % 8:] + b"\0" * (7 - n % 8) + bytes([n & 0xff])
    for i in range(0, n - n % 8, 8):
        m = struct.unpack("<Q", data[i:i + 8])[0]
        v[3] ^= m; rnd(); rnd(); v[0] ^= m
    m = struct.unpack("<Q", tail)[0]
    v[3] ^= m; rnd(); rnd(); v[0] ^= m
    v[2] ^= 0xff
    for _ in range(4):
        rnd()
    return struct.pack("<Q", v[0] ^ v[1] ^ v[2] ^ v[3])


def server_cookie_ok(secret, opt, client_ip, now, slack=10):
    """opt: a COOKIE option's bytes from a response. True when it echoes a
    client cookie and carries an RFC 9018 version 1 server cookie made with
    secret for client_ip within slack seconds of now."""
    if len(opt) != 24 or opt[8] != 1 or opt[9:12] != b"\0\0\0":
        return False
    ts = struct.unpack(">I", opt[12:16])[0]
    fam = socket.AF_INET6 if ":" in client_ip else socket.AF_INET
    want = siphash24(secret, opt[:16] + socket.inet_pton(fam, client_ip))
    return abs(ts - now) <= slack and opt[16:24] == want


def cookie_query(name, rtype="A", cookie=None, qid=None):
    opts = [] if cookie is None else [dns.edns.GenericOption(COOKIE, cookie)]
    q = dns.message.make_query(name, rtype, use_edns=0, options=opts, payload=1232)
    if qid is not None:
        q.id = qid
    return q


def cookie_of(msg):
    for o in msg.options:
        if o.otype == COOKIE:
            return o.data if hasattr(o, "data") else o.to_wire()
    return None


def rcode_of(msg):
    return msg.rcode()


def classify(wire):
    """'full', 'tc', 'badcookie', 'formerr', or 'other' for a response."""
    try:
        m = dns.message.from_wire(wire)
    except Exception:
        return "other"
    rc = m.rcode()
    if rc == BADCOOKIE:
        return "badcookie"
    if rc == dns.rcode.FORMERR:
        return "formerr"
    if m.flags & dns.flags.TC:
        return "tc" if not m.answer else "other"
    if rc == dns.rcode.NOERROR and m.answer:
        return "full"
    return "other"


def bound_socket(src, family=socket.AF_INET, port=0):
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.bind((src, port))
    s.setblocking(False)
    return s


def flood(target, flows, seconds, grace=0.6):
    """Sends from several flows at once, each paced evenly over seconds.
    flows: {label: (socks, rate_per_s, make_wire)} where make_wire(i) gives
    the i-th query. Returns {label: {'sent': n, outcome: count}} counting
    every response (by query id, each at most once) that arrives by
    seconds + grace. Loops are bounded by the schedule."""
    sched = []
    for label, (socks, rate, make) in flows.items():
        n = int(rate * seconds)
        for i in range(n):
            sched.append((i / rate, label, socks[i % len(socks)], i, make))
    sched.sort(key=lambda e: e[0])
    res = {label: {"sent": 0} for label in flows}
    ids = {}
    allsocks = {s for socks, _, _ in flows.values() for s in socks}
    t0 = time.monotonic()

    def drain(timeout):
        r, _, _ = select.select(list(allsocks), [], [], max(0.0, timeout))
        for s in r:
            for _ in range(256):
                try:
                    wire = s.recv(65535)
                except BlockingIOError:
                    break
                if len(wire) < 2:
                    continue
                key = (s, struct.unpack(">H", wire[:2])[0])
                label = ids.pop(key, None)
                if label is None:
                    continue
                kind = classify(wire)
                res[label][kind] = res[label].get(kind, 0) + 1

    for at, label, s, i, make in sched:
        while True:
            now = time.monotonic() - t0
            if now >= at:
                break
            drain(at - now)
        wire = make(i)
        ids[(s, struct.unpack(">H", wire[:2])[0])] = label
        s.sendto(wire, target)
        res[label]["sent"] += 1
    end = time.monotonic() + grace
    while ids and time.monotonic() < end:
        drain(end - time.monotonic())
    res["_elapsed"] = time.monotonic() - t0
    return res


def qid_wire(name, i, cookie=None, rtype="A"):
    return cookie_query(name, rtype, cookie, qid=i & 0xffff).to_wire()


def new_secret():
    return os.urandom(16)
