//! The scalar literal forms of a config file, read from the text as written:
//! integers (`1500`, `0x0800`, `0b1010`, with `_`), `true`/`false`, IPv4,
//! IPv6 and MAC addresses, prefixes `ADDR/LEN`, ranges `LO..HI` and
//! `LO..=HI`, masks `VALUE &&& MASK`, the wildcard `_` (or `*`), and
//! durations (`30s`, `250ms`: integers in nanoseconds, as in `.nf` source).
//! Widths are not known here; [`super::fit`] checks them.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::codes::{self, Issue};

/// A value and the kind of literal that wrote it: addresses have a fixed
/// width, integers take the width of what they are given to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Val {
    pub value: u128,
    pub kind: ValKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ValKind {
    Int,
    Ipv4,
    Ipv6,
    Mac,
}

impl ValKind {
    /// The width of an address literal; `None` for an integer.
    pub(super) fn width(self) -> Option<u32> {
        match self {
            ValKind::Int => None,
            ValKind::Ipv4 => Some(32),
            ValKind::Ipv6 => Some(128),
            ValKind::Mac => Some(48),
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            ValKind::Int => "an integer",
            ValKind::Ipv4 => "an IPv4 address",
            ValKind::Ipv6 => "an IPv6 address",
            ValKind::Mac => "a MAC address",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Lit {
    Value(Val),
    Prefix(Val, u32),
    Range { lo: Val, hi: Val, inclusive: bool },
    Ternary { value: Val, mask: Val },
    Any,
    Bool(bool),
}

/// The shape of a literal, for "what is accepted here".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Form {
    Value,
    Prefix,
    Range,
    Ternary,
    Any,
    Bool,
}

impl Lit {
    pub(super) fn form(&self) -> Form {
        match self {
            Lit::Value(_) => Form::Value,
            Lit::Prefix(..) => Form::Prefix,
            Lit::Range { .. } => Form::Range,
            Lit::Ternary { .. } => Form::Ternary,
            Lit::Any => Form::Any,
            Lit::Bool(_) => Form::Bool,
        }
    }
}

pub(super) fn parse(text: &str) -> Result<Lit, Issue> {
    let text = text.trim();
    match text {
        "_" | "*" => return Ok(Lit::Any),
        "true" => return Ok(Lit::Bool(true)),
        "false" => return Ok(Lit::Bool(false)),
        _ => {}
    }
    if let Some((value, mask)) = text.split_once("&&&") {
        return Ok(Lit::Ternary { value: value_part(value)?, mask: value_part(mask)? });
    }
    if let Some((lo, hi)) = text.split_once("..") {
        let (hi, inclusive) = match hi.strip_prefix('=') {
            Some(hi) => (hi, true),
            None => (hi, false),
        };
        return Ok(Lit::Range { lo: value_part(lo)?, hi: value_part(hi)?, inclusive });
    }
    if let Some((addr, len)) = text.rsplit_once('/') {
        let len = len.trim();
        let len = len.parse::<u32>().map_err(|_| {
            codes::malformed(
                format!("`{len}` is not a prefix length"),
                "a prefix is `ADDR/LEN` with a decimal length, as in `198.18.0.0/15`",
            )
        })?;
        return Ok(Lit::Prefix(value_part(addr)?, len));
    }
    value_part(text).map(Lit::Value)
}

/// One value: the whole literal, or one side of `..`, `&&&` or `/`.
fn value_part(text: &str) -> Result<Val, Issue> {
    let text = text.trim();
    if text.contains(':') {
        if let Some(value) = mac(text) {
            return Ok(Val { value, kind: ValKind::Mac });
        }
        let addr = text.parse::<Ipv6Addr>().map_err(|_| {
            codes::malformed(
                format!("`{text}` is not an IPv6 or MAC address"),
                "write an IPv6 address such as `2001:db8::1` or a MAC address such as `02:00:00:00:00:01`",
            )
        })?;
        return Ok(Val { value: u128::from(addr), kind: ValKind::Ipv6 });
    }
    if text.contains('.') {
        let addr = text.parse::<Ipv4Addr>().map_err(|_| {
            codes::malformed(format!("`{text}` is not an IPv4 address"), "an IPv4 address is four numbers 0 to 255, as in `198.18.0.1`")
        })?;
        return Ok(Val { value: u128::from(u32::from(addr)), kind: ValKind::Ipv4 });
    }
    int(text).map(|value| Val { value, kind: ValKind::Int })
}

/// Six groups of one or two hex digits: `02:00:00:00:00:01`.
fn mac(text: &str) -> Option<u128> {
    let groups: Vec<&str> = text.split(':').collect();
    if groups.len() != 6 {
        return None;
    }
    groups.iter().try_fold(0u128, |acc, g| {
        let ok = (1..=2).contains(&g.len()) && g.chars().all(|c| c.is_ascii_hexdigit());
        let byte = if ok { u8::from_str_radix(g, 16).ok()? } else { return None };
        Some(acc << 8 | u128::from(byte))
    })
}

/// Units of a duration and their nanoseconds, as in `.nf` source.
const DURATION_UNITS: [(&str, u128); 6] =
    [("ns", 1), ("us", 1_000), ("ms", 1_000_000), ("s", 1_000_000_000), ("m", 60_000_000_000), ("h", 3_600_000_000_000)];

/// `30s`, `250ms`, `5m`: decimal digits and a unit, in nanoseconds.
fn duration(text: &str) -> Option<Result<u128, Issue>> {
    DURATION_UNITS.iter().find_map(|&(unit, scale)| {
        let digits = text.strip_suffix(unit)?;
        let decimal = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit() || b == b'_');
        let ns = || digits.replace('_', "").parse::<u128>().ok().and_then(|v| v.checked_mul(scale));
        let too_long = || codes::malformed(format!("the duration `{text}` is too long"), "a duration is counted in nanoseconds");
        decimal.then(|| ns().ok_or_else(too_long))
    })
}

/// `1500`, `0x0800`, `0b1010`, with `_` between digits; up to 128 bits.
fn int(text: &str) -> Result<u128, Issue> {
    let not_a_value = || codes::malformed(format!("`{text}` is not a value"), codes::FORMS_HELP);
    if text.starts_with('-') {
        return Err(codes::malformed(format!("`{text}` is negative"), "config values are unsigned"));
    }
    if !text.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(not_a_value());
    }
    if let Some(ns) = duration(text) {
        return ns;
    }
    let lower = text.to_ascii_lowercase();
    let (digits, radix, base) = match (lower.strip_prefix("0x"), lower.strip_prefix("0b")) {
        (Some(hex), _) => (hex, 16, "hexadecimal"),
        (_, Some(bin)) => (bin, 2, "binary"),
        _ => (lower.as_str(), 10, "decimal"),
    };
    let digits: String = digits.chars().filter(|c| *c != '_').collect();
    if let Some(bad) = digits.chars().find(|c| !c.is_digit(radix)) {
        return Err(codes::malformed(format!("`{bad}` is not a {base} digit in `{text}`"), codes::FORMS_HELP));
    }
    if digits.is_empty() {
        return Err(not_a_value());
    }
    u128::from_str_radix(&digits, radix)
        .map_err(|_| codes::malformed(format!("`{text}` has more than 128 bits"), "the widest key is 128 bits"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(value: u128) -> Val {
        Val { value, kind: ValKind::Int }
    }

    #[test]
    fn integers() {
        assert_eq!(parse("1_500"), Ok(Lit::Value(v(1500))));
        assert_eq!(parse("0x08_00"), Ok(Lit::Value(v(0x800))));
        assert_eq!(parse("0XFF"), Ok(Lit::Value(v(255))));
        assert_eq!(parse("0b1010"), Ok(Lit::Value(v(10))));
        assert_eq!(parse(&u128::MAX.to_string()), Ok(Lit::Value(v(u128::MAX))));
        assert_eq!(parse("30s"), Ok(Lit::Value(v(30_000_000_000))));
        assert_eq!(parse("250ms"), Ok(Lit::Value(v(250_000_000))));
        assert_eq!(parse("1_500us"), Ok(Lit::Value(v(1_500_000))));
        assert_eq!(parse("2h"), Ok(Lit::Value(v(7_200_000_000_000))));
        assert!(parse("0x10ms").is_err() && parse("5 s").is_err() && parse("s").is_err());
        assert!(parse("999999999999999999999999999999999999h").is_err());
        assert!(parse("340282366920938463463374607431768211456").is_err());
        for bad in ["0x", "0b102", "12ab", "-1", "+1", "abc", "", "1 2", "0x_"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn addresses() {
        assert_eq!(parse("198.18.0.1"), Ok(Lit::Value(Val { value: 0xc612_0001, kind: ValKind::Ipv4 })));
        assert_eq!(parse("2001:db8::1"), Ok(Lit::Value(Val { value: 0x2001_0db8_u128 << 96 | 1, kind: ValKind::Ipv6 })));
        assert_eq!(parse("::1"), Ok(Lit::Value(Val { value: 1, kind: ValKind::Ipv6 })));
        assert_eq!(parse("02:00:00:00:00:0a"), Ok(Lit::Value(Val { value: 0x0200_0000_000a, kind: ValKind::Mac })));
        for bad in ["198.18.0", "198.18.0.256", "1:2:3", "02:00:00:00:00:100", "1.2.3.4.5"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn shapes() {
        assert_eq!(parse(" _ "), Ok(Lit::Any));
        assert_eq!(parse("*"), Ok(Lit::Any));
        assert_eq!(parse("true"), Ok(Lit::Bool(true)));
        assert_eq!(parse("10..=20"), Ok(Lit::Range { lo: v(10), hi: v(20), inclusive: true }));
        assert_eq!(parse("10 .. 20"), Ok(Lit::Range { lo: v(10), hi: v(20), inclusive: false }));
        assert_eq!(parse("0x0800 &&& 0xff00"), Ok(Lit::Ternary { value: v(0x800), mask: v(0xff00) }));
        assert_eq!(parse("10/8"), Ok(Lit::Prefix(v(10), 8)));
        assert!(parse("10.0.0.0/x").is_err());
        assert!(parse("10..").is_err());
    }
}
