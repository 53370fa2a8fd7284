//! Every capture of the tcpdump corpus reads without a panic, and its frames run
//! through clang-built programs in the kernel with the verdict a Rust model predicts.

mod common;

use nfl_runtime::pcap::{LINKTYPE_ETHERNET, read_pcap};
use nfl_runtime::testrun::RunError;
use nfl_runtime::{load, min_packet_len, require_kernel};

const CORPUS: &str = "/work/shared/corpus/tcpdump";

#[test]
fn tcpdump_corpus_reads_without_panic() {
    let Ok(dir) = std::fs::read_dir(CORPUS) else {
        panic!("corpus {CORPUS} is missing");
    };
    let mut paths: Vec<_> = dir
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .collect();
    paths.sort();
    assert!(
        paths.len() >= 280,
        "expected the 284 corpus captures, found {}",
        paths.len()
    );

    let (mut parsed, mut failed, mut with_warnings) = (0, 0, 0);
    let (mut eth_files, mut eth_frames, mut frames) = (0, 0usize, 0usize);
    for path in &paths {
        match read_pcap(path) {
            Ok(cap) => {
                parsed += 1;
                frames += cap.frames.len();
                if !cap.warnings.is_empty() {
                    with_warnings += 1;
                }
                if cap.linktype == LINKTYPE_ETHERNET {
                    eth_files += 1;
                    eth_frames += cap.frames.len();
                }
            }
            Err(e) => {
                failed += 1;
                eprintln!("not a capture: {e}");
            }
        }
    }
    eprintln!(
        "{} files: {parsed} parsed ({with_warnings} with warnings), {failed} refused; \
         {frames} frames, {eth_frames} Ethernet frames in {eth_files} Ethernet captures",
        paths.len()
    );
    assert!(
        parsed >= 200,
        "only {parsed} of {} captures parsed",
        paths.len()
    );
    assert!(eth_files >= 150, "only {eth_files} Ethernet captures");
    assert!(eth_frames >= 5000, "only {eth_frames} Ethernet frames");
}

#[test]
fn known_captures_decode_exactly() {
    // Little-endian; first frame per `tcpdump -xx`: an ARP request inside QinQ tags.
    let cap = read_pcap(format!("{CORPUS}/802.1ad_QinQ.pcap")).unwrap();
    assert_eq!(cap.linktype, LINKTYPE_ETHERNET);
    assert_eq!(cap.frames.len(), 2);
    assert_eq!(
        &cap.frames[0][..20],
        &[
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x20, 0xd2, 0x5a, 0xfb, 0x3f, 0x88, 0xa8,
            0x00, 0xc8, 0x81, 0x00, 0x07, 0xd1
        ]
    );
    // Big-endian files (magic a1b2c3d4) hold one frame each.
    for name in ["slow-ossp.pcap", "unaligned-nfs-1.pcap"] {
        let cap = read_pcap(format!("{CORPUS}/{name}")).unwrap();
        assert_eq!(cap.frames.len(), 1, "{name}");
        assert!(cap.frames[0].len() >= 14, "{name}");
    }
    assert!(read_pcap(format!("{CORPUS}/README.md")).is_err());
    assert!(read_pcap(format!("{CORPUS}/no-such-file.pcap")).is_err());
}

fn corpus_frames() -> Vec<Vec<u8>> {
    let mut paths: Vec<_> = std::fs::read_dir(CORPUS)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .collect();
    paths.sort();
    paths
        .iter()
        .filter_map(|p| read_pcap(p).ok())
        .filter(|c| c.is_ethernet())
        .flat_map(|c| c.frames)
        .collect()
}

fn is_ipv4(frame: &[u8]) -> bool {
    frame.get(12..14) == Some(&[0x08, 0x00][..])
}

#[test]
fn corpus_frames_through_xdp_and_tc_match_the_model() {
    if !require_kernel("corpus_frames_through_xdp_and_tc_match_the_model") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let xdp = load(
        &common::compile_bytes(dir.path(), "drop_ipv4", common::DROP_IPV4_XDP),
        None,
    )
    .unwrap();
    let tc = load(
        &common::compile_bytes(dir.path(), "tc", common::TC_PROG),
        None,
    )
    .unwrap();
    let frames = corpus_frames();
    assert!(frames.len() > 5000);
    let (mut ran_xdp, mut ran_tc, mut refused_tc, mut too_long) = (0, 0, 0, 0);
    for (i, frame) in frames.iter().enumerate() {
        // XDP: IPv4 is dropped (1), everything else passes (2); frames are unchanged.
        match xdp.test_run(frame, 1) {
            Ok(res) => {
                ran_xdp += 1;
                assert_eq!(res.retval, if is_ipv4(frame) { 1 } else { 2 }, "frame {i}");
                assert_eq!(&res.data_out, frame, "frame {i}");
            }
            Err(RunError::PacketTooShort { .. }) => assert!(frame.len() < 14, "frame {i}"),
            Err(e @ RunError::Syscall { .. }) if frame.len() > 65536 => {
                assert!(e.to_string().contains("too large"), "{e}");
                too_long += 1;
            }
            Err(e) => panic!("frame {i} ({} bytes): {e}", frame.len()),
        }
        // TC: IPv4 is shot (2); the rest passes (0) with MACs swapped. Frames the kernel
        // refuses must be exactly those min_packet_len predicts, or too large for an skb.
        match tc.test_run(frame, 1) {
            Ok(res) => {
                ran_tc += 1;
                if is_ipv4(frame) {
                    assert_eq!(res.retval, 2, "frame {i}");
                } else {
                    assert_eq!(res.retval, 0, "frame {i}");
                    assert_eq!(res.data_out[..6], frame[6..12], "frame {i}");
                    assert_eq!(res.data_out[12..], frame[12..], "frame {i}");
                }
            }
            Err(RunError::PacketTooShort { min, .. }) => {
                refused_tc += 1;
                assert_eq!(min, min_packet_len(tc.kind(), frame).0);
            }
            Err(RunError::Syscall { .. }) if frame.len() > 3700 => too_long += 1,
            Err(e) => panic!(
                "TC frame {i} ({} bytes, ethertype {:02x?}): {e}",
                frame.len(),
                frame.get(12..14)
            ),
        }
    }
    eprintln!(
        "{} frames: XDP ran {ran_xdp}; TC ran {ran_tc}, refused {refused_tc} short, {too_long} too long",
        frames.len()
    );
    assert!(ran_xdp > 5000 && ran_tc > 5000);
}
