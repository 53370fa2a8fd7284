//! The standard library, embedded in the compiler so that `import std.net`
//! needs no files at run time.

/// `std/net.nf`: Ethernet, VLAN, ARP, IPv4, IPv6, ICMP, ICMPv6, TCP, UDP
/// headers and the `std_parse` parser.
pub const NET: &str = include_str!("../../stdlib/std/net.nf");

/// Every embedded module: (import path, display name, source text).
pub const MODULES: &[(&[&str], &str, &str)] = &[(&["std", "net"], "std/net.nf", NET)];

/// The embedded module for an import path such as `["std", "net"]`, as
/// `(display name, text)`.
pub fn lookup(path: &[String]) -> Option<(&'static str, &'static str)> {
    MODULES
        .iter()
        .find(|(p, _, _)| p.len() == path.len() && p.iter().zip(path).all(|(a, b)| *a == b.as_str()))
        .map(|(_, name, text)| (*name, *text))
}

/// True for paths in the reserved `std` namespace.
pub fn is_std(path: &[String]) -> bool {
    path.first().is_some_and(|p| p == "std")
}
