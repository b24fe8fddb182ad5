#!/usr/bin/python3
"""Crafted snapshots: well sealed, structurally wrong, and refused.

Each case compiles real zones, changes a few bytes of the snapshot the way
an attacker (or a broken build host) could, recomputes every checksum
exactly as docs/snapshot-format.md defines them (SHA-256 here, written from
the format page, not by port53), and requires `port53 info` to refuse the
file with a message naming the fault, and `port53 serve` not to start on it.
The layout is read from the format page too: header, section table, and
the ZONES, NODES, RRSETS, HASH, RDATA, ANS, BLOBS, GROUPS and MEMBERS
records. The unmodified file must load, so every refusal is the change's.
"""

import hashlib
import json
import os
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.dirname(__file__))
import common  # noqa: E402

PORT53 = os.environ.get("PORT53") or common.default_port53()

HDR = 96
SECT = 40
NSECT = 27
NODESEC, ANSDO, DOBLOBS = 21, 22, 23
NSEC3Z, NSEC3, NODESEC3 = 24, 25, 26
ZONES, NODES, RRSETS, HASH, NAMES, RDATA, ANS, BLOBS, GROUPS, MEMBERS = range(1, 11)
T_A, T_NS, T_CNAME, T_SOA, T_MX, T_DNAME = 1, 2, 5, 6, 15, 39
N_APEX, N_DELEG, N_OCCLUDED, N_CNAME, N_DNAME, N_WILD, N_ENT, N_NSEC3, N_PARENT = \
    (1 << i for i in range(9))
M_ALIAS = 1 << 4

check = common.Checks(verbose=True)


class Snap:
    """A snapshot image with the views the cases need."""

    def __init__(self, data):
        self.b = bytearray(data)
        self.sect = {}
        for i in range(NSECT):
            sid, _, off, ln = struct.unpack_from("<IIQQ", self.b, HDR + SECT * i)
            self.sect[sid] = (i, off, ln)

    def off(self, sid):
        return self.sect[sid][1]

    def count(self, sid, size):
        return self.sect[sid][2] // size

    # records: (field offsets from the format page)
    def node(self, i):
        o = self.off(NODES) + 36 * i
        name, nlen, labels, flags, zone, cut, wild, rrset, nrr, nans, ans, other = \
            struct.unpack_from("<IBBHIIIIHHII", self.b, o)
        return dict(o=o, name=name, nlen=nlen, flags=flags, zone=zone, cut=cut, wild=wild,
                    rrset=rrset, nrr=nrr, nans=nans, ans=ans, other=other)

    def node_name(self, i):
        n = self.node(i)
        w = bytes(self.b[self.off(NAMES) + n["name"]:self.off(NAMES) + n["name"] + n["nlen"]])
        out, p = [], 0
        while w[p]:
            out.append(w[p + 1:p + 1 + w[p]].decode())
            p += 1 + w[p]
        return ".".join(out) + "."

    def find_node(self, name):
        for i in range(self.count(NODES, 36)):
            if self.node_name(i) == name:
                return i
        raise KeyError(name)

    def rrset(self, i):
        o = self.off(RRSETS) + 16 * i
        t, cnt, ttl, rd, ln = struct.unpack_from("<HHIII", self.b, o)
        return dict(o=o, type=t, count=cnt, rdata=rd, len=ln)

    def node_sets(self, i):
        n = self.node(i)
        return [dict(self.rrset(n["rrset"] + k), index=n["rrset"] + k) for k in range(n["nrr"])]

    def group(self, i):
        o = self.off(GROUPS) + 20 * i
        mem, nm, pol, flags, node, coll, t = struct.unpack_from("<IHBBIIH", self.b, o)
        return dict(o=o, member=mem, nmembers=nm, policy=pol, flags=flags, node=node, type=t)

    def member(self, i):
        o = self.off(MEMBERS) + 64 * i
        rrset, alias = struct.unpack_from("<II", self.b, o)
        flags = self.b[o + 26]
        return dict(o=o, rrset=rrset, alias=alias, flags=flags)

    def group_of(self, node, rtype):
        for s in self.node_sets(node):
            if s["type"] == rtype and s["count"] == 0:
                return s["rdata"]
        raise KeyError((node, rtype))

    def put32(self, off, v):
        struct.pack_into("<I", self.b, off, v)

    def put16(self, off, v):
        struct.pack_into("<H", self.b, off, v)

    def seal(self):
        """Section sums (first 16 bytes of SHA-256) and the content hash
        (SHA-256 of header and table with the hash field zeroed)."""
        for sid, (i, off, ln) in self.sect.items():
            d = hashlib.sha256(bytes(self.b[off:off + ln])).digest()[:16]
            self.b[HDR + SECT * i + 24:HDR + SECT * i + 40] = d
        hdr = bytearray(self.b[:HDR + SECT * NSECT])
        hdr[40:72] = bytes(32)
        self.b[40:72] = hashlib.sha256(bytes(hdr)).digest()
        return bytes(self.b)


def compile_snapshot(work, name, zones, extra=()):
    out = os.path.join(work, name + ".p53")
    r = subprocess.run([PORT53, "compile", "--serial", "7", "-o", out] + list(extra) + zones,
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise SystemExit("compile %s: %s" % (name, r.stderr))
    with open(out, "rb") as f:
        return f.read()


def info(work, data, name):
    path = os.path.join(work, name + ".p53")
    with open(path, "wb") as f:
        f.write(data)
    r = subprocess.run([PORT53, "info", path], capture_output=True, text=True, timeout=30)
    return r.returncode, r.stderr.strip(), path


def refused(work, base, mutate, name, reason):
    s = Snap(base)
    mutate(s)
    rc, msg, _ = info(work, s.seal(), name)
    check(rc == 1 and reason in msg and "checksum" not in msg,
          "%s: refused (%s)" % (name, reason), (rc, msg))


def serve_refuses(work, path, name):
    """port53 serve must not start on the file (nor crash)."""
    r = subprocess.run([PORT53, "serve", "-s", path, "-l", "127.0.0.1:%d" % common.free_port()],
                       capture_output=True, text=True, timeout=30)
    check(r.returncode > 0 and "snapshot" in r.stderr,
          "%s: port53 serve refuses to start" % name, (r.returncode, r.stderr[-300:]))


def zone_cases(work):
    z = os.path.join(ROOT, "tests", "zones")
    base = compile_snapshot(work, "zones", [
        "example.net=" + os.path.join(z, "example.net.zone"),
        "example.org=" + os.path.join(z, "example.org.zone"),
        "child.example.org=" + os.path.join(z, "child.example.org.zone")])
    rc, msg, _ = info(work, Snap(base).seal(), "zones-resealed")
    check(rc == 0, "the compiled snapshot, resealed here, loads", msg)
    s = Snap(base)
    www = s.find_node("www.example.net.")
    dn = s.find_node("dn.example.net.")
    ftp = None
    for i in range(s.count(NODES, 36)):
        if s.node(i)["flags"] & N_CNAME:
            ftp = i
            break
    wild_parent = s.find_node("wild.example.net.")
    ns_apex = s.find_node("example.org.")

    # The case: a node flagged DNAME without DNAME records.
    def dname_flag(x):
        n = x.node(www)
        x.put16(n["o"] + 6, n["flags"] | N_DNAME)
    refused(work, base, dname_flag, "dname-flag", "DNAME flag disagrees with its RRsets")
    s2 = Snap(base)
    dname_flag(s2)
    _, _, path = info(work, s2.seal(), "dname-flag-serve")
    serve_refuses(work, path, "dname-flag")

    def dname_unflag(x):
        n = x.node(dn)
        x.put16(n["o"] + 6, n["flags"] & ~N_DNAME)
    refused(work, base, dname_unflag, "dname-unflagged", "DNAME flag disagrees")

    def cname_flag(x):
        n = x.node(ftp)
        x.put16(n["o"] + 6, n["flags"] & ~N_CNAME)
    refused(work, base, cname_flag, "cname-unflagged", "CNAME flag disagrees")

    def wildcard(x):  # the "*" child of a node that is not "*"
        n = x.node(wild_parent)
        x.put32(n["o"] + 16, www)
    refused(work, base, wildcard, "wildcard-child", "wildcard child")

    def cut(x):  # a zone cut that is not a delegation
        n = x.node(www)
        x.put32(n["o"] + 12, www)
        x.put16(n["o"] + 6, n["flags"] | N_DELEG)
    refused(work, base, cut, "cut-not-deleg", "delegation without NS records")

    def cut_range(x):
        n = x.node(www)
        x.put32(n["o"] + 12, 0xfffffff0)
    refused(work, base, cut_range, "cut-out-of-range", "zone cut is not a delegation above it")

    # The parent's side of a served child's cut: flagged on a plain node,
    # on a delegation without a child zone, or taken off the real one.
    sub = s.find_node("sub.example.org.")
    side = [i for i in range(s.count(NODES, 36)) if s.node(i)["flags"] & N_PARENT]
    check(len(side) == 1 and s.node_name(side[0]) == "child.example.org."
          and s.node(side[0])["flags"] & N_DELEG,
          "the parent's side of child.example.org.'s cut is one PARENT node", side)

    def parent_plain(x):
        n = x.node(www)
        x.put16(n["o"] + 6, n["flags"] | N_PARENT)
    refused(work, base, parent_plain, "parent-flag-plain", "no delegation")

    def parent_nochild(x):
        n = x.node(sub)
        x.put16(n["o"] + 6, n["flags"] | N_PARENT)
    refused(work, base, parent_nochild, "parent-flag-no-child", "hash index holds")

    def parent_unflag(x):
        n = x.node(side[0])
        x.put16(n["o"] + 6, n["flags"] & ~N_PARENT)
    refused(work, base, parent_unflag, "parent-flag-off", "hash index holds")

    def apex_flag(x):
        n = x.node(ns_apex)
        x.put16(n["o"] + 6, n["flags"] & ~N_APEX)
    refused(work, base, apex_flag, "apex-flag", "apex flag disagrees")

    def ns_name(x):  # an NS target whose first label runs past the record
        for st in x.node_sets(ns_apex):
            if st["type"] == T_NS:
                x.b[x.off(RDATA) + st["rdata"] + 2] = 63
                return
        raise KeyError("NS")
    refused(work, base, ns_name, "rdata-name", "malformed domain name in a record")

    svc = s.find_node("svc-self.example.net.")

    def https_target(x):  # an HTTPS TargetName (followed for additional data) past its record
        for st in x.node_sets(svc):
            if st["type"] == 65:
                x.b[x.off(RDATA) + st["rdata"] + 4] = 63
                return
        raise KeyError("HTTPS")
    refused(work, base, https_target, "https-target", "malformed domain name in a record")

    def rr_count(x):
        st = x.node_sets(www)[0]
        x.put16(st["o"] + 2, st["count"] + 1)
    refused(work, base, rr_count, "record-count", "record count beyond its rdata")

    def rr_range(x):
        st = x.node_sets(www)[0]
        x.put32(st["o"] + 8, 0x7fffffff)
    refused(work, base, rr_range, "rdata-range", "rdata outside the RDATA section")

    def node_range(x):
        n = x.node(www)
        x.put16(n["o"] + 24, 0xffff)
    refused(work, base, node_range, "rrset-range", "RRset range outside RRSETS")

    def soa(x):  # the zone's SOA pointing at another RRset
        zo = x.off(ZONES)
        x.put32(zo + 8, struct.unpack_from("<I", x.b, zo + 8)[0] + 1)
    refused(work, base, soa, "zone-soa", "SOA is not one record at the apex")

    def hash_entry(x):  # an index entry under another hash: never found
        ho = x.off(HASH)
        slots = struct.unpack_from("<I", x.b, ho)[0]
        for k in range(slots):
            h, nd = struct.unpack_from("<II", x.b, ho + 8 + 8 * k)
            if nd:
                x.put32(ho + 8 + 8 * k, h ^ 0x10000)
                return
    refused(work, base, hash_entry, "hash-entry", "not found by its hash in the index")

    def hash_dup(x):  # a node listed twice (and one missing)
        ho = x.off(HASH)
        slots = struct.unpack_from("<I", x.b, ho)[0]
        used = [k for k in range(slots) if struct.unpack_from("<II", x.b, ho + 8 + 8 * k)[1]]
        x.put32(ho + 8 + 8 * used[1] + 4, struct.unpack_from("<I", x.b, ho + 8 + 8 * used[0] + 4)[0])
    refused(work, base, hash_dup, "hash-duplicate", "listed twice")

    def hash_full(x):  # every slot used: a probe for an absent name never ends
        ho = x.off(HASH)
        slots = struct.unpack_from("<I", x.b, ho)[0]
        for k in range(slots):
            if not struct.unpack_from("<II", x.b, ho + 8 + 8 * k)[1]:
                x.put32(ho + 8 + 8 * k + 4, 1)
    refused(work, base, hash_full, "hash-full", "hash index holds")

    def blob_cut(x):  # an inner truncation point of a pre-rendered answer inside a record
        for i in range(x.count(NODES, 36)):
            n = x.node(i)
            for k in range(n["nans"]):
                a = x.off(ANS) + 8 * (n["ans"] + k)
                flags, blob = struct.unpack_from("<HI", x.b, a + 2)
                if flags & 1:
                    continue
                if struct.unpack_from("<H", x.b, x.off(BLOBS) + blob + 10)[0]:
                    x.put16(x.off(BLOBS) + blob + 12, 1)
                    return
        raise AssertionError("no pre-rendered answer with inner cuts")
    refused(work, base, blob_cut, "blob-inner-cut", "pre-rendered answer's cut")

    def blob_any(x):  # an answer entry flag the format does not define
        n = x.node(www)
        x.put16(x.off(ANS) + 8 * n["ans"] + 2, 4)
    refused(work, base, blob_any, "ans-flags", "pre-rendered answer with unknown flags")

    def blob_pointer(x):  # a compression pointer forward, past itself
        n = x.node(www)
        a = x.off(ANS) + 8 * n["ans"]
        blob = struct.unpack_from("<I", x.b, a + 4)[0]
        ncut = struct.unpack_from("<H", x.b, x.off(BLOBS) + blob + 10)[0]
        data = x.off(BLOBS) + blob + 12 + 8 * ncut
        x.b[data] = 0xc3
        x.b[data + 1] = 0xff
    refused(work, base, blob_pointer, "blob-pointer", "pre-rendered answer does not parse")

    def blob_range(x):
        n = x.node(www)
        x.put32(x.off(ANS) + 8 * n["ans"] + 4, 0x7ffffff0)
    refused(work, base, blob_range, "blob-range", "pre-rendered answer outside BLOBS")

    def names(x):  # an owner name whose label runs past its length
        n = x.node(www)
        x.b[x.off(NAMES) + n["name"]] = 60
    refused(work, base, names, "owner-name", "owner name malformed")

    def ent(x):
        n = x.node(www)
        x.put16(n["o"] + 6, n["flags"] | N_ENT)
    refused(work, base, ent, "ent-with-records", "empty non-terminal holding records")


def policy_cases(work):
    r53 = os.path.join(ROOT, "tests", "e2e", "r53")
    base = compile_snapshot(work, "r53", ["example.com=" + os.path.join(r53, "example.json")],
                            ["--geo", os.path.join(r53, "geo.csv")])
    rc, msg, _ = info(work, Snap(base).seal(), "r53-resealed")
    check(rc == 0, "the compiled Route 53 snapshot, resealed here, loads", msg)
    s = Snap(base)
    www = s.find_node("www.example.com.")
    fo = s.find_node("fo.example.com.")
    g = s.group(s.group_of(www, T_A))

    # The case: a member flagged alias without an alias.
    def alias_flag(x):
        m = x.member(g["member"])
        x.b[m["o"] + 26] = m["flags"] | M_ALIAS
    refused(work, base, alias_flag, "member-alias-flag", "alias flag disagrees")
    s2 = Snap(base)
    alias_flag(s2)
    _, _, path = info(work, s2.seal(), "member-alias-serve")
    serve_refuses(work, path, "member-alias-flag")

    def member_type(x):  # a member RRset of another type than its group: the SOA
        m = x.member(g["member"])
        soa = struct.unpack_from("<I", x.b, x.off(ZONES) + 8)[0]
        x.put32(m["o"], soa)
    refused(work, base, member_type, "member-type", "of another type")

    def member_placeholder(x):
        m = x.member(g["member"])
        x.put32(m["o"], next(st["index"] for st in x.node_sets(www) if st["count"] == 0))
    refused(work, base, member_placeholder, "member-placeholder", "a placeholder")

    def group_range(x):
        x.put16(g["o"] + 4, 0x7fff)
    refused(work, base, group_range, "group-members", "member range out of bounds")

    def group_owner(x):
        x.put32(g["o"] + 8, fo)
    refused(work, base, group_owner, "group-owner", "holds another node's policy group")

    def policy_kind(x):
        x.b[g["o"] + 6] = 42
    refused(work, base, policy_kind, "policy-kind", "unknown policy")


def alias_graph_cases(work):
    records = [
        {"Name": "example.com.", "Type": "SOA", "TTL": 900, "ResourceRecords": [
            {"Value": "ns1.example.com. hostmaster.example.com. 1 7200 900 1209600 86400"}]},
        {"Name": "example.com.", "Type": "NS", "TTL": 900,
         "ResourceRecords": [{"Value": "ns1.example.com."}]},
        {"Name": "ns1.example.com.", "Type": "A", "TTL": 900,
         "ResourceRecords": [{"Value": "192.0.2.1"}]},
        {"Name": "c.example.com.", "Type": "A", "TTL": 60,
         "ResourceRecords": [{"Value": "192.0.2.3"}]},
    ]

    def alias(name, target):
        return {"Name": name, "Type": "A", "AliasTarget": {
            "HostedZoneId": "Z1", "DNSName": target, "EvaluateTargetHealth": True}}

    path = os.path.join(work, "chain.json")
    with open(path, "w") as f:
        json.dump({"ResourceRecordSets": records + [alias("a.example.com.", "b.example.com."),
                                                    alias("b.example.com.", "c.example.com.")]},
                  f)
    base = compile_snapshot(work, "chain", ["example.com=" + path])
    s = Snap(base)
    a, b = s.find_node("a.example.com."), s.find_node("b.example.com.")
    gb = s.group(s.group_of(b, T_A))

    def loop(x):  # b's alias pointed back at a: a -> b -> a
        x.put32(x.member(gb["member"])["o"] + 4, a)
    refused(work, base, loop, "alias-loop", "alias chain loops")

    # The compiler refuses such a loop itself, from the JSON.
    with open(path, "w") as f:
        json.dump({"ResourceRecordSets": records + [alias("a.example.com.", "b.example.com."),
                                                    alias("b.example.com.", "a.example.com.")]},
                  f)
    out = os.path.join(work, "loop.p53")
    r = subprocess.run([PORT53, "compile", "-o", out, "example.com=" + path],
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 1 and "alias chain loops" in r.stderr and not os.path.exists(out),
          "compile refuses an alias loop", r.stderr)

    # Six simple aliases in a row: deeper than the engine follows.
    chain = [alias("l%d.example.com." % i, "l%d.example.com." % (i + 1)) for i in range(6)]
    chain.append({"Name": "l6.example.com.", "Type": "A", "TTL": 60,
                  "ResourceRecords": [{"Value": "192.0.2.6"}]})
    with open(path, "w") as f:
        json.dump({"ResourceRecordSets": records + chain}, f)
    r = subprocess.run([PORT53, "compile", "-o", out, "example.com=" + path],
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 1 and "deeper than 4 links" in r.stderr,
          "compile refuses an alias chain deeper than the engine follows", r.stderr)


def nested_group_cases(work):
    """Traffic-flow rules inside rules: a member that is a nested group
    (MEM_GROUP, its alias field a GROUPS index) and groups held by no node
    (GRP_NESTED). A snapshot with valid checksums must not loop the engine
    or send it outside the tables."""
    records = [
        {"Name": "example.com.", "Type": "SOA", "TTL": 900, "ResourceRecords": [
            {"Value": "ns1.example.com. hostmaster.example.com. 1 7200 900 1209600 86400"}]},
        {"Name": "example.com.", "Type": "NS", "TTL": 900,
         "ResourceRecords": [{"Value": "ns1.example.com."}]},
        {"Name": "ns1.example.com.", "Type": "A", "TTL": 900,
         "ResourceRecords": [{"Value": "192.0.2.1"}]},
    ]

    def ep(sid, value, **kw):
        d = {"Name": "t.example.com.", "Type": "A", "SetIdentifier": sid, "TTL": 60,
             "ResourceRecords": [{"Value": value}]}
        d.update(kw)
        return d
    inner = [ep("n2a", "192.0.2.21", Weight=1), ep("n2b", "192.0.2.22", Weight=1)]
    mid = [{"Name": "t.example.com.", "Type": "A", "SetIdentifier": "n1p", "Failover": "PRIMARY",
            "P53NestedRule": inner}, ep("n1s", "192.0.2.12", Failover="SECONDARY")]
    top = [{"Name": "t.example.com.", "Type": "A", "SetIdentifier": "top", "Weight": 1,
            "P53NestedRule": mid}, ep("other", "192.0.2.2", Weight=0)]
    path = os.path.join(work, "nested.json")
    with open(path, "w") as f:
        json.dump({"ResourceRecordSets": records + top}, f)
    base = compile_snapshot(work, "nested", ["example.com=" + path])
    s = Snap(base)
    t = s.find_node("t.example.com.")
    gt = s.group(s.group_of(t, T_A))
    def nested_member(g):
        return next(s.member(g["member"] + k) for k in range(g["nmembers"])
                    if s.member(g["member"] + k)["flags"] & 0x80)
    top_m = nested_member(gt)
    check(top_m["rrset"] == 0xffffffff, "a member of the top group is a nested group", top_m)
    g1 = s.group(top_m["alias"])
    g1_m = nested_member(g1)
    g2 = s.group(g1_m["alias"])
    check(g1["flags"] == 1 and g2["flags"] == 1 and gt["flags"] == 0 and g2["nmembers"] == 2,
          "nested groups flagged nested, held by no node", (gt, g1, g2))

    def loop(x):  # the innermost group's first member points back at the middle one
        o = x.member(g2["member"])["o"]
        x.put32(o, 0xffffffff)
        x.put32(o + 4, top_m["alias"])
        x.b[o + 26] |= 0x80
    refused(work, base, loop, "nested-loop", "alias chain loops")

    def not_nested(x):  # a member leading to the top group, which a node holds
        x.put32(g1_m["o"] + 4, s.group_of(t, T_A))
    refused(work, base, not_nested, "nested-not-nested", "nested group not nested")

    def out_of_range(x):
        x.put32(top_m["o"] + 4, 0x00ffffff)
    refused(work, base, out_of_range, "nested-range", "nested group out of range")

    def group_flags(x):
        x.b[g1["o"] + 7] = 0x3
    refused(work, base, group_flags, "group-flags", "unknown flags")

    def unflag(x):  # a group no node holds that does not say it is nested
        x.b[g1["o"] + 7] = 0
    refused(work, base, unflag, "nested-unflagged", "nested group not nested")

    def both(x):  # MEM_GROUP and MEM_ALIAS on one member
        x.b[top_m["o"] + 26] |= 0x10
    refused(work, base, both, "nested-and-alias", "alias flag disagrees")

    def other_type(x):
        x.put16(g1["o"] + 16, 28)
    refused(work, base, other_type, "nested-type", "of another type or owner")

    # Five nested groups in a row: deeper than the engine follows; the
    # compiler refuses it before the loader would.
    sets = ep("leaf", "192.0.2.9", Weight=1)
    for k in range(5):
        sets = {"Name": "t.example.com.", "Type": "A", "SetIdentifier": "l%d" % k, "Weight": 1,
                "P53NestedRule": [sets]}
    with open(path, "w") as f:
        json.dump({"ResourceRecordSets": records + [sets]}, f)
    r = subprocess.run([PORT53, "compile", "-o", os.path.join(work, "deep.p53"),
                        "example.com=" + path], capture_output=True, text=True, timeout=60)
    check(r.returncode == 1 and "nested more than 4 levels" in r.stderr,
          "compile refuses rules nested deeper than the engine follows", r.stderr)
def dnssec_cases(work):
    """The DNSSEC sections (docs/dnssec.md): an NSEC node outside the zone,
    a DO=1 answer outside DOBLOBS, a NODESEC of the wrong size."""
    keys = os.path.join(work, "keys")
    os.makedirs(keys, exist_ok=True)
    r = subprocess.run([PORT53, "dnssec-keygen", "-K", keys, "example.com"],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise SystemExit("dnssec-keygen: %s" % r.stderr)
    base = compile_snapshot(work, "signed", ["example.com=" + os.path.join(ROOT, "tests", "zones",
                                                                         "example.com.zone")],
                            ["--dnssec-keys", keys])
    rc, msg, _ = info(work, Snap(base).seal(), "signed-resealed")
    check(rc == 0, "the compiled signed snapshot, resealed here, loads", msg)
    s = Snap(base)
    www = s.find_node("www.example.com.")
    check(s.count(NODESEC, 8) == s.count(NODES, 36) and s.sect[DOBLOBS][2] > 0,
          "a signed snapshot has NODESEC and DO=1 answers")

    def nsec_node(x):
        x.put32(x.off(NODESEC) + 8 * www, 0x7ffffff0)
    refused(work, base, nsec_node, "nsec-node", "NSEC node outside its zone")

    def other_do(x):
        x.put32(x.off(NODESEC) + 8 * www + 4, 0x7ffffff0)
    refused(work, base, other_do, "other-do", "outside DOBLOBS")

    def ans_do(x):
        n = x.node(www)
        k = next(i for i in range(n["nans"])
                 if struct.unpack_from("<I", x.b, x.off(ANSDO) + 4 * (n["ans"] + i))[0] not in
                 (0, 0xffffffff))
        x.put32(x.off(ANSDO) + 4 * (n["ans"] + k), 3)  # misaligned
        return k
    refused(work, base, ans_do, "ans-do", "outside DOBLOBS")

    def nodesec_size(x):
        i, off, ln = x.sect[NODESEC]
        struct.pack_into("<Q", x.b, HDR + SECT * i + 16, ln - 8)
        x.sect[NODESEC] = (i, off, ln - 8)
        x.b[off + ln - 8:off + ln] = bytes(8)  # padding now: zero
    refused(work, base, nodesec_size, "nodesec-size", "NODESEC does not match NODES")


def nsec3_cases(work):
    """The NSEC3 sections (docs/snapshot-format.md): a zone's hash list out
    of order, iterations above what is hashed per query, a proof naming a
    node without NSEC3, the NSEC3-owner flag on a name with data, NODESEC3
    of the wrong size."""
    keys = os.path.join(work, "keys3")
    os.makedirs(keys, exist_ok=True)
    r = subprocess.run([PORT53, "dnssec-keygen", "-K", keys, "example.com"],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise SystemExit("dnssec-keygen: %s" % r.stderr)
    base = compile_snapshot(work, "nsec3", ["example.com=" + os.path.join(ROOT, "tests", "zones",
                                                                        "example.com.zone")],
                            ["--dnssec-keys", keys, "--nsec3", "example.com"])
    rc, msg, _ = info(work, Snap(base).seal(), "nsec3-resealed")
    check(rc == 0, "the compiled NSEC3 snapshot, resealed here, loads", msg)
    s = Snap(base)
    www = s.find_node("www.example.com.")
    nzones = s.count(ZONES, 24)
    check(s.count(NSEC3Z, 268) == nzones and s.count(NODESEC3, 16) == s.count(NODES, 36)
          and s.count(NSEC3, 24) > 2, "an NSEC3 snapshot has its NSEC3 sections")
    owners = [i for i in range(s.count(NODES, 36)) if s.node(i)["flags"] & N_NSEC3]
    check(len(owners) == s.count(NSEC3, 24), "every NSEC3 owner is flagged and listed",
          (len(owners), s.count(NSEC3, 24)))

    def swap(x):
        o = x.off(NSEC3)
        a, b = bytes(x.b[o:o + 24]), bytes(x.b[o + 24:o + 48])
        x.b[o:o + 24], x.b[o + 24:o + 48] = b, a
    refused(work, base, swap, "nsec3-order", "out of order")

    def iterations(x):
        x.put16(x.off(NSEC3Z) + 8, 151)
    refused(work, base, iterations, "nsec3-iter", "iterations above 150")

    def proof(x):
        x.put32(x.off(NODESEC3) + 16 * www, www)
    refused(work, base, proof, "nsec3-proof", "NSEC3 proof not an NSEC3 owner")

    def flag(x):
        n = x.node(www)
        x.put16(n["o"] + 6, n["flags"] | N_NSEC3)
    refused(work, base, flag, "nsec3-flag", "NSEC3 owner flag")

    def size(x):
        i, off, ln = x.sect[NODESEC3]
        struct.pack_into("<Q", x.b, HDR + SECT * i + 16, ln - 16)
        x.sect[NODESEC3] = (i, off, ln - 16)
        x.b[off + ln - 16:off + ln] = bytes(16)
    refused(work, base, size, "nsec3-size", "NSEC3Z and NODESEC3 do not match")


def main():
    if not os.access(PORT53, os.X_OK):
        print("port53 binary not found:", PORT53)
        return 77
    with tempfile.TemporaryDirectory(prefix="p53-snapverify-") as work:
        zone_cases(work)
        policy_cases(work)
        alias_graph_cases(work)
        nested_group_cases(work)
        dnssec_cases(work)
        nsec3_cases(work)
    return check.finish()


if __name__ == "__main__":
    sys.exit(main())
