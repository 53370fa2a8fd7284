//! Checks of an [`ObjectSpec`] before anything is written.

use std::collections::HashSet;

use super::ext_validate::{is_func_ref, validate_extras};
use super::extras::ObjectExtras;
use super::write::{RESERVED_SECTIONS, is_second_slot};
use super::{ElfError, ObjectSpec, is_c_identifier};
use crate::bpf::disasm::BPF_PSEUDO_FUNC;
use crate::bpf::insn::{BPF_CALL, BPF_JMP, BPF_PSEUDO_CALL};

pub(super) fn validate(spec: &ObjectSpec, extras: &ObjectExtras) -> Result<(), ElfError> {
    let mut names = HashSet::new();
    for prog in &spec.programs {
        if !is_c_identifier(&prog.name) {
            return Err(ElfError::InvalidName {
                what: "program",
                name: prog.name.clone(),
            });
        }
        if !names.insert(prog.name.as_str()) {
            return Err(ElfError::DuplicateName {
                name: prog.name.clone(),
            });
        }
        let bad_section = prog.section.is_empty()
            || prog.section.contains('\0')
            || prog.section.starts_with(".rel")
            || RESERVED_SECTIONS.contains(&prog.section.as_str());
        if bad_section {
            return Err(ElfError::InvalidSection {
                program: prog.name.clone(),
                section: prog.section.clone(),
            });
        }
        if prog.insns.is_empty() {
            return Err(ElfError::EmptyProgram {
                program: prog.name.clone(),
            });
        }
        // libbpf only links subprograms that live in `.text` and are reached
        // through relocations: a subprogram reference needs a `FuncRef`
        // (and so a relocation), or the kernel would reject the func_info.
        let mut idx = 0;
        while let Some(insn) = prog.insns.get(idx) {
            let pseudo_call = insn.code == BPF_JMP | BPF_CALL && insn.src == BPF_PSEUDO_CALL;
            let pseudo_func = insn.is_ld_imm64() && insn.src == BPF_PSEUDO_FUNC;
            if (pseudo_call || pseudo_func) && !is_func_ref(extras, &prog.name, idx) {
                return Err(ElfError::SubprogramsUnsupported {
                    program: prog.name.clone(),
                    insn_idx: idx,
                });
            }
            idx += if insn.is_ld_imm64() { 2 } else { 1 };
        }
        for reloc in &prog.map_relocs {
            if !spec.maps.iter().any(|m| m.name == reloc.map) {
                return Err(ElfError::UnknownMap {
                    program: prog.name.clone(),
                    map: reloc.map.clone(),
                });
            }
            let complete = prog
                .insns
                .get(reloc.insn_idx)
                .is_some_and(|i| i.is_ld_imm64())
                && prog.insns.get(reloc.insn_idx + 1).is_some()
                && !is_second_slot(&prog.insns, reloc.insn_idx);
            if !complete {
                return Err(ElfError::RelocNotLdImm64 {
                    program: prog.name.clone(),
                    insn_idx: reloc.insn_idx,
                });
            }
        }
        for li in &prog.line_info {
            let reason = if li.insn_idx >= prog.insns.len() {
                Some("is past the end of the program")
            } else if is_second_slot(&prog.insns, li.insn_idx) {
                Some("points at the second slot of an LD_IMM64")
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(ElfError::BadLineInfo {
                    program: prog.name.clone(),
                    insn_idx: li.insn_idx,
                    reason,
                });
            }
        }
    }
    for map in &spec.maps {
        if !is_c_identifier(&map.name) {
            return Err(ElfError::InvalidName {
                what: "map",
                name: map.name.clone(),
            });
        }
        if !names.insert(map.name.as_str()) || map.name == "_license" {
            return Err(ElfError::DuplicateName {
                name: map.name.clone(),
            });
        }
    }
    if names.contains("_license") {
        return Err(ElfError::DuplicateName {
            name: "_license".to_string(),
        });
    }
    validate_extras(spec, extras)
}
