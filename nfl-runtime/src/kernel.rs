//! Probing the running kernel: is BPF usable by this process, and is bpffs mounted.
//!
//! [`require_kernel`] is the gate every kernel test in the project starts with. A test
//! that cannot reach the kernel skips loudly, unless `NFL_REQUIRE_KERNEL=1` (set in CI),
//! where it fails instead, so that a misconfigured runner never passes silently.

use std::ffi::CString;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::testrun::test_run;

/// `BPF_PROG_LOAD` command number from `enum bpf_cmd`.
const BPF_PROG_LOAD: libc::c_long = 5;
/// `BPF_PROG_TYPE_XDP` from `enum bpf_prog_type`.
const BPF_PROG_TYPE_XDP: u32 = 6;
/// `BPF_FS_MAGIC` from `include/uapi/linux/magic.h`.
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

/// Where bpffs is expected to be mounted.
pub const BPFFS_PATH: &str = "/sys/fs/bpf";

/// The prefix of the `prog_load` member of `union bpf_attr`, up to `expected_attach_type`.
/// The kernel accepts a shorter attr as long as it covers the fields it needs and
/// treats the missing tail as zero.
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// Load `r0 = XDP_PASS; exit` through a raw `BPF_PROG_LOAD`.
fn load_trivial_xdp() -> Result<OwnedFd, std::io::Error> {
    // BPF_ALU64 | BPF_MOV | BPF_K (0xb7), dst r0, imm 2; then BPF_JMP | BPF_EXIT (0x95).
    let insns: [u64; 2] = [
        u64::from_le_bytes([0xb7, 0x00, 0, 0, 2, 0, 0, 0]),
        u64::from_le_bytes([0x95, 0x00, 0, 0, 0, 0, 0, 0]),
    ];
    let license = CString::from(c"GPL");
    let attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_XDP,
        insn_cnt: 2,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        ..ProgLoadAttr::default()
    };
    // SAFETY: `attr` is a valid, fully initialised prefix of `union bpf_attr` whose
    // pointers (`insns`, `license`) outlive the call; the kernel only reads from them
    // because no log buffer is given.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_LOAD,
            &attr as *const ProgLoadAttr,
            size_of::<ProgLoadAttr>(),
        )
    };
    if ret < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let fd = i32::try_from(ret)
        .map_err(|_| std::io::Error::other("BPF_PROG_LOAD returned an out-of-range fd"))?;
    // SAFETY: a successful BPF_PROG_LOAD returns a new file descriptor that nothing
    // else owns, so `OwnedFd` may take it and close it on drop.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn probe() -> Result<(), String> {
    let fd = match load_trivial_xdp() {
        Ok(fd) => fd,
        Err(e) => {
            let hint = match e.raw_os_error() {
                Some(libc::EPERM) | Some(libc::EACCES) => {
                    // SAFETY: geteuid has no preconditions and cannot fail.
                    let euid = unsafe { libc::geteuid() };
                    format!("BPF_PROG_LOAD: {e}; euid {euid}, needs root or CAP_BPF+CAP_NET_ADMIN")
                }
                Some(libc::ENOSYS) => format!(
                    "BPF_PROG_LOAD: {e}; kernel built without CONFIG_BPF_SYSCALL or seccomp blocks bpf(2)"
                ),
                _ => format!("BPF_PROG_LOAD: {e}"),
            };
            return Err(hint);
        }
    };
    use std::os::fd::AsRawFd;
    match test_run(fd.as_raw_fd(), &[0u8; 14], 1) {
        Ok(res) if res.retval == 2 => Ok(()),
        Ok(res) => Err(format!(
            "BPF_PROG_TEST_RUN of a trivial XDP_PASS program returned {}",
            res.retval
        )),
        Err(e) => Err(format!("BPF_PROG_TEST_RUN: {e}")),
    }
}

/// Whether this process may load and test-run BPF programs. The answer is probed once,
/// by loading a two-instruction XDP program and running it on a 14-byte packet, and
/// then cached.
pub fn bpf_available() -> Result<(), String> {
    static PROBE: OnceLock<Result<(), String>> = OnceLock::new();
    PROBE.get_or_init(probe).clone()
}

/// The gate at the top of every kernel test.
///
/// Returns `true` when BPF is usable. Otherwise, with `NFL_REQUIRE_KERNEL=1` in the
/// environment it panics; without it, it prints a loud `=== SKIPPED ... ===` line to
/// stderr and returns `false`, and the test should return early.
pub fn require_kernel(test_name: &str) -> bool {
    match bpf_available() {
        Ok(()) => true,
        Err(why) => {
            if std::env::var("NFL_REQUIRE_KERNEL").is_ok_and(|v| v == "1") {
                panic!("{test_name}: NFL_REQUIRE_KERNEL=1 but BPF is not usable here: {why}");
            }
            eprintln!("=== SKIPPED {test_name}: BPF not permitted here ({why}) ===");
            false
        }
    }
}

/// Whether `path` is a mount point of type bpf, according to `/proc/self/mounts`.
fn is_bpffs_mounted(path: &Path) -> bool {
    let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") else {
        return false;
    };
    let want = path.to_string_lossy();
    mounts.lines().any(|line| {
        let mut fields = line.split_whitespace();
        let _dev = fields.next();
        let mount_point = fields.next();
        let fs_type = fields.next();
        mount_point == Some(want.as_ref()) && fs_type == Some("bpf")
    })
}

/// Make sure bpffs is mounted at `/sys/fs/bpf`, mounting it if needed, and return the
/// path. The mount is left in place on purpose: pins must outlive this process.
pub fn ensure_bpffs() -> Result<PathBuf, String> {
    let path = Path::new(BPFFS_PATH);
    if is_bpffs_mounted(path) {
        return Ok(path.to_path_buf());
    }
    if !path.is_dir() {
        std::fs::create_dir_all(path).map_err(|e| format!("creating {BPFFS_PATH}: {e}"))?;
    }
    let source = CString::from(c"bpf");
    let fstype = CString::from(c"bpf");
    let target = CString::new(BPFFS_PATH).map_err(|e| e.to_string())?;
    // SAFETY: all three arguments are valid NUL-terminated strings that live across
    // the call, and `data` may be NULL for bpffs.
    let ret = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if ret != 0 {
        let err = std::io::Error::last_os_error();
        // Another process may have mounted it between our check and our mount.
        if is_bpffs_mounted(path) {
            return Ok(path.to_path_buf());
        }
        return Err(format!("mount -t bpf bpf {BPFFS_PATH}: {err}"));
    }
    Ok(path.to_path_buf())
}

/// Whether `path` lives on a bpf filesystem (checked with statfs).
pub fn is_on_bpffs(path: &Path) -> bool {
    let Ok(cpath) = CString::new(path.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    let mut buf = std::mem::MaybeUninit::<libc::statfs>::zeroed();
    // SAFETY: `cpath` is NUL-terminated and `buf` points at writable memory of the
    // right size for the kernel to fill.
    let ret = unsafe { libc::statfs(cpath.as_ptr(), buf.as_mut_ptr()) };
    if ret != 0 {
        return false;
    }
    // SAFETY: statfs returned 0, so it filled the whole struct.
    let st = unsafe { buf.assume_init() };
    #[allow(clippy::unnecessary_cast)]
    let magic = st.f_type as i64;
    magic == BPF_FS_MAGIC
}

/// `--target auto`: the richest capability profile the running kernel
/// offers. `enetstl` when the kfunc-lib module's BTF is loaded
/// (`/sys/kernel/btf/nfl_kfuncs`), `stock` when vmlinux BTF names
/// `bpf_rbtree_add_impl`, `helpers` otherwise.
pub fn probe_target() -> nfl_compiler::Target {
    if std::path::Path::new("/sys/kernel/btf/nfl_kfuncs").exists() {
        return nfl_compiler::Target::Enetstl;
    }
    let needle = b"bpf_rbtree_add_impl\0";
    match std::fs::read("/sys/kernel/btf/vmlinux") {
        Ok(btf) if btf.windows(needle.len()).any(|w| w == needle) => nfl_compiler::Target::Stock,
        _ => nfl_compiler::Target::Helpers,
    }
}
