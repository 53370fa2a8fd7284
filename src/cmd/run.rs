//! `nflc run FILE [--iface IF [--watch]] [--hook H] [--pcap P] [--name N]
//! [--config C]`: attach to an interface and show a live view until Ctrl-C or
//! SIGTERM (with `--watch`, reloading whenever FILE or its config changes),
//! or, without `--iface`, drive a bounded burst of frames through the NF in a
//! private namespace and report what became of each (docs/running.md).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use nfl_runtime::ProgramKind;
use nfl_runtime::attach::Hook;
use nfl_runtime::burst::{BurstRun, run_burst};
use nfl_runtime::live::{LiveView, ProgStatsView};
use nfl_runtime::pins::name_from_stem;
use nfl_runtime::record::RunRecord;
use nfl_runtime::run::{NfSpec, RunConfig, RunError, RunSession, WatchEnd};
use nfl_runtime::signal::StopFlag;
use nfl_runtime::traffic::{Frame, Limits, frames_from_capture, frames_from_cases};

use crate::report;

pub struct Args {
    pub file: PathBuf,
    pub iface: Option<String>,
    pub hook: Option<String>,
    pub pcap: Option<PathBuf>,
    pub name: Option<String>,
    pub config: Option<PathBuf>,
    pub watch: bool,
    /// The capability profile the NF is built for (`--target`).
    pub target: nfl_compiler::Target,
    /// `--max-insns`: the instruction budget of each stage.
    pub max_insns: Option<u64>,
}

/// Print an error as a miette diagnostic (code, message, help).
pub fn print_report(err: &dyn miette::Diagnostic, color: bool) {
    let theme =
        if color { miette::GraphicalTheme::unicode() } else { miette::GraphicalTheme::unicode_nocolor() };
    let handler = miette::GraphicalReportHandler::new_themed(theme).with_width(100);
    let mut out = String::new();
    if handler.render_report(&mut out, err).is_err() {
        out = format!("{err}\n");
    }
    eprint!("{out}");
}

/// The verifier's trimmed log, and the `.nf` line it stopped at.
pub fn print_verifier_log(log: Option<String>) {
    let Some(log) = log else { return };
    eprintln!("{log}");
    if let Some(at) = nfl_runtime::rejection_source(&log) {
        let place = match (at.file, at.line) {
            (Some(f), Some(l)) => format!("{f}:{l}: "),
            _ => String::new(),
        };
        eprintln!("the verifier stopped at {place}{}", at.text.trim());
    }
}

/// Print a runtime error as a diagnostic, with the verifier's log when it has one.
fn print_error(err: &RunError, color: bool) {
    print_report(err, color);
    print_verifier_log(err.trimmed_verifier_log());
}

/// The config a build of `file` uses: the one given, else `FILE.yaml` when
/// it exists (as [`super::config_for`] decides, without saying so again).
pub fn config_used(file: &Path, given: Option<&Path>) -> Option<PathBuf> {
    let implicit = file.with_extension("yaml");
    given.map(Path::to_path_buf).or_else(|| implicit.is_file().then_some(implicit))
}

/// `path` made absolute, so that a reload from another directory finds it.
pub fn absolute(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

pub fn run(args: &Args, color: bool) -> Result<ExitCode, String> {
    let Some(build) = super::build_file_limited(&args.file, args.config.as_deref(), color, args.target, args.max_insns)? else { return Ok(ExitCode::FAILURE) };
    let kind = if build.section == "xdp" { ProgramKind::Xdp } else { ProgramKind::Tc };
    let hook = args.hook.as_deref().and_then(Hook::from_name);
    let result = match &args.iface {
        Some(iface) => attached(args, iface, &build, kind, hook, color),
        None => burst(args, &build, kind, hook, color),
    };
    match result {
        Ok(code) => Ok(code),
        Err(e) => {
            print_error(&e, color);
            Ok(ExitCode::FAILURE)
        }
    }
}

fn stem(file: &Path) -> String {
    name_from_stem(&file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default())
}

fn stop_flag() -> Result<StopFlag, RunError> {
    StopFlag::on_signals().map_err(|source| RunError::Kernel { what: "installing signal handlers".into(), source })
}

/// The hook: the one asked for, which must fit the program, or the program's own.
fn choose_hook(program: &str, kind: ProgramKind, asked: Option<Hook>) -> Result<Hook, RunError> {
    match asked {
        Some(hook) if hook.program_kind() != kind => {
            Err(RunError::HookMismatch { program: program.to_string(), kind, hook })
        }
        Some(hook) => Ok(hook),
        None => Ok(Hook::default_for(kind)),
    }
}

fn attached(
    args: &Args,
    iface: &str,
    build: &nfl_compiler::driver::Build,
    kind: ProgramKind,
    asked: Option<Hook>,
    color: bool,
) -> Result<ExitCode, RunError> {
    let program = build.checked.hir.name.clone();
    let hook = choose_hook(&program, kind, asked)?;
    let stop = stop_flag()?;
    let name = args.name.clone().unwrap_or_else(|| stem(&args.file));
    let source = absolute(&args.file);
    let mut session = RunSession::start(&RunConfig {
        nf: NfSpec { name: name.clone(), source: source.clone(), object: build.object.clone(), program: Some(program), hook },
        generic_fallback: asked.is_none(),
        iface: iface.to_string(),
        netns: None,
    })?;
    let config = config_used(&args.file, args.config.as_deref()).map(|c| absolute(&c));
    session.record_build(config.clone(), args.target.name())?;
    print_started(&session, hook);
    let mut views: Vec<Box<dyn LiveView>> = vec![Box::new(ProgStatsView)];
    views.extend(nfl_runtime::views::nf_views(&name));
    let stdout = std::io::stdout();
    let end = if args.watch {
        let mut watcher = super::watch::Watcher::new(&name, &source, config, args.target, color);
        session.watch_polling(&mut views, &mut stdout.lock(), &stop, None, &mut watcher)
    } else {
        session.watch(&mut views, &mut stdout.lock(), &stop, None)
    };
    let name = session.info().name.clone();
    drop(session);
    match end {
        Ok(WatchEnd::InterfaceGone) => {
            eprintln!("the interface went away; `{name}` detached, pins and record removed");
            Ok(ExitCode::FAILURE)
        }
        Ok(_) => {
            eprintln!("stopped: `{name}` detached, pins and record removed");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Err(RunError::Kernel { what: "writing the live view".into(), source: e }),
    }
}

/// What `nflc run --iface` did, on standard error.
fn print_started(session: &RunSession, asked: Hook) {
    for note in session.notes() {
        eprintln!("note: {note}");
    }
    let info = session.info();
    let t = session.timings();
    let mode = if info.hook != asked { " (no native XDP here: generic mode)" } else { "" };
    eprintln!(
        "running `{}` on {} at {}{mode}: {}; loaded in {:.1} ms, attached in {:.2} ms",
        info.name, info.iface, info.hook, ids(info), t.load_ms, t.attach_ms
    );
    let run_dir = nfl_runtime::pins::run_dir(&info.name);
    eprintln!("pins in {}, record in {}; Ctrl-C or SIGTERM stops it", info.pin_dir.display(), run_dir.display());
    if !session.stats_enabled() {
        eprintln!("note: kernel run-time statistics are unavailable; run counts stay 0");
    }
}

/// The frames of a burst: the capture, or the `in:` packets of FILE's `.test`.
/// `Ok(None)` when the `.test` file has errors (already printed).
fn burst_frames(args: &Args, build: &nfl_compiler::driver::Build, kind: ProgramKind, color: bool) -> Result<Option<(Vec<Frame>, PathBuf)>, RunError> {
    if let Some(pcap) = &args.pcap {
        let capture = nfl_runtime::read_pcap(pcap)
            .map_err(|e| RunError::Capture { path: pcap.clone(), message: e.to_string() })?;
        if !capture.is_ethernet() {
            let message = format!("link type {} is not Ethernet", capture.linktype);
            return Err(RunError::Capture { path: pcap.clone(), message });
        }
        for w in &capture.warnings {
            eprintln!("warning: {}: {w}", pcap.display());
        }
        return Ok(Some((frames_from_capture(&capture), pcap.clone())));
    }
    let path = args.file.with_extension("test");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| RunError::NoPackets(format!("cannot read {}: {e}", path.display())))?;
    let mut sources = build.checked.sources.clone();
    let (_, cases, diags) = nfl_runtime::testfile::parse_source(&mut sources, &path.display().to_string(), &text);
    report::print_diagnostics(&diags, &sources, color);
    if diags.iter().any(|d| d.is_error()) {
        return Ok(None);
    }
    Ok(Some((frames_from_cases(&cases, kind), path)))
}

fn burst(
    args: &Args,
    build: &nfl_compiler::driver::Build,
    kind: ProgramKind,
    asked: Option<Hook>,
    color: bool,
) -> Result<ExitCode, RunError> {
    let program = build.checked.hir.name.clone();
    let hook = choose_hook(&program, kind, asked)?;
    let Some((frames, from)) = burst_frames(args, build, kind, color)? else { return Ok(ExitCode::FAILURE) };
    if frames.is_empty() {
        return Err(RunError::NoPackets(format!("{} holds no frames", from.display())));
    }
    let stop = stop_flag()?;
    let name = args.name.clone().unwrap_or_else(|| format!("{:.20}-{}", stem(&args.file), std::process::id()));
    let cfg = NfSpec { name, source: args.file.clone(), object: build.object.clone(), program: Some(program), hook };
    let limits = Limits::default();
    let run = run_burst(&cfg, &frames, &limits, &stop)?;
    print_burst(&run, frames.len(), &from);
    Ok(if run.report.failed() || stop.is_set() { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn ids(rec: &RunRecord) -> String {
    format!("link {}, prog {}", rec.link_id.unwrap_or(0), rec.prog_id.unwrap_or(0))
}

fn print_burst(run: &BurstRun, n: usize, from: &Path) {
    for note in &run.notes {
        eprintln!("note: {note}");
    }
    let i = &run.info;
    let ns = i.netns.as_deref().unwrap_or("-");
    eprintln!(
        "burst: {n} frame(s) from {} through `{}` at {} on {} in namespace {ns} ({}; loaded in {:.1} ms, attached in {:.2} ms)",
        from.display(), i.program, i.hook, i.iface, ids(i), run.timings.load_ms, run.timings.attach_ms
    );
    if !run.report.counted {
        eprintln!("note: kernel run-time statistics are unavailable; waiting a fixed time per frame");
    }
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "{}", run.report.format());
    let _ = out.flush();
}
