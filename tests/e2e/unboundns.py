"""Debian's unbound as a validating resolver in a network namespace the test
creates, shared by the DNSSEC tests that check port53's signed answers
through it (test_dnssec_unbound.py, test_dnssec_online_unbound.py,
test_dnssec_parent_child.py, test_dnssec_rollover_unbound.py).

A Netns has its own loopback (up) with the test's addresses on it, so that
port53 and unbound can each own port 53 on an address of their own; nsx()
runs a command inside it. unbound_conf() writes the one unbound
configuration these tests use, with the settings that differ between them
as parameters. Everything started here is stopped by the caller; the
namespace is removed by Netns.delete() (or leaving its `with`).
"""
import os
import shutil
import subprocess


def sh(*args, timeout=60, check_rc=True):
    """Runs a command, output captured; raises when it fails (check_rc)."""
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
    if check_rc and r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(args), r.stderr))
    return r


def missing(tools=("unbound", "dig", "ip")):
    """Why this machine cannot run the unbound part (not root, a tool
    missing), or None when it can."""
    if os.geteuid() != 0:
        return "needs root for ip netns"
    for tool in tools:
        if shutil.which(tool) is None:
            return "%s not installed" % tool
    return None


class Netns:
    """A network namespace named prefix + pid, loopback up, addrs on it."""

    def __init__(self, prefix, addrs=()):
        self.name = "%s%d" % (prefix, os.getpid())
        self.addrs = list(addrs)

    def nsx(self, *args):
        return ["ip", "netns", "exec", self.name] + list(args)

    def create(self):
        sh("ip", "netns", "add", self.name)
        sh(*self.nsx("ip", "link", "set", "lo", "up"))
        for a in self.addrs:
            sh(*self.nsx("ip", "addr", "add", a + "/32", "dev", "lo"))
        return self

    def delete(self):
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, timeout=30)

    def __enter__(self):
        try:
            return self.create()
        except BaseException:
            self.delete()
            raise

    def __exit__(self, *exc):
        self.delete()
        return False


def unbound_conf(d, resolver, stub_zone, stub_addr, anchor="anchor", access="10.0.0.0/8",
                 localhost=False, cache_max_ttl=None, no_negative_cache=False,
                 prefetch=True):
    """unbound's configuration: listening on resolver:53, validating with
    the trust anchor file d/anchor, stub_zone asked at stub_addr.
    localhost: allow querying 127.0.0.0/8 (a server on the namespace's own
    loopback range); cache_max_ttl: a cap on cached TTLs (0: nothing kept);
    no_negative_cache: negative answers not cached, and no aggressive use
    of NSEC (every denial goes to the server); prefetch False: no prefetch
    of records or keys, no expired answers served (a test that reasons
    about what the cache holds)."""
    lines = [
        "server:",
        "    interface: %s" % resolver,
        "    port: 53",
        "    do-daemonize: no",
        '    username: ""',
        '    chroot: ""',
        '    directory: "%s"' % d,
        '    pidfile: "%s/unbound.pid"' % d,
        '    logfile: "%s/unbound.log"' % d,
        "    use-syslog: no",
        "    verbosity: 1",
        "    val-log-level: 2",
        "    do-ip6: no",
    ]
    if localhost:
        lines.append("    do-not-query-localhost: no")
    lines += [
        "    access-control: %s allow" % access,
        '    trust-anchor-file: "%s/%s"' % (d, anchor),
        '    module-config: "validator iterator"',
        "    qname-minimisation: no",
    ]
    if cache_max_ttl is not None:
        lines.append("    cache-max-ttl: %d" % cache_max_ttl)
    if no_negative_cache:
        lines += ["    cache-max-negative-ttl: 0", "    aggressive-nsec: no"]
    lines += ["    edns-buffer-size: 1232", "    harden-dnssec-stripped: yes"]
    if not prefetch:
        lines += ["    prefetch: no", "    prefetch-key: no", "    serve-expired: no"]
    lines += [
        "remote-control:",
        "    control-enable: no",
        "stub-zone:",
        '    name: "%s"' % stub_zone,
        "    stub-addr: %s" % stub_addr,
    ]
    return "\n".join(lines) + "\n"


def start_unbound(ns, d, conf_text):
    """Writes d/unbound.conf and starts unbound in the namespace; the
    process (the caller stops it)."""
    conf = os.path.join(d, "unbound.conf")
    with open(conf, "w") as f:
        f.write(conf_text)
    return subprocess.Popen(ns.nsx("unbound", "-d", "-c", conf),
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


def log_of(d, tail=None):
    """unbound's log in d (its last tail characters), or "" when none."""
    p = os.path.join(d, "unbound.log")
    if not os.path.exists(p):
        return ""
    with open(p) as f:
        text = f.read()
    return text if tail is None else text[-tail:]


def dig(ns, server, name, rdtype, *extra, timeout=30):
    """dig +dnssec from inside the namespace: (status, AD set, output)."""
    r = sh(*ns.nsx("dig", "@" + server, "+dnssec", "+time=5", "+tries=1", name, rdtype,
                   *extra), timeout=timeout, check_rc=False)
    out = r.stdout
    status = out.split("status: ")[1].split(",")[0] if "status: " in out else "none"
    flags = out.split("flags: ")[1].split(";")[0].split() if "flags: " in out else []
    return status, "ad" in flags, out
