#!/usr/bin/python3
"""Route 53 import fixtures, checked over the wire with dnspython.

tests/e2e/r53/list-output.json has the shape `aws route53
list-resource-record-sets` prints (pagination keys, "\\052" for "*", names in
values with and without their dot, octal escapes in TXT); change-batch.json
the shape `change-resource-record-sets --cli-input-json` takes;
health-check.json what `get-health-check` prints; cidr.json CIDR collections
alone. Each expected answer is what Route 53 documents, asked of `port53
serve` with dnspython. Then: `port53 diff` and `compile --dry-run` against
the served snapshot, the `route53-changes` export compiled back, and broken
inputs refused with their JSON path and Route 53 error.
"""
import json
import os
import sys
import time

import dns.edns
import dns.message
import dns.query
import dns.rdatatype

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "r53")
PORT53 = common.default_port53()


check = common.Checks("test_r53_import")


def ask(port, name, rdtype, subnet=None):
    opts = [dns.edns.ECSOption(*subnet)] if subnet else []
    q = dns.message.make_query(name, rdtype, use_edns=0, options=opts)
    r = dns.query.udp(q, common.HOST, port=port, timeout=2)
    return r


def rdatas(r, rdtype):
    t = dns.rdatatype.from_text(rdtype)
    return sorted(rd.to_text() for rr in r.answer if rr.rdtype == t for rd in rr)


def fx(*names):
    return ",".join(os.path.join(FIX, n) for n in names)


def served(port, tmp):
    # Names in values are fully qualified, whatever the trailing dot.
    check(rdatas(ask(port, "example.org", "MX"), "MX") ==
          ["10 mail.example.net.", "20 mail2.example.org."], "MX targets fully qualified")
    check(rdatas(ask(port, "example.org", "NS"), "NS") ==
          ["ns-1.awsdns-01.org.", "ns-2.awsdns-02.net."], "NS targets fully qualified")
    check(rdatas(ask(port, "www.example.org", "CNAME"), "CNAME") == ["web.example.com."],
          "CNAME target fully qualified")
    check(rdatas(ask(port, "_sip._tcp.example.org", "SRV"), "SRV") ==
          ["0 5 5060 sip.example.net."], "SRV target fully qualified")
    check(rdatas(ask(port, "ptr.example.org", "PTR"), "PTR") == ["host.example.net."],
          "PTR target fully qualified")
    r = ask(port, "naptr.example.org", "NAPTR")
    check([rd.replacement.to_text() for rr in r.answer for rd in rr] == ["."] and
          [rd.regexp for rr in r.answer for rd in rr] == [b"!^.*$!sip:info@example.net!"],
          "NAPTR: %s" % r.answer)
    # "\052" is "*": a wildcard, not a label "4".
    check(rdatas(ask(port, "anything.example.org", "A"), "A") == ["192.0.2.50"],
          "\\052 is the wildcard")
    check(ask(port, "4.example.org", "A").answer and
          ask(port, "4.example.org", "A").answer[0].name.to_text() == "4.example.org.",
          "no label 4: 4.example.org is only matched by the wildcard")
    # Octal escapes in TXT, quotes kept.
    r = ask(port, "txt.example.org", "TXT")
    strs = sorted(tuple(rd.strings) for rr in r.answer for rd in rr)
    check(strs == [(b"caf\xe9", b'say "hi"'), (b"v=spf1 include:_spf.example.net -all",)],
          "TXT strings: %s" % strs)
    # CIDR collection from its own file; the default location.
    check(rdatas(ask(port, "cidr.example.org", "A", ("10.9.1.0", 24)), "A") == ["192.0.2.71"],
          "CIDR office")
    check(rdatas(ask(port, "cidr.example.org", "A", ("10.8.1.0", 24)), "A") == ["192.0.2.72"],
          "CIDR default")
    # The health check (get-health-check shape) probes a closed port:
    # the primary fails over.
    t0 = time.monotonic()
    while time.monotonic() - t0 < 8 and rdatas(ask(port, "fo.example.org", "A"), "A") != ["192.0.2.21"]:
        time.sleep(0.2)
    check(rdatas(ask(port, "fo.example.org", "A"), "A") == ["192.0.2.21"],
          "failover to the secondary when the check fails")


def aws_aliases(port):
    # Aliases to AWS resources answer the operator's mapped records.
    check(rdatas(ask(port, "example.org", "A"), "A") == ["192.0.2.90", "192.0.2.91"],
          "apex alias to a dualstack ELB (A)")
    r = ask(port, "example.org", "AAAA")
    check(rdatas(r, "AAAA") == ["2001:db8::90"] and r.answer[0].ttl == 60,
          "apex alias to a dualstack ELB (AAAA), the mapping's TTL")
    check(all(rdatas(ask(port, "cdn.example.org", "A"), "A") == ["192.0.2.80"] for _ in range(20)),
          "weighted alias to CloudFront (weight 100 against 0)")
    r = ask(port, "static.example.org", "A")
    check(rdatas(r, "A") == ["192.0.2.85"] and r.answer[0].ttl == 5, "alias to an S3 website")
    check(rdatas(ask(port, "api.example.org", "A"), "A") == ["192.0.2.88"],
          "alias to API Gateway")


def traffic_flow(port):
    # Policy records: tf.example.org is bound to version 2 (weighted 100/0),
    # not version 1 (failover); tfgeo.example.org to a geo rule.
    check(all(rdatas(ask(port, "tf.example.org", "A"), "A") == ["192.0.2.111"] for _ in range(20)),
          "policy record answers its bound version (weighted 100/0)")
    check(rdatas(ask(port, "tfgeo.example.org", "A", ("10.1.2.0", 24)), "A") == ["192.0.2.121"],
          "traffic-flow geo rule: US")
    check(rdatas(ask(port, "tfgeo.example.org", "A", ("10.3.2.0", 24)), "A") == ["192.0.2.80"],
          "traffic-flow geo rule: EU -> cloudfront endpoint through the alias map")
    check(rdatas(ask(port, "tfgeo.example.org", "A", ("192.168.1.0", 24)), "A") == ["192.0.2.122"],
          "traffic-flow geo rule: default location")
    # Nested rules: geo -> (US) weighted 100/0 -> failover whose primary's
    # check fails (a closed port); (EU) failover with a healthy primary;
    # the default location an endpoint.
    us, eu, other = ("10.1.2.0", 24), ("10.3.2.0", 24), ("192.168.1.0", 24)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 8 and \
            rdatas(ask(port, "tfnest.example.org", "A", us), "A") != ["192.0.2.132"]:
        time.sleep(0.2)
    check(all(rdatas(ask(port, "tfnest.example.org", "A", us), "A") == ["192.0.2.132"]
              for _ in range(20)),
          "nested: US -> weighted (100 to the failover rule, 0 to 192.0.2.130) -> failover "
          "to the secondary, the primary's check failing")
    r = ask(port, "tfnest.example.org", "A", us)
    check(r.answer and r.answer[0].ttl == 60 and
          any(o.otype == dns.edns.ECS and o.scopelen == 16 for o in r.options),
          "nested: TTL of the endpoint, ECS scope of the geo range: %s" % r)
    check(all(rdatas(ask(port, "tfnest.example.org", "A", eu), "A") == ["192.0.2.133"]
              for _ in range(10)), "nested: EU -> failover, healthy primary")
    check(rdatas(ask(port, "tfnest.example.org", "A", other), "A") == ["192.0.2.135"],
          "nested: default location -> endpoint")
    check(rdatas(ask(port, "tfnest.example.org", "AAAA", us), "AAAA") == [] and
          ask(port, "tfnest.example.org", "AAAA", us).rcode() == 0,
          "nested: another type is NODATA")


def tf_export(tmp, snap, hc, amap):
    """A policy record is exported as its traffic policy and instance, in
    the shapes the AWS CLI prints, and compiles back to the same answers."""
    fix = json.load(open(os.path.join(FIX, "traffic-policy.json")))
    r = common.run([PORT53, "export", "--format", "route53", snap, "example.org"])
    doc = json.loads(r.stdout) if r.returncode == 0 else {}
    zid = json.loads(common.run([PORT53, "export", "--format", "route53-changes", snap,
                                 "example.org"]).stdout)["HostedZoneId"]
    pols = {(p["Id"], p["Version"]): p for p in doc.get("TrafficPolicies", [])}
    check(len(pols) == len(fix["TrafficPolicies"]) and all(
        pols.get((p["Id"], p["Version"])) == p for p in fix["TrafficPolicies"]),
        "every policy version exported as given (Document text, Name, Type, Comment): %s"
        % doc.get("TrafficPolicies"))
    insts = {i["Id"]: i for i in doc.get("TrafficPolicyInstances", [])}
    keys = ("Name", "TTL", "TrafficPolicyId", "TrafficPolicyVersion", "TrafficPolicyType")
    check(len(insts) == len(fix["TrafficPolicyInstances"]) and all(
        i["Id"] in insts and all(insts[i["Id"]][k] == i[k] for k in keys) and
        insts[i["Id"]]["HostedZoneId"] == zid and insts[i["Id"]]["State"] == "Applied"
        for i in fix["TrafficPolicyInstances"]),
        "policy records exported as traffic policy instances: %s"
        % doc.get("TrafficPolicyInstances"))
    sets = doc.get("ResourceRecordSets", [])
    tfsets = [x for x in sets if x["Name"] in ("tf.example.org.", "tfgeo.example.org.",
                                                "tfnest.example.org.")]
    check(sorted((x["Name"], x.get("TrafficPolicyInstanceId")) for x in tfsets) ==
          [("tf.example.org.", "tpi-1"), ("tfgeo.example.org.", "tpi-2"),
           ("tfnest.example.org.", "tpi-3")] and
          all(set(x) == {"Name", "Type", "TrafficPolicyInstanceId"} for x in tfsets),
          "record sets of policy records as list-resource-record-sets shows them: %s" % tfsets)
    exp = os.path.join(tmp, "tf-export.json")
    with open(exp, "w") as f:
        f.write(r.stdout)
    snap3 = os.path.join(tmp, "tf3.p53")
    opts = ["--health-checks", hc, "--alias-map", amap, "--geo", os.path.join(FIX, "geo.csv")]
    r = common.run([PORT53, "compile", "-o", snap3] + opts + ["example.org=" + exp])
    check(r.returncode == 0, "the route53 export compiles alone: " + r.stderr)
    r2 = common.run([PORT53, "export", "--format", "route53", snap3, "example.org"])
    check(r2.stdout == open(exp).read(), "re-imported, it exports the same JSON")
    r = common.run([PORT53, "diff"] + opts[:4] + [snap, "example.org=" + exp])
    check(r.returncode == 0, "and serves the same record sets: " + r.stdout + r.stderr)
    srv = common.Port53(PORT53, None, tmp, extra=["--health-checks", hc])
    srv.snapshot = snap3
    try:
        srv.start(deadline=10.0)
        traffic_flow(srv.port)
    finally:
        srv.stop()
    # The zone-file export: one $ROUTE53 line per policy version and per
    # policy record, as get-traffic-policy and get-traffic-policy-instance
    # print them.
    r = common.run([PORT53, "export", "--format", "zone", snap, "example.org"])
    lines = r.stdout.splitlines()
    tp = [json.loads(l[9:])["TrafficPolicy"] for l in lines
          if l.startswith('$ROUTE53 {"TrafficPolicy":')]
    ti = [json.loads(l[9:])["TrafficPolicyInstance"] for l in lines
          if l.startswith('$ROUTE53 {"TrafficPolicyInstance":')]
    check(sorted(tp, key=lambda p: (p["Id"], p["Version"])) ==
          sorted(fix["TrafficPolicies"], key=lambda p: (p["Id"], p["Version"])) and
          sorted(i["Id"] for i in ti) == ["tpi-1", "tpi-2", "tpi-3"] and
          not any('"SetIdentifier":"weighted-0"' in l for l in lines),
          "zone export: policies and instances as $ROUTE53 lines:\n" + r.stdout[-3000:])
    zf = os.path.join(tmp, "tf.zone")
    with open(zf, "w") as f:
        f.write(r.stdout)
    snap4 = os.path.join(tmp, "tf4.p53")
    r = common.run([PORT53, "compile", "-o", snap4] + opts + ["example.org=" + zf])
    r2 = common.run([PORT53, "export", "--format", "route53", snap4, "example.org"])
    check(r.returncode == 0 and r2.stdout == open(exp).read(),
          "the zone export compiles back to the same zone: " + r.stderr)
    # A list-resource-record-sets set made by an instance that is not given.
    orphan = os.path.join(tmp, "orphan.json")
    with open(orphan, "w") as f:
        json.dump({"ResourceRecordSets": [{"Name": "tfx.example.org.", "Type": "A",
                                           "TrafficPolicyInstanceId": "tpi-9"}]}, f)
    r = common.run([PORT53, "check"] + opts[:4] + ["example.org=" + fx("cidr.json") + "," +
                                                   orphan])
    check(r.returncode != 0 and "ResourceRecordSets[0].TrafficPolicyInstanceId" in r.stderr and
          "NoSuchTrafficPolicyInstance" in r.stderr, "orphan policy-record set: " + r.stderr)
    # A change batch may not change a policy record's sets.
    batch = os.path.join(tmp, "tfbatch.json")
    with open(batch, "w") as f:
        json.dump({"Changes": [{"Action": "UPSERT", "ResourceRecordSet": {
            "Name": "tf.example.org.", "Type": "A", "TTL": 60,
            "ResourceRecords": [{"Value": "192.0.2.1"}]}}]}, f)
    r = common.run([PORT53, "check"] + opts[:4] + ["example.org=" + exp + "," + batch])
    check(r.returncode != 0 and "InvalidChangeBatch" in r.stderr and
          "traffic policy instance" in r.stderr, "change batch on a policy record: " + r.stderr)


def tf_refusals(tmp):
    doc = json.load(open(os.path.join(FIX, "traffic-policy.json")))

    def bad(mutate, want):
        d = json.loads(json.dumps(doc))
        mutate(d)
        path = os.path.join(tmp, "tf.json")
        with open(path, "w") as f:
            json.dump(d, f)
        r = common.run([PORT53, "check", "--health-checks", os.path.join(FIX, "health-check.json"),
                        "--alias-map", os.path.join(FIX, "alias-map.json"),
                        "example.org=" + fx("cidr.json", "list-output.json") + "," + path])
        check(r.returncode != 0 and all(w in r.stderr for w in want),
              "traffic flow refused with %s: %s" % (want, r.stderr.strip()))
    bad(lambda d: d["TrafficPolicyInstances"][0].update(TrafficPolicyVersion=3),
        ["TrafficPolicyInstances[0]", "NoSuchTrafficPolicy"])

    def loop(d):
        g = json.loads(d["TrafficPolicies"][3]["Document"])
        g["Rules"]["us_switch"]["Secondary"] = {"RuleReference": "mix"}
        d["TrafficPolicies"][3]["Document"] = json.dumps(g)
    bad(loop, ["TrafficPolicyInstances[2]", "InvalidTrafficPolicyDocument",
               "a rule refers to itself through RuleReference"])

    def deep(d):
        g = json.loads(d["TrafficPolicies"][3]["Document"])
        for k in range(6):
            g["Rules"]["w%d" % k] = {"RuleType": "weighted", "Items": [
                {"RuleReference": "w%d" % (k + 1), "Weight": "1"}]}
        g["Rules"]["w6"] = {"RuleType": "weighted", "Items": [
            {"EndpointReference": "p", "Weight": "1"}]}
        g["Rules"]["by_country"]["Locations"][0] = {"RuleReference": "w0", "Country": "US"}
        d["TrafficPolicies"][3]["Document"] = json.dumps(g)
    bad(deep, ["InvalidTrafficPolicyDocument", "rules nested more than 4 levels"])

    def mv(d):
        g = json.loads(d["TrafficPolicies"][3]["Document"])
        g["Rules"]["mix"]["RuleType"] = "multivalue"
        d["TrafficPolicies"][3]["Document"] = json.dumps(g)
    bad(mv, ["InvalidTrafficPolicyDocument", "a multivalue rule's items are endpoints"])

    def nohc(d):
        g = json.loads(d["TrafficPolicies"][3]["Document"])
        g["Rules"]["us_switch"]["Primary"]["HealthCheck"] = "no-such-check"
        d["TrafficPolicies"][3]["Document"] = json.dumps(g)
    bad(nohc, ["geo-0/weighted-0/failover-0", "NoSuchHealthCheck"])

    def country(d):
        g = json.loads(d["TrafficPolicies"][2]["Document"])
        g["Rules"]["by_country"]["Locations"][0]["Country"] = "UK"
        d["TrafficPolicies"][2]["Document"] = json.dumps(g)
    bad(country, ["TrafficPolicyInstances (tfgeo.example.org.", "GeoLocation.CountryCode",
                  "InvalidInput"])


def refusals(tmp):
    base = json.load(open(os.path.join(FIX, "list-output.json")))

    def bad(mutate, want, extra_files=("cidr.json",), checks=True):
        doc = json.loads(json.dumps(base))
        mutate(doc)
        path = os.path.join(tmp, "bad.json")
        with open(path, "w") as f:
            json.dump(doc, f)
        args = [PORT53, "check", "--alias-map", os.path.join(FIX, "alias-map.json")]
        if checks:
            args += ["--health-checks", os.path.join(FIX, "health-check.json")]
        args.append("example.org=" + ",".join([os.path.join(FIX, e) for e in extra_files] + [path]))
        r = common.run(args)
        ok = r.returncode != 0 and all(w in r.stderr for w in want)
        check(ok, "refused with %s: rc=%d %s" % (want, r.returncode, r.stderr.strip()))

    def setkey(i, k, v):
        def m(doc):
            doc["ResourceRecordSets"][i][k] = v
        return m

    def rename(i, old, new):
        def m(doc):
            s = doc["ResourceRecordSets"][i]
            s[new] = s.pop(old)
        return m
    bad(rename(7, "HealthCheckId", "HealthCheckID"),
        ["ResourceRecordSets[7].HealthCheckID", "InvalidInput", "unknown key"])
    bad(lambda d: None, ["ResourceRecordSets[7].HealthCheckId", "NoSuchHealthCheck"],
        checks=False)
    bad(lambda d: d["ResourceRecordSets"][5]["CidrRoutingConfig"].update(LocationName="home"),
        ["ResourceRecordSets[5].CidrRoutingConfig.LocationName", "NoSuchCidrLocation"])
    bad(lambda d: None, ["CidrRoutingConfig.CollectionId", "NoSuchCidrCollection"],
        extra_files=())
    bad(setkey(3, "Type", "a"), ["ResourceRecordSets[3].Type", "InvalidInput"])
    bad(setkey(3, "Type", "A6"), ["ResourceRecordSets[3].Type", "InvalidInput"])

    def geo(code, sub=None):
        def m(doc):
            g = {"CountryCode": code}
            if sub:
                g["SubdivisionCode"] = sub
            doc["ResourceRecordSets"].append(
                {"Name": "geo.example.org.", "Type": "A", "SetIdentifier": "g",
                 "GeoLocation": g, "TTL": 60, "ResourceRecords": [{"Value": "192.0.2.1"}]})
        return m
    bad(geo("UK"), ["GeoLocation.CountryCode", "InvalidInput"])
    bad(geo("US", "XX"), ["GeoLocation.SubdivisionCode", "InvalidInput"])
    bad(setkey(3, "Name", "\\089.example.org."), ["ResourceRecordSets[3].Name", "octal"])
    # CALCULATED with a CALCULATED child, in a health-checks-only file.
    calc = {"HealthChecks": [
        {"Id": "leaf", "HealthCheckConfig": {"Type": "TCP", "IPAddress": "127.0.0.1", "Port": 9}},
        {"Id": "mid", "HealthCheckConfig": {"Type": "CALCULATED", "HealthThreshold": 1,
                                            "ChildHealthChecks": ["leaf"]}},
        {"Id": "top", "HealthCheckConfig": {"Type": "CALCULATED", "HealthThreshold": 1,
                                            "ChildHealthChecks": ["mid"]}}]}
    cpath = os.path.join(tmp, "calc.json")
    with open(cpath, "w") as f:
        json.dump(calc, f)
    r = common.run([PORT53, "check", "--health-checks", os.path.join(FIX, "health-check.json"),
                    "example.org=" + fx("cidr.json") + "," + cpath + "," + fx("list-output.json")])
    check(r.returncode != 0 and "ChildHealthChecks[0]: InvalidInput" in r.stderr and
          "calculated children" in r.stderr, "CALCULATED child refused: " + r.stderr)
    # A file of only health checks is fine on its own.
    calc["HealthChecks"] = calc["HealthChecks"][:2]
    with open(cpath, "w") as f:
        json.dump(calc, f)
    r = common.run([PORT53, "check", "--health-checks", os.path.join(FIX, "health-check.json"),
                    "example.org=" + fx("cidr.json") + "," + cpath + "," + fx("list-output.json")])
    check(r.returncode == 0, "health-checks-only file accepted: " + r.stderr)


def main():
    with common.tempdir() as tmp:
        snap = os.path.join(tmp, "org.p53")
        hc = os.path.join(FIX, "health-check.json")
        amap = os.path.join(FIX, "alias-map.json")
        zone = "example.org=" + fx("cidr.json", "list-output.json", "aliases.json",
                                   "traffic-policy.json")
        # An alias to an AWS resource with no mapping: refused, naming the
        # record and the resource.
        r = common.run([PORT53, "check", "--health-checks", hc, zone])
        check(r.returncode != 0 and "aliases.json: ResourceRecordSets[0].AliasTarget.DNSName" in
              r.stderr and "dualstack.my-lb-1234567890.us-east-1.elb.amazonaws.com. (type A)" in
              r.stderr and "no mapping" in r.stderr, "unmapped AWS alias refused: " + r.stderr)
        r = common.run([PORT53, "compile", "-o", snap, "--health-checks", hc, "--alias-map", amap,
                        "--geo", os.path.join(FIX, "geo.csv"), zone])
        check(r.returncode == 0, "fixtures compile: " + r.stderr)
        srv = common.Port53(PORT53, None, tmp, extra=["--health-checks", hc])
        srv.snapshot = snap
        try:
            srv.start(deadline=10.0)
            served(srv.port, tmp)
            aws_aliases(srv.port)
            traffic_flow(srv.port)
        finally:
            srv.stop()

        # What the change batch would change, against the snapshot.
        zone2 = zone + "," + fx("change-batch.json")
        r = common.run([PORT53, "diff", "--health-checks", hc, "--alias-map", amap, snap, zone2])
        lines = r.stdout.splitlines()
        check(r.returncode == 1 and
              any(l.startswith("+ api.example.org. AAAA ") for l in lines) and
              any(l.startswith("- ptr.example.org. PTR ") for l in lines) and
              "~ www.example.org. CNAME" in lines and
              '    ResourceRecords: [{"Value":"web.example.com."}] -> [{"Value":"web2.example.com."}]'
              in lines and "zone example.org: 1 added, 1 removed, 1 changed" in lines,
              "diff: rc=%d\n%s%s" % (r.returncode, r.stdout, r.stderr))
        before = open(snap, "rb").read()
        r = common.run([PORT53, "compile", "--dry-run", "-o", snap, "--health-checks", hc,
                        "--alias-map", amap, zone2])
        check(r.returncode == 0 and "1 added, 1 removed, 1 changed" in r.stdout and
              open(snap, "rb").read() == before, "compile --dry-run writes nothing")
        r = common.run([PORT53, "diff", "--health-checks", hc, "--alias-map", amap, snap, zone])
        check(r.returncode == 0 and "0 added, 0 removed, 0 changed" in r.stdout,
              "no change: exit 0")

        # The change-batch export: what change-resource-record-sets takes,
        # with a stable zone id, compiled back to the same sets.
        r = common.run([PORT53, "export", "--format", "route53-changes", snap, "example.org"])
        doc = json.loads(r.stdout)
        r2 = common.run([PORT53, "export", "--format", "route53-changes", snap, "example.org"])
        zid = doc["HostedZoneId"]
        check(zid.startswith("Z") and len(zid) == 21 and zid.isalnum() and
              zid != "example.org." and json.loads(r2.stdout)["HostedZoneId"] == zid,
              "stable hosted-zone id: %s" % zid)
        changes = doc["ChangeBatch"]["Changes"]
        check(all(c["Action"] == "UPSERT" for c in changes) and
              {c["ResourceRecordSet"]["Name"] for c in changes} >=
              {"\\052.example.org.", "www.example.org."}, "export names \\052")
        cf = [c["ResourceRecordSet"] for c in changes
              if c["ResourceRecordSet"].get("SetIdentifier") == "cloudfront"]
        check(cf and cf[0].get("AliasTarget") == {
            "HostedZoneId": "Z2FDTNDATAQYW2", "DNSName": "d111111abcdef8.cloudfront.net.",
            "EvaluateTargetHealth": False} and "TTL" not in cf[0],
            "AWS alias exported as the alias: %s" % cf)
        txt = [c["ResourceRecordSet"] for c in changes
               if c["ResourceRecordSet"]["Type"] == "TXT"][0]
        check('"caf\\351" "say \\"hi\\""' in [v["Value"] for v in txt["ResourceRecords"]],
              "TXT octal written back: %s" % txt)
        exp = os.path.join(tmp, "changes.json")
        with open(exp, "w") as f:
            f.write(r.stdout)
        snap2 = os.path.join(tmp, "org2.p53")
        # Policy records are not in a change batch (Route 53 makes them
        # from create-traffic-policy-instance): the batch and the traffic
        # policies together are the zone.
        check(not any(c["ResourceRecordSet"]["Name"].startswith("tf") for c in changes),
              "policy records left out of the change batch")
        r = common.run([PORT53, "compile", "-o", snap2, "--health-checks", hc, "--alias-map", amap,
                        "example.org=" + fx("cidr.json") + "," + exp + "," +
                        fx("traffic-policy.json")])
        check(r.returncode == 0, "change-batch export compiles: " + r.stderr)
        r = common.run([PORT53, "diff", "--health-checks", hc, "--alias-map", amap, snap,
                        "example.org=" + fx("cidr.json") + "," + exp + "," +
                        fx("traffic-policy.json")])
        check(r.returncode == 0, "change-batch export is the same zone: " + r.stdout)
        # The zone-file export: plain records as records, policy sets and
        # aliases as $ROUTE53 lines; compiled back, the same zone.
        r = common.run([PORT53, "export", "--format", "zone", snap, "example.org"])
        zf = os.path.join(tmp, "org.zone")
        with open(zf, "w") as f:
            f.write(r.stdout)
        lines = r.stdout.splitlines()
        check(r.returncode == 0 and "*.example.org.\t60\tIN\tA\t192.0.2.50" in lines and
              any(l.startswith("$ROUTE53 {") and '"SetIdentifier":"primary"' in l for l in lines) and
              any(l.startswith("$ROUTE53 {") and "d111111abcdef8.cloudfront.net." in l
                  for l in lines) and
              not any(l.startswith(";") for l in lines), "zone export:\n" + r.stdout[:2000])
        r = common.run([PORT53, "diff", "--health-checks", hc, "--alias-map", amap, snap,
                        "example.org=" + zf])
        check(r.returncode == 0 and "0 added, 0 removed, 0 changed" in r.stdout,
              "zone export compiles back to the same zone: " + r.stdout + r.stderr)
        with open(zf, "a") as f:
            f.write("$ROUTE53 {not json\n")
        r = common.run([PORT53, "check", "--health-checks", hc, "--alias-map", amap,
                        "example.org=" + zf])
        check(r.returncode != 0 and ("org.zone:%d:" % (len(lines) + 1)) in r.stderr,
              "bad $ROUTE53 line refused with file:line: " + r.stderr)
        refusals(tmp)
        tf_refusals(tmp)
        tf_export(tmp, snap, hc, amap)
    return check.finish()


if __name__ == "__main__":
    sys.exit(main())
