"""Network-namespace plumbing for the data-plane end-to-end tests
(test_afxdp.py, test_tap.py).

Everything a test creates is named with its PID so two runs never collide,
registered for cleanup before it exists, and removed on every exit path
(normal, exception, SIGTERM). Only documentation addresses (192.0.2.0/24,
2001:db8::/32) inside the namespaces made here are ever used.

Run with /usr/bin/python3 (Debian's python3-dnspython) as root.
"""

import ctypes
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

import common

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ZONE = os.path.join(ROOT, "tests", "zones", "example.com.zone")

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def build_dir():
    """$P53_BUILD, else the first of build/, build-test/ that has port53d."""
    env = os.environ.get("P53_BUILD")
    if env:
        return os.path.abspath(env)
    for cand in (os.path.join(ROOT, "build"), os.path.join(ROOT, "build-test")):
        if os.path.exists(os.path.join(cand, "dp", "port53d")):
            return cand
    return os.path.join(ROOT, "build")


def run(cmd, timeout=30, check=True, ns=None):
    """Run a command (inside netns NS when given); return CompletedProcess."""
    if ns:
        cmd = ["ip", "netns", "exec", ns] + list(cmd)
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s%s" % (" ".join(cmd), r.returncode, r.stdout,
                                                     r.stderr))
    return r


class Results(common.Checks):
    """common.Checks, every result shown, with the name first as the
    data-plane tests call it."""

    def __init__(self):
        super().__init__(verbose=True)

    def check(self, name, cond, detail=""):
        return self(cond, name, detail)


class Cleanup:
    """A LIFO of undo actions, run once on exit or on SIGTERM/SIGINT."""

    def __init__(self):
        self.actions = []
        signal.signal(signal.SIGTERM, self._signal)
        signal.signal(signal.SIGINT, self._signal)

    def _signal(self, signum, frame):
        self.run()
        sys.exit(128 + signum)

    def push(self, fn, *args):
        self.actions.append((fn, args))

    def run(self):
        while self.actions:
            fn, args = self.actions.pop()
            try:
                fn(*args)
            except Exception as e:  # cleanup must go on whatever failed
                print("cleanup: %s%r: %s" % (fn.__name__, args, e), file=sys.stderr)


def _ns_del(name):
    subprocess.run(["ip", "netns", "del", name], stderr=subprocess.DEVNULL, timeout=20)


def netns_add(cleanup, name):
    _ns_del(name)
    cleanup.push(_ns_del, name)
    run(["ip", "netns", "add", name])
    run(["ip", "link", "set", "lo", "up"], ns=name)
    # No router solicitations or DAD noise in the counters.
    for k, v in (("net.ipv6.conf.all.accept_ra", "0"), ("net.ipv6.conf.default.accept_ra", "0"),
                 ("net.ipv6.conf.all.router_solicitations", "0"),
                 ("net.ipv6.conf.default.router_solicitations", "0")):
        run(["sysctl", "-qw", "%s=%s" % (k, v)], ns=name, check=False)


def veth_pair(cleanup, a, ns_a, b, ns_b, queues=1):
    """veth A (in NS_A) <-> B (in NS_B) with QUEUES RX and TX queues per end;
    deleting a namespace removes both ends."""
    q = ["numrxqueues", str(queues), "numtxqueues", str(queues)]
    run(["ip", "link", "add", a, "netns", ns_a] + q + ["type", "veth", "peer", "name", b,
                                                        "netns", ns_b] + q)
    for ns, dev in ((ns_a, a), (ns_b, b)):
        run(["ip", "link", "set", dev, "up"], ns=ns)


def addr_add(ns, dev, cidr):
    extra = ["nodad"] if ":" in cidr else []
    run(["ip", "addr", "add", cidr, "dev", dev] + extra, ns=ns)


def mac_of(ns, dev):
    out = run(["ip", "-o", "link", "show", dev], ns=ns).stdout
    m = re.search(r"link/ether ([0-9a-f:]{17})", out)
    return m.group(1) if m else None


def xdp_prog_attached(ns, dev):
    out = run(["ip", "-o", "link", "show", dev], ns=ns, check=False).stdout
    return "prog/xdp" in out or " xdp " in out or "xdpgeneric" in out


def neigh_lladdr(ns, dev, ip):
    """The link-layer address the kernel of NS resolved for IP, or None."""
    out = run(["ip", "neigh", "show", ip, "dev", dev], ns=ns, check=False).stdout
    m = re.search(r"lladdr ([0-9a-f:]{17}) (\w+)", out)
    if m and m.group(2) not in ("FAILED", "INCOMPLETE"):
        return m.group(1)
    return None


class InNetns:
    """Move this (single-threaded) process into a netns for the with-block.
    Sockets opened inside stay in that namespace after leaving it."""

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        self.home = os.open("/proc/self/ns/net", os.O_RDONLY)
        fd = os.open("/var/run/netns/%s" % self.name, os.O_RDONLY)
        try:
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns %s" % self.name)
        finally:
            os.close(fd)
        return self

    def __exit__(self, *exc):
        try:
            if _libc.setns(self.home, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back")
        finally:
            os.close(self.home)
        return False


def wait_for(pred, deadline, step=0.1):
    """common.wait_for with a coarser step: predicates here often run a
    command in a namespace."""
    return common.wait_for(pred, deadline, step)


# --- DNS ---------------------------------------------------------------------

def dns_query(ns, server, qname, qtype, tcp=False, timeout=1.0, tries=3):
    """Ask SERVER from inside NS with dnspython; the reply Message or None."""
    q = dns.message.make_query(qname, qtype, use_edns=0, payload=1232)
    with InNetns(ns):
        for _ in range(tries):
            try:
                if tcp:
                    return dns.query.tcp(q, server, port=53, timeout=timeout)
                return dns.query.udp(q, server, port=53, timeout=timeout)
            except (dns.exception.Timeout, OSError):
                continue
    return None


def rrset_texts(msg, section, rdtype):
    out = set()
    for rrset in getattr(msg, section):
        if rrset.rdtype == rdtype:
            out |= {r.to_text() for r in rrset}
    return out


def check_answer(res, label, msg, qtype, want, rcode=dns.rcode.NOERROR):
    """MSG answers with AA, RCODE and exactly the WANT rdata of QTYPE."""
    if not res.check(label + " answered", msg is not None, "no reply"):
        return False
    got = rrset_texts(msg, "answer", dns.rdatatype.from_text(qtype))
    ok = (msg.rcode() == rcode and bool(msg.flags & dns.flags.AA) and got == set(want))
    return res.check(label + " correct", ok,
                     "rcode=%s aa=%s answer=%s want=%s" % (
                         dns.rcode.to_text(msg.rcode()), bool(msg.flags & dns.flags.AA),
                         sorted(got), sorted(want)))


def kdig(ns, server, qname, qtype, tcp=False):
    """kdig +short through the kernel of NS; the answer lines, or None."""
    cmd = ["kdig", "+short", "+timeout=2", "+retry=1", "@" + server, qname, qtype]
    if tcp:
        cmd.insert(1, "+tcp")
    r = run(cmd, ns=ns, check=False, timeout=15)
    if r.returncode != 0:
        return None
    return set(r.stdout.split())


def ping(ns, addr, count=2):
    cmd = ["ping", "-n", "-q", "-c", str(count), "-i", "0.2", "-W", "2", addr]
    if ":" in addr:
        cmd.insert(1, "-6")
    return run(cmd, ns=ns, check=False, timeout=15).returncode == 0


# --- raw frames ----------------------------------------------------------------

def mac_bytes(mac):
    return bytes(int(x, 16) for x in mac.split(":"))


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ipv4(src, dst, proto, payload, ihl_words=5, frag=0x4000, ttl=64):
    opts = b"\x01" * ((ihl_words - 5) * 4)  # NOPs
    tot = 20 + len(opts) + len(payload)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl_words, 0, tot, 0x1234, frag, ttl, proto, 0,
                      socket.inet_aton(src), socket.inet_aton(dst)) + opts
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return hdr + payload


def ipv6(src, dst, nexthdr, payload, hlim=64):
    return struct.pack("!IHBB16s16s", 0x60000000, len(payload), nexthdr, hlim,
                       socket.inet_pton(socket.AF_INET6, src),
                       socket.inet_pton(socket.AF_INET6, dst)) + payload


def ext_hdr(nexthdr, body=b"\0" * 6):
    """A hop-by-hop / destination-options style header of 8 bytes (PadN)."""
    return struct.pack("!BB", nexthdr, (len(body) + 2) // 8 - 1) + body


def udp(sport, dport, payload):
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def tcp_syn(sport, dport):
    return struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 5 << 4, 0x02, 8192, 0, 0)


def dns_wire(qname="www.example.com.", qtype="A"):
    return dns.message.make_query(qname, qtype).to_wire()


def eth(dst, src, ethertype, payload, vlan=None):
    tag = b""
    if vlan is not None:
        tpid, vid = vlan
        tag = struct.pack("!HH", tpid, vid)
    return mac_bytes(dst) + mac_bytes(src) + tag + struct.pack("!H", ethertype) + payload


def send_frames(ns, dev, frames):
    """Put raw Ethernet frames on DEV inside NS (AF_PACKET)."""
    with InNetns(ns):
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        try:
            s.bind((dev, 0))
            for f in frames:
                s.send(f)
        finally:
            s.close()


# --- processes -------------------------------------------------------------------

class Proc:
    """A background process we started, logged to a file, stopped by PID."""

    def __init__(self, cleanup, cmd, log, ns=None):
        if ns:
            cmd = ["ip", "netns", "exec", ns] + list(cmd)
        self.cmd = cmd
        self.log = log
        self.logf = open(log, "w")
        self.proc = subprocess.Popen(cmd, stdout=self.logf, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        cleanup.push(self.stop)

    def alive(self):
        return self.proc.poll() is None

    def signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def stop(self, deadline=10.0):
        """SIGTERM, bounded wait, then SIGKILL. Returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(deadline)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(deadline)
        if not self.logf.closed:
            self.logf.close()
        return self.proc.returncode

    def tail(self, n=3000):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-n:]
        except OSError:
            return ""


def rm_eal_runtime(prefix):
    """Remove the EAL runtime directory of --file-prefix PREFIX."""
    for base in ("/var/run/dpdk", "/run/dpdk"):
        path = os.path.join(base, prefix)
        if os.path.isdir(path):
            subprocess.run(["rm", "-rf", "--", path], timeout=10)


def wait_listening(ns, proc, deadline=10.0):
    """True once something in NS listens on TCP and PROC is still alive."""
    def listening():
        return "LISTEN" in run(["ss", "-ltnH"], ns=ns, check=False).stdout
    wait_for(lambda: listening() or not proc.alive(), deadline)
    return proc.alive() and listening()


def compile_snapshot(bdir, workdir, who):
    """Snapshot of example.com plus `whoami.example.com TXT WHO`, so a test can
    tell which server (data plane or kernel) produced an answer."""
    zone = os.path.join(workdir, "example.com.%s.zone" % who)
    with open(ZONE) as src, open(zone, "w") as dst:
        dst.write(src.read())
        dst.write('\nwhoami.example.com. 60 IN TXT "%s"\n' % who)
    out = os.path.join(workdir, "%s.p53" % who)
    port53 = os.path.join(bdir, "tools", "port53")
    run([port53, "compile", "-o", out, "example.com=%s" % zone], timeout=60)
    return out


def whoami(ns, server, tcp=False):
    """Which server answered: the TXT of whoami.example.com, or None."""
    m = dns_query(ns, server, "whoami.example.com.", "TXT", tcp=tcp, timeout=2)
    if m is None:
        return None
    txt = rrset_texts(m, "answer", dns.rdatatype.TXT)
    return txt.pop().strip('"') if len(txt) == 1 else repr(txt)


def run_dp_test(tmp_prefix, body, tools=("port53d", "port53", "port53ctl")):
    """The frame of a data-plane test: root, the binaries it needs from
    sys.argv[1] or build_dir(), a work directory and a Cleanup that always
    runs. body(res, cleanup, work, {name: path}). Returns the exit status."""
    res = Results()
    if os.geteuid() != 0:
        res.check("running as root", False)
        return res.finish()
    bdir = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else build_dir()
    where = {"port53d": ("dp", "port53d"), "port53": ("tools", "port53"),
             "port53ctl": ("tools", "port53ctl")}
    paths = {n: os.path.join(bdir, *where[n]) for n in tools}
    for path in paths.values():
        if not os.access(path, os.X_OK):
            res.check("built: %s" % path, False)
            return res.finish()
    cleanup = Cleanup()
    work = tempfile.mkdtemp(prefix=tmp_prefix)
    cleanup.push(lambda: run(["rm", "-rf", work], check=False))
    try:
        body(res, cleanup, work, paths)
    except Exception as e:
        res.check("test ran to completion", False, "%s: %s" % (type(e).__name__, e))
    finally:
        cleanup.run()
    return res.finish()
