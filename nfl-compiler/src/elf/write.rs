//! The object writer: ELF sections and symbols through the `object` crate,
//! BTF through [`super::btf`].

use std::collections::{BTreeMap, HashMap, HashSet};

use object::write::{Object, Relocation, SectionId, Symbol, SymbolId, SymbolSection};
use object::{
    Architecture, BinaryFormat, Endianness, RelocationFlags, SectionKind, SymbolFlags, SymbolKind,
    SymbolScope, elf,
};

use super::btf::{
    BTF_FUNC_GLOBAL, BTF_INT_SIGNED, BTF_VAR_GLOBAL_ALLOCATED, Btf, BtfType, ExtSection, FuncInfo,
    LineInfoRec, Member, Param, TypeId, VarSecInfo, btf_ext_bytes,
};
use super::{CtxKind, ElfError, LineInfo, MapSpec, ObjectSpec, ProgramSpec, is_c_identifier};
use crate::bpf::disasm::BPF_PSEUDO_FUNC;
use crate::bpf::encode::{INSN_SIZE, encode};
use crate::bpf::insn::{BPF_CALL, BPF_JMP, BPF_PSEUDO_CALL};

/// Size of one BTF-defined map in `.maps`: five pointer members.
const MAP_DEF_SIZE: u32 = 48;
/// The `.maps` members in order, as libbpf's `__uint(name, value)` spells them.
const MAP_FIELDS: [&str; 6] = ["type", "key_size", "value_size", "max_entries", "map_flags", "pinning"];
/// libbpf's `LIBBPF_PIN_BY_NAME`.
const PIN_BY_NAME: u32 = 1;
/// Sections that hold something other than program code.
const RESERVED_SECTIONS: [&str; 6] = [".maps", "license", ".BTF", ".BTF.ext", "maps", ".text"];
/// Largest line and column that fit `line_col` (22 and 10 bits).
const MAX_LINE: u32 = (1 << 22) - 1;
const MAX_COL: u32 = (1 << 10) - 1;

/// Programs that share one ELF section, in spec order.
struct SectionGroup<'a> {
    name: &'a str,
    /// Each program with its first slot index within the section.
    programs: Vec<(&'a ProgramSpec, usize)>,
    n_slots: usize,
}

fn too_large(what: &str) -> ElfError {
    ElfError::TooLarge(what.to_string())
}

fn byte_off(slot: usize) -> Result<u32, ElfError> {
    slot.checked_mul(INSN_SIZE)
        .and_then(|b| u32::try_from(b).ok())
        .ok_or_else(|| too_large("instruction offset exceeds 4 GiB"))
}

fn validate(spec: &ObjectSpec) -> Result<(), ElfError> {
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
        // through relocations; until the spec can say so, refuse them here
        // rather than emit an object whose func_info the kernel rejects.
        let mut idx = 0;
        while let Some(insn) = prog.insns.get(idx) {
            let pseudo_call = insn.code == BPF_JMP | BPF_CALL && insn.src == BPF_PSEUDO_CALL;
            let pseudo_func = insn.is_ld_imm64() && insn.src == BPF_PSEUDO_FUNC;
            if pseudo_call || pseudo_func {
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
    Ok(())
}

/// True if slot `idx` is the second half of an `LD_IMM64`, scanning from the
/// start since a second slot looks like any other instruction.
fn is_second_slot(insns: &[crate::bpf::Insn], idx: usize) -> bool {
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

/// The line_info records of one program as `(insn_idx, record)`: sorted,
/// one per instruction (the first given wins), and starting at instruction 0
/// as the kernel requires (the earliest record is repeated there if the
/// spec has none at 0).
fn normalized_line_info(prog: &ProgramSpec) -> Vec<(usize, &LineInfo)> {
    let mut by_idx: BTreeMap<usize, &LineInfo> = BTreeMap::new();
    for li in &prog.line_info {
        by_idx.entry(li.insn_idx).or_insert(li);
    }
    let mut out: Vec<(usize, &LineInfo)> = by_idx.into_iter().collect();
    if let Some((first_idx, first)) = out.first().copied()
        && first_idx != 0
    {
        out.insert(0, (0, first));
    }
    out
}

/// The BTF types and the `.BTF.ext` records of an object.
type BtfOut = (Btf, Vec<ExtSection<FuncInfo>>, Vec<ExtSection<LineInfoRec>>);

fn build_btf(spec: &ObjectSpec, groups: &[SectionGroup<'_>]) -> Result<BtfOut, ElfError> {
    let mut btf = Btf::new();
    let int_name = btf.add_str("int")?;
    let int = btf.add_type(BtfType::Int {
        name: int_name,
        size: 4,
        encoding: BTF_INT_SIGNED,
        bits: 32,
    })?;

    // One prototype per context kind, in order of first use.
    let mut protos: Vec<(CtxKind, TypeId)> = Vec::new();
    let ctx_name = btf.add_str("ctx")?;
    for prog in &spec.programs {
        if protos.iter().any(|(kind, _)| *kind == prog.ctx) {
            continue;
        }
        let name = btf.add_str(prog.ctx.struct_name())?;
        let st = btf.add_type(BtfType::Struct {
            name,
            size: 0,
            members: Vec::new(),
        })?;
        let ptr = btf.add_type(BtfType::Ptr { to: st })?;
        let proto = btf.add_type(BtfType::FuncProto {
            ret: int,
            params: vec![Param {
                name: ctx_name,
                ty: ptr,
            }],
        })?;
        protos.push((prog.ctx, proto));
    }

    let mut func_by_program = HashMap::new();
    for prog in &spec.programs {
        let proto = protos
            .iter()
            .find(|(kind, _)| *kind == prog.ctx)
            .map(|(_, id)| *id)
            .unwrap_or(TypeId(0));
        let name = btf.add_str(&prog.name)?;
        let func = btf.add_type(BtfType::Func {
            name,
            proto,
            linkage: BTF_FUNC_GLOBAL,
        })?;
        func_by_program.insert(prog.name.clone(), func);
    }

    if !spec.maps.is_empty() {
        add_maps_btf(&mut btf, int, &spec.maps)?;
    }

    let mut func_info = Vec::new();
    let mut line_info = Vec::new();
    for group in groups {
        let sec_name = btf.add_str(group.name)?;
        let mut funcs = Vec::new();
        let mut lines = Vec::new();
        for (prog, start) in &group.programs {
            let type_id = func_by_program
                .get(&prog.name)
                .copied()
                .unwrap_or(TypeId(0));
            funcs.push(FuncInfo {
                insn_off: byte_off(*start)?,
                type_id,
            });
            for (idx, li) in normalized_line_info(prog) {
                lines.push((start + idx, li));
            }
        }
        let mut records = Vec::new();
        for (slot, li) in lines {
            records.push(LineInfoRec {
                insn_off: byte_off(slot)?,
                file_name: btf.add_str(&li.file_name)?,
                line: btf.add_str(&li.line_text)?,
                line_col: (li.line.min(MAX_LINE) << 10) | li.col.min(MAX_COL),
            });
        }
        func_info.push(ExtSection {
            sec_name,
            records: funcs,
        });
        line_info.push(ExtSection { sec_name, records });
    }
    Ok((btf, func_info, line_info))
}

/// Adds `struct { int (*type)[T]; ... } name SEC(".maps")` per map and the
/// `.maps` DATASEC.
fn add_maps_btf(btf: &mut Btf, int: TypeId, maps: &[MapSpec]) -> Result<(), ElfError> {
    // `int (*)[N]` types, shared between equal N, in order of first use.
    let mut ptr_by_n: BTreeMap<u32, TypeId> = BTreeMap::new();
    let field_names = MAP_FIELDS
        .iter()
        .map(|f| btf.add_str(f))
        .collect::<Result<Vec<_>, _>>()?;
    let mut vars = Vec::new();
    for (i, map) in maps.iter().enumerate() {
        let values = [
            map.map_type,
            map.key_size,
            map.value_size,
            map.max_entries,
            map.flags,
            if map.pinned { PIN_BY_NAME } else { 0 },
        ];
        let mut members = Vec::new();
        for (bit_offset, (name, n)) in (0u32..).step_by(64).zip(field_names.iter().zip(values)) {
            let ptr = match ptr_by_n.get(&n) {
                Some(ptr) => *ptr,
                None => {
                    let arr = btf.add_type(BtfType::Array {
                        elem: int,
                        index: int,
                        nelems: n,
                    })?;
                    let ptr = btf.add_type(BtfType::Ptr { to: arr })?;
                    ptr_by_n.insert(n, ptr);
                    ptr
                }
            };
            members.push(Member {
                name: *name,
                ty: ptr,
                bit_offset,
            });
        }
        let st = btf.add_type(BtfType::Struct {
            name: super::btf::StrOff(0),
            size: MAP_DEF_SIZE,
            members,
        })?;
        let name = btf.add_str(&map.name)?;
        let var = btf.add_type(BtfType::Var {
            name,
            ty: st,
            linkage: BTF_VAR_GLOBAL_ALLOCATED,
        })?;
        let offset = u32::try_from(i)
            .ok()
            .and_then(|i| i.checked_mul(MAP_DEF_SIZE))
            .ok_or_else(|| too_large("too many maps"))?;
        vars.push(VarSecInfo {
            var,
            offset,
            size: MAP_DEF_SIZE,
        });
    }
    let name = btf.add_str(".maps")?;
    let size = u32::try_from(maps.len())
        .ok()
        .and_then(|n| n.checked_mul(MAP_DEF_SIZE))
        .ok_or_else(|| too_large("too many maps"))?;
    btf.add_type(BtfType::DataSec { name, size, vars })?;
    Ok(())
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

/// Writes an eBPF ELF object for `spec`. See the module documentation for
/// the layout.
pub fn write_object(spec: &ObjectSpec) -> Result<Vec<u8>, ElfError> {
    validate(spec)?;
    let groups = group_sections(spec);
    let (btf, func_info, line_info) = build_btf(spec, &groups)?;

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
            code.extend_from_slice(&encode(&prog.insns));
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
        if RESERVED_SECTIONS.contains(&name.as_str()) || spec.programs.iter().any(|p| &p.section == name) {
            return Err(ElfError::InvalidName { what: "note section", name: name.clone() });
        }
        let id = obj.add_section(Vec::new(), name.as_bytes().to_vec(), SectionKind::Other);
        obj.set_section_data(id, bytes.clone(), 1);
    }

    // Maps: zero-filled definitions whose meaning is in BTF.
    let mut map_symbols: HashMap<&str, SymbolId> = HashMap::new();
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
            map_symbols.insert(map.name.as_str(), sym);
        }
    }

    // Map relocations, in slot order per section.
    for (group, section) in groups.iter().zip(&prog_sections) {
        let mut relocs = Vec::new();
        // `validate` has already refused subprogram calls.
        for (prog, start) in &group.programs {
            for reloc in &prog.map_relocs {
                relocs.push((start + reloc.insn_idx, reloc.map.as_str()));
            }
        }
        relocs.sort();
        relocs.dedup();
        for (slot, map) in relocs {
            let Some(symbol) = map_symbols.get(map).copied() else {
                return Err(ElfError::UnknownMap {
                    program: group.name.to_string(),
                    map: map.to_string(),
                });
            };
            obj.add_relocation(
                *section,
                Relocation {
                    offset: u64::from(byte_off(slot)?),
                    symbol,
                    addend: 0,
                    flags: RelocationFlags::Elf {
                        r_type: elf::R_BPF_64_64,
                    },
                },
            )
            .map_err(write_err)?;
        }
    }

    let btf_section = obj.add_section(Vec::new(), b".BTF".to_vec(), SectionKind::Other);
    obj.set_section_data(btf_section, btf.to_bytes()?, 4);
    let ext_section = obj.add_section(Vec::new(), b".BTF.ext".to_vec(), SectionKind::Other);
    obj.set_section_data(ext_section, btf_ext_bytes(&func_info, &line_info)?, 4);

    obj.write().map_err(write_err)
}
