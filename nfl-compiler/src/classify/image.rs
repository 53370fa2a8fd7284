//! The byte images the eBPF lookup reads, all little-endian, for a key of
//! `n` fields, a mask bound `M` and a payload of `P` bytes:
//!
//! - masks value: `count: u32, _pad: u32`, then `M` slots of
//!   `max_prio: u32, tuple_id: u32, mask: [u64; n]`; slots `0..count` are
//!   live, sorted by `max_prio` descending (ties: lower `tuple_id` first);
//!   the rest are zero.
//! - rules key: `tuple_id: u32, _pad: u32 = 0, masked: [u64; n]`.
//! - rules value: `prio: u32, action: u32, payload: [u8; P]`.
//!
//! [`walk`] is the eBPF lookup over these bytes.

use super::tuples::Slot;

/// Bytes of a rules-map key.
pub fn key_size(fields: usize) -> usize {
    8 + 8 * fields
}

/// Bytes of a rules-map value.
pub fn value_size(payload_len: usize) -> usize {
    8 + payload_len
}

/// Bytes of one slot of the masks value.
pub fn slot_size(fields: usize) -> usize {
    8 + 8 * fields
}

/// Bytes of the masks value.
pub fn masks_size(fields: usize, max_masks: u32) -> usize {
    8 + max_masks as usize * slot_size(fields)
}

/// A rules-map key.
pub fn encode_key(tuple_id: u32, masked: &[u64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(key_size(masked.len()));
    out.extend_from_slice(&tuple_id.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    masked
        .iter()
        .for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
    out
}

/// A rules-map value.
pub fn encode_value(prio: u32, action: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value_size(payload.len()));
    out.extend_from_slice(&prio.to_le_bytes());
    out.extend_from_slice(&action.to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// The masks value holding `slots` (at most `max_masks` of them, in probe
/// order).
pub(super) fn encode_masks<'a>(
    fields: usize,
    max_masks: u32,
    slots: impl Iterator<Item = Slot<'a>>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(masks_size(fields, max_masks));
    out.extend_from_slice(&[0; 8]);
    let mut count = 0u32;
    for slot in slots.take(max_masks as usize) {
        out.extend_from_slice(&slot.max_prio.to_le_bytes());
        out.extend_from_slice(&slot.tuple_id.to_le_bytes());
        slot.mask
            .iter()
            .for_each(|m| out.extend_from_slice(&m.to_le_bytes()));
        count += 1;
    }
    out[..4].copy_from_slice(&count.to_le_bytes());
    out.resize(masks_size(fields, max_masks), 0);
    out
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// The priority in a rules-map value.
pub fn value_prio(value: &[u8]) -> Option<u32> {
    u32_at(value, 0)
}

/// The eBPF lookup of `key` over a masks value and a rules map (`probe`
/// returns the value stored under a key): the value bytes of the best
/// match, or `None` for a miss. Stops early at truncated bytes, as a
/// bounds-checked program would.
pub fn walk<'m>(
    masks: &[u8],
    key: &[u64],
    mut probe: impl FnMut(&[u8]) -> Option<&'m [u8]>,
) -> Option<&'m [u8]> {
    let count = u32_at(masks, 0)? as usize;
    let mut best: Option<(u32, &'m [u8])> = None;
    let mut probe_key = vec![0u8; key_size(key.len())];
    for i in 0..count {
        let at = 8 + i * slot_size(key.len());
        let Some(max_prio) = u32_at(masks, at) else {
            break;
        };
        if best.is_some_and(|(p, _)| max_prio <= p) {
            break;
        }
        let Some(tuple_id) = masks.get(at + 4..at + 8) else {
            break;
        };
        probe_key[..4].copy_from_slice(tuple_id);
        for (f, k) in key.iter().enumerate() {
            let Some(mask) = u64_at(masks, at + 8 + 8 * f) else {
                return best.map(|b| b.1);
            };
            probe_key[8 + 8 * f..16 + 8 * f].copy_from_slice(&(k & mask).to_le_bytes());
        }
        let Some(found) = probe(&probe_key) else {
            continue;
        };
        let Some(prio) = value_prio(found) else {
            continue;
        };
        if best.is_none_or(|(p, _)| prio > p) {
            best = Some((prio, found));
        }
    }
    best.map(|b| b.1)
}
