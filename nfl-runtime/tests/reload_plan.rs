//! The reload rules (docs/running.md, "Reload rules") over real schemas: a
//! base firewall and variants of it, compiled by nflc, and what
//! `nfl_runtime::plan::plan` decides for each map. Pure: no kernel needed.

use nfl_compiler::driver;
use nfl_compiler::frontend::NoModules;
use nfl_compiler::schema::Schema;
use nfl_runtime::plan::{Fate, Migration, plan};

const BASE: &str = r#"
import std.net
config { block_port: u16 = 9 }
counter hits[4]
meta { dport: u16, mark: u16 }
action allow() { hits[0].count() }
action deny() { hits[1].count(); drop }
action mark(port: u16) { hits[2].count(); meta.mark = port }
table blocklist {
    key { ipv4.src: exact, meta.dport: exact }
    actions { deny }
    size 64
}
table acl {
    key { ipv4.src: ternary, meta.dport: range }
    actions { allow, deny, mark }
    default allow
    size 256
    masks 16
}
table fixed {
    key { meta.dport: exact }
    actions { allow }
    entries { 1: allow }
}
map seen: u32 -> u64 size 1024 idle 2s
control fw(xdp) {
    if !ipv4.valid { pass }
    if udp.valid { meta.dport = udp.dst_port }
    seen[ipv4.src] += 1
    if meta.dport == config.block_port { hits[3].count(); drop }
    if meta.dport == 1 { fixed.apply() }
    blocklist.apply()
    acl.apply()
    pass
}
"#;

fn schema(text: &str) -> Schema {
    let checked = driver::check_with("fw.nf", text, &mut NoModules, None).unwrap_or_else(|f| panic!("{:?}", f.diagnostics));
    driver::build_checked(checked).unwrap_or_else(|f| panic!("{:?}", f.diagnostics)).schema
}

fn variant(from: &str, to: &str) -> Schema {
    assert!(BASE.contains(from), "{from}");
    schema(&BASE.replacen(from, to, 1))
}

fn fate(new: &Schema, map: &str) -> Fate {
    plan(&schema(BASE), new).fate(map).cloned().unwrap_or_else(|| panic!("no map {map}"))
}

#[test]
fn an_unchanged_program_keeps_its_state_and_refills_static_tables() {
    let base = schema(BASE);
    let p = plan(&base, &base);
    for m in &p.maps {
        let expected = if m.map.starts_with("fixed") && !m.map.ends_with("_stats") { Fate::Fresh } else { Fate::Keep };
        assert_eq!(m.fate, expected, "{}", m.map);
    }
    assert!(p.removed.is_empty());
    // A config value folded into the code changes nothing for the maps.
    let other = variant("block_port: u16 = 9", "block_port: u16 = 7777");
    assert!(plan(&base, &other).maps.iter().all(|m| m.fate == Fate::Keep || m.fate == Fate::Fresh));
}

#[test]
fn counters_that_grow_or_shrink_are_copied() {
    assert_eq!(fate(&variant("hits[4]", "hits[6]"), "hits"), Fate::Migrate(Migration::Cells { old: 4, new: 6 }));
    let two = BASE.replacen("hits[4]", "hits[3]", 1).replacen("hits[3].count(); drop", "hits[2].count(); drop", 1);
    assert_eq!(fate(&schema(&two), "hits"), Fate::Migrate(Migration::Cells { old: 4, new: 3 }));
    let added = variant("counter hits[4]", "counter hits[4]\ncounter spare");
    assert_eq!(plan(&schema(BASE), &added).fate("spare"), Some(&Fate::New));
}

#[test]
fn dynamic_tables_migrate_when_they_grow_or_their_actions_change() {
    let bigger = variant("size 256", "size 512");
    assert_eq!(fate(&bigger, "acl_rules"), Fate::Migrate(Migration::Rules));
    assert_eq!(fate(&bigger, "acl_masks"), Fate::Migrate(Migration::Rules));
    assert_eq!(fate(&bigger, "blocklist_rules"), Fate::Keep);
    let more_masks = variant("masks 16", "masks 32");
    assert_eq!(fate(&more_masks, "acl_masks"), Fate::Migrate(Migration::Rules));
    let param = variant("action mark(port: u16) { hits[2].count(); meta.mark = port }", "action mark(port: u16, tag: u8) { hits[2].count(); meta.mark = port }");
    assert_eq!(fate(&param, "acl_rules"), Fate::Migrate(Migration::Rules));
    assert_eq!(fate(&param, "blocklist_rules"), Fate::Keep);
    let action = variant("actions { deny }", "actions { deny, mark }");
    assert_eq!(fate(&action, "blocklist_rules"), Fate::Migrate(Migration::Values));
    assert_eq!(fate(&variant("size 64", "size 128"), "blocklist_rules"), Fate::Migrate(Migration::Values));
}

#[test]
fn a_changed_key_recreates_the_table() {
    let rekeyed = variant("key { ipv4.src: exact, meta.dport: exact }", "key { ipv4.dst: exact, meta.dport: exact }");
    assert!(matches!(fate(&rekeyed, "blocklist_rules"), Fate::Recreate(why) if why.contains("key changed")));
    assert_eq!(fate(&rekeyed, "blocklist_stats"), Fate::Keep);
}

#[test]
fn state_maps_migrate_only_when_they_grow() {
    assert_eq!(fate(&variant("size 1024 idle 2s", "size 4096 idle 2s"), "seen"), Fate::Migrate(Migration::Entries));
    assert!(matches!(fate(&variant("size 1024 idle 2s", "size 512 idle 2s"), "seen"), Fate::Recreate(why) if why.contains("shrank")));
    assert!(matches!(fate(&variant("size 1024 idle 2s", "size 1024"), "seen"), Fate::Recreate(why) if why.contains("idle timeout was removed")));
    assert_eq!(fate(&variant("idle 2s", "idle 9s"), "seen"), Fate::Keep);
}

#[test]
fn maps_the_new_program_lacks_are_removed() {
    let fewer = schema(&BASE.replacen("map seen: u32 -> u64 size 1024 idle 2s", "", 1).replacen("seen[ipv4.src] += 1", "", 1));
    assert_eq!(plan(&schema(BASE), &fewer).removed, vec!["seen".to_string()]);
}

/// The load balancer with one backend fewer: its Maglev tables and the
/// membership map are built afresh from the new config; the connection
/// tables are kept, so tracked flows keep their backend.
#[test]
fn l4lb_reload_rebuilds_maglev_and_keeps_connections() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let text = std::fs::read_to_string(root.join("l4lb.nf")).expect("l4lb.nf");
    let yaml = std::fs::read_to_string(root.join("l4lb.yaml")).expect("l4lb.yaml");
    let build = |yaml: &str| {
        let checked = driver::check_with("l4lb.nf", &text, &mut NoModules, Some(("l4lb.yaml", yaml))).unwrap_or_else(|f| panic!("{:?}", f.diagnostics));
        driver::build_checked(checked).unwrap_or_else(|f| panic!("{:?}", f.diagnostics)).schema
    };
    let old = build(&yaml);
    let fewer = yaml.replacen("198.18.1.1, ", "", 1);
    assert_ne!(fewer, yaml);
    let new = build(&fewer);
    assert_eq!(new.maglevs[0].groups[0].len() + 1, old.maglevs[0].groups[0].len());
    let p = plan(&old, &new);
    for map in ["backends", "backends_members"] {
        assert_eq!(p.fate(map), Some(&Fate::Fresh), "{map}");
    }
    for map in ["conns", "conns6", "stats"] {
        assert_eq!(p.fate(map), Some(&Fate::Keep), "{map}");
    }
}
