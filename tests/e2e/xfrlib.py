"""Helpers for the zone-transfer tests: test zones in two versions, Knot DNS
and NSD configured as primaries or secondaries with a TSIG key, and zone
comparison through dnspython (dns.query.xfr, dns.zone).

Loopback only; every wait is bounded.
"""
import base64
import os
import subprocess
import time

import common

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rdatatype
import dns.tsigkeyring
import dns.xfr
import dns.zone

KEY_NAME = "k1."
KEY_SECRET = base64.b64encode(b"port53-transfer-test-key-32bytes").decode()
BAD_SECRET = base64.b64encode(b"not-the-key-the-server-knows-xx").decode()
KEYRING = dns.tsigkeyring.from_text({KEY_NAME: ("hmac-sha256", KEY_SECRET)})
BAD_KEYRING = dns.tsigkeyring.from_text({KEY_NAME: ("hmac-sha256", BAD_SECRET)})
KEY_ARG = "hmac-sha256:%s:%s" % (KEY_NAME.rstrip("."), KEY_SECRET)


def zone_text(origin, serial, n, variant=0, expire=600):
    """A zone of about n A records: big enough for several AXFR messages.
    variant 1 removes some names, adds others and changes a TTL, so the
    difference between versions has deletions, additions and a TTL change."""
    lines = [
        "$ORIGIN %s" % origin,
        "$TTL 300",
        "@ 3600 IN SOA ns1.%s hostmaster.%s %d 2 2 %d 60" % (origin, origin, serial, expire),
        "@ IN NS ns1",
        "ns1 IN A 192.0.2.53",
        "@ IN TXT \"serial %d\"" % serial,
        "@ IN MX 10 mail",
        "mail IN A 192.0.2.25",
    ]
    for i in range(n):
        if variant and i < 10:
            continue
        ttl = 900 if (variant and i == 20) else 300
        lines.append("h%d %d IN A 10.%d.%d.%d" % (i, ttl, (i >> 16) & 255, (i >> 8) & 255, i & 255))
    if variant:
        for i in range(10):
            lines.append("n%d IN AAAA 2001:db8::%x" % (i, i + 1))
        lines.append("sub IN NS ns.sub")
        lines.append("ns.sub IN A 192.0.2.99")
    return "\n".join(lines) + "\n"


def write_zone(path, origin, serial, n, variant=0, expire=600, txt=False):
    """The zone of zone_text(); with txt, each h-name also has a 64-byte
    TXT, so that n names make a transfer of many 16 KB messages."""
    text = zone_text(origin, serial, n, variant, expire)
    if txt:
        text += "".join('h%d IN TXT "%s"\n' % (i, ("%08x" % (i * 2654435761 % (1 << 32))) * 8)
                        for i in range(n) if not (variant and i < 10))
    with open(path, "w") as f:
        f.write(text)
    return path


def records(zone):
    """The zone as a set of (name, ttl, type, rdata) text tuples."""
    out = set()
    for name, ttl, rd in zone.iterate_rdatas():
        out.add((name.to_text(), ttl, dns.rdatatype.to_text(rd.rdtype), rd.to_text()))
    return out


def zone_from_file(path, origin):
    return dns.zone.from_file(path, origin, relativize=False)


def axfr(port, origin, keyring=None, timeout=10.0, host=common.HOST):
    """The zone by AXFR through dnspython; raises on any refusal."""
    kw = {}
    if keyring is not None:
        kw = {"keyring": keyring, "keyname": KEY_NAME, "keyalgorithm": "hmac-sha256"}
    msgs = dns.query.xfr(host, origin, port=port, timeout=timeout, lifetime=timeout,
                         relativize=False, **kw)
    return dns.zone.from_xfr(msgs, relativize=False)


def soa_serial(port, origin, timeout=0.5):
    raw = common.send_udp(dns.message.make_query(origin, "SOA").to_wire(), port, timeout)
    if raw is None:
        return None
    m = dns.message.from_wire(raw)
    for rr in m.answer:
        if rr.rdtype == dns.rdatatype.SOA:
            return rr[0].serial
    return None


def wait_serial(port, origin, serial, deadline=20.0):
    """Seconds until origin's SOA serial on port is serial, or None."""
    t0 = time.monotonic()
    ok = common.wait_for(lambda: soa_serial(port, origin) == serial, deadline, 0.01)
    return time.monotonic() - t0 if ok else None


# Knot's TSIG key, the port53 peer and who may transfer and notify: the
# block common.knot_conf() adds to the shared configuration.
KNOT_PEER = """key:
  - id: {key}
    algorithm: hmac-sha256
    secret: {secret}

remote:
  - id: peer
    address: {peer_host}@{peer}
    key: {key}

acl:
  - id: peer_acl
    address: {acl}
    key: {key}
    action: [transfer, notify]

"""


class KnotPeer(common._Server):
    """knotd as the primary (zones from files, NOTIFY to the peer) or the
    secondary (zones transferred from the peer) of port53."""

    logs = ("knot.log", "knot.stderr")

    def __init__(self, workdir, role, zones, peer_port, port=None, host=common.HOST,
                 peer_host=common.HOST, acl=common.HOST):
        self.binary = "/usr/sbin/knotd"
        self.workdir = workdir
        self.role = role
        self.zones = zones  # [(origin, path or None)]
        self.peer_port = peer_port
        self.port = port or common.free_port()
        self.host, self.peer_host, self.acl = host, peer_host, acl
        self.proc = None
        self.conf = os.path.join(workdir, "knot.conf")

    def write_conf(self):
        os.makedirs(os.path.join(self.workdir, "db"), exist_ok=True)
        extra = KNOT_PEER.format(key=KEY_NAME.rstrip("."), secret=KEY_SECRET,
                                 peer_host=self.peer_host, peer=self.peer_port, acl=self.acl)
        # A transfer to a slow reader (dnspython under load) is not cut
        # after Knot's default 500 ms of waiting to send.
        text = common.knot_conf(self.host, self.port, self.workdir, extra,
                                server="    tcp-io-timeout: 20000\n")
        text += "zone:\n"
        for origin, path in self.zones:
            text += '  - domain: "%s"\n' % origin
            # Differences kept, so Knot answers IXFR (and takes it).
            text += "    journal-content: changes\n"
            if self.role == "primary":
                text += '    file: "%s"\n    notify: peer\n    acl: peer_acl\n' % path
                text += "    zonefile-load: difference\n"
            else:
                text += '    master: peer\n    acl: peer_acl\n'
                text += '    file: "%s/%%s.zone"\n' % self.workdir
        with open(self.conf, "w") as f:
            f.write(text)

    def start(self, deadline=30.0):
        self.write_conf()
        self.logf = open(os.path.join(self.workdir, "knot.stderr"), "w")
        self.proc = subprocess.Popen([self.binary, "-c", self.conf],
                                     stdout=self.logf, stderr=subprocess.STDOUT)
        ok = common.wait_for(lambda: self.proc.poll() is not None or
                             os.path.exists(os.path.join(self.workdir, "knot.sock")) or
                             common.send_udp(dns.message.make_query("version.server", "TXT", "CH")
                                             .to_wire(), self.port, 0.2, host=self.host)
                             is not None,
                             deadline)
        if not ok or self.proc.poll() is not None:
            rc = self.stop()
            raise RuntimeError("knotd did not start (rc=%s):\n%s" % (rc, self.read_log()))
        return self

    def reload(self):
        """Rereads the zone files (knotc, bounded)."""
        return subprocess.run(["/usr/sbin/knotc", "-c", self.conf, "-t", "10", "zone-reload"],
                              capture_output=True, text=True, timeout=30)


NSD_BASE = """server:
    ip-address: {host}@{port}
    do-ip4: yes
    do-ip6: no
    port: {port}
    username: ""
    chroot: ""
    server-count: 1
    verbosity: 2
    database: ""
    zonelistfile: "{d}/zone.list"
    xfrdfile: "{d}/xfrd.state"
    xfrdir: "{d}"
    pidfile: "{d}/nsd.pid"
    logfile: "{d}/nsd.log"
    zonesdir: "{d}"
    rrl-ratelimit: 0
    zonefiles-write: 0
    xfrd-reload-timeout: 0

remote-control:
    control-enable: yes
    control-interface: {d}/nsd.ctl

key:
    name: "{key}"
    algorithm: hmac-sha256
    secret: "{secret}"

"""


class NsdPeer(common._Server):
    """NSD as the primary or the secondary of port53 (see KnotPeer)."""

    logs = ("nsd.log", "nsd.stderr")

    def __init__(self, workdir, role, zones, peer_port, port=None, host=common.HOST,
                 peer_host=common.HOST, acl=common.HOST):
        self.binary = "/usr/sbin/nsd"
        self.workdir = workdir
        self.role = role
        self.zones = zones
        self.peer_port = peer_port
        self.port = port or common.free_port()
        self.host, self.peer_host, self.acl = host, peer_host, acl
        self.proc = None
        self.conf = os.path.join(workdir, "nsd.conf")

    def write_conf(self):
        key = KEY_NAME.rstrip(".")
        text = NSD_BASE.format(d=self.workdir, host=self.host, port=self.port, key=key,
                               secret=KEY_SECRET)
        peer = "%s@%d" % (self.peer_host, self.peer_port)
        for origin, path in self.zones:
            text += 'zone:\n    name: "%s"\n' % origin
            if self.role == "primary":
                text += '    zonefile: "%s"\n' % path
                text += "    notify: %s %s\n    provide-xfr: %s %s\n" % (peer, key, self.acl, key)
            else:
                text += '    zonefile: "%s.zone"\n' % origin
                text += "    request-xfr: %s %s\n    allow-notify: %s %s\n" % (peer, key, self.acl, key)
                text += "    provide-xfr: %s %s\n" % (self.acl, key)
            text += "\n"
        with open(self.conf, "w") as f:
            f.write(text)
        r = common.run(["/usr/sbin/nsd-checkconf", self.conf])
        if r.returncode != 0:
            raise RuntimeError("nsd-checkconf failed:\n%s%s" % (r.stdout, r.stderr))

    def start(self, deadline=30.0):
        self.write_conf()
        self.logf = open(os.path.join(self.workdir, "nsd.stderr"), "w")
        self.proc = subprocess.Popen([self.binary, "-d", "-c", self.conf],
                                     stdout=self.logf, stderr=subprocess.STDOUT)
        ok = common.wait_for(lambda: self.proc.poll() is not None or
                             common.send_udp(dns.message.make_query("example.invalid", "A")
                                             .to_wire(), self.port, 0.2, host=self.host)
                             is not None,
                             deadline)
        if not ok or self.proc.poll() is not None:
            rc = self.stop()
            raise RuntimeError("nsd did not start (rc=%s):\n%s" % (rc, self.read_log()))
        return self

    def reload(self):
        return subprocess.run(["/usr/sbin/nsd-control", "-c", self.conf, "reload"],
                              capture_output=True, text=True, timeout=30)


def have_reference_servers():
    return os.access("/usr/sbin/knotd", os.X_OK) and os.access("/usr/sbin/nsd", os.X_OK)


class PyPrimary:
    """A primary made of dnspython, which signs only some messages of a
    transfer as RFC 8945 5.3.1 allows: the first, the last and every
    sign_every-th; the MAC of each signed message covers the unsigned ones
    before it (dnspython's TSIG context, fed their wire). Answers SOA,
    AXFR, and IXFR with the whole zone. Faults for the negative checks:
    tamper changes a byte of the second (unsigned) message after it was
    digested; drop_last_sig leaves the last message unsigned.

    One connection at a time on a thread; loopback; every read bounded."""

    def __init__(self, origin, text, sign_every=100, per_msg=20):
        import socket
        import threading
        self.origin = dns.name.from_text(origin)
        self.set_zone(text)
        self.sign_every, self.per_msg = sign_every, per_msg
        self.tamper = self.drop_last_sig = False
        self.transfers = []  # (messages, unsigned) per transfer sent
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((common.HOST, 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def set_zone(self, text):
        z = dns.zone.from_text(text, self.origin, relativize=False)
        soa = z.find_rrset(self.origin, "SOA")
        rrs = []
        for name, ttl, rd in z.iterate_rdatas():
            if rd.rdtype != dns.rdatatype.SOA:
                rrs.append((name, ttl, rd))
        self.soa, self.rrs = soa, rrs

    def stop(self):
        self.stopping = True
        self.thread.join(5)
        self.sock.close()

    def _serve(self):
        import socket
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            c.settimeout(5)
            try:
                self._conn(c)
            except (OSError, EOFError, TypeError, dns.exception.DNSException):
                pass  # the client went away (TypeError: a short read)
            finally:
                c.close()

    def _read(self, c):
        import struct
        hdr = common._recv_exact(c, 2)
        if not hdr:
            raise EOFError
        return common._recv_exact(c, struct.unpack("!H", hdr)[0])

    def _send(self, c, wire):
        import struct
        c.sendall(struct.pack("!H", len(wire)) + wire)

    def _conn(self, c):
        import dns.rrset
        while True:
            q = dns.message.from_wire(self._read(c), keyring=KEYRING)
            qtype = q.question[0].rdtype
            if qtype == dns.rdatatype.SOA:
                r = dns.message.make_response(q)
                r.answer.append(self.soa)
                self._send(c, r.to_wire())
                continue
            if qtype not in (dns.rdatatype.AXFR, dns.rdatatype.IXFR):
                return
            soa_rr = (self.origin, self.soa.ttl, self.soa[0])
            stream = [soa_rr] + self.rrs + [soa_rr]
            chunks = [stream[i:i + self.per_msg] for i in range(0, len(stream), self.per_msg)]
            ctx = None
            unsigned = 0
            for i, chunk in enumerate(chunks):
                r = dns.message.make_response(q)
                if i:
                    r.question = []
                for name, ttl, rd in chunk:
                    rs = dns.rrset.RRset(name, rd.rdclass, rd.rdtype)
                    rs.add(rd, ttl)
                    r.answer.append(rs)
                last = i == len(chunks) - 1
                sign = i == 0 or i % self.sign_every == 0 or (last and not self.drop_last_sig)
                if sign:
                    wire = r.to_wire(multi=True, tsig_ctx=ctx)
                    ctx = r.tsig_ctx
                else:
                    r.keyring = None
                    r.tsig = None
                    wire = r.to_wire()
                    ctx.update(wire)
                    unsigned += 1
                    if self.tamper and i == 1:
                        b = bytearray(wire)
                        b[-1] ^= 1  # the last byte of the last record's rdata
                        wire = bytes(b)
                self._send(c, wire)
            self.transfers.append((len(chunks), unsigned))
