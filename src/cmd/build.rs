//! `nflc build FILE -o OUT.o`

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use crate::Emit;

/// Write `bytes` to `path` through a temporary file in the same directory,
/// so a failed build never leaves a half-written object.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot write {}: {e}", path.display())
    })
}

/// `nflc build` options.
pub struct Opts {
    pub output: Option<PathBuf>,
    pub emit: Option<Emit>,
    pub stats: bool,
    pub config: Option<PathBuf>,
    pub explain: bool,
    pub target: nfl_compiler::Target,
    /// `--max-insns`: the instruction budget of each stage.
    pub max_insns: Option<u64>,
}

pub fn run(file: &Path, opts: &Opts, color: bool) -> Result<ExitCode, String> {
    let (emit, stats) = (opts.emit, opts.stats);
    let started = Instant::now();
    let Some(build) = super::build_file_limited(file, opts.config.as_deref(), color, opts.target, opts.max_insns)? else { return Ok(ExitCode::FAILURE) };
    let elapsed = started.elapsed();
    let out = opts.output.clone().unwrap_or_else(|| file.with_extension("o"));
    write_atomic(&out, &build.object)?;
    match emit {
        Some(Emit::Ast) => println!("{:#?}", build.checked.modules.first()),
        Some(Emit::Ir) => print!("{}", nfl_compiler::ir::print::print_function(&build.codegen.ir_built)),
        Some(Emit::IrOpt) => print!("{}", nfl_compiler::ir::print::print_function(&build.codegen.ir)),
        Some(Emit::Asm) if build.stages.is_empty() => print!("{}", nfl_compiler::bpf::disasm::disasm(&build.codegen.insns)),
        Some(Emit::Asm) => {
            for (name, cg) in build.all_stages() {
                print!("{name}:\n{}", nfl_compiler::bpf::disasm::disasm(&cg.insns));
            }
        }
        None => {}
    }
    if stats {
        eprint!("{}", super::stage_stats::report(&build, elapsed.as_secs_f64() * 1e3));
    }
    if opts.explain {
        print!("{}", explain(&build.schema));
    }
    eprintln!("wrote {} (section {}, program {})", out.display(), build.section, build.checked.hir.name);
    Ok(ExitCode::SUCCESS)
}

/// The `--explain` report: what specialization did, then the maps.
pub fn explain(schema: &nfl_compiler::schema::Schema) -> String {
    let mut out = String::new();
    if schema.explain.is_empty() {
        out.push_str("nothing to specialize: no config parameters and no tables\n");
    }
    for line in &schema.explain {
        out.push_str(&format!("- {line}\n"));
    }
    for m in &schema.maps {
        out.push_str(&format!(
            "  map {}: {}, key {} B, value {} B, {} entries max\n",
            m.name, m.kind, m.key_size, m.value_size, m.max_entries
        ));
    }
    out
}
