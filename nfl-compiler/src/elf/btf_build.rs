//! Program BTF and `.BTF.ext` records for an object: context prototypes,
//! program functions, BTF-defined maps, and the extras' types.

use std::collections::{BTreeMap, HashMap};

use super::btf::{
    BTF_FUNC_GLOBAL, BTF_INT_SIGNED, BTF_VAR_GLOBAL_ALLOCATED, Btf, BtfType, ExtSection, FuncInfo,
    LineInfoRec, Member, Param, StrOff, TypeId, VarSecInfo,
};
use super::extras::ObjectExtras;
use super::graph_btf::{LocalTypes, add_ksyms, add_structs, add_subprog_funcs, kfuncs_used};
use super::write::{SectionGroup, TEXT_SECTION, byte_off, too_large};
use super::{CtxKind, ElfError, LineInfo, MapSpec, ObjectSpec};

/// Size of one BTF-defined map in `.maps`: six pointer members.
pub(super) const MAP_DEF_SIZE: u32 = 48;
/// The `.maps` members in order, as libbpf's `__uint(name, value)` spells them.
const MAP_FIELDS: [&str; 6] = [
    "type",
    "key_size",
    "value_size",
    "max_entries",
    "map_flags",
    "pinning",
];
/// libbpf's `LIBBPF_PIN_BY_NAME`.
const PIN_BY_NAME: u32 = 1;
/// Largest line and column that fit `line_col` (22 and 10 bits).
const MAX_LINE: u32 = (1 << 22) - 1;
const MAX_COL: u32 = (1 << 10) - 1;

/// The line_info records of one program as `(insn_idx, record)`: sorted,
/// one per instruction (the first given wins), and starting at instruction 0
/// as the kernel requires (the earliest record is repeated there if the
/// spec has none at 0).
fn normalized_line_info(line_info: &[LineInfo]) -> Vec<(usize, &LineInfo)> {
    let mut by_idx: BTreeMap<usize, &LineInfo> = BTreeMap::new();
    for li in line_info {
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

/// The BTF types and the `.BTF.ext` records of an object, and the type ids
/// of its local structs.
pub(super) struct BtfOut {
    pub btf: Btf,
    pub func_info: Vec<ExtSection<FuncInfo>>,
    pub line_info: Vec<ExtSection<LineInfoRec>>,
    pub struct_ids: HashMap<String, TypeId>,
}

pub(super) fn build_btf(
    spec: &ObjectSpec,
    extras: &ObjectExtras,
    groups: &[SectionGroup<'_>],
) -> Result<BtfOut, ElfError> {
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

    let mut local = LocalTypes::new(int);
    let mut subprog_funcs = Vec::new();
    if !extras.is_empty() {
        add_structs(&mut btf, &mut local, extras)?;
        subprog_funcs = add_subprog_funcs(&mut btf, &mut local, extras)?;
    }
    let mut value_types = HashMap::new();
    for mv in &extras.map_values {
        if let Some(id) = local.structs.get(&mv.value_struct) {
            value_types.insert(mv.map.as_str(), *id);
        }
    }

    if !spec.maps.is_empty() {
        add_maps_btf(&mut btf, int, &spec.maps, &value_types)?;
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
            for (idx, li) in normalized_line_info(&prog.line_info) {
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
    if !extras.subprograms.is_empty() {
        let any_lines = spec.programs.iter().any(|p| !p.line_info.is_empty());
        let (funcs, records) = text_ext(&mut btf, extras, &subprog_funcs, any_lines)?;
        let sec_name = btf.add_str(TEXT_SECTION)?;
        func_info.push(ExtSection {
            sec_name,
            records: funcs,
        });
        line_info.push(ExtSection { sec_name, records });
    }
    // Last, so that the runtime can drop it without renumbering types.
    add_ksyms(&mut btf, &mut local, &kfuncs_used(extras))?;
    Ok(BtfOut {
        btf,
        func_info,
        line_info,
        struct_ids: local.structs,
    })
}

fn line_rec(btf: &mut Btf, slot: usize, li: &LineInfo) -> Result<LineInfoRec, ElfError> {
    Ok(LineInfoRec {
        insn_off: byte_off(slot)?,
        file_name: btf.add_str(&li.file_name)?,
        line: btf.add_str(&li.line_text)?,
        line_col: (li.line.min(MAX_LINE) << 10) | li.col.min(MAX_COL),
    })
}

/// func_info and line_info of the `.text` section: one function record per
/// subprogram, and its line records (one naming the subprogram at its
/// start when it has none but programs do: the kernel then wants line info
/// at the start of every function).
fn text_ext(
    btf: &mut Btf,
    extras: &ObjectExtras,
    funcs: &[TypeId],
    any_lines: bool,
) -> Result<(Vec<FuncInfo>, Vec<LineInfoRec>), ElfError> {
    let mut func_recs = Vec::new();
    let mut line_recs = Vec::new();
    let mut start = 0usize;
    for (sub, type_id) in extras.subprograms.iter().zip(funcs) {
        func_recs.push(FuncInfo {
            insn_off: byte_off(start)?,
            type_id: *type_id,
        });
        let synthetic = [LineInfo {
            insn_idx: 0,
            file_name: "<nfl>".to_string(),
            line_text: sub.name.clone(),
            line: 0,
            col: 0,
        }];
        let lines: &[LineInfo] = if sub.line_info.is_empty() && any_lines {
            &synthetic
        } else {
            &sub.line_info
        };
        for (idx, li) in normalized_line_info(lines) {
            line_recs.push(line_rec(btf, start + idx, li)?);
        }
        start += sub.insns.len();
    }
    Ok((func_recs, line_recs))
}

/// Adds `struct { int (*type)[T]; ... } name SEC(".maps")` per map and the
/// `.maps` DATASEC.
///
/// A map in `value_types` is described with `key` (`int`) and `value`
/// (the struct) pointer members instead of `key_size` and `value_size`.
fn add_maps_btf(
    btf: &mut Btf,
    int: TypeId,
    maps: &[MapSpec],
    value_types: &HashMap<&str, TypeId>,
) -> Result<(), ElfError> {
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
        if let Some(value) = value_types.get(map.name.as_str()) {
            typed_key_value(btf, int, *value, &mut members)?;
        }
        let st = btf.add_type(BtfType::Struct {
            name: StrOff(0),
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

/// Replaces the `key_size` and `value_size` members (1 and 2) by
/// `int *key` and `struct V *value`.
fn typed_key_value(
    btf: &mut Btf,
    int: TypeId,
    value: TypeId,
    members: &mut [Member],
) -> Result<(), ElfError> {
    let key_ptr = btf.add_type(BtfType::Ptr { to: int })?;
    let value_ptr = btf.add_type(BtfType::Ptr { to: value })?;
    let key_name = btf.add_str("key")?;
    let value_name = btf.add_str("value")?;
    if let Some(m) = members.get_mut(1) {
        m.name = key_name;
        m.ty = key_ptr;
    }
    if let Some(m) = members.get_mut(2) {
        m.name = value_name;
        m.ty = value_ptr;
    }
    Ok(())
}
