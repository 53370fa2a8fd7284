//! Shared helpers for the kernel tests: small XDP/TC programs written in C and
//! compiled with clang into a temporary directory.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Declarations shared by the C programs; no system headers, so the build does not
/// depend on where the distribution keeps `asm/types.h`.
const PRELUDE: &str = r#"
#define SEC(name) __attribute__((section(name), used))
struct xdp_md {
    unsigned int data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex;
};
struct __sk_buff {
    unsigned int len, pkt_type, mark, queue_mapping, protocol, vlan_present, vlan_tci,
        vlan_proto, priority, ingress_ifindex, ifindex, tc_index, cb[5], hash, tc_classid,
        data, data_end;
};
char _license[] SEC("license") = "GPL";
"#;

/// XDP: drop IPv4 (ethertype 0x0800 at bytes 12..13), pass everything else.
pub const DROP_IPV4_XDP: &str = r#"
SEC("xdp")
int drop_ipv4(struct xdp_md *ctx)
{
    unsigned char *data = (unsigned char *)(long)ctx->data;
    unsigned char *end = (unsigned char *)(long)ctx->data_end;
    if (data + 14 > end)
        return 2; /* XDP_PASS */
    if (data[12] == 0x08 && data[13] == 0x00)
        return 1; /* XDP_DROP */
    return 2;
}
"#;

/// XDP: swap destination and source MAC and send the frame back out.
pub const SWAP_MAC_XDP: &str = r#"
SEC("xdp")
int swap_mac(struct xdp_md *ctx)
{
    unsigned char *data = (unsigned char *)(long)ctx->data;
    unsigned char *end = (unsigned char *)(long)ctx->data_end;
    if (data + 14 > end)
        return 1;
    for (int i = 0; i < 6; i++) {
        unsigned char t = data[i];
        data[i] = data[i + 6];
        data[i + 6] = t;
    }
    return 3; /* XDP_TX */
}
"#;

/// XDP with a verifier error: reads byte 20 after checking only 14 bytes.
pub const BAD_XDP: &str = r#"
SEC("xdp")
int bad_read(struct xdp_md *ctx)
{
    unsigned char *data = (unsigned char *)(long)ctx->data;
    unsigned char *end = (unsigned char *)(long)ctx->data_end;
    if (data + 14 > end)
        return 2;
    return data[20] == 7 ? 1 : 2; /* BAD LINE */
}
"#;

/// TC: drop IPv4 (TC_ACT_SHOT), otherwise swap MACs and return TC_ACT_OK.
pub const TC_PROG: &str = r#"
SEC("classifier")
int tc_filter(struct __sk_buff *skb)
{
    unsigned char *data = (unsigned char *)(long)skb->data;
    unsigned char *end = (unsigned char *)(long)skb->data_end;
    if (data + 14 > end)
        return 0;
    if (data[12] == 0x08 && data[13] == 0x00)
        return 2; /* TC_ACT_SHOT */
    for (int i = 0; i < 6; i++) {
        unsigned char t = data[i];
        data[i] = data[i + 6];
        data[i + 6] = t;
    }
    return 0; /* TC_ACT_OK */
}
"#;

/// Two XDP programs in one object, to exercise program selection by name.
pub const TWO_XDP: &str = r#"
SEC("xdp")
int first(struct xdp_md *ctx) { return 1; }
SEC("xdp")
int second(struct xdp_md *ctx) { return 2; }
"#;

/// Compile `src` (after the prelude) with `clang -O2 -g -target bpf` into `dir`,
/// returning the object's path. The C file is kept next to it, so the verifier's
/// `; <source>` annotations resolve.
pub fn compile(dir: &Path, name: &str, src: &str) -> PathBuf {
    let c_path = dir.join(format!("{name}.c"));
    let o_path = dir.join(format!("{name}.o"));
    std::fs::write(&c_path, format!("{PRELUDE}{src}")).expect("write C source");
    let out = Command::new("clang")
        .args(["-O2", "-g", "-target", "bpf", "-c"])
        .arg(&c_path)
        .arg("-o")
        .arg(&o_path)
        .output()
        .expect("run clang");
    assert!(
        out.status.success(),
        "clang failed for {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    o_path
}

/// Compile and read the object bytes.
/// Compile C source in a scratch directory and load the only program in it.
pub fn load_c(name: &str, src: &str) -> nfl_runtime::LoadedProgram {
    let dir = tempfile::tempdir().expect("tempdir");
    nfl_runtime::load(&compile_bytes(dir.path(), name, src), None).expect("load")
}

pub fn compile_bytes(dir: &Path, name: &str, src: &str) -> Vec<u8> {
    let path = compile(dir, name, src);
    std::fs::read(path).expect("read object")
}

/// The 1-based line of the first line of `src` (after the prelude) containing `needle`,
/// as the compiled C file numbers it.
pub fn c_line_of(src: &str, needle: &str) -> u32 {
    let full = format!("{PRELUDE}{src}");
    let idx = full
        .lines()
        .position(|l| l.contains(needle))
        .expect("needle in source");
    u32::try_from(idx + 1).expect("small")
}

/// An Ethernet + IPv4 + UDP frame from 198.18.0.1 to 198.18.0.2, 42 bytes.
pub fn ipv4_udp_frame() -> Vec<u8> {
    let mut f = vec![
        0x02, 0, 0, 0, 0, 0x02, // dst mac
        0x02, 0, 0, 0, 0, 0x01, // src mac
        0x08, 0x00, // IPv4
        0x45, 0x00, 0x00, 0x1c, 0x00, 0x01, 0x00, 0x00, 0x40, 0x11, 0x00, 0x00, // ip hdr
        198, 18, 0, 1, 198, 18, 0, 2, // addrs
        0x30, 0x39, 0x00, 0x35, 0x00, 0x08, 0x00, 0x00, // udp 12345 -> 53
    ];
    f.truncate(42);
    f
}

/// An Ethernet + ARP request frame, 42 bytes.
pub fn arp_frame() -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x01, 0x08, 0x06]);
    f.extend_from_slice(&[0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01]);
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x01, 198, 18, 0, 1]);
    f.extend_from_slice(&[0, 0, 0, 0, 0, 0, 198, 18, 0, 2]);
    f
}
