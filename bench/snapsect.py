#!/usr/bin/python3
"""Where the bytes of a snapshot go: each section's length, its share of the
file, and bytes per record when the record count is given.

usage: bench/snapsect.py SNAPSHOT.p53 [RECORDS]
Reads only the header and section table (docs/snapshot-format.md)."""
import struct
import sys

NAMES = ("ZONES NODES RRSETS HASH NAMES RDATA ANS BLOBS GROUPS MEMBERS STRINGS HCHECKS "
         "GEO4 GEO6 GEOLOC CIDR LAT4 LAT6 LATROW LATENT NODESEC ANSDO DOBLOBS NSEC3Z NSEC3 "
         "NODESEC3 R53TF").split()


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    records = int(sys.argv[2]) if len(sys.argv) == 3 else 0
    with open(sys.argv[1], "rb") as f:
        head = f.read(96 + 40 * 64)
    if head[:8] != b"P53SNAP\0":
        sys.exit("%s: not a port53 snapshot" % sys.argv[1])
    version, nsect = struct.unpack_from("<II", head, 8)
    size = struct.unpack_from("<Q", head, 32)[0]
    print("%s: format %u, %u bytes%s" % (sys.argv[1], version, size,
          ", %.1f bytes per record" % (size / records) if records else ""))
    for i in range(min(nsect, 64)):
        sid, _, _, ln = struct.unpack_from("<IIQQ", head, 96 + 40 * i)
        if ln == 0:
            continue
        name = NAMES[sid - 1] if 0 < sid <= len(NAMES) else str(sid)
        per = "  %6.1f B/record" % (ln / records) if records else ""
        print("  %-9s %13u  %5.1f%%%s" % (name, ln, 100.0 * ln / size, per))


if __name__ == "__main__":
    main()
