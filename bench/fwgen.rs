//! Firewall rule sets for the table benchmarks (`bench/tables.rs`) and the
//! scale test (`tests/scale_firewall.rs`): a seeded generator of 5-tuple
//! ACLs, their YAML for nflc, packets biased toward rule boundaries, and a
//! plain reference classifier (first matching rule in priority order),
//! written independently of `nfl_compiler::classify`.
//!
//! Every address is in 198.18.0.0/15 (RFC 2544).
#![allow(dead_code)]

use std::fmt::Write as _;

/// The seed of the scale test's and the benchmark's rule sets (each uses
/// `SEED ^ rule count`).
pub const SEED: u64 = 0x6e66_6c5f_7363_616c;

/// One rule of the 5-tuple ACL. Addresses and protocol are ternary
/// `(value, mask)` with `value & !mask == 0`; ports are inclusive ranges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FwRule {
    pub src: (u32, u32),
    pub dst: (u32, u32),
    pub proto: (u8, u8),
    pub sport: (u16, u16),
    pub dport: (u16, u16),
    pub deny: bool,
}

/// The fields a rule looks at. `sport`/`dport` are 0 unless the packet is
/// TCP or UDP (as `meta.sport`/`meta.dport` in the .nf programs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FiveTuple {
    pub src: u32,
    pub dst: u32,
    pub proto: u8,
    pub sport: u16,
    pub dport: u16,
}

pub const ANY_PORT: (u16, u16) = (0, u16::MAX);

impl FwRule {
    pub fn any(deny: bool) -> FwRule {
        FwRule {
            src: (0, 0),
            dst: (0, 0),
            proto: (0, 0),
            sport: ANY_PORT,
            dport: ANY_PORT,
            deny,
        }
    }

    pub fn matches(&self, k: &FiveTuple) -> bool {
        k.src & self.src.1 == self.src.0
            && k.dst & self.dst.1 == self.dst.0
            && k.proto & self.proto.1 == self.proto.0
            && (self.sport.0..=self.sport.1).contains(&k.sport)
            && (self.dport.0..=self.dport.1).contains(&k.dport)
    }

    /// Whether the rule uses a ternary mask that is not a prefix, or a port
    /// range that is neither one port nor all of them.
    pub fn is_complex(&self) -> bool {
        let odd_mask = |m: u32| m != 0 && m.leading_ones() + m.trailing_zeros() != 32;
        let odd_range = |r: (u16, u16)| r.0 != r.1 && r != ANY_PORT;
        odd_mask(self.src.1)
            || odd_mask(self.dst.1)
            || (self.proto.1 != 0 && self.proto.1 != 0xff)
            || odd_range(self.sport)
            || odd_range(self.dport)
    }
}

/// The reference classifier: the index of the first rule that matches.
pub fn reference(rules: &[FwRule], k: &FiveTuple) -> Option<usize> {
    rules.iter().position(|r| r.matches(k))
}

/// splitmix64: small, seeded, good enough to spread test inputs.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// `true` with probability `num / den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const BENCH_NET: u32 = 0xc612_0000; // 198.18.0.0/15

fn prefix_mask(len: u32) -> u32 {
    if len == 0 { 0 } else { u32::MAX << (32 - len) }
}

/// A random address in 198.18.0.0/15.
pub fn bench_addr(rng: &mut Rng) -> u32 {
    BENCH_NET | (rng.next() as u32 & 0x1_ffff)
}

/// A prefix of a random address in 198.18.0.0/15: any (mask 0), /16, /24
/// or /32.
fn addr_prefix(rng: &mut Rng) -> (u32, u32) {
    let len = *rng.pick(&[0u32, 16, 24, 24, 32, 32]);
    let m = prefix_mask(len);
    (bench_addr(rng) & m, m)
}

/// A ternary address match that is not a prefix: a /16 with some host bits
/// cared about (e.g. "host .0 of every /24", or random scattered bits).
fn addr_ternary(rng: &mut Rng) -> (u32, u32) {
    let m = match rng.below(3) {
        0 => 0xffff_00ff,
        1 => 0xffff_0f0f,
        _ => 0xfffe_0000 | (rng.next() as u32 & 0xffff) | 1,
    };
    (bench_addr(rng) & m, m)
}

const COMMON_PORTS: [u16; 10] = [22, 25, 53, 80, 123, 443, 3306, 5432, 8080, 27015];

fn port_exact_or_any(rng: &mut Rng) -> (u16, u16) {
    match rng.below(4) {
        0 | 1 => ANY_PORT,
        2 => {
            let p = *rng.pick(&COMMON_PORTS);
            (p, p)
        }
        _ => {
            let p = rng.next() as u16;
            (p, p)
        }
    }
}

fn port_range(rng: &mut Rng) -> (u16, u16) {
    match rng.below(10) {
        0..=3 => (1024, 65535),
        4..=6 => (0, 1023),
        _ => {
            let lo = rng.next() as u16;
            let span = rng.below(4096) as u16 + 1;
            (lo, lo.saturating_add(span))
        }
    }
}

/// `n` rules, listed in priority order (first = highest), `complex_pct`
/// percent of them ternary (non-prefix masks) or with port ranges; the
/// rest use prefixes, exact values and wildcards. Deterministic in `seed`.
pub fn generate(seed: u64, n: usize, complex_pct: u64) -> Vec<FwRule> {
    let mut rng = Rng::new(seed);
    let mut rules = Vec::with_capacity(n);
    while rules.len() < n {
        let complex = rng.chance(complex_pct, 100);
        let proto = match rng.below(5) {
            0 => (0, 0),
            1 | 2 => (6, 0xff),
            3 => (17, 0xff),
            _ => (1, 0xff),
        };
        let l4 = proto.0 == 6 || proto.0 == 17 || proto.1 == 0;
        let mut r = FwRule {
            src: addr_prefix(&mut rng),
            dst: addr_prefix(&mut rng),
            proto,
            sport: if l4 && rng.chance(1, 10) {
                port_exact_or_any(&mut rng)
            } else {
                ANY_PORT
            },
            dport: if l4 {
                port_exact_or_any(&mut rng)
            } else {
                ANY_PORT
            },
            deny: rng.chance(1, 2),
        };
        // Every rule names a /24 or narrower on one side, as real ACLs do;
        // broader rules would shadow most of a large random set.
        if r.src.1.count_ones() < 24 && r.dst.1.count_ones() < 24 {
            let len = *rng.pick(&[24u32, 32]);
            r.dst = (bench_addr(&mut rng) & prefix_mask(len), prefix_mask(len));
        }
        if complex {
            match rng.below(20) {
                0..=2 => r.src = addr_ternary(&mut rng),
                3..=5 => r.dst = addr_ternary(&mut rng),
                6 | 7 => r.proto = (rng.next() as u8 & 0x10, 0xf0), // 0..=15 or 16..=31
                8..=11 => r.sport = port_range(&mut rng),
                _ => r.dport = port_range(&mut rng),
            }
            if !r.is_complex() {
                continue;
            }
        } else if r.is_complex() {
            continue;
        }
        rules.push(r);
    }
    rules
}

fn addr(v: u32) -> String {
    let b = v.to_be_bytes();
    format!("{}.{}.{}.{}", b[0], b[1], b[2], b[3])
}

fn ternary32(v: (u32, u32)) -> Option<String> {
    let (value, mask) = v;
    if mask == 0 {
        None
    } else if mask.leading_ones() + mask.trailing_zeros() == 32 {
        Some(format!("{}/{}", addr(value), mask.leading_ones()))
    } else {
        Some(format!("\"{} &&& {}\"", addr(value), addr(mask)))
    }
}

fn ternary8(v: (u8, u8)) -> Option<String> {
    match v.1 {
        0 => None,
        0xff => Some(v.0.to_string()),
        m => Some(format!("\"{:#04x} &&& {m:#04x}\"", v.0)),
    }
}

fn range16(r: (u16, u16)) -> Option<String> {
    if r == ANY_PORT {
        None
    } else if r.0 == r.1 {
        Some(r.0.to_string())
    } else {
        Some(format!("{}..={}", r.0, r.1))
    }
}

/// The `match:` mapping of a rule, with the key names of bench/nf/firewall*.nf.
fn match_yaml(r: &FwRule) -> String {
    let fields = [
        ("ipv4.src", ternary32(r.src)),
        ("ipv4.dst", ternary32(r.dst)),
        ("ipv4.protocol", ternary8(r.proto)),
        ("meta.sport", range16(r.sport)),
        ("meta.dport", range16(r.dport)),
    ];
    let parts: Vec<String> = fields
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}: {v}")))
        .collect();
    format!("{{ {} }}", parts.join(", "))
}

/// How rules become table entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Actions {
    /// `allow` / `deny` (bench/nf/firewall.nf).
    Plain,
    /// `allow(tag)` / `deny(tag)` with tag = rule index + 1
    /// (bench/nf/firewall_tagged.nf), so the packet shows which rule won.
    Tagged,
}

/// A config file for the firewall programs: `params` (top-level lines, may
/// be empty) and the rules as the `acl` table.
pub fn yaml(params: &str, rules: &[FwRule], actions: Actions) -> String {
    let mut out = String::with_capacity(rules.len() * 96 + 64);
    out.push_str(params);
    out.push_str("tables:\n  acl:\n");
    for (i, r) in rules.iter().enumerate() {
        let action = if r.deny { "deny" } else { "allow" };
        let _ = write!(
            out,
            "    - match: {}\n      action: {action}\n",
            match_yaml(r)
        );
        if actions == Actions::Tagged {
            let _ = writeln!(out, "      args: [{}]", i + 1);
        }
    }
    out
}

/// Values near the edges of a ternary match: the value, the value with
/// every don't-care bit set, random don't-care bits, and one cared bit
/// flipped (a near miss).
fn near_ternary32(rng: &mut Rng, (value, mask): (u32, u32)) -> u32 {
    let free = !mask;
    let v = match rng.below(5) {
        0 => value,
        1 => value | free,
        2 => value | (rng.next() as u32 & free),
        3 if mask != 0 => {
            let bits: Vec<u32> = (0..32).filter(|b| mask >> b & 1 == 1).collect();
            (value | (rng.next() as u32 & free)) ^ (1 << rng.pick(&bits))
        }
        _ => bench_addr(rng),
    };
    // Stay in 198.18.0.0/15.
    BENCH_NET | (v & 0x1_ffff)
}

fn near_range(rng: &mut Rng, (lo, hi): (u16, u16)) -> u16 {
    match rng.below(7) {
        0 => lo,
        1 => hi,
        2 => lo.wrapping_sub(1),
        3 => hi.wrapping_add(1),
        4 => lo + (rng.below(u64::from(hi - lo) + 1) as u16),
        5 => *rng.pick(&COMMON_PORTS),
        _ => rng.next() as u16,
    }
}

/// `n` five-tuples, most built near a random rule's edges (each field from
/// that rule's match, at or just past its boundaries), the rest random.
pub fn tuples(rules: &[FwRule], n: usize, seed: u64) -> Vec<FiveTuple> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| {
            let r = if rules.is_empty() || rng.chance(1, 10) {
                FwRule::any(false)
            } else {
                *rng.pick(rules)
            };
            let proto = match (r.proto.1, rng.below(8)) {
                (0xff, 0..=6) => r.proto.0,
                (0, _) | (0xff, _) => *rng.pick(&[6u8, 17, 1, 6, 17]),
                (m, 0..=5) => r.proto.0 | (rng.next() as u8 & !m),
                _ => *rng.pick(&[6u8, 17, 1]),
            };
            let l4 = proto == 6 || proto == 17;
            FiveTuple {
                src: near_ternary32(&mut rng, r.src),
                dst: near_ternary32(&mut rng, r.dst),
                proto,
                sport: if l4 { near_range(&mut rng, r.sport) } else { 0 },
                dport: if l4 { near_range(&mut rng, r.dport) } else { 0 },
            }
        })
        .collect()
}
