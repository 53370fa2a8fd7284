//! Reloads that change map layouts, in the kernel: a firewall runs on a veth
//! in a private namespace, the control plane writes entries and counters,
//! and reloads with a grown counter, a grown tuple-space table, an action
//! with a new parameter, then a shrunk counter and a re-keyed table. What
//! the maps hold afterwards is read back through the control plane. A
//! reload whose rules do not fit the new table is refused and changes
//! nothing.

mod run_common;

use nfl_compiler::driver;
use nfl_compiler::frontend::NoModules;
use nfl_compiler::hir::KeyMatch;
use nfl_runtime::attach::Hook;
use nfl_runtime::cp_error::ControlError;
use nfl_runtime::mapops;
use nfl_runtime::netns::VethPair;
use nfl_runtime::nf::RunningNf;
use nfl_runtime::reload::{ReloadOptions, ReloadReport, reload_nf};
use nfl_runtime::run::RunSession;
use nfl_runtime::table_ops::{self, NewEntry};
use run_common::*;

const BASE: &str = r#"
import std.net
counter hits[4]
meta { dport: u16, mark: u16 }
action allow() { hits[0].count() }
action deny() { hits[1].count(); drop }
action mark(port: u16) { hits[2].count(); meta.mark = port }
table blocklist {
    key { ipv4.src: exact }
    actions { deny, mark }
    size 64
}
table acl {
    key { ipv4.src: ternary, meta.dport: range }
    actions { allow, deny, mark }
    default allow
    size 256
    masks 16
}
control fw(xdp) {
    if !ipv4.valid { pass }
    if udp.valid { meta.dport = udp.dst_port }
    blocklist.apply()
    acl.apply()
    pass
}
"#;

fn object(text: &str) -> Vec<u8> {
    let checked = driver::check_with("fw.nf", text, &mut NoModules, None).unwrap_or_else(|f| panic!("{:?}", f.diagnostics));
    driver::build_checked(checked).unwrap_or_else(|f| panic!("{:?}", f.diagnostics)).object
}

fn variant(edits: &[(&str, &str)]) -> Vec<u8> {
    let mut text = BASE.to_string();
    for (from, to) in edits {
        assert!(text.contains(from), "{from}");
        text = text.replacen(from, to, 1);
    }
    object(&text)
}

fn reload(name: &str, obj: &[u8]) -> Result<ReloadReport, ControlError> {
    reload_nf(name, obj, &ReloadOptions { program: Some("fw".into()), config: None })
}

fn outcome(r: &ReloadReport, map: &str) -> (String, String) {
    let m = r.maps.iter().find(|m| m.map == map).unwrap_or_else(|| panic!("no {map} in {:?}", r.maps));
    (m.what.to_string(), m.detail.clone())
}

/// Write `packets` into every CPU's copy of `hits[i]` (the sum is `packets * cpus`).
fn set_hits(nf: &RunningNf, i: u32, packets: u64) {
    let maps = nf.maps().expect("maps");
    let h = maps.get("hits").expect("hits");
    let mut v = packets.to_le_bytes().to_vec();
    v.extend(0u64.to_le_bytes());
    mapops::update_all_cpus(h.fd(), h.shape, &i.to_le_bytes(), &v).expect("write hits");
}

fn hits(nf: &RunningNf) -> Vec<u64> {
    nfl_runtime::stats::read(nf).expect("stats").counters.iter().filter(|c| c.counter == "hits").map(|c| c.packets).collect()
}

fn prefix(v: u32, len: u32) -> KeyMatch {
    let mask = if len == 0 { 0 } else { u128::from(u32::MAX << (32 - len)) };
    KeyMatch::Ternary { value: u128::from(v) & mask, mask }
}

#[test]
fn layouts_that_change_are_migrated_and_misfits_refused() {
    if !nfl_runtime::require_kernel("layouts_that_change_are_migrated_and_misfits_refused") {
        return;
    }
    let name = unique_name("migrate");
    let _guard = NameGuard(name.clone());
    let pair = VethPair::new().expect("veth pair");
    let session = RunSession::start(&config(&name, &pair, object(BASE), Hook::Xdp)).expect("start");
    let nf = RunningNf::open(&name).expect("open");
    let rule = NewEntry { matches: vec![prefix(0xc612_0000, 16), KeyMatch::Range { lo: 80, hi: 90 }], action: "mark".into(), args: vec![7], prio: None };
    table_ops::add(&nf, "acl", &rule).expect("add acl rule");
    let other = NewEntry { matches: vec![prefix(0xc613_0000, 16), KeyMatch::Range { lo: 1000, hi: 1999 }], action: "deny".into(), args: vec![], prio: None };
    table_ops::add(&nf, "acl", &other).expect("add second acl rule");
    let entry = NewEntry { matches: vec![KeyMatch::Exact(0xc612_0009)], action: "mark".into(), args: vec![3], prio: None };
    table_ops::add(&nf, "blocklist", &entry).expect("add blocklist entry");
    set_hits(&nf, 2, 5);
    set_hits(&nf, 3, 9);
    let cpus = mapops::possible_cpus() as u64;

    // Grown counter and table, and `mark` gains a parameter.
    let grown = variant(&[
        ("hits[4]", "hits[6]"),
        ("size 256", "size 512"),
        ("action mark(port: u16) {", "action mark(port: u16, tag: u8) {"),
    ]);
    let r = reload(&name, &grown).expect("reload grown");
    assert_eq!(outcome(&r, "hits"), ("migrated".into(), "4 -> 6 cells, all copied".into()));
    assert_eq!(outcome(&r, "acl_rules").0, "migrated");
    assert!(outcome(&r, "blocklist_rules").1.contains("1 entries re-encoded; 1 new parameter(s) set to 0"), "{:?}", r.maps);
    let nf = RunningNf::open(&name).expect("open again");
    assert_eq!(hits(&nf), vec![0, 0, 5 * cpus, 9 * cpus, 0, 0]);
    let acl = table_ops::list(&nf, "acl").expect("list acl");
    let marked = acl.entries.iter().find(|e| e.action == "mark").expect("the mark rule survived");
    assert_eq!(marked.args, vec![("port".to_string(), 7), ("tag".to_string(), 0)]);
    assert_eq!(acl.entries.len(), 2);
    let bl = table_ops::list(&nf, "blocklist").expect("list blocklist");
    assert_eq!(bl.entries.len(), 1);
    assert_eq!((bl.entries[0].action.as_str(), bl.entries[0].args.clone()), ("mark", vec![("port".to_string(), 3), ("tag".to_string(), 0)]));
    // The rebuilt table takes control-plane changes as before.
    table_ops::del(&nf, "acl", &table_ops::Selector { matches: Some(rule.matches.clone()), prio: None }).expect("del after reload");

    // Too few masks for the rules left: refused, nothing changes.
    let prog = session.link().info().expect("link").prog_id;
    let cramped = variant(&[("hits[4]", "hits[6]"), ("size 256", "size 512"), ("action mark(port: u16) {", "action mark(port: u16, tag: u8) {"), ("masks 16", "masks 1"), ("actions { allow, deny, mark }", "actions { allow, mark }")]);
    table_ops::add(&nf, "acl", &rule).expect("add again");
    let err = reload(&name, &cramped).expect_err("the rules need 2 masks");
    assert!(matches!(err, ControlError::MigrationRefused { .. }), "{err:?}");
    assert_eq!(session.link().info().expect("link").prog_id, prog, "nothing swapped");
    let temp = std::fs::read_dir(nfl_runtime::pins::pin_dir(&name)).expect("pins").flatten().any(|e| e.file_name().to_string_lossy().starts_with("new-"));
    assert!(!temp, "temporary pins left");
    assert_eq!(table_ops::list(&nf, "acl").expect("list").entries.len(), 2);

    // A shrunk counter drops the cells that counted; a new key recreates the table.
    let shrunk = variant(&[("hits[4]", "hits[3]"), ("hits[2].count()", "hits[0].count()"), ("key { ipv4.src: ternary, meta.dport: range }", "key { ipv4.dst: ternary, meta.dport: range }")]);
    let r = reload(&name, &shrunk).expect("reload shrunk");
    assert!(outcome(&r, "hits").1.contains("DROPPED 1 cell(s) that had counted"), "{:?}", r.maps);
    assert_eq!(outcome(&r, "acl_rules").0, "recreated");
    let nf = RunningNf::open(&name).expect("open again");
    assert_eq!(hits(&nf), vec![0, 0, 5 * cpus]);
    assert!(table_ops::list(&nf, "acl").expect("list").entries.is_empty());
    assert_eq!(nfl_runtime::rules::load(&name, "acl").expect("rule list"), Some(Vec::new()));
    drop(session);
    assert_eq!(leftovers(&name), Vec::<String>::new());
}
