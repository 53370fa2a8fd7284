//! What a run sees besides its code: the packet and the context over it,
//! the maps, the clock and the random source.

use super::maps::MapSet;
use super::vm::{REGION_PKT, vaddr};
use crate::load::ProgramKind;

/// Room before the packet (`XDP_PACKET_HEADROOM`), which
/// `bpf_xdp_adjust_head` and `bpf_skb_change_head` grow into.
pub const HEADROOM: usize = 256;
/// The packet buffer's size: a page, as the kernel's test run gives XDP.
pub const BUFFER: usize = 4096;
/// The kernel keeps this much of the page for `skb_shared_info`; an XDP
/// packet cannot grow into it.
pub const TAILROOM: usize = 320;

/// `ifindex` the kernel's test run reports (the loopback device).
const TEST_IFINDEX: u64 = 1;

/// The largest packet the engine takes: one buffer, as the kernel's XDP
/// test run without fragments.
pub const MAX_PACKET: usize = BUFFER - HEADROOM - TAILROOM;

/// The packet and where its data lies in the buffer.
pub struct Packet {
    pub buf: Box<[u8]>,
    /// `data` and `data_end` as offsets into `buf`.
    pub head: usize,
    pub end: usize,
}

impl Packet {
    fn new() -> Packet {
        Packet { buf: vec![0u8; BUFFER].into_boxed_slice(), head: HEADROOM, end: HEADROOM }
    }

    /// Put `data` at the usual headroom; `None` when it does not fit.
    pub fn fill(&mut self, data: &[u8]) -> Option<()> {
        if data.len() > MAX_PACKET {
            return None;
        }
        self.buf.fill(0);
        self.head = HEADROOM;
        self.end = HEADROOM + data.len();
        self.buf[self.head..self.end].copy_from_slice(data);
        Some(())
    }

    pub fn data(&self) -> &[u8] {
        &self.buf[self.head..self.end]
    }
}

/// The deterministic parts of the world a program may observe.
#[derive(Clone, Copy, Debug)]
pub struct World {
    /// `bpf_ktime_get_ns`: this value, then `+ tick_ns` per call.
    pub clock_ns: u64,
    pub tick_ns: u64,
    /// `bpf_ktime_get_ns` reads CLOCK_MONOTONIC instead, as in the kernel
    /// (for comparing the engine with it).
    pub real_clock: bool,
    /// Seed of `bpf_get_prandom_u32`.
    pub seed: u64,
    /// The CPU this run is on (per-CPU maps) and how many there are.
    pub cpu: u32,
    pub nr_cpus: u32,
}

impl Default for World {
    fn default() -> World {
        World { clock_ns: 1_000_000_000, tick_ns: 0, real_clock: false, seed: 0x5eed, cpu: 0, nr_cpus: 1 }
    }
}

pub struct Env {
    pub hook: ProgramKind,
    pub packet: Packet,
    pub maps: MapSet,
    pub world: World,
    /// `bpf_redirect`'s target of the last call (ifindex, flags).
    pub redirect: Option<(u32, u64)>,
    /// xorshift64* state of `bpf_get_prandom_u32`.
    pub rng: u64,
    /// Tail calls taken in this run.
    pub tail_calls: u32,
    /// Ring buffer records reserved and not yet committed: (host address,
    /// map index).
    pub reserved: Vec<(usize, usize)>,
    /// Objects, rbtrees, lists and iterators of the kfuncs.
    pub kstate: super::kfuncs::KState,
}

impl Env {
    pub fn new(hook: ProgramKind, maps: MapSet, world: World) -> Env {
        Env { hook, packet: Packet::new(), maps, world, redirect: None, rng: world.seed | 1, tail_calls: 0, reserved: Vec::new(), kstate: Default::default() }
    }

    fn data(&self) -> u64 {
        vaddr(REGION_PKT, self.packet.head as u32)
    }

    fn data_end(&self) -> u64 {
        vaddr(REGION_PKT, self.packet.end as u32)
    }

    /// A context load the kernel would rewrite (`store` is `None`), or a
    /// store it allows. `None` for anything else.
    pub fn ctx_access(&mut self, offset: u32, size: u32, store: Option<u64>) -> Option<u64> {
        if store.is_some() {
            return None;
        }
        match self.hook {
            ProgramKind::Xdp => self.xdp_md(offset, size),
            ProgramKind::Tc => self.sk_buff(offset, size),
        }
    }

    /// `struct xdp_md`: data, data_end, data_meta, ingress_ifindex,
    /// rx_queue_index, egress_ifindex (u32 each).
    fn xdp_md(&self, offset: u32, size: u32) -> Option<u64> {
        if size != 4 {
            return None;
        }
        match offset {
            0 | 8 => Some(self.data()),
            4 => Some(self.data_end()),
            12 => Some(TEST_IFINDEX),
            16 | 20 => Some(0),
            _ => None,
        }
    }

    /// The `struct __sk_buff` fields a classifier reads.
    fn sk_buff(&self, offset: u32, size: u32) -> Option<u64> {
        let len = (self.packet.end - self.packet.head) as u64;
        let protocol = match self.packet.data().get(12..14) {
            Some(&[a, b]) => u64::from(u16::from_ne_bytes([a, b])),
            _ => 0,
        };
        match (offset, size) {
            (0, 4) => Some(len),
            (16, 4) => Some(protocol),
            (36 | 40, 4) => Some(TEST_IFINDEX),
            (8 | 12 | 20 | 24 | 28 | 32 | 44 | 68 | 72, 4) => Some(0),
            (76 | 140, 4) => Some(self.data()),
            (80, 4) => Some(self.data_end()),
            _ => None,
        }
    }
}
