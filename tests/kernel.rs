//! Kernel tests: the verifier accepts every program, every example's packet
//! tests pass through BPF_PROG_TEST_RUN, and the tcpdump corpus goes
//! through `parse_only` with verdict `pass`. Each test skips loudly where
//! BPF is not permitted, and fails there under NFL_REQUIRE_KERNEL=1.

mod common;

use common::*;
use nfl_runtime::testfile;

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;

/// The largest frame a single-buffer (non-`xdp.frags`) XDP program can be
/// given: a page less the headroom (256) and `skb_shared_info` (320).
/// BIG TCP captures hold 80 KB frames that no such program ever sees.
use common::corpus::XDP_SINGLE_BUFFER_MAX;

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

/// Every example (queues included) also loads when built for the `stock`
/// profile, the kernel's own kfuncs.
#[test]
fn every_example_loads_for_the_stock_profile() {
    if !nfl_runtime::require_kernel("every_example_loads_for_the_stock_profile") {
        return;
    }
    let mut failures = Vec::new();
    for path in nf_files("examples") {
        let text = std::fs::read_to_string(&path).expect("read");
        let yaml = path.with_extension("yaml");
        let yaml_text = yaml.is_file().then(|| std::fs::read_to_string(&yaml).expect("read config"));
        let config = yaml_text.as_deref().map(|t| (yaml.to_str().unwrap_or("config"), t));
        let build = nfl_compiler::driver::build_for(&display_name(&path), &text, &mut DirLoader(root().join("examples")), config, nfl_compiler::target::Target::Stock)
            .unwrap_or_else(|_| panic!("{} builds for stock", display_name(&path)));
        match nfl_runtime::load(&build.object, Some(&build.checked.hir.name)) {
            Ok(prog) => eprintln!("stock {:<32} {:>5} processed", display_name(&path), prog.verified_insns().unwrap_or(0)),
            Err(e) => failures.push(format!("{}: {e}", display_name(&path))),
        }
    }
    assert!(failures.is_empty(), "the verifier rejected under stock:\n{}", failures.join("\n"));
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
        nfl_runtime::state::init_maps(&prog, &build.object).expect("initial map entries");
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

#[test]
fn corpus_frames_pass_through_parse_only() {
    if !nfl_runtime::require_kernel("corpus_frames_pass_through_parse_only") {
        return;
    }
    let build = build_ok(&root().join("examples/parse_only.nf"));
    let prog = nfl_runtime::load(&build.object, Some("parse_only")).expect("load parse_only");
    let bad = run_corpus(&prog, |frame, retval, out| retval == XDP_PASS && out == frame);
    assert!(bad.is_empty(), "{} frames did not pass:\n{}", bad.len(), bad.join("\n"));
}

/// Every corpus frame through the IPv6 firewall (extension-header loop,
/// skips, fragments): a verdict, never an abort.
#[test]
fn corpus_frames_never_abort_ipv6_fw() {
    if !nfl_runtime::require_kernel("corpus_frames_never_abort_ipv6_fw") {
        return;
    }
    let build = build_ok(&root().join("examples/ipv6_fw.nf"));
    let prog = nfl_runtime::load(&build.object, Some("ipv6_fw")).expect("load ipv6_fw");
    let bad = run_corpus(&prog, |_, retval, _| retval != 0);
    assert!(bad.is_empty(), "{} frames aborted:\n{}", bad.len(), bad.join("\n"));
}

/// Every corpus frame through the load balancer (its tables and Maglev
/// groups filled): a verdict, never an abort; a frame it sends back out
/// carries an outer IPv4 header to a configured backend.
#[test]
fn corpus_frames_never_abort_l4lb() {
    if !nfl_runtime::require_kernel("corpus_frames_never_abort_l4lb") {
        return;
    }
    let build = build_ok(&root().join("examples/l4lb.nf"));
    let prog = nfl_runtime::load(&build.object, Some("l4lb")).expect("load l4lb");
    nfl_runtime::state::init_maps(&prog, &build.object).expect("fill");
    let backends: Vec<u64> = build.schema.maglevs[0].groups.iter().flatten().copied().collect();
    let bad = run_corpus(&prog, |_, retval, out| match retval {
        0 => false,
        3 => out.len() >= 34 && matches!(out[23], 4 | 41) && backends.contains(&u64::from(u32::from_be_bytes([out[30], out[31], out[32], out[33]]))),
        _ => true,
    });
    assert!(bad.is_empty(), "{} frames aborted or went astray:\n{}", bad.len(), bad.join("\n"));
}

/// Every runnable Ethernet frame of the tcpdump corpus through `prog`;
/// the frames `ok(frame, retval, output)` refuses (or that fail to run).
fn run_corpus(prog: &nfl_runtime::LoadedProgram, ok: impl Fn(&[u8], u32, &[u8]) -> bool) -> Vec<String> {
    let (mut n_files, mut n_frames, mut n_short, mut n_huge) = (0usize, 0usize, 0usize, 0usize);
    let mut bad = Vec::new();
    for (path, cap) in &common::corpus::ethernet_captures() {
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
                Ok(r) if ok(frame, r.retval, &r.data_out) => {}
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
        "corpus: {n_frames} Ethernet frames from {n_files} captures run; not runnable in the kernel's \
         test runner: {n_short} runts under 14 bytes, {n_huge} frames over {XDP_SINGLE_BUFFER_MAX} bytes"
    );
    assert!(n_huge <= 16, "{n_huge} oversized frames: is the single-buffer limit right?");
    bad
}

/// A small deterministic generator (xorshift) for test packets.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn u16(&mut self) -> u16 {
        self.next() as u16
    }
}

/// The fields `tests/ok/register_pressure.nf` reads, and its verdict.
struct PressureFields {
    ttl: u8,
    id: u16,
    total_len: u16,
    sport: u16,
    dport: u16,
    ulen: u16,
    csum: u16,
    src: u32,
    dst: u32,
}

impl PressureFields {
    fn random(rng: &mut Rng) -> PressureFields {
        PressureFields {
            ttl: rng.next() as u8,
            id: rng.u16(),
            total_len: rng.u16(),
            sport: rng.u16(),
            dport: rng.u16(),
            ulen: rng.u16(),
            csum: rng.u16(),
            src: rng.next() as u32,
            dst: rng.next() as u32,
        }
    }

    /// Everything but `k ^ l` of the program's `mixed`.
    fn partial_mix(&self) -> u32 {
        let (a, b, c, d) = (u32::from(self.ttl), 17u32, u32::from(self.id), u32::from(self.total_len));
        let (e, f, g, h) = (u32::from(self.sport), u32::from(self.dport), u32::from(self.ulen), u32::from(self.csum));
        let (i, j) = (self.src >> 16, self.src & 0xffff);
        ((a ^ b).wrapping_add(c ^ d).wrapping_add(e ^ f))
            .wrapping_mul(3)
            .wrapping_add(g ^ h)
            .wrapping_add((i ^ j).wrapping_mul(5))
    }

    fn verdict(&self) -> u32 {
        let (k, l) = (self.dst >> 16, self.dst & 0xffff);
        if self.partial_mix().wrapping_add(k ^ l) == 0x0004_1234 {
            return 1; // XDP_DROP
        }
        let sum = [
            u32::from(self.ttl),
            17,
            u32::from(self.id),
            u32::from(self.total_len),
            u32::from(self.sport),
            u32::from(self.dport),
            u32::from(self.ulen),
            u32::from(self.csum),
            self.src >> 16,
            self.src & 0xffff,
            k,
            l,
        ]
        .iter()
        .fold(0u32, |acc, v| acc.wrapping_add(*v));
        if sum & 0xff == 0x5a { 3 } else { XDP_PASS }
    }

    fn packet(&self) -> Vec<u8> {
        let mut p = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
        p.extend_from_slice(&[0x45, 0]);
        p.extend_from_slice(&self.total_len.to_be_bytes());
        p.extend_from_slice(&self.id.to_be_bytes());
        p.extend_from_slice(&[0, 0, self.ttl, 17, 0, 0]);
        p.extend_from_slice(&self.src.to_be_bytes());
        p.extend_from_slice(&self.dst.to_be_bytes());
        for v in [self.sport, self.dport, self.ulen, self.csum] {
            p.extend_from_slice(&v.to_be_bytes());
        }
        p.extend_from_slice(b"payload!");
        p
    }
}

#[test]
fn spilled_program_computes_the_same_verdicts_as_a_reference() {
    if !nfl_runtime::require_kernel("spilled_program_computes_the_same_verdicts_as_a_reference") {
        return;
    }
    let build = build_ok(&root().join("tests/ok/register_pressure.nf"));
    assert!(build.codegen.alloc.n_spilled > 0, "the program no longer spills; raise its pressure");
    let prog = nfl_runtime::load(&build.object, Some("pressure")).expect("load");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut seen = [0usize; 4];
    for n in 0..3000 {
        let mut f = PressureFields::random(&mut rng);
        // Every third packet is solved to hit the `mixed == EXPECTED` rule.
        if n % 3 == 0 {
            let k = f.dst >> 16;
            let want = 0x0004_1234u32.wrapping_sub(f.partial_mix());
            if want <= 0xffff {
                f.dst = (k << 16) | (k ^ want);
            }
        }
        let expected = f.verdict();
        let got = nfl_runtime::test_run(prog.fd(), &f.packet(), 1).expect("test run").retval;
        assert_eq!(got, expected, "packet {n}");
        seen[expected as usize] += 1;
    }
    assert!(seen[1] > 0 && seen[2] > 0 && seen[3] > 0, "verdicts seen: {seen:?}");
}

#[test]
fn a_kernel_rejection_points_at_the_nf_line() {
    if !nfl_runtime::require_kernel("a_kernel_rejection_points_at_the_nf_line") {
        return;
    }
    // nflc's own output always verifies, so break one instruction of it on
    // purpose: the ethertype load reads far past the checked 14 bytes.
    let build = build_ok(&root().join("examples/static_filter.nf"));
    let mut insns = build.codegen.insns.clone();
    let ethertype_load = insns.iter().position(|i| i.code == 0x69 && i.off == 12).expect("ethertype load");
    insns[ethertype_load].off = 4000;
    let spec = nfl_compiler::elf::ObjectSpec {
        license: "GPL".into(),
        programs: vec![nfl_compiler::elf::ProgramSpec {
            name: "static_filter".into(),
            section: "xdp".into(),
            ctx: nfl_compiler::elf::CtxKind::Xdp,
            insns,
            map_relocs: Vec::new(),
            line_info: nfl_compiler::driver::line_info(&build.checked.sources, &build.codegen.lines),
        }],
        maps: Vec::new(),
        notes: Vec::new(),
    };
    let object = nfl_compiler::elf::write_object(&spec).expect("object");
    let err = match nfl_runtime::load(&object, Some("static_filter")) {
        Ok(_) => panic!("the verifier accepted an out-of-bounds packet read"),
        Err(e) => e,
    };
    let log = err.verifier_log().expect("a verifier log");
    let trimmed = nfl_runtime::trim_verifier_log(log);
    let at = nfl_runtime::load::rejection_source(log).expect("a source annotation");
    eprintln!("{trimmed}");
    assert!(at.text.contains("select ethernet.ethertype"), "mapped to {:?}", at.text);
    // The kernel prints the file's base name.
    assert!(at.file.as_deref().is_some_and(|f| f.ends_with("net.nf")), "{:?}", at.file);
    assert!(trimmed.contains("select ethernet.ethertype"), "{trimmed}");
}

#[test]
fn tc_hook_gives_the_same_verdicts_as_xdp() {
    if !nfl_runtime::require_kernel("tc_hook_gives_the_same_verdicts_as_xdp") {
        return;
    }
    // The same filter at the TC hook: same cases, TC's verdict codes.
    let text = std::fs::read_to_string(root().join("examples/static_filter.nf")).expect("read");
    let tc_text = text.replace("control static_filter(xdp)", "control static_filter(tc)");
    assert_ne!(text, tc_text);
    let build = nfl_compiler::driver::build("static_filter_tc.nf", &tc_text, &mut DirLoader(root().join("examples")))
        .unwrap_or_else(|f| panic!("{}", nfl_syntax::diag::render_all(&f.diagnostics, &f.sources, false)));
    assert_eq!(build.section, "classifier");
    let prog = nfl_runtime::load(&build.object, Some("static_filter")).expect("load at tc");
    assert_eq!(prog.kind(), nfl_runtime::ProgramKind::Tc);
    let cases_text = std::fs::read_to_string(root().join("examples/static_filter.test")).expect("read cases");
    let mut sources = build.checked.sources.clone();
    let (_, cases, diags) = testfile::parse_source(&mut sources, "static_filter.test", &cases_text);
    assert!(diags.is_empty());
    let outcomes = testfile::run_cases(&prog, &cases);
    let report = testfile::format_outcomes(&outcomes);
    assert!(outcomes.iter().all(|o| o.passed()), "{report}");
}

#[test]
fn widened_field_compared_with_a_constant_outside_its_width_never_matches() {
    if !nfl_runtime::require_kernel("widened_field_compared_with_a_constant_outside_its_width_never_matches") {
        return;
    }
    // Found by tests/fuzz_programs.rs: comparing in wire order once cut the
    // constant to the field's 16 bits, so port 0xffff matched 0x7ffff.
    let text = "import std.net\ncontrol c(xdp) {\n    if udp.valid && (udp.src_port as u20) == 0x7ffff { drop }\n    if udp.valid && (udp.dst_port as u20) & 0x1ffff == 0x1ffff { drop }\n    pass\n}\n";
    let build = nfl_compiler::driver::build("regress.nf", text, &mut DirLoader(root()))
        .unwrap_or_else(|f| panic!("{}", nfl_syntax::diag::render_all(&f.diagnostics, &f.sources, false)));
    let prog = nfl_runtime::load(&build.object, Some("c")).expect("load");
    let mut pkt = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    pkt.extend_from_slice(&[0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2]);
    pkt.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0, 8, 0, 0]);
    let r = nfl_runtime::test_run(prog.fd(), &pkt, 1).expect("run");
    assert_eq!(r.retval, XDP_PASS);
}

#[test]
fn a_64_bit_field_spread_over_nine_bytes_reads_and_writes_whole() {
    if !nfl_runtime::require_kernel("a_64_bit_field_spread_over_nine_bytes_reads_and_writes_whole") {
        return;
    }
    // Found by tests/fuzz_programs.rs: the byte-wise fallback once shifted
    // the top bits of such a field out of the register.
    let text = "header h { pad: u4, wide: u64, rest: u4 }\nparser p { state start { extract h; accept } }\n\
                control c(xdp) {\n    if !h.valid { pass }\n    if h.wide == 0xfedc_ba98_7654_3210 { h.wide = h.wide + 1; tx }\n    drop\n}\n";
    let build = nfl_compiler::driver::build("nine.nf", text, &mut DirLoader(root()))
        .unwrap_or_else(|f| panic!("{}", nfl_syntax::diag::render_all(&f.diagnostics, &f.sources, false)));
    let prog = nfl_runtime::load(&build.object, Some("c")).expect("load");
    // pad = 0xa, wide = 0xfedcba9876543210, rest = 0x5, then padding.
    let mut pkt = vec![0xaf, 0xed, 0xcb, 0xa9, 0x87, 0x65, 0x43, 0x21, 0x05];
    pkt.extend_from_slice(&[0u8; 16]);
    let r = nfl_runtime::test_run(prog.fd(), &pkt, 1).expect("run");
    assert_eq!(r.retval, 3, "the field was not read whole");
    let mut want = pkt.clone();
    want[8] = 0x15; // wide + 1: the low nibble of the last byte becomes 1
    assert_eq!(r.data_out, want);
    pkt[1] = 0xee; // a different top byte must not match
    assert_eq!(nfl_runtime::test_run(prog.fd(), &pkt, 1).expect("run").retval, 1);
}

/// `tests/ok/for_loops.nf` in the kernel: the unrolled loops look at each
/// VLAN tag and each listed protocol.
#[test]
fn unrolled_for_loops_check_every_tag_and_value() {
    if !nfl_runtime::require_kernel("unrolled_for_loops_check_every_tag_and_value") {
        return;
    }
    let build = build_ok(&root().join("tests/ok/for_loops.nf"));
    let prog = nfl_runtime::load(&build.object, Some("c")).expect("load");
    // Ethernet with the given VLAN ids, then IPv4 with `proto` and ttl 9.
    let frame = |vids: &[u16], proto: u8| {
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
        for vid in vids {
            f.extend_from_slice(&[0x81, 0x00]);
            f.extend_from_slice(&vid.to_be_bytes());
        }
        f.extend_from_slice(&[0x08, 0x00, 0x45, 0, 0, 28, 0, 1, 0, 0, 9, proto, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2]);
        f.extend_from_slice(&[0; 8]);
        f
    };
    let run = |f: Vec<u8>| nfl_runtime::test_run(prog.fd(), &f, 1).expect("test run").retval;
    assert_eq!(run(frame(&[5, 100], 17)), XDP_DROP, "second tag is 100");
    assert_eq!(run(frame(&[100], 17)), XDP_DROP, "first tag is 100");
    assert_eq!(run(frame(&[5, 7], 17)), XDP_PASS, "no tag is 100");
    assert_eq!(run(frame(&[], 1)), XDP_DROP, "protocol 1 is in 1..=2");
    assert_eq!(run(frame(&[], 2)), XDP_DROP, "protocol 2 is in 1..=2");
    assert_eq!(run(frame(&[], 3)), XDP_PASS, "protocol 3 is not");
}

/// `tests/ok/parser_overflow.nf` with each `overflow` policy: a third tag
/// passes, drops, rejects (the control aborts on `pkt.rejected`) or
/// accepts (the control sees two tags and no IPv4, and sends it back).
#[test]
fn parser_overflow_takes_the_named_path() {
    if !nfl_runtime::require_kernel("parser_overflow_takes_the_named_path") {
        return;
    }
    let text = std::fs::read_to_string(root().join("tests/ok/parser_overflow.nf")).expect("read");
    let frame = |tags: usize| {
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
        for _ in 0..tags {
            f.extend_from_slice(&[0x81, 0x00, 0x00, 0x05]);
        }
        f.extend_from_slice(&[0x08, 0x00, 0x45, 0, 0, 20, 0, 1, 0, 0, 9, 17, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2]);
        f
    };
    // (policy, verdict for 2 tags, verdict for 3 tags)
    for (policy, three) in [("pass", XDP_PASS), ("drop", XDP_DROP), ("reject", 0), ("accept", 3)] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("overflow.nf");
        std::fs::write(&path, text.replace("overflow accept", &format!("overflow {policy}"))).expect("write");
        let build = build_ok(&path);
        let prog = nfl_runtime::load(&build.object, Some("c")).expect("load");
        let run = |f: Vec<u8>| nfl_runtime::test_run(prog.fd(), &f, 1).expect("test run").retval;
        assert_eq!(run(frame(2)), XDP_PASS, "{policy}: two tags fit, IPv4 is parsed");
        assert_eq!(run(frame(3)), three, "{policy}: a third tag overflows");
        assert_eq!(run(frame(0)), XDP_PASS, "{policy}: untagged IPv4");
    }
}

/// `tests/ok/runtime_loops.nf`: two loops kept as bounded loops (256 and
/// 1,000 iterations) compute what a reference computes.
#[test]
fn bounded_loops_compute_the_reference_verdicts() {
    if !nfl_runtime::require_kernel("bounded_loops_compute_the_reference_verdicts") {
        return;
    }
    let build = build_ok(&root().join("tests/ok/runtime_loops.nf"));
    assert!(build.schema.explain.iter().any(|l| l.contains("1000 iterations as a bounded loop")), "{:?}", build.schema.explain);
    let prog = nfl_runtime::load(&build.object, Some("c")).expect("load");
    let maps = nfl_runtime::state::MapSet::from_loaded(&prog, &build.schema).expect("maps");
    let mut steps = 0u64;
    for ttl in [0u8, 1, 2, 100, 200, 201, 249, 250, 255] {
        let want = if ttl > 200 { XDP_DROP } else { XDP_PASS };
        let f = ipv4_frame_with_ttl(ttl);
        assert_eq!(nfl_runtime::test_run(prog.fd(), &f, 1).expect("run").retval, want, "ttl {ttl}");
        steps += 4;
        let counters = maps.counters(&build.schema).expect("counters");
        let got = counters.iter().find(|c| c.0 == "steps").map_or(0, |c| c.2);
        assert_eq!(got, steps, "after ttl {ttl}");
        let top: Vec<u64> = (250..256).map(|i| counters.iter().find(|c| c.0 == "by_ttl" && c.1 == i).map_or(0, |c| c.2)).collect();
        assert_eq!(top, vec![steps / 4; 6], "by_ttl[250..256] count every packet");
        assert!(counters.iter().all(|c| c.0 != "by_ttl" || c.1 >= 250), "only the top six count");
    }
}

/// A million iterations: as a bounded loop the verifier gives up; under
/// `--target stock` nflc emits an open-coded iterator, which loads and
/// counts right.
#[test]
fn a_long_loop_becomes_an_iterator_under_stock() {
    if !nfl_runtime::require_kernel("a_long_loop_becomes_an_iterator_under_stock") {
        return;
    }
    let text = "import std.net\nmeta { seen: u32 }\ncontrol c(xdp) {\n    if !ipv4.valid { pass }\n    for n in 0..1000000 {\n        if n % 1000 == ipv4.ttl as u32 { meta.seen += 1 }\n    }\n    if meta.seen == 1000 { drop }\n    pass\n}\n";
    let build = |target| {
        let checked = nfl_compiler::driver::check("long.nf", text, &mut nfl_compiler::frontend::NoModules).expect("check");
        nfl_compiler::driver::build_checked_for(checked, target).unwrap_or_else(|f| panic!("{}", nfl_syntax::diag::render_all(&f.diagnostics, &f.sources, false)))
    };
    let stock = build(nfl_compiler::target::Target::Stock);
    assert!(stock.schema.explain.iter().any(|l| l.contains("open-coded iterator")), "{:?}", stock.schema.explain);
    let prog = nfl_runtime::load(&stock.object, Some("c")).expect("the iterator loop loads");
    let frame = ipv4_frame_with_ttl;
    assert_eq!(nfl_runtime::test_run(prog.fd(), &frame(64), 1).expect("run").retval, XDP_DROP, "1,000 matches");
    let processed = prog.verified_insns().unwrap_or(0);
    eprintln!("iterator loop of 1,000,000: verifier processed {processed}");
    let helpers = build(nfl_compiler::target::Target::Helpers);
    assert!(helpers.schema.explain.iter().any(|l| l.contains("`--target stock` uses an open-coded iterator")), "{:?}", helpers.schema.explain);
    assert!(nfl_runtime::load(&helpers.object, Some("c")).is_err(), "a bounded loop of 1,000,000 is beyond the verifier");
}

/// Data-dependent loops of 60 passes under both profiles: unrolled, though
/// over the small-loop budget (a counted loop of them is beyond the
/// verifier: the forks of each pass never merge), they load under helpers
/// and stock alike and count the same cells with the same verdicts.
#[test]
fn loop_profiles_agree() {
    if !nfl_runtime::require_kernel("loop_profiles_agree") {
        return;
    }
    let text = "import std.net\nmeta { hits: u32 }\ncounter by_ttl[128]\ncontrol c(xdp) {\n    if !ipv4.valid { pass }\n    for i in 0..60 {\n        if ipv4.ttl as u32 == i { by_ttl[i].count() }\n    }\n    for j in 0..60 {\n        if ipv4.ttl as u32 > j { meta.hits += 1 }\n    }\n    if meta.hits > 30 { drop }\n    pass\n}\n";
    let mut results = Vec::new();
    for target in [nfl_compiler::target::Target::Helpers, nfl_compiler::target::Target::Stock] {
        let checked = nfl_compiler::driver::check("loops.nf", text, &mut nfl_compiler::frontend::NoModules).expect("check");
        let build = nfl_compiler::driver::build_checked_for(checked, target).unwrap_or_else(|f| panic!("{:?}", f.diagnostics));
        assert!(build.schema.explain.iter().filter(|l| l.contains("unrolled 60 times")).count() == 2, "{target}: {:?}", build.schema.explain);
        let prog = nfl_runtime::load(&build.object, Some("c")).unwrap_or_else(|e| panic!("{target}: {e}"));
        let maps = nfl_runtime::state::MapSet::from_loaded(&prog, &build.schema).expect("maps");
        let mut verdicts = Vec::new();
        for ttl in [0u8, 1, 7, 50, 51, 99, 100, 200] {
            verdicts.push(nfl_runtime::test_run(prog.fd(), &ipv4_frame_with_ttl(ttl), 1).expect("run").retval);
        }
        let counters: Vec<(u32, u64)> = maps.counters(&build.schema).expect("counters").into_iter().map(|c| (c.1, c.2)).collect();
        results.push((verdicts, counters));
    }
    assert_eq!(results[0], results[1], "helpers and stock agree");
    let (verdicts, counters) = &results[0];
    assert_eq!(verdicts, &vec![XDP_PASS, XDP_PASS, XDP_PASS, XDP_DROP, XDP_DROP, XDP_DROP, XDP_DROP, XDP_DROP]);
    assert_eq!(counters, &vec![(0, 1), (1, 1), (7, 1), (50, 1), (51, 1)]);
}

/// `tests/ok/tcp_options.nf`: the options loop stops at the header's data
/// offset (a payload that looks like an MSS option is not read), finds an
/// MSS behind other options, and rejects an option that runs past the
/// header; against a Rust walk of the same options on 3,000 frames.
#[test]
fn tcp_options_loop_stops_at_the_data_offset() {
    if !nfl_runtime::require_kernel("tcp_options_loop_stops_at_the_data_offset") {
        return;
    }
    let build = build_ok(&root().join("tests/ok/tcp_options.nf"));
    let prog = nfl_runtime::load(&build.object, Some("c")).expect("load");
    // The reference: Some(mss) / None, or Err for a rejected parse.
    let walk = |opts: &[u8]| -> Result<Option<u16>, ()> {
        let (mut i, mut mss, mut kinds, mut lens) = (0usize, None, 0, 0);
        while i < opts.len() {
            if kinds == 8 {
                return Err(());
            }
            kinds += 1;
            match opts[i] {
                0 => return Ok(mss),
                1 => i += 1,
                k => {
                    if lens == 6 || i + 2 > opts.len() {
                        return Err(());
                    }
                    lens += 1;
                    let len = usize::from(opts[i + 1]);
                    if k == 2 {
                        if i + 4 > opts.len() || mss.is_some() || len != 4 {
                            return Err(());
                        }
                        mss = Some(u16::from_be_bytes([opts[i + 2], opts[i + 3]]));
                        i += 4;
                    } else {
                        if len < 2 || i + len > opts.len() {
                            return Err(());
                        }
                        i += len;
                    }
                }
            }
        }
        Ok(mss)
    };
    let frame = |opts: &[u8], payload: &[u8]| {
        let doff = 5 + opts.len() / 4;
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
        let total = (20 + doff * 4 + payload.len()) as u16;
        f.extend_from_slice(&[0x45, 0]);
        f.extend_from_slice(&total.to_be_bytes());
        f.extend_from_slice(&[0, 1, 0, 0, 64, 6, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2]);
        f.extend_from_slice(&[0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, (doff as u8) << 4, 0x02, 0xff, 0xff, 0, 0, 0, 0]);
        f.extend_from_slice(opts);
        f.extend_from_slice(payload);
        f
    };
    let mut rng = kfunc_lib::XorShift64Star::new(0x7463_706f);
    let (mut seen_mss, mut seen_reject, mut seen_none) = (0, 0, 0);
    for n in 0..3000 {
        // A random sequence of well-formed options, sometimes cut or bent.
        let mut opts = Vec::new();
        for _ in 0..(rng.next_u64() % 7) {
            match rng.next_u64() % 6 {
                0 => opts.push(1),
                1 => opts.extend_from_slice(&[2, 4, (rng.next_u64() % 8) as u8, 0x10]),
                2 => opts.extend_from_slice(&[4, 2]),
                3 => opts.extend_from_slice(&[8, 10, 0, 0, 0, 1, 0, 0, 0, 0]),
                4 => opts.extend_from_slice(&[3, 3, 7]),
                _ => opts.push(0),
            }
        }
        if n % 17 == 0 && !opts.is_empty() {
            let at = (rng.next_u64() as usize) % opts.len();
            opts[at] = (rng.next_u64() % 40) as u8; // a bent byte
        }
        opts.truncate(40);
        while opts.len() % 4 != 0 {
            opts.push(0);
        }
        // The payload looks like an MSS option of 100: never read.
        let payload = [2, 4, 0, 100];
        let want = match walk(&opts) {
            Err(()) => {
                seen_reject += 1;
                XDP_DROP
            }
            Ok(Some(m)) if m < 536 => {
                seen_mss += 1;
                XDP_DROP
            }
            Ok(Some(_)) => {
                seen_mss += 1;
                XDP_PASS
            }
            Ok(None) => {
                seen_none += 1;
                XDP_PASS
            }
        };
        let got = nfl_runtime::test_run(prog.fd(), &frame(&opts, &payload), 1).expect("run").retval;
        assert_eq!(got, want, "options {opts:02x?}");
    }
    assert!(seen_mss > 300 && seen_reject > 30 && seen_none > 300, "{seen_mss} {seen_reject} {seen_none}");
}
