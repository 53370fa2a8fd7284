//! Reading queues back without changing them (`nflc queue peek`): the
//! pinned map of a running NF, decoded as `nfl-compiler/src/build/queue.rs`
//! lays it out per lowering (the schema's `lowering`).
//!
//! - `queue_map` (fifo): `BPF_MAP_LOOKUP_ELEM` with a NULL key is the
//!   kernel's peek: the head, left in place. A queue map neither counts its
//!   elements nor shows what follows the head.
//! - `heap` (helpers pqueue): the array value, copied under its spin lock
//!   (`BPF_F_LOCK`); its `count` entries `{rank, seq, value}` in `(rank,
//!   seq)` order are the order `pop_min` gives.
//! - `wheel`: the same copy; slots walked from the clock's tick, each one's
//!   elements oldest first, the order `pop_due` gives.
//! - `rbtree` (stock pqueue): its nodes live in kernel memory no syscall
//!   reads: E0837.

use nfl_compiler::build::queue as layout;
use nfl_compiler::schema::QueueSchema;

use crate::cp_error::ControlError;
use crate::mapops;
use crate::nf::{RunningNf, suggest};
use crate::state::{MapSet, StateError};

/// Where the locked values keep their fields (the compiler's layout).
const COUNT_OFF: usize = layout::COUNT_OFF as usize;
const WORD_OFF: usize = layout::WORD_OFF as usize;
const HEAP_ENTS: usize = layout::HEAP_ENTS as usize;
const HEAP_STRIDE: usize = layout::HEAP_STRIDE as usize;
const WHEEL_BITMAP: usize = layout::WHEEL_BITMAP_OFF as usize;
const WHEEL_SLOTS: usize = layout::WHEEL_SLOTS_OFF as usize;

/// One element, in the order the program would take it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elem {
    /// A pqueue's rank.
    pub rank: Option<u64>,
    /// A wheel's tick the element is due at.
    pub due_tick: Option<u64>,
    pub value: u64,
}

/// What a peek saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peek {
    /// How many elements the queue holds (a queue map does not say).
    pub count: Option<u32>,
    /// A wheel's clock, in ticks.
    pub clock: Option<u64>,
    /// The first elements, in the order they would leave.
    pub elems: Vec<Elem>,
}

/// The queue called `name`.
pub fn find<'s>(queues: &'s [QueueSchema], name: &str) -> Option<&'s QueueSchema> {
    queues.iter().find(|q| q.name == name)
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    b.get(off..off + 4).map_or(0, |s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    b.get(off..off + 8).map_or(0, |s| u64::from_le_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]))
}

fn mask(q: &QueueSchema, v: u64) -> u64 {
    if q.elem_width >= 64 { v } else { v & ((1u64 << q.elem_width) - 1) }
}

fn shape_err(q: &QueueSchema, e: &str) -> StateError {
    StateError::Schema(format!("queue `{}`: {e}", q.name))
}

/// The heap's elements in `pop_min` order, at most `n`.
pub fn decode_heap(q: &QueueSchema, value: &[u8], n: usize) -> Peek {
    let slots = q.size.next_power_of_two() as usize; // `layout::heap_slots`
    let count = u32_at(value, COUNT_OFF);
    let mut ents: Vec<(u64, u64, u64)> = (0..(count as usize).min(slots))
        .map(|i| HEAP_ENTS + HEAP_STRIDE * i)
        .map(|at| (u64_at(value, at), u64_at(value, at + 8), u64_at(value, at + 16)))
        .collect();
    ents.sort_unstable();
    let elems = ents.iter().take(n).map(|&(rank, _, v)| Elem { rank: Some(rank), due_tick: None, value: mask(q, v) }).collect();
    Peek { count: Some(count), clock: None, elems }
}

/// The wheel's elements in `pop_due` order, at most `n`.
pub fn decode_wheel(q: &QueueSchema, value: &[u8], n: usize) -> Peek {
    let (slots, cap) = (u64::from(q.slots.max(1)), q.slot_cap.max(1) as usize);
    let count = u32_at(value, COUNT_OFF);
    let (base, bitmap) = (u64_at(value, WORD_OFF), u64_at(value, WHEEL_BITMAP));
    let ents = WHEEL_SLOTS + 8 * slots as usize;
    let mut elems = Vec::new();
    for tick in base..base + slots {
        let s = (tick % slots) as usize;
        if bitmap >> s & 1 == 0 {
            continue;
        }
        let (head, len) = (u32_at(value, WHEEL_SLOTS + 8 * s) as usize, u32_at(value, WHEEL_SLOTS + 8 * s + 4) as usize);
        for k in 0..len.min(cap) {
            let at = ents + 8 * (s * cap + (head + k) % cap);
            elems.push(Elem { rank: None, due_tick: Some(tick), value: mask(q, u64_at(value, at)) });
        }
    }
    elems.truncate(n);
    let clock = (count > 0).then_some(base);
    Peek { count: Some(count), clock, elems }
}

/// Read queue `q` from its map: at most `n` elements (a fifo shows its
/// head only).
pub fn read(maps: &MapSet, q: &QueueSchema, n: usize) -> Result<Peek, StateError> {
    let h = maps.get(&q.name)?;
    let io = |source| StateError::Io { map: q.name.clone(), source };
    if q.lowering == "queue_map" {
        let head = mapops::lookup(h.fd(), h.shape, &[]).map_err(io)?;
        let elems = head.map(|v| Elem { rank: None, due_tick: None, value: mask(q, u64_at(&pad8(&v), 0)) });
        return Ok(Peek { count: None, clock: None, elems: elems.into_iter().collect() });
    }
    let value = mapops::lookup_with(h.fd(), h.shape, &0u32.to_ne_bytes(), mapops::LOOKUP_LOCKED)
        .map_err(io)?
        .ok_or_else(|| shape_err(q, "the array has no entry 0"))?;
    match q.lowering.as_str() {
        "heap" => Ok(decode_heap(q, &value, n)),
        "wheel" => Ok(decode_wheel(q, &value, n)),
        other => Err(shape_err(q, &format!("lowering `{other}` cannot be read"))),
    }
}

fn pad8(v: &[u8]) -> [u8; 8] {
    let mut b = [0u8; 8];
    let k = v.len().min(8);
    b[..k].copy_from_slice(&v[..k]);
    b
}

/// `nflc queue peek NF QUEUE [-n N]`.
pub fn peek_nf(nf: &RunningNf, queue: &str, n: usize) -> Result<(QueueSchema, Peek), ControlError> {
    let q = find(&nf.schema.queues, queue).ok_or_else(|| ControlError::UnknownQueue {
        nf: nf.name.clone(),
        queue: queue.to_string(),
        help: suggest(queue, "queues", nf.schema.queues.iter().map(|q| q.name.as_str())),
    })?;
    if q.lowering == "rbtree" {
        let target = nf.record.target.clone().unwrap_or_else(|| "stock".into());
        return Err(ControlError::QueueUnreadable { nf: nf.name.clone(), queue: queue.to_string(), target });
    }
    let usage = |message: String, help: String| Err(ControlError::Usage { message, help });
    if n == 0 {
        return usage("`-n 0` shows nothing".into(), "give `-n N` with N at least 1 (default 1)".into());
    }
    if q.lowering == "queue_map" && n > 1 {
        return usage(
            format!("fifo `{queue}` shows only its head: a queue map cannot be read past it without popping"),
            format!("`nflc queue peek {} {queue}` (without -n)", nf.name),
        );
    }
    let peek = read(&nf.maps()?, q, n).map_err(ControlError::state(&nf.name))?;
    Ok((q.clone(), peek))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nfl_compiler::hir::QueueKind;

    fn schema(kind: QueueKind, lowering: &str) -> QueueSchema {
        QueueSchema { name: "q".into(), kind, elem_width: 16, size: 4, lowering: lowering.into(), slots: 4, slot_cap: 2, tick_ns: 1000 }
    }

    fn put(b: &mut [u8], off: usize, v: u64, bytes: usize) {
        b[off..off + bytes].copy_from_slice(&v.to_le_bytes()[..bytes]);
    }

    #[test]
    fn heap_gives_rank_then_push_order() {
        let q = schema(QueueKind::Pqueue, "heap");
        let mut v = vec![0u8; HEAP_ENTS + 24 * 4];
        put(&mut v, COUNT_OFF, 3, 4);
        for (i, (rank, seq, val)) in [(3, 1, 0x1_0007), (5, 0, 8), (3, 2, 9)].into_iter().enumerate() {
            put(&mut v, HEAP_ENTS + 24 * i, rank, 8);
            put(&mut v, HEAP_ENTS + 24 * i + 8, seq, 8);
            put(&mut v, HEAP_ENTS + 24 * i + 16, val, 8);
        }
        let p = decode_heap(&q, &v, 10);
        assert_eq!(p.count, Some(3));
        let got: Vec<(Option<u64>, u64)> = p.elems.iter().map(|e| (e.rank, e.value)).collect();
        assert_eq!(got, [(Some(3), 7), (Some(3), 9), (Some(5), 8)]);
        assert_eq!(decode_heap(&q, &v, 1).elems.len(), 1);
    }

    #[test]
    fn wheel_walks_from_its_clock_and_wraps() {
        let q = schema(QueueKind::Wheel, "wheel");
        let mut v = vec![0u8; WHEEL_SLOTS + 8 * 4 + 8 * 8];
        put(&mut v, COUNT_OFF, 3, 4);
        put(&mut v, WORD_OFF, 6, 8); // clock at tick 6: slot 2
        put(&mut v, WHEEL_BITMAP, 0b0101, 8); // slots 0 (tick 8) and 2 (tick 6)
        put(&mut v, WHEEL_SLOTS + 8 * 2, 1, 4); // slot 2: head 1, len 2 (wraps)
        put(&mut v, WHEEL_SLOTS + 8 * 2 + 4, 2, 4);
        put(&mut v, WHEEL_SLOTS + 4, 1, 4); // slot 0: head 0, len 1
        let ents = WHEEL_SLOTS + 8 * 4;
        for (idx, val) in [(0, 30), (4, 20), (5, 10)] {
            put(&mut v, ents + 8 * idx, val, 8);
        }
        let p = decode_wheel(&q, &v, 10);
        assert_eq!((p.count, p.clock), (Some(3), Some(6)));
        let got: Vec<(Option<u64>, u64)> = p.elems.iter().map(|e| (e.due_tick, e.value)).collect();
        assert_eq!(got, [(Some(6), 10), (Some(6), 20), (Some(8), 30)]);
    }
}
