//! Swapping the program of a running NF: load the new object next to the old
//! one, then `BPF_LINK_UPDATE` the pinned link with `BPF_F_REPLACE`, so that
//! the swap is atomic (no packet sees no program) and a concurrent reload
//! cannot be lost silently.
//!
//! [`reload_nf`] is the full reload of nflc objects (docs/running.md,
//! "Reload rules"): under the run's control-plane lock it plans every map
//! ([`crate::plan`]), reuses the pins of state that is kept, builds every
//! other map under a temporary pin and fills it ([`crate::migrate`]) while
//! the old program still runs, loads the new program against them, swaps,
//! and only then moves the pins into place. [`reload`] is the plain swap
//! for objects without a schema (maps marked pinned are reused by name).
//!
//! A program the verifier rejects never reaches the link: the old one stays
//! attached, with all its pins, and whatever the failed reload made is removed.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Instant;

use nfl_compiler::schema::Schema;

use crate::attach::{self, Hook};
use crate::bpfsys::{self, LinkInfo};
use crate::cp_error::ControlError;
use crate::load::{LoadedProgram, MapPins, ProgramKind, create_maps, load_program, load_with_pins};
use crate::pins::{self, LINK_PIN, NfLock};
use crate::plan::{Fate, Migration, Plan, plan};
use crate::record;
use crate::rules::{self, StoredRule, TssMaps};
use crate::run_error::RunError;
use crate::state::{MapHandle, MapSet};

/// What happened to one map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapOutcome {
    pub map: String,
    /// `kept`, `migrated`, `recreated`, `fresh` (a static table), `new` or `removed`.
    pub what: &'static str,
    pub detail: String,
}

/// What a reload did.
#[derive(Clone, Debug, PartialEq)]
pub struct ReloadReport {
    /// Loading (creating and filling maps, verifying the program).
    pub load_ms: f64,
    /// The part of `load_ms` spent creating and filling maps.
    pub maps_ms: f64,
    /// The `BPF_LINK_UPDATE` alone. For XDP it includes an RCU grace period
    /// the kernel waits for after the new program is already in place (the
    /// XDP dispatcher's update).
    pub swap_ms: f64,
    /// When the swap returned.
    pub swapped_at: std::time::SystemTime,
    /// The link keeps its id; the program id changes.
    pub link_id: u32,
    pub old_prog_id: u32,
    pub new_prog_id: u32,
    /// Pinned maps the new program took over, and maps it pinned anew.
    pub maps_reused: Vec<String>,
    pub maps_created: Vec<String>,
    /// Per map, for nflc objects (empty for objects without a schema).
    pub maps: Vec<MapOutcome>,
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

/// The pinned link of run `name`, what it says about itself, and the
/// program it runs now.
struct Target {
    link: OwnedFd,
    before: LinkInfo,
    old_prog: OwnedFd,
}

impl Target {
    fn open(name: &str) -> Result<Target, RunError> {
        let link_path = pins::pin_dir(name).join(LINK_PIN);
        let link = bpfsys::obj_get(&link_path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => RunError::NotRunning(name.to_string()),
            _ => RunError::fs("cannot open the pinned link", &link_path)(e),
        })?;
        let before = bpfsys::link_info(link.as_fd()).map_err(RunError::kernel("link info"))?;
        let old_prog = bpfsys::prog_fd_by_id(before.prog_id).map_err(RunError::kernel("opening the running program"))?;
        Ok(Target { link, before, old_prog })
    }

    /// E0804 when `prog` cannot run on this link.
    fn check_kind(&self, name: &str, prog: &LoadedProgram) -> Result<(), RunError> {
        if link_kind(self.before.link_type).is_some_and(|k| k != prog.kind()) {
            let hook = record::read(&pins::run_dir(name)).map_or(Hook::default_for(prog.kind()), |r| r.hook);
            return Err(RunError::HookMismatch { program: prog.name().to_string(), kind: prog.kind(), hook });
        }
        Ok(())
    }

    /// The atomic swap; returns its duration in ms and the new program's id.
    fn swap(&self, name: &str, prog: &LoadedProgram) -> Result<(f64, LinkInfo), RunError> {
        let t = Instant::now();
        let swapped = bpfsys::link_update(self.link.as_fd(), attach::prog_fd(prog), self.old_prog.as_fd());
        let swap_ms = t.elapsed().as_secs_f64() * 1e3;
        swapped.map_err(|e| match e.raw_os_error() {
            Some(libc::EPERM) => RunError::ReloadRaced(name.to_string()),
            _ => RunError::kernel("BPF_LINK_UPDATE")(e),
        })?;
        let after = bpfsys::link_info(self.link.as_fd()).map_err(RunError::kernel("link info"))?;
        Ok((swap_ms, after))
    }
}

/// Replace the program of the run `name` with `program` from `object`,
/// reusing the maps the object marks pinned (objects without a schema).
pub fn reload(name: &str, object: &[u8], program: Option<&str>) -> Result<ReloadReport, RunError> {
    pins::validate_name(name)?;
    let dir = pins::pin_dir(name);
    let target = Target::open(name)?;
    let pinned_before = pins::pinned_maps(&dir);

    let t0 = Instant::now();
    let prog = load_with_pins(object, program, Some(&dir)).inspect_err(|_| remove_new_pins(&dir, &pinned_before))?;
    let load_ms = t0.elapsed().as_secs_f64() * 1e3;
    let swapped = target.check_kind(name, &prog).and_then(|()| target.swap(name, &prog));
    let (swap_ms, after) = swapped.inspect_err(|_| remove_new_pins(&dir, &pinned_before))?;
    let swapped_at = std::time::SystemTime::now();
    keep_stages(&dir, &prog, &[after.prog_id, target.before.prog_id])?;
    let maps_reused = prog.ebpf().maps().map(|(m, _)| m.to_string()).filter(|m| pinned_before.contains(m)).collect();
    let maps_created = pins::pinned_maps(&dir).into_iter().filter(|m| !pinned_before.contains(m)).collect();
    update_record(name, object, after.prog_id, None);
    Ok(ReloadReport {
        load_ms,
        maps_ms: 0.0,
        swap_ms,
        swapped_at,
        link_id: after.id,
        old_prog_id: target.before.prog_id,
        new_prog_id: after.prog_id,
        maps_reused,
        maps_created,
        maps: Vec::new(),
    })
}

/// After a swap: pin the new program's stage array (it must outlive this
/// process) and unpin those of older generations than `keep`.
fn keep_stages(dir: &Path, prog: &LoadedProgram, keep: &[u32]) -> Result<(), RunError> {
    crate::stages::pin(prog, dir).map_err(RunError::kernel("pinning the stages. prog array"))?;
    crate::stages::unpin_except(dir, keep);
    Ok(())
}

/// Remove the map pins that a failed reload created.
fn remove_new_pins(dir: &Path, before: &[String]) {
    for m in pins::pinned_maps(dir) {
        if !before.contains(&m) {
            let _ = std::fs::remove_file(dir.join(m));
        }
    }
    remove_temp_pins(dir);
}

fn remove_temp_pins(dir: &Path) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_name().to_string_lossy().starts_with(pins::TEMP_PREFIX) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Best effort: the record and object copy follow the swap (a run that is
/// shutting down may already have removed its directory).
fn update_record(name: &str, object: &[u8], prog_id: u32, config: Option<&Path>) {
    let dir = pins::run_dir(name);
    let Some(mut rec) = record::read(&dir) else { return };
    rec.prog_id = Some(prog_id);
    rec.reloads += 1;
    rec.maps = pins::pinned_maps(&pins::pin_dir(name));
    if let Some(c) = config {
        rec.config = Some(c.to_path_buf());
    }
    let _ = record::write_atomic(&dir, record::OBJECT_FILE, object);
    let _ = record::write(&dir, &rec);
}

/// How to reload.
#[derive(Clone, Debug, Default)]
pub struct ReloadOptions {
    /// The program in the object; `None` for its only XDP/TC program.
    pub program: Option<String>,
    /// The config the new object was built with, for the record.
    pub config: Option<PathBuf>,
}

/// The full reload of an nflc object (see the module comment); objects
/// without a schema (or runs of one) get [`reload`].
pub fn reload_nf(name: &str, object: &[u8], opts: &ReloadOptions) -> Result<ReloadReport, ControlError> {
    pins::validate_name(name)?;
    let _lock = NfLock::acquire(name)?;
    let run = pins::run_dir(name);
    let old_object = std::fs::read(run.join(record::OBJECT_FILE)).map_err(|_| RunError::NotRunning(name.to_string()))?;
    let schemas = (Schema::from_object(&old_object).ok().flatten(), Schema::from_object(object).ok().flatten());
    let (Some(old), Some(new)) = schemas else {
        return Ok(reload(name, object, opts.program.as_deref())?);
    };
    let target = Target::open(name)?;
    let dir = pins::pin_dir(name);
    remove_temp_pins(&dir);
    let mut plan = plan(&old, &new);
    for m in plan.maps.iter_mut().filter(|m| m.fate == Fate::Keep && !dir.join(&m.map).exists()) {
        m.fate = Fate::New;
    }
    let staged = stage(name, &dir, object, &old, &new, &plan, opts).inspect_err(|_| remove_temp_pins(&dir))?;
    let swapped = target.check_kind(name, &staged.prog).and_then(|()| target.swap(name, &staged.prog));
    let (swap_ms, after) = swapped.inspect_err(|_| remove_temp_pins(&dir))?;
    let swapped_at = std::time::SystemTime::now();
    keep_stages(&dir, &staged.prog, &[after.prog_id, target.before.prog_id]).map_err(ControlError::from)?;
    let maps = commit(name, &dir, &plan, staged.outcomes, &staged.lists);
    for t in old.tables.iter().filter(|t| new.table(&t.name).is_none()) {
        rules::forget(name, &t.name);
    }
    update_record(name, object, after.prog_id, opts.config.as_deref());
    let reused = plan.maps.iter().filter(|m| m.fate == Fate::Keep).map(|m| m.map.clone()).collect();
    let created = plan.maps.iter().filter(|m| m.fate != Fate::Keep).map(|m| m.map.clone()).collect();
    Ok(ReloadReport {
        load_ms: staged.load_ms,
        maps_ms: staged.maps_ms,
        swap_ms,
        swapped_at,
        link_id: after.id,
        old_prog_id: target.before.prog_id,
        new_prog_id: after.prog_id,
        maps_reused: reused,
        maps_created: created,
        maps,
    })
}

/// The new program, loaded against its filled maps, not yet attached.
struct Staged {
    prog: LoadedProgram,
    load_ms: f64,
    maps_ms: f64,
    outcomes: Vec<MapOutcome>,
    /// Rule lists to save after the swap (`None`: the table keeps none).
    lists: Vec<(String, Option<Vec<StoredRule>>)>,
}

fn stage(name: &str, dir: &Path, object: &[u8], old: &Schema, new: &Schema, plan: &Plan, opts: &ReloadOptions) -> Result<Staged, ControlError> {
    let t0 = Instant::now();
    let by_name = plan
        .maps
        .iter()
        .map(|m| (m.map.as_str(), if m.fate == Fate::Keep { dir.join(&m.map) } else { pins::temp_pin(dir, &m.map) }))
        .collect();
    let object = test_hook_reject(object);
    let ebpf = create_maps(&object, &MapPins { default_dir: None, by_name }).map_err(RunError::from)?;
    let new_maps = MapSet::from_ebpf(&ebpf, new).map_err(ControlError::state(name))?;
    let mut fill = Fill { name, dir, old, new, new_maps: &new_maps, outcomes: Vec::new(), lists: Vec::new() };
    for m in &plan.maps {
        fill.map(&m.map, &m.fate)?;
    }
    let (outcomes, lists) = (fill.outcomes, fill.lists);
    let maps_ms = t0.elapsed().as_secs_f64() * 1e3;
    let prog = load_program(ebpf, opts.program.as_deref()).map_err(RunError::from)?;
    Ok(Staged { prog, load_ms: t0.elapsed().as_secs_f64() * 1e3, maps_ms, outcomes, lists })
}

/// For tests only: with `NFL_TEST_REJECT_RELOAD=1` in the environment, the
/// first instruction of the new program reads r5, which nothing wrote, so
/// the verifier refuses it after its maps were made and filled.
fn test_hook_reject(object: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    use object::{Object, ObjectSection, SectionKind};
    if std::env::var_os("NFL_TEST_REJECT_RELOAD").is_none() {
        return std::borrow::Cow::Borrowed(object);
    }
    let text = object::File::parse(object).ok().and_then(|f| {
        let s = f.sections().find(|s| s.kind() == SectionKind::Text && s.size() >= 8)?;
        s.file_range()
    });
    let mut bytes = object.to_vec();
    if let Some(insn) = text.and_then(|(off, _)| bytes.get_mut(off as usize..off as usize + 8)) {
        insn.copy_from_slice(&[0x79, 0x50, 0, 0, 0, 0, 0, 0]); // r0 = *(u64 *)(r5 + 0)
    }
    std::borrow::Cow::Owned(bytes)
}

/// Filling the new maps, one plan entry at a time.
struct Fill<'a> {
    name: &'a str,
    dir: &'a Path,
    old: &'a Schema,
    new: &'a Schema,
    new_maps: &'a MapSet,
    outcomes: Vec<MapOutcome>,
    lists: Vec<(String, Option<Vec<StoredRule>>)>,
}

impl Fill<'_> {
    fn outcome(&mut self, map: &str, what: &'static str, detail: String) {
        self.outcomes.push(MapOutcome { map: map.to_string(), what, detail });
    }

    fn old_map(&self, map: &str) -> Result<MapHandle, ControlError> {
        let m = self.old.map(map).ok_or_else(|| ControlError::map(self.name, map)(io::Error::from(io::ErrorKind::NotFound)))?;
        MapHandle::from_pin(&self.dir.join(map), m).map_err(ControlError::state(self.name))
    }

    fn new_map(&self, map: &str) -> Result<&MapHandle, ControlError> {
        self.new_maps.get(map).map_err(ControlError::state(self.name))
    }

    fn map(&mut self, map: &str, fate: &Fate) -> Result<(), ControlError> {
        let table = self.new.tables.iter().find(|t| t.rules_map == map || t.masks_map.as_deref() == Some(map));
        let is_rules = table.is_some_and(|t| t.rules_map == map);
        match fate {
            Fate::Keep => self.outcome(map, "kept", String::new()),
            Fate::Fresh | Fate::New | Fate::Recreate(_) => {
                self.new_maps.write_initial_for(self.new, &[map]).map_err(ControlError::state(self.name))?;
                let n = self.new.initial.iter().filter(|i| i.map == map).map(|i| i.entries.len()).sum::<usize>();
                let (what, why) = match fate {
                    Fate::Fresh => ("fresh", "static table".to_string()),
                    Fate::New => ("new", "not in the running program".to_string()),
                    Fate::Recreate(why) => ("recreated", why.clone()),
                    _ => ("", String::new()),
                };
                let detail = if n > 0 { format!("{why}; {n} entries from the config") } else { why };
                self.outcome(map, what, detail);
                if let Some(t) = table.filter(|_| is_rules) {
                    let list = rules::keeps_list(t).then(|| rules::from_schema(self.new, t));
                    self.lists.push((t.name.clone(), list));
                }
            }
            Fate::Migrate(how) => self.migrate(map, how)?,
        }
        Ok(())
    }

    fn migrate(&mut self, map: &str, how: &Migration) -> Result<(), ControlError> {
        let err = ControlError::map(self.name, map);
        let detail = match how {
            Migration::Cells { old, new } => crate::migrate::cells(&self.old_map(map)?, self.new_map(map)?, *old, *new).map_err(err)?,
            Migration::Entries => crate::migrate::entries(&self.old_map(map)?, self.new_map(map)?).map_err(err)?,
            Migration::Values => {
                let (ot, nt) = (self.table_of(self.old, map)?, self.table_of(self.new, map)?);
                crate::migrate::values(ot, nt, &self.old_map(map)?, self.new_map(map)?).map_err(err)?
            }
            Migration::Rules => match self.rebuild(map)? {
                Some(detail) => detail,
                None => format!("rebuilt with `{}`", self.table_of(self.new, map)?.rules_map),
            },
        };
        self.outcome(map, "migrated", detail);
        Ok(())
    }

    fn table_of<'s>(&self, s: &'s Schema, map: &str) -> Result<&'s nfl_compiler::table::TableLayout, ControlError> {
        let found = s.tables.iter().find(|t| t.rules_map == map || t.masks_map.as_deref() == Some(map));
        found.ok_or_else(|| ControlError::map(self.name, map)(io::Error::from(io::ErrorKind::NotFound)))
    }

    /// Rebuild a tuple-space table (once, at its rules map).
    fn rebuild(&mut self, map: &str) -> Result<Option<String>, ControlError> {
        let (ot, nt) = (self.table_of(self.old, map)?, self.table_of(self.new, map)?);
        if nt.rules_map != map {
            return Ok(None);
        }
        let stored = rules::load(self.name, &ot.name).map_err(ControlError::map(self.name, map))?;
        let list = stored.unwrap_or_else(|| rules::from_schema(self.old, ot));
        let masks = nt.masks_map.clone().unwrap_or_default();
        let to = TssMaps { rules: self.new_map(map)?, masks: self.new_map(&masks)? };
        let (kept, detail) = crate::migrate::rules(nt, &list, &to).map_err(|message| ControlError::MigrationRefused { table: nt.name.clone(), message })?;
        self.lists.push((nt.name.clone(), Some(kept)));
        Ok(Some(detail))
    }
}

/// After the swap: move the new maps' pins into place, drop the pins of
/// maps the new program does not have, save the rule lists.
fn commit(name: &str, dir: &Path, plan: &Plan, mut outcomes: Vec<MapOutcome>, lists: &[(String, Option<Vec<StoredRule>>)]) -> Vec<MapOutcome> {
    for m in plan.maps.iter().filter(|m| m.fate != Fate::Keep) {
        if let Err(e) = std::fs::rename(pins::temp_pin(dir, &m.map), dir.join(&m.map)) {
            outcomes.push(MapOutcome { map: m.map.clone(), what: "new", detail: format!("WARNING: its pin could not be moved into place: {e}") });
        }
    }
    for m in &plan.removed {
        let _ = std::fs::remove_file(dir.join(m));
        outcomes.push(MapOutcome { map: m.clone(), what: "removed", detail: "not in the new program".into() });
    }
    for (table, list) in lists {
        match list {
            Some(l) => {
                let _ = rules::save(name, table, l);
            }
            None => rules::forget(name, table),
        }
    }
    outcomes
}
