#!/usr/bin/python3
"""Control API, port53ctl, snapshot signing and hot swap under load, against
`port53 serve --control-socket ...` (docs/control.md).

- every endpoint: /v1/status, /v1/stats, /metrics, PUT/POST /v1/snapshot,
  POST /v1/reload; 404, 405; bad JSON, unknown fields, wrong types;
- bad snapshots rejected with a clear reason while the old one keeps
  answering: flipped byte (header and section), truncated, padded, wrong
  format version, not a snapshot, empty;
- TCP listener: missing/wrong/right bearer token; oversized bodies (with a
  Content-Length and chunked) get 413;
- signatures: unsigned, untrusted key, corrupted signature, good signature;
- port53ctl: status, stats, metrics, push, reload, tables and --json;
- swap under load: a client thread queries while >= 50 snapshots whose SOA
  serial, NS name, glue and A/TXT records differ are pushed; every response
  must come from exactly one snapshot, and never from one older than a push
  that had already completed when the query was sent.

Loopback and a unix socket in a temporary directory only; every wait is
bounded; servers are always stopped. Prints "N passed, N failed".
"""
import http.client
import ipaddress
import json
import os
import re
import socket
import statistics
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

import dns.message  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdatatype  # noqa: E402

NVARIANTS = 55          # snapshots pushed under load (>= 50)
LOAD_MIN_QUERIES = 3000  # the client keeps going at least this long
LOAD_MAX_QUERIES = 20000
OVERLAP_MIN = 500       # queries sent while snapshots are being pushed
PUSH_LIMIT = 300000      # --push-max-bytes for the main server
TOKEN = "test-token-0123456789abcdef"


check = common.Checks()


# ---- HTTP over a unix socket or TCP ------------------------------------------


class Api:
    def __init__(self, unix=None, tcp=None, token=None):
        self.unix, self.tcp, self.token = unix, tcp, token

    def conn(self):
        if self.unix:
            return common.UnixHTTPConnection(self.unix, timeout=30)
        return http.client.HTTPConnection(self.tcp[0], self.tcp[1], timeout=30)

    def call(self, method, url, body=None, headers=None, token=None):
        """Returns (status, headers dict, body bytes); (None, {}, b"") when
        the server cut the connection."""
        h = dict(headers or {})
        tok = token if token is not None else self.token
        if tok:
            h["Authorization"] = "Bearer " + tok
        c = self.conn()
        try:
            c.request(method, url, body=body, headers=h)
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        except (ConnectionError, http.client.HTTPException, socket.timeout):
            return None, {}, b""
        finally:
            c.close()

    def json(self, method, url, body=None, headers=None, token=None):
        st, hd, data = self.call(method, url, body, headers, token)
        try:
            doc = json.loads(data) if data else None
        except ValueError:
            doc = None
        return st, hd, doc

    def raw_headers(self, method, url, headers):
        """Sends only a request head (no body): the server must answer from
        the headers alone (413 on a Content-Length over the limit)."""
        c = self.conn()
        try:
            c.putrequest(method, url)
            for k, v in headers.items():
                c.putheader(k, v)
            c.endheaders()
            r = c.getresponse()
            return r.status, r.read()
        except (ConnectionError, http.client.HTTPException, socket.timeout):
            return None, b""
        finally:
            c.close()

    def chunked(self, method, url, chunks):
        c = self.conn()
        try:
            c.request(method, url, body=iter(chunks), encode_chunked=True,
                      headers={"Transfer-Encoding": "chunked"})
            r = c.getresponse()
            return r.status, r.read()
        except (ConnectionError, http.client.HTTPException, socket.timeout):
            return None, b""
        finally:
            c.close()


# ---- snapshots ---------------------------------------------------------------

SERIAL_BASE = 1000


def zone_text(i):
    """Variant i: every record that can appear in an answer encodes i."""
    hi, lo = divmod(i, 256)
    return f"""$ORIGIN example.com.
$TTL 300
@ IN SOA ns-{i}.example.com. hostmaster.example.com. {SERIAL_BASE + i} 3600 600 86400 300
@ IN NS ns-{i}.example.com.
ns-{i} IN A 10.{hi}.{lo}.53
www IN A 10.{hi}.{lo}.1
www IN A 10.{hi}.{lo}.2
www IN TXT "v={i}"
"""


def build(binary, work, i, key=None):
    zf = os.path.join(work, f"v{i}.zone")
    with open(zf, "w") as f:
        f.write(zone_text(i))
    out = os.path.join(work, f"v{i}{'-signed' if key else ''}.p53")
    args = [binary, "compile", "--serial", str(SERIAL_BASE + i), "-o", out]
    if key:
        args += ["--sign-key", key]
    r = common.run(args + ["example.com.=" + zf])
    if r.returncode != 0:
        raise RuntimeError("compile failed: " + r.stderr)
    return out


def section_byte(img):
    """Offset of a byte inside the largest section (padding between sections
    is covered by no checksum, so a flip there is harmless and accepted)."""
    nsect = struct.unpack_from("<I", img, 12)[0]
    best = (0, 0)
    for k in range(nsect):
        _, _, off, ln = struct.unpack_from("<IIQQ", img, 96 + 40 * k)
        best = max(best, (ln, off))
    return best[1] + best[0] // 2


def read(p):
    with open(p, "rb") as f:
        return f.read()


def variant_of(resp):
    """The set of variant numbers the records of a response point to."""
    ids = set()
    for rr in resp.answer + resp.authority + resp.additional:
        for r in rr:
            if rr.rdtype == dns.rdatatype.SOA:
                ids.add(r.serial - SERIAL_BASE)
                m = re.match(r"ns-(\d+)\.", str(r.mname))
                ids.add(int(m.group(1)) if m else -1)
            elif rr.rdtype == dns.rdatatype.A:
                b = ipaddress.IPv4Address(r.address).packed
                ids.add(b[1] * 256 + b[2])
            elif rr.rdtype == dns.rdatatype.NS:
                m = re.match(r"ns-(\d+)\.", str(r.target))
                ids.add(int(m.group(1)) if m else -1)
            elif rr.rdtype == dns.rdatatype.TXT:
                m = re.match(r"v=(\d+)$", b"".join(r.strings).decode())
                ids.add(int(m.group(1)) if m else -1)
        m = re.match(r"ns-(\d+)\.", str(rr.name))
        if m:
            ids.add(int(m.group(1)))
    return ids


LOAD_QUERIES = [("www.example.com.", "A", dns.rcode.NOERROR, True),
                ("example.com.", "SOA", dns.rcode.NOERROR, True),
                ("example.com.", "NS", dns.rcode.NOERROR, True),
                ("www.example.com.", "TXT", dns.rcode.NOERROR, True),
                ("nx.example.com.", "A", dns.rcode.NXDOMAIN, False)]


def current_variant(port):
    raw = common.query(dns.message.make_query("www.example.com.", "A"), port)
    if raw is None:
        return None
    ids = variant_of(dns.message.from_wire(raw))
    return ids.pop() if len(ids) == 1 else ("mixed", ids)


# ---- tests -------------------------------------------------------------------

def test_status_stats_metrics(api, port, serial0):
    for _ in range(5):
        common.query(dns.message.make_query("www.example.com.", "A"), port)
    st, hd, doc = api.json("GET", "/v1/status")
    check(st == 200 and hd.get("content-type") == "application/json", "status 200 JSON",
          (st, hd))
    doc = doc or {}
    check(doc.get("serial") == serial0, "status serial", doc.get("serial"))
    check(re.fullmatch(r"[0-9a-f]{64}", doc.get("hash", "")) is not None, "status hash")
    check(doc.get("zones") == [{"name": "example.com.", "serial": serial0}],
          "status zones with SOA serials", doc.get("zones"))
    for k in ("loaded_at", "age_seconds", "swaps", "failed_loads", "last_swap_latency_us",
              "source", "generation"):
        check(k in doc, "status has " + k)

    st, _, doc = api.json("GET", "/v1/stats")
    check(st == 200, "stats 200")
    doc = doc or {}
    tot = doc.get("total", {})
    check(tot.get("queries", 0) >= 5, "stats total queries", tot.get("queries"))
    check(tot.get("responses", {}).get("NOERROR", 0) >= 5, "stats NOERROR count")
    per = doc.get("per_worker", [])
    # port53 serve answers UDP on worker 0 and TCP on worker 1.
    check(len(per) == 2 and [w.get("worker") for w in per] == [0, 1] and
          sum(w["counters"].get("queries", 0) for w in per) == tot.get("queries"),
          "stats per worker", per)

    st, hd, data = api.call("GET", "/metrics")
    text = data.decode()
    check(st == 200 and hd.get("content-type", "").startswith("text/plain"), "metrics 200")
    check(re.search(r"^port53_snapshot_serial %d$" % serial0, text, re.M) is not None,
          "metrics snapshot serial")
    check(re.search(r'^port53_responses_total\{worker="0",rcode="NOERROR"\} [1-9]', text,
                    re.M) is not None, "metrics responses by rcode per worker")
    for name in ("port53_snapshot_age_seconds", "port53_snapshot_swaps_total",
                 "port53_snapshot_swap_latency_seconds_count",
                 "port53_snapshot_last_swap_latency_seconds", "port53_queries_total",
                 "port53_drops_total", 'port53_zone_soa_serial{zone="example.com."}'):
        check(name in text, "metrics has " + name)
    sample = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? '
                        r'[-+0-9.eE]+$')
    bad = [ln for ln in text.splitlines()
           if ln and not ln.startswith("# ") and not sample.match(ln)]
    check(not bad, "metrics lines are valid Prometheus text", bad[:3])
    types = re.findall(r"^# TYPE (\S+) ", text, re.M)
    check(len(types) == len(set(types)), "one TYPE line per metric family")


def test_push_and_corrupt(api, port, good, work):
    st, _, doc = api.json("PUT", "/v1/snapshot", read(good[1]))
    check(st == 200 and doc and doc.get("serial") == SERIAL_BASE + 1, "PUT good snapshot", doc)
    check(doc and doc.get("previous_serial") == SERIAL_BASE, "previous serial reported")
    check(current_variant(port) == 1, "pushed snapshot serves")
    st, _, doc = api.json("POST", "/v1/snapshot", read(good[2]))
    check(st == 200 and current_variant(port) == 2, "POST good snapshot serves", doc)

    img = read(good[3])
    hdr_flip = bytearray(img)
    hdr_flip[20] ^= 0x01   # serial field: header hash
    sect_flip = bytearray(img)
    sect_flip[section_byte(img)] ^= 0x40
    wrong_ver = bytearray(img)
    wrong_ver[8:12] = struct.pack("<I", 99)
    cases = [("flipped header byte", bytes(hdr_flip), "header checksum mismatch"),
             ("flipped section byte", bytes(sect_flip), "checksum mismatch"),
             ("truncated", img[:len(img) // 2], "truncated"),
             ("padded", img + b"\0" * 100, "padded"),
             ("wrong format version", bytes(wrong_ver), "format version 99"),
             ("not a snapshot", b"hello world, definitely not a snapshot" * 300, "bad magic"),
             ("tiny", b"P53", "too short")]
    for what, body, reason in cases:
        st, hd, doc = api.json("PUT", "/v1/snapshot", body)
        msg = (doc or {}).get("error", "")
        check(st == 422 and reason in msg, "rejected: " + what, (st, msg))
        check("/proc/" not in msg, "reason does not leak a memfd path: " + what, msg)
        check(current_variant(port) == 2, "old snapshot keeps answering after " + what)
    st, _, doc = api.json("PUT", "/v1/snapshot", b"")
    check(st == 400 and "empty" in (doc or {}).get("error", ""), "empty body 400", doc)
    st, _, doc = api.json("GET", "/v1/status")
    check(doc and doc.get("serial") == SERIAL_BASE + 2 and doc.get("failed_loads") == len(cases)
          and "too short" in (doc.get("last_error") or ""), "status shows failures", doc)
    # An older serial (a replayed file) is refused, and counted as a failure.
    st, _, doc = api.json("PUT", "/v1/snapshot", read(good[1]))
    check(st == 422 and "serial %d is older than the live serial %d" % (
        SERIAL_BASE + 1, SERIAL_BASE + 2) in (doc or {}).get("error", ""),
        "older serial refused", doc)
    check(current_variant(port) == 2, "old snapshot keeps answering after an older push")
    st, _, doc = api.json("PUT", "/v1/snapshot?allow_older=maybe", read(good[1]))
    check(st == 400, "allow_older must be 1 or true", doc)


def test_reload(api, port, good, snap_path):
    st, _, doc = api.json("POST", "/v1/reload", b'{"path": ')
    check(st == 400 and "invalid JSON" in (doc or {}).get("error", ""), "bad JSON 400", doc)
    st, _, doc = api.json("POST", "/v1/reload", b'{"path": "/x", "force": true}')
    check(st == 400 and "unknown field 'force'" in (doc or {}).get("error", ""),
          "unknown field 400", doc)
    st, _, doc = api.json("POST", "/v1/reload", b'[1, 2]')
    check(st == 400 and "object" in (doc or {}).get("error", ""), "non-object 400", doc)
    st, _, doc = api.json("POST", "/v1/reload", b'{"path": 5}')
    check(st == 400 and "string" in (doc or {}).get("error", ""), "wrong type 400", doc)
    st, _, doc = api.json("POST", "/v1/reload", b'{"path": "rel.p53"}')
    check(st == 400 and "absolute" in (doc or {}).get("error", ""), "relative path 400", doc)
    st, _, doc = api.json("POST", "/v1/reload", b'{"path": "/nonexistent/x.p53"}')
    check(st == 403 and "reload directory" in (doc or {}).get("error", ""),
          "missing file outside the reload directory 403", doc)
    # Confined to --reload-dir, whatever the path says on its way there.
    rdir = os.path.dirname(os.path.realpath(good[4]))
    for outside in ("/etc/passwd", rdir + "/../" + os.path.basename(rdir) + "x/y.p53",
                    rdir + "/../../etc/hostname", rdir):
        st, _, doc = api.json("POST", "/v1/reload", json.dumps({"path": outside}).encode())
        check(st == 403, "path outside the reload directory refused: " + outside, (st, doc))
    link = os.path.join(rdir, "escape.p53")
    os.symlink("/etc/hostname", link)
    st, _, doc = api.json("POST", "/v1/reload", json.dumps({"path": link}).encode())
    check(st == 403, "symbolic link out of the reload directory refused", (st, doc))
    os.unlink(link)
    fifo = os.path.join(rdir, "fifo.p53")
    os.mkfifo(fifo)
    t0 = time.monotonic()
    st, _, doc = api.json("POST", "/v1/reload", json.dumps({"path": fifo}).encode())
    check(st == 422 and "not a regular file" in (doc or {}).get("error", "")
          and time.monotonic() - t0 < 5, "a FIFO is refused at once", (st, doc))
    os.unlink(fifo)
    st, _, doc = api.json("POST", "/v1/reload", json.dumps({"path": good[4]}).encode())
    check(st == 200 and current_variant(port) == 4, "reload from a given path", doc)
    # The -s snapshot is older than the live one: refused unless the
    # rollback is asked for (no replay of an old file).
    st, _, doc = api.json("POST", "/v1/reload")
    check(st == 422 and "older than the live serial" in (doc or {}).get("error", ""),
          "reload of an older snapshot refused", doc)
    check(current_variant(port) == 4, "refused rollback changes nothing")
    st, _, doc = api.json("POST", "/v1/reload", b'{"allow_older": 1}')
    check(st == 400 and "boolean" in (doc or {}).get("error", ""), "allow_older type 400", doc)
    st, _, doc = api.json("POST", "/v1/reload", b'{"allow_older": true}')
    check(st == 200 and doc and doc.get("serial") == SERIAL_BASE, "reload the -s path", doc)
    check(current_variant(port) == 0, "reloaded -s snapshot serves")
    st, _, doc = api.json("POST", "/v1/reload", b"x" * 70000,
                          headers={"Content-Type": "application/json"})
    check(st == 413, "oversized JSON body 413", (st, doc))


def test_http_errors(api):
    st, _, doc = api.json("GET", "/v2/nothing")
    check(st == 404 and "no such endpoint" in (doc or {}).get("error", ""), "404 JSON", doc)
    st, hd, doc = api.json("DELETE", "/v1/status")
    check(st == 405 and hd.get("allow") == "GET" and doc and "not allowed" in doc["error"],
          "405 with Allow", (st, hd.get("allow")))
    st, hd, doc = api.json("GET", "/v1/snapshot")
    check(st == 405 and "PUT" in hd.get("allow", ""), "GET /v1/snapshot 405")
    st, data = api.raw_headers("PUT", "/v1/snapshot", {"Content-Length": str(10 ** 9)})
    check(st == 413 and b"over the limit" in data, "Content-Length over the limit 413",
          (st, data[:100]))
    st, data = api.chunked("PUT", "/v1/snapshot", [b"\0" * 65536] * 8)
    check(st == 413 and b"over the limit" in data, "chunked body over the limit 413",
          (st, data[:100]))


def test_tcp_token(tcp_api, port, good):
    # Reading is open (the web console is read-only without the token);
    # every change needs the token.
    st, hd, doc = tcp_api.json("GET", "/v1/status", token="")
    check(st == 200 and doc and "serial" in doc, "GET without a token is allowed", (st, doc))
    st, hd, doc = tcp_api.json("POST", "/v1/reload", b"", token="")
    check(st == 401 and "bearer" in (doc or {}).get("error", "").lower() and
          hd.get("www-authenticate", "").startswith("Bearer"), "reload without token 401",
          (st, hd))
    st, _, doc = tcp_api.json("POST", "/v1/reload", b"", token="wrong-token-0123456789abcdef")
    check(st == 401, "reload with a wrong token 401")
    st, _, doc = tcp_api.json("PUT", "/v1/snapshot", read(good[5]), token="")
    check(st == 401 and current_variant(port) != 5, "push without a token refused")
    st, _, doc = tcp_api.json("PUT", "/v1/snapshot", read(good[5]), token="nope")
    check(st == 401 and current_variant(port) != 5, "push with wrong token refused")
    st, _, doc = tcp_api.json("GET", "/v1/status")
    check(st == 200 and doc and "serial" in doc, "right token 200")
    st, _, doc = tcp_api.json("PUT", "/v1/snapshot", read(good[5]))
    check(st == 200 and current_variant(port) == 5, "push over TCP with token", doc)
    st, _, _ = tcp_api.json("GET", "/metrics", token="")
    check(st == 200, "metrics over TCP without a token (read-only)")
    st, _, _ = tcp_api.json("POST", "/v1/console/zones", b"", token="")
    check(st == 405, "the console's endpoints are read-only")


def test_ctl(ctl, sock, port, good, work, bad):
    def run(*args):
        return common.run([ctl, "-s", sock] + list(args))
    r = run("status")
    check(r.returncode == 0 and re.search(r"^serial\s+\d+", r.stdout, re.M) and
          "example.com." in r.stdout, "port53ctl status table", r.stdout + r.stderr)
    r = run("--json", "status")
    try:
        doc = json.loads(r.stdout)
    except ValueError:
        doc = {}
    check(r.returncode == 0 and "hash" in doc, "port53ctl --json status")
    r = run("stats")
    check(r.returncode == 0 and re.search(r"^queries\s+\d+", r.stdout, re.M) and
          "responses{NOERROR}" in r.stdout, "port53ctl stats table", r.stdout + r.stderr)
    r = run("metrics")
    check(r.returncode == 0 and "port53_snapshot_serial" in r.stdout, "port53ctl metrics")
    r = run("push", good[6])
    check(r.returncode == 0 and "serial %d live" % (SERIAL_BASE + 6) in r.stdout and
          current_variant(port) == 6, "port53ctl push", r.stdout + r.stderr)
    r = run("push", bad)
    check(r.returncode == 1 and "422" in r.stderr and "checksum mismatch" in r.stderr and
          current_variant(port) == 6, "port53ctl push of a corrupt file", r.stderr)
    r = run("reload", good[7])
    check(r.returncode == 0 and current_variant(port) == 7, "port53ctl reload PATH", r.stderr)
    r = run("push", good[6])
    check(r.returncode == 1 and "older than the live serial" in r.stderr and
          current_variant(port) == 7, "port53ctl push of an older snapshot refused", r.stderr)
    r = run("push", "--allow-older", good[6])
    check(r.returncode == 0 and current_variant(port) == 6, "port53ctl push --allow-older",
          r.stdout + r.stderr)
    r = run("reload", good[7])
    check(r.returncode == 0 and current_variant(port) == 7, "port53ctl reload newer", r.stderr)
    r = common.run([ctl, "-s", os.path.join(work, "nope.sock"), "status"])
    check(r.returncode == 3, "port53ctl unreachable exit 3", r.returncode)
    r = run("frobnicate")
    check(r.returncode == 2, "port53ctl usage error exit 2")


def test_signatures(binary, ctl, work, base_signed, key, other_key, pub, good):
    port = common.free_port()
    sock = os.path.join(work, "signed.sock")
    srv = common.Port53(binary, None, work, port=port,
                        extra=["--control-socket", sock, "--require-signature", pub])
    srv.snapshot = base_signed
    srv.log = os.path.join(work, "signed.log")
    unsigned = os.path.join(work, "v0.p53")
    # Starting from an unsigned snapshot must fail outright.
    r = common.run([binary, "serve", "-s", unsigned, "-l", "127.0.0.1:%d" % common.free_port(),
                    "--require-signature", pub], timeout=20)
    check(r.returncode != 0 and "not signed" in r.stderr, "unsigned start-up refused", r.stderr)
    srv.start()
    try:
        api = Api(unix=sock)
        st, _, doc = api.json("GET", "/v1/status")
        keyid = common.run([binary, "info", base_signed]).stdout
        check(st == 200 and doc.get("signed_by") and doc["signed_by"] in keyid and
              doc.get("require_signature") is True, "status shows the signing key", doc)
        st, _, doc = api.json("PUT", "/v1/snapshot", read(good[8]))
        check(st == 422 and "not signed" in (doc or {}).get("error", ""), "unsigned push 422",
              doc)
        other = build(binary, work, 9, key=other_key)
        st, _, doc = api.json("PUT", "/v1/snapshot", read(other))
        check(st == 422 and "untrusted key" in (doc or {}).get("error", ""),
              "untrusted key 422", doc)
        signed = build(binary, work, 10, key=key)
        img = bytearray(read(signed))
        img[-40] ^= 0x01  # inside the Ed25519 signature
        st, _, doc = api.json("PUT", "/v1/snapshot", bytes(img))
        check(st == 422 and "invalid" in (doc or {}).get("error", ""), "bad signature 422", doc)
        img = bytearray(read(signed))
        img[-128] ^= 0x01  # trailer magic: no longer a trailer, so padding
        st, _, doc = api.json("PUT", "/v1/snapshot", bytes(img))
        check(st == 422 and "padded" in (doc or {}).get("error", ""), "mangled trailer 422",
              doc)
        check(current_variant(port) == 0, "old signed snapshot still answers")
        st, _, doc = api.json("PUT", "/v1/snapshot", read(signed))
        check(st == 200 and current_variant(port) == 10, "good signature accepted", doc)
        # port53 sign re-signs an existing file (replacing the trailer).
        resigned = os.path.join(work, "resigned.p53")
        r = common.run([binary, "sign", "-k", key, other, "-o", resigned])
        check(r.returncode == 0, "port53 sign", r.stderr)
        # An older signed file is a replay unless the push says otherwise.
        st, _, doc = api.json("PUT", "/v1/snapshot", read(resigned))
        check(st == 422 and "older than the live serial" in (doc or {}).get("error", ""),
              "replayed older signed snapshot refused", doc)
        st, _, doc = api.json("PUT", "/v1/snapshot?allow_older=true", read(resigned))
        check(st == 200 and current_variant(port) == 9, "re-signed snapshot accepted", doc)
        check(srv.alive(), "signed server alive")
    finally:
        srv.stop()


def swap_under_load(api, port, snaps):
    """Client thread: UDP queries, one outstanding at a time. Main thread:
    pushes every snapshot in turn. Returns the figures."""
    done_pushing = threading.Event()
    pushed_at = []  # (monotonic time the push returned, variant)
    lock = threading.Lock()
    sent_cv = threading.Condition(lock)  # notified at each query the client sends
    res = {"sent": 0, "during": 0, "answered": 0, "wrong": 0, "stale": 0, "unanswered": 0,
           "seen": set(), "examples": []}

    def client():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(2.0)
        s.connect((common.HOST, port))
        qid = 0
        try:
            while res["sent"] < LOAD_MAX_QUERIES and (
                    not done_pushing.is_set() or res["sent"] < LOAD_MIN_QUERIES):
                name, qtype, rcode, want_answer = LOAD_QUERIES[qid % len(LOAD_QUERIES)]
                qid += 1
                q = dns.message.make_query(name, qtype)
                q.id = qid & 0xFFFF
                with lock:
                    floor = pushed_at[-1][1] if pushed_at else None
                s.send(q.to_wire())
                with sent_cv:
                    res["sent"] += 1
                    sent_cv.notify()
                if not done_pushing.is_set():
                    res["during"] += 1
                try:
                    while True:
                        raw = s.recv(65535)
                        if len(raw) >= 2 and struct.unpack("!H", raw[:2])[0] == q.id:
                            break
                except (socket.timeout, ConnectionRefusedError):
                    res["unanswered"] += 1
                    continue
                res["answered"] += 1
                try:
                    r = dns.message.from_wire(raw)
                    ids = variant_of(r)
                    ok = (r.rcode() == rcode and (bool(r.answer) == want_answer) and
                          len(ids) == 1 and next(iter(ids)) in snaps)
                except Exception as e:  # malformed response
                    ok, ids = False, {"malformed: %s" % e}
                if not ok:
                    res["wrong"] += 1
                    if len(res["examples"]) < 3:
                        res["examples"].append((name, qtype, ids))
                    continue
                v = next(iter(ids))
                res["seen"].add(v)
                # A push that had completed before this query was sent has
                # freed every older snapshot: answers must be that or newer.
                if floor is not None and order[v] < order[floor]:
                    res["stale"] += 1
        finally:
            s.close()

    order = {v: n for n, v in enumerate(sorted(snaps))}
    # Start from the first snapshot (a deliberate rollback), then push
    # every later one in order.
    st, _, doc = api.json("PUT", "/v1/snapshot?allow_older=1", read(snaps[min(snaps)]))
    check(st == 200, "rollback before the swap run", doc)
    t = threading.Thread(target=client, daemon=True)
    t0 = time.monotonic()
    t.start()
    lat, errors = [], []
    per_push = -(-OVERLAP_MIN // max(1, len(snaps) - 1))
    for v in sorted(snaps)[1:]:
        st, _, doc = api.json("PUT", "/v1/snapshot", read(snaps[v]))
        if st != 200 or not doc or doc.get("serial") != SERIAL_BASE + v:
            errors.append((v, st, doc))
            continue
        with lock:
            pushed_at.append((time.monotonic(), v))
        lat.append(doc["swap_latency_us"])
        # Paced by the client, not the clock: on a loaded machine the client
        # is slow, and the run means something only if queries overlap the
        # swaps. The deadline keeps a stalled client from stalling the pushes.
        target = res["sent"] + per_push
        with sent_cv:
            sent_cv.wait_for(lambda: res["sent"] >= target or not t.is_alive(), timeout=1.0)
    done_pushing.set()
    t.join(120)
    res["elapsed"] = time.monotonic() - t0
    res["lat"] = lat
    res["push_errors"] = errors
    res["alive"] = not t.is_alive()
    return res


def main():
    binary = common.default_port53()
    ctl = os.environ.get("PORT53CTL") or os.path.join(os.path.dirname(binary), "port53ctl")
    with common.tempdir("p53api-") as work:
        # Variants 0 (the -s file) .. NVARIANTS; signing keys.
        variants = {i: build(binary, work, i) for i in range(NVARIANTS + 1)}
        key, pub = os.path.join(work, "op.key"), os.path.join(work, "op.pub")
        r1 = common.run([binary, "keygen", os.path.join(work, "op")])
        r2 = common.run([binary, "keygen", os.path.join(work, "other")])
        check(r1.returncode == 0 and r2.returncode == 0 and
              os.stat(key).st_mode & 0o777 == 0o600, "keygen writes a 0600 private key",
              r1.stderr + r2.stderr)
        r = common.run([binary, "keygen", os.path.join(work, "op")])
        check(r.returncode != 0 and "File exists" in r.stderr, "keygen never overwrites")
        bad = os.path.join(work, "bad.p53")
        img = bytearray(read(variants[3]))
        img[section_byte(img)] ^= 0x40
        with open(bad, "wb") as f:
            f.write(img)

        token_file = os.path.join(work, "token")
        with open(token_file, "w") as f:
            f.write(TOKEN + "\n")
        os.chmod(token_file, 0o600)
        sock = os.path.join(work, "control.sock")
        cport = common.free_port()
        srv = common.Port53(binary, None, work,
                            extra=["--control-socket", sock,
                                   "--control-listen", "127.0.0.1:%d" % cport,
                                   "--control-token-file", token_file,
                                   "--push-max-bytes", str(PUSH_LIMIT),
                                   "--reload-dir", work])
        srv.snapshot = variants[0]
        srv.start()
        try:
            check(os.stat(sock).st_mode & 0o777 == 0o600, "control socket mode 0600")
            api = Api(unix=sock)
            tcp_api = Api(tcp=(common.HOST, cport), token=TOKEN)
            test_status_stats_metrics(api, srv.port, SERIAL_BASE)
            test_push_and_corrupt(api, srv.port, variants, work)
            test_reload(api, srv.port, variants, variants[0])
            test_http_errors(api)
            test_tcp_token(tcp_api, srv.port, variants)
            test_ctl(ctl, sock, srv.port, variants, work, bad)

            # Swap under load: start from variant 0, then push 1..N.
            api.json("PUT", "/v1/snapshot", read(variants[0]))
            res = swap_under_load(api, srv.port, variants)
            print("swap under load: sent %d (%d while pushing), answered %d, wrong %d, "
                  "stale %d, unanswered %d; %d snapshots pushed in %.2f s, %d variants seen "
                  "in answers" %
                  (res["sent"], res["during"], res["answered"], res["wrong"], res["stale"],
                   res["unanswered"], len(res["lat"]), res["elapsed"], len(res["seen"])))
            if res["lat"]:
                lat = sorted(res["lat"])
                print("swap latency (publish -> old freed) under load: min %.1f us, "
                      "median %.1f us, p90 %.1f us, max %.1f us" %
                      (lat[0], statistics.median(lat), lat[int(len(lat) * 0.9)], lat[-1]))
            check(res["alive"], "load thread finished")
            check(not res["push_errors"], "every push accepted", res["push_errors"][:3])
            check(len(res["lat"]) >= 50, ">= 50 snapshots pushed under load")
            check(res["sent"] >= LOAD_MIN_QUERIES, "load ran", res["sent"])
            check(res["wrong"] == 0, "no wrong or mixed answers", res["examples"])
            check(res["stale"] == 0, "no answer from a snapshot already replaced")
            check(res["unanswered"] <= res["sent"] // 1000, "no lost queries",
                  res["unanswered"])
            check(len(res["seen"]) >= 10, "answers came from many snapshots",
                  len(res["seen"]))
            check(res["during"] >= OVERLAP_MIN, "load overlapped the pushes", res["during"])
            check(current_variant(srv.port) == NVARIANTS, "last pushed snapshot serves")
            st, _, doc = api.json("GET", "/v1/status")
            check(doc and doc.get("swaps", 0) >= 50, "swap count", doc and doc.get("swaps"))
            check(srv.alive(), "server alive after everything")
        finally:
            rc = srv.stop()
            check(rc == 0, "clean exit", "%s\n%s" % (rc, srv.read_log()))
            check(not os.path.exists(sock), "control socket removed on exit")

        base_signed = build(binary, work, 0, key=key)
        test_signatures(binary, ctl, work, base_signed, key, os.path.join(work, "other.key"),
                        pub, variants)
    return check.finish()


if __name__ == "__main__":
    sys.exit(main())
