//! The `require_kernel` gate itself: as root it lets tests run; as an unprivileged
//! user it skips loudly, or fails when `NFL_REQUIRE_KERNEL=1`.
//!
//! The unprivileged side re-runs this very test binary under `setpriv` as `nobody`
//! with every capability dropped; `NFL_GATE_CHILD` tells the child which role it has.

use std::process::Command;

use nfl_runtime::{bpf_available, require_kernel};

const CHILD_TEST: &str = "gate_skips_loudly_or_fails_without_privileges";

#[test]
fn gate_skips_loudly_or_fails_without_privileges() {
    if std::env::var_os("NFL_GATE_CHILD").is_some() {
        // Child role: report what the gate says, via the exit status and stderr.
        let ok = require_kernel("gate_child");
        eprintln!("gate_child returned {ok}");
        assert!(!ok, "BPF must not be usable as nobody without capabilities");
        return;
    }
    // Parent role: needs root to drop to nobody; without root this very process is the
    // unprivileged case, so the gate must already say no.
    if !require_kernel(CHILD_TEST) {
        assert!(bpf_available().is_err());
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let run = |require: Option<&str>| {
        let mut cmd = Command::new("setpriv");
        cmd.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--",
        ])
        .arg(&exe)
        .args(["--exact", CHILD_TEST, "--nocapture", "--test-threads=1"])
        .env("NFL_GATE_CHILD", "1")
        .env_remove("NFL_REQUIRE_KERNEL");
        if let Some(v) = require {
            cmd.env("NFL_REQUIRE_KERNEL", v);
        }
        let out = cmd.output().expect("run setpriv");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned()
                + &String::from_utf8_lossy(&out.stdout),
        )
    };

    let (ok, text) = run(None);
    assert!(ok, "the child should skip and pass:\n{text}");
    assert!(
        text.contains("=== SKIPPED gate_child: BPF not permitted here ("),
        "{text}"
    );
    assert!(text.contains("gate_child returned false"), "{text}");

    let (ok, text) = run(Some("1"));
    assert!(
        !ok,
        "with NFL_REQUIRE_KERNEL=1 the child must fail:\n{text}"
    );
    assert!(
        text.contains("NFL_REQUIRE_KERNEL=1 but BPF is not usable here"),
        "{text}"
    );
    assert!(!text.contains("=== SKIPPED"), "{text}");
}
