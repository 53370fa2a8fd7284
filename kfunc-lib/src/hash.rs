//! MurmurHash3_x86_32 and the row seeds every sketch uses.
//!
//! This is the reference implementation; the eBPF lowering, the kernel
//! module (`module/nfl_algos.h`) and the userspace engine all compute the
//! same values (docs/kfunc-lib.md, "Hash").

/// The multiplier of the row seeds: `seed(i) = (i + 1) * SEED_MUL` (wrapping).
pub const SEED_MUL: u32 = 0x9E37_79B9;

const C1: u32 = 0xcc9e_2d51;
const C2: u32 = 0x1b87_3593;

/// The seed of row (or hash number) `i`: `(i + 1) * 0x9E3779B9`, wrapping.
pub fn row_seed(i: u32) -> u32 {
    i.wrapping_add(1).wrapping_mul(SEED_MUL)
}

/// The MurmurHash3 finaliser.
pub fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h
}

fn scramble(k: u32) -> u32 {
    k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2)
}

/// Standard MurmurHash3_x86_32 of `key` (blocks read little-endian).
pub fn murmur3_32(key: &[u8], seed: u32) -> u32 {
    let mut h = seed;
    let mut blocks = key.chunks_exact(4);
    for b in &mut blocks {
        let k = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        h ^= scramble(k);
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        let mut k = 0u32;
        for (i, &byte) in tail.iter().enumerate() {
            k |= u32::from(byte) << (8 * i);
        }
        h ^= scramble(k);
    }
    // The length is taken mod 2^32, as the C reference (an int) does.
    h ^= key.len() as u32;
    fmix32(h)
}

/// `out[i] = murmur3_32(key, row_seed(i))` for `i < k`.
///
/// # Panics
/// If `out` holds fewer than `k` words.
pub fn multi_hash(key: &[u8], k: usize, out: &mut [u32]) {
    for (i, slot) in out[..k].iter_mut().enumerate() {
        *slot = murmur3_32(key, row_seed(i as u32));
    }
}

/// The `k` row hashes of `key` as a vector.
pub fn hashes(key: &[u8], k: usize) -> Vec<u32> {
    let mut out = vec![0; k];
    multi_hash(key, k, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Published MurmurHash3_x86_32 vectors (SMHasher's verification set as
    /// quoted widely; cross-checked against the Python `mmh3` package).
    #[test]
    fn published_vectors() {
        let fox = b"The quick brown fox jumps over the lazy dog";
        let cases: &[(&[u8], u32, u32)] = &[
            (b"", 0, 0),
            (b"", 1, 0x514E_28B7),
            (b"", 0xffff_ffff, 0x81F1_6F39),
            (&[0, 0, 0, 0], 0, 0x2362_F9DE),
            (b"hello", 0, 0x248b_fa47),
            (fox, 0, 0x2e4f_f723),
            (b"aaaa", 0x9747_b28c, 0x5A97_808A),
            (b"a", 0x9747_b28c, 0x7FA0_9EA6),
            (b"Hello, world!", 0x9747_b28c, 0x2488_4CBA),
            (fox, 0x9747_b28c, 0x2FA8_26CD),
            (&[1, 2, 3, 4, 5, 6, 7, 8], 0x9E37_79B9, 0xeb4b_660a),
        ];
        for &(key, seed, want) in cases {
            assert_eq!(murmur3_32(key, seed), want, "key {key:?} seed {seed:#x}");
        }
    }

    #[test]
    fn tails_of_every_length_differ() {
        let key = b"abcdefgh";
        let all: Vec<u32> = (0..=8).map(|n| murmur3_32(&key[..n], 7)).collect();
        for i in 0..all.len() {
            for j in i + 1..all.len() {
                assert_ne!(all[i], all[j], "lengths {i} and {j}");
            }
        }
    }

    #[test]
    fn row_seeds() {
        assert_eq!(row_seed(0), 0x9E37_79B9);
        assert_eq!(row_seed(1), 0x3C6E_F372);
        assert_eq!(row_seed(2), 0xDAA6_6D2B);
        assert_eq!(row_seed(u32::MAX), 0);
    }

    #[test]
    fn multi_hash_is_per_row_murmur() {
        let key = [198, 18, 0, 1];
        let mut out = [0u32; 6];
        multi_hash(&key, 4, &mut out);
        for (i, h) in out[..4].iter().enumerate() {
            assert_eq!(*h, murmur3_32(&key, row_seed(i as u32)));
        }
        assert_eq!(&out[4..], &[0, 0], "words past k are untouched");
        assert_eq!(hashes(&key, 4), out[..4].to_vec());
    }

    #[test]
    #[should_panic]
    fn multi_hash_short_out_panics() {
        multi_hash(b"abcd", 3, &mut [0; 2]);
    }
}
