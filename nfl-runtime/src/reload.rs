//! Swapping the program of a running NF: load the new object reusing the maps
//! pinned under `/sys/fs/bpf/nfl/<name>/`, then `BPF_LINK_UPDATE` the pinned
//! link with `BPF_F_REPLACE`, so that the swap is atomic (no packet sees no
//! program) and a concurrent reload cannot be lost silently.
//!
//! A program the verifier rejects never reaches the link: the old one stays
//! attached, and pins the failed load created are removed again.

use std::io;
use std::os::fd::AsFd;
use std::time::Instant;

use crate::attach::{self, Hook};
use crate::bpfsys;
use crate::load::{ProgramKind, load_with_pins};
use crate::pins::{self, LINK_PIN};
use crate::record;
use crate::run_error::RunError;

/// What a reload did.
#[derive(Clone, Debug, PartialEq)]
pub struct ReloadReport {
    /// Loading (and verifying) the new program.
    pub load_ms: f64,
    /// The `BPF_LINK_UPDATE` alone.
    pub swap_ms: f64,
    /// The link keeps its id; the program id changes.
    pub link_id: u32,
    pub old_prog_id: u32,
    pub new_prog_id: u32,
    /// Pinned maps the new program took over, and maps it pinned anew.
    pub maps_reused: Vec<String>,
    pub maps_created: Vec<String>,
}

/// `BPF_LINK_TYPE_XDP` and `BPF_LINK_TYPE_TCX`.
const LINK_TYPE_XDP: u32 = 6;
const LINK_TYPE_TCX: u32 = 11;

fn link_kind(link_type: u32) -> Option<ProgramKind> {
    match link_type {
        LINK_TYPE_XDP => Some(ProgramKind::Xdp),
        LINK_TYPE_TCX => Some(ProgramKind::Tc),
        _ => None,
    }
}

/// Replace the program of the run `name` with `program` from `object`.
pub fn reload(name: &str, object: &[u8], program: Option<&str>) -> Result<ReloadReport, RunError> {
    pins::validate_name(name)?;
    let dir = pins::pin_dir(name);
    let link_path = dir.join(LINK_PIN);
    let link = bpfsys::obj_get(&link_path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => RunError::NotRunning(name.to_string()),
        _ => RunError::fs("cannot open the pinned link", &link_path)(e),
    })?;
    let before = bpfsys::link_info(link.as_fd()).map_err(RunError::kernel("link info"))?;
    let old_prog = bpfsys::prog_fd_by_id(before.prog_id).map_err(RunError::kernel("opening the running program"))?;
    let pinned_before = pins::pinned_maps(&dir);

    let t0 = Instant::now();
    let prog = load_with_pins(object, program, Some(&dir)).inspect_err(|_| remove_new_pins(&dir, &pinned_before))?;
    let load_ms = t0.elapsed().as_secs_f64() * 1e3;
    let run_rec = record::read(&pins::run_dir(name));
    if link_kind(before.link_type).is_some_and(|k| k != prog.kind()) {
        remove_new_pins(&dir, &pinned_before);
        let hook = run_rec.map_or(Hook::default_for(prog.kind()), |r| r.hook);
        return Err(RunError::HookMismatch { program: prog.name().to_string(), kind: prog.kind(), hook });
    }

    let t1 = Instant::now();
    let swapped = bpfsys::link_update(link.as_fd(), attach::prog_fd(&prog), old_prog.as_fd());
    let swap_ms = t1.elapsed().as_secs_f64() * 1e3;
    if let Err(e) = swapped {
        remove_new_pins(&dir, &pinned_before);
        return Err(match e.raw_os_error() {
            Some(libc::EPERM) => RunError::ReloadRaced(name.to_string()),
            _ => RunError::kernel("BPF_LINK_UPDATE")(e),
        });
    }
    let after = bpfsys::link_info(link.as_fd()).map_err(RunError::kernel("link info"))?;
    let maps_reused = prog.ebpf().maps().map(|(m, _)| m.to_string()).filter(|m| pinned_before.contains(m)).collect();
    let maps_created = pins::pinned_maps(&dir).into_iter().filter(|m| !pinned_before.contains(m)).collect();
    update_record(name, object, after.prog_id);
    Ok(ReloadReport {
        load_ms,
        swap_ms,
        link_id: after.id,
        old_prog_id: before.prog_id,
        new_prog_id: after.prog_id,
        maps_reused,
        maps_created,
    })
}

/// Remove the map pins that a failed reload created.
fn remove_new_pins(dir: &std::path::Path, before: &[String]) {
    for m in pins::pinned_maps(dir) {
        if !before.contains(&m) {
            let _ = std::fs::remove_file(dir.join(m));
        }
    }
}

/// Best effort: the record and object copy follow the swap (a run that is
/// shutting down may already have removed its directory).
fn update_record(name: &str, object: &[u8], prog_id: u32) {
    let dir = pins::run_dir(name);
    let Some(mut rec) = record::read(&dir) else { return };
    rec.prog_id = Some(prog_id);
    rec.reloads += 1;
    rec.maps = pins::pinned_maps(&pins::pin_dir(name));
    let _ = record::write_atomic(&dir, record::OBJECT_FILE, object);
    let _ = record::write(&dir, &rec);
}
