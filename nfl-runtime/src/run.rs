//! Running an NF on an interface: claim a name, load with the maps pinned
//! under `/sys/fs/bpf/nfl/<name>/`, attach with a pinned BPF link, record the
//! run in `/run/nfl/<name>/`, show a live view, and undo all of it on drop.
//!
//! Every step's result is a guard inside [`RunSession`], so an error half-way
//! (a verifier rejection, a failed attach) leaves no pin, link or record behind.

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::attach::{self, Hook, Link};
use crate::bpfsys;
use crate::live::{LiveView, Poll, ProgStats, Tick};
use crate::load::{LoadedProgram, MapPins, create_maps, load_program, load_with_pins};
use crate::pins::{self, Claim};
use crate::record::{self, RunRecord};
pub use crate::run_error::RunError;
use crate::signal::StopFlag;

/// Which program to run, and under which name.
#[derive(Clone, Debug)]
pub struct NfSpec {
    /// `[a-z0-9_-]{1,32}`; see [`pins::name_from_stem`].
    pub name: String,
    /// Where the object came from, for the record.
    pub source: PathBuf,
    pub object: Vec<u8>,
    /// The program in the object; `None` for its only XDP/TC program.
    pub program: Option<String>,
    pub hook: Hook,
}

/// What to run where.
#[derive(Clone, Debug)]
pub struct RunConfig {
    pub nf: NfSpec,
    /// When native XDP cannot attach, try generic XDP (for a hook the user did
    /// not choose explicitly).
    pub generic_fallback: bool,
    pub iface: String,
    /// The network namespace `iface` is in; `None` for the caller's.
    pub netns: Option<String>,
}

/// How long the steps took, in milliseconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timings {
    pub load_ms: f64,
    pub attach_ms: f64,
}

/// Why [`RunSession::watch`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchEnd {
    Stopped,
    InterfaceGone,
    TimeLimit,
}

/// A running NF. Dropping it detaches the link and removes every pin and the
/// record (fields drop in declaration order: link, program, pins, record).
pub struct RunSession {
    link: Link,
    prog: LoadedProgram,
    claim: Claim,
    /// Keeps kernel run-time statistics on while the run lasts.
    _stats: Option<OwnedFd>,
    info: RunRecord,
    timings: Timings,
    started: Instant,
}

/// Run `f` on a thread inside `netns`, or right here when there is none.
pub fn in_netns<T: Send>(netns: Option<&str>, f: impl FnOnce() -> T + Send) -> Result<T, RunError> {
    match netns {
        Some(ns) => Ok(crate::netns::run_in_netns(ns, f)?),
        None => Ok(f()),
    }
}

fn initial_record(cfg: &RunConfig, ifindex: u32) -> RunRecord {
    let pid = std::process::id();
    RunRecord {
        name: cfg.nf.name.clone(),
        pid,
        pid_start: record::process_start(pid),
        source: cfg.nf.source.clone(),
        program: cfg.nf.program.clone().unwrap_or_default(),
        hook: cfg.nf.hook,
        iface: cfg.iface.clone(),
        ifindex,
        netns: cfg.netns.clone(),
        prog_id: None,
        link_id: None,
        started_unix_ms: record::unix_ms(),
        pin_dir: pins::pin_dir(&cfg.nf.name),
        maps: Vec::new(),
        reloads: 0,
        config: None,
        target: None,
    }
}

/// Attach at `cfg.hook`, falling back to generic XDP when allowed.
fn attach_with_fallback(cfg: &RunConfig, prog: &LoadedProgram, ifindex: u32) -> Result<Link, RunError> {
    let fd = attach::prog_fd(prog);
    let attach = |hook| in_netns(cfg.netns.as_deref(), || Link::attach(fd, hook, ifindex, &cfg.iface))?;
    match attach(cfg.nf.hook) {
        Err(RunError::Attach { .. }) if cfg.nf.hook == Hook::Xdp && cfg.generic_fallback => attach(Hook::XdpGeneric),
        other => other,
    }
}

/// Fill in what the attach decided, and write the record and the object copy.
fn complete_record(
    rec: &mut RunRecord,
    claim: &Claim,
    prog: &LoadedProgram,
    link: &Link,
    object: &[u8],
) -> Result<(), RunError> {
    rec.program = prog.name().to_string();
    rec.hook = link.hook();
    rec.prog_id = Some(link.info().map(|i| i.prog_id).unwrap_or(0));
    rec.link_id = Some(link.id());
    rec.maps = pins::pinned_maps(claim.pins.path());
    let run = claim.run.path();
    record::write_atomic(run, record::OBJECT_FILE, object).map_err(RunError::fs("cannot copy the object to", run))?;
    record::write(run, rec).map_err(RunError::fs("cannot write the run record in", run))
}

/// Load `nf` with every map of its schema pinned by name in `dir`, the
/// build's entries written into the maps this load created (never into
/// reused ones), and the rule lists of its tuple-space tables seeded; an
/// object without a schema pins only the maps it marks pinned.
fn load_nf(nf: &NfSpec, dir: &Path) -> Result<LoadedProgram, RunError> {
    let Some(schema) = nfl_compiler::schema::Schema::from_object(&nf.object).ok().flatten() else {
        return Ok(load_with_pins(&nf.object, nf.program.as_deref(), Some(dir))?);
    };
    let existing = pins::pinned_maps(dir);
    let by_name = schema.maps.iter().map(|m| (m.name.as_str(), dir.join(&m.name))).collect();
    let ebpf = create_maps(&nf.object, &MapPins { default_dir: None, by_name })?;
    let fresh: Vec<&str> = schema.maps.iter().map(|m| m.name.as_str()).filter(|m| !existing.iter().any(|e| e == m)).collect();
    let written = crate::state::MapSet::from_ebpf(&ebpf, &schema).and_then(|maps| maps.write_initial_for(&schema, &fresh));
    written.map_err(|e| RunError::Kernel { what: "writing the build's table entries".into(), source: std::io::Error::other(e.to_string()) })?;
    for t in schema.tables.iter().filter(|t| crate::rules::keeps_list(t)) {
        let tables = pins::tables_dir(&nf.name);
        crate::rules::save(&nf.name, &t.name, &crate::rules::from_schema(&schema, t)).map_err(RunError::fs("cannot write a rule list in", tables))?;
    }
    Ok(load_program(ebpf, nf.program.as_deref())?)
}

/// No polling between ticks.
struct NoPoll;

impl Poll for NoPoll {
    fn every(&self) -> Duration {
        Duration::from_secs(3600)
    }

    fn poll(&mut self, _out: &mut dyn Write) -> std::io::Result<()> {
        Ok(())
    }
}

impl RunSession {
    /// Load, pin, attach and record. Returns once the program is attached.
    pub fn start(cfg: &RunConfig) -> Result<RunSession, RunError> {
        let nf = &cfg.nf;
        pins::validate_name(&nf.name)?;
        let ifindex = in_netns(cfg.netns.as_deref(), || attach::ifindex(&cfg.iface))?.ok_or_else(|| {
            RunError::UnknownInterface { iface: cfg.iface.clone(), netns: cfg.netns.clone() }
        })?;
        let mut rec = initial_record(cfg, ifindex);
        let claim = pins::claim(&rec)?;

        let t0 = Instant::now();
        let prog = load_nf(nf, claim.pins.path())?;
        crate::stages::pin(&prog, claim.pins.path()).map_err(RunError::kernel("pinning the stages' prog array"))?;
        let load_ms = t0.elapsed().as_secs_f64() * 1e3;
        if prog.kind() != nf.hook.program_kind() {
            return Err(RunError::HookMismatch { program: prog.name().to_string(), kind: prog.kind(), hook: nf.hook });
        }

        let t1 = Instant::now();
        let mut link = attach_with_fallback(cfg, &prog, ifindex)?;
        let attach_ms = t1.elapsed().as_secs_f64() * 1e3;
        link.pin(&pins::link_pin(&nf.name))?;

        complete_record(&mut rec, &claim, &prog, &link, &nf.object)?;
        let stats = bpfsys::enable_stats().ok();
        Ok(RunSession {
            link,
            prog,
            claim,
            _stats: stats,
            info: rec,
            timings: Timings { load_ms, attach_ms },
            started: Instant::now(),
        })
    }

    /// The run record as written to `/run/nfl/<name>/state.json`.
    pub fn info(&self) -> &RunRecord {
        &self.info
    }

    pub fn timings(&self) -> Timings {
        self.timings
    }

    /// What had to be cleaned up before the start (stale pins of a dead run).
    pub fn notes(&self) -> &[String] {
        &self.claim.notes
    }

    pub fn prog(&self) -> &LoadedProgram {
        &self.prog
    }

    pub fn link(&self) -> &Link {
        &self.link
    }

    /// Whether kernel run-time statistics are on (run counts are 0 otherwise).
    pub fn stats_enabled(&self) -> bool {
        self._stats.is_some()
    }

    /// Counters of the program the link runs now; `None` once the link is
    /// detached (its interface went away).
    pub fn stats(&self) -> Option<ProgStats> {
        let link = self.link.info().ok().filter(|l| l.ifindex != 0 && l.prog_id != 0)?;
        let fd = bpfsys::prog_fd_by_id(link.prog_id).ok()?;
        let info = bpfsys::prog_info(fd.as_fd()).ok()?;
        Some(ProgStats { prog_id: info.id, run_cnt: info.run_cnt, run_time_ns: info.run_time_ns })
    }

    /// Record the config file the running program was built with.
    /// Record what the program was built from: its config and its
    /// capability profile (for reloads).
    pub fn record_build(&mut self, config: Option<PathBuf>, target: &str) -> Result<(), RunError> {
        self.info.config = config;
        self.info.target = Some(target.to_string());
        let run = self.claim.run.path();
        record::write(run, &self.info).map_err(RunError::fs("cannot write the run record in", run))
    }

    /// Show the live view once a second until `stop`, the interface goes away,
    /// or `limit` passes.
    pub fn watch(
        &self,
        views: &mut [Box<dyn LiveView>],
        out: &mut dyn Write,
        stop: &StopFlag,
        limit: Option<Duration>,
    ) -> std::io::Result<WatchEnd> {
        self.watch_polling(views, out, stop, limit, &mut NoPoll)
    }

    /// [`RunSession::watch`], calling `poll` every `poll.every()` between ticks.
    pub fn watch_polling(
        &self,
        views: &mut [Box<dyn LiveView>],
        out: &mut dyn Write,
        stop: &StopFlag,
        limit: Option<Duration>,
        poll: &mut dyn Poll,
    ) -> std::io::Result<WatchEnd> {
        for v in views.iter_mut() {
            v.header(&self.info, out)?;
        }
        let mut prev = None;
        for n in 1.. {
            let due = Duration::from_secs(n);
            if limit.is_some_and(|l| due > l) {
                return Ok(WatchEnd::TimeLimit);
            }
            loop {
                let left = due.saturating_sub(self.started.elapsed());
                if left.is_zero() {
                    break;
                }
                if stop.sleep(left.min(poll.every())) {
                    return Ok(WatchEnd::Stopped);
                }
                poll.poll(out)?;
            }
            let stats = self.stats();
            let tick = Tick { n, elapsed: self.started.elapsed(), stats, prev, info: &self.info, prog: &self.prog };
            for v in views.iter_mut() {
                v.tick(&tick, out)?;
            }
            out.flush()?;
            if stats.is_none() {
                return Ok(WatchEnd::InterfaceGone);
            }
            prev = stats;
        }
        Ok(WatchEnd::Stopped)
    }
}

/// A run found in `/run/nfl`.
#[derive(Clone, Debug)]
pub struct Running {
    pub name: String,
    pub pid: u32,
    /// Whether the process is still there; a dead one left stale pins that the
    /// next `nflc run` under this name removes.
    pub alive: bool,
    pub record: RunRecord,
}

/// Every run recorded under `/run/nfl`, by name.
pub fn list_running() -> Vec<Running> {
    list_running_in(Path::new(pins::RUN_ROOT))
}

fn list_running_in(root: &Path) -> Vec<Running> {
    let mut runs: Vec<Running> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .filter_map(|e| record::read(&e.path()))
        .map(|rec| Running { name: rec.name.clone(), pid: rec.pid, alive: record::is_alive(&rec), record: rec })
        .collect();
    runs.sort_by(|a, b| a.name.cmp(&b.name));
    runs
}
