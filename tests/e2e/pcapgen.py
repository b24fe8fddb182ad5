"""Frame builders and a pcap reader/writer for the data-plane tests.

Plain struct, no scapy: every header is written field by field so a test can
corrupt exactly one of them. Checksums use the textbook RFC 1071 sum, which is
independent of the C code under test.
"""

import ipaddress
import struct

ETH_IP4, ETH_IP6, ETH_ARP, ETH_VLAN = 0x0800, 0x86DD, 0x0806, 0x8100


def csum(data):
    """RFC 1071 Internet checksum of bytes (the complemented 16-bit sum)."""
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def mac(text):
    return bytes(int(x, 16) for x in text.split(":"))


def ip(text):
    return ipaddress.ip_address(text).packed


def eth(dst, src, ethertype, vlan=None):
    """Ethernet header; vlan = VID (int) adds an 802.1Q tag with PCP 3."""
    if vlan is None:
        return dst + src + struct.pack("!H", ethertype)
    return dst + src + struct.pack("!HHH", ETH_VLAN, (3 << 13) | vlan, ethertype)


def pseudo(src, dst, proto, length):
    if len(src) == 4:
        return src + dst + struct.pack("!BBH", 0, proto, length)
    return src + dst + struct.pack("!IxxxB", length, proto)


def udp(src, dst, sport, dport, payload, cksum=True):
    """UDP header + payload; checksum over the pseudo header unless cksum is
    False (then 0), or an int to force a value."""
    length = 8 + len(payload)
    hdr = struct.pack("!HHHH", sport, dport, length, 0)
    if cksum is True:
        c = csum(pseudo(src, dst, 17, length) + hdr + payload) or 0xFFFF
    elif cksum is False:
        c = 0
    else:
        c = cksum
    return hdr[:6] + struct.pack("!H", c) + payload


def ipv4(src, dst, proto, payload, ttl=64, ident=0x1234, frag=0, options=b"", tos=0):
    """IPv4 header (with options, padded to 32 bits) + payload."""
    options += b"\x01" * (-len(options) % 4)
    ihl = 5 + len(options) // 4
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, tos, ihl * 4 + len(payload), ident, frag,
                      ttl, proto, 0, src, dst) + options
    c = csum(hdr)
    return hdr[:10] + struct.pack("!H", c) + hdr[12:] + payload


def ipv6(src, dst, nh, payload, hlim=64, tc_flow=0):
    return struct.pack("!IHBB16s16s", (6 << 28) | tc_flow, len(payload), nh, hlim, src,
                       dst) + payload


def ext_hdr(nh, body_len=6):
    """A generic IPv6 extension header (HBH / dest opts / routing layout):
    next header, length in 8-octet units beyond the first, PadN body."""
    assert (body_len + 2) % 8 == 0
    body = bytes([1, body_len - 2]) + b"\0" * (body_len - 2)
    return bytes([nh, (body_len + 2) // 8 - 1]) + body


def udp4_frame(dmac, smac, src, dst, sport, dport, payload, vlan=None, **kw):
    s, d = ip(src), ip(dst)
    return eth(dmac, smac, ETH_IP4, vlan) + ipv4(s, d, 17, udp(s, d, sport, dport, payload), **kw)


def udp6_frame(dmac, smac, src, dst, sport, dport, payload, vlan=None, exts=(), cksum=True):
    """exts: list of extension-header protocol numbers placed before UDP."""
    s, d = ip(src), ip(dst)
    u = udp(s, d, sport, dport, payload, cksum)
    chain, nhs = b"", list(exts) + [17]
    for i, proto in enumerate(exts):
        chain += ext_hdr(nhs[i + 1])
    return eth(dmac, smac, ETH_IP6, vlan) + ipv6(s, d, nhs[0], chain + u)


def arp_request(smac, spa, tpa, vlan=None):
    body = struct.pack("!HHBBH6s4s6s4s", 1, ETH_IP4, 6, 4, 1, smac, ip(spa), b"\0" * 6, ip(tpa))
    return eth(b"\xff" * 6, smac, ETH_ARP, vlan) + body + b"\0" * 18


def solicited_node(addr):
    a = ip(addr)
    return ipaddress.ip_address(b"\xff\x02" + b"\0" * 9 + b"\x01\xff" + a[13:]).compressed


def neighbor_solicit(smac, src, target, dst=None, hlim=255):
    dst = dst or solicited_node(target)
    s, d = ip(src), ip(dst)
    body = struct.pack("!BBHI16s", 135, 0, 0, 0, ip(target))
    if src != "::":
        body += struct.pack("!BB6s", 1, 1, smac)
    c = csum(pseudo(s, d, 58, len(body)) + body)
    body = body[:2] + struct.pack("!H", c) + body[4:]
    dmac = b"\x33\x33" + d[12:]
    return eth(dmac, smac, ETH_IP6) + ipv6(s, d, 58, body, hlim=hlim)


# --- pcap files (classic format, microsecond timestamps, Ethernet) ---

def write_pcap(path, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", 1700000000 + i // 1000000, i % 1000000, len(fr),
                                len(fr)))
            f.write(fr)


def read_pcap(path):
    """Frames of a classic pcap (either byte order, us or ns timestamps)."""
    out = []
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return out
    magic = struct.unpack("<I", data[:4])[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        end = "<"
    elif magic in (0xD4C3B2A1, 0x4D3CB2A1):
        end = ">"
    else:
        raise ValueError("%s: not a pcap file" % path)
    off = 24
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack(end + "IIII", data[off:off + 16])
        off += 16
        out.append(data[off:off + incl])
        off += incl
    return out
