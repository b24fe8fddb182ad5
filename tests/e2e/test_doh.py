#!/usr/bin/env python3
"""DNS over HTTPS (RFC 8484) on `port53 serve`, on loopback.

Clients independent of the server's nghttp2 code: kdig +https / +https-get
(Knot's libnghttp2 client), curl --http2 (GET and POST, the HTTP errors,
many streams on one connection), and a few raw HTTP/2 frames written here
for what the others cannot do (idle and per-request deadlines, the stream
limit, the per-source connection cap). Answers are parsed with dnspython
and checked against the zone file read by dnspython; cache-control against
the TTLs of that zone.
"""
import base64
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

import dns.flags  # noqa: E402
import dns.message  # noqa: E402
import dns.rdataclass  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdatatype  # noqa: E402
import dns.zone  # noqa: E402

check = common.Checks("doh")
HOST = common.HOST

ZONE = """$ORIGIN doh.test.
$TTL 3600
@       IN SOA ns1 hostmaster 1 7200 3600 1209600 300
        IN NS  ns1
ns1     IN A   192.0.2.1
www     IN A   192.0.2.10
www     IN AAAA 2001:db8::10
alias   120 IN CNAME target
target  600 IN A 192.0.2.77
alias2  900 IN CNAME target2
target2 60 IN A 192.0.2.78
"""


def big_txt_zone():
    # An answer of about 40 KB: several HTTP/2 DATA frames, past the
    # client's first stream window.
    return "".join('big 300 IN TXT "%03d %s"\n' % (i, "x" * 190) for i in range(200))


def zone_rrset(zone, name, rdtype):
    node = zone.get_node(name)
    rds = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.from_text(rdtype)) if node else None
    return set(r.to_text() for r in rds) if rds else set()


def answer_texts(msg, rdtype):
    out = set()
    for rr in msg.answer:
        if rr.rdtype == dns.rdatatype.from_text(rdtype):
            out |= set(r.to_text() for r in rr)
    return out


def wire(name, rdtype, qid=0):
    q = dns.message.make_query(name, rdtype)
    q.id = qid
    return q.to_wire()


def b64(w):
    return base64.urlsafe_b64encode(w).decode().rstrip("=")


def curl(args, timeout=20):
    return subprocess.run(["curl", "-sk", "--http2", "--max-time", "10"] + args,
                          capture_output=True, timeout=timeout)


def curl_status(url, extra=()):
    r = curl(["-o", "/dev/null", "-w", "%{http_code}"] + list(extra) + [url])
    return r.stdout.decode().strip()


def curl_dns(url, extra=()):
    """(status, headers dict, dnspython message or None)."""
    r = curl(["-D", "-", "-o", "-"] + list(extra) + [url])
    raw = r.stdout
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode(errors="replace").split("\r\n")
    status = lines[0].split()[1] if lines and len(lines[0].split()) > 1 else "?"
    hdr = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdr[k.strip().lower()] = v.strip()
    msg = None
    if status == "200":
        try:
            msg = dns.message.from_wire(body)
        except Exception:
            msg = None
    return status, hdr, msg


# ---- a few raw HTTP/2 frames (RFC 9113), for the limits ----

def frame(ftype, flags, sid, payload=b""):
    return struct.pack("!I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack("!I", sid) + payload


def hpack_literal(name, value):
    # Literal header field without indexing, new name, no Huffman (RFC 7541 6.2.2).
    def s(x):
        x = x.encode()
        assert len(x) < 127
        return bytes([len(x)]) + x
    return b"\x00" + s(name) + s(value)


def headers_block(method, path, ctype=None):
    b = hpack_literal(":method", method) + hpack_literal(":scheme", "https") + \
        hpack_literal(":path", path) + hpack_literal(":authority", "doh.test")
    if ctype:
        b += hpack_literal("content-type", ctype)
    return b


def h2_connect(port, timeout=5.0):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"])
    raw = socket.create_connection((HOST, port), timeout=timeout)
    s = ctx.wrap_socket(raw)
    if s.selected_alpn_protocol() != "h2":
        s.close()
        raise OSError("no h2")
    s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0))
    return s


class FrameReader:
    def __init__(self, s):
        self.s = s
        self.buf = b""
        self.eof = False

    def next(self, deadline):
        """The next frame (type, flags, sid, payload), or None at EOF or
        when the deadline passes."""
        while True:
            if len(self.buf) >= 9:
                n = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) >= 9 + n:
                    t, f = self.buf[3], self.buf[4]
                    sid = struct.unpack("!I", self.buf[5:9])[0] & 0x7fffffff
                    p = self.buf[9:9 + n]
                    self.buf = self.buf[9 + n:]
                    return t, f, sid, p
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.s.settimeout(left)
            try:
                chunk = self.s.recv(65536)
            except socket.timeout:
                return None
            except (ssl.SSLError, OSError):
                self.eof = True
                return None
            if not chunk:
                self.eof = True
                return None
            self.buf += chunk


def settle_settings(s, rd, deadline):
    """Reads until the server's SETTINGS, acknowledges them; returns them."""
    while True:
        f = rd.next(deadline)
        if f is None:
            return None
        t, fl, sid, p = f
        if t == 4 and not fl & 1:
            s.sendall(frame(4, 1, 0))
            return {struct.unpack("!H", p[i:i + 2])[0]: struct.unpack("!I", p[i + 2:i + 6])[0]
                    for i in range(0, len(p) - 5, 6)}


def lifetime(port, path):
    """A connection never idle: requests every 0.3 s. At the lifetime
    (4 s) the server sends GOAWAY NO_ERROR, answers what it took, and
    ends the connection."""
    s = h2_connect(port)
    rd = FrameReader(s)
    settle_settings(s, rd, time.monotonic() + 5)
    t0 = time.monotonic()
    sid, sent, answered, goaway, last, eof = 1, set(), set(), None, None, False
    while time.monotonic() - t0 < 9:
        if goaway is None:
            try:
                s.sendall(frame(1, 0x5, sid, headers_block(
                    "GET", path + "?dns=" + b64(wire("www.doh.test.", "A", sid)))))
                sent.add(sid)
                sid += 2
            except OSError:
                break
        end = time.monotonic() + 0.3
        while True:
            f = rd.next(end)
            if f is None:
                eof = rd.eof
                break
            if f[0] == 1 and f[3][:1] == b"\x88":
                answered.add(f[2])
            elif f[0] == 7:
                goaway = struct.unpack("!I", f[3][4:8])[0]
                last = struct.unpack("!I", f[3][:4])[0] & 0x7fffffff
                t_goaway = time.monotonic() - t0
        if eof:
            break
    s.close()
    check(goaway == 0 and 3.0 <= t_goaway <= 7.5,
          "lifetime (4 s): GOAWAY NO_ERROR on a busy connection", (goaway, last))
    taken = {x for x in sent if last is not None and x <= last}
    check(eof and taken and taken <= answered,
          "after the lifetime GOAWAY: every stream it took answered, then closed",
          (eof, len(taken), len(answered & taken)))


def start_server(binary, wd, snap, extra):
    port = common.free_port()
    log = open(os.path.join(wd, "serve-%d.log" % port), "w")
    proc = subprocess.Popen([binary, "serve", "-s", snap, "-l", "%s:%d" % (HOST, port),
                             "--rrl-rate", "0"] + extra, stdout=log, stderr=subprocess.STDOUT)
    if not common.wait_answering(port, proc):
        common.stop(proc)
        log.close()
        raise RuntimeError("port53 serve did not come up")
    return proc, log


def wait_port(port, deadline=10.0):
    def up():
        try:
            socket.create_connection((HOST, port), timeout=0.3).close()
            return True
        except OSError:
            return False
    return common.wait_for(up, deadline)


def metrics(ctl, sock):
    r = common.run([ctl, "-s", sock, "metrics"])
    return r.stdout


def metric_value(text, name, label):
    total = None
    for ln in text.splitlines():
        if ln.startswith(name) and label in ln:
            total = (total or 0) + int(float(ln.split()[-1]))
    return total


def make_cert(wd, name):
    cert, key = os.path.join(wd, name + ".pem"), os.path.join(wd, name + ".key")
    r = common.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
                    "/CN=" + name, "-keyout", key, "-out", cert])
    if r.returncode:
        raise RuntimeError("openssl: " + r.stderr)
    return cert, key


def served_cert(port):
    """The DER certificate a new DoH connection is offered, or None."""
    try:
        s = h2_connect(port, timeout=3)
        der = s.getpeercert(binary_form=True)
        s.close()
        return der
    except (OSError, ssl.SSLError):
        return None


def pem_der(path):
    with open(path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def cases_reload(proc, wd, port, live_cert, live_key, log_path):
    """SIGHUP: a new DoH certificate for new connections; a broken one
    leaves the old serving."""
    new_cert, new_key = make_cert(wd, "reloaded")
    with open(new_cert, "rb") as f:
        data_c = f.read()
    with open(new_key, "rb") as f:
        data_k = f.read()
    with open(live_cert, "wb") as f:
        f.write(data_c)
    with open(live_key, "wb") as f:
        f.write(data_k)
    proc.send_signal(signal.SIGHUP)
    want = pem_der(new_cert)
    check(common.wait_for(lambda: served_cert(port) == want, 10),
          "SIGHUP: new DoH connections get the new certificate")
    with open(live_key, "w") as f:
        f.write("not a key\n")
    proc.send_signal(signal.SIGHUP)

    def logged():
        with open(log_path) as f:
            return "DoH certificate not reloaded" in f.read()
    check(common.wait_for(logged, 10) and served_cert(port) == want,
          "SIGHUP with a broken key: reported, the loaded certificate keeps serving")


def cases_main(binary, wd, zone, cert, key, snap):
    doh_port = common.free_port()
    sock = os.path.join(wd, "ctl.sock")
    # Copies the reload case replaces under the running server.
    live_cert, live_key = os.path.join(wd, "live.pem"), os.path.join(wd, "live.key")
    shutil.copy(cert, live_cert)
    shutil.copy(key, live_key)
    proc, log = start_server(binary, wd, snap, [
        "--doh-listen", "%s:%d" % (HOST, doh_port), "--tls-cert", live_cert,
        "--tls-key", live_key, "--control-socket", sock, "--tcp-per-source", "6"])
    url = "https://%s:%d/dns-query" % (HOST, doh_port)
    try:
        check(wait_port(doh_port), "DoH listener up")
        # kdig: POST (+https) and GET (+https-get).
        for mode, name, qt in (("+https", "www.doh.test", "A"),
                               ("+https-get", "www.doh.test", "AAAA"),
                               ("+https", "alias.doh.test", "A")):
            r = common.run(["kdig", "@%s" % HOST, "-p", str(doh_port), mode, "+timeout=5",
                            "+retry=0", name, qt], timeout=30)
            want = zone_rrset(zone, name.split(".")[0], qt)
            if name.startswith("alias"):
                want = zone_rrset(zone, "target", "A")
            got = set()
            for ln in r.stdout.splitlines():
                f = ln.split()
                if len(f) >= 5 and f[3] == qt and not ln.startswith(";"):
                    got.add(" ".join(f[4:]))
            verb = "GET" if mode == "+https-get" else "POST"
            check(r.returncode == 0 and "status: 200" in r.stdout and
                  "HTTP/2-%s" % verb in r.stdout and got == want,
                  "kdig %s %s %s: the zone's records over HTTP/2 %s" % (mode, name, qt, verb),
                  (got, want, r.stdout[-600:], r.stderr[-300:]))

        # GET and POST with curl; Message ID 0 (RFC 8484 4.1) and another.
        st, hdr, m = curl_dns(url + "?dns=" + b64(wire("www.doh.test.", "A", 0)))
        check(st == "200" and m is not None and m.id == 0 and
              answer_texts(m, "A") == zone_rrset(zone, "www", "A") and m.flags & dns.flags.AA,
              "GET, ID 0: the zone's A record, ID 0 back", (st, m))
        check(hdr.get("content-type") == "application/dns-message",
              "content-type: application/dns-message", hdr)
        check(hdr.get("cache-control") == "max-age=3600",
              "cache-control: max-age = the answer's TTL (3600)", hdr)
        qfile = os.path.join(wd, "q.bin")
        with open(qfile, "wb") as f:
            f.write(wire("www.doh.test.", "AAAA", 4242))
        st, hdr, m = curl_dns(url, ["-H", "content-type: application/dns-message",
                                    "--data-binary", "@" + qfile])
        check(st == "200" and m is not None and m.id == 4242 and
              answer_texts(m, "AAAA") == zone_rrset(zone, "www", "AAAA"),
              "POST, ID 4242: the zone's AAAA, the ID echoed", (st, m))
        # max-age: the smallest TTL of the answer section (RFC 8484 5.1).
        for name, want in (("alias", 120), ("alias2", 60)):
            st, hdr, m = curl_dns(url + "?dns=" + b64(wire(name + ".doh.test.", "A")))
            ttls = [rr.ttl for rr in m.answer] if m else []
            check(st == "200" and hdr.get("cache-control") == "max-age=%d" % want and
                  ttls and min(ttls) == want,
                  "%s A: CNAME chain, max-age=%d = the smallest answer TTL" % (name, want),
                  (hdr, ttls))
        soa = zone.get_rdataset("@", "SOA")
        neg = min(soa.ttl, soa[0].minimum)
        st, hdr, m = curl_dns(url + "?dns=" + b64(wire("nope.doh.test.", "A")))
        check(st == "200" and m is not None and m.rcode() == dns.rcode.NXDOMAIN and
              hdr.get("cache-control") == "max-age=%d" % neg,
              "NXDOMAIN: max-age = min(SOA TTL, MINIMUM) = %d (RFC 2308)" % neg, (hdr, m))
        # A 40 KB answer: several DATA frames.
        st, hdr, m = curl_dns(url + "?dns=" + b64(wire("big.doh.test.", "TXT")))
        check(st == "200" and m is not None and
              answer_texts(m, "TXT") == zone_rrset(zone, "big", "TXT") and
              len(m.answer[0]) == 200, "a 40 KB answer whole (200 TXT records)",
              (st, hdr.get("content-length")))

        # HTTP errors.
        good = b64(wire("www.doh.test.", "A"))
        short = os.path.join(wd, "short.bin")
        with open(short, "wb") as f:
            f.write(b"\x00\x01\x02")
        big = os.path.join(wd, "big.bin")
        with open(big, "wb") as f:
            f.write(wire("www.doh.test.", "A") + b"\x00" * 70000)
        errs = [
            ("bad base64 (+ and /)", url + "?dns=" + "ab+/cd", (), "400"),
            ("base64 of impossible length", url + "?dns=" + good + "A", (), "400"),
            ("padding", url + "?dns=" + good + "==", (), "400"),
            ("no dns parameter", url + "?x=1", (), "400"),
            ("short message (GET)", url + "?dns=" + b64(b"\x00\x01\x02"), (), "400"),
            ("short message (POST)", url, ("-H", "content-type: application/dns-message",
                                           "--data-binary", "@" + short), "400"),
            ("a response, not a query (QR set)",
             url + "?dns=" + b64(b"\x00\x00\x80\x00" + wire("www.doh.test.", "A")[4:]), (),
             "400"),
            ("other path", "https://%s:%d/other?dns=%s" % (HOST, doh_port, good), (), "404"),
            ("PUT", url + "?dns=" + good, ("-X", "PUT"), "405"),
            ("DELETE", url, ("-X", "DELETE"), "405"),
            ("body over 65535 bytes", url, ("-H", "content-type: application/dns-message",
                                            "--data-binary", "@" + big), "413"),
            ("POST as text/plain", url, ("-H", "content-type: text/plain",
                                         "--data-binary", "@" + short), "415"),
            ("POST without content type", url, ("-H", "content-type:",
                                                "--data-binary", "@" + qfile), "415"),
            ("request target over 8 KiB", url + "?dns=" + "A" * 9000, (), "414"),
            ("headers over 8 KiB", url + "?dns=" + good, ("-H", "x-pad: " + "p" * 9000), "431"),
        ]
        for what, u, extra, want in errs:
            got = curl_status(u, extra)
            check(got == want, "HTTP %s for %s" % (want, what), got)
        got = curl(["-D", "-", "-o", "/dev/null", "-X", "PUT", url]).stdout.decode().lower()
        check("allow: get, post" in got, "405 names the methods (allow: GET, POST)", got[:200])

        # Many streams on one connection: curl --parallel multiplexes them.
        names = ["www", "alias", "alias2", "target", "target2", "ns1"] * 10
        args = ["--parallel", "--parallel-max", "60", "-w", "%{http_code} %{num_connects}\n"]
        outs = []
        for i, n in enumerate(names):
            o = os.path.join(wd, "par%d.bin" % i)
            outs.append(o)
            args += ["-o", o, url + "?dns=" + b64(wire(n + ".doh.test.", "A", i))]
        r = curl(args, timeout=60)
        lines = r.stdout.decode().split()
        codes = lines[0::2]
        conns = sum(int(x) for x in lines[1::2]) if lines else -1
        ok = 0
        for i, (n, o) in enumerate(zip(names, outs)):
            try:
                with open(o, "rb") as f:
                    m = dns.message.from_wire(f.read())
            except Exception:
                continue
            want = zone_rrset(zone, "target" if n == "alias" else
                              "target2" if n == "alias2" else n, "A")
            ok += m.id == i and answer_texts(m, "A") == want
        check(codes.count("200") == 60 and conns == 1 and ok == 60,
              "60 requests multiplexed on one connection, every answer right",
              (codes.count("200"), conns, ok))

        # Per-source cap (--tcp-per-source 6), shared with TCP and TLS.
        held, refused = [], 0
        for _ in range(8):
            try:
                c = h2_connect(doh_port, timeout=3)
                c.settimeout(0.5)
                try:
                    if c.recv(1) == b"":
                        raise OSError("closed")
                except socket.timeout:
                    pass
                held.append(c)
            except (OSError, ssl.SSLError):
                refused += 1
        check(len(held) == 6 and refused == 2, "per-source cap: 6 connections, 2 refused",
              (len(held), refused))
        for c in held:
            c.close()

        # Counters in /metrics.
        text = metrics(os.environ.get("PORT53CTL", "port53ctl"), sock)
        q = metric_value(text, "port53_transport_queries", 'transport="doh"')
        check(q is not None and q >= 70, "metrics: transport_queries{transport=\"doh\"}", q)
        for ev, least in (("status_200", 69), ("status_400", 7), ("status_404", 1),
                          ("status_405", 2), ("status_413", 1), ("status_414", 1),
                          ("status_415", 2), ("status_431", 1), ("get", 60), ("post", 3),
                          ("handshakes", 10)):
            v = metric_value(text, "port53_doh", 'event="%s"' % ev)
            check(v is not None and v >= least, "metrics: doh{event=\"%s\"} >= %d" % (ev, least),
                  v)
        r = common.run([os.environ.get("PORT53CTL", "port53ctl"), "-s", sock, "stats"])
        check("doh{status_200}" in r.stdout and "transport_queries{doh}" in r.stdout,
              "/v1/stats carries the DoH counters", r.stdout[-600:])
        cases_reload(proc, wd, doh_port, live_cert, live_key, log.name)
    finally:
        rc = common.stop(proc)
        log.close()
        check(rc == 0, "port53 serve stopped cleanly", rc)


def raw_frames(port, path):
    """Raw HTTP/2 frames against a server with 5 streams, 1.5 s idle and
    per-message deadlines."""
    def burst(s, first, n):
        s.sendall(b"".join(frame(1, 0x5, first + 2 * i, headers_block(
            "GET", path + "?dns=" + b64(wire("www.doh.test.", "A", i)))) for i in range(n)))

    s = h2_connect(port)
    rd = FrameReader(s)
    st = settle_settings(s, rd, time.monotonic() + 5)
    check(st is not None and st.get(3) == 5 and st.get(6) == 8192,
          "server SETTINGS: MAX_CONCURRENT_STREAMS 5 (from the file), MAX_HEADER_LIST_SIZE 8192",
          st)
    burst(s, 1, 5)
    answered, deadline = set(), time.monotonic() + 5
    while len(answered) < 5:
        f = rd.next(deadline)
        if f is None:
            break
        t, fl, sid, p = f
        if t == 1 and p[:1] == b"\x88":  # :status 200, static table index 8
            answered.add(sid)
    check(answered == {1, 3, 5, 7, 9}, "5 streams at once (the limit): all answered",
          sorted(answered))
    # Per-request deadline: a POST whose body never comes is reset.
    s.sendall(frame(1, 0x4, 17, headers_block("POST", path, "application/dns-message")) +
              frame(0, 0, 17, b"\x00\x00"))
    t0 = time.monotonic()
    got = None
    while True:
        f = rd.next(t0 + 6)
        if f is None or (f[0] == 3 and f[2] == 17):
            got = f
            break
    el = time.monotonic() - t0
    check(got is not None and 1.0 <= el <= 4.0,
          "a request not finished within msg-ms (1.5 s) is reset (RST_STREAM)",
          (got, round(el, 2)))
    # Idle: no stream for idle-ms: GOAWAY, then the connection ends.
    t0 = time.monotonic()
    goaway, eof = False, False
    while True:
        f = rd.next(t0 + 6)
        if f is None:
            eof = True
            break
        if f[0] == 7:
            goaway = True
    el = time.monotonic() - t0
    check(goaway and eof and el <= 4.5, "idle connection: GOAWAY and closed",
          (goaway, eof, round(el, 2)))
    s.close()
    # Over the limit: nghttp2 makes it a connection error (RFC 9113 5.1.2
    # allows a stream or a connection error).
    s = h2_connect(port)
    rd = FrameReader(s)
    settle_settings(s, rd, time.monotonic() + 5)
    burst(s, 1, 6)
    code, deadline = None, time.monotonic() + 5
    while True:
        f = rd.next(deadline)
        if f is None:
            break
        if f[0] == 7:
            code = struct.unpack("!I", f[3][4:8])[0]
    check(code == 1, "6 streams at once with a limit of 5: GOAWAY PROTOCOL_ERROR", code)
    s.close()


def cases_conf(binary, wd, zone, cert, key, snap):
    """The doh: section of the configuration file, with another path."""
    doh_port, port = common.free_port(), common.free_port()
    conf = os.path.join(wd, "doh.yaml")
    with open(conf, "w") as f:
        f.write("snapshot:\n  path: %s\nkernel:\n  listen: [\"%s:%d\"]\n"
                "doh:\n  listen: [\"%s:%d\"]\n  cert: %s\n  key: %s\n  path: /q\n"
                "  max-streams: 5\ntcp:\n  idle-ms: 1500\n  msg-ms: 1500\n  lifetime-ms: 4000\n"
                "rrl:\n  rate: 0\n" % (snap, HOST, port, HOST, doh_port, cert, key))
    r = common.run([binary, "conf-check", "--args", "serve", conf])
    check(r.returncode == 0 and "--doh-listen=%s:%d" % (HOST, doh_port) in r.stdout and
          "--doh-path=/q" in r.stdout and "--doh-max-streams=5" in r.stdout,
          "conf-check --args serve: the doh section", r.stdout + r.stderr)
    bad = os.path.join(wd, "bad.yaml")
    with open(bad, "w") as f:
        f.write("doh:\n  path: dns-query\n")
    r = common.run([binary, "conf-check", bad])
    check(r.returncode == 1 and (bad + ":2:") in (r.stdout + r.stderr),
          "a doh path without '/' refused at its line", r.stdout + r.stderr)
    log = open(os.path.join(wd, "conf.log"), "w")
    proc = subprocess.Popen([binary, "serve", "--config", conf], stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        check(wait_port(doh_port), "serve --config: DoH listener from the file")
        url = "https://%s:%d" % (HOST, doh_port)
        st, hdr, m = curl_dns(url + "/q?dns=" + b64(wire("www.doh.test.", "A")))
        check(st == "200" and m is not None and
              answer_texts(m, "A") == zone_rrset(zone, "www", "A"),
              "the file's path /q answers", (st, m))
        check(curl_status(url + "/dns-query?dns=" + b64(wire("www.doh.test.", "A"))) == "404",
              "the default path is not served then (404)")
        raw_frames(doh_port, "/q")
        lifetime(doh_port, "/q")
        # ALPN: a client offering only http/1.1 is refused.
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["http/1.1"])
        try:
            with ctx.wrap_socket(socket.create_connection((HOST, doh_port), timeout=3)) as c:
                c.sendall(b"GET / HTTP/1.1\r\n\r\n")
                refused = c.recv(10) == b""
        except (OSError, ssl.SSLError):
            refused = True
        check(refused, "a client without ALPN h2 is refused")
    finally:
        rc = common.stop(proc)
        log.close()
        check(rc == 0, "serve --config stopped cleanly", rc)


def main():
    binary = common.default_port53()
    for tool in ("kdig", "curl", "openssl"):
        if subprocess.run(["sh", "-c", "command -v " + tool], capture_output=True).returncode:
            print("FAIL - %s is missing (tools/install-deps.sh installs it)" % tool)
            return 1
    with common.tempdir("p53doh-") as wd:
        zfile = os.path.join(wd, "doh.test.zone")
        with open(zfile, "w") as f:
            f.write(ZONE + big_txt_zone())
        zone = dns.zone.from_file(zfile, origin="doh.test.", relativize=True)
        snap = os.path.join(wd, "doh.p53")
        r = common.run([binary, "compile", "-o", snap, "doh.test=" + zfile])
        if r.returncode:
            print("FAIL - compile: " + r.stderr)
            return 1
        cert, key = os.path.join(wd, "c.pem"), os.path.join(wd, "k.pem")
        r = common.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
                        "/CN=doh.test", "-keyout", key, "-out", cert])
        if r.returncode:
            print("FAIL - openssl: " + r.stderr)
            return 1
        cases_main(binary, wd, zone, cert, key, snap)
        cases_conf(binary, wd, zone, cert, key, snap)
    return check.finish()


if __name__ == "__main__":
    sys.exit(main())
