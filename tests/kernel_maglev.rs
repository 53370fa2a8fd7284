//! Maglev pools in the kernel: the member `pick` chooses for each flow is
//! the one nflc's table predicts (`nfl_compiler::maglev::pick`), 100,000
//! flows spread within 5% over 10 equal backends, and removing a backend
//! from the config moves at most a tenth of the flows plus 2%.

mod common;

use common::*;
use nfl_compiler::maglev;

const XDP_DROP: u32 = 1;
const XDP_TX: u32 = 3;

const LB: &str = r#"
import std.net

pool backends: maglev(groups = 2, members = 16) of u32

control lb(xdp) {
    if !ipv4.valid || !tcp.valid { pass }
    let b = backends.pick(ipv4.dst & 0xff, ipv4.src, ipv4.dst, tcp.src_port, tcp.dst_port) else { drop }
    ipv4.dst = b
    tx
}
"#;

/// Build `LB` with group 0 holding `members` (group 1 left empty).
fn build(members: &[u32]) -> nfl_compiler::driver::Build {
    let dir = tempfile::tempdir().expect("tempdir");
    let list: Vec<String> = members.iter().map(|m| std::net::Ipv4Addr::from(*m).to_string()).collect();
    std::fs::write(dir.path().join("lb.nf"), LB).expect("write nf");
    std::fs::write(dir.path().join("lb.yaml"), format!("pools:\n  backends:\n    - [{}]\n    - []\n", list.join(", "))).expect("write yaml");
    build_ok(&dir.path().join("lb.nf"))
}

fn load(build: &nfl_compiler::driver::Build) -> nfl_runtime::LoadedProgram {
    let prog = nfl_runtime::load(&build.object, Some("lb")).expect("load");
    nfl_runtime::state::init_maps(&prog, &build.object).expect("fill the maglev table");
    prog
}

struct Flow {
    src: u32,
    dst: u32,
    sport: u16,
    dport: u16,
}

impl Flow {
    fn frame(&self) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
        f.extend_from_slice(&[0x45, 0, 0, 40, 0, 1, 0, 0, 64, 6, 0, 0]);
        f.extend_from_slice(&self.src.to_be_bytes());
        f.extend_from_slice(&self.dst.to_be_bytes());
        f.extend_from_slice(&self.sport.to_be_bytes());
        f.extend_from_slice(&self.dport.to_be_bytes());
        f.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]);
        f
    }

    /// The key as the program lays it out: u32, u32, u16, u16, little-endian.
    fn key(&self) -> Vec<u8> {
        let mut k = Vec::new();
        k.extend_from_slice(&self.src.to_le_bytes());
        k.extend_from_slice(&self.dst.to_le_bytes());
        k.extend_from_slice(&self.sport.to_le_bytes());
        k.extend_from_slice(&self.dport.to_le_bytes());
        k
    }
}

fn flows(n: usize) -> Vec<Flow> {
    let mut rng = kfunc_lib::XorShift64Star::new(0x6d61_676c_6576);
    (0..n)
        .map(|_| {
            let r = rng.next_u64();
            // Group 0: destinations 198.18.0.0 (low byte 0).
            Flow { src: 0xc612_0000 | (r as u32 & 0xffff), dst: 0xc613_0000 | ((r >> 16) as u32 & 0xff00), sport: (r >> 32) as u16 | 1024, dport: 80 }
        })
        .collect()
}

/// The backend the kernel chose for each flow.
fn chosen(prog: &nfl_runtime::LoadedProgram, flows: &[Flow]) -> Vec<u32> {
    flows
        .iter()
        .map(|f| {
            let r = nfl_runtime::test_run(prog.fd(), &f.frame(), 1).expect("test run");
            assert_eq!(r.retval, XDP_TX, "a group with members always picks one");
            u32::from_be_bytes(r.data_out[30..34].try_into().expect("dst"))
        })
        .collect()
}

fn backends(n: u32) -> Vec<u32> {
    (1..=n).map(|i| 0xc612_0100 + i).collect()
}

#[test]
fn maglev_picks_match_the_table_spread_evenly_and_move_little() {
    if !nfl_runtime::require_kernel("maglev_picks_match_the_table_spread_evenly_and_move_little") {
        return;
    }
    let all = backends(10);
    let prog = load(&build(&all));
    let flows = flows(100_000);
    let got = chosen(&prog, &flows);
    let members: Vec<u64> = all.iter().map(|&b| u64::from(b)).collect();
    let (sorted, table) = maglev::table(&members, maglev::DEFAULT_SLOTS);
    for (f, g) in flows.iter().zip(&got) {
        let want = sorted[table[maglev::slot_of(&f.key(), maglev::DEFAULT_SLOTS) as usize] as usize];
        assert_eq!(u64::from(*g), want, "flow {:#x}:{} -> {:#x}", f.src, f.sport, f.dst);
    }
    for b in &all {
        let n = got.iter().filter(|g| *g == b).count();
        assert!((9_500..=10_500).contains(&n), "backend {b:#x} got {n} of 100,000 flows");
    }

    // Remove the fourth backend: only its flows, and at most 2% more, move.
    let fewer: Vec<u32> = all.iter().copied().filter(|&b| b != all[3]).collect();
    let after = chosen(&load(&build(&fewer)), &flows);
    let moved = got.iter().zip(&after).filter(|(a, b)| a != b).count();
    let orphaned = got.iter().filter(|&&g| g == all[3]).count();
    assert!(moved <= 12_000, "{moved} of 100,000 flows moved");
    assert!(moved >= orphaned, "every flow of the removed backend moves");
    assert!(after.iter().all(|b| *b != all[3]));
}

#[test]
fn an_empty_group_or_one_beyond_the_pool_takes_else() {
    if !nfl_runtime::require_kernel("an_empty_group_or_one_beyond_the_pool_takes_else") {
        return;
    }
    let prog = load(&build(&backends(3)));
    let mut f = Flow { src: 0xc612_0001, dst: 0xc613_0000, sport: 1234, dport: 80 };
    assert_eq!(nfl_runtime::test_run(prog.fd(), &f.frame(), 1).expect("run").retval, XDP_TX);
    f.dst = 0xc613_0001; // group 1: listed empty
    assert_eq!(nfl_runtime::test_run(prog.fd(), &f.frame(), 1).expect("run").retval, XDP_DROP);
    f.dst = 0xc613_0007; // group 7: beyond `groups = 2`
    assert_eq!(nfl_runtime::test_run(prog.fd(), &f.frame(), 1).expect("run").retval, XDP_DROP);
}
