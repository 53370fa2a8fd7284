//! `examples/l4lb.nf` on real traffic: attached (by `nflc run`) to one end
//! of a veth pair in a private namespace, it encapsulates datagrams sent
//! to its VIP and sends them back out to the backend at the other end,
//! which decapsulates them and delivers them to a UDP socket bound to the
//! VIP on its loopback (as a direct-server-return backend does).
//!
//! This kernel is built without CONFIG_NET_IPIP (and without sit or fou),
//! so the backend cannot use the kernel's ipip device: it decapsulates
//! with an nflc program (`ipv4.set_invalid()`), and the kernel's own UDP
//! socket is the real receiver. The client's frames are written with an
//! AF_PACKET socket, so they leave the namespace's routing alone.

mod common;

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::process::{Child, Command};
use std::time::Duration;

use common::live::{end_run, start_run, text};
use nfl_runtime::netns::{VethOptions, VethPair};

const VIP: Ipv4Addr = Ipv4Addr::new(198, 19, 254, 10);
const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 19, 253, 7);
const FRAMES: usize = 200;

const DECAP: &str = "import std.net
control decap(xdp) {
    if !ethernet.valid || !ipv4.valid { pass }
    if ipv4.protocol != 4 { pass }
    ipv4.set_invalid()
    pass
}
";

fn mac_of(netns: &str, dev: &str) -> [u8; 6] {
    let out = Command::new("ip").args(["-n", netns, "-br", "link", "show", "dev", dev]).output().expect("ip link");
    let s = text(&out.stdout);
    let word = s.split_whitespace().nth(2).unwrap_or_default().to_string();
    let bytes: Vec<u8> = word.split(':').filter_map(|b| u8::from_str_radix(b, 16).ok()).collect();
    bytes.try_into().unwrap_or_else(|_| panic!("no MAC for {dev}: {s}"))
}

fn mac_str(m: [u8; 6]) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// Both runs end (and their pins go) even when an assertion fails.
struct Runs(Vec<(Option<Child>, String)>);

impl Drop for Runs {
    fn drop(&mut self) {
        for (child, name) in self.0.drain(..) {
            end_run(child, &name);
        }
    }
}

fn frame(dst_mac: [u8; 6], src_mac: [u8; 6], n: u16) -> Vec<u8> {
    let payload = format!("query {n}");
    let mut f = Vec::new();
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&[0x08, 0x00]);
    let total = (20 + 8 + payload.len()) as u16;
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0, 1, 0, 0, 64, 17, 0, 0]);
    ip.extend_from_slice(&CLIENT.octets());
    ip.extend_from_slice(&VIP.octets());
    let c = common::csum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&(20000 + n % 1000).to_be_bytes());
    f.extend_from_slice(&53u16.to_be_bytes());
    f.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload.as_bytes());
    f
}

#[test]
fn l4lb_forwards_encapsulated_traffic_a_backend_decapsulates() {
    if !nfl_runtime::require_kernel("l4lb_forwards_encapsulated_traffic_a_backend_decapsulates") {
        return;
    }
    let pair = VethPair::with_options(VethOptions { both_in_netns: true, quiet: false }).expect("veth pair");
    let ns = pair.netns.clone();
    let (lb_if, be_if) = (pair.host_if.clone(), pair.ns_if.clone());
    let (lb_mac, be_mac) = (mac_of(&ns, &lb_if), mac_of(&ns, &be_if));
    let dir = tempfile::tempdir().expect("tempdir");
    let l4lb = dir.path().join("l4lb.nf");
    std::fs::copy(common::root().join("examples/l4lb.nf"), &l4lb).expect("copy l4lb");
    let yaml = format!(
        "self_addr: {}\nnext_hop: {}\ntables:\n  vips:\n    - match: {{ ipv4.dst: {VIP}, ipv4.protocol: 17, meta.dport: 53 }}\n      action: to_group\n      args: [0]\npools:\n  backends:\n    - [{}]\n",
        pair.host_addr,
        mac_str(be_mac),
        pair.ns_addr
    );
    std::fs::write(dir.path().join("l4lb.yaml"), yaml).expect("yaml");
    let decap = dir.path().join("decap.nf");
    std::fs::write(&decap, DECAP).expect("decap");
    // The backend: the VIP on its loopback, no reverse-path filter for the
    // client's (unrouted) address.
    let ip = |args: &[&str]| {
        let st = Command::new("ip").args(["-n", &ns]).args(args).status().expect("ip");
        assert!(st.success(), "ip {args:?}");
    };
    ip(&["addr", "add", &format!("{VIP}/32"), "dev", "lo"]);
    for conf in ["all", "default", be_if.as_str()] {
        let path = format!("/proc/sys/net/ipv4/conf/{conf}/rp_filter");
        pair.run_in_ns(move || std::fs::write(&path, "0")).expect("netns").expect("rp_filter");
    }
    let pid = std::process::id();
    let mut runs = Runs(Vec::new());
    let (lb_name, be_name) = (format!("lb{pid}"), format!("be{pid}"));
    runs.0.push((Some(start_run(&ns, &l4lb, &lb_if, &lb_name, &[])), lb_name.clone()));
    runs.0.push((Some(start_run(&ns, &decap, &be_if, &be_name, &[])), be_name.clone()));
    let received = pair
        .run_in_ns(move || -> Result<usize, std::io::Error> {
            let rx = UdpSocket::bind(SocketAddrV4::new(VIP, 53))?;
            rx.set_read_timeout(Some(Duration::from_millis(500)))?;
            let ifindex = nfl_runtime::attach::ifindex(&be_if).ok_or_else(|| std::io::Error::other("no backend interface"))?;
            let tx = nfl_runtime::packet::PacketSocket::open(ifindex, 0x0003)?;
            let mut got = 0;
            let mut buf = [0u8; 256];
            for n in 0..FRAMES as u16 {
                tx.send(&frame(lb_mac, be_mac, n))?;
                if let Ok((len, from)) = rx.recv_from(&mut buf) {
                    assert_eq!(from.ip().to_string(), CLIENT.to_string(), "the client's address survives the tunnel");
                    assert!(buf[..len].starts_with(b"query "));
                    got += 1;
                }
            }
            Ok(got)
        })
        .expect("netns")
        .expect("traffic");
    assert!(received >= FRAMES * 9 / 10, "the backend received {received} of {FRAMES} datagrams");
    let stats = common::live::nflc(&["stats", &lb_name]);
    assert_eq!(stats.0, 0, "nflc stats: {}", stats.2);
    eprintln!("l4lb on veth: {received} of {FRAMES} datagrams reached the backend's socket\n{}", stats.1);
    drop(runs);
}
