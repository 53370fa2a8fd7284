//! Parsers: states and their graph (E0401..E0408), then lowering.
//!
//! Every parser in scope is checked, but only the one the control uses is
//! lowered into the `Hir`. Two dataflow facts are computed over the graph
//! from `start`:
//! - *definitely extracted*: per header, how many instances every path has
//!   extracted (a `min` over predecessors). Reading a field needs it (E0408).
//! - *possibly extracted*: whether some path has extracted a non-stack
//!   header; extracting it again is E0407.
//!
//! Unreachable states are an error (E0403): they are almost always a typo
//! in a transition, and dead states would otherwise escape every check.

use std::collections::HashMap;

use nfl_syntax::Diagnostic;
use nfl_syntax::ast::{self, Overflow, Span};

use super::expr::{Cx, Mode};
use super::{Checker, Global, ParserChoice};
use crate::hir::{self, HeaderId, ParserHir, StateHir, StateId, Ty};

/// Facts at one program point of a parser.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Facts {
    definite: Vec<u32>,
    possible: Vec<bool>,
}

impl Checker<'_> {
    /// Check every parser; return the lowered parser the control uses.
    pub(crate) fn check_parsers(&mut self, choice: Option<ParserChoice>) -> Option<ParserHir> {
        let chosen = match choice {
            None | Some(ParserChoice::Bad) => None,
            Some(ParserChoice::Named(i)) => Some(i),
            Some(ParserChoice::Implicit { span }) => match self.parsers.len() {
                // No parser at all: the control can only use `pkt` and `meta`.
                0 => None,
                1 => Some(0),
                _ => {
                    let mut d = Diagnostic::error("nfl::E0212", "several parsers are in scope; the control must name one", span, "which parser?")
                        .with_help(format!(
                            "name it after the hook: `control NAME(xdp, {})`",
                            self.parsers.first().map(|p| p.name.name.as_str()).unwrap_or("PARSER")
                        ));
                    for p in &self.parsers {
                        d = d.with_label(p.name.span, "a parser in scope");
                    }
                    self.emit(d);
                    None
                }
            },
        };
        let mut out = None;
        for i in 0..self.parsers.len() {
            let Some(p) = self.parsers.get(i).copied() else { continue };
            let lowered = self.check_parser(p);
            if chosen == Some(i) {
                out = lowered;
            }
        }
        out
    }

    fn check_parser(&mut self, p: &ast::ParserDecl) -> Option<ParserHir> {
        // State names (E0406).
        let mut ids: HashMap<&str, StateId> = HashMap::new();
        for (i, s) in p.states.iter().enumerate() {
            if let Some(first) = ids.get(s.name.name.as_str()).and_then(|id| p.states.get(id.index())) {
                self.emit(
                    Diagnostic::error("nfl::E0406", format!("state `{}` is declared twice in parser `{}`", s.name.name, p.name.name), s.name.span, "declared again here")
                        .with_label(first.name.span, "first declared here")
                        .with_help("rename one of the states"),
                );
                continue;
            }
            ids.insert(&s.name.name, StateId(u32::try_from(i).unwrap_or(u32::MAX)));
        }
        let start = ids.get("start").copied();
        if start.is_none() {
            self.emit(
                Diagnostic::error("nfl::E0401", format!("parser `{}` has no `start` state", p.name.name), p.name.span, "no `start`")
                    .with_help("parsing begins at the state named `start`: add `state start { extract ... }`"),
            );
        }
        // Edges, with unknown targets (E0402) and missing transitions (E0404).
        let n = p.states.len();
        let mut succ: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut unknown_targets = false;
        for (i, s) in p.states.iter().enumerate() {
            let mut targets: Vec<&ast::Ident> = Vec::new();
            match &s.transition {
                None => {
                    self.emit(
                        Diagnostic::error("nfl::E0404", format!("state `{}` has no transition", s.name.name), s.name.span, "ends without a transition")
                            .with_help("end the state with `accept`, `reject`, `goto STATE` or `select`"),
                    );
                }
                Some(ast::Transition::Accept(_) | ast::Transition::Reject(_)) => {}
                Some(ast::Transition::Goto(t)) => targets.push(t),
                Some(ast::Transition::Select(sel)) => {
                    for c in &sel.cases {
                        if let ast::Target::State(t) = &c.target {
                            targets.push(t);
                        }
                    }
                }
            }
            for t in targets {
                match ids.get(t.name.as_str()) {
                    Some(id) => {
                        if let Some(v) = succ.get_mut(i) {
                            v.push(id.index());
                        }
                    }
                    None => {
                        unknown_targets = true;
                        let help = match super::closest(&t.name, p.states.iter().map(|x| x.name.name.as_str())) {
                            Some(x) => format!("did you mean `{x}`?"),
                            None => format!("declare `state {} {{ ... }}` or target `accept`/`reject`", t.name),
                        };
                        self.emit(
                            Diagnostic::error("nfl::E0402", format!("unknown state `{}`", t.name), t.span, "no such state in this parser")
                                .with_help(help),
                        );
                    }
                }
            }
        }
        // Which headers each state extracts (E0206/E0207 for bad names).
        let extracts: Vec<Vec<Option<HeaderId>>> = p
            .states
            .iter()
            .map(|s| {
                s.body
                    .iter()
                    .map(|st| match st {
                        ast::ParserStmt::Extract { header, .. } => self.extract_target(header),
                        ast::ParserStmt::Skip { .. } => None,
                    })
                    .collect()
            })
            .collect();
        let is_dup = |i: usize| p.states.get(i).is_some_and(|s| ids.get(s.name.name.as_str()).map(|id| id.index()) != Some(i));
        // Reachability (E0403). After an unknown target (E0402) the state it
        // meant is usually the unreachable one, so only report then.
        let mut reachable = vec![false; n];
        if let Some(s) = start {
            let mut stack = vec![s.index()];
            while let Some(i) = stack.pop() {
                if reachable.get(i).copied().unwrap_or(true) {
                    continue;
                }
                if let Some(r) = reachable.get_mut(i) {
                    *r = true;
                }
                stack.extend(succ.get(i).into_iter().flatten().copied());
            }
            for (i, s) in p.states.iter().enumerate() {
                if !reachable.get(i).copied().unwrap_or(true) && !is_dup(i) && !unknown_targets {
                    self.emit(
                        Diagnostic::error("nfl::E0403", format!("state `{}` is unreachable", s.name.name), s.name.span, "no transition leads here")
                            .with_help(format!("add a transition to `{}` or remove the state", s.name.name)),
                    );
                }
            }
        }
        self.check_loops(p, &succ, &extracts);
        let entry = start.map(|s| self.parser_facts(s.index(), &succ, &extracts));
        // E0407: a non-stack header extracted where it may already be.
        // Lowering also needs the facts on entry to each state.
        let n_headers = self.headers.len();
        let empty = Facts { definite: vec![0; n_headers], possible: vec![false; n_headers] };
        let mut states = Vec::new();
        for (i, s) in p.states.iter().enumerate() {
            let facts = entry.as_ref().and_then(|e| e.get(i).cloned().flatten()).unwrap_or_else(|| empty.clone());
            states.push(self.lower_state(s, facts, &ids, extracts.get(i).map(Vec::as_slice).unwrap_or(&[])));
        }
        let overflow = self.overflow_policy(p, &extracts);
        Some(ParserHir { name: p.name.name.clone(), states, start: start?, overflow })
    }

    fn extract_target(&mut self, header: &ast::Ident) -> Option<HeaderId> {
        match self.globals.get(&header.name).copied() {
            Some((Global::Header(h), _)) => Some(h),
            Some((g, decl)) => {
                self.emit(
                    Diagnostic::error("nfl::E0207", format!("`{}` is a {}, not a header", header.name, g.describe()), header.span, "cannot extract this")
                        .with_label(decl, "declared here")
                        .with_help("`extract` takes a header or header stack name"),
                );
                None
            }
            None => {
                let help = if matches!(header.name.as_str(), "ethernet" | "vlan" | "arp" | "ipv4" | "ipv6" | "icmp" | "icmpv6" | "tcp" | "udp") {
                    format!("`{}` is declared by the standard library: add `import std.net`", header.name)
                } else {
                    format!("declare it: `header {} {{ ... }}`", header.name)
                };
                self.emit(Diagnostic::error("nfl::E0206", format!("unknown header `{}`", header.name), header.span, "no such header").with_help(help));
                None
            }
        }
    }

    /// E0405: every cycle must pass through a state that extracts a stack.
    /// Cycles among the other states are found as strongly connected
    /// components of the subgraph they induce: a state is on a cycle when it
    /// reaches itself, and its component is what it both reaches and is
    /// reached from. Linear memory; quadratic time at worst (parsers are small).
    fn check_loops(&mut self, p: &ast::ParserDecl, succ: &[Vec<usize>], extracts: &[Vec<Option<HeaderId>>]) {
        let n = succ.len();
        let bounded: Vec<bool> = extracts
            .iter()
            .map(|ex| ex.iter().flatten().any(|h| self.header(*h).is_some_and(|h| h.stack.is_some())))
            .collect();
        let free = |i: usize| !bounded.get(i).copied().unwrap_or(true);
        let mut pred: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, out) in succ.iter().enumerate() {
            for &j in out {
                if let Some(v) = pred.get_mut(j) {
                    v.push(i);
                }
            }
        }
        // Nodes reachable from `from` in one or more steps through free states.
        let reach = |from: usize, edges: &[Vec<usize>]| -> Vec<bool> {
            let mut seen = vec![false; n];
            let mut stack: Vec<usize> = edges.get(from).into_iter().flatten().copied().filter(|&j| free(j)).collect();
            while let Some(j) = stack.pop() {
                match seen.get_mut(j) {
                    Some(s) if !*s => *s = true,
                    _ => continue,
                }
                stack.extend(edges.get(j).into_iter().flatten().copied().filter(|&k| free(k)));
            }
            seen
        };
        let mut done = vec![false; n];
        for i in 0..n {
            if done.get(i).copied().unwrap_or(true) || !free(i) {
                continue;
            }
            let fwd = reach(i, succ);
            if !fwd.get(i).copied().unwrap_or(false) {
                continue;
            }
            let bwd = reach(i, &pred);
            let members: Vec<usize> =
                (0..n).filter(|&j| j == i || (fwd.get(j).copied().unwrap_or(false) && bwd.get(j).copied().unwrap_or(false))).collect();
            for &m in &members {
                if let Some(d) = done.get_mut(m) {
                    *d = true;
                }
            }
            let Some(first) = p.states.get(i) else { continue };
            let mut d = Diagnostic::error("nfl::E0405", "parser loop without a bound", first.name.span, "this state loops back to itself");
            for &m in members.iter().skip(1) {
                if let Some(s) = p.states.get(m) {
                    d = d.with_label(s.name.span, "part of the loop");
                }
            }
            self.emit(d.with_help("extract a header stack (`header vlan[4]`) in the loop; its size bounds the loop"));
        }
    }

    /// Facts on entry to each state reachable from `start` (`None` elsewhere).
    fn parser_facts(&self, start: usize, succ: &[Vec<usize>], extracts: &[Vec<Option<HeaderId>>]) -> Vec<Option<Facts>> {
        let n_headers = self.headers.len();
        let mut entry: Vec<Option<Facts>> = vec![None; succ.len()];
        if let Some(e) = entry.get_mut(start) {
            *e = Some(Facts { definite: vec![0; n_headers], possible: vec![false; n_headers] });
        }
        let mut work = vec![start];
        // Both facts are monotone over finite lattices, so this terminates;
        // the budget is a safety net against bugs, not a semantic limit.
        let mut budget: u64 = 1_000_000;
        while let Some(i) = work.pop() {
            budget = budget.saturating_sub(1);
            if budget == 0 {
                break;
            }
            let Some(Some(mut f)) = entry.get(i).cloned() else { continue };
            for h in extracts.get(i).into_iter().flatten().flatten() {
                let cap = self.header(*h).map(|x| x.n_instances()).unwrap_or(1);
                if let Some(d) = f.definite.get_mut(h.index()) {
                    *d = d.saturating_add(1).min(cap);
                }
                if let Some(p) = f.possible.get_mut(h.index()) {
                    *p = true;
                }
            }
            for &j in succ.get(i).into_iter().flatten() {
                let Some(slot) = entry.get_mut(j) else { continue };
                let merged = match slot {
                    None => f.clone(),
                    Some(old) => Facts {
                        definite: old.definite.iter().zip(&f.definite).map(|(a, b)| *a.min(b)).collect(),
                        possible: old.possible.iter().zip(&f.possible).map(|(a, b)| *a || *b).collect(),
                    },
                };
                if slot.as_ref() != Some(&merged) {
                    *slot = Some(merged);
                    work.push(j);
                }
            }
        }
        entry
    }

    fn lower_state(&mut self, s: &ast::StateDecl, facts: Facts, ids: &HashMap<&str, StateId>, extracts: &[Option<HeaderId>]) -> StateHir {
        let mut cx = Cx::new(Mode::Parser);
        cx.extracted = facts.definite;
        let mut possible = facts.possible;
        let mut stmts = Vec::new();
        for (k, st) in s.body.iter().enumerate() {
            match st {
                ast::ParserStmt::Extract { span, .. } => {
                    let Some(h) = extracts.get(k).copied().flatten() else { continue };
                    let (cap, is_stack, name) = match self.header(h) {
                        Some(x) => (x.n_instances(), x.stack.is_some(), x.name.clone()),
                        None => continue,
                    };
                    if !is_stack && possible.get(h.index()).copied().unwrap_or(false) {
                        self.emit(
                            Diagnostic::error("nfl::E0407", format!("header `{name}` may be extracted twice"), *span, "extracted again on some path")
                                .with_help(format!("a header has one instance; declare a stack (`header {name}[2]`) to extract it repeatedly")),
                        );
                    }
                    if let Some(d) = cx.extracted.get_mut(h.index()) {
                        *d = d.saturating_add(1).min(cap);
                    }
                    if let Some(p) = possible.get_mut(h.index()) {
                        *p = true;
                    }
                    stmts.push(hir::ParserStmt::Extract { header: h, span: *span });
                }
                ast::ParserStmt::Skip { amount, span } => {
                    let e = if self.is_untyped(amount) { self.expr(&mut cx, amount, Some(Ty::UInt(64))) } else { self.expr(&mut cx, amount, None) };
                    let Some(e) = e else { continue };
                    if e.ty == Ty::Bool {
                        self.emit(
                            Diagnostic::error("nfl::E0306", "`skip` needs a byte count, found `bool`", e.span, "this is `bool`")
                                .with_help("skip an unsigned number of bytes: `skip 4`"),
                        );
                        continue;
                    }
                    stmts.push(hir::ParserStmt::Skip { amount: e, span: *span });
                }
            }
        }
        let transition = match &s.transition {
            None | Some(ast::Transition::Reject(_)) => hir::Transition::Reject,
            Some(ast::Transition::Accept(_)) => hir::Transition::Accept,
            Some(ast::Transition::Goto(t)) => ids.get(t.name.as_str()).map_or(hir::Transition::Reject, |id| hir::Transition::Goto(*id)),
            Some(ast::Transition::Select(sel)) => self.lower_select(&mut cx, sel, ids),
        };
        StateHir { name: s.name.name.clone(), stmts, transition, span: s.span }
    }

    fn lower_select(&mut self, cx: &mut Cx, sel: &ast::Select, ids: &HashMap<&str, StateId>) -> hir::Transition {
        let mut keys = Vec::new();
        let mut widths: Vec<Option<u32>> = Vec::new();
        for k in &sel.keys {
            let e = if self.is_untyped(k) { self.expr(cx, k, Some(Ty::UInt(64))) } else { self.expr(cx, k, None) };
            match e {
                Some(e) => match e.ty {
                    Ty::UInt(w) => {
                        widths.push(Some(w));
                        keys.push(e);
                    }
                    Ty::Bool => {
                        self.emit(
                            Diagnostic::error("nfl::E0306", "a `select` key must be an integer", e.span, "this is `bool`")
                                .with_help("select on header fields; branch on a condition by selecting on a field's value"),
                        );
                        widths.push(None);
                    }
                },
                None => widths.push(None),
            }
        }
        let n_keys = sel.keys.len();
        let mut cases = Vec::new();
        for c in &sel.cases {
            let mut alternatives = Vec::new();
            for alt in &c.alternatives {
                let expanded: Vec<ast::Pattern>;
                let alt: &[ast::Pattern] = if n_keys > 1 && alt.len() == 1 && matches!(alt.first(), Some(ast::Pattern::Wildcard(_))) {
                    // A lone `_` matches the whole tuple.
                    expanded = alt.iter().cycle().take(n_keys).cloned().collect();
                    &expanded
                } else {
                    alt
                };
                if alt.len() != n_keys {
                    let span = alt.iter().map(pattern_span).reduce(Span::to).unwrap_or(c.span);
                    self.emit(
                        Diagnostic::error(
                            "nfl::E0313",
                            format!("this case has {} pattern{} but the select has {n_keys} key{}", alt.len(), if alt.len() == 1 { "" } else { "s" }, if n_keys == 1 { "" } else { "s" }),
                            span,
                            "wrong number of patterns",
                        )
                        .with_label(sel.span, "the select")
                        .with_help(format!("give one pattern per key, in a tuple: ({})", vec!["_"; n_keys].join(", "))),
                    );
                    continue;
                }
                let mut pats = Vec::new();
                for (p, w) in alt.iter().zip(&widths) {
                    if let Some(w) = w
                        && let Some(p) = self.pattern(cx, p, *w)
                    {
                        pats.push(p);
                    }
                }
                if pats.len() == n_keys {
                    alternatives.push(pats);
                }
            }
            let target = match &c.target {
                ast::Target::Accept(_) => hir::Target::Accept,
                ast::Target::Reject(_) => hir::Target::Reject,
                ast::Target::State(t) => ids.get(t.name.as_str()).map_or(hir::Target::Reject, |id| hir::Target::State(*id)),
            };
            cases.push(hir::SelectCase { alternatives, target, span: c.span });
        }
        hir::Transition::Select { keys, cases }
    }
}

fn pattern_span(p: &ast::Pattern) -> Span {
    match p {
        ast::Pattern::Wildcard(s) => *s,
        ast::Pattern::Value(e) => e.span,
        ast::Pattern::Mask { span, .. } | ast::Pattern::Range { span, .. } | ast::Pattern::Prefix { span, .. } | ast::Pattern::Set { span, .. } => *span,
    }
}

/// For each non-stack header instance, the non-stack instances that every
/// parse path has extracted before extracting it (a forward must-analysis
/// over the states; loops converge because sets only shrink). Validity is
/// only ever set by extraction, so `H.valid` proves all of them too.
pub(crate) fn implied_validity(
    parser: &ParserHir,
    headers: &[hir::HeaderInfo],
) -> HashMap<hir::HeaderRef, std::collections::HashSet<hir::HeaderRef>> {
    use std::collections::HashSet;
    let plain = |h: HeaderId| headers.get(h.index()).is_some_and(|x| x.stack.is_none());
    let n = parser.states.len();
    let mut entry: Vec<Option<HashSet<HeaderId>>> = vec![None; n];
    let mut implied: HashMap<HeaderId, HashSet<HeaderId>> = HashMap::new();
    if let Some(e) = entry.get_mut(parser.start.index()) {
        *e = Some(HashSet::new());
    }
    let mut work = vec![parser.start.index()];
    while let Some(i) = work.pop() {
        let (Some(Some(mut cur)), Some(state)) = (entry.get(i).cloned(), parser.states.get(i)) else { continue };
        for stmt in &state.stmts {
            if let hir::ParserStmt::Extract { header, .. } = stmt
                && plain(*header)
            {
                implied
                    .entry(*header)
                    .and_modify(|set| set.retain(|h| cur.contains(h)))
                    .or_insert_with(|| cur.clone());
                cur.insert(*header);
            }
        }
        let succs: Vec<usize> = match &state.transition {
            hir::Transition::Goto(s) => vec![s.index()],
            hir::Transition::Select { cases, .. } => cases
                .iter()
                .filter_map(|c| match c.target {
                    hir::Target::State(s) => Some(s.index()),
                    _ => None,
                })
                .collect(),
            hir::Transition::Accept | hir::Transition::Reject => Vec::new(),
        };
        for j in succs {
            let Some(slot) = entry.get_mut(j) else { continue };
            let merged: HashSet<HeaderId> = match slot {
                None => cur.clone(),
                Some(old) => old.intersection(&cur).copied().collect(),
            };
            if slot.as_ref() != Some(&merged) {
                *slot = Some(merged);
                work.push(j);
            }
        }
    }
    let r = |h: HeaderId| hir::HeaderRef { header: h, index: 0 };
    implied.into_iter().map(|(h, set)| (r(h), set.into_iter().map(r).collect())).collect()
}

impl Checker<'_> {
    /// The parser's `overflow` clause (default `pass`); E0409 when no state
    /// extracts a header stack, so nothing can overflow.
    fn overflow_policy(&mut self, p: &ast::ParserDecl, extracts: &[Vec<Option<HeaderId>>]) -> Overflow {
        let Some((o, span)) = p.overflow else { return Overflow::Pass };
        let stacks = extracts.iter().flatten().flatten().any(|h| self.headers.get(h.index()).is_some_and(|i| i.stack.is_some()));
        if !stacks {
            self.emit(
                Diagnostic::error("nfl::E0409", format!("parser `{}` extracts no header stack, so nothing can overflow", p.name.name), span, "`overflow` here")
                    .with_help("`overflow` says what a packet with more headers than a stack holds does; remove it, or extract a stack (`header vlan[4] {..}`)"),
            );
        }
        o
    }
}
