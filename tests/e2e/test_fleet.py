"""A fleet of three nodes following one origin (docs/anycast.md).

Four network namespaces: the origin runs Debian's nginx (a plain static web
server with WebDAV PUT; it knows nothing of port53), and three nodes run
`port53 serve --origin-url`, each over its own veth link. The test shows:

- a signed publish reaches every node, through a directory the web server
  serves and through HTTP PUT; the time from the start of `port53 publish`
  to every node answering the new SOA serial (dnspython, in each node's
  namespace) is measured and printed;
- bad publishes reach none: unsigned, signed by an unknown key, corrupted
  bytes, an older signed serial replayed; each is seen and refused by every
  node, which keeps answering the old serial;
- an origin that is down changes nothing served and is counted;
- a node that was down catches up when it comes back.

Needs root (namespaces) and nginx; exits 77 (skip) without them.
Run with /usr/bin/python3.
"""

import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import time

import dns.exception
import dns.message
import dns.rdatatype

import common
import dpnet

NODES = 3
POLL_MS = 250
DEADLINE = 15.0  # seconds any publish may take to reach every node



def api(sock, path):
    """(status, JSON body) from a node's control socket, or (None, None)."""
    try:
        c = common.UnixHTTPConnection(sock, timeout=3.0)
        c.request("GET", path)
        r = c.getresponse()
        body = r.read()
        c.close()
        return r.status, json.loads(body)
    except (OSError, ValueError, http.client.HTTPException):
        return None, None


ZONE = """$ORIGIN example.com.
$TTL 60
@ SOA ns1 hostmaster {serial} 3600 600 86400 60
@ NS ns1
ns1 A 192.0.2.1
www A 192.0.2.{last}
"""

NGINX = """daemon off;
user root;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/nginx.err;
events {{}}
http {{
    access_log off;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    server {{
        listen 8080;
        root {d}/www;
        location /fleet/ {{
            dav_methods PUT;
            create_full_put_path on;
            client_max_body_size 0;
        }}
    }}
}}
"""


class Fleet:
    def __init__(self, d, cl, port53):
        self.d = d
        self.cl = cl
        self.port53 = port53
        self.pid = os.getpid()
        self.origin_ns = "p53o-%d" % self.pid
        self.ns = ["p53n%d-%d" % (i, self.pid) for i in range(NODES)]
        self.procs = [None] * NODES
        self.logs = [None] * NODES
        self.nginx = None
        self.www = os.path.join(d, "www", "fleet")

    def setup_net(self):
        dpnet.netns_add(self.cl, self.origin_ns)
        for i, ns in enumerate(self.ns):
            dpnet.netns_add(self.cl, ns)
            o, n = "o%d-%d" % (i, self.pid), "n%d-%d" % (i, self.pid)
            dpnet.veth_pair(self.cl, o[:15], self.origin_ns, n[:15], ns)
            dpnet.addr_add(self.origin_ns, o[:15], "198.51.100.%d/30" % (4 * i + 1))
            dpnet.addr_add(ns, n[:15], "198.51.100.%d/30" % (4 * i + 2))

    def start_nginx(self):
        os.makedirs(os.path.join(self.d, "tmp"), exist_ok=True)
        os.makedirs(self.www, exist_ok=True)
        conf = os.path.join(self.d, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX.format(d=self.d))
        self.nginx = subprocess.Popen(["ip", "netns", "exec", self.origin_ns, "nginx", "-c",
                                       conf, "-p", self.d], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
        self.cl.push(common.stop, self.nginx)

        def up():
            r = dpnet.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                           "http://127.0.0.1:8080/"], ns=self.origin_ns, check=False)
            return r.stdout.strip() not in ("", "000")
        return common.wait_for(up, 10)

    def sock(self, i):
        return os.path.join(self.d, "node%d.sock" % i)

    def start_node(self, i):
        nd = os.path.join(self.d, "node%d" % i)
        os.makedirs(nd, exist_ok=True)
        snap = os.path.join(nd, "origin.p53")
        if not os.path.exists(snap):
            with open(os.path.join(self.d, "s1.p53"), "rb") as a, open(snap, "wb") as b:
                b.write(a.read())
        self.logs[i] = open(os.path.join(self.d, "node%d.log" % i), "a")
        cmd = ["ip", "netns", "exec", self.ns[i], self.port53, "serve", "-s", snap, "-l",
               "127.0.0.1:5353", "--control-socket", self.sock(i), "--require-signature",
               os.path.join(self.d, "k.pub"), "--origin-url",
               "http://198.51.100.%d:8080/fleet/zones.p53" % (4 * i + 1),
               "--origin-interval-ms", str(POLL_MS), "--origin-timeout-ms", "2000",
               # one test client asks far faster than any real one
               "--rrl-rate", "0"]
        self.procs[i] = subprocess.Popen(cmd, stdout=self.logs[i], stderr=self.logs[i])
        self.cl.push(common.stop, self.procs[i])
        return common.wait_for(lambda: self.serial(i) is not None, 10)

    def stop_node(self, i):
        common.stop(self.procs[i])
        self.logs[i].close()

    def serial(self, i):
        """The SOA serial node i answers over DNS, in its namespace."""
        q = dns.message.make_query("example.com.", "SOA")
        try:
            with dpnet.InNetns(self.ns[i]):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            with s:
                s.settimeout(0.5)
                s.sendto(q.to_wire(), ("127.0.0.1", 5353))
                r = dns.message.from_wire(s.recv(4096))
        except (OSError, dns.exception.DNSException):
            return None
        for rr in r.answer:
            if rr.rdtype == dns.rdatatype.SOA:
                return rr[0].serial
        return None

    def origin(self, i):
        st, body = api(self.sock(i), "/v1/node")
        return body.get("origin") if body else None

    def node_log(self, i):
        try:
            with open(os.path.join(self.d, "node%d.log" % i)) as f:
                return f.read()[-2000:]
        except OSError:
            return ""


def compile_snap(port53, d, serial, key=None, name=None):
    z = os.path.join(d, "z%d.zone" % serial)
    with open(z, "w") as f:
        f.write(ZONE.format(serial=serial, last=serial % 250 + 1))
    out = os.path.join(d, name or "s%d.p53" % serial)
    cmd = [port53, "compile", "--quiet", "-o", out, "--serial", str(serial)]
    if key:
        cmd += ["--sign-key", key]
    r = common.run(cmd + ["example.com=" + z])
    if r.returncode != 0:
        raise RuntimeError("compile: " + r.stderr)
    return out


def raw_publish(fleet, data):
    """What a broken or hostile publisher does: bytes straight into the
    served directory (atomically, with a later mtime so the ETag moves)."""
    dst = os.path.join(fleet.www, "zones.p53")
    old = os.stat(dst).st_mtime if os.path.exists(dst) else 0
    tmp = dst + ".raw"
    with open(tmp, "wb") as f:
        f.write(data)
    t = max(time.time(), old + 1)
    os.utime(tmp, (t, t))
    os.replace(tmp, dst)


def main():
    port53 = common.default_port53()
    if os.geteuid() != 0:
        print("skip: needs root for network namespaces")
        return 77
    for tool in ("nginx", "ip", "curl"):
        if subprocess.run(["sh", "-c", "command -v " + tool], stdout=subprocess.DEVNULL).returncode:
            print("skip: %s not installed (tools/install-deps.sh)" % tool)
            return 77
    ck = common.Checks("fleet", verbose=True)
    cl = dpnet.Cleanup()
    with common.tempdir("p53fleet-") as d:
        try:
            run_fleet(ck, cl, d, port53)
        finally:
            cl.run()
    return ck.finish()


def wait_all(fleet, serial, nodes=None, deadline=DEADLINE):
    nodes = range(NODES) if nodes is None else nodes
    return common.wait_for(lambda: all(fleet.serial(i) == serial for i in nodes), deadline,
                           0.01)


def run_fleet(ck, cl, d, port53):
    for name in ("k", "other"):
        r = common.run([port53, "keygen", os.path.join(d, name)])
        if r.returncode != 0:
            raise RuntimeError(r.stderr)
    key, other = os.path.join(d, "k.key"), os.path.join(d, "other.key")
    compile_snap(port53, d, 1, key)
    fleet = Fleet(d, cl, port53)
    fleet.setup_net()
    if not ck(fleet.start_nginx(), "nginx answers in the origin namespace"):
        return
    r = common.run([port53, "publish", os.path.join(d, "s1.p53"), fleet.www, "--name",
                    "zones.p53"])
    ck(r.returncode == 0, "publish serial 1 to the origin's directory", r.stderr)
    for i in range(NODES):
        ck(fleet.start_node(i), "node %d answers" % i, fleet.node_log(i))
    ck(wait_all(fleet, 1), "every node serves serial 1")
    ck(common.wait_for(lambda: all((fleet.origin(i) or {}).get("etag") for i in range(NODES)),
                       5), "every node has judged the origin's object (ETag kept)")

    # Good publishes, by directory and by HTTP PUT; timed to every node.
    times = []
    serial = 1
    for rnd in range(6):
        serial += 1
        snap = compile_snap(port53, d, serial)  # unsigned: publish signs it
        if rnd % 2 == 0:
            cmd = [port53, "publish", "-q", "--key", key, "--name", "zones.p53", snap, fleet.www]
        else:
            cmd = ["ip", "netns", "exec", fleet.origin_ns, port53, "publish", "-q", "--key",
                   key, snap, "http://127.0.0.1:8080/fleet/zones.p53"]
        t0 = time.monotonic()
        r = common.run(cmd)
        ok = r.returncode == 0 and wait_all(fleet, serial)
        t2 = time.monotonic()
        how = "directory" if rnd % 2 == 0 else "HTTP PUT"
        ck(ok, "publish serial %d (%s) reaches all %d nodes" % (serial, how, NODES),
           r.stderr + fleet.node_log(0))
        if ok:
            times.append((t2 - t0,))
    if times:
        v = [t[0] for t in times]
        print("port53 publish start to all %d nodes answering it (poll interval %d ms): "
              "median %.0f ms, max %.0f ms over %d publishes" % (
                  NODES, POLL_MS, statistics.median(v) * 1e3, max(v) * 1e3, len(v)),
              flush=True)
    # Propagation alone: the signed object renamed into place here, as
    # publish does, timed from the rename to every node answering it.
    prop = []
    for rnd in range(5):
        serial += 1
        snap = compile_snap(port53, d, serial, key)
        with open(snap, "rb") as f:
            data = f.read()
        raw_publish(fleet, data)
        t_rep = time.monotonic()
        ok = wait_all(fleet, serial)
        ck(ok, "serial %d renamed into the origin reaches all %d nodes" % (serial, NODES))
        if ok:
            prop.append(time.monotonic() - t_rep)
    if prop:
        print("object replaced to all %d nodes answering it (poll interval %d ms): median %.0f "
              "ms, max %.0f ms over %d publishes" % (NODES, POLL_MS, statistics.median(prop) * 1e3,
                                                   max(prop) * 1e3, len(prop)), flush=True)

    # Bad publishes reach no node.
    good = serial
    serial += 1
    unsigned = compile_snap(port53, d, serial, name="unsigned.p53")
    r = common.run([port53, "publish", unsigned, fleet.www, "--name", "zones.p53"])
    ck(r.returncode != 0 and "not signed" in r.stderr,
       "port53 publish refuses an unsigned snapshot", r.stderr)
    bad_key = compile_snap(port53, d, serial + 1, other, name="otherkey.p53")
    with open(os.path.join(d, "s%d.p53" % good), "rb") as f:
        corrupt = bytearray(f.read())
    corrupt[len(corrupt) // 2] ^= 0x55
    old = compile_snap(port53, d, 1, key, name="replay.p53")  # serial 1 again, signed
    cases = [
        ("unsigned (publish --unsigned)", lambda: common.run(
            [port53, "publish", "-q", "--unsigned", unsigned, fleet.www, "--name", "zones.p53"])),
        ("signed by an untrusted key", lambda: common.run(
            [port53, "publish", "-q", bad_key, fleet.www, "--name", "zones.p53"])),
        ("corrupted bytes", lambda: raw_publish(fleet, bytes(corrupt))),
        ("an older signed serial replayed", lambda: raw_publish(fleet, open(old, "rb").read())),
    ]
    for what, do in cases:
        before = [(fleet.origin(i) or {}).get("rejected", 0) for i in range(NODES)]
        do()
        seen = common.wait_for(lambda: all((fleet.origin(i) or {}).get("rejected", 0) > before[i]
                                           for i in range(NODES)), DEADLINE)
        ck(seen, "every node saw and refused: %s" % what, fleet.node_log(0))
        ck(all(fleet.serial(i) == good for i in range(NODES)),
           "every node still serves serial %d after: %s" % (good, what))
        st, body = api(fleet.sock(0), "/v1/node")
        ck(body is not None and body["origin"]["origin_rejected"] and body["origin"]["last_error"],
           "the refusal is visible in /v1/node: %s" % what, body)
    c = common.UnixHTTPConnection(fleet.sock(0), timeout=3.0)
    c.request("GET", "/metrics")
    text = c.getresponse().read().decode()
    ck('port53_origin_snapshots_total{verdict="rejected"} 4' in text,
       "/metrics counts the 4 refused snapshots", text[-1500:])

    # A good publish after the bad ones goes through.
    serial = good + 10
    snap = compile_snap(port53, d, serial)
    r = common.run([port53, "publish", "-q", "--key", key, "--name", "zones.p53", snap, fleet.www])
    ck(r.returncode == 0 and wait_all(fleet, serial), "a good publish after the bad ones "
       "reaches every node", r.stderr)

    # The origin down: nothing served changes, failures are counted.
    common.stop(fleet.nginx)
    base = [(fleet.origin(i) or {}).get("errors", 0) for i in range(NODES)]
    ck(common.wait_for(lambda: all((fleet.origin(i) or {}).get("errors", 0) > base[i]
                                   for i in range(NODES)), DEADLINE),
       "every node counts the origin's failures")
    ck(all(fleet.serial(i) == serial for i in range(NODES)),
       "every node keeps serving while the origin is down")
    ck(fleet.start_nginx(), "origin back")

    # A node that was down catches up.
    fleet.stop_node(2)
    serial += 1
    snap = compile_snap(port53, d, serial)
    r = common.run([port53, "publish", "-q", "--key", key, "--name", "zones.p53", snap, fleet.www])
    ck(r.returncode == 0 and wait_all(fleet, serial, nodes=(0, 1)),
       "nodes 0 and 1 take serial %d while node 2 is down" % serial)
    t0 = time.monotonic()
    ck(fleet.start_node(2), "node 2 restarts", fleet.node_log(2))
    ok = wait_all(fleet, serial, nodes=(2,))
    ck(ok, "node 2 catches up to serial %d" % serial, fleet.node_log(2))
    if ok:
        print("node restart to caught up: %.0f ms" % ((time.monotonic() - t0) * 1e3), flush=True)
    r = common.run([port53, "info", "--json", os.path.join(d, "node2", "origin.p53")])
    ck(r.returncode == 0 and json.loads(r.stdout)["serial"] == serial,
       "node 2 kept the accepted copy as origin.p53 for its next restart", r.stdout + r.stderr)


if __name__ == "__main__":
    sys.exit(main())
