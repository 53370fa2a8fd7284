//! The C twin of `examples/l4lb.nf` (`bench/c/l4lb.c`, benchmarked in
//! `bench/l4lb_bench.rs`) computes the same function on IPv4 traffic: over
//! a few thousand generated flows (TCP and UDP to the VIPs, other ports,
//! VLAN tags, several lengths), each sent new and then tracked, and again
//! after a backend leaves its group (so tracked flows re-pick), both
//! programs give the same verdict and the same output bytes, count the same
//! stats and table hits, and hold the same connection table. The same holds
//! for the "shrink back" variants the benchmark times with repeat.
//!
//! Needs BPF (skips loudly without it, fails under NFL_REQUIRE_KERNEL=1) and
//! clang (same rule).

#[path = "../bench/common.rs"]
mod twins;
use twins as common;
#[path = "../bench/l4lb.rs"]
mod l4lb;

use l4lb::*;
use nfl_runtime::LoadedProgram;
use twins::*;

/// TCP and UDP flows to the VIPs, to ports that are no VIP, with 0-2 VLAN
/// tags; with the payload length of each.
fn traffic() -> Vec<(Flow, usize)> {
    let mut out = Vec::new();
    for (i, mut f) in tcp_flows(3000, 0x6c34_7477).into_iter().enumerate() {
        match i % 10 {
            0 => (f.proto, f.dport) = (IPPROTO_UDP, 53),
            1 => f.dport = 81,
            2 => (f.proto, f.dport) = (IPPROTO_UDP, 80),
            3 => f.tags = 1,
            4 => f.tags = 2,
            _ => {}
        }
        out.push((f, [0, 1, 64, 1400][i % 4]));
    }
    out
}

/// Run every frame through both programs: the verdicts and output bytes
/// must be equal. Returns how many were sent out (XDP_TX).
fn agree(nf: &LoadedProgram, c: &LoadedProgram, traffic: &[(Flow, usize)], what: &str) -> usize {
    let mut tx = 0;
    for (i, (f, len)) in traffic.iter().enumerate() {
        let frame = f.frame(*len);
        let a = nfl_runtime::test_run(nf.fd(), &frame, 1).expect("run nflc");
        let b = nfl_runtime::test_run(c.fd(), &frame, 1).expect("run C");
        assert_eq!(
            (a.retval, &a.data_out),
            (b.retval, &b.data_out),
            "{what}: flow {i} {f:?} payload {len}: nflc vs C"
        );
        tx += usize::from(a.retval == XDP_TX);
    }
    tx
}

/// Every cell of a per-CPU counter map: (packets, bytes) summed over CPUs.
fn counts(prog: &LoadedProgram, build: &nfl_compiler::driver::Build, map: &str, n: u32) -> Vec<(u64, u64)> {
    let set = named_maps(prog, &build.schema, &[map]);
    let h = set.get(map).expect("asked for");
    (0..n)
        .map(|i| {
            let v = nfl_runtime::mapops::lookup(h.fd(), h.shape, &i.to_le_bytes())
                .expect("lookup")
                .expect("an array has every index");
            (
                nfl_runtime::mapops::sum_per_cpu_u64(h.shape, &v, 0),
                nfl_runtime::mapops::sum_per_cpu_u64(h.shape, &v, 8),
            )
        })
        .collect()
}

/// The connection table as (key, backend), sorted (the time stamps differ).
fn conns(prog: &LoadedProgram, build: &nfl_compiler::driver::Build) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut v: Vec<(Vec<u8>, Vec<u8>)> = named_maps(prog, &build.schema, &["conns"])
        .dump("conns")
        .expect("dump conns")
        .into_iter()
        .map(|(k, v)| (k, v[..8].to_vec()))
        .collect();
    v.sort();
    v
}

/// Take `member` out of `group` in a program's membership map (as if the
/// config no longer listed it, with the Maglev table kept).
fn leave(prog: &LoadedProgram, build: &nfl_compiler::driver::Build, group: u32, member: u32) {
    let set = named_maps(prog, &build.schema, &["backends_members"]);
    let h = set.get("backends_members").expect("asked for");
    let key = nfl_compiler::maglev::member_key(group, u64::from(member), 4);
    assert!(nfl_runtime::mapops::delete(h.fd(), h.shape, &key).expect("delete"), "{member:#x} was a member");
}

fn same_state(nf: &LoadedProgram, c: &LoadedProgram, build: &nfl_compiler::driver::Build, what: &str) {
    assert_eq!(counts(nf, build, "stats", 4), counts(c, build, "stats", 4), "{what}: stats");
    assert_eq!(counts(nf, build, "vips_stats", 2), counts(c, build, "vips_stats", 2), "{what}: vips_stats");
    assert_eq!(conns(nf, build), conns(c, build), "{what}: conns");
}

#[test]
fn l4lb_twin_agrees_with_nflc_on_new_tracked_and_repicked_flows() {
    if !twin_test_gate("l4lb_twin_agrees_with_nflc_on_new_tracked_and_repicked_flows") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let traffic = traffic();
    for shrink in [false, true] {
        let what = if shrink { "shrink back" } else { "as is" };
        let build = l4lb::build(shrink);
        let nf = load_nflc(&build);
        let (c, _) = load_twin(dir.path(), &build, shrink, false);
        let tx_new = agree(&nf, &c, &traffic, &format!("{what}, new flows"));
        let tx_tracked = agree(&nf, &c, &traffic, &format!("{what}, tracked flows"));
        // 8 in 10 flows are for a VIP; all of them go out, new or tracked.
        assert_eq!(tx_new, traffic.len() * 8 / 10, "{what}");
        assert_eq!(tx_tracked, tx_new, "{what}");
        let stats = counts(&nf, &build, "stats", 4);
        assert_eq!((stats[0].0, stats[1].0), (tx_new as u64, tx_new as u64), "{what}: new, tracked");
        same_state(&nf, &c, &build, what);
        // 198.18.1.1 leaves group 0: its tracked flows re-pick (to it again,
        // as the table is kept, and are counted as re-picked each time).
        for p in [&nf, &c] {
            leave(p, &build, 0, 0xc612_0101);
        }
        agree(&nf, &c, &traffic, &format!("{what}, after a backend left"));
        let stats = counts(&nf, &build, "stats", 4);
        assert!(stats[2].0 > 0, "{what}: some flows re-picked: {stats:?}");
        same_state(&nf, &c, &build, what);
        eprintln!("l4lb twin ({what}): {} frames x3 agree, {tx_new} sent per pass; stats {stats:?}", traffic.len());
    }
}
