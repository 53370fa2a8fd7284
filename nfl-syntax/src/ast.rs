//! The abstract syntax tree of one `.nf` source file.
//!
//! Every node keeps the [`Span`] it was parsed from, so later stages can point
//! diagnostics at the source. Every expression also gets an [`ExprId`], unique
//! within its [`Module`], so that the checker can record facts about it (its
//! type, what a name resolved to) in side tables instead of mutating the tree.

use std::fmt;

/// Identifies one source file among those a compilation loaded.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FileId(pub u32);

impl fmt::Debug for FileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "file{}", self.0)
    }
}

/// A byte range `[start, end)` in one source file.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub file: FileId,
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(file: FileId, start: usize, end: usize) -> Span {
        let clamp = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        Span { file, start: clamp(start), end: clamp(end) }
    }

    /// The smallest span covering both `self` and `other` (same file assumed).
    pub fn to(self, other: Span) -> Span {
        Span { file: self.file, start: self.start.min(other.start), end: self.end.max(other.end) }
    }

    pub fn len(self) -> usize {
        self.end.saturating_sub(self.start) as usize
    }

    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

/// An identifier with its span.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

impl fmt::Debug for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}@{:?}", self.name, self.span)
    }
}

/// One parsed source file.
#[derive(Clone, Debug, PartialEq)]
pub struct Module {
    pub file: FileId,
    pub items: Vec<Item>,
    /// Number of expression ids handed out; ids are `0..n_exprs`.
    pub n_exprs: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Import(Import),
    Const(ConstDecl),
    Header(HeaderDecl),
    Meta(MetaDecl),
    Parser(ParserDecl),
    Action(ActionDecl),
    Control(ControlDecl),
    Config(ConfigDecl),
    Table(TableDecl),
    Counter(CounterDecl),
    Map(MapDecl),
    Object(ObjectDecl),
}

/// `import std.net` — a dotted module path.
#[derive(Clone, Debug, PartialEq)]
pub struct Import {
    pub path: Vec<Ident>,
    pub span: Span,
}

/// A scalar type: `u1`..`u64` or `bool`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum Type {
    /// Unsigned integer of the given bit width (1..=64 once checked; the
    /// parser keeps whatever number was written so the checker can report it).
    UInt(u32),
    Bool,
}

impl fmt::Debug for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::UInt(w) => write!(f, "u{w}"),
            Type::Bool => write!(f, "bool"),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct TypeRef {
    pub ty: Type,
    pub span: Span,
}

/// `const NAME[: TYPE] = EXPR`
#[derive(Clone, Debug, PartialEq)]
pub struct ConstDecl {
    pub name: Ident,
    pub ty: Option<TypeRef>,
    pub value: Expr,
    pub span: Span,
}

/// `header NAME[[N]] { field: uW, ... }` declares a header type and its one
/// instance (or a stack of `N` instances) under the same name.
#[derive(Clone, Debug, PartialEq)]
pub struct HeaderDecl {
    pub name: Ident,
    /// `Some((n, span))` for a header stack `header vlan[2] { ... }`.
    pub stack: Option<(u64, Span)>,
    pub fields: Vec<FieldDecl>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FieldDecl {
    pub name: Ident,
    pub ty: TypeRef,
    pub span: Span,
}

/// `meta { name: TYPE, ... }` declares per-packet metadata variables.
#[derive(Clone, Debug, PartialEq)]
pub struct MetaDecl {
    pub fields: Vec<FieldDecl>,
    pub span: Span,
}

/// `parser NAME { state ... }`
#[derive(Clone, PartialEq)]
pub struct ParserDecl {
    pub name: Ident,
    pub states: Vec<StateDecl>,
    /// `overflow ACTION`: what extracting into a full header stack does.
    pub overflow: Option<(Overflow, Span)>,
    pub span: Span,
}

/// What a packet with more headers than a stack holds does (the parser's
/// `overflow` clause).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overflow {
    /// The packet passes at once; the control does not run (the default).
    Pass,
    Drop,
    /// Parsing stops as for a malformed packet: `pkt.rejected`, the
    /// control runs.
    Reject,
    /// Parsing stops as if the last state accepted: the control runs on
    /// the headers parsed so far.
    Accept,
}

impl Overflow {
    pub fn keyword(self) -> &'static str {
        match self {
            Overflow::Pass => "pass",
            Overflow::Drop => "drop",
            Overflow::Reject => "reject",
            Overflow::Accept => "accept",
        }
    }
}

/// `state NAME { parser statements; transition }`
#[derive(Clone, Debug, PartialEq)]
pub struct StateDecl {
    pub name: Ident,
    pub body: Vec<ParserStmt>,
    /// `None` when the state has no transition; the checker reports that.
    pub transition: Option<Transition>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ParserStmt {
    /// `extract HEADER` — for a stack, extracts its next free element.
    Extract { header: Ident, span: Span },
    /// `skip EXPR` — advance the cursor by EXPR bytes.
    Skip { amount: Expr, span: Span },
}

#[derive(Clone, Debug, PartialEq)]
pub enum Transition {
    Accept(Span),
    Reject(Span),
    Goto(Ident),
    Select(Select),
}

/// `select KEY { cases }` or `select (K1, K2) { cases }`.
#[derive(Clone, Debug, PartialEq)]
pub struct Select {
    pub keys: Vec<Expr>,
    pub cases: Vec<SelectCase>,
    pub span: Span,
}

/// `PAT | PAT: target`. With several keys each alternative is a tuple
/// `(P1, P2)`; `patterns[i].len() == keys.len()` once checked.
#[derive(Clone, Debug, PartialEq)]
pub struct SelectCase {
    pub alternatives: Vec<Vec<Pattern>>,
    pub target: Target,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    Accept(Span),
    Reject(Span),
    State(Ident),
}

/// A value pattern, used by `select` cases and the `in` operator.
#[derive(Clone, Debug, PartialEq)]
pub enum Pattern {
    /// `_`
    Wildcard(Span),
    /// `EXPR` (a constant expression)
    Value(Expr),
    /// `VALUE &&& MASK`
    Mask { value: Expr, mask: Expr, span: Span },
    /// `LO..HI` (exclusive) or `LO..=HI` (inclusive)
    Range { lo: Expr, hi: Expr, inclusive: bool, span: Span },
    /// `ADDR/LEN`, e.g. `198.18.0.0/15`: the top LEN bits equal ADDR's.
    Prefix { addr: Expr, len: u32, len_span: Span, span: Span },
    /// `{ P, P, ... }` — any of the patterns (only after `in`).
    Set { items: Vec<Pattern>, span: Span },
}

/// `action NAME(p: TYPE, ...) { statements }`
#[derive(Clone, Debug, PartialEq)]
pub struct ActionDecl {
    pub name: Ident,
    pub params: Vec<Param>,
    pub body: Block,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub name: Ident,
    pub ty: TypeRef,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Hook {
    Xdp,
    Tc,
}

/// `control NAME(HOOK[, PARSER]) { statements }`
#[derive(Clone, Debug, PartialEq)]
pub struct ControlDecl {
    pub name: Ident,
    pub hook: Hook,
    pub hook_span: Span,
    pub parser: Option<Ident>,
    pub body: Block,
    pub span: Span,
}

/// `config { NAME: TYPE [= DEFAULT] ... }` — parameters given at load time
/// (from YAML), read as `config.NAME`.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigDecl {
    pub params: Vec<ConfigParam>,
    pub span: Span,
}

/// `NAME: TYPE [= DEFAULT]`; without a default the YAML must give it.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigParam {
    pub name: Ident,
    pub ty: ConfigType,
    pub default: Option<ConfigDefault>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ConfigType {
    /// `u1`..`u64` or `bool`.
    Scalar(TypeRef),
    /// `set<TYPE>`: the element type, and the span of the whole `set<...>`.
    Set(TypeRef, Span),
}

/// The default of a config parameter. The grammar tells the two apart by
/// the `{`; whether it matches the parameter's type is the checker's job.
#[derive(Clone, Debug, PartialEq)]
pub enum ConfigDefault {
    /// `= EXPR`, for a scalar.
    Expr(Expr),
    /// `= { patterns }`, for a set; always a [`Pattern::Set`].
    Set(Pattern),
}

/// `table NAME { key {...} actions {...} default A size N masks N entries {...} }`.
/// Sections may come in any order, each at most once.
#[derive(Clone, Debug, PartialEq)]
pub struct TableDecl {
    pub name: Ident,
    /// Empty when there is no `key` section.
    pub keys: Vec<TableKey>,
    pub actions: Vec<Ident>,
    pub default: Option<ActionRef>,
    /// `size N`: present means entries can be written at run time.
    pub size: Option<Expr>,
    pub masks: Option<Expr>,
    /// `entries { ... }`: constant entries, first = highest priority.
    pub entries: Option<Vec<TableEntry>>,
    pub span: Span,
}

/// `EXPR: KIND` or `(EXPR, EXPR, ...): KIND` in a table's `key` section.
#[derive(Clone, Debug, PartialEq)]
pub struct TableKey {
    /// One expression, or two or more for a tuple key.
    pub exprs: Vec<Expr>,
    pub kind: MatchKind,
    pub kind_span: Span,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatchKind {
    Exact,
    Lpm,
    Ternary,
    Range,
}

impl MatchKind {
    pub fn name(self) -> &'static str {
        match self {
            MatchKind::Exact => "exact",
            MatchKind::Lpm => "lpm",
            MatchKind::Ternary => "ternary",
            MatchKind::Range => "range",
        }
    }
}

/// `NAME` or `NAME(args)`: an action named by a table.
#[derive(Clone, Debug, PartialEq)]
pub struct ActionRef {
    pub name: Ident,
    pub args: Vec<Expr>,
    pub span: Span,
}

/// `PATTERN: ACTION` or `(P, P, ...): ACTION` in a table's `entries`.
#[derive(Clone, Debug, PartialEq)]
pub struct TableEntry {
    /// One pattern, or one per key for a tuple.
    pub patterns: Vec<Pattern>,
    pub action: ActionRef,
    pub span: Span,
}

/// `counter NAME` or `counter NAME[SIZE]`.
#[derive(Clone, Debug, PartialEq)]
pub struct CounterDecl {
    pub name: Ident,
    pub size: Option<Expr>,
    pub span: Span,
}

/// `map NAME: KEY -> VALUE [size N] [idle D]`; `KEY` is a type or a tuple
/// `(T, T, ...)` of two or more.
#[derive(Clone, Debug, PartialEq)]
pub struct MapDecl {
    pub name: Ident,
    pub key: Vec<TypeRef>,
    pub value: TypeRef,
    pub size: Option<Expr>,
    pub idle: Option<Expr>,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    Meter,
    Pool,
    Sketch,
    Queue,
}

impl ObjectKind {
    pub fn keyword(self) -> &'static str {
        match self {
            ObjectKind::Meter => "meter",
            ObjectKind::Pool => "pool",
            ObjectKind::Sketch => "sketch",
            ObjectKind::Queue => "queue",
        }
    }
}

/// `meter NAME: CTOR(arg = EXPR, ...) [keyed KEY]` (and `pool`, `sketch`,
/// `queue NAME: CTOR(...) of TYPE`).
#[derive(Clone, PartialEq)]
pub struct ObjectDecl {
    pub kind: ObjectKind,
    pub name: Ident,
    pub ctor: Ident,
    pub args: Vec<NamedArg>,
    /// `keyed EXPR` or `keyed (EXPR, EXPR, ...)`.
    pub keyed: Option<Vec<Expr>>,
    /// `of TYPE`: a queue's element type.
    pub elem: Option<TypeRef>,
    /// `keyed K per P`: one sketch per value of `P`.
    pub per: Option<Vec<Expr>>,
    pub span: Span,
}

/// As derived, except that `elem` and `per` are shown only when present, so
/// that the AST of objects without them reads as it did before.
/// As derived, except that `overflow` is shown only when written, so that
/// the AST of parsers without it reads as it did before.
impl std::fmt::Debug for ParserDecl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("ParserDecl");
        d.field("name", &self.name).field("states", &self.states);
        if let Some(o) = &self.overflow {
            d.field("overflow", o);
        }
        d.field("span", &self.span).finish()
    }
}

impl std::fmt::Debug for ObjectDecl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("ObjectDecl");
        d.field("kind", &self.kind).field("name", &self.name).field("ctor", &self.ctor).field("args", &self.args).field("keyed", &self.keyed);
        if let Some(e) = &self.elem {
            d.field("elem", e);
        }
        if let Some(p) = &self.per {
            d.field("per", p);
        }
        d.field("span", &self.span).finish()
    }
}

/// `NAME = EXPR` in an object's constructor.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedArg {
    pub name: Ident,
    pub value: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub stmts: Vec<Stmt>,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VerdictKind {
    Pass,
    Drop,
    Tx,
    Abort,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Stmt {
    /// `let NAME[: TYPE] = EXPR [else { ... }]`
    Let { name: Ident, ty: Option<TypeRef>, value: Expr, else_block: Option<Block>, span: Span },
    /// `TARGET = EXPR` or `TARGET op= EXPR`
    Assign { target: Expr, op: Option<BinOp>, value: Expr, span: Span },
    /// `if C { } else if C { } else { }`
    If { cond: Expr, then_block: Block, else_block: Option<ElseBranch>, span: Span },
    /// `pass`, `drop`, `tx`, `abort`
    Verdict { kind: VerdictKind, span: Span },
    /// `redirect(IFINDEX)`
    Redirect { ifindex: Expr, span: Span },
    /// `NAME(args)` — an action call.
    Call { callee: Ident, args: Vec<Expr>, span: Span },
    /// An expression used as a statement; the grammar only allows one that
    /// ends in a method call (`acl.apply()`, `hits[i].count()`).
    Expr { expr: Expr, span: Span },
    /// `for NAME in START..END { }` (`..=` with `inclusive`).
    For { var: Ident, start: Expr, end: Expr, inclusive: bool, body: Block, span: Span },
    /// `stage { }`: the statements run as one stage of a split program.
    Stage { body: Block, span: Span },
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
            | Stmt::Expr { span, .. }
            | Stmt::For { span, .. }
            | Stmt::Stage { span, .. } => *span,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum ElseBranch {
    Block(Block),
    If(Box<Stmt>),
}

/// Identifies an expression within its module (dense, from 0).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExprId(pub u32);

impl fmt::Debug for ExprId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "e{}", self.0)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub id: ExprId,
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// Integer literal: decimal, `0x..`, `0b..`; `_` separators allowed.
    Int(u64),
    /// `a.b.c.d`, typed `u32`.
    Ipv4(u32),
    /// `aa:bb:cc:dd:ee:ff`, typed `u48`.
    Mac(u64),
    Bool(bool),
    /// A bare name: a constant, local, parameter, header, `meta` or `pkt`.
    Name(Ident),
    /// `BASE.NAME` — field access, `.valid`, `.last`.
    Field { base: Box<Expr>, name: Ident },
    /// `BASE[INDEX]` — header stack element, or a keyed lookup; `BASE[a, b]`
    /// has a [`ExprKind::Tuple`] index spanning `a, b`.
    Index { base: Box<Expr>, index: Box<Expr> },
    /// `BASE.NAME(args)` — a method call (`acl.apply()`, `per_src.take(1)`).
    MethodCall { receiver: Box<Expr>, method: Ident, args: Vec<Expr> },
    /// Two or more expressions; only as the index of `BASE[a, b]`.
    Tuple(Vec<Expr>),
    /// A duration literal such as `30s` or `250ms`, in nanoseconds.
    Duration(u64),
    /// A decimal fraction such as `0.001`: `units / 10^scale` (exact).
    Decimal { units: u64, scale: u32 },
    Unary { op: UnOp, operand: Box<Expr> },
    Binary { op: BinOp, lhs: Box<Expr>, rhs: Box<Expr> },
    /// `EXPR as TYPE`
    Cast { expr: Box<Expr>, ty: TypeRef },
    /// `EXPR in PATTERN`
    In { expr: Box<Expr>, pattern: Box<Pattern> },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnOp {
    /// `!` logical not (bool)
    Not,
    /// `~` bitwise not
    BitNot,
    /// `-` two's complement negation, wrapping at the operand's width
    Neg,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    BitAnd,
    BitOr,
    BitXor,
    Shl,
    Shr,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
            BinOp::BitAnd => "&",
            BinOp::BitOr => "|",
            BinOp::BitXor => "^",
            BinOp::Shl => "<<",
            BinOp::Shr => ">>",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::And => "&&",
            BinOp::Or => "||",
        }
    }

    pub fn is_comparison(self) -> bool {
        matches!(self, BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge)
    }

    pub fn is_logical(self) -> bool {
        matches!(self, BinOp::And | BinOp::Or)
    }
}
