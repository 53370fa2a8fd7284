//! The deparse layout (where reshapes put headers) of real programs.

use nfl_compiler::check::check_all;
use nfl_compiler::deparse::layout;
use nfl_compiler::frontend::{NoModules, load_program};
use nfl_compiler::hir::Hir;

fn hir(text: &str) -> Hir {
    let (sources, modules, diags) = load_program("test.nf", text, &mut NoModules);
    assert!(diags.is_empty(), "{diags:?}");
    let (hir, diags) = check_all(&sources, &modules);
    hir.unwrap_or_else(|| panic!("{diags:?}"))
}

fn names(h: &Hir) -> Vec<String> {
    layout(&h.headers, h.parser.as_ref()).order.iter().map(|id| h.headers[id.index()].name.clone()).collect()
}

fn pos(order: &[String], name: &str) -> usize {
    order.iter().position(|n| n == name).unwrap_or_else(|| panic!("{name} not in {order:?}"))
}

#[test]
fn std_net_puts_encapsulation_after_the_link_layer_and_follows_the_parse() {
    let h = hir("import std.net\nheader outer { a: u32 }\nheader gue { b: u32 }\ncontrol c(xdp) { pass }\n");
    let order = names(&h);
    let l = layout(&h.headers, h.parser.as_ref());
    assert_eq!(&order[..4], ["ethernet", "vlan", "outer", "gue"], "{order:?}");
    // Every header after whatever the parser extracts before it.
    for (before, after) in [("ipv4", "tcp"), ("ipv6", "tcp"), ("ipv4", "udp"), ("ipv6", "udp"), ("ipv4", "icmp"), ("ipv6", "icmpv6")] {
        assert!(pos(&order, before) < pos(&order, after), "{before} before {after}: {order:?}");
    }
    let linked: Vec<&str> = order.iter().filter(|n| l.link[h.headers.iter().position(|x| &x.name == *n).unwrap_or(0)]).map(String::as_str).collect();
    assert_eq!(linked, ["ethernet", "vlan"]);
}

#[test]
fn a_user_parser_orders_its_own_headers() {
    let h = hir("header eth { d: u48, s: u48, t: u16 }
header inner { d: u48, s: u48, t: u16 }
header tun { v: u32 }
header shim { x: u16 }
parser p {
    state start { extract eth; select eth.t { 1: t; _: accept } }
    state t { extract tun; extract inner; accept }
}
control c(xdp, p) { pass }
");
    assert_eq!(names(&h), ["eth", "shim", "tun", "inner"]);
}
