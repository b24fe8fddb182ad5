"""Clients and fixtures for the transport tests (test_transports.py): test
certificates made with the openssl command, DNS over QUIC through the Go
client (tests/e2e/doqclient, on quic-go: independent of the server's
ngtcp2), DNS over TLS through kdig and Python's ssl, TCP through dnspython.

Run with /usr/bin/python3 as root; everything targets addresses inside the
namespaces the tests create.
"""

import os
import socket
import ssl
import struct
import time

import dns.edns
import dns.message
import dns.query
import dns.rdatatype

import dpnet
from dpnet import InNetns, run


def make_certs(work):
    """A test CA, a server certificate for dns.example.test signed by it, and
    an expired one (notAfter a day ago). Returns a dict of paths."""
    p = {k: os.path.join(work, k) for k in (
        "ca.key", "ca.pem", "srv.key", "srv.csr", "srv.pem", "old.key", "old.csr", "old.pem",
        "san.ext")}
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    run(["openssl", "req", "-x509"] + ec + ["-days", "2", "-subj", "/CN=port53 test CA",
                                           "-keyout", p["ca.key"], "-out", p["ca.pem"]])
    with open(p["san.ext"], "w") as f:
        f.write("subjectAltName=DNS:dns.example.test\n")
    for name, days in (("srv", "2"), ("old", "-1")):
        run(["openssl", "req", "-new"] + ec + ["-subj", "/CN=dns.example.test",
                                               "-keyout", p[name + ".key"],
                                               "-out", p[name + ".csr"]])
        run(["openssl", "x509", "-req", "-in", p[name + ".csr"], "-CA", p["ca.pem"],
             "-CAkey", p["ca.key"], "-CAcreateserial", "-days", days,
             "-extfile", p["san.ext"], "-out", p[name + ".pem"]])
    return p


def query_wire(qname, qtype, qid=0, payload=1232):
    q = dns.message.make_query(qname, qtype, use_edns=0, payload=payload)
    q.id = qid
    return q


def doq(doqclient, ns, server, queries, alpn="doq", ca=None, timeout=5, port=853, wait=None,
        notes=None):
    """Sends each dns.message query on its own stream of one DoQ
    connection. Returns (list of dns.message or 'RESET n' / 'ERROR ...'
    strings, None) or (None, error text) when the connection failed.
    wait: ask the first query again on the same connection that many
    seconds after the answers (one more entry in the list). notes: a list
    that gets the client's report of the handshake ('retry' when the
    server sent a Retry)."""
    host = "[%s]" % server if ":" in server else server
    cmd = [doqclient, "-s", "%s:%d" % (host, port), "-alpn", alpn, "-t", "%ds" % timeout]
    if ca:
        cmd += ["-ca", ca, "-sni", "dns.example.test"]
    if wait is not None:
        cmd += ["-wait", "%dms" % int(wait * 1000)]
    if notes is not None:
        cmd += ["-v"]
    cmd += [q.to_wire().hex() for q in queries]
    r = run(cmd, ns=ns, check=False, timeout=timeout + 10)
    if notes is not None:
        notes.extend(x.strip() for x in r.stderr.splitlines() if x.strip() == "retry")
    if r.returncode != 0:
        return None, (r.stderr or r.stdout).strip()
    out = []
    for line in r.stdout.splitlines():
        if line.startswith(("RESET", "ERROR")):
            out.append(line)
        else:
            out.append(dns.message.from_wire(bytes.fromhex(line)))
    return out, None


def tcp_pipelined(ns, server, queries, port=53, timeout=3.0, raw=False, piece=None):
    """Writes every query on one TCP connection in one send (or in writes
    of piece bytes, so messages straddle segments), then reads as many
    answers; returns {id: dns.message} (answers may come in any order,
    RFC 7766 6.2.1.1), or {id: wire bytes} with raw."""
    fam = socket.AF_INET6 if ":" in server else socket.AF_INET
    with InNetns(ns):
        s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((server, port))
        blob = b"".join(struct.pack("!H", len(w)) + w for w in (q.to_wire() for q in queries))
        if piece:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for i in range(0, len(blob), piece):
                s.sendall(blob[i:i + piece])
                time.sleep(0.002)  # paces the writes so each is its own segment
        else:
            s.sendall(blob)
        got = {}
        buf = b""
        while len(got) < len(queries):
            while len(buf) < 2 or len(buf) < 2 + struct.unpack("!H", buf[:2])[0]:
                chunk = s.recv(65536)
                if not chunk:
                    return got
                buf += chunk
            n = struct.unpack("!H", buf[:2])[0]
            w = buf[2:2 + n]
            buf = buf[2 + n:]
            got[struct.unpack("!H", w[:2])[0]] = w if raw else dns.message.from_wire(w)
        return got
    finally:
        s.close()


def tls_connect(ns, server, alpn=None, cafile=None, timeout=3.0):
    """A TLS connection to SERVER:853 from NS with Python's ssl; returns the
    ssl socket (caller closes) or raises ssl.SSLError."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cafile:
        ctx.load_verify_locations(cafile)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(alpn)
    fam = socket.AF_INET6 if ":" in server else socket.AF_INET
    with InNetns(ns):
        raw = socket.socket(fam, socket.SOCK_STREAM)
    raw.settimeout(timeout)
    try:
        raw.connect((server, 853))
        return ctx.wrap_socket(raw, server_hostname="dns.example.test")
    except Exception:
        raw.close()
        raise


def tls_query(ns, server, qname, qtype, alpn=("dot",), cafile=None, keepalive=None):
    """One query over DNS over TLS; the answer or the exception raised.
    keepalive: the edns-tcp-keepalive option's data to send (b"" = ask)."""
    try:
        s = tls_connect(ns, server, alpn=list(alpn) if alpn else None, cafile=cafile)
    except (ssl.SSLError, OSError) as e:
        return e
    try:
        q = query_wire(qname, qtype, qid=4242)
        if keepalive is not None:
            q.use_edns(0, options=[dns.edns.GenericOption(11, keepalive)])
        w = q.to_wire()
        s.sendall(struct.pack("!H", len(w)) + w)
        buf = b""
        while len(buf) < 2 or len(buf) < 2 + struct.unpack("!H", buf[:2])[0]:
            chunk = s.recv(65536)
            if not chunk:
                return OSError("closed")
            buf += chunk
        return dns.message.from_wire(buf[2:2 + struct.unpack("!H", buf[:2])[0]])
    except (ssl.SSLError, OSError) as e:
        return e
    finally:
        s.close()


def kdig_tls(ns, server, qname, qtype, ca=None, pin=None):
    """kdig +tls (opportunistic) or +tls-ca (strict, with the test CA);
    returns (answer lines or None, output)."""
    cmd = ["kdig", "+short", "+timeout=3", "+retry=0", "@" + server, qname, qtype]
    if ca:
        cmd[1:1] = ["+tls-ca=%s" % ca, "+tls-hostname=dns.example.test"]
    else:
        cmd[1:1] = ["+tls"]
    r = run(cmd, ns=ns, check=False, timeout=20)
    if r.returncode != 0 or not r.stdout.strip():
        return None, r.stdout + r.stderr
    return set(r.stdout.split()), r.stdout + r.stderr


def rrset_texts(msg, rdtype):
    return dpnet.rrset_texts(msg, "answer", dns.rdatatype.from_text(rdtype))


class UdpRelay:
    """A UDP relay inside NS between a local port and SERVER:853: what the
    client sends goes to the server from one socket, what comes back goes
    to the client. Keeps the last datagram each way, so a test can send
    the client's last one again (replay) as the server saw it."""

    def __init__(self, ns, server, port=853):
        fam = socket.AF_INET6 if ":" in server else socket.AF_INET
        with InNetns(ns):
            self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.back = socket.socket(fam, socket.SOCK_DGRAM)
        self.front.bind(("127.0.0.1", 0))
        self.port = self.front.getsockname()[1]
        self.server = (server, port)
        self.client = None
        self.last_up = self.last_down = None
        self.stop = False
        import threading
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        import select
        for _ in range(1000000):  # bounded; close() ends it
            if self.stop:
                return
            r, _, _ = select.select([self.front, self.back], [], [], 0.05)
            for sk in r:
                try:
                    d, a = sk.recvfrom(65535)
                except OSError:
                    return
                if sk is self.front:
                    self.client, self.last_up = a, d
                    self.back.sendto(d, self.server)
                elif self.client is not None:
                    self.last_down = d
                    self.front.sendto(d, self.client)

    def pause(self):
        self.stop = True
        self.thread.join(5)

    def replay(self, tries=8, timeout=0.3):
        """Sends the client's last datagram again until the server replies,
        up to TRIES times; the reply or None. More than one try: a server
        in its closing period may answer only every 2nd, 4th, 8th ...
        packet (RFC 9000 10.2.1), and the client's own last packets count."""
        self.back.settimeout(timeout)
        for _ in range(tries):
            self.back.sendto(self.last_up, self.server)
            try:
                return self.back.recv(65535)
            except socket.timeout:
                pass
        return None

    def close(self):
        self.pause()
        self.front.close()
        self.back.close()
