//! The checker: parsed modules to a [`Hir`], reporting every error it finds.
//!
//! Passes, in order (each keeps going after an error):
//! 1. [`names`]: collect declarations from every module into one namespace
//!    (all loaded modules share it), lay out headers ([`types`]), merge `meta`.
//! 2. [`consts`]: fold every constant, detecting cycles.
//! 3. [`control`]: type and lower action bodies, then the control block,
//!    running the header-validity flow analysis as it goes.
//! 4. [`parser_graph`]: check every parser's state graph (start, targets,
//!    reachability, bounded loops, definite extraction) and lower the one the
//!    control uses.
//!
//! Expressions are typed in [`expr`]; patterns are normalised in [`pattern`];
//! constant evaluation of lowered expressions lives in [`eval`].
//!
//! Lowering functions return `Option<hir::Expr>`: `None` means an error was
//! already reported for that sub-expression, so parents stay quiet instead of
//! cascading. A `Hir` is only returned when no error was reported at all.

mod config;
mod consts;
mod control;
mod eval;
mod expr;
mod loops;
mod maglev;
mod names;
mod objects;
mod parser_graph;
mod pattern;
mod queue;
mod reshape;
mod sketch;
mod stage;
mod state;
mod tables;
mod types;

pub use reshape::checksum_kind;
pub use tables::{DEFAULT_MASKS, INLINE_MAX};

use std::collections::HashMap;

use nfl_syntax::ast::{self, Module, Span};
use nfl_syntax::{Diagnostic, SourceMap};

use crate::hir::{self, ActionId, HeaderId, Hir, LocalId, Ty};

/// Check `modules` (the root first, then its imports, as
/// [`crate::frontend::load_program`] returns them) and produce the HIR.
///
/// `Ok` when there is no error; `Err` carries every diagnostic found.
/// The checker currently emits no warnings; if it ever does, they are
/// returned by [`check_all`] and dropped here on success.
pub fn check(sources: &SourceMap, modules: &[Module]) -> Result<Hir, Vec<Diagnostic>> {
    match check_all(sources, modules) {
        (Some(hir), _) => Ok(hir),
        (None, diags) => Err(diags),
    }
}

/// Like [`check`], but always returns all diagnostics (errors and warnings);
/// the `Hir` is `Some` exactly when none of them is an error.
pub fn check_all(sources: &SourceMap, modules: &[Module]) -> (Option<Hir>, Vec<Diagnostic>) {
    check_with_config(sources, modules, None)
}

/// [`check_all`] with the values of a YAML config file (already in
/// `sources` under `config`).
pub fn check_with_config(sources: &SourceMap, modules: &[Module], config: Option<ast::FileId>) -> (Option<Hir>, Vec<Diagnostic>) {
    let mut ck = Checker::new(sources, modules);
    ck.collect();
    ck.fold_consts();
    ck.lower_config_defaults();
    ck.config_used = vec![false; ck.config.len()];
    ck.lower_state_decls();
    ck.type_tables();
    let values = config.and_then(|file| {
        let text = sources.get(file)?.text.clone();
        let schema = crate::config::ConfigSchema { params: ck.config_params_schema(), tables: ck.table_schemas(), pools: ck.maglev_cfg_schemas() };
        let (values, diags) = config::read_yaml(file, &text, &schema);
        ck.diags.extend(diags);
        Some(values)
    });
    ck.apply_config_params(values.as_ref());
    ck.lower_objects(values.as_ref().map(|v| &v.pools));
    // The parser comes first: what it extracts before each header tells the
    // validity analysis of actions and the control what `H.valid` implies.
    let choice = ck.control_parser_choice();
    let parser = ck.check_parsers(choice);
    if let Some(p) = &parser
        && !reshape::reshapes(&ck.controls)
    {
        ck.implied = parser_graph::implied_validity(p, &ck.headers);
    }
    ck.layout = Some(crate::deparse::layout(&ck.headers, parser.as_ref()));
    let actions = ck.lower_actions();
    let tables = ck.lower_tables(values.as_ref());
    let control = ck.lower_control();
    ck.check_action_recursion();
    ck.explain_config();
    let has_error = ck.diags.iter().any(Diagnostic::is_error);
    let mut diags = std::mem::take(&mut ck.diags);
    // Report in source order (stable, so related diagnostics stay together).
    diags.sort_by_key(|d| d.primary_span().map(|s| (s.file, s.start)));
    let config_shown = ck.config_values_display();
    let hir = match (has_error, control) {
        (false, Some(c)) => Some(Hir {
            name: c.name,
            hook: c.hook,
            headers: ck.headers,
            metas: ck.metas,
            locals: ck.locals,
            actions,
            tables,
            counters: std::mem::take(&mut ck.counters),
            maps: std::mem::take(&mut ck.maps),
            meters: std::mem::take(&mut ck.meters),
            pools: std::mem::take(&mut ck.pools),
            maglevs: std::mem::take(&mut ck.maglevs),
            sketches: std::mem::take(&mut ck.sketches),
            queues: std::mem::take(&mut ck.queues),
            config: config_shown,
            explain: std::mem::take(&mut ck.explain),
            parser,
            control: c.body,
            stage_cuts: c.stage_cuts,
            cut_points: c.cut_points,
            span: c.span,
        }),
        _ => None,
    };
    (hir, diags)
}

/// What a global name refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Global {
    Const(usize),
    Header(HeaderId),
    Parser(usize),
    Action(ActionId),
    Control(usize),
    Table(usize),
    Counter(usize),
    Map(usize),
    Meter(usize),
    Pool(usize),
    Maglev(usize),
    Sketch(usize),
    Queue(usize),
}

impl Global {
    fn describe(self) -> &'static str {
        match self {
            Global::Const(_) => "constant",
            Global::Header(_) => "header",
            Global::Parser(_) => "parser",
            Global::Action(_) => "action",
            Global::Control(_) => "control",
            Global::Table(_) => "table",
            Global::Counter(_) => "counter",
            Global::Map(_) => "map",
            Global::Meter(_) => "meter",
            Global::Pool(_) | Global::Maglev(_) => "pool",
            Global::Sketch(_) => "sketch",
            Global::Queue(_) => "queue",
        }
    }
}

/// A folded constant: its value and type (`None` = untyped integer, which
/// adapts to the width it is used at, like a literal).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ConstVal {
    pub value: u64,
    pub ty: Option<Ty>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ConstState {
    Todo,
    InProgress,
    /// `None` when the constant's definition had an error (already reported).
    Done(Option<ConstVal>),
}

pub(crate) struct ConstEntry<'a> {
    pub decl: &'a ast::ConstDecl,
    pub state: ConstState,
}

pub(crate) struct ActionSig<'a> {
    pub decl: &'a ast::ActionDecl,
    pub param_tys: Vec<Ty>,
    /// Header instances the body uses without proving them valid itself:
    /// every call site must know them valid. `(instance, use span, write)`.
    pub requires: Vec<(hir::HeaderRef, Span, bool)>,
}

/// The lowered control and what it asked for.
pub(crate) struct ControlOut {
    pub name: String,
    pub hook: ast::Hook,
    pub body: hir::Block,
    pub stage_cuts: Vec<u32>,
    pub cut_points: Vec<Option<Vec<hir::HeaderRef>>>,
    pub span: Span,
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum ParserChoice {
    /// The control named a parser that resolved to this index.
    Named(usize),
    /// The control named something that is not a parser (reported).
    Bad,
    /// The control named no parser; use the only one in scope.
    Implicit { span: Span },
}

pub(crate) struct Checker<'a> {
    pub sources: &'a SourceMap,
    pub modules: &'a [Module],
    pub diags: Vec<Diagnostic>,
    pub globals: HashMap<String, (Global, Span)>,
    pub headers: Vec<hir::HeaderInfo>,
    pub metas: Vec<hir::MetaInfo>,
    pub meta_spans: Vec<Span>,
    pub consts: Vec<ConstEntry<'a>>,
    pub actions: Vec<ActionSig<'a>>,
    pub parsers: Vec<&'a ast::ParserDecl>,
    pub controls: Vec<&'a ast::ControlDecl>,
    pub locals: Vec<hir::LocalInfo>,
    /// Action call edges `(caller, callee, call span)`, for recursion checks.
    pub calls: Vec<(ActionId, ActionId, Span)>,
    /// Action-to-action calls with what the caller knows valid there.
    pub action_calls: Vec<(ActionId, ActionId, std::collections::HashSet<hir::HeaderRef>, Span)>,
    /// The control's `stage { }` blocks: first and end statement, span.
    pub stage_blocks: Vec<(usize, usize, Span)>,
    /// Per top-level control statement, where a stage may start
    /// (`Hir::cut_points`).
    pub cut_points: Vec<Option<Vec<hir::HeaderRef>>>,
    /// Per header instance: the instances every parse path extracts before
    /// it, so `ipv4.valid` also proves `ethernet.valid`.
    pub implied: std::collections::HashMap<hir::HeaderRef, std::collections::HashSet<hir::HeaderRef>>,
    /// Where headers go when the packet is reshaped (after the parser).
    pub layout: Option<crate::deparse::Layout>,
    pub config: Vec<config::CfgParam<'a>>,
    /// Per config parameter: whether the program reads it.
    pub config_used: Vec<bool>,
    pub tables: Vec<tables::TableSig<'a>>,
    pub counter_decls: Vec<&'a ast::CounterDecl>,
    pub map_decls: Vec<&'a ast::MapDecl>,
    pub counters: Vec<hir::CounterHir>,
    pub maps: Vec<hir::StateMapHir>,
    pub object_decls: Vec<&'a ast::ObjectDecl>,
    pub meter_sigs: Vec<objects::KeySig>,
    pub sketch_sigs: Vec<objects::KeySig>,
    pub sketches: Vec<hir::SketchHir>,
    pub meters: Vec<hir::MeterHir>,
    pub pools: Vec<hir::PoolHir>,
    pub maglevs: Vec<hir::MaglevHir>,
    /// The variables of the `for` loops being unrolled (literals there).
    pub unrolled_vars: Vec<String>,
    pub queues: Vec<hir::QueueHir>,
    /// What specialization decided, for `nflc build --explain`.
    pub explain: Vec<String>,
}

impl<'a> Checker<'a> {
    fn new(sources: &'a SourceMap, modules: &'a [Module]) -> Checker<'a> {
        Checker {
            sources,
            modules,
            diags: Vec::new(),
            globals: HashMap::new(),
            headers: Vec::new(),
            metas: Vec::new(),
            meta_spans: Vec::new(),
            consts: Vec::new(),
            actions: Vec::new(),
            parsers: Vec::new(),
            controls: Vec::new(),
            locals: Vec::new(),
            calls: Vec::new(),
            action_calls: Vec::new(),
            stage_blocks: Vec::new(),
            cut_points: Vec::new(),
            implied: std::collections::HashMap::new(),
            layout: None,
            config: Vec::new(),
            config_used: Vec::new(),
            tables: Vec::new(),
            counter_decls: Vec::new(),
            map_decls: Vec::new(),
            counters: Vec::new(),
            maps: Vec::new(),
            object_decls: Vec::new(),
            meter_sigs: Vec::new(),
            sketch_sigs: Vec::new(),
            sketches: Vec::new(),
            meters: Vec::new(),
            pools: Vec::new(),
            maglevs: Vec::new(),
            unrolled_vars: Vec::new(),
            queues: Vec::new(),
            explain: Vec::new(),
        }
    }

    pub(crate) fn emit(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// Errors reported so far.
    pub(crate) fn error_count(&self) -> usize {
        self.diags.iter().filter(|d| d.is_error()).count()
    }

    pub(crate) fn new_local(&mut self, name: &str, ty: Ty) -> LocalId {
        let id = LocalId(u32::try_from(self.locals.len()).unwrap_or(u32::MAX));
        self.locals.push(hir::LocalInfo { name: name.to_string(), ty });
        id
    }

    /// The source text of a span, when it is short enough to quote in a help line.
    pub(crate) fn snippet(&self, span: Span) -> Option<String> {
        let file = self.sources.get(span.file)?;
        let text = file.text.get(span.range())?;
        (text.len() <= 40 && !text.contains('\n')).then(|| text.to_string())
    }

    pub(crate) fn header(&self, id: HeaderId) -> Option<&hir::HeaderInfo> {
        self.headers.get(id.index())
    }

    /// `ipv4` or `vlan[1]`, for messages.
    pub(crate) fn ref_name(&self, r: hir::HeaderRef) -> String {
        match self.header(r.header) {
            Some(h) if h.stack.is_some() => format!("{}[{}]", h.name, r.index),
            Some(h) => h.name.clone(),
            None => "?".to_string(),
        }
    }

    pub(crate) fn sel_name(&self, s: hir::HdrSel) -> String {
        match s {
            hir::HdrSel::Fixed(r) => self.ref_name(r),
            hir::HdrSel::Last(h) => {
                format!("{}.last", self.header(h).map(|h| h.name.as_str()).unwrap_or("?"))
            }
        }
    }
}

/// Display a type the way the language writes it.
pub(crate) fn ty_str(ty: Ty) -> String {
    match ty {
        Ty::UInt(w) => format!("u{w}"),
        Ty::Bool => "bool".to_string(),
    }
}

/// All ones in the low `width` bits.
pub(crate) fn ones(width: u32) -> u64 {
    if width >= 64 { u64::MAX } else { (1u64 << width) - 1 }
}

pub(crate) fn fits(value: u64, width: u32) -> bool {
    value & !ones(width) == 0
}

/// The candidate closest to `name` by edit distance, if close enough to be
/// a plausible typo.
pub(crate) fn closest<'c>(name: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev.get(j).copied().unwrap_or(0) + usize::from(ca != *cb);
            let del = prev.get(j + 1).copied().unwrap_or(0) + 1;
            let ins = cur.get(j).copied().unwrap_or(0) + 1;
            if let Some(c) = cur.get_mut(j + 1) {
                *c = sub.min(del).min(ins);
            }
        }
        prev = cur;
    }
    prev.last().copied().unwrap_or(0)
}
