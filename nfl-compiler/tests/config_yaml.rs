//! The YAML config reader (`nfl_compiler::config`): every literal form and
//! match kind, one test per E07xx code with its exact span, several errors
//! at once, rendered snapshots, and no panics on any text.

use nfl_compiler::config::{ PoolCfgSchema,
    ActionSchema, CfgType, ConfigSchema, ConfigValues, KeyMatch, KeySchema, MatchKind, ParamSchema, ParamValue, SetItem, TableSchema,
    read_config,
};
use nfl_syntax::Diagnostic;
use nfl_syntax::ast::FileId;
use nfl_syntax::diag::{SourceMap, render_all};
use proptest::prelude::*;

fn param(name: &str, ty: CfgType, required: bool) -> ParamSchema {
    ParamSchema { name: name.into(), ty, required }
}

fn key(name: &str, width: u32, kind: MatchKind) -> KeySchema {
    KeySchema { name: name.into(), width, kind }
}

fn action(name: &str, params: &[(&str, u32)]) -> ActionSchema {
    ActionSchema { name: name.into(), params: params.iter().map(|(n, w)| (n.to_string(), *w)).collect() }
}

fn table(name: &str, keys: Vec<KeySchema>, actions: Vec<ActionSchema>) -> TableSchema {
    TableSchema { name: name.into(), keys, actions }
}

/// `rate_pps` is the only required parameter.
fn schema() -> ConfigSchema {
    ConfigSchema {
        params: vec![
            param("rate_pps", CfgType::UInt(32), true),
            param("syn_guard", CfgType::Bool, false),
            param("mtu", CfgType::UInt(16), false),
            param("big", CfgType::UInt(64), false),
            param("trusted", CfgType::Set(32), false),
            param("ports", CfgType::Set(16), false),
        ],
        tables: vec![
            table(
                "acl",
                vec![
                    key("ipv4.src", 32, MatchKind::Ternary),
                    key("meta.dport", 16, MatchKind::Range),
                    key("ipv4.protocol", 8, MatchKind::Ternary),
                ],
                vec![action("set_mark", &[("mark", 32)]), action("deny", &[])],
            ),
            table(
                "routes",
                vec![key("(ipv6.dst_hi, ipv6.dst_lo)", 128, MatchKind::Lpm)],
                vec![action("fwd", &[("port", 32), ("mac", 48)]), action("drop_it", &[])],
            ),
            table(
                "l2",
                vec![key("ethernet.dst", 48, MatchKind::Exact), key("meta.vlan", 12, MatchKind::Exact)],
                vec![action("out", &[("port", 16)])],
            ),
            table("v4", vec![key("ipv4.dst", 32, MatchKind::Lpm)], vec![action("deny", &[])]),
        ],
        pools: vec![PoolCfgSchema { name: "backends".into(), width: 32 }],
    }
}

fn read(text: &str) -> (ConfigValues, Vec<Diagnostic>) {
    read_config(FileId(0), text, &schema())
}

/// Read text that must have no errors.
fn ok(text: &str) -> ConfigValues {
    let (values, diags) = read(text);
    assert!(diags.is_empty(), "unexpected diagnostics for\n{text}\n{diags:#?}");
    values
}

/// (code, the YAML text the primary label covers, its 1-based line).
fn errors(text: &str) -> Vec<(&'static str, String, usize)> {
    let (_, diags) = read(text);
    let mut sources = SourceMap::new();
    sources.add("fw.yaml", text);
    diags
        .iter()
        .map(|d| {
            assert!(d.help.is_some(), "no help: {d:?}");
            let span = d.primary_span().expect("a label");
            let covered = text.get(span.range()).expect("span inside the text").to_string();
            (d.code, covered, sources.line_of(span).unwrap_or(0))
        })
        .collect()
}

/// Exactly one diagnostic, with `code`, covering `covered` on `line`.
#[track_caller]
fn one(text: &str, code: &str, covered: &str, line: usize) {
    let got = errors(text);
    assert_eq!(got, vec![(code, covered.to_string(), line)] as Vec<(&str, String, usize)>, "for\n{text}");
}

/// [`one`] for each `(text, covered, line)`.
#[track_caller]
fn each(code: &str, cases: &[(&str, &str, usize)]) {
    for (text, covered, line) in cases {
        one(text, code, covered, *line);
    }
}

fn param_value(values: &ConfigValues, name: &str) -> ParamValue {
    values.params.get(name).map(|(v, _)| v.clone()).unwrap_or_else(|| panic!("no {name}"))
}

fn matches(text: &str, table: &str) -> Vec<Vec<KeyMatch>> {
    let values = ok(text);
    values.tables[table].iter().map(|e| e.matches.clone()).collect()
}

fn render(text: &str) -> String {
    let (_, diags) = read(text);
    let mut sources = SourceMap::new();
    sources.add("fw.yaml", text);
    render_all(&diags, &sources, false)
}

const EXAMPLE: &str = "\
rate_pps: 5000
syn_guard: false
trusted: [198.18.0.0/15, 198.19.0.1, 10..=20, \"0x0800 &&& 0xff00\"]
tables:
  acl:                      # entries in priority order: first listed wins
    - match: { ipv4.src: 198.18.0.0/15, meta.dport: 80..=90, ipv4.protocol: 6 }
      action: set_mark
      args: { mark: 7 }     # or a list in parameter order: [7]; omit when none
    - match: { ipv4.src: \"198.18.0.0 &&& 255.255.0.0\" }
      action: deny
";

// ---------------------------------------------------------------- values

#[test]
fn the_documented_example() {
    let values = ok(EXAMPLE);
    assert_eq!(param_value(&values, "rate_pps"), ParamValue::UInt(5000));
    assert_eq!(param_value(&values, "syn_guard"), ParamValue::Bool(false));
    assert_eq!(
        param_value(&values, "trusted"),
        ParamValue::Set(vec![
            SetItem::Prefix { value: 0xc612_0000, len: 15 },
            SetItem::Value(0xc613_0001),
            SetItem::Range { lo: 10, hi: 20 },
            SetItem::Ternary { value: 0x0800, mask: 0xff00 },
        ])
    );
    let acl = &values.tables["acl"];
    assert_eq!(acl.len(), 2);
    assert_eq!(
        acl[0].matches,
        vec![
            KeyMatch::Ternary { value: 0xc612_0000, mask: 0xfffe_0000 },
            KeyMatch::Range { lo: 80, hi: 90 },
            KeyMatch::Ternary { value: 6, mask: 0xff },
        ]
    );
    assert_eq!((acl[0].action.as_str(), acl[0].args.as_slice()), ("set_mark", &[7u64][..]));
    assert_eq!(acl[1].matches, vec![KeyMatch::Ternary { value: 0xc612_0000, mask: 0xffff_0000 }, KeyMatch::Any, KeyMatch::Any]);
    assert_eq!((acl[1].action.as_str(), acl[1].args.len()), ("deny", 0));
    // The entry's span is the entry, from `match` to the end of its last field.
    let span = acl[1].span;
    assert_eq!(&EXAMPLE[span.range()], "match: { ipv4.src: \"198.18.0.0 &&& 255.255.0.0\" }\n      action: deny");
    // Every schema table is present; unlisted ones are empty.
    assert_eq!(values.tables.keys().collect::<Vec<_>>(), ["acl", "l2", "routes", "v4"]);
    assert!(values.tables["routes"].is_empty());
    // Optional parameters left out are absent.
    assert!(!values.params.contains_key("mtu"));
    let (_, span) = &values.params["rate_pps"];
    assert_eq!(&EXAMPLE[span.range()], "5000");
}

#[test]
fn integers_as_written_not_as_yaml_reads_them() {
    for (text, want) in [
        ("1500", 1500),
        ("0x10", 16),
        ("0X1f", 31),
        ("0b1010", 10),
        ("1_000", 1000),
        ("0x_ff_ff", 0xffff),
        ("\"0x0800\"", 0x800),
        ("'65_535'", 65535),
        ("010", 10),
    ] {
        let values = ok(&format!("rate_pps: 1\nmtu: {text}\n"));
        assert_eq!(param_value(&values, "mtu"), ParamValue::UInt(want), "{text}");
    }
    let values = ok("rate_pps: 0xffff_ffff\nbig: 18446744073709551615\n");
    assert_eq!(param_value(&values, "rate_pps"), ParamValue::UInt(0xffff_ffff));
    assert_eq!(param_value(&values, "big"), ParamValue::UInt(u64::MAX));
}

#[test]
fn durations_in_nanoseconds() {
    for (text, want) in [("30s", 30_000_000_000), ("250ms", 250_000_000), ("5m", 300_000_000_000), ("1_000ns", 1000)] {
        assert_eq!(param_value(&ok(&format!("rate_pps: 1\nbig: {text}\n")), "big"), ParamValue::UInt(want), "{text}");
    }
    one("rate_pps: 5s\n", "nfl::E0717", "5s", 1);
}

#[test]
fn sexagesimal_and_bools_are_not_yaml_1_1() {
    // YAML 1.1 would read 1:30 as 90 and `yes` as true; we read the text.
    one("rate_pps: 1:30\n", "nfl::E0715", "1:30", 1);
    one("rate_pps: 1\nsyn_guard: yes\n", "nfl::E0716", "yes", 2);
    for (text, want) in [("true", true), ("false", false), ("\"true\"", true)] {
        assert_eq!(param_value(&ok(&format!("rate_pps: 1\nsyn_guard: {text}\n")), "syn_guard"), ParamValue::Bool(want));
    }
}

#[test]
fn addresses() {
    let values = ok("rate_pps: 198.18.0.1\nbig: 1\n");
    assert_eq!(param_value(&values, "rate_pps"), ParamValue::UInt(0xc612_0001));
    let routes = matches(
        "rate_pps: 1\ntables:\n  routes:\n    - { match: { \"(ipv6.dst_hi, ipv6.dst_lo)\": 2001:db8::/32 }, action: drop_it }\n    - match: { \"(ipv6.dst_hi,ipv6.dst_lo)\": \"::1\" }\n      action: drop_it\n",
        "routes",
    );
    assert_eq!(routes[0], vec![KeyMatch::Prefix { value: 0x2001_0db8 << 96, len: 32 }]);
    assert_eq!(routes[1], vec![KeyMatch::Prefix { value: 1, len: 128 }]);
    let values = ok("rate_pps: 1\ntables:\n  routes:\n    - { action: fwd, args: [3, 02:00:00:00:00:0a] }\n");
    let entry = &values.tables["routes"][0];
    assert_eq!(entry.matches, vec![KeyMatch::Prefix { value: 0, len: 0 }]);
    assert_eq!(entry.args, vec![3, 0x0200_0000_000a]);
    let l2 = matches(
        "rate_pps: 1\ntables:\n  l2:\n    - { match: { ethernet.dst: 02:00:00:00:00:01, meta.vlan: 0xfff }, action: out, args: { port: 1 } }\n",
        "l2",
    );
    assert_eq!(l2[0], vec![KeyMatch::Exact(0x0200_0000_0001), KeyMatch::Exact(0xfff)]);
}

#[test]
fn a_128_bit_key_takes_integers() {
    let routes = matches(
        "rate_pps: 1\ntables:\n  routes:\n    - { match: { \"(ipv6.dst_hi, ipv6.dst_lo)\": 0xffff_ffff_ffff_ffff_ffff_ffff_ffff_ffff }, action: drop_it }\n    - { match: { \"(ipv6.dst_hi, ipv6.dst_lo)\": 1/0 }, action: drop_it }\n",
        "routes",
    );
    assert_eq!(routes[0], vec![KeyMatch::Prefix { value: u128::MAX, len: 128 }]);
    assert_eq!(routes[1], vec![KeyMatch::Prefix { value: 0, len: 0 }]);
}

#[test]
fn each_match_kind() {
    let text = "rate_pps: 1
tables:
  acl:
    - { match: { ipv4.src: 10.0.0.0/8, meta.dport: 1024..65536, ipv4.protocol: _ }, action: deny }
    - { match: { ipv4.src: 10.1.2.3, meta.dport: _, ipv4.protocol: \"*\" }, action: deny }
    - { match: { ipv4.src: 0x0a000000 &&& 0xff000000, meta.dport: 53 }, action: deny }
    - { match: {}, action: deny }
    - { action: deny }
  v4:
    - { match: { ipv4.dst: 10.0.0.0/8 }, action: deny }
    - { match: { ipv4.dst: 10.1.2.3 }, action: deny }
    - { match: { ipv4.dst: 10.1.2.3/24 }, action: deny }
    - { match: { ipv4.dst: _ }, action: deny }
    - { action: deny }
";
    let any = KeyMatch::Any;
    assert_eq!(
        matches(text, "acl"),
        vec![
            vec![KeyMatch::Ternary { value: 0x0a00_0000, mask: 0xff00_0000 }, KeyMatch::Range { lo: 1024, hi: 65535 }, any],
            vec![KeyMatch::Ternary { value: 0x0a01_0203, mask: u128::from(u32::MAX) }, any, any],
            vec![KeyMatch::Ternary { value: 0x0a00_0000, mask: 0xff00_0000 }, KeyMatch::Range { lo: 53, hi: 53 }, any],
            vec![any, any, any],
            vec![any, any, any],
        ]
    );
    let prefix = |value: u128, len| vec![KeyMatch::Prefix { value, len }];
    assert_eq!(
        matches(text, "v4"),
        vec![prefix(0x0a00_0000, 8), prefix(0x0a01_0203, 32), prefix(0x0a01_0200, 24), prefix(0, 0), prefix(0, 0)]
    );
}

#[test]
fn set_items_and_empty_collections() {
    let values =
        ok("rate_pps: 1\nports:\n  - 22\n  - 8000..8100\n  - 0x8000 &&& 0x8000\n  - 0/1\ntrusted: []\ntables:\n  acl:\n  v4: []\n");
    assert_eq!(
        param_value(&values, "ports"),
        ParamValue::Set(vec![
            SetItem::Value(22),
            SetItem::Range { lo: 8000, hi: 8099 },
            SetItem::Ternary { value: 0x8000, mask: 0x8000 },
            SetItem::Prefix { value: 0, len: 1 },
        ])
    );
    assert_eq!(param_value(&values, "trusted"), ParamValue::Set(Vec::new()));
    assert!(values.tables["acl"].is_empty());
}

#[test]
fn args_by_name_or_in_order() {
    let text = "rate_pps: 1\ntables:\n  routes:\n    - { action: fwd, args: { mac: 02:00:00:00:00:01, port: 9 } }\n    - { action: fwd, args: [9, 0x020000000001] }\n";
    let values = ok(text);
    let args: Vec<&[u64]> = values.tables["routes"].iter().map(|e| e.args.as_slice()).collect();
    assert_eq!(args, [&[9, 0x0200_0000_0001][..], &[9, 0x0200_0000_0001][..]]);
}

#[test]
fn empty_file_and_anchors() {
    each("nfl::E0706", &[("", "", 1), ("# nothing\n", "", 1)]);
    // An anchor alone is harmless.
    assert_eq!(param_value(&ok("rate_pps: &r 7\n"), "rate_pps"), ParamValue::UInt(7));
}

// ---------------------------------------------------------------- one test per code

#[test]
fn e0701_yaml_syntax() {
    each("nfl::E0701", &[("rate_pps: 1\ntrusted: [1, 2\nmtu: 3\n", ":", 3), ("rate_pps: 1\nbad: *\n", "*", 2)]);
    let text = "rate_pps: 1\ntrusted: [1, 2\nmtu: 3\n";
    let (_, diags) = read(text);
    assert_eq!((&text[diags[0].labels[1].span.range()], diags[0].labels[1].message.as_str()), ("[", "this `[` is still open"));
}

#[test]
fn e0702_unsupported_yaml() {
    each("nfl::E0702", &[("rate_pps: &r 7\nmtu: *r\n", "*r", 2), ("rate_pps: 7\n---\nmtu: 1\n", "---", 2)]);
}

#[test]
fn e0703_wrong_kind() {
    each(
        "nfl::E0703",
        &[
            ("rate_pps: [1, 2]\n", "[1, 2]", 1),
            ("rate_pps: 1\ntrusted: 10.0.0.1\n", "10.0.0.1", 2),
            ("rate_pps: 1\ntables:\n  acl: { action: deny }\n", "{ action: deny }", 3),
            ("rate_pps: 1\ntables:\n  acl:\n    - deny\n", "deny", 4),
            ("rate_pps: 1\ntables:\n  acl:\n    - { match: [1], action: deny }\n", "[1]", 4),
            ("rate_pps: 1\ntables:\n  acl:\n    - { action: [deny] }\n", "[deny]", 4),
            ("rate_pps: 1\ntables:\n  acl:\n    - { action: set_mark, args: 7 }\n", "7", 4),
            ("- 1\n- 2\n", "- 1\n- 2", 1),
            ("rate_pps: 1\n[a]: 2\n", "[a]", 2),
        ],
    );
}

#[test]
fn e0704_duplicate_key() {
    let text = "rate_pps: 1\nmtu: 2\nrate_pps: 3\n";
    one(text, "nfl::E0704", "rate_pps", 3);
    let (_, diags) = read(text);
    assert_eq!(diags[0].labels[1].message, "first given here");
    assert_eq!(diags[0].labels[1].span.range(), 0..8);
    each(
        "nfl::E0704",
        &[
            ("rate_pps: 1\ntables:\n  acl:\n    - { match: { meta.dport: 1, meta.dport: 2 }, action: deny }\n", "meta.dport", 4),
            (
                "rate_pps: 1\ntables:\n  routes:\n    - match:\n        (ipv6.dst_hi, ipv6.dst_lo): ::1\n        (ipv6.dst_hi,ipv6.dst_lo): ::2\n      action: drop_it\n",
                "(ipv6.dst_hi,ipv6.dst_lo)",
                6,
            ),
        ],
    );
}

#[test]
fn e0705_unknown_parameter() {
    one("rate_pps: 1\nrate_ppz: 2\n", "nfl::E0705", "rate_ppz", 2);
    let (_, diags) = read("rate_ppz: 2\nrate_pps: 1\n");
    assert_eq!(diags[0].help.as_deref(), Some("did you mean `rate_pps`?"));
    let (_, diags) = read("rate_pps: 1\nacl: []\n");
    assert_eq!(diags[0].help.as_deref(), Some("`acl` is a table; its entries go under `tables:`"));
}

#[test]
fn e0706_missing_required_parameter() {
    one("mtu: 1500\n", "nfl::E0706", "", 1);
    // Not when a misspelling of it is already reported.
    one("rate_ppz: 1500\n", "nfl::E0705", "rate_ppz", 1);
    let (values, _) = read("mtu: 1500\n");
    assert_eq!(param_value(&values, "mtu"), ParamValue::UInt(1500));
}

#[test]
fn e0707_unknown_table() {
    one("rate_pps: 1\ntables:\n  alc: []\n", "nfl::E0707", "alc", 3);
    let (_, diags) = read("rate_pps: 1\ntables:\n  alc: []\n");
    assert_eq!(diags[0].help.as_deref(), Some("did you mean `acl`?"));
}

#[test]
fn e0708_unknown_entry_field() {
    each(
        "nfl::E0708",
        &[
            ("rate_pps: 1\ntables:\n  acl:\n    - { action: deny, actoin: deny }\n", "actoin", 4),
            ("rate_pps: 1\ntables:\n  acl:\n    - action: deny\n      priority: 3\n", "priority", 5),
        ],
    );
}

#[test]
fn e0709_entry_without_action() {
    one("rate_pps: 1\ntables:\n  acl:\n    - { match: { meta.dport: 1 } }\n", "nfl::E0709", "{ match: { meta.dport: 1 } }", 4);
}

#[test]
fn e0710_unknown_action() {
    one("rate_pps: 1\ntables:\n  acl:\n    - { action: dney }\n", "nfl::E0710", "dney", 4);
    let (_, diags) = read("rate_pps: 1\ntables:\n  acl:\n    - { action: dney }\n");
    assert_eq!(diags[0].help.as_deref(), Some("did you mean `deny`?"));
}

#[test]
fn e0711_unknown_match_key() {
    one("rate_pps: 1\ntables:\n  acl:\n    - { match: { ipv4.dst: 1.2.3.4 }, action: deny }\n", "nfl::E0711", "ipv4.dst", 4);
}

#[test]
fn e0711_an_unquoted_tuple_key_in_braces() {
    let text = "rate_pps: 1\ntables:\n  routes:\n    - { match: { (ipv6.dst_hi, ipv6.dst_lo): ::1 }, action: drop_it }\n";
    let got = errors(text);
    assert_eq!(got, [("nfl::E0711", "(ipv6.dst_hi".to_string(), 4), ("nfl::E0711", "ipv6.dst_lo)".to_string(), 4)]);
    let (_, diags) = read(text);
    let help = "inside `{ }` a comma ends a key: quote it, `\"(ipv6.dst_hi, ipv6.dst_lo)\": VALUE`, or write `match:` as a block mapping";
    assert_eq!(diags[0].help.as_deref(), Some(help));
}

#[test]
fn e0712_missing_exact_key() {
    one("rate_pps: 1\ntables:\n  l2:\n    - { match: { meta.vlan: 1 }, action: out, args: [1] }\n", "nfl::E0712", "{ meta.vlan: 1 }", 4);
    let got = errors("rate_pps: 1\ntables:\n  l2:\n    - { action: out, args: [1] }\n");
    let want = vec![("nfl::E0712", "{ action: out, args: [1] }".to_string(), 4); 2];
    assert_eq!(got, want);
}

#[test]
fn e0713_argument_count() {
    each(
        "nfl::E0713",
        &[
            ("rate_pps: 1\ntables:\n  acl:\n    - { action: set_mark }\n", "set_mark", 4),
            ("rate_pps: 1\ntables:\n  acl:\n    - { action: set_mark, args: [1, 2] }\n", "[1, 2]", 4),
            ("rate_pps: 1\ntables:\n  acl:\n    - { action: deny, args: [1] }\n", "[1]", 4),
            ("rate_pps: 1\ntables:\n  routes:\n    - { action: fwd, args: { port: 1 } }\n", "{ port: 1 }", 4),
            ("rate_pps: 1\ntables:\n  acl:\n    - action: set_mark\n      args:\n", "args", 5),
        ],
    );
}

#[test]
fn e0714_unknown_argument() {
    one("rate_pps: 1\ntables:\n  acl:\n    - { action: set_mark, args: { mark: 1, colour: 2 } }\n", "nfl::E0714", "colour", 4);
}

#[test]
fn e0715_malformed_literal() {
    each(
        "nfl::E0715",
        &[
            ("rate_pps: fast\n", "fast", 1),
            ("rate_pps: -1\n", "-1", 1),
            ("rate_pps: 0x12g\n", "0x12g", 1),
            ("rate_pps: 198.18.0.256\n", "198.18.0.256", 1),
            ("rate_pps: 1\ntrusted: [10.0.0.0/x]\n", "10.0.0.0/x", 2),
            ("rate_pps: 1\ntrusted: [\"2001:db8:::1\"]\n", "\"2001:db8:::1\"", 2),
            ("rate_pps: 340282366920938463463374607431768211456\n", "340282366920938463463374607431768211456", 1),
        ],
    );
}

#[test]
fn e0716_form_not_accepted() {
    each(
        "nfl::E0716",
        &[
            ("rate_pps: 1..2\n", "1..2", 1),
            ("rate_pps:\n", "rate_pps", 1),
            ("rate_pps: 1\nsyn_guard: 1\n", "1", 2),
            ("rate_pps: 1\ntrusted: [_]\n", "_", 2),
            ("rate_pps: 1\ntables:\n  l2:\n    - { match: { ethernet.dst: _, meta.vlan: 1 }, action: out, args: [1] }\n", "_", 4),
            ("rate_pps: 1\ntables:\n  acl:\n    - { match: { meta.dport: 10.0.0.0/8 }, action: deny }\n", "10.0.0.0/8", 4),
            ("rate_pps: 1\ntables:\n  v4:\n    - { match: { ipv4.dst: 1..2 }, action: deny }\n", "1..2", 4),
            ("rate_pps: 1\ntables:\n  acl:\n    - { match: { ipv4.protocol: 1..2 }, action: deny }\n", "1..2", 4),
            ("rate_pps: 1\ntables:\n  acl:\n    - { match: { meta.dport: 1 &&& 1 }, action: deny }\n", "1 &&& 1", 4),
        ],
    );
}

#[test]
fn e0717_does_not_fit() {
    each(
        "nfl::E0717",
        &[
            ("rate_pps: 1\nmtu: 65536\n", "65536", 2),
            ("rate_pps: 1\nports: [10.0.0.1]\n", "10.0.0.1", 2),
            ("rate_pps: 1\nports: [1..=0x10000]\n", "1..=0x10000", 2),
            ("rate_pps: 1\ntables:\n  acl:\n    - { action: set_mark, args: [0x1_0000_0000] }\n", "0x1_0000_0000", 4),
            ("rate_pps: 1\ntables:\n  acl:\n    - { match: { ipv4.protocol: 256 }, action: deny }\n", "256", 4),
            (
                "rate_pps: 1\ntables:\n  routes:\n    - { match: { \"(ipv6.dst_hi, ipv6.dst_lo)\": 10.0.0.0/8 }, action: drop_it }\n",
                "10.0.0.0/8",
                4,
            ),
            ("rate_pps: 1\ntables:\n  v4:\n    - { match: { ipv4.dst: \"::1\" }, action: deny }\n", "\"::1\"", 4),
        ],
    );
}

#[test]
fn e0718_prefix_too_long() {
    each(
        "nfl::E0718",
        &[
            ("rate_pps: 1\ntables:\n  v4:\n    - { match: { ipv4.dst: 10.0.0.0/33 }, action: deny }\n", "10.0.0.0/33", 4),
            ("rate_pps: 1\nports: [0/17]\n", "0/17", 2),
        ],
    );
}

#[test]
fn e0719_empty_range() {
    each(
        "nfl::E0719",
        &[
            ("rate_pps: 1\nports: [90..=80]\n", "90..=80", 2),
            ("rate_pps: 1\ntables:\n  acl:\n    - { match: { meta.dport: 80..80 }, action: deny }\n", "80..80", 4),
        ],
    );
}

#[test]
fn e0720_value_outside_mask() {
    one("rate_pps: 1\ntrusted: [\"0x0801 &&& 0xff00\"]\n", "nfl::E0720", "\"0x0801 &&& 0xff00\"", 2);
}

// ---------------------------------------------------------------- together

#[test]
fn independent_errors_are_all_reported() {
    let text = "\
rate_ppz: 1
mtu: 70000
syn_guard: maybe
trusted: [10.0.0.0/40, 1.2.3.4, 9..=1]
tables:
  acl:
    - { match: { ipv4.src: 1.2.3.4 }, action: set_mark, args: [1] }
    - { match: { meta.dprt: 1 }, action: set_mark }
    - { match: { ipv4.protocol: 300 }, action: dney }
  nope: []
";
    let got: Vec<(&str, String)> = errors(text).into_iter().map(|(c, s, _)| (c, s)).collect();
    let want = [
        ("nfl::E0705", "rate_ppz"),
        ("nfl::E0717", "70000"),
        ("nfl::E0716", "maybe"),
        ("nfl::E0718", "10.0.0.0/40"),
        ("nfl::E0719", "9..=1"),
        ("nfl::E0711", "meta.dprt"),
        ("nfl::E0713", "set_mark"),
        ("nfl::E0717", "300"),
        ("nfl::E0710", "dney"),
        ("nfl::E0707", "nope"),
    ];
    let want: Vec<(&str, String)> = want.iter().map(|(c, s)| (*c, s.to_string())).collect();
    assert_eq!(got, want);
    // What was right is kept; what was wrong is left out.
    let (values, _) = read(text);
    assert!(values.params.is_empty());
    assert_eq!(values.tables["acl"].len(), 1);
}

// ---------------------------------------------------------------- rendering

#[test]
fn rendered_unknown_parameter() {
    insta::assert_snapshot!(render("rate_ppz: 5000\nsyn_guard: false\n"));
}

#[test]
fn rendered_value_errors() {
    insta::assert_snapshot!(render(
        "rate_pps: 1\ntables:\n  acl:\n    - match: { ipv4.src: \"10.0.0.1 &&& 255.0.0.0\", meta.dport: 90..=80 }\n      action: deny\n"
    ));
}

#[test]
fn rendered_syntax_error() {
    insta::assert_snapshot!(render("rate_pps: 1\ntrusted: [1, 2\nmtu: 3\n"));
}

// ---------------------------------------------------------------- robustness

fn mutate(text: &str, edits: &[(usize, u8)]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for (at, b) in edits {
        if bytes.is_empty() {
            break;
        }
        let i = at % bytes.len();
        match b % 3 {
            0 => bytes[i] = *b,
            1 => {
                bytes.remove(i);
            }
            _ => bytes.insert(i, *b),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn mutated_yaml_never_panics(edits in prop::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let text = mutate(EXAMPLE, &edits);
        let (_, diags) = read(&text);
        for d in &diags {
            let span = d.primary_span().expect("a label");
            prop_assert!(text.get(span.range()).is_some(), "span {span:?} outside the text");
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in "[a-z0-9_:. /&*!|>\\[\\]{},\"'\\-#?\n=]{0,80}") {
        let _ = read(&text);
    }

    #[test]
    fn arbitrary_scalars_never_panic(value in "\\PC{0,24}") {
        let _ = read(&format!("rate_pps: 1\ntrusted: [\"{}\"]\n", value.replace(['"', '\\'], "")));
        let _ = read(&format!("rate_pps: 1\ntables:\n  routes:\n    - {{ match: {{ (ipv6.dst_hi, ipv6.dst_lo): '{}' }}, action: drop_it }}\n", value.replace('\'', "")));
    }
}

#[test]
fn maglev_pools_list_groups_of_members() {
    let v = ok("rate_pps: 1\npools:\n  backends:\n    - [198.18.1.1, 198.18.1.2]\n    - []\n");
    let groups: Vec<Vec<u64>> = v.pools["backends"].groups.iter().map(|(m, _)| m.clone()).collect();
    assert_eq!(groups, vec![vec![0xc612_0101, 0xc612_0102], vec![]]);
    one("rate_pps: 1\npools:\n  backendz: [[1]]\n", "nfl::E0721", "backendz", 3);
    one("rate_pps: 1\npools:\n  backends: [[1, 2, 1]]\n", "nfl::E0704", "1", 3);
    one("rate_pps: 1\npools:\n  backends: [[198.18.1.1/24]]\n", "nfl::E0716", "198.18.1.1/24", 3);
    let flat = errors("rate_pps: 1\npools:\n  backends: [1, 2]\n");
    assert_eq!(flat, vec![("nfl::E0703", "1".to_string(), 3), ("nfl::E0703", "2".to_string(), 3)], "each group must be a list");
}
