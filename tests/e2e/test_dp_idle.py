#!/usr/bin/python3
"""End-to-end test of an idle port53d worker (dp/worker.c, "Idle workers" in
docs/dataplane.md): it sleeps, gives its core back, and still answers.

Three runs, each one worker on lcore 0 (the main thread, so the worker is
the thread whose id is the process id):

  tap            net_tap, defaults: the worker sleeps on the tun queue's
                 descriptor and a frame wakes it
  tap-nap        net_tap, --idle-wake nap: naps only, never woken by a frame
  afxdp          net_af_xdp over a veth with port53's XDP program,
                 defaults: sleeps on the AF_XDP socket (skipped when the
                 XDP object is not built)

In each: a query is answered; the worker goes to sleep (its idle_sleeps
counter rises); after a quiet spell long enough for the sleeps to reach
their longest, the worker's share of its core over a window, from
/proc/PID/task/PID/stat, is well below a busy-polling worker's whole core;
the first query after the quiet spell is answered (dnspython), and
idle_fd_wakes says whether a frame woke it (it must in the descriptor
modes, never with naps). No timing is asserted.

Needs root: sudo /usr/bin/python3 tests/e2e/test_dp_idle.py [BUILD_DIR]
"""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dns.rdatatype  # noqa: E402
import dpnet  # noqa: E402
from dpnet import check_answer, dns_query, run  # noqa: E402

SVC4, CLI4 = "192.0.2.53", "192.0.2.10"
PID = os.getpid()
NS = "p53i-%d" % PID
NS_S = "p53i-s-%d" % PID
TAP = "pxi%d" % (PID % 100000)
DEV_S, DEV_C = "pxi%ds" % (PID % 100000), "pxi%dc" % (PID % 100000)
# A worker that busy-polls uses its whole core; a sleeping one a few per
# cent at most. Half a core tells them apart even on a loaded machine (a
# loaded machine only lowers the share).
MAX_IDLE_SHARE = 0.5


def counters(d):
    """Totals of the counter block port53d prints on SIGUSR1."""
    n = d.tail(1 << 20).count("port53d counters")
    d.signal(signal.SIGUSR1)
    dpnet.wait_for(lambda: d.tail(1 << 20).count("port53d counters") > n, 5)
    block = d.tail(1 << 20).rsplit("port53d counters", 1)[-1]
    out = {}
    for line in block.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 2 and parts[1].isdigit():
            out[parts[0]] = int(parts[1])
    return out


def worker_cpu_share(pid, window):
    """Share of one CPU the worker thread (tid == pid) used over window s."""
    def ticks():
        with open("/proc/%d/task/%d/stat" % (pid, pid)) as f:
            st = f.read().rsplit(")", 1)[1].split()
        return (int(st[11]) + int(st[12])) / os.sysconf("SC_CLK_TCK")
    a, t0 = ticks(), time.monotonic()
    time.sleep(window)  # the window the share is measured over, not a wait
    return (ticks() - a) / (time.monotonic() - t0)


def idle_checks(res, label, d, ns, fd_mode):
    m = dns_query(ns, SVC4, "www.example.com.", "A", timeout=2, tries=5)
    check_answer(res, "%s: answered" % label, m, "A", {"192.0.2.10"})
    c0 = counters(d)
    slept = dpnet.wait_for(lambda: counters(d).get("idle_sleeps", 0) >
                           c0.get("idle_sleeps", 0) + 20, 20, 0.2)
    res.check("%s: the idle worker sleeps (idle_sleeps %d -> %d)" % (
        label, c0.get("idle_sleeps", 0), counters(d).get("idle_sleeps", 0)), slept)
    share = worker_cpu_share(d.proc.pid, 2.0)
    res.check("%s: the idle worker used %.1f%% of its core (under %d%%)" % (
        label, 100 * share, 100 * MAX_IDLE_SHARE), share < MAX_IDLE_SHARE)
    # The first query after the quiet spell: answered, and in descriptor
    # mode the frame itself ends a sleep. A query can land between two
    # sleeps, so up to five, each after the worker is asleep again.
    woken = False
    answered = 0
    for _ in range(5 if fd_mode else 1):
        before = counters(d)
        dpnet.wait_for(lambda: counters(d).get("idle_sleeps", 0) >
                       before.get("idle_sleeps", 0), 10, 0.05)
        before = counters(d)
        m = dns_query(ns, SVC4, "mail.example.com.", "A", timeout=2, tries=1)
        if m is not None and dpnet.rrset_texts(m, "answer", dns.rdatatype.A) == {"192.0.2.25"}:
            answered += 1
        if counters(d).get("idle_fd_wakes", 0) > before.get("idle_fd_wakes", 0):
            woken = True
            break
    res.check("%s: queries after a quiet spell answered (%d)" % (label, answered),
              answered >= 1)
    wakes = counters(d).get("idle_fd_wakes", 0)
    if fd_mode:
        res.check("%s: a frame woke the sleeping worker (idle_fd_wakes %d)" % (label, wakes),
                  woken)
    else:
        res.check("%s: naps only, never woken by a descriptor (idle_fd_wakes %d)" % (
            label, wakes), wakes == 0)
    rc = d.stop()
    res.check("%s: port53d exits 0 on SIGTERM" % label, rc == 0, d.tail())


def run_tap(res, cleanup, work, port53d, snap, label, extra):
    prefix = "p53i%s%d" % (label.replace("-", ""), PID)
    cmd = [port53d, "--no-huge", "-m", "512", "--no-pci", "-l", "0",
           "--file-prefix", prefix, "--vdev", "net_tap0,iface=%s" % TAP,
           "--", "--snapshot", snap, "--addr", SVC4] + extra
    cleanup.push(dpnet.rm_eal_runtime, prefix)
    d = dpnet.Proc(cleanup, cmd, os.path.join(work, "%s.log" % label), ns=NS)
    up = dpnet.wait_for(lambda: not d.alive() or
                        run(["ip", "link", "show", TAP], ns=NS, check=False).returncode == 0, 30)
    if not res.check("%s: port53d created the tap" % label, d.alive() and up, d.tail()):
        return
    dpnet.addr_add(NS, TAP, CLI4 + "/24")
    run(["ip", "link", "set", TAP, "up"], ns=NS)
    fd_mode = "nap" not in extra
    want = "on its queues' descriptors" if fd_mode else "in naps"
    res.check("%s: worker says it sleeps %s" % (label, want),
              dpnet.wait_for(lambda: want in d.tail(1 << 20), 10), d.tail())
    idle_checks(res, label, d, NS, fd_mode)


def run_afxdp(res, cleanup, work, port53d, snap, bdir):
    obj = os.path.join(bdir, "dp", "p53_xdp.bpf.o")
    if not os.path.exists(obj):
        res.skip("afxdp", "%s not built" % obj)
        return
    dpnet.netns_add(cleanup, NS_S)
    dpnet.veth_pair(cleanup, DEV_S, NS_S, DEV_C, NS)
    dpnet.addr_add(NS_S, DEV_S, SVC4 + "/24")
    dpnet.addr_add(NS, DEV_C, CLI4 + "/24")
    # Kernel-sent UDP over a veth carries partial checksums (docs/af_xdp.md).
    run(["ethtool", "-K", DEV_C, "tx", "off"], ns=NS)
    prefix = "p53ix%d" % PID
    cmd = [port53d, "--no-huge", "-m", "512", "--no-pci", "-l", "0",
           "--file-prefix", prefix,
           "--vdev", "net_af_xdp0,iface=%s,queue_count=1,xdp_prog=%s" % (DEV_S, obj),
           "--", "--snapshot", snap, "--addr", SVC4]
    cleanup.push(dpnet.rm_eal_runtime, prefix)
    cleanup.push(lambda: run(["ip", "link", "set", "dev", DEV_S, "xdp", "off"], ns=NS_S,
                             check=False))
    d = dpnet.Proc(cleanup, cmd, os.path.join(work, "afxdp.log"), ns=NS_S)
    want = "on its queues' descriptors"
    ok = dpnet.wait_for(lambda: not d.alive() or want in d.tail(1 << 20), 30)
    if not res.check("afxdp: worker says it sleeps %s" % want, ok and d.alive(), d.tail()):
        return
    idle_checks(res, "afxdp", d, NS, True)


def body(res, cleanup, work, tools):
    bdir = os.path.dirname(os.path.dirname(tools["port53d"]))
    dpnet.netns_add(cleanup, NS)
    snap = dpnet.compile_snapshot(bdir, work, "dataplane")
    run_tap(res, cleanup, work, tools["port53d"], snap, "tap", [])
    dpnet.wait_for(lambda: run(["ip", "link", "show", TAP], ns=NS,
                               check=False).returncode != 0, 10)
    run_tap(res, cleanup, work, tools["port53d"], snap, "tap-nap", ["--idle-wake", "nap"])
    run_afxdp(res, cleanup, work, tools["port53d"], snap, bdir)


if __name__ == "__main__":
    sys.exit(dpnet.run_dp_test("p53-idle-", body, tools=("port53d", "port53")))
