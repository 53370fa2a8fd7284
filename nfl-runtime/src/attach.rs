//! Attaching a loaded program to an interface with a BPF link: an XDP link
//! (native or generic mode) or a tcx link (Linux 6.6+) at ingress or egress.
//!
//! A [`Link`] detaches on drop (`BPF_LINK_DETACH`, so even a pin someone else
//! still holds open cannot keep it attached) and removes its pin, if it made one.

use std::ffi::CString;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::bpfsys::{self, LinkInfo};
use crate::load::ProgramKind;
use crate::run_error::RunError;

/// Where a program runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Hook {
    /// XDP in the driver (native mode).
    Xdp,
    /// XDP on the generic (SKB) path, for drivers without native XDP.
    XdpGeneric,
    TcIngress,
    TcEgress,
}

impl Hook {
    pub const ALL: [Hook; 4] = [Hook::Xdp, Hook::XdpGeneric, Hook::TcIngress, Hook::TcEgress];

    pub fn name(self) -> &'static str {
        match self {
            Hook::Xdp => "xdp",
            Hook::XdpGeneric => "xdp-generic",
            Hook::TcIngress => "tc-ingress",
            Hook::TcEgress => "tc-egress",
        }
    }

    pub fn from_name(name: &str) -> Option<Hook> {
        Hook::ALL.into_iter().find(|h| h.name() == name)
    }

    /// The kind of program this hook runs.
    pub fn program_kind(self) -> ProgramKind {
        match self {
            Hook::Xdp | Hook::XdpGeneric => ProgramKind::Xdp,
            Hook::TcIngress | Hook::TcEgress => ProgramKind::Tc,
        }
    }

    /// The hook a program of `kind` gets when none is asked for.
    pub fn default_for(kind: ProgramKind) -> Hook {
        match kind {
            ProgramKind::Xdp => Hook::Xdp,
            ProgramKind::Tc => Hook::TcIngress,
        }
    }

    /// `BPF_LINK_CREATE`'s attach type and flags.
    fn attach_type_and_flags(self) -> (u32, u32) {
        match self {
            Hook::Xdp => (bpfsys::BPF_XDP, bpfsys::XDP_FLAGS_DRV_MODE),
            Hook::XdpGeneric => (bpfsys::BPF_XDP, bpfsys::XDP_FLAGS_SKB_MODE),
            Hook::TcIngress => (bpfsys::BPF_TCX_INGRESS, 0),
            Hook::TcEgress => (bpfsys::BPF_TCX_EGRESS, 0),
        }
    }

    /// A help line for a failed attach.
    fn attach_hint(self, err: &io::Error) -> String {
        match (self, err.raw_os_error()) {
            (_, Some(libc::EBUSY | libc::EEXIST)) => {
                "another program or link already holds this hook (`ip -d link show`, `bpftool net`)".into()
            }
            (Hook::Xdp, Some(libc::EOPNOTSUPP | libc::EINVAL)) => {
                "the driver may lack native XDP; try --hook xdp-generic".into()
            }
            (Hook::TcIngress | Hook::TcEgress, Some(libc::EINVAL)) => {
                "tcx links need Linux 6.6 or later".into()
            }
            _ => "this needs root (CAP_BPF and CAP_NET_ADMIN)".into(),
        }
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The fd of a loaded program, borrowed for as long as the program lives.
pub(crate) fn prog_fd(prog: &crate::load::LoadedProgram) -> BorrowedFd<'_> {
    // SAFETY: `LoadedProgram::fd` stays open for as long as `prog` lives, and the
    // borrow cannot outlive `prog`.
    unsafe { BorrowedFd::borrow_raw(prog.fd()) }
}

/// The index of interface `name` in the calling thread's network namespace.
pub fn ifindex(name: &str) -> Option<u32> {
    let cname = CString::new(name).ok()?;
    // SAFETY: `cname` is a valid NUL-terminated string for the duration of the call.
    let idx = unsafe { libc::if_nametoindex(cname.as_ptr()) };
    (idx != 0).then_some(idx)
}

/// An attached program.
#[derive(Debug)]
pub struct Link {
    fd: OwnedFd,
    hook: Hook,
    ifindex: u32,
    id: u32,
    pin: Option<PathBuf>,
}

impl Link {
    /// Attach `prog` at `hook` on interface `ifindex` of the calling thread's
    /// network namespace. `iface` names it in errors.
    pub fn attach(prog: BorrowedFd<'_>, hook: Hook, ifindex: u32, iface: &str) -> Result<Link, RunError> {
        let (attach_type, flags) = hook.attach_type_and_flags();
        let fd = bpfsys::link_create(prog, ifindex, attach_type, flags).map_err(|source| RunError::Attach {
            iface: iface.to_string(),
            hook,
            hint: hook.attach_hint(&source),
            source,
        })?;
        let id = bpfsys::link_info(fd.as_fd()).map(|i| i.id).unwrap_or(0);
        Ok(Link { fd, hook, ifindex, id, pin: None })
    }

    /// Pin the link at `path` (bpffs); the pin is removed when the link drops.
    pub fn pin(&mut self, path: &Path) -> Result<(), RunError> {
        bpfsys::obj_pin(self.fd.as_fd(), path).map_err(RunError::fs("cannot pin the link at", path))?;
        self.pin = Some(path.to_path_buf());
        Ok(())
    }

    pub fn hook(&self) -> Hook {
        self.hook
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The link's kernel id (stable across program swaps).
    pub fn id(&self) -> u32 {
        self.id
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// What the kernel says about the link now: which program it runs, and
    /// whether its interface still exists (`ifindex` 0 once it is gone).
    pub fn info(&self) -> io::Result<LinkInfo> {
        bpfsys::link_info(self.fd.as_fd())
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        if let Some(pin) = &self.pin {
            let _ = std::fs::remove_file(pin);
        }
        let _ = bpfsys::link_detach(self.fd.as_fd());
    }
}
