#!/usr/bin/python3
"""Differential test: port53 against NSD on the same zones.

Starts NSD (twice: the reference with minimal-responses, and a second one
without, used only to learn the additional records NSD would add for answer
targets) and `port53 serve`, each on a free loopback port, generates a query
set from the zone files, sends every query to both over UDP (and a sample plus
every truncated case over TCP), parses the replies with dnspython and compares:

  rcode (incl. extended), opcode, all header flags, header counts, the question
  (case-sensitively), every section as a set of records (owner lower-cased,
  class, type, TTL, rdata text), and the OPT record (present, version, DO bit,
  UDP payload size).

Where the two servers legitimately differ, a normalisation below says so in a
comment beginning `NORMALISATION n:`; docs/differential-testing.md lists them.

Usage: /usr/bin/python3 tests/e2e/dnsdiff.py [--port53 BIN] [--nsd BIN]
          [--zones DIR] [--seed N] [--verbose] [--max-diffs N]
Prints `N cases, M matched, K differ` and exits 1 if anything differs.
"""

import argparse
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

import dns.edns  # noqa: E402
import dns.flags  # noqa: E402
import dns.message  # noqa: E402
import dns.name  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdataclass  # noqa: E402
import dns.rdatatype  # noqa: E402
import dns.zone  # noqa: E402

QTYPES = ["A", "AAAA", "NS", "SOA", "CNAME", "DNAME", "MX", "TXT", "SPF", "SRV", "PTR",
          "CAA", "NAPTR", "SSHFP", "TLSA", "HTTPS", "SVCB", "DS", "DNSKEY", "HINFO",
          "TYPE65280", "TYPE65281", "ANY"]
# Extra types asked of a sample of names: not present anywhere in the zones.
RARE_QTYPES = ["RRSIG", "NSEC", "LOC", "URI", "TYPE999", "TYPE0", "RP", "AFSDB"]

# EDNS modes: (label, use_edns, payload, DO bit)
MODES = [
    ("noedns", False, 0, False),
    ("edns1232", True, 1232, False),
    ("edns4096", True, 4096, False),
    ("edns512", True, 512, False),
    ("edns256", True, 256, False),     # below 512: treated as 512 (RFC 6891 6.2.5)
    ("do1232", True, 1232, True),
    ("do4096", True, 4096, True),
]

ADDITIONAL_TARGET_TYPES = {dns.rdatatype.NS: "target", dns.rdatatype.MX: "exchange",
                           dns.rdatatype.SRV: "target"}


class Case:
    __slots__ = ("qname", "qtype", "qclass", "mode", "rd", "cd", "tcp", "why")

    def __init__(self, qname, qtype, mode="noedns", rd=False, cd=False, tcp=False,
                 why="", qclass="IN"):
        self.qname, self.qtype, self.qclass, self.mode = qname, qtype, qclass, mode
        self.rd, self.cd, self.tcp, self.why = rd, cd, tcp, why

    def key(self):
        return (self.qname, self.qtype, self.qclass, self.mode, self.rd, self.cd, self.tcp)

    def describe(self):
        flags = ("+rd" if self.rd else "+nord") + (" +cd" if self.cd else "")
        m = dict((x[0], x) for x in MODES)[self.mode]
        edns = "+noedns" if not m[1] else "+bufsize=%d%s" % (m[2], " +dnssec" if m[3] else "")
        tr = " +tcp" if self.tcp else ""
        return "%s %s %s %s %s%s  [%s]" % (self.qname, self.qclass, self.qtype, flags, edns,
                                          tr, self.why)

    def message(self):
        m = dict((x[0], x) for x in MODES)[self.mode]
        q = dns.message.make_query(self.qname, self.qtype, self.qclass, use_edns=False)
        q.flags = 0
        if self.rd:
            q.flags |= dns.flags.RD
        if self.cd:
            q.flags |= dns.flags.CD
        if m[1]:
            q.use_edns(0, dns.flags.DO if m[3] else 0, m[2])
        return q


# ---------------------------------------------------------------- query set

def load_zones(zdir):
    """{origin: dns.zone.Zone} for every zone file."""
    zones = {}
    for origin, path in common.zone_files(zdir):
        zones[origin] = dns.zone.from_file(path, origin, relativize=False, check_origin=False)
    return zones


def flip_case(rng, name):
    return "".join(c.upper() if c.isalpha() and rng.random() < 0.5 else c.lower()
                   for c in name)


def generate(zones, rng):
    owners = set()
    wild_parents = set()
    for origin, z in zones.items():
        oname = dns.name.from_text(origin)
        for n in z.nodes:
            owners.add(n)
            # empty non-terminals between the owner and the apex
            p = n.parent() if n != dns.name.root else n
            while p.is_subdomain(oname) and p != oname:
                owners.add(p)
                p = p.parent()
            if n.labels and n.labels[0] == b"*":
                wild_parents.add(n.parent())

    names = set()
    for n in sorted(owners):
        t = n.to_text()
        names.add(t)
        if n.labels[0] != b"*":
            names.add("nx-" + t)                      # nonexistent sibling
        names.add("below." + t)                       # below: NXDOMAIN, wildcard, referral, DNAME
        if rng.random() < 0.25:
            names.add("a.b.below." + t)
    for w in wild_parents:
        t = w.to_text()
        names.update(["anything." + t, "x.y." + t, "_tcp.x." + t, "*." + t, "**." + t])
    # RFC 4592 section 2.2.1 query examples and the ones from 3.3.3
    names.update(["host3.example.", "foo.bar.example.", "host1.example.", "sub.*.example.",
                  "_telnet._tcp.host1.example.", "host.subdel.example.", "ghost.*.example.",
                  "_ssh._tcp.host3.example.", "_ssh._tcp.host1.example.", "*.example.",
                  "a.*.example.", "host2.example.", "_tcp.host2.example."])
    # outside every zone: REFUSED
    names.update([".", "com.", "net.", "org.", "arpa.", "invalid.", "foo.invalid.",
                  "example.co.", "xexample.com.", "www.example.edu.", "in-addr.arpa.",
                  "3.0.192.in-addr.arpa.", "0.192.in-addr.arpa."])
    # DNAME results that overflow 255 octets -> YXDOMAIN (RFC 6672 2.2)
    lab = "q" * 60
    names.update(["%s.%s.dnlong.example.net." % (lab, lab),
                  "%s.%s.%s.dnlong.example.net." % (lab, lab, "r" * 40),
                  "x.dnlong.example.net.", "%s.dnlong.example.net." % lab,
                  "a.b.dnchain.example.net.", "a.dnchain.example.net.",
                  "www.dn.example.net.", "mail.dn.example.net.", "nx.dn.example.net.",
                  "a.dn2.example.net.", "b.dn2.example.net.", "c.dn2.example.net.",
                  "x.dnout.example.net.", "A.DN2.Example.NET.",
                  # classless reverse delegation and its CNAME
                  "129.2.0.192.in-addr.arpa.", "130.2.0.192.in-addr.arpa.",
                  "129.128/26.2.0.192.in-addr.arpa.",
                  # names with escaped / odd characters
                  "a\\.b.example.net.", "a\\032b.example.net.", "\\000.example.net.",
                  "a..".replace("..", ".") + "example.net."])

    cases = []
    seen = set()

    def add(c):
        k = c.key()
        if k not in seen:
            seen.add(k)
            cases.append(c)

    for name in sorted(names):
        for qt in QTYPES:
            rd = rng.random() < 0.5
            # every (name, type) without EDNS, and again in a random EDNS mode
            add(Case(name, qt, "noedns", rd=rd, why="name x type"))
            if rng.random() < 0.3:
                mode = rng.choice(MODES[1:])[0]
                add(Case(name, qt, mode, rd=rd, cd=rng.random() < 0.1, why="name x type, edns"))
        # rare types for a third of the names
        if rng.random() < 0.34:
            add(Case(name, rng.choice(RARE_QTYPES), rng.choice(MODES)[0], why="rare type"))
        # mixed case (0x20-style) for half the names, a couple of types
        if rng.random() < 0.5 and name != ".":
            for qt in rng.sample(QTYPES, 3):
                add(Case(flip_case(rng, name), qt, rng.choice(MODES)[0], why="mixed case"))

    # every mode for the names whose answers are big or interesting
    big = ["big.example.net.", "bigA.example.net.", "huge.example.net.", "cbig.example.net.",
           "manymx.example.net.", "x.bigdel.example.org.", "bigdel.example.org.",
           "example.net.", "_sip._udp.example.net.", "c1.example.net.", "x.dn.example.net.",
           "ch01.example.net.", "loop1.example.net.", "sib.example.org.", "x.sub.example.org.",
           "child.example.org.", "sub.example.org.", "www.child.example.org."]
    for name in big:
        for qt in ["A", "AAAA", "TXT", "MX", "NS", "ANY", "DNSKEY", "SRV", "DS"]:
            for m in MODES:
                add(Case(name, qt, m[0], why="all modes"))

    # CHAOS class (NSD runs with hide-version/hide-identity: REFUSED; port53
    # runs without --identity/--version: REFUSED too)
    for n in ["version.bind.", "id.server.", "hostname.bind.", "version.server.",
              "authors.bind.", "foo.bar."]:
        for qt in ["TXT", "A", "ANY"]:
            add(Case(n, qt, "noedns", qclass="CH", why="chaos"))
    # other classes
    for cls in ["HS", "NONE", "CLASS42", "ANY"]:
        add(Case("www.example.com.", "A", "noedns", qclass=cls, why="class"))

    # a sample over TCP
    for c in list(cases):
        if rng.random() < 0.05:
            add(Case(c.qname, c.qtype, c.mode, c.rd, c.cd, True, c.why + ", tcp", c.qclass))
    return cases


# ---------------------------------------------------------------- comparison

def _name_slots(cls):
    for k in cls.__mro__:
        for sl in getattr(k, "__slots__", ()):
            yield sl


def rdata_key(rd):
    """rdata as text, with the domain names inside it lower-cased.

    NORMALISATION 5: the case of domain names inside rdata is not compared.
    NSD keeps one table entry per name, so a name in rdata that is also an
    owner in its zones comes out lower-cased (`cbig CNAME bigA` is answered as
    `biga`, `cmixed CNAME MiXeD.CaSe` as `mixed.case`); port53 keeps the case
    written in the zone file. Text fields (TXT, NAPTR regexps, ...) are
    compared exactly."""
    kw = {}
    for sl in _name_slots(type(rd)):
        v = getattr(rd, sl, None)
        if isinstance(v, dns.name.Name):
            kw[sl] = v.canonicalize()
    return (rd.replace(**kw) if kw else rd).to_text()


def rr_tuples(section):
    """A section as a set of (owner lower-cased, class, type, TTL, rdata)."""
    out = set()
    for rrset in section:
        for rd in rrset:
            out.add((rrset.name.to_text().lower(), dns.rdataclass.to_text(rrset.rdclass),
                     dns.rdatatype.to_text(rrset.rdtype), rrset.ttl, rdata_key(rd)))
    return out


def counts(raw):
    return tuple(int.from_bytes(raw[i:i + 2], "big") for i in (4, 6, 8, 10))


def summary(raw):
    if raw is None:
        return "<no reply>"
    try:
        return dns.message.from_wire(raw).to_text()
    except Exception as e:  # noqa: BLE001
        return "<unparseable %d bytes: %s: %s>" % (len(raw), type(e).__name__, raw.hex())


def answer_targets(msg):
    """Owner names (lower-case text) whose A/AAAA belong in the additional
    section: targets of NS/MX/SRV records in the answer."""
    t = set()
    for rrset in msg.answer:
        attr = ADDITIONAL_TARGET_TYPES.get(rrset.rdtype)
        if attr:
            for rd in rrset:
                t.add(getattr(rd, attr).to_text().lower())
    return t


def ns_targets(msg):
    t = set()
    for rrset in msg.authority:
        if rrset.rdtype == dns.rdatatype.NS:
            for rd in rrset:
                t.add(rd.target.to_text().lower())
    return t


def is_referral(msg):
    return (not (msg.flags & dns.flags.AA) and msg.rcode() == dns.rcode.NOERROR
            and not msg.answer and any(r.rdtype == dns.rdatatype.NS for r in msg.authority))


def cname_links(msg):
    return sum(len(r) for r in msg.answer if r.rdtype == dns.rdatatype.CNAME)


CHAIN_MAX = 8  # CNAME/DNAME links port53 follows (zones/answer/answer_int.h CHAIN_MAX)


def chain_end(msg, qname):
    """Where the CNAME/DNAME chain of an answer ends (lower-case text):
    qname followed through the CNAMEs in the answer (DNAMEs come with their
    synthesised CNAME)."""
    cn = {}
    for rrset in msg.answer:
        if rrset.rdtype == dns.rdatatype.CNAME:
            for rd in rrset:
                cn[rrset.name.to_text().lower()] = rd.target.to_text().lower()
    n, seen = qname.lower(), set()
    while n in cn and n not in seen:
        seen.add(n)
        n = cn[n]
    return n


def dname_overflows(msg, qname):
    """A DNAME in the answer whose substitution of qname passes 255 octets."""
    q = dns.name.from_text(qname)
    for rrset in msg.answer:
        if rrset.rdtype == dns.rdatatype.DNAME and q.is_subdomain(rrset.name):
            for rd in rrset:
                keep = len(q.to_wire()) - len(rrset.name.to_wire())
                if keep + len(rd.target.to_wire()) > 255:
                    return True
    return False


SVCB_TYPES = (dns.rdatatype.SVCB, dns.rdatatype.HTTPS)


def svcb_additional(msg):
    """What RFC 9460 4.1 lets an SVCB/HTTPS answer bring in the additional
    section: {name (lower-case text): types}. Each TargetName brings its
    A, AAAA and its set of the answer's type; a ServiceMode record whose
    TargetName is "." stands for its owner (RFC 9460 2.5.2), which brings
    its A and AAAA."""
    out = {}
    for rrset in msg.answer:
        if rrset.rdtype not in SVCB_TYPES:
            continue
        for rd in rrset:
            if rd.target != dns.name.root:
                out.setdefault(rd.target.to_text().lower(), set()).update(
                    ("A", "AAAA", dns.rdatatype.to_text(rrset.rdtype)))
            elif rd.priority != 0:
                out.setdefault(rrset.name.to_text().lower(), set()).update(("A", "AAAA"))
    return out


class Differ:
    def __init__(self, ref_port, ref_full_port, test_port, timeout, self_check=False,
                 knot=False):
        self.ref_port, self.full_port, self.test_port = ref_port, ref_full_port, test_port
        self.self_check = self_check
        self.knot = knot  # the reference is Knot DNS (normalisations K1-K4)
        self.timeout = timeout
        self.full_cache = {}
        self.auth_cache = {}
        self.used = {}  # normalisation number -> times it was needed
        self.last_tc = False  # either server set TC in the last compare()

    def note(self, n):
        self.used[n] = self.used.get(n, 0) + 1

    def full_additional(self, case, qtype=None):
        """The additional section NSD without minimal-responses gives over TCP."""
        qt = qtype or case.qtype
        k = (case.qname.lower(), qt, case.qclass)
        if k not in self.full_cache:
            q = Case(case.qname, qt, "edns4096", qclass=case.qclass, tcp=True).message()
            raw = common.query(q, self.full_port, tcp=True, timeout=self.timeout)
            self.full_cache[k] = (rr_tuples(dns.message.from_wire(raw).additional)
                                  if raw else set())
        return self.full_cache[k]

    def ref_tcp_additional(self, case):
        """The reference NSD's complete additional section (over TCP)."""
        k = ("ref", case.qname.lower(), case.qtype, case.qclass)
        if k not in self.full_cache:
            t = Case(case.qname, case.qtype, "edns4096", qclass=case.qclass, tcp=True)
            raw = common.query(t.message(), self.ref_port, tcp=True, timeout=self.timeout)
            self.full_cache[k] = (rr_tuples(dns.message.from_wire(raw).additional)
                                  if raw else set())
        return self.full_cache[k]

    def authoritative(self, name, rdtype):
        """NSD's authoritative A/AAAA records for name (set of tuples)."""
        k = (name, rdtype)
        if k not in self.auth_cache:
            q = Case(name, rdtype, "edns4096", tcp=True).message()
            raw = common.query(q, self.ref_port, tcp=True, timeout=self.timeout)
            m = dns.message.from_wire(raw) if raw else None
            ok = m is not None and m.flags & dns.flags.AA and m.rcode() == dns.rcode.NOERROR
            self.auth_cache[k] = set(r for r in rr_tuples(m.answer)
                                     if r[0] == name and r[2] == rdtype) if ok else set()
        return self.auth_cache[k]

    def cross_zone_extra(self, extra, targets):
        """NORMALISATION 8: port53 adds the A/AAAA of NS/MX/SRV targets that
        live in *another* served zone (the issue: "additional-section
        processing for NS, MX, SRV targets inside the served zones"); NSD adds
        only data from the zone of the answer (for referrals: only glue from
        the delegating zone). Such an extra record is accepted when its owner
        is a target and it is exactly NSD's authoritative answer for that
        name and type. Returns the extras that do not qualify."""
        bad = set()
        for r in extra:
            if r[0] in targets and r[2] in ("A", "AAAA") and r in self.authoritative(r[0], r[2]):
                continue
            bad.add(r)
        return bad

    def svcb_extra(self, extra, allowed):
        """NORMALISATION 12: port53 adds, for SVCB/HTTPS answers, the
        records svcb_additional() names (RFC 9460 4.1); NSD 4.6 adds none,
        Knot 3.2 adds those of TargetNames but not the owner's for ".".
        Such a record is accepted when it is exactly the reference's
        authoritative answer for its name and type. Returns the extras that
        do not qualify."""
        return set(r for r in extra if r[2] not in allowed.get(r[0], ())
                   or r not in self.authoritative(r[0], r[2]))

    def limit(self, case):
        m = dict((x[0], x) for x in MODES)[case.mode]
        if case.tcp:
            return 65535
        if not m[1]:
            return 512
        return min(max(m[2], 512), 1232)

    def left_out_ok(self, got_len, missing, case):
        """Records may be left out of the additional section from the point
        where one does not fit: accepted when at least one missing A/AAAA
        record (owner compressed to a 2-octet pointer) would not have fitted
        after what port53 did send."""
        sizes = [2 + 10 + (4 if r[2] == "A" else 16) for r in missing if r[2] in ("A", "AAAA")]
        return len(sizes) == len(missing) and got_len + max(sizes) > self.limit(case)

    def knot_differs(self, case, mr, mg, got, diffs):
        """Where Knot DNS 3.2 and port53 legitimately differ (each a
        normalisation K1, K2, K4 in docs/differential-testing.md). Returns
        True when the case was compared here in full; differences go to
        diffs."""
        ra, ga = rr_tuples(mr.answer), rr_tuples(mg.answer)
        rauth, gauth = rr_tuples(mr.authority), rr_tuples(mg.authority)
        gtc, rtc = bool(mg.flags & dns.flags.TC), bool(mr.flags & dns.flags.TC)

        def chk(what, a, b):
            if a != b:
                diffs.append("%s: knot=%s port53=%s" % (what, a, b))

        if (mr.rcode() == dns.rcode.NXDOMAIN and mg.rcode() == dns.rcode.YXDOMAIN
                and dname_overflows(mr, case.qname)):
            # NORMALISATION K4: a DNAME whose substitution passes 255
            # octets is YXDOMAIN (RFC 6672 2.2), as port53 and NSD answer;
            # Knot 3.2 answers NXDOMAIN with the SOA. port53's answer must be
            # Knot's DNAME record alone, the authority section empty.
            self.note("K4")
            chk("answer (DNAME overflow)", sorted(r for r in ra if r[2] == "DNAME"), sorted(ga))
            chk("authority (DNAME overflow)", [], sorted(gauth))
            chk("flags (DNAME overflow)", dns.flags.to_text(mr.flags & ~dns.flags.TC),
                dns.flags.to_text(mg.flags & ~dns.flags.TC & ~(dns.flags.CD if case.cd else 0)))
            return True
        if gtc and not rtc and ra == ga and not rauth and mr.rcode() == mg.rcode():
            # NORMALISATION K2: a negative answer whose SOA does not fit
            # (the long DNAME chains without EDNS): Knot leaves the SOA
            # out, port53 sets TC (the SOA belongs in the reply, RFC 2308
            # 3, and RFC 2181 9 asks for TC when needed data is cut).
            # The answer must be the same; the case is asked again over
            # TCP and compared in full.
            self.note("K2")
            return True
        if (case.qtype in ("RRSIG", "NSEC") and mr.rcode() == dns.rcode.NOERROR and not ra
                and mg.answer and mg.answer[0].rdtype == dns.rdatatype.CNAME
                and mg.answer[0].name.to_text().lower() == case.qname.lower()):
            # NORMALISATION K5: asked for RRSIG or NSEC at a name that
            # has a CNAME, Knot answers NODATA; port53, as NSD, answers the
            # CNAME and follows it (RFC 1034 4.3.2). The CNAME must be the
            # one Knot holds; the rest of the chain is what port53 and NSD
            # agree on in the NSD run.
            self.note("K5")
            t = Case(case.qname, "CNAME", "edns4096", tcp=True)
            raw = common.query(t.message(), self.ref_port, tcp=True, timeout=self.timeout)
            mc = dns.message.from_wire(raw) if raw else None
            chk("CNAME (knot's)", sorted(rr_tuples(mc.answer)) if mc else None,
                sorted(r for r in ga if r[0] == case.qname.lower() and r[2] == "CNAME"))
            return True
        if (case.qclass == "ANY" and mr.flags & dns.flags.AA and not mg.flags & dns.flags.AA
                and ra == ga):
            # NORMALISATION K6: QCLASS * (RFC 1035 3.2.5): Knot sets AA;
            # port53, as NSD, does not, since it answers for class IN only.
            # The rest is compared as usual.
            self.note("K6")
            mr.flags &= ~dns.flags.AA
            return False
        end = chain_end(mr, case.qname)
        if (mr.answer and end != case.qname.lower() and ra < ga or
                (mr.answer and end != case.qname.lower() and ra == ga and rauth != gauth
                 and not rauth)):
            # NORMALISATION K1: Knot ends a CNAME/DNAME chain at the edge
            # of the zone (and after 5 links); port53, as NSD, follows it
            # on through the zones it serves, up to 8 links. port53's reply
            # must be Knot's answer, then exactly what Knot answers for the
            # name where its chain ended (or the first links of it, when
            # port53 reached its 8-link bound).
            self.note("K1")
            if gtc:
                return True  # compared over TCP
            # Knot's answers, name after name, until a chain ends.
            want, final, seen = set(ra), None, {case.qname.lower()}
            while end not in seen and len(seen) <= CHAIN_MAX + 1:
                seen.add(end)
                t = Case(end, case.qtype, case.mode, case.rd, case.cd, case.tcp, case.why,
                         case.qclass)
                raw = common.query(t.message(), self.ref_port, tcp=case.tcp,
                                   timeout=self.timeout)
                final = dns.message.from_wire(raw) if raw else None
                if final is None:
                    diffs.append("knot did not answer %s" % end)
                    return True
                want |= rr_tuples(final.answer)
                end = chain_end(final, end)
            if ga == want and final is not None:
                chk("rcode (knot at the chain's end)", dns.rcode.to_text(final.rcode()),
                    dns.rcode.to_text(mg.rcode()))
                chk("authority (knot at the chain's end)", sorted(rr_tuples(final.authority)),
                    sorted(gauth))
                extra = rr_tuples(mg.additional) - rr_tuples(mr.additional) - rr_tuples(
                    final.additional)
                extra = self.cross_zone_extra(extra, answer_targets(mg) | ns_targets(mg))
                chk("additional (beyond knot's chain)", [], sorted(extra))
            else:
                # port53 stopped at its bound: the first links of the chain
                chk("answer beyond knot's chain (not in knot's answers along it)", [],
                    sorted(ga - want))
                chk("CNAME links (chain cut)", CHAIN_MAX, cname_links(mg))
                chk("rcode (chain cut)", "NOERROR", dns.rcode.to_text(mg.rcode()))
                chk("authority (chain cut)", [], sorted(gauth))
            gflags = mg.flags & ~(dns.flags.CD if case.cd else 0)
            chk("flags", dns.flags.to_text(mr.flags), dns.flags.to_text(gflags))
            chk("question", [r.to_text() for r in mr.question], [r.to_text() for r in mg.question])
            chk("edns", mr.edns, mg.edns)
            return True
        return False

    def compare(self, case):
        """Returns (ok, detail lines)."""
        q = case.message()
        ref = common.query(q, self.ref_port, tcp=case.tcp, timeout=self.timeout)
        got = common.query(q, self.test_port, tcp=case.tcp, timeout=self.timeout)
        self.last_tc = any(x is not None and len(x) > 3 and x[2] & 0x02 for x in (ref, got))
        if ref is None and got is None:
            return True, []
        if ref is None or got is None:
            return False, ["nsd: " + ("<no reply>" if ref is None else "reply"),
                           "port53: " + ("<no reply>" if got is None else "reply"),
                           "--- nsd\n" + summary(ref), "--- port53\n" + summary(got)]
        try:
            mr = dns.message.from_wire(ref)
        except Exception as e:  # noqa: BLE001
            return False, ["nsd reply unparseable: %s" % e]
        try:
            mg = dns.message.from_wire(got)
        except Exception as e:  # noqa: BLE001
            return False, ["port53 reply unparseable: %s: %s" % (e, got.hex())]

        diffs = []

        def chk(what, a, b):
            if a != b:
                diffs.append("%s: nsd=%s port53=%s" % (what, a, b))

        def done():
            if diffs:
                diffs.append("--- nsd\n" + mr.to_text())
                diffs.append("--- port53\n" + mg.to_text())
            return not diffs, diffs

        chk("id", mr.id, q.id)
        chk("id (port53)", mg.id, q.id)

        # NORMALISATION 10: QTYPE 0 is reserved (RFC 6895 3.1); port53
        # answers FORMERR, NSD treats it as an ordinary type.
        if case.qtype == "TYPE0" and mg.rcode() == dns.rcode.FORMERR and not self.self_check:
            self.note(10)
            chk("flags (TYPE0 FORMERR)", dns.flags.to_text(mg.flags & ~dns.flags.RD &
                                                           ~dns.flags.CD), "QR")
            chk("sections (TYPE0 FORMERR)", counts(got)[1:3], (0, 0))
            # RFC 6891 6.1.1, 7: the FORMERR carries an OPT when the query did
            chk("edns (TYPE0 FORMERR)", q.edns, mg.edns)
            return done()

        if self.knot and self.knot_differs(case, mr, mg, got, diffs):
            return done()

        chk("rcode", dns.rcode.to_text(mr.rcode()), dns.rcode.to_text(mg.rcode()))
        chk("opcode", mr.opcode(), mg.opcode())
        rflags, gflags = mr.flags, mg.flags
        if q.flags & dns.flags.CD and not self.self_check:
            # NORMALISATION 4: RFC 4035 3.1.6 says a name server MUST copy
            # the CD bit from the query into the response; NSD 4.6 clears it
            # (it keeps only RD). port53 must copy it; the other flags are
            # compared as usual.
            self.note(4)
            if not gflags & dns.flags.CD:
                diffs.append("flags: port53 did not copy CD from the query")
            gflags &= ~dns.flags.CD
        glue_cut = (not self.self_check and is_referral(mr) and not rflags & dns.flags.TC
                    and rr_tuples(mr.additional) != self.ref_tcp_additional(case))
        if glue_cut:
            # NORMALISATION 7: referral glue that does not fit. NSD 4.6
            # predates RFC 9471 and leaves glue out silently (its UDP
            # additional section lacks records its TCP one has); RFC 9471 3
            # requires TC when in-domain glue does not fit, so port53 must
            # set TC there. The rest of the header, the question, EDNS and
            # the NS RRset are compared; the glue port53 sent must be part
            # of the complete glue; the case is asked again over TCP and
            # compared in full.
            self.note(7)
            if not gflags & dns.flags.TC:
                diffs.append("flags: referral glue does not fit and port53 did not set TC "
                             "(RFC 9471 3)")
            gflags &= ~dns.flags.TC
        chk("flags", dns.flags.to_text(rflags), dns.flags.to_text(gflags))
        rq = [r.to_text() for r in mr.question]
        gq = [r.to_text() for r in mg.question]
        if (not rq and mr.rcode() == dns.rcode.REFUSED and case.qclass not in ("IN", "CH")
                and gq == [r.to_text() for r in q.question]):
            # NORMALISATION 11: for a class other than IN and CH, NSD's
            # REFUSED carries no question section; port53 echoes the
            # question (as both do for every other reply).
            self.note(11)
            rq = gq
        chk("question", rq, gq)
        # NORMALISATION 1: EDNS options are not compared (NSD adds none
        # unless NSID is configured; port53 may add none or others later).
        chk("edns", mr.edns, mg.edns)
        if mr.edns >= 0 and mg.edns >= 0:
            chk("edns payload", mr.payload, mg.payload)
            chk("edns DO", bool(mr.ednsflags & dns.flags.DO), bool(mg.ednsflags & dns.flags.DO))
        if glue_cut:
            chk("authority (referral, glue cut)", sorted(rr_tuples(mr.authority)),
                sorted(rr_tuples(mg.authority)))
            extra = rr_tuples(mg.additional) - self.ref_tcp_additional(case)
            extra = self.cross_zone_extra(extra, ns_targets(mr))
            chk("additional (referral, glue cut): not part of the glue", [], sorted(extra))
            return done()

        both_tc = bool(mr.flags & dns.flags.TC) and bool(mg.flags & dns.flags.TC)
        if both_tc:
            # NORMALISATION 2: when both set TC, the sections are not compared.
            # NSD sends a truncated reply with empty sections; port53 may keep
            # the RRsets that fit (truncating at RRset boundaries). A client
            # must retry over TCP either way (RFC 2181 9, RFC 7766); the
            # generator sends every such case again over TCP, compared in full.
            self.note(2)
            return done()

        ref_case = case
        if (case.qtype == "ANY" and mr.rcode() == mg.rcode() == dns.rcode.NOERROR
                and mr.answer and mg.answer
                and rr_tuples(mr.answer) != rr_tuples(mg.answer) and not self.self_check):
            # NORMALISATION 6: RFC 8482 lets a server answer ANY with any one
            # RRset at the name; NSD picks the SOA at an apex, port53 may pick
            # another (e.g. NS). port53 must answer exactly one RRset, and the
            # reply is then compared in full with NSD's reply to the same
            # query asking for that RRset's type.
            self.note(6)
            owners = set((r.name, r.rdtype) for r in mg.answer)
            if len(owners) != 1:
                diffs.append("ANY: port53 answered %d RRsets, RFC 8482 wants one" % len(owners))
                return done()
            t = dns.rdatatype.to_text(mg.answer[0].rdtype)
            ref_case = Case(case.qname, t, case.mode, case.rd, case.cd, case.tcp, case.why,
                            case.qclass)
            ref = common.query(ref_case.message(), self.ref_port, tcp=case.tcp,
                               timeout=self.timeout)
            mr = dns.message.from_wire(ref)
            chk("rcode (ANY as %s)" % t, dns.rcode.to_text(mr.rcode()),
                dns.rcode.to_text(mg.rcode()))
            chk("flags (ANY as %s)" % t, dns.flags.to_text(mr.flags),
                dns.flags.to_text(mg.flags & ~(dns.flags.CD if case.cd else 0)))

        rcn, gcn = counts(ref), counts(got)
        ra, ga = rr_tuples(mr.answer), rr_tuples(mg.answer)
        rauth, gauth = rr_tuples(mr.authority), rr_tuples(mg.authority)
        if (cname_links(mr) > CHAIN_MAX and cname_links(mg) == CHAIN_MAX and ga <= ra
                and not self.self_check):
            # NORMALISATION 9: port53 follows at most 8 CNAME/DNAME links
            # (a bound the issue asks for; resolvers restart from the last
            # target); NSD follows longer chains. When NSD's chain is longer,
            # port53's answer must be NSD's first 8 links, NOERROR, with an
            # empty authority section.
            self.note(9)
            chk("rcode (chain cut)", "NOERROR", dns.rcode.to_text(mg.rcode()))
            chk("authority (chain cut)", [], sorted(gauth))
            diffs[:] = [d for d in diffs if not d.startswith("rcode:")]
            return done()
        chk("an/ns count", rcn[1:3], gcn[1:3])
        chk("answer", sorted(ra - ga), sorted(ga - ra))
        chk("authority", sorted(rauth - gauth), sorted(gauth - rauth))

        radd, gadd = rr_tuples(mr.additional), rr_tuples(mg.additional)
        positive = (mr.rcode() == dns.rcode.NOERROR and mr.answer and not is_referral(mr))
        if positive and answer_targets(mr):
            # NORMALISATION 3: additional section of answers. NSD with
            # minimal-responses adds nothing for NS/MX/SRV targets; port53 adds
            # their A/AAAA when they are in a served zone (the issue requires
            # it). The expected set is what NSD *without* minimal-responses
            # adds (asked over TCP), restricted to the answer's NS/MX/SRV
            # targets (this drops what it adds for the apex NS it puts in
            # authority). port53 must return exactly that set when it fits;
            # it may leave out records from the point where one does not fit
            # (RFC 2181 9: no TC for additional data; see left_out_ok), and
            # may add nothing else (but see 8).
            targets = answer_targets(mr)
            want = set(r for r in self.full_additional(ref_case) if r[0] in targets)
            missing, extra = want - gadd, gadd - want
            extra = self.cross_zone_extra(extra, targets) if not self.self_check else extra
            if self.self_check:
                missing = set()
            if missing and self.left_out_ok(len(got), missing, case):
                missing = set()  # left out from where one did not fit
            chk("additional (answer targets)", sorted(missing), sorted(extra))
        elif is_referral(mr) and not self.self_check:
            # Referral glue is compared exactly (when it does not fit, see
            # NORMALISATION 7 above); NORMALISATION 8 applies to extra
            # addresses from other zones.
            targets = ns_targets(mr)
            want = radd
            missing = want - gadd
            extra = self.cross_zone_extra(gadd - want, targets)
            if gadd - want and not extra:
                self.note(8)
            chk("additional (referral)", sorted(missing), sorted(extra))
        else:
            sv = svcb_additional(mr)
            if self.knot and sv and radd:
                # NORMALISATION K3: Knot adds the A, AAAA and same-type set
                # of SVCB/HTTPS TargetNames, and so must port53 (compared
                # below, not normalised away); it holds glue below a zone
                # cut for them too, which port53, as for MX and SRV, does
                # not serve outside referrals (not authoritative data).
                self.note("K3")
            if sv and not self.self_check:
                # What RFC 9460 4.1 asks for, from the reference's own
                # authoritative answers: port53 must send it (unless it was
                # left out where it did not fit).
                want = set()
                for name, types in sorted(sv.items()):
                    for t in sorted(types):
                        want |= self.authoritative(name, t)
                missing = want - gadd
                if missing and self.left_out_ok(len(got), missing, case):
                    missing = set()
                chk("additional (SVCB/HTTPS, RFC 9460 4.1)", sorted(missing), [])
            extra = gadd - radd
            if extra and sv and not self.self_check:
                n = len(extra)
                extra = self.svcb_extra(extra, sv)
                if len(extra) < n:
                    self.note(12)
            if extra and not self.self_check:
                # NORMALISATION 8 also covers a CNAME into a delegation
                # (answer CNAME + referral NS in authority).
                extra = self.cross_zone_extra(extra, answer_targets(mr) | ns_targets(mr))
                if not extra:
                    self.note(8)
            chk("additional", sorted(radd - gadd), sorted(extra))
            if extra or radd - gadd:
                chk("ar count", rcn[3], gcn[3])
        return done()


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--port53", default=common.default_port53())
    ap.add_argument("--nsd", default="/usr/sbin/nsd")
    ap.add_argument("--ref", choices=("nsd", "knot"), default="nsd",
                    help="the reference server: NSD (default) or Knot DNS")
    ap.add_argument("--knotd", default="/usr/sbin/knotd")
    ap.add_argument("--zones", default=common.DEFAULT_ZONES)
    ap.add_argument("--seed", type=int, default=53)
    ap.add_argument("--verbose", "-v", action="store_true")
    ap.add_argument("--max-diffs", type=int, default=10, help="differences shown in detail")
    ap.add_argument("--timeout", type=float, default=1.0)
    ap.add_argument("--nsd-vs-nsd", action="store_true",
                    help="harness self-check: compare NSD with a second NSD (expect 0 differ)")
    args = ap.parse_args()

    if not args.nsd_vs_nsd and not os.access(args.port53, os.X_OK):
        common.die("port53 binary not found: %s (use --port53)" % args.port53)
    if not os.access(args.nsd, os.X_OK):
        common.die("nsd binary not found: %s (use --nsd)" % args.nsd)

    rng = random.Random(args.seed)
    cases = generate(load_zones(args.zones), rng)

    with common.tempdir("p53diff-") as d:
        servers = []
        try:
            os.makedirs(os.path.join(d, "nsd"))
            os.makedirs(os.path.join(d, "nsdfull"))
            os.makedirs(os.path.join(d, "port53"))
            if args.ref == "knot":
                ref = common.Knot(args.knotd, common.zone_files(args.zones),
                                  os.path.join(d, "nsd"))
                ref.hide_chaos = True
                servers.append(ref)
                ref.start()
                full = ref
            else:
                ref = common.Nsd(args.nsd, args.zones, os.path.join(d, "nsd"))
                servers.append(ref)
                ref.start()
                full = common.Nsd(args.nsd, args.zones, os.path.join(d, "nsdfull"))
                servers.append(full)
                full.start(minimal=False)
            if args.nsd_vs_nsd:
                test = common.Nsd(args.nsd, args.zones, os.path.join(d, "port53"))
                servers.append(test)
                test.start()
            else:
                test = common.Port53(args.port53, args.zones, os.path.join(d, "port53"))
                servers.append(test)
                test.start()
            differ = Differ(ref.port, full.port, test.port, args.timeout, args.nsd_vs_nsd,
                            knot=args.ref == "knot")

            t0 = time.monotonic()
            matched = 0
            failed = []
            extra_tcp = []
            i = 0
            todo = list(cases)
            while i < len(todo):
                c = todo[i]
                i += 1
                ok, detail = differ.compare(c)
                if ok:
                    matched += 1
                else:
                    failed.append((c, detail))
                if args.verbose:
                    print("%s %s" % ("ok  " if ok else "DIFF", c.describe()))
                # every UDP case that either server truncated is asked again
                # over TCP
                if not c.tcp and not any(x.key()[:-1] == c.key()[:-1] for x in extra_tcp):
                    if differ.last_tc:
                        t = Case(c.qname, c.qtype, c.mode, c.rd, c.cd, True,
                                 c.why + ", TC retry over tcp", c.qclass)
                        extra_tcp.append(t)
                        todo.append(t)
            elapsed = time.monotonic() - t0

            alive = test.alive() if hasattr(test, "alive") else True
            print("%d cases, %d matched, %d differ  (%d over TCP, %.1fs)" % (
                len(todo), matched, len(failed), sum(1 for c in todo if c.tcp), elapsed))
            if differ.used:
                print("normalisations applied: " + ", ".join(
                    "%s: %d cases" % kv for kv in sorted(differ.used.items(), key=str)))
            if failed:
                print("\nfirst differences:")
                for c, detail in failed[:args.max_diffs]:
                    print("=" * 72)
                    print("query: " + c.describe())
                    for line in detail:
                        print("  " + line.replace("\n", "\n    "))
                if len(failed) > args.max_diffs:
                    print("=" * 72)
                    print("... and %d more; all differing queries:" % (len(failed) - args.max_diffs))
                    for c, _ in failed[args.max_diffs:]:
                        print("  " + c.describe())
            if not alive:
                print("port53 is no longer running!\n" + test.read_log())
                return 1
            return 1 if failed else 0
        finally:
            for s in reversed(servers):
                s.stop()


if __name__ == "__main__":
    sys.exit(main())
