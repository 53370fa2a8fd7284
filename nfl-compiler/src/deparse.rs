//! Where each header sits in the packet when headers are added or removed
//! (`set_valid`, `set_invalid`, `push`, `pop`): the deparse order.
//!
//! Headers the parser extracts keep the order the parser puts them in (a
//! topological order of "extracted before" over every parse path). Headers
//! it never extracts (encapsulation headers, only ever made valid by
//! `set_valid`) go right after the link layer, in declaration order. The
//! link layer is what the start state extracts plus every header stack
//! (Ethernet and its VLAN tags in `std.net`). Shared by the checker (which
//! rejects reshapes the layout cannot place) and the IR builder.

use std::collections::BTreeSet;

use crate::hir::{HeaderId, HeaderInfo, HeaderRef, ParserHir, ParserStmt, Target, Transition};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Every header, in deparse order.
    pub order: Vec<HeaderId>,
    /// Per header: some parser state extracts it.
    pub extracted: Vec<bool>,
    /// Per header: part of the link layer.
    pub link: Vec<bool>,
}

impl Layout {
    /// The deparse position of a header.
    pub fn pos(&self, h: HeaderId) -> usize {
        self.order.iter().position(|x| *x == h).unwrap_or(usize::MAX)
    }

    /// Every header instance in deparse order (a stack's elements in
    /// index order, `[0]` outermost).
    pub fn instances(&self, headers: &[HeaderInfo]) -> Vec<HeaderRef> {
        let mut out = Vec::new();
        for &h in &self.order {
            let n = headers.get(h.index()).map_or(1, HeaderInfo::n_instances);
            out.extend((0..n).map(|index| HeaderRef { header: h, index }));
        }
        out
    }
}

/// The deparse layout of `headers` under `parser`.
pub fn layout(headers: &[HeaderInfo], parser: Option<&ParserHir>) -> Layout {
    let n = headers.len();
    let mut extracted = vec![false; n];
    let mut link: Vec<bool> = headers.iter().map(|h| h.stack.is_some()).collect();
    let mut before: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
    if let Some(p) = parser {
        mark_order(p, &mut extracted, &mut before);
        if let Some(start) = p.states.get(p.start.index()) {
            for s in &start.stmts {
                if let ParserStmt::Extract { header, .. } = s {
                    link[header.index()] = true;
                }
            }
        }
    }
    for (i, l) in link.iter_mut().enumerate() {
        *l &= extracted[i];
    }
    let topo = topo_order(&before);
    let pick = |f: &dyn Fn(usize) -> bool| topo.iter().copied().filter(|&h| f(h)).map(|h| HeaderId(h as u32)).collect::<Vec<_>>();
    let mut order = pick(&|h| link[h]);
    order.extend((0..n).filter(|&h| !extracted[h]).map(|h| HeaderId(h as u32)));
    order.extend(pick(&|h| extracted[h] && !link[h]));
    Layout { order, extracted, link }
}

/// Which headers the parser extracts, and for each the headers some path
/// extracts before it (a forward fixpoint over the state graph).
fn mark_order(p: &ParserHir, extracted: &mut [bool], before: &mut [BTreeSet<usize>]) {
    let ns = p.states.len();
    let mut reach: Vec<Option<BTreeSet<usize>>> = vec![None; ns];
    if p.start.index() < ns {
        reach[p.start.index()] = Some(BTreeSet::new());
    }
    let mut changed = true;
    while changed {
        changed = false;
        for (i, state) in p.states.iter().enumerate() {
            let Some(mut seen) = reach[i].clone() else { continue };
            for s in &state.stmts {
                if let ParserStmt::Extract { header, .. } = s {
                    let h = header.index();
                    if h < extracted.len() {
                        extracted[h] = true;
                        before[h].extend(seen.iter().copied().filter(|&x| x != h));
                        seen.insert(h);
                    }
                }
            }
            let mut succ = Vec::new();
            match &state.transition {
                Transition::Goto(s) => succ.push(*s),
                Transition::Select { cases, .. } => {
                    succ.extend(cases.iter().filter_map(|c| if let Target::State(s) = c.target { Some(s) } else { None }))
                }
                Transition::Accept | Transition::Reject => {}
            }
            for s in succ {
                let Some(slot) = reach.get_mut(s.index()) else { continue };
                let merged: BTreeSet<usize> = match slot {
                    Some(old) => old.union(&seen).copied().collect(),
                    None => seen.clone(),
                };
                if slot.as_ref() != Some(&merged) {
                    *slot = Some(merged);
                    changed = true;
                }
            }
        }
    }
}

/// Headers ordered so that each comes after those extracted before it,
/// ties (and cycles, which a checked parser does not have) by index.
fn topo_order(before: &[BTreeSet<usize>]) -> Vec<usize> {
    let n = before.len();
    let mut done = vec![false; n];
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let next = (0..n)
            .find(|&h| !done[h] && before[h].iter().all(|&b| done[b]))
            .or_else(|| (0..n).find(|&h| !done[h]));
        let Some(h) = next else { break };
        done[h] = true;
        out.push(h);
    }
    out
}
