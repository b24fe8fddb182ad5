#!/usr/bin/python3
"""The command lines and the configuration file, as an operator meets them.

--version of every program against meson.build's project version; each
subcommand's --help prints that command only; usage errors name the problem
and exit 2; `info --json` and `check --json` against the zone as dnspython
reads it; conf-check reports every problem at its line; `port53 serve
--config` serves what the file says and a command-line flag overrides it;
port53d takes its EAL arguments from the file (when it is built and we are
root). Loopback only; bounded waits; every process started is stopped.
"""
import json
import os
import re
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

import dns.message  # noqa: E402
import dns.rdatatype  # noqa: E402
import dns.zone  # noqa: E402

PORT53 = common.default_port53()
PORT53CTL = os.environ.get("PORT53CTL") or os.path.join(os.path.dirname(PORT53), "port53ctl")
BUILD = os.path.dirname(os.path.dirname(PORT53))
PORT53D = os.path.join(BUILD, "dp", "port53d")


check = common.Checks()


def project_version():
    with open(os.path.join(common.ROOT, "meson.build")) as f:
        return re.search(r"version\s*:\s*'([^']+)'", f.read()).group(1)


def test_versions():
    want = project_version()
    for prog, argv in (("port53", [PORT53, "--version"]),
                       ("port53ctl", [PORT53CTL, "--version"]),
                       ("port53d", [PORT53D, "--version"])):
        if not os.access(argv[0], os.X_OK):
            continue
        r = common.run(argv)
        check(r.returncode == 0 and r.stdout.strip() == "%s (port53) %s" % (prog, want),
              "%s --version: %r" % (prog, r.stdout))


COMMANDS = ["compile", "check", "diff", "info", "dump", "export", "keygen", "sign",
            "fw-compile", "serve", "conf-check"]


def test_help():
    for cmd in COMMANDS:
        r = common.run([PORT53, cmd, "--help"])
        others = [c for c in COMMANDS if c != cmd and "port53 %s " % c in r.stdout]
        check(r.returncode == 0 and r.stdout.startswith("usage: port53 %s" % cmd)
              and not others, "port53 %s --help prints its own usage only (%s)" % (cmd, others))
    r = common.run([PORT53, "--help"])
    check(r.returncode == 0 and all(c in r.stdout for c in COMMANDS), "port53 --help lists all")
    for cmd in ["status", "stats", "firewall", "health", "metrics", "push", "reload"]:
        r = common.run([PORT53CTL, cmd, "--help"])
        check(r.returncode == 0 and r.stdout.startswith("usage: port53ctl [options] %s" % cmd),
              "port53ctl %s --help" % cmd)


def test_usage_errors():
    cases = [
        ([PORT53], "no command given"),
        ([PORT53, "frobnicate"], "unknown command 'frobnicate'"),
        ([PORT53, "compile", "x.zone"], "missing -o"),
        ([PORT53, "compile", "--bogus"], "unknown option --bogus"),
        ([PORT53, "compile", "-o"], "option -o needs a value"),
        ([PORT53, "compile", "-o", "x", "--serial", "ten", "a.zone"], "--serial must be"),
        ([PORT53, "info"], "no SNAPSHOT given"),
        ([PORT53, "info", "a", "b"], "unexpected argument 'b'"),
        ([PORT53, "export", "--format", "bind", "a", "b"], "--format must be route53, route53-changes or zone"),
        ([PORT53, "serve"], "no snapshot"),
        ([PORT53, "serve", "-s", "x", "--edns-size", "70000"], "--edns-size must be"),
        ([PORT53, "dump", "--json", "x"], "dump has no --json"),
        ([PORT53CTL, "push"], "missing FILE"),
        ([PORT53CTL, "status", "extra"], "unexpected argument 'extra'"),
        ([PORT53CTL, "-t", "0", "status"], "--timeout must be"),
        ([PORT53CTL, "teleport"], "unknown command 'teleport'"),
    ]
    for argv, want in cases:
        r = common.run(argv)
        check(r.returncode == 2 and want in r.stderr and "--help" in r.stderr,
              "%s: exit 2 naming %r (rc=%s, stderr=%r)" % (" ".join(argv[1:]), want,
                                                          r.returncode, r.stderr))


def test_json(tmp):
    zfile = os.path.join(common.DEFAULT_ZONES, "example.com.zone")
    ref = dns.zone.from_file(zfile, origin="example.com.", relativize=False)
    soa = ref.find_rdataset("example.com.", dns.rdatatype.SOA)[0]
    snap = os.path.join(tmp, "z.p53")
    r = common.run([PORT53, "compile", "-o", snap, "--serial", "77", zfile])
    check(r.returncode == 0, "compile: %s" % r.stderr)
    r = common.run([PORT53, "info", "--json", snap])
    check(r.returncode == 0, "info --json exits 0: %s" % r.stderr)
    try:
        info = json.loads(r.stdout)
    except ValueError:
        info = {}
    check(info.get("serial") == 77, "info --json serial")
    check(info.get("zones") == [{"name": "example.com.", "serial": soa.serial}],
          "info --json zones against dnspython: %s" % info.get("zones"))
    check(info.get("size") == os.path.getsize(snap), "info --json size is the file's")
    # --timings: one line per phase, in the order docs/zone-files.md gives,
    # even with --quiet (which drops only the progress line and summary).
    r = common.run([PORT53, "compile", "--quiet", "--timings", "-o", snap, zfile])
    phases = re.findall(r"^phase (.+?)\s+([0-9.]+) s wall\s+([0-9.]+) s CPU "
                        r"\(([0-9.]+) s system, ([0-9.]+) s main thread\)$", r.stderr, re.M)
    check(r.returncode == 0 and [p[0] for p in phases] ==
          ["read", "sort", "nodes and checks", "layout", "pre-render", "seal", "verify",
           "write"] and "compiled:" not in r.stderr,
          "compile --timings lists the phases: %r" % r.stderr)
    r = common.run([PORT53, "check", "--json", zfile])
    j = json.loads(r.stdout) if r.returncode == 0 else {}
    check(j.get("ok") is True and j["snapshot"]["zones"][0]["serial"] == soa.serial,
          "check --json ok")
    bad = os.path.join(tmp, "bad.example.zone")
    with open(bad, "w") as f:
        f.write("$TTL 300\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\nwww A 999.1.1.1\n")
    r = common.run([PORT53, "check", "--json", bad])
    j = json.loads(r.stdout) if r.stdout.strip() else {}
    check(r.returncode == 1 and j.get("ok") is False and ":5:" in j.get("error", ""),
          "check --json names the bad line: %r" % j)


# At the start of a line, or right after the erased progress line.
SUMMARY = re.compile(r"(?:^|\x1b\[K)compiled: (\d+) zones?, (\d+) records, (\d+) bytes, "
                     r"([0-9.]+) s$", re.M)


def run_on_pty(argv, timeout=300):
    """Runs argv with stderr on a pseudo-terminal (what makes port53 show
    its progress line); returns (exit code, everything written there)."""
    import pty
    import select
    import time
    mfd, sfd = pty.openpty()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=sfd)
    os.close(sfd)
    out, end = b"", time.monotonic() + timeout
    while time.monotonic() < end:
        r, _, _ = select.select([mfd], [], [], 0.5)
        if r:
            try:
                chunk = os.read(mfd, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        elif p.poll() is not None:
            break
    os.close(mfd)
    try:
        rc = p.wait(timeout=max(1, end - time.monotonic()))
    except subprocess.TimeoutExpired:
        p.kill()
        rc = p.wait()
    return rc, out.decode("utf-8", "replace")


def test_progress_summary(tmp):
    """The summary line of every compile, against dnspython's count of the
    zone and the file written; the progress line of a long compile on a
    terminal (records, records/s, share of the input, time left), erased
    before the summary."""
    zfile = os.path.join(common.DEFAULT_ZONES, "example.com.zone")
    nrec = sum(len(rds) for _, rds in
               dns.zone.from_file(zfile, origin="example.com.", relativize=False)
               .iterate_rdatasets())
    snap = os.path.join(tmp, "sum.p53")
    r = common.run([PORT53, "compile", "-o", snap, "example.com=" + zfile])
    m = SUMMARY.search(r.stderr)
    check(r.returncode == 0 and m is not None and int(m.group(1)) == 1 and
          int(m.group(2)) == nrec and int(m.group(3)) == os.path.getsize(snap),
          "summary line: 1 zone, %d records (dnspython), %d bytes (the file): %r"
          % (nrec, os.path.getsize(snap) if os.path.exists(snap) else -1, r.stderr))
    r = common.run([PORT53, "check", "example.com=" + zfile])
    check(r.returncode == 0 and re.search(r"^checked: 1 zone, %d records, " % nrec, r.stderr,
                                          re.M), "check ends with its summary: %r" % r.stderr)
    # Large enough to be read for more than the half second before the
    # first status line; doubled (at most four times) on a machine that
    # reads it faster than that, as two compile threads do on a fast one.
    n = 100000
    for _ in range(5):
        n *= 2
        big = os.path.join(tmp, "big.zone")
        with open(big, "w") as f:
            f.write("$TTL 300\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n")
            for i in range(n):
                f.write("h%d A 10.%d.%d.%d\n" % (i, i >> 16 & 255, i >> 8 & 255, i & 255))
        rc, out = run_on_pty([PORT53, "compile", "-o", os.path.join(tmp, "big.p53"),
                              "big.example=" + big])
        m = SUMMARY.search(out.replace("\r\n", "\n"))
        lines = re.findall(r"\rreading: (\d+) records, (\d+) records/s, (\d+)% of input, "
                           r"about (\d+) s left\x1b\[K", out)
        if lines or rc != 0 or m is None:
            break
    check(rc == 0 and m is not None and int(m.group(2)) == n + 3,
          "big compile on a terminal ends with its summary (%d records): %r" % (n + 3, out[-300:]))
    check(lines and all(0 < int(x[0]) <= n + 3 and int(x[1]) > 0 and 0 < int(x[2]) <= 100
                        for x in lines) and
          [int(x[0]) for x in lines] == sorted(int(x[0]) for x in lines),
          "progress lines while reading (records growing, records/s, share of input, time "
          "left): %r" % lines[:5])
    check("\r\x1b[K" in out and out.rindex("\r\x1b[K") < out.index("compiled: "),
          "the progress line is erased before the summary")


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def test_conf_check(tmp):
    good = os.path.join(common.ROOT, "dist", "port53.yaml")
    r = common.run([PORT53, "conf-check", good])
    check(r.returncode == 0 and "ok" in r.stdout, "the shipped example config is valid: %s"
          % r.stderr)
    bad = os.path.join(tmp, "bad.yaml")
    lines = [
        "server:",                       # 1
        "  edns-size: 100",              # 2  out of range
        "snapshot:",                     # 3
        "  pth: /x",                     # 4  unknown key
        "kernel:",                       # 5
        "  listen: [127.0.0.1:70000]",   # 6  bad port
        "control:",                      # 7
        "  socket: [a, b]",              # 8  list where one value goes
        "resolvr:",                      # 9  unknown section
        "  config: /x",                  # 10
        "dataplane:",                    # 11
        "  addresses: [192.0.2.300]",    # 12 not an address
    ]
    write(bad, "\n".join(lines) + "\n")
    r = common.run([PORT53, "conf-check", "--json", bad])
    j = json.loads(r.stdout) if r.stdout.strip() else {}
    errs = j.get("errors", [])
    check(r.returncode == 1 and j.get("ok") is False, "bad config: exit 1, ok false")
    for line, word in ((2, "edns-size"), (4, "pth"), (6, "listen"), (8, "socket"),
                       (9, "resolvr"), (12, "addresses")):
        hit = [e for e in errs if e.startswith("%s:%d:" % (bad, line)) and word in e]
        check(len(hit) == 1, "error at line %d naming %s: %s" % (line, word, errs))
    check(len(errs) == 6, "exactly the six problems: %s" % errs)
    write(bad, "server: [unclosed\n")
    r = common.run([PORT53, "conf-check", bad])
    check(r.returncode == 1 and r.stderr.startswith(bad + ":"), "YAML syntax error has file:line: %r"
          % r.stderr)


def test_serve_config(tmp):
    zfile = os.path.join(common.DEFAULT_ZONES, "example.com.zone")
    snap = os.path.join(tmp, "serve.p53")
    common.run([PORT53, "compile", "-o", snap, zfile])
    p1, p2 = common.free_port(), common.free_port()
    conf = os.path.join(tmp, "serve.yaml")
    write(conf, "server:\n  identity: conf-ident\nsnapshot:\n  path: %s\n"
          "kernel:\n  listen: [\"127.0.0.1:%d\"]\ncontrol:\n  socket: %s/ctl.sock\n"
          % (snap, p1, tmp))
    r = common.run([PORT53, "conf-check", "--args", "serve", conf])
    check(r.stdout.split() == ["--identity=conf-ident", "--snapshot=" + snap,
                               "--listen=127.0.0.1:%d" % p1,
                               "--control-socket=%s/ctl.sock" % tmp],
          "conf-check --args serve: %r" % r.stdout)
    ident = dns.message.make_query("id.server.", "TXT", "CH")
    proc = subprocess.Popen([PORT53, "serve", "--config", conf], stderr=subprocess.PIPE)
    try:
        check(common.wait_answering(p1, proc), "serve --config answers on the file's address")
        raw = common.query(ident, p1)
        txt = [r.to_text() for rr in dns.message.from_wire(raw).answer for r in rr] if raw else []
        check(txt == ['"conf-ident"'], "identity from the file: %s" % txt)
        r = common.run([PORT53CTL, "-s", tmp + "/ctl.sock", "status", "--json"])
        check(r.returncode == 0 and json.loads(r.stdout).get("zones"),
              "control socket from the file")
    finally:
        common.stop(proc)
    # Flags override the file: -l replaces the file's listen list.
    proc = subprocess.Popen([PORT53, "serve", "-c", conf, "-l", "127.0.0.1:%d" % p2,
                             "--identity", "flag-ident"], stderr=subprocess.PIPE)
    try:
        check(common.wait_answering(p2, proc), "-l overrides the file's listen")
        check(common.query(ident, p1, timeout=0.3, retries=0) is None,
              "the file's address is not used once -l is given")
        raw = common.query(ident, p2)
        txt = [r.to_text() for rr in dns.message.from_wire(raw).answer for r in rr] if raw else []
        check(txt == ['"flag-ident"'], "--identity overrides the file: %s" % txt)
    finally:
        common.stop(proc)
    # dataplane.drop-ports applies to port53 serve as well: a query from a
    # listed source port gets no answer, one from another port does.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(0.5)
        src = s.getsockname()[1]
        write(conf, "snapshot:\n  path: %s\nkernel:\n  listen: [\"127.0.0.1:%d\"]\n"
              "dataplane:\n  drop-ports: \"7,19,%d\"\n" % (snap, p1, src))
        r = common.run([PORT53, "conf-check", "--args", "serve", conf])
        check("--drop-ports=7,19,%d" % src in r.stdout.split(),
              "conf-check --args serve carries drop-ports: %r" % r.stdout)
        proc = subprocess.Popen([PORT53, "serve", "--config", conf], stderr=subprocess.PIPE)
        try:
            check(common.wait_answering(p1, proc), "serve answers with a drop list")
            got = None
            for _ in range(3):
                s.sendto(ident.to_wire(), ("127.0.0.1", p1))
                try:
                    got = s.recv(4096)
                    break
                except socket.timeout:
                    pass
            check(got is None, "no answer to a source port on the file's drop list")
            check(common.query(ident, p1) is not None, "other source ports are answered")
        finally:
            common.stop(proc)
    write(conf, "snapshot:\n  path: %s\nkernel:\n  listen: [nowhere]\n" % snap)
    r = common.run([PORT53, "serve", "--config", conf])
    check(r.returncode == 1 and (conf + ":4:") in r.stderr, "serve refuses a bad file: %r"
          % r.stderr)


def test_port53d_config(tmp):
    if not os.access(PORT53D, os.X_OK) or os.geteuid() != 0:
        check.skip("port53d --config", "needs port53d and root")
        return
    zfile = os.path.join(common.DEFAULT_ZONES, "example.com.zone")
    snap = os.path.join(tmp, "d.p53")
    common.run([PORT53, "compile", "-o", snap, "--serial", "4242", zfile])
    sock = os.path.join(tmp, "d.sock")
    conf = os.path.join(tmp, "d.yaml")
    write(conf, "snapshot:\n  path: %s\ndataplane:\n"
          "  eal: --no-huge -m 256 --no-pci -l 0 --vdev net_null0 --log-level=1\n"
          "  addresses: [192.0.2.53]\ncontrol:\n  socket: %s\n" % (snap, sock))
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
    proc = subprocess.Popen([PORT53D, "--config", conf], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=env)
    try:
        status = {}
        end = common.time.monotonic() + 20
        while common.time.monotonic() < end and proc.poll() is None:
            if os.path.exists(sock):
                r = common.run([PORT53CTL, "-s", sock, "status", "--json"])
                if r.returncode == 0:
                    status = json.loads(r.stdout)
                    break
            common.time.sleep(0.1)
        check(status.get("server") == "port53d" and status.get("serial") == 4242,
              "port53d runs from the file, EAL arguments included: %s" % status)
    finally:
        rc = common.stop(proc, 10)
        out = proc.stdout.read().decode(errors="replace")
    check(rc == 0, "port53d stops cleanly (rc=%s): %s" % (rc, out[-500:]))


def main():
    test_versions()
    test_help()
    test_usage_errors()
    with common.tempdir() as tmp:
        test_json(tmp)
        test_progress_summary(tmp)
        test_conf_check(tmp)
        test_serve_config(tmp)
        test_port53d_config(tmp)
    return check.finish()


if __name__ == "__main__":
    sys.exit(main())
