//! `nflc test --engine` and `nflc sim`, end to end through the binary.

mod common;

use std::collections::BTreeMap;
use std::process::{Command, Output};

use common::{build_ok, root};
use nfl_runtime::testfile;

fn nflc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nflc")).args(args).current_dir(root()).output().expect("run nflc")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn test_in_the_user_engine_passes_and_fails_as_the_cases_say() {
    let o = nflc(&["test", "examples/firewall.nf", "--engine", "user"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("running in the userspace engine"), "{}", text(&o));
    // The same cases with one expectation turned around must fail.
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = std::fs::read_to_string(root().join("examples/static_filter.test")).expect("read");
    let flipped = cases.replacen("expect: drop", "expect: pass", 1);
    assert_ne!(flipped, cases, "static_filter.test has a drop case");
    let path = dir.path().join("flipped.test");
    std::fs::write(&path, flipped).expect("write");
    let o = nflc(&["test", "examples/static_filter.nf", "--engine", "user", "--cases", path.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("FAIL"), "{}", text(&o));
}

#[test]
fn test_in_both_engines_agrees_on_the_load_balancer() {
    if !nfl_runtime::require_kernel("test_in_both_engines_agrees_on_the_load_balancer") {
        return;
    }
    for example in ["examples/l4lb.nf", "examples/nat.nf", "examples/heavy_hitters.nf"] {
        let o = nflc(&["test", example, "--engine", "both"]);
        assert!(o.status.success(), "{example}: {}", text(&o));
        assert!(text(&o).contains("in the kernel and in the userspace engine"));
    }
}

/// The static filter's packet cases as a capture: `nflc sim` counts the
/// verdicts the cases expect, and writes exactly the passed frames.
#[test]
fn sim_counts_the_verdicts_the_test_cases_expect() {
    let path = root().join("examples/static_filter.nf");
    let build = build_ok(&path);
    let mut sources = build.checked.sources.clone();
    let cases_text = std::fs::read_to_string(path.with_extension("test")).expect("read");
    let (_, cases, diags) = testfile::parse_source(&mut sources, "static_filter.test", &cases_text);
    assert!(diags.is_empty());
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in.pcap");
    let out = dir.path().join("out.pcap");
    {
        let file = std::fs::File::create(&input).expect("create");
        let mut w = pcap_file::pcap::PcapWriter::new(file).expect("pcap");
        for (i, c) in cases.iter().enumerate() {
            let ts = std::time::Duration::from_millis(i as u64);
            w.write_packet(&pcap_file::pcap::PcapPacket::new(ts, c.input.len() as u32, &c.input)).expect("write");
        }
    }
    let o = nflc(&["sim", "examples/static_filter.nf", "--pcap", input.to_str().expect("utf-8"), "--out", out.to_str().expect("utf-8")]);
    assert!(o.status.success(), "{}", text(&o));
    let mut expected: BTreeMap<String, usize> = BTreeMap::new();
    for c in &cases {
        *expected.entry(c.expect.describe()).or_default() += 1;
    }
    let line: Vec<String> = expected.iter().map(|(k, n)| format!("{k} {n}")).collect();
    assert!(text(&o).contains(&format!("verdicts: {}", line.join(", "))), "expected {line:?} in\n{}", text(&o));
    let written = nfl_runtime::pcap::read_pcap(&out).expect("read out");
    let passed: Vec<&Vec<u8>> = cases.iter().filter(|c| c.expect.describe() == "pass").map(|c| c.output.as_ref().unwrap_or(&c.input)).collect();
    assert_eq!(written.frames.iter().collect::<Vec<_>>(), passed);
    assert_eq!(written.times_ns.len(), passed.len());
}
