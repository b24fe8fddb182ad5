"""BGP withdrawal of an unhealthy node, end to end (docs/anycast.md).

Two network namespaces joined by a veth link, each running Debian's BIRD 2:
the node (a static protocol `p53_anycast` holding the service prefix
192.0.2.53/32, exported over BGP) and its upstream router (importing it).
`port53 serve` runs in the node namespace with node-health thresholds, and
`port53ctl anycast` enables or disables the static protocol through BIRD's
control socket as the node's GET /v1/node says. With --dp the node is
port53d instead (DPDK, its service port a net_tap in the node namespace,
answering 192.0.2.53), and the test also asks it over that port whether it
answers.

The router's own BIRD is asked (birdc, independent of port53) whether the
route is there:
- present while the node is healthy;
- gone after the server stops answering (SIGSTOP), back after SIGCONT;
- gone after its snapshot grows older than the limit, back after a push;
- gone after the server is killed, back after it restarts;
- gone when the announcer itself is stopped.
Each time from the event to the route's change at the router, and from each
recovery to the route's return, is measured and printed. Needs root, bird
and birdc (and for --dp a build with port53d); exits 77 (skip) without
them.
Run with /usr/bin/python3.
"""

import ctypes
import json
import os
import signal
import subprocess
import sys
import time

import common
import dpnet

PREFIX = "192.0.2.53/32"
INTERVAL_MS = 200
MAX_AGE_S = 8
DEADLINE = 20.0

NODE_BIRD = """router id 198.51.100.2;
log "{d}/bird-node.log" all;
protocol device {{ }}
protocol static p53_anycast {{
    disabled;                       # announced only once port53ctl anycast says so
    ipv4;
    route {prefix} unreachable;
}}
protocol bgp upstream {{
    local 198.51.100.2 as 64512;
    neighbor 198.51.100.1 as 64500;
    connect retry time 1;
    ipv4 {{ import none; export where proto = "p53_anycast"; next hop self; }};
}}
"""

ROUTER_BIRD = """router id 198.51.100.1;
log "{d}/bird-router.log" all;
protocol device {{ }}
protocol bgp node {{
    local 198.51.100.1 as 64500;
    neighbor 198.51.100.2 as 64512;
    connect retry time 1;
    ipv4 {{ import all; export none; }};
}}
"""


def port53d_path(port53):
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(port53))), "dp",
                        "port53d")


class ThreadStopped:
    """One thread of another process stopped with ptrace (PTRACE_SEIZE, then
    PTRACE_INTERRUPT) while its other threads run on: a stalled worker with
    a live control side, which no signal can make. Detached on exit."""

    def __init__(self, tid):
        self.tid = tid
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p,
                                     ctypes.c_void_p]

    def __enter__(self):
        if self.libc.ptrace(0x4206, self.tid, None, None) != 0:  # PTRACE_SEIZE
            raise OSError(ctypes.get_errno(), "PTRACE_SEIZE %d" % self.tid)
        if self.libc.ptrace(0x4207, self.tid, None, None) != 0:  # PTRACE_INTERRUPT
            e = ctypes.get_errno()
            self.libc.ptrace(17, self.tid, None, None)
            raise OSError(e, "PTRACE_INTERRUPT %d" % self.tid)
        os.waitpid(self.tid, 0x40000000)  # __WALL: the thread is stopped
        return self

    def __exit__(self, *exc):
        self.libc.ptrace(17, self.tid, None, None)  # PTRACE_DETACH: it runs again
        return False


def worker_tids(pid):
    """port53d's DPDK worker threads on lcores other than the main one (EAL
    names them rte-worker-N, lcore-worker-N in later DPDK)."""
    out = []
    for t in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, t)) as f:
                if f.read().startswith(("rte-worker", "lcore-worker")):
                    out.append(int(t))
        except OSError:
            pass
    return sorted(out)


def have(tool):
    return subprocess.run(["sh", "-c", "command -v " + tool],
                          stdout=subprocess.DEVNULL).returncode == 0


class Bird:
    def __init__(self, cl, d, name, ns, conf):
        self.sock = os.path.join(d, "bird-%s.ctl" % name)
        path = os.path.join(d, "bird-%s.conf" % name)
        with open(path, "w") as f:
            f.write(conf.format(d=d, prefix=PREFIX))
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns, "bird", "-f", "-c", path, "-s",
                                      self.sock, "-P", os.path.join(d, "bird-%s.pid" % name)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cl.push(common.stop, self.proc)

    def cmd(self, *args):
        r = subprocess.run(["birdc", "-s", self.sock] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=10)
        return r.stdout

    def has_route(self):
        out = self.cmd("show", "route", PREFIX)
        return PREFIX in out and "unicast" in out or (PREFIX in out and "[node" in out)

    def established(self, proto):
        return "Established" in self.cmd("show", "protocols", proto)


def timed(pred, deadline=DEADLINE):
    """(became true?, seconds it took)."""
    t0 = time.monotonic()
    ok = common.wait_for(pred, deadline, 0.02)
    return bool(ok), time.monotonic() - t0


DP = "--dp" in sys.argv[1:]
STALL_MS = 1000  # port53d: a worker whose loop has not moved for this long is stalled
SVC, CLI = "192.0.2.53", "192.0.2.10"  # port53d's service address, the tap's kernel side


def main():
    port53 = common.default_port53()
    ctl = os.environ.get("PORT53CTL") or os.path.join(os.path.dirname(port53), "port53ctl")
    if DP and not os.access(port53d_path(port53), os.X_OK):
        print("skip: no port53d in this build")
        return 77
    if os.geteuid() != 0:
        print("skip: needs root for network namespaces")
        return 77
    for tool in ("bird", "birdc", "ip"):
        if not have(tool):
            print("skip: %s not installed (tools/install-deps.sh: bird2)" % tool)
            return 77
    ck = common.Checks("anycast-dp" if DP else "anycast", verbose=True)
    cl = dpnet.Cleanup()
    with common.tempdir("p53any-") as d:
        try:
            run_test(ck, cl, d, port53, ctl)
        finally:
            cl.run()
            for fn in ("announcer.log", "serve.log", "bird-node.log", "port53d.log"):
                p = os.path.join(d, fn)
                if (ck.failed or fn == "announcer.log") and os.path.exists(p):
                    with open(p) as f:
                        print("--- %s\n%s" % (fn, f.read()[-2500:]))
    return ck.finish()


def run_test(ck, cl, d, port53, ctl):
    pid = os.getpid()
    ns_node, ns_rtr = "p53bn-%d" % pid, "p53br-%d" % pid
    dpnet.netns_add(cl, ns_node)
    dpnet.netns_add(cl, ns_rtr)
    a, b = ("bn%d" % pid)[:15], ("br%d" % pid)[:15]
    dpnet.veth_pair(cl, a, ns_node, b, ns_rtr)
    dpnet.addr_add(ns_node, a, "198.51.100.2/30")
    dpnet.addr_add(ns_rtr, b, "198.51.100.1/30")

    node_bird = Bird(cl, d, "node", ns_node, NODE_BIRD)
    router = Bird(cl, d, "router", ns_rtr, ROUTER_BIRD)
    ok, _ = timed(lambda: router.established("node"), 30)
    if not ck(ok, "BGP session between node and router established",
              router.cmd("show", "protocols", "all", "node")[-800:]):
        return
    ck(not router.has_route(), "no route at the router before anything is announced")

    zone = os.path.join(d, "z.zone")
    with open(zone, "w") as f:
        f.write("$ORIGIN example.com.\n$TTL 60\n@ SOA ns1 host 1 3600 600 86400 60\n"
                "@ NS ns1\nns1 A 192.0.2.1\n")
    snap = os.path.join(d, "zones.p53")

    def compile_fresh():
        r = common.run([port53, "compile", "--quiet", "-o", snap, "example.com=" + zone])
        if r.returncode != 0:
            raise RuntimeError(r.stderr)
    compile_fresh()
    sock = os.path.join(d, "control.sock")
    serve_log = open(os.path.join(d, "port53d.log" if DP else "serve.log"), "a")
    health = ["--control-socket", sock, "--node-max-snapshot-age-s", str(MAX_AGE_S),
              "--node-worker-stall-ms", str(STALL_MS if DP else 3000)]
    serve_cmd = ["ip", "netns", "exec", ns_node, port53, "serve", "-s", snap, "-l",
                 "127.0.0.1:5353"] + health
    tap = ("bt%d" % pid)[:15]
    starts = [0]

    def dp_cmd():
        # A file prefix per start: a killed port53d leaves its runtime
        # directory behind.
        starts[0] += 1
        prefix = "p53any%d-%d" % (pid, starts[0])
        cl.push(dpnet.rm_eal_runtime, prefix)
        eal = os.environ.get("P53_EAL", "--no-huge -m 512 --no-pci -l 0-1").split()
        return ["ip", "netns", "exec", ns_node, port53d_path(port53)] + eal + [
            "--file-prefix", prefix, "--vdev", "net_tap0,iface=%s" % tap, "--",
            "--snapshot", snap, "--addr", SVC] + health

    def dp_answers():
        """The DPDK worker answers over the node's tap (dnspython)."""
        m = dpnet.dns_query(ns_node, SVC, "example.com.", "SOA", timeout=0.3, tries=1)
        return m is not None and bool(m.answer)

    def start_serve():
        if os.path.exists(sock):
            os.unlink(sock)
        p = subprocess.Popen(dp_cmd() if DP else serve_cmd, stdout=serve_log,
                             stderr=serve_log)
        cl.push(common.stop, p)
        common.wait_for(lambda: os.path.exists(sock) or p.poll() is not None, 60)
        if DP:
            # The tap is port53d's, made at each start: its kernel side
            # gets the client address.
            common.wait_for(lambda: dpnet.run(["ip", "link", "show", tap], ns=ns_node,
                                              check=False).returncode == 0, 30)
            dpnet.addr_add(ns_node, tap, CLI + "/24")
            dpnet.run(["ip", "link", "set", tap, "up"], ns=ns_node)
            ck(common.wait_for(dp_answers, 30), "port53d answers over its tap (DPDK worker)")
        return p
    serve = start_serve()
    ann_log = open(os.path.join(d, "announcer.log"), "a")
    ann = subprocess.Popen([ctl, "-s", sock, "anycast", "--bird-socket", node_bird.sock,
                            "--protocol", "p53_anycast", "--interval-ms", str(INTERVAL_MS),
                            "--fall", "2", "--rise", "2"], stdout=ann_log, stderr=ann_log)
    cl.push(common.stop, ann)
    ok, t = timed(router.has_route)
    ck(ok, "route present at the router while the node is healthy (%.0f ms)" % (t * 1e3))
    times = {}
    back = {}
    what = "port53d" if DP else "port53 serve"

    def push_fresh():
        compile_fresh()
        r = common.run([ctl, "-s", sock, "push", snap])
        return r.returncode == 0

    # 1. Stops answering: the process is frozen, its API with it.
    ck(push_fresh(), "fresh snapshot pushed")
    serve.send_signal(signal.SIGSTOP)
    ok, t = timed(lambda: not router.has_route())
    ck(ok, "route withdrawn after %s stops answering (SIGSTOP): %.0f ms" % (what, t * 1e3))
    times["stopped answering"] = t
    if DP:
        ck(not dp_answers(), "port53d's worker is not answering while stopped")
    serve.send_signal(signal.SIGCONT)
    ok, t = timed(router.has_route)
    ck(ok, "route back after it answers again (SIGCONT): %.0f ms" % (t * 1e3))
    back["answering again"] = t
    if DP:
        ck(dp_answers(), "port53d's worker answers again")

    # 1b. port53d: one DPDK worker stalls while the rest of the process,
    # its API included, runs on; only the workers' heartbeat can tell.
    if DP:
        tids = worker_tids(serve.pid)
        if ck(bool(tids), "port53d's worker threads found", os.listdir("/proc/%d/task" %
                                                                         serve.pid)):
            with ThreadStopped(tids[0]):
                ok, t = timed(lambda: not router.has_route())
                ck(ok, "route withdrawn after a DPDK worker stalls (its thread stopped, the "
                   "control side running; stall limit %d ms): %.0f ms" % (STALL_MS, t * 1e3))
                times["worker stalled"] = t
                r = common.run([ctl, "-s", sock, "node"])
                ck(r.returncode == 1 and "worker" in r.stdout,
                   "port53ctl node answers and says a worker stalled (exit 1)",
                   r.stdout + r.stderr)
            ok, t = timed(router.has_route)
            ck(ok, "route back after the worker runs again: %.0f ms" % (t * 1e3))
            back["worker running again"] = t

    # 2. The snapshot grows too old.
    ck(push_fresh(), "fresh snapshot pushed")
    r = common.run([ctl, "-s", sock, "node", "--json"])
    ck(r.returncode == 0, "port53ctl node: healthy", r.stdout)
    r = common.run([ctl, "-s", sock, "status", "--json"])
    loaded = json.loads(r.stdout)["loaded_at"]  # wall clock, as the node's age counts
    ck(router.has_route(), "route present with a fresh snapshot")
    ok, _ = timed(lambda: not router.has_route(), MAX_AGE_S + DEADLINE)
    t = time.time() - (loaded + MAX_AGE_S)
    ck(ok, "route withdrawn after the snapshot is older than %d s: %.0f ms past the limit"
       % (MAX_AGE_S, t * 1e3))
    times["snapshot too old"] = t
    r = common.run([ctl, "-s", sock, "node"])
    ck(r.returncode == 1 and "snapshot last known current" in r.stdout,
       "port53ctl node says why (exit 1)", r.stdout + r.stderr)
    t0 = time.monotonic()
    ck(push_fresh(), "fresh snapshot pushed")
    ok, _ = timed(router.has_route)
    back["fresh snapshot"] = time.monotonic() - t0
    ck(ok, "route back after a fresh snapshot: %.0f ms" % (back["fresh snapshot"] * 1e3))

    # 3. The server dies.
    serve.kill()
    serve.wait()
    ok, t = timed(lambda: not router.has_route())
    ck(ok, "route withdrawn after %s is killed: %.0f ms" % (what, t * 1e3))
    times["killed"] = t
    t0 = time.monotonic()
    serve = start_serve()
    ok, _ = timed(router.has_route)
    back["restarted"] = time.monotonic() - t0
    ck(ok, "route back after %s restarts: %.0f ms (from the start command)" % (
        what, back["restarted"] * 1e3))

    # 4. The announcer stops: nothing may stay announced without it.
    ann.send_signal(signal.SIGTERM)
    ok, t = timed(lambda: not router.has_route())
    ck(ok and ann.wait(10) == 0, "route withdrawn when the announcer stops: %.0f ms" % (t * 1e3))
    print("%s: unhealthy to withdrawn at the router (interval %d ms, fall 2): %s" % (
        what, INTERVAL_MS, ", ".join("%s %.0f ms" % (k, v * 1e3) for k, v in times.items())),
        flush=True)
    print("%s: recovery to announced at the router (rise 2): %s" % (
        what, ", ".join("%s %.0f ms" % (k, v * 1e3) for k, v in back.items())), flush=True)
    ann_log.close()
    serve_log.close()


if __name__ == "__main__":
    sys.exit(main())
