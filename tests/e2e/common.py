"""Shared helpers for the port53 end-to-end tests.

Free loopback ports, temporary directories, starting and stopping servers
(port53 serve, NSD) with bounded waits, and DNS send/receive with timeouts.
Everything here is loopback-only and cleans up after itself.

Run the tests with /usr/bin/python3 (Debian's python3-dnspython).
"""

import contextlib
import http.client
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

import dns.message
import dns.query
import dns.rdatatype


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP to a control API on a unix socket (port53 --control-socket)."""

    def __init__(self, path, timeout=10):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s

HOST = "127.0.0.1"
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEFAULT_ZONES = os.path.join(ROOT, "tests", "zones")


def default_port53():
    """The port53 binary: $PORT53, else the first build dir that has one."""
    env = os.environ.get("PORT53")
    if env:
        return env
    for cand in (os.path.join(ROOT, "build", "tools", "port53"),
                 os.path.join(ROOT, "build-test", "tools", "port53")):
        if os.access(cand, os.X_OK):
            return cand
    return os.path.join(ROOT, "build", "tools", "port53")


def free_port():
    """A port free for both UDP and TCP on 127.0.0.1 (best effort)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            t.bind((HOST, 0))
            port = t.getsockname()[1]
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                    u.bind((HOST, port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port found")


def zone_files(zdir):
    """[(origin, path)] for every *.zone file; the origin is the file name
    without .zone (example.com.zone -> example.com.)."""
    out = []
    for fn in sorted(os.listdir(zdir)):
        if fn.endswith(".zone"):
            out.append((fn[:-len(".zone")].rstrip(".") + ".", os.path.join(zdir, fn)))
    return out


@contextlib.contextmanager
def tempdir(prefix="p53e2e-"):
    d = tempfile.mkdtemp(prefix=prefix)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def send_udp(wire, port, timeout=1.0, host=HOST):
    """Send raw bytes over UDP; return the raw reply or None on timeout."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.connect((host, port))
        s.send(wire)
        try:
            return s.recv(65535)
        except (socket.timeout, ConnectionRefusedError):
            return None


def _recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def send_tcp(wire, port, timeout=2.0, host=HOST):
    """Send one length-prefixed message over TCP; return the raw reply,
    or None when the server closes the connection or times out."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect((host, port))
        s.sendall(struct.pack("!H", len(wire)) + wire)
        try:
            hdr = _recv_exact(s, 2)
            if hdr is None:
                return None
            return _recv_exact(s, struct.unpack("!H", hdr)[0])
        except (socket.timeout, ConnectionResetError):
            return None


def query(msg, port, tcp=False, timeout=1.0, retries=2):
    """Send a dns.message.Message; return (raw reply bytes or None)."""
    wire = msg.to_wire()
    for _ in range(retries + 1):
        raw = send_tcp(wire, port, timeout) if tcp else send_udp(wire, port, timeout)
        if raw is not None:
            return raw
    return None


def addresses(port, name, host=HOST):
    """The sorted A addresses of name's answer over UDP (dnspython)."""
    import dns.message
    import dns.query
    r = dns.query.udp(dns.message.make_query(name, "A"), host, port=port, timeout=2)
    return sorted(rd.address for rr in r.answer for rd in rr if rr.rdtype == 1)


def r53_failover(name, check, a, b):
    """A Route 53 failover pair of A sets: a behind health check `check`, b as
    the secondary."""
    return [
        {"Name": name, "Type": "A", "SetIdentifier": "p", "Failover": "PRIMARY", "TTL": 5,
         "HealthCheckId": check, "ResourceRecords": [{"Value": a}]},
        {"Name": name, "Type": "A", "SetIdentifier": "s", "Failover": "SECONDARY", "TTL": 5,
         "ResourceRecords": [{"Value": b}]},
    ]


def wait_for(pred, deadline=10.0, step=0.05):
    """Polls pred() until it returns something true or the deadline passes;
    returns its last value. Tests wait this way, never with bare sleeps."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def wait_answering(port, proc=None, deadline=10.0, qname="example.com.", tcp_too=True):
    """Poll until a server on port answers a query (any rcode), over UDP and
    (optionally) TCP. Returns True, or False if it never did / died."""
    end = time.monotonic() + deadline
    q = dns.message.make_query(qname, "SOA")
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            return False
        ok = send_udp(q.to_wire(), port, 0.2) is not None
        if ok and tcp_too:
            try:
                ok = send_tcp(q.to_wire(), port, 0.5) is not None
            except OSError:
                ok = False
        if ok:
            return True
        time.sleep(0.1)
    return False


def stop(proc, deadline=5.0):
    """SIGTERM the process we started, wait (bounded), then SIGKILL."""
    if proc is None or proc.poll() is not None:
        return proc.returncode if proc is not None else None
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(deadline)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(deadline)


def run(cmd, timeout=60):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=timeout)


class Checks:
    """Pass/fail bookkeeping every e2e test shares: check(cond, what) counts
    and reports a failure (every result when verbose); finish() prints the
    closing line and returns the exit code meson reads."""

    def __init__(self, label="", verbose=False):
        self.label = label
        self.verbose = verbose
        self.passed = 0
        self.failed = 0
        self.skipped = 0

    def __call__(self, cond, what, detail=""):
        shown = "" if detail is None or detail == "" else ": %s" % (detail,)
        if cond:
            self.passed += 1
            if self.verbose:
                print("ok - %s" % what, flush=True)
        else:
            self.failed += 1
            print("FAIL - %s%s" % (what, shown), flush=True)
        return cond

    def skip(self, what, why=""):
        self.skipped += 1
        print("skip - %s%s" % (what, (": " + why) if why else ""), flush=True)

    def finish(self):
        line = "%d passed, %d failed" % (self.passed, self.failed)
        if self.skipped:
            line += ", %d skipped" % self.skipped
        print((self.label + ": " if self.label else "") + line, flush=True)
        return 1 if self.failed else 0


class _Server:
    """What every reference server we start shares: a bounded stop that
    also closes its log, and the tails of its log files for a failure."""

    logs = ()

    def stop(self):
        rc = stop(self.proc)
        if getattr(self, "logf", None):
            self.logf.close()
            self.logf = None
        return rc

    def read_log(self):
        out = ""
        for fn in self.logs:
            try:
                with open(os.path.join(self.workdir, fn)) as f:
                    out += f.read()[-3000:]
            except OSError:
                pass
        return out


class Port53(_Server):
    """Compile zones into a snapshot and run `port53 serve` on a free port."""

    def __init__(self, binary, zdir, workdir, extra=(), port=None):
        self.binary = binary
        self.zdir = zdir
        self.workdir = workdir
        self.extra = list(extra)
        # One loopback client asks faster than any real one: response rate
        # limiting (on by default, docs/abuse.md) is off unless the test is
        # about it, as the NSD configuration below has it.
        if not any(a.startswith("--rrl") for a in self.extra):
            self.extra += ["--rrl-rate", "0"]
        self.port = port or free_port()
        self.proc = None
        self.snapshot = os.path.join(workdir, "zones.p53")
        self.log = os.path.join(workdir, "port53.log")

    def compile(self):
        args = [self.binary, "compile", "-o", self.snapshot]
        args += ["%s=%s" % (o, p) for o, p in zone_files(self.zdir)]
        r = run(args)
        if r.returncode != 0:
            raise RuntimeError("port53 compile failed (%d):\n%s%s" % (r.returncode, r.stdout, r.stderr))

    def start(self, deadline=10.0, qname="example.com."):
        """qname: a name of the snapshot's zones (one outside them may go
        to the resolver, which has nothing to ask here)."""
        if not os.path.exists(self.snapshot):
            self.compile()
        args = [self.binary, "serve", "-s", self.snapshot, "-l", "%s:%d" % (HOST, self.port)]
        args += self.extra
        self.logf = open(self.log, "w")
        self.proc = subprocess.Popen(args, stdout=self.logf, stderr=subprocess.STDOUT)
        if not wait_answering(self.port, self.proc, deadline, qname):
            rc = self.stop()
            raise RuntimeError("port53 serve did not come up (rc=%s):\n%s" % (rc, self.read_log()))
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def read_log(self):
        try:
            with open(self.log) as f:
                return f.read()[-4000:]
        except OSError:
            return ""


NSD_CONF = """server:
    ip-address: {host}@{port}
    do-ip4: yes
    do-ip6: no
    port: {port}
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
    zonesdir: "{zdir}"
    hide-version: yes
    hide-identity: yes
    minimal-responses: {minimal}
    refuse-any: no
    round-robin: no
    ipv4-edns-size: 1232
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
    zonefiles-write: 0
    tcp-count: 100
    tcp-timeout: 10

remote-control:
    control-enable: no

"""


class Nsd(_Server):
    """Run Debian's NSD on a free loopback port with a generated config."""

    logs = ("nsd.log", "nsd.stderr")

    def __init__(self, binary, zdir, workdir, port=None):
        self.binary = binary
        self.zdir = os.path.abspath(zdir)
        self.workdir = workdir
        self.port = port or free_port()
        self.proc = None
        self.conf = os.path.join(workdir, "nsd.conf")

    def write_conf(self, minimal=True):
        text = NSD_CONF.format(host=HOST, port=self.port, d=self.workdir, zdir=self.zdir,
                               minimal="yes" if minimal else "no")
        for origin, path in zone_files(self.zdir):
            text += 'zone:\n    name: "%s"\n    zonefile: "%s"\n\n' % (origin, path)
        with open(self.conf, "w") as f:
            f.write(text)
        checkconf = os.path.join(os.path.dirname(self.binary), "nsd-checkconf")
        if os.access(checkconf, os.X_OK):
            r = run([checkconf, self.conf])
            if r.returncode != 0:
                raise RuntimeError("nsd-checkconf failed:\n%s%s" % (r.stdout, r.stderr))

    def start(self, deadline=15.0, minimal=True):
        self.write_conf(minimal)
        self.logf = open(os.path.join(self.workdir, "nsd.stderr"), "w")
        self.proc = subprocess.Popen([self.binary, "-d", "-c", self.conf],
                                     stdout=self.logf, stderr=subprocess.STDOUT)
        if not wait_answering(self.port, self.proc, deadline):
            rc = self.stop()
            raise RuntimeError("nsd did not come up (rc=%s):\n%s" % (rc, self.read_log()))
        return self



def die(msg, code=2):
    print(msg, file=sys.stderr)
    sys.exit(code)


KNOT_CONF = """server:
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

template:
  - id: default
    storage: "{d}"
    semantic-checks: off
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none

"""


def knot_conf(host, port, d, extra="", server=""):
    """KNOT_CONF for a server on host@port in directory d, with an extra
    block (keys, remotes, ACLs) before the zones the caller appends, and
    extra lines for its server section."""
    text = KNOT_CONF.format(host=host, port=port, d=d)
    if server:
        text = text.replace("    background-workers: 1\n",
                            "    background-workers: 1\n" + server, 1)
    return text + extra


class Knot(_Server):
    """Run Debian's Knot DNS on a free loopback port, with its own config,
    rundir and database in workdir. zones is [(origin, path)]."""

    logs = ("knot.log", "knot.stderr")

    def __init__(self, binary, zones, workdir, port=None):
        self.binary = binary
        self.zones = [(o, os.path.abspath(p)) for o, p in zones]
        self.workdir = workdir
        self.port = port or free_port()
        self.proc = None
        self.conf = os.path.join(workdir, "knot.conf")

    def write_conf(self):
        text = KNOT_CONF.format(host=HOST, port=self.port, d=self.workdir)
        if getattr(self, "hide_chaos", False):
            # CHAOS version.bind and id.server REFUSED, as NSD's
            # hide-version/hide-identity and port53 without --version.
            text = text.replace("    background-workers: 1\n",
                                "    background-workers: 1\n    identity: \"\"\n"
                                "    version: \"\"\n", 1)
        text += "zone:\n"
        for origin, path in self.zones:
            text += '  - domain: "%s"\n    file: "%s"\n' % (origin, path)
        with open(self.conf, "w") as f:
            f.write(text)

    def start(self, deadline=60.0):
        """Starts knotd and waits until every zone answers its SOA (Knot
        answers REFUSED for a zone it is still loading)."""
        self.write_conf()
        self.logf = open(os.path.join(self.workdir, "knot.stderr"), "w")
        self.proc = subprocess.Popen([self.binary, "-c", self.conf],
                                     stdout=self.logf, stderr=subprocess.STDOUT)
        end = time.monotonic() + deadline
        pending = [o for o, _ in self.zones]
        while pending and time.monotonic() < end:
            if self.proc.poll() is not None:
                break
            raw = send_udp(dns.message.make_query(pending[0], "SOA").to_wire(), self.port, 0.2)
            if raw is not None and dns.message.from_wire(raw).answer:
                pending.pop(0)
            else:
                time.sleep(0.05)
        if pending:
            rc = self.stop()
            raise RuntimeError("knotd did not load %s (rc=%s):\n%s" % (pending, rc, self.read_log()))
        return self


def nsec_types(nsec):
    """The type numbers an NSEC RRset's first record lists (RFC 4034 4.1.2
    windows), read here rather than through dnspython's type names so that
    unassigned types (NXNAME) count too."""
    out = set()
    for win, bits in nsec[0].windows:
        for i, b in enumerate(bits):
            for k in range(8):
                if b & (0x80 >> k):
                    out.add(win * 256 + i * 8 + k)
    return out
