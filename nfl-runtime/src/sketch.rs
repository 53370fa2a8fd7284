//! Reading sketches back: the map value a program wrote, decoded by the
//! Rust twin in `kfunc-lib` (same hashes, same layout; docs/kfunc-lib.md).
//! HyperLogLog registers are per CPU and merged by maximum, which is
//! exactly the union of what each CPU saw.

use kfunc_lib::{bloom::Bloom, count_min::CountMin, count_sketch::CountSketch, hll::Hll};
use nfl_compiler::hir::SketchKind;
use nfl_compiler::schema::{Schema, SketchSchema};

use crate::cp_error::ControlError;
use crate::nf::{RunningNf, suggest};
use crate::state::{MapRead, StateError};

/// A sketch's state, decoded.
pub enum SketchState {
    CountMin(CountMin),
    CountSketch(CountSketch),
    Bloom(Bloom),
    Hyperloglog(Hll),
}

/// What a query tells.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Answer {
    /// Count-min: an estimate never below the true count.
    Count(u32),
    /// Count sketch: the median estimate (may be negative).
    Signed(i64),
    /// Bloom filter: possibly present (true) or certainly absent.
    Present(bool),
    /// HyperLogLog: distinct keys seen.
    Distinct(f64),
}

impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Answer::Count(n) => write!(f, "{n}"),
            Answer::Signed(n) => write!(f, "{n}"),
            Answer::Present(true) => write!(f, "maybe present"),
            Answer::Present(false) => write!(f, "absent"),
            Answer::Distinct(n) => write!(f, "{n:.0} distinct"),
        }
    }
}

fn shape_err(name: &str, e: impl std::fmt::Display) -> StateError {
    StateError::Schema(format!("sketch `{name}`: {e}"))
}

/// The sketch called `name` in `schema`.
pub fn find<'s>(schema: &'s Schema, name: &str) -> Option<&'s SketchSchema> {
    schema.sketches.iter().find(|s| s.name == name)
}

/// Read and decode the sketch's map.
pub fn read(maps: &(impl MapRead + ?Sized), s: &SketchSchema) -> Result<SketchState, StateError> {
    let shape = maps.shape_of(&s.name)?;
    let value = maps.lookup(&s.name, &0u32.to_ne_bytes())?.ok_or_else(|| shape_err(&s.name, "the array has no entry 0"))?;
    let bytes = &value[..shape.value_size.min(value.len())];
    let e = |e| shape_err(&s.name, e);
    Ok(match s.kind {
        SketchKind::CountMin | SketchKind::Topk => SketchState::CountMin(CountMin::from_bytes(s.rows, s.cols, bytes).map_err(e)?),
        SketchKind::CountSketch | SketchKind::Nitro => SketchState::CountSketch(CountSketch::from_bytes(s.rows, s.cols, bytes).map_err(e)?),
        SketchKind::Bloom => SketchState::Bloom(Bloom::from_bytes(s.cols, s.rows, bytes).map_err(e)?),
        SketchKind::Hyperloglog => {
            let copies: Vec<&[u8]> = shape.cpu_values(&value).collect();
            SketchState::Hyperloglog(Hll::merge_max(s.cols.trailing_zeros(), &copies).map_err(e)?)
        }
    })
}

impl SketchState {
    /// The estimate for `key` (encoded by [`encode_key`]); a HyperLogLog
    /// ignores the key and estimates the distinct keys it saw.
    pub fn query(&self, key: &[u8]) -> Answer {
        match self {
            SketchState::CountMin(c) => Answer::Count(c.query(key)),
            SketchState::CountSketch(c) => Answer::Signed(c.query(key)),
            SketchState::Bloom(b) => Answer::Present(b.contains(key)),
            SketchState::Hyperloglog(h) => Answer::Distinct(h.estimate()),
        }
    }

    /// The raw value bytes, as the kernel holds them (per-CPU registers
    /// merged).
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            SketchState::CountMin(c) => c.to_bytes(),
            SketchState::CountSketch(c) => c.to_bytes(),
            SketchState::Bloom(b) => b.to_bytes(),
            SketchState::Hyperloglog(h) => h.to_bytes(),
        }
    }
}

/// Key values laid out as the program hashes them: each slot little-endian
/// at its offset, the rest zero.
pub fn encode_key(s: &SketchSchema, values: &[u64]) -> Vec<u8> {
    encode(&s.key_slots, values)
}

/// Values laid out in `slots` (little-endian), the size padded to 4 bytes
/// as the compiler pads state-map keys.
fn encode(slots: &[(u32, u32)], values: &[u64]) -> Vec<u8> {
    let end = slots.iter().map(|&(off, bytes)| off + bytes).max().unwrap_or(0);
    let mut key = vec![0u8; end.max(1).div_ceil(4) as usize * 4];
    for (&(off, bytes), v) in slots.iter().zip(values) {
        let (off, bytes) = (off as usize, bytes as usize);
        key[off..off + bytes].copy_from_slice(&v.to_le_bytes()[..bytes]);
    }
    key
}

/// The fields a query names: the `per` key of a keyed HyperLogLog, none
/// for a plain one, else the sketch's key.
pub fn query_fields(s: &SketchSchema) -> (&[u32], &[(u32, u32)]) {
    match s.kind {
        SketchKind::Hyperloglog => (&s.per_widths, &s.per_slots),
        _ => (&s.key_widths, &s.key_slots),
    }
}

/// A keyed HyperLogLog's registers for one `per` key, merged over CPUs
/// (`None` when the program never saw that key, or evicted it).
pub fn read_per(maps: &(impl MapRead + ?Sized), s: &SketchSchema, per_key: &[u8]) -> Result<Option<Hll>, StateError> {
    let shape = maps.shape_of(&s.name)?;
    let Some(value) = maps.lookup(&s.name, per_key)? else {
        return Ok(None);
    };
    let copies: Vec<&[u8]> = shape.cpu_values(&value).collect();
    Hll::merge_max(s.cols.trailing_zeros(), &copies).map(Some).map_err(|e| shape_err(&s.name, e))
}

/// One key value from the command line: an IPv4 address, a MAC address,
/// or an integer (decimal or `0x` hex) that fits `width` bits.
pub fn parse_value(text: &str, width: u32) -> Result<u64, String> {
    let parsed = if text.contains('.') {
        text.parse::<std::net::Ipv4Addr>().map(|a| u64::from(u32::from(a))).map_err(|_| format!("`{text}` is not an IPv4 address"))
    } else if text.contains(':') {
        let parts: Vec<&str> = text.split(':').collect();
        let mac = parts.iter().try_fold(0u64, |acc, p| u8::from_str_radix(p, 16).map(|b| acc << 8 | u64::from(b)));
        match mac {
            Ok(v) if parts.len() == 6 => Ok(v),
            _ => Err(format!("`{text}` is not a MAC address")),
        }
    } else if let Some(hex) = text.strip_prefix("0x") {
        u64::from_str_radix(hex, 16).map_err(|_| format!("`{text}` is not a hex number"))
    } else {
        text.parse::<u64>().map_err(|_| format!("`{text}` is not a number, an IPv4 or a MAC address"))
    }?;
    if width < 64 && parsed >> width != 0 {
        return Err(format!("`{text}` does not fit in {width} bits"));
    }
    Ok(parsed)
}

/// Sketch `sketch` of a running NF, or E0836 with the sketches there are.
fn sketch_of<'n>(nf: &'n RunningNf, sketch: &str) -> Result<&'n SketchSchema, ControlError> {
    find(&nf.schema, sketch).ok_or_else(|| ControlError::UnknownSketch {
        nf: nf.name.clone(),
        sketch: sketch.to_string(),
        help: suggest(sketch, "sketches", nf.schema.sketches.iter().map(|s| s.name.as_str())),
    })
}

/// `nflc sketch query NF SKETCH [KEY..]`: the answer for the key (the
/// sketch's whole-stream estimate for a HyperLogLog, which takes none).
pub fn query_nf(nf: &RunningNf, sketch: &str, key: &[String]) -> Result<(SketchSchema, Answer), ControlError> {
    let s = sketch_of(nf, sketch)?;
    let usage = |message: String| ControlError::Usage { message, help: key_help(s) };
    let (widths, slots) = query_fields(s);
    if key.len() != widths.len() {
        return Err(usage(format!("sketch `{sketch}` takes {} key value(s), not {}", widths.len(), key.len())));
    }
    let values = key.iter().zip(widths).map(|(t, w)| parse_value(t, *w)).collect::<Result<Vec<u64>, String>>().map_err(usage)?;
    let maps = nf.maps()?;
    if !s.per_slots.is_empty() {
        let hll = read_per(&maps, s, &encode(slots, &values)).map_err(ControlError::state(&nf.name))?;
        return Ok((s.clone(), Answer::Distinct(hll.map_or(0.0, |h| h.estimate()))));
    }
    let state = read(&maps, s).map_err(ControlError::state(&nf.name))?;
    Ok((s.clone(), state.query(&encode_key(s, &values))))
}

fn key_help(s: &SketchSchema) -> String {
    if !s.per_slots.is_empty() {
        return format!("give the `per` key of `{}` ({} value(s)): its distinct count", s.name, s.per_widths.len());
    }
    if s.kind == SketchKind::Hyperloglog {
        return format!("a HyperLogLog takes no key: `nflc sketch query NF {}`", s.name);
    }
    let widths: Vec<String> = s.key_widths.iter().map(|w| format!("u{w}")).collect();
    format!("give the key of `{}` as {} value(s) ({}), e.g. 198.18.0.1 or 80", s.name, widths.len(), widths.join(", "))
}

/// A key (as the program lays it out) and its count-min estimate.
pub type Ranked = (Vec<u8>, u32);

/// A top-k's heaviest keys: every candidate the program kept, ranked by
/// its count-min estimate (descending, then key bytes ascending, as the
/// twin's SpaceSaving ranks), at most `n`.
pub fn top(maps: &(impl MapRead + ?Sized), s: &SketchSchema, n: usize) -> Result<Vec<Ranked>, StateError> {
    if !s.per_slots.is_empty() {
        return top_per(maps, s, n);
    }
    let SketchState::CountMin(cm) = read(maps, s)? else {
        return Err(shape_err(&s.name, "not a top-k"));
    };
    let keys = maps.keys(&nfl_compiler::build::sketch::top_map(&s.name))?;
    let mut ranked: Vec<Ranked> = keys.into_iter().map(|k| {
        let est = cm.query(&k);
        (k, est)
    }).collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ranked.truncate(n);
    Ok(ranked)
}

/// A keyed HyperLogLog's `per` keys with the most distinct keys.
fn top_per(maps: &(impl MapRead + ?Sized), s: &SketchSchema, n: usize) -> Result<Vec<Ranked>, StateError> {
    let keys = maps.keys(&s.name)?;
    let mut ranked = Vec::new();
    for k in keys {
        if let Some(hll) = read_per(maps, s, &k)? {
            ranked.push((k, hll.estimate().round() as u32));
        }
    }
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ranked.truncate(n);
    Ok(ranked)
}

/// A key's field values, read back from its layout.
pub fn decode_key(s: &SketchSchema, key: &[u8]) -> Vec<u64> {
    decode(&s.key_slots, key)
}

fn decode(slots: &[(u32, u32)], key: &[u8]) -> Vec<u64> {
    slots
        .iter()
        .map(|&(off, bytes)| {
            let mut v = [0u8; 8];
            let (off, bytes) = (off as usize, bytes as usize);
            v[..bytes].copy_from_slice(&key[off..off + bytes]);
            u64::from_le_bytes(v)
        })
        .collect()
}

/// A key as text: its fields (32-bit ones as IPv4 addresses, 48-bit ones as
/// MACs), comma-separated.
pub fn key_text(s: &SketchSchema, key: &[u8]) -> String {
    let (widths, slots) = if s.per_slots.is_empty() { (&s.key_widths, &s.key_slots) } else { (&s.per_widths, &s.per_slots) };
    let fields: Vec<String> = decode(slots, key).iter().zip(widths).map(|(v, w)| crate::notation::value("addr", *w, u128::from(*v))).collect();
    fields.join(",")
}

/// `nflc sketch top NF SKETCH -n N`.
pub fn top_nf(nf: &RunningNf, sketch: &str, n: usize) -> Result<(SketchSchema, Vec<Ranked>), ControlError> {
    let s = sketch_of(nf, sketch)?;
    if s.kind != SketchKind::Topk && s.per_slots.is_empty() {
        let tops: Vec<String> = nf.schema.sketches.iter().filter(|s| s.kind == SketchKind::Topk).map(|s| format!("`{}`", s.name)).collect();
        let help = if tops.is_empty() { "declare one: `sketch NAME: topk(k = 20, eps = 0.001, delta = 0.01) keyed KEY`".to_string() } else { format!("the top-k sketches are {}", tops.join(", ")) };
        return Err(ControlError::Usage { message: format!("sketch `{sketch}` is not a top-k"), help });
    }
    let ranked = top(&nf.maps()?, s, n).map_err(ControlError::state(&nf.name))?;
    Ok((s.clone(), ranked))
}
