#!/usr/bin/python3
"""Malformed-input test for `port53 serve`.

Sends hand-built bad queries over UDP (and some over TCP) and checks each
gets its defined outcome: a drop (no reply), or a reply with a given rcode,
the query's ID and QR set. Then a few thousand seeded random and mutated
packets: each must get a well-formed reply or a drop, never a crash; after
every one the server must still answer a normal query. At the end the
server must still be running.

Usage: /usr/bin/python3 tests/e2e/malformed.py [--port53 BIN] [--zones DIR]
           [--seed N] [--random N] [--verbose]
Prints `N passed, N failed`; exit status 1 if anything failed.
"""

import argparse
import os
import random
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

import dns.flags  # noqa: E402
import dns.message  # noqa: E402
import dns.rcode  # noqa: E402

DROP = "drop"
NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED, BADVERS = 0, 1, 2, 3, 4, 5, 16

T_A, T_TXT, T_OPT, T_SOA = 1, 16, 41, 6
C_IN, C_CH = 1, 3


def hdr(qid=0x1234, flags=0x0000, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def wname(name):
    """Uncompressed wire form of a dotted name (no escapes)."""
    out = b""
    for lab in name.strip(".").split("."):
        if lab:
            b = lab.encode()
            out += bytes([len(b)]) + b
    return out + b"\x00"


def question(name="www.example.com", qtype=T_A, qclass=C_IN):
    return wname(name) + struct.pack("!HH", qtype, qclass)


def opt(payload=1232, ext_rcode=0, version=0, flags=0, rdata=b"", owner=b"\x00"):
    ttl = (ext_rcode << 24) | (version << 16) | flags
    return owner + struct.pack("!HHIH", T_OPT, payload, ttl, len(rdata)) + rdata


def a_rr(owner=b"\xc0\x0c", addr=b"\xc0\x00\x02\x01", ttl=60):
    return owner + struct.pack("!HHIH", T_A, C_IN, ttl, 4) + addr


def query(name="www.example.com", qtype=T_A, qclass=C_IN, qid=0x1234, flags=0x0000,
          edns=False):
    q = hdr(qid, flags, 1, 0, 0, 1 if edns else 0) + question(name, qtype, qclass)
    return q + (opt() if edns else b"")


def parse_reply(raw):
    """(rcode incl. extended, flags, id, parsed message or None)."""
    qid, flags = struct.unpack("!HH", raw[:4])
    rcode = flags & 0xF
    msg = None
    try:
        msg = dns.message.from_wire(raw)
        rcode = msg.rcode()
    except Exception:  # noqa: BLE001
        pass
    return rcode, flags, qid, msg


class Result:
    def __init__(self, verbose):
        self.passed = 0
        self.failed = []
        self.verbose = verbose

    def ok(self, name):
        self.passed += 1
        if self.verbose:
            print("pass  " + name)

    def fail(self, name, why):
        self.failed.append((name, why))
        print("FAIL  %s: %s" % (name, why))


def expect(res, name, raw, expected, qid=None, check=None):
    """expected: DROP, an rcode, or a set of acceptable outcomes."""
    acceptable = expected if isinstance(expected, (set, frozenset)) else {expected}
    if raw is None:
        if DROP in acceptable:
            return res.ok(name)
        return res.fail(name, "no reply, expected %s" % fmt(acceptable))
    if len(raw) < 12:
        return res.fail(name, "reply shorter than a header (%d bytes)" % len(raw))
    rcode, flags, rid, msg = parse_reply(raw)
    if not flags & 0x8000:
        return res.fail(name, "reply without QR")
    if qid is not None and rid != qid:
        return res.fail(name, "reply id %#x, query id %#x" % (rid, qid))
    if rcode not in acceptable:
        return res.fail(name, "got %s, expected %s" % (rc_text(rcode), fmt(acceptable)))
    if check:
        why = check(raw, msg)
        if why:
            return res.fail(name, why)
    res.ok(name)


def rc_text(rc):
    return dns.rcode.to_text(rc) if rc != DROP else "drop"


def fmt(s):
    return "/".join(sorted(rc_text(x) for x in s))


def udp(port, wire, timeout=0.5):
    return common.send_udp(wire, port, timeout)


def tcp_raw(port, data, timeout=1.0):
    """Send raw bytes on a fresh TCP connection; return the first
    length-prefixed reply, or None on close/timeout."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect((common.HOST, port))
        s.sendall(data)
        try:
            h = s.recv(2)
            if len(h) < 2:
                h += s.recv(1)
                if len(h) < 2:
                    return None
            n = struct.unpack("!H", h)[0]
            buf = b""
            while len(buf) < n:
                c = s.recv(n - len(buf))
                if not c:
                    return None
                buf += c
            return buf
        except (socket.timeout, ConnectionResetError):
            return None


def healthy(port):
    raw = udp(port, query(qid=0xBEEF), 1.0)
    if raw is None:
        raw = udp(port, query(qid=0xBEEF), 1.0)
    if raw is None:
        return False
    rcode, flags, qid, msg = parse_reply(raw)
    return qid == 0xBEEF and rcode == NOERROR and msg is not None and len(msg.answer) == 1


# ------------------------------------------------------------- fixed cases

def has_question(raw, msg):
    if msg is None or len(msg.question) != 1:
        return "expected the question echoed"
    return None


def badvers_check(raw, msg):
    if msg is None:
        return "unparseable BADVERS reply"
    if msg.edns != 0:
        return "BADVERS reply must carry an OPT with version 0 (edns=%s)" % msg.edns
    if msg.answer:
        return "BADVERS reply has answers"
    return None


def opt_check(want):
    """RFC 6891 6.1.1 and 7: a reply carries an OPT exactly when the query
    did, errors (FORMERR, NOTIMP, REFUSED) included."""
    def check(raw, msg):
        if msg is None:
            return "unparseable reply"
        if (msg.edns >= 0) != want:
            return "reply %s an OPT (edns=%s)" % ("lacks" if want else "carries", msg.edns)
        return None
    return check


def chaos_check(text):
    def check(raw, msg):
        if msg is None or len(msg.answer) != 1:
            return "expected one TXT answer"
        rrset = msg.answer[0]
        got = b"".join(rrset[0].strings).decode(errors="replace")
        if got != text:
            return "TXT %r, expected %r" % (got, text)
        if rrset.rdclass != C_CH:
            return "answer class %d, expected CH" % rrset.rdclass
        return None
    return check


def fixed_cases(port):
    """(name, wire, expected, check) over UDP."""
    cases = []
    good = query()
    # truncated headers: too short to answer -> drop
    for n in range(0, 12):
        cases.append(("truncated header %d bytes" % n, good[:n], DROP, None))
    # header only, QDCOUNT 1 but no question
    cases.append(("header only, qdcount 1", hdr(), FORMERR, None))
    cases.append(("question name without terminator", hdr() + b"\x03www\x07example",
                  FORMERR, None))
    cases.append(("question without qtype/qclass", hdr() + wname("www.example.com"),
                  FORMERR, None))
    cases.append(("question with half a qclass",
                  hdr() + wname("www.example.com") + b"\x00\x01\x00", FORMERR, None))
    cases.append(("qdcount 0", hdr(qd=0), FORMERR, None))
    cases.append(("qdcount 0 with a question present", hdr(qd=0) + question(), FORMERR, None))
    cases.append(("qdcount 2", hdr(qd=2) + question() + question("example.com"),
                  FORMERR, None))
    cases.append(("qdcount 2, one question present", hdr(qd=2) + question(), FORMERR, None))
    cases.append(("qdcount 65535", hdr(qd=65535) + question(), FORMERR, None))
    # label length > 63 (0x40..0x7f are extended/reserved label types)
    for lb in (0x40, 0x41, 0x7F, 0x80, 0xBF):
        cases.append(("label length byte %#x" % lb,
                      hdr() + bytes([lb]) + b"a" * (lb & 0x3F) + b"\x00" + struct.pack("!HH", 1, 1),
                      FORMERR, None))
    # name > 255 octets (5 labels of 63 = 321 octets); exactly 255 is fine
    long_name = ".".join(["a" * 63] * 5)
    cases.append(("name of 321 octets", hdr() + question(long_name), FORMERR, None))
    n255 = ".".join(["a" * 63] * 3 + ["b" * 61])  # 3*64 + 62 + 1 = 255
    assert len(wname(n255)) == 255
    cases.append(("name of exactly 255 octets (outside zones)", hdr() + question(n255),
                  REFUSED, has_question))
    n256 = ".".join(["a" * 63] * 3 + ["b" * 62])
    cases.append(("name of 256 octets", hdr() + question(n256), FORMERR, None))
    # compression in the question
    cases.append(("pointer to itself", hdr() + b"\xc0\x0c" + struct.pack("!HH", 1, 1),
                  FORMERR, None))
    cases.append(("pointer loop of two", hdr() + b"\x01a\xc0\x0e\xc0\x0c" + struct.pack("!HH", 1, 1),
                  FORMERR, None))
    cases.append(("forward pointer in question",
                  hdr() + b"\x03www\xc0\x12" + struct.pack("!HH", 1, 1) + wname("example.com"),
                  FORMERR, None))
    cases.append(("pointer past the end", hdr() + b"\xc1\xff" + struct.pack("!HH", 1, 1),
                  FORMERR, None))
    cases.append(("pointer into the header", hdr() + b"\xc0\x02" + struct.pack("!HH", 1, 1),
                  FORMERR, None))
    cases.append(("truncated pointer", hdr() + b"\x03www\xc0", FORMERR, None))
    # OPT placement
    cases.append(("OPT in answer section", hdr(an=1) + question() + opt(), FORMERR, None))
    cases.append(("OPT in authority section", hdr(ns=1) + question() + opt(), FORMERR, None))
    cases.append(("two OPT records", hdr(ar=2) + question() + opt() + opt(), FORMERR, None))
    cases.append(("OPT with non-root owner",
                  hdr(ar=1) + question() + opt(owner=wname("example.com")), FORMERR, None))
    cases.append(("OPT rdata overruns the packet",
                  hdr(ar=1) + question() + opt()[:-2] + b"\x00\x10", FORMERR, None))
    cases.append(("OPT option length overruns rdata",
                  hdr(ar=1) + question() + opt(rdata=b"\x00\x0a\x00\x10ab"), FORMERR, None))
    cases.append(("arcount 1 but no record", hdr(ar=1) + question(), FORMERR, None))
    # EDNS version
    for v in (1, 2, 255):
        cases.append(("EDNS version %d" % v, hdr(ar=1) + question() + opt(version=v),
                      BADVERS, badvers_check))
    cases.append(("EDNS version 0 with unknown option",
                  hdr(ar=1) + question() + opt(rdata=b"\xfd\xe9\x00\x03abc"), NOERROR, has_question))
    cases.append(("EDNS payload 0", hdr(ar=1) + question() + opt(payload=0), NOERROR, has_question))
    # opcodes other than QUERY
    for op in range(1, 16):
        cases.append(("opcode %d" % op, hdr(flags=op << 11) + question(), NOTIMP, None))
    # error replies and the OPT (RFC 6891 6.1.1, 7)
    for op in (1, 2, 4):
        cases.append(("opcode %d with OPT" % op, hdr(flags=op << 11, ar=1) + question() + opt(),
                      NOTIMP, opt_check(True)))
        cases.append(("opcode %d without OPT" % op, hdr(flags=op << 11) + question(), NOTIMP,
                      opt_check(False)))
    for nm, q, rc in (("outside the zones", "www.example.invalid", REFUSED),
                      ("class HS", None, REFUSED), ("qtype 0", None, FORMERR)):
        kw = dict(qclass=4) if nm == "class HS" else dict(qtype=0) if nm == "qtype 0" else \
            dict(name=q)
        cases.append(("%s with OPT" % nm, query(edns=True, **kw), rc, opt_check(True)))
        cases.append(("%s without OPT" % nm, query(**kw), rc, opt_check(False)))
    cases.append(("FORMERR: question missing, OPT given", hdr(qd=0, ar=1) + opt(), FORMERR,
                  opt_check(True)))
    # QR set -> no reply
    cases.append(("QR set", hdr(flags=0x8000) + question(), DROP, None))
    cases.append(("QR set, opcode 4", hdr(flags=0x8000 | (4 << 11)) + question(), DROP, None))
    cases.append(("QR set, qdcount 0", hdr(flags=0x8000, qd=0), DROP, None))
    # classes
    for cls, nm in ((42, "CLASS42"), (4, "HS"), (254, "NONE"), (2, "CS")):
        cases.append(("class %s" % nm, query(qclass=cls), REFUSED, None))
    # QCLASS * (RFC 1035 3.2.5) matches IN data in NSD and port53
    cases.append(("class ANY", query(qclass=255), {NOERROR, REFUSED, NOTIMP}, None))
    # CHAOS without configuration -> REFUSED
    for nm in ("version.bind", "id.server", "hostname.bind", "version.server"):
        cases.append(("CH TXT %s (not configured)" % nm, query(nm, T_TXT, C_CH), REFUSED, None))
    # normal queries still work, in odd shapes
    cases.append(("normal query", query(), NOERROR, has_question))
    cases.append(("normal query with EDNS", query(edns=True), NOERROR, has_question))
    cases.append(("query with TC set", hdr(flags=0x0200) + question(), NOERROR, has_question))
    cases.append(("query with Z bit set", hdr(flags=0x0040) + question(), NOERROR, has_question))
    cases.append(("query with rcode field set", hdr(flags=0x0005) + question(),
                  {NOERROR, FORMERR}, None))
    cases.append(("trailing garbage after the question", query() + b"\xde\xad\xbe\xef",
                  {NOERROR, FORMERR}, None))
    cases.append(("root name, outside zones", hdr() + b"\x00" + struct.pack("!HH", 1, 1),
                  REFUSED, has_question))
    cases.append(("qtype 0", query(qtype=0), {NOERROR, FORMERR}, None))
    cases.append(("qtype OPT", query(qtype=T_OPT), {NOERROR, FORMERR, REFUSED, NOTIMP}, None))
    cases.append(("AXFR over UDP", query("example.com", 252), {FORMERR, REFUSED, NOTIMP}, None))
    cases.append(("IXFR over UDP", query("example.com", 251), {FORMERR, REFUSED, NOTIMP}, None))
    cases.append(("answer record in a query", hdr(an=1) + question() + a_rr(),
                  {NOERROR, FORMERR}, None))
    cases.append(("65535-byte-ish UDP query", query() + b"\x00" * 4000, {NOERROR, FORMERR}, None))
    return cases


def run_fixed(res, port, verbose):
    for name, wire, expected, check in fixed_cases(port):
        qid = struct.unpack("!H", wire[:2])[0] if len(wire) >= 2 else None
        raw = udp(port, wire, 0.5 if expected == DROP else 1.0)
        expect(res, name, raw, expected, qid if len(wire) >= 12 else None, check)


def run_tcp(res, port):
    good = query(qid=0x4321)
    # a normal query over TCP
    raw = tcp_raw(port, struct.pack("!H", len(good)) + good)
    expect(res, "tcp: normal query", raw, NOERROR, 0x4321, has_question)
    # two queries on one connection (RFC 7766 pipelining)
    two = struct.pack("!H", len(good)) + good + struct.pack("!H", len(good)) + good
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(2)
        s.connect((common.HOST, port))
        s.sendall(two)
        got = b""
        try:
            while len(got) < 4 or len(got) < 2 + struct.unpack("!H", got[:2])[0] + 2:
                c = s.recv(65535)
                if not c:
                    break
                got += c
        except socket.timeout:
            pass
        n1 = struct.unpack("!H", got[:2])[0] if len(got) >= 2 else 0
        if len(got) >= 2 + n1 + 2:
            res.ok("tcp: two pipelined queries")
        else:
            res.fail("tcp: two pipelined queries", "got %d bytes" % len(got))
    # malformed over TCP: FORMERR or a closed connection, never a crash
    for name, wire, expected in (
            ("tcp: pointer loop", hdr(qid=0x1111) + b"\xc0\x0c" + struct.pack("!HH", 1, 1),
             {FORMERR, DROP}),
            ("tcp: qdcount 2", hdr(qid=0x1112, qd=2) + question() + question(), {FORMERR, DROP}),
            ("tcp: 5-byte message", b"\x11\x13\x00\x00\x00", {DROP}),
            ("tcp: QR set", hdr(qid=0x1114, flags=0x8000) + question(), {DROP}),
            ("tcp: EDNS version 1", hdr(qid=0x1115, ar=1) + question() + opt(version=1), {BADVERS})):
        raw = tcp_raw(port, struct.pack("!H", len(wire)) + wire)
        expect(res, name, raw, expected, struct.unpack("!H", wire[:2])[0] if len(wire) >= 12 else None)
    # zero-length message, length prefix larger than what follows, then close
    expect(res, "tcp: zero-length message", tcp_raw(port, b"\x00\x00", 0.5), DROP)
    expect(res, "tcp: prefix promises more than sent", tcp_raw(port, b"\x01\x00" + good, 0.5), DROP)
    expect(res, "tcp: half a length prefix", tcp_raw(port, b"\x00", 0.5), DROP)
    # and a normal query still works afterwards
    raw = tcp_raw(port, struct.pack("!H", len(good)) + good)
    expect(res, "tcp: normal query after junk", raw, NOERROR, 0x4321, has_question)


def mutate(rng, base):
    b = bytearray(base)
    for _ in range(rng.randint(1, 6)):
        op = rng.random()
        if op < 0.5 and b:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op < 0.7 and b:
            del b[rng.randrange(len(b)):]
        elif op < 0.85:
            i = rng.randrange(len(b) + 1)
            b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        else:
            i = rng.randrange(len(b) + 1)
            b[i:i] = rng.choice([b"\xc0\x0c", b"\xc0\x00", b"\x3f", b"\x40", b"\xff\xff",
                                 b"\x00\x29\x04\xd0\x01\x00"])
    return bytes(b)


def run_random(res, port, seed, count, verbose):
    rng = random.Random(seed)
    bases = [query(), query(edns=True), query("x.wild.example.net", T_TXT, edns=True),
             hdr(ar=1) + question("example.net", 255) + opt(rdata=b"\x00\x0a\x00\x08abcdefgh"),
             hdr(an=1, ns=1, ar=1) + question() + a_rr() + a_rr() + opt(),
             query("version.bind", T_TXT, C_CH)]
    replies = drops = bad = 0
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(1.0)
    sock.connect((common.HOST, port))
    sentinel_q = query(qid=0xAAAA)
    try:
        for i in range(count):
            r = rng.random()
            if r < 0.3:
                pkt = bytes(rng.randrange(256) for _ in range(rng.randint(0, 600)))
            elif r < 0.4:
                # random header with a plausible question
                pkt = bytes(rng.randrange(256) for _ in range(12)) + question()
            else:
                pkt = mutate(rng, rng.choice(bases))
            sid = 0xA000 | (i & 0x0FFF)
            if len(pkt) >= 2 and struct.unpack("!H", pkt[:2])[0] == sid:
                sid ^= 0x0100
            sentinel = struct.pack("!H", sid) + sentinel_q[2:]
            sock.send(pkt)
            sock.send(sentinel)
            got_sentinel = False
            answers = []
            deadline = time.monotonic() + 2.0
            while not got_sentinel and time.monotonic() < deadline:
                try:
                    data = sock.recv(65535)
                except (socket.timeout, ConnectionRefusedError):
                    break
                if data[:2] == sentinel[:2]:
                    got_sentinel = True
                else:
                    answers.append(data)
            if not got_sentinel:
                if not healthy(port):
                    res.fail("random #%d" % i, "server stopped answering after %s" % pkt.hex())
                    return
            for a in answers:
                why = None
                if len(a) < 12:
                    why = "short reply"
                elif not a[2] & 0x80:
                    why = "reply without QR"
                elif len(pkt) >= 2 and a[:2] != pkt[:2]:
                    why = "reply id does not match"
                elif len(pkt) < 12:
                    why = "reply to a packet shorter than a header"
                elif pkt[2] & 0x80:
                    why = "reply to a packet with QR set"
                if why:
                    bad += 1
                    res.fail("random #%d" % i, "%s: query %s reply %s" % (why, pkt.hex(), a.hex()))
            if answers:
                replies += 1
            else:
                drops += 1
    finally:
        sock.close()
    if not bad:
        res.ok("random: %d packets (%d answered, %d dropped)" % (count, replies, drops))
    print("random packets: %d sent, %d answered, %d dropped, %d bad replies" % (
        count, replies, drops, bad))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--port53", default=common.default_port53())
    ap.add_argument("--zones", default=common.DEFAULT_ZONES)
    ap.add_argument("--seed", type=int, default=53)
    ap.add_argument("--random", type=int, default=3000, help="random packets to send")
    ap.add_argument("--verbose", "-v", action="store_true")
    ap.add_argument("--port", type=int, default=0,
                    help="test a server already running on 127.0.0.1:PORT (no CHAOS config cases)")
    args = ap.parse_args()
    if args.port:
        res = Result(args.verbose)
        run_fixed(res, args.port, args.verbose)
        run_tcp(res, args.port)
        run_random(res, args.port, args.seed, args.random, args.verbose)
        print("%d passed, %d failed" % (res.passed, len(res.failed)))
        return 1 if res.failed else 0
    if not os.access(args.port53, os.X_OK):
        common.die("port53 binary not found: %s (use --port53)" % args.port53)

    res = Result(args.verbose)
    with common.tempdir("p53malformed-") as d:
        plain = configured = None
        try:
            plain = common.Port53(args.port53, args.zones, d)
            plain.start()
            run_fixed(res, plain.port, args.verbose)
            run_tcp(res, plain.port)
            run_random(res, plain.port, args.seed, args.random, args.verbose)
            if healthy(plain.port):
                res.ok("still answers a normal query at the end")
            else:
                res.fail("still answers a normal query at the end", "no good answer")
            if plain.alive():
                res.ok("still running at the end")
            else:
                res.fail("still running at the end", "exit status %s\n%s" % (
                    plain.proc.returncode, plain.read_log()))
            rc = plain.stop()
            if rc in (0, -15):
                res.ok("clean exit on SIGTERM")
            else:
                res.fail("clean exit on SIGTERM", "exit status %s\n%s" % (rc, plain.read_log()))

            # a second server with CHAOS identity/version configured
            configured = common.Port53(args.port53, args.zones, d,
                                       extra=["--identity", "ns-test-1", "--version", "port53-test"])
            configured.start()
            p = configured.port
            for nm, text in (("version.bind", "port53-test"), ("version.server", "port53-test"),
                             ("id.server", "ns-test-1"), ("hostname.bind", "ns-test-1")):
                raw = udp(p, query(nm, T_TXT, C_CH, qid=0x5151))
                expect(res, "CH TXT %s (configured)" % nm, raw, NOERROR, 0x5151, chaos_check(text))
            raw = udp(p, query("VERSION.BIND", T_TXT, C_CH, qid=0x5152))
            expect(res, "CH TXT VERSION.BIND (configured, upper case)", raw, NOERROR, 0x5152,
                   chaos_check("port53-test"))
            raw = udp(p, query("version.bind", T_A, C_CH, qid=0x5153))
            expect(res, "CH A version.bind (configured)", raw, {NOERROR, REFUSED}, 0x5153,
                   lambda r, m: "answer to CH A" if m is not None and m.answer else None)
            raw = udp(p, query("foo.bar", T_TXT, C_CH, qid=0x5154))
            expect(res, "CH TXT foo.bar (configured server)", raw, REFUSED, 0x5154)
            raw = udp(p, query("version.bind", T_TXT, C_IN, qid=0x5155))
            expect(res, "IN TXT version.bind (outside zones)", raw, REFUSED, 0x5155)
        finally:
            for s in (configured, plain):
                if s is not None:
                    s.stop()

    print("%d passed, %d failed" % (res.passed, len(res.failed)))
    return 1 if res.failed else 0


if __name__ == "__main__":
    sys.exit(main())
