//! Kernel tests: the verifier accepts every program, every example's packet
//! tests pass through BPF_PROG_TEST_RUN, and the tcpdump corpus goes
//! through `parse_only` with verdict `pass`. Each test skips loudly where
//! BPF is not permitted, and fails there under NFL_REQUIRE_KERNEL=1.

mod common;

use std::path::PathBuf;

use common::*;
use nfl_runtime::testfile;

const XDP_PASS: u32 = 2;

/// The largest frame a single-buffer (non-`xdp.frags`) XDP program can be
/// given: a page less the headroom (256) and `skb_shared_info` (320).
/// BIG TCP captures hold 80 KB frames that no such program ever sees.
const XDP_SINGLE_BUFFER_MAX: usize = 4096 - 256 - 320;

#[test]
fn verifier_accepts_every_ok_program_and_example() {
    if !nfl_runtime::require_kernel("verifier_accepts_every_ok_program_and_example") {
        return;
    }
    let mut files = nf_files("tests/ok");
    files.extend(nf_files("examples"));
    let mut failures = Vec::new();
    for path in &files {
        let build = build_ok(path);
        match nfl_runtime::load(&build.object, Some(&build.checked.hir.name)) {
            Ok(prog) => eprintln!(
                "{:<40} {:>4} insns, {:>5} processed, {:>3} B stack",
                display_name(path),
                prog.xlated_insn_count(),
                prog.verified_insns().unwrap_or(0),
                build.codegen.alloc.stack_bytes
            ),
            Err(e) => failures.push(format!(
                "{}: {e}\n{}",
                display_name(path),
                e.verifier_log().map(nfl_runtime::trim_verifier_log).unwrap_or_default()
            )),
        }
    }
    assert!(failures.is_empty(), "the verifier rejected:\n{}", failures.join("\n"));
}

#[test]
fn example_packet_tests_pass() {
    if !nfl_runtime::require_kernel("example_packet_tests_pass") {
        return;
    }
    let examples = nf_files("examples");
    assert!(examples.len() >= 3);
    let mut failed = Vec::new();
    for path in &examples {
        let test_path = path.with_extension("test");
        let text = std::fs::read_to_string(&test_path)
            .unwrap_or_else(|e| panic!("every example needs a .test file: {}: {e}", test_path.display()));
        let build = build_ok(path);
        let mut sources = build.checked.sources.clone();
        let (_, cases, diags) = testfile::parse_source(&mut sources, &display_name(&test_path), &text);
        assert!(
            diags.is_empty(),
            "{}",
            nfl_syntax::diag::render_all(&diags, &sources, false)
        );
        let prog = nfl_runtime::load(&build.object, Some(&build.checked.hir.name)).expect("load");
        let outcomes = testfile::run_cases(&prog, &cases);
        let report = testfile::format_outcomes(&outcomes);
        eprintln!("{}:\n{report}", display_name(path));
        assert_eq!(outcomes.len(), cases.len());
        if outcomes.iter().any(|o| !o.passed()) {
            failed.push(format!("{}:\n{report}", display_name(path)));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

fn corpus_dir() -> PathBuf {
    std::env::var_os("NFL_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/corpus/tcpdump"))
}

#[test]
fn corpus_frames_pass_through_parse_only() {
    if !nfl_runtime::require_kernel("corpus_frames_pass_through_parse_only") {
        return;
    }
    let dir = corpus_dir();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        // The corpus lives outside the repository; CI always has it.
        assert!(std::env::var_os("CI").is_none(), "corpus missing at {}", dir.display());
        eprintln!("=== SKIPPED corpus test: no corpus at {} ===", dir.display());
        return;
    };
    let mut pcaps: Vec<PathBuf> =
        entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "pcap")).collect();
    pcaps.sort();
    let build = build_ok(&root().join("examples/parse_only.nf"));
    let prog = nfl_runtime::load(&build.object, Some("parse_only")).expect("load parse_only");
    let (mut n_files, mut n_frames, mut n_short, mut n_huge) = (0usize, 0usize, 0usize, 0usize);
    let mut bad = Vec::new();
    for path in &pcaps {
        let Ok(cap) = nfl_runtime::pcap::read_pcap(path) else { continue };
        if !cap.is_ethernet() {
            continue;
        }
        n_files += 1;
        for (i, frame) in cap.frames.iter().enumerate() {
            if frame.len() < nfl_runtime::testrun::MIN_PACKET_LEN {
                // The kernel's test runner refuses frames shorter than an
                // Ethernet header; real XDP would see them, but cannot here.
                n_short += 1;
                continue;
            }
            n_frames += 1;
            match nfl_runtime::test_run(prog.fd(), frame, 1) {
                Ok(r) if r.retval == XDP_PASS && r.data_out == *frame => {}
                Ok(r) => bad.push(format!("{}#{i}: retval {}", path.display(), r.retval)),
                Err(_) if frame.len() > XDP_SINGLE_BUFFER_MAX => {
                    n_frames -= 1;
                    n_huge += 1;
                }
                Err(e) => bad.push(format!("{}#{i}: {e}", path.display())),
            }
        }
    }
    eprintln!(
        "corpus: {n_frames} Ethernet frames from {n_files} captures passed; not runnable in the kernel's \
         test runner: {n_short} runts under 14 bytes, {n_huge} frames over {XDP_SINGLE_BUFFER_MAX} bytes"
    );
    assert!(n_huge <= 16, "{n_huge} oversized frames: is the single-buffer limit right?");
    assert!(n_files >= 100, "only {n_files} Ethernet captures found in {}", dir.display());
    assert!(bad.is_empty(), "{} frames did not pass:\n{}", bad.len(), bad.join("\n"));
}
