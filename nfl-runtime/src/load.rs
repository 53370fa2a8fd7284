//! Loading an ELF object into the kernel with aya, and what the verifier said about it.
//!
//! aya 0.14 asks for the verifier log only after a failed load (it retries with a
//! buffer that grows until the whole log fits), so a rejected program carries its full
//! log in [`LoadError::Verifier`], while an accepted one has no log: its statistics
//! come from `bpf_prog_info` instead (`verified_insns`, `xlated_prog_len`,
//! `jited_prog_len`).

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, RawFd};

use aya::programs::{Program, ProgramError};
use aya::{Ebpf, EbpfError, EbpfLoader, VerifierLogLevel};

/// The hook a program runs at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProgramKind {
    /// `BPF_PROG_TYPE_XDP`, section `xdp`.
    Xdp,
    /// `BPF_PROG_TYPE_SCHED_CLS`, section `classifier` or `tc`.
    Tc,
}

impl fmt::Display for ProgramKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProgramKind::Xdp => "xdp",
            ProgramKind::Tc => "tc",
        })
    }
}

/// A program that the kernel accepted. The whole aya [`Ebpf`] is kept, so the
/// program and its maps stay loaded until this value is dropped.
pub struct LoadedProgram {
    ebpf: Ebpf,
    name: String,
    kind: ProgramKind,
    fd: RawFd,
    xlated_len: u32,
    jited_len: u32,
    verified_insns: Option<u32>,
    verifier_log: String,
    /// Stages 1.. of a split program, loaded and in its prog array.
    stages: Vec<crate::stages::StageStats>,
}

impl fmt::Debug for LoadedProgram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedProgram")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("fd", &self.fd)
            .field("xlated_insns", &self.xlated_insn_count())
            .field("jited_len", &self.jited_len)
            .field("verified_insns", &self.verified_insns)
            .finish()
    }
}

impl LoadedProgram {
    /// The program's raw fd; valid for as long as `self` lives.
    pub fn fd(&self) -> RawFd {
        self.fd
    }

    /// The program's function (symbol) name in the object.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn kind(&self) -> ProgramKind {
        self.kind
    }

    /// Instructions after the verifier's rewrites (`xlated_prog_len / 8`).
    pub fn xlated_insn_count(&self) -> u32 {
        self.xlated_len / 8
    }

    /// Bytes of JIT-compiled machine code (0 when the JIT is off).
    pub fn jited_len(&self) -> u32 {
        self.jited_len
    }

    /// The verifier's "processed N insns": from `bpf_prog_info.verified_insns`
    /// (Linux 5.16+), else parsed from the verifier log if there is one.
    pub fn verified_insns(&self) -> Option<u32> {
        self.verified_insns
            .or_else(|| parse_processed_insns(&self.verifier_log))
    }

    /// The verifier log of the load. Empty for accepted programs, because aya 0.14
    /// requests the log only when a load fails.
    pub fn verifier_log(&self) -> &str {
        &self.verifier_log
    }

    /// The underlying aya object, for map access and attaching.
    pub fn ebpf(&self) -> &Ebpf {
        &self.ebpf
    }

    pub fn ebpf_mut(&mut self) -> &mut Ebpf {
        &mut self.ebpf
    }

    /// Stages 1.. of a split program (empty when it is one program); the
    /// entry's own figures are this value's.
    pub fn stages(&self) -> &[crate::stages::StageStats] {
        &self.stages
    }
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum LoadError {
    #[error("cannot parse or prepare the BPF object: {0}")]
    #[diagnostic(code(nfl::E0901))]
    Object(String),
    #[error("the object has no XDP or TC program (programs: {})", list(.available))]
    #[diagnostic(code(nfl::E0902))]
    NoProgram { available: Vec<String> },
    #[error("no program named `{name}` in the object (programs: {})", list(.available))]
    #[diagnostic(code(nfl::E0903))]
    ProgramNotFound {
        name: String,
        available: Vec<String>,
    },
    #[error("the object has several XDP/TC programs ({}); name the one to load", list(.candidates))]
    #[diagnostic(code(nfl::E0904))]
    Ambiguous { candidates: Vec<String> },
    #[error("program `{name}` has type {ty}; only XDP and TC (sched_cls) programs are supported")]
    #[diagnostic(code(nfl::E0905))]
    UnsupportedType { name: String, ty: String },
    #[error("the kernel verifier rejected program `{name}`: {}", verifier_message(.log).unwrap_or(.errno_text))]
    #[diagnostic(
        code(nfl::E0906),
        help(
            "trim_verifier_log(err.verifier_log()) shows the instructions and source lines before the error"
        )
    )]
    Verifier {
        name: String,
        /// The errno of `BPF_PROG_LOAD` (EACCES for a verifier rejection, EINVAL for a
        /// malformed program).
        errno: i32,
        errno_text: String,
        /// The complete verifier log.
        log: String,
    },
    #[error("loading program `{name}` failed: {message}")]
    #[diagnostic(code(nfl::E0907))]
    Kernel { name: String, message: String },
    /// A kfunc call could not be resolved against the running kernel (it lacks
    /// the kfunc, or its BTF is unreadable), or the object's kfunc
    /// relocations are malformed. See `docs/kfuncs.md`.
    #[error("{0}")]
    #[diagnostic(
        code(nfl::E0908),
        help("kfuncs are resolved by name in /sys/kernel/btf/vmlinux; build for a target profile this kernel has")
    )]
    Kfunc(#[from] crate::kfunc::KfuncError),
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

impl LoadError {
    /// The full verifier log, when the verifier rejected the program.
    pub fn verifier_log(&self) -> Option<&str> {
        match self {
            LoadError::Verifier { log, .. } => Some(log),
            _ => None,
        }
    }
}

fn program_kind(prog: &Program) -> Option<ProgramKind> {
    match prog {
        Program::Xdp(_) => Some(ProgramKind::Xdp),
        Program::SchedClassifier(_) => Some(ProgramKind::Tc),
        _ => None,
    }
}

pub(crate) fn map_program_error(name: &str, err: ProgramError) -> LoadError {
    match err {
        ProgramError::LoadError {
            io_error,
            verifier_log,
        } => LoadError::Verifier {
            name: name.to_string(),
            errno: io_error.raw_os_error().unwrap_or(0),
            errno_text: io_error.to_string(),
            log: verifier_log.to_string(),
        },
        other => LoadError::Kernel {
            name: name.to_string(),
            message: other.to_string(),
        },
    }
}

fn map_ebpf_error(err: EbpfError) -> LoadError {
    // A program error at this stage (e.g. from BTF fix-ups) still carries the log.
    match err {
        EbpfError::ProgramError(e) => map_program_error("<object>", e),
        other => {
            // Include the source chain: aya's top-level messages are terse.
            let mut msg = other.to_string();
            let mut src = std::error::Error::source(&other);
            while let Some(s) = src {
                msg.push_str(": ");
                msg.push_str(&s.to_string());
                src = s.source();
            }
            LoadError::Object(msg)
        }
    }
}

/// Load the XDP or TC program `prog_name` from the ELF object `obj` (or the only
/// XDP/TC program in it when `prog_name` is `None`). Maps in the object are created too.
pub fn load(obj: &[u8], prog_name: Option<&str>) -> Result<LoadedProgram, LoadError> {
    load_with_pins(obj, prog_name, None)
}

/// [`load`], with maps marked `pinning = LIBBPF_PIN_BY_NAME` reused from (or
/// pinned anew in) `pin_dir` when given.
pub fn load_with_pins(
    obj: &[u8],
    prog_name: Option<&str>,
    pin_dir: Option<&std::path::Path>,
) -> Result<LoadedProgram, LoadError> {
    let pins = MapPins { default_dir: pin_dir, by_name: Vec::new() };
    load_program(create_maps(obj, &pins)?, prog_name)
}

/// Where maps are pinned: `default_dir` for maps the object marks pinned,
/// and one path per map name (whatever the object says). A pin that exists
/// is reused; otherwise the map is created and pinned there.
#[derive(Clone, Debug, Default)]
pub struct MapPins<'a> {
    pub default_dir: Option<&'a std::path::Path>,
    pub by_name: Vec<(&'a str, std::path::PathBuf)>,
}

/// The first half of a load: parse the object and create (or open the pins
/// of) its maps. Nothing is verified yet; the caller may fill maps before
/// [`load_program`].
///
/// kfunc calls are resolved here, before aya parses the object (aya 0.14
/// does not): see [`crate::kfunc::prepare_object`].
pub fn create_maps(obj: &[u8], pins: &MapPins<'_>) -> Result<Ebpf, LoadError> {
    let obj = crate::kfunc::prepare_object(obj)?;
    let obj: &[u8] = &obj;
    if pins.default_dir.is_none() && !pins.by_name.is_empty() {
        return create_maps_cached(obj, &pins.by_name);
    }
    let mut loader = EbpfLoader::new();
    configure(&mut loader);
    if let Some(dir) = pins.default_dir {
        loader.default_map_pin_directory(dir);
    }
    for (name, path) in &pins.by_name {
        loader.map_pin_path(name, path.as_path());
    }
    loader.load(obj).map_err(map_ebpf_error)
}

fn configure(loader: &mut EbpfLoader<'_>) {
    // No kernel BTF: nflc's objects (and the C twins) carry no CO-RE
    // relocations, and reading /sys/kernel/btf/vmlinux on every load
    // cost more than the verifier itself.
    loader
        .btf(None)
        .verifier_log_level(VerifierLogLevel::DEBUG | VerifierLogLevel::STATS);
}

/// aya's `EbpfLoader::new` parses the kernel's BTF (5 MB) even when it is
/// then told not to use it: a process that loads many times (`nflc run
/// --watch`, reloads) keeps one loader. Only for loads that give every map
/// its own pin path, so that nothing from an earlier load applies.
fn create_maps_cached(obj: &[u8], by_name: &[(&str, std::path::PathBuf)]) -> Result<Ebpf, LoadError> {
    static LOADER: std::sync::Mutex<Option<EbpfLoader<'static>>> = std::sync::Mutex::new(None);
    let mut guard = LOADER.lock().unwrap_or_else(|e| e.into_inner());
    let loader = guard.get_or_insert_with(|| {
        let mut l = EbpfLoader::new();
        configure(&mut l);
        l
    });
    for (name, path) in by_name {
        loader.map_pin_path(intern(name), path.clone());
    }
    loader.load(obj).map_err(map_ebpf_error)
}

/// Map names live as long as the cached loader (a few per program).
fn intern(name: &str) -> &'static str {
    static NAMES: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(n) = names.iter().find(|n| **n == name) {
        return n;
    }
    let leaked: &'static str = Box::leak(name.to_string().into_boxed_str());
    names.push(leaked);
    leaked
}

/// The second half of a load: verify and load program `prog_name` (or the
/// only XDP/TC program) of an object whose maps [`create_maps`] made.
pub fn load_program(mut ebpf: Ebpf, prog_name: Option<&str>) -> Result<LoadedProgram, LoadError> {
    let all: Vec<String> = ebpf.programs().map(|(n, _)| n.to_string()).collect();
    let name = match prog_name {
        Some(name) => {
            if !all.iter().any(|n| n == name) {
                return Err(LoadError::ProgramNotFound {
                    name: name.to_string(),
                    available: all,
                });
            }
            name.to_string()
        }
        None => {
            let mut candidates: Vec<String> = ebpf
                .programs()
                .filter(|(n, p)| program_kind(p).is_some() && !crate::stages::is_stage_program(&ebpf, n))
                .map(|(n, _)| n.to_string())
                .collect();
            candidates.sort();
            match candidates.len() {
                0 => return Err(LoadError::NoProgram { available: all }),
                1 => candidates.remove(0),
                _ => return Err(LoadError::Ambiguous { candidates }),
            }
        }
    };

    let Some(prog) = ebpf.program_mut(&name) else {
        return Err(LoadError::ProgramNotFound {
            name,
            available: all,
        });
    };
    let kind = match prog {
        Program::Xdp(p) => {
            p.load().map_err(|e| map_program_error(&name, e))?;
            ProgramKind::Xdp
        }
        Program::SchedClassifier(p) => {
            p.load().map_err(|e| map_program_error(&name, e))?;
            ProgramKind::Tc
        }
        other => {
            return Err(LoadError::UnsupportedType {
                name,
                ty: format!("{:?}", other.prog_type()),
            });
        }
    };

    let prog = ebpf
        .program(&name)
        .ok_or_else(|| LoadError::ProgramNotFound {
            name: name.clone(),
            available: Vec::new(),
        })?;
    let fd = prog
        .fd()
        .map_err(|e| map_program_error(&name, e))?
        .as_fd()
        .as_raw_fd();
    let info = prog.info().map_err(|e| map_program_error(&name, e))?;
    let stages = crate::stages::load_stages(&mut ebpf, &name)?;
    Ok(LoadedProgram {
        name,
        kind,
        fd,
        xlated_len: info.size_translated().unwrap_or(0),
        jited_len: info.size_jitted(),
        verified_insns: info.verified_instruction_count(),
        verifier_log: String::new(),
        stages,
        ebpf,
    })
}

/// "processed N insns" from a verifier log, if present.
pub fn parse_processed_insns(log: &str) -> Option<u32> {
    log.lines().rev().find_map(|line| {
        let rest = line.trim().strip_prefix("processed ")?;
        let n = rest.split_whitespace().next()?;
        rest.split_whitespace().nth(1).filter(|w| *w == "insns")?;
        n.parse().ok()
    })
}

/// The verifier's own error message: the first line after the last instruction
/// line, e.g. `invalid access to packet, off=20 size=1, R1(id=0,off=20,r=14)`.
pub fn verifier_message(log: &str) -> Option<&str> {
    let lines: Vec<&str> = log.lines().collect();
    let after = lines
        .iter()
        .rposition(|l| is_insn_line(l))
        .map_or(0, |i| i + 1);
    lines.iter().skip(after).map(|l| l.trim()).find(|l| {
        !l.is_empty()
            && !is_source_line(l)
            && !l.starts_with("processed ")
            && !l.starts_with("verification time")
    })
}

/// Whether a verifier log line is an instruction line such as `12: (b7) r0 = 2`.
fn is_insn_line(line: &str) -> bool {
    let Some((idx, rest)) = line.split_once(": ") else {
        return false;
    };
    !idx.is_empty() && idx.bytes().all(|b| b.is_ascii_digit()) && rest.starts_with('(')
}

/// Whether a line is a BTF line_info annotation: the kernel prints the source text of
/// the line an instruction came from as `; <source>` (on 6.x followed by ` @ file:line`).
fn is_source_line(line: &str) -> bool {
    line.starts_with("; ")
}

/// How many instruction lines [`trim_verifier_log`] keeps before the error.
const TRIM_INSNS: usize = 20;

/// The relevant tail of a verifier log: the source annotation in force before the
/// window, the last ~20 instructions (with the `; <source>` annotations and state lines
/// between them), the error message and the statistics line. Lines left out are
/// counted in a `...` marker. Logs without instruction lines (BTF or ELF problems) are
/// cut to their last 30 lines.
pub fn trim_verifier_log(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    let Some(last_insn) = lines.iter().rposition(|l| is_insn_line(l)) else {
        let start = lines.len().saturating_sub(30);
        let mut out = String::new();
        if start > 0 {
            out.push_str(&format!("... ({start} line(s) omitted)\n"));
        }
        for l in lines.iter().skip(start) {
            out.push_str(l);
            out.push('\n');
        }
        return out;
    };
    // Walk back over TRIM_INSNS instruction lines to find where the window starts.
    let mut start = last_insn;
    let mut seen = 0;
    for (i, l) in lines.iter().enumerate().take(last_insn + 1).rev() {
        if is_insn_line(l) {
            seen += 1;
            start = i;
            if seen == TRIM_INSNS {
                break;
            }
        }
    }
    // Pull in the annotations and state lines directly above the first kept insn.
    while start > 0 && lines.get(start - 1).is_some_and(|l| is_source_line(l)) {
        start -= 1;
    }
    let mut out = String::new();
    // The source line in force at the window start, when it was printed earlier.
    let earlier_source = lines.iter().take(start).rposition(|l| is_source_line(l));
    let omitted = start - usize::from(earlier_source.is_some());
    if omitted > 0 {
        out.push_str(&format!("... ({omitted} line(s) omitted)\n"));
    }
    if let Some(i) = earlier_source
        && let Some(l) = lines.get(i)
    {
        out.push_str(l);
        out.push('\n');
    }
    for l in lines.iter().skip(start) {
        if l.trim().is_empty() {
            continue;
        }
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// A `; <source>` annotation from a verifier log, split into its parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceAnnotation {
    /// The source text of the line.
    pub text: String,
    /// File and line, when the kernel printed ` @ file:line` (Linux 6.3+).
    pub file: Option<String>,
    pub line: Option<u32>,
}

/// The source line the verifier was in when it rejected the program: the last
/// `; ` annotation before the error. Callers map it back to the `.nf` line.
pub fn rejection_source(log: &str) -> Option<SourceAnnotation> {
    let lines: Vec<&str> = log.lines().collect();
    let end = lines
        .iter()
        .rposition(|l| is_insn_line(l))
        .map_or(lines.len(), |i| i + 1);
    let line = lines.iter().take(end).rev().find(|l| is_source_line(l))?;
    let body = line.strip_prefix("; ").unwrap_or(line);
    if let Some((text, loc)) = body.rsplit_once(" @ ")
        && let Some((file, lineno)) = loc.rsplit_once(':')
        && let Ok(n) = lineno.trim().parse::<u32>()
    {
        return Some(SourceAnnotation {
            text: text.to_string(),
            file: Some(file.to_string()),
            line: Some(n),
        });
    }
    Some(SourceAnnotation {
        text: body.to_string(),
        file: None,
        line: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
func#0 @0
0: R1=ctx() R10=fp0
; void *data = (void *)(long)ctx->data; @ bad.c:8
0: (61) r2 = *(u32 *)(r1 +0)          ; R1=ctx() R2_w=pkt(r=0)
; if (data + 14 > data_end) @ bad.c:10
1: (61) r1 = *(u32 *)(r1 +4)          ; R1_w=pkt_end()
; return ((unsigned char *)data)[20]; @ bad.c:12
2: (71) r0 = *(u8 *)(r2 +20)
invalid access to packet, off=20 size=1, R2(id=0,off=20,r=0)
R2 offset is outside of the packet
processed 3 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0
";

    #[test]
    fn verifier_message_is_the_line_after_the_last_insn() {
        assert_eq!(
            verifier_message(LOG),
            Some("invalid access to packet, off=20 size=1, R2(id=0,off=20,r=0)")
        );
        assert_eq!(
            verifier_message("BTF is bad\nprocessed 0 insns\n"),
            Some("BTF is bad")
        );
        assert_eq!(verifier_message(""), None);
    }

    #[test]
    fn processed_insns_is_parsed() {
        assert_eq!(parse_processed_insns(LOG), Some(3));
        assert_eq!(parse_processed_insns("nothing here"), None);
    }

    #[test]
    fn trim_keeps_error_stats_and_source() {
        let t = trim_verifier_log(LOG);
        assert!(t.contains("invalid access to packet"), "{t}");
        assert!(t.contains("R2 offset is outside of the packet"), "{t}");
        assert!(t.contains("processed 3 insns"), "{t}");
        assert!(
            t.contains("; return ((unsigned char *)data)[20]; @ bad.c:12"),
            "{t}"
        );
        assert!(t.contains("2: (71) r0"), "{t}");
    }

    #[test]
    fn trim_cuts_long_logs_to_twenty_insns() {
        let mut log = String::from("; int f(struct xdp_md *ctx) @ long.c:3\n");
        for i in 0..100 {
            log.push_str(&format!("{i}: (07) r1 += 1\n"));
        }
        log.push_str("; return x; @ long.c:9\n100: (95) exit\nR0 !read_ok\nprocessed 101 insns\n");
        let t = trim_verifier_log(&log);
        let kept: Vec<&str> = t.lines().filter(|l| is_insn_line(l)).collect();
        assert_eq!(kept.len(), TRIM_INSNS, "{t}");
        assert_eq!(kept.first().copied(), Some("81: (07) r1 += 1"));
        assert!(t.starts_with("... ("), "{t}");
        // The annotation from the top of the log is still in force at insn 81.
        assert!(t.contains("; int f(struct xdp_md *ctx) @ long.c:3"), "{t}");
        assert!(t.contains("; return x; @ long.c:9"), "{t}");
        assert!(t.contains("R0 !read_ok"), "{t}");
        assert!(!t.contains("\n5: (07)"), "{t}");
    }

    #[test]
    fn trim_without_insns_keeps_tail() {
        let log: String = (0..50).map(|i| format!("btf line {i}\n")).collect();
        let t = trim_verifier_log(&log);
        assert!(t.starts_with("... (20 line(s) omitted)"), "{t}");
        assert!(t.contains("btf line 49"));
        assert!(!t.contains("btf line 19\n"));
    }

    #[test]
    fn rejection_source_points_at_last_annotation() {
        let src = rejection_source(LOG);
        assert_eq!(
            src,
            Some(SourceAnnotation {
                text: "return ((unsigned char *)data)[20];".into(),
                file: Some("bad.c".into()),
                line: Some(12)
            })
        );
        let plain = rejection_source("; x = 1;\n0: (b7) r0 = 1\nbad\n");
        assert_eq!(
            plain.map(|s| (s.text, s.line)),
            Some(("x = 1;".to_string(), None))
        );
    }
}
