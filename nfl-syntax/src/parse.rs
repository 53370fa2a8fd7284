//! Text to [`Module`]: runs the pest grammar, recovers at item level, and
//! builds the AST with spans and dense expression ids.
//!
//! Recovery works in three steps. The whole file is parsed first; when that
//! fails, the file is split into top-level items (see [`crate::prescan`]) and
//! each item is parsed on its own, so every broken item gets its own
//! diagnostic and every good item still reaches the [`Module`]. Inside an
//! item that fails, the statement, field, state or select case holding the
//! error is blanked out and the item parsed again, so every error in it is
//! reported and its good parts are kept (see [`parse_chunk`]).
//!
//! Some mistakes are accepted by the grammar on purpose and reported while
//! building (keywords used as names, unknown types, bad literals, chained
//! comparisons). The AST then holds a placeholder (`u0` for an unknown type,
//! `0` for a bad literal) so later stages see a complete tree; a module with
//! syntax errors should not be compiled further anyway.

use pest::Parser;
use pest::iterators::{Pair, Pairs};


use crate::ast::*;
use crate::diag::Diagnostic;
use crate::prescan;
use crate::recover;
use crate::syntax_error;

mod grammar {
    #[derive(pest_derive::Parser)]
    #[grammar = "grammar.pest"]
    pub(crate) struct NflParser;
}

pub(crate) use grammar::Rule;
use grammar::NflParser;

/// Deepest expression tree (counted in AST nodes) the builder accepts.
const MAX_EXPR_DEPTH: u32 = 256;
/// Longest `else if` chain the builder accepts.
const MAX_ELSE_IF: usize = 256;

pub(crate) const KEYWORDS: [&str; 28] = [
    "import", "const", "header", "meta", "parser", "state", "extract", "skip", "select", "accept", "reject", "goto",
    "action", "control", "let", "if", "else", "pass", "drop", "tx", "abort", "redirect", "in", "as", "true", "false",
    "xdp", "tc",
];

pub(crate) fn is_keyword(word: &str) -> bool {
    KEYWORDS.contains(&word)
}

/// Stack for the parsing thread. Nesting is capped at
/// [`prescan::MAX_NESTING`], but pest and the builder recurse once per level
/// with large frames in debug builds (several KiB for a block), more than the
/// 2 MiB a test thread or a fuzzer worker gets. The memory is only reserved;
/// pages are touched as the recursion actually goes deep.
const PARSE_STACK_BYTES: usize = 64 << 20;

/// Parse one source file. Never panics; returns every item that parsed and a
/// diagnostic for each problem found.
pub fn parse(file: FileId, text: &str) -> (Module, Vec<Diagnostic>) {
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("nfl-parse".to_string())
            .stack_size(PARSE_STACK_BYTES)
            .spawn_scoped(scope, || parse_here(file, text));
        match worker {
            Ok(handle) => match handle.join() {
                Ok(result) => result,
                // A panic is a parser bug: let it reach the caller unchanged.
                Err(payload) => std::panic::resume_unwind(payload),
            },
            // No thread available (resource limits): parse on this stack.
            Err(_) => parse_here(file, text),
        }
    })
}

/// [`parse`] on the current thread's stack.
fn parse_here(file: FileId, text: &str) -> (Module, Vec<Diagnostic>) {
    let scan = prescan::scan(file, text);
    let code_ends = prescan::code_ends(text);
    let mut diags = scan.diags.clone();
    let mut items = Vec::new();
    let mut recovery = Recovery::new(text.len());

    let whole = if scan.clean() { Some(NflParser::parse(Rule::file, text)) } else { None };
    match whole {
        Some(Ok(pairs)) => {
            let mut builder = Builder::new(file, 0, &code_ends, 0);
            builder.file_items(pairs, &mut items);
            diags.append(&mut builder.diags);
        }
        whole => {
            let first_error = whole.and_then(|r| r.err());
            let n_before = diags.len();
            for chunk in &scan.chunks {
                if !chunk.too_deep {
                    parse_chunk(file, text, chunk, &code_ends, &mut recovery, &mut items, &mut diags);
                }
            }
            if diags.len() == n_before
                && let Some(err) = first_error
            {
                // Every item parses alone but the file does not: report the
                // whole-file error rather than nothing.
                diags.push(syntax_error::convert(file, text, 0, &err));
            }
        }
    }

    // Report in source order, whichever pass found the problem.
    diags.sort_by_key(|d| d.primary_span().map(|s| (s.start, s.end)));
    if let Some(span) = recovery.stopped_at {
        diags.push(
            Diagnostic::warning(
                "nfl::E0101",
                "too many syntax errors: later errors in this item are not reported",
                span,
                "stopped looking for more errors here",
            )
            .with_help("fix the errors above and compile again to see the rest"),
        );
    }
    let mut module = Module { file, items, n_exprs: 0 };
    module.n_exprs = number_exprs(&mut module);
    (module, diags)
}

/// At most this many syntax errors are looked for inside items, per file.
/// The first error of each broken item is always reported.
const MAX_RECOVERED_ERRORS: usize = 50;

/// Limits on recovery inside items for one file; see [`parse_chunk`].
struct Recovery {
    /// Syntax errors found by [`parse_chunk`] so far (reported or not).
    errors: usize,
    /// Bytes that recovery may still hand to pest again. Each recovered
    /// error re-parses its item, so this keeps a huge item with many errors
    /// from taking quadratic time.
    bytes_left: usize,
    /// Where recovery gave up because of these limits.
    stopped_at: Option<Span>,
}

impl Recovery {
    fn new(text_len: usize) -> Recovery {
        Recovery { errors: 0, bytes_left: text_len.saturating_mul(8).saturating_add(256 << 10), stopped_at: None }
    }
}

/// Parse one top-level chunk of the file (see [`prescan`]) on its own and
/// add its items and diagnostics.
///
/// When the chunk does not parse, the error is reported and the broken
/// element around it (statement, field, state, select case; see
/// [`recover`]) is replaced by spaces, and the chunk is parsed again, until
/// it parses or the error cannot be skipped. Blanking keeps every other byte
/// where it was, so the spans built from the final parse are exact; the
/// broken elements are simply missing from the AST. An item whose error
/// cannot be skipped (in its head, or with unbalanced brackets) is dropped.
fn parse_chunk(
    file: FileId,
    text: &str,
    chunk: &prescan::Chunk,
    code_ends: &[u32],
    recovery: &mut Recovery,
    items: &mut Vec<Item>,
    diags: &mut Vec<Diagnostic>,
) {
    let Some(chunk_text) = text.get(chunk.start..chunk.end) else { return };
    let mut err = match NflParser::parse(Rule::file, chunk_text) {
        Ok(pairs) => {
            let mut builder = Builder::new(file, chunk.start, code_ends, 0);
            builder.file_items(pairs, items);
            diags.append(&mut builder.diags);
            return;
        }
        Err(err) => err,
    };
    // The chunk with its broken elements blanked out, once there are some.
    let mut blanked: Option<String> = None;
    // Where the last blanked element ended.
    let mut last_end: Option<usize> = None;
    loop {
        let current = blanked.as_deref().unwrap_or(chunk_text);
        let pos = syntax_error::error_pos(&err);
        let at_end = pos >= current.trim_end().len();
        if chunk.truncated && at_end {
            // The unterminated comment was already reported.
            return;
        }
        let diag = match chunk.unclosed {
            Some((open, delim)) if at_end => syntax_error::unclosed(file, text, open, delim, chunk.end),
            _ => syntax_error::convert(file, text, chunk.start, &err),
        };
        let span = diag.primary_span();
        let expects_close = match &err.variant {
            pest::error::ErrorVariant::ParsingError { positives, .. } => positives.contains(&Rule::rbrace),
            pest::error::ErrorVariant::CustomError { .. } => {
                // pest's own resource limits: parsing again would hit them too.
                diags.push(diag);
                return;
            }
        };
        let (range, diag) = match recover::broken_element(current, pos, expects_close) {
            recover::Found::Element(range) => (Some(range), diag),
            recover::Found::Incomplete(range) => {
                // The error shows at the next line; point at the line that
                // needed more too.
                let abs = Span::new(file, chunk.start.saturating_add(range.start), chunk.start.saturating_add(range.end));
                (Some(range), diag.with_label(abs, "this is incomplete"))
            }
            // After a recovery, an error outside every list (at the item's
            // level) is most likely a consequence of the first error, such as
            // a stray `}` that closed the item early: do not report it.
            recover::Found::Stuck if blanked.is_some() => return,
            recover::Found::Stuck => (None, diag),
        };
        // An error on the line where the previous broken element ended is
        // most likely the same mistake going on (`if x {1, 2} { drop }`
        // without its `in` makes each number a broken statement, then the
        // real block a stray one): skip it without reporting it again.
        let same_line = range.is_some()
            && last_end.and_then(|end| current.get(end..pos)).is_some_and(|between| !between.contains('\n'));
        if !same_line {
            diags.push(diag);
        }
        recovery.errors = recovery.errors.saturating_add(1);
        let Some(range) = range else { return };
        last_end = Some(range.end);
        if recovery.errors >= MAX_RECOVERED_ERRORS || recovery.bytes_left < current.len() {
            recovery.stopped_at = recovery.stopped_at.or(span);
            return;
        }
        let Some(next) = recover::blank(current, range) else { return };
        recovery.bytes_left -= next.len();
        match NflParser::parse(Rule::file, &next) {
            Ok(pairs) => {
                // Spans are trimmed against the blanked text, so that none
                // ends in a blanked-out element.
                let ends = prescan::code_ends(&next);
                let mut builder = Builder::new(file, chunk.start, &ends, chunk.start);
                builder.file_items(pairs, items);
                diags.append(&mut builder.diags);
                return;
            }
            Err(e) => {
                err = e;
                blanked = Some(next);
            }
        }
    }
}

/// Give every expression its id: dense, in source (pre-)order.
fn number_exprs(module: &mut Module) -> u32 {
    let mut next = 0u32;
    let mut visit = |e: &mut Expr| {
        e.id = ExprId(next);
        next = next.saturating_add(1);
    };
    for item in &mut module.items {
        match item {
            Item::Import(_) | Item::Header(_) | Item::Meta(_) => {}
            Item::Const(c) => walk_expr(&mut c.value, &mut visit),
            Item::Parser(p) => {
                for state in &mut p.states {
                    for stmt in &mut state.body {
                        match stmt {
                            ParserStmt::Extract { .. } => {}
                            ParserStmt::Skip { amount, .. } => walk_expr(amount, &mut visit),
                        }
                    }
                    if let Some(Transition::Select(sel)) = &mut state.transition {
                        for key in &mut sel.keys {
                            walk_expr(key, &mut visit);
                        }
                        for case in &mut sel.cases {
                            for alt in &mut case.alternatives {
                                for pat in alt {
                                    walk_pattern(pat, &mut visit);
                                }
                            }
                        }
                    }
                }
            }
            Item::Action(a) => walk_block(&mut a.body, &mut visit),
            Item::Control(c) => walk_block(&mut c.body, &mut visit),
            Item::Config(c) => {
                for param in &mut c.params {
                    match &mut param.default {
                        None => {}
                        Some(ConfigDefault::Expr(e)) => walk_expr(e, &mut visit),
                        Some(ConfigDefault::Set(p)) => walk_pattern(p, &mut visit),
                    }
                }
            }
            Item::Table(t) => {
                for key in &mut t.keys {
                    walk_exprs(&mut key.exprs, &mut visit);
                }
                if let Some(d) = &mut t.default {
                    walk_exprs(&mut d.args, &mut visit);
                }
                walk_opt(&mut t.size, &mut visit);
                walk_opt(&mut t.masks, &mut visit);
                for entry in t.entries.iter_mut().flatten() {
                    for pat in &mut entry.patterns {
                        walk_pattern(pat, &mut visit);
                    }
                    walk_exprs(&mut entry.action.args, &mut visit);
                }
            }
            Item::Counter(c) => walk_opt(&mut c.size, &mut visit),
            Item::Map(m) => {
                walk_opt(&mut m.size, &mut visit);
                walk_opt(&mut m.idle, &mut visit);
            }
            Item::Object(o) => {
                for arg in &mut o.args {
                    walk_expr(&mut arg.value, &mut visit);
                }
                if let Some(keyed) = &mut o.keyed {
                    walk_exprs(keyed, &mut visit);
                }
            }
        }
    }
    next
}

fn walk_exprs(exprs: &mut [Expr], visit: &mut impl FnMut(&mut Expr)) {
    for e in exprs {
        walk_expr(e, visit);
    }
}

fn walk_opt(expr: &mut Option<Expr>, visit: &mut impl FnMut(&mut Expr)) {
    if let Some(e) = expr {
        walk_expr(e, visit);
    }
}

fn walk_block(block: &mut Block, visit: &mut impl FnMut(&mut Expr)) {
    for stmt in &mut block.stmts {
        walk_stmt(stmt, visit);
    }
}

fn walk_stmt(stmt: &mut Stmt, visit: &mut impl FnMut(&mut Expr)) {
    match stmt {
        Stmt::Let { value, else_block, .. } => {
            walk_expr(value, visit);
            if let Some(b) = else_block {
                walk_block(b, visit);
            }
        }
        Stmt::Assign { target, value, .. } => {
            walk_expr(target, visit);
            walk_expr(value, visit);
        }
        Stmt::If { cond, then_block, else_block, .. } => {
            walk_expr(cond, visit);
            walk_block(then_block, visit);
            match else_block {
                None => {}
                Some(ElseBranch::Block(b)) => walk_block(b, visit),
                Some(ElseBranch::If(s)) => walk_stmt(s, visit),
            }
        }
        Stmt::Verdict { .. } => {}
        Stmt::Redirect { ifindex, .. } => walk_expr(ifindex, visit),
        Stmt::Call { args, .. } => walk_exprs(args, visit),
        Stmt::Expr { expr, .. } => walk_expr(expr, visit),
        Stmt::For { start, end, body, .. } => {
            walk_expr(start, visit);
            walk_expr(end, visit);
            walk_block(body, visit);
        }
        Stmt::Stage { body, .. } => walk_block(body, visit),
    }
}

fn walk_expr(expr: &mut Expr, visit: &mut impl FnMut(&mut Expr)) {
    visit(expr);
    match &mut expr.kind {
        ExprKind::Int(_)
        | ExprKind::Ipv4(_)
        | ExprKind::Mac(_)
        | ExprKind::Bool(_)
        | ExprKind::Name(_)
        | ExprKind::Duration(_)
        | ExprKind::Decimal { .. } => {}
        ExprKind::Field { base, .. } => walk_expr(base, visit),
        ExprKind::Index { base, index } => {
            walk_expr(base, visit);
            walk_expr(index, visit);
        }
        ExprKind::MethodCall { receiver, args, .. } => {
            walk_expr(receiver, visit);
            walk_exprs(args, visit);
        }
        ExprKind::Tuple(items) => walk_exprs(items, visit),
        ExprKind::Unary { operand, .. } => walk_expr(operand, visit),
        ExprKind::Binary { lhs, rhs, .. } => {
            walk_expr(lhs, visit);
            walk_expr(rhs, visit);
        }
        ExprKind::Cast { expr, .. } => walk_expr(expr, visit),
        ExprKind::In { expr, pattern } => {
            walk_expr(expr, visit);
            walk_pattern(pattern, visit);
        }
    }
}

fn walk_pattern(pat: &mut Pattern, visit: &mut impl FnMut(&mut Expr)) {
    match pat {
        Pattern::Wildcard(_) => {}
        Pattern::Value(e) => walk_expr(e, visit),
        Pattern::Mask { value, mask, .. } => {
            walk_expr(value, visit);
            walk_expr(mask, visit);
        }
        Pattern::Range { lo, hi, .. } => {
            walk_expr(lo, visit);
            walk_expr(hi, visit);
        }
        Pattern::Prefix { addr, .. } => walk_expr(addr, visit),
        Pattern::Set { items, .. } => {
            for p in items {
                walk_pattern(p, visit);
            }
        }
    }
}

/// An expression under construction, with what precedence handling needs.
struct Built {
    expr: Expr,
    /// Height of the expression tree, to bound recursion in later stages.
    depth: u32,
    /// An unparenthesized comparison or `in` (comparisons do not chain).
    is_cmp: bool,
}

/// Binding strength of binary operators; `in` binds like a comparison.
fn precedence(op: BinOp) -> u8 {
    match op {
        BinOp::Or => 1,
        BinOp::And => 2,
        BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => 3,
        BinOp::BitOr => 4,
        BinOp::BitXor => 5,
        BinOp::BitAnd => 6,
        BinOp::Shl | BinOp::Shr => 7,
        BinOp::Add | BinOp::Sub => 8,
        BinOp::Mul | BinOp::Div | BinOp::Rem => 9,
    }
}
const CMP_PRECEDENCE: u8 = 3;

fn binop_of(symbol: &str) -> Option<BinOp> {
    Some(match symbol {
        "||" => BinOp::Or,
        "&&" => BinOp::And,
        "==" => BinOp::Eq,
        "!=" => BinOp::Ne,
        "<" => BinOp::Lt,
        "<=" => BinOp::Le,
        ">" => BinOp::Gt,
        ">=" => BinOp::Ge,
        "|" => BinOp::BitOr,
        "^" => BinOp::BitXor,
        "&" => BinOp::BitAnd,
        "<<" => BinOp::Shl,
        ">>" => BinOp::Shr,
        "+" => BinOp::Add,
        "-" => BinOp::Sub,
        "*" => BinOp::Mul,
        "/" => BinOp::Div,
        "%" => BinOp::Rem,
        _ => return None,
    })
}

struct Builder<'c> {
    file: FileId,
    /// See [`prescan::code_ends`]; `code_ends[i]` is for absolute position
    /// `ends_base + i` and holds a position relative to `ends_base`.
    code_ends: &'c [u32],
    ends_base: usize,
    /// Byte offset of the parsed text within the file.
    offset: usize,
    diags: Vec<Diagnostic>,
    /// Set once an expression hit [`MAX_EXPR_DEPTH`], to report it once.
    reported_depth: bool,
}

impl<'c> Builder<'c> {
    fn new(file: FileId, offset: usize, code_ends: &'c [u32], ends_base: usize) -> Builder<'c> {
        Builder { file, code_ends, ends_base, offset, diags: Vec::new(), reported_depth: false }
    }

    /// The absolute span of a pest span, without trailing whitespace/comments.
    fn span(&self, s: pest::Span<'_>) -> Span {
        let start = self.offset.saturating_add(s.start());
        let end = self.offset.saturating_add(s.end());
        let trimmed = end
            .checked_sub(self.ends_base)
            .and_then(|i| self.code_ends.get(i))
            .map_or(end, |e| self.ends_base.saturating_add(*e as usize));
        Span::new(self.file, start, trimmed.clamp(start, end))
    }

    fn pspan(&self, pair: &Pair<'_, Rule>) -> Span {
        self.span(pair.as_span())
    }

    fn error(&mut self, code: &'static str, message: String, span: Span, label: &str, help: &str) {
        self.diags.push(Diagnostic::error(code, message, span, label).with_help(help));
    }

    // ------------------------------------------------------------ items

    fn file_items(&mut self, pairs: Pairs<'_, Rule>, out: &mut Vec<Item>) {
        for file in pairs {
            for pair in kids(file) {
                if let Some(item) = self.item(pair) {
                    out.push(item);
                }
            }
        }
    }

    fn item(&mut self, pair: Pair<'_, Rule>) -> Option<Item> {
        let span = self.pspan(&pair);
        let rule = pair.as_rule();
        // The first word, for items whose keyword says more than the rule.
        let first_word = pair.clone().into_inner().next().map(|p| p.as_rule());
        let mut inner = kids(pair).filter(|p| !is_keyword_rule(p.as_rule()));
        Some(match rule {
            Rule::import_item => {
                let path = inner.filter(|p| p.as_rule() == Rule::name).map(|p| self.ident(&p)).collect();
                Item::Import(Import { path, span })
            }
            Rule::const_item => {
                let name = self.decl_name(&inner.next()?);
                let mut next = inner.next()?;
                let mut ty = None;
                if next.as_rule() == Rule::type_name {
                    ty = Some(self.type_ref(&next));
                    next = inner.next()?;
                }
                let value = self.expr(next);
                Item::Const(ConstDecl { name, ty, value, span })
            }
            Rule::header_item => {
                let name = self.decl_name(&inner.next()?);
                let mut stack = None;
                let mut fields = Vec::new();
                for p in inner {
                    match p.as_rule() {
                        Rule::stack_size => {
                            let sspan = self.pspan(&p);
                            if let Some(num) = kids(p).next() {
                                let n = self.int_value(&num);
                                stack = Some((n, sspan));
                            }
                        }
                        Rule::field_list => fields = self.fields(p),
                        _ => {}
                    }
                }
                Item::Header(HeaderDecl { name, stack, fields, span })
            }
            Rule::meta_item => {
                let fields = inner.next().map(|p| self.fields(p)).unwrap_or_default();
                Item::Meta(MetaDecl { fields, span })
            }
            Rule::parser_item => {
                let name = self.decl_name(&inner.next()?);
                let mut overflow = None;
                let mut states = Vec::new();
                for p in inner {
                    if p.as_rule() == Rule::overflow_clause {
                        overflow = self.overflow(p);
                    } else if let Some(s) = self.state(p) {
                        states.push(s);
                    }
                }
                Item::Parser(ParserDecl { name, states, overflow, span })
            }
            Rule::action_item => {
                let name = self.decl_name(&inner.next()?);
                let mut params = Vec::new();
                let mut body = None;
                for p in inner {
                    match p.as_rule() {
                        Rule::param => {
                            let pspan = self.pspan(&p);
                            let mut parts = kids(p);
                            let (Some(n), Some(t)) = (parts.next(), parts.next()) else { continue };
                            params.push(Param { name: self.decl_name(&n), ty: self.type_ref(&t), span: pspan });
                        }
                        Rule::block => body = Some(self.block(p)),
                        _ => {}
                    }
                }
                Item::Action(ActionDecl { name, params, body: body?, span })
            }
            Rule::control_item => {
                let name = self.decl_name(&inner.next()?);
                let hook_pair = inner.next()?;
                let hook_span = self.pspan(&hook_pair);
                let hook = match hook_pair.as_str() {
                    "xdp" => Hook::Xdp,
                    "tc" => Hook::Tc,
                    other => {
                        self.error(
                            "nfl::E0107",
                            format!("unknown hook `{other}`"),
                            hook_span,
                            "expected `xdp` or `tc`",
                            "a control attaches at `xdp` or `tc`: `control NAME(xdp)`",
                        );
                        Hook::Xdp
                    }
                };
                let mut parser = None;
                let mut body = None;
                for p in inner {
                    match p.as_rule() {
                        Rule::name => parser = Some(self.decl_name(&p)),
                        Rule::block => body = Some(self.block(p)),
                        _ => {}
                    }
                }
                Item::Control(ControlDecl { name, hook, hook_span, parser, body: body?, span })
            }
            Rule::config_item => {
                let params = inner.filter_map(|p| self.config_param(p)).collect();
                Item::Config(ConfigDecl { params, span })
            }
            Rule::table_item => {
                let name = self.decl_name(&inner.next()?);
                Item::Table(self.table(name, inner, span))
            }
            Rule::counter_item => {
                let name = self.decl_name(&inner.next()?);
                let size = inner.find(|p| p.as_rule() == Rule::expr).map(|p| self.expr(p));
                Item::Counter(CounterDecl { name, size, span })
            }
            Rule::map_item => {
                let name = self.decl_name(&inner.next()?);
                let key_pair = inner.next()?;
                let key = if key_pair.as_rule() == Rule::type_tuple {
                    kids(key_pair).map(|t| self.type_ref(&t)).collect()
                } else {
                    vec![self.type_ref(&key_pair)]
                };
                let value = self.type_ref(&inner.next()?);
                let mut clauses = Clauses::new("map", &name);
                for p in inner {
                    if clauses.first_of_kind(self, &p) {
                        clauses.add(self, p);
                    }
                }
                Item::Map(MapDecl { name, key, value, size: clauses.size, idle: clauses.idle, span })
            }
            Rule::object_item => {
                let kind = match first_word {
                    Some(Rule::kw_pool) => ObjectKind::Pool,
                    Some(Rule::kw_sketch) => ObjectKind::Sketch,
                    Some(Rule::kw_queue) => ObjectKind::Queue,
                    _ => ObjectKind::Meter,
                };
                let name = self.decl_name(&inner.next()?);
                let ctor = self.decl_name(&inner.next()?);
                let mut args = Vec::new();
                let mut keyed = None;
                let mut elem = None;
                let mut per = None;
                for p in inner {
                    match p.as_rule() {
                        Rule::named_arg => {
                            let aspan = self.pspan(&p);
                            let mut parts = kids(p);
                            let (Some(n), Some(v)) = (parts.next(), parts.next()) else { continue };
                            args.push(NamedArg { name: self.decl_name(&n), value: self.expr(v), span: aspan });
                        }
                        Rule::keyed_clause => {
                            per = kids(p.clone()).find(|c| c.as_rule() == Rule::per_clause).map(|c| self.key_exprs(c));
                            keyed = Some(self.key_exprs(p));
                        }
                        Rule::of_clause => elem = kids(p).find(|t| t.as_rule() == Rule::type_name).map(|t| self.type_ref(&t)),
                        _ => {}
                    }
                }
                Item::Object(ObjectDecl { kind, name, ctor, args, keyed, elem, per, span })
            }
            _ => return None,
        })
    }

    // ------------------------------------------------------------ config, tables, state

    fn config_param(&mut self, pair: Pair<'_, Rule>) -> Option<ConfigParam> {
        let span = self.pspan(&pair);
        let mut parts = kids(pair);
        let name = self.decl_name(&parts.next()?);
        let ty_pair = parts.next()?;
        let ty = if ty_pair.as_rule() == Rule::set_type {
            let set_span = self.pspan(&ty_pair);
            let elem = kids(ty_pair).find(|q| q.as_rule() == Rule::type_name)?;
            ConfigType::Set(self.type_ref(&elem), set_span)
        } else {
            ConfigType::Scalar(self.type_ref(&ty_pair))
        };
        let default = parts.next().map(|d| {
            if d.as_rule() == Rule::pat_set {
                ConfigDefault::Set(self.pat_set(d))
            } else {
                ConfigDefault::Expr(self.expr(d))
            }
        });
        Some(ConfigParam { name, ty, default, span })
    }

    fn table<'i>(&mut self, name: Ident, sections: impl Iterator<Item = Pair<'i, Rule>>, span: Span) -> TableDecl {
        let mut table =
            TableDecl { name, keys: Vec::new(), actions: Vec::new(), default: None, size: None, masks: None, entries: None, span };
        let mut clauses = Clauses::new("table", &table.name);
        for section in sections {
            let rule = section.as_rule();
            if !clauses.first_of_kind(self, &section) {
                continue;
            }
            match rule {
                Rule::key_section => {
                    table.keys = kids(section).filter(|p| p.as_rule() == Rule::table_key).filter_map(|k| self.table_key(k)).collect();
                }
                Rule::actions_section => {
                    table.actions = kids(section).filter(|p| p.as_rule() == Rule::name).map(|n| self.decl_name(&n)).collect();
                }
                Rule::default_section => {
                    table.default = kids(section).find(|p| p.as_rule() == Rule::action_ref).map(|a| self.action_ref(a));
                }
                Rule::entries_section => {
                    let entries = kids(section).filter(|p| p.as_rule() == Rule::table_entry);
                    table.entries = Some(entries.filter_map(|e| self.table_entry(e)).collect());
                }
                _ => clauses.add(self, section),
            }
        }
        table.size = clauses.size;
        table.masks = clauses.masks;
        table
    }

    fn table_key(&mut self, pair: Pair<'_, Rule>) -> Option<TableKey> {
        let span = self.pspan(&pair);
        let kind_pair = kids(pair.clone()).find(|p| p.as_rule() == Rule::name)?;
        let exprs = self.key_exprs(pair);
        let kind = self.match_kind(&kind_pair);
        Some(TableKey { exprs, kind, kind_span: self.pspan(&kind_pair), span })
    }

    /// The match kind of a table key; reports E0110 and gives `exact` when unknown.
    fn match_kind(&mut self, pair: &Pair<'_, Rule>) -> MatchKind {
        match pair.as_str() {
            "exact" => MatchKind::Exact,
            "lpm" => MatchKind::Lpm,
            "ternary" => MatchKind::Ternary,
            "range" => MatchKind::Range,
            other => {
                let hint = match other {
                    "prefix" | "longest_prefix" | "lpm_match" => " (`lpm` is the longest-prefix match)",
                    "mask" | "masked" | "wildcard" => " (`ternary` is the value-and-mask match)",
                    "eq" | "equal" | "match" => " (`exact` compares the whole value)",
                    _ => "",
                };
                self.error(
                    "nfl::E0110",
                    format!("unknown match kind `{other}`"),
                    self.pspan(pair),
                    "not a match kind",
                    &format!("a key is matched with `exact`, `lpm`, `ternary` or `range`{hint}"),
                );
                MatchKind::Exact
            }
        }
    }

    fn action_ref(&mut self, pair: Pair<'_, Rule>) -> ActionRef {
        let span = self.pspan(&pair);
        let mut name = None;
        let mut args = Vec::new();
        for p in kids(pair) {
            match p.as_rule() {
                Rule::name => name = Some(self.decl_name(&p)),
                Rule::call_args => args = kids(p).map(|e| self.expr(e)).collect(),
                _ => {}
            }
        }
        // The grammar always gives a name; an empty one keeps the tree whole.
        let name = name.unwrap_or(Ident { name: String::new(), span });
        ActionRef { name, args, span }
    }

    fn table_entry(&mut self, pair: Pair<'_, Rule>) -> Option<TableEntry> {
        let span = self.pspan(&pair);
        let mut patterns = Vec::new();
        let mut action = None;
        for p in kids(pair) {
            match p.as_rule() {
                Rule::pat_tuple | Rule::pat_single => patterns = kids(p).map(|q| self.pattern(q)).collect(),
                Rule::action_ref => action = Some(self.action_ref(p)),
                _ => patterns = vec![self.pattern(p)],
            }
        }
        Some(TableEntry { patterns, action: action?, span })
    }

    /// The key expressions among the children of `pair` (a table key or a
    /// `keyed` clause): one, or the elements of a tuple.
    fn key_exprs(&mut self, pair: Pair<'_, Rule>) -> Vec<Expr> {
        let mut exprs = Vec::new();
        for p in kids(pair) {
            match p.as_rule() {
                Rule::key_tuple => exprs.extend(kids(p).map(|e| self.expr(e))),
                Rule::expr => exprs.push(self.expr(p)),
                _ => {}
            }
        }
        exprs
    }

    fn fields(&mut self, list: Pair<'_, Rule>) -> Vec<FieldDecl> {
        let mut fields = Vec::new();
        for field in kids(list) {
            let span = self.pspan(&field);
            let mut parts = kids(field);
            let (Some(n), Some(t)) = (parts.next(), parts.next()) else { continue };
            fields.push(FieldDecl { name: self.decl_name(&n), ty: self.type_ref(&t), span });
        }
        fields
    }

    // ------------------------------------------------------------ parsers

    /// `overflow pass|drop|reject|accept`.
    fn overflow(&mut self, pair: Pair<'_, Rule>) -> Option<(Overflow, Span)> {
        let action = pair.into_inner().find(|p| p.as_rule() == Rule::overflow_action)?;
        let span = self.pspan(&action);
        let o = match action.as_str() {
            "pass" => Overflow::Pass,
            "drop" => Overflow::Drop,
            "reject" => Overflow::Reject,
            _ => Overflow::Accept,
        };
        Some((o, span))
    }

    fn state(&mut self, pair: Pair<'_, Rule>) -> Option<StateDecl> {
        let span = self.pspan(&pair);
        let mut inner = kids(pair).filter(|p| p.as_rule() != Rule::kw_state);
        let name = self.decl_name(&inner.next()?);
        let mut body = Vec::new();
        let mut transition = None;
        for p in inner {
            let pspan = self.pspan(&p);
            match p.as_rule() {
                Rule::extract_stmt => {
                    if let Some(h) = kids(p).find(|q| q.as_rule() == Rule::ident) {
                        body.push(ParserStmt::Extract { header: self.ident(&h), span: pspan });
                    }
                }
                Rule::skip_stmt => {
                    if let Some(e) = kids(p).find(|q| q.as_rule() == Rule::expr) {
                        body.push(ParserStmt::Skip { amount: self.expr(e), span: pspan });
                    }
                }
                Rule::kw_accept => transition = Some(Transition::Accept(pspan)),
                Rule::kw_reject => transition = Some(Transition::Reject(pspan)),
                Rule::goto_tr => {
                    if let Some(n) = kids(p).find(|q| q.as_rule() == Rule::name) {
                        transition = Some(Transition::Goto(self.decl_name(&n)));
                    }
                }
                Rule::select_tr => transition = Some(Transition::Select(self.select(p))),
                _ => {}
            }
        }
        Some(StateDecl { name, body, transition, span })
    }

    fn select(&mut self, pair: Pair<'_, Rule>) -> Select {
        let span = self.pspan(&pair);
        let mut keys = Vec::new();
        let mut cases = Vec::new();
        for p in kids(pair) {
            match p.as_rule() {
                Rule::key_tuple => keys.extend(kids(p).map(|e| self.expr(e))),
                Rule::expr => keys.push(self.expr(p)),
                Rule::select_case => {
                    if let Some(case) = self.select_case(p) {
                        cases.push(case);
                    }
                }
                _ => {}
            }
        }
        Select { keys, cases, span }
    }

    fn select_case(&mut self, pair: Pair<'_, Rule>) -> Option<SelectCase> {
        let span = self.pspan(&pair);
        let mut alternatives = Vec::new();
        let mut target = None;
        for p in kids(pair) {
            let pspan = self.pspan(&p);
            match p.as_rule() {
                Rule::case_alt => {
                    let Some(alt) = kids(p).next() else { continue };
                    if alt.as_rule() == Rule::pat_tuple {
                        alternatives.push(kids(alt).map(|q| self.pattern(q)).collect());
                    } else {
                        alternatives.push(vec![self.pattern(alt)]);
                    }
                }
                Rule::kw_accept => target = Some(Target::Accept(pspan)),
                Rule::kw_reject => target = Some(Target::Reject(pspan)),
                Rule::name => target = Some(Target::State(self.decl_name(&p))),
                _ => {}
            }
        }
        Some(SelectCase { alternatives, target: target?, span })
    }

    // ------------------------------------------------------------ patterns

    /// A `wildcard` or `pat_value` pair.
    fn pattern(&mut self, pair: Pair<'_, Rule>) -> Pattern {
        let span = self.pspan(&pair);
        if pair.as_rule() == Rule::wildcard {
            return Pattern::Wildcard(span);
        }
        let mut inner = kids(pair);
        let Some(first) = inner.next() else { return Pattern::Wildcard(span) };
        let tail = inner.next();
        match tail {
            None => {
                if let Some(prefix) = self.prefix_pattern(&first, span) {
                    return prefix;
                }
                Pattern::Value(self.expr(first))
            }
            Some(tail) => {
                let rule = tail.as_rule();
                let mut parts = kids(tail);
                let value = self.expr(first);
                let (op, rhs) = if rule == Rule::range_tail {
                    let op = parts.next().map(|p| p.as_str() == "..=");
                    (op, parts.next())
                } else {
                    (None, parts.next())
                };
                let rhs = match rhs {
                    Some(r) => self.expr(r),
                    None => self.placeholder(span),
                };
                match op {
                    Some(inclusive) => Pattern::Range { lo: value, hi: rhs, inclusive, span },
                    None => Pattern::Mask { value, mask: rhs, span },
                }
            }
        }
    }

    /// `OPERAND / NUMBER` in a pattern is a prefix such as `198.18.0.0/15`.
    fn prefix_pattern(&mut self, pat_expr: &Pair<'_, Rule>, span: Span) -> Option<Pattern> {
        let parts: Vec<Pair<'_, Rule>> = kids(pat_expr.clone()).collect();
        let [addr, op, len] = parts.as_slice() else { return None };
        if op.as_str() != "/" {
            return None;
        }
        // The length must be a bare number: no unary operator, suffix or cast.
        let mut len_parts = kids(len.clone());
        let num = len_parts.next()?;
        if num.as_rule() != Rule::number || len_parts.next().is_some() {
            return None;
        }
        let len_span = self.pspan(&num);
        let value = self.int_value(&num);
        let len = match u32::try_from(value) {
            Ok(v) => v,
            Err(_) => {
                self.error(
                    "nfl::E0103",
                    "prefix length out of range".to_string(),
                    len_span,
                    "too large",
                    "a prefix length counts bits, e.g. `/24`",
                );
                0
            }
        };
        let addr = self.operand(addr.clone());
        let addr = self.finish(addr);
        Some(Pattern::Prefix { addr, len, len_span, span })
    }

    /// The patterns of a `pat_alts` pair.
    fn alternatives(&mut self, pair: Pair<'_, Rule>) -> Vec<Pattern> {
        kids(pair).map(|p| self.pattern(p)).collect()
    }

    /// A `pat_set` pair: `{ P, P | P, ... }`.
    fn pat_set(&mut self, pair: Pair<'_, Rule>) -> Pattern {
        let span = self.pspan(&pair);
        let mut items = Vec::new();
        for alts in kids(pair) {
            items.extend(self.alternatives(alts));
        }
        Pattern::Set { items, span }
    }

    /// The right-hand side of `in`: a set, one pattern, or `P | P` (a set).
    fn in_pattern(&mut self, pair: Pair<'_, Rule>) -> Pattern {
        let span = self.pspan(&pair);
        let Some(rhs) = kids(pair).find(|p| p.as_rule() != Rule::kw_in) else {
            return Pattern::Wildcard(span);
        };
        let rhs_span = self.pspan(&rhs);
        if rhs.as_rule() == Rule::pat_set {
            return self.pat_set(rhs);
        }
        let mut items = self.alternatives(rhs);
        if items.len() == 1
            && let Some(only) = items.pop()
        {
            return only;
        }
        Pattern::Set { items, span: rhs_span }
    }

    // ------------------------------------------------------------ statements

    fn block(&mut self, pair: Pair<'_, Rule>) -> Block {
        let span = self.pspan(&pair);
        let stmts = kids(pair).filter_map(|p| self.stmt(p)).collect();
        Block { stmts, span }
    }

    fn stmt(&mut self, pair: Pair<'_, Rule>) -> Option<Stmt> {
        let span = self.pspan(&pair);
        let rule = pair.as_rule();
        if rule == Rule::verdict_stmt {
            let kind = match pair.as_str() {
                "pass" => VerdictKind::Pass,
                "drop" => VerdictKind::Drop,
                "tx" => VerdictKind::Tx,
                _ => VerdictKind::Abort,
            };
            return Some(Stmt::Verdict { kind, span });
        }
        if rule == Rule::if_stmt {
            return self.if_stmt(pair);
        }
        if rule == Rule::expr_stmt {
            // A name and its suffixes, like an operand.
            let expr = self.operand(pair).expr;
            return Some(Stmt::Expr { expr, span });
        }
        let mut inner = kids(pair).filter(|p| !is_keyword_rule(p.as_rule()));
        Some(match rule {
            Rule::let_stmt => {
                let name = self.decl_name(&inner.next()?);
                let mut next = inner.next()?;
                let mut ty = None;
                if next.as_rule() == Rule::type_name {
                    ty = Some(self.type_ref(&next));
                    next = inner.next()?;
                }
                let value = self.expr(next);
                let else_block = inner.next().and_then(|e| kids(e).find(|b| b.as_rule() == Rule::block));
                let else_block = else_block.map(|b| self.block(b));
                Stmt::Let { name, ty, value, else_block, span }
            }
            Rule::redirect_stmt => Stmt::Redirect { ifindex: self.expr(inner.next()?), span },
            Rule::for_stmt => {
                let var = self.decl_name(&inner.next()?);
                let start = self.expr(inner.next()?);
                let inclusive = inner.next()?.as_str() == "..=";
                let end = self.expr(inner.next()?);
                let body = self.block(inner.next()?);
                Stmt::For { var, start, end, inclusive, body, span }
            }
            Rule::stage_stmt => Stmt::Stage { body: self.block(inner.next()?), span },
            Rule::call_stmt => {
                let callee = self.ident(&inner.next()?);
                let args = inner.map(|p| self.expr(p)).collect();
                Stmt::Call { callee, args, span }
            }
            Rule::assign_stmt => {
                let place = kids(inner.next()?).next()?;
                let target = self.operand(place);
                let target = self.finish(target);
                let op = match inner.next()?.as_str() {
                    "+=" => Some(BinOp::Add),
                    "-=" => Some(BinOp::Sub),
                    "&=" => Some(BinOp::BitAnd),
                    "|=" => Some(BinOp::BitOr),
                    "^=" => Some(BinOp::BitXor),
                    _ => None,
                };
                Stmt::Assign { target, op, value: self.expr(inner.next()?), span }
            }
            _ => return None,
        })
    }

    fn if_stmt(&mut self, pair: Pair<'_, Rule>) -> Option<Stmt> {
        let span = self.pspan(&pair);
        let end = span.end as usize;
        let mut cond = None;
        let mut then_block = None;
        // (start of `if`, condition, block) for every `else if`.
        let mut else_ifs = Vec::new();
        let mut else_block = None;
        for p in kids(pair) {
            match p.as_rule() {
                Rule::expr => cond = Some(self.expr(p)),
                Rule::block => then_block = Some(self.block(p)),
                Rule::else_if => {
                    let mut start = None;
                    let mut c = None;
                    let mut b = None;
                    for q in kids(p) {
                        match q.as_rule() {
                            Rule::kw_if => start = Some(q.as_span().start()),
                            Rule::expr => c = Some(self.expr(q)),
                            Rule::block => b = Some(self.block(q)),
                            _ => {}
                        }
                    }
                    if let (Some(s), Some(c), Some(b)) = (start, c, b) {
                        else_ifs.push((s, c, b));
                    }
                }
                Rule::else_block => {
                    if let Some(b) = kids(p).find(|q| q.as_rule() == Rule::block) {
                        else_block = Some(ElseBranch::Block(self.block(b)));
                    }
                }
                _ => {}
            }
        }
        if else_ifs.len() > MAX_ELSE_IF {
            self.error(
                "nfl::E0108",
                format!("`else if` chain longer than {MAX_ELSE_IF}"),
                span,
                "this chain is too long",
                "split the chain, or use `in` with a set of values",
            );
            else_ifs.truncate(MAX_ELSE_IF);
        }
        let mut tail = else_block;
        while let Some((start, c, b)) = else_ifs.pop() {
            let s = Span::new(self.file, self.offset.saturating_add(start), end);
            tail = Some(ElseBranch::If(Box::new(Stmt::If { cond: c, then_block: b, else_block: tail, span: s })));
        }
        Some(Stmt::If { cond: cond?, then_block: then_block?, else_block: tail, span })
    }

    // ------------------------------------------------------------ expressions

    fn placeholder(&self, span: Span) -> Expr {
        Expr { id: ExprId(0), kind: ExprKind::Int(0), span }
    }

    fn finish(&mut self, built: Built) -> Expr {
        built.expr
    }

    /// Wrap a new node, enforcing [`MAX_EXPR_DEPTH`].
    fn node(&mut self, kind: ExprKind, span: Span, depth: u32) -> Built {
        if depth > MAX_EXPR_DEPTH {
            if !self.reported_depth {
                self.reported_depth = true;
                self.error(
                    "nfl::E0108",
                    format!("expression nested more than {MAX_EXPR_DEPTH} levels deep"),
                    span,
                    "this expression is too deep",
                    "split it into several `let` bindings",
                );
            }
            return Built { expr: self.placeholder(span), depth: 1, is_cmp: false };
        }
        Built { expr: Expr { id: ExprId(0), kind, span }, depth, is_cmp: false }
    }

    /// An `expr` or `pat_expr` pair (or `paren`, whose inner is an `expr`).
    fn expr(&mut self, pair: Pair<'_, Rule>) -> Expr {
        let built = self.expr_built(pair);
        built.expr
    }

    fn expr_built(&mut self, pair: Pair<'_, Rule>) -> Built {
        let span = self.pspan(&pair);
        let mut operands: Vec<Built> = Vec::new();
        let mut ops: Vec<(BinOp, Span)> = Vec::new();
        for p in kids(pair) {
            match p.as_rule() {
                Rule::operand => {
                    let b = self.operand(p);
                    operands.push(b);
                }
                Rule::binop | Rule::pat_binop => {
                    let op_span = self.pspan(&p);
                    let Some(op) = binop_of(p.as_str()) else { continue };
                    while let Some(&(top, _)) = ops.last()
                        && precedence(top) >= precedence(op)
                    {
                        self.reduce(&mut operands, &mut ops);
                    }
                    ops.push((op, op_span));
                }
                Rule::in_tail => {
                    let in_span = self.pspan(&p);
                    while let Some(&(top, _)) = ops.last()
                        && precedence(top) >= CMP_PRECEDENCE
                    {
                        self.reduce(&mut operands, &mut ops);
                    }
                    let pattern = self.in_pattern(p);
                    let Some(lhs) = operands.pop() else { continue };
                    if lhs.is_cmp {
                        self.chained(lhs.expr.span, in_span);
                    }
                    let espan = lhs.expr.span.to(in_span);
                    let depth = lhs.depth.saturating_add(1);
                    let mut b = self.node(ExprKind::In { expr: Box::new(lhs.expr), pattern: Box::new(pattern) }, espan, depth);
                    b.is_cmp = true;
                    operands.push(b);
                }
                _ => {}
            }
        }
        while !ops.is_empty() {
            self.reduce(&mut operands, &mut ops);
        }
        let out = operands.pop();
        match out {
            Some(b) => b,
            None => Built { expr: self.placeholder(span), depth: 1, is_cmp: false },
        }
    }

    fn reduce(&mut self, operands: &mut Vec<Built>, ops: &mut Vec<(BinOp, Span)>) {
        let Some((op, op_span)) = ops.pop() else { return };
        let (Some(rhs), Some(lhs)) = (operands.pop(), operands.pop()) else { return };
        if op.is_comparison() && (lhs.is_cmp || rhs.is_cmp) {
            self.chained(lhs.expr.span, op_span);
        }
        let span = lhs.expr.span.to(rhs.expr.span);
        let depth = lhs.depth.max(rhs.depth).saturating_add(1);
        let mut b = self.node(ExprKind::Binary { op, lhs: Box::new(lhs.expr), rhs: Box::new(rhs.expr) }, span, depth);
        b.is_cmp = op.is_comparison();
        operands.push(b);
    }

    fn chained(&mut self, first: Span, op_span: Span) {
        self.diags.push(
            Diagnostic::error("nfl::E0106", "comparison operators cannot be chained", op_span, "second comparison")
                .with_label(first, "this is already a comparison")
                .with_help("add parentheses or split with `&&`: `a < b && b < c`"),
        );
    }

    /// An `operand` pair: prefix operators, a primary, suffixes and casts.
    fn operand(&mut self, pair: Pair<'_, Rule>) -> Built {
        let span = self.pspan(&pair);
        let mut unary = Vec::new();
        let mut acc: Option<Built> = None;
        for p in kids(pair) {
            let pspan = self.pspan(&p);
            match p.as_rule() {
                Rule::unary_op => {
                    let op = match p.as_str() {
                        "!" => UnOp::Not,
                        "~" => UnOp::BitNot,
                        _ => UnOp::Neg,
                    };
                    unary.push((op, pspan));
                }
                Rule::field_suffix | Rule::method_suffix | Rule::index_suffix | Rule::cast => {
                    acc = acc.map(|base| self.suffix(base, p));
                }
                _ => acc = Some(self.primary(p)),
            }
        }
        let mut acc = match acc {
            Some(b) => b,
            None => Built { expr: self.placeholder(span), depth: 1, is_cmp: false },
        };
        while let Some((op, op_span)) = unary.pop() {
            let espan = op_span.to(acc.expr.span);
            let depth = acc.depth.saturating_add(1);
            acc = self.node(ExprKind::Unary { op, operand: Box::new(acc.expr) }, espan, depth);
        }
        acc
    }

    /// Apply a suffix (`.name`, `.name(args)`, `[index]`, `as TYPE`) to `base`.
    fn suffix(&mut self, base: Built, pair: Pair<'_, Rule>) -> Built {
        let espan = base.expr.span.to(self.pspan(&pair));
        let mut depth = base.depth.saturating_add(1);
        let rule = pair.as_rule();
        let mut inner = kids(pair).filter(|q| q.as_rule() != Rule::kw_as);
        let Some(first) = inner.next() else { return base };
        let kind = match rule {
            Rule::field_suffix | Rule::method_suffix => {
                let name = self.ident(&first);
                match inner.next() {
                    None => ExprKind::Field { base: Box::new(base.expr), name },
                    Some(call) => {
                        let mut args = Vec::new();
                        for arg in kids(call) {
                            let b = self.expr_built(arg);
                            depth = depth.max(b.depth.saturating_add(1));
                            args.push(b.expr);
                        }
                        ExprKind::MethodCall { receiver: Box::new(base.expr), method: name, args }
                    }
                }
            }
            Rule::index_suffix => {
                let mut items = vec![self.expr_built(first)];
                items.extend(inner.map(|q| self.expr_built(q)));
                let index = match (items.len(), items.first(), items.last()) {
                    (2.., Some(a), Some(b)) => {
                        let span = a.expr.span.to(b.expr.span);
                        let tdepth = items.iter().map(|b| b.depth).max().unwrap_or(0).saturating_add(1);
                        let exprs = items.into_iter().map(|b| b.expr).collect();
                        self.node(ExprKind::Tuple(exprs), span, tdepth)
                    }
                    _ => match items.pop() {
                        Some(only) => only,
                        None => return base,
                    },
                };
                depth = depth.max(index.depth.saturating_add(1));
                ExprKind::Index { base: Box::new(base.expr), index: Box::new(index.expr) }
            }
            _ => ExprKind::Cast { expr: Box::new(base.expr), ty: self.type_ref(&first) },
        };
        self.node(kind, espan, depth)
    }

    fn primary(&mut self, pair: Pair<'_, Rule>) -> Built {
        let span = self.pspan(&pair);
        let kind = match pair.as_rule() {
            Rule::paren => {
                let Some(inner) = kids(pair).next() else {
                    return Built { expr: self.placeholder(span), depth: 1, is_cmp: false };
                };
                let mut b = self.expr_built(inner);
                // The parenthesized span is the more useful one to point at.
                b.expr.span = span;
                b.is_cmp = false;
                return b;
            }
            Rule::number => self.number(&pair),
            Rule::dotted if pair.as_str().split('.').count() == 2 => self.decimal_value(&pair),
            Rule::dotted => ExprKind::Ipv4(self.ipv4_value(&pair)),
            Rule::mac => ExprKind::Mac(self.mac_value(&pair)),
            Rule::boolean => ExprKind::Bool(pair.as_str() == "true"),
            _ => ExprKind::Name(self.ident(&pair)),
        };
        Built { expr: Expr { id: ExprId(0), kind, span }, depth: 1, is_cmp: false }
    }

    // ------------------------------------------------------------ leaves

    fn ident(&self, pair: &Pair<'_, Rule>) -> Ident {
        Ident { name: pair.as_str().to_string(), span: self.pspan(pair) }
    }

    /// A name in a declaring position; keywords are reported here.
    fn decl_name(&mut self, pair: &Pair<'_, Rule>) -> Ident {
        let id = self.ident(pair);
        if is_keyword(&id.name) {
            self.error(
                "nfl::E0104",
                format!("`{}` is a keyword and cannot be used as a name", id.name),
                id.span,
                "keyword",
                &format!("choose another name, such as `{}_`", id.name),
            );
        }
        id
    }

    fn type_ref(&mut self, pair: &Pair<'_, Rule>) -> TypeRef {
        let span = self.pspan(pair);
        let text = pair.as_str();
        let ty = if text == "bool" {
            Type::Bool
        } else if let Some(digits) = text.strip_prefix('u')
            && !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
        {
            match digits.parse::<u32>() {
                Ok(w) => Type::UInt(w),
                Err(_) => {
                    self.error(
                        "nfl::E0105",
                        format!("type width in `{text}` is too large"),
                        span,
                        "width does not fit in 32 bits",
                        "widths go from `u1` to `u64`",
                    );
                    Type::UInt(0)
                }
            }
        } else {
            let help = match text {
                "u" => "`u` needs a bit width, such as `u16`".to_string(),
                "int" | "uint" | "i32" | "int32" | "unsigned" => {
                    "integers are unsigned and sized: `u8`, `u16`, `u32`, `u64` or any `uN` up to 64".to_string()
                }
                "byte" | "i8" => "use `u8`".to_string(),
                "boolean" => "use `bool`".to_string(),
                _ => "types are `u1` to `u64` and `bool`".to_string(),
            };
            self.error("nfl::E0105", format!("unknown type `{text}`"), span, "not a type", &help);
            Type::UInt(0)
        };
        TypeRef { ty, span }
    }

    /// The value of a `number` pair; reports E0103 and returns 0 when bad.
    fn int_value(&mut self, pair: &Pair<'_, Rule>) -> u64 {
        let span = self.pspan(pair);
        match parse_int(pair.as_str()) {
            Ok(v) => v,
            Err(problem) => {
                let (message, help) = match problem {
                    IntProblem::Overflow => (
                        format!("integer literal `{}` does not fit in 64 bits", pair.as_str()),
                        "the largest value is 18446744073709551615 (`0xffff_ffff_ffff_ffff`)".to_string(),
                    ),
                    IntProblem::NoDigits => (
                        format!("integer literal `{}` has no digits", pair.as_str()),
                        "write digits after the base prefix, e.g. `0x0800`".to_string(),
                    ),
                    IntProblem::BadDigit(c, base) => (
                        format!("invalid digit `{c}` in {base} literal `{}`", pair.as_str()),
                        "integer literals look like `1500`, `0x0800` or `0b1010`; a name cannot start with a digit"
                            .to_string(),
                    ),
                };
                self.error("nfl::E0103", message, span, "invalid literal", &help);
                0
            }
        }
    }

    /// A `number` pair: an integer literal, or a duration such as `30s`.
    fn number(&mut self, pair: &Pair<'_, Rule>) -> ExprKind {
        let text = pair.as_str();
        let Some((digits, unit, scale)) = split_duration(text) else {
            return ExprKind::Int(self.int_value(pair));
        };
        let span = self.pspan(pair);
        let value = parse_int(digits);
        if !digits.bytes().all(|b| b.is_ascii_digit() || b == b'_') {
            let help = match value {
                Ok(v) => format!("write the number in decimal: `{v}{unit}`"),
                Err(_) => "durations look like `30s`, `250ms` or `5m`".to_string(),
            };
            self.error(
                "nfl::E0111",
                format!("duration `{text}` is not written in decimal"),
                span,
                "a duration needs a decimal number",
                &help,
            );
            return ExprKind::Duration(0);
        }
        match value.ok().and_then(|v| v.checked_mul(scale)) {
            Some(ns) => ExprKind::Duration(ns),
            None => {
                self.error(
                    "nfl::E0111",
                    format!("duration `{text}` is too long"),
                    span,
                    "does not fit in 64 bits of nanoseconds",
                    "the longest duration is 18446744073709551615ns (about 584 years)",
                );
                ExprKind::Duration(0)
            }
        }
    }

    /// `12.345`: exact units and scale; at most 18 digits after the point.
    fn decimal_value(&mut self, pair: &Pair<'_, Rule>) -> ExprKind {
        let text = pair.as_str();
        let digits: String = text.chars().filter(|c| *c != '.').collect();
        let scale = text.len() - text.find('.').map_or(text.len(), |p| p + 1);
        match digits.parse::<u64>() {
            Ok(units) if scale <= 18 => ExprKind::Decimal { units, scale: scale as u32 },
            _ => {
                let span = self.pspan(pair);
                self.error("nfl::E0103", format!("`{text}` is not a valid literal"), span, "too many digits", "a decimal fraction has at most 18 significant digits, such as `0.001`");
                ExprKind::Decimal { units: 0, scale: 0 }
            }
        }
    }

    fn ipv4_value(&mut self, pair: &Pair<'_, Rule>) -> u32 {
        let span = self.pspan(pair);
        let text = pair.as_str();
        let parts: Vec<&str> = text.split('.').collect();
        if parts.len() != 4 {
            self.error(
                "nfl::E0103",
                format!("`{text}` is not a valid literal"),
                span,
                "expected an IPv4 address with four parts",
                "IPv4 addresses look like `198.18.0.1`; fractions (for sketch sizing) like `0.001`",
            );
            return 0;
        }
        let mut value = 0u32;
        let mut pos = span.start as usize;
        for part in parts {
            let part_span = Span::new(self.file, pos, pos.saturating_add(part.len()));
            pos = pos.saturating_add(part.len() + 1);
            match part.parse::<u8>() {
                Ok(octet) => value = (value << 8) | u32::from(octet),
                Err(_) => {
                    self.error(
                        "nfl::E0103",
                        format!("invalid IPv4 address `{text}`"),
                        part_span,
                        "larger than 255",
                        "each of the four parts of an IPv4 address is 0 to 255",
                    );
                    return 0;
                }
            }
        }
        value
    }

    fn mac_value(&mut self, pair: &Pair<'_, Rule>) -> u64 {
        let span = self.pspan(pair);
        let text = pair.as_str();
        let mut value = 0u64;
        for group in text.split(':') {
            let byte = if group.len() == 2 { u8::from_str_radix(group, 16).ok() } else { None };
            match byte {
                Some(b) => value = (value << 8) | u64::from(b),
                None => {
                    self.error(
                        "nfl::E0103",
                        format!("invalid MAC address `{text}`"),
                        span,
                        "each group needs exactly two hex digits",
                        "MAC addresses look like `02:00:00:00:00:01`",
                    );
                    return 0;
                }
            }
        }
        value
    }
}

/// The sections of a table, or the options of a map: each may be given at
/// most once (E0109). Holds the sections that are one expression.
struct Clauses {
    /// `table` or `map`, and its name, for messages.
    what: &'static str,
    owner: String,
    /// Each section kind seen so far, with the span of its keyword.
    seen: Vec<(Rule, Span)>,
    size: Option<Expr>,
    masks: Option<Expr>,
    idle: Option<Expr>,
}

impl Clauses {
    fn new(what: &'static str, owner: &Ident) -> Clauses {
        Clauses { what, owner: owner.name.clone(), seen: Vec::new(), size: None, masks: None, idle: None }
    }

    /// Record `section`; false (after reporting E0109) when its kind was
    /// already given, in which case the second one is ignored.
    fn first_of_kind(&mut self, b: &mut Builder<'_>, section: &Pair<'_, Rule>) -> bool {
        let rule = section.as_rule();
        let Some(word) = section.clone().into_inner().next() else { return true };
        let span = b.pspan(&word);
        let Some(&(_, first)) = self.seen.iter().find(|(r, _)| *r == rule) else {
            self.seen.push((rule, span));
            return true;
        };
        let word = word.as_str();
        let (what, owner) = (self.what, &self.owner);
        b.diags.push(
            Diagnostic::error(
                "nfl::E0109",
                format!("`{word}` is given twice in {what} `{owner}`"),
                span,
                format!("second `{word}`"),
            )
            .with_label(first, format!("first `{word}` here"))
            .with_help(format!("each section of a {what} may be given once; merge the two or remove one")),
        );
        false
    }

    /// Keep the expression of a `size`, `masks` or `idle` clause.
    fn add(&mut self, b: &mut Builder<'_>, clause: Pair<'_, Rule>) {
        let rule = clause.as_rule();
        let Some(value) = kids(clause).find(|p| p.as_rule() == Rule::expr).map(|e| b.expr(e)) else { return };
        match rule {
            Rule::size_clause => self.size = Some(value),
            Rule::masks_clause => self.masks = Some(value),
            Rule::idle_clause => self.idle = Some(value),
            _ => {}
        }
    }
}

/// Punctuation rules exist only for error messages; the builder skips them.
fn is_punct(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::lbrace
            | Rule::rbrace
            | Rule::lparen
            | Rule::rparen
            | Rule::lbracket
            | Rule::rbracket
            | Rule::colon
            | Rule::equals
            | Rule::comma
            | Rule::langle
            | Rule::rangle
            | Rule::arrow
    )
}

/// The children of a pair, without punctuation.
fn kids(pair: Pair<'_, Rule>) -> impl Iterator<Item = Pair<'_, Rule>> {
    pair.into_inner().filter(|p| !is_punct(p.as_rule()))
}

fn is_keyword_rule(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::kw_import
            | Rule::kw_const
            | Rule::kw_header
            | Rule::kw_meta
            | Rule::kw_parser
            | Rule::kw_state
            | Rule::kw_extract
            | Rule::kw_skip
            | Rule::kw_goto
            | Rule::kw_select
            | Rule::kw_action
            | Rule::kw_control
            | Rule::kw_let
            | Rule::kw_if
            | Rule::kw_else
            | Rule::kw_redirect
            | Rule::kw_in
            | Rule::kw_as
            | Rule::kw_config
            | Rule::kw_table
            | Rule::kw_counter
            | Rule::kw_map
            | Rule::kw_meter
            | Rule::kw_pool
            | Rule::kw_sketch
            | Rule::kw_queue
            | Rule::kw_set
            | Rule::kw_key
            | Rule::kw_actions
            | Rule::kw_default
            | Rule::kw_size
            | Rule::kw_masks
            | Rule::kw_entries
            | Rule::kw_idle
            | Rule::kw_keyed
            | Rule::kw_of
            | Rule::kw_per
            | Rule::kw_for
            | Rule::kw_stage
    )
}

#[derive(Debug, PartialEq)]
enum IntProblem {
    Overflow,
    NoDigits,
    BadDigit(char, &'static str),
}

/// Duration units and their length in nanoseconds; two-letter units first,
/// so that `250ms` is not read as `250m` followed by `s`.
const DURATION_UNITS: [(&str, u64); 6] = [
    ("ns", 1),
    ("us", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// `(number, unit, nanoseconds per unit)` when `text` is a number followed
/// by a duration unit: decimal digits, or a literal in another base (which
/// the builder reports). Anything else is left to [`parse_int`].
fn split_duration(text: &str) -> Option<(&str, &'static str, u64)> {
    DURATION_UNITS.iter().find_map(|&(unit, scale)| {
        let digits = text.strip_suffix(unit)?;
        let decimal = digits.starts_with(|c: char| c.is_ascii_digit())
            && digits.bytes().all(|b| b.is_ascii_digit() || b == b'_');
        let other_base =
            digits.get(..2).is_some_and(|p| matches!(p, "0x" | "0X" | "0b" | "0B")) && parse_int(digits).is_ok();
        (decimal || other_base).then_some((digits, unit, scale))
    })
}

/// Parse `1500`, `0x0800`, `0b1010` (with `_` separators) without panicking.
fn parse_int(text: &str) -> Result<u64, IntProblem> {
    let (digits, radix, base) = if let Some(rest) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        (rest, 16u32, "hexadecimal")
    } else if let Some(rest) = text.strip_prefix("0b").or_else(|| text.strip_prefix("0B")) {
        (rest, 2, "binary")
    } else {
        (text, 10, "decimal")
    };
    let mut value = 0u64;
    let mut any = false;
    for c in digits.chars() {
        if c == '_' {
            continue;
        }
        let d = c.to_digit(radix).ok_or(IntProblem::BadDigit(c, base))?;
        any = true;
        value = value
            .checked_mul(u64::from(radix))
            .and_then(|v| v.checked_add(u64::from(d)))
            .ok_or(IntProblem::Overflow)?;
    }
    if any { Ok(value) } else { Err(IntProblem::NoDigits) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_literals() {
        assert_eq!(parse_int("1_500"), Ok(1500));
        assert_eq!(parse_int("0x08_00"), Ok(0x800));
        assert_eq!(parse_int("0b1010"), Ok(10));
        assert_eq!(parse_int("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(parse_int("18446744073709551616"), Err(IntProblem::Overflow));
        assert_eq!(parse_int("0x"), Err(IntProblem::NoDigits));
        assert_eq!(parse_int("0b102"), Err(IntProblem::BadDigit('2', "binary")));
        assert_eq!(parse_int("12ab"), Err(IntProblem::BadDigit('a', "decimal")));
    }
}
