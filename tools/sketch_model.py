"""The sketches of docs/kfunc-lib.md in Python, as oracles for the example
tests: murmur3_32 per row, count-min and Bloom filters over keys laid out
like state-map keys (each field little-endian in its slot, padded to 4)."""
import struct


def murmur3_32(key: bytes, seed: int) -> int:
    c1, c2, mask = 0xCC9E2D51, 0x1B873593, 0xFFFFFFFF
    rotl = lambda x, r: ((x << r) | (x >> (32 - r))) & mask  # noqa: E731
    h = seed
    n = len(key) // 4
    for (k,) in struct.iter_unpack("<I", key[:4 * n]):
        k = rotl(k * c1 & mask, 15) * c2 & mask
        h = (rotl(h ^ k, 13) * 5 + 0xE6546B64) & mask
    tail = key[4 * n:]
    if tail:
        k = int.from_bytes(tail, "little")
        h ^= rotl(k * c1 & mask, 15) * c2 & mask
    h ^= len(key)
    for shift, mul in ((16, 0x85EBCA6B), (13, 0xC2B2AE35), (16, None)):
        h ^= h >> shift
        if mul:
            h = h * mul & mask
    return h


def row_seed(i: int) -> int:
    return (i + 1) * 0x9E3779B9 & 0xFFFFFFFF


def key_bytes(fields) -> bytes:
    """`fields` as (value, slot bytes) pairs, laid out like a state-map key."""
    out = bytearray()
    for value, size in fields:
        while len(out) % size:
            out.append(0)
        out += value.to_bytes(size, "little")
    while len(out) % 4 or not out:
        out.append(0)
    return bytes(out)


class CountMin:
    def __init__(self, rows: int, cols: int):
        self.rows, self.cols = rows, cols
        self.cells = [0] * (rows * cols)

    def slots(self, key: bytes):
        return [i * self.cols + (murmur3_32(key, row_seed(i)) & (self.cols - 1)) for i in range(self.rows)]

    def add(self, key: bytes, n: int):
        for s in self.slots(key):
            self.cells[s] = (self.cells[s] + n) & 0xFFFFFFFF

    def query(self, key: bytes) -> int:
        return min(self.cells[s] for s in self.slots(key))


class Bloom:
    def __init__(self, bits: int, hashes: int):
        self.bits, self.hashes = bits, hashes
        self.set = set()

    def positions(self, key: bytes):
        return {murmur3_32(key, row_seed(i)) & (self.bits - 1) for i in range(self.hashes)}

    def insert(self, key: bytes) -> bool:
        """Add the key; whether it was new (some bit was clear)."""
        pos = self.positions(key)
        new = not pos <= self.set
        self.set |= pos
        return new
