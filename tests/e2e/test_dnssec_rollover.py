#!/usr/bin/python3
"""Key rollovers (docs/dnssec.md, RFC 7583): a ZSK by pre-publication, a
KSK by double-DS and a CSK by both at once, started with `port53 dnssec-rollover` and carried out by
compiling at each step's time (`--sig-time`), checked by dnspython's
dns.dnssec as a validating resolver would see the zone across the steps.

The test plays the parent too: its DS set follows the zone's CDS records
one step late (a parent polling CDS, RFC 7344). Steps are 1800 s apart and
every TTL is 1800 s, so what a resolver cached at one step is still live at
the next and gone at the one after: the cross-checks between consecutive
steps (old DNSKEY set with new data, new DNSKEY set with old data, cached
DS with the new DNSKEY set and the reverse) are every mix a cache can hold.
A rollover that swaps keys without waiting (--prepublish 0 --retire 0) is
run too and must break one of them, so the checks can fail.

Loopback only; every wait is bounded; servers are always stopped.
"""
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import dnssecsetup as ds  # noqa: E402

import dns.dnssec  # noqa: E402
import dns.name  # noqa: E402

check = common.Checks("dnssec-rollover")
PORT53 = common.default_port53()
ORIGIN = dns.name.from_text("roll.example.")
STEP = 1800
ZONE = """$ORIGIN roll.example.
$TTL 1800
@    1800 SOA ns1 hostmaster 1 7200 3600 1209600 1800
@    NS  ns1
ns1  A   192.0.2.1
www  A   192.0.2.10
"""
QUESTIONS = (("roll.example.", "SOA"), ("www.roll.example.", "A"),
             ("nope.roll.example.", "A"))


class View:
    """The zone as served at time t: its DNSKEY and CDS sets with their
    signatures, and the signed RRsets of a few answers."""

    def __init__(self, t, port):
        self.t = t
        self.dnskey = ds.apex_set(port, "roll.example.", "DNSKEY")
        self.cds = ds.apex_set(port, "roll.example.", "CDS")
        self.data = []
        for name, rdtype in QUESTIONS:
            self.data += ds.signed_rrsets(ds.ask(port, name, rdtype))

    def tags(self, which):
        """Key tags of the DNSKEY set, or those the CDS set names."""
        rr, _ = getattr(self, which)
        if rr is None:
            return []
        if which == "dnskey":
            return sorted(dns.dnssec.key_id(k) for k in rr)
        return sorted(c.key_tag for c in rr)

    def signer_tags(self):
        return sorted({rr.key_tag for _, sig in self.data if sig for rr in sig})


def validates(rrset, sig, keyset, now):
    return ds.validate(rrset, sig, keyset, ORIGIN, now) is None


def dnskey_ok(view, dsset, now):
    """The DNSKEY set is signed by a key the parent's DS set names."""
    rr, sig = view.dnskey
    return validates(rr, sig, ds.anchored(rr, dsset, ORIGIN), now)


def data_ok(data, dnskey, now):
    rr, _ = dnskey
    return all(validates(s, sig, rr, now) for s, sig in data)


def serve_view(d, kdir, t, tag):
    zf = os.path.join(d, "roll.zone")
    if not os.path.exists(zf):
        with open(zf, "w") as f:
            f.write(ZONE)
    snap = os.path.join(d, "%s-%d.p53" % (tag, t))
    r = common.run([PORT53, "compile", "--quiet", "--dnssec-keys", kdir, "--sig-time", str(t),
                    "-o", snap, "roll.example.=" + zf])
    if r.returncode != 0:
        raise RuntimeError("compile at %d: %s" % (t, r.stderr))
    wd = os.path.join(d, "srv-%s-%d" % (tag, t))
    os.makedirs(wd)
    s = common.Port53(PORT53, None, wd)
    s.snapshot = snap
    s.start()
    try:
        return View(t, s.port)
    finally:
        s.stop()


def walk(d, kdir, t0, steps, tag, dsset):
    """Views at t0 + i * STEP; returns them and the cross-step failures."""
    views, dss, bad = [], [], []
    for i in range(steps):
        v = serve_view(d, kdir, t0 + i * STEP, tag)
        if views:  # the parent adopts the CDS it saw a step ago
            cds_rr, _ = views[-1].cds
            if cds_rr is not None:
                dsset = {c.to_text() for c in cds_rr}
        views.append(v)
        dss.append(dsset)
        now = v.t
        if not dnskey_ok(v, dsset, now):
            bad.append("step %d: DNSKEY set not anchored in the parent's DS" % i)
        if not data_ok(v.data, v.dnskey, now):
            bad.append("step %d: answers do not validate with the DNSKEY set" % i)
        if i == 0:
            continue
        p = views[i - 1]
        if not data_ok(v.data, p.dnskey, now):
            bad.append("step %d: new answers with the DNSKEY set cached a step ago" % i)
        if not data_ok(p.data, v.dnskey, now):
            bad.append("step %d: answers cached a step ago with the new DNSKEY set" % i)
        if not dnskey_ok(v, dss[i - 1], now):
            bad.append("step %d: new DNSKEY set with the DS cached a step ago" % i)
        if not dnskey_ok(p, dsset, now):
            bad.append("step %d: DNSKEY set cached a step ago with the new DS" % i)
    return views, bad


def keygen(kdir, role):
    r = common.run([PORT53, "dnssec-keygen", "-K", kdir, role, "roll.example."])
    if r.returncode != 0:
        raise RuntimeError(r.stderr)


def initial_ds(kdir):
    return ds.parent_ds(kdir, "roll.example.")


def rollover(kdir, t0, *args):
    r = common.run([PORT53, "dnssec-rollover", "-K", kdir, "--at", str(t0)] + list(args) +
                   ["roll.example."])
    check(r.returncode == 0, "dnssec-rollover %s" % " ".join(args), r.stderr)
    return r


def main():
    t0 = int(time.time()) + 3600  # every key file made below exists by then
    with tempfile.TemporaryDirectory() as d:
        # --- ZSK by pre-publication: publish at t0, sign from t0 + 2 steps,
        # the old key gone 2 steps after that.
        kdir = os.path.join(d, "zsk")
        os.makedirs(kdir)
        keygen(kdir, "--ksk")
        keygen(kdir, "--zsk")
        dsset = initial_ds(kdir)
        check(len(dsset) == 1, "one DS for the KSK: %s" % dsset)
        before = serve_view(d, kdir, t0 - STEP, "zsk0")
        old_zsk = [t for t in before.tags("dnskey") if t not in
                   [dns.dnssec.key_id(k) for k in before.dnskey[0] if k.flags & 1]]
        rollover(kdir, t0, "--zsk", "--prepublish", str(2 * STEP), "--retire", str(2 * STEP))
        r = common.run([PORT53, "dnssec-status", "-K", kdir, "--at", str(t0), "roll.example."])
        check(r.returncode == 0 and r.stdout.count("ZSK") == 2 and " published " in r.stdout
              and "next key event: at=" in r.stdout, "dnssec-status shows the rollover",
              r.stdout + r.stderr)
        views, bad = walk(d, kdir, t0 - STEP, 7, "zsk", dsset)
        check(not bad, "ZSK rollover: validation unbroken at every step and across steps",
              "; ".join(bad))
        sizes = [len(v.tags("dnskey")) for v in views]
        signers = [v.signer_tags() for v in views]
        check(sizes == [2, 3, 3, 3, 3, 2, 2], "DNSKEY set sizes by step: %s" % sizes)
        new_zsk = [t for t in views[1].tags("dnskey") if t not in views[0].tags("dnskey")]
        ksk = [t for t in views[0].tags("dnskey") if t not in old_zsk]
        check(len(new_zsk) == 1 and signers[2] == sorted(old_zsk) and
              signers[3] == sorted(new_zsk), "signing moves to the new ZSK at t0 + 2 steps: %s"
              % signers)
        check(views[6].tags("dnskey") == sorted(ksk + new_zsk), "old ZSK removed at the end")

        # --- KSK by double-DS: CDS for the new KSK at t0; DNSKEY sets swap
        # at t0 + 3 steps (the parent adds the DS a step after seeing the
        # CDS, and DS caches from before then are gone); the old CDS goes a
        # step after the swap, the old DS a step after that.
        kdir = os.path.join(d, "ksk")
        os.makedirs(kdir)
        keygen(kdir, "--ksk")
        keygen(kdir, "--zsk")
        dsset = initial_ds(kdir)
        rollover(kdir, t0, "--ksk", "--ds-wait", str(3 * STEP), "--retire", str(STEP))
        views, bad = walk(d, kdir, t0 - STEP, 8, "ksk", dsset)
        check(not bad, "KSK rollover: validation unbroken at every step and across steps",
              "; ".join(bad))
        cds = [len(v.tags("cds")) for v in views]
        check(cds == [1, 2, 2, 2, 2, 1, 1, 1], "CDS set sizes by step: %s" % cds)
        ksks = [sorted(dns.dnssec.key_id(k) for k in v.dnskey[0] if k.flags & 1) for v in views]
        check(ksks[3] == ksks[0] and ksks[4] != ksks[0] and len(ksks[4]) == 1,
              "the DNSKEY set swaps KSKs at t0 + 3 steps: %s" % ksks)
        keysig = [sorted(r.key_tag for r in v.dnskey[1]) for v in views]
        check(keysig[4] == ksks[4], "the new KSK signs the DNSKEY set after the swap")

        # --- CSK (one combined key), RFC 7583 3.3.3: the successor's
        # DNSKEY and CDS at t0; it signs everything from t0 + 3 steps (the
        # later of pre-publication, 2 steps, and the DS wait, 3), when the
        # old key stops; the old key and its CDS leave 2 steps after that,
        # the parent's old DS a step later.
        kdir = os.path.join(d, "csk")
        os.makedirs(kdir)
        keygen(kdir, "--csk")
        dsset = initial_ds(kdir)
        r = rollover(kdir, t0, "--csk", "--prepublish", str(2 * STEP), "--ds-wait",
                     str(3 * STEP), "--retire", str(2 * STEP))
        check(r.stdout.count("CSK") == 2, "dnssec-rollover --csk shows two CSKs", r.stdout)
        for role in ("--zsk", "--ksk"):
            r = common.run([PORT53, "dnssec-rollover", "-K", kdir, role, "roll.example."])
            check(r.returncode != 0, "a CSK zone refuses dnssec-rollover %s" % role, r.stdout)
        views, bad = walk(d, kdir, t0 - STEP, 9, "csk", dsset)
        check(not bad, "CSK rollover: validation unbroken at every step and across steps",
              "; ".join(bad))
        sizes = [len(v.tags("dnskey")) for v in views]
        cds = [len(v.tags("cds")) for v in views]
        signers = [v.signer_tags() for v in views]
        keysig = [sorted(r.key_tag for r in v.dnskey[1]) for v in views]
        check(sizes == [1, 2, 2, 2, 2, 2, 1, 1, 1], "CSK: DNSKEY set sizes by step: %s" % sizes)
        check(cds == [1, 2, 2, 2, 2, 2, 1, 1, 1], "CSK: CDS set sizes by step: %s" % cds)
        old_csk, new_csk = views[0].tags("dnskey"), views[8].tags("dnskey")
        check(len(old_csk) == 1 and len(new_csk) == 1 and old_csk != new_csk
              and all(signers[i] == old_csk and keysig[i] == old_csk for i in range(4))
              and all(signers[i] == new_csk and keysig[i] == new_csk for i in range(4, 9)),
              "CSK: the old key signs everything until t0 + 3 steps, the new one after: %s %s"
              % (signers, keysig))
        kdir = os.path.join(d, "csk-naive")
        os.makedirs(kdir)
        keygen(kdir, "--csk")
        dsset = initial_ds(kdir)
        rollover(kdir, t0, "--csk", "--prepublish", "0", "--ds-wait", "0", "--retire", "0")
        _, bad = walk(d, kdir, t0 - STEP, 3, "csk-naive", dsset)
        check(any("step 1" in b for b in bad),
              "a CSK swapped without waiting is caught: %s" % bad)

        # --- Control: a ZSK swapped at once breaks a cache's view, and the
        # checks above see it.
        kdir = os.path.join(d, "naive")
        os.makedirs(kdir)
        keygen(kdir, "--ksk")
        keygen(kdir, "--zsk")
        dsset = initial_ds(kdir)
        rollover(kdir, t0, "--zsk", "--prepublish", "0", "--retire", "0")
        _, bad = walk(d, kdir, t0 - STEP, 2, "naive", dsset)
        check(any("cached a step ago" in b for b in bad),
              "a rollover without pre-publication is caught: %s" % bad)
        check(not any(re.match(r"step \d+: (DNSKEY set not|answers do not)", b) for b in bad),
              "... while each step alone validates")
    return check.finish()


if __name__ == "__main__":
    sys.exit(main())
