//! Bloom filter of `m` bits (a power of two, at least 32) and `k` hashes.
//!
//! Bit `b` lives in little-endian `u32` word `b >> 5` at bit `b & 31`; the
//! map value is the words in order (docs/kfunc-lib.md, "bloom").

use crate::error::{ShapeError, check_len, words_le};
use crate::hash::{murmur3_32, row_seed};

/// A Bloom filter over `u32` words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bloom {
    k: u32,
    words: Vec<u32>,
}

fn check_shape(m_bits: u32, k: u32) -> Result<usize, ShapeError> {
    if k == 0 {
        return Err(ShapeError::Zero("k"));
    }
    if !m_bits.is_power_of_two() {
        return Err(ShapeError::NotPowerOfTwo("m", u64::from(m_bits)));
    }
    if m_bits < 32 {
        return Err(ShapeError::OutOfRange(
            "m (at least 32 bits)",
            u64::from(m_bits),
        ));
    }
    Ok((m_bits / 32) as usize)
}

impl Bloom {
    /// An empty filter; `m_bits` a power of two ≥ 32, `k ≥ 1`.
    pub fn new(m_bits: u32, k: u32) -> Result<Self, ShapeError> {
        let n = check_shape(m_bits, k)?;
        Ok(Bloom {
            k,
            words: vec![0; n],
        })
    }

    /// Decodes a kernel map value (`m_bits / 8` bytes).
    pub fn from_bytes(m_bits: u32, k: u32, bytes: &[u8]) -> Result<Self, ShapeError> {
        let n = check_shape(m_bits, k)?;
        check_len(bytes, n, 4)?;
        Ok(Bloom {
            k,
            words: words_le(bytes).collect(),
        })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        self.words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    pub fn m_bits(&self) -> u32 {
        self.words.len() as u32 * 32
    }

    pub fn k(&self) -> u32 {
        self.k
    }

    pub fn words(&self) -> &[u32] {
        &self.words
    }

    /// The bit that hash `i` of `key` selects: `h_i & (m - 1)`.
    pub fn bit(&self, key: &[u8], i: u32) -> u32 {
        murmur3_32(key, row_seed(i)) & (self.m_bits() - 1)
    }

    pub fn add(&mut self, key: &[u8]) {
        for i in 0..self.k {
            let b = self.bit(key, i);
            self.words[(b >> 5) as usize] |= 1 << (b & 31);
        }
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        (0..self.k).all(|i| {
            let b = self.bit(key, i);
            self.words[(b >> 5) as usize] & (1 << (b & 31)) != 0
        })
    }

    /// ORs another filter of the same shape in (per-CPU copies); false on
    /// mismatch.
    pub fn merge(&mut self, other: &Bloom) -> bool {
        if (self.k, self.words.len()) != (other.k, other.words.len()) {
            return false;
        }
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a |= *b;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert!(Bloom::new(64, 0).is_err());
        assert!(Bloom::new(96, 3).is_err());
        assert!(Bloom::new(16, 3).is_err());
        assert_eq!(Bloom::new(1024, 3).unwrap().to_bytes().len(), 128);
    }

    #[test]
    fn exact_bits_of_one_key() {
        let key = [192, 0, 2, 1];
        let mut b = Bloom::new(256, 3).unwrap();
        b.add(&key);
        let mut want = [0u32; 8];
        for i in 0..3 {
            let bit = murmur3_32(&key, row_seed(i)) & 255;
            want[(bit / 32) as usize] |= 1 << (bit % 32);
        }
        assert_eq!(b.words(), &want);
        assert!(b.contains(&key));
        assert_eq!(Bloom::from_bytes(256, 3, &b.to_bytes()).unwrap(), b);
    }

    #[test]
    fn no_false_negatives_few_false_positives() {
        let mut b = Bloom::new(1 << 14, 4).unwrap();
        for i in 0u32..1000 {
            b.add(&i.to_le_bytes());
        }
        assert!((0u32..1000).all(|i| b.contains(&i.to_le_bytes())));
        // Expected FP rate (1 - e^{-kn/m})^k ≈ 0.0024 here.
        let fp = (1000u32..11000)
            .filter(|i| b.contains(&i.to_le_bytes()))
            .count();
        assert!(fp < 80, "{fp} false positives in 10000");
    }

    #[test]
    fn merge_is_union() {
        let mut a = Bloom::new(64, 2).unwrap();
        let mut c = a.clone();
        a.add(b"abcd");
        c.add(b"wxyz");
        assert!(a.merge(&c));
        assert!(a.contains(b"abcd") && a.contains(b"wxyz"));
        assert!(!a.merge(&Bloom::new(64, 3).unwrap()));
    }
}
