//! NitroSketch reference: a count sketch updated only on geometrically
//! sampled (packet, row) updates, with the increment scaled by 1/p.
//!
//! State machine (one per CPU in the kernel, all fields zero at start):
//! `skip: u32` (row-updates still to pass over) and `cursor: u32` (next
//! pool index). For each packet `(key, n)`, for row `i = 0 .. R-1` in order:
//!
//! ```text
//! if skip == 0 {
//!     counters[i][h_i & (C-1)] += sign(h_i) * inc     // wrapping i32
//!     skip   = pool[cursor] - 1
//!     cursor = cursor + 1 == len ? 0 : cursor + 1
//! } else {
//!     skip -= 1
//! }
//! ```
//!
//! with `inc = (n << p_den_log2) as i32` (the low 32 bits, wrapping):
//! `p = 1 / 2^p_den_log2` exactly, so `1/p` is an integer and no rounding
//! happens. The very first row-update after a reset is sampled; after it,
//! the gaps between sampled updates are the pool's variates. The state is
//! carried across packets. A packet with `skip ≥ R` only does `skip -= R`
//! (no hashing at all), which is what [`Nitro::add`] does too.

use crate::count_sketch::CountSketch;
use crate::error::ShapeError;
use crate::randpool::RandPool;

/// The per-CPU sampler state (zero-initialised, as a fresh map value is).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NitroState {
    pub skip: u32,
    pub cursor: u32,
}

/// A NitroSketch: count sketch counters, a random pool and the sampler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nitro {
    sketch: CountSketch,
    pool: Vec<u32>,
    shift: u32,
    state: NitroState,
}

impl Nitro {
    /// `pool` must have `p_num = 1` (so `1/p = 2^p_den_log2`, `≤ 2^16`).
    pub fn new(rows: u32, cols: u32, pool: &RandPool) -> Result<Self, ShapeError> {
        if pool.p_num() != 1 {
            return Err(ShapeError::OutOfRange(
                "p_num (must be 1)",
                u64::from(pool.p_num()),
            ));
        }
        Ok(Nitro {
            sketch: CountSketch::new(rows, cols)?,
            pool: pool.values().to_vec(),
            shift: pool.p_den_log2(),
            state: NitroState::default(),
        })
    }

    /// The scaled increment `(n << p_den_log2)` truncated to 32 bits.
    pub fn increment(&self, n: u32) -> i32 {
        ((u64::from(n) << self.shift) as u32) as i32
    }

    /// One packet: walks the rows through the sampler (module docs).
    pub fn add(&mut self, key: &[u8], n: u32) {
        let rows = self.sketch.rows();
        if self.state.skip >= rows {
            self.state.skip -= rows;
            return;
        }
        let inc = self.increment(n);
        for row in 0..rows {
            if self.state.skip == 0 {
                self.sketch.add_row(key, row, inc);
                let c = self.state.cursor as usize;
                self.state.skip = self.pool[c] - 1;
                self.state.cursor = if c + 1 == self.pool.len() {
                    0
                } else {
                    c as u32 + 1
                };
            } else {
                self.state.skip -= 1;
            }
        }
    }

    /// The count-sketch median estimate.
    pub fn query(&self, key: &[u8]) -> i64 {
        self.sketch.query(key)
    }

    pub fn sketch(&self) -> &CountSketch {
        &self.sketch
    }

    pub fn state(&self) -> NitroState {
        self.state
    }

    /// Restores a sampler state (e.g. read back from the kernel).
    pub fn set_state(&mut self, state: NitroState) {
        self.state = state;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The state machine written out literally, with no fast path.
    fn slow(rows: u32, cols: u32, pool: &RandPool, packets: &[(u32, u32)]) -> CountSketch {
        let mut cs = CountSketch::new(rows, cols).unwrap();
        let (mut skip, mut cursor) = (0u32, 0usize);
        let d = pool.p_den_log2();
        for &(k, n) in packets {
            for row in 0..rows {
                if skip == 0 {
                    cs.add_row(&k.to_le_bytes(), row, (n << d) as i32);
                    skip = pool.values()[cursor] - 1;
                    cursor = (cursor + 1) % pool.len();
                } else {
                    skip -= 1;
                }
            }
        }
        cs
    }

    #[test]
    fn parameters() {
        let p3 = RandPool::new(1, 8, 3, 4).unwrap();
        assert!(Nitro::new(4, 8, &p3).is_err());
        assert_eq!(
            Nitro::new(4, 8, &RandPool::new(1, 8, 1, 3).unwrap())
                .unwrap()
                .increment(5),
            40
        );
    }

    #[test]
    fn p_one_is_a_plain_count_sketch() {
        let pool = RandPool::new(5, 16, 1, 0).unwrap();
        let mut nitro = Nitro::new(3, 64, &pool).unwrap();
        let mut cs = CountSketch::new(3, 64).unwrap();
        for i in 0u32..300 {
            nitro.add(&i.to_le_bytes(), i % 5 + 1);
            cs.add(&i.to_le_bytes(), (i % 5 + 1) as i32);
        }
        assert_eq!(nitro.sketch(), &cs);
    }

    #[test]
    fn fast_path_equals_literal_state_machine() {
        let pool = RandPool::new(77, 64, 1, 4).unwrap();
        let packets: Vec<(u32, u32)> = (0..5000u32).map(|i| (i % 97, i % 3 + 1)).collect();
        let mut nitro = Nitro::new(4, 32, &pool).unwrap();
        for &(k, n) in &packets {
            nitro.add(&k.to_le_bytes(), n);
        }
        assert_eq!(nitro.sketch(), &slow(4, 32, &pool, &packets));
    }

    #[test]
    fn first_update_is_sampled_then_the_pool_drives() {
        let pool = RandPool::new(3, 4, 1, 2).unwrap();
        let mut nitro = Nitro::new(2, 4, &pool).unwrap();
        nitro.add(b"abcd", 1);
        let g0 = pool.values()[0];
        let st = nitro.state();
        assert_eq!(st.cursor, if g0 == 1 { 2 } else { 1 });
        let expected_skip = if g0 == 1 {
            pool.values()[1] - 1
        } else {
            g0 - 2
        };
        assert_eq!(st.skip, expected_skip);
    }

    #[test]
    fn unbiased_heavy_hitter_estimate() {
        let pool = RandPool::new(11, 4096, 1, 3).unwrap();
        let mut nitro = Nitro::new(5, 512, &pool).unwrap();
        for i in 0u32..40_000 {
            let key = if i % 4 == 0 { 0xdead_beef } else { i };
            nitro.add(&key.to_le_bytes(), 1);
        }
        let est = nitro.query(&0xdead_beefu32.to_le_bytes());
        assert!((9_000..=11_000).contains(&est), "estimate {est} of 10000");
    }
}
