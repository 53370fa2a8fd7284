//! kfunc calls for aya 0.14, which resolves neither `.ksyms` externs nor
//! kfunc calls (see `docs/kfuncs.md`).
//!
//! Before aya sees an object, [`prepare_object`] rewrites a copy of its bytes:
//! - every call instruction with a relocation to an undefined symbol gets
//!   `src_reg = BPF_PSEUDO_KFUNC_CALL`, `off = 0` and `imm` = the BTF id of
//!   the FUNC of that name in `/sys/kernel/btf/vmlinux`;
//! - in `.BTF`, extern FUNCs become global (the kernel refuses
//!   `BTF_FUNC_EXTERN`), and the `.ksyms` DATASEC, which must be the last
//!   type, is dropped (the kernel wants only VARs in a DATASEC, and aya would
//!   look for an ELF section of that name to size it). Type ids do not move.
//!
//! Objects without such calls come back untouched (and vmlinux BTF is not
//! read).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;

use object::{Object, ObjectSection, ObjectSymbol, RelocationTarget};

/// Where the running kernel describes its types and functions.
pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

const BTF_KIND_STRUCT: u32 = 4;
const BTF_KIND_UNION: u32 = 5;
const BTF_KIND_FUNC: u32 = 12;
const BTF_KIND_DATASEC: u32 = 15;
const BTF_FUNC_GLOBAL: u32 = 1;
const BTF_FUNC_EXTERN: u32 = 2;
const BPF_PSEUDO_KFUNC_CALL: u8 = 2;
/// `BPF_JMP | BPF_CALL`.
const CALL: u8 = 0x85;

/// Why an object's kfunc calls could not be prepared.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KfuncError {
    #[error("the running kernel lacks kfunc `{0}` (not a FUNC in {VMLINUX_BTF}){note}", note = module_note(.0))]
    Missing(String),
    #[error("cannot read kernel BTF: {0}")]
    KernelBtf(String),
    #[error("kfunc relocations: {0}")]
    Object(String),
}

/// kfunc-lib's kfuncs (`nfl_*`) live in its module, not in vmlinux.
fn module_note(kfunc: &str) -> &'static str {
    if kfunc.starts_with("nfl_") {
        "; it is one of kfunc-lib's (the `enetstl` target), which need the nfl_kfuncs module loaded; build with `--target stock` or `helpers` for this kernel"
    } else {
        ""
    }
}

/// One BTF type, as far as we need it.
struct RawType {
    /// Byte offset of the type record within the type section.
    off: usize,
    /// Record length, header included.
    len: usize,
    kind: u32,
    vlen: u32,
    name_off: u32,
}

fn u32_at(data: &[u8], off: usize) -> Option<u32> {
    let b = data.get(off..off + 4)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// The types of a BTF blob (little-endian) and the byte range of its type
/// and string sections.
struct BtfView {
    types: Vec<RawType>,
    type_start: usize,
    str_start: usize,
    str_len: usize,
}

fn parse_btf(data: &[u8]) -> Result<BtfView, String> {
    if data.get(0..2) != Some(&[0x9f, 0xeb][..]) {
        return Err("bad BTF magic (big-endian BTF is not supported)".into());
    }
    let field = |off| {
        u32_at(data, off)
            .map(|v| v as usize)
            .ok_or("truncated BTF header")
    };
    let hdr_len = field(4)?;
    let (type_off, type_len, str_off, str_len) = (field(8)?, field(12)?, field(16)?, field(20)?);
    let type_start = hdr_len + type_off;
    let types_data = data
        .get(type_start..type_start + type_len)
        .ok_or("type section out of bounds")?;
    let mut types = Vec::new();
    let mut off = 0;
    while off < types_data.len() {
        let name_off = u32_at(types_data, off).ok_or("truncated type")?;
        let info = u32_at(types_data, off + 4).ok_or("truncated type")?;
        let (kind, vlen) = ((info >> 24) & 0x1f, info & 0xffff);
        let extra = match kind {
            1 | 14 | 17 => 4,
            3 => 12,
            4 | 5 | 15 | 19 => 12 * vlen as usize,
            6 | 13 => 8 * vlen as usize,
            2 | 7..=12 | 16 | 18 => 0,
            k => return Err(format!("unknown BTF kind {k}")),
        };
        let len = 12 + extra;
        types.push(RawType {
            off,
            len,
            kind,
            vlen,
            name_off,
        });
        off += len;
    }
    Ok(BtfView {
        types,
        type_start,
        str_start: hdr_len + str_off,
        str_len,
    })
}

fn name_at<'a>(data: &'a [u8], view: &BtfView, name_off: u32) -> Option<&'a str> {
    let strings = data.get(view.str_start..view.str_start + view.str_len)?;
    let rest = strings.get(name_off as usize..)?;
    let end = rest.iter().position(|b| *b == 0)?;
    std::str::from_utf8(rest.get(..end)?).ok()
}

/// FUNC name → type id in a BTF blob (the first of each name).
pub fn btf_func_ids(data: &[u8]) -> Result<HashMap<String, u32>, String> {
    let view = parse_btf(data)?;
    let mut out = HashMap::new();
    for (i, t) in view.types.iter().enumerate() {
        if t.kind == BTF_KIND_FUNC
            && let Some(name) = name_at(data, &view, t.name_off)
        {
            out.entry(name.to_string()).or_insert(i as u32 + 1);
        }
    }
    Ok(out)
}

/// STRUCT and UNION type id → byte size in a BTF blob: what
/// `bpf_obj_new_impl`'s `local_type_id` names (the userspace engine sizes
/// objects by it, where the kernel's verifier rewrites the id to the size).
pub fn btf_struct_sizes(data: &[u8]) -> Result<HashMap<u32, u32>, String> {
    let view = parse_btf(data)?;
    let mut out = HashMap::new();
    for (i, t) in view.types.iter().enumerate() {
        if matches!(t.kind, BTF_KIND_STRUCT | BTF_KIND_UNION) {
            let size = u32_at(data, view.type_start + t.off + 8).ok_or("truncated type")?;
            out.insert(i as u32 + 1, size);
        }
    }
    Ok(out)
}

/// The running kernel's FUNC ids, read once per process.
pub fn vmlinux_func_ids() -> Result<&'static HashMap<String, u32>, KfuncError> {
    static IDS: OnceLock<Result<HashMap<String, u32>, String>> = OnceLock::new();
    IDS.get_or_init(|| {
        let data = std::fs::read(VMLINUX_BTF).map_err(|e| format!("{VMLINUX_BTF}: {e}"))?;
        btf_func_ids(&data)
    })
    .as_ref()
    .map_err(|e| KfuncError::KernelBtf(e.clone()))
}

/// The BTF id of kfunc `name` in the running kernel.
pub fn resolve(name: &str) -> Result<u32, KfuncError> {
    vmlinux_func_ids()?
        .get(name)
        .copied()
        .ok_or_else(|| KfuncError::Missing(name.to_string()))
}

/// A kfunc call site: the file offset of the call instruction and the kfunc.
fn call_sites(file: &object::File<'_>, data: &[u8]) -> Result<Vec<(usize, String)>, KfuncError> {
    let mut sites = Vec::new();
    for section in file.sections() {
        let Some((sec_off, sec_len)) = section.file_range() else {
            continue;
        };
        for (off, reloc) in section.relocations() {
            let RelocationTarget::Symbol(idx) = reloc.target() else {
                continue;
            };
            let sym = file
                .symbol_by_index(idx)
                .map_err(|e| KfuncError::Object(e.to_string()))?;
            if !sym.is_undefined() || off + 8 > sec_len {
                continue;
            }
            let at = (sec_off + off) as usize;
            if data.get(at) != Some(&CALL) {
                continue;
            }
            let name = sym.name().map_err(|e| KfuncError::Object(e.to_string()))?;
            sites.push((at, name.to_string()));
        }
    }
    Ok(sites)
}

/// Makes extern FUNCs global and drops a trailing `.ksyms` DATASEC, in
/// place: the section keeps its size, the strings move up, the tail is
/// zeroed (aya reads only what the header covers).
pub fn sanitize_ksyms_btf(btf: &mut [u8]) -> Result<(), String> {
    let view = parse_btf(btf)?;
    for t in &view.types {
        if t.kind == BTF_KIND_FUNC && t.vlen == BTF_FUNC_EXTERN {
            let at = view.type_start + t.off + 4;
            let info = (BTF_KIND_FUNC << 24) | BTF_FUNC_GLOBAL;
            btf.get_mut(at..at + 4)
                .ok_or("type out of bounds")?
                .copy_from_slice(&info.to_le_bytes());
        }
    }
    let is_ksyms = |t: &RawType| {
        t.kind == BTF_KIND_DATASEC && name_at(btf, &view, t.name_off) == Some(".ksyms")
    };
    let Some(pos) = view.types.iter().position(is_ksyms) else {
        return Ok(());
    };
    let Some(last) = view.types.last().filter(|_| pos + 1 == view.types.len()) else {
        return Err("the `.ksyms` DATASEC must be the last BTF type (as nflc writes it)".into());
    };
    let cut = last.len;
    let strings = btf
        .get(view.str_start..view.str_start + view.str_len)
        .ok_or("strings out of bounds")?
        .to_vec();
    let new_str_start = view.type_start + last.off;
    let end = view.str_start + view.str_len;
    btf.get_mut(new_str_start..new_str_start + strings.len())
        .ok_or("strings out of bounds")?
        .copy_from_slice(&strings);
    btf.get_mut(new_str_start + strings.len()..end)
        .ok_or("tail out of bounds")?
        .fill(0);
    // type_len and str_off both shrink by the DATASEC's length.
    for field in [12usize, 16] {
        let v = u32_at(btf, field).ok_or("truncated header")? - cut as u32;
        btf.get_mut(field..field + 4)
            .ok_or("truncated header")?
            .copy_from_slice(&v.to_le_bytes());
    }
    Ok(())
}

/// The object with its kfunc calls resolved against the running kernel and
/// its BTF made loadable (see the module documentation); borrowed unchanged
/// when it calls no kfunc.
pub fn prepare_object(obj: &[u8]) -> Result<Cow<'_, [u8]>, KfuncError> {
    prepare_object_with(obj, resolve)
}

/// [`prepare_object`] with kfunc numbers from `resolve` (the userspace
/// engine numbers its own kfuncs).
pub fn prepare_object_with(
    obj: &[u8],
    resolve: impl Fn(&str) -> Result<u32, KfuncError>,
) -> Result<Cow<'_, [u8]>, KfuncError> {
    // Not an ELF object: aya reports that, with its own message.
    let Ok(file) = object::File::parse(obj) else {
        return Ok(Cow::Borrowed(obj));
    };
    let sites = call_sites(&file, obj)?;
    if sites.is_empty() {
        return Ok(Cow::Borrowed(obj));
    }
    let btf_range = file.section_by_name(".BTF").and_then(|s| s.file_range());
    let mut out = obj.to_vec();
    for (at, name) in &sites {
        let id = resolve(name)?;
        let insn = out
            .get_mut(*at..*at + 8)
            .ok_or_else(|| KfuncError::Object("call out of bounds".into()))?;
        insn[1] = (BPF_PSEUDO_KFUNC_CALL << 4) | (insn[1] & 0x0f);
        insn[2..4].copy_from_slice(&0i16.to_le_bytes());
        insn[4..8].copy_from_slice(&id.to_le_bytes());
    }
    if let Some((off, len)) = btf_range {
        let btf = out
            .get_mut(off as usize..(off + len) as usize)
            .ok_or_else(|| KfuncError::Object(".BTF out of bounds".into()))?;
        sanitize_ksyms_btf(btf).map_err(KfuncError::Object)?;
    }
    Ok(Cow::Owned(out))
}
