#!/usr/bin/python3
"""Where a sparse query's round trip goes, from a system-wide perf trace.

Reads `perf script -F comm,pid,tid,cpu,time,event,trace` output of a run of
single queries (bench/idle.sh -W) recorded with the events sched:sched_waking,
sched:sched_switch, power:cpu_idle, raw send/receive system call entries and
exits, and splits each round trip of the client into:

  rx      client's sendto() entry to the server thread being woken (the
          veth, the XDP program, the socket's wake-up); 0 for a spinning
          server, which is never asleep
  wake    woken to running on its CPU (the scheduler; on this VM the vCPU's
          way out of halt when the CPU was idle: see `halted`)
  serve   running to the server's first send of the answer (the poll's
          return, parsing, answering)
  tx      that send to the client thread being woken (veth, kernel UDP)
  cwake   the client woken to running
  crest   the client running to its recvfrom() returning

usage: wakepath.py SERVER-PID... < perf-script-output
The client is the python3 thread that sends most (bench/idle.sh's probe).
Prints one line per segment: median and p90 in microseconds, and how many
round trips began with the server's CPU halted (idle) when it was woken.
"""
import re
import statistics
import sys

LINE = re.compile(r"\s*(.+?)\s+(\d+)/(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):\s*(.*)")


def main():
    servers = {int(p) for p in sys.argv[1:]}
    evs = []
    csends = {}
    for l in sys.stdin:
        m = LINE.match(l)
        if m:
            pid, tid, cpu = int(m.group(2)), int(m.group(3)), int(m.group(4))
            evs.append((float(m.group(5)), pid, tid, cpu, m.group(6), m.group(7)))
            if m.group(1).startswith("python") and m.group(6).endswith("sys_enter_sendto"):
                csends[tid] = csends.get(tid, 0) + 1
    evs.sort(key=lambda e: e[0])
    if not csends:
        print("wakepath: no python3 client in the trace")
        return 1
    client = max(csends, key=csends.get)
    # The server's answering thread: the one of its threads that sends most.
    sends = {}
    for t, pid, tid, cpu, ev, arg in evs:
        if pid in servers and ev.endswith("sys_enter_sendto"):
            sends[tid] = sends.get(tid, 0) + 1
    if not sends:
        print("wakepath: no sendto() from the server in the trace")
        return 1
    worker = max(sends, key=sends.get)
    idle = {}  # cpu -> in idle since (or None)
    seg = {k: [] for k in ("rx", "wake", "serve", "tx", "cwake", "crest")}
    halted = 0
    total = 0
    state = None
    for t, pid, tid, cpu, ev, arg in evs:
        if ev == "power:cpu_idle":
            m = re.search(r"state=(\d+) cpu_id=(\d+)", arg)
            if m:
                c = int(m.group(2))
                idle[c] = None if int(m.group(1)) == 4294967295 else t
            continue
        if tid == client and ev.endswith("sys_enter_sendto"):
            state = {"t0": t}
            continue
        if state is None:
            continue
        if ev == "sched:sched_waking":
            m = re.search(r"pid=(\d+)", arg)
            w = int(m.group(1)) if m else -1
            tc = re.search(r"target_cpu=(\d+)", arg)
            if w == worker and "tw" not in state and "tx" not in state:
                state["tw"] = t
                tcpu = int(tc.group(1)) if tc else -1
                state["halted"] = idle.get(tcpu) is not None
            elif w == client and "tx" in state and "tcw" not in state:
                state["tcw"] = t
        elif ev == "sched:sched_switch":
            m = re.search(r"next_pid=(\d+)", arg)
            n = int(m.group(1)) if m else -1
            if n == worker and "tw" in state and "ts" not in state:
                state["ts"] = t
            elif n == client and "tcw" in state and "tcs" not in state:
                state["tcs"] = t
        elif tid == worker and ev.endswith("sys_enter_sendto") and "tx" not in state:
            if "tw" not in state:
                state["tw"] = state["ts"] = state["t0"]
                state["halted"] = False
            state.setdefault("ts", state["tw"])
            state["tx"] = t
        elif tid == client and ev.endswith("sys_exit_recvfrom") and "tx" in state:
            s = state
            state = None
            s.setdefault("tcw", s["tx"])
            s.setdefault("tcs", s["tcw"])
            total += 1
            halted += 1 if s.get("halted") else 0
            for k, a, b in (("rx", "t0", "tw"), ("wake", "tw", "ts"), ("serve", "ts", "tx"),
                            ("tx", "tx", "tcw"), ("cwake", "tcw", "tcs"),
                            ("crest", "tcs", None)):
                seg[k].append(((t if b is None else s[b]) - s[a]) * 1e6)
    if not total:
        print("wakepath: no complete round trip in the trace")
        return 1
    for k, v in seg.items():
        v.sort()
        print("%-6s median %7.1f us  p90 %7.1f us" % (k, statistics.median(v), v[int(len(v) * 0.9)]))
    print("round trips %d, server's CPU idle (halted) when woken: %d" % (total, halted))
    return 0


if __name__ == "__main__":
    sys.exit(main())
