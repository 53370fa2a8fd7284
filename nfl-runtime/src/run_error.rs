//! The errors of running, reloading and exercising an NF (codes E08xx,
//! documented in docs/running.md).

use std::io;
use std::path::PathBuf;

use crate::attach::Hook;
use crate::load::{LoadError, ProgramKind};
use crate::netns::NetError;

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum RunError {
    #[error("invalid run name `{0}`")]
    #[diagnostic(
        code(nfl::E0801),
        help("a name is 1 to 32 characters from a-z, 0-9, `_` and `-`; give one with --name")
    )]
    BadName(String),

    #[error("`{name}` is already running, pid {pid}; stop it first")]
    #[diagnostic(
        code(nfl::E0802),
        help("`kill {pid}` stops it (it detaches and removes its pins), or pick another --name")
    )]
    AlreadyRunning { name: String, pid: u32 },

    #[error("no network interface named `{iface}`{}", in_netns(.netns))]
    #[diagnostic(code(nfl::E0803), help("`ip -br link` lists the interfaces"))]
    UnknownInterface { iface: String, netns: Option<String> },

    #[error("program `{program}` is for {kind}, but hook {hook} runs {} programs", .hook.program_kind())]
    #[diagnostic(
        code(nfl::E0804),
        help("`control NAME(xdp)` runs at --hook xdp or xdp-generic; `control NAME(tc)` at --hook tc-ingress or tc-egress")
    )]
    HookMismatch { program: String, kind: ProgramKind, hook: Hook },

    #[error("cannot attach to {iface} at {hook}: {source}")]
    #[diagnostic(code(nfl::E0805), help("{hint}"))]
    Attach {
        iface: String,
        hook: Hook,
        hint: String,
        #[source]
        source: io::Error,
    },

    #[error("{what} {}: {source}", .path.display())]
    #[diagnostic(
        code(nfl::E0806),
        help("runs keep their pins under /sys/fs/bpf/nfl (bpffs) and their records under /run/nfl; both need root")
    )]
    Fs {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("nothing named `{0}` is running (no pinned link)")]
    #[diagnostic(code(nfl::E0807), help("start it with `nflc run FILE --iface IF --name NAME`"))]
    NotRunning(String),

    #[error("the program of `{0}` was replaced by someone else during this reload; nothing was swapped")]
    #[diagnostic(code(nfl::E0808), help("another reload won the race; run this one again"))]
    ReloadRaced(String),

    #[error("{what}: {source}")]
    #[diagnostic(code(nfl::E0809), help("this needs root (CAP_NET_RAW, CAP_NET_ADMIN, CAP_BPF)"))]
    Kernel {
        what: String,
        #[source]
        source: io::Error,
    },

    #[error("no packets to send: {0}")]
    #[diagnostic(
        code(nfl::E0810),
        help("put a .test file next to the program, give a capture with --pcap, or attach to a real interface with --iface")
    )]
    NoPackets(String),

    #[error("cannot use capture {}: {message}", .path.display())]
    #[diagnostic(code(nfl::E0811), help("give an Ethernet pcap or pcapng file (tcpdump -w)"))]
    Capture { path: PathBuf, message: String },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Load(#[from] LoadError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Net(#[from] NetError),
}

fn in_netns(netns: &Option<String>) -> String {
    netns.as_ref().map(|ns| format!(" in network namespace {ns}")).unwrap_or_default()
}

impl RunError {
    pub(crate) fn fs(what: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> RunError {
        let path = path.into();
        move |source| RunError::Fs { what, path, source }
    }

    pub(crate) fn kernel(what: impl Into<String>) -> impl FnOnce(io::Error) -> RunError {
        let what = what.into();
        move |source| RunError::Kernel { what, source }
    }

    /// The verifier log cut to what matters, when the kernel rejected a program.
    pub fn trimmed_verifier_log(&self) -> Option<String> {
        match self {
            RunError::Load(e) => e.verifier_log().map(crate::load::trim_verifier_log),
            _ => None,
        }
    }
}
