//! `stage { }` blocks: hand-placed stage boundaries of a split program
//! (E0510, E0511). The block's statements join the control's own list;
//! the boundaries go to `Hir::stage_cuts`.

use nfl_syntax::Diagnostic;
use nfl_syntax::ast::{self, Span};

use super::Checker;
use super::expr::Cx;
use crate::hir;
use crate::split::MAX_STAGES;

impl Checker<'_> {
    /// Check a `stage` block, appending its statements to `out`; `top` is
    /// whether it stands in the control's own block. Whether it diverges.
    pub(crate) fn stage_block(&mut self, cx: &mut Cx, top: bool, body: &ast::Block, span: Span, out: &mut Vec<hir::Stmt>) -> bool {
        if !top {
            let (label, help) = match cx.action {
                Some(_) => ("inside an action", "an action runs within one stage; put the `stage` block in the control around the call"),
                None => ("inside another block", "stages are cut between top-level statements; move the `stage` block to the control's own block"),
            };
            self.emit(
                Diagnostic::error("nfl::E0510", "a `stage` block stands only at the top level of the control", span, label)
                    .with_help(help),
            );
        }
        let first = out.len();
        let (block, diverges) = self.block(cx, body);
        out.extend(block.stmts);
        if top {
            self.stage_blocks.push((first, out.len(), span));
        }
        diverges
    }

    /// The headers known valid at this point, in a stable order.
    pub(crate) fn known_valid(cx: &Cx) -> Vec<hir::HeaderRef> {
        let mut v: Vec<hir::HeaderRef> = cx.valid.iter().copied().collect();
        v.sort_by_key(|r| (r.header.0, r.index));
        v
    }

    /// Top-level statements `first..end` came from one source statement:
    /// a stage may start at the first, with `facts` known.
    pub(crate) fn note_cut_points(&mut self, first: usize, end: usize, facts: Vec<hir::HeaderRef>) {
        self.cut_points.resize(first, None);
        if end > first {
            self.cut_points.push(Some(facts));
            self.cut_points.resize(end, None);
        }
    }

    /// The statement indices where stages start (E0511 past
    /// [`MAX_STAGES`]).
    pub(crate) fn stage_cuts(&mut self, n_stmts: usize) -> Vec<u32> {
        let mut cuts: Vec<u32> = Vec::new();
        let blocks = std::mem::take(&mut self.stage_blocks);
        'blocks: for &(first, end, span) in &blocks {
            for c in [first, end] {
                if c > 0 && c < n_stmts && !cuts.contains(&(c as u32)) {
                    cuts.push(c as u32);
                }
                if cuts.len() + 1 > MAX_STAGES {
                    let n = MAX_STAGES + 1;
                    let label = if c == first { format!("this block is stage {n}") } else { format!("stage {n} starts after this block") };
                    self.emit(
                        Diagnostic::error("nfl::E0511", format!("a program has at most {MAX_STAGES} stages"), span, label)
                            .with_help("stages are chained by tail calls, which the kernel caps at 33; merge some `stage` blocks"),
                    );
                    break 'blocks;
                }
            }
        }
        cuts.sort_unstable();
        cuts
    }
}
