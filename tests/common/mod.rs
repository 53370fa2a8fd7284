//! Shared helpers for the root integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub mod corpus;
pub mod live;
pub mod rng;
pub mod stages;

use nfl_compiler::driver::{self, Build, Checked, Failed};
use nfl_compiler::frontend::ModuleLoader;

/// Resolves `import a.b` to `a/b.nf` next to the root file, as the CLI does.
pub struct DirLoader(pub PathBuf);

impl ModuleLoader for DirLoader {
    fn load(&mut self, path: &[String]) -> Option<(String, String)> {
        let mut p = self.0.clone();
        for seg in &path[..path.len().saturating_sub(1)] {
            p.push(seg);
        }
        p.push(format!("{}.nf", path.last()?));
        let text = std::fs::read_to_string(&p).ok()?;
        Some((p.display().to_string(), text))
    }
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The path as shown in diagnostics and snapshots: relative to the repo.
pub fn display_name(path: &Path) -> String {
    path.strip_prefix(root()).unwrap_or(path).display().to_string()
}

fn loader(path: &Path) -> DirLoader {
    DirLoader(path.parent().map(Path::to_path_buf).unwrap_or_default())
}

pub fn check_file(path: &Path) -> Result<Checked, Failed> {
    let text = std::fs::read_to_string(path).expect("read source");
    driver::check(&display_name(path), &text, &mut loader(path))
}

/// Build with `FILE.yaml` as the config when it exists (as `nflc` does).
pub fn build_file(path: &Path) -> Result<Build, Failed> {
    build_file_for(path, nfl_compiler::target::Target::Helpers)
}

/// [`build_file`] for one target profile.
pub fn build_file_for(path: &Path, target: nfl_compiler::target::Target) -> Result<Build, Failed> {
    build_file_limited(path, target, &nfl_compiler::split::Limits::new(None))
}

/// [`build_file_for`] under `limits` (a small `max_insns` splits it).
pub fn build_file_limited(path: &Path, target: nfl_compiler::target::Target, limits: &nfl_compiler::split::Limits) -> Result<Build, Failed> {
    let text = std::fs::read_to_string(path).expect("read source");
    let yaml = path.with_extension("yaml");
    let config = yaml.is_file().then(|| (display_name(&yaml), std::fs::read_to_string(&yaml).expect("read config")));
    let config = config.as_ref().map(|(n, t)| (n.as_str(), t.as_str()));
    driver::build_checked_limited(driver::check_with(&display_name(path), &text, &mut loader(path), config)?, target, limits)
}

/// Build or panic with the rendered diagnostics.
pub fn build_ok(path: &Path) -> Build {
    match build_file(path) {
        Ok(b) => b,
        Err(f) => panic!(
            "{} does not compile:\n{}",
            path.display(),
            nfl_syntax::diag::render_all(&f.diagnostics, &f.sources, false)
        ),
    }
}

/// Every `.nf` file in `dir` (relative to the repo root), sorted.
pub fn nf_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .expect("read dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "nf"))
        .collect();
    files.sort();
    files
}

/// The Internet checksum of `bytes` (RFC 1071), the plain way: the tests'
/// reference for the checksums a program writes.
pub fn csum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for pair in bytes.chunks(2) {
        let hi = u32::from(pair[0]) << 8;
        let lo = pair.get(1).map_or(0, |b| u32::from(*b));
        sum += hi | lo;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Ethernet and a 20-byte IPv4 header (UDP, TTL `ttl`, no payload,
/// checksum left 0) from 198.18.0.1 to 198.18.0.2, then 8 zero bytes.
pub fn ipv4_frame_with_ttl(ttl: u8) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00, 0x45, 0, 0, 20, 0, 1, 0, 0, ttl, 17, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2];
    f.extend_from_slice(&[0; 8]);
    f
}

