//! An eBPF object, read and linked the way aya links it for the kernel
//! (aya-obj: BTF-defined maps, bpf-to-bpf calls and callbacks appended to
//! each program), then put in the engine's terms: map references and
//! callback addresses become constants of the engine's address space
//! ([`super::vm`]), kfunc calls carry the engine's kfunc numbers.

use std::collections::{BTreeSet, HashMap, HashSet};

use aya_obj::generated::bpf_insn;
use nfl_compiler::bpf::Insn;
use nfl_compiler::bpf::insn::{BPF_CALL, BPF_JMP, BPF_LD, BPF_DW, BPF_IMM};

use super::kfuncs;
use super::vm::{REGION_FUNC, REGION_MAP, vaddr};
use super::EngineError;
use crate::load::ProgramKind;

const PSEUDO_MAP_FD: u8 = 1;
const PSEUDO_MAP_VALUE: u8 = 2;
const PSEUDO_CALL: u8 = 1;
const PSEUDO_KFUNC_CALL: u8 = 2;
const PSEUDO_FUNC: u8 = 4;
const LD_IMM64: u8 = BPF_LD | BPF_DW | BPF_IMM;

/// A map as the object declares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapDef {
    pub name: String,
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub flags: u32,
    /// Initial bytes (global data sections); empty for BTF maps.
    pub data: Vec<u8>,
}

/// One program, linked: its subprograms follow it.
#[derive(Clone, Debug)]
pub struct Linked {
    pub name: String,
    pub kind: ProgramKind,
    pub insns: Vec<Insn>,
    /// Instruction indices where a function starts: 0, every bpf-to-bpf
    /// call target and every callback; sorted.
    pub funcs: Vec<u32>,
    /// Global data references: `(insn index, map index, offset)` of each
    /// `LD_IMM64` that must hold the address of a map's value (the engine
    /// patches it once the map's region exists).
    pub value_refs: Vec<(u32, u32, u32)>,
    /// `(insn index, source line, line number)` from `.BTF.ext`, sorted.
    pub lines: Vec<(u32, String, u32)>,
}

impl Linked {
    /// The source line of instruction `pc`: the closest line record at or
    /// before it.
    pub fn line_of(&self, pc: u32) -> Option<(&str, u32)> {
        let i = self.lines.partition_point(|l| l.0 <= pc);
        let l = self.lines.get(i.checked_sub(1)?)?;
        Some((l.1.as_str(), l.2))
    }
}

/// A whole object.
#[derive(Clone, Debug)]
pub struct Image {
    pub maps: Vec<MapDef>,
    pub programs: Vec<Linked>,
    /// The object's BTF STRUCT/UNION type ids → sizes, for
    /// `bpf_obj_new_impl` ([`super::kfuncs::KState::set_types`]).
    pub type_sizes: HashMap<u32, u32>,
}

impl Image {
    pub fn program(&self, name: &str) -> Option<usize> {
        self.programs.iter().position(|p| p.name == name)
    }
}

fn bad(msg: impl Into<String>) -> EngineError {
    EngineError::Object(msg.into())
}

/// Read and link every program of `obj`.
pub fn read(obj: &[u8]) -> Result<Image, EngineError> {
    let prepared = crate::kfunc::prepare_object_with(obj, |name| {
        kfuncs::index_of(name)
            .ok_or_else(|| crate::kfunc::KfuncError::Missing(format!("{name} (not in the userspace engine)")))
    })
    .map_err(|e| bad(e.to_string()))?;
    let btf = btf_section(&prepared);
    let strings = btf.as_deref().map(btf_strings).unwrap_or_default();
    let type_sizes = match &btf {
        Some(b) => crate::kfunc::btf_struct_sizes(b).map_err(|e| bad(format!(".BTF: {e}")))?,
        None => HashMap::new(),
    };
    let mut object = aya_obj::Object::parse(&prepared).map_err(|e| bad(e.to_string()))?;

    let mut names: Vec<String> = object.maps.keys().cloned().collect();
    names.sort();
    let maps: Vec<MapDef> = names
        .iter()
        .map(|n| {
            let m = &object.maps[n];
            MapDef {
                name: n.clone(),
                map_type: m.map_type(),
                key_size: m.key_size(),
                value_size: m.value_size(),
                max_entries: m.max_entries(),
                flags: m.map_flags(),
                data: m.data().to_vec(),
            }
        })
        .collect();
    let text_sections: HashSet<usize> = object.functions.keys().map(|(s, _)| *s).collect();
    let fds: Vec<(String, i32, aya_obj::Map)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.clone(), i as i32, object.maps[n].clone()))
        .collect();
    object
        .relocate_maps(fds.iter().map(|(n, fd, m)| (n.as_str(), *fd, m)), &text_sections)
        .map_err(|e| bad(e.to_string()))?;
    object.relocate_calls(&text_sections).map_err(|e| bad(e.to_string()))?;

    let mut prog_names: Vec<&String> = object.programs.keys().collect();
    prog_names.sort();
    let mut programs = Vec::new();
    for name in prog_names {
        let prog = &object.programs[name];
        let kind = match prog.section {
            aya_obj::ProgramSection::Xdp { .. } => ProgramKind::Xdp,
            aya_obj::ProgramSection::SchedClassifier => ProgramKind::Tc,
            ref other => return Err(bad(format!("program `{name}`: {other:?} programs are not run by the engine"))),
        };
        let func = object
            .functions
            .get(&prog.function_key())
            .ok_or_else(|| bad(format!("program `{name}` has no code")))?;
        let raw: Vec<Insn> = func.instructions.iter().map(convert).collect();
        let lines = func
            .line_info
            .line_info
            .iter()
            .map(|l| (l.insn_off, string_at(&strings, l.line_off), l.line_col >> 10))
            .collect();
        programs.push(finish(name.clone(), kind, raw, lines)?);
    }
    Ok(Image { maps, programs, type_sizes })
}

fn convert(i: &bpf_insn) -> Insn {
    Insn { code: i.code, dst: i.dst_reg(), src: i.src_reg(), off: i.off, imm: i.imm }
}

/// Rewrites pseudo instructions into the engine's terms and finds the
/// functions.
fn finish(
    name: String,
    kind: ProgramKind,
    mut insns: Vec<Insn>,
    mut lines: Vec<(u32, String, u32)>,
) -> Result<Linked, EngineError> {
    let mut funcs = BTreeSet::from([0u32]);
    let mut value_refs = Vec::new();
    let n = insns.len() as i64;
    let target = |pc: usize, imm: i32| -> Result<u32, EngineError> {
        let t = pc as i64 + 1 + i64::from(imm);
        (0..n).contains(&t).then_some(t as u32).ok_or_else(|| bad(format!("`{name}`: call at {pc} to {t}, outside the program")))
    };
    let mut pc = 0;
    while pc < insns.len() {
        let insn = insns[pc];
        if insn.code == LD_IMM64 {
            let next = insns.get(pc + 1).copied().ok_or_else(|| bad(format!("`{name}`: LD_IMM64 at {pc} cut short")))?;
            let value = match insn.src {
                0 => None,
                PSEUDO_MAP_FD => Some(vaddr(REGION_MAP, insn.imm as u32)),
                PSEUDO_MAP_VALUE => {
                    value_refs.push((pc as u32, insn.imm as u32, next.imm as u32));
                    Some(0)
                }
                PSEUDO_FUNC => {
                    let t = target(pc, insn.imm)?;
                    funcs.insert(t);
                    Some(vaddr(REGION_FUNC, t))
                }
                other => return Err(bad(format!("`{name}`: LD_IMM64 at {pc} with pseudo source {other}"))),
            };
            if let Some(v) = value {
                insns[pc].src = 0;
                insns[pc].imm = v as u32 as i32;
                insns[pc + 1].imm = (v >> 32) as u32 as i32;
            }
            pc += 2;
            continue;
        }
        if insn.code == BPF_JMP | BPF_CALL {
            match insn.src {
                PSEUDO_CALL => {
                    funcs.insert(target(pc, insn.imm)?);
                }
                0 | PSEUDO_KFUNC_CALL => {}
                other => return Err(bad(format!("`{name}`: call at {pc} with pseudo source {other}"))),
            }
        }
        pc += 1;
    }
    lines.sort_by_key(|l| l.0);
    Ok(Linked { name, kind, insns, funcs: funcs.into_iter().collect(), value_refs, lines })
}

/// The object's `.BTF` section, if it has one.
fn btf_section(obj: &[u8]) -> Option<Vec<u8>> {
    use object::{Object, ObjectSection};
    let file = object::File::parse(obj).ok()?;
    Some(file.section_by_name(".BTF")?.data().ok()?.to_vec())
}

/// The string section of a `.BTF` blob (empty if it is malformed).
fn btf_strings(data: &[u8]) -> Vec<u8> {
    let u32_at = |o: usize| data.get(o..o + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let (Some(hdr), Some(off), Some(len)) = (u32_at(4), u32_at(16), u32_at(20)) else {
        return Vec::new();
    };
    let start = hdr as usize + off as usize;
    data.get(start..start + len as usize).unwrap_or_default().to_vec()
}

fn string_at(strings: &[u8], off: u32) -> String {
    let tail = strings.get(off as usize..).unwrap_or_default();
    let end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
    String::from_utf8_lossy(&tail[..end]).into_owned()
}
