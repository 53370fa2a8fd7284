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
#[derive(Clone, Debug, PartialEq)]
pub struct ParserDecl {
    pub name: Ident,
    pub states: Vec<StateDecl>,
    pub span: Span,
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
    /// `let NAME[: TYPE] = EXPR`
    Let { name: Ident, ty: Option<TypeRef>, value: Expr, span: Span },
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
}

impl Stmt {
    pub fn span(&self) -> Span {
        match self {
            Stmt::Let { span, .. }
            | Stmt::Assign { span, .. }
            | Stmt::If { span, .. }
            | Stmt::Verdict { span, .. }
            | Stmt::Redirect { span, .. }
            | Stmt::Call { span, .. } => *span,
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
    /// `BASE[INDEX]` — header stack element.
    Index { base: Box<Expr>, index: Box<Expr> },
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
