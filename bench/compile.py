#!/usr/bin/python3
"""Zone text to snapshot, and zone text to first answer, beside Knot DNS.

For each size (records written by tools/gen-zone.py, seeded, so the command
is the benchmark): `port53 compile` wall time, CPU time and peak RSS, the
snapshot size; then "zone text to first answer" for port53 (compile, start
`port53 serve`, first SOA answer) and for Knot DNS (start knotd on the same
file, first SOA answer), alternating port53 and Knot run by run in one
invocation, medians reported with the ratio. Loopback only; needs no root.

usage: bench/compile.py [-b BUILD] [-s 1000000,10000000] [-r RUNS] [-o OUTDIR]
                        [--no-knot]
"""
import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import common  # noqa: E402

ORIGIN = "bench.test."


def timed(cmd, **kw):
    """Runs cmd; returns (wall s, cpu s, peak RSS bytes, CompletedProcess)."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    out, err = p.stdout.read(), p.stderr.read()
    p.returncode = os.waitstatus_to_exitcode(status)
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss * 1024, (p.returncode, out, err)


def first_answer(port, proc, deadline):
    end = time.monotonic() + deadline
    q = common.dns.message.make_query(ORIGIN, "SOA").to_wire()
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        raw = common.send_udp(q, port, 0.05)
        if raw is not None and common.dns.message.from_wire(raw).answer:
            return True
        time.sleep(0.005)
    return False


def proc_cpu(pid):
    """CPU seconds (user + system) a running process has used so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def port53_to_answer(port53, zone, work):
    """Seconds and CPU seconds from zone text to port53's first answer."""
    snap = os.path.join(work, "z.p53")
    t0 = time.monotonic()
    _, cpu, _, (rc, _, err) = timed([port53, "compile", "--quiet", "-o", snap,
                                     "%s=%s" % (ORIGIN, zone)])
    if rc != 0:
        sys.exit("port53 compile failed: " + err)
    port = common.free_port()
    p = subprocess.Popen([port53, "serve", "-s", snap, "-l", "%s:%d" % (common.HOST, port)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not first_answer(port, p, 600):
            sys.exit("port53 serve never answered")
        return time.monotonic() - t0, cpu + proc_cpu(p.pid)
    finally:
        common.stop(p)


def knot_to_answer(knotd, zone, work):
    kdir = os.path.join(work, "knot")
    shutil.rmtree(kdir, ignore_errors=True)
    os.mkdir(kdir)
    k = common.Knot(knotd, [(ORIGIN, zone)], kdir)
    k.write_conf()
    t0 = time.monotonic()
    p = subprocess.Popen([knotd, "-c", k.conf], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    k.proc = p
    try:
        if not first_answer(k.port, p, 900):
            sys.exit("knotd never answered:\n" + k.read_log())
        return time.monotonic() - t0, proc_cpu(p.pid)
    finally:
        k.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-b", "--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("-s", "--sizes", default="1000000,10000000")
    ap.add_argument("-r", "--runs", type=int, default=3)
    ap.add_argument("-o", "--out", default="/tmp/p53bench")
    ap.add_argument("--no-knot", action="store_true")
    ap.add_argument("--knotd", default=shutil.which("knotd") or "/usr/sbin/knotd")
    a = ap.parse_args()
    port53 = os.path.join(a.build, "tools", "port53")
    os.makedirs(a.out, exist_ok=True)
    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
    print("| records | compile wall s | compile CPU s | peak RSS MB | snapshot MB | RSS/snapshot "
          "| text to answer: port53 s (CPU s) | Knot s (CPU s) | port53/Knot wall (CPU) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for size in [int(x) for x in a.sizes.split(",")]:
        zone = os.path.join(a.out, "gen-%d.zone" % size)
        if not os.path.exists(zone):
            subprocess.run([sys.executable, os.path.join(ROOT, "tools", "gen-zone.py"),
                            "--origin", ORIGIN, "-o", zone, str(size)], check=True)
        with common.tempdir("p53cb-") as work:
            snap = os.path.join(work, "c.p53")
            walls, cpus, rss = [], [], []
            for _ in range(a.runs):
                w, c, m, (rc, _, err) = timed([port53, "compile", "--quiet", "-o", snap,
                                               "%s=%s" % (ORIGIN, zone)])
                if rc != 0:
                    sys.exit("compile failed: " + err)
                walls.append(w)
                cpus.append(c)
                rss.append(m)
            ssize = os.path.getsize(snap)
            os.unlink(snap)
            p53t, knott = [], []
            for _ in range(a.runs):
                p53t.append(port53_to_answer(port53, zone, work))
                if not a.no_knot:
                    knott.append(knot_to_answer(a.knotd, zone, work))
            mp = statistics.median(t for t, _ in p53t)
            mpc = statistics.median(c for _, c in p53t)
            mk = statistics.median(t for t, _ in knott) if knott else float("nan")
            mkc = statistics.median(c for _, c in knott) if knott else float("nan")
            print("| %d | %.2f | %.2f | %.0f | %.0f | %.2f | %.2f (%.2f) | %.2f (%.2f) "
                  "| %.2f (%.2f) |" % (
                      size, statistics.median(walls), statistics.median(cpus), max(rss) / 1e6,
                      ssize / 1e6, max(rss) / ssize, mp, mpc, mk, mkc, mp / mk, mpc / mkc),
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
