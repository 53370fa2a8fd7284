//! Count sketch: `rows × cols` wrapping `i32` counters, row-major, with a
//! sign per row taken from bit 31 of the row hash, and a median query.

use crate::error::{ShapeError, check_len, grid_len, words_le};
use crate::hash::{murmur3_32, row_seed};

/// A count sketch with wrapping signed counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountSketch {
    rows: u32,
    cols: u32,
    counters: Vec<i32>,
}

/// The sign of a row hash: +1 if bit 31 is clear, −1 if set.
pub fn sign_of(h: u32) -> i32 {
    if h >> 31 == 0 { 1 } else { -1 }
}

/// The median as the sketch defines it: sort ascending; odd count → middle;
/// even count → floor((lower + upper) / 2) (arithmetic shift of the sum).
/// Empty input gives 0.
pub fn median(values: &mut [i64]) -> i64 {
    values.sort_unstable();
    let r = values.len();
    if r == 0 {
        0
    } else if r % 2 == 1 {
        values[r / 2]
    } else {
        (values[r / 2 - 1] + values[r / 2]) >> 1
    }
}

impl CountSketch {
    /// An empty sketch; `rows ≥ 1`, `cols` a power of two, at most 4 GiB.
    pub fn new(rows: u32, cols: u32) -> Result<Self, ShapeError> {
        let len = grid_len(rows, cols, 4)?;
        Ok(CountSketch {
            rows,
            cols,
            counters: vec![0; len],
        })
    }

    /// Decodes a kernel map value (`rows * cols` little-endian `i32`).
    pub fn from_bytes(rows: u32, cols: u32, bytes: &[u8]) -> Result<Self, ShapeError> {
        let len = grid_len(rows, cols, 4)?;
        check_len(bytes, len, 4)?;
        Ok(CountSketch {
            rows,
            cols,
            counters: words_le(bytes).map(|w| w as i32).collect(),
        })
    }

    /// The map value bytes: the counters as little-endian `i32`, row-major.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.counters.iter().flat_map(|c| c.to_le_bytes()).collect()
    }

    pub fn rows(&self) -> u32 {
        self.rows
    }

    pub fn cols(&self) -> u32 {
        self.cols
    }

    pub fn counters(&self) -> &[i32] {
        &self.counters
    }

    /// The flat index and sign of `key` in row `row`.
    pub fn slot(&self, key: &[u8], row: u32) -> (usize, i32) {
        let h = murmur3_32(key, row_seed(row));
        (
            (row * self.cols + (h & (self.cols - 1))) as usize,
            sign_of(h),
        )
    }

    /// Adds `sign_row * n` to the key's counter in one row (wrapping).
    pub fn add_row(&mut self, key: &[u8], row: u32, n: i32) {
        let (i, sign) = self.slot(key, row);
        self.counters[i] = self.counters[i].wrapping_add(n.wrapping_mul(sign));
    }

    /// Adds `sign_i * n` in every row (wrapping).
    pub fn add(&mut self, key: &[u8], n: i32) {
        for row in 0..self.rows {
            self.add_row(key, row, n);
        }
    }

    /// The median over rows of `sign_i * counter_i` (as `i64`).
    pub fn query(&self, key: &[u8]) -> i64 {
        let mut v: Vec<i64> = (0..self.rows)
            .map(|row| {
                let (i, sign) = self.slot(key, row);
                i64::from(sign) * i64::from(self.counters[i])
            })
            .collect();
        median(&mut v)
    }

    /// Adds another sketch of the same shape (wrapping); false on mismatch.
    pub fn merge(&mut self, other: &CountSketch) -> bool {
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
    fn medians() {
        assert_eq!(median(&mut []), 0);
        assert_eq!(median(&mut [5]), 5);
        assert_eq!(median(&mut [9, -3, 4]), 4);
        assert_eq!(median(&mut [1, 2]), 1);
        assert_eq!(median(&mut [-1, -2]), -2, "floor, not truncation");
        assert_eq!(median(&mut [3, -4, 10, 0]), 1);
        let big = i64::from(i32::MIN);
        assert_eq!(median(&mut [big, big]), big);
    }

    #[test]
    fn signs() {
        assert_eq!(sign_of(0x7fff_ffff), 1);
        assert_eq!(sign_of(0x8000_0000), -1);
    }

    #[test]
    fn exact_layout_and_roundtrip() {
        let key = [1, 2, 3, 4, 5, 6, 7, 8];
        let mut cs = CountSketch::new(5, 8).unwrap();
        cs.add(&key, 7);
        let mut want = [0i32; 40];
        for row in 0..5u32 {
            let h = murmur3_32(&key, row_seed(row));
            let s = if h & 0x8000_0000 == 0 { 7 } else { -7 };
            want[(row * 8 + (h & 7)) as usize] += s;
        }
        assert_eq!(cs.counters(), &want[..]);
        assert_eq!(cs.query(&key), 7);
        let back = CountSketch::from_bytes(5, 8, &cs.to_bytes()).unwrap();
        assert_eq!(back, cs);
    }

    #[test]
    fn even_rows_and_wrapping() {
        let mut cs = CountSketch::new(2, 1).unwrap();
        cs.add(b"abcd", i32::MAX);
        cs.add(b"abcd", i32::MAX);
        // Both rows wrapped to ±(-2); the value is whatever the two rows say.
        let (_, s0) = cs.slot(b"abcd", 0);
        let (_, s1) = cs.slot(b"abcd", 1);
        let c = cs.counters();
        let mut v = [
            i64::from(s0) * i64::from(c[0]),
            i64::from(s1) * i64::from(c[1]),
        ];
        assert_eq!(cs.query(b"abcd"), median(&mut v));
    }

    #[test]
    fn heavy_key_is_found_among_noise() {
        let mut cs = CountSketch::new(5, 256).unwrap();
        for i in 0u32..2000 {
            cs.add(&i.to_le_bytes(), 1);
        }
        cs.add(b"HEVY", 1000);
        let est = cs.query(b"HEVY");
        assert!((980..=1020).contains(&est), "estimate {est}");
    }

    #[test]
    fn merge_and_bad_length() {
        let mut a = CountSketch::new(3, 4).unwrap();
        let mut b = a.clone();
        let mut all = a.clone();
        a.add(b"abcd", 3);
        b.add(b"efgh", -9);
        all.add(b"abcd", 3);
        all.add(b"efgh", -9);
        assert!(a.merge(&b));
        assert_eq!(a, all);
        assert!(CountSketch::from_bytes(3, 4, &[0; 47]).is_err());
    }
}
