//! `nflc sim FILE --pcap P [--out O]`: a capture through the NF in the
//! userspace engine, without privileges. The engine's clock is the
//! capture's: `bpf_ktime_get_ns` reads each frame's timestamp, so meters
//! and idle timeouts see the capture's own pacing.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use nfl_runtime::engine::{Engine, Options};
use nfl_runtime::load::ProgramKind;
use nfl_runtime::testfile::{describe_retval, verdict_from_retval};

pub struct Args<'a> {
    pub file: &'a Path,
    pub config: Option<&'a Path>,
    pub pcap: &'a Path,
    pub out: Option<&'a Path>,
    pub target: nfl_compiler::Target,
    pub max_insns: Option<u64>,
    /// Sketch keys to list per sketch.
    pub top: usize,
}

pub fn run(a: &Args<'_>, color: bool) -> Result<ExitCode, String> {
    let cap = nfl_runtime::pcap::read_pcap(a.pcap).map_err(|e| e.to_string())?;
    if !cap.is_ethernet() {
        return Err(format!("{} has link type {}, not Ethernet (1)", a.pcap.display(), cap.linktype));
    }
    for w in &cap.warnings {
        eprintln!("warning: {}: {w}", a.pcap.display());
    }
    let Some(build) = super::build_file_limited(a.file, a.config, color, a.target, a.max_insns)? else {
        return Ok(ExitCode::FAILURE);
    };
    let mut engine = Engine::new(&build.object, Options::default()).map_err(|e| e.to_string())?;
    let hook = engine.hook();
    let mut verdicts: BTreeMap<String, usize> = BTreeMap::new();
    let mut faults = Vec::new();
    let mut kept: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut oversized = 0;
    for (i, frame) in cap.frames.iter().enumerate() {
        if frame.len() > nfl_runtime::engine::env::MAX_PACKET {
            oversized += 1;
            continue;
        }
        let t = cap.times_ns.get(i).copied().unwrap_or(0);
        engine.world().clock_ns = t;
        match engine.run(frame) {
            Ok(r) => {
                *verdicts.entry(describe_retval(hook, r.retval)).or_default() += 1;
                if leaves(hook, r.retval) {
                    kept.push((t, r.data_out));
                }
            }
            Err(f) => {
                *verdicts.entry("engine fault".into()).or_default() += 1;
                if faults.len() < 5 {
                    faults.push(format!("frame {i}: {f}"));
                }
            }
        }
    }
    println!("{} frames from {} through {} (userspace engine)", cap.frames.len(), a.pcap.display(), build.checked.hir.name);
    let line: Vec<String> = verdicts.iter().map(|(k, n)| format!("{k} {n}")).collect();
    println!("verdicts: {}", line.join(", "));
    if oversized > 0 {
        println!("skipped: {oversized} frames over {} bytes (multi-buffer frames are not simulated)", nfl_runtime::engine::env::MAX_PACKET);
    }
    for f in &faults {
        println!("  {f}");
    }
    print_state(&mut engine, &build.schema, a.top)?;
    if let Some(out) = a.out {
        write_pcap(out, &kept)?;
        println!("wrote {} frames that left the program (pass, tx, redirect) to {}", kept.len(), out.display());
    }
    Ok(if faults.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Whether a frame with this verdict leaves the program: passed up,
/// transmitted, or redirected.
fn leaves(hook: ProgramKind, retval: u32) -> bool {
    use nfl_runtime::testfile::Verdict;
    matches!(verdict_from_retval(hook, retval), Some(Verdict::Pass | Verdict::Tx | Verdict::Redirect))
}

/// Counters, table hits and misses, state map sizes and sketch tops, as
/// `nflc stats` and `nflc sketch top` show a running NF's.
fn print_state(engine: &mut Engine, schema: &nfl_compiler::schema::Schema, top: usize) -> Result<(), String> {
    let maps = &*engine.maps();
    let counters = nfl_runtime::state::counters(maps, schema).map_err(|e| e.to_string())?;
    if !counters.is_empty() {
        println!("counters:");
    }
    for (name, i, packets, bytes) in counters {
        println!("  {name}[{i}]: {packets} packets, {bytes} bytes");
    }
    for t in &schema.tables {
        let (hits, misses) = nfl_runtime::table_ops::hits_misses(maps, t);
        if hits + misses > 0 {
            println!("table {}: {hits} hits, {misses} misses", t.name);
        }
    }
    for m in &schema.state_maps {
        let n = nfl_runtime::state::MapRead::keys(maps, &m.name).map_err(|e| e.to_string())?.len();
        println!("state {}: {n} entries", m.name);
    }
    for s in &schema.sketches {
        let ranked = match s.kind {
            nfl_compiler::hir::SketchKind::Topk => nfl_runtime::sketch::top(maps, s, top),
            nfl_compiler::hir::SketchKind::Hyperloglog if !s.per_slots.is_empty() => nfl_runtime::sketch::top(maps, s, top),
            nfl_compiler::hir::SketchKind::Hyperloglog => {
                let st = nfl_runtime::sketch::read(maps, s).map_err(|e| e.to_string())?;
                if let nfl_runtime::sketch::Answer::Distinct(n) = st.query(&[]) {
                    println!("sketch {}: about {n:.0} distinct keys", s.name);
                }
                continue;
            }
            _ => continue,
        }
        .map_err(|e| e.to_string())?;
        println!("sketch {} top {}:", s.name, ranked.len());
        for (key, est) in ranked {
            println!("  {}: {est}", nfl_runtime::sketch::key_text(s, &key));
        }
    }
    Ok(())
}

/// Write `frames` (timestamp in ns, bytes) as a nanosecond pcap, through a
/// temporary file renamed into place.
fn write_pcap(out: &Path, frames: &[(u64, Vec<u8>)]) -> Result<(), String> {
    use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
    let dir = out.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    let header = PcapHeader { ts_resolution: pcap_file::TsResolution::NanoSecond, ..PcapHeader::default() };
    let mut w = PcapWriter::with_header(tmp.as_file(), header).map_err(|e| e.to_string())?;
    for (t, data) in frames {
        let ts = std::time::Duration::from_nanos(*t);
        w.write_packet(&PcapPacket::new(ts, data.len() as u32, data)).map_err(|e| e.to_string())?;
    }
    drop(w);
    tmp.persist(out).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    Ok(())
}
