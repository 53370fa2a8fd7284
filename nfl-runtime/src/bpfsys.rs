//! The bpf(2) commands that aya 0.14 does not offer on plain file descriptors:
//! creating, updating and detaching links, pinning and opening pins, object
//! info (ids, run statistics) and `BPF_ENABLE_STATS`.
//!
//! Every attr below is a `repr(C)` prefix of the command's member of
//! `union bpf_attr`; the kernel treats a shorter attr's missing tail as zero.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;

const BPF_OBJ_PIN: libc::c_long = 6;
const BPF_OBJ_GET: libc::c_long = 7;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_MAP_GET_FD_BY_ID: libc::c_long = 14;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_LINK_UPDATE: libc::c_long = 29;
const BPF_ENABLE_STATS: libc::c_long = 32;
const BPF_LINK_DETACH: libc::c_long = 34;

/// `enum bpf_attach_type` values of the hooks we attach to.
pub const BPF_XDP: u32 = 37;
pub const BPF_TCX_INGRESS: u32 = 46;
pub const BPF_TCX_EGRESS: u32 = 47;
/// `BPF_LINK_UPDATE` flag: replace only if the link still runs `old_prog_fd`.
const BPF_F_REPLACE: u32 = 4;
/// `XDP_FLAGS_SKB_MODE` and `XDP_FLAGS_DRV_MODE` from `if_link.h`.
pub const XDP_FLAGS_SKB_MODE: u32 = 2;
pub const XDP_FLAGS_DRV_MODE: u32 = 4;

/// Issue `bpf(cmd, attr, sizeof attr)`.
///
/// # Safety
/// `T` must be a `repr(C)` prefix of `cmd`'s member of `union bpf_attr`, and
/// every pointer in it must be valid for what the kernel does with it.
unsafe fn sys_bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<i64> {
    // SAFETY: upheld by the caller; `attr` is valid for `size_of::<T>()` bytes.
    let ret = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut T, size_of::<T>()) };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Take ownership of a descriptor the kernel just returned.
fn owned(ret: i64) -> io::Result<OwnedFd> {
    let fd = i32::try_from(ret).map_err(|_| io::Error::other("bpf(2) returned an out-of-range fd"))?;
    // SAFETY: a successful fd-returning bpf command gives a new descriptor
    // that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn fd_u32(fd: BorrowedFd<'_>) -> u32 {
    fd.as_raw_fd() as u32
}

#[repr(C)]
#[derive(Default)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
    /// The per-type union (tcx: `relative_fd`, `expected_revision`), all zero.
    rest: [u64; 4],
}

/// `BPF_LINK_CREATE` of `prog` at `attach_type` on `ifindex` (resolved in the
/// calling thread's network namespace).
pub fn link_create(prog: BorrowedFd<'_>, ifindex: u32, attach_type: u32, flags: u32) -> io::Result<OwnedFd> {
    let mut attr = LinkCreateAttr {
        prog_fd: fd_u32(prog),
        target_ifindex: ifindex,
        attach_type,
        flags,
        ..LinkCreateAttr::default()
    };
    // SAFETY: `LinkCreateAttr` is the `link_create` member's prefix; no pointers.
    owned(unsafe { sys_bpf(BPF_LINK_CREATE, &mut attr) }?)
}

#[repr(C)]
struct LinkUpdateAttr {
    link_fd: u32,
    new_prog_fd: u32,
    flags: u32,
    old_prog_fd: u32,
}

/// `BPF_LINK_UPDATE` with `BPF_F_REPLACE`: swap `new_prog` in atomically, but only
/// if `link` still runs `old_prog` (EPERM otherwise).
pub fn link_update(link: BorrowedFd<'_>, new_prog: BorrowedFd<'_>, old_prog: BorrowedFd<'_>) -> io::Result<()> {
    let mut attr = LinkUpdateAttr {
        link_fd: fd_u32(link),
        new_prog_fd: fd_u32(new_prog),
        flags: BPF_F_REPLACE,
        old_prog_fd: fd_u32(old_prog),
    };
    // SAFETY: the `link_update` member, no pointers.
    unsafe { sys_bpf(BPF_LINK_UPDATE, &mut attr) }.map(drop)
}

/// `BPF_LINK_DETACH`: detach now, even while other references keep the link open.
pub fn link_detach(link: BorrowedFd<'_>) -> io::Result<()> {
    let mut attr = [fd_u32(link), 0];
    // SAFETY: the `link_detach` member is one u32 (`link_fd`); no pointers.
    unsafe { sys_bpf(BPF_LINK_DETACH, &mut attr) }.map(drop)
}

#[repr(C)]
#[derive(Default)]
struct ObjAttr {
    pathname: u64,
    bpf_fd: u32,
    file_flags: u32,
}

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| io::Error::other("path contains a NUL byte"))
}

/// `BPF_OBJ_PIN`: pin a program, map or link at `path` on bpffs.
pub fn obj_pin(fd: BorrowedFd<'_>, path: &Path) -> io::Result<()> {
    let cpath = c_path(path)?;
    let mut attr = ObjAttr { pathname: cpath.as_ptr() as u64, bpf_fd: fd_u32(fd), file_flags: 0 };
    // SAFETY: the `obj_pin` member; `pathname` is NUL-terminated and outlives the call.
    unsafe { sys_bpf(BPF_OBJ_PIN, &mut attr) }.map(drop)
}

/// `BPF_OBJ_GET`: open the object pinned at `path`.
pub fn obj_get(path: &Path) -> io::Result<OwnedFd> {
    let cpath = c_path(path)?;
    let mut attr = ObjAttr { pathname: cpath.as_ptr() as u64, ..ObjAttr::default() };
    // SAFETY: the `obj_get` member; `pathname` is NUL-terminated and outlives the call.
    owned(unsafe { sys_bpf(BPF_OBJ_GET, &mut attr) }?)
}

fn fd_by_id(cmd: libc::c_long, id: u32) -> io::Result<OwnedFd> {
    let mut attr = [id, 0, 0, 0];
    // SAFETY: `*_get_fd_by_id` members: id, next_id, open_flags; no pointers.
    owned(unsafe { sys_bpf(cmd, &mut attr) }?)
}

/// `BPF_PROG_GET_FD_BY_ID`.
pub fn prog_fd_by_id(id: u32) -> io::Result<OwnedFd> {
    fd_by_id(BPF_PROG_GET_FD_BY_ID, id)
}

/// `BPF_MAP_GET_FD_BY_ID`.
pub fn map_fd_by_id(id: u32) -> io::Result<OwnedFd> {
    fd_by_id(BPF_MAP_GET_FD_BY_ID, id)
}

#[repr(C)]
struct InfoAttr {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}

/// `BPF_OBJ_GET_INFO_BY_FD` into a zeroed buffer: with every count and pointer
/// zero the kernel fills in the fixed fields only.
fn obj_info(fd: BorrowedFd<'_>) -> io::Result<[u8; 256]> {
    let mut buf = [0u8; 256];
    let mut attr = InfoAttr { bpf_fd: fd_u32(fd), info_len: buf.len() as u32, info: buf.as_mut_ptr() as u64 };
    // SAFETY: the `info` member; `info` points at `info_len` writable bytes.
    unsafe { sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr) }?;
    Ok(buf)
}

fn u32_at(buf: &[u8], off: usize) -> u32 {
    buf.get(off..off + 4).and_then(|b| b.try_into().ok()).map_or(0, u32::from_ne_bytes)
}

fn u64_at(buf: &[u8], off: usize) -> u64 {
    buf.get(off..off + 8).and_then(|b| b.try_into().ok()).map_or(0, u64::from_ne_bytes)
}

/// What `bpf_prog_info` says about a loaded program.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProgInfo {
    pub id: u32,
    /// `bpf_prog_type`.
    pub prog_type: u32,
    pub name: String,
    /// Runs and nanoseconds spent, counted only while run-time statistics are
    /// enabled ([`enable_stats`] or `kernel.bpf_stats_enabled`).
    pub run_cnt: u64,
    pub run_time_ns: u64,
}

/// `bpf_prog_info` of a program fd (offsets from `include/uapi/linux/bpf.h`).
pub fn prog_info(fd: BorrowedFd<'_>) -> io::Result<ProgInfo> {
    let buf = obj_info(fd)?;
    let name = &buf[64..80];
    let len = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    Ok(ProgInfo {
        prog_type: u32_at(&buf, 0),
        id: u32_at(&buf, 4),
        name: String::from_utf8_lossy(&name[..len]).into_owned(),
        run_time_ns: u64_at(&buf, 192),
        run_cnt: u64_at(&buf, 200),
    })
}

/// What `bpf_link_info` says about a link.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkInfo {
    /// `bpf_link_type` (XDP 6, TCX 11).
    pub link_type: u32,
    pub id: u32,
    pub prog_id: u32,
    /// XDP and tcx links: the interface, 0 once it is gone.
    pub ifindex: u32,
}

pub fn link_info(fd: BorrowedFd<'_>) -> io::Result<LinkInfo> {
    let buf = obj_info(fd)?;
    Ok(LinkInfo { link_type: u32_at(&buf, 0), id: u32_at(&buf, 4), prog_id: u32_at(&buf, 8), ifindex: u32_at(&buf, 16) })
}

/// The ids shared by `bpf_map_info` and every other info: type and id.
pub fn map_id(fd: BorrowedFd<'_>) -> io::Result<u32> {
    obj_info(fd).map(|buf| u32_at(&buf, 4))
}

/// `BPF_ENABLE_STATS(BPF_STATS_RUN_TIME)`: programs count runs and run time for as
/// long as the returned fd stays open (reference-counted, so nothing to restore).
pub fn enable_stats() -> io::Result<OwnedFd> {
    let mut attr = [0u32; 2];
    // SAFETY: the `enable_stats` member is one u32 (`type`); no pointers.
    owned(unsafe { sys_bpf(BPF_ENABLE_STATS, &mut attr) }?)
}
