#!/usr/bin/python3
"""The control side of port53d under abuse (the TCP parts are in
test_limits.py against `port53 serve`; both run the same ctrl/ code).

port53d answers a large snapshot (gen-zone.py, 300,000 records) on a net_tap
port in its own namespace with one worker (lcore 0). Counted outcomes:

  - no control thread (control side, API, EAL's own) may run on the
    worker's core: Cpus_allowed_list of every thread but the worker's;
  - SIGHUP reloads of the large file while a client in the namespace counts
    the DPDK worker's answers during each load and the longest gap;
  - a FIFO at the snapshot path and one given to POST /v1/reload are
    refused at once, answers going on;
  - 64 slow unauthenticated connections from one source to the control
    API's TCP listener leave the operator with the token answered at once.

Needs root and a build with port53d and port53:
    sudo /usr/bin/python3 tests/e2e/test_dp_limits.py [BUILD_DIR]
"""

import os
import resource
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import dns.message  # noqa: E402
import dpnet  # noqa: E402
from dpnet import run  # noqa: E402
import test_limits as L  # noqa: E402
import test_snapshot_verify as tsv  # noqa: E402

PID = os.getpid()
NS = "p53l-%d" % PID
TAP = "pxl%d" % (PID % 100000)
SVC, CLI = "192.0.2.53", "192.0.2.10"
TOKEN = "dp-limits-token-0123456789abcdef"


class Client(L.Client):
    """UDP queries to the DPDK worker from inside the namespace."""

    def __init__(self):
        super().__init__(53)
        with dpnet.InNetns(NS):
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(1.0)
        self.sock.connect((SVC, 53))

    def run(self):
        q = dns.message.make_query("big.test.", "SOA").to_wire()
        n = 0
        while not self.stop and n < 2000000:
            n += 1
            try:
                self.sock.send(q)
                self.sock.recv(4096)
                self.times.append(time.monotonic())
            except OSError:
                self.lost += 1
        self.sock.close()


def log_lines(path):
    with open(path, errors="replace") as f:
        return f.read().splitlines()


def threads_off_worker(res, pid):
    bad, seen = [], 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                st = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue
        name = st.get("Name", "").strip()
        cpus = st.get("Cpus_allowed_list", "").strip()
        if int(tid) == pid:
            continue  # the main lcore: the worker itself
        seen += 1
        allowed = set()
        for part in cpus.split(","):
            a, _, b = part.partition("-")
            allowed.update(range(int(a), int(b or a) + 1))
        if 0 in allowed:
            bad.append("%s(%s): %s" % (name, tid, cpus))
    print("threads besides the worker: %d" % seen)
    res.check("no control thread may run on the worker's core (%d threads)" % seen,
              seen >= 3 and not bad, "; ".join(bad))


def api_starvation(res, cport):
    slow = []
    with dpnet.InNetns(NS):
        for _ in range(64):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.2", 0))
            s.settimeout(2)
            try:
                s.connect(("127.0.0.1", cport))
                s.send(b"GET /v1/status HTTP/1.1\r\nHost: x\r\n")
                slow.append(s)
            except OSError:
                s.close()
    try:
        # The operator asks once port53d has turned away the slow
        # connections over the per-source cap.
        common.wait_for(lambda: sum(not L.is_closed(s) for s in slow) <= 4, 3)
        ok, lat = 0, []
        for _ in range(5):
            a = time.monotonic()
            try:
                with dpnet.InNetns(NS):
                    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.settimeout(3)
                s.connect(("127.0.0.1", cport))
                s.sendall(("GET /v1/status HTTP/1.0\r\nHost: x\r\nAuthorization: Bearer %s"
                           "\r\n\r\n" % TOKEN).encode())
                buf = b""
                while True:
                    d = s.recv(65536)
                    if not d:
                        break
                    buf += d
                s.close()
                ok += b" 200 " in buf.split(b"\r\n")[0]
            except OSError:
                pass
            lat.append(time.monotonic() - a)
            for t in slow:
                try:
                    t.send(b"X")
                except OSError:
                    pass
            time.sleep(0.5)  # paces the operator and the dribble: one byte per step
        print("api: operator requests in %s ms" % [round(x * 1e3) for x in lat])
        res.check("port53d API: the operator with the token is answered (%d of 5)" % ok,
                  ok == 5)
        res.check("port53d API: one source holds at most 4 connections (%d)" %
                  sum(not L.is_closed(s) for s in slow),
                  sum(not L.is_closed(s) for s in slow) <= 4)
    finally:
        for s in slow:
            s.close()


def body(res, cleanup, work, tools):
    zf = os.path.join(work, "big.test.zone")
    run(["/usr/bin/python3", os.path.join(dpnet.ROOT, "tools", "gen-zone.py"),
         "--origin", "big.test.", "-o", zf, "300000"], timeout=120)
    rdir = os.path.join(work, "reloads")
    os.mkdir(rdir)
    snap = os.path.join(rdir, "big.p53")
    run([tools["port53"], "compile", "-o", snap, "big.test.=" + zf], timeout=600)
    tok = os.path.join(work, "token")
    with open(tok, "w") as f:
        f.write(TOKEN + "\n")
    os.chmod(tok, 0o600)
    dpnet.netns_add(cleanup, NS)
    run(["ip", "link", "set", "lo", "up"], ns=NS)
    sock = os.path.join(work, "ctl.sock")
    cport = 8053
    eal = os.environ.get("P53_EAL", "--no-huge -m 512 --no-pci -l 0").split()
    cmd = [tools["port53d"]] + eal + [
        "--file-prefix", "p53l%d" % PID, "--vdev", "net_tap0,iface=%s" % TAP,
        "--", "--snapshot", snap, "--addr", SVC, "--control-socket", sock,
        "--control-listen", "127.0.0.1:%d" % cport, "--control-token-file", tok,
        "--reload-dir", rdir, "--rrl-rate", "0"]
    cleanup.push(dpnet.rm_eal_runtime, "p53l%d" % PID)
    logp = os.path.join(work, "port53d.log")
    d = dpnet.Proc(cleanup, cmd, logp, ns=NS)
    up = dpnet.wait_for(lambda: not d.alive() or (os.path.exists(sock) and run(
        ["ip", "link", "show", TAP], ns=NS, check=False).returncode == 0), 60)
    if not res.check("port53d up with its control socket", d.alive() and up, d.tail()):
        return
    dpnet.addr_add(NS, TAP, CLI + "/24")
    run(["ip", "link", "set", TAP, "up"], ns=NS)
    first = dpnet.dns_query(NS, SVC, "big.test.", "SOA", timeout=2, tries=5)
    if not res.check("DPDK worker answers", first is not None and first.answer, d.tail()):
        return
    threads_off_worker(res, d.proc.pid)

    cl = Client()
    cl.start()
    try:
        common.wait_for(lambda: len(cl.times) > 50, 10)
        for i in range(3):
            before = len([x for x in log_lines(logp) if "reloaded" in x])
            t0 = time.monotonic()
            d.signal(signal.SIGHUP)
            st_lat = None
            if i == 0:
                a = time.monotonic()
                st, _ = L.api_get(sock, "/v1/status")
                st_lat = time.monotonic() - a
            ok = common.wait_for(lambda: len([x for x in log_lines(logp) if "reloaded" in x]) >
                            before, 60, 0.01)
            t1 = time.monotonic()
            line = [x for x in log_lines(logp) if "reloaded" in x][-1] if ok else ""
            try:
                verify_ms = float(line.split("verify ")[1].split(" ms")[0])
            except (IndexError, ValueError):
                verify_ms = 0.0
            n, gap = len(cl.between(t0, t1)), cl.longest_gap(t0, t1)
            print("reload %d: verify %.0f ms, %d answers in a %.0f ms window, longest gap "
                  "%.1f ms%s" % (i, verify_ms, n, (t1 - t0) * 1e3, gap * 1e3,
                                 "" if st_lat is None else
                                 ", status in %.1f ms" % (st_lat * 1e3)))
            res.check("port53d reload %d done" % i, ok and verify_ms > 0, line)
            res.check("worker answered during reload %d (%d)" % (i, n), n >= 3)
            res.check("longest gap during reload %d under half the load (%.1f of %.0f ms)" %
                      (i, gap * 1e3, verify_ms), gap * 1e3 < max(0.5 * verify_ms, 50))
            if st_lat is not None:
                res.check("status answered during the load (%.1f ms)" % (st_lat * 1e3),
                          st == 200 and st_lat * 1e3 < max(0.5 * verify_ms, 50))
        aside = snap + ".aside"
        os.rename(snap, aside)
        os.mkfifo(snap)
        t0 = time.monotonic()
        d.signal(signal.SIGHUP)
        ok = common.wait_for(lambda: any("not a regular file" in x for x in log_lines(logp)), 5,
                             0.01)
        res.check("SIGHUP with a FIFO at the snapshot path refused", ok, d.tail())
        t1 = time.monotonic()
        common.wait_for(lambda: len(cl.between(t1, time.monotonic())) >= 10, 5)
        res.check("answers went on around the FIFO (longest gap %.1f ms)" %
                  (cl.longest_gap(t0, time.monotonic()) * 1e3),
                  cl.longest_gap(t0, time.monotonic()) < 0.5)
        os.unlink(snap)
        os.rename(aside, snap)
        fifo = os.path.join(rdir, "fifo.p53")
        os.mkfifo(fifo)
        reply = L.api_reload(sock, fifo)
        res.check("POST /v1/reload of a FIFO refused at once",
                  b" 422 " in reply.split(b"\r\n")[0] and b"not a regular file" in reply,
                  reply[:200])
        crafted_reload(res, sock, rdir, work, tools, cl)
        res.check("no query to the worker lost (%d)" % cl.lost, cl.lost == 0)
    finally:
        cl.stop = True
        cl.join(5)
    api_starvation(res, cport)
    rc = d.stop()
    res.check("port53d exits 0 on SIGTERM", rc == 0, "rc=%s\n%s" % (rc, d.tail()))


class TcpDp:
    """port53d with its own TCP listener (--tcp, in the exception path's
    namespace, the layout of test_transports.py), clients on the TAP side
    from 192.0.2.10-16."""

    def __init__(self, res, cleanup, work, tools, tag, extra=()):
        self.ok = False
        ns_h, ns_k = "p53l%sh-%d" % (tag, PID), "p53l%sk-%d" % (tag, PID)
        tap, exc_prefix = "pl%sh%d" % (tag, PID % 10000), "pl%sk%d_" % (tag, PID % 1000)
        exc = exc_prefix + "0"
        self.ns_h = ns_h
        dpnet.netns_add(cleanup, ns_h)
        dpnet.netns_add(cleanup, ns_k)
        zf = os.path.join(work, "small-%s.zone" % tag)
        with open(zf, "w") as f:
            f.write(L.ZONE)
        snap = os.path.join(work, "small-%s.p53" % tag)
        run([tools["port53"], "compile", "-o", snap, "big.test.=" + zf], timeout=60)
        eal = os.environ.get("P53_EAL", "--no-huge -m 512 --no-pci -l 0").split()
        prefix = "p53l%s%d" % (tag, PID)
        cmd = [tools["port53d"]] + eal + [
            "--file-prefix", prefix, "--vdev", "net_tap0,iface=%s" % tap,
            "--", "--snapshot", snap, "--addr", SVC, "--exception", "tap:" + exc_prefix,
            "--transport-netns", ns_k, "--tcp"] + list(extra)
        cleanup.push(dpnet.rm_eal_runtime, prefix)
        self.log = os.path.join(work, "port53d-%s.log" % tag)
        d = self.d = dpnet.Proc(cleanup, cmd, self.log, ns=ns_h)
        up = dpnet.wait_for(lambda: not d.alive() or all(
            run(["ip", "link", "show", x], ns=ns_h, check=False).returncode == 0
            for x in (tap, exc)), 30)
        if not res.check("tcp %s: port53d up with its taps" % tag, d.alive() and up, d.tail()):
            return
        for i in range(10, 17):
            dpnet.addr_add(ns_h, tap, "192.0.2.%d/24" % i)
        run(["ip", "link", "set", tap, "up"], ns=ns_h)
        run(["ip", "link", "set", exc, "netns", ns_k], ns=ns_h)
        dpnet.addr_add(ns_k, exc, SVC + "/24")
        run(["ip", "link", "set", exc, "up"], ns=ns_k)
        dpnet.wait_for(lambda: "LISTEN" in run(["ss", "-ltnH"], ns=ns_k, check=False).stdout, 5)
        self.ok = res.check("tcp %s: port53d answers over TCP" % tag,
                            dpnet.wait_for(lambda: self.ask("192.0.2.10"), 10, 0.3), d.tail())

    def connect(self, src):
        with dpnet.InNetns(self.ns_h):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(3)
        s.bind((src, 0))
        s.connect((SVC, 53))
        return s

    def ask(self, src, timeout=3.0):
        try:
            s = self.connect(src)
            s.settimeout(timeout)
            s.sendall(L.frame("www.big.test."))
            buf = b""
            while len(buf) < 2 or len(buf) < 2 + int.from_bytes(buf[:2], "big"):
                d_ = s.recv(65536)
                if not d_:
                    return False
                buf += d_
            s.close()
            return bool(dns.message.from_wire(buf[2:]).answer)
        except OSError:
            return False


def tcp_abuse(res, cleanup, work, tools):
    """port53d's own TCP listener with the default limits."""
    t = TcpDp(res, cleanup, work, tools, "t")
    if not t.ok:
        return
    d, connect, ask = t.d, t.connect, t.ask
    wire = L.frame("www.big.test.")
    bad = []
    for _ in range(40):
        try:
            s = connect("192.0.2.11")
            s.send(wire[:1])
            bad.append(s)
        except OSError:
            pass
    # port53d closes those over the cap as it accepts them.
    common.wait_for(lambda: sum(not L.is_closed(s) for s in bad) <= 16, 3)
    held = [s for s in bad if not L.is_closed(s)]
    res.check("tcp: one source holds at most 16 connections (%d of 40)" % len(held),
              len(held) <= 16)
    t0, asked, answered, pos, gone = time.monotonic(), 0, 0, 1, {}
    while time.monotonic() - t0 < 8.0:
        for s in held:
            if s in gone:
                continue
            try:
                s.send(wire[pos:pos + 1])
            except OSError:
                gone[s] = time.monotonic() - t0
                continue
            if L.is_closed(s):
                gone[s] = time.monotonic() - t0
        pos = min(pos + 1, len(wire) - 1)
        for _ in range(3):
            asked += 1
            answered += ask("192.0.2.10")
            time.sleep(0.2)  # paces the other source: about 40 queries over the 8 s
    res.check("tcp: another source answered during the slowloris (%d of %d)" %
              (answered, asked), asked >= 10 and answered == asked)
    res.check("tcp: dribbling connections closed by the message deadline (%d of %d)" %
              (len(gone), len(held)), held and len(gone) == len(held) and
              max(gone.values()) < 7.5)
    for s in bad:
        s.close()
    # Pipelining without reading, from five sources.
    pid = d.proc.pid
    base = L.rss_kb(pid)
    q = L.frame("txt.big.test.", "TXT") * 512
    conns = [connect("192.0.2.%d" % (12 + i // 10)) for i in range(50)]
    for s in conns:
        s.setblocking(False)
    sent, peak, t0 = 0, base, time.monotonic()
    while time.monotonic() - t0 < 3.0:
        for s in conns:
            try:
                sent += s.send(q)
            except OSError:
                pass
        peak = max(peak, L.rss_kb(pid))
        time.sleep(0.02)  # paces the load: the socket buffers fill between rounds
    print("tcp: %.1f MB pipelined by 50 clients that never read; port53d RSS %.1f -> %.1f MB"
          % (sent / 1e6, base / 1024, peak / 1024))
    res.check("tcp: port53d memory bounded (+%.1f MB, limit 96)" % ((peak - base) / 1024),
              sent > 2e6 and (peak - base) / 1024 < 96)
    res.check("tcp: another source answered while they do not read", ask("192.0.2.10"))
    closed = common.wait_for(lambda: all(L.peer_gone(s) for s in conns), 12)
    res.check("tcp: connections that never read closed by the deadline", closed)
    for s in conns:
        s.close()
    rc = d.stop()
    res.check("tcp: port53d exits 0 on SIGTERM", rc == 0, d.tail())


def tcp_fds(res, cleanup, work, tools):
    """Descriptor exhaustion on port53d's TCP listener, as test_limits.py's
    part_fds does for port53 serve: the limit is lowered (prlimit) once
    port53d is up, then TCP connections from several sources use up what is
    left. The listener must say so in a rate-limited log line, not spin, and
    serve TCP again once they close; the DPDK worker answers UDP meanwhile."""
    t = TcpDp(res, cleanup, work, tools, "f",
              ["--tcp-per-source", "1000", "--tcp-idle-ms", "60000", "--tcp-msg-ms", "60000"])
    if not t.ok:
        return
    pid = t.d.proc.pid
    nfd = len(os.listdir("/proc/%d/fd" % pid))
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (nfd + 24, nfd + 24))
    conns = []
    try:
        for i in range(90):  # more than port53d has descriptors left
            try:
                conns.append(t.connect("192.0.2.%d" % (11 + i % 6)))
            except OSError:
                pass
        ok = common.wait_for(lambda: any("pausing accepts" in x for x in log_lines(t.log)), 5)
        res.check("fds: EMFILE reported in port53d's log", ok, t.d.tail())
        print("fds: %d connections made, %d descriptors open in port53d (limit %d)" %
              (len(conns), len(os.listdir("/proc/%d/fd" % pid)), nfd + 24))
        ctl = control_cpu(pid, 3.0)
        print("fds: control threads' CPU while out of descriptors: %.1f%%" % (ctl * 100))
        res.check("fds: the TCP listener does not spin without descriptors (control "
                  "threads %.1f%% CPU)" % (ctl * 100), ctl < 0.25)
        nlog = len([x for x in log_lines(t.log) if "pausing accepts" in x])
        res.check("fds: the EMFILE log line is rate-limited (%d lines)" % nlog, 1 <= nlog <= 3)
        r = dpnet.dns_query(t.ns_h, SVC, "www.big.test.", "A", timeout=2, tries=3)
        res.check("fds: the worker answers UDP while TCP is out of descriptors",
                  r is not None and r.answer)
        for c in conns:
            c.close()
        conns = []
        ok = common.wait_for(lambda: t.ask("192.0.2.16", timeout=1.0), 15, 0.2)
        res.check("fds: TCP served again once connections close", ok, t.d.tail())
    finally:
        for c in conns:
            c.close()
    rc = t.d.stop()
    res.check("fds: port53d exits 0 on SIGTERM", rc == 0, t.d.tail())


def control_cpu(pid, window):
    """CPU share over window seconds of every thread of pid but the main
    one (the DPDK worker, lcore 0, which polls at 100% by design)."""
    def total():
        n = 0.0
        for tid in os.listdir("/proc/%d/task" % pid):
            if int(tid) == pid:
                continue
            try:
                with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                    st = f.read().rsplit(")", 1)[1].split()
                n += (int(st[11]) + int(st[12])) / os.sysconf("SC_CLK_TCK")
            except (OSError, IndexError, ValueError):
                pass
        return n
    a, t0 = total(), time.monotonic()
    time.sleep(window)  # the window the CPU share is measured over, not a wait
    return (total() - a) / (time.monotonic() - t0)


def crafted(work, tools, name):
    """A snapshot of the test zones with one node flagged DNAME without DNAME
    records, every checksum recomputed (test_snapshot_verify.py's case, from
    the format page): only the structural checks can refuse it."""
    tsv.PORT53 = tools["port53"]
    z = os.path.join(dpnet.ROOT, "tests", "zones")
    base = tsv.compile_snapshot(work, name + "-base",
                                ["example.net=" + os.path.join(z, "example.net.zone")])
    s = tsv.Snap(base)
    n = s.node(s.find_node("www.example.net."))
    s.put16(n["o"] + 6, n["flags"] | tsv.N_DNAME)
    return base, s.seal()


def crafted_reload(res, sock, rdir, work, tools, cl):
    """POST /v1/reload of a crafted snapshot: refused with the fault named,
    the worker answering from the snapshot it had."""
    _, bad = crafted(work, tools, "crafted")
    path = os.path.join(rdir, "crafted.p53")
    with open(path, "wb") as f:
        f.write(bad)
    t0 = time.monotonic()
    reply = L.api_reload(sock, path)
    res.check("POST /v1/reload of a crafted snapshot refused with the fault named",
              b" 422 " in reply.split(b"\r\n")[0] and b"DNAME flag" in reply, reply[:300])
    common.wait_for(lambda: len(cl.between(t0, time.monotonic())) >= 10, 5)
    r = dpnet.dns_query(NS, SVC, "big.test.", "SOA", timeout=2, tries=3)
    res.check("the worker still answers from the snapshot it had",
              r is not None and r.answer and "big.test." in r.answer[0].to_text())


def crafted_start(res, cleanup, work, tools):
    """port53d must not start on a crafted snapshot, and say why; the same
    file unchanged but for the seal starts (so the refusal is the change's)."""
    base, bad = crafted(work, tools, "start")
    ns = "p53lc-%d" % PID
    dpnet.netns_add(cleanup, ns)
    eal = os.environ.get("P53_EAL", "--no-huge -m 512 --no-pci -l 0").split()
    for tag, data in (("good", tsv.Snap(base).seal()), ("bad", bad)):
        path = os.path.join(work, "start-%s.p53" % tag)
        with open(path, "wb") as f:
            f.write(data)
        prefix = "p53lc%s%d" % (tag, PID)
        cleanup.push(dpnet.rm_eal_runtime, prefix)
        cmd = [tools["port53d"]] + eal + [
            "--file-prefix", prefix, "--vdev", "net_tap0,iface=plc%s%d" % (tag, PID % 10000),
            "--", "--snapshot", path, "--addr", SVC]
        d = dpnet.Proc(cleanup, cmd, os.path.join(work, "port53d-start-%s.log" % tag), ns=ns)
        if tag == "good":
            up = dpnet.wait_for(lambda: not d.alive() or run(
                ["ip", "link", "show", "plc%s%d" % (tag, PID % 10000)], ns=ns,
                check=False).returncode == 0, 30)
            res.check("port53d starts on the resealed, unchanged snapshot",
                      up and d.alive(), d.tail())
            d.stop()
        else:
            gone = dpnet.wait_for(lambda: not d.alive(), 60)
            rc = d.proc.returncode if gone else None
            res.check("port53d refuses to start on a crafted snapshot (exit %s), naming "
                      "the fault" % rc, gone and rc not in (0, None) and rc > 0 and
                      "DNAME flag" in d.tail(), d.tail())
            if not gone:
                d.stop()


def body_all(res, cleanup, work, tools):
    body(res, cleanup, work, tools)
    tcp_abuse(res, cleanup, work, tools)
    tcp_fds(res, cleanup, work, tools)
    crafted_start(res, cleanup, work, tools)


def main():
    return dpnet.run_dp_test("p53dl-", body_all, tools=("port53d", "port53"))


if __name__ == "__main__":
    sys.exit(main())
