#!/usr/bin/python3
"""The web console in headless Chromium, against a running `port53 serve`.

The test starts a server with Route 53 record sets and routing policies, two
health checks (CLOUDWATCH_METRIC status files it flips), a DNS Firewall and
the control API on TCP, sends a counted set of queries, pushes a second
snapshot, then loads every page with `chromium --headless --dump-dom` after
its scripts ran and checks what the page shows against what the test knows
independently: the input files (zones, record sets, serials it chose), the
rcodes dnspython received, the health states it set. Each page is also
screenshotted (into $P53_CONSOLE_SHOTS, else the build's meson-logs) for
docs/console.md. Read-only: a write without the token is refused.
Loopback only; every wait is bounded; the server is always stopped.
"""
import collections
import html.parser
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

import dns.message  # noqa: E402
import dns.rcode  # noqa: E402
import dns.zone  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PORT53 = common.default_port53()
PORT53CTL = os.environ.get("PORT53CTL") or os.path.join(os.path.dirname(PORT53), "port53ctl")
# Traffic first: its charts then show the queries just sent.
PAGES = ["traffic", "firewall", "zones", "policies", "health", "snapshots"]


check = common.Checks()


class Dom(html.parser.HTMLParser):
    """Every element with its attributes and text, flat."""

    def __init__(self):
        super().__init__()
        self.elems, self.stack = [], []

    def handle_starttag(self, tag, attrs):
        e = {"tag": tag, "attrs": dict(attrs), "text": ""}
        self.elems.append(e)
        if tag not in ("br", "img", "input", "meta", "link", "hr", "wbr"):
            self.stack.append(e)

    def handle_endtag(self, tag):
        while self.stack:
            if self.stack.pop()["tag"] == tag:
                break

    def handle_data(self, data):
        for e in self.stack:
            e["text"] += data

    def find(self, tag=None, **attrs):
        return [e for e in self.elems if (tag is None or e["tag"] == tag) and
                all(e["attrs"].get(k.replace("_", "-")) == v for k, v in attrs.items())]

    def having(self, attr):
        return [e for e in self.elems if attr in e["attrs"]]


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def browse(browser, url, shot=None):
    """The page's DOM after its scripts ran (and a screenshot)."""
    base = [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--no-first-run", "--disable-extensions", "--window-size=1400,900",
            "--virtual-time-budget=5000"]
    if shot:
        base.append("--screenshot=" + shot)
    r = subprocess.run(base + ["--dump-dom", url], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, text=True, timeout=180)
    d = Dom()
    d.feed(r.stdout)
    return d


def http(method, url, token=None):
    req = urllib.request.Request(url, method=method, data=b"" if method != "GET" else None)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class Traffic:
    """Queries, each answer's rcode counted as dnspython read it, and the
    round trip the client measured."""

    def __init__(self, port):
        self.port = port
        self.rcodes = collections.Counter()
        self.sent = collections.Counter()
        self.rtt_us = []

    def ask(self, name, qtype="A"):
        t0 = time.perf_counter()
        raw = common.query(dns.message.make_query(name, qtype), self.port, retries=0)
        rtt = (time.perf_counter() - t0) * 1e6
        self.sent[name] += 1
        if raw is not None:
            self.rtt_us.append(rtt)
            self.rcodes[dns.rcode.to_text(dns.message.from_wire(raw).rcode())] += 1
        return raw

    def wait_up(self, proc, deadline=15.0):
        end = time.monotonic() + deadline
        while time.monotonic() < end and proc.poll() is None:
            if self.ask("www.example.org.") is not None:
                return True
            time.sleep(0.1)
        return False


def counted(base, rcodes, since):
    """True once /v1/stats has every answer the client counted and the
    console's series a sample taken after since (wall clock)."""
    try:
        stats = json.loads(http("GET", base + "/v1/stats")[1])
        series = json.loads(http("GET", base + "/v1/console/series")[1])
    except (OSError, ValueError):
        return False
    got = (stats.get("total") or {}).get("responses") or {}
    return (all(got.get(rc) == n for rc, n in rcodes.items()) and
            any(x.get("t", 0) >= since for x in series.get("samples", [])))


def main():
    browser = chromium()
    if browser is None:
        print("FAIL: chromium is missing (tools/install-deps.sh installs it)")
        return 1
    chartjs = os.environ.get("PORT53_CHARTJS_DIR", "/usr/share/javascript/chart.js")
    if not os.path.exists(os.path.join(chartjs, "chart.min.js")):
        print("FAIL: %s/chart.min.js is missing (Debian libjs-chart.js)" % chartjs)
        return 1
    build = os.path.dirname(os.path.dirname(PORT53))
    shots = os.environ.get("P53_CONSOLE_SHOTS") or os.path.join(build, "meson-logs", "console")
    os.makedirs(shots, exist_ok=True)
    r53 = os.path.join(HERE, "r53", "example.json")
    org = os.path.join(common.DEFAULT_ZONES, "example.org.zone")
    records = json.load(open(r53))["ResourceRecordSets"]
    with common.tempdir() as tmp:
        status = {"hc-primary": os.path.join(tmp, "primary.status"),
                  "hc-mv3": os.path.join(tmp, "mv3.status")}
        for p in status.values():
            open(p, "w").write("OK\n")
        checks = {"HealthChecks": [
            {"Id": hid, "HealthCheckConfig": {
                "Type": "CLOUDWATCH_METRIC", "StatusFile": path, "RequestInterval": 10,
                "FailureThreshold": 1, "InsufficientDataHealthStatus": "Unhealthy"}}
            for hid, path in status.items()]}
        json.dump(checks, open(os.path.join(tmp, "checks.json"), "w"))
        rules = {"fail_open": False, "rule_groups": [{"name": "main", "priority": 10, "rules": [
            {"name": "block-bad", "priority": 1, "action": "BLOCK", "block_response": "NXDOMAIN",
             "domains": ["bad.example.com", "*.bad.example.com"]},
            {"name": "refuse-flood", "priority": 2, "action": "REFUSED",
             "patterns": [r"^[a-z0-9]{20,}\.example\.com$"]}]}]}
        json.dump(rules, open(os.path.join(tmp, "rules.json"), "w"))
        fw = os.path.join(tmp, "rules.p53fw")
        snap = os.path.join(tmp, "zones.p53")
        geo = os.path.join(HERE, "r53", "geo.csv")
        zargs = ["--geo", geo, "example.com=" + r53, "example.org=" + org]
        for argv in ([PORT53, "fw-compile", "-o", fw, os.path.join(tmp, "rules.json")],
                     [PORT53, "compile", "-o", snap, "--serial", "1001"] + zargs,
                     [PORT53, "compile", "-o", snap + ".2", "--serial", "1002"] + zargs):
            r = common.run(argv)
            if not check(r.returncode == 0, "%s: %s" % (argv[1], r.stderr)):
                return 1
        token = "console-test-token-0123456789"
        open(os.path.join(tmp, "token"), "w").write(token + "\n")
        os.chmod(os.path.join(tmp, "token"), 0o600)
        port, cport = common.free_port(), common.free_port()
        conf = os.path.join(tmp, "port53.yaml")
        open(conf, "w").write(
            "snapshot:\n  path: %s\nkernel:\n  listen: [\"127.0.0.1:%d\"]\n"
            "control:\n  socket: %s/ctl.sock\n  listen: 127.0.0.1:%d\n  token-file: %s/token\n"
            "health:\n  checks: %s/checks.json\nfirewall:\n  rules: %s\n"
            % (snap, port, tmp, cport, tmp, tmp, fw))
        env = dict(os.environ, PORT53_CONSOLE_DIR=os.path.join(common.ROOT, "ctrl", "api", "console"))
        proc = subprocess.Popen([PORT53, "serve", "--config", conf], env=env,
                                stderr=subprocess.PIPE)
        base = "http://127.0.0.1:%d" % cport
        try:
            t = Traffic(port)
            if not check(t.wait_up(proc), "server answers"):
                return 1
            # One push: generation 2, with the serial the test chose. First:
            # the firewall's hit counters belong to the load and start again.
            r = common.run([PORT53CTL, "-s", tmp + "/ctl.sock", "push", snap + ".2"])
            check(r.returncode == 0, "push: %s" % r.stderr)
            started = time.monotonic()
            for _ in range(30):
                t.ask("www.example.org.")
            for _ in range(12):
                t.ask("nothere.example.org.")
            for _ in range(7):
                t.ask("bad.example.com.")
            for _ in range(5):
                t.ask("abcdefghijklmnopqrstuvwxyz.example.com.")
            # One health flip: mv3 goes unhealthy. Meanwhile a steady mix of
            # queries (counted too), so the rate charts have a shape.
            stop = threading.Event()

            def steady():
                names = ["www.example.org.", "nothere.example.org.", "www.example.com.",
                         "bad.example.com."]
                k = 0
                while not stop.is_set() and k < 4000:
                    t.ask(names[k % len(names)])
                    k += 1
                    time.sleep(0.01)  # paces the mix: about 100 queries a second

            bg = threading.Thread(target=steady)
            bg.start()
            open(status["hc-mv3"], "w").write("ALARM\n")
            st = common.wait_for(lambda: [c for c in json.loads(http("GET", base + "/v1/health")[1])
                                   ["checks"] if c["id"] == "hc-mv3" and
                                   c["state"] == "unhealthy"], 25, 0.2)
            check(st, "hc-mv3 turned unhealthy")
            # By design: the load runs 12 s in all so the charts have a shape.
            time.sleep(max(0.0, 12.0 - (time.monotonic() - started)))
            stop.set()
            bg.join(30)
            # The sampler takes the last second of traffic.
            since = time.time()
            common.wait_for(lambda: counted(base, t.rcodes, since), 10, 0.2)

            check(http("POST", base + "/v1/reload")[0] == 401, "a write without the token is refused")
            check(http("GET", base + "/console/")[0] == 200, "the console is readable without the token")
            check(http("GET", base + "/console/chart.min.js")[0] == 200,
                  "Chart.js served from the Debian package")

            doms = {}
            for page in PAGES:
                doms[page] = browse(browser, base + "/console/?refresh=0#" + page,
                                    os.path.join(shots, page + ".png"))
                body = doms[page].find(data_ready=page)
                check(len(body) == 1, "page %s rendered (data-ready)" % page)
                check(not doms[page].find(id="error"), "page %s shows no error" % page)

            # Zones: names and SOA serials from the inputs.
            d = doms["zones"]
            ref_org = dns.zone.from_file(org, origin="example.org.", relativize=False)
            org_serial = ref_org.find_rdataset("example.org.", "SOA")[0].serial
            com_serial = int([r for r in records if r["Type"] == "SOA"][0]
                             ["ResourceRecords"][0]["Value"].split()[2])
            shown = {e["attrs"]["data-zone"]: int(e["attrs"]["data-serial"])
                     for e in d.having("data-zone")}
            check(shown == {"example.com.": com_serial, "example.org.": org_serial},
                  "zones and serials shown: %s" % shown)
            # Record search: every A record set of example.com.
            d = browse(browser, base + "/console/?refresh=0#zones?zone=example.com.&type=A&q=")
            want = sorted((r["Name"], r.get("SetIdentifier", "")) for r in records
                          if r["Type"] == "A")
            got = sorted((e["attrs"]["data-name"], e["attrs"]["data-set"])
                         for e in d.having("data-set"))
            check(got == want, "search type A in example.com: %d shown, %d in the input"
                  % (len(got), len(want)))
            d = browse(browser, base + "/console/?refresh=0#zones?q=192.0.2.3")
            want = sorted((r["Name"], r.get("SetIdentifier", "")) for r in records
                          if any("192.0.2.3" in v["Value"] for v in r.get("ResourceRecords", [])))
            got = sorted((e["attrs"]["data-name"], e["attrs"]["data-set"])
                         for e in d.having("data-set"))
            check(got and got == want, "search by value: %s vs %s" % (got, want))

            # Policies: one tree per policy name, every set id as a branch.
            d = doms["policies"]
            by_name = collections.defaultdict(set)
            for r in records:
                if "SetIdentifier" in r:
                    by_name[(r["Name"], r["Type"])].add(r["SetIdentifier"])
            trees = d.having("data-branches")
            shown = set()
            for e in trees:
                shown |= {(e["attrs"]["data-name"], b) for b in e["attrs"]["data-branches"].split(",")}
            check(all((n, s) in shown or any(s in e["attrs"]["data-branches"].split(",")
                                             for e in trees) for (n, _), ids in by_name.items()
                      for s in ids), "every set id drawn as a branch")
            roots = {(e["attrs"]["data-name"], e["attrs"]["data-type"]) for e in trees}
            check(roots and roots <= set(by_name), "trees are the input's policy names: %s" % roots)
            kinds = {e["attrs"]["data-name"]: e["attrs"]["data-policy"] for e in trees}
            www = [r for r in records if r["Name"] == "www.example.com." and "Weight" in r]
            check(not www or kinds.get("www.example.com.") == "weighted",
                  "www.example.com. is drawn as weighted: %s" % kinds.get("www.example.com."))
            check(all(len(e["text"]) > 0 for e in d.find(tag="svg")) and d.find(tag="svg"),
                  "the trees are drawn (svg with labels)")

            # Health: the states the test set, and the flip in the history.
            d = doms["health"]
            rows = {e["attrs"]["data-check"]: e["attrs"] for e in d.find(tag="tr")
                    if "data-events" in e["attrs"]}
            check(rows.get("hc-primary", {}).get("data-state") == "healthy", "hc-primary healthy")
            check(rows.get("hc-mv3", {}).get("data-state") == "unhealthy", "hc-mv3 unhealthy")
            check(int(rows.get("hc-mv3", {}).get("data-events", 0)) >= 2,
                  "hc-mv3 history has its first state and the flip")
            ev = [e["attrs"]["data-state"] for e in d.find(tag="tr")
                  if e["attrs"].get("data-check") == "hc-mv3" and "data-events" not in e["attrs"]]
            check(ev[:1] == ["unhealthy"] and "healthy" in ev[1:],
                  "events newest first: unhealthy after healthy: %s" % ev)

            # Traffic: totals by rcode as the client counted them.
            d = doms["traffic"]
            totals = {e["attrs"]["data-rcode"]: int(e["attrs"]["data-total"])
                      for e in d.having("data-rcode")}
            for rc, n in t.rcodes.items():
                check(totals.get(rc) == n, "%s answers: page %s, client %d" % (rc, totals.get(rc), n))
            check(d.find(id="rcodeChart") and d.find(id="workerChart") and d.find(id="swapChart")
                  and d.find(id="latencyChart") and d.find(id="busyChart"),
                  "traffic charts present")
            # Time in the server: one histogram entry per answer the client
            # got, and no answer can have spent longer in the server than its
            # round trip took (the median bucket's bound is at most twice the
            # true value, so it stays under twice the client's median).
            stats = json.loads(http("GET", base + "/v1/stats")[1])
            hist = stats["total"].get("latency_answers", {})
            check(sum(hist.values()) == sum(t.rcodes.values()),
                  "latency histogram counts every answer: %d, client %d"
                  % (sum(hist.values()), sum(t.rcodes.values())))
            lat = d.find(id="latencyNow")
            p50 = float(lat[0]["attrs"].get("data-p50") or 0) if lat else 0
            rtt = sorted(t.rtt_us)[len(t.rtt_us) // 2] if t.rtt_us else 0
            check(0 < p50 <= 2 * rtt, "median time in the server %.1f us within twice the "
                  "client's median round trip %.1f us" % (p50, rtt))
            check(stats["total"].get("busy_ns", 0) > 0, "busy time counted")

            # Firewall: hits per rule as sent.
            d = doms["firewall"]
            hits = {e["attrs"]["data-rule"]: int(e["attrs"]["data-hits"])
                    for e in d.having("data-hits")}
            check(hits.get("main/block-bad") == t.sent["bad.example.com."],
                  "block-bad hits %s, sent %d" % (hits.get("main/block-bad"), t.sent["bad.example.com."]))
            check(hits.get("main/refuse-flood") == t.sent["abcdefghijklmnopqrstuvwxyz.example.com."],
                  "refuse-flood hits %s" % hits.get("main/refuse-flood"))

            # Snapshots: both generations with the serials compiled in.
            d = doms["snapshots"]
            gens = {int(e["attrs"]["data-generation"]): int(e["attrs"]["data-serial"])
                    for e in d.having("data-generation")}
            check(gens == {1: 1001, 2: 1002}, "generations shown: %s" % gens)
            live = d.find(id="live")
            check(live and live[0]["attrs"].get("data-serial") == "1002" and
                  live[0]["attrs"].get("data-swaps") == "1", "live serial 1002 after one swap")
        finally:
            rc = common.stop(proc)
            err = proc.stderr.read().decode(errors="replace")
        check(rc == 0, "server exits cleanly (rc=%s): %s" % (rc, err[-800:]))
    print("screenshots in %s" % shots)
    return check.finish()


if __name__ == "__main__":
    sys.exit(main())
