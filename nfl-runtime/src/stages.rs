//! The stages of a split program (docs/decisions.md, "Stages"): after the
//! entry program loads, every `NAME_stageK` program of the object is
//! loaded and put in slot `K` of the object's prog array, so that the
//! entry (attached or test-run) runs the whole chain.
//!
//! The prog array is never pinned: each load of an object creates its own
//! and fills it completely before the entry can run, so a reload swaps in
//! a new entry whose chain is entirely new (old and new stages never mix
//! within a packet). The array lives as long as the [`LoadedProgram`]'s
//! `Ebpf` (the kernel empties a prog array when its last user reference
//! goes), so `nflc run` and `nflc reload` also pin it in the run's pin
//! directory as `stages-<entry program id>` ([`pin`]); a reload unpins the
//! arrays of every generation but the new one and the one it replaced
//! (packets still in the replaced chain finish it).

use std::os::fd::AsFd;

use aya::Ebpf;
use aya::programs::Program;

use crate::load::{LoadError, LoadedProgram};
use crate::mapops::{self, MapShape};

/// The prog array of a split program (`nfl_compiler::build::stage::PROG_ARRAY`).
pub const PROG_ARRAY: &str = "nfl_stages";

/// What the kernel said about one loaded stage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StageStats {
    pub name: String,
    /// The verifier's processed instructions.
    pub verified_insns: Option<u32>,
    /// Instructions after the verifier's rewrites.
    pub xlated_insns: u32,
}

/// The symbol of stage `k` of the entry program `entry`.
pub fn stage_name(entry: &str, k: usize) -> String {
    format!("{entry}_stage{k}")
}

/// True when `name` is a later stage of some entry in an object that has
/// a prog array (such programs are not entry candidates).
pub fn is_stage_program(ebpf: &Ebpf, name: &str) -> bool {
    ebpf.map(PROG_ARRAY).is_some()
        && name.rsplit_once("_stage").is_some_and(|(_, k)| !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()))
}

/// Load stages 1.. of `entry` and fill the prog array; their statistics
/// in slot order (empty for a program that is not split).
pub fn load_stages(ebpf: &mut Ebpf, entry: &str) -> Result<Vec<StageStats>, LoadError> {
    if ebpf.map(PROG_ARRAY).is_none() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for k in 1.. {
        let name = stage_name(entry, k);
        let Some(prog) = ebpf.program_mut(&name) else { break };
        let loaded = match prog {
            Program::Xdp(p) => p.load(),
            Program::SchedClassifier(p) => p.load(),
            _ => return Err(LoadError::UnsupportedType { name, ty: "not XDP or TC".into() }),
        };
        loaded.map_err(|e| crate::load::map_program_error(&name, e))?;
        let prog = ebpf.program(&name).ok_or_else(|| LoadError::ProgramNotFound { name: name.clone(), available: Vec::new() })?;
        let fd = prog.fd().map_err(|e| crate::load::map_program_error(&name, e))?;
        let info = prog.info().map_err(|e| crate::load::map_program_error(&name, e))?;
        let raw = std::os::fd::AsRawFd::as_raw_fd(&fd.as_fd()) as u32;
        let Some(aya::maps::Map::ProgramArray(array)) = ebpf.map(PROG_ARRAY) else {
            return Err(LoadError::Object(format!("`{PROG_ARRAY}` is not a prog array")));
        };
        let shape = MapShape { key_size: 4, value_size: 4, per_cpu: false };
        mapops::update(array.fd().as_fd(), shape, &(k as u32).to_ne_bytes(), &raw.to_ne_bytes(), 0)
            .map_err(|e| LoadError::Kernel { name: name.clone(), message: format!("cannot put the stage in `{PROG_ARRAY}`: {e}") })?;
        out.push(StageStats {
            name,
            verified_insns: info.verified_instruction_count(),
            xlated_insns: info.size_translated().unwrap_or(0) / 8,
        });
    }
    Ok(out)
}

/// The prefix of a pinned prog array in a run's pin directory (bpffs
/// refuses `.` in names; no map name has a `-`).
pub const PIN_PREFIX: &str = "stages-";

/// Pin the prog array of a split program in `dir` as
/// `stages-<entry program id>`; nothing to do for one program.
pub fn pin(prog: &LoadedProgram, dir: &std::path::Path) -> std::io::Result<()> {
    let Some(aya::maps::Map::ProgramArray(array)) = prog.ebpf().map(PROG_ARRAY) else { return Ok(()) };
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(prog.fd()) };
    let id = crate::bpfsys::prog_info(fd)?.id;
    crate::bpfsys::obj_pin(array.fd().as_fd(), &dir.join(format!("{PIN_PREFIX}{id}")))
}

/// Unpin the prog arrays in `dir` of every program but `keep`.
pub fn unpin_except(dir: &std::path::Path, keep: &[u32]) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(id) = name.strip_prefix(PIN_PREFIX).and_then(|i| i.parse::<u32>().ok()) else { continue };
        if !keep.contains(&id) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
