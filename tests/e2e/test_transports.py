#!/usr/bin/python3
"""DNS over TCP, TLS and QUIC answered by port53d itself, from the workers'
snapshot, in the TAP mode with the exception path and in AF_XDP mode
(docs/transports.md).

TAP part (the layout of test_tap.py):
    netns H: port53d; its service port is a net_tap whose kernel side has
             the client addresses 192.0.2.10, 2001:db8::10
    netns K: port53d's exception tap, moved here, with the service
             addresses 192.0.2.53, 2001:db8::53; port53d opens its TCP,
             TLS and QUIC listeners here (--transport-netns K) before the
             interface arrives (IP_FREEBIND)
AF_XDP part (the layout of test_afxdp.py):
    netns S: veth S with the service addresses and port53's XDP program;
             port53d on net_af_xdp; its TCP, TLS and QUIC listeners in S
    netns C: veth C, the client

Checks, in both modes: UDP answered by the DPDK worker; TCP (dig +tcp,
kdig +tcp, dnspython), TLS (kdig +tls, kdig +tls-ca strict, Python ssl) and
QUIC answer from the same snapshot (whoami.example.com TXT says which
snapshot answered), v4 and v6; a truncated UDP answer retried over TCP by
dig is whole; 20 queries pipelined on one TCP connection are all answered
(matched by ID, any order); RFC 7828 keepalive over TCP and TLS, never over
UDP, a query sending a TIMEOUT FORMERR over TCP and TLS and the option
ignored over UDP;
TLS: ALPN "dot" selected, no ALPN accepted, ALPN "h2" only refused with
no_application_protocol; DoQ: several streams on one connection, a large
answer whole, a non-zero Message ID is a DOQ_PROTOCOL_ERROR (RFC 9250
4.2.1), so does a query with the keepalive option (5.5.2), ALPN "dot"
refused (0x178).
DoQ lifecycle (RFC 9000): Retry with --quic-retry on the TAP, none for a
lone client on AF_XDP; on the TAP (--quic-idle-ms 2000) a connection idle
0.5 s answers, one idle 3.5 s is gone (closed_idle counted), a client
close is counted closed_by_peer, and after a protocol error the client's
last packet replayed through a UDP relay gets the same CONNECTION_CLOSE.
TAP part also: the certificate replaced by an expired one and SIGHUP: strict
clients (kdig +tls-ca, Python with the CA) refuse, opportunistic kdig +tls
still answers (RFC 8310), then the valid one again, without a restart; a
push under mixed UDP/TCP/TLS/QUIC load: no answer to a query sent after a
push was acknowledged comes from an older snapshot (wrong answers: 0).
AF_XDP part also: the differential run, every query over UDP and over TCP,
byte-identical apart from truncation.
The DoQ client is tests/e2e/doqclient (quic-go), independent of the
server's ngtcp2; kdig in Debian 12 has no QUIC (docs/transports.md).

Needs root and a build with port53d, port53, p53-xdp, p53_xdp.bpf.o and
doqclient:
    sudo /usr/bin/python3 tests/e2e/test_transports.py BUILD_DIR
"""

import os
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import base64
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dns.flags  # noqa: E402
import dns.edns  # noqa: E402
import dns.exception  # noqa: E402
import dns.message  # noqa: E402
import dns.query  # noqa: E402
import dns.rdatatype  # noqa: E402
import dns.zone  # noqa: E402
import dns.rcode  # noqa: E402
import dpnet  # noqa: E402
import xport  # noqa: E402
from dpnet import run  # noqa: E402

SVC4, CLI4 = "192.0.2.53", "192.0.2.10"
SVC6, CLI6 = "2001:db8::53", "2001:db8::10"
PID = os.getpid()
BIG_TXT = 40  # TXT records at big.example.com: ~2.6 kB, over any UDP limit


def snapshot(bdir, work, gen):
    """example.com plus whoami TXT "gen<N>" and a large RRset."""
    zone = os.path.join(work, "gen%d.zone" % gen)
    with open(dpnet.ZONE) as src, open(zone, "w") as dst:
        dst.write(src.read())
        dst.write('\nwhoami.example.com. 60 IN TXT "gen%d"\n' % gen)
        for i in range(BIG_TXT):
            dst.write('big.example.com. 60 IN TXT "record %02d %s"\n' % (i, "x" * 50))
    out = os.path.join(work, "gen%d.p53" % gen)
    run([os.path.join(bdir, "tools", "port53"), "compile", "-o", out,
         "example.com=%s" % zone], timeout=60)
    return out


def whoami_txt(m):
    if not isinstance(m, dns.message.Message):
        return repr(m)
    t = xport.rrset_texts(m, "TXT")
    return t.pop().strip('"') if len(t) == 1 else repr(t)


def check_doq(res, mode, ns, doqclient, certs, gen):
    """DoQ against port53d at the service addresses, from NS."""
    for svc in (SVC4, SVC6):
        qs = [xport.query_wire("whoami.example.com.", "TXT"),
              xport.query_wire("www.example.com.", "A"),
              xport.query_wire("big.example.com.", "TXT")]
        out, err = xport.doq(doqclient, ns, svc, qs)
        if not res.check("%s DoQ %s: connection and 3 streams" % (mode, svc),
                         out is not None and len(out) == 3, err or repr(out)):
            continue
        res.check("%s DoQ %s: answered from the workers' snapshot (gen%d)" % (mode, svc, gen),
                  whoami_txt(out[0]) == "gen%d" % gen, whoami_txt(out[0]))
        m = out[1]
        ok = (isinstance(m, dns.message.Message) and m.id == 0 and m.rcode() == 0
              and xport.rrset_texts(m, "A") == {"192.0.2.10"} and m.flags & dns.flags.AA)
        res.check("%s DoQ %s: www.example.com A, Message ID 0" % (mode, svc), ok, repr(m))
        m = out[2]
        ok = (isinstance(m, dns.message.Message) and not m.flags & dns.flags.TC
              and len(xport.rrset_texts(m, "TXT")) == BIG_TXT)
        res.check("%s DoQ %s: %d-record answer whole, no TC" % (mode, svc, BIG_TXT), ok,
                  repr(m)[:300])
    out, err = xport.doq(doqclient, ns, SVC4,
                         [xport.query_wire("www.example.com.", "A", qid=7)])
    res.check("%s DoQ: Message ID 7 closes with DOQ_PROTOCOL_ERROR (0x2)" % mode,
              out is not None and out[0].startswith("ERROR") and "0x2" in out[0],
              err or repr(out))
    q = xport.query_wire("www.example.com.", "A")
    q.use_edns(0, options=[dns.edns.GenericOption(11, b"")])
    out, err = xport.doq(doqclient, ns, SVC4, [q])
    res.check("%s DoQ: a query with edns-tcp-keepalive closes with DOQ_PROTOCOL_ERROR "
              "(RFC 9250 5.5.2)" % mode,
              out is not None and out[0].startswith("ERROR") and "0x2" in out[0],
              err or repr(out))
    out, err = xport.doq(doqclient, ns, SVC4, [xport.query_wire("www.example.com.", "A")],
                         alpn="dot")
    res.check("%s DoQ: ALPN 'dot' refused with no_application_protocol (0x178)" % mode,
              out is None and "0x178" in (err or ""), err or repr(out))
    out, err = xport.doq(doqclient, ns, SVC6, [xport.query_wire("www.example.com.", "A")],
                         ca=certs["ca.pem"])
    res.check("%s DoQ: certificate verified against the test CA" % mode,
              out is not None and isinstance(out[0], dns.message.Message), err or repr(out))


def quic_counter(port53ctl, ctl_sock, event):
    """port53d's quic{event} counter from /metrics, or None."""
    r = subprocess.run([port53ctl, "-s", ctl_sock, "metrics"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=10)
    m = re.search(r'^port53_quic_total\{worker="\d+",event="%s"\} (\d+)$' % event, r.stdout,
                  re.M)
    return int(m.group(1)) if m else None


def check_doq_retry(res, mode, ns, doqclient, expect):
    """RFC 9000 8.1.2: with --quic-retry every new connection is sent a
    Retry first (quic-go's tracer sees it) and is answered after it;
    without, a lone client is not (Retry only with half the slots taken)."""
    notes = []
    out, err = xport.doq(doqclient, ns, SVC4, [xport.query_wire("www.example.com.", "A")],
                         notes=notes)
    ok = (out is not None and isinstance(out[0], dns.message.Message)
          and xport.rrset_texts(out[0], "A") == {"192.0.2.10"})
    res.check("%s DoQ: %s, then answered" % (mode, "Retry received (address validation)"
                                             if expect else "no Retry for a lone client"),
              ok and ("retry" in notes) == expect, "%s %s %s" % (notes, err, out))


def check_doq_lifecycle(res, ns, doqclient, ctl_sock, port53ctl):
    """With --quic-idle-ms 2000: a connection idle 0.5 s still answers, one
    idle 3.5 s has been dropped by the server (RFC 9000 10.1: silently, so
    the client's query times out) and counted closed_idle. A protocol error
    puts the connection in its closing period: the client's last packet
    sent again (through a relay) gets the same CONNECTION_CLOSE back
    (10.2.1). A client that closes leaves a draining connection, counted
    closed_by_peer."""
    q = xport.query_wire("www.example.com.", "A")
    out, err = xport.doq(doqclient, ns, SVC4, [q], wait=0.5, timeout=10)
    res.check("tap: DoQ connection idle 0.5 s (of 2 s) still answers",
              out is not None and len(out) == 2 and isinstance(out[1], dns.message.Message),
              err or repr(out))
    idle0 = quic_counter(port53ctl, ctl_sock, "closed_idle") or 0
    out, err = xport.doq(doqclient, ns, SVC4, [q], wait=3.5, timeout=15)
    res.check("tap: DoQ connection idle 3.5 s: dropped by the server, the query after it "
              "gets no answer",
              out is not None and len(out) == 2 and isinstance(out[0], dns.message.Message)
              and isinstance(out[1], str) and out[1].startswith("ERROR"), err or repr(out))
    res.check("tap: quic closed_idle counted",
              dpnet.wait_for(lambda: (quic_counter(port53ctl, ctl_sock, "closed_idle") or 0)
                             > idle0, 5))
    peer0 = quic_counter(port53ctl, ctl_sock, "closed_by_peer") or 0
    out, err = xport.doq(doqclient, ns, SVC4, [q])
    res.check("tap: DoQ client closing after its answer: counted closed_by_peer (draining)",
              out is not None and dpnet.wait_for(
                  lambda: (quic_counter(port53ctl, ctl_sock, "closed_by_peer") or 0) > peer0,
                  5), err or repr(out))
    relay = xport.UdpRelay(ns, SVC4)
    try:
        out, err = xport.doq(doqclient, ns, "127.0.0.1",
                             [xport.query_wire("www.example.com.", "A", qid=7)],
                             port=relay.port)
        relay.pause()
        closed = out is not None and out[0].startswith("ERROR") and "0x2" in out[0]
        again = relay.replay() if closed and relay.last_up else None
        res.check("tap: DoQ closing period: the client's last packet sent again gets the "
                  "same CONNECTION_CLOSE (RFC 9000 10.2.1)",
                  closed and again is not None and again == relay.last_down,
                  "%s %s replay %s" % (err, out, again and again.hex()[:60]))
    finally:
        relay.close()


def check_tcp(res, mode, ns, gen):
    for svc in (SVC4, SVC6):
        r = run(["dig", "+tcp", "+short", "+time=3", "+tries=1", "@" + svc,
                 "whoami.example.com", "TXT"], ns=ns, check=False, timeout=20)
        res.check("%s dig +tcp %s: port53d answers from the workers' snapshot (gen%d)"
                  % (mode, svc, gen), r.stdout.strip() == '"gen%d"' % gen, r.stdout + r.stderr)
        got = dpnet.kdig(ns, svc, "www.example.com", "AAAA", tcp=True)
        res.check("%s kdig +tcp %s www.example.com AAAA" % (mode, svc),
                  got == {"2001:db8::10"}, repr(got))
    m = dpnet.dns_query(ns, SVC6, "ftp.example.com.", "A", tcp=True, timeout=3)
    dpnet.check_answer(res, "%s dnspython TCP v6 ftp.example.com A" % mode, m, "A",
                       {"192.0.2.10"})
    # Truncation: UDP says TC, dig retries over TCP and gets every record.
    m = dpnet.dns_query(ns, SVC4, "big.example.com.", "TXT", timeout=2)
    res.check("%s UDP big.example.com TXT is truncated (TC)" % mode,
              m is not None and bool(m.flags & dns.flags.TC), repr(m)[:200])
    r = run(["dig", "+time=3", "+tries=1", "@" + SVC4, "big.example.com", "TXT"], ns=ns,
            check=False, timeout=20)
    lines = [x for x in r.stdout.splitlines() if x.startswith("big.example.com.")]
    res.check("%s dig: truncated UDP answer retried over TCP has all %d records" % (mode, BIG_TXT),
              "Truncated, retrying in TCP mode" in r.stdout and len(lines) == BIG_TXT,
              r.stdout[-600:])
    # RFC 7766 6.2.1.1: pipelined queries on one connection, answers by ID.
    names = ["www", "mail", "mail2", "ftp", "blog", "api", "ns1", "ns2", "nope", "whoami"]
    qs = []
    for i in range(20):
        q = dns.message.make_query("%s.example.com." % names[i % 10], "A" if i < 10 else "TXT")
        q.id = 1000 + i
        qs.append(q)
    got = xport.tcp_pipelined(ns, SVC4, qs)
    ok = len(got) == 20 and all(got[q.id].question == q.question for q in qs)
    res.check("%s 20 pipelined TCP queries on one connection, all answered" % mode, ok,
              "got %d answers" % len(got))
    ok = got.get(1000) is not None and xport.rrset_texts(got[1000], "A") == {"192.0.2.10"} \
        and got.get(1019) is not None and whoami_txt(got[1019]) == "gen%d" % gen
    res.check("%s pipelined answers match their queries" % mode, ok)
    got = xport.tcp_pipelined(ns, SVC4, qs, piece=5)
    ok = len(got) == 20 and all(got[q.id].question == q.question for q in qs)
    res.check("%s 20 pipelined TCP queries written 5 bytes at a time (messages across "
              "segments), all answered" % mode, ok, "got %d answers" % len(got))
    # RFC 7828: keepalive over TCP (the idle timeout, 10 s), never over UDP.
    r = run(["dig", "+tcp", "+keepalive", "+time=3", "+tries=1", "@" + SVC4, "example.com",
             "SOA"], ns=ns, check=False, timeout=20)
    res.check("%s TCP answer carries edns-tcp-keepalive 10.0 s (dig +keepalive)" % mode,
              "TCP KEEPALIVE: 10.0 secs" in r.stdout, r.stdout[-400:])
    q = dns.message.make_query("example.com.", "SOA", use_edns=0,
                               options=[dns.edns.GenericOption(11, b"")])
    with dpnet.InNetns(ns):
        try:
            m = dns.query.udp(q, SVC4, timeout=2)
        except Exception as e:  # reported below
            m = e
    res.check("%s UDP answer has no keepalive option" % mode,
              isinstance(m, dns.message.Message) and all(o.otype != 11 for o in m.options),
              repr(m)[:200])
    # RFC 7828 3.2.1: only servers send a TIMEOUT; a query with one is
    # FORMERR over TCP (with an OPT), and over UDP the option is ignored.
    q = dns.message.make_query("www.example.com.", "A", use_edns=0,
                               options=[dns.edns.GenericOption(11, b"\x00\x32")])
    m = ask_tcp(ns, q, SVC4)
    res.check("%s TCP query with a keepalive TIMEOUT: FORMERR with an OPT" % mode,
              isinstance(m, dns.message.Message) and m.rcode() == dns.rcode.FORMERR
              and m.edns == 0 and not m.answer, repr(m)[:200])
    with dpnet.InNetns(ns):
        try:
            m = dns.query.udp(q, SVC4, timeout=2)
        except Exception as e:  # reported below
            m = e
    res.check("%s the same over UDP: option ignored, answered" % mode,
              isinstance(m, dns.message.Message) and m.rcode() == dns.rcode.NOERROR
              and xport.rrset_texts(m, "A") == {"192.0.2.10"}, repr(m)[:200])


def ask_tcp(ns, q, svc):
    with dpnet.InNetns(ns):
        try:
            return dns.query.tcp(q, svc, timeout=3)
        except Exception as e:  # reported by the caller
            return e


def check_tls(res, mode, ns, certs, gen):
    for svc in (SVC4, SVC6):
        got, out = xport.kdig_tls(ns, svc, "whoami.example.com", "TXT")
        res.check("%s kdig +tls %s: answered from the workers' snapshot (gen%d)"
                  % (mode, svc, gen), got == {'"gen%d"' % gen}, out[-300:])
        got, out = xport.kdig_tls(ns, svc, "www.example.com", "A", ca=certs["ca.pem"])
        res.check("%s kdig +tls-ca %s (strict, test CA)" % (mode, svc), got == {"192.0.2.10"},
                  out[-300:])
    try:
        s = xport.tls_connect(ns, SVC4, alpn=["dot"], cafile=certs["ca.pem"])
        alpn, ver = s.selected_alpn_protocol(), s.version()
        s.close()
    except (ssl.SSLError, OSError) as e:
        alpn, ver = repr(e), None
    res.check("%s TLS: ALPN dot selected, TLS 1.3" % mode, alpn == "dot" and ver == "TLSv1.3",
              "%s %s" % (alpn, ver))
    m = xport.tls_query(ns, SVC6, "www.example.com.", "AAAA", alpn=None)
    res.check("%s TLS without ALPN is served (RFC 7858 predates ALPN)" % mode,
              isinstance(m, dns.message.Message)
              and xport.rrset_texts(m, "AAAA") == {"2001:db8::10"}, repr(m)[:200])
    m = xport.tls_query(ns, SVC4, "www.example.com.", "A", keepalive=b"\x00\x32")
    res.check("%s TLS query with a keepalive TIMEOUT: FORMERR (RFC 7828 3.2.1)" % mode,
              isinstance(m, dns.message.Message) and m.rcode() == dns.rcode.FORMERR
              and m.edns == 0, repr(m)[:200])
    m = xport.tls_query(ns, SVC4, "www.example.com.", "A", keepalive=b"")
    ka = [o for o in m.options if o.otype == 11] if isinstance(m, dns.message.Message) else []
    res.check("%s TLS answer carries edns-tcp-keepalive 10 s when asked" % mode,
              len(ka) == 1 and ka[0].to_wire() == b"\x00\x64", repr(m)[:200])
    m = xport.tls_query(ns, SVC4, "www.example.com.", "A", alpn=("h2",))
    res.check("%s TLS with ALPN h2 only: refused with no_application_protocol" % mode,
              isinstance(m, ssl.SSLError) and "no application protocol" in str(m).lower(),
              repr(m))


def check_doh(res, mode, ns, certs, work, gen):
    """DNS over HTTPS (RFC 8484) on TCP/443: kdig +https (POST) and
    +https-get, strict with the test CA too, and curl --http2 for the
    headers and an HTTP error; answers parsed with dnspython."""
    for svc in (SVC4, SVC6):
        for mode_arg in ("+https", "+https-get"):
            r = run(["kdig", "+short", "+timeout=3", "+retry=0", mode_arg, "@" + svc,
                     "whoami.example.com", "TXT"], ns=ns, check=False, timeout=20)
            res.check("%s kdig %s %s: answered from the workers' snapshot (gen%d)"
                      % (mode, mode_arg, svc, gen),
                      r.stdout.split() == ['"gen%d"' % gen], (r.stdout + r.stderr)[-300:])
        r = run(["kdig", "+short", "+timeout=3", "+retry=0", "+https",
                 "+tls-ca=%s" % certs["ca.pem"], "+tls-hostname=dns.example.test", "@" + svc,
                 "www.example.com", "A"], ns=ns, check=False, timeout=20)
        res.check("%s kdig +https +tls-ca %s (strict, test CA)" % (mode, svc),
                  r.stdout.split() == ["192.0.2.10"], (r.stdout + r.stderr)[-300:])
    q = dns.message.make_query("www.example.com.", "AAAA")
    q.id = 0
    url = "https://%s/dns-query?dns=%s" % (
        SVC4, base64.urlsafe_b64encode(q.to_wire()).decode().rstrip("="))
    body = os.path.join(work, "doh-%s.bin" % mode)
    r = run(["curl", "-sk", "--http2", "--max-time", "5", "-D", "-", "-o", body, url], ns=ns,
            check=False, timeout=20)
    try:
        with open(body, "rb") as f:
            m = dns.message.from_wire(f.read())
    except Exception as e:  # reported below
        m = e
    head = r.stdout.lower()
    res.check("%s curl --http2 GET: 200, application/dns-message, max-age=3600" % mode,
              head.startswith("http/2 200") and "content-type: application/dns-message" in head
              and "cache-control: max-age=3600" in head and isinstance(m, dns.message.Message)
              and m.id == 0 and xport.rrset_texts(m, "AAAA") == {"2001:db8::10"},
              (head[:300], repr(m)[:200]))
    r = run(["curl", "-sk", "--http2", "--max-time", "5", "-o", "/dev/null", "-w",
             "%{http_code}", "-H", "content-type: text/plain", "--data-binary", "x" * 20,
             "https://[%s]/dns-query" % SVC6], ns=ns, check=False, timeout=20)
    res.check("%s curl POST as text/plain: 415" % mode, r.stdout == "415", r.stdout + r.stderr)


def check_doh_metrics(res, ctl_sock, port53ctl):
    """The DoH counters of port53d in /metrics (after check_doh: 7 answers
    with status 200 and one 415)."""
    r = subprocess.run([port53ctl, "-s", ctl_sock, "metrics"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=10)

    def value(pattern):
        m = re.search(pattern, r.stdout, re.M)
        return int(m.group(1)) if m else None
    q = value(r'^port53_transport_queries_total\{worker="\d+",transport="doh"\} (\d+)$')
    ok = value(r'^port53_doh_total\{worker="\d+",event="status_200"\} (\d+)$')
    bad = value(r'^port53_doh_total\{worker="\d+",event="status_415"\} (\d+)$')
    res.check("tap: port53d's /metrics: transport_queries{doh}, doh{status_200, status_415}",
              q is not None and q >= 7 and ok is not None and ok >= 7 and bad == 1,
              (q, ok, bad))


def check_udp(res, mode, ns, gen):
    for svc in (SVC4, SVC6):
        m = dpnet.dns_query(ns, svc, "whoami.example.com.", "TXT", timeout=2, tries=5)
        res.check("%s UDP %s answered by the worker (gen%d)" % (mode, svc, gen),
                  m is not None and whoami_txt(m) == "gen%d" % gen,
                  whoami_txt(m) if m else "no answer")


def check_reload_expired(res, d, ns, certs, live):
    """Serve an expired certificate (SIGHUP), then the valid one again."""
    def swap(name, logline):
        shutil.copy(certs[name + ".pem"], live["cert"])
        shutil.copy(certs[name + ".key"], live["key"])
        before = d.tail(1000000).count(logline)
        d.signal(signal.SIGHUP)
        return dpnet.wait_for(lambda: d.tail(1000000).count(logline) > before, 10)
    ok = swap("old", "has expired")
    res.check("tap: SIGHUP loads the expired certificate, with a warning", ok, d.tail())
    got, out = xport.kdig_tls(ns, SVC4, "www.example.com", "A", ca=certs["ca.pem"])
    res.check("tap: strict kdig +tls-ca refuses the expired certificate (RFC 8310)",
              got is None, out[-300:])
    m = xport.tls_query(ns, SVC4, "www.example.com.", "A", cafile=certs["ca.pem"])
    res.check("tap: Python TLS with the CA refuses it (certificate has expired)",
              isinstance(m, ssl.SSLError) and "expired" in str(m), repr(m))
    got, out = xport.kdig_tls(ns, SVC4, "www.example.com", "A")
    res.check("tap: opportunistic kdig +tls still gets its answer (RFC 8310 5)",
              got == {"192.0.2.10"}, out[-300:])
    ok = swap("srv", "TLS certificate reloaded\n")
    got, out = xport.kdig_tls(ns, SVC4, "www.example.com", "A", ca=certs["ca.pem"])
    res.check("tap: valid certificate back without a restart; strict kdig answers",
              ok and got == {"192.0.2.10"}, out[-300:])


def load_thread(kind, ns, svc, stop, log, doqclient):
    """Queries whoami.example.com TXT over one transport until stop is set;
    appends (time sent, generation answered or None) to log."""
    qw = xport.query_wire("whoami.example.com.", "TXT").to_wire()
    conn = None
    for _ in range(100000):  # bounded; stop ends it much sooner
        if stop.is_set():
            break
        t = time.monotonic()
        try:
            if kind == "quic":
                qs = [xport.query_wire("whoami.example.com.", "TXT") for _ in range(8)]
                out, _ = xport.doq(doqclient, ns, svc, qs, timeout=3)
                for m in out or []:
                    log.append((t, gen_of(m)))
                continue
            if kind == "udp":
                if conn is None:
                    with dpnet.InNetns(ns):
                        conn = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    conn.settimeout(0.5)
                    conn.connect((svc, 53))
                conn.send(qw)
                log.append((t, gen_of(dns.message.from_wire(conn.recv(4096)))))
                continue
            if conn is None:
                if kind == "tcp":
                    with dpnet.InNetns(ns):
                        conn = socket.create_connection((svc, 53), timeout=2)
                else:
                    conn = xport.tls_connect(ns, svc, alpn=["dot"])
            conn.sendall(struct.pack("!H", len(qw)) + qw)
            buf = b""
            while len(buf) < 2 or len(buf) < 2 + struct.unpack("!H", buf[:2])[0]:
                chunk = conn.recv(4096)
                if not chunk:
                    raise OSError("closed")
                buf += chunk
            log.append((t, gen_of(dns.message.from_wire(buf[2:]))))
        except (OSError, ssl.SSLError, dns.exception.DNSException):
            if conn is not None:
                conn.close()
            conn = None
    if conn is not None:
        conn.close()


def gen_of(m):
    w = whoami_txt(m)
    return int(w[3:]) if w.startswith("gen") and w[3:].isdigit() else None


def check_push_under_load(res, ns, bdir, work, ctl_sock, doqclient, port53ctl):
    """Pushes generations 10..14 while UDP, TCP, TLS and QUIC clients query;
    an answer to a query sent after a push was acknowledged must come from
    that generation or a newer one."""
    snaps = {g: snapshot(bdir, work, g) for g in range(10, 15)}
    stop = threading.Event()
    logs = {k: [] for k in ("udp", "tcp", "tls", "quic")}
    threads = [threading.Thread(target=load_thread, args=(k, ns, SVC4, stop, logs[k], doqclient))
               for k in logs]
    for t in threads:
        t.start()
    acks = []
    try:
        # Every transport answers before the first push, so each one sees
        # the swaps happen under it.
        dpnet.wait_for(lambda: all(logs.values()), 10)
        for g in range(10, 15):
            r = subprocess.run([port53ctl, "-s", ctl_sock, "push", snaps[g]],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               timeout=60)
            acks.append((g, time.monotonic(), r.returncode, r.stdout))
            time.sleep(0.7)  # paces the pushes so each generation serves some load
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    res.check("tap: 5 pushes acknowledged under load", all(a[2] == 0 for a in acks),
              repr([(a[0], a[2], a[3][-200:]) for a in acks if a[2] != 0]))

    def required(t):
        need = 1
        for g, ta, rc, _ in acks:
            if rc == 0 and ta < t:
                need = g
        return need
    last_ack = acks[-1][1] if acks else 0
    for kind, log in logs.items():
        answered = [(t, g) for t, g in log if g is not None]
        wrong = [(round(t - last_ack, 3), g, required(t)) for t, g in answered
                 if g < required(t)]
        after = sum(1 for t, g in answered if t > last_ack)
        res.check("tap: push under load, %s: %d answers, %d after the last push, wrong 0"
                  % (kind, len(answered), after),
                  len(answered) > 0 and after > 0 and not wrong,
                  "wrong (t after last ack, got, needed): %s" % wrong[:10])


def part_tap(res, cleanup, work, bdir, certs, doqclient):
    ns_h, ns_k = "p53x-h-%d" % PID, "p53x-k-%d" % PID
    tap = "pxx%d" % (PID % 100000)
    exc_prefix = "pxy%d_" % (PID % 10000)
    exc = exc_prefix + "0"
    dpnet.netns_add(cleanup, ns_h)
    dpnet.netns_add(cleanup, ns_k)
    snap = snapshot(bdir, work, 1)
    # Files the test replaces under the running server (reload test).
    live = {"cert": os.path.join(work, "live.pem"), "key": os.path.join(work, "live.key")}
    shutil.copy(certs["srv.pem"], live["cert"])
    shutil.copy(certs["srv.key"], live["key"])
    ctl_sock = os.path.join(work, "ctl.sock")
    eal = os.environ.get("P53_EAL", "--no-huge -m 512 --no-pci -l 0").split()
    prefix = "p53x%d" % PID
    cmd = [os.path.join(bdir, "dp", "port53d")] + eal + [
        "--file-prefix", prefix, "--vdev", "net_tap0,iface=%s" % tap,
        "--", "--snapshot", snap, "--addr", SVC4, "--addr", SVC6,
        "--exception", "tap:" + exc_prefix, "--transport-netns", ns_k,
        "--tcp", "--tls", "--quic", "--doh", "--tls-cert", live["cert"], "--tls-key", live["key"],
        "--quic-retry", "--quic-idle-ms", "2000", "--control-socket", ctl_sock,
    ]
    cleanup.push(dpnet.rm_eal_runtime, prefix)
    d = dpnet.Proc(cleanup, cmd, os.path.join(work, "port53d-tap.log"), ns=ns_h)

    def links():
        return all(run(["ip", "link", "show", x], ns=ns_h, check=False).returncode == 0
                   for x in (tap, exc))
    up = dpnet.wait_for(lambda: not d.alive() or links(), 30)
    if not res.check("tap: port53d up with the service and exception taps", d.alive() and up,
                     d.tail()):
        return
    dpnet.addr_add(ns_h, tap, CLI4 + "/24")
    dpnet.addr_add(ns_h, tap, CLI6 + "/64")
    run(["ip", "link", "set", tap, "up"], ns=ns_h)
    run(["ip", "link", "set", exc, "netns", ns_k], ns=ns_h)
    dpnet.addr_add(ns_k, exc, SVC4 + "/24")
    dpnet.addr_add(ns_k, exc, SVC6 + "/64")
    run(["ip", "link", "set", exc, "up"], ns=ns_k)
    listening = dpnet.wait_for(
        lambda: ":853" in run(["ss", "-lunH"], ns=ns_k, check=False).stdout
        and run(["ss", "-ltnH"], ns=ns_k, check=False).stdout.count("LISTEN") == 6, 5)
    res.check("tap: TCP/53, TCP/853, TCP/443, UDP/853 listeners open in the exception namespace",
              listening, run(["ss", "-ltunp"], ns=ns_k, check=False).stdout)
    check_udp(res, "tap", ns_h, 1)
    check_tcp(res, "tap", ns_h, 1)
    check_tls(res, "tap", ns_h, certs, 1)
    check_doh(res, "tap", ns_h, certs, work, 1)
    check_doh_metrics(res, ctl_sock, os.path.join(bdir, "tools", "port53ctl"))
    check_doq(res, "tap", ns_h, doqclient, certs, 1)
    check_doq_retry(res, "tap", ns_h, doqclient, True)
    check_doq_lifecycle(res, ns_h, doqclient, ctl_sock, os.path.join(bdir, "tools", "port53ctl"))
    check_reload_expired(res, d, ns_h, certs, live)
    check_push_under_load(res, ns_h, bdir, work, ctl_sock, doqclient,
                          os.path.join(bdir, "tools", "port53ctl"))
    m = dpnet.dns_query(ns_h, SVC4, "whoami.example.com.", "TXT", timeout=2)
    res.check("tap: UDP still answered after the load", m is not None, d.tail())
    rc = d.stop()
    res.check("tap: port53d exits 0 on SIGTERM", rc == 0, d.tail())
    print("--- port53d log, TAP part (tail) ---\n%s\n---" % d.tail(4000))


def part_afxdp(res, cleanup, work, bdir, certs, doqclient):
    try:
        part_afxdp_body(res, cleanup, work, bdir, certs, doqclient)
    finally:
        for f in ("port53d-xdp.log",):
            path = os.path.join(work, f)
            if os.path.exists(path) and res.failed:
                with open(path, errors="replace") as fh:
                    print("--- %s (tail) ---\n%s\n---" % (f, fh.read()[-6000:]))


def part_afxdp_body(res, cleanup, work, bdir, certs, doqclient):
    ns_s, ns_c = "p53y-s-%d" % PID, "p53y-c-%d" % PID
    dev_s, dev_c = "pyx%ds" % (PID % 100000), "pyx%dc" % (PID % 100000)
    obj = os.path.join(bdir, "dp", "p53_xdp.bpf.o")
    dpnet.netns_add(cleanup, ns_s)
    dpnet.netns_add(cleanup, ns_c)
    dpnet.veth_pair(cleanup, dev_s, ns_s, dev_c, ns_c)
    cleanup.push(lambda: run(["ip", "link", "set", "dev", dev_s, "xdp", "off"], ns=ns_s,
                             check=False))
    dpnet.addr_add(ns_s, dev_s, SVC4 + "/24")
    dpnet.addr_add(ns_s, dev_s, SVC6 + "/64")
    dpnet.addr_add(ns_c, dev_c, CLI4 + "/24")
    dpnet.addr_add(ns_c, dev_c, CLI6 + "/64")
    # Software checksums from the client: see test_afxdp.py.
    run(["ethtool", "-K", dev_c, "tx", "off"], ns=ns_c)
    snap = snapshot(bdir, work, 2)
    eal = os.environ.get("P53_EAL_XDP", "--no-huge -m 512 --no-pci -l 1").split()
    prefix = "p53y%d" % PID
    cmd = [os.path.join(bdir, "dp", "port53d")] + eal + [
        "--file-prefix", prefix,
        "--vdev", "net_af_xdp0,iface=%s,queue_count=1,xdp_prog=%s" % (dev_s, obj),
        "--", "--snapshot", snap, "--addr", SVC4, "--addr", SVC6,
        "--tcp", "--tls", "--quic", "--doh", "--tls-cert", certs["srv.pem"],
        "--tls-key", certs["srv.key"],
    ]
    cleanup.push(dpnet.rm_eal_runtime, prefix)
    d = dpnet.Proc(cleanup, cmd, os.path.join(work, "port53d-xdp.log"), ns=ns_s)
    up = dpnet.wait_for(lambda: not d.alive() or "XDP program steers" in d.tail(), 30)
    if not res.check("afxdp: port53d attached the XDP program", d.alive() and up, d.tail()):
        return
    check_udp(res, "afxdp", ns_c, 2)
    check_tcp(res, "afxdp", ns_c, 2)
    check_tls(res, "afxdp", ns_c, certs, 2)
    check_doh(res, "afxdp", ns_c, certs, work, 2)
    check_doq(res, "afxdp", ns_c, doqclient, certs, 2)
    check_doq_retry(res, "afxdp", ns_c, doqclient, False)
    check_differential(res, ns_c)
    rc = d.stop()
    res.check("afxdp: port53d exits 0 on SIGTERM", rc == 0, d.tail())
    print("--- port53d log, AF_XDP part (tail) ---\n%s\n---" % d.tail(4000))


def differential_queries():
    """Every owner of the test zone and some names that do not exist, by
    the types the zone uses, with and without EDNS and DO."""
    z = dns.zone.from_file(dpnet.ZONE, "example.com.", relativize=False)
    names = sorted({str(n) for n in z.nodes})
    names += ["nope.example.com.", "a.b.nope.example.com.", "WwW.ExAmPlE.cOm.",
              "whoami.example.com.", "big.example.com.", "example.org."]
    types = ["A", "AAAA", "MX", "TXT", "NS", "SOA", "CNAME", "SRV", "CAA", "PTR", "ANY"]
    out = []
    qid = 1
    for n in names:
        for t in types:
            for edns in (-1, 0):
                q = dns.message.make_query(n, t, use_edns=edns, payload=1232,
                                           want_dnssec=(qid % 3 == 0 and edns == 0))
                q.id = qid
                qid += 1
                out.append(q)
    return out


def check_differential(res, ns):
    """Each query over UDP and over TCP: the same bytes, apart from
    truncation (a TC answer over UDP must be whole over TCP, same header
    otherwise)."""
    qs = differential_queries()
    udp = {}
    with dpnet.InNetns(ns):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    misses = 0
    try:
        for q in qs:
            if misses > 20:  # the server is gone: report, do not wait
                break
            for _ in range(3):
                try:
                    s.sendto(q.to_wire(), (SVC4, 53))
                    w, _ = s.recvfrom(65535)
                    if struct.unpack("!H", w[:2])[0] == q.id:
                        udp[q.id] = w
                        break
                except socket.timeout:
                    misses += 1
    finally:
        s.close()
    tcp = xport.tcp_pipelined(ns, SVC4, qs, raw=True, timeout=10)
    same = trunc = 0
    diffs = []
    for q in qs:
        u, t = udp.get(q.id), tcp.get(q.id)
        if u is None or t is None:
            diffs.append((q.question[0].to_text(), "missing", u is None, t is None))
            continue
        if u == t:
            same += 1
            continue
        uf, tf = struct.unpack("!H", u[2:4])[0], struct.unpack("!H", t[2:4])[0]
        if uf & 0x0200 and not tf & 0x0200 and (uf & ~0x0200) == tf:
            mu, mt = dns.message.from_wire(u), dns.message.from_wire(t)
            if mu.question == mt.question and mu.rcode() == mt.rcode():
                trunc += 1
                continue
        diffs.append((q.question[0].to_text(), u.hex()[:80], t.hex()[:80]))
    res.check("differential: %d queries, %d byte-identical over UDP and TCP, %d truncated "
              "over UDP and whole over TCP, 0 different" % (len(qs), same, trunc),
              not diffs and same + trunc == len(qs) and trunc > 0, repr(diffs[:5]))


def body(res, cleanup, work, paths):
    bdir = os.path.dirname(os.path.dirname(paths["port53d"]))
    doqclient = os.path.join(bdir, "tests", "doqclient")
    for path in (doqclient, os.path.join(bdir, "dp", "p53_xdp.bpf.o")):
        if not res.check("built: %s" % path, os.path.exists(path)):
            return
    certs = xport.make_certs(work)
    part_tap(res, cleanup, work, bdir, certs, doqclient)
    part_afxdp(res, cleanup, work, bdir, certs, doqclient)


if __name__ == "__main__":
    sys.exit(dpnet.run_dp_test("p53-xport-", body, tools=("port53d", "port53")))
