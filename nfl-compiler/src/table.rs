//! How a table lives in the kernel: which maps, and the byte layout of their
//! keys and values. The IR builder writes keys with these layouts and the
//! control plane encodes entries with the same functions, so the two can
//! never disagree.
//!
//! Implementations (chosen by [`choose_impl`]):
//! - `Inline`: a static table with few entries compiles to compares;
//! - `Hash`: every key is `exact` — a hash map;
//! - `Lpm`: `exact` keys plus one `lpm` key — an LPM trie whose data is the
//!   exact keys followed by the lpm key, big-endian;
//! - `Tss`: anything with `ternary`/`range` (or several `lpm` keys) — the
//!   tuple-space classifier of [`crate::classify`].
//!
//! Value layout (all implementations): `prio: u32, action: u32`, then the
//! parameters of the chosen action, each in a naturally aligned 1/2/4/8-byte
//! little-endian slot; the value is as long as the longest action needs.

use serde::{Deserialize, Serialize};

/// How a key is matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MatchKind {
    Exact,
    Lpm,
    Ternary,
    Range,
}

impl MatchKind {
    pub fn name(self) -> &'static str {
        match self {
            MatchKind::Exact => "exact",
            MatchKind::Lpm => "lpm",
            MatchKind::Ternary => "ternary",
            MatchKind::Range => "range",
        }
    }
}

/// One key of a table as the user wrote it: one or more fields (a tuple
/// key such as `(ipv6.dst_hi, ipv6.dst_lo): lpm` is one 128-bit key).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySpec {
    pub name: String,
    pub kind: MatchKind,
    /// Bit width of each field, most significant first.
    pub widths: Vec<u32>,
}

impl KeySpec {
    pub fn width(&self) -> u32 {
        self.widths.iter().sum()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TableImpl {
    Inline,
    Hash,
    Lpm,
    Tss { masks: u32 },
}

/// Where one key field goes in a map key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySlot {
    pub off: u32,
    /// 1, 2, 4 or 8.
    pub bytes: u32,
    /// Stored big-endian (LPM data) instead of little-endian.
    pub big_endian: bool,
    /// Left shift applied before storing, so a field narrower than its slot
    /// is left-aligned (LPM prefixes count from the most significant bit).
    pub shift: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParamSlot {
    pub name: String,
    pub width: u32,
    pub off: u32,
    pub bytes: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionLayout {
    pub name: String,
    /// The value stored in an entry's `action` word.
    pub id: u32,
    pub params: Vec<ParamSlot>,
}

/// Everything needed to read and write a table's maps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableLayout {
    pub name: String,
    pub imp: TableImpl,
    pub keys: Vec<KeySpec>,
    /// One slot per key field (flattened over `keys`), for Hash and Lpm.
    pub slots: Vec<KeySlot>,
    pub key_size: u32,
    pub value_size: u32,
    pub actions: Vec<ActionLayout>,
    pub max_entries: u32,
    /// The rules map (and, for Tss, `<rules>` plus `<masks>`).
    pub rules_map: String,
    pub masks_map: Option<String>,
    /// Whether the control plane may change entries at run time.
    pub dynamic: bool,
}

/// Natural slot size for a field of `width` bits.
pub fn slot_bytes(width: u32) -> u32 {
    match width.div_ceil(8) {
        0 | 1 => 1,
        2 => 2,
        3 | 4 => 4,
        _ => 8,
    }
}

fn align(off: u32, to: u32) -> u32 {
    off.div_ceil(to) * to
}

/// Pick the implementation for keys of these kinds.
pub fn choose_impl(kinds: &[MatchKind], static_entries: Option<usize>, inline_max: usize, masks: u32) -> TableImpl {
    if let Some(n) = static_entries
        && n <= inline_max
    {
        return TableImpl::Inline;
    }
    let lpm = kinds.iter().filter(|k| **k == MatchKind::Lpm).count();
    let other = kinds.iter().any(|k| matches!(k, MatchKind::Ternary | MatchKind::Range));
    match (lpm, other) {
        (0, false) => TableImpl::Hash,
        (1, false) => TableImpl::Lpm,
        _ => TableImpl::Tss { masks },
    }
}

/// Lay out a table. For Lpm the keys are reordered so the lpm key comes last
/// (the caller keeps `keys` in declaration order; `slots` follow `keys`).
pub fn layout(
    name: &str,
    imp: TableImpl,
    keys: Vec<KeySpec>,
    actions: Vec<(String, Vec<(String, u32)>)>,
    max_entries: u32,
    dynamic: bool,
) -> TableLayout {
    let widths: Vec<(u32, bool)> = keys
        .iter()
        .flat_map(|k| k.widths.iter().map(move |w| (*w, k.kind == MatchKind::Lpm)))
        .collect();
    let (slots, key_size) = match imp {
        TableImpl::Hash | TableImpl::Inline => hash_slots(&widths),
        TableImpl::Lpm => lpm_slots(&widths),
        TableImpl::Tss { .. } => tss_slots(widths.len()),
    };
    let mut value_size = 8;
    let actions = actions
        .into_iter()
        .enumerate()
        .map(|(i, (name, params))| {
            let mut off = 8;
            let params = params
                .into_iter()
                .map(|(pname, width)| {
                    let bytes = slot_bytes(width);
                    off = align(off, bytes);
                    let slot = ParamSlot { name: pname, width, off, bytes };
                    off += bytes;
                    slot
                })
                .collect();
            value_size = value_size.max(align(off, 8));
            ActionLayout { name, id: i as u32, params }
        })
        .collect();
    let masks_map = matches!(imp, TableImpl::Tss { .. }).then(|| format!("{name}_masks"));
    TableLayout {
        name: name.to_string(),
        imp,
        keys,
        slots,
        key_size,
        value_size,
        actions,
        max_entries,
        rules_map: format!("{name}_rules"),
        masks_map,
        dynamic,
    }
}

/// Exact keys: naturally aligned little-endian slots in order.
fn hash_slots(widths: &[(u32, bool)]) -> (Vec<KeySlot>, u32) {
    let mut off = 0;
    let mut slots = Vec::new();
    for &(w, _) in widths {
        let bytes = slot_bytes(w);
        off = align(off, bytes);
        slots.push(KeySlot { off, bytes, big_endian: false, shift: 0 });
        off += bytes;
    }
    (slots, align(off.max(1), 4))
}

/// LPM trie key: `prefixlen: u32`, then exact fields, then the lpm field(s),
/// each big-endian and left-aligned in whole bytes (no padding between, so
/// the prefix runs over contiguous bits).
fn lpm_slots(widths: &[(u32, bool)]) -> (Vec<KeySlot>, u32) {
    let mut slots = vec![KeySlot { off: 0, bytes: 0, big_endian: true, shift: 0 }; widths.len()];
    let mut off = 4;
    let order = widths.iter().enumerate().filter(|(_, (_, l))| !l).chain(widths.iter().enumerate().filter(|(_, (_, l))| *l));
    for (i, &(w, _)) in order {
        let bytes = w.div_ceil(8);
        slots[i] = KeySlot { off, bytes, big_endian: true, shift: bytes * 8 - w };
        off += bytes;
    }
    (slots, off)
}

/// Tuple-space key: `tuple_id: u32, pad: u32`, then one u64 per field.
fn tss_slots(n: usize) -> (Vec<KeySlot>, u32) {
    let slots = (0..n as u32).map(|i| KeySlot { off: 8 + 8 * i, bytes: 8, big_endian: false, shift: 0 }).collect();
    (slots, 8 + 8 * n as u32)
}

impl TableLayout {
    /// The per-CPU scratch value where a tuple-space walk keeps its best
    /// hit.
    pub fn best_map(&self) -> String {
        format!("{}_best", self.name)
    }

    /// The per-CPU hit/miss counters of the table.
    pub fn stats_map(&self) -> String {
        format!("{}_stats", self.name)
    }

    /// Bits of the LPM data before the lpm key (the exact keys).
    pub fn lpm_exact_bits(&self) -> u32 {
        self.keys.iter().filter(|k| k.kind != MatchKind::Lpm).flat_map(|k| &k.widths).map(|w| w.div_ceil(8) * 8).sum()
    }

    /// The LPM prefix length of a lookup: every bit of the data.
    pub fn lpm_full_len(&self) -> u32 {
        (self.key_size - 4) * 8
    }

    /// Write field `values` (one per slot) into a key.
    pub fn encode_fields(&self, values: &[u64], key: &mut [u8]) {
        for (slot, &v) in self.slots.iter().zip(values) {
            let v = v << slot.shift;
            let (off, n) = (slot.off as usize, slot.bytes as usize);
            if slot.big_endian {
                let be = v.to_be_bytes();
                key[off..off + n].copy_from_slice(&be[8 - n..]);
            } else {
                key[off..off + n].copy_from_slice(&v.to_le_bytes()[..n]);
            }
        }
    }

    /// An exact-match key.
    pub fn hash_key(&self, values: &[u64]) -> Vec<u8> {
        let mut key = vec![0u8; self.key_size as usize];
        self.encode_fields(values, &mut key);
        key
    }

    /// An LPM key whose lpm part has `prefix` significant bits.
    pub fn lpm_key(&self, values: &[u64], prefix: u32) -> Vec<u8> {
        let mut key = vec![0u8; self.key_size as usize];
        self.encode_fields(values, &mut key);
        key[..4].copy_from_slice(&(self.lpm_exact_bits() + prefix).to_le_bytes());
        key
    }

    pub fn action(&self, name: &str) -> Option<&ActionLayout> {
        self.actions.iter().find(|a| a.name == name)
    }

    /// An entry's value: priority, action and its arguments.
    pub fn value(&self, prio: u32, action: &ActionLayout, args: &[u64]) -> Vec<u8> {
        let mut v = vec![0u8; self.value_size as usize];
        v[..4].copy_from_slice(&prio.to_le_bytes());
        v[4..8].copy_from_slice(&action.id.to_le_bytes());
        for (p, &a) in action.params.iter().zip(args) {
            let (off, n) = (p.off as usize, p.bytes as usize);
            v[off..off + n].copy_from_slice(&a.to_le_bytes()[..n]);
        }
        v
    }

    /// Split a value back into priority, action and arguments.
    pub fn decode_value(&self, v: &[u8]) -> Option<(u32, &ActionLayout, Vec<u64>)> {
        let word = |off: usize| v.get(off..off + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        let (prio, id) = (word(0)?, word(4)?);
        let action = self.actions.iter().find(|a| a.id == id)?;
        let args = action
            .params
            .iter()
            .map(|p| {
                let mut b = [0u8; 8];
                let (off, n) = (p.off as usize, p.bytes as usize);
                b[..n].copy_from_slice(v.get(off..off + n)?);
                Some(u64::from_le_bytes(b))
            })
            .collect::<Option<Vec<u64>>>()?;
        Some((prio, action, args))
    }

    /// Field values of a hash or LPM key (one per slot) and, for LPM, the
    /// prefix length of the lpm key.
    pub fn decode_key(&self, key: &[u8]) -> Option<(Vec<u64>, Option<u32>)> {
        let mut values = Vec::new();
        for slot in &self.slots {
            let (off, n) = (slot.off as usize, slot.bytes as usize);
            let raw = key.get(off..off + n)?;
            let mut b = [0u8; 8];
            let v = if slot.big_endian {
                b[8 - n..].copy_from_slice(raw);
                u64::from_be_bytes(b)
            } else {
                b[..n].copy_from_slice(raw);
                u64::from_le_bytes(b)
            };
            values.push(v >> slot.shift);
        }
        let prefix = (self.imp == TableImpl::Lpm).then(|| {
            let total = u32::from_le_bytes([key[0], key[1], key[2], key[3]]);
            total.saturating_sub(self.lpm_exact_bits())
        });
        Some((values, prefix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str, kind: MatchKind, widths: &[u32]) -> KeySpec {
        KeySpec { name: name.into(), kind, widths: widths.to_vec() }
    }

    #[test]
    fn hash_layout_is_aligned_and_round_trips() {
        let keys = vec![key("a", MatchKind::Exact, &[8]), key("b", MatchKind::Exact, &[32]), key("c", MatchKind::Exact, &[16])];
        let t = layout("t", TableImpl::Hash, keys, vec![("fwd".into(), vec![("port".into(), 16), ("mac".into(), 48)])], 16, true);
        assert_eq!(t.slots.iter().map(|s| (s.off, s.bytes)).collect::<Vec<_>>(), vec![(0, 1), (4, 4), (8, 2)]);
        assert_eq!(t.key_size, 12);
        let k = t.hash_key(&[7, 0x01020304, 0xabcd]);
        assert_eq!(t.decode_key(&k).unwrap().0, vec![7, 0x01020304, 0xabcd]);
        let a = &t.actions[0];
        assert_eq!(a.params.iter().map(|p| (p.off, p.bytes)).collect::<Vec<_>>(), vec![(8, 2), (16, 8)]);
        assert_eq!(t.value_size, 24);
        let v = t.value(3, a, &[80, 0x0200_0000_0001]);
        let (prio, back, args) = t.decode_value(&v).unwrap();
        assert_eq!((prio, back.name.as_str(), args), (3, "fwd", vec![80, 0x0200_0000_0001]));
    }

    #[test]
    fn lpm_key_puts_exact_first_big_endian() {
        let keys = vec![key("dst", MatchKind::Lpm, &[32]), key("vrf", MatchKind::Exact, &[12])];
        let t = layout("r", TableImpl::Lpm, keys, vec![], 16, true);
        // prefixlen, vrf (2 bytes, left-aligned 12 bits), dst (4 bytes).
        assert_eq!(t.key_size, 10);
        let k = t.lpm_key(&[0xc612_0000, 0xabc], 15);
        assert_eq!(k, vec![16 + 15, 0, 0, 0, 0xab, 0xc0, 0xc6, 0x12, 0, 0]);
        assert_eq!(t.decode_key(&k).unwrap(), (vec![0xc612_0000, 0xabc], Some(15)));
    }

    #[test]
    fn implementation_choice() {
        use MatchKind::*;
        assert_eq!(choose_impl(&[Exact, Exact], None, 8, 32), TableImpl::Hash);
        assert_eq!(choose_impl(&[Exact, Lpm], None, 8, 32), TableImpl::Lpm);
        assert_eq!(choose_impl(&[Lpm, Lpm], None, 8, 32), TableImpl::Tss { masks: 32 });
        assert_eq!(choose_impl(&[Exact, Range], None, 8, 32), TableImpl::Tss { masks: 32 });
        assert_eq!(choose_impl(&[Ternary], Some(3), 8, 32), TableImpl::Inline);
        assert_eq!(choose_impl(&[Ternary], Some(30), 8, 32), TableImpl::Tss { masks: 32 });
    }
}
