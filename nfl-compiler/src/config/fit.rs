//! A literal against the width it is given to: values must fit (an address
//! only where its own width is expected), prefixes must not be longer than
//! the width, ranges must not be empty, masks must cover their values.
//! The result is normalised: `LO..HI` becomes inclusive, prefixes lose
//! their host bits.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::codes::{self, Issue};
use super::literal::{Lit, Val, ValKind};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Norm {
    Value(u128),
    Prefix {
        value: u128,
        len: u32,
    },
    /// Inclusive, `lo <= hi`.
    Range {
        lo: u128,
        hi: u128,
    },
    Ternary {
        value: u128,
        mask: u128,
    },
    Any,
    Bool(bool),
}

/// All ones in the low `width` bits.
pub(super) fn ones(width: u32) -> u128 {
    u128::MAX.checked_shr(128u32.saturating_sub(width)).unwrap_or(0)
}

/// The mask of the first `len` of `width` bits.
pub(super) fn prefix_mask(width: u32, len: u32) -> u128 {
    ones(width) & !ones(width).checked_shr(len).unwrap_or(0)
}

/// `target` names what the literal is for: "exact key `ipv4.protocol` (u8)".
pub(super) fn fit(lit: &Lit, width: u32, target: &str) -> Result<Norm, Issue> {
    match *lit {
        Lit::Value(v) => Ok(Norm::Value(value(v, width, target, false)?)),
        Lit::Prefix(v, len) => {
            let addr = value(v, width, target, false)?;
            if len > width {
                let message = format!("prefix length {len} is longer than {target}");
                return Err(Issue::new(
                    codes::PREFIX_LEN,
                    message,
                    format!("/{len} of {width} bits"),
                    format!("use a length from 0 to {width}"),
                ));
            }
            Ok(Norm::Prefix { value: addr & prefix_mask(width, len), len })
        }
        Lit::Range { lo, hi, inclusive } => {
            let (lo, end) = (value(lo, width, target, false)?, value(hi, width, target, !inclusive)?);
            let hi = if inclusive { Some(end) } else { end.checked_sub(1) };
            match hi {
                Some(hi) if lo <= hi => Ok(Norm::Range { lo, hi }),
                _ => {
                    let help = "write the smaller bound first; `LO..=HI` includes HI, `LO..HI` does not";
                    Err(Issue::new(codes::EMPTY_RANGE, "the range is empty", "matches nothing", help))
                }
            }
        }
        Lit::Ternary { value: v, mask: m } => {
            let (value_bits, mask_bits) = (value(v, width, target, false)?, value(m, width, target, false)?);
            if value_bits & !mask_bits != 0 {
                let cleared = Val { value: value_bits & mask_bits, ..v };
                let help = format!("those bits can never match; clear them: `{} &&& {}`", show(cleared), show(m));
                let label = format!("{} has bits outside {}", show(v), show(m));
                return Err(Issue::new(codes::MASK, "the value has bits outside the mask", label, help));
            }
            Ok(Norm::Ternary { value: value_bits, mask: mask_bits })
        }
        Lit::Any => Ok(Norm::Any),
        Lit::Bool(b) => Ok(Norm::Bool(b)),
    }
}

/// A value as its kind writes it: hex for integers, addresses as addresses.
fn show(v: Val) -> String {
    match v.kind {
        ValKind::Int => format!("{:#x}", v.value),
        ValKind::Ipv4 => u32::try_from(v.value).map_or_else(|_| format!("{:#x}", v.value), |a| Ipv4Addr::from(a).to_string()),
        ValKind::Ipv6 => Ipv6Addr::from(v.value).to_string(),
        ValKind::Mac => {
            let bytes = v.value.to_be_bytes();
            let mac: Vec<String> = bytes.iter().skip(10).map(|b| format!("{b:02x}")).collect();
            mac.join(":")
        }
    }
}

/// One value for a `width`-bit target. `end_exclusive` also allows `2^width`
/// (the end of a range `LO..HI` that covers the top value).
fn value(v: Val, width: u32, target: &str, end_exclusive: bool) -> Result<u128, Issue> {
    if let Some(natural) = v.kind.width()
        && natural != width
    {
        let message = format!("{} is {natural} bits but {target} is {width} bits", v.kind.name());
        let help = match width {
            128 => "a 128-bit key takes an IPv6 address or an integer".to_string(),
            _ => format!("write an integer of at most {width} bits"),
        };
        return Err(Issue::new(codes::FIT, message, format!("{natural}-bit address"), help));
    }
    let top = ones(width);
    let fits = v.value <= top || (end_exclusive && width < 128 && v.value == top + 1);
    if !fits {
        let bits = 128 - v.value.leading_zeros();
        let help = format!("the largest {width}-bit value is {top} ({top:#x})");
        return Err(Issue::new(codes::FIT, format!("the value does not fit {target}"), format!("needs {bits} bits"), help));
    }
    Ok(v.value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::literal::parse;

    fn f(text: &str, width: u32) -> Result<Norm, &'static str> {
        let lit = parse(text).map_err(|i| i.code)?;
        fit(&lit, width, "key `k`").map_err(|i| i.code)
    }

    #[test]
    fn widths() {
        assert_eq!(ones(0), 0);
        assert_eq!(ones(8), 0xff);
        assert_eq!(ones(128), u128::MAX);
        assert_eq!(f("255", 8), Ok(Norm::Value(255)));
        assert_eq!(f("256", 8), Err(codes::FIT));
        assert_eq!(f("198.18.0.1", 64), Err(codes::FIT));
        assert_eq!(f("198.18.0.1", 32), Ok(Norm::Value(0xc612_0001)));
        assert_eq!(f("::1", 128), Ok(Norm::Value(1)));
        assert_eq!(f("02:00:00:00:00:01", 48), Ok(Norm::Value(0x0200_0000_0001)));
    }

    #[test]
    fn shapes() {
        assert_eq!(f("198.18.0.1/15", 32), Ok(Norm::Prefix { value: 0xc612_0000, len: 15 }));
        assert_eq!(f("2001:db8::/32", 128), Ok(Norm::Prefix { value: 0x2001_0db8_u128 << 96, len: 32 }));
        assert_eq!(f("0/128", 128), Ok(Norm::Prefix { value: 0, len: 128 }));
        assert_eq!(f("10.0.0.0/33", 32), Err(codes::PREFIX_LEN));
        assert_eq!(f("0..256", 8), Ok(Norm::Range { lo: 0, hi: 255 }));
        assert_eq!(f("0..257", 8), Err(codes::FIT));
        assert_eq!(f("5..5", 8), Err(codes::EMPTY_RANGE));
        assert_eq!(f("0..0", 8), Err(codes::EMPTY_RANGE));
        assert_eq!(f("9..=3", 8), Err(codes::EMPTY_RANGE));
        assert_eq!(f("0x0800 &&& 0xff00", 16), Ok(Norm::Ternary { value: 0x800, mask: 0xff00 }));
        assert_eq!(f("0x0801 &&& 0xff00", 16), Err(codes::MASK));
    }
}
