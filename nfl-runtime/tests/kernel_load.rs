//! Loading clang-built XDP/TC objects with aya and running them with BPF_PROG_TEST_RUN.

mod common;

use nfl_runtime::load::{LoadError, ProgramKind, rejection_source};
use nfl_runtime::testrun::{MIN_PACKET_LEN, RunError};
use nfl_runtime::{load, require_kernel, test_run, trim_verifier_log};

#[test]
fn probe_reports_bpf_usable() {
    if !require_kernel("probe_reports_bpf_usable") {
        return;
    }
    assert_eq!(nfl_runtime::bpf_available(), Ok(()));
}

#[test]
fn xdp_drop_ipv4_verdicts() {
    if !require_kernel("xdp_drop_ipv4_verdicts") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let obj = common::compile_bytes(dir.path(), "drop_ipv4", common::DROP_IPV4_XDP);
    let prog = load(&obj, None).expect("load drop_ipv4");
    assert_eq!(prog.name(), "drop_ipv4");
    assert_eq!(prog.kind(), ProgramKind::Xdp);
    assert!(prog.fd() >= 0);
    assert!(
        prog.xlated_insn_count() > 3,
        "xlated {}",
        prog.xlated_insn_count()
    );
    assert!(prog.verified_insns().is_some_and(|n| n > 0), "{prog:?}");

    let ipv4 = common::ipv4_udp_frame();
    let res = test_run(prog.fd(), &ipv4, 1).unwrap();
    assert_eq!(res.retval, 1, "IPv4 must be dropped");
    assert_eq!(res.data_out, ipv4, "packet is returned unchanged");

    let arp = common::arp_frame();
    let res = test_run(prog.fd(), &arp, 1).unwrap();
    assert_eq!(res.retval, 2, "ARP must pass");

    // Exactly the minimum length is accepted and reads the ethertype.
    let res = test_run(prog.fd(), &ipv4[..MIN_PACKET_LEN], 1).unwrap();
    assert_eq!(res.retval, 1);

    // Repeat runs report a duration and the same verdict.
    let res = test_run(prog.fd(), &ipv4, 1000).unwrap();
    assert_eq!(res.retval, 1);
    assert!(
        res.duration_ns < 1_000_000,
        "{} ns per run is implausible",
        res.duration_ns
    );
}

#[test]
fn short_packet_is_an_error_not_a_verdict() {
    if !require_kernel("short_packet_is_an_error_not_a_verdict") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let obj = common::compile_bytes(dir.path(), "drop_ipv4", common::DROP_IPV4_XDP);
    let prog = load(&obj, None).unwrap();
    for len in [0, 1, 13] {
        match test_run(prog.fd(), &vec![0u8; len], 1) {
            Err(RunError::PacketTooShort { len: l, min, .. }) => {
                assert_eq!((l, min), (len, MIN_PACKET_LEN));
            }
            other => panic!("len {len}: expected PacketTooShort, got {other:?}"),
        }
    }
    let tc = common::compile_bytes(dir.path(), "tc", common::TC_PROG);
    let tc = load(&tc, None).unwrap();
    assert!(matches!(
        test_run(tc.fd(), &[0u8; 10], 1),
        Err(RunError::PacketTooShort { .. })
    ));

    // A TC test run parses the IPv4/IPv6 header that the ethertype announces.
    let ipv4 = common::ipv4_udp_frame();
    for (frame_len, min) in [(14, 34), (33, 34)] {
        match tc.test_run(&ipv4[..frame_len], 1) {
            Err(RunError::PacketTooShort {
                len,
                min: m,
                reason,
            }) => {
                assert_eq!((len, m), (frame_len, min));
                assert!(reason.contains("IPv4"), "{reason}");
            }
            other => panic!("expected PacketTooShort, got {other:?}"),
        }
        // The raw call reaches the kernel, which refuses it; the error explains why.
        let err = test_run(tc.fd(), &ipv4[..frame_len], 1).unwrap_err();
        assert!(err.to_string().contains("complete IPv4 header"), "{err}");
    }
    assert_eq!(tc.test_run(&ipv4[..34], 1).unwrap().retval, 2);
    let mut ipv6 = vec![0u8; 54];
    ipv6[12..14].copy_from_slice(&[0x86, 0xdd]);
    assert!(matches!(
        tc.test_run(&ipv6[..53], 1),
        Err(RunError::PacketTooShort { min: 54, .. })
    ));
    assert_eq!(tc.test_run(&ipv6, 1).unwrap().retval, 0);
    // XDP has no such rule.
    assert_eq!(prog.test_run(&ipv4[..14], 1).unwrap().retval, 1);
}

#[test]
fn oversized_packet_gets_a_clear_error() {
    if !require_kernel("oversized_packet_gets_a_clear_error") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let obj = common::compile_bytes(dir.path(), "tc", common::TC_PROG);
    let prog = load(&obj, None).unwrap();
    // Far beyond a page: the skb test run refuses it with EINVAL.
    let err = test_run(prog.fd(), &vec![0u8; 64 * 1024], 1).unwrap_err();
    assert!(err.to_string().contains("packet size"), "{err}");
}

#[test]
fn xdp_swap_mac_tx_rewrites_bytes() {
    if !require_kernel("xdp_swap_mac_tx_rewrites_bytes") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let obj = common::compile_bytes(dir.path(), "swap_mac", common::SWAP_MAC_XDP);
    let prog = load(&obj, Some("swap_mac")).unwrap();
    let input = common::ipv4_udp_frame();
    let res = test_run(prog.fd(), &input, 1).unwrap();
    assert_eq!(res.retval, 3, "XDP_TX");
    let mut expected = input.clone();
    expected[..6].copy_from_slice(&input[6..12]);
    expected[6..12].copy_from_slice(&input[..6]);
    assert_eq!(res.data_out, expected);
}

#[test]
fn tc_program_verdicts_and_bytes() {
    if !require_kernel("tc_program_verdicts_and_bytes") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let obj = common::compile_bytes(dir.path(), "tc", common::TC_PROG);
    let prog = load(&obj, None).unwrap();
    assert_eq!(prog.kind(), ProgramKind::Tc);
    assert_eq!(prog.name(), "tc_filter");
    let res = test_run(prog.fd(), &common::ipv4_udp_frame(), 1).unwrap();
    assert_eq!(res.retval, 2, "TC_ACT_SHOT for IPv4");
    let arp = common::arp_frame();
    let res = test_run(prog.fd(), &arp, 1).unwrap();
    assert_eq!(res.retval, 0, "TC_ACT_OK for ARP");
    let mut expected = arp.clone();
    expected[..6].copy_from_slice(&arp[6..12]);
    expected[6..12].copy_from_slice(&arp[..6]);
    assert_eq!(res.data_out, expected);
}

#[test]
fn program_selection_by_name() {
    if !require_kernel("program_selection_by_name") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let obj = common::compile_bytes(dir.path(), "two", common::TWO_XDP);
    match load(&obj, None) {
        Err(LoadError::Ambiguous { candidates }) => assert_eq!(candidates, ["first", "second"]),
        other => panic!("expected Ambiguous, got {other:?}"),
    }
    match load(&obj, Some("third")) {
        Err(LoadError::ProgramNotFound { name, available }) => {
            assert_eq!(name, "third");
            assert_eq!(available.len(), 2);
        }
        other => panic!("expected ProgramNotFound, got {other:?}"),
    }
    let second = load(&obj, Some("second")).unwrap();
    assert_eq!(test_run(second.fd(), &[0u8; 14], 1).unwrap().retval, 2);
    let first = load(&obj, Some("first")).unwrap();
    assert_eq!(test_run(first.fd(), &[0u8; 14], 1).unwrap().retval, 1);
}

#[test]
fn garbage_object_is_an_error() {
    if !require_kernel("garbage_object_is_an_error") {
        return;
    }
    let err = load(b"definitely not an ELF file", None).unwrap_err();
    assert!(matches!(err, LoadError::Object(_)), "{err:?}");
}

#[test]
fn verifier_rejection_carries_log() {
    if !require_kernel("verifier_rejection_carries_log") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let obj = common::compile_bytes(dir.path(), "bad", common::BAD_XDP);
    let err = load(&obj, None).unwrap_err();
    let LoadError::Verifier {
        name, errno, log, ..
    } = &err
    else {
        panic!("expected a verifier rejection, got {err:?}");
    };
    assert_eq!(name, "bad_read");
    assert_eq!(*errno, libc::EACCES);
    assert!(log.contains("invalid access to packet"), "log:\n{log}");
    assert!(log.contains("processed"), "stats line missing:\n{log}");
    assert_eq!(err.verifier_log(), Some(log.as_str()));

    let trimmed = trim_verifier_log(log);
    assert!(trimmed.contains("invalid access to packet"), "{trimmed}");
    assert!(
        trimmed.contains("/* BAD LINE */"),
        "source annotation missing:\n{trimmed}"
    );
    assert!(trimmed.lines().count() <= log.lines().count() + 1);

    let src = rejection_source(log).expect("a source annotation");
    assert!(src.text.contains("BAD LINE"), "{src:?}");
    // Linux 6.3+ appends ` @ file:line` to the annotation.
    assert_eq!(
        src.line,
        Some(common::c_line_of(common::BAD_XDP, "BAD LINE")),
        "{src:?}"
    );
    assert_eq!(src.file.as_deref(), Some("bad.c"));
    // The Display form is one line: the program and the verifier's message.
    let shown = err.to_string();
    let message = nfl_runtime::load::verifier_message(log).unwrap();
    assert_eq!(
        shown,
        format!("the kernel verifier rejected program `bad_read`: {message}")
    );
    assert!(message.starts_with("invalid access to packet"), "{shown}");
}

#[test]
fn bpffs_is_mounted_on_demand() {
    if !require_kernel("bpffs_is_mounted_on_demand") {
        return;
    }
    let path = nfl_runtime::ensure_bpffs().expect("mount bpffs");
    assert_eq!(path, std::path::Path::new(nfl_runtime::kernel::BPFFS_PATH));
    assert!(nfl_runtime::kernel::is_on_bpffs(&path));
    // Idempotent: a second call finds the mount.
    assert_eq!(nfl_runtime::ensure_bpffs().unwrap(), path);
    assert!(!nfl_runtime::kernel::is_on_bpffs(std::path::Path::new(
        "/tmp"
    )));
}
