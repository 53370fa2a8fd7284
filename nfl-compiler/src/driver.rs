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
    /// How the program was cut (`None`: one program, `codegen`).
    pub plan: Option<crate::build::stage::StagePlan>,
    /// Stages 1.. of a split program (stage 0 is `codegen`).
    pub stages: Vec<Codegen>,
}

impl Build {
    /// Every stage's symbol and code, the entry first.
    pub fn all_stages(&self) -> Vec<(String, &Codegen)> {
        std::iter::once(&self.codegen)
            .chain(&self.stages)
            .enumerate()
            .map(|(k, cg)| (crate::build::stage::StagePlan::program_name(&self.checked.hir.name, k), cg))
            .collect()
    }
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
    object_bytes_staged(hook, &[(name.to_string(), codegen, line_info)], schema)
}

/// The ELF object of a program in stages `(symbol, code, lines)`, the entry
/// first; every stage goes in the hook's section and shares the maps of
/// the first (the builder gives every stage the same map list).
pub fn object_bytes_staged(
    hook: Hook,
    stages: &[(String, &Codegen, Vec<LineInfo>)],
    schema: Option<&crate::schema::Schema>,
) -> Result<Vec<u8>, crate::elf::ElfError> {
    let ctx = match hook {
        Hook::Xdp => CtxKind::Xdp,
        Hook::Tc => CtxKind::Tc,
    };
    let programs = stages
        .iter()
        .map(|(name, codegen, line_info)| ProgramSpec {
            name: name.clone(),
            section: section_for(hook).into(),
            ctx,
            insns: codegen.insns.clone(),
            map_relocs: codegen
                .map_refs
                .iter()
                .map(|&(insn_idx, m)| MapReloc { insn_idx, map: codegen.ir.maps[m as usize].name.clone() })
                .collect(),
            line_info: line_info.clone(),
        })
        .collect();
    let Some((_, first, _)) = stages.first() else {
        return Err(crate::elf::ElfError::EmptyProgram { program: String::new() });
    };
    let mut extras = first.extras.clone();
    for (_, cg, _) in stages.iter().skip(1) {
        extras.kfunc_calls.extend(cg.extras.kfunc_calls.iter().cloned());
        extras.func_refs.extend(cg.extras.func_refs.iter().cloned());
        extras.type_id_loads.extend(cg.extras.type_id_loads.iter().cloned());
    }
    let spec = ObjectSpec {
        license: "GPL".into(),
        programs,
        maps: first.ir.maps.iter().map(map_spec).collect(),
        notes: schema.map(|s| (crate::schema::SECTION.to_string(), s.to_json())).into_iter().collect(),
    };
    if extras.is_empty() {
        crate::elf::write_object(&spec)
    } else {
        crate::elf::write_object_with(&spec, &extras)
    }
}

/// Compile a checked program to an object (the `helpers` profile).
pub fn build_checked(checked: Checked) -> Result<Build, Failed> {
    build_checked_for(checked, crate::target::Target::Helpers)
}

/// Compile a checked program to an object for a capability profile.
pub fn build_checked_for(checked: Checked, target: crate::target::Target) -> Result<Build, Failed> {
    build_checked_limited(checked, target, &crate::split::Limits::new(None))
}

fn split_diagnostic(err: &crate::split::SplitError, span: Span) -> Diagnostic {
    use crate::split::SplitError;
    match err {
        SplitError::Codegen(e) => codegen_diagnostic(e, span),
        SplitError::TooBig { span, why, .. } => Diagnostic::error(
            "nfl::E0940",
            format!("this statement alone, with the parser, needs {why}"),
            *span,
            "too large for one stage",
        )
        .with_help("stages are cut between top-level statements; break this statement into several (split a long `if` chain or table)"),
        SplitError::TooManyStages { needed } => Diagnostic::error(
            "nfl::E0941",
            format!("the program needs {needed} stages; at most {} can be chained", crate::split::MAX_STAGES),
            span,
            "this program",
        )
        .with_help("simplify the program, or raise `--max-insns` if it set a small budget"),
        SplitError::Rebuild { write } => Diagnostic::error(
            "nfl::E0942",
            "the program must be split in stages, but this writes a field the parser branches on, or adds or removes a header",
            *write,
            "later stages re-parse the packet and would see this value",
        )
        .with_help("stages rebuild the parser state from the packet; move this write or reshape to the last stage (a `stage` block around the rest)"),
    }
}

/// [`build_checked_for`] within the given limits: a program that exceeds
/// them is split into stages (`split.rs`).
pub fn build_checked_limited(
    checked: Checked,
    target: crate::target::Target,
    limits: &crate::split::Limits,
) -> Result<Build, Failed> {
    let span = checked.hir.span;
    let split = match crate::split::compile(&checked.hir, target, limits) {
        Ok(s) => s,
        Err(e) => {
            let d = split_diagnostic(&e, span);
            return Err(Failed { sources: checked.sources, diagnostics: vec![d] });
        }
    };
    let mut stages = split.stages.into_iter();
    let Some(codegen) = stages.next() else {
        let d = codegen_diagnostic(&CodegenError::IrInvalid { pass: "split", problem: "no stage".into() }, span);
        return Err(Failed { sources: checked.sources, diagnostics: vec![d] });
    };
    let stages: Vec<Codegen> = stages.collect();
    let section = section_for(checked.hir.hook);
    let n_maps = codegen.ir.maps.len() - if split.plan.is_some() { 2 } else { 0 };
    let schema = match crate::schema::Schema::describe(&checked.hir, &codegen.ir.maps[..n_maps]) {
        Ok(mut s) => {
            s.queues = checked.hir.queues.iter().map(|q| crate::schema::QueueSchema::new(q, target)).collect();
            // Each stage rebuilds the parser: say each decision once.
            for line in std::iter::once(&codegen).chain(&stages).flat_map(|cg| &cg.explain) {
                if !s.explain.contains(line) {
                    s.explain.push(line.clone());
                }
            }
            s.stages = split.plan.as_ref().map(|p| crate::schema::StagesSchema::new(&checked.hir.name, p));
            s
        }
        Err(e) => {
            let d = Diagnostic::error("nfl::E0904", format!("cannot fill the tables: {e}"), span, "this program")
                .with_help("a table's entries need more mask slots or map entries than it has; raise `masks` or `size`");
            return Err(Failed { sources: checked.sources, diagnostics: vec![d] });
        }
    };
    let parts: Vec<(String, &Codegen, Vec<LineInfo>)> = std::iter::once(&codegen)
        .chain(&stages)
        .enumerate()
        .map(|(k, cg)| {
            let name = crate::build::stage::StagePlan::program_name(&checked.hir.name, k);
            (name, cg, line_info(&checked.sources, &cg.lines))
        })
        .collect();
    match object_bytes_staged(checked.hir.hook, &parts, Some(&schema)) {
        Ok(object) => Ok(Build { checked, codegen, section, object, schema, plan: split.plan, stages }),
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
