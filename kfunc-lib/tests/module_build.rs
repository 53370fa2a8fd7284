//! The kernel module builds against the installed kernel headers and
//! carries every kfunc in its `.BTF_ids` set; docs/kfunc-lib.md documents
//! exactly the registered kfuncs.

mod common;

use std::process::Command;

use object::{Object, ObjectSection, ObjectSymbol};

#[test]
fn module_builds_with_every_kfunc() {
    let test = "module_builds_with_every_kfunc";
    let Some(kdir) = common::kdir() else {
        common::missing(test, "no kernel headers (install linux-headers-amd64)");
        return;
    };
    if !common::have_tool("make") {
        common::missing(test, "make is not installed (install make)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    common::copy_module_sources(dir.path());
    let out = Command::new("make")
        .arg(format!("KDIR={}", kdir.display()))
        .current_dir(dir.path())
        .output()
        .expect("run make");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "make against {} failed:\n{log}",
        kdir.display()
    );
    // Only warnings about our sources count (Kbuild may warn about its setup).
    let ours: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("warning:") && l.contains("nfl_"))
        .collect();
    assert!(
        ours.is_empty(),
        "the module builds without warnings:\n{log}"
    );

    let ko = dir.path().join("nfl_kfuncs.ko");
    let bytes = std::fs::read(&ko).expect("nfl_kfuncs.ko was built");
    let file = object::File::parse(&*bytes).expect("the .ko is an ELF object");
    let btf_ids = file
        .section_by_name(".BTF_ids")
        .expect("a .BTF_ids section");
    let names: Vec<String> = file
        .symbols()
        .filter_map(|s| s.name().ok().map(str::to_string))
        .collect();
    let kfuncs = common::registered_kfuncs();
    assert!(kfuncs.len() >= 20, "{kfuncs:?}");
    // A set8 is a header (cnt, flags) and one (id, flags) pair per kfunc.
    assert!(btf_ids.size() >= 8 * (kfuncs.len() as u64 + 1));
    for k in &kfuncs {
        assert!(names.contains(k), "symbol {k} missing from the .ko");
        let id = format!("__BTF_ID__func__{k}__");
        assert!(
            names.iter().any(|n| n.starts_with(&id)),
            "no BTF id for {k}"
        );
    }
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("__BTF_ID__set8__nfl_kfunc_ids"))
    );
}

#[test]
fn docs_list_exactly_the_registered_kfuncs() {
    let doc = std::fs::read_to_string(common::crate_dir().join("../docs/kfunc-lib.md")).unwrap();
    let kfuncs = common::registered_kfuncs();
    for k in &kfuncs {
        assert!(
            doc.contains(&format!(" {k}(")),
            "docs/kfunc-lib.md has no prototype for {k}"
        );
    }
    // Every prototype in the doc's kfunc table is registered.
    for line in doc
        .lines()
        .filter(|l| l.starts_with("| `") && l.contains(" nfl_"))
    {
        let name = line
            .split(" nfl_")
            .nth(1)
            .and_then(|r| r.split('(').next())
            .unwrap();
        let name = format!("nfl_{name}");
        assert!(
            kfuncs.contains(&name),
            "{name} is documented but not registered"
        );
    }
}
