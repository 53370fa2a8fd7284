//! Reading packet captures for differential runs: classic pcap in either byte order
//! and either timestamp resolution, and pcapng.
//!
//! Real captures are often damaged (the tcpdump corpus is full of fuzzed files), so
//! reading is lenient: a damaged record ends the read, and [`read_pcap`] returns the
//! frames read until then plus a warning. Only a file that is not a capture at all
//! (unreadable, unknown magic, short global header) is an error.
//!
//! Record headers are taken as they are: pcap-file's strict check rejects records whose
//! original length exceeds the snap length, which is exactly what a capture with a
//! small snaplen contains, so we read raw records and check only what matters for
//! slicing the file.

use std::path::Path;

use pcap_file::pcap::PcapParser;
use pcap_file::pcapng::{Block, PcapNgParser};

/// Link type 1: Ethernet (`LINKTYPE_ETHERNET`).
pub const LINKTYPE_ETHERNET: u32 = 1;

/// The frames of one capture.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Capture {
    /// The link type (`LINKTYPE_*`) of the frames; 1 is Ethernet.
    pub linktype: u32,
    /// The captured bytes of each frame (possibly cut short by the snap length).
    pub frames: Vec<Vec<u8>>,
    /// When each frame was captured, in nanoseconds since the epoch (0
    /// where the capture does not say).
    pub times_ns: Vec<u64>,
    /// Problems met while reading; the frames before the problem are kept.
    pub warnings: Vec<String>,
}

impl Capture {
    pub fn is_ethernet(&self) -> bool {
        self.linktype == LINKTYPE_ETHERNET
    }
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PcapError {
    #[error("cannot read {path}: {source}")]
    #[diagnostic(code(nfl::E0920))]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a pcap or pcapng capture: {reason}")]
    #[diagnostic(code(nfl::E0921))]
    NotACapture { path: String, reason: String },
}

const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

/// Read the capture at `path`.
pub fn read_pcap(path: impl AsRef<Path>) -> Result<Capture, PcapError> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| PcapError::Io {
        path: name.clone(),
        source,
    })?;
    parse_capture(&bytes).map_err(|reason| PcapError::NotACapture { path: name, reason })
}

/// Parse a capture held in memory; `Err` carries why it is not a capture.
pub fn parse_capture(bytes: &[u8]) -> Result<Capture, String> {
    if bytes.get(..4) == Some(&PCAPNG_MAGIC[..]) {
        parse_pcapng(bytes)
    } else {
        parse_classic(bytes)
    }
}

fn parse_classic(bytes: &[u8]) -> Result<Capture, String> {
    let (mut rest, parser) = PcapParser::new(bytes).map_err(|e| match e {
        pcap_file::PcapError::IncompleteBuffer => format!(
            "file of {} bytes is shorter than the 24-byte pcap header",
            bytes.len()
        ),
        other => other.to_string(),
    })?;
    let header = parser.header();
    let mut capture = Capture {
        linktype: u32::from(header.datalink),
        ..Capture::default()
    };
    while !rest.is_empty() {
        let offset = bytes.len() - rest.len();
        match parser.next_raw_packet(rest) {
            Ok((next, packet)) => {
                let frac = u64::from(packet.ts_frac);
                let frac_ns = match header.ts_resolution {
                    pcap_file::TsResolution::NanoSecond => frac,
                    pcap_file::TsResolution::MicroSecond => frac.saturating_mul(1000),
                };
                capture.times_ns.push(u64::from(packet.ts_sec).saturating_mul(1_000_000_000).saturating_add(frac_ns));
                capture.frames.push(packet.data.into_owned());
                rest = next;
            }
            Err(pcap_file::PcapError::IncompleteBuffer) => {
                capture.warnings.push(format!(
                    "truncated record at offset {offset}: {} trailing bytes ignored after frame {}",
                    rest.len(),
                    capture.frames.len()
                ));
                break;
            }
            Err(e) => {
                capture.warnings.push(format!(
                    "bad record at offset {offset}: {e}; stopped after frame {}",
                    capture.frames.len()
                ));
                break;
            }
        }
    }
    Ok(capture)
}

fn parse_pcapng(bytes: &[u8]) -> Result<Capture, String> {
    let (mut rest, mut parser) =
        PcapNgParser::new(bytes).map_err(|e| format!("bad pcapng section header: {e}"))?;
    let mut capture = Capture::default();
    let mut linktype: Option<u32> = None;
    let mut other_links = 0usize;
    while !rest.is_empty() {
        let offset = bytes.len() - rest.len();
        let (next, block) = match parser.next_block(rest) {
            Ok(ok) => ok,
            Err(e) => {
                capture.warnings.push(format!(
                    "bad block at offset {offset}: {e}; stopped after frame {}",
                    capture.frames.len()
                ));
                break;
            }
        };
        rest = next;
        let mut time = 0u64;
        let (link, data) = match block {
            Block::EnhancedPacket(epb) => {
                time = u64::try_from(epb.timestamp.as_nanos()).unwrap_or(u64::MAX);
                let link = parser
                    .interfaces()
                    .get(epb.interface_id as usize)
                    .map(|i| u32::from(i.linktype));
                (link, epb.data.into_owned())
            }
            Block::SimplePacket(spb) => (
                parser.interfaces().first().map(|i| u32::from(i.linktype)),
                spb.data.into_owned(),
            ),
            Block::Packet(pb) => {
                let link = parser
                    .interfaces()
                    .get(pb.interface_id as usize)
                    .map(|i| u32::from(i.linktype));
                (link, pb.data.into_owned())
            }
            _ => continue,
        };
        let Some(link) = link else {
            capture.warnings.push(format!(
                "packet at offset {offset} names an undeclared interface; skipped"
            ));
            continue;
        };
        // A Capture has one link type: the first frame's. Frames of other link types
        // are skipped and counted.
        match linktype {
            None => linktype = Some(link),
            Some(l) if l != link => {
                other_links += 1;
                continue;
            }
            Some(_) => {}
        }
        capture.times_ns.push(time);
        capture.frames.push(data);
    }
    if other_links > 0 {
        capture.warnings.push(format!(
            "{other_links} frame(s) of another link type skipped"
        ));
    }
    capture.linktype = linktype
        .or_else(|| parser.interfaces().first().map(|i| u32::from(i.linktype)))
        .unwrap_or(0);
    Ok(capture)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn global_header(big_endian: bool, nano: bool, snaplen: u32, linktype: u32) -> Vec<u8> {
        let magic: u32 = if nano { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
        let mut out = Vec::new();
        let put32 = |out: &mut Vec<u8>, v: u32| {
            out.extend_from_slice(&if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            })
        };
        put32(&mut out, magic);
        out.extend_from_slice(&if big_endian {
            2u16.to_be_bytes()
        } else {
            2u16.to_le_bytes()
        });
        out.extend_from_slice(&if big_endian {
            4u16.to_be_bytes()
        } else {
            4u16.to_le_bytes()
        });
        put32(&mut out, 0);
        put32(&mut out, 0);
        put32(&mut out, snaplen);
        put32(&mut out, linktype);
        out
    }

    fn record(big_endian: bool, data: &[u8], orig_len: u32) -> Vec<u8> {
        let mut out = Vec::new();
        for v in [1u32, 2, data.len() as u32, orig_len] {
            out.extend_from_slice(&if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            });
        }
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn both_byte_orders_and_resolutions() {
        for big in [false, true] {
            for nano in [false, true] {
                let mut file = global_header(big, nano, 65535, 1);
                file.extend(record(big, &[1, 2, 3], 3));
                file.extend(record(big, &[4; 20], 20));
                let cap = parse_capture(&file).unwrap();
                assert_eq!(cap.linktype, 1);
                assert_eq!(cap.frames, vec![vec![1, 2, 3], vec![4; 20]]);
                assert!(cap.warnings.is_empty(), "{:?}", cap.warnings);
            }
        }
    }

    #[test]
    fn snaplen_cut_frames_are_kept() {
        // orig_len 1500 > snaplen 68: pcap-file's strict parser would refuse this.
        let mut file = global_header(false, false, 68, 1);
        file.extend(record(false, &[7; 68], 1500));
        let cap = parse_capture(&file).unwrap();
        assert_eq!(cap.frames, vec![vec![7; 68]]);
    }

    #[test]
    fn truncated_file_keeps_earlier_frames() {
        let mut file = global_header(false, false, 65535, 1);
        file.extend(record(false, &[1; 30], 30));
        let mut second = record(false, &[2; 30], 30);
        second.truncate(25);
        file.extend(second);
        let cap = parse_capture(&file).unwrap();
        assert_eq!(cap.frames.len(), 1);
        assert_eq!(cap.warnings.len(), 1);
        assert!(cap.warnings[0].contains("truncated"), "{:?}", cap.warnings);
        // A huge incl_len is a truncation too, not an allocation.
        let mut file = global_header(false, false, 65535, 1);
        file.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
        let cap = parse_capture(&file).unwrap();
        assert!(cap.frames.is_empty() && cap.warnings.len() == 1);
    }

    #[test]
    fn not_a_capture() {
        assert!(parse_capture(b"").is_err());
        assert!(parse_capture(b"hello world, this is not a capture at all").is_err());
        assert!(parse_capture(&global_header(false, false, 65535, 1)[..20]).is_err());
        assert!(parse_capture(&[0x0a, 0x0d, 0x0d, 0x0a, 1, 2]).is_err());
    }

    #[test]
    fn pcapng_enhanced_packets() {
        let mut file = Vec::new();
        // Section header block: type, len 28, byte-order magic, version 1.0, section len -1.
        let shb: Vec<u32> = vec![
            0x0a0d_0d0a,
            28,
            0x1a2b_3c4d,
            0x0000_0001,
            0xffff_ffff,
            0xffff_ffff,
            28,
        ];
        for v in shb {
            file.extend_from_slice(&v.to_le_bytes());
        }
        // Interface description block: linktype 1, snaplen 0.
        for v in [1u32, 20, 1, 0, 20] {
            file.extend_from_slice(&v.to_le_bytes());
        }
        // Enhanced packet block with 5 bytes of data padded to 8.
        for v in [6u32, 32 + 8, 0, 0, 0, 5, 5] {
            file.extend_from_slice(&v.to_le_bytes());
        }
        file.extend_from_slice(&[9, 8, 7, 6, 5, 0, 0, 0]);
        file.extend_from_slice(&40u32.to_le_bytes());
        let cap = parse_capture(&file).unwrap();
        assert!(cap.warnings.is_empty(), "{:?}", cap.warnings);
        assert_eq!(cap.linktype, 1);
        assert_eq!(cap.frames, vec![vec![9, 8, 7, 6, 5]]);
        // Cut it short: the frame is lost with a warning, no panic.
        let cap = parse_capture(&file[..file.len() - 3]).unwrap();
        assert!(cap.frames.is_empty() && !cap.warnings.is_empty());
    }
}
