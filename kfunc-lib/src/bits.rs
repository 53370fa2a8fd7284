//! Bit operations: the `std` versions (what the kfuncs compute) and the
//! `soft_*` versions written as pure eBPF must compute them, with no
//! count-leading-zeros instruction: a five- or six-step binary search for
//! the zero counts and a SWAR popcount. The tests prove them equal.
//!
//! Conventions (like the C library and x86 `tzcnt`/`lzcnt`): `ffs` is the
//! 1-based index of the lowest set bit, 0 for 0; `tzcnt`/`lzcnt` of 0 are
//! the width (32 or 64).

pub fn ffs32(x: u32) -> u32 {
    if x == 0 { 0 } else { x.trailing_zeros() + 1 }
}

pub fn ffs64(x: u64) -> u32 {
    if x == 0 { 0 } else { x.trailing_zeros() + 1 }
}

pub fn tzcnt32(x: u32) -> u32 {
    x.trailing_zeros()
}

pub fn tzcnt64(x: u64) -> u32 {
    x.trailing_zeros()
}

pub fn lzcnt32(x: u32) -> u32 {
    x.leading_zeros()
}

pub fn lzcnt64(x: u64) -> u32 {
    x.leading_zeros()
}

/// `clz` is another name for `lzcnt` (defined for 0: the width).
pub fn clz32(x: u32) -> u32 {
    lzcnt32(x)
}

pub fn clz64(x: u64) -> u32 {
    lzcnt64(x)
}

pub fn popcnt32(x: u32) -> u32 {
    x.count_ones()
}

pub fn popcnt64(x: u64) -> u32 {
    x.count_ones()
}

/// Trailing zeros by binary search: test the low half, shift it out if zero.
pub fn soft_tzcnt32(mut x: u32) -> u32 {
    if x == 0 {
        return 32;
    }
    let mut n = 0;
    if x & 0xffff == 0 {
        n += 16;
        x >>= 16;
    }
    if x & 0xff == 0 {
        n += 8;
        x >>= 8;
    }
    if x & 0xf == 0 {
        n += 4;
        x >>= 4;
    }
    if x & 0x3 == 0 {
        n += 2;
        x >>= 2;
    }
    if x & 0x1 == 0 {
        n += 1;
    }
    n
}

/// 64-bit trailing zeros: the low word if it is nonzero, else 32 + the high.
pub fn soft_tzcnt64(x: u64) -> u32 {
    let lo = x as u32;
    if lo != 0 {
        soft_tzcnt32(lo)
    } else {
        32 + soft_tzcnt32((x >> 32) as u32)
    }
}

pub fn soft_ffs32(x: u32) -> u32 {
    if x == 0 { 0 } else { soft_tzcnt32(x) + 1 }
}

pub fn soft_ffs64(x: u64) -> u32 {
    if x == 0 { 0 } else { soft_tzcnt64(x) + 1 }
}

/// Leading zeros by binary search: test the high half, shift it up if zero.
pub fn soft_lzcnt32(mut x: u32) -> u32 {
    if x == 0 {
        return 32;
    }
    let mut n = 0;
    if x & 0xffff_0000 == 0 {
        n += 16;
        x <<= 16;
    }
    if x & 0xff00_0000 == 0 {
        n += 8;
        x <<= 8;
    }
    if x & 0xf000_0000 == 0 {
        n += 4;
        x <<= 4;
    }
    if x & 0xc000_0000 == 0 {
        n += 2;
        x <<= 2;
    }
    if x & 0x8000_0000 == 0 {
        n += 1;
    }
    n
}

/// 64-bit leading zeros: the high word if it is nonzero, else 32 + the low.
pub fn soft_lzcnt64(x: u64) -> u32 {
    let hi = (x >> 32) as u32;
    if hi != 0 {
        soft_lzcnt32(hi)
    } else {
        32 + soft_lzcnt32(x as u32)
    }
}

/// SWAR popcount: pairs, nibbles, bytes, then a multiply sums the bytes.
pub fn soft_popcnt32(mut x: u32) -> u32 {
    x = x - ((x >> 1) & 0x5555_5555);
    x = (x & 0x3333_3333) + ((x >> 2) & 0x3333_3333);
    x = (x + (x >> 4)) & 0x0f0f_0f0f;
    x.wrapping_mul(0x0101_0101) >> 24
}

pub fn soft_popcnt64(mut x: u64) -> u32 {
    x = x - ((x >> 1) & 0x5555_5555_5555_5555);
    x = (x & 0x3333_3333_3333_3333) + ((x >> 2) & 0x3333_3333_3333_3333);
    x = (x + (x >> 4)) & 0x0f0f_0f0f_0f0f_0f0f;
    (x.wrapping_mul(0x0101_0101_0101_0101) >> 56) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::randpool::XorShift64Star;

    fn edge64() -> Vec<u64> {
        let mut v = vec![0, 1, u64::MAX, u64::MAX - 1, 1 << 63, (1 << 63) + 1];
        for s in 0..64 {
            v.extend([1u64 << s, (1u64 << s) - 1, !(1u64 << s), u64::MAX << s]);
            v.push(u64::MAX >> s);
        }
        v
    }

    fn check32(x: u32) {
        assert_eq!(soft_ffs32(x), ffs32(x), "ffs32 {x:#x}");
        assert_eq!(soft_tzcnt32(x), tzcnt32(x), "tzcnt32 {x:#x}");
        assert_eq!(soft_lzcnt32(x), lzcnt32(x), "lzcnt32 {x:#x}");
        assert_eq!(soft_popcnt32(x), popcnt32(x), "popcnt32 {x:#x}");
    }

    fn check64(x: u64) {
        assert_eq!(soft_ffs64(x), ffs64(x), "ffs64 {x:#x}");
        assert_eq!(soft_tzcnt64(x), tzcnt64(x), "tzcnt64 {x:#x}");
        assert_eq!(soft_lzcnt64(x), lzcnt64(x), "lzcnt64 {x:#x}");
        assert_eq!(soft_popcnt64(x), popcnt64(x), "popcnt64 {x:#x}");
    }

    #[test]
    fn conventions() {
        assert_eq!((ffs32(0), ffs32(1), ffs32(0x8000_0000)), (0, 1, 32));
        assert_eq!((ffs64(0), ffs64(1 << 63), ffs64(12)), (0, 64, 3));
        assert_eq!(
            (tzcnt32(0), lzcnt32(0), tzcnt64(0), lzcnt64(0)),
            (32, 32, 64, 64)
        );
        assert_eq!((clz32(1), clz64(1)), (31, 63));
        assert_eq!((popcnt32(u32::MAX), popcnt64(u64::MAX)), (32, 64));
    }

    #[test]
    fn soft_equals_std_on_edges() {
        for x in edge64() {
            check64(x);
            check32(x as u32);
            check32((x >> 32) as u32);
        }
    }

    #[test]
    fn soft_equals_std_on_random_values() {
        let mut rng = XorShift64Star::new(0x5eed);
        for _ in 0..200_000 {
            let r = rng.next_u64();
            // Sparse values too: AND a few draws so long zero runs occur.
            let sparse = r & rng.next_u64() & rng.next_u64();
            let shifted = r >> (rng.next_u64() % 64);
            for x in [r, sparse, shifted] {
                check64(x);
                check32(x as u32);
            }
        }
    }
}
