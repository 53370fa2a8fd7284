//! Seeded generators: a small PRNG, keys biased toward rule boundaries,
//! and the 10,000-rule firewall-like scenario.

use nfl_compiler::classify::expand::{prefix_mask, width_mask};
use nfl_compiler::classify::{FieldMatch, Rule};

/// splitmix64.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Values at and just beyond the edges of a field match.
pub fn boundaries(width: u32, m: &FieldMatch) -> Vec<u64> {
    let top = width_mask(width);
    let around = |v: u64| [v.wrapping_sub(1) & top, v, v.wrapping_add(1) & top];
    let mut out: Vec<u64> = match *m {
        FieldMatch::Exact(v) => around(v).to_vec(),
        FieldMatch::Prefix { value, len } => {
            let mask = prefix_mask(width, len);
            let (start, end) = (value & mask, (value & mask) | (top & !mask));
            [around(start), around(end)].concat()
        }
        FieldMatch::Ternary { value, mask } => {
            let base = value & mask;
            vec![
                base,
                base | (top & !mask),
                base ^ (mask & mask.wrapping_neg()),
                base ^ 1,
            ]
        }
        FieldMatch::Range { lo, hi } => [around(lo), around(hi)].concat(),
        FieldMatch::Any => vec![0, top],
    };
    out.iter_mut().for_each(|v| *v &= top);
    out
}

/// `count` keys: some random, the rest built field by field from the
/// boundaries of one random rule (so most hit it or just miss it).
pub fn keys(rng: &mut Rng, widths: &[u32], rules: &[Rule], count: usize) -> Vec<Vec<u64>> {
    (0..count)
        .map(|_| {
            let rule = (!rules.is_empty() && rng.chance(85)).then(|| rng.pick(rules));
            widths
                .iter()
                .enumerate()
                .map(|(f, &w)| match rule {
                    Some(r) if rng.chance(90) => *rng.pick(&boundaries(w, &r.matches[f])),
                    _ => rng.next() & width_mask(w),
                })
                .collect()
        })
        .collect()
}

pub const FIREWALL_WIDTHS: [u32; 5] = [32, 32, 8, 16, 16];

fn address(rng: &mut Rng, lens: &[u32]) -> FieldMatch {
    let len = *rng.pick(lens);
    FieldMatch::Prefix {
        value: rng.next() & prefix_mask(32, len),
        len,
    }
}

fn port(rng: &mut Rng) -> FieldMatch {
    const PORTS: [u64; 8] = [22, 25, 53, 80, 123, 443, 8080, 8443];
    match rng.below(3) {
        0 => FieldMatch::Exact(*rng.pick(&PORTS)),
        1 => FieldMatch::Exact(rng.below(65536)),
        _ => FieldMatch::Any,
    }
}

fn port_range(rng: &mut Rng) -> FieldMatch {
    match rng.below(10) {
        0..=3 => FieldMatch::Range {
            lo: 1024,
            hi: 65535,
        },
        4..=6 => FieldMatch::Range { lo: 0, hi: 1023 },
        _ => {
            let lo = rng.below(65536);
            FieldMatch::Range {
                lo,
                hi: (lo + rng.below(4096)).min(65535),
            }
        }
    }
}

/// One 5-tuple rule (src, dst, proto, sport, dport); `special` rules carry
/// a port range or a ternary match.
fn firewall_rule(rng: &mut Rng, prio: u32, special: bool) -> Rule {
    let mut matches = vec![
        address(rng, &[0, 8, 16, 24, 32, 32]),
        address(rng, &[0, 16, 24, 32, 32]),
        if rng.chance(70) {
            FieldMatch::Exact(*rng.pick(&[6, 17]))
        } else {
            FieldMatch::Any
        },
        FieldMatch::Any,
        port(rng),
    ];
    if special {
        match rng.below(10) {
            0..=4 => matches[4] = port_range(rng),
            5 | 6 => matches[3] = port_range(rng),
            7 => {
                matches[2] = FieldMatch::Ternary {
                    value: 0x10,
                    mask: 0xf0,
                }
            }
            8 => {
                let value = rng.next() & 0x00ff_00ff;
                matches[0] = FieldMatch::Ternary {
                    value,
                    mask: 0x00ff_00ff,
                };
            }
            _ => {
                matches[4] = FieldMatch::Ternary {
                    value: 0x0100,
                    mask: 0xff00,
                }
            }
        }
    }
    if matches
        .iter()
        .all(|m| matches!(m, FieldMatch::Any | FieldMatch::Prefix { len: 0, .. }))
    {
        matches[1] = address(rng, &[24]);
    }
    Rule {
        matches,
        prio,
        action: prio % 7,
        payload: prio.to_le_bytes().to_vec(),
    }
}

/// `count` rules with distinct shuffled priorities, 30% special, and a
/// catch-all of the lowest priority last.
pub fn firewall(seed: u64, count: usize) -> Vec<Rule> {
    let mut rng = Rng(seed);
    let mut prios: Vec<u32> = (1..count as u32).map(|p| p * 3).collect();
    for i in (1..prios.len()).rev() {
        prios.swap(i, rng.below(i as u64 + 1) as usize);
    }
    prios
        .into_iter()
        .map(|p| {
            let special = rng.chance(30);
            firewall_rule(&mut rng, p, special)
        })
        .chain([Rule {
            matches: vec![FieldMatch::Any; 5],
            prio: 0,
            action: 0,
            payload: vec![0; 4],
        }])
        .collect()
}
