"""The set-up the DNSSEC tests share: keys made with `port53 dnssec-keygen`,
zones compiled and signed with them, a snapshot served by `port53 serve`
(test_dnssec.py, test_dnssec_nsec3.py, test_dnssec_parent_child.py,
test_dnssec_unbound.py, test_dnssec_rollover_unbound.py). What the tests
check stays in the tests; this only runs port53 the way they all did.
"""
import os

import common

PORT53 = common.default_port53()


def keygen(kdir, *args, zone="example."):
    """port53 dnssec-keygen -K kdir ARGS zone (kdir made when missing);
    its output. Raises when it fails."""
    os.makedirs(kdir, exist_ok=True)
    r = common.run([PORT53, "dnssec-keygen", "-K", kdir] + list(args) + [zone])
    if r.returncode != 0:
        raise RuntimeError("dnssec-keygen failed: %s" % r.stderr)
    return r.stdout.strip()


def ds(kdir, zone):
    """The DS records `port53 ds` prints for zone's keys in kdir."""
    r = common.run([PORT53, "ds", "-K", kdir, zone])
    if r.returncode != 0:
        raise RuntimeError("port53 ds %s: %s" % (zone, r.stderr))
    return r.stdout


def compile_zones(out, zones, keys=None, extra=(), timeout=60):
    """port53 compile --quiet -o out ZONES EXTRA, signed with the keys in
    the directory keys when given; zones are ORIGIN=FILE arguments. The
    finished run (the caller looks at its return code)."""
    cmd = [PORT53, "compile", "--quiet", "-o", out] + list(zones) + list(extra)
    if keys:
        cmd += ["--dnssec-keys", keys]
    return common.run(cmd, timeout=timeout)


def compile_zone(d, text, label, extra=(), keys=None, origin="example."):
    """Writes text to d/label.zone and compiles it into d/label.p53:
    (the snapshot's path, or None when the compile failed; the run)."""
    zf = os.path.join(d, label + ".zone")
    with open(zf, "w") as f:
        f.write(text)
    snap = os.path.join(d, label + ".p53")
    r = compile_zones(snap, [origin + "=" + zf], keys, extra)
    return snap if r.returncode == 0 else None, r


def serve(d, snap, tag, extra=()):
    """`port53 serve` on snap on a free loopback port, working directory
    d/tag; the started common.Port53 (the caller stops it)."""
    wd = os.path.join(d, tag)
    os.makedirs(wd, exist_ok=True)
    s = common.Port53(PORT53, None, wd, extra=list(extra))
    s.snapshot = snap
    return s.start()
