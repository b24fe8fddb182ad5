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


def write_zone(path, origin, serial, n, variant=0, expire=600):
    with open(path, "w") as f:
        f.write(zone_text(origin, serial, n, variant, expire))
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


KNOT_BASE = """server:
    rundir: "{d}"
    listen: {host}@{port}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1

database:
    storage: "{d}/db"

log:
  - target: "{d}/knot.log"
    any: info

key:
  - id: {key}
    algorithm: hmac-sha256
    secret: {secret}

remote:
  - id: peer
    address: {host}@{peer}
    key: {key}

acl:
  - id: peer_acl
    address: {host}
    key: {key}
    action: [transfer, notify]

template:
  - id: default
    storage: "{d}"
    semantic-checks: off
    zonefile-sync: -1
    journal-content: changes
    serial-policy: increment

"""


class KnotPeer(common._Server):
    """knotd as the primary (zones from files, NOTIFY to the peer) or the
    secondary (zones transferred from the peer) of port53."""

    logs = ("knot.log", "knot.stderr")

    def __init__(self, workdir, role, zones, peer_port, port=None):
        self.binary = "/usr/sbin/knotd"
        self.workdir = workdir
        self.role = role
        self.zones = zones  # [(origin, path or None)]
        self.peer_port = peer_port
        self.port = port or common.free_port()
        self.proc = None
        self.conf = os.path.join(workdir, "knot.conf")

    def write_conf(self):
        os.makedirs(os.path.join(self.workdir, "db"), exist_ok=True)
        text = KNOT_BASE.format(d=self.workdir, host=common.HOST, port=self.port,
                                key=KEY_NAME.rstrip("."), secret=KEY_SECRET, peer=self.peer_port)
        text += "zone:\n"
        for origin, path in self.zones:
            text += '  - domain: "%s"\n' % origin
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
                                             .to_wire(), self.port, 0.2) is not None,
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

    def __init__(self, workdir, role, zones, peer_port, port=None):
        self.binary = "/usr/sbin/nsd"
        self.workdir = workdir
        self.role = role
        self.zones = zones
        self.peer_port = peer_port
        self.port = port or common.free_port()
        self.proc = None
        self.conf = os.path.join(workdir, "nsd.conf")

    def write_conf(self):
        key = KEY_NAME.rstrip(".")
        text = NSD_BASE.format(d=self.workdir, host=common.HOST, port=self.port, key=key,
                               secret=KEY_SECRET)
        peer = "%s@%d" % (common.HOST, self.peer_port)
        for origin, path in self.zones:
            text += 'zone:\n    name: "%s"\n' % origin
            if self.role == "primary":
                text += '    zonefile: "%s"\n' % path
                text += "    notify: %s %s\n    provide-xfr: %s %s\n" % (peer, key, common.HOST, key)
            else:
                text += '    zonefile: "%s.zone"\n' % origin
                text += "    request-xfr: %s %s\n    allow-notify: %s %s\n" % (peer, key, common.HOST, key)
                text += "    provide-xfr: %s %s\n" % (common.HOST, key)
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
                                             .to_wire(), self.port, 0.2) is not None,
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
