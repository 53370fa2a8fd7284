//! A firewall at scale, in the kernel: a seeded 5-tuple ACL of 10,000 rules
//! (30% of them with non-prefix ternary masks or port ranges) is compiled
//! from YAML into bench/nf/firewall_tagged.nf (a tuple-space classifier),
//! loaded, filled from its schema, and run on 100,000 packets biased toward
//! the rules' boundaries through BPF_PROG_TEST_RUN. Each packet's verdict
//! and the tag the winning entry writes into the packet must be those of a
//! plain reference: the first rule, in priority order, that matches
//! (`bench/fwgen.rs`, independent of `nfl_compiler::classify`).
//!
//! A 100-rule variant runs the same check on a small table.
//!
//! Needs BPF (skips loudly without it, fails under NFL_REQUIRE_KERNEL=1).

#[path = "../bench/common.rs"]
mod common;
#[path = "../bench/fwgen.rs"]
mod fwgen;
#[path = "../bench/tables.rs"]
mod tables;

use std::time::Instant;

use fwgen::{Actions, FiveTuple, FwRule};

use fwgen::SEED;

/// The reference's answers for many packets: the first matching rule of
/// `rules`, scanned in priority order. To keep debug builds quick, each
/// packet scans only the rules that can match its protocol (a rule's
/// protocol match is checked once per distinct protocol value, not once
/// per packet); within that list the scan is the plain first-match one.
fn reference_all(rules: &[FwRule], tuples: &[FiveTuple]) -> Vec<Option<usize>> {
    let mut by_proto: std::collections::HashMap<u8, Vec<usize>> = std::collections::HashMap::new();
    tuples
        .iter()
        .map(|k| {
            let candidates = by_proto.entry(k.proto).or_insert_with(|| {
                (0..rules.len())
                    .filter(|&i| k.proto & rules[i].proto.1 == rules[i].proto.0)
                    .collect()
            });
            candidates.iter().copied().find(|&i| rules[i].matches(k))
        })
        .collect()
}

/// (verdict, tag) the program must give for a packet whose first matching
/// rule is `hit`.
fn expected(rules: &[FwRule], hit: Option<usize>) -> (u32, u16) {
    match hit {
        Some(i) if rules[i].deny => (tables::XDP_DROP, i as u16 + 1),
        Some(i) => (tables::XDP_PASS, i as u16 + 1),
        None => (tables::XDP_PASS, 0),
    }
}

fn check_scale(n_rules: usize, n_packets: usize) {
    let t0 = Instant::now();
    let rules = fwgen::generate(SEED ^ n_rules as u64, n_rules, 30);
    let complex = rules.iter().filter(|r| r.is_complex()).count();
    assert!(
        (n_rules * 25 / 100..=n_rules * 35 / 100).contains(&complex),
        "{complex} of {n_rules} rules are ternary or range"
    );
    let yaml = fwgen::yaml("", &rules, Actions::Tagged);
    let text = tables::nf_text("firewall_tagged.nf");
    let t_build = Instant::now();
    let build = tables::build_nf_config("firewall_tagged.nf", &text, "scale.yaml", &yaml);
    let build_ms = t_build.elapsed().as_secs_f64() * 1e3;
    eprintln!(
        "{n_rules} rules ({complex} ternary/range): built in {build_ms:.0} ms, {} insns; {}",
        build.codegen.insns.len(),
        build.schema.explain.join("; ")
    );
    assert_eq!(
        tables::fw_rules_of(&build.schema),
        rules,
        "the compiled entries are not the generated rules"
    );

    let t_load = Instant::now();
    let prog = nfl_runtime::load(&build.object, None).unwrap_or_else(|e| {
        panic!(
            "{n_rules} rules: the verifier rejects the program ({} insns): {e}\n{}",
            build.codegen.insns.len(),
            e.verifier_log()
                .map(nfl_runtime::trim_verifier_log)
                .unwrap_or_default()
        )
    });
    let load_ms = t_load.elapsed().as_secs_f64() * 1e3;
    let t_fill = Instant::now();
    tables::fill_nf(&prog, &build, None);
    eprintln!(
        "loaded in {load_ms:.0} ms ({} xlated insns, {} processed), maps filled in {:.0} ms",
        prog.xlated_insn_count(),
        prog.verified_insns().map_or("?".into(), |n| n.to_string()),
        t_fill.elapsed().as_secs_f64() * 1e3
    );

    let tuples = fwgen::tuples(&rules, n_packets, SEED.rotate_left(7) ^ n_rules as u64);
    let t_ref = Instant::now();
    let hits = reference_all(&rules, &tuples);
    let ref_ms = t_ref.elapsed().as_secs_f64() * 1e3;
    let t_run = Instant::now();
    let mut bad = Vec::new();
    let (mut drops, mut misses) = (0usize, 0usize);
    let mut winners = std::collections::HashSet::new();
    for (k, hit) in tuples.iter().zip(&hits) {
        let pkt = tables::tuple_packet(k);
        let r =
            nfl_runtime::test_run(prog.fd(), &pkt, 1).unwrap_or_else(|e| panic!("test run: {e}"));
        let tag = u16::from_be_bytes([r.data_out[18], r.data_out[19]]);
        let want = expected(&rules, *hit);
        if (r.retval, tag) != want {
            bad.push(format!(
                "{k:?}: got verdict {} tag {tag}, want verdict {} tag {} (rule {:?})",
                r.retval,
                want.0,
                want.1,
                hit.map(|i| rules[i])
            ));
        }
        drops += usize::from(want.0 == tables::XDP_DROP);
        misses += usize::from(hit.is_none());
        winners.extend(*hit);
    }
    eprintln!(
        "{n_packets} packets: {drops} dropped, {misses} matched no rule, {} distinct winning rules; reference {ref_ms:.0} ms, test runs {:.0} ms; total {:.1} s",
        winners.len(),
        t_run.elapsed().as_secs_f64() * 1e3,
        t0.elapsed().as_secs_f64()
    );
    let shown: Vec<&String> = bad.iter().take(20).collect();
    assert!(
        bad.is_empty(),
        "{} of {n_packets} packets disagree with the reference, first ones:\n{shown:#?}",
        bad.len()
    );
    // The packets must reach deep into the rule set, both ways.
    assert!(
        drops > n_packets / 10 && drops < n_packets * 9 / 10,
        "verdicts too one-sided: {drops} drops"
    );
    assert!(
        winners.len() > n_rules / 4,
        "only {} distinct rules won",
        winners.len()
    );
    assert!(misses > 0, "no packet missed every rule");
}

/// 10,000 rules need 1,593 mask slots; the walk is a loop whose verifier
/// cost is linear in the slots (the best hit lives in a per-CPU scratch
/// value, so paths merge at every loop head).
#[test]
fn scale_firewall_10000_rules_agree_with_the_reference() {
    if !nfl_runtime::require_kernel("scale_firewall_10000_rules_agree_with_the_reference") {
        return;
    }
    check_scale(10_000, 100_000);
}

/// 100 rules (117 mask slots), all 100,000 packets.
#[test]
fn scale_firewall_100_rules_agree_with_the_reference() {
    if !nfl_runtime::require_kernel("scale_firewall_100_rules_agree_with_the_reference") {
        return;
    }
    check_scale(100, 100_000);
}
