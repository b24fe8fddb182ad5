#!/usr/bin/python3
"""A minimal MaxMind DB (.mmdb) writer for tests, written from the public
format specification (MaxMind DB File Format Specification, version 2.0).

Layout: a binary search tree (node_count nodes, two records each of 24, 28
or 32 bits), 16 zero bytes, the data section, then the metadata marker
b"\\xab\\xcd\\xefMaxMind.com" and the metadata map. A record below
node_count is a node, equal to it is "no data", above it points into the
data section at (record - node_count - 16).

Data types written: map, array, UTF-8 string, double, uint16, uint32,
uint64 and pointer (repeated map keys and whole repeated records are
written once and pointed to, as real databases do).

As a module: write_mmdb(path, [(prefix, record_dict), ...], ...).
As a program: mmdb_write.py GEO.csv OUT.mmdb [--record-size N] [--ip-version 4|6]
turns port53's geo CSV (prefix,continent,country,subdivision,lat,lon) into
a City-shaped database.
"""
import ipaddress
import struct
import sys

MARKER = b"\xab\xcd\xefMaxMind.com"


class U16(int):
    """An int written as uint16 (plain ints are uint32, or uint64 if large)."""


class U64(int):
    pass


class _Node:
    __slots__ = ("kids", "num")

    def __init__(self):
        self.kids = [None, None]  # None, _Node or ("data", offset)
        self.num = None


class _Data:
    """The data section: values encoded once, map keys and repeated values
    replaced by pointers."""

    def __init__(self):
        self.buf = bytearray()
        self.seen = {}

    @staticmethod
    def _ctrl(typ, size):
        out = bytearray()
        if size < 29:
            sz, ext = size, b""
        elif size < 29 + 256:
            sz, ext = 29, bytes([size - 29])
        elif size < 285 + 65536:
            sz, ext = 30, struct.pack(">H", size - 285)
        else:
            sz, ext = 31, struct.pack(">I", size - 65821)[1:]
        if typ <= 7:
            out.append(typ << 5 | sz)
        else:  # extended: type 0, then (type - 7) in the next byte
            out.append(sz)
            out.append(typ - 7)
        return bytes(out) + ext

    @staticmethod
    def _pointer(off):
        if off < 2048:
            return bytes([1 << 5 | 0 << 3 | off >> 8, off & 0xFF])
        if off < 2048 + (1 << 19):
            v = off - 2048
            return bytes([1 << 5 | 1 << 3 | v >> 16]) + struct.pack(">H", v & 0xFFFF)
        if off < 526336 + (1 << 27):
            v = off - 526336
            return bytes([1 << 5 | 2 << 3 | v >> 24]) + struct.pack(">I", v & 0xFFFFFF)[1:]
        return bytes([1 << 5 | 3 << 3]) + struct.pack(">I", off)

    @staticmethod
    def _uint(typ, v, nbytes):
        raw = v.to_bytes(nbytes, "big").lstrip(b"\0")
        return _Data._ctrl(typ, len(raw)) + raw

    def encode(self, v):
        """Bytes for v; nested values inline, map keys as pointers once seen."""
        if isinstance(v, str):
            raw = v.encode()
            return self._ctrl(2, len(raw)) + raw
        if isinstance(v, float):
            return self._ctrl(3, 8) + struct.pack(">d", v)
        if isinstance(v, U16):
            return self._uint(5, int(v), 2)
        if isinstance(v, U64):
            return self._uint(9, int(v), 8)
        if isinstance(v, int):
            return self._uint(6, v, 4)
        if isinstance(v, dict):
            out = bytearray(self._ctrl(7, len(v)))
            for k, x in v.items():
                out += self.key(k)
                out += self.encode(x)
            return bytes(out)
        if isinstance(v, (list, tuple)):
            out = bytearray(self._ctrl(11, len(v)))
            for x in v:
                out += self.encode(x)
            return bytes(out)
        raise TypeError("cannot encode %r" % (v,))

    def key(self, k):
        # Keys are written in place the first time (their offset is only
        # known once the enclosing value is appended), so only keys of
        # values already in the buffer can be pointed to.
        off = self.seen.get(("key", k))
        return self._pointer(off) if off is not None else self.encode(k)

    def add(self, v):
        """Appends a top-level value once; returns its offset."""
        enc = self.encode(v)
        off = self.seen.get(("val", enc))
        if off is not None:
            return off
        off = len(self.buf)
        self.buf += enc
        self.seen[("val", enc)] = off
        self._note_keys(off, enc)
        return off

    def _note_keys(self, off, enc):
        # Remember where each plain key string landed, for later pointers.
        i = 0
        while i < len(enc):
            b = enc[i]
            if b >> 5 == 2 and (b & 0x1F) < 29:
                n = b & 0x1F
                s = enc[i + 1:i + 1 + n]
                try:
                    txt = s.decode()
                except UnicodeDecodeError:
                    txt = None
                if txt is not None and txt.isidentifier():
                    self.seen.setdefault(("key", txt), off + i)
                i += 1 + n
            else:
                i += 1


def _bits(net, ip_version):
    if net.version == 4 and ip_version == 6:
        addr = int(net.network_address)  # IPv4 lives at ::a.b.c.d/96+n
        return addr, net.prefixlen + 96, 128
    width = 32 if net.version == 4 else 128
    return int(net.network_address), net.prefixlen, width


def _path_node(root, addr, plen, width):
    """The node whose record at depth plen - 1 is this network's, creating
    intermediate nodes."""
    n = root
    for i in range(plen - 1):
        b = addr >> (width - 1 - i) & 1
        k = n.kids[b]
        if k is None:
            k = n.kids[b] = _Node()
        elif not isinstance(k, _Node):
            raise ValueError("network inside another network")
        n = k
    return n, addr >> (width - plen) & 1


def _pack(left, right, record_size):
    if record_size == 24:
        return left.to_bytes(3, "big") + right.to_bytes(3, "big")
    if record_size == 28:
        # The middle byte carries the top four bits of each record.
        mid = (left >> 24 & 0x0F) << 4 | (right >> 24 & 0x0F)
        return (left & 0xFFFFFF).to_bytes(3, "big") + bytes([mid]) + \
            (right & 0xFFFFFF).to_bytes(3, "big")
    if record_size == 32:
        return struct.pack(">II", left, right)
    raise ValueError("record_size must be 24, 28 or 32")


def build(networks, record_size=28, ip_version=6, aliases=True,
          database_type="port53-test-City"):
    """The database as bytes. networks: [(prefix, dict)], no overlaps.
    aliases: in an IPv6 tree, point ::ffff:0:0/96 and 2002::/16 at the IPv4
    subtree as MaxMind's databases do."""
    data = _Data()
    root = _Node()
    for pfx, rec in networks:
        net = ipaddress.ip_network(pfx)
        if net.version == 6 and ip_version == 4:
            raise ValueError("IPv6 network in an IPv4 database")
        addr, plen, width = _bits(net, ip_version)
        if plen == 0:
            raise ValueError("a /0 network is not supported by this writer")
        node, b = _path_node(root, addr, plen, width)
        if node.kids[b] is not None:
            raise ValueError("overlapping network %s" % pfx)
        node.kids[b] = ("data", data.add(rec))
    if ip_version == 6 and aliases:
        n = root
        for _ in range(96):
            n = n.kids[0] if isinstance(n.kids[0], _Node) else None
            if n is None:
                break
        if n is not None:
            for alias in ("::ffff:0:0/96", "2002::/16"):
                a = ipaddress.ip_network(alias)
                node, b = _path_node(root, int(a.network_address), a.prefixlen, 128)
                if node.kids[b] is None:
                    node.kids[b] = n
    # Number the nodes breadth first; a shared node (an alias) once.
    order, queue = [], [root]
    while queue:
        n = queue.pop(0)
        if n.num is not None:
            continue
        n.num = len(order)
        order.append(n)
        queue.extend(k for k in n.kids if isinstance(k, _Node) and k.num is None)
    count = len(order)
    limit = 1 << record_size
    tree = bytearray()
    for n in order:
        vals = []
        for k in n.kids:
            if k is None:
                vals.append(count)
            elif isinstance(k, _Node):
                vals.append(k.num)
            else:
                vals.append(count + 16 + k[1])
        if max(vals) >= limit:
            raise ValueError("record_size %d too small" % record_size)
        tree += _pack(vals[0], vals[1], record_size)
    meta = _Data()
    meta_enc = meta.encode({
        "binary_format_major_version": U16(2),
        "binary_format_minor_version": U16(0),
        "build_epoch": U64(1700000000),
        "database_type": database_type,
        "description": {"en": "port53 test data"},
        "ip_version": U16(ip_version),
        "languages": ["en"],
        "node_count": count,
        "record_size": U16(record_size),
    })
    return bytes(tree) + bytes(16) + bytes(data.buf) + MARKER + meta_enc


def write_mmdb(path, networks, **kw):
    with open(path, "wb") as f:
        f.write(build(networks, **kw))


def city_record(continent, country, subdivision, lat, lon):
    """A GeoIP2-City-shaped record (with fields port53 ignores)."""
    r = {}
    if continent:
        r["continent"] = {"code": continent, "geoname_id": 6255148,
                          "names": {"en": "Continent " + continent}}
    if country:
        r["country"] = {"geoname_id": 2635167, "iso_code": country,
                        "names": {"en": "Country " + country}}
        r["registered_country"] = {"geoname_id": 2635167, "iso_code": country}
    if subdivision:
        r["subdivisions"] = [{"geoname_id": 5815135, "iso_code": subdivision}]
    if lat is not None:
        r["location"] = {"accuracy_radius": U16(100), "latitude": lat, "longitude": lon}
    return r


def from_csv(path):
    nets = []
    for line in open(path):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        p, cont, ctry, sub, lat, lon = [x.strip() for x in line.split(",")]
        nets.append((p, city_record(cont, ctry, sub, float(lat), float(lon))))
    return nets


def main(argv):
    args, rs, ipv = [], 28, 6
    i = 0
    while i < len(argv):
        if argv[i] == "--record-size":
            rs = int(argv[i + 1])
            i += 2
        elif argv[i] == "--ip-version":
            ipv = int(argv[i + 1])
            i += 2
        else:
            args.append(argv[i])
            i += 1
    if len(args) != 2:
        sys.stderr.write(__doc__)
        return 2
    write_mmdb(args[1], from_csv(args[0]), record_size=rs, ip_version=ipv)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
