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
