//! HIR: the checked, name-resolved program.
//!
//! The checker (`check`) is the only producer of a [`Hir`]; holding one is the
//! witness that the program passed every check. IR building consumes it and
//! never has to report a user error: names are resolved to typed ids,
//! constants are folded, literals carry their final width, `op=` is desugared,
//! prefix and exclusive-range patterns are normalised.
//!
//! Invariants a `Hir` upholds (IR building may rely on them):
//! - every id indexes its table (`HeaderId` into `headers`, ...);
//! - every expression's `ty` is final; binary operands have equal types;
//! - a header field is read only where the header is known to be valid;
//! - `HdrSel::Last` appears only inside parser states;
//! - each header is a whole number of bytes, each field 1..=64 bits wide;
//! - every parser loop extracts a header stack.

use nfl_syntax::ast::{Hook, Span, VerdictKind};

crate::entity!(HeaderId, "hdr");
crate::entity!(MetaId, "meta");
crate::entity!(LocalId, "local");
crate::entity!(StateId, "state");
crate::entity!(ActionId, "action");
crate::entity!(TableId, "table");
crate::entity!(CounterId, "counter");
crate::entity!(StateMapId, "map");
crate::entity!(MeterId, "meter");
crate::entity!(PoolId, "pool");
crate::entity!(MaglevId, "maglev");
crate::entity!(SketchId, "sketch");
crate::entity!(QueueId, "queue");

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Ty {
    UInt(u32),
    Bool,
}

impl Ty {
    /// Bit width: 1 for `bool`.
    pub fn width(self) -> u32 {
        match self {
            Ty::UInt(w) => w,
            Ty::Bool => 1,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Hir {
    /// Name of the control block; becomes the program's symbol name.
    pub name: String,
    pub hook: Hook,
    pub headers: Vec<HeaderInfo>,
    pub metas: Vec<MetaInfo>,
    pub locals: Vec<LocalInfo>,
    pub actions: Vec<ActionHir>,
    pub tables: Vec<TableHir>,
    pub counters: Vec<CounterHir>,
    pub maps: Vec<StateMapHir>,
    pub meters: Vec<MeterHir>,
    pub pools: Vec<PoolHir>,
    /// `pool NAME: maglev(...)`.
    pub maglevs: Vec<MaglevHir>,
    pub sketches: Vec<SketchHir>,
    pub queues: Vec<QueueHir>,
    /// Config parameters and the values compiled in.
    pub config: Vec<(String, String)>,
    /// What specialization decided, one line each.
    pub explain: Vec<String>,
    pub parser: Option<ParserHir>,
    pub control: Block,
    /// Where the user's `stage { }` blocks cut the control: indices into
    /// `control.stmts` at which a new stage starts (increasing, in
    /// `1..len`).
    pub stage_cuts: Vec<u32>,
    /// Per top-level control statement: `Some(headers known valid before
    /// it)` where a stage may start (the first statement of each source
    /// statement; not inside an unrolled `for` or a `stage` block).
    pub cut_points: Vec<Option<Vec<HeaderRef>>>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct HeaderInfo {
    pub name: String,
    pub fields: Vec<FieldInfo>,
    /// Total size in bytes.
    pub byte_len: u32,
    /// `Some(n)` for a stack of `n` elements.
    pub stack: Option<u32>,
    pub span: Span,
}

impl HeaderInfo {
    /// Number of instances: 1, or the stack size.
    pub fn n_instances(&self) -> u32 {
        self.stack.unwrap_or(1)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct FieldInfo {
    pub name: String,
    /// Offset of the field's most significant bit from the header start.
    pub bit_offset: u32,
    pub width: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MetaInfo {
    pub name: String,
    pub ty: Ty,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LocalInfo {
    pub name: String,
    pub ty: Ty,
}

/// One header instance: `ipv4` is `{ ipv4, 0 }`, `vlan[1]` is `{ vlan, 1 }`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct HeaderRef {
    pub header: HeaderId,
    pub index: u32,
}

/// Which instance an expression names.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum HdrSel {
    Fixed(HeaderRef),
    /// `H.last` in a parser: the most recently extracted element of stack H.
    Last(HeaderId),
}

#[derive(Clone, Debug, PartialEq)]
pub struct ParserHir {
    pub name: String,
    pub states: Vec<StateHir>,
    pub start: StateId,
    /// What extracting into a full header stack does (default `pass`).
    pub overflow: nfl_syntax::ast::Overflow,
}

#[derive(Clone, Debug, PartialEq)]
pub struct StateHir {
    pub name: String,
    pub stmts: Vec<ParserStmt>,
    pub transition: Transition,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ParserStmt {
    Extract { header: HeaderId, span: Span },
    /// Advance by `amount` bytes (an unsigned expression of any width).
    Skip { amount: Expr, span: Span },
}

#[derive(Clone, Debug, PartialEq)]
pub enum Transition {
    Accept,
    Reject,
    Goto(StateId),
    /// Cases in order; no match rejects.
    Select { keys: Vec<Expr>, cases: Vec<SelectCase> },
}

#[derive(Clone, Debug, PartialEq)]
pub struct SelectCase {
    /// Each alternative has one pattern per key.
    pub alternatives: Vec<Vec<Pattern>>,
    pub target: Target,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Accept,
    Reject,
    State(StateId),
}

/// Normalised patterns. All values are already truncated to the key width.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pattern {
    Any,
    Value(u64),
    /// `(key & mask) == value`, with `value & !mask == 0`.
    Mask { value: u64, mask: u64 },
    /// Inclusive `lo..=hi`; empty when `lo > hi`.
    Range { lo: u64, hi: u64 },
    Set(Vec<Pattern>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct ActionHir {
    pub name: String,
    /// One local per parameter, bound to the argument at the call.
    pub params: Vec<LocalId>,
    pub body: Block,
    pub span: Span,
}

/// A table, with its implementation already chosen.
#[derive(Clone, Debug, PartialEq)]
pub struct TableHir {
    pub layout: crate::table::TableLayout,
    /// Key expressions, one per key field (flattened over the layout's
    /// keys), evaluated where the table is applied.
    pub key_exprs: Vec<Expr>,
    /// The table's actions, in `layout.actions` order.
    pub actions: Vec<ActionId>,
    /// Taken on a miss; `None` does nothing.
    pub default: Option<(ActionId, Vec<u64>)>,
    /// Entries known at build time (from the `.nf` and the config), highest
    /// priority first.
    pub entries: Vec<EntryHir>,
    pub span: Span,
}

/// One table entry known at build time.
#[derive(Clone, Debug, PartialEq)]
pub struct EntryHir {
    /// One per layout key.
    pub matches: Vec<KeyMatch>,
    /// Index into the table's `actions`.
    pub action: usize,
    pub args: Vec<u64>,
}

/// How one key of an entry matches (values up to 128 bits for tuple keys);
/// the config reader produces the same type.
pub use crate::config::KeyMatch;

/// `counter NAME[N]`: per-CPU packets and bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct CounterHir {
    pub name: String,
    pub size: u32,
    pub span: Span,
}

/// `map NAME: K -> V`: keyed state.
#[derive(Clone, Debug, PartialEq)]
pub struct StateMapHir {
    pub name: String,
    pub key: Vec<Ty>,
    pub value: Ty,
    pub size: u32,
    /// Entries not touched for this long read as absent.
    pub idle_ns: Option<u64>,
    pub span: Span,
}

/// `meter NAME: token_bucket(rate = R, burst = B, size = N) keyed K`.
#[derive(Clone, Debug, PartialEq)]
pub struct MeterHir {
    pub name: String,
    /// Tokens added per second.
    pub rate: u64,
    /// Bucket depth in tokens.
    pub burst: u64,
    /// Buckets kept (LRU).
    pub size: u32,
    /// The key, evaluated where `take` is called (empty: one bucket).
    pub key: Vec<Expr>,
    pub span: Span,
}

/// `pool NAME: ports(first = A, last = B)`: free values handed out and
/// taken back, safe across CPUs.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolHir {
    pub name: String,
    pub first: u64,
    pub last: u64,
    /// The values' type.
    pub ty: Ty,
    pub span: Span,
}

/// `pool NAME: maglev(...) of T`: one array-map value per group, laid out
/// as [`crate::maglev::Layout`]; `members` are the config's groups.
#[derive(Clone, Debug, PartialEq)]
pub struct MaglevHir {
    pub name: String,
    pub groups: u32,
    pub layout: crate::maglev::Layout,
    pub ty: Ty,
    pub members: Vec<Vec<u64>>,
    pub span: Span,
}

/// The algorithm of a `sketch` (docs/kfunc-lib.md has the exact update
/// rules, which every profile and the Rust twin follow).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SketchKind {
    CountMin,
    CountSketch,
    Bloom,
    Hyperloglog,
    /// A count-min that also keeps the keys it saw in an LRU candidate set,
    /// from which the control plane ranks the top `k`.
    Topk,
    /// NitroSketch: count-sketch counters updated only at rows chosen by
    /// geometric sampling, each update scaled by `2^sample_log2`.
    Nitro,
}

impl SketchKind {
    /// The kind a constructor name (`count_min(...)`) declares.
    pub fn from_ctor(name: &str) -> Option<SketchKind> {
        Some(match name {
            "count_min" => SketchKind::CountMin,
            "count_sketch" => SketchKind::CountSketch,
            "bloom" => SketchKind::Bloom,
            "hyperloglog" => SketchKind::Hyperloglog,
            "topk" => SketchKind::Topk,
            "nitro" => SketchKind::Nitro,
            _ => return None,
        })
    }

    pub fn ctor(self) -> &'static str {
        match self {
            SketchKind::CountMin => "count_min",
            SketchKind::CountSketch => "count_sketch",
            SketchKind::Bloom => "bloom",
            SketchKind::Hyperloglog => "hyperloglog",
            SketchKind::Topk => "topk",
            SketchKind::Nitro => "nitro",
        }
    }

    /// Counting sketches take an amount in `add`.
    pub fn counts(self) -> bool {
        matches!(self, SketchKind::CountMin | SketchKind::CountSketch | SketchKind::Topk | SketchKind::Nitro)
    }

    /// Count-sketch counters (signed, median estimate).
    pub fn signed(self) -> bool {
        matches!(self, SketchKind::CountSketch | SketchKind::Nitro)
    }
}

/// `sketch NAME: KIND(sizing) keyed K`. `rows` is the number of hash
/// functions (1 for HyperLogLog) and `cols` the counters per row (bits of
/// a Bloom filter, registers of a HyperLogLog), always a power of two.
#[derive(Clone, Debug, PartialEq)]
pub struct SketchHir {
    pub name: String,
    pub kind: SketchKind,
    pub rows: u32,
    pub cols: u32,
    /// Top-k: the `k` reported and the candidate set's size (else 0).
    pub k: u32,
    pub candidates: u32,
    /// NitroSketch: the sampling probability is `2^-sample_log2` (else 0).
    pub sample_log2: u32,
    /// `keyed K per P` (HyperLogLog): one sketch per value of `P`, at most
    /// `per_size` of them (LRU); empty otherwise.
    pub per: Vec<Expr>,
    pub per_size: u32,
    /// The declared key, evaluated where a method is called without one.
    pub key: Vec<Expr>,
    pub span: Span,
}

/// The discipline of a `queue`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueKind {
    /// First in, first out (a `BPF_MAP_TYPE_QUEUE`).
    Fifo,
    /// Smallest rank first; equal ranks in push order.
    Pqueue,
    /// A timing wheel: `slots` slots of `tick_ns` each, `slot_cap`
    /// elements per slot.
    Wheel,
}

/// `queue NAME: KIND(size = N[, slots = S, tick = D]) of TYPE`.
#[derive(Clone, Debug, PartialEq)]
pub struct QueueHir {
    pub name: String,
    pub kind: QueueKind,
    /// The element type (an integer).
    pub elem: Ty,
    /// Most elements held at once (a wheel: `slots * slot_cap`).
    pub size: u32,
    /// Wheel only: slot count (a power of two, at most 64) and per-slot
    /// capacity (a power of two); 0 otherwise.
    pub slots: u32,
    pub slot_cap: u32,
    /// Wheel only: nanoseconds per slot.
    pub tick_ns: u64,
    pub span: Span,
}

/// What a `let ... else` binds when present.
#[derive(Clone, Debug, PartialEq)]
pub enum Optional {
    /// `M.get(k)`: the live entry's value.
    MapGet { map: StateMapId, key: Vec<Expr> },
    /// `P.take()`: a free value from the pool.
    PoolTake(PoolId),
    /// `P.pick(group, KEY...)`: the maglev pool's member for the key.
    MaglevPick { pool: MaglevId, group: Expr, key: Vec<Expr> },
    /// `Q.pop()` (fifo) / `Q.pop_min()` (pqueue): the element taken.
    QueuePop(QueueId),
    /// `Q.peek()`: the element `pop` would take, left in place.
    QueuePeek(QueueId),
    /// `W.pop_due(now)`: the oldest element of the earliest slot whose
    /// time is at most `now` (u64 nanoseconds).
    QueuePopDue { queue: QueueId, now: Expr },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub stmts: Vec<Stmt>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Stmt {
    Let { local: LocalId, value: Expr, span: Span },
    Assign { place: Place, value: Expr, span: Span },
    If { cond: Expr, then_block: Block, else_block: Option<Block>, span: Span },
    Verdict { kind: VerdictKind, span: Span },
    Redirect { ifindex: Expr, span: Span },
    Call { action: ActionId, args: Vec<Expr>, span: Span },
    /// `T.apply()`
    Apply { table: TableId, span: Span },
    /// `C.count()` / `C[i].count()`: packets += 1, bytes += pkt.len.
    Count { counter: CounterId, index: Option<Expr>, span: Span },
    /// `M[k] = v` (or `op=`, already desugared into `value`).
    MapSet { map: StateMapId, key: Vec<Expr>, value: Expr, span: Span },
    /// `M.remove(k)`
    MapRemove { map: StateMapId, key: Vec<Expr>, span: Span },
    /// `let NAME = OPTIONAL else { diverging block }`
    LetElse { local: LocalId, value: Optional, else_block: Block, span: Span },
    /// `P.give(v)`: return a value to the pool.
    PoolGive { pool: PoolId, value: Expr, span: Span },
    /// `S.add(...)`: count `amount` (1 for Bloom and HyperLogLog) for `key`.
    SketchAdd { sketch: SketchId, key: Vec<Expr>, amount: Expr, span: Span },
    /// `Q.push(v)`, `Q.push(rank, v)`, `W.push(when, v)` as a statement (a
    /// full queue drops the element).
    QueuePush { queue: QueueId, rank: Option<Expr>, value: Expr, span: Span },
    /// `for var in start..end { body }` kept as a loop (not unrolled);
    /// `cost` is the checker's estimate of one pass in instructions;
    /// `line` the source line, for `--explain`; `forks`: the body may
    /// branch on packet or state data (the verifier forks every pass).
    Loop { var: LocalId, start: u64, end: u64, body: Block, cost: u64, line: usize, forks: bool, span: Span },
    /// `H.set_valid()`, `H.set_invalid()`, `S.push()`, `S.pop()`: the
    /// packet grows or shrinks (see `deparse` and `build::reshape`).
    Reshape { op: Reshape, span: Span },
    /// `H.update_checksum()`
    Checksum { header: HeaderRef, kind: ChecksumKind, span: Span },
}

/// A change of the packet's header layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reshape {
    /// Insert a header the parser never extracts (zero-filled).
    SetValid(HeaderId),
    /// Remove a valid header's bytes.
    SetInvalid(HeaderRef),
    /// Insert a zero-filled element at the front of a stack (`[0]`).
    Push(HeaderId),
    /// Remove a stack's element `[0]`; the others move down.
    Pop(HeaderId),
}

/// What `update_checksum()` computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChecksumKind {
    /// The IPv4 header checksum, recomputed over the 20-byte header.
    Ipv4,
    /// TCP's checksum, updated (RFC 1624) by the writes to the header and
    /// to `ipv4.src`/`ipv4.dst` since the last update.
    Tcp,
    /// UDP's, the same way; a zero checksum (none) stays zero.
    Udp,
}

impl Stmt {
    pub fn span(&self) -> Span {
        match self {
            Stmt::Let { span, .. }
            | Stmt::Assign { span, .. }
            | Stmt::If { span, .. }
            | Stmt::Verdict { span, .. }
            | Stmt::Redirect { span, .. }
            | Stmt::Call { span, .. }
            | Stmt::Apply { span, .. }
            | Stmt::Count { span, .. }
            | Stmt::MapSet { span, .. }
            | Stmt::MapRemove { span, .. }
            | Stmt::LetElse { span, .. }
            | Stmt::PoolGive { span, .. }
            | Stmt::SketchAdd { span, .. }
            | Stmt::QueuePush { span, .. }
            | Stmt::Loop { span, .. }
            | Stmt::Reshape { span, .. }
            | Stmt::Checksum { span, .. } => *span,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    Field { header: HeaderRef, field: u32 },
    Meta(MetaId),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub ty: Ty,
    pub span: Span,
}

/// Operators are the AST's: the checker adds types, not new operators.
pub use nfl_syntax::ast::{BinOp, UnOp};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PktField {
    /// `pkt.len`, u32
    Len,
    /// `pkt.rejected`, bool
    Rejected,
    /// `pkt.ifindex`, u32
    Ifindex,
    /// `pkt.offset` (parsers only), u16: the bytes the parser has consumed.
    Offset,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// A constant of the expression's type (bool: 0 or 1).
    Const(u64),
    Local(LocalId),
    Meta(MetaId),
    Field { header: HdrSel, field: u32 },
    Valid(HdrSel),
    /// `H.offset`, u16: where a valid header starts in the packet.
    Offset(HdrSel),
    Pkt(PktField),
    Unary { op: UnOp, operand: Box<Expr> },
    Binary { op: BinOp, lhs: Box<Expr>, rhs: Box<Expr> },
    /// Truncate or zero-extend to `ty`.
    Cast(Box<Expr>),
    In { expr: Box<Expr>, pattern: Pattern },
    /// `M[k]`: the value, or 0 when absent.
    MapGet { map: StateMapId, key: Vec<Expr> },
    /// `M.contains(k)`
    MapContains { map: StateMapId, key: Vec<Expr> },
    /// `P.has(group, member)` on a maglev pool: `key` is `[group (u32),
    /// member]`.
    MaglevHas { pool: MaglevId, key: Vec<Expr> },
    /// `M.take(n)`: true when `n` tokens were available (and are now taken).
    MeterTake { meter: MeterId, amount: Box<Expr> },
    /// `S.query(k)` (count-min: u32), `S.contains(k)` (Bloom: bool), or
    /// with `insert`, `S.insert(k)` (Bloom: adds the key; true when it
    /// was not there before).
    SketchRead { sketch: SketchId, key: Vec<Expr>, insert: bool },
    /// `Q.push(..)` as a value: true when the element went in (false: full).
    QueuePush { queue: QueueId, rank: Option<Box<Expr>>, value: Box<Expr> },
}
