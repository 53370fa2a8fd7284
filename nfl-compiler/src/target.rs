//! Capability profiles: one meaning, several lowerings.
//!
//! A primitive the verifier or the ISA makes hard (today: `pqueue`) has one
//! lowering per profile, and every lowering gives the same results (proven
//! in the kernel by `nfl-runtime/tests/kernel_queues.rs`). Choosing `auto`
//! needs the running kernel, so it lives in the CLI and runtime
//! (`nfl_runtime::kernel::probe_target`); the compiler only ever sees one
//! of these.

/// What the kernel offers the program.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Target {
    /// Pure eBPF: bounded loops unrolled, software ffs, arrays instead of
    /// trees. Loads on any kernel with BPF spin locks (5.1+).
    #[default]
    Helpers,
    /// Linux's built-in kfuncs: `bpf_obj_new`, `bpf_rbtree_*` (6.1+ with
    /// BTF).
    Stock,
    /// The kfunc-lib module's kfuncs. Queues have no module lowering yet
    /// and use the stock one.
    Enetstl,
}

impl Target {
    pub const ALL: [Target; 3] = [Target::Helpers, Target::Stock, Target::Enetstl];

    pub fn name(self) -> &'static str {
        match self {
            Target::Helpers => "helpers",
            Target::Stock => "stock",
            Target::Enetstl => "enetstl",
        }
    }

    pub fn parse(s: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == s)
    }

    /// True when the kernel's graph data structures (rbtree, lists) and
    /// `bpf_obj_new` may be used.
    pub fn has_graph_kfuncs(self) -> bool {
        matches!(self, Target::Stock | Target::Enetstl)
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
