//! The object writer: ELF sections and symbols through the `object` crate,
//! BTF through [`super::btf`] (built in [`super::btf_build`]).

use std::collections::HashMap;

use object::write::{Object, Relocation, SectionId, Symbol, SymbolId, SymbolSection};
use object::{
    Architecture, BinaryFormat, Endianness, RelocationFlags, SectionKind, SymbolFlags, SymbolKind,
    SymbolScope, elf,
};

use super::btf::btf_ext_bytes;
use super::btf_build::{MAP_DEF_SIZE, build_btf};
use super::ext_validate::patch_insns;
use super::extras::ObjectExtras;
use super::graph_btf::kfuncs_used;
use super::validate::validate;
use super::{ElfError, MapReloc, ObjectSpec, ProgramSpec};
use crate::bpf::Insn;
use crate::bpf::encode::{INSN_SIZE, encode};

/// Sections that hold something other than program code.
pub(super) const RESERVED_SECTIONS: [&str; 6] =
    [".maps", "license", ".BTF", ".BTF.ext", "maps", ".text"];
/// The section of subprograms, as libbpf and aya expect them.
pub(super) const TEXT_SECTION: &str = ".text";

/// Programs that share one ELF section, in spec order.
pub(super) struct SectionGroup<'a> {
    pub name: &'a str,
    /// Each program with its first slot index within the section.
    pub programs: Vec<(&'a ProgramSpec, usize)>,
    pub n_slots: usize,
}

pub(super) fn too_large(what: &str) -> ElfError {
    ElfError::TooLarge(what.to_string())
}

pub(super) fn byte_off(slot: usize) -> Result<u32, ElfError> {
    slot.checked_mul(INSN_SIZE)
        .and_then(|b| u32::try_from(b).ok())
        .ok_or_else(|| too_large("instruction offset exceeds 4 GiB"))
}

/// True if slot `idx` is the second half of an `LD_IMM64`, scanning from the
/// start since a second slot looks like any other instruction.
pub(super) fn is_second_slot(insns: &[Insn], idx: usize) -> bool {
    let mut i = 0;
    while i < idx {
        let wide = insns.get(i).is_some_and(|insn| insn.is_ld_imm64());
        i += if wide { 2 } else { 1 };
    }
    i != idx
}

fn group_sections(spec: &ObjectSpec) -> Vec<SectionGroup<'_>> {
    let mut groups: Vec<SectionGroup<'_>> = Vec::new();
    for prog in &spec.programs {
        let idx = match groups.iter().position(|g| g.name == prog.section) {
            Some(idx) => idx,
            None => {
                groups.push(SectionGroup {
                    name: &prog.section,
                    programs: Vec::new(),
                    n_slots: 0,
                });
                groups.len() - 1
            }
        };
        if let Some(group) = groups.get_mut(idx) {
            group.programs.push((prog, group.n_slots));
            group.n_slots += prog.insns.len();
        }
    }
    groups
}

fn global_symbol(
    name: &str,
    kind: SymbolKind,
    section: SectionId,
    value: u64,
    size: u64,
) -> Symbol {
    Symbol {
        name: name.as_bytes().to_vec(),
        value,
        size,
        kind,
        scope: SymbolScope::Dynamic,
        weak: false,
        section: SymbolSection::Section(section),
        flags: SymbolFlags::None,
    }
}

fn write_err(e: object::write::Error) -> ElfError {
    ElfError::Write(e.to_string())
}

/// What a relocation points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Target<'a> {
    Map(&'a str),
    /// A subprogram, loaded by an `LD_IMM64` (`R_BPF_64_64`) or called
    /// (`R_BPF_64_32`).
    Func(&'a str, bool),
    /// A kfunc's undefined symbol (`R_BPF_64_32`).
    Extern(&'a str),
}

/// The relocations of one function starting at `start` in its section.
fn function_relocs<'a>(
    name: &str,
    start: usize,
    map_relocs: &'a [MapReloc],
    insns: &[Insn],
    extras: &'a ObjectExtras,
    out: &mut Vec<(usize, Target<'a>)>,
) {
    for reloc in map_relocs {
        out.push((start + reloc.insn_idx, Target::Map(reloc.map.as_str())));
    }
    for call in extras.kfunc_calls.iter().filter(|c| c.func == name) {
        out.push((start + call.insn_idx, Target::Extern(call.kfunc.as_str())));
    }
    for r in extras.func_refs.iter().filter(|r| r.func == name) {
        let wide = insns.get(r.insn_idx).is_some_and(|i| i.is_ld_imm64());
        out.push((start + r.insn_idx, Target::Func(r.target.as_str(), wide)));
    }
}

/// Symbols relocations may point at.
struct Symbols<'a> {
    maps: HashMap<&'a str, SymbolId>,
    funcs: HashMap<&'a str, SymbolId>,
    externs: HashMap<&'a str, SymbolId>,
}

fn add_relocs(
    obj: &mut Object<'_>,
    section: SectionId,
    section_name: &str,
    mut relocs: Vec<(usize, Target<'_>)>,
    syms: &Symbols<'_>,
) -> Result<(), ElfError> {
    relocs.sort();
    relocs.dedup();
    for (slot, target) in relocs {
        let (symbol, r_type) = match target {
            Target::Map(m) => (syms.maps.get(m), elf::R_BPF_64_64),
            Target::Func(f, true) => (syms.funcs.get(f), elf::R_BPF_64_64),
            Target::Func(f, false) => (syms.funcs.get(f), elf::R_BPF_64_32),
            Target::Extern(k) => (syms.externs.get(k), elf::R_BPF_64_32),
        };
        let Some(symbol) = symbol.copied() else {
            let name = match target {
                Target::Map(n) | Target::Func(n, _) | Target::Extern(n) => n,
            };
            return Err(ElfError::UnknownMap {
                program: section_name.to_string(),
                map: name.to_string(),
            });
        };
        let reloc = Relocation {
            offset: u64::from(byte_off(slot)?),
            symbol,
            addend: 0,
            flags: RelocationFlags::Elf { r_type },
        };
        obj.add_relocation(section, reloc).map_err(write_err)?;
    }
    Ok(())
}

/// The program-BTF type id of each local struct of `extras` in the object
/// [`write_object_with`] writes for `spec` (the writer already puts it into
/// every [`super::TypeIdLoad`]).
pub fn local_type_ids(
    spec: &ObjectSpec,
    extras: &ObjectExtras,
) -> Result<HashMap<String, u32>, ElfError> {
    validate(spec, extras)?;
    let out = build_btf(spec, extras, &group_sections(spec))?;
    Ok(out.struct_ids.into_iter().map(|(k, v)| (k, v.0)).collect())
}

/// Writes an eBPF ELF object for `spec`. See the module documentation for
/// the layout.
pub fn write_object(spec: &ObjectSpec) -> Result<Vec<u8>, ElfError> {
    write_object_with(spec, &ObjectExtras::default())
}

/// Writes an eBPF ELF object for `spec` with `extras`: local types, map
/// value types, subprograms in `.text`, kfunc calls and their `.ksyms`
/// externs (see `docs/kfuncs.md`). With empty extras this is exactly
/// [`write_object`].
pub fn write_object_with(spec: &ObjectSpec, extras: &ObjectExtras) -> Result<Vec<u8>, ElfError> {
    validate(spec, extras)?;
    let groups = group_sections(spec);
    let out = build_btf(spec, extras, &groups)?;
    let type_id = |name: &str| out.struct_ids.get(name).map(|id| id.0);
    let mut starts = HashMap::new();
    let mut text_len = 0;
    for sub in &extras.subprograms {
        starts.insert(sub.name.as_str(), text_len);
        text_len += sub.insns.len();
    }
    let sub_start = |name: &str| starts.get(name).copied();

    let mut obj = Object::new(BinaryFormat::Elf, Architecture::Bpf, Endianness::Little);

    // Program sections and their function symbols.
    let mut prog_sections = Vec::new();
    for group in &groups {
        let section = obj.add_section(
            Vec::new(),
            group.name.as_bytes().to_vec(),
            SectionKind::Text,
        );
        let mut code = Vec::with_capacity(group.n_slots * INSN_SIZE);
        for (prog, start) in &group.programs {
            if extras.is_empty() {
                code.extend_from_slice(&encode(&prog.insns));
            } else {
                let insns = patch_insns(&prog.name, &prog.insns, extras, &type_id, &sub_start);
                code.extend_from_slice(&encode(&insns));
            }
            let value = u64::from(byte_off(*start)?);
            let size = u64::from(byte_off(prog.insns.len())?);
            obj.add_symbol(global_symbol(
                &prog.name,
                SymbolKind::Text,
                section,
                value,
                size,
            ));
        }
        obj.set_section_data(section, code, 8);
        prog_sections.push(section);
    }

    // Subprograms: static functions in `.text`.
    let mut syms = Symbols {
        maps: HashMap::new(),
        funcs: HashMap::new(),
        externs: HashMap::new(),
    };
    let mut text = None;
    if !extras.subprograms.is_empty() {
        let section = obj.add_section(
            Vec::new(),
            TEXT_SECTION.as_bytes().to_vec(),
            SectionKind::Text,
        );
        let mut code = Vec::new();
        for sub in &extras.subprograms {
            let value = u64::from(byte_off(code.len() / INSN_SIZE)?);
            let size = u64::from(byte_off(sub.insns.len())?);
            let insns = patch_insns(&sub.name, &sub.insns, extras, &type_id, &sub_start);
            code.extend_from_slice(&encode(&insns));
            let mut symbol = global_symbol(&sub.name, SymbolKind::Text, section, value, size);
            symbol.scope = SymbolScope::Compilation;
            obj.add_symbol(symbol);
        }
        // References relocate against the section symbol (see `patch_insns`).
        let section_symbol = obj.section_symbol(section);
        for sub in &extras.subprograms {
            syms.funcs.insert(sub.name.as_str(), section_symbol);
        }
        obj.set_section_data(section, code, 8);
        text = Some(section);
    }

    // License.
    let license = obj.add_section(Vec::new(), b"license".to_vec(), SectionKind::Data);
    let mut license_bytes = spec.license.as_bytes().to_vec();
    license_bytes.push(0);
    let license_len = license_bytes.len() as u64;
    obj.set_section_data(license, license_bytes, 1);
    obj.add_symbol(global_symbol(
        "_license",
        SymbolKind::Data,
        license,
        0,
        license_len,
    ));

    for (name, bytes) in &spec.notes {
        if RESERVED_SECTIONS.contains(&name.as_str())
            || spec.programs.iter().any(|p| &p.section == name)
        {
            return Err(ElfError::InvalidName {
                what: "note section",
                name: name.clone(),
            });
        }
        let id = obj.add_section(Vec::new(), name.as_bytes().to_vec(), SectionKind::Other);
        obj.set_section_data(id, bytes.clone(), 1);
    }

    // Maps: zero-filled definitions whose meaning is in BTF.
    if !spec.maps.is_empty() {
        let maps = obj.add_section(Vec::new(), b".maps".to_vec(), SectionKind::Data);
        let size = usize::try_from(MAP_DEF_SIZE).unwrap_or(48);
        obj.set_section_data(maps, vec![0u8; size * spec.maps.len()], 8);
        for (i, map) in spec.maps.iter().enumerate() {
            let value = (i * size) as u64;
            let sym = obj.add_symbol(global_symbol(
                &map.name,
                SymbolKind::Data,
                maps,
                value,
                size as u64,
            ));
            syms.maps.insert(map.name.as_str(), sym);
        }
    }

    // kfuncs: undefined global NOTYPE symbols, as clang writes `__ksym` externs.
    for name in kfuncs_used(extras) {
        let mut symbol = global_symbol(name, SymbolKind::Unknown, license, 0, 0);
        symbol.section = SymbolSection::Undefined;
        syms.externs.insert(name, obj.add_symbol(symbol));
    }

    // Relocations, in slot order per section.
    for (group, section) in groups.iter().zip(&prog_sections) {
        let mut relocs = Vec::new();
        for (prog, start) in &group.programs {
            function_relocs(
                &prog.name,
                *start,
                &prog.map_relocs,
                &prog.insns,
                extras,
                &mut relocs,
            );
        }
        add_relocs(&mut obj, *section, group.name, relocs, &syms)?;
    }
    if let Some(section) = text {
        let mut relocs = Vec::new();
        let mut start = 0;
        for sub in &extras.subprograms {
            function_relocs(
                &sub.name,
                start,
                &sub.map_relocs,
                &sub.insns,
                extras,
                &mut relocs,
            );
            start += sub.insns.len();
        }
        add_relocs(&mut obj, section, TEXT_SECTION, relocs, &syms)?;
    }

    let btf_section = obj.add_section(Vec::new(), b".BTF".to_vec(), SectionKind::Other);
    obj.set_section_data(btf_section, out.btf.to_bytes()?, 4);
    let ext_section = obj.add_section(Vec::new(), b".BTF.ext".to_vec(), SectionKind::Other);
    obj.set_section_data(
        ext_section,
        btf_ext_bytes(&out.func_info, &out.line_info)?,
        4,
    );

    obj.write().map_err(write_err)
}
