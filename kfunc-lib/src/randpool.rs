//! The random pool for geometric sampling (NitroSketch).
//!
//! Generator: xorshift64* (Vigna), state `s` (never 0; a seed of 0 becomes
//! [`ZERO_SEED_STATE`]); each draw does `s ^= s >> 12; s ^= s << 25;
//! s ^= s >> 27` and returns `s * 0x2545F4914F6CDD1D` (wrapping).
//!
//! Variates: by counting Bernoulli trials (no floating point, so the kernel
//! module computes the same pool). With `p = p_num / 2^d`, one trial draws
//! `r` and succeeds iff `r >> (64 - d) < p_num` (the top `d` bits); `G` is
//! the number of trials up to and including the first success, so `G ≥ 1`.
//! With `d = 0` (p = 1) every `G` is 1 and nothing is drawn; `d ≤ 16`. `G` saturates
//! at `u32::MAX` (unreachable in practice).

use crate::error::ShapeError;

/// The state used for a seed of 0 (xorshift has a fixed point at 0).
pub const ZERO_SEED_STATE: u64 = 0x9E37_79B9_7F4A_7C15;
/// The largest `p_den_log2`: counting trials costs `1/p` draws per
/// variate, so `p ≥ 2^-16` keeps a 4096-entry pool under 3·10^8 draws.
pub const MAX_P_DEN_LOG2: u32 = 16;
/// The xorshift64* output multiplier.
pub const XS_MUL: u64 = 0x2545_F491_4F6C_DD1D;

/// xorshift64*: the pool's generator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XorShift64Star {
    state: u64,
}

impl XorShift64Star {
    pub fn new(seed: u64) -> Self {
        XorShift64Star {
            state: if seed == 0 { ZERO_SEED_STATE } else { seed },
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut s = self.state;
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        self.state = s;
        s.wrapping_mul(XS_MUL)
    }
}

/// One geometric variate with `p = p_num / 2^d` (see the module docs).
pub fn geometric(rng: &mut XorShift64Star, p_num: u32, d: u32) -> u32 {
    if d == 0 {
        return 1;
    }
    let mut g: u32 = 1;
    while rng.next_u64() >> (64 - d) >= u64::from(p_num) {
        g = g.saturating_add(1);
    }
    g
}

/// A deterministic array of geometric variates with a wrapping cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RandPool {
    values: Vec<u32>,
    cursor: usize,
    p_num: u32,
    p_den_log2: u32,
}

impl RandPool {
    /// `len ≥ 1` variates with `p = p_num / 2^p_den_log2`, where
    /// `p_den_log2 ≤ 16` ([`MAX_P_DEN_LOG2`]) and `1 ≤ p_num ≤ 2^p_den_log2`.
    pub fn new(seed: u64, len: usize, p_num: u32, p_den_log2: u32) -> Result<Self, ShapeError> {
        if len == 0 {
            return Err(ShapeError::Zero("pool length"));
        }
        if len > u32::MAX as usize / 4 {
            return Err(ShapeError::TooLarge);
        }
        if p_den_log2 > MAX_P_DEN_LOG2 {
            return Err(ShapeError::OutOfRange(
                "p_den_log2 (0..=16)",
                u64::from(p_den_log2),
            ));
        }
        if p_num == 0 || u64::from(p_num) > 1u64 << p_den_log2 {
            return Err(ShapeError::OutOfRange(
                "p_num (1..=2^p_den_log2)",
                u64::from(p_num),
            ));
        }
        let mut rng = XorShift64Star::new(seed);
        let values = (0..len)
            .map(|_| geometric(&mut rng, p_num, p_den_log2))
            .collect();
        Ok(RandPool {
            values,
            cursor: 0,
            p_num,
            p_den_log2,
        })
    }

    pub fn values(&self) -> &[u32] {
        &self.values
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn p_num(&self) -> u32 {
        self.p_num
    }

    pub fn p_den_log2(&self) -> u32 {
        self.p_den_log2
    }

    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// The value at the cursor; the cursor then advances, wrapping to 0.
    pub fn next_value(&mut self) -> u32 {
        let v = self.values[self.cursor];
        self.cursor = if self.cursor + 1 == self.values.len() {
            0
        } else {
            self.cursor + 1
        };
        v
    }

    /// The pool as the map value userspace writes: little-endian `u32`s.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xorshift_first_outputs() {
        // Worked by hand from the recurrence for seed 1.
        let mut r = XorShift64Star::new(1);
        let mut s: u64 = 1;
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        assert_eq!(s, 0x0000_0000_0200_0001);
        assert_eq!(r.next_u64(), s.wrapping_mul(XS_MUL));
        assert_eq!(XorShift64Star::new(0), XorShift64Star::new(ZERO_SEED_STATE));
    }

    #[test]
    fn parameters() {
        assert!(RandPool::new(1, 0, 1, 4).is_err());
        assert!(RandPool::new(1, 4, 0, 4).is_err());
        assert!(RandPool::new(1, 4, 17, 4).is_err());
        assert!(RandPool::new(1, 4, 1, 17).is_err());
        assert!(
            RandPool::new(1, 4, 16, 4)
                .unwrap()
                .values()
                .iter()
                .all(|&g| g == 1)
        );
        assert!(
            RandPool::new(1, 4, 1, 0)
                .unwrap()
                .values()
                .iter()
                .all(|&g| g == 1)
        );
    }

    #[test]
    fn deterministic_and_seed_dependent() {
        let a = RandPool::new(42, 256, 1, 3).unwrap();
        assert_eq!(a, RandPool::new(42, 256, 1, 3).unwrap());
        assert_ne!(a.values(), RandPool::new(43, 256, 1, 3).unwrap().values());
        assert!(a.values().iter().all(|&g| g >= 1));
    }

    #[test]
    fn mean_is_one_over_p() {
        for (num, d) in [(1, 4), (3, 4), (1, 7)] {
            let pool = RandPool::new(7, 20_000, num, d).unwrap();
            let mean = pool.values().iter().map(|&g| f64::from(g)).sum::<f64>() / 20_000.0;
            let want = f64::from(1u32 << d) / f64::from(num);
            assert!(
                (mean / want - 1.0).abs() < 0.05,
                "p={num}/2^{d}: mean {mean}"
            );
        }
    }

    #[test]
    fn cursor_wraps() {
        let mut pool = RandPool::new(9, 3, 1, 2).unwrap();
        let v = pool.values().to_vec();
        let got: Vec<u32> = (0..7).map(|_| pool.next_value()).collect();
        assert_eq!(got, [v[0], v[1], v[2], v[0], v[1], v[2], v[0]]);
        assert_eq!(pool.cursor(), 1);
        assert_eq!(pool.to_bytes().len(), 12);
    }
}
