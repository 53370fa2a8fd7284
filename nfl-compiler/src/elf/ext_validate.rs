//! Checks of an [`ObjectExtras`] against its [`ObjectSpec`], and the
//! instruction patches the writer applies for it.

use std::collections::HashSet;

use super::extras::{FieldType, ObjectExtras};
use super::kfunc::{KernelStruct, kfunc_proto};
use super::{ElfError, ObjectSpec, is_c_identifier};
use crate::bpf::Insn;
use crate::bpf::disasm::BPF_PSEUDO_FUNC;
use crate::bpf::insn::{
    BPF_ALU, BPF_ALU64, BPF_CALL, BPF_JMP, BPF_K, BPF_MOV, BPF_PSEUDO_CALL, BPF_PSEUDO_KFUNC_CALL,
};

fn bad(msg: String) -> ElfError {
    ElfError::InvalidExtra(msg)
}

/// The instructions of program or subprogram `name`.
pub(super) fn func_insns<'a>(
    spec: &'a ObjectSpec,
    extras: &'a ObjectExtras,
    name: &str,
) -> Option<&'a [Insn]> {
    spec.programs
        .iter()
        .find(|p| p.name == name)
        .map(|p| p.insns.as_slice())
        .or_else(|| {
            extras
                .subprograms
                .iter()
                .find(|s| s.name == name)
                .map(|s| s.insns.as_slice())
        })
}

fn is_call(insn: &Insn) -> bool {
    insn.code == BPF_JMP | BPF_CALL
}

/// True if `insns[idx]` exists and is the first slot of a complete LD_IMM64.
fn is_ld_imm64_at(insns: &[Insn], idx: usize) -> bool {
    insns.get(idx).is_some_and(|i| i.is_ld_imm64())
        && idx + 1 < insns.len()
        && !super::write::is_second_slot(insns, idx)
}

/// True if a [`super::FuncRef`] covers the pseudo call or pseudo func load at
/// `idx` of `func`.
pub(super) fn is_func_ref(extras: &ObjectExtras, func: &str, idx: usize) -> bool {
    extras
        .func_refs
        .iter()
        .any(|r| r.func == func && r.insn_idx == idx)
}

/// The first bpf-to-bpf call or subprogram load in `insns` that no
/// [`super::FuncRef`] names.
fn unreferenced_pseudo(extras: &ObjectExtras, func: &str, insns: &[Insn]) -> Option<usize> {
    let mut idx = 0;
    while let Some(insn) = insns.get(idx) {
        let pseudo_call = is_call(insn) && insn.src == BPF_PSEUDO_CALL;
        let pseudo_func = insn.is_ld_imm64() && insn.src == BPF_PSEUDO_FUNC;
        if (pseudo_call || pseudo_func) && !is_func_ref(extras, func, idx) {
            return Some(idx);
        }
        idx += if insn.is_ld_imm64() { 2 } else { 1 };
    }
    None
}

/// The site `(func, idx)` is an instruction of a known function.
fn site<'a>(
    spec: &'a ObjectSpec,
    extras: &'a ObjectExtras,
    func: &str,
    idx: usize,
) -> Result<(&'a [Insn], Insn), ElfError> {
    let insns = func_insns(spec, extras, func)
        .ok_or_else(|| bad(format!("no program or subprogram `{func}`")))?;
    let insn = insns
        .get(idx)
        .copied()
        .ok_or_else(|| bad(format!("`{func}`: insn {idx} is past the end")))?;
    Ok((insns, insn))
}

pub(super) fn validate_extras(spec: &ObjectSpec, extras: &ObjectExtras) -> Result<(), ElfError> {
    validate_structs(spec, extras)?;
    let mut names: HashSet<&str> = spec.programs.iter().map(|p| p.name.as_str()).collect();
    names.extend(spec.maps.iter().map(|m| m.name.as_str()));
    for sub in &extras.subprograms {
        if !is_c_identifier(&sub.name) {
            return Err(ElfError::InvalidName {
                what: "subprogram",
                name: sub.name.clone(),
            });
        }
        if !names.insert(&sub.name) || kfunc_proto(&sub.name).is_some() {
            return Err(ElfError::DuplicateName {
                name: sub.name.clone(),
            });
        }
        if let Some(insn_idx) = unreferenced_pseudo(extras, &sub.name, &sub.insns) {
            return Err(ElfError::SubprogramsUnsupported {
                program: sub.name.clone(),
                insn_idx,
            });
        }
        if sub.insns.is_empty() {
            return Err(ElfError::EmptyProgram {
                program: sub.name.clone(),
            });
        }
        for r in &sub.map_relocs {
            if !spec.maps.iter().any(|m| m.name == r.map) {
                return Err(ElfError::UnknownMap {
                    program: sub.name.clone(),
                    map: r.map.clone(),
                });
            }
            if !is_ld_imm64_at(&sub.insns, r.insn_idx) {
                return Err(ElfError::RelocNotLdImm64 {
                    program: sub.name.clone(),
                    insn_idx: r.insn_idx,
                });
            }
        }
    }
    for call in &extras.kfunc_calls {
        let (_, insn) = site(spec, extras, &call.func, call.insn_idx)?;
        if !is_call(&insn) {
            return Err(bad(format!(
                "`{}`: kfunc call at insn {} is not a call",
                call.func, call.insn_idx
            )));
        }
        if kfunc_proto(&call.kfunc).is_none() {
            return Err(bad(format!(
                "unknown kfunc `{}` (see elf::kfunc::KFUNCS)",
                call.kfunc
            )));
        }
    }
    for r in &extras.func_refs {
        let (insns, insn) = site(spec, extras, &r.func, r.insn_idx)?;
        if !extras.subprograms.iter().any(|s| s.name == r.target) {
            return Err(bad(format!(
                "`{}`: insn {} refers to unknown subprogram `{}`",
                r.func, r.insn_idx, r.target
            )));
        }
        if !is_call(&insn) && !is_ld_imm64_at(insns, r.insn_idx) {
            return Err(bad(format!(
                "`{}`: insn {} is neither a call nor an LD_IMM64",
                r.func, r.insn_idx
            )));
        }
    }
    for t in &extras.type_id_loads {
        let (insns, insn) = site(spec, extras, &t.func, t.insn_idx)?;
        if !extras.structs.iter().any(|s| s.name == t.struct_name) {
            return Err(bad(format!(
                "type id load names unknown struct `{}`",
                t.struct_name
            )));
        }
        let mov =
            insn.code == BPF_ALU64 | BPF_MOV | BPF_K || insn.code == BPF_ALU | BPF_MOV | BPF_K;
        if !mov && !is_ld_imm64_at(insns, t.insn_idx) {
            return Err(bad(format!(
                "`{}`: type id load at insn {} is not a mov or LD_IMM64",
                t.func, t.insn_idx
            )));
        }
    }
    Ok(())
}

fn validate_structs(spec: &ObjectSpec, extras: &ObjectExtras) -> Result<(), ElfError> {
    let mut seen = HashSet::new();
    for st in &extras.structs {
        let reserved = KernelStruct::ALL.iter().any(|k| k.name() == st.name);
        if !is_c_identifier(&st.name) || reserved || !seen.insert(st.name.as_str()) {
            return Err(ElfError::InvalidName {
                what: "struct",
                name: st.name.clone(),
            });
        }
        let mut fields = HashSet::new();
        for f in &st.fields {
            if !is_c_identifier(&f.name) || !fields.insert(f.name.as_str()) {
                return Err(ElfError::InvalidName {
                    what: "struct field",
                    name: f.name.clone(),
                });
            }
            let Some(c) = &f.contains else { continue };
            let node_kind = match f.ty {
                FieldType::Kernel(KernelStruct::RbRoot) => KernelStruct::RbNode,
                FieldType::Kernel(KernelStruct::ListHead) => KernelStruct::ListNode,
                _ => {
                    return Err(bad(format!(
                        "`{}.{}`: only a bpf_rb_root or bpf_list_head can carry `contains`",
                        st.name, f.name
                    )));
                }
            };
            let node_ok = extras
                .structs
                .iter()
                .find(|s| s.name == c.node_struct)
                .is_some_and(|s| {
                    s.fields
                        .iter()
                        .any(|nf| nf.name == c.node_field && nf.ty == FieldType::Kernel(node_kind))
                });
            if !node_ok {
                return Err(bad(format!(
                    "`{}.{}`: contains:{}:{} names no {} field",
                    st.name,
                    f.name,
                    c.node_struct,
                    c.node_field,
                    node_kind.name()
                )));
            }
        }
    }
    for mv in &extras.map_values {
        let map = spec
            .maps
            .iter()
            .find(|m| m.name == mv.map)
            .ok_or_else(|| bad(format!("map value for unknown map `{}`", mv.map)))?;
        let st = extras
            .structs
            .iter()
            .find(|s| s.name == mv.value_struct)
            .ok_or_else(|| {
                bad(format!(
                    "map `{}`: unknown value struct `{}`",
                    mv.map, mv.value_struct
                ))
            })?;
        if map.key_size != 4 || map.value_size != st.layout().size {
            return Err(bad(format!(
                "map `{}`: key_size must be 4 and value_size {} (the size of `{}`)",
                mv.map,
                st.layout().size,
                st.name
            )));
        }
    }
    Ok(())
}

/// `insns` of function `func` with the extras' patches applied: kfunc calls
/// become `src = BPF_PSEUDO_KFUNC_CALL, imm = -1`; references to a
/// subprogram starting at instruction `s` of `.text` (relocated against the
/// `.text` section symbol, as clang does for static functions: libbpf
/// takes only that or a GLOBAL function symbol) become
/// `src = BPF_PSEUDO_CALL, imm = s - 1` for calls and
/// `src = BPF_PSEUDO_FUNC, imm = 8 * s` for loads; type id loads get the id.
pub(super) fn patch_insns(
    func: &str,
    insns: &[Insn],
    extras: &ObjectExtras,
    type_id: &dyn Fn(&str) -> Option<u32>,
    sub_start: &dyn Fn(&str) -> Option<usize>,
) -> Vec<Insn> {
    let mut out = insns.to_vec();
    for c in extras.kfunc_calls.iter().filter(|c| c.func == func) {
        if let Some(i) = out.get_mut(c.insn_idx) {
            *i = Insn::new(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_KFUNC_CALL, 0, -1);
        }
    }
    for r in extras.func_refs.iter().filter(|r| r.func == func) {
        let start = sub_start(&r.target)
            .and_then(|s| i32::try_from(s).ok())
            .unwrap_or(0);
        if let Some(i) = out.get_mut(r.insn_idx) {
            if is_call(i) {
                *i = Insn::new(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL, 0, start - 1);
            } else {
                i.src = BPF_PSEUDO_FUNC;
                i.imm = start.saturating_mul(8);
            }
        }
        let wide = insns.get(r.insn_idx).is_some_and(|i| i.is_ld_imm64());
        if wide && let Some(hi) = out.get_mut(r.insn_idx + 1) {
            hi.imm = 0;
        }
    }
    for t in extras.type_id_loads.iter().filter(|t| t.func == func) {
        let id = type_id(&t.struct_name).unwrap_or(0);
        let wide = out.get(t.insn_idx).is_some_and(|i| i.is_ld_imm64());
        if let Some(i) = out.get_mut(t.insn_idx) {
            i.imm = id as i32;
        }
        if wide && let Some(hi) = out.get_mut(t.insn_idx + 1) {
            hi.imm = 0;
        }
    }
    out
}
