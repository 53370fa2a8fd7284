//! Helper and kfunc calls out of a running program, with the kernel's
//! argument checks and return values (negative errno as `u64`).

use super::env::{BUFFER, TAILROOM};
use super::maps::{BPF_EXIST, ENOENT};
use super::vm::{FaultKind, KFUNC_BASE, REGION_MAP, REGION_PKT, Region, Vm, offset_of, region_of};
use crate::load::ProgramKind;

const EINVAL: i64 = 22;
const ENOTSUPP: i64 = 524;
const EFAULT: i64 = 14;
/// The kernel's bound on chained tail calls.
pub const MAX_TAIL_CALLS: u32 = 33;
const ETH_HLEN: usize = 14;
/// `sizeof(struct xdp_frame)`: `bpf_xdp_adjust_head` keeps it free.
const XDP_FRAME: usize = 40;
const XDP_REDIRECT: u64 = 4;
const TC_ACT_REDIRECT: u64 = 7;
const BPF_F_INGRESS: u64 = 1;

fn err(e: i64) -> u64 {
    (-e) as u64
}

/// Run helper (or kfunc) `id` with `args`; `pc` names the call.
///
/// # Safety
/// `vm` must point to a live [`Vm`] that nothing else borrows.
pub unsafe fn dispatch(vm: *mut Vm, id: u64, args: [u64; 5], pc: u32) -> u64 {
    // SAFETY: the caller's promise.
    let vm = unsafe { &mut *vm };
    if id >= KFUNC_BASE {
        return super::kfuncs::call(vm, (id - KFUNC_BASE) as u32, args, pc);
    }
    let [a1, a2, a3, a4, a5] = args;
    let r = match id {
        1 => map_lookup(vm, pc, a1, a2),
        2 => map_update(vm, pc, a1, a2, a3, a4),
        3 => map_delete(vm, pc, a1, a2),
        5 | 125 if vm.env.world.real_clock => Some(crate::state_dump::monotonic_ns()),
        5 | 125 => {
            let w = &mut vm.env.world;
            let t = w.clock_ns;
            w.clock_ns = w.clock_ns.wrapping_add(w.tick_ns);
            Some(t)
        }
        7 => Some(prandom(vm)),
        8 => Some(u64::from(vm.env.world.cpu)),
        12 => Some(tail_call(vm, pc, a2, a3)),
        19 => Some(skb_vlan_pop(vm)),
        23 => Some(redirect(vm, a1, a2)),
        28 => csum_diff(vm, pc, a1, a2, a3, a4, a5),
        43 => Some(skb_change_head(vm, a2, a3)),
        44 => Some(xdp_adjust_head(vm, a2 as i32)),
        50 => Some(skb_adjust_room(vm, a2 as i32, a3, a4)),
        65 => Some(xdp_adjust_tail(vm, a2 as i32)),
        87 => queue_push(vm, pc, a1, a2, a3),
        88 | 89 => queue_pop(vm, pc, a1, a2, id == 88),
        93 | 94 => vm.bytes(pc, a1, 4).map(|_| 0),
        130 => ringbuf_output(vm, pc, a1, a2, a3),
        131 => ringbuf_reserve(vm, pc, a1, a2),
        132 | 133 => ringbuf_commit(vm, pc, a1, id == 132),
        _ => {
            vm.raise(pc, FaultKind::Helper { id, message: "the engine does not provide this helper".into() });
            None
        }
    };
    r.unwrap_or(0)
}

/// The map a program passed (`REGION_MAP << 32 | index`), or a fault.
fn map_index(vm: &mut Vm, pc: u32, id: u64, addr: u64) -> Option<u64> {
    let index = u64::from(offset_of(addr));
    if region_of(addr) != REGION_MAP || index >= vm.env.maps.maps.len() as u64 {
        vm.raise(pc, FaultKind::Helper { id, message: format!("argument {addr:#x} is not a map") });
        return None;
    }
    Some(index)
}

/// Copy `len` bytes at `addr` out of the program's memory.
fn read(vm: &mut Vm, pc: u32, addr: u64, len: u64) -> Option<Vec<u8>> {
    vm.bytes(pc, addr, len).map(|b| b.to_vec())
}

fn map_lookup(vm: &mut Vm, pc: u32, map: u64, key: u64) -> Option<u64> {
    let m = map_index(vm, pc, 1, map)?;
    let (ks, vs) = sizes(vm, m);
    let key = read(vm, pc, key, ks)?;
    let cpu = vm.env.world.cpu as usize;
    let found = vm.env.maps.maps[m as usize].lookup(&key, cpu);
    Some(match found {
        Some(p) => vm.expose(p, vs),
        None => 0,
    })
}

fn sizes(vm: &Vm, m: u64) -> (u64, u64) {
    let d = &vm.env.maps.maps[m as usize].def;
    (u64::from(d.key_size), u64::from(d.value_size))
}

fn map_update(vm: &mut Vm, pc: u32, map: u64, key: u64, value: u64, flags: u64) -> Option<u64> {
    let m = map_index(vm, pc, 2, map)?;
    let (ks, vs) = sizes(vm, m);
    let key = read(vm, pc, key, ks)?;
    let value = read(vm, pc, value, vs)?;
    let cpu = vm.env.world.cpu as usize;
    let map = &mut vm.env.maps.maps[m as usize];
    let old = map.peek_host(&key);
    Some(match map.update(&key, &value, flags, Some(cpu)) {
        Ok(()) => {
            // The kernel frees the graph roots of a value it overwrites.
            if let Some(p) = old {
                vm.env.kstate.release(p, vs as usize);
            }
            0
        }
        Err(e) => err(e),
    })
}

fn map_delete(vm: &mut Vm, pc: u32, map: u64, key: u64) -> Option<u64> {
    let m = map_index(vm, pc, 3, map)?;
    let (ks, vs) = sizes(vm, m);
    let key = read(vm, pc, key, ks)?;
    let map = &mut vm.env.maps.maps[m as usize];
    let old = map.peek_host(&key);
    Some(match map.delete(&key) {
        Ok(()) => {
            // ... and those of a value it deletes.
            if let Some(p) = old {
                vm.env.kstate.release(p, vs as usize);
            }
            0
        }
        Err(e) => err(e),
    })
}

fn queue_push(vm: &mut Vm, pc: u32, map: u64, value: u64, flags: u64) -> Option<u64> {
    let m = map_index(vm, pc, 87, map)?;
    let (_, vs) = sizes(vm, m);
    let value = read(vm, pc, value, vs)?;
    Some(match vm.env.maps.maps[m as usize].push(&value, flags & BPF_EXIST) {
        Ok(()) if flags & !BPF_EXIST == 0 => 0,
        Ok(()) => err(EINVAL),
        Err(e) => err(e),
    })
}

fn queue_pop(vm: &mut Vm, pc: u32, map: u64, out: u64, remove: bool) -> Option<u64> {
    let m = map_index(vm, pc, 88, map)?;
    let (_, vs) = sizes(vm, m);
    vm.bytes(pc, out, vs)?;
    match vm.env.maps.maps[m as usize].pop(remove) {
        Ok(v) => {
            vm.bytes(pc, out, vs)?.copy_from_slice(&v);
            Some(0)
        }
        Err(e) => Some(err(e)),
    }
}

/// `bpf_tail_call(ctx, prog_array, index)`: on success the run continues
/// in the target (the caller unwinds); on failure the program goes on.
fn tail_call(vm: &mut Vm, pc: u32, map: u64, index: u64) -> u64 {
    let Some(m) = map_index(vm, pc, 12, map) else { return 0 };
    let index = index as u32; // the kernel compares the low 32 bits
    let Some(target) = vm.env.maps.maps[m as usize].prog_at(u64::from(index)) else {
        return err(ENOENT);
    };
    if vm.env.tail_calls >= MAX_TAIL_CALLS {
        return err(ENOENT);
    }
    vm.env.tail_calls += 1;
    vm.tail_target = Some(target);
    vm.ctx.abort = super::vm::ABORT_TAIL;
    0
}

/// xorshift64*: a deterministic `bpf_get_prandom_u32`.
fn prandom(vm: &mut Vm) -> u64 {
    let mut x = vm.env.rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    vm.env.rng = x;
    (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) & 0xffff_ffff
}

fn redirect(vm: &mut Vm, ifindex: u64, flags: u64) -> u64 {
    let (ok, verdict) = match vm.env.hook {
        ProgramKind::Xdp => (flags == 0, XDP_REDIRECT),
        ProgramKind::Tc => (flags & !BPF_F_INGRESS == 0, TC_ACT_REDIRECT),
    };
    if !ok {
        // XDP_ABORTED / TC_ACT_SHOT
        return if vm.env.hook == ProgramKind::Xdp { 0 } else { 2 };
    }
    vm.env.redirect = Some((ifindex as u32, flags));
    verdict
}

/// `bpf_csum_diff`: the 32-bit one's-complement sum of `seed`, the
/// complement of the `from` words and the `to` words (x86's
/// `csum_partial` folds carries at 32 bits the same way).
fn csum_diff(vm: &mut Vm, pc: u32, from: u64, from_sz: u64, to: u64, to_sz: u64, seed: u64) -> Option<u64> {
    if from_sz % 4 != 0 || to_sz % 4 != 0 || from_sz + to_sz > 512 {
        return Some(err(EINVAL));
    }
    let f = if from_sz > 0 { read(vm, pc, from, from_sz)? } else { Vec::new() };
    let t = if to_sz > 0 { read(vm, pc, to, to_sz)? } else { Vec::new() };
    let mut sum = seed & 0xffff_ffff;
    let words = |b: &[u8]| b.chunks(4).map(|c| u64::from(u32::from_le_bytes([c[0], c[1], c[2], c[3]]))).collect::<Vec<_>>();
    for w in words(&f) {
        sum += u64::from(!(w as u32));
    }
    for w in words(&t) {
        sum += w;
    }
    while sum >> 32 != 0 {
        sum = (sum & 0xffff_ffff) + (sum >> 32);
    }
    Some(sum)
}

/// Publish the packet's new bounds.
pub fn packet_moved(vm: &mut Vm) {
    let p = &mut vm.env.packet;
    let base = p.buf.as_mut_ptr();
    let (lo, hi) = (p.head as u64, p.end as u64);
    vm.regions.set(REGION_PKT, Region { base, lo, hi });
    vm.sync();
}

fn xdp_adjust_head(vm: &mut Vm, delta: i32) -> u64 {
    let p = &mut vm.env.packet;
    let head = p.head as i64 + i64::from(delta);
    if head < XDP_FRAME as i64 || head > p.end as i64 - ETH_HLEN as i64 {
        return err(EINVAL);
    }
    p.head = head as usize;
    packet_moved(vm);
    0
}

fn xdp_adjust_tail(vm: &mut Vm, delta: i32) -> u64 {
    let p = &mut vm.env.packet;
    let end = p.end as i64 + i64::from(delta);
    if end > (BUFFER - TAILROOM) as i64 || end < (p.head + ETH_HLEN) as i64 {
        return err(EINVAL);
    }
    if end > p.end as i64 {
        p.buf[p.end..end as usize].fill(0);
    }
    p.end = end as usize;
    packet_moved(vm);
    0
}

/// `bpf_skb_change_head(skb, len, 0)`: `len` zeroed bytes in front.
fn skb_change_head(vm: &mut Vm, len: u64, flags: u64) -> u64 {
    let p = &mut vm.env.packet;
    if flags != 0 || len > p.head as u64 || len > 0xfff {
        return err(EINVAL);
    }
    p.head -= len as usize;
    p.buf[p.head..p.head + len as usize].fill(0);
    packet_moved(vm);
    0
}

/// `bpf_skb_adjust_room(skb, len_diff, BPF_ADJ_ROOM_MAC, flags)`: room
/// added or removed right after the Ethernet header, on IPv4 and IPv6
/// frames only.
fn skb_adjust_room(vm: &mut Vm, diff: i32, mode: u64, _flags: u64) -> u64 {
    const ADJ_ROOM_MAC: u64 = 1;
    let p = &mut vm.env.packet;
    let proto = p.data().get(12..14).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let min_net = match proto {
        Some(0x0800) => 20,
        Some(0x86dd) => 40,
        _ => return err(ENOTSUPP),
    };
    if mode != ADJ_ROOM_MAC {
        return err(ENOTSUPP);
    }
    if diff.unsigned_abs() > 0xfff {
        return err(EFAULT);
    }
    let len = p.end - p.head;
    if diff < 0 {
        let cut = diff.unsigned_abs() as usize;
        if len < ETH_HLEN + cut + min_net {
            return err(ENOTSUPP);
        }
        p.buf.copy_within(p.head..p.head + ETH_HLEN, p.head + cut);
        p.head += cut;
    } else {
        let add = diff as usize;
        if add > p.head {
            return err(EINVAL);
        }
        p.buf.copy_within(p.head..p.head + ETH_HLEN, p.head - add);
        p.head -= add;
        p.buf[p.head + ETH_HLEN..p.head + ETH_HLEN + add].fill(0);
    }
    packet_moved(vm);
    0
}

/// `bpf_skb_vlan_pop`: the outer 802.1Q/802.1ad tag leaves the frame; a
/// second tag moves into the (invisible) accelerated tag, as the kernel
/// does.
fn skb_vlan_pop(vm: &mut Vm) -> u64 {
    let is_vlan = |p: &super::env::Packet| matches!(p.data().get(12..14), Some([0x81, 0x00] | [0x88, 0xa8]));
    let p = &mut vm.env.packet;
    for _ in 0..2 {
        if !is_vlan(p) {
            break;
        }
        if p.end - p.head < ETH_HLEN + 4 {
            return err(EINVAL);
        }
        p.buf.copy_within(p.head..p.head + 12, p.head + 4);
        p.head += 4;
    }
    packet_moved(vm);
    0
}

fn ringbuf_output(vm: &mut Vm, pc: u32, map: u64, data: u64, size: u64) -> Option<u64> {
    let m = map_index(vm, pc, 130, map)?;
    let bytes = read(vm, pc, data, size)?;
    Some(match vm.env.maps.maps[m as usize].ringbuf_output(&bytes) {
        Ok(()) => 0,
        Err(e) => err(e),
    })
}

fn ringbuf_reserve(vm: &mut Vm, pc: u32, map: u64, size: u64) -> Option<u64> {
    let m = map_index(vm, pc, 131, map)?;
    Some(match vm.env.maps.maps[m as usize].ringbuf_reserve(size as usize) {
        Some(p) => {
            vm.env.reserved.push((p as usize, m as usize));
            vm.expose(p, size)
        }
        None => 0,
    })
}

fn ringbuf_commit(vm: &mut Vm, pc: u32, rec: u64, keep: bool) -> Option<u64> {
    let host = vm.regions.host(rec, 1).map(|p| p as usize);
    let found = host.and_then(|h| vm.env.reserved.iter().position(|&(p, _)| p == h));
    let Some(i) = found else {
        vm.raise(pc, FaultKind::Helper { id: 132, message: format!("{rec:#x} is not a reserved ring buffer record") });
        return None;
    };
    let (p, m) = vm.env.reserved.swap_remove(i);
    vm.env.maps.maps[m].ringbuf_commit(p, keep);
    Some(0)
}
