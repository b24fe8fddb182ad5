#!/usr/bin/python3
"""The control-plane signer's timer (docs/dnssec.md "The server signs on a
timer") carrying out a KSK rollover by double-DS and a CSK rollover with no
command run after `port53 dnssec-rollover` sets their steps STEP seconds
apart. `port53 serve` takes everything from a port53.yaml(5) file: the
zones (secondary.local-zone) and the signer's dnssec.sign-keys,
dnssec.resign-interval-s and dnssec.sig-validity-days.

The test samples both zones without pause and plays a validating resolver
and the parent with dnspython's dns.dnssec:
- the parent starts with the DS set of `port53 ds` and replaces it with
  the zone's CDS set once that validates under it (RFC 7344);
- every DNSKEY set validates under a key the parent's DS set names, and
  the CDS, CDNSKEY, SOA, an A answer and a denial under the DNSKEY set;
- whatever a resolver may hold together (anything served or delegated
  within CACHE seconds) validates crosswise;
- each zone goes through exactly its rollover's states, each at its step
  time and not before; the parent's DS set through its expected sets;
- the signatures last sig-validity-days and are made again every
  resign-interval-s once no key event is left.
A DNSKEY set from after a swap must fail under the parent's first DS set
(and the new CSK's answers under the first DNSKEY set): the checks can fail.

Loopback only; every wait polls with a deadline; the server is stopped.
"""
import glob
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import dnssecsetup as ds  # noqa: E402

import dns.dnssec  # noqa: E402
import dns.name  # noqa: E402
import dns.rdata  # noqa: E402
import dns.rdataclass  # noqa: E402
import dns.rdatatype as T  # noqa: E402

check = common.Checks("dnssec-signer-ksk")
PORT53 = common.default_port53()
LEAD = 9      # s from now to the KSK rollover's first step (the server starts first)
OFFSET = 3    # the CSK rollover starts this much later: the timer serves two zones
STEP = 7      # --ds-wait, --prepublish, --retire
CACHE = 2     # s a resolver may hold what it was served: the cross-checks' window
SLACK = 2.5   # s after a step time by which the step must be served: less than the
              # time to the other zone's next step (OFFSET, STEP - OFFSET) and to a
              # re-signing (RESIGN), so only a build for the step's own key event
              # serves it in time
RESIGN = 6    # dnssec.resign-interval-s
DAYS = 2      # dnssec.sig-validity-days
EARLY = 0.5   # a sample this long before a step time must not show it


def zone_text(origin):
    return """$ORIGIN %s
$TTL 300
@    SOA ns1 hostmaster 1 7200 3600 1209600 300
@    NS  ns1
ns1  A   192.0.2.1
www  A   192.0.2.10
""" % origin


def key_owners(kdir):
    """{(tag, flags): zone} of the DNSKEY records in kdir's .key files, as
    dnspython reads them."""
    out = {}
    for path in glob.glob(os.path.join(kdir, "*.key")):
        with open(path) as f:
            for line in f:
                fs = line.split()
                if line.startswith(";") or "DNSKEY" not in fs:
                    continue
                rd = dns.rdata.from_text(dns.rdataclass.IN, T.DNSKEY,
                                         " ".join(fs[fs.index("DNSKEY") + 1:]))
                out[(dns.dnssec.key_id(rd), rd.flags)] = fs[0].lower()
    return out


def key_tags(kdir):
    return {t for t, _ in key_owners(kdir)}


def tags_of(rr):
    if rr is None:
        return ()
    if rr.rdtype == T.CDS:
        return tuple(sorted(c.key_tag for c in rr))
    return tuple(sorted(dns.dnssec.key_id(k) for k in rr))


def signers(sig):
    return tuple(sorted({s.key_tag for s in sig})) if sig is not None else ()


class View:
    """One sample of a zone: its DNSKEY, CDS and CDNSKEY sets and a few
    answers, with their RRSIGs. torn: the DNSKEY set's signatures differ
    between the first and the last query (a new snapshot came in between,
    so the sample may mix two), or a query went unanswered."""

    def __init__(self, port, origin):
        self.at = time.time()
        self.torn = False
        try:
            self.dnskey, self.keysig = ds.apex_set(port, origin, "DNSKEY")
            self.cds, self.cdssig = ds.apex_set(port, origin, "CDS")
            self.cdnskey, self.cdnskeysig = ds.apex_set(port, origin, "CDNSKEY")
            self.data = []
            for name, rdtype in ((origin, "SOA"), ("www." + origin, "A"),
                                 ("nope." + origin, "A")):
                self.data += ds.signed_rrsets(ds.ask(port, name, rdtype))
            again = ds.apex_set(port, origin, "DNSKEY")[1]
            self.torn = self.keysig is None or again is None or \
                again.to_text() != self.keysig.to_text()
        except Exception as e:  # an unanswered query (from_wire(None))
            self.torn, self.error = True, repr(e)

    def state(self):
        return (tags_of(self.dnskey), tags_of(self.cds), tags_of(self.cdnskey),
                signers(self.keysig), tuple(sorted({t for _, s in self.data
                                                    for t in signers(s)})))

    def generation(self):
        """What was served, in full: samples of one build compare equal
        (every build signs afresh)."""
        sets = [self.dnskey, self.keysig, self.cds, self.cdssig, self.cdnskey,
                self.cdnskeysig] + [x for pair in self.data for x in pair]
        return tuple(x.to_text() if x is not None else "" for x in sets)


class Zone:
    def __init__(self, origin, kdir, t0):
        self.origin, self.kdir, self.t0 = origin, kdir, t0
        self.name = dns.name.from_text(origin)
        self.views = []           # every untorn sample
        self.torn = 0
        self.problems = []
        self.ds = ds.parent_ds(kdir, origin)
        self.ds_history = [(0.0, frozenset(self.ds))]

    def ds_at(self, t):
        cur = self.ds_history[0][1]
        for at, s in self.ds_history:
            if at <= t:
                cur = s
        return cur

    def keys_ok(self, v, dsset):
        """Why v's DNSKEY set does not validate under the DS set, or None."""
        anchor = ds.anchored(v.dnskey, dsset, self.name)
        if anchor is None:
            return "no key of the DNSKEY set %s has a DS in %s" % (tags_of(v.dnskey),
                                                                   sorted(dsset))
        return ds.validate(v.dnskey, v.keysig, anchor, self.name)

    def data_ok(self, data, dnskey):
        bad = [(rr.name.to_text(), T.to_text(rr.rdtype), ds.validate(rr, sig, dnskey, self.name))
               for rr, sig in data]
        return [b for b in bad if b[2]]

    def sample(self, port):
        v = View(port, self.origin)
        if v.torn:
            self.torn += 1
            return
        same = bool(self.views) and self.views[-1].generation() == v.generation()
        self.views.append(v)
        if same and self.ds_at(v.at) == self.ds_at(self.views[-2].at):
            return  # what the last sample validated, under the same DS set
        what = "%s at %+.1fs" % (self.origin, v.at - self.t0)
        why = self.keys_ok(v, self.ds)
        if why:
            self.problems.append("%s: DNSKEY set under the parent's DS: %s" % (what, why))
        for label, rr, sig in (("CDS", v.cds, v.cdssig), ("CDNSKEY", v.cdnskey, v.cdnskeysig)):
            why = ds.validate(rr, sig, v.dnskey, self.name)
            if why:
                self.problems.append("%s: %s under the DNSKEY set: %s" % (what, label, why))
        if v.cds is not None and v.cdnskey is not None and \
                {c.to_text() for c in v.cds} != {ds.ds_text(self.name, k) for k in v.cdnskey}:
            self.problems.append("%s: CDS set is not the digests of the CDNSKEY set" % what)
        bad = self.data_ok(v.data, v.dnskey)
        if bad:
            self.problems.append("%s: answers under the DNSKEY set: %s" % (what, bad))
        # The parent (RFC 7344 4.1): a CDS set that validates under the
        # keys its DS set names becomes its DS set.
        if v.cds is not None:
            new = {c.to_text() for c in v.cds}
            anchor = ds.anchored(v.dnskey, self.ds, self.name)
            if new != self.ds and anchor is not None and \
                    ds.validate(v.cds, v.cdssig, anchor, self.name) is None:
                self.ds = new
                self.ds_history.append((time.time(), frozenset(new)))

    def generations(self):
        """Runs of samples of one build (one DNSKEY signature set)."""
        gens = []
        for v in self.views:
            if gens and gens[-1][-1].generation() == v.generation():
                gens[-1].append(v)
            else:
                gens.append([v])
        return gens

    def crosswise(self):
        """What a resolver may hold together: every pair of builds served
        within CACHE s of each other, with the DS sets of their times."""
        bad = []
        gens = self.generations()
        for i, h in enumerate(gens):
            new = h[0]
            for g in gens[:i]:
                old = g[-1]
                if new.at - old.at >= CACHE:
                    continue
                at = "%s at %+.1fs" % (self.origin, new.at - self.t0)
                why = self.keys_ok(new, self.ds_at(old.at))
                if why:
                    bad.append("%s: new DNSKEY set with the DS cached %.1fs ago: %s"
                               % (at, new.at - old.at, why))
                why = self.keys_ok(old, self.ds_at(new.at))
                if why:
                    bad.append("%s: DNSKEY set cached %.1fs ago with the new DS: %s"
                               % (at, new.at - old.at, why))
                if self.data_ok(new.data, old.dnskey):
                    bad.append("%s: new answers with the DNSKEY set cached %.1fs ago"
                               % (at, new.at - old.at))
                if self.data_ok(old.data, new.dnskey):
                    bad.append("%s: answers cached %.1fs ago with the new DNSKEY set"
                               % (at, new.at - old.at))
        return bad

    def timeline(self, steps, log):
        """Checks the states served against [(time, state, events), ...]
        (the first entry: before the rollover), and that the log names one
        of a step's key events as what a build was planned for."""
        seen = []
        for v in self.views:
            st = v.state()
            if not seen or seen[-1][1] != st:
                seen.append((v.at, st))
        want = [s for _, s, _ in steps]
        check([s for _, s in seen] == want, "%s: the states served, in order" % self.origin,
              [(round(at - self.t0, 1), s) for at, s in seen])
        for i, (t, st, events) in enumerate(steps[1:], 1):
            first = [v.at for v in self.views if v.state() == st]
            early = [round(at - t, 2) for at in first if at < t - EARLY]
            check(not early, "%s: step %d (%+ds) not served before its time"
                  % (self.origin, i, t - self.t0), early)
            late = first[0] - t if first else None
            check(late is not None and late <= SLACK, "%s: step %d (%+ds) served by +%gs"
                  % (self.origin, i, t - self.t0, SLACK), late)
            check(any("(%s: %s)" % (self.origin, e) in log for e in events),
                  "%s: step %d: the log plans a build for %s" % (self.origin, i,
                                                                 " or ".join(events)))


def port53(*args):
    r = common.run([PORT53] + list(args))
    if r.returncode != 0:
        raise RuntimeError("port53 %s: %s" % (" ".join(args), r.stderr))
    return r.stdout


def main():
    with tempfile.TemporaryDirectory() as d:
        kdir = os.path.join(d, "keys")  # dnssec.sign-keys: both zones' keys
        ds.keygen(kdir, "--ksk", zone="ksk.example.")
        ds.keygen(kdir, "--zsk", zone="ksk.example.")
        ds.keygen(kdir, "--csk", zone="csk.example.")
        before = set(key_tags(kdir))
        zfiles = []
        for origin in ("ksk.example.", "csk.example."):
            zf = os.path.join(d, origin + "zone")
            with open(zf, "w") as f:
                f.write(zone_text(origin))
            zfiles.append("%s=%s" % (origin, zf))
        t0 = int(time.time()) + LEAD
        c0 = t0 + OFFSET
        ksk = Zone("ksk.example.", kdir, t0)
        csk = Zone("csk.example.", kdir, c0)
        port53("dnssec-rollover", "-K", kdir, "--ksk", "--at", str(t0), "--ds-wait",
               str(STEP), "--retire", str(STEP), "ksk.example.")
        port53("dnssec-rollover", "-K", kdir, "--csk", "--at", str(c0), "--prepublish",
               str(STEP), "--ds-wait", str(STEP), "--retire", str(STEP), "csk.example.")
        # Each key by (zone, flags, made by the rollover); the DNSKEY
        # record in each .key file names its zone.
        pick = {}
        for (tag, flags), owner in key_owners(kdir).items():
            pick.setdefault((owner, flags, tag not in before), []).append(tag)
        if not check(len(pick) == 5 and all(len(v) == 1 for v in pick.values()),
                     "the rollovers made one new KSK and one new CSK", pick):
            return check.finish()
        K1, K2 = pick[("ksk.example.", 257, False)][0], pick[("ksk.example.", 257, True)][0]
        Z = pick[("ksk.example.", 256, False)][0]
        C1, C2 = pick[("csk.example.", 257, False)][0], pick[("csk.example.", 257, True)][0]
        s = lambda *t: tuple(sorted(t))  # noqa: E731
        # (DNSKEY, CDS, CDNSKEY, DNSKEY-set signers, answer signers) by
        # step, and the key events (RFC 7583 timing) that make the step.
        ksk_steps = [(0, (s(K1, Z), s(K1), s(K1), s(K1), s(Z)), ()),
                     (t0, (s(K1, Z), s(K1, K2), s(K1, K2), s(K1), s(Z)),
                      ("KSK %d sync-publish" % K2,)),
                     (t0 + STEP, (s(K2, Z), s(K1, K2), s(K1, K2), s(K2), s(Z)),
                      ("KSK %d publish" % K2, "KSK %d activate" % K2,
                       "KSK %d inactive" % K1, "KSK %d delete" % K1)),
                     (t0 + 2 * STEP, (s(K2, Z), s(K2), s(K2), s(K2), s(Z)),
                      ("KSK %d sync-delete" % K1,))]
        csk_steps = [(0, (s(C1), s(C1), s(C1), s(C1), s(C1)), ()),
                     (c0, (s(C1, C2), s(C1, C2), s(C1, C2), s(C1), s(C1)),
                      ("CSK %d publish" % C2, "CSK %d sync-publish" % C2)),
                     (c0 + STEP, (s(C1, C2), s(C1, C2), s(C1, C2), s(C2), s(C2)),
                      ("CSK %d activate" % C2, "CSK %d inactive" % C1)),
                     (c0 + 2 * STEP, (s(C2), s(C2), s(C2), s(C2), s(C2)),
                      ("CSK %d delete" % C1, "CSK %d sync-delete" % C1))]

        port = common.free_port()
        sock = os.path.join(d, "api.sock")
        conf = os.path.join(d, "port53.yaml")
        with open(conf, "w") as f:
            f.write("snapshot:\n  path: %s\n" % os.path.join(d, "serving.p53") +
                    "kernel:\n  listen: [\"127.0.0.1:%d\"]\n" % port +
                    "control:\n  socket: %s\n" % sock +
                    "rrl:\n  rate: 0\n" +
                    "dnssec:\n  sign-keys: %s\n  resign-interval-s: %d\n"
                    "  sig-validity-days: %d\n" % (kdir, RESIGN, DAYS) +
                    "secondary:\n  local-zone:\n" +
                    "".join("    - \"%s\"\n" % z for z in zfiles))
        r = common.run([PORT53, "conf-check", conf])
        check(r.returncode == 0, "the configuration file is valid", r.stdout + r.stderr)
        log = os.path.join(d, "serve.log")
        logf = open(log, "w")
        proc = subprocess.Popen([PORT53, "serve", "--config", conf], stdout=logf,
                                stderr=subprocess.STDOUT)
        try:
            run(proc, port, sock, ksk, csk, ksk_steps, csk_steps, (K1, K2, Z, C1, C2), log)
        finally:
            rc = common.stop(proc)
            logf.close()
        check(rc == 0, "the server stops cleanly (exit 0, no sanitizer report)", rc)
        with open(log) as f:
            text = f.read()
        check("Sanitizer" not in text and "runtime error" not in text,
              "no sanitizer report in the server's log")
        if check.failed:
            print(text[-4000:])
    return check.finish()


def run(proc, port, sock, ksk, csk, ksk_steps, csk_steps, tags, log):
    K1, K2, Z, C1, C2 = tags
    if not check(common.wait_answering(port, proc, 15.0, "ksk.example."), "server answers"):
        return
    check(time.time() < ksk.t0 - 1, "the server is up before the first step", "raise LEAD")
    doc = ds.api_json(sock, "/v1/dnssec")[1] or {}
    roles = sorted((z.get("zone"), k.get("role"), k.get("tag"))
                   for z in doc.get("zones", []) for k in z.get("keys", []))
    check(roles == sorted([("ksk.example.", "KSK", K1), ("ksk.example.", "KSK", K2),
                           ("ksk.example.", "ZSK", Z), ("csk.example.", "CSK", C1),
                           ("csk.example.", "CSK", C2)]),
          "/v1/dnssec: both zones' keys and roles", roles)
    check(doc.get("resign_interval") == RESIGN and doc.get("sig_validity") == DAYS * 86400,
          "/v1/dnssec: the file's resign-interval-s and sig-validity-days",
          (doc.get("resign_interval"), doc.get("sig_validity")))

    # Both rollovers, sampled without pause until the last step is due.
    end = csk.t0 + 2 * STEP + SLACK + 1
    while time.time() < end and proc.poll() is None:
        ksk.sample(port)
        csk.sample(port)
    check(proc.poll() is None, "the server ran through both rollovers")
    with open(log) as f:
        text = f.read()
    for z, steps in ((ksk, ksk_steps), (csk, csk_steps)):
        # At least two samples a second (a sample takes a few ms).
        check(len(z.views) >= 2 * (end - z.views[0].at if z.views else 1),
              "%s: sampled often enough" % z.origin, (len(z.views), z.torn))
        check(not z.problems, "%s: every sample validates under the parent's DS" % z.origin,
              z.problems[:5])
        bad = z.crosswise()
        check(not bad, "%s: what a resolver holds together validates" % z.origin, bad[:5])
        z.timeline(steps, text)
    if not check(ksk.views and csk.views, "both zones were sampled"):
        return
    for z, old, new in ((ksk, K1, K2), (csk, C1, C2)):
        hist = [sorted(int(x.split()[0]) for x in h) for _, h in z.ds_history]
        check(hist == [[old], sorted([old, new]), [new]],
              "%s: the parent's DS set follows the CDS: old, both, new" % z.origin,
              [(round(at - z.t0, 1) if at else "start", h)
               for (at, _), h in zip(z.ds_history, hist)])
    # The checks have teeth: the first DS set does not anchor the new KSK's
    # DNSKEY set, nor the first DNSKEY set the new CSK's answers.
    last_k, last_c = ksk.views[-1], csk.views[-1]
    check(ksk.keys_ok(last_k, ksk.ds_history[0][1]) is not None,
          "control: the new KSK's DNSKEY set fails under the first DS set")
    check(csk.data_ok(last_c.data, csk.views[0].dnskey),
          "control: the new CSK's answers fail under the first DNSKEY set")

    # dnssec.sig-validity-days: every signature lasts that long from now.
    exp = [sig[0].expiration - v.at for v in (last_k, last_c) for _, sig in v.data + [
        (v.dnskey, v.keysig), (v.cds, v.cdssig)]]
    check(all(abs(e - DAYS * 86400) < 300 for e in exp),
          "signatures expire sig-validity-days (%d) from now" % DAYS,
          sorted({int(e) for e in exp}))
    # dnssec.resign-interval-s: with no key event left, the zone is signed
    # again every RESIGN s (the default would be 6 hours).
    incep = max(sig[0].inception for _, sig in last_k.data)
    views = []

    def resigned():
        v = View(port, "ksk.example.")
        views.append(v)
        return not v.torn and min(sig[0].inception for _, sig in v.data) > incep

    check(common.wait_for(resigned, deadline=RESIGN + SLACK, step=0.2),
          "re-signed within resign-interval-s (%d) with no key event due" % RESIGN)


if __name__ == "__main__":
    sys.exit(main())
