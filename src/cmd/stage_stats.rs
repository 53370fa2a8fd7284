//! `nflc build --stats`: per stage, the instructions, the stack, the
//! compiler's estimate of the verifier's processed instructions, and the
//! kernel's actual count after a load through nfl-runtime (when BPF is
//! available; otherwise the report says, loudly, that it could not load).

use nfl_compiler::driver::Build;

/// The report, one line per stage, then the load outcome.
pub fn report(build: &Build, compile_ms: f64) -> String {
    let stages = build.all_stages();
    let actual = actual_processed(build);
    let mut out = String::new();
    if stages.len() > 1 {
        out.push_str(&format!(
            "{}: {} stages chained by tail calls (prog array `{}`), compiled in {compile_ms:.2} ms\n",
            build.checked.hir.name,
            stages.len(),
            nfl_compiler::build::stage::PROG_ARRAY
        ));
    }
    for (k, (name, cg)) in stages.iter().enumerate() {
        let e = cg.estimate;
        let real = match &actual {
            Ok(v) => v.get(k).copied().flatten().map_or_else(|| "?".to_string(), |n| n.to_string()),
            Err(_) => "not loaded".to_string(),
        };
        out.push_str(&format!(
            "{name}: {} insns, {} bytes of stack ({} spilled values), estimated {} processed, verifier processed {real}",
            e.insns, e.stack, cg.alloc.n_spilled, e.processed
        ));
        if stages.len() == 1 {
            out.push_str(&format!(", compiled in {compile_ms:.2} ms"));
        }
        out.push('\n');
    }
    if let Err(why) = actual {
        out.push_str(&format!("WARNING: could not load the program to ask the verifier: {why}\n"));
    }
    out
}

/// The verifier's processed count of each stage, loading the object.
fn actual_processed(build: &Build) -> Result<Vec<Option<u32>>, String> {
    nfl_runtime::kernel::bpf_available()?;
    let prog = nfl_runtime::load(&build.object, Some(&build.checked.hir.name)).map_err(|e| e.to_string())?;
    Ok(std::iter::once(prog.verified_insns()).chain(prog.stages().iter().map(|s| s.verified_insns)).collect())
}
