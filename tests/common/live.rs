//! Running NFs from the tests: `nflc` as a process (bounded in time), and
//! a run on a private veth pair with its files, removed on drop.

use std::net::{SocketAddrV4, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nfl_runtime::netns::VethPair;
use nfl_runtime::pins;

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Wait for `child`, at most `limit`; kill it if it does not end.
pub fn finish(child: Child, limit: Duration) -> Output {
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.expect("wait for nflc"),
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            panic!("nflc (pid {pid}) did not finish within {limit:?}");
        }
    }
}

/// `nflc ARGS` with extra environment; (exit code, stdout, stderr).
pub fn nflc_env(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nflc"));
    cmd.args(args).envs(env.iter().copied()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let out = finish(cmd.spawn().expect("spawn nflc"), Duration::from_secs(60));
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

pub fn nflc(args: &[&str]) -> (i32, String, String) {
    nflc_env(args, &[])
}

/// `nflc ARGS` that must succeed; its stdout and stderr.
pub fn ok(args: &[&str]) -> (String, String) {
    let (code, out, err) = nflc(args);
    assert_eq!(code, 0, "nflc {args:?} failed:\n{out}\n{err}");
    (out, err)
}

/// `nflc ARGS` that must fail with `code` in a diagnostic with a help line.
pub fn fails_with(args: &[&str], env: &[(&str, &str)], code: &str) -> String {
    let (status, out, err) = nflc_env(args, env);
    assert_eq!(status, 1, "nflc {args:?} should fail:\n{out}\n{err}");
    assert!(err.contains(code) && err.contains("help:"), "nflc {args:?}: expected {code} with a help line:\n{err}");
    err
}

/// A test network, the firewall's files, and the run: removed on drop.
pub struct Setup {
    pub pair: VethPair,
    dir: tempfile::TempDir,
    pub name: String,
    child: Option<Child>,
}

impl Setup {
    /// Another program (and config) as `fw.nf` (`fw.yaml`).
    pub fn with(tag: &str, nf: &str, yaml: &str) -> Setup {
        let pair = VethPair::new().expect("veth pair");
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("fw.nf"), nf).expect("write fw.nf");
        std::fs::write(dir.path().join("fw.yaml"), yaml).expect("write fw.yaml");
        let name = format!("cp{}-{tag}", std::process::id());
        Setup { pair, dir, name, child: None }
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `nflc run fw.nf --iface NS_IF` inside the pair's namespace.
    pub fn start(&mut self, extra: &[&str]) {
        self.child = Some(start_run(&self.pair.netns, &self.file("fw.nf"), &self.pair.ns_if, &self.name, extra));
    }

    /// SIGTERM the run; its output.
    pub fn stop(&mut self) -> Output {
        let child = self.child.take().expect("running");
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        finish(child, Duration::from_secs(20))
    }

    pub fn host(&self) -> String {
        self.pair.host_addr.to_string()
    }

    /// The program the run's link runs now.
    pub fn prog_id(&self) -> Option<u32> {
        nfl_runtime::stats::prog_stats(&self.name).map(|p| p.prog_id)
    }
}

/// `nflc run FILE --iface DEV --name NAME --hook xdp EXTRA...` inside
/// `netns`, returned once its record shows the program attached (and its
/// config, when FILE has a `.yaml` beside it).
pub fn start_run(netns: &str, file: &std::path::Path, dev: &str, name: &str, extra: &[&str]) -> Child {
    let mut cmd = Command::new("nsenter");
    cmd.arg(format!("--net=/run/netns/{netns}")).arg(env!("CARGO_BIN_EXE_nflc")).arg("run").arg(file);
    cmd.args(["--iface", dev, "--name", name, "--hook", "xdp"]).args(extra);
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn nsenter nflc run");
    let has_config = file.with_extension("yaml").exists();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        let rec = nfl_runtime::record::read(&pins::run_dir(name));
        if rec.is_some_and(|r| r.pid == child.id() && r.prog_id.is_some() && (r.config.is_some() || !has_config)) {
            return child;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("nflc run {name} exited with {status}: {}", text(&finish(child, Duration::from_secs(5)).stderr));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    end_run(Some(child), name);
    panic!("nflc run {name} did not attach within 60 s");
}

/// Kill a run's process (if any) and remove its pins and record: what a
/// test leaves behind even when an assertion failed.
pub fn end_run(child: Option<Child>, name: &str) {
    if let Some(mut child) = child {
        let _ = child.kill();
        let _ = child.wait();
    }
    let dir = pins::pin_dir(name);
    for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let _ = std::fs::remove_file(e.path());
    }
    let _ = std::fs::remove_dir(&dir);
    let _ = std::fs::remove_dir_all(pins::run_dir(name));
}

impl Drop for Setup {
    fn drop(&mut self) {
        end_run(self.child.take(), &self.name);
    }
}

/// `n` datagrams from the host end to `port` on the namespace end; how many
/// a socket bound there received.
pub fn udp(pair: &VethPair, port: u16, n: usize) -> usize {
    let at = SocketAddrV4::new(pair.ns_addr, port);
    let rx = pair.run_in_ns(move || UdpSocket::bind(at)).expect("namespace").expect("bind receiver");
    rx.set_read_timeout(Some(Duration::from_millis(300))).expect("timeout");
    let tx = UdpSocket::bind(SocketAddrV4::new(pair.host_addr, 0)).expect("bind sender");
    for _ in 0..n {
        tx.send_to(b"control plane", at).expect("send");
    }
    let mut buf = [0u8; 64];
    (0..n).take_while(|_| rx.recv(&mut buf).is_ok()).count()
}

pub fn assert_gone(s: &Setup) {
    for dir in [pins::pin_dir(&s.name), pins::run_dir(&s.name)] {
        assert!(!dir.exists(), "{} is left", dir.display());
    }
    let link = s.pair.show_ns().expect("ip link");
    assert!(!link.contains("prog/xdp"), "still attached:\n{link}");
}
