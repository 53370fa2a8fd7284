//! A small writer for the BTF type format (`.BTF`) and its ELF extension
//! (`.BTF.ext`), as described in the kernel's `Documentation/bpf/btf.rst`.
//!
//! Only the kinds that our objects use are modelled. Type ids start at 1
//! (0 is `void`) and follow insertion order; strings are deduplicated in
//! insertion order, so the same sequence of calls always gives the same
//! bytes.

use std::collections::HashMap;

pub const BTF_MAGIC: u16 = 0xeb9f;
pub const BTF_VERSION: u8 = 1;
const BTF_HEADER_LEN: u32 = 24;
/// `.BTF.ext` header with the optional CO-RE part (which we leave empty).
const BTF_EXT_HEADER_LEN: u32 = 32;

pub const BTF_KIND_INT: u32 = 1;
pub const BTF_KIND_PTR: u32 = 2;
pub const BTF_KIND_ARRAY: u32 = 3;
pub const BTF_KIND_STRUCT: u32 = 4;
pub const BTF_KIND_FWD: u32 = 7;
pub const BTF_KIND_CONST: u32 = 10;
pub const BTF_KIND_FUNC: u32 = 12;
pub const BTF_KIND_FUNC_PROTO: u32 = 13;
pub const BTF_KIND_VAR: u32 = 14;
pub const BTF_KIND_DATASEC: u32 = 15;
pub const BTF_KIND_DECL_TAG: u32 = 17;

/// `BTF_INT_SIGNED` in the INT encoding bits.
pub const BTF_INT_SIGNED: u32 = 1;
/// `BTF_INT_BOOL`: C's `_Bool`.
pub const BTF_INT_BOOL: u32 = 4;
/// FUNC linkage, stored in the vlen bits.
pub const BTF_FUNC_STATIC: u32 = 0;
pub const BTF_FUNC_GLOBAL: u32 = 1;
/// An extern declaration (a kfunc in `.ksyms`); libbpf resolves it, the
/// kernel refuses it in loaded BTF.
pub const BTF_FUNC_EXTERN: u32 = 2;
/// VAR linkage.
pub const BTF_VAR_STATIC: u32 = 0;
pub const BTF_VAR_GLOBAL_ALLOCATED: u32 = 1;

/// A type id; 0 is `void`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct TypeId(pub u32);

/// An offset into the BTF string table.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct StrOff(pub u32);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub name: StrOff,
    pub ty: TypeId,
    pub bit_offset: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Param {
    pub name: StrOff,
    pub ty: TypeId,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VarSecInfo {
    pub var: TypeId,
    pub offset: u32,
    pub size: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BtfType {
    Int {
        name: StrOff,
        size: u32,
        encoding: u32,
        bits: u32,
    },
    Ptr {
        to: TypeId,
    },
    Array {
        elem: TypeId,
        index: TypeId,
        nelems: u32,
    },
    Struct {
        name: StrOff,
        size: u32,
        members: Vec<Member>,
    },
    Fwd {
        name: StrOff,
        is_union: bool,
    },
    FuncProto {
        ret: TypeId,
        params: Vec<Param>,
    },
    Func {
        name: StrOff,
        proto: TypeId,
        linkage: u32,
    },
    Var {
        name: StrOff,
        ty: TypeId,
        linkage: u32,
    },
    DataSec {
        name: StrOff,
        size: u32,
        vars: Vec<VarSecInfo>,
    },
    Const {
        to: TypeId,
    },
    /// `__attribute__((btf_decl_tag(name)))` on `ty`, or on its member
    /// `component_idx` (-1 for the type itself).
    DeclTag {
        name: StrOff,
        ty: TypeId,
        component_idx: i32,
    },
}

/// Why BTF could not be built: a count does not fit its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BtfError {
    #[error("BTF {what} too large ({count})")]
    TooLarge { what: &'static str, count: usize },
}

fn u32_of(what: &'static str, count: usize) -> Result<u32, BtfError> {
    u32::try_from(count).map_err(|_| BtfError::TooLarge { what, count })
}

fn vlen(what: &'static str, count: usize) -> Result<u32, BtfError> {
    if count > 0xffff {
        return Err(BtfError::TooLarge { what, count });
    }
    u32_of(what, count)
}

fn info(kind: u32, vlen: u32, kind_flag: bool) -> u32 {
    (u32::from(kind_flag) << 31) | (kind << 24) | (vlen & 0xffff)
}

fn push_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Builder for a `.BTF` section.
#[derive(Debug, Default, Clone)]
pub struct Btf {
    strings: Vec<u8>,
    string_offs: HashMap<String, StrOff>,
    types: Vec<BtfType>,
}

impl Btf {
    pub fn new() -> Btf {
        Btf {
            strings: vec![0],
            string_offs: HashMap::new(),
            types: Vec::new(),
        }
    }

    /// Interns a string. The empty string is offset 0. Strings must not
    /// contain NUL; a NUL ends the string early, as C would read it.
    pub fn add_str(&mut self, s: &str) -> Result<StrOff, BtfError> {
        let s = s.split('\0').next().unwrap_or("");
        if s.is_empty() {
            return Ok(StrOff(0));
        }
        if let Some(off) = self.string_offs.get(s) {
            return Ok(*off);
        }
        let off = StrOff(u32_of("string table", self.strings.len())?);
        self.strings.extend_from_slice(s.as_bytes());
        self.strings.push(0);
        self.string_offs.insert(s.to_string(), off);
        Ok(off)
    }

    pub fn add_type(&mut self, ty: BtfType) -> Result<TypeId, BtfError> {
        self.types.push(ty);
        Ok(TypeId(u32_of("type count", self.types.len())?))
    }

    pub fn types(&self) -> &[BtfType] {
        &self.types
    }

    pub fn get(&self, id: TypeId) -> Option<&BtfType> {
        let idx = usize::try_from(id.0).ok()?.checked_sub(1)?;
        self.types.get(idx)
    }

    /// The string at `off`, if it is the start of one.
    pub fn str_at(&self, off: StrOff) -> Option<&str> {
        let start = usize::try_from(off.0).ok()?;
        let rest = self.strings.get(start..)?;
        let end = rest.iter().position(|b| *b == 0)?;
        std::str::from_utf8(rest.get(..end)?).ok()
    }

    /// Serializes header, type section and string section.
    pub fn to_bytes(&self) -> Result<Vec<u8>, BtfError> {
        let mut types = Vec::new();
        for ty in &self.types {
            match ty {
                BtfType::Int {
                    name,
                    size,
                    encoding,
                    bits,
                } => {
                    push_u32(&mut types, name.0);
                    push_u32(&mut types, info(BTF_KIND_INT, 0, false));
                    push_u32(&mut types, *size);
                    push_u32(&mut types, (encoding << 24) | (bits & 0xff));
                }
                BtfType::Ptr { to } => {
                    push_u32(&mut types, 0);
                    push_u32(&mut types, info(BTF_KIND_PTR, 0, false));
                    push_u32(&mut types, to.0);
                }
                BtfType::Array {
                    elem,
                    index,
                    nelems,
                } => {
                    push_u32(&mut types, 0);
                    push_u32(&mut types, info(BTF_KIND_ARRAY, 0, false));
                    push_u32(&mut types, 0);
                    push_u32(&mut types, elem.0);
                    push_u32(&mut types, index.0);
                    push_u32(&mut types, *nelems);
                }
                BtfType::Struct {
                    name,
                    size,
                    members,
                } => {
                    push_u32(&mut types, name.0);
                    let n = vlen("struct members", members.len())?;
                    push_u32(&mut types, info(BTF_KIND_STRUCT, n, false));
                    push_u32(&mut types, *size);
                    for m in members {
                        push_u32(&mut types, m.name.0);
                        push_u32(&mut types, m.ty.0);
                        push_u32(&mut types, m.bit_offset);
                    }
                }
                BtfType::Fwd { name, is_union } => {
                    push_u32(&mut types, name.0);
                    push_u32(&mut types, info(BTF_KIND_FWD, 0, *is_union));
                    push_u32(&mut types, 0);
                }
                BtfType::FuncProto { ret, params } => {
                    push_u32(&mut types, 0);
                    let n = vlen("function parameters", params.len())?;
                    push_u32(&mut types, info(BTF_KIND_FUNC_PROTO, n, false));
                    push_u32(&mut types, ret.0);
                    for p in params {
                        push_u32(&mut types, p.name.0);
                        push_u32(&mut types, p.ty.0);
                    }
                }
                BtfType::Func {
                    name,
                    proto,
                    linkage,
                } => {
                    push_u32(&mut types, name.0);
                    push_u32(&mut types, info(BTF_KIND_FUNC, *linkage, false));
                    push_u32(&mut types, proto.0);
                }
                BtfType::Var { name, ty, linkage } => {
                    push_u32(&mut types, name.0);
                    push_u32(&mut types, info(BTF_KIND_VAR, 0, false));
                    push_u32(&mut types, ty.0);
                    push_u32(&mut types, *linkage);
                }
                BtfType::DataSec { name, size, vars } => {
                    push_u32(&mut types, name.0);
                    let n = vlen("datasec variables", vars.len())?;
                    push_u32(&mut types, info(BTF_KIND_DATASEC, n, false));
                    push_u32(&mut types, *size);
                    for v in vars {
                        push_u32(&mut types, v.var.0);
                        push_u32(&mut types, v.offset);
                        push_u32(&mut types, v.size);
                    }
                }
                BtfType::Const { to } => {
                    push_u32(&mut types, 0);
                    push_u32(&mut types, info(BTF_KIND_CONST, 0, false));
                    push_u32(&mut types, to.0);
                }
                BtfType::DeclTag {
                    name,
                    ty,
                    component_idx,
                } => {
                    push_u32(&mut types, name.0);
                    push_u32(&mut types, info(BTF_KIND_DECL_TAG, 0, false));
                    push_u32(&mut types, ty.0);
                    push_u32(&mut types, *component_idx as u32);
                }
            }
        }
        let type_len = u32_of("type section", types.len())?;
        let str_len = u32_of("string section", self.strings.len())?;
        let mut out = Vec::with_capacity(24 + types.len() + self.strings.len());
        out.extend_from_slice(&BTF_MAGIC.to_le_bytes());
        out.push(BTF_VERSION);
        out.push(0); // flags
        push_u32(&mut out, BTF_HEADER_LEN);
        push_u32(&mut out, 0); // type_off
        push_u32(&mut out, type_len);
        push_u32(&mut out, type_len); // str_off
        push_u32(&mut out, str_len);
        out.extend_from_slice(&types);
        out.extend_from_slice(&self.strings);
        Ok(out)
    }
}

/// `struct bpf_func_info` as stored in `.BTF.ext`: `insn_off` in bytes from
/// the start of the ELF section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FuncInfo {
    pub insn_off: u32,
    pub type_id: TypeId,
}

/// `struct bpf_line_info` as stored in `.BTF.ext`: `insn_off` in bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineInfoRec {
    pub insn_off: u32,
    pub file_name: StrOff,
    pub line: StrOff,
    /// `line << 10 | col`.
    pub line_col: u32,
}

/// The records of one ELF section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtSection<T> {
    pub sec_name: StrOff,
    pub records: Vec<T>,
}

/// Builds the `.BTF.ext` section: func_info and line_info, no CO-RE
/// relocations.
pub fn btf_ext_bytes(
    func_info: &[ExtSection<FuncInfo>],
    line_info: &[ExtSection<LineInfoRec>],
) -> Result<Vec<u8>, BtfError> {
    let mut func = Vec::new();
    push_u32(&mut func, 8); // record size
    for sec in func_info {
        push_u32(&mut func, sec.sec_name.0);
        push_u32(&mut func, u32_of("func_info records", sec.records.len())?);
        for rec in &sec.records {
            push_u32(&mut func, rec.insn_off);
            push_u32(&mut func, rec.type_id.0);
        }
    }
    let mut line = Vec::new();
    if line_info.iter().any(|sec| !sec.records.is_empty()) {
        push_u32(&mut line, 16); // record size
        for sec in line_info.iter().filter(|sec| !sec.records.is_empty()) {
            push_u32(&mut line, sec.sec_name.0);
            push_u32(&mut line, u32_of("line_info records", sec.records.len())?);
            for rec in &sec.records {
                push_u32(&mut line, rec.insn_off);
                push_u32(&mut line, rec.file_name.0);
                push_u32(&mut line, rec.line.0);
                push_u32(&mut line, rec.line_col);
            }
        }
    }
    let func_len = u32_of("func_info", func.len())?;
    let line_len = u32_of("line_info", line.len())?;
    let mut out = Vec::new();
    out.extend_from_slice(&BTF_MAGIC.to_le_bytes());
    out.push(BTF_VERSION);
    out.push(0); // flags
    push_u32(&mut out, BTF_EXT_HEADER_LEN);
    push_u32(&mut out, 0); // func_info_off
    push_u32(&mut out, func_len);
    push_u32(&mut out, func_len); // line_info_off
    push_u32(&mut out, line_len);
    push_u32(&mut out, func_len.saturating_add(line_len)); // core_relo_off
    push_u32(&mut out, 0); // core_relo_len
    out.extend_from_slice(&func);
    out.extend_from_slice(&line);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_and_strings() {
        let mut btf = Btf::new();
        let name = btf.add_str("int").unwrap();
        assert_eq!(name, StrOff(1));
        assert_eq!(btf.add_str("int").unwrap(), StrOff(1));
        assert_eq!(btf.add_str("").unwrap(), StrOff(0));
        let id = btf
            .add_type(BtfType::Int {
                name,
                size: 4,
                encoding: BTF_INT_SIGNED,
                bits: 32,
            })
            .unwrap();
        assert_eq!(id, TypeId(1));
        assert_eq!(btf.str_at(name), Some("int"));
        let bytes = btf.to_bytes().unwrap();
        let expected: Vec<u8> = [
            &[0x9f, 0xeb, 1, 0][..],
            &24u32.to_le_bytes(),
            &0u32.to_le_bytes(),
            &16u32.to_le_bytes(),
            &16u32.to_le_bytes(),
            &5u32.to_le_bytes(),
            &1u32.to_le_bytes(),
            &0x0100_0000u32.to_le_bytes(),
            &4u32.to_le_bytes(),
            &0x0100_0020u32.to_le_bytes(),
            b"\0int\0",
        ]
        .concat();
        assert_eq!(bytes, expected);
    }

    #[test]
    fn ext_header_offsets() {
        let func = [ExtSection {
            sec_name: StrOff(5),
            records: vec![FuncInfo {
                insn_off: 0,
                type_id: TypeId(3),
            }],
        }];
        let bytes = btf_ext_bytes(&func, &[]).unwrap();
        // Header (32), then rec size + one section of one record.
        assert_eq!(bytes.len(), 32 + 4 + 8 + 8);
        assert_eq!(&bytes[8..12], &0u32.to_le_bytes());
        assert_eq!(&bytes[12..16], &20u32.to_le_bytes());
        assert_eq!(&bytes[20..24], &0u32.to_le_bytes());
    }
}
