//! Values and matches written back in the notation of config files
//! (docs/config.md), so that what `nflc table list` prints can be pasted
//! into `nflc table add` or a YAML file: `198.18.0.0/16`, `80..=90`,
//! `0x0800 &&& 0xff00`, `_`.

use std::net::{Ipv4Addr, Ipv6Addr};

use nfl_compiler::hir::KeyMatch;

fn ones(width: u32) -> u128 {
    u128::MAX.checked_shr(128u32.saturating_sub(width)).unwrap_or(0)
}

/// Whether a 32-bit thing named `name` reads best as an IPv4 address.
fn is_address(name: &str) -> bool {
    ["ip", "addr", "src", "dst", "gw", "hop", "saddr", "daddr"].iter().any(|w| name.contains(w))
}

/// One value of `width` bits of the thing `name` (a key or a parameter).
pub fn value(name: &str, width: u32, v: u128) -> String {
    match width {
        32 if is_address(name) => u32::try_from(v).map_or_else(|_| format!("{v:#x}"), |a| Ipv4Addr::from(a).to_string()),
        48 => {
            let bytes = v.to_be_bytes();
            let mac: Vec<String> = bytes.iter().skip(10).map(|b| format!("{b:02x}")).collect();
            mac.join(":")
        }
        128 => Ipv6Addr::from(v).to_string(),
        _ => v.to_string(),
    }
}

fn reads_as_address(name: &str, width: u32) -> bool {
    matches!(width, 48 | 128) || (width == 32 && is_address(name))
}

/// A mask: in address notation for addresses, else hexadecimal.
fn mask(name: &str, width: u32, m: u128) -> String {
    if reads_as_address(name, width) { value(name, width, m) } else { format!("{m:#x}") }
}

/// The prefix length of `m` if it is a prefix mask of `width` bits.
fn prefix_len(width: u32, m: u128) -> Option<u32> {
    let len = (m << (128 - width)).leading_ones();
    (m == ones(width) & !ones(width - len.min(width))).then_some(len)
}

/// How one key of `width` bits named `name` matches, as a config file writes it.
pub fn key_match(name: &str, width: u32, m: &KeyMatch) -> String {
    let full = ones(width);
    match *m {
        KeyMatch::Any => "_".into(),
        KeyMatch::Exact(v) => value(name, width, v),
        KeyMatch::Prefix { len: 0, .. } => "_".into(),
        KeyMatch::Prefix { value: v, len } if len >= width => value(name, width, v),
        KeyMatch::Prefix { value: v, len } => format!("{}/{len}", value(name, width, v)),
        KeyMatch::Ternary { mask: 0, .. } => "_".into(),
        KeyMatch::Ternary { value: v, mask: mk } => match prefix_len(width, mk) {
            Some(len) if len == width => value(name, width, v),
            Some(len) if reads_as_address(name, width) => format!("{}/{len}", value(name, width, v)),
            _ => format!("{} &&& {}", mask(name, width, v), mask(name, width, mk)),
        },
        KeyMatch::Range { lo, hi } if lo == hi => value(name, width, lo),
        KeyMatch::Range { lo: 0, hi } if hi == full => "_".into(),
        KeyMatch::Range { lo, hi } => format!("{}..={}", value(name, width, lo), value(name, width, hi)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_read_as_yaml() {
        let t = |v, m| KeyMatch::Ternary { value: v, mask: m };
        assert_eq!(key_match("ipv4.src", 32, &t(0xc612_0000, 0xffff_0000)), "198.18.0.0/16");
        assert_eq!(key_match("ipv4.src", 32, &t(0xc612_0001, 0xffff_ffff)), "198.18.0.1");
        assert_eq!(key_match("ipv4.src", 32, &t(0xc612_0000, 0xff00_ff00)), "198.18.0.0 &&& 255.0.255.0");
        assert_eq!(key_match("ethernet.ethertype", 16, &t(0x800, 0xff00)), "0x800 &&& 0xff00");
        assert_eq!(key_match("ipv4.protocol", 8, &t(0, 0)), "_");
        assert_eq!(key_match("meta.dport", 16, &KeyMatch::Range { lo: 80, hi: 90 }), "80..=90");
        assert_eq!(key_match("meta.dport", 16, &KeyMatch::Range { lo: 0, hi: 65535 }), "_");
        assert_eq!(key_match("meta.dport", 16, &KeyMatch::Range { lo: 53, hi: 53 }), "53");
        assert_eq!(key_match("ipv4.dst", 32, &KeyMatch::Prefix { value: 0xc612_0000, len: 15 }), "198.18.0.0/15");
        assert_eq!(key_match("(ipv6.dst_hi, ipv6.dst_lo)", 128, &KeyMatch::Prefix { value: 0x2001_0db8 << 96, len: 32 }), "2001:db8::/32");
        assert_eq!(key_match("ipv4.protocol", 8, &KeyMatch::Exact(6)), "6");
        assert_eq!(value("mac", 48, 0x0200_0000_0001), "02:00:00:00:00:01");
    }
}
