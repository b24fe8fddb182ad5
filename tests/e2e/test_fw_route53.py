#!/usr/bin/python3
"""The DNS Firewall given in Route 53 Resolver DNS Firewall shapes, end to end.

`port53 fw-compile` reads the rules in the shapes of the Route 53 Resolver
API (docs/firewall.md, "The same rules in Route 53 Resolver shapes"): rule
groups holding rules as `aws route53resolver list-firewall-rules` prints
them, domain lists as files of one domain a line. `port53 serve --firewall`
enforces them on the authoritative path (a zone of its own) and on the
resolver path (a FORWARD rule to NSD on loopback); dnspython checks every
answer against Route 53's behaviour (route53-semantics.md section 4):
group priority, then rule priority, decides, not file order; the first
match ends evaluation (ALLOW and ALERT answer normally); BLOCK answers
NXDOMAIN, NODATA (with the zone's SOA on the authoritative path) or an
OVERRIDE CNAME with its TTL; a Qtype filter; the CNAME chain inspected
(INSPECT_REDIRECTION_DOMAIN), or not (TRUST_REDIRECTION_DOMAIN). Every
BLOCK answer, of each kind, on both paths and whether the query name or a
name of the resolved chain was blocked, carries an Extended DNS Error 15
"Blocked" (RFC 8914) when the query had EDNS, and no OPT record at all when
it had none (RFC 6891 7); ALLOW and ALERT answers carry no EDE. Then a file in the shape list-firewall-rules
prints replaces it by SIGHUP. Bad shapes (an unknown key, a list file that
is not there) fail the compile naming the JSON path, write nothing, and the
running firewall stays as it was.

Loopback only; every wait is bounded; servers are always stopped.
"""
import hashlib
import json
import os
import shutil
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

import dns.edns  # noqa: E402
import dns.flags  # noqa: E402
import dns.message  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdatatype as T  # noqa: E402

check = common.Checks("fw-route53", verbose=True)
PORT53 = common.default_port53()

AUTH_ZONE = """$ORIGIN corp.test.
$TTL 3600
@      SOA ns hostmaster 1 7200 3600 1209600 300
@      NS  ns
ns     A   192.0.2.1
www    A   192.0.2.10
mail   A   192.0.2.25
mail2  A   192.0.2.26
api    A   192.0.2.30
portal A   192.0.2.40
old    CNAME mail
ftp    CNAME www
v6     A   192.0.2.60
v6     AAAA 2001:db8::60
late   A   192.0.2.70
"""
FWD_ZONE = """$ORIGIN fwd.example.
$TTL 300
@       SOA ns hostmaster 1 7200 3600 1209600 300
@       NS  ns
ns      A   192.0.2.53
www     A   192.0.2.80
blocked A   192.0.2.81
chain   CNAME blocked
trust   CNAME blocked
x.nodata A  192.0.2.82
nochain CNAME x.nodata
over    A   192.0.2.83
overchain CNAME over
alerted A   192.0.2.84
ok      A   192.0.2.85
"""

# Domain lists, one domain a line (import-firewall-domains' file format).
LISTS = {
    "allow.txt": ["www.corp.test", "ok.fwd.example"],
    "nx.txt": ["www.corp.test", "mail.corp.test", "blocked.fwd.example"],
    "alert.txt": ["mail2.corp.test", "alerted.fwd.example"],
    "nodata.txt": ["mail2.corp.test", "api.corp.test", "*.nodata.fwd.example"],
    "override.txt": ["portal.corp.test", "over.fwd.example"],
    "v6.txt": ["v6.corp.test"],
    "trust.txt": ["trust.fwd.example"],
    "late.txt": ["late.corp.test", "www.corp.test"],
    "www2.txt": ["www.corp.test", "www.fwd.example"],
}


def fdl(name):
    return "rslvr-fdl-" + name.split(".")[0]


def rule(gid, lst, name, prio, action, **kw):
    """A rule as list-firewall-rules prints it."""
    r = {"FirewallRuleGroupId": gid, "FirewallDomainListId": fdl(lst), "Name": name,
         "Priority": prio, "Action": action, "CreatorRequestId": "req-" + name,
         "CreationTime": "2026-11-30T10:00:00.000000Z",
         "ModificationTime": "2026-11-30T10:00:00.000000Z",
         "FirewallDomainRedirectionAction": "INSPECT_REDIRECTION_DOMAIN"}
    r.update(kw)
    return r


def lists_of(*files):
    return [{"Id": fdl(f), "Name": f.split(".")[0], "File": "lists/" + f,
             "CreatorRequestId": "req-" + f, "Status": "COMPLETE",
             "DomainCount": len(LISTS[f])} for f in files]


def groups_doc():
    """Rule groups; the files list groups and rules out of priority order on
    purpose: priorities decide."""
    base, late = "rslvr-frg-base", "rslvr-frg-late"
    return {
        "FirewallFailOpen": "DISABLED",
        "FirewallDomainLists": lists_of("allow.txt", "nx.txt", "alert.txt", "nodata.txt",
                                        "override.txt", "v6.txt", "trust.txt", "late.txt"),
        "FirewallRuleGroups": [
            {"Id": late, "Name": "late", "Priority": 200, "RuleCount": 1,
             "Status": "COMPLETE", "OwnerId": "123456789012", "ShareStatus": "NOT_SHARED",
             "FirewallRules": [
                 rule(late, "late.txt", "block-late", 1, "BLOCK", BlockResponse="NXDOMAIN")]},
            {"Id": base, "Name": "baseline", "Priority": 100, "FirewallRules": [
                rule(base, "nx.txt", "block-nx", 20, "BLOCK", BlockResponse="NXDOMAIN"),
                rule(base, "allow.txt", "allow-www", 10, "ALLOW"),
                rule(base, "nodata.txt", "block-nodata", 30, "BLOCK", BlockResponse="NODATA"),
                rule(base, "alert.txt", "alert-mail2", 25, "ALERT"),
                rule(base, "override.txt", "walled", 40, "BLOCK", BlockResponse="OVERRIDE",
                     BlockOverrideDomain="walled.example.net.", BlockOverrideDnsType="CNAME",
                     BlockOverrideTtl=60),
                rule(base, "v6.txt", "no-v6", 50, "BLOCK", BlockResponse="NXDOMAIN",
                     Qtype="AAAA"),
                rule(base, "trust.txt", "trusted", 5, "ALLOW",
                     FirewallDomainRedirectionAction="TRUST_REDIRECTION_DOMAIN"),
            ]},
        ],
    }


def rules_doc():
    """What `aws route53resolver list-firewall-rules` prints, with the lists
    the rules name beside it."""
    gid = "rslvr-frg-cli"
    return {
        "FirewallRules": [
            rule(gid, "nx.txt", "allow-mail", 200, "ALLOW"),
            rule(gid, "www2.txt", "block-www", 100, "BLOCK", BlockResponse="NODATA"),
        ],
        "FirewallDomainLists": lists_of("nx.txt", "www2.txt"),
    }


def ask(port, name, qtype="A", rd=False, edns=True):
    if edns:
        q = dns.message.make_query(name, qtype, use_edns=0, payload=1232)
    else:
        q = dns.message.make_query(name, qtype, use_edns=False)
    if not rd:
        q.flags &= ~dns.flags.RD
    raw = common.query(q, port, timeout=3.0)
    return None if raw is None else dns.message.from_wire(raw)


def addrs(r):
    return sorted(rr.to_text() for s in r.answer for rr in s if s.rdtype in (T.A, T.AAAA))


def ede(r):
    """The INFO-CODE of the response's Extended DNS Error, as dnspython
    reads it (RFC 8914), or None."""
    for o in (r.options if r is not None else []):
        if isinstance(o, dns.edns.EDEOption):
            return o.code
    return None


def no_opt(r):
    """No OPT record at all: what a query without EDNS gets (RFC 6891 7)."""
    return r is not None and r.edns < 0 and not r.options


def blocked_both(port, name, shape, what, rd=False, qtype="A"):
    """A BLOCK answer asked with EDNS (EDE 15) and without (no OPT)."""
    r = ask(port, name, qtype, rd=rd)
    check(shape(r) and ede(r) == 15, what + ", EDE 15 (Blocked)", r)
    r = ask(port, name, qtype, rd=rd, edns=False)
    check(shape(r) and no_opt(r), what + ", query without EDNS: no OPT, no EDE", r)


def whole_opt(port, name, rd):
    """A block asked with Client Subnet and a client DNS Cookie: the OPT
    record carries the subnet echoed, EDE 15, then the server cookie the
    abuse controls append past the engine's options (dnspython parses each
    by its length, so a wrong OPT length shows)."""
    cc = bytes(range(1, 9))
    q = dns.message.make_query(name, "A", use_edns=0, payload=1232, options=[
        dns.edns.ECSOption("192.0.2.0", 24),
        dns.edns.GenericOption(dns.edns.OptionType.COOKIE, cc)])
    if not rd:
        q.flags &= ~dns.flags.RD
    raw = common.query(q, port, timeout=3.0)
    r = None if raw is None else dns.message.from_wire(raw)
    kinds = [int(o.otype) for o in r.options] if r is not None else []
    cookie = [o.data for o in (r.options if r is not None else [])
              if o.otype == dns.edns.OptionType.COOKIE]
    ecs = [o for o in (r.options if r is not None else []) if isinstance(o, dns.edns.ECSOption)]
    return (kinds == [8, 15, 10] and ede(r) == 15 and len(cookie) == 1 and
            cookie[0][:8] == cc and len(cookie[0]) == 24 and len(ecs) == 1 and
            ecs[0].address == "192.0.2.0" and ecs[0].srclen == 24), r


def is_nx(r):
    return r is not None and r.rcode() == dns.rcode.NXDOMAIN and not r.answer


def is_nodata(r):
    return r is not None and r.rcode() == dns.rcode.NOERROR and not r.answer


def soa_only(r):
    return len(r.authority) == 1 and r.authority[0].rdtype == T.SOA


def is_nx_auth(r):
    return (r is not None and r.rcode() == dns.rcode.NXDOMAIN and not r.answer
            and soa_only(r) and bool(r.flags & dns.flags.AA))


def is_nodata_auth(r):
    return (r is not None and r.rcode() == dns.rcode.NOERROR and not r.answer
            and soa_only(r) and bool(r.flags & dns.flags.AA))


def is_override(r, name):
    return (r is not None and r.rcode() == dns.rcode.NOERROR and len(r.answer) == 1
            and r.answer[0].rdtype == T.CNAME and r.answer[0].name.to_text() == name
            and r.answer[0].ttl == 60 and r.answer[0][0].target.to_text() == "walled.example.net.")


def fw_compile(work, doc, fname, serial, out):
    path = os.path.join(work, fname)
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
    return common.run([PORT53, "fw-compile", "-o", out, "--serial", str(serial), path])


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def first_rules(port):
    """The rule-group firewall (serial 1)."""
    r = ask(port, "www.corp.test.")
    check(r is not None and addrs(r) == ["192.0.2.10"],
          "ALLOW at priority 10 decides before BLOCK at 20 and the group at 200", r)
    check(ede(r) is None, "ALLOW: no EDE", r)
    blocked_both(port, "mail.corp.test.", is_nx_auth,
                 "BLOCK NXDOMAIN: NXDOMAIN, AA, the zone's SOA")
    blocked_both(port, "old.corp.test.", is_nx_auth,
                 "CNAME target inspected (INSPECT_REDIRECTION_DOMAIN)")
    r = ask(port, "mail2.corp.test.")
    check(r is not None and addrs(r) == ["192.0.2.26"] and ede(r) is None,
          "ALERT at 25 ends evaluation before BLOCK at 30: normal answer, no EDE", r)
    ok, r = whole_opt(port, "mail.corp.test.", rd=False)
    check(ok and is_nx_auth(r), "BLOCK with Client Subnet and a cookie: ECS, EDE 15, COOKIE", r)
    blocked_both(port, "api.corp.test.", is_nodata_auth,
                 "BLOCK NODATA: NOERROR, empty, the zone's SOA")
    blocked_both(port, "portal.corp.test.", lambda r: is_override(r, "portal.corp.test."),
                 "BLOCK OVERRIDE: CNAME walled.example.net. TTL 60, not chased")
    r = ask(port, "v6.corp.test.")
    check(r is not None and addrs(r) == ["192.0.2.60"], "Qtype AAAA rule leaves A alone", r)
    r = ask(port, "v6.corp.test.", "AAAA")
    check(is_nx_auth(r), "Qtype AAAA rule blocks AAAA", r)
    r = ask(port, "late.corp.test.")
    check(is_nx_auth(r), "the group at priority 200 runs when 100 does not match", r)
    r = ask(port, "ns.corp.test.")
    check(r is not None and addrs(r) == ["192.0.2.1"], "no rule: normal answer", r)
    r = ask(port, "ftp.corp.test.")
    check(r is not None and addrs(r) == ["192.0.2.10"], "chain into an allowed name", r)

    # The resolver path: fwd.example forwarded to NSD.
    r = ask(port, "www.fwd.example.", rd=True)
    check(r is not None and addrs(r) == ["192.0.2.80"], "resolver: unlisted name resolved", r)
    # A blocked query name keeps the engine's block answer (docs/resolver.md);
    # a block found in the resolved chain is the resolver's. Both say
    # "Blocked" (EDE 15) to a query with EDNS, each response kind.
    blocked_both(port, "blocked.fwd.example.", is_nx,
                 "resolver: BLOCK NXDOMAIN on the query name", rd=True)
    ok, r = whole_opt(port, "blocked.fwd.example.", rd=True)
    check(ok and is_nx(r), "resolver: BLOCK on the query name with Client Subnet and a "
          "cookie: ECS, EDE 15, COOKIE", r)
    blocked_both(port, "chain.fwd.example.", is_nx,
                 "resolver: BLOCK NXDOMAIN found in the resolved chain", rd=True)
    blocked_both(port, "x.nodata.fwd.example.", is_nodata,
                 "resolver: BLOCK NODATA on the query name (*. list entry), not resolved",
                 rd=True)
    blocked_both(port, "nochain.fwd.example.", is_nodata,
                 "resolver: BLOCK NODATA found in the resolved chain", rd=True)
    blocked_both(port, "over.fwd.example.", lambda r: is_override(r, "over.fwd.example."),
                 "resolver: BLOCK OVERRIDE CNAME on the query name", rd=True)
    blocked_both(port, "overchain.fwd.example.",
                 lambda r: is_override(r, "overchain.fwd.example."),
                 "resolver: BLOCK OVERRIDE found in the resolved chain", rd=True)
    r = ask(port, "trust.fwd.example.", rd=True)
    check(r is not None and r.rcode() == dns.rcode.NOERROR and addrs(r) == ["192.0.2.81"]
          and ede(r) is None,
          "resolver: TRUST_REDIRECTION_DOMAIN on the query name leaves the chain alone", r)
    r = ask(port, "alerted.fwd.example.", rd=True)
    check(r is not None and addrs(r) == ["192.0.2.84"] and ede(r) is None,
          "resolver: ALERT on the query name resolves it, no EDE", r)
    r = ask(port, "ok.fwd.example.", rd=True)
    check(r is not None and addrs(r) == ["192.0.2.85"] and ede(r) is None,
          "resolver: ALLOW on the query name resolves it, no EDE", r)


def second_rules(port, what):
    """The list-firewall-rules firewall (serial 2)."""
    r = ask(port, "www.corp.test.")
    check(is_nodata_auth(r), "%s: BLOCK NODATA at priority 100" % what, r)
    r = ask(port, "mail.corp.test.")
    check(r is not None and addrs(r) == ["192.0.2.25"], "%s: ALLOW at 200" % what, r)
    r = ask(port, "www.fwd.example.", rd=True)
    check(r is not None and r.rcode() == dns.rcode.NOERROR and not r.answer,
          "%s: resolver BLOCK NODATA" % what, r)
    r = ask(port, "blocked.fwd.example.", rd=True)
    check(r is not None and addrs(r) == ["192.0.2.81"], "%s: resolver ALLOW" % what, r)
    r = ask(port, "late.corp.test.")
    check(r is not None and addrs(r) == ["192.0.2.70"], "%s: old groups gone" % what, r)


def main():
    nsd_bin = shutil.which("nsd") or "/usr/sbin/nsd"
    if not os.access(nsd_bin, os.X_OK):
        print("FAIL - nsd is missing (tools/install-deps.sh installs it)")
        return 1
    with common.tempdir("p53fwr53-") as work:
        os.makedirs(os.path.join(work, "lists"))
        for f, doms in LISTS.items():
            with open(os.path.join(work, "lists", f), "w") as fh:
                fh.write("".join(d + "\n" for d in doms))
        zdir = os.path.join(work, "zones")
        fdir = os.path.join(work, "fwdzones")
        for d, fn, text in ((zdir, "corp.test.zone", AUTH_ZONE),
                            (fdir, "fwd.example.zone", FWD_ZONE)):
            os.makedirs(d)
            with open(os.path.join(d, fn), "w") as f:
                f.write(text)
        fw = os.path.join(work, "fw.p53fw")
        r = fw_compile(work, groups_doc(), "groups.json", 1, fw)
        if not check(r.returncode == 0 and "8 rules" in r.stdout,
                     "fw-compile of the rule-group shape", r.stdout + r.stderr):
            return check.finish()
        nsd_dir = os.path.join(work, "nsd")
        os.makedirs(nsd_dir)
        nsd = common.Nsd(nsd_bin, fdir, nsd_dir)
        srv = common.Port53(PORT53, zdir, work, extra=["--firewall", fw])
        conf = os.path.join(work, "resolver.yaml")
        with open(conf, "w") as f:
            f.write("rules:\n  - name: fwd\n    domain: fwd.example\n    type: FORWARD\n"
                    "    targets: [\"%s:%d\"]\nviews:\n  - name: local\n"
                    "    sources: [127.0.0.0/8]\n    listen: [\"%s:%d\"]\n"
                    % (common.HOST, nsd.port, common.HOST, srv.port))
        srv.extra += ["--resolver", conf]
        try:
            nsd.start()
            srv.start(qname="corp.test.")
            port = srv.port
            first_rules(port)

            # The same server, the rules replaced by list-firewall-rules' shape.
            r = fw_compile(work, rules_doc(), "rules.json", 2, fw)
            check(r.returncode == 0 and "2 rules" in r.stdout,
                  "fw-compile of list-firewall-rules output", r.stdout + r.stderr)
            srv.proc.send_signal(signal.SIGHUP)
            ok = common.wait_for(lambda: ": serial 2," in srv.read_log(), 10)
            check(ok, "SIGHUP loaded the new firewall", srv.read_log()[-500:])
            second_rules(port, "list-firewall-rules")

            # Bad shapes: refused at their JSON path, nothing written.
            before = digest(fw)
            bad = rules_doc()
            bad["FirewallRules"][1]["BlockOverideTtl"] = 60
            r = fw_compile(work, bad, "bad-key.json", 3, fw)
            check(r.returncode != 0 and "FirewallRules[1]" in r.stderr
                  and "unknown key 'BlockOverideTtl'" in r.stderr,
                  "unknown key refused at its JSON path", r.stderr)
            bad = groups_doc()
            bad["FirewallRuleGroups"][1]["FirewallRules"][4]["BlockOverrideTTL"] = 5
            r = fw_compile(work, bad, "bad-key2.json", 3, fw)
            check(r.returncode != 0
                  and "FirewallRuleGroups[1].FirewallRules[4]" in r.stderr
                  and "BlockOverrideTTL" in r.stderr,
                  "unknown key in a rule group refused at its JSON path", r.stderr)
            bad = groups_doc()
            bad["FirewallDomainLists"][3]["File"] = "lists/gone.txt"
            r = fw_compile(work, bad, "bad-list.json", 3, fw)
            check(r.returncode != 0 and "FirewallDomainLists[3].File" in r.stderr
                  and "gone.txt" in r.stderr,
                  "missing list file refused naming its JSON path", r.stderr)
            check(digest(fw) == before, "the firewall file is unchanged after refusals")
            loads = srv.read_log().count(": serial 2,")
            srv.proc.send_signal(signal.SIGHUP)
            ok = common.wait_for(lambda: srv.read_log().count(": serial 2,") > loads, 10)
            check(ok, "SIGHUP after the refusals reloads serial 2", srv.read_log()[-500:])
            second_rules(port, "after refusals")
            check(srv.alive(), "server alive")
        finally:
            rc = srv.stop()
            nsd.stop()
            check(rc == 0, "clean shutdown (rc=%s)" % rc)
            if check.failed:
                print(srv.read_log())
    return check.finish()


if __name__ == "__main__":
    sys.exit(main())
