//! A reference interpreter for checked programs (`nfl_compiler::hir::Hir`),
//! written from `docs/language.md` alone, for differential tests against the
//! compiled code running in the kernel.
//!
//! It runs the parser (states, `extract` with bounds, header stacks filling
//! in order, `skip`, `select` with normalised patterns in order, `.last`),
//! then the control block (unsigned arithmetic wrapping at the expression's
//! width, `x / 0 == 0`, `x % 0 == x`, shifts by the width or more give 0,
//! casts truncate or zero-extend), with header fields read and written as
//! big-endian bit fields in the packet.
#![allow(dead_code)]

use nfl_compiler::hir::{
    BinOp, Block, Expr, ExprKind, HdrSel, Hir, Pattern, PktField, Place, Stmt, Target, Transition, UnOp,
};
use nfl_syntax::ast::{Hook, Overflow, VerdictKind};

/// `skip` advances at most this many bytes at a time; more rejects.
pub const MAX_SKIP: u64 = 4096;

/// How a program ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Drop,
    Tx,
    Abort,
    Redirect(u32),
}

/// The result of running a program on one packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub verdict: Verdict,
    /// `true` when the verdict came from falling off the end of the control.
    pub fell_off: bool,
    pub rejected: bool,
    /// The packet after the program's writes.
    pub packet: Vec<u8>,
}

impl Outcome {
    /// The program's return value at `hook`, as `BPF_PROG_TEST_RUN` reports it.
    pub fn retval(&self, hook: Hook) -> u32 {
        retval(hook, self.verdict)
    }
}

/// Verdicts to return codes: XDP (abort 0, drop 1, pass 2, tx 3, redirect 4)
/// and TC (pass 0 `TC_ACT_OK`, drop and abort 2 `TC_ACT_SHOT`, tx and redirect
/// 7 `TC_ACT_REDIRECT` from `bpf_redirect`).
pub fn retval(hook: Hook, v: Verdict) -> u32 {
    match (hook, v) {
        (Hook::Xdp, Verdict::Abort) => 0,
        (Hook::Xdp, Verdict::Drop) => 1,
        (Hook::Xdp, Verdict::Pass) => 2,
        (Hook::Xdp, Verdict::Tx) => 3,
        (Hook::Xdp, Verdict::Redirect(_)) => 4,
        (Hook::Tc, Verdict::Pass) => 0,
        (Hook::Tc, Verdict::Drop | Verdict::Abort) => 2,
        (Hook::Tc, Verdict::Tx | Verdict::Redirect(_)) => 7,
    }
}

/// All ones in the low `w` bits.
pub fn ones(w: u32) -> u64 {
    if w >= 64 { u64::MAX } else { (1u64 << w) - 1 }
}

/// Read `width` bits starting `bit_off` bits into `buf`, most significant
/// bit first (network order).
pub fn read_bits(buf: &[u8], bit_off: usize, width: u32) -> u64 {
    let mut v = 0u64;
    for i in 0..width as usize {
        let b = bit_off + i;
        let bit = (buf[b / 8] >> (7 - b % 8)) & 1;
        v = (v << 1) | u64::from(bit);
    }
    v
}

/// Write the low `width` bits of `v` at `bit_off`, most significant bit first.
pub fn write_bits(buf: &mut [u8], bit_off: usize, width: u32, v: u64) {
    for i in 0..width as usize {
        let b = bit_off + i;
        let bit = ((v >> (width as usize - 1 - i)) & 1) as u8;
        let mask = 1u8 << (7 - b % 8);
        if bit == 1 {
            buf[b / 8] |= mask;
        } else {
            buf[b / 8] &= !mask;
        }
    }
}

/// Whether `v` matches a normalised pattern.
pub fn matches(v: u64, p: &Pattern) -> bool {
    match p {
        Pattern::Any => true,
        Pattern::Value(x) => v == *x,
        Pattern::Mask { value, mask } => v & mask == *value,
        Pattern::Range { lo, hi } => *lo <= v && v <= *hi,
        Pattern::Set(items) => items.iter().any(|p| matches(v, p)),
    }
}

/// The interpreter's state for one packet.
struct Machine<'a> {
    hir: &'a Hir,
    pkt: Vec<u8>,
    ifindex: u32,
    /// Per header, per instance: byte offset in the packet when valid.
    at: Vec<Vec<Option<usize>>>,
    /// Per header: how many instances are filled (stacks fill in order).
    fill: Vec<u32>,
    rejected: bool,
    locals: Vec<Option<u64>>,
    metas: Vec<u64>,
    /// Set when a full stack ended the parse with `overflow pass|drop`.
    overflowed: Option<Verdict>,
    /// The parser's position (`pkt.offset`).
    cursor: u64,
}

/// Run `hir` on `packet`. `ifindex` is what `pkt.ifindex` reads. Errors are
/// states the checker promises cannot happen (e.g. reading a field of an
/// invalid header) or a parser that does not terminate.
pub fn run(hir: &Hir, packet: &[u8], ifindex: u32) -> Result<Outcome, String> {
    let mut m = Machine {
        hir,
        pkt: packet.to_vec(),
        ifindex,
        at: hir.headers.iter().map(|h| vec![None; h.n_instances() as usize]).collect(),
        fill: vec![0; hir.headers.len()],
        rejected: false,
        locals: vec![None; hir.locals.len()],
        metas: vec![0; hir.metas.len()],
        overflowed: None,
        cursor: 0,
    };
    m.rejected = !m.parse()?;
    if let Some(verdict) = m.overflowed {
        // `overflow pass|drop`: the control does not run.
        return Ok(Outcome { verdict, fell_off: false, rejected: false, packet: m.pkt });
    }
    let (verdict, fell_off) = match m.block(&hir.control)? {
        Some(v) => (v, false),
        None => (Verdict::Pass, true),
    };
    Ok(Outcome { verdict, fell_off, rejected: m.rejected, packet: m.pkt })
}

impl Machine<'_> {
    /// Run the parser; `Ok(true)` when it accepted.
    fn parse(&mut self) -> Result<bool, String> {
        let Some(parser) = &self.hir.parser else { return Ok(true) };
        let mut state = parser.start;
        let mut cursor: u64 = 0;
        let len = self.pkt.len() as u64;
        for _step in 0..10_000 {
            let st = parser.states.get(state.index()).ok_or("bad state id")?;
            for stmt in &st.stmts {
                match stmt {
                    nfl_compiler::hir::ParserStmt::Extract { header, .. } => {
                        let h = header.index();
                        let info = &self.hir.headers[h];
                        let idx = self.fill[h];
                        if idx >= info.n_instances() {
                            // A full stack: the parser's `overflow` clause.
                            return Ok(match parser.overflow {
                                Overflow::Reject => false,
                                Overflow::Accept => true,
                                Overflow::Pass | Overflow::Drop => {
                                    self.overflowed = Some(if parser.overflow == Overflow::Pass { Verdict::Pass } else { Verdict::Drop });
                                    true
                                }
                            });
                        }
                        if cursor + u64::from(info.byte_len) > len {
                            return Ok(false); // too short
                        }
                        self.at[h][idx as usize] = Some(cursor as usize);
                        self.fill[h] = idx + 1;
                        cursor += u64::from(info.byte_len);
                        self.cursor = cursor;
                    }
                    nfl_compiler::hir::ParserStmt::Skip { amount, .. } => {
                        let n = self.eval(amount)?;
                        if n > MAX_SKIP {
                            return Ok(false);
                        }
                        // A skip past the end is only noticed by the next extract.
                        cursor += n;
                        self.cursor = cursor;
                    }
                }
            }
            let target = match &st.transition {
                Transition::Accept => Target::Accept,
                Transition::Reject => Target::Reject,
                Transition::Goto(s) => Target::State(*s),
                Transition::Select { keys, cases } => {
                    let mut vals = Vec::with_capacity(keys.len());
                    for k in keys {
                        vals.push(self.eval(k)?);
                    }
                    let hit = cases.iter().find(|c| {
                        c.alternatives.iter().any(|alt| alt.iter().zip(&vals).all(|(p, v)| matches(*v, p)))
                    });
                    match hit {
                        Some(c) => c.target,
                        None => Target::Reject,
                    }
                }
            };
            match target {
                Target::Accept => return Ok(true),
                Target::Reject => return Ok(false),
                Target::State(s) => state = s,
            }
        }
        Err("the parser did not terminate in 10000 states".into())
    }

    fn block(&mut self, b: &Block) -> Result<Option<Verdict>, String> {
        for s in &b.stmts {
            if let Some(v) = self.stmt(s)? {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }

    fn stmt(&mut self, s: &Stmt) -> Result<Option<Verdict>, String> {
        match s {
            Stmt::Apply { .. }
            | Stmt::Count { .. }
            | Stmt::MapSet { .. }
            | Stmt::MapRemove { .. }
            | Stmt::LetElse { .. }
            | Stmt::PoolGive { .. }
            | Stmt::SketchAdd { .. }
            | Stmt::QueuePush { .. } => {
                Err("the reference interpreter has no tables or maps".into())
            }
            Stmt::Reshape { .. } | Stmt::Checksum { .. } => Err("the reference interpreter does not reshape packets".into()),
            Stmt::Let { local, value, .. } => {
                let v = self.eval(value)?;
                self.locals[local.index()] = Some(v);
                Ok(None)
            }
            Stmt::Assign { place, value, .. } => {
                let v = self.eval(value)?;
                match place {
                    Place::Meta(m) => {
                        let w = self.hir.metas[m.index()].ty.width();
                        self.metas[m.index()] = v & ones(w);
                    }
                    Place::Field { header, field } => {
                        let h = header.header.index();
                        let off = self.at[h][header.index as usize]
                            .ok_or_else(|| format!("write to invalid header {}", self.hir.headers[h].name))?;
                        let f = &self.hir.headers[h].fields[*field as usize];
                        write_bits(&mut self.pkt, off * 8 + f.bit_offset as usize, f.width, v & ones(f.width));
                    }
                }
                Ok(None)
            }
            Stmt::If { cond, then_block, else_block, .. } => {
                if self.eval(cond)? != 0 {
                    self.block(then_block)
                } else if let Some(e) = else_block {
                    self.block(e)
                } else {
                    Ok(None)
                }
            }
            Stmt::Verdict { kind, .. } => Ok(Some(match kind {
                VerdictKind::Pass => Verdict::Pass,
                VerdictKind::Drop => Verdict::Drop,
                VerdictKind::Tx => Verdict::Tx,
                VerdictKind::Abort => Verdict::Abort,
            })),
            Stmt::Redirect { ifindex, .. } => Ok(Some(Verdict::Redirect(self.eval(ifindex)? as u32))),
            Stmt::Loop { var, start, end, body, .. } => {
                for i in *start..*end {
                    self.locals[var.index()] = Some(i);
                    if let Some(v) = self.block(body)? {
                        return Ok(Some(v));
                    }
                }
                Ok(None)
            }
            Stmt::Call { action, args, .. } => {
                let a = &self.hir.actions[action.index()];
                let mut vals = Vec::with_capacity(args.len());
                for e in args {
                    vals.push(self.eval(e)?);
                }
                for (p, v) in a.params.iter().zip(vals) {
                    self.locals[p.index()] = Some(v);
                }
                self.block(&a.body)
            }
        }
    }

    fn header_at(&self, sel: HdrSel) -> Result<(usize, usize), String> {
        let (h, i) = match sel {
            HdrSel::Fixed(r) => (r.header.index(), r.index as usize),
            HdrSel::Last(h) => {
                let f = self.fill[h.index()];
                if f == 0 {
                    return Err(format!("`{}.last` with an empty stack", self.hir.headers[h.index()].name));
                }
                (h.index(), f as usize - 1)
            }
        };
        let off = self.at[h][i].ok_or_else(|| format!("read of invalid header {}[{i}]", self.hir.headers[h].name))?;
        Ok((h, off))
    }

    fn eval(&self, e: &Expr) -> Result<u64, String> {
        let mask = ones(e.ty.width());
        Ok(match &e.kind {
            ExprKind::MapGet { .. }
            | ExprKind::MapContains { .. }
            | ExprKind::MaglevHas { .. }
            | ExprKind::MeterTake { .. }
            | ExprKind::SketchRead { .. }
            | ExprKind::QueuePush { .. } => {
                return Err("the reference interpreter has no maps".into());
            }
            ExprKind::Const(v) => v & mask,
            ExprKind::Local(l) => self.locals[l.index()].ok_or("read of an unbound local")? & mask,
            ExprKind::Meta(m) => self.metas[m.index()] & mask,
            ExprKind::Field { header, field } => {
                let (h, off) = self.header_at(*header)?;
                let f = &self.hir.headers[h].fields[*field as usize];
                read_bits(&self.pkt, off * 8 + f.bit_offset as usize, f.width)
            }
            ExprKind::Valid(sel) => {
                let (h, i) = match sel {
                    HdrSel::Fixed(r) => (r.header.index(), r.index as usize),
                    HdrSel::Last(h) => (h.index(), (self.fill[h.index()] as usize).saturating_sub(1)),
                };
                u64::from(self.at[h][i].is_some())
            }
            ExprKind::Pkt(PktField::Len) => self.pkt.len() as u64 & mask,
            ExprKind::Pkt(PktField::Rejected) => u64::from(self.rejected),
            ExprKind::Pkt(PktField::Ifindex) => u64::from(self.ifindex) & mask,
            ExprKind::Pkt(PktField::Offset) => self.cursor & mask,
            ExprKind::Offset(sel) => self.header_at(*sel)?.1 as u64 & mask,
            ExprKind::Unary { op, operand } => {
                let v = self.eval(operand)?;
                match op {
                    UnOp::Not => u64::from(v == 0),
                    UnOp::BitNot => !v & mask,
                    UnOp::Neg => v.wrapping_neg() & mask,
                }
            }
            ExprKind::Binary { op: BinOp::And, lhs, rhs } => u64::from(self.eval(lhs)? != 0 && self.eval(rhs)? != 0),
            ExprKind::Binary { op: BinOp::Or, lhs, rhs } => u64::from(self.eval(lhs)? != 0 || self.eval(rhs)? != 0),
            ExprKind::Binary { op, lhs, rhs } => {
                let w = lhs.ty.width();
                let m = ones(w);
                let a = self.eval(lhs)? & m;
                let b = self.eval(rhs)? & m;
                match op {
                    BinOp::Add => a.wrapping_add(b) & m,
                    BinOp::Sub => a.wrapping_sub(b) & m,
                    BinOp::Mul => a.wrapping_mul(b) & m,
                    BinOp::Div => a.checked_div(b).unwrap_or(0),
                    BinOp::Rem => a.checked_rem(b).unwrap_or(a),
                    BinOp::BitAnd => a & b,
                    BinOp::BitOr => a | b,
                    BinOp::BitXor => a ^ b,
                    BinOp::Shl => {
                        if b >= u64::from(w) {
                            0
                        } else {
                            (a << b) & m
                        }
                    }
                    BinOp::Shr => {
                        if b >= u64::from(w) {
                            0
                        } else {
                            a >> b
                        }
                    }
                    BinOp::Eq => u64::from(a == b),
                    BinOp::Ne => u64::from(a != b),
                    BinOp::Lt => u64::from(a < b),
                    BinOp::Le => u64::from(a <= b),
                    BinOp::Gt => u64::from(a > b),
                    BinOp::Ge => u64::from(a >= b),
                    BinOp::And | BinOp::Or => unreachable!("handled above"),
                }
            }
            ExprKind::Cast(inner) => self.eval(inner)? & mask,
            ExprKind::In { expr, pattern } => u64::from(matches(self.eval(expr)?, pattern)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_fields_are_big_endian() {
        let mut b = vec![0u8; 4];
        write_bits(&mut b, 3, 13, 0x1abc);
        assert_eq!(b, [0x1a, 0xbc, 0, 0]);
        assert_eq!(read_bits(&b, 3, 13), 0x1abc);
        write_bits(&mut b, 8, 24, 0xff_ffff);
        assert_eq!(b, [0x1a, 0xff, 0xff, 0xff]);
        assert_eq!(read_bits(&b, 0, 32), 0x1aff_ffff);
    }
}
