#!/usr/bin/python3
"""The kernel-socket server (port53 serve): UDP and TCP per RFC 7766, limits,
reload on SIGHUP (a bad snapshot keeps the old one serving), clean SIGTERM.

Loopback only; every wait is bounded; the server is always stopped.
"""
import os
import shutil
import signal
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

import dns.message  # noqa: E402
import dns.rcode  # noqa: E402



check = common.Checks()


def ask(msg, port, tcp=False):
    raw = common.query(msg, port, tcp=tcp)
    return None if raw is None else dns.message.from_wire(raw)


def a_of(resp):
    return sorted(str(r) for rr in resp.answer for r in rr if rr.rdtype == 1)


def tcp_exchange(port, wires, half_close=False, timeout=3.0):
    """Sends several length-prefixed queries in one write, reads as many replies."""
    s = socket.create_connection((common.HOST, port), timeout=timeout)
    try:
        s.sendall(b"".join(struct.pack("!H", len(w)) + w for w in wires))
        if half_close:
            s.shutdown(socket.SHUT_WR)
        out = []
        buf = b""
        deadline = time.time() + timeout
        while len(out) < len(wires) and time.time() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
            while len(buf) >= 2 and len(buf) >= 2 + struct.unpack("!H", buf[:2])[0]:
                n = struct.unpack("!H", buf[:2])[0]
                out.append(dns.message.from_wire(buf[2:2 + n]))
                buf = buf[2 + n:]
        return out
    finally:
        s.close()


def server_holds_closed(port):
    """True while the server still holds connections its peers have closed
    (CLOSE_WAIT on the server's port): they occupy slots until it reads EOF."""
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(path).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[3] == "08" and int(f[1].rsplit(":", 1)[1], 16) == port:
                return True
    return False


def wait_released(port, deadline_s=5.0):
    end = time.time() + deadline_s
    while server_holds_closed(port) and time.time() < end:
        time.sleep(0.02)


def main():
    binary = common.default_port53()
    zdir = os.path.join(common.ROOT, "tests", "zones")
    with common.tempdir() as work:
        srv = common.Port53(binary, zdir, work,
                            extra=["--tcp-max-conns", "4", "--tcp-idle-ms", "500",
                                   "--identity", "ns-test", "--version", "port53-test"])
        srv.compile()
        good = srv.snapshot + ".good"
        shutil.copy(srv.snapshot, good)
        srv.start()
        try:
            port = srv.port
            q = dns.message.make_query("www.example.com.", "A", use_edns=False)
            r = ask(q, port)
            check(r is not None and r.rcode() == 0 and a_of(r) == ["192.0.2.10"], "UDP answer")
            r = ask(q, port, tcp=True)
            check(r is not None and a_of(r) == ["192.0.2.10"], "TCP answer")

            # RFC 7766 6.2.1.1: several queries on one connection, in order.
            qs = [dns.message.make_query(n, "A") for n in
                  ("www.example.com.", "mail.example.com.", "nope.example.com.")]
            rs = tcp_exchange(port, [x.to_wire() for x in qs])
            check(len(rs) == 3 and [x.id for x in rs] == [x.id for x in qs],
                  "pipelined TCP answers in order")
            check(len(rs) == 3 and rs[2].rcode() == dns.rcode.NXDOMAIN, "pipelined NXDOMAIN")
            rs = tcp_exchange(port, [qs[0].to_wire()], half_close=True)
            check(len(rs) == 1, "answer after client half-close")

            # A large answer is complete over TCP where UDP truncates.
            big = dns.message.make_query("big.example.net.", "TXT", use_edns=False)
            ru = ask(big, port)
            rt = ask(big, port, tcp=True)
            check(ru is not None and rt is not None and rt.answer and bool(ru.flags & 0x0200)
                  and not (rt.flags & 0x0200), "TC on UDP, full on TCP")

            # Idle connections are closed.
            s = socket.create_connection((common.HOST, port), timeout=3)
            t0 = time.time()
            s.settimeout(3)
            try:
                closed = s.recv(1) == b""
            except OSError:
                closed = True
            s.close()
            check(closed and time.time() - t0 < 2.9, "idle TCP connection closed")

            # Connection limit (RFC 7766 6.2.3): with four idle connections
            # open, a fifth closes the one idle longest and is served.
            wire = q.to_wire()
            frame = struct.pack("!H", len(wire)) + wire
            conns = [socket.create_connection((common.HOST, port), timeout=2) for _ in range(4)]
            # One exchange on each, in order: all four are accepted and
            # idle, the first idle longest.
            for c in conns:
                c.sendall(frame)
                check(c.recv(2) and True, "an answer on each of four connections")
                c.recv(65535)
            extra = socket.create_connection((common.HOST, port), timeout=2)
            extra.settimeout(2)
            try:
                extra.sendall(frame)
                served = len(extra.recv(2)) == 2
            except OSError:
                served = False
            extra.close()
            check(served, "a connection over the limit is served in place of an idle one")
            conns[0].settimeout(2)
            try:
                evicted = conns[0].recv(1) == b""
            except OSError:
                evicted = True
            check(evicted, "the connection idle longest was closed")
            for c in conns:
                c.close()
            wait_released(port)
            # With every slot busy (a message in progress on each), the
            # fifth is refused (closed at once) and the others go on.
            conns = [socket.create_connection((common.HOST, port), timeout=2) for _ in range(4)]
            # A whole query and the first byte of the next in one write: the
            # answer shows the server has read both, so the connection has a
            # message in progress.
            for c in conns:
                c.sendall(frame + frame[:1])
                check(c.recv(2) and True, "an answer before the busy byte")
                c.recv(65535)
            extra = socket.create_connection((common.HOST, port), timeout=2)
            extra.settimeout(2)
            try:
                extra.sendall(frame)
                over = extra.recv(2) == b""
            except OSError:
                over = True
            extra.close()
            check(over, "connection over the limit closed")
            conns[1].sendall(frame[1:])
            conns[1].settimeout(2)
            try:
                ok = len(conns[1].recv(2)) == 2
            except OSError:
                ok = False
            check(ok, "busy connections kept while the extra one is refused")
            for c in conns:
                c.close()

            # CHAOS identity and version from configuration.
            ch = dns.message.make_query("version.bind.", "TXT", rdclass="CH")
            r = ask(ch, port)
            check(r is not None and "port53-test" in r.to_text(), "version.bind answered")

            # SIGHUP with a corrupt file: the old snapshot keeps serving.
            with open(srv.snapshot, "r+b") as f:
                f.seek(200)
                b = f.read(1)
                f.seek(200)
                f.write(bytes([b[0] ^ 0xff]))
            srv.proc.send_signal(signal.SIGHUP)
            check(common.wait_for(lambda: "reload failed" in srv.read_log(), 10),
                  "failed reload reported")
            r = ask(q, port)
            check(srv.alive() and r is not None and a_of(r) == ["192.0.2.10"],
                  "corrupt snapshot rejected, old one serving")

            # SIGHUP with a new snapshot: new data serves.
            zcopy = os.path.join(work, "zones")
            shutil.copytree(zdir, zcopy)
            zf = os.path.join(zcopy, "example.com.zone")
            with open(zf) as f:
                text = f.read()
            with open(zf, "w") as f:
                f.write(text.replace("www     IN  A    192.0.2.10", "www     IN  A    192.0.2.111"))
            srv2 = common.Port53(binary, zcopy, work)
            srv2.snapshot = srv.snapshot + ".new"
            srv2.compile()
            os.replace(srv2.snapshot, srv.snapshot)
            srv.proc.send_signal(signal.SIGHUP)
            ok = False
            for _ in range(20):
                r = ask(q, port)
                if r is not None and a_of(r) == ["192.0.2.111"]:
                    ok = True
                    break
                time.sleep(0.1)
            check(ok, "reloaded snapshot serves new data")
        finally:
            rc = srv.stop()
        check(rc == 0, "clean exit on SIGTERM (rc=%s)" % rc)
    return check.finish()


if __name__ == "__main__":
    sys.exit(main())
