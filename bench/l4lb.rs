//! `examples/l4lb.nf` and its C twin `bench/c/l4lb.c`, shared by the
//! benchmark (`bench/l4lb_bench.rs`) and the equality test
//! (`tests/l4lb_twin.rs`): the two builds (as they are, or both giving the
//! outer header back before `tx`, the "shrink back" variant that
//! BPF_PROG_TEST_RUN's repeat can rerun), the twin's maps filled by the
//! loader's own code, and IPv4 client frames to the VIP.
//!
//! Needs `mod common;` (or `use twins as common;`) next to it.
#![allow(dead_code)]

use std::path::Path;

use nfl_compiler::driver::{self, Build};
use nfl_runtime::LoadedProgram;

use crate::common::*;

/// The maps the C twin shares with nflc's build, by name and shape.
pub const TWIN_MAPS: [&str; 6] = ["vips_rules", "vips_stats", "backends", "backends_members", "stats", "conns"];

/// The VIPs of `examples/l4lb.yaml`: TCP 80 (group 0, four backends) and
/// UDP 53 (group 1, one backend), both on 198.18.0.10.
pub const VIP: [u8; 4] = [198, 18, 0, 10];

pub const XDP_DROP: u32 = 1;
pub const XDP_PASS: u32 = 2;
pub const XDP_TX: u32 = 3;

/// The example's source; with `shrink`, `outer_ipv4.set_invalid()` right
/// before `tx`, so the program gives the 20 bytes back after building the
/// packet.
pub fn source(shrink: bool) -> String {
    let text = example_text("l4lb");
    if !shrink {
        return text;
    }
    let out = text.replacen("\n    tx\n}", "\n    outer_ipv4.set_invalid()\n    tx\n}", 1);
    assert_ne!(out, text, "examples/l4lb.nf no longer ends with `tx`");
    out
}

/// [`source`] with the encapsulation in a stage of its own (`stage { }`
/// around the control's last statements): one tail call per packet.
pub fn staged_source(shrink: bool) -> String {
    let text = source(shrink);
    let mark = "    // Encapsulate towards the backend";
    let at = text.find(mark).expect("examples/l4lb.nf has its encapsulation comment");
    let end = text.rfind("\n}").expect("the control's closing brace");
    format!("{}    stage {{\n{}\n    }}\n}}\n", &text[..at], &text[at..end])
}

/// nflc's build of [`source`] with `examples/l4lb.yaml`.
pub fn build(shrink: bool) -> Build {
    build_text(&source(shrink))
}

/// nflc's build of `text` with `examples/l4lb.yaml`.
pub fn build_text(text: &str) -> Build {
    let yaml = std::fs::read_to_string(root().join("examples/l4lb.yaml")).expect("read l4lb.yaml");
    match driver::build_with("l4lb.nf", text, &mut StdOnly, Some(("l4lb.yaml", &yaml))) {
        Ok(b) => b,
        Err(f) => panic!(
            "l4lb does not compile:\n{}",
            nfl_syntax::diag::render_all(&f.diagnostics, &f.sources, false)
        ),
    }
}

/// The twin's defines for the variant.
pub fn twin_defines(shrink: bool) -> Vec<&'static str> {
    if shrink { vec!["L4LB_SHRINK_BACK"] } else { Vec::new() }
}

/// Load nflc's build and fill its maps, as `nflc run` does.
pub fn load_nflc(build: &Build) -> LoadedProgram {
    let prog = nfl_runtime::load(&build.object, None).unwrap_or_else(|e| panic!("load nflc l4lb: {e}"));
    nfl_runtime::state::init_maps(&prog, &build.object).expect("fill nflc l4lb's maps");
    prog
}

/// Fill the C twin's maps with what nflc's loader writes for `build` (the
/// VIP table, the Maglev tables and the membership map).
pub fn fill_twin(prog: &LoadedProgram, build: &Build) {
    named_maps(prog, &build.schema, &TWIN_MAPS)
        .write_initial_for(&build.schema, &TWIN_MAPS)
        .unwrap_or_else(|e| panic!("fill the C twin's maps: {e}"));
}

/// Compile, load and fill the C twin (object written into `dir`).
pub fn load_twin(dir: &Path, build: &Build, shrink: bool, v3: bool) -> (LoadedProgram, std::path::PathBuf) {
    let path = compile_twin_cpu("l4lb", dir, &twin_defines(shrink), v3).unwrap_or_else(|e| panic!("{e}"));
    let obj = std::fs::read(&path).expect("read the twin's object");
    let prog = nfl_runtime::load(&obj, None).unwrap_or_else(|e| {
        panic!(
            "the verifier rejected the C twin l4lb: {e}\n{}",
            e.verifier_log().map(nfl_runtime::trim_verifier_log).unwrap_or_default()
        )
    });
    fill_twin(&prog, build);
    (prog, path)
}

/// One client flow: source address and port, destination port, protocol,
/// VLAN tags in front.
#[derive(Clone, Copy, Debug)]
pub struct Flow {
    pub src: [u8; 4],
    pub sport: u16,
    pub dport: u16,
    pub proto: u8,
    pub tags: u8,
}

impl Flow {
    /// The flow's frame: a TCP segment with `payload` bytes, or a UDP
    /// datagram.
    pub fn frame(&self, payload: usize) -> Vec<u8> {
        let tags: Vec<(u16, u16)> = match self.tags {
            0 => vec![],
            1 => vec![(ETH_P_VLAN, 10)],
            _ => vec![(ETH_P_QINQ, 10), (ETH_P_VLAN, 20)],
        };
        let body = vec![0x5a; payload];
        let ip = Ipv4::new(self.proto, self.src, VIP);
        let l4 = if self.proto == IPPROTO_UDP {
            udp_header(self.sport, self.dport, payload)
        } else {
            tcp_header(self.sport, self.dport, TCP_ACK)
        };
        ipv4_packet(&tags, ip, &l4, &body)
    }
}

/// `n` TCP flows to the VIP's port 80 from 198.19.0.0/16, distinct.
pub fn tcp_flows(n: usize, seed: u64) -> Vec<Flow> {
    let mut rng = kfunc_lib::XorShift64Star::new(seed);
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let r = rng.next_u64();
        let (host, sport) = (r as u16, (r >> 16) as u16 | 1024);
        if seen.insert((host, sport)) {
            let src = [198, 19, (host >> 8) as u8, host as u8];
            out.push(Flow { src, sport, dport: 80, proto: IPPROTO_TCP, tags: 0 });
        }
    }
    out
}
