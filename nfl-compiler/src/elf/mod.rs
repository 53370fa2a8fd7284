//! eBPF ELF objects: a writer for the objects that `nflc build` emits and a
//! reader of program code for `nflc disasm`.
//!
//! The layout follows what clang and libbpf agree on (see
//! `docs/object-format.md`):
//! - one executable section per program section name (`xdp`,
//!   `classifier`, ...), each program a GLOBAL `STT_FUNC` symbol with its
//!   true size;
//! - `license` with a `_license` object symbol;
//! - `.maps` holding BTF-defined maps, one GLOBAL `STT_OBJECT` symbol per
//!   map, and `.rel<section>` relocations (`R_BPF_64_64`, implicit addend
//!   0) from each map-referencing `LD_IMM64` to its map symbol;
//! - `.BTF` with the program and map types, and `.BTF.ext` with func_info
//!   and line_info.
//!
//! [`write_object_with`] adds what kfuncs and the kernel's graph data
//! structures need ([`ObjectExtras`]): subprograms in `.text` (LOCAL
//! `STT_FUNC`, func_info per subprogram, `R_BPF_64_64`/`R_BPF_64_32`
//! relocations from the loads and calls that refer to them), kfunc calls
//! (`R_BPF_64_32` to an undefined NOTYPE symbol, an extern `FUNC` in a
//! `.ksyms` DATASEC), local structs with `contains:` DECL_TAGs, and map
//! values typed by them. See `docs/kfuncs.md`.
//!
//! Writing is pure and deterministic: the same [`ObjectSpec`] always gives
//! the same bytes.

pub mod btf;
mod btf_build;
mod ext_validate;
pub mod extras;
mod graph_btf;
pub mod kfunc;
#[cfg(test)]
mod kfunc_tests;
mod read;
mod validate;
mod write;

pub use extras::{
    Contains, FieldSpec, FieldType, FuncRef, KfuncCall, MapValue, ObjectExtras, StructLayout,
    StructSpec, SubprogKind, SubprogramSpec, TypeIdLoad,
};
pub use kfunc::KernelStruct;
pub use read::read_programs;
pub use write::{local_type_ids, write_object, write_object_with};

use crate::bpf::Insn;

/// One object file: license, programs and the maps they use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectSpec {
    /// Written to the `license` section with a trailing NUL.
    pub license: String,
    pub programs: Vec<ProgramSpec>,
    pub maps: Vec<MapSpec>,
    /// Extra non-allocated sections `(name, bytes)` that loaders skip
    /// (nflc keeps its schema there).
    pub notes: Vec<(String, Vec<u8>)>,
}

impl Default for ObjectSpec {
    fn default() -> ObjectSpec {
        ObjectSpec {
            license: "GPL".to_string(),
            programs: Vec::new(),
            maps: Vec::new(),
            notes: Vec::new(),
        }
    }
}

/// The context argument of a program, which fixes its BTF prototype.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CtxKind {
    /// `int name(struct xdp_md *ctx)`
    Xdp,
    /// `int name(struct __sk_buff *ctx)`
    Tc,
}

impl CtxKind {
    /// The name of the context struct, as the verifier matches it.
    pub fn struct_name(self) -> &'static str {
        match self {
            CtxKind::Xdp => "xdp_md",
            CtxKind::Tc => "__sk_buff",
        }
    }
}

/// One program. Programs with the same `section` share one ELF section, in
/// the order given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramSpec {
    /// Symbol and BTF FUNC name; a C identifier.
    pub name: String,
    /// ELF section: `xdp`, `classifier` or `tc` (or any libbpf section name).
    pub section: String,
    pub ctx: CtxKind,
    pub insns: Vec<Insn>,
    pub map_relocs: Vec<MapReloc>,
    pub line_info: Vec<LineInfo>,
}

/// The `LD_IMM64` at `insn_idx` (its first slot) loads the map `map`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapReloc {
    pub insn_idx: usize,
    pub map: String,
}

/// Source position of the instruction at `insn_idx`. The verifier log
/// prints `; <line_text> @ <file_name>:<line>` before the instruction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineInfo {
    pub insn_idx: usize,
    pub file_name: String,
    pub line_text: String,
    pub line: u32,
    pub col: u32,
}

/// A BTF-defined map in `.maps`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapSpec {
    /// Symbol and BTF VAR name; a C identifier. The kernel keeps the first
    /// 15 bytes as the map's name.
    pub name: String,
    /// `BPF_MAP_TYPE_*`.
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub flags: u32,
    /// `pinning = LIBBPF_PIN_BY_NAME`: a loader given a pin directory
    /// reuses the map pinned there under this name, or pins a new one.
    pub pinned: bool,
}

/// A program read back from an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadProgram {
    pub name: String,
    pub section: String,
    pub insns: Vec<Insn>,
}

/// Why an object could not be written or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ElfError {
    #[error("{what} name `{name}` is not a C identifier")]
    InvalidName { what: &'static str, name: String },
    #[error("name `{name}` is used twice (programs and maps share the symbol table)")]
    DuplicateName { name: String },
    #[error("invalid section name `{section}` for program `{program}`")]
    InvalidSection { program: String, section: String },
    #[error("program `{program}` has no instructions")]
    EmptyProgram { program: String },
    #[error("program `{program}`: map relocation names unknown map `{map}`")]
    UnknownMap { program: String, map: String },
    #[error(
        "program `{program}`: map relocation at insn {insn_idx} is not the first slot of a complete LD_IMM64"
    )]
    RelocNotLdImm64 { program: String, insn_idx: usize },
    #[error("program `{program}`: line info at insn {insn_idx} {reason}")]
    BadLineInfo {
        program: String,
        insn_idx: usize,
        reason: &'static str,
    },
    #[error(
        "program `{program}`: insn {insn_idx} refers to a subprogram that no elf::FuncRef names (write_object_with)"
    )]
    SubprogramsUnsupported { program: String, insn_idx: usize },
    #[error("kfunc/graph extras: {0}")]
    InvalidExtra(String),
    #[error("object too large: {0}")]
    TooLarge(String),
    #[error("BTF: {0}")]
    Btf(#[from] btf::BtfError),
    #[error("ELF writer: {0}")]
    Write(String),
    #[error("cannot read ELF object: {0}")]
    Read(String),
    #[error("not an eBPF object (machine {machine})")]
    NotBpf { machine: String },
    #[error("section `{section}`: {source}")]
    Decode {
        section: String,
        source: crate::bpf::DecodeError,
    },
}

/// True for a C identifier, which BTF requires of FUNC and VAR names.
pub(crate) fn is_c_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c == '_' || c.is_ascii_alphabetic() => {}
        _ => return false,
    }
    chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}
