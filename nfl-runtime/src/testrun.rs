//! `BPF_PROG_TEST_RUN`: run a loaded program on one packet inside the kernel.
//!
//! The kernel copies `data` into a fresh skb (TC) or xdp_buff (XDP), runs the program
//! `repeat` times and copies the resulting packet back.
//!
//! Kernel limits worth knowing (see `bpf_test_init` in `net/bpf/test_run.c`):
//! - both XDP and `BPF_PROG_TYPE_SCHED_CLS` need at least `ETH_HLEN` (14) bytes; a
//!   shorter packet gets `EINVAL`, which [`test_run`] reports as
//!   [`RunError::PacketTooShort`] before making the call, never as a verdict;
//! - a TC (skb) test run also parses the network header its ethertype announces, and
//!   refuses (`EINVAL`) an IPv4 frame shorter than 14+20 = 34 bytes or an IPv6 frame
//!   shorter than 14+40 = 54 bytes (measured on Linux 6.18). XDP has no such rule.
//!   [`min_packet_len`] knows both, and [`LoadedProgram::test_run`] checks it first;
//! - a TC packet must fit the skb's linear area, about 3.7 KiB (3712 bytes work on
//!   Linux 6.18, 3720 do not); XDP takes larger packets as multi-buffer frames, up to
//!   the fragment limit (an 80 KB frame gets `ENOMEM`). Both are reported with a hint;
//! - `duration` is the mean time per run in nanoseconds, measured in the kernel.

use std::os::fd::RawFd;

use crate::load::{LoadedProgram, ProgramKind};

/// `BPF_PROG_TEST_RUN` command number from `enum bpf_cmd`.
const BPF_PROG_TEST_RUN: libc::c_long = 10;

/// The minimum packet length the kernel accepts for XDP and TC test runs.
pub const MIN_PACKET_LEN: usize = 14;

/// Extra room for the output packet: programs may grow the packet, e.g. with
/// `bpf_xdp_adjust_head` (up to `XDP_PACKET_HEADROOM` = 256 bytes).
const OUT_SLACK: usize = 256;

/// The `test` member of `union bpf_attr` (`include/uapi/linux/bpf.h`), in kernel order.
/// 76 bytes of fields, plus 4 bytes of explicit padding up to the 8-byte alignment.
#[repr(C)]
#[derive(Default, Debug)]
struct TestRunAttr {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    ctx_size_in: u32,
    ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
    flags: u32,
    cpu: u32,
    batch_size: u32,
    /// Explicit padding: the kernel rejects the call (EINVAL) unless every byte past
    /// the fields it knows is zero, and implicit padding bytes are not guaranteed zero.
    _pad: u32,
}

const _: () = assert!(size_of::<TestRunAttr>() == 80);

/// What one test run produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunResult {
    /// The program's return value (the verdict).
    pub retval: u32,
    /// The packet after the program ran.
    pub data_out: Vec<u8>,
    /// Mean duration of one run in nanoseconds, as measured by the kernel.
    pub duration_ns: u32,
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum RunError {
    #[error("packet is {len} bytes, but the kernel needs at least {min} to test-run it ({reason})")]
    #[diagnostic(
        code(nfl::E0910),
        help("pad the packet, or skip it: the kernel refuses it before the program runs")
    )]
    PacketTooShort {
        len: usize,
        min: usize,
        reason: &'static str,
    },
    #[error("packet of {len} bytes is too large for BPF_PROG_TEST_RUN")]
    #[diagnostic(code(nfl::E0911))]
    PacketTooLong { len: usize },
    #[error("BPF_PROG_TEST_RUN failed: {source}{hint}")]
    #[diagnostic(code(nfl::E0912))]
    Syscall {
        #[source]
        source: std::io::Error,
        hint: &'static str,
    },
}

const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
const IPV4_MIN: usize = 14 + 20;
const IPV6_MIN: usize = 14 + 40;
const ETH_REASON: &str = "an Ethernet header";

fn ethertype(data: &[u8]) -> Option<u16> {
    match data.get(12..14) {
        Some(&[hi, lo]) => Some(u16::from_be_bytes([hi, lo])),
        _ => None,
    }
}

/// The shortest packet the kernel test-runs at `hook`, given the packet's ethertype,
/// with the reason.
pub fn min_packet_len(hook: ProgramKind, data: &[u8]) -> (usize, &'static str) {
    match (hook, ethertype(data)) {
        (ProgramKind::Tc, Some(ETH_P_IP)) => (
            IPV4_MIN,
            "a TC test run parses the IPv4 header the ethertype announces",
        ),
        (ProgramKind::Tc, Some(ETH_P_IPV6)) => (
            IPV6_MIN,
            "a TC test run parses the IPv6 header the ethertype announces",
        ),
        _ => (MIN_PACKET_LEN, ETH_REASON),
    }
}

impl LoadedProgram {
    /// [`test_run`] on this program, after checking the packet against
    /// [`min_packet_len`] for its hook, so a packet the kernel would refuse gets
    /// [`RunError::PacketTooShort`] rather than a bare `EINVAL`.
    pub fn test_run(&self, data: &[u8], repeat: u32) -> Result<RunResult, RunError> {
        let (min, reason) = min_packet_len(self.kind(), data);
        if data.len() < min {
            return Err(RunError::PacketTooShort {
                len: data.len(),
                min,
                reason,
            });
        }
        test_run(self.fd(), data, repeat)
    }
}

/// Run the program behind `prog_fd` on `data`, `repeat` times (0 counts as 1).
pub fn test_run(prog_fd: RawFd, data: &[u8], repeat: u32) -> Result<RunResult, RunError> {
    if data.len() < MIN_PACKET_LEN {
        return Err(RunError::PacketTooShort {
            len: data.len(),
            min: MIN_PACKET_LEN,
            reason: ETH_REASON,
        });
    }
    let data_size_in =
        u32::try_from(data.len()).map_err(|_| RunError::PacketTooLong { len: data.len() })?;
    let mut out_len = data.len() + OUT_SLACK;
    // A second round only happens when the program grew the packet beyond our slack
    // and the kernel told us (ENOSPC) how big the output really is.
    for _round in 0..2 {
        let mut data_out = vec![0u8; out_len];
        let mut attr = TestRunAttr {
            prog_fd: u32::try_from(prog_fd).unwrap_or(u32::MAX),
            data_size_in,
            data_size_out: u32::try_from(out_len).unwrap_or(u32::MAX),
            data_in: data.as_ptr() as u64,
            data_out: data_out.as_mut_ptr() as u64,
            repeat,
            ..TestRunAttr::default()
        };
        // SAFETY: `attr` is a correctly laid-out `test` member of `union bpf_attr`;
        // `data_in` points at `data_size_in` readable bytes and `data_out` at
        // `data_size_out` writable bytes, both alive for the duration of the call.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                BPF_PROG_TEST_RUN,
                &mut attr as *mut TestRunAttr,
                size_of::<TestRunAttr>(),
            )
        };
        if ret < 0 {
            let err = std::io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::ENOSPC) if (attr.data_size_out as usize) > out_len => {
                    out_len = attr.data_size_out as usize;
                    continue;
                }
                Some(libc::EINVAL) => {
                    let hint = match ethertype(data) {
                        Some(ETH_P_IP) if data.len() < IPV4_MIN => {
                            " (a TC program needs a complete IPv4 header, 34 bytes, when the ethertype is IPv4)"
                        }
                        Some(ETH_P_IPV6) if data.len() < IPV6_MIN => {
                            " (a TC program needs a complete IPv6 header, 54 bytes, when the ethertype is IPv6)"
                        }
                        _ => {
                            " (packet size outside the kernel's limits, or the program type does not support test runs)"
                        }
                    };
                    return Err(RunError::Syscall { source: err, hint });
                }
                Some(libc::ENOMEM | libc::E2BIG) => {
                    return Err(RunError::Syscall {
                        source: err,
                        hint: " (packet too large for the kernel's test-run buffers)",
                    });
                }
                Some(libc::EBADF) => {
                    return Err(RunError::Syscall {
                        source: err,
                        hint: " (not a BPF program fd)",
                    });
                }
                _ => {
                    return Err(RunError::Syscall {
                        source: err,
                        hint: "",
                    });
                }
            }
        }
        data_out.truncate((attr.data_size_out as usize).min(out_len));
        return Ok(RunResult {
            retval: attr.retval,
            data_out,
            duration_ns: attr.duration,
        });
    }
    Err(RunError::Syscall {
        source: std::io::Error::from_raw_os_error(libc::ENOSPC),
        hint: " (output kept growing)",
    })
}

/// Run the calling thread on `cpu` only, so that a test run's per-CPU
/// state is that CPU's (`BPF_PROG_TEST_RUN` runs on the caller's CPU).
pub fn pin_thread_to_cpu(cpu: usize) -> std::io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET and
    // sched_setaffinity only read and write this local set.
    let r = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if r == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}
