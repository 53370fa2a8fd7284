//! Count-min sketch: `rows × cols` wrapping `u32` counters, row-major.
//!
//! The kernel map value is exactly [`CountMin::to_bytes`]: the counters as
//! little-endian `u32`, row 0 first (docs/kfunc-lib.md, "count_min").

use crate::error::{ShapeError, check_len, grid_len, words_le};
use crate::hash::{murmur3_32, row_seed};

/// A count-min sketch with wrapping counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountMin {
    rows: u32,
    cols: u32,
    counters: Vec<u32>,
}

impl CountMin {
    /// An empty sketch; `rows ≥ 1`, `cols` a power of two, at most 4 GiB.
    pub fn new(rows: u32, cols: u32) -> Result<Self, ShapeError> {
        let len = grid_len(rows, cols, 4)?;
        Ok(CountMin {
            rows,
            cols,
            counters: vec![0; len],
        })
    }

    /// Decodes a kernel map value (`rows * cols` little-endian `u32`).
    pub fn from_bytes(rows: u32, cols: u32, bytes: &[u8]) -> Result<Self, ShapeError> {
        let len = grid_len(rows, cols, 4)?;
        check_len(bytes, len, 4)?;
        Ok(CountMin {
            rows,
            cols,
            counters: words_le(bytes).collect(),
        })
    }

    /// The map value bytes: the counters as little-endian `u32`, row-major.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.counters.iter().flat_map(|c| c.to_le_bytes()).collect()
    }

    /// The byte size of the map value of this shape.
    pub fn byte_len(&self) -> usize {
        self.counters.len() * 4
    }

    pub fn rows(&self) -> u32 {
        self.rows
    }

    pub fn cols(&self) -> u32 {
        self.cols
    }

    /// All counters, row-major.
    pub fn counters(&self) -> &[u32] {
        &self.counters
    }

    /// The flat index of `key` in row `row`: `row * cols + (h_row & (cols - 1))`.
    pub fn slot(&self, key: &[u8], row: u32) -> usize {
        let h = murmur3_32(key, row_seed(row));
        (row * self.cols + (h & (self.cols - 1))) as usize
    }

    /// Adds `n` to the key's counter in every row (wrapping).
    pub fn add(&mut self, key: &[u8], n: u32) {
        for row in 0..self.rows {
            let i = self.slot(key, row);
            self.counters[i] = self.counters[i].wrapping_add(n);
        }
    }

    /// The minimum of the key's counters over all rows.
    pub fn query(&self, key: &[u8]) -> u32 {
        (0..self.rows)
            .map(|row| self.counters[self.slot(key, row)])
            .min()
            .unwrap_or(0)
    }

    /// Adds another sketch of the same shape counter by counter (wrapping),
    /// e.g. to sum per-CPU copies. Returns false (and changes nothing) on a
    /// shape mismatch.
    pub fn merge(&mut self, other: &CountMin) -> bool {
        if (self.rows, self.cols) != (other.rows, other.cols) {
            return false;
        }
        for (a, b) in self.counters.iter_mut().zip(&other.counters) {
            *a = a.wrapping_add(*b);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert_eq!(CountMin::new(0, 8), Err(ShapeError::Zero("rows")));
        assert_eq!(
            CountMin::new(2, 12),
            Err(ShapeError::NotPowerOfTwo("cols", 12))
        );
        assert_eq!(
            CountMin::new(2, 0),
            Err(ShapeError::NotPowerOfTwo("cols", 0))
        );
        assert_eq!(CountMin::new(1 << 16, 1 << 15), Err(ShapeError::TooLarge));
        assert_eq!(CountMin::new(4, 1).unwrap().byte_len(), 16);
    }

    #[test]
    fn exact_layout_of_one_add() {
        let key = [10, 0, 0, 1];
        let mut cm = CountMin::new(3, 16).unwrap();
        cm.add(&key, 5);
        let mut want = [0u32; 48];
        for row in 0..3u32 {
            let h = murmur3_32(&key, row_seed(row));
            want[(row * 16 + (h & 15)) as usize] += 5;
        }
        assert_eq!(cm.counters(), &want[..]);
        let bytes = cm.to_bytes();
        assert_eq!(bytes.len(), 192);
        let again = CountMin::from_bytes(3, 16, &bytes).unwrap();
        assert_eq!(again, cm);
        assert_eq!(cm.query(&key), 5);
    }

    #[test]
    fn never_underestimates_and_wraps() {
        let mut cm = CountMin::new(4, 64).unwrap();
        for i in 0u32..500 {
            cm.add(&i.to_le_bytes(), i % 7 + 1);
        }
        for i in 0u32..500 {
            assert!(cm.query(&i.to_le_bytes()) > i % 7);
        }
        let mut w = CountMin::new(1, 1).unwrap();
        w.add(b"abcd", u32::MAX);
        w.add(b"efgh", 3);
        assert_eq!(w.query(b"abcd"), 2);
    }

    #[test]
    fn from_bytes_checks_length() {
        assert_eq!(
            CountMin::from_bytes(2, 4, &[0; 31]),
            Err(ShapeError::BadLength {
                expected: 32,
                got: 31
            })
        );
    }

    #[test]
    fn merge_of_per_cpu_copies_equals_one_sketch() {
        let (mut a, mut b, mut all) = (
            CountMin::new(2, 32).unwrap(),
            CountMin::new(2, 32).unwrap(),
            CountMin::new(2, 32).unwrap(),
        );
        for i in 0u32..100 {
            let k = i.to_le_bytes();
            if i % 3 == 0 {
                a.add(&k, i)
            } else {
                b.add(&k, i)
            }
            all.add(&k, i);
        }
        assert!(a.merge(&b));
        assert_eq!(a, all);
        assert!(!a.merge(&CountMin::new(2, 64).unwrap()));
    }
}
