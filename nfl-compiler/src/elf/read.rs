//! Reads program code back out of an eBPF ELF object, ours or clang's.

use object::{
    Architecture, Object, ObjectSection, ObjectSymbol, SectionIndex, SectionKind, SymbolKind,
};

use super::{ElfError, ReadProgram};
use crate::bpf::encode::{INSN_SIZE, decode};

fn read_err(e: object::read::Error) -> ElfError {
    ElfError::Read(e.to_string())
}

/// Every function in every executable section, ordered by section and
/// offset. A function is an `STT_FUNC` symbol (programs and, in clang
/// objects, `.text` subprograms); a symbol of size 0 extends to the next
/// function or the end of its section. An executable section without
/// function symbols is read as one program named after the section.
pub fn read_programs(elf: &[u8]) -> Result<Vec<ReadProgram>, ElfError> {
    let file = object::File::parse(elf).map_err(read_err)?;
    if file.architecture() != Architecture::Bpf {
        return Err(ElfError::NotBpf {
            machine: format!("{:?}", file.architecture()),
        });
    }

    // (section, start, declared size, name) of every function symbol.
    let mut funcs: Vec<(SectionIndex, u64, u64, String)> = Vec::new();
    for sym in file.symbols() {
        if sym.kind() != SymbolKind::Text {
            continue;
        }
        let Some(section) = sym.section_index() else {
            continue;
        };
        let name = sym.name().map_err(read_err)?.to_string();
        funcs.push((section, sym.address(), sym.size(), name));
    }
    funcs.sort_by(|a, b| (a.0.0, a.1, &a.3).cmp(&(b.0.0, b.1, &b.3)));

    let mut programs = Vec::new();
    for section in file.sections() {
        if section.kind() != SectionKind::Text {
            continue;
        }
        let section_name = section.name().map_err(read_err)?.to_string();
        let data = section.data().map_err(read_err)?;
        let decode_range = |start: u64, end: u64| -> Result<Vec<crate::bpf::Insn>, ElfError> {
            let bytes = usize::try_from(start)
                .ok()
                .zip(usize::try_from(end).ok())
                .and_then(|(s, e)| data.get(s..e))
                .ok_or_else(|| {
                    ElfError::Read(format!(
                        "function range {start}..{end} outside section `{section_name}` of {} bytes",
                        data.len()
                    ))
                })?;
            decode(bytes).map_err(|source| ElfError::Decode {
                section: section_name.clone(),
                source,
            })
        };
        let here: Vec<&(SectionIndex, u64, u64, String)> =
            funcs.iter().filter(|f| f.0 == section.index()).collect();
        if here.is_empty() {
            if data.is_empty() {
                continue;
            }
            programs.push(ReadProgram {
                name: section_name.clone(),
                section: section_name.clone(),
                insns: decode_range(0, data.len() as u64)?,
            });
            continue;
        }
        for (i, (_, start, size, name)) in here.iter().enumerate() {
            let end = if *size > 0 {
                start.saturating_add(*size)
            } else {
                here.get(i + 1).map_or(data.len() as u64, |next| next.1)
            };
            if (end.saturating_sub(*start)) % INSN_SIZE as u64 != 0 && *size == 0 {
                return Err(ElfError::Read(format!(
                    "function `{name}` is not whole instructions"
                )));
            }
            programs.push(ReadProgram {
                name: name.clone(),
                section: section_name.clone(),
                insns: decode_range(*start, end)?,
            });
        }
    }
    Ok(programs)
}
