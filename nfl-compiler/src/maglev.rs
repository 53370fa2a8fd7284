//! Maglev consistent hashing (Eisenbud et al., NSDI 2016, section 3.4):
//! the lookup table of a `pool NAME: maglev(...)`, built by nflc at load
//! and reload time from the members the config lists, and its byte layout
//! in the pool's array map (one value per group).
//!
//! Each member `m` prefers the slots `(offset + j * skip) mod M` for
//! `j = 0, 1, ...`, where `offset = h1(m) mod M` and `skip = h2(m) mod
//! (M - 1) + 1` (M prime, so every member's sequence visits every slot).
//! Members take turns claiming their next preferred free slot until the
//! table is full, so each holds `M / N` slots give or take one, and
//! removing a member frees its slots while the others keep nearly all of
//! theirs. Members are taken in ascending order of value, so the table
//! depends on the set of members and not on the order a file lists them.
//!
//! Pure and deterministic: the runtime fills the map with [`group_value`],
//! and tests use [`slot_of`] to predict the program's choice.

use kfunc_lib::hash::murmur3_32;

/// The default table size per group (a prime, as the paper's 65,537).
pub const DEFAULT_SLOTS: u32 = 65_537;
/// The largest table: the group's value must stay below the kernel's
/// largest array value (4 MiB).
pub const MAX_SLOTS: u32 = 999_983;
/// Seed of the packet hash that picks a slot.
pub const PICK_SEED: u32 = 0x6d61_676c;
const OFFSET_SEED: u32 = 0x6f66_6673;
const SKIP_SEED: u32 = 0x736b_6970;

/// Where things sit in one group's map value: the table (`slots` u32
/// words, each a member index plus one, 0 in an empty group), then the
/// members' values, each in `member_bytes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub slots: u32,
    pub members: u32,
    pub member_bytes: u32,
}

impl Layout {
    pub fn members_off(&self) -> u32 {
        (self.slots * 4).next_multiple_of(8)
    }

    pub fn value_size(&self) -> u32 {
        self.members_off() + self.members * self.member_bytes
    }
}

pub fn is_prime(n: u32) -> bool {
    n >= 2 && (2..).take_while(|d: &u32| u64::from(*d) * u64::from(*d) <= u64::from(n)).all(|d| !n.is_multiple_of(d))
}

/// The slot a packet whose key bytes are `key` (laid out as a state-map
/// key) lands in.
pub fn slot_of(key: &[u8], slots: u32) -> u32 {
    murmur3_32(key, PICK_SEED) % slots
}

/// The table for `members` (distinct values): for each slot, the index
/// into `sorted` members, where `sorted` is `members` in ascending order.
/// Empty when there are no members.
pub fn table(members: &[u64], slots: u32) -> (Vec<u64>, Vec<u32>) {
    let mut sorted = members.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.is_empty() || slots == 0 {
        return (sorted, Vec::new());
    }
    let m = u64::from(slots);
    let prefs: Vec<(u64, u64)> = sorted
        .iter()
        .map(|v| {
            let b = v.to_le_bytes();
            let offset = u64::from(murmur3_32(&b, OFFSET_SEED)) % m;
            let skip = if m > 1 { u64::from(murmur3_32(&b, SKIP_SEED)) % (m - 1) + 1 } else { 1 };
            (offset, skip)
        })
        .collect();
    let mut next = vec![0u64; sorted.len()];
    let mut entry = vec![u32::MAX; slots as usize];
    let mut filled = 0u32;
    'fill: loop {
        for (i, &(offset, skip)) in prefs.iter().enumerate() {
            let mut c = (offset + next[i] * skip) % m;
            while entry[c as usize] != u32::MAX {
                next[i] += 1;
                c = (offset + next[i] * skip) % m;
            }
            entry[c as usize] = i as u32;
            next[i] += 1;
            filled += 1;
            if filled == slots {
                break 'fill;
            }
        }
    }
    (sorted, entry)
}

/// One group's map value: the table and the members, little-endian.
pub fn group_value(layout: &Layout, members: &[u64]) -> Vec<u8> {
    let mut out = vec![0u8; layout.value_size() as usize];
    let (sorted, entry) = table(members, layout.slots);
    for (slot, m) in entry.iter().enumerate() {
        out[slot * 4..slot * 4 + 4].copy_from_slice(&(m + 1).to_le_bytes());
    }
    let (base, width) = (layout.members_off() as usize, layout.member_bytes as usize);
    for (i, v) in sorted.iter().take(layout.members as usize).enumerate() {
        let at = base + i * width;
        out[at..at + width].copy_from_slice(&v.to_le_bytes()[..width]);
    }
    out
}

/// The key of `(group, member)` in the pool's membership map: a `u32`
/// then the member in its slot, as a state-map key `(u32, T)`.
pub fn member_key(group: u32, member: u64, member_bytes: u32) -> Vec<u8> {
    let at = member_bytes.max(4) as usize;
    let mut key = vec![0u8; (at + member_bytes as usize).div_ceil(4) * 4];
    key[..4].copy_from_slice(&group.to_le_bytes());
    key[at..at + member_bytes as usize].copy_from_slice(&member.to_le_bytes()[..member_bytes as usize]);
    key
}

/// The member a packet with key bytes `key` gets in a group of `members`,
/// or `None` for an empty group: what the program's `pick` computes.
pub fn pick(members: &[u64], slots: u32, key: &[u8]) -> Option<u64> {
    let (sorted, entry) = table(members, slots);
    let i = *entry.get(slot_of(key, slots) as usize)?;
    sorted.get(i as usize).copied()
}

/// The fewest and most slots any member holds (for `--explain`).
pub fn spread(members: &[u64], slots: u32) -> (u32, u32) {
    let (sorted, entry) = table(members, slots);
    let mut count = vec![0u32; sorted.len()];
    for &e in &entry {
        count[e as usize] += 1;
    }
    (count.iter().copied().min().unwrap_or(0), count.iter().copied().max().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backends(n: u64) -> Vec<u64> {
        (1..=n).map(|i| 0xc612_0100 + i).collect()
    }

    #[test]
    fn every_slot_is_filled_and_shares_are_even() {
        let (sorted, entry) = table(&backends(10), DEFAULT_SLOTS);
        assert_eq!(sorted.len(), 10);
        assert!(entry.iter().all(|&e| e < 10));
        let (lo, hi) = spread(&backends(10), DEFAULT_SLOTS);
        assert!(lo >= 6553 && hi <= 6554, "{lo}..{hi}");
    }

    #[test]
    fn removing_a_member_moves_little_more_than_its_slots() {
        let all = backends(10);
        let (s1, e1) = table(&all, DEFAULT_SLOTS);
        let fewer: Vec<u64> = all.iter().copied().filter(|&v| v != all[3]).collect();
        let (s2, e2) = table(&fewer, DEFAULT_SLOTS);
        let moved = e1.iter().zip(&e2).filter(|(a, b)| s1[**a as usize] != s2[**b as usize]).count();
        let share = moved as f64 / f64::from(DEFAULT_SLOTS);
        assert!(share <= 0.12, "{share}");
        assert!(share >= 0.09, "{share}");
    }

    #[test]
    fn order_of_members_does_not_matter() {
        let mut rev = backends(7);
        rev.reverse();
        assert_eq!(table(&backends(7), 101), table(&rev, 101));
    }

    #[test]
    fn value_layout_holds_table_and_members() {
        let layout = Layout { slots: 13, members: 4, member_bytes: 4 };
        let v = group_value(&layout, &[30, 10, 20]);
        assert_eq!(v.len(), 56 + 16);
        assert_eq!(&v[56..68], &[10, 0, 0, 0, 20, 0, 0, 0, 30, 0, 0, 0]);
        let key = 7u32.to_le_bytes();
        let slot = slot_of(&key, 13) as usize;
        let idx = u32::from_le_bytes(v[slot * 4..slot * 4 + 4].try_into().unwrap()) - 1;
        assert_eq!(pick(&[30, 10, 20], 13, &key), Some([10, 20, 30][idx as usize]));
        assert_eq!(group_value(&layout, &[]), vec![0; 72]);
        assert_eq!(pick(&[], 13, &key), None);
    }

    #[test]
    fn primes() {
        assert!(is_prime(65_537) && is_prime(MAX_SLOTS) && is_prime(2));
        assert!(!is_prime(65_536) && !is_prime(1) && !is_prime(0));
    }
}
