//! Test networks in private namespaces, and XDP attached through `ip link ... xdp obj`.

mod common;

use std::net::UdpSocket;
use std::path::Path;
use std::time::Duration;

use nfl_runtime::netns::{
    VethPair, attach_xdp_with_ip, attach_xdp_with_ip_in, detach_xdp_with_ip, xdp_prog_id,
};
use nfl_runtime::require_kernel;

fn link_exists(dev: &str) -> bool {
    Path::new("/sys/class/net").join(dev).exists()
}

fn netns_exists(name: &str) -> bool {
    Path::new("/run/netns").join(name).exists()
}

fn in_benchmark_range(addr: std::net::Ipv4Addr) -> bool {
    let [a, b, ..] = addr.octets();
    a == 198 && (b == 18 || b == 19)
}

#[test]
fn veth_pair_is_created_and_removed() {
    if !require_kernel("veth_pair_is_created_and_removed") {
        return;
    }
    let pair = VethPair::new().expect("create veth pair");
    let (ns, host_if) = (pair.netns.clone(), pair.host_if.clone());
    assert!(
        ns.starts_with(&format!("nfl-{}-", std::process::id())),
        "{ns}"
    );
    assert!(netns_exists(&ns));
    assert!(link_exists(&host_if));
    assert!(in_benchmark_range(pair.host_addr) && in_benchmark_range(pair.ns_addr));
    assert_eq!(pair.host_addr.octets()[..3], pair.ns_addr.octets()[..3]);
    let host = pair.show_host().unwrap();
    assert!(host.contains("state UP") || host.contains(",UP"), "{host}");
    let inner = pair.show_ns().unwrap();
    assert!(inner.contains(&pair.ns_if), "{inner}");
    // The namespace end is not visible here.
    assert!(!link_exists(&pair.ns_if));
    drop(pair);
    assert!(!netns_exists(&ns), "namespace {ns} left behind");
    assert!(!link_exists(&host_if), "link {host_if} left behind");
}

#[test]
fn veth_pair_is_removed_when_a_test_panics() {
    if !require_kernel("veth_pair_is_removed_when_a_test_panics") {
        return;
    }
    let names = std::sync::Mutex::new(None);
    let result = std::panic::catch_unwind(|| {
        let pair = VethPair::new().expect("create veth pair");
        *names.lock().unwrap() = Some((pair.netns.clone(), pair.host_if.clone()));
        panic!("deliberate failure while the pair exists");
    });
    assert!(result.is_err());
    let (ns, host_if) = names.lock().unwrap().clone().expect("pair was created");
    assert!(!netns_exists(&ns), "namespace {ns} left behind");
    assert!(!link_exists(&host_if), "link {host_if} left behind");
}

#[test]
fn two_pairs_get_distinct_subnets() {
    if !require_kernel("two_pairs_get_distinct_subnets") {
        return;
    }
    let a = VethPair::new().unwrap();
    let b = VethPair::new().unwrap();
    assert_ne!(a.netns, b.netns);
    assert_ne!(a.host_addr.octets()[..3], b.host_addr.octets()[..3]);
}

#[test]
fn ip_link_attaches_and_detaches_xdp() {
    if !require_kernel("ip_link_attaches_and_detaches_xdp") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let obj = common::compile(dir.path(), "drop_ipv4", common::DROP_IPV4_XDP);
    let pair = VethPair::new().unwrap();

    assert_eq!(xdp_prog_id(None, &pair.host_if).unwrap(), None);
    attach_xdp_with_ip(&pair.host_if, &obj, "xdp").expect("ip link set xdp obj");
    let id = xdp_prog_id(None, &pair.host_if)
        .unwrap()
        .expect("an XDP program is attached");
    let shown = pair.show_host().unwrap();
    assert!(
        shown.contains("prog/xdp") && shown.contains("drop_ipv4"),
        "{shown}"
    );
    // bpftool agrees on which program it is.
    let bpftool = std::process::Command::new("bpftool")
        .args(["prog", "show", "id", &id.to_string()])
        .output()
        .unwrap();
    let bpftool = String::from_utf8_lossy(&bpftool.stdout);
    assert!(
        bpftool.contains("xdp") && bpftool.contains("drop_ipv4"),
        "{bpftool}"
    );

    detach_xdp_with_ip(&pair.host_if).unwrap();
    assert_eq!(xdp_prog_id(None, &pair.host_if).unwrap(), None);

    // The same inside the namespace, through `ip -n`.
    attach_xdp_with_ip_in(Some(&pair.netns), &pair.ns_if, &obj, "xdp").unwrap();
    assert!(
        xdp_prog_id(Some(&pair.netns), &pair.ns_if)
            .unwrap()
            .is_some()
    );
    // A missing section is an error from ip, not a silent success.
    assert!(attach_xdp_with_ip(&pair.host_if, &obj, "no_such_section").is_err());
    assert_eq!(xdp_prog_id(None, &pair.host_if).unwrap(), None);
}

/// Send `n` UDP datagrams from inside the namespace to the host end; count arrivals.
fn udp_across(pair: &VethPair, port: u16, n: usize) -> usize {
    let rx = UdpSocket::bind((pair.host_addr, port)).unwrap();
    rx.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let (dst, src) = (pair.host_addr, pair.ns_addr);
    pair.run_in_ns(move || {
        let tx = UdpSocket::bind((src, 0)).unwrap();
        for i in 0..n {
            tx.send_to(&[i as u8; 8], (dst, port)).unwrap();
        }
    })
    .unwrap();
    let mut got = 0;
    let mut buf = [0u8; 64];
    for _ in 0..n {
        match rx.recv_from(&mut buf) {
            Ok(_) => got += 1,
            Err(_) => break,
        }
    }
    got
}

#[test]
fn xdp_drop_stops_real_traffic_across_the_veth() {
    if !require_kernel("xdp_drop_stops_real_traffic_across_the_veth") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let obj = common::compile(dir.path(), "drop_ipv4", common::DROP_IPV4_XDP);
    let pair = VethPair::new().unwrap();
    assert_eq!(
        udp_across(&pair, 40001, 3),
        3,
        "without XDP every datagram arrives"
    );
    attach_xdp_with_ip(&pair.host_if, &obj, "xdp").unwrap();
    // ARP still passes, IPv4 is dropped at the host end's XDP hook.
    assert_eq!(
        udp_across(&pair, 40002, 3),
        0,
        "drop_ipv4 must drop every datagram"
    );
    detach_xdp_with_ip(&pair.host_if).unwrap();
    assert_eq!(
        udp_across(&pair, 40003, 3),
        3,
        "after detaching, traffic flows again"
    );
}
