//! Shared pieces of the `run_*` kernel tests: tiny objects with a pinned map,
//! built straight from `nfl_compiler::elf` specs, unique run names, and guards
//! that clean up what a failing test leaves.
#![allow(dead_code)]

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use aya::maps::{Array, Map, MapData};
use nfl_compiler::bpf::insn::*;
use nfl_compiler::elf::{CtxKind, MapReloc, MapSpec, ObjectSpec, ProgramSpec, write_object};
use nfl_runtime::attach::Hook;
use nfl_runtime::netns::VethPair;
use nfl_runtime::run::{NfSpec, RunConfig};

pub const XDP_DROP: i32 = 1;
pub const XDP_PASS: i32 = 2;
const BPF_MAP_TYPE_ARRAY: u32 = 2;

/// `counts[0] += 1; return verdict` with `counts` an ARRAY of 4 u64, pinned by
/// name. `name` is the program's name.
pub fn counting_object(name: &str, ctx: CtxKind, verdict: i32) -> Vec<u8> {
    let mut insns = vec![
        Insn::st_imm(BPF_W, R10, -4, 0),
        Insn::mov64_reg(2, R10),
        Insn::alu64_imm(BPF_ADD, 2, -4),
    ];
    let mut map_ld = Insn::ld_imm64(1, 0);
    map_ld[0].src = BPF_PSEUDO_MAP_FD;
    insns.extend(map_ld); // 3, 4
    insns.extend([
        Insn::call_helper(1), // bpf_map_lookup_elem
        Insn::jmp_imm(BPF_JEQ, 0, 0, 2),
        Insn::mov64_imm(1, 1),
        Insn::new(BPF_STX | BPF_ATOMIC | BPF_DW, 0, 1, 0, BPF_ADD as i32),
        Insn::mov64_imm(0, verdict),
        Insn::exit(),
    ]);
    let section = if ctx == CtxKind::Xdp { "xdp" } else { "classifier" };
    let mut prog = program(name, section, ctx, insns);
    prog.map_relocs.push(MapReloc { insn_idx: 3, map: "counts".into() });
    let counts = MapSpec {
        name: "counts".into(),
        map_type: BPF_MAP_TYPE_ARRAY,
        key_size: 4,
        value_size: 8,
        max_entries: 4,
        flags: 0,
        pinned: true,
    };
    write_object(&ObjectSpec { programs: vec![prog], maps: vec![counts], ..ObjectSpec::default() }).expect("write object")
}

/// Reads r3, which nothing wrote: the verifier refuses it. It also has the
/// pinned `counts` map, so a failed load must remove the pin aya made for it.
pub fn rejected_object() -> Vec<u8> {
    let insns = vec![Insn::mov64_imm(0, 2), Insn::alu64_reg(BPF_ADD, 0, 3), Insn::exit()];
    let counts = MapSpec {
        name: "fresh".into(),
        map_type: BPF_MAP_TYPE_ARRAY,
        key_size: 4,
        value_size: 8,
        max_entries: 1,
        flags: 0,
        pinned: true,
    };
    let prog = program("bad_read", "xdp", CtxKind::Xdp, insns);
    write_object(&ObjectSpec { programs: vec![prog], maps: vec![counts], ..ObjectSpec::default() }).expect("write object")
}

fn program(name: &str, section: &str, ctx: CtxKind, insns: Vec<Insn>) -> ProgramSpec {
    ProgramSpec {
        name: name.into(),
        section: section.into(),
        ctx,
        insns,
        map_relocs: Vec::new(),
        line_info: Vec::new(),
    }
}

/// Run `object` at `hook` on the namespace end of `pair`.
pub fn config(name: &str, pair: &VethPair, object: Vec<u8>, hook: Hook) -> RunConfig {
    RunConfig {
        nf: NfSpec { name: name.into(), source: "t.o".into(), object, program: None, hook },
        generic_fallback: false,
        iface: pair.ns_if.clone(),
        netns: Some(pair.netns.clone()),
    }
}

/// A run name no other test (or test process) uses.
pub fn unique_name(test: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let name = format!("t{}-{}-{test}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
    name.chars().take(32).collect()
}

/// The pinned `counts` array of run `name`.
pub fn counts(name: &str) -> Array<MapData, u64> {
    let path = nfl_runtime::pins::pin_dir(name).join("counts");
    let data = MapData::from_pin(&path).expect("open pinned counts");
    Array::try_from(Map::from_map_data(data).expect("map")).expect("array")
}

/// Whether anything of run `name` is left on disk.
pub fn leftovers(name: &str) -> Vec<String> {
    [nfl_runtime::pins::pin_dir(name), nfl_runtime::pins::run_dir(name)]
        .into_iter()
        .filter(|p| Path::new(p).exists())
        .map(|p| p.display().to_string())
        .collect()
}

/// Removes the pins and record of run `name` on drop, whatever a test did.
pub struct NameGuard(pub String);

impl Drop for NameGuard {
    fn drop(&mut self) {
        let pins = nfl_runtime::pins::pin_dir(&self.0);
        for e in std::fs::read_dir(&pins).into_iter().flatten().flatten() {
            let _ = std::fs::remove_file(e.path());
        }
        let _ = std::fs::remove_dir(&pins);
        let _ = std::fs::remove_dir_all(nfl_runtime::pins::run_dir(&self.0));
    }
}
