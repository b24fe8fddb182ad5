"""A private DNS tree for the resolver's tests and benchmark.

A root, the TLD tree. and second-level zones, signed with keys made here
by ldns-keygen / ldns-signzone (ECDSAP256SHA256, NSEC), served by NSD and
Knot DNS on loopback addresses of the network namespace the caller runs in
(127.53.0.0/24, port 53), with a root hints file and a trust anchor (the
root KSK's DS) pointing at them:

    .            NSD  127.53.0.1  signed
    tree.        Knot 127.53.0.2  signed (pre-signed here, served as is)
    leaf.tree.   NSD  127.53.0.3  signed       www A 192.0.2.1, go CNAME bad.evil.tree.,
                                               *.wild A 192.0.2.9, gonodata CNAME
                                               nodata.wild, gowall CNAME wall.evil.tree.
    bogus.tree.  NSD  127.53.0.3  signed, then www's address changed: bogus
    evil.tree.   NSD  127.53.0.3  unsigned     bad A 192.0.2.13
    fwd.tree.    NSD  127.53.0.3  unsigned     www A 192.0.2.1, www.sys A 192.0.2.2
    fwd.tree.    NSD  127.53.0.10:5300 (the "corporate" forwarder's view)
                                               www A 192.0.2.100, www.sys A 192.0.2.66
"""

import os
import subprocess
import time

import common  # noqa: E402  (beside this file; test scripts put it on the path)

import dns.edns
import dns.message
import dns.query
import dns.rdatatype

ROOT_NS = "127.53.0.1"
TLD_NS = "127.53.0.2"
LEAF_NS = "127.53.0.3"
FWD_NS = "127.53.0.10"
FWD_PORT = 5300

SOA = "@ 3600 IN SOA ns.{z} hostmaster.{z} 1 1800 900 604800 300\n"

ZONES = {
    ".": ("$ORIGIN .\n"
          "@ 86400 IN SOA a.root-servers.net. nstld.root-servers.net. 1 1800 900 604800 86400\n"
          "@ 518400 IN NS a.root-servers.net.\n"
          "a.root-servers.net. 518400 IN A " + ROOT_NS + "\n"
          "tree. 172800 IN NS ns.nic.tree.\n"
          "ns.nic.tree. 172800 IN A " + TLD_NS + "\n"),
    "tree.": ("$ORIGIN tree.\n" + SOA.format(z="nic.tree.") +
              "@ 3600 IN NS ns.nic.tree.\n"
              "ns.nic 3600 IN A " + TLD_NS + "\n"
              "leaf 3600 IN NS ns.leaf.tree.\n"
              "ns.leaf 3600 IN A " + LEAF_NS + "\n"
              "bogus 3600 IN NS ns.leaf.tree.\n"
              "evil 3600 IN NS ns.leaf.tree.\n"
              "fwd 3600 IN NS ns.leaf.tree.\n"),
    "leaf.tree.": ("$ORIGIN leaf.tree.\n" + SOA.format(z="leaf.tree.") +
                   "@ 3600 IN NS ns.leaf.tree.\n"
                   "ns 3600 IN A " + LEAF_NS + "\n"
                   "www 300 IN A 192.0.2.1\n"
                   "www 300 IN AAAA 2001:db8::1\n"
                   "go 300 IN CNAME bad.evil.tree.\n"
                   "ok 300 IN CNAME www.leaf.tree.\n"
                   "gonodata 300 IN CNAME nodata.wild.leaf.tree.\n"
                   "gowall 300 IN CNAME wall.evil.tree.\n"
                   "*.wild 300 IN A 192.0.2.9\n"),
    "bogus.tree.": ("$ORIGIN bogus.tree.\n" + SOA.format(z="leaf.tree.") +
                    "@ 3600 IN NS ns.leaf.tree.\n"
                    "www 300 IN A 192.0.2.7\n"),
    "evil.tree.": ("$ORIGIN evil.tree.\n" + SOA.format(z="leaf.tree.") +
                   "@ 3600 IN NS ns.leaf.tree.\n"
                   "bad 300 IN A 192.0.2.13\n"
                   "wall 300 IN A 192.0.2.14\n"),
    "fwd.tree.": ("$ORIGIN fwd.tree.\n" + SOA.format(z="leaf.tree.") +
                  "@ 3600 IN NS ns.leaf.tree.\n"
                  "www 300 IN A 192.0.2.1\n"
                  "www.sys 300 IN A 192.0.2.2\n"),
}
FWD_ZONE = ("$ORIGIN fwd.tree.\n" + SOA.format(z="fwd.tree.") +
            "@ 3600 IN NS ns.fwd.tree.\n"
            "ns 3600 IN A " + FWD_NS + "\n"
            "www 300 IN A 192.0.2.100\n"
            "www.sys 300 IN A 192.0.2.66\n")

SIGNED = [".", "tree.", "leaf.tree.", "bogus.tree."]
CHILDREN = {".": ["tree."], "tree.": ["leaf.tree.", "bogus.tree."]}

NSD_CONF = """server:
    ip-address: {ip}@{port}
    port: {port}
    do-ip6: no
    username: ""
    chroot: ""
    server-count: 1
    verbosity: 0
    database: ""
    zonelistfile: "{d}/zone.list"
    xfrdfile: "{d}/xfrd.state"
    xfrdir: "{d}"
    pidfile: "{d}/nsd.pid"
    logfile: "{d}/nsd.log"
    hide-version: yes
    rrl-ratelimit: 0
    zonefiles-write: 0
remote-control:
    control-enable: no
"""



def _fname(origin):
    return "root" if origin == "." else origin.rstrip(".")


def _run(cmd, cwd):
    r = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("%s failed: %s%s" % (" ".join(cmd), r.stdout, r.stderr))
    return r.stdout.strip()


def build(d):
    """Writes and signs every zone under d; returns (hints, trust_anchor)."""
    os.makedirs(d, exist_ok=True)
    texts = dict(ZONES)
    ds = {}
    # Children first: their DS records go into the parent before it is signed.
    for origin in reversed(SIGNED):
        text = texts[origin]
        for child in CHILDREN.get(origin, []):
            text += ds[child]
        path = os.path.join(d, _fname(origin) + ".zone")
        with open(path, "w") as f:
            f.write(text)
        ksk = _run(["ldns-keygen", "-a", "ECDSAP256SHA256", "-k", origin], d)
        zsk = _run(["ldns-keygen", "-a", "ECDSAP256SHA256", origin], d)
        with open(os.path.join(d, ksk + ".ds")) as f:
            ds[origin] = f.read()
        _run(["ldns-signzone", "-o", origin, "-f", path + ".signed", path, ksk, zsk], d)
        if origin == "bogus.tree.":
            # A valid signature over an address that is no longer the one
            # served: the validator must call it bogus.
            with open(path + ".signed") as f:
                signed = f.read()
            signed = signed.replace("192.0.2.7", "192.0.2.8")
            with open(path + ".signed", "w") as f:
                f.write(signed)
    for origin in ("evil.tree.", "fwd.tree."):
        with open(os.path.join(d, _fname(origin) + ".zone.signed"), "w") as f:
            f.write(texts[origin])
    with open(os.path.join(d, "fwd-corp.zone"), "w") as f:
        f.write(FWD_ZONE)
    hints = os.path.join(d, "root.hints")
    with open(hints, "w") as f:
        f.write(". 3600000 NS a.root-servers.net.\n"
                "a.root-servers.net. 3600000 A %s\n" % ROOT_NS)
    anchor = os.path.join(d, "root.anchor")
    with open(anchor, "w") as f:
        f.write(ds["."])
    return hints, anchor


def _wait(ip, port, zone, proc, deadline=30.0):
    end = time.monotonic() + deadline
    q = dns.message.make_query(zone, "SOA")
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        try:
            r = dns.query.udp(q, ip, port=port, timeout=0.3)
            if r.answer:
                return True
        except Exception:
            pass
        time.sleep(0.05)
    return False


class Tree:
    """Starts the servers of the tree in d (built by build()); stop() ends them."""

    def __init__(self, d):
        self.d = d
        self.procs = []

    def _nsd(self, name, ip, port, zones):
        wd = os.path.join(self.d, name)
        os.makedirs(wd, exist_ok=True)
        text = NSD_CONF.format(ip=ip, port=port, d=wd)
        for origin, path in zones:
            text += 'zone:\n    name: "%s"\n    zonefile: "%s"\n' % (origin, path)
        conf = os.path.join(wd, "nsd.conf")
        with open(conf, "w") as f:
            f.write(text)
        log = open(os.path.join(wd, "stderr"), "w")
        p = subprocess.Popen(["nsd", "-d", "-c", conf], stdout=log, stderr=subprocess.STDOUT)
        self.procs.append((p, log))
        if not _wait(ip, port, zones[0][0], p):
            raise RuntimeError("nsd %s did not come up" % name)

    def _knot(self, name, ip, port, zones):
        wd = os.path.join(self.d, name)
        os.makedirs(wd, exist_ok=True)
        text = common.KNOT_CONF.format(host=ip, port=port, d=wd) + "zone:\n"
        for origin, path in zones:
            text += '  - domain: "%s"\n    file: "%s"\n' % (origin, path)
        conf = os.path.join(wd, "knot.conf")
        with open(conf, "w") as f:
            f.write(text)
        log = open(os.path.join(wd, "stderr"), "w")
        p = subprocess.Popen(["knotd", "-c", conf], stdout=log, stderr=subprocess.STDOUT)
        self.procs.append((p, log))
        if not _wait(ip, port, zones[0][0], p, 60.0):
            raise RuntimeError("knotd %s did not come up" % name)

    def start(self):
        z = lambda o: os.path.join(self.d, _fname(o) + ".zone.signed")  # noqa: E731
        self._nsd("root", ROOT_NS, 53, [(".", z("."))])
        self._knot("tld", TLD_NS, 53, [("tree.", z("tree."))])
        self._nsd("leaf", LEAF_NS, 53, [(o, z(o)) for o in
                                        ("leaf.tree.", "bogus.tree.", "evil.tree.", "fwd.tree.")])
        self._nsd("corp", FWD_NS, FWD_PORT, [("fwd.tree.", os.path.join(self.d, "fwd-corp.zone"))])
        return self

    def stop_authorities(self):
        """Stops the tree's servers but the forwarder: what is answered
        after this came from a cache."""
        for p, log in self.procs[:3]:
            _stop(p)
            log.close()
        self.procs = self.procs[3:]

    def stop(self):
        for p, log in self.procs:
            _stop(p)
            log.close()
        self.procs = []


def _stop(p):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)


def in_netns(argv, env=None):
    """Runs argv in a new network namespace with loopback up; removes the
    namespace after. Returns the exit code; 77 when it cannot be made."""
    if os.geteuid() != 0:
        print("skip: network namespaces need root")
        return 77
    ns = "p53res%d" % os.getpid()
    if subprocess.run(["ip", "netns", "add", ns]).returncode != 0:
        print("skip: ip netns add failed")
        return 77
    try:
        subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"], check=True)
        return subprocess.run(["ip", "netns", "exec", ns] + argv, env=env).returncode
    finally:
        subprocess.run(["ip", "netns", "del", ns])


def addrs(r, qtype="A"):
    """The addresses (rdata text) of a response's qtype records; none for
    no response."""
    if r is None:
        return set()
    out = set()
    for rrset in r.answer:
        if rrset.rdtype == dns.rdatatype.from_text(qtype):
            out |= {rd.to_text() for rd in rrset}
    return out


def ede(r):
    """The Extended DNS Error code of a response (RFC 8914), or None."""
    for o in (r.options if r is not None else []):
        if o.otype == dns.edns.EDE:
            return o.code
    return None
