#!/usr/bin/env python3
"""Build test packets for `.test` files, independently of nflc.

Used to author examples/*.test: every checksum here is computed from
scratch, so a test of nflc's incremental updates compares against an
independent oracle. Addresses are from 198.18.0.0/15 (benchmarking range).
"""
import struct


def csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data)//2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def mac(s: str) -> bytes:
    return bytes(int(x, 16) for x in s.split(":"))


def ip4(s: str) -> bytes:
    return bytes(int(x) for x in s.split("."))


def eth(dst="02:00:00:00:00:02", src="02:00:00:00:00:01", etype=0x0800) -> bytes:
    return mac(dst) + mac(src) + struct.pack("!H", etype)


def vlan(vid: int, etype: int, pcp=0) -> bytes:
    return struct.pack("!HH", (pcp << 13) | vid, etype)


def ipv4(src="198.18.0.1", dst="198.18.0.2", proto=17, payload_len=0, ttl=64,
         ihl=5, options=b"", frag=0, ident=0x1234, version=4) -> bytes:
    total = ihl * 4 + payload_len
    hdr = struct.pack("!BBHHHBBH4s4s", (version << 4) | ihl, 0, total, ident, frag,
                      ttl, proto, 0, ip4(src), ip4(dst)) + options
    c = csum(hdr)
    return hdr[:10] + struct.pack("!H", c) + hdr[12:]


def ipv6(src=b"\x20\x01\x0d\xb8" + b"\0" * 11 + b"\x01", dst=b"\x20\x01\x0d\xb8" + b"\0" * 11 + b"\x02",
         nh=17, payload_len=0, hop=64) -> bytes:
    return struct.pack("!IHBB", 6 << 28, payload_len, nh, hop) + src + dst


def udp(sport=40000, dport=53, payload=b"", cs=0) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), cs) + payload


def tcp(sport=40000, dport=80, flags=0x02, seq=1, ack=0) -> bytes:
    return struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)


def icmp_echo() -> bytes:
    body = struct.pack("!BBHHH", 8, 0, 0, 1, 1) + b"ping"
    return body[:2] + struct.pack("!H", csum(body)) + body[4:]


def udp4(src="198.18.0.1", dst="198.18.0.2", sport=40000, dport=53, payload=b"hello", **kw) -> bytes:
    u = udp(sport, dport, payload)
    return eth() + ipv4(src, dst, 17, len(u), **kw) + u


def tcp4(src="198.18.0.1", dst="198.18.0.2", sport=40000, dport=80, flags=0x02, **kw) -> bytes:
    t = tcp(sport, dport, flags)
    return eth() + ipv4(src, dst, 6, len(t), **kw) + t


def hexlines(data: bytes, width=16) -> str:
    return "\n".join("  " + " ".join(f"{b:02x}" for b in data[i:i + width]) for i in range(0, len(data), width))


def case(name: str, pkt: bytes, expect: str, out: bytes = None, comment: str = "") -> str:
    text = f'case "{name}"\n'
    if comment:
        text = f"# {comment}\n" + text
    text += "in:\n" + hexlines(pkt) + "\n" + f"expect: {expect}\n"
    if out is not None:
        text += "out:\n" + hexlines(out) + "\n"
    return text + "\n"


# --- Additions for the table examples (firewall, router, bridge, ddos, nat) ---

import ipaddress


def ip4int(s: str) -> int:
    return int(ipaddress.IPv4Address(s))


def ip6(s: str) -> bytes:
    return ipaddress.IPv6Address(s).packed


def ipv4_csum_ok(hdr: bytes) -> bool:
    """A header with a correct checksum sums to 0xffff (its csum() is 0)."""
    return csum(hdr) == 0


def ip4pkt(src="198.18.0.1", dst="198.18.0.2", proto=17, payload=b"", dmac="02:00:00:00:00:02",
           smac="02:00:00:00:00:01", **kw) -> bytes:
    """Ethernet + IPv4 (checksum computed) + an already built payload."""
    return eth(dmac, smac) + ipv4(src, dst, proto, len(payload), **kw) + payload


def icmp4(src="198.18.0.1", dst="198.18.0.2", **kw) -> bytes:
    return ip4pkt(src, dst, 1, icmp_echo(), **kw)


def ip6pkt(src="2001:db8::1", dst="2001:db8::2", nh=17, payload=b"", hop=64, dmac="02:00:00:00:00:02",
           smac="02:00:00:00:00:01") -> bytes:
    return eth(dmac, smac, 0x86DD) + ipv6(ip6(src), ip6(dst), nh, len(payload), hop) + payload


def udp6(src="2001:db8::1", dst="2001:db8::2", sport=40000, dport=53, payload=b"hello", **kw) -> bytes:
    return ip6pkt(src, dst, 17, udp(sport, dport, payload), **kw)


def arp_request(sha="02:00:00:00:00:01", spa="198.18.0.1", tpa="198.18.0.2") -> bytes:
    return (eth("ff:ff:ff:ff:ff:ff", sha, 0x0806) + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1)
            + mac(sha) + ip4(spa) + b"\0" * 6 + ip4(tpa))


def l4_csum(src: bytes, dst: bytes, proto: int, segment: bytes) -> int:
    """TCP/UDP checksum over the pseudo-header (IPv4 or IPv6, by address size)."""
    if len(src) == 4:
        pseudo = src + dst + struct.pack("!BBH", 0, proto, len(segment))
    else:
        pseudo = src + dst + struct.pack("!IxxxB", len(segment), proto)
    c = csum(pseudo + segment)
    if proto == 17 and c == 0:
        c = 0xFFFF  # UDP sends a computed 0 as all ones
    return c


def udp_cs(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    """A UDP header and payload with a real checksum over the IPv4 pseudo-header."""
    seg = udp(sport, dport, payload)
    c = l4_csum(ip4(src), ip4(dst), 17, seg)
    return seg[:6] + struct.pack("!H", c) + seg[8:]


def tcp_cs(src: str, dst: str, sport: int, dport: int, flags=0x02, seq=1, ack=0, payload=b"") -> bytes:
    """A TCP header (no options) and payload with a real checksum."""
    seg = tcp(sport, dport, flags, seq, ack) + payload
    c = l4_csum(ip4(src), ip4(dst), 6, seg)
    return seg[:16] + struct.pack("!H", c) + seg[18:]


# Config values as nfl's YAML reader takes them: the text as written. Load
# the file with yaml.BaseLoader (every scalar a string, so a MAC is never
# read as a sexagesimal number) and parse each value with these.

def parse_int(s: str) -> int:
    return int(s.replace("_", ""), 0)


def parse_scalar(s: str) -> int:
    """An integer, IPv4, IPv6 or MAC literal as an integer."""
    s = s.strip()
    if "." in s and s.count(".") == 3:
        return ip4int(s)
    if s.count(":") == 5 and all(len(p) == 2 for p in s.split(":")):
        return int.from_bytes(mac(s), "big")
    if ":" in s:
        return int(ipaddress.IPv6Address(s))
    return parse_int(s)


def parse_match(s: str, width: int):
    """A key match as (value, mask) for ternary/lpm/exact, or ("range", lo, hi)."""
    s = str(s).strip()
    full = (1 << width) - 1
    if s in ("_", "*"):
        return (0, 0)
    if "&&&" in s:
        v, m = s.split("&&&")
        return (parse_scalar(v), parse_scalar(m))
    if "..=" in s:
        lo, hi = s.split("..=")
        return ("range", parse_scalar(lo), parse_scalar(hi))
    if ".." in s and s.count(".") == 2:
        lo, hi = s.split("..")
        return ("range", parse_scalar(lo), parse_scalar(hi) - 1)
    if "/" in s:
        a, n = s.split("/")
        n = int(n)
        mask = full & ~(full >> n)
        return (parse_scalar(a) & mask, mask)
    return (parse_scalar(s), full)


def matches(m, value: int) -> bool:
    if m[0] == "range":
        return m[1] <= value <= m[2]
    return value & m[1] == m[0]


def prefix_len(m) -> int:
    return bin(m[1]).count("1")


def load_yaml(path) -> dict:
    import yaml
    with open(path) as f:
        return yaml.load(f, Loader=yaml.BaseLoader)
