//! Turning a rule's field matches into (value, mask) pairs: one pair for
//! exact, prefix, ternary and any; the minimal prefix cover for a range.

use super::{ClassifyError, FieldMatch};

/// The low `width` bits set.
pub fn width_mask(width: u32) -> u64 {
    if width >= 64 {
        u64::MAX
    } else {
        (1u64 << width) - 1
    }
}

/// The mask of a `len`-bit prefix of a `width`-bit field (its top `len`
/// bits). `len` must not exceed `width`.
pub fn prefix_mask(width: u32, len: u32) -> u64 {
    width_mask(width) & !width_mask(width.saturating_sub(len))
}

/// The minimal set of prefixes, as `(value, len)` in ascending order,
/// whose union is exactly `lo..=hi` on a `width`-bit field. Greedy from
/// `lo`: each step takes the largest aligned block that stays within `hi`,
/// which gives the canonical (and minimal) cover: at most `2w - 2`
/// prefixes for `w >= 2`. `lo <= hi < 2^width` is the caller's to check.
pub fn range_to_prefixes(width: u32, lo: u64, hi: u64) -> Vec<(u64, u32)> {
    let (mut lo, hi) = (u128::from(lo), u128::from(hi));
    let mut out = Vec::new();
    while lo <= hi {
        let mut block = if lo == 0 {
            width
        } else {
            lo.trailing_zeros().min(width)
        };
        while lo + (1u128 << block) - 1 > hi {
            block -= 1;
        }
        out.push((lo as u64, width - block));
        lo += 1u128 << block;
    }
    out
}

/// The most prefixes a range on a `width`-bit field can need.
pub fn max_range_prefixes(width: u32) -> usize {
    (2 * width as usize).saturating_sub(2).max(1)
}

/// Checks one field match against its field's width.
pub fn validate(field: usize, width: u32, m: &FieldMatch) -> Result<(), ClassifyError> {
    let fits = |v: u64| v & !width_mask(width) == 0;
    let too_wide = ClassifyError::ValueTooWide { field, width };
    match *m {
        FieldMatch::Exact(v) if !fits(v) => Err(too_wide),
        FieldMatch::Prefix { len, .. } if len > width => {
            Err(ClassifyError::PrefixTooLong { field, len, width })
        }
        FieldMatch::Prefix { value, .. } if !fits(value) => Err(too_wide),
        FieldMatch::Ternary { value, mask } if !fits(value) || !fits(mask) => Err(too_wide),
        FieldMatch::Range { lo, hi } if lo > hi => Err(ClassifyError::EmptyRange { field, lo, hi }),
        FieldMatch::Range { hi, .. } if !fits(hi) => Err(too_wide),
        _ => Ok(()),
    }
}

/// The (masked value, mask) pairs of a valid field match, in ascending
/// order of value.
pub fn field_pairs(width: u32, m: &FieldMatch) -> Vec<(u64, u64)> {
    match *m {
        FieldMatch::Exact(v) => vec![(v, width_mask(width))],
        FieldMatch::Prefix { value, len } => {
            let mask = prefix_mask(width, len);
            vec![(value & mask, mask)]
        }
        FieldMatch::Ternary { value, mask } => vec![(value & mask, mask)],
        FieldMatch::Range { lo, hi } => range_to_prefixes(width, lo, hi)
            .into_iter()
            .map(|(v, len)| (v, prefix_mask(width, len)))
            .collect(),
        FieldMatch::Any => vec![(0, 0)],
    }
}

/// The expansions of a rule: per field, its (value, mask) pairs; the rule's
/// entries are their cross product.
#[derive(Clone, Debug)]
pub struct Expansion {
    fields: Vec<Vec<(u64, u64)>>,
}

impl Expansion {
    /// Expands valid matches (one per width).
    pub fn new(widths: &[u32], matches: &[FieldMatch]) -> Expansion {
        let fields = widths
            .iter()
            .zip(matches)
            .map(|(&w, m)| field_pairs(w, m))
            .collect();
        Expansion { fields }
    }

    /// How many entries the cross product has (saturating).
    pub fn count(&self) -> u64 {
        self.fields
            .iter()
            .fold(1u64, |n, f| n.saturating_mul(f.len() as u64))
    }

    /// Calls `f` with each distinct mask vector of the cross product.
    pub fn for_each_mask(&self, mut f: impl FnMut(&[u64])) {
        let per_field: Vec<Vec<u64>> = self
            .fields
            .iter()
            .map(|f| {
                let mut masks: Vec<u64> = f.iter().map(|&(_, m)| m).collect();
                masks.sort_unstable();
                masks.dedup();
                masks
            })
            .collect();
        cross(&per_field, &mut Vec::new(), &mut |v| f(v));
    }

    /// Calls `f(mask, masked_value)` for each entry of the cross product.
    pub fn for_each(&self, mut f: impl FnMut(&[u64], &[u64])) {
        let (mut mask, mut value) = (Vec::new(), Vec::new());
        cross(&self.fields, &mut Vec::new(), &mut |pairs: &[(
            u64,
            u64,
        )]| {
            mask.clear();
            mask.extend(pairs.iter().map(|&(_, m)| m));
            value.clear();
            value.extend(pairs.iter().map(|&(v, _)| v));
            f(&mask, &value);
        });
    }
}

/// Visits every choice of one element per list.
fn cross<T: Copy>(lists: &[Vec<T>], chosen: &mut Vec<T>, visit: &mut impl FnMut(&[T])) {
    let Some((first, rest)) = lists.split_first() else {
        visit(chosen);
        return;
    };
    for &item in first {
        chosen.push(item);
        cross(rest, chosen, visit);
        chosen.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fewest prefixes covering `lo..=hi`, by recursion over the trie
    /// of prefixes (a second way to the same answer as the greedy walk).
    fn trie_min(width: u32, node: u64, len: u32, lo: u64, hi: u64) -> usize {
        let size = 1u128 << (width - len);
        let (start, end) = (u128::from(node), u128::from(node) + size - 1);
        if end < u128::from(lo) || start > u128::from(hi) {
            0
        } else if start >= u128::from(lo) && end <= u128::from(hi) {
            1
        } else {
            let half = (size / 2) as u64;
            trie_min(width, node, len + 1, lo, hi) + trie_min(width, node + half, len + 1, lo, hi)
        }
    }

    fn covered(width: u32, prefixes: &[(u64, u32)]) -> Vec<u64> {
        let mut out: Vec<u64> = prefixes
            .iter()
            .flat_map(|&(v, len)| v..v + (1u64 << (width - len)))
            .collect();
        out.sort_unstable();
        out
    }

    #[test]
    fn known_ranges() {
        let p = range_to_prefixes;
        assert_eq!(
            p(4, 1, 14),
            vec![(1, 4), (2, 3), (4, 2), (8, 2), (12, 3), (14, 4)]
        );
        assert_eq!(p(16, 0, 65535), vec![(0, 0)]);
        assert_eq!(p(8, 5, 5), vec![(5, 8)]);
        assert_eq!(p(64, u64::MAX, u64::MAX), vec![(u64::MAX, 64)]);
        assert_eq!(p(64, 0, u64::MAX), vec![(0, 0)]);
        assert_eq!(
            p(16, 1024, 65535),
            vec![
                (1024, 6),
                (2048, 5),
                (4096, 4),
                (8192, 3),
                (16384, 2),
                (32768, 1)
            ]
        );
        assert_eq!(p(16, 0, 1023), vec![(0, 6)]);
        assert_eq!(p(64, 1, u64::MAX - 1).len(), 126);
        assert_eq!(p(1, 0, 1), vec![(0, 0)]);
        assert_eq!(p(1, 1, 1), vec![(1, 1)]);
    }

    #[test]
    fn every_small_range_is_minimal_and_exact() {
        for width in 1..=6u32 {
            let top = width_mask(width);
            for lo in 0..=top {
                for hi in lo..=top {
                    let prefixes = range_to_prefixes(width, lo, hi);
                    assert_eq!(covered(width, &prefixes), (lo..=hi).collect::<Vec<_>>());
                    assert_eq!(prefixes.len(), trie_min(width, 0, 0, lo, hi), "{lo}..={hi}");
                    assert!(prefixes.len() <= max_range_prefixes(width));
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn wide_ranges_are_exact_aligned_and_minimal(width in 1..=64u32, a: u64, b: u64) {
            let (lo, hi) = (a.min(b) & width_mask(width), a.max(b) & width_mask(width));
            let (lo, hi) = (lo.min(hi), lo.max(hi));
            let prefixes = range_to_prefixes(width, lo, hi);
            let mut next = u128::from(lo);
            for &(value, len) in &prefixes {
                let size = 1u128 << (width - len);
                proptest::prop_assert_eq!(u128::from(value), next);
                proptest::prop_assert_eq!(u128::from(value) % size, 0);
                next += size;
            }
            proptest::prop_assert_eq!(next, u128::from(hi) + 1);
            proptest::prop_assert_eq!(prefixes.len(), trie_min(width, 0, 0, lo, hi));
            proptest::prop_assert!(prefixes.len() <= max_range_prefixes(width));
        }
    }

    #[test]
    fn worst_case_is_two_w_minus_two() {
        for width in 2..=64u32 {
            let worst = range_to_prefixes(width, 1, width_mask(width) - 1).len();
            assert_eq!(worst, max_range_prefixes(width), "width {width}");
        }
    }

    #[test]
    fn masks() {
        assert_eq!(width_mask(64), u64::MAX);
        assert_eq!(width_mask(1), 1);
        assert_eq!(prefix_mask(32, 8), 0xff00_0000);
        assert_eq!(prefix_mask(32, 0), 0);
        assert_eq!(prefix_mask(64, 64), u64::MAX);
        assert_eq!(prefix_mask(64, 1), 1 << 63);
    }

    #[test]
    fn pairs_normalise_values() {
        let prefix = FieldMatch::Prefix {
            value: 0x0a01_0203,
            len: 8,
        };
        assert_eq!(field_pairs(32, &prefix), vec![(0x0a00_0000, 0xff00_0000)]);
        let ternary = FieldMatch::Ternary {
            value: 0b1011,
            mask: 0b0110,
        };
        assert_eq!(field_pairs(4, &ternary), vec![(0b0010, 0b0110)]);
        assert_eq!(field_pairs(8, &FieldMatch::Any), vec![(0, 0)]);
        assert_eq!(field_pairs(8, &FieldMatch::Exact(7)), vec![(7, 0xff)]);
    }

    #[test]
    fn validation() {
        let err = |m| validate(2, 8, &m).unwrap_err();
        assert_eq!(
            err(FieldMatch::Exact(256)),
            ClassifyError::ValueTooWide { field: 2, width: 8 }
        );
        assert_eq!(
            err(FieldMatch::Prefix { value: 0, len: 9 }),
            ClassifyError::PrefixTooLong {
                field: 2,
                len: 9,
                width: 8
            }
        );
        assert_eq!(
            err(FieldMatch::Range { lo: 5, hi: 4 }),
            ClassifyError::EmptyRange {
                field: 2,
                lo: 5,
                hi: 4
            }
        );
        assert!(
            validate(
                0,
                8,
                &FieldMatch::Ternary {
                    value: 0,
                    mask: 0x100
                }
            )
            .is_err()
        );
        assert!(validate(0, 8, &FieldMatch::Range { lo: 0, hi: 255 }).is_ok());
    }

    #[test]
    fn cross_product() {
        let widths = [4, 4];
        let matches = [
            FieldMatch::Range { lo: 1, hi: 14 },
            FieldMatch::Range { lo: 0, hi: 7 },
        ];
        let expansion = Expansion::new(&widths, &matches);
        assert_eq!(expansion.count(), 6);
        let mut masks = 0;
        expansion.for_each_mask(|_| masks += 1);
        assert_eq!(masks, 3);
        let mut seen = Vec::new();
        expansion.for_each(|mask, value| seen.push((mask.to_vec(), value.to_vec())));
        assert_eq!(seen.len(), 6);
        assert!(seen.iter().all(|(m, v)| m[1] == 0b1000 && v[1] == 0));
    }
}
