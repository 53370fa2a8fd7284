//! The compiler's entry point: source text to a checked program, to code, to
//! an object file. Every user-facing failure is a [`Diagnostic`].

use nfl_syntax::ast::{Hook, Module, Span};
use nfl_syntax::{Diagnostic, SourceMap};

use crate::elf::{CtxKind, LineInfo, MapReloc, MapSpec, ObjectSpec, ProgramSpec};
use crate::frontend::{ModuleLoader, load_program};
use crate::hir::Hir;
use crate::pipeline::{Codegen, CodegenError};

/// A failed compilation: the sources (to render with) and every diagnostic.
#[derive(Debug)]
pub struct Failed {
    pub sources: SourceMap,
    pub diagnostics: Vec<Diagnostic>,
}

/// The checked front-end result.
#[derive(Debug)]
pub struct Checked {
    pub sources: SourceMap,
    pub modules: Vec<Module>,
    pub hir: Hir,
    pub warnings: Vec<Diagnostic>,
}

/// A complete build of one program.
#[derive(Debug)]
pub struct Build {
    pub checked: Checked,
    pub codegen: Codegen,
    /// ELF section of the program (`xdp` or `classifier`).
    pub section: &'static str,
    pub object: Vec<u8>,
    /// What the object says about itself (also inside `object`).
    pub schema: crate::schema::Schema,
}

/// The ELF section a hook's program goes in.
pub fn section_for(hook: Hook) -> &'static str {
    match hook {
        Hook::Xdp => "xdp",
        Hook::Tc => "classifier",
    }
}

/// Parse, resolve imports and check.
pub fn check(root_name: &str, root_text: &str, loader: &mut dyn ModuleLoader) -> Result<Checked, Failed> {
    check_with(root_name, root_text, loader, None)
}

/// [`check`] with a YAML config file `(name, text)`.
pub fn check_with(
    root_name: &str,
    root_text: &str,
    loader: &mut dyn ModuleLoader,
    config: Option<(&str, &str)>,
) -> Result<Checked, Failed> {
    let (mut sources, modules, diags) = load_program(root_name, root_text, loader);
    if diags.iter().any(Diagnostic::is_error) {
        return Err(Failed { sources, diagnostics: diags });
    }
    let config_file = config.map(|(name, text)| sources.add(name, text));
    let (hir, mut more) = crate::check::check_with_config(&sources, &modules, config_file);
    let mut all = diags;
    all.append(&mut more);
    match hir {
        Some(hir) => Ok(Checked { sources, modules, hir, warnings: all }),
        None => Err(Failed { sources, diagnostics: all }),
    }
}

fn codegen_diagnostic(err: &CodegenError, span: Span) -> Diagnostic {
    let (code, help) = match err {
        CodegenError::Alloc(_) => (
            "nfl::E0901",
            "keep fewer values alive at once: split long expressions or drop unused `let`s",
        ),
        CodegenError::Emit(crate::lower::emit::EmitError::JumpTooFar) => {
            ("nfl::E0902", "the program is too large for one eBPF program; simplify it")
        }
        CodegenError::IrInvalid { .. } | CodegenError::Emit(_) => {
            ("nfl::E0999", "this is a bug in nflc; please report it with the input file")
        }
    };
    Diagnostic::error(code, err.to_string(), span, "while compiling this program").with_help(help)
}

/// Source position records for the object's `.BTF.ext` line_info, so the
/// verifier's log quotes `.nf` lines.
pub fn line_info(sources: &SourceMap, lines: &[(usize, Span)]) -> Vec<LineInfo> {
    let mut out: Vec<LineInfo> = Vec::new();
    for &(insn_idx, span) in lines {
        let Some(file) = sources.get(span.file) else { continue };
        let start = (span.start as usize).min(file.text.len());
        let line_start = file.text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = file.text[start..].find('\n').map_or(file.text.len(), |i| start + i);
        let line = file.text[..start].bytes().filter(|b| *b == b'\n').count() as u32 + 1;
        let col = (start - line_start) as u32 + 1;
        let rec = LineInfo {
            insn_idx,
            file_name: file.name.clone(),
            line_text: file.text[line_start..line_end].trim().to_string(),
            line,
            col,
        };
        // One record per instruction: a later span at the same index wins.
        if out.last().is_some_and(|l| l.insn_idx == insn_idx) {
            out.pop();
        }
        out.push(rec);
    }
    out
}

fn map_spec(m: &crate::ir::MapDef) -> MapSpec {
    MapSpec {
        name: m.name.clone(),
        map_type: m.kind.type_id(),
        key_size: m.key_size,
        value_size: m.value_size,
        max_entries: m.max_entries,
        flags: m.flags,
        pinned: false,
    }
}

/// The ELF object of one compiled program and its maps.
pub fn object_bytes(
    name: &str,
    hook: Hook,
    codegen: &Codegen,
    line_info: Vec<LineInfo>,
    schema: Option<&crate::schema::Schema>,
) -> Result<Vec<u8>, crate::elf::ElfError> {
    let ctx = match hook {
        Hook::Xdp => CtxKind::Xdp,
        Hook::Tc => CtxKind::Tc,
    };
    let spec = ObjectSpec {
        license: "GPL".into(),
        programs: vec![ProgramSpec {
            name: name.to_string(),
            section: section_for(hook).into(),
            ctx,
            insns: codegen.insns.clone(),
            map_relocs: codegen
                .map_refs
                .iter()
                .map(|&(insn_idx, m)| MapReloc { insn_idx, map: codegen.ir.maps[m as usize].name.clone() })
                .collect(),
            line_info,
        }],
        maps: codegen.ir.maps.iter().map(map_spec).collect(),
        notes: schema.map(|s| (crate::schema::SECTION.to_string(), s.to_json())).into_iter().collect(),
    };
    if codegen.extras.is_empty() {
        crate::elf::write_object(&spec)
    } else {
        crate::elf::write_object_with(&spec, &codegen.extras)
    }
}

/// Compile a checked program to an object (the `helpers` profile).
pub fn build_checked(checked: Checked) -> Result<Build, Failed> {
    build_checked_for(checked, crate::target::Target::Helpers)
}

/// Compile a checked program to an object for a capability profile.
pub fn build_checked_for(checked: Checked, target: crate::target::Target) -> Result<Build, Failed> {
    let span = checked.hir.span;
    let codegen = match crate::pipeline::codegen_for(&checked.hir, target) {
        Ok(cg) => cg,
        Err(e) => {
            let d = codegen_diagnostic(&e, span);
            return Err(Failed { sources: checked.sources, diagnostics: vec![d] });
        }
    };
    let section = section_for(checked.hir.hook);
    let lines = line_info(&checked.sources, &codegen.lines);
    let schema = match crate::schema::Schema::describe(&checked.hir, &codegen.ir.maps) {
        Ok(mut s) => {
            s.queues = checked.hir.queues.iter().map(|q| crate::schema::QueueSchema::new(q, target)).collect();
            s.explain.extend(codegen.explain.iter().cloned());
            s
        }
        Err(e) => {
            let d = Diagnostic::error("nfl::E0904", format!("cannot fill the tables: {e}"), span, "this program")
                .with_help("a table's entries need more mask slots or map entries than it has; raise `masks` or `size`");
            return Err(Failed { sources: checked.sources, diagnostics: vec![d] });
        }
    };
    match object_bytes(&checked.hir.name, checked.hir.hook, &codegen, lines, Some(&schema)) {
        Ok(object) => Ok(Build { checked, codegen, section, object, schema }),
        Err(e) => {
            let d = Diagnostic::error("nfl::E0903", format!("cannot write the object: {e}"), span, "this program")
                .with_help("names of controls must be C identifiers");
            Err(Failed { sources: checked.sources, diagnostics: vec![d] })
        }
    }
}

/// Source text to object, in one call.
pub fn build(root_name: &str, root_text: &str, loader: &mut dyn ModuleLoader) -> Result<Build, Failed> {
    build_checked(check(root_name, root_text, loader)?)
}

/// [`build`] with a YAML config file `(name, text)`.
pub fn build_with(
    root_name: &str,
    root_text: &str,
    loader: &mut dyn ModuleLoader,
    config: Option<(&str, &str)>,
) -> Result<Build, Failed> {
    build_checked(check_with(root_name, root_text, loader, config)?)
}

/// [`build_with`] for a capability profile.
pub fn build_for(
    root_name: &str,
    root_text: &str,
    loader: &mut dyn ModuleLoader,
    config: Option<(&str, &str)>,
    target: crate::target::Target,
) -> Result<Build, Failed> {
    build_checked_for(check_with(root_name, root_text, loader, config)?, target)
}
