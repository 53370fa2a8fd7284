//! `nflc disasm FILE|OBJ`

use std::path::Path;
use std::process::ExitCode;

pub fn run(file: &Path, color: bool) -> Result<ExitCode, String> {
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    if bytes.starts_with(b"\x7fELF") {
        let progs = nfl_compiler::elf::read_programs(&bytes).map_err(|e| format!("{}: {e}", file.display()))?;
        for p in progs {
            println!("{} (section {}):", p.name, p.section);
            print!("{}", nfl_compiler::bpf::disasm::disasm(&p.insns));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let Some(build) = super::build_file(file, color)? else { return Ok(ExitCode::FAILURE) };
    println!("{} (section {}):", build.checked.hir.name, build.section);
    print!("{}", nfl_compiler::bpf::disasm::disasm(&build.codegen.insns));
    Ok(ExitCode::SUCCESS)
}
