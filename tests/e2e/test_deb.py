#!/usr/bin/python3
"""The Debian package, from the tree to a serving install.

Builds the package with `dpkg-buildpackage -us -uc -b` in a scratch copy of
the source tree, checks that the .deb holds what an operator needs (programs
with daemons in sbin, man pages for every program and the config file, units,
sysusers/tmpfiles entries, the configuration), installs it with
`apt-get install ./port53_*.deb`, and checks the service it gives:
- with systemd as PID 1: `systemctl is-active port53-serve` and a query;
- without (containers): first the machine is booted with systemd as PID 1
  in a container (systemd-nspawn on an overlay of this root with a tmpfs on
  top, private network), the .deb is installed there with apt and the
  service checked with systemctl and a query inside the container; then, on
  this machine, `systemd-analyze verify` on both units, the unit's own
  ExecStartPre and ExecStart run by hand as the unit's User, and the starter
  zone is queried on the configured address and compared with the shipped
  zone file as dnspython reads it.
Then the package is purged (only when it was not installed before). Needs
root; skips (77) otherwise. Loopback only; bounded waits.
"""
import configparser
import glob
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

import dns.message  # noqa: E402
import dns.rdatatype  # noqa: E402
import dns.zone  # noqa: E402



check = common.Checks()


def sh(cmd, timeout=120, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout, **kw)


def copy_tree(dst):
    files = sh(["git", "-C", common.ROOT, "ls-files", "-co", "--exclude-standard", "-z"])
    names = [n for n in files.stdout.split("\0") if n]
    for n in names:
        src = os.path.join(common.ROOT, n)
        out = os.path.join(dst, n)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        if os.path.islink(src):
            os.symlink(os.readlink(src), out)
        elif os.path.isfile(src):
            shutil.copy2(src, out)


EXPECTED = [
    "./usr/bin/port53", "./usr/bin/port53ctl", "./usr/sbin/port53d", "./usr/sbin/p53-xdp",
    "./usr/share/man/man1/port53.1.gz", "./usr/share/man/man1/port53ctl.1.gz",
    "./usr/share/man/man8/port53d.8.gz", "./usr/share/man/man8/p53-xdp.8.gz",
    "./usr/share/man/man5/port53.yaml.5.gz",
    "./lib/systemd/system/port53-serve.service", "./lib/systemd/system/port53d.service",
    "./usr/lib/sysusers.d/port53.conf", "./usr/lib/tmpfiles.d/port53.conf",
    "./etc/port53/port53.yaml", "./etc/port53/zones/example.com.zone",
    "./usr/share/bash-completion/completions/port53",
    "./usr/share/doc/port53/examples/port53.yaml",
    "./usr/share/port53/console/index.html", "./usr/share/port53/console/app.js",
]


def unit_service(path):
    cp = configparser.RawConfigParser(strict=False, interpolation=None)
    cp.optionxform = str
    cp.read(path)
    return dict(cp.items("Service"))


def serve_by_hand(unit):
    """Runs ExecStartPre and ExecStart of the unit as its User; returns the
    process, or None when ExecStartPre failed."""
    svc = unit_service(unit)
    user = svc.get("User", "root")
    runas = ["setpriv", "--reuid", user, "--regid", svc.get("Group", user), "--init-groups"]
    if "ExecStartPre" in svc:
        r = sh(runas + shlex.split(svc["ExecStartPre"]))
        if not check(r.returncode == 0, "ExecStartPre as %s: %s" % (user, r.stdout)):
            return None
    os.makedirs("/run/port53", exist_ok=True)
    shutil.chown("/run/port53", user, svc.get("Group", user))
    return subprocess.Popen(runas + shlex.split(svc["ExecStart"]), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)


def check_answers(port):
    ref = dns.zone.from_file("/etc/port53/zones/example.com.zone", origin="example.com.",
                             relativize=False)
    want = sorted(r.to_text() for r in ref.find_rdataset("www.example.com.", "A"))
    raw = common.query(dns.message.make_query("www.example.com.", "A"), port)
    got = []
    if raw:
        got = sorted(r.to_text() for rr in dns.message.from_wire(raw).answer for r in rr)
    check(got == want, "www.example.com A from the installed service: %s, zone file: %s"
          % (got, want))


class Booted:
    """This machine's own root booted under systemd in a container: an
    overlay with a tmpfs upper layer, so nothing it writes reaches the host,
    and a private network namespace holding only its loopback."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="p53boot-")
        self.merged = os.path.join(self.dir, "root")
        self.proc = None
        self.pid = None
        self.mounts = []

    def start(self):
        top = os.path.join(self.dir, "top")
        os.makedirs(top)
        os.makedirs(self.merged)
        r = sh(["mount", "-t", "tmpfs", "-o", "size=2g", "p53boot", top])
        if r.returncode != 0:
            return "tmpfs: " + r.stdout
        self.mounts.append(top)
        for d in ("up", "work"):
            os.makedirs(os.path.join(top, d))
        r = sh(["mount", "-t", "overlay", "p53boot", "-o",
                "lowerdir=/,upperdir=%s/up,workdir=%s/work" % (top, top), self.merged])
        if r.returncode != 0:
            return "overlay: " + r.stdout
        self.mounts.insert(0, self.merged)
        # basic.target: the host's own services (web servers, BGP, databases)
        # stay down; the package's postinst still starts its unit.
        self.proc = subprocess.Popen(
            ["systemd-nspawn", "-q", "-D", self.merged, "-M", "p53boot", "--register=no",
             "--keep-unit", "--private-network", "-b", "systemd.unit=basic.target"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.pid = common.wait_for(self._init_pid, 30.0, 0.1)
        if not self.pid:
            return "no init in the container"
        up = common.wait_for(lambda: self.run(["systemctl", "is-active", "basic.target"])
                             .stdout.strip() == "active", 60.0, 0.2)
        return None if up else "basic.target never became active"

    def _init_pid(self):
        """The container's PID 1: the descendant of systemd-nspawn that is
        PID 1 of its own PID namespace."""
        parent = {}
        nspid = {}
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/status" % d) as f:
                    for line in f:
                        if line.startswith("PPid:"):
                            parent[int(d)] = int(line.split()[1])
                        elif line.startswith("NSpid:"):
                            nspid[int(d)] = line.split()[1:]
            except OSError:
                pass
        for pid, ids in nspid.items():
            if len(ids) < 2 or ids[-1] != "1":
                continue
            p = pid
            while p in parent and p > 1:
                p = parent[p]
                if p == self.proc.pid:
                    return pid
        return None

    def run(self, cmd, timeout=120):
        return sh(["nsenter", "-t", str(self.pid), "-a", "--"] + cmd, timeout=timeout)

    def stop(self):
        if self.pid:
            self.run(["systemctl", "poweroff", "--no-block"], timeout=20)
        if self.proc is not None:
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        for m in self.mounts:
            sh(["umount", "-l", m])
        shutil.rmtree(self.dir, ignore_errors=True)


def boot_check(deb):
    """From the .deb to a service systemd runs, on a machine booted with
    systemd as PID 1."""
    box = Booted()
    try:
        why = box.start()
        if not check(why is None, "a container booted with systemd as PID 1: %s" % why):
            return
        # Docker images carry a policy-rc.d that forbids starting services
        # from maintainer scripts; a Debian machine has none.
        try:
            os.unlink(os.path.join(box.merged, "usr/sbin/policy-rc.d"))
        except FileNotFoundError:
            pass
        shutil.copy(deb, os.path.join(box.merged, "root"))
        inside = "/root/" + os.path.basename(deb)
        box.run(["apt-get", "purge", "-y", "port53"], timeout=300)
        r = box.run(["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y",
                     "--no-install-recommends", inside], timeout=600)
        if not check(r.returncode == 0, "apt-get install %s in the booted container" % inside):
            print(r.stdout[-3000:])
            return
        check(box.run(["systemctl", "is-enabled", "port53-serve"]).stdout.strip() == "enabled",
              "port53-serve is enabled after apt install")
        active = common.wait_for(lambda: box.run(["systemctl", "is-active", "port53-serve"])
                                 .stdout.strip() == "active", 20.0, 0.2)
        check(active, "systemctl: port53-serve is active after apt install")
        zone = os.path.join(box.merged, "etc/port53/zones/example.com.zone")
        ref = dns.zone.from_file(zone, origin="example.com.", relativize=False)
        want = sorted(r.to_text() for r in ref.find_rdataset("www.example.com.", "A"))

        def ask():
            r = box.run(["dig", "+short", "+time=1", "+tries=1", "-p", "5353", "@127.0.0.1",
                         "www.example.com", "A"], timeout=10)
            return sorted(r.stdout.split()) if r.returncode == 0 else None
        got = common.wait_for(lambda: ask() == want, 15.0, 0.2) and ask()
        check(got == want, "the service systemd started answers www.example.com A from the "
              "shipped zone: %s, zone file: %s" % (got, want))
        r = box.run(["systemctl", "restart", "port53-serve"])
        check(r.returncode == 0 and common.wait_for(lambda: ask() == want, 15.0, 0.2),
              "systemctl restart port53-serve, answering again")
        r = box.run(["port53ctl", "status", "--json"])
        check(r.returncode == 0 and '"example.com."' in r.stdout,
              "port53ctl status inside the container: %s" % r.stdout[-300:])
    finally:
        box.stop()


def main():
    if os.geteuid() != 0:
        print("SKIP: installing a package needs root")
        return 77
    for tool in ("dpkg-buildpackage", "apt-get", "systemd-analyze", "setpriv"):
        if shutil.which(tool) is None:
            print("FAIL: %s is missing (tools/install-deps.sh installs it)" % tool)
            return 1
    was_installed = sh(["dpkg-query", "-W", "-f=${Status}", "port53"]).stdout.startswith(
        "install ok installed")
    work = tempfile.mkdtemp(prefix="p53deb-")
    proc = None
    try:
        src = os.path.join(work, "port53")
        copy_tree(src)
        t0 = time.monotonic()
        r = sh(["dpkg-buildpackage", "-us", "-uc", "-b", "-j2"], timeout=1500, cwd=src)
        print("dpkg-buildpackage: %.0f s" % (time.monotonic() - t0))
        if not check(r.returncode == 0, "dpkg-buildpackage -us -uc -b"):
            print(r.stdout[-3000:])
            return 1
        debs = glob.glob(os.path.join(work, "port53_*.deb"))
        if not check(len(debs) == 1, "one .deb built: %s" % debs):
            return 1
        deb = debs[0]
        listing = sh(["dpkg-deb", "-c", deb]).stdout
        paths = {line.split()[5] for line in listing.splitlines() if len(line.split()) >= 6}
        for p in EXPECTED:
            check(p in paths, "the package holds %s" % p)
        conffiles = sh(["dpkg-deb", "-I", deb, "conffiles"]).stdout.split()
        check("/etc/port53/port53.yaml" in conffiles, "the configuration is a conffile")

        # Before this machine's own install: the container is an overlay of
        # this root, which must not change under it.
        if not os.path.isdir("/run/systemd/system"):
            if shutil.which("systemd-nspawn") and shutil.which("nsenter"):
                boot_check(deb)
            else:
                check(False, "systemd-nspawn is missing (tools/install-deps.sh installs "
                      "systemd-container)")

        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        r = sh(["apt-get", "install", "-y", "--reinstall", "--no-install-recommends", deb],
               timeout=600, env=env)
        if not check(r.returncode == 0, "apt-get install ./%s" % os.path.basename(deb)):
            print(r.stdout[-3000:])
            return 1
        r = sh(["getent", "passwd", "port53"])
        check(r.returncode == 0 and "/usr/sbin/nologin" in r.stdout, "the port53 user exists")
        check(os.path.exists("/var/lib/port53/zones.p53"), "postinst compiled the starter zone")
        r = sh(["/usr/bin/port53", "--version"])
        check(r.returncode == 0 and r.stdout.startswith("port53 (port53) "),
              "installed port53 --version")

        units = ["/lib/systemd/system/port53-serve.service", "/lib/systemd/system/port53d.service"]
        r = sh(["systemd-analyze", "verify"] + units)
        check(r.returncode == 0 and "port53" not in r.stdout,
              "systemd-analyze verify: %s" % r.stdout.strip())

        if os.path.isdir("/run/systemd/system"):
            ok = False
            end = time.monotonic() + 20
            while time.monotonic() < end and not ok:
                ok = sh(["systemctl", "is-active", "port53-serve"]).stdout.strip() == "active"
                time.sleep(0.2)
            check(ok, "systemctl: port53-serve is active after apt install")
            check(common.wait_answering(5353, None, 10.0), "the service answers")
        else:
            print("NOTE: systemd is not PID 1 here: the unit is checked with systemd-analyze "
                  "verify and its ExecStart is run by hand")
            proc = serve_by_hand(units[0])
            if proc is not None:
                check(common.wait_answering(5353, proc, 15.0),
                      "ExecStart of port53-serve.service answers on 127.0.0.1:5353")
        check_answers(5353)
        r = sh(["/usr/bin/port53ctl", "status", "--json"])
        check(r.returncode == 0 and '"example.com."' in r.stdout,
              "port53ctl status on the packaged control socket: %s" % r.stdout[-300:])
    finally:
        if proc is not None:
            common.stop(proc)
        if not was_installed:
            sh(["apt-get", "purge", "-y", "port53"], timeout=300,
               env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        shutil.rmtree(work, ignore_errors=True)
    return check.finish()


if __name__ == "__main__":
    sys.exit(main())
