//! HyperLogLog with `2^p` one-byte registers (4 ≤ p ≤ 16) over the 32-bit
//! murmur hash with `row_seed(0)`.
//!
//! No large-range correction: the hash has 32 bits, so once the number of
//! distinct keys approaches 2^32 the hash values themselves collide and no
//! register can tell. The usual correction (−2^32·ln(1 − E/2^32)) only
//! patches that bias and diverges near 2^32. We instead state the domain: the
//! standard error 1.04/√m holds from 0 up to about 2^32/30 ≈ 1.4·10^8
//! distinct keys; above that estimates drift low (docs/kfunc-lib.md).

use crate::error::ShapeError;
use crate::hash::{murmur3_32, row_seed};

/// A HyperLogLog sketch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hll {
    p: u32,
    regs: Vec<u8>,
}

/// The register index and rank of hash `h` at precision `p`:
/// `idx = h >> (32 - p)`, `rank = clz((h << p) | (1 << (p - 1))) + 1`.
pub fn index_rank(h: u32, p: u32) -> (u32, u8) {
    let idx = h >> (32 - p);
    let w = (h << p) | (1 << (p - 1));
    (idx, (w.leading_zeros() + 1) as u8)
}

/// The bias constant alpha_m.
pub fn alpha(m: u32) -> f64 {
    match m {
        16 => 0.673,
        32 => 0.697,
        64 => 0.709,
        _ => 0.7213 / (1.0 + 1.079 / f64::from(m)),
    }
}

fn check_p(p: u32) -> Result<usize, ShapeError> {
    if !(4..=16).contains(&p) {
        return Err(ShapeError::OutOfRange("p (4..=16)", u64::from(p)));
    }
    Ok(1 << p)
}

impl Hll {
    pub fn new(p: u32) -> Result<Self, ShapeError> {
        Ok(Hll {
            p,
            regs: vec![0; check_p(p)?],
        })
    }

    /// Decodes a map value of `2^p` register bytes.
    pub fn from_bytes(p: u32, bytes: &[u8]) -> Result<Self, ShapeError> {
        let m = check_p(p)?;
        crate::error::check_len(bytes, m, 1)?;
        Ok(Hll {
            p,
            regs: bytes.to_vec(),
        })
    }

    /// The register-wise maximum of several register arrays (the kernel's
    /// per-CPU copies), each `2^p` bytes.
    pub fn merge_max(p: u32, copies: &[&[u8]]) -> Result<Self, ShapeError> {
        let mut out = Hll::new(p)?;
        for c in copies {
            out.merge_bytes(c)?;
        }
        Ok(out)
    }

    /// Takes the register-wise maximum with `regs` (`2^p` bytes).
    pub fn merge_bytes(&mut self, regs: &[u8]) -> Result<(), ShapeError> {
        crate::error::check_len(regs, self.regs.len(), 1)?;
        for (a, b) in self.regs.iter_mut().zip(regs) {
            *a = (*a).max(*b);
        }
        Ok(())
    }

    pub fn p(&self) -> u32 {
        self.p
    }

    pub fn registers(&self) -> &[u8] {
        &self.regs
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        self.regs.clone()
    }

    pub fn add(&mut self, key: &[u8]) {
        let (idx, rank) = index_rank(murmur3_32(key, row_seed(0)), self.p);
        let r = &mut self.regs[idx as usize];
        *r = (*r).max(rank);
    }

    /// The cardinality estimate (see the module docs for its domain).
    pub fn estimate(&self) -> f64 {
        let m = self.regs.len() as f64;
        let sum: f64 = self.regs.iter().map(|&r| (-f64::from(r)).exp2()).sum();
        let raw = alpha(self.regs.len() as u32) * m * m / sum;
        let zeros = self.regs.iter().filter(|&&r| r == 0).count();
        if raw <= 2.5 * m && zeros > 0 {
            m * (m / zeros as f64).ln()
        } else {
            raw
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_and_rank_edges() {
        assert_eq!(index_rank(0, 4), (0, 29), "rank caps at 32 - p + 1");
        assert_eq!(index_rank(0, 16), (0, 17));
        assert_eq!(index_rank(0xffff_ffff, 4), (15, 1));
        assert_eq!(index_rank(0x0800_0000, 4), (0, 1));
        assert_eq!(index_rank(0x0400_0000, 4), (0, 2));
        assert_eq!(index_rank(0x1000_0001, 4), (1, 28));
        assert_eq!(index_rank(0x0001_8000, 16), (1, 1));
    }

    #[test]
    fn precision_range() {
        assert!(Hll::new(3).is_err());
        assert!(Hll::new(17).is_err());
        assert_eq!(Hll::new(4).unwrap().registers().len(), 16);
        assert!(Hll::from_bytes(4, &[0; 15]).is_err());
    }

    #[test]
    fn alpha_constants() {
        assert_eq!(alpha(16), 0.673);
        assert_eq!(alpha(32), 0.697);
        assert_eq!(alpha(64), 0.709);
        assert!((alpha(1024) - 0.7213 / (1.0 + 1.079 / 1024.0)).abs() < 1e-15);
    }

    #[test]
    fn empty_and_small_use_linear_counting() {
        let mut h = Hll::new(10).unwrap();
        assert_eq!(h.estimate(), 0.0);
        for i in 0u32..100 {
            h.add(&i.to_le_bytes());
        }
        let e = h.estimate();
        assert!((95.0..=105.0).contains(&e), "{e}");
    }

    #[test]
    fn large_counts_within_error() {
        let mut h = Hll::new(12).unwrap();
        for i in 0u32..200_000 {
            h.add(&i.to_le_bytes());
        }
        let e = h.estimate();
        // 1.04 / sqrt(4096) ≈ 1.6 %; allow 4 standard errors.
        assert!((e / 200_000.0 - 1.0).abs() < 0.065, "{e}");
    }

    #[test]
    fn duplicates_do_not_count_and_merge_is_union() {
        let mut a = Hll::new(8).unwrap();
        let mut b = Hll::new(8).unwrap();
        let mut all = Hll::new(8).unwrap();
        for i in 0u32..3000 {
            let k = i.to_le_bytes();
            if i % 2 == 0 {
                a.add(&k)
            } else {
                b.add(&k)
            }
            all.add(&k);
            all.add(&k);
        }
        let merged = Hll::merge_max(8, &[a.registers(), b.registers()]).unwrap();
        assert_eq!(merged, all);
        assert!(Hll::merge_max(8, &[&[0; 10]]).is_err());
    }
}
