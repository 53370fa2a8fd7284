//! The errors of the control plane: `nflc table`, `nflc stats`, `nflc state`,
//! `nflc sketch`, `nflc queue`
//! and the map side of `nflc reload` (codes E0820-E0839, documented in
//! docs/running.md). Failures to reach the run itself keep their
//! [`RunError`] codes (E0801, E0806, E0807, ...).

use crate::run_error::RunError;

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ControlError {
    #[error("`{nf}` has no table `{table}`")]
    #[diagnostic(code(nfl::E0820), help("{help}"))]
    UnknownTable { nf: String, table: String, help: String },

    #[error("table `{table}` is static: its entries are fixed when the program is built")]
    #[diagnostic(
        code(nfl::E0821),
        help("change its entries in the config file and `nflc reload {nf}`; give the table a `size` to make it writable at run time")
    )]
    StaticTable { nf: String, table: String },

    #[error("{message}")]
    #[diagnostic(code(nfl::E0822), help("{help}"))]
    Usage { message: String, help: String },

    #[error("no entry of table `{table}` {what}")]
    #[diagnostic(code(nfl::E0828), help("`nflc table list {nf} {table}` shows the entries"))]
    NoSuchEntry { nf: String, table: String, what: String },

    #[error("table `{table}` already has {what}")]
    #[diagnostic(code(nfl::E0829), help("{help}"))]
    EntryExists { table: String, what: String, help: String },

    #[error("table `{table}` has no room: {message}")]
    #[diagnostic(code(nfl::E0830), help("{help}"))]
    Full { table: String, message: String, help: String },

    #[error("map `{map}` of `{nf}`: {source}")]
    #[diagnostic(
        code(nfl::E0831),
        help("the pins under /sys/fs/bpf/nfl/{nf} do not match the running program's schema, or this needs root")
    )]
    Map {
        nf: String,
        map: String,
        #[source]
        source: std::io::Error,
    },

    #[error("`{nf}` cannot be described: {message}")]
    #[diagnostic(code(nfl::E0832), help("{help}"))]
    Schema { nf: String, message: String, help: String },

    #[error("`{nf}` has no state map `{map}`")]
    #[diagnostic(code(nfl::E0834), help("{help}"))]
    UnknownMap { nf: String, map: String, help: String },

    #[error("`{nf}` has no sketch `{sketch}`")]
    #[diagnostic(code(nfl::E0836), help("{help}"))]
    UnknownSketch { nf: String, sketch: String, help: String },

    #[error("queue `{queue}` of `{nf}` is a kernel rbtree ({target} profile): userspace cannot read its nodes")]
    #[diagnostic(
        code(nfl::E0837),
        help("the kernel offers no syscall to read a `bpf_rb_root`; run the NF with `--target helpers` (a binary heap in an array value, which `nflc queue peek` reads), or have the program `peek()` into a map or counter")
    )]
    QueueUnreadable { nf: String, queue: String, target: String },

    #[error("`{nf}` has no queue `{queue}`")]
    #[diagnostic(code(nfl::E0838), help("{help}"))]
    UnknownQueue { nf: String, queue: String, help: String },

    #[error("the rules of table `{table}` do not fit the new program: {message}")]
    #[diagnostic(
        code(nfl::E0835),
        help("nothing was swapped; raise the table's `size`/`masks`, or `nflc table del` rules first")
    )]
    MigrationRefused { table: String, message: String },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Run(#[from] RunError),
}

impl ControlError {
    /// The verifier log cut to what matters, when a reload's program was rejected.
    pub fn trimmed_verifier_log(&self) -> Option<String> {
        match self {
            ControlError::Run(e) => e.trimmed_verifier_log(),
            _ => None,
        }
    }

    pub(crate) fn map(nf: &str, map: &str) -> impl FnOnce(std::io::Error) -> ControlError {
        let (nf, map) = (nf.to_string(), map.to_string());
        move |source| ControlError::Map { nf, map, source }
    }

    pub(crate) fn state(nf: &str) -> impl FnOnce(crate::state::StateError) -> ControlError {
        let nf = nf.to_string();
        move |e| match e {
            crate::state::StateError::Io { map, source } => ControlError::Map { nf, map, source },
            crate::state::StateError::MissingMap(map) => {
                ControlError::Map { nf, map, source: std::io::Error::from(std::io::ErrorKind::NotFound) }
            }
            other => ControlError::Schema { nf, message: other.to_string(), help: SCHEMA_HELP.into() },
        }
    }
}

pub(crate) const SCHEMA_HELP: &str = "the control plane needs a program built by this nflc (its object carries a `.nfl.schema` section)";
