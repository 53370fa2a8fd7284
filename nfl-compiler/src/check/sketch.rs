//! Sketches (E0340–E0342): sizing and methods.
//!
//! - `sketch NAME: count_min(eps = E, delta = D) keyed K` (or `rows = R`,
//!   `cols = C`); `count_sketch(...)` likewise; `bloom(items = N, fp = P)`
//!   (or `bits = M`, `hashes = H`); `hyperloglog(p = 14)`.
//! - `S.add()`, `S.add(n)`, `S.add(k.., n)` count; Bloom and HyperLogLog
//!   take `S.add()` or `S.add(k..)`. `S.query()` / `S.query(k..)` reads a
//!   count, `S.contains()` / `S.contains(k..)` tests a Bloom filter and
//!   `S.insert(..)` adds to it, true when the key was new. A
//!   HyperLogLog is read by the control plane (`nflc sketch query`).
//!
//! The declared key is checked like a meter's: typed once, its headers
//! required valid wherever a method uses it.

use nfl_syntax::Diagnostic;
use nfl_syntax::ast::{self, ExprKind as AK, Span};

use super::Checker;
use super::expr::{Cx, Mode};
use super::objects::KeySig;
use crate::hir::{self, ExprKind, SketchHir, SketchId, SketchKind, Ty};

/// Most hash rows of a count-min, count sketch or Bloom filter.
pub const MAX_ROWS: u64 = 16;
/// Most counters (or Bloom words) in one sketch: 4 MiB, the largest map
/// value the kernel allocates.
pub const MAX_CELLS: u64 = 1 << 20;
/// HyperLogLog precision bounds: 2^p one-byte registers per CPU, and a
/// per-CPU value may be at most 32 KiB.
pub const HLL_P: (u64, u64) = (4, 15);
/// Values of the `per` key a keyed HyperLogLog keeps by default.
pub const DEFAULT_PER_SIZE: u64 = 1024;
/// Most keys a top-k reports.
pub const MAX_TOPK: u64 = 1024;

/// The power of two at least `x` and `min`; sizes beyond 2^62 read as 2^62
/// (every caller refuses them as too big).
fn pow2_at_least(x: f64, min: u64) -> u64 {
    if x.is_nan() || x >= (1u64 << 62) as f64 {
        return 1 << 62;
    }
    (x.ceil() as u64).max(min).next_power_of_two()
}

fn sizing_error(o: &ast::ObjectDecl, msg: String, label: String, help: &str) -> Diagnostic {
    Diagnostic::error("nfl::E0340", msg, o.span, label).with_help(help.to_string())
}

impl<'a> Checker<'a> {
    /// A fraction argument (`eps = 0.001`); `None` when absent or wrong.
    fn named_fraction(&mut self, o: &ast::ObjectDecl, name: &str) -> Option<f64> {
        let arg = o.args.iter().find(|a| a.name.name == name)?;
        let v = match arg.value.kind {
            AK::Decimal { units, scale } => units as f64 / 10f64.powi(scale as i32),
            AK::Int(v) => v as f64,
            _ => f64::NAN,
        };
        if v > 0.0 && v < 1.0 {
            return Some(v);
        }
        self.emit(
            Diagnostic::error("nfl::E0340", format!("`{name}` must be a fraction between 0 and 1"), arg.value.span, "not in (0, 1)")
                .with_help(format!("write it as a decimal: `{name} = 0.01`")),
        );
        None
    }

    /// A power-of-two size argument within `1..=max`.
    fn named_pow2(&mut self, o: &ast::ObjectDecl, name: &str, max: u64) -> Option<u64> {
        let v = self.named_const(o, name, false)?;
        if v.is_power_of_two() && v <= max {
            return Some(v);
        }
        let near = v.checked_next_power_of_two().unwrap_or(max).min(max);
        let span = o.args.iter().find(|a| a.name.name == name).map_or(o.span, |a| a.span);
        self.emit(
            Diagnostic::error("nfl::E0340", format!("`{name}` must be a power of two up to {max}"), span, format!("{name} = {v}"))
                .with_help(format!("indexes are hash bits, so sizes are powers of two: try `{name} = {near}`")),
        );
        None
    }

    pub(crate) fn lower_sketch(&mut self, o: &'a ast::ObjectDecl) {
        let kind = SketchKind::from_ctor(&o.ctor.name);
        if kind.is_none() {
            self.emit(
                Diagnostic::error("nfl::E0337", format!("unknown sketch kind `{}`", o.ctor.name), o.ctor.span, "unknown kind")
                    .with_help("the sketches are count_min, count_sketch, nitro, topk, bloom and hyperloglog"),
            );
        }
        let kind = kind.unwrap_or(SketchKind::CountMin);
        let mut cx = Cx::new(Mode::Control);
        cx.deferred = true;
        let key = self.object_key(&mut cx, o, "sketch");
        if o.keyed.is_none() {
            self.emit(
                Diagnostic::error("nfl::E0340", "a sketch needs a key", o.name.span, "no `keyed ...`")
                    .with_help(format!("say what it counts: `sketch {}: {}(...) keyed ipv4.src`", o.name.name, o.ctor.name)),
            );
        }
        // Typed with the key, so that its headers join the key's requirements.
        let per = o.per.as_ref().map(|p| self.sketch_per(&mut cx, o, kind, p));
        self.sketch_sigs.push(KeySig { requires: std::mem::take(&mut cx.requires) });
        let size = match kind {
            SketchKind::CountMin | SketchKind::CountSketch | SketchKind::Topk | SketchKind::Nitro => self.counter_size(o, kind),
            SketchKind::Bloom => self.bloom_size(o),
            SketchKind::Hyperloglog => self.hll_size(o),
        };
        let (rows, cols) = size.unwrap_or((1, 2));
        let mut sk = SketchHir { name: o.name.name.clone(), kind, rows, cols, k: 0, candidates: 0, sample_log2: 0, per: Vec::new(), per_size: 0, key, span: o.span };
        if let Some((keys, size)) = per {
            (sk.per, sk.per_size) = (keys, size);
        }
        match kind {
            SketchKind::Topk => (sk.k, sk.candidates) = self.topk_size(o),
            SketchKind::Nitro => sk.sample_log2 = self.nitro_rate(o),
            _ => {}
        }
        if size.is_some() {
            // Before the Bloom filter's false-positive line, which comes first.
            let at = self.explain.iter().rposition(|l| !l.starts_with(&format!("sketch {}:", o.name.name))).map_or(0, |i| i + 1);
            self.explain.insert(at, sketch_explain(&sk));
        }
        self.sketches.push(sk);
    }

    /// `k` (default 20) and the candidate set (default `max(64·k, 1024)`).
    fn topk_size(&mut self, o: &ast::ObjectDecl) -> (u32, u32) {
        let k = match self.named_const(o, "k", false) {
            Some(k) if (1..=MAX_TOPK).contains(&k) => k,
            None => 20,
            Some(k) => {
                self.emit(sizing_error(o, format!("a top-k reports 1 to {MAX_TOPK} keys"), format!("k = {k}"), "`topk(k = 20, ...)`"));
                20
            }
        };
        let min = (k * 16).next_power_of_two();
        let cand = match self.named_const(o, "candidates", false) {
            Some(c) if (min..=1 << 20).contains(&c) => c,
            None => (k * 64).max(1024),
            Some(c) => {
                self.emit(sizing_error(o, format!("a top-{k} keeps {min} to 1048576 candidates"), format!("candidates = {c}"), "the candidate set must hold many more keys than `k`, or heavy keys get evicted by the tail"));
                min
            }
        };
        (k as u32, cand as u32)
    }

    /// `p = 2^-d` (default 1/8) as `d`.
    fn nitro_rate(&mut self, o: &ast::ObjectDecl) -> u32 {
        let Some(p) = self.named_fraction(o, "p") else { return 3 };
        let d = (1.0 / p).log2().round();
        if (1.0..=16.0).contains(&d) && (2f64.powf(-d) - p).abs() < 1e-12 {
            return d as u32;
        }
        let span = o.args.iter().find(|a| a.name.name == "p").map_or(o.span, |a| a.value.span);
        self.emit(
            Diagnostic::error("nfl::E0340", "NitroSketch samples with a probability 1/2, 1/4, ... down to 1/65536", span, "not a power of 1/2")
                .with_help("each sampled update adds 2^d, exactly 1/p: `p = 0.125` samples one row update in 8"),
        );
        3
    }

    /// Rows from `rows` or `delta`, columns from `cols` or `eps`.
    fn counter_size(&mut self, o: &ast::ObjectDecl, kind: SketchKind) -> Option<(u32, u32)> {
        let extra: &[&str] = match kind {
            SketchKind::Topk => &["k", "candidates"],
            SketchKind::Nitro => &["p"],
            _ => &[],
        };
        self.check_args(o, &[&["eps", "delta", "rows", "cols"], extra].concat());
        let rows = match self.named_const(o, "rows", false) {
            Some(r) if (1..=MAX_ROWS).contains(&r) => Some(r),
            Some(r) => {
                self.emit(sizing_error(o, format!("a sketch has 1 to {MAX_ROWS} rows"), format!("rows = {r}"), "each row costs a hash per packet; 4 or 5 rows are typical"));
                None
            }
            None => self.named_fraction(o, "delta").map(|d| ((1.0 / d).ln().ceil() as u64).clamp(1, MAX_ROWS)),
        };
        let cols = match self.named_pow2(o, "cols", MAX_CELLS) {
            Some(c) => Some(c),
            None if o.args.iter().any(|a| a.name.name == "cols") => return None,
            None => self.named_fraction(o, "eps").map(|e| {
                let want = match kind {
                    SketchKind::CountSketch | SketchKind::Nitro => 3.0 / (e * e),
                    _ => std::f64::consts::E / e,
                };
                pow2_at_least(want, 2)
            }),
        };
        let given = |names: [&str; 2]| o.args.iter().any(|a| names.contains(&a.name.name.as_str()));
        if !given(["rows", "delta"]) || !given(["cols", "eps"]) {
            let c = kind.ctor();
            self.emit(sizing_error(o, format!("size the {c} by error bounds or by shape"), "no size".into(), &format!("`{c}(eps = 0.001, delta = 0.01)` or `{c}(rows = 4, cols = 2048)`")));
        }
        let (rows, cols) = (rows?, cols?);
        let cells = rows.saturating_mul(cols);
        if cells > MAX_CELLS {
            self.emit(sizing_error(o, format!("the sketch needs {rows} × {cols} counters, more than {MAX_CELLS}"), format!("{} MiB", cells.saturating_mul(4) >> 20), "loosen `eps` or give fewer rows: one sketch lives in one map value of at most 4 MiB"));
            return None;
        }
        Some((rows as u32, cols as u32))
    }

    fn bloom_size(&mut self, o: &ast::ObjectDecl) -> Option<(u32, u32)> {
        self.check_args(o, &["items", "fp", "bits", "hashes"]);
        let max_bits = MAX_CELLS * 32;
        let bits = match self.named_pow2(o, "bits", max_bits) {
            Some(b) if b >= 32 => Some(b),
            Some(b) => {
                self.emit(sizing_error(o, "a Bloom filter has at least 32 bits".into(), format!("bits = {b}"), "bits are kept in 32-bit words"));
                return None;
            }
            None if o.args.iter().any(|a| a.name.name == "bits") => return None,
            None => match (self.named_const(o, "items", false), self.named_fraction(o, "fp")) {
                (Some(n), Some(p)) if n >= 1 => Some(pow2_at_least(n as f64 * -p.ln() / std::f64::consts::LN_2.powi(2), 32)),
                _ => None,
            },
        };
        let items = self.named_const(o, "items", false);
        let Some(bits) = bits else {
            self.emit(sizing_error(o, "size the Bloom filter by items and false-positive rate, or by bits".into(), "no size".into(), "`bloom(items = 100000, fp = 0.01)` or `bloom(bits = 1048576, hashes = 7)`"));
            return None;
        };
        if bits > max_bits {
            self.emit(sizing_error(o, format!("the Bloom filter needs {bits} bits, more than {max_bits}"), "too big".into(), "one filter lives in one map value of at most 4 MiB; allow a higher `fp`"));
            return None;
        }
        let hashes = match (self.named_const(o, "hashes", false), items) {
            (Some(h), _) if (1..=MAX_ROWS).contains(&h) => h,
            (Some(h), _) => {
                self.emit(sizing_error(o, format!("a Bloom filter has 1 to {MAX_ROWS} hashes"), format!("hashes = {h}"), "each hash sets one bit per key; about bits/items × ln 2 is best"));
                return None;
            }
            (None, Some(n)) if n >= 1 => ((bits as f64 / n as f64) * std::f64::consts::LN_2).round() as u64,
            _ => 7,
        };
        let hashes = hashes.clamp(1, MAX_ROWS);
        if let Some(n) = items.filter(|n| *n >= 1) {
            let k = hashes as f64;
            let fp = (1.0 - (-k * n as f64 / bits as f64).exp()).powf(k);
            self.explain.push(format!("sketch {}: {fp:.2e} false positives expected at {n} items", o.name.name));
        }
        Some((hashes as u32, bits as u32))
    }

    /// `keyed K per P`: P typed, and how many values of P are kept.
    fn sketch_per(&mut self, cx: &mut Cx, o: &ast::ObjectDecl, kind: SketchKind, per: &[ast::Expr]) -> (Vec<hir::Expr>, u32) {
        if kind != SketchKind::Hyperloglog {
            let span = per.first().map_or(o.span, |e| e.span);
            self.emit(
                Diagnostic::error("nfl::E0340", format!("a {} is not kept per key", kind.ctor()), span, "`per` here")
                    .with_help("`keyed K per P` is for a hyperloglog (distinct K for each P); key a counting sketch by the tuple `(P, K)` instead"),
            );
            return (Vec::new(), 0);
        }
        let keys = self.typed_key(cx, per, "sketch");
        let size = match self.named_const(o, "size", false) {
            Some(n) if (1..=MAX_CELLS).contains(&n) => n,
            None => DEFAULT_PER_SIZE,
            Some(n) => {
                self.emit(sizing_error(o, format!("a keyed HyperLogLog keeps 1 to {MAX_CELLS} keys"), format!("size = {n}"), "`size` is how many values of the `per` key are kept (least recently seen evicted)"));
                DEFAULT_PER_SIZE
            }
        };
        (keys, size as u32)
    }

    fn hll_size(&mut self, o: &ast::ObjectDecl) -> Option<(u32, u32)> {
        self.check_args(o, if o.per.is_some() { &["p", "size"] } else { &["p"] });
        let p = self.named_const(o, "p", false).unwrap_or(14);
        if !(HLL_P.0..=HLL_P.1).contains(&p) {
            self.emit(sizing_error(o, format!("a HyperLogLog's `p` is {} to {}", HLL_P.0, HLL_P.1), format!("p = {p}"), "2^p registers of one byte per CPU; p = 14 gives about 0.8% standard error"));
            return None;
        }
        Some((1, 1 << p))
    }

    /// `S.add(...)` as a statement.
    pub(crate) fn sketch_add(&mut self, cx: &mut Cx, s: usize, name: &str, args: &[ast::Expr], span: Span) -> Option<hir::Stmt> {
        let sk = self.sketches.get(s)?;
        let (kind, arity) = (sk.kind, sk.key.len());
        let (key_args, amount) = match (kind.counts(), args.len()) {
            (_, 0) => (None, None),
            (true, 1) => (None, Some(&args[0])),
            (true, n) if n == arity + 1 => (Some(&args[..arity]), Some(&args[arity])),
            (false, n) if n == arity => (Some(args), None),
            _ => {
                let forms = if kind.counts() { format!("`{name}.add()`, `{name}.add(n)` or `{name}.add(key, n)`") } else { format!("`{name}.add()` or `{name}.add(key)`") };
                self.emit(Diagnostic::error("nfl::E0308", format!("wrong arguments to `{name}.add`"), span, "wrong number of arguments").with_help(format!("call it as {forms}")));
                return None;
            }
        };
        let key = self.sketch_key(cx, s, name, key_args, span)?;
        let amount = match amount {
            Some(a) => self.expr_as(cx, a, Ty::UInt(32), None, "the amount")?,
            None => hir::Expr { kind: ExprKind::Const(1), ty: Ty::UInt(32), span },
        };
        Some(hir::Stmt::SketchAdd { sketch: SketchId(s as u32), key, amount, span })
    }

    /// `S.query(..)` / `S.contains(..)` as a value.
    pub(crate) fn sketch_read(&mut self, cx: &mut Cx, s: usize, name: &str, method: &ast::Ident, args: &[ast::Expr], span: Span) -> Option<hir::Expr> {
        let kind = self.sketches.get(s)?.kind;
        let (want, ty) = match kind {
            SketchKind::CountMin | SketchKind::Topk | SketchKind::CountSketch | SketchKind::Nitro => ("query", Ty::UInt(32)),
            SketchKind::Bloom if method.name == "insert" => ("insert", Ty::Bool),
            SketchKind::Bloom => ("contains", Ty::Bool),
            SketchKind::Hyperloglog => {
                self.emit(
                    Diagnostic::error("nfl::E0341", "a HyperLogLog's estimate is read by the control plane, not per packet", span, format!("`{}` here", method.name))
                        .with_help(format!("add to it here (`{name}.add()`) and read it with `nflc sketch query NF {name}`")),
                );
                return None;
            }
        };
        if method.name != want {
            let reads = if kind == SketchKind::Bloom { "`contains(..)`, `insert(..)`" } else { "`query(..)`" };
            self.no_method(kind.ctor(), name, method, &format!("`add(..)` and {reads}"));
            return None;
        }
        let key_args = (!args.is_empty()).then_some(args);
        let key = self.sketch_key(cx, s, name, key_args, span)?;
        Some(hir::Expr { kind: ExprKind::SketchRead { sketch: SketchId(s as u32), key, insert: want == "insert" }, ty, span })
    }

    /// The declared key (its headers required valid here) or the given one.
    fn sketch_key(&mut self, cx: &mut Cx, s: usize, name: &str, given: Option<&[ast::Expr]>, span: Span) -> Option<Vec<hir::Expr>> {
        let declared = self.sketches.get(s)?.key.clone();
        let Some(given) = given else {
            let requires = self.sketch_sigs.get(s).map(|k| k.requires.clone()).unwrap_or_default();
            self.require_all(cx, requires, &format!("sketch `{name}` is used"), span);
            return Some(declared);
        };
        if given.len() != declared.len() {
            self.emit(
                Diagnostic::error("nfl::E0308", format!("`{name}` is keyed by {} value(s), not {}", declared.len(), given.len()), span, "wrong key")
                    .with_help("give every key value, in the order of `keyed`, or none to use the declared key"),
            );
            return None;
        }
        let mut key = Vec::new();
        for (a, d) in given.iter().zip(&declared) {
            key.push(self.expr_as(cx, a, d.ty, None, "a key value")?);
        }
        Some(key)
    }
}

fn sketch_explain(s: &SketchHir) -> String {
    let (name, kind, rows, cols) = (&s.name, s.kind, s.rows, s.cols);
    let kib = |bytes: u64| if bytes >= 1 << 20 { format!("{} MiB", bytes >> 20) } else { format!("{} KiB", (bytes >> 10).max(1)) };
    match kind {
        SketchKind::CountMin => format!(
            "sketch {name}: count-min, {rows} rows × {cols} u32 counters ({}, one array value, atomic adds); query overestimates by at most {:.3e}·N with probability {:.4}",
            kib(u64::from(rows) * u64::from(cols) * 4),
            std::f64::consts::E / f64::from(cols),
            1.0 - (-f64::from(rows)).exp()
        ),
        SketchKind::CountSketch => format!(
            "sketch {name}: count sketch, {rows} rows × {cols} i32 counters ({}, one array value, atomic adds); error at most {:.3e}·‖f‖₂ with probability {:.4}",
            kib(u64::from(rows) * u64::from(cols) * 4),
            (3.0 / f64::from(cols)).sqrt(),
            1.0 - (-f64::from(rows)).exp()
        ),
        SketchKind::Topk => format!(
            "sketch {name}: top-{}, a count-min of {rows} rows × {cols} u32 counters ({}, atomic adds; overestimates by at most {:.3e}·N with probability {:.4}) and an LRU hash of {} candidate keys",
            s.k,
            kib(u64::from(rows) * u64::from(cols) * 4),
            std::f64::consts::E / f64::from(cols),
            1.0 - (-f64::from(rows)).exp(),
            s.candidates
        ),
        SketchKind::Nitro => format!(
            "sketch {name}: NitroSketch, {rows} rows × {cols} i32 counters ({}, atomic adds); each row update sampled with p = 1/{} from a pool of geometric gaps (per-CPU cursor), adding ±{}·n",
            kib(u64::from(rows) * u64::from(cols) * 4),
            1u32 << s.sample_log2,
            1u32 << s.sample_log2
        ),
        SketchKind::Bloom => format!("sketch {name}: Bloom filter, {cols} bits ({}, one array value, atomic ors), {rows} hashes", kib(u64::from(cols) / 8)),
        SketchKind::Hyperloglog if !s.per.is_empty() => format!(
            "sketch {name}: a HyperLogLog per key, p = {}, {cols} one-byte registers per key per CPU ({} each) for up to {} keys (an LRU per-CPU hash: {} per CPU); standard error {:.2}%",
            cols.trailing_zeros(),
            kib(u64::from(cols)),
            s.per_size,
            kib(u64::from(cols) * u64::from(s.per_size)),
            104.0 / f64::from(cols).sqrt()
        ),
        SketchKind::Hyperloglog => format!(
            "sketch {name}: HyperLogLog, p = {}, {cols} one-byte registers per CPU ({} each); standard error {:.2}%",
            cols.trailing_zeros(),
            kib(u64::from(cols)),
            104.0 / f64::from(cols).sqrt()
        ),
    }
}
