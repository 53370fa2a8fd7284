//! `nflc run` without an interface: a private namespace holding both ends of
//! a veth pair (198.18.0.0/15, IPv6 and ARP replies off), the NF attached on
//! the receiving end (on the sending end's egress for `tc-egress`), and a
//! bounded burst of frames injected on the sending end (see [`crate::traffic`]).
//!
//! Frames are injected at layer 2 into our own veth and never routed: nothing
//! leaves the namespace. Everything (sockets, links, pins, record, namespace)
//! goes when [`run_burst`] returns, whether it succeeds, fails or is stopped.

use std::collections::BTreeSet;
use std::io;
use std::os::fd::AsFd;

use nfl_compiler::bpf::Insn;
use nfl_compiler::elf::{CtxKind, ObjectSpec, ProgramSpec, write_object};

use crate::attach::{self, Hook, Link};
use crate::bpfsys;
use crate::load::{LoadedProgram, load};
use crate::netns::{VethOptions, VethPair};
use crate::packet::{ETH_P_ALL, PacketSocket, rx_protocol};
use crate::record::RunRecord;
use crate::run::{NfSpec, RunConfig, RunSession, Timings, in_netns};
use crate::run_error::RunError;
use crate::signal::StopFlag;
use crate::traffic::{BurstReport, Frame, Limits, Taps, drive};

/// What a burst did, and where.
#[derive(Clone, Debug)]
pub struct BurstRun {
    pub report: BurstReport,
    pub info: RunRecord,
    pub timings: Timings,
    /// What had to be cleaned up first (stale pins of a dead run).
    pub notes: Vec<String>,
}

/// Distinct ethertypes a tc-ingress burst listens for: at most this many.
const MAX_PROTOCOLS: usize = 32;

/// Run `frames` through the NF in a throw-away namespace.
pub fn run_burst(nf: &NfSpec, frames: &[Frame], limits: &Limits, stop: &StopFlag) -> Result<BurstRun, RunError> {
    crate::pins::validate_name(&nf.name)?;
    let pair = VethPair::with_options(VethOptions { both_in_netns: true, quiet: true })?;
    let nf_on_sender = nf.hook == Hook::TcEgress;
    let iface = if nf_on_sender { &pair.host_if } else { &pair.ns_if };
    let session = RunSession::start(&RunConfig {
        nf: nf.clone(),
        generic_fallback: false,
        iface: iface.clone(),
        netns: Some(pair.netns.clone()),
    })?;
    let _return_path = if nf_on_sender { None } else { Some(ReturnPath::attach(&pair)?) };
    let taps = open_taps(&pair, nf.hook, frames)?;
    let prog = attach::prog_fd(session.prog());
    let stats = session.stats_enabled();
    let runs = || stats.then(|| bpfsys::prog_info(prog.as_fd()).ok().map(|i| i.run_cnt)).flatten();
    let report = drive(&taps, frames, &runs, limits, stop);
    Ok(BurstRun { report, info: session.info().clone(), timings: session.timings(), notes: session.notes().to_vec() })
}

/// The sockets: send on the sending end; passed frames on the receiving end;
/// bounced frames back on the sending end. Behind tc ingress only sockets for
/// one ethertype see frames, so a tc-ingress burst opens one per ethertype sent.
fn open_taps(pair: &VethPair, hook: Hook, frames: &[Frame]) -> Result<Taps, RunError> {
    let protocols: Vec<u16> = match hook {
        Hook::TcIngress => {
            let set: BTreeSet<u16> = frames.iter().map(|f| rx_protocol(&f.bytes)).collect();
            set.into_iter().take(MAX_PROTOCOLS).collect()
        }
        _ => vec![ETH_P_ALL],
    };
    let (send_if, recv_if) = (&pair.host_if, &pair.ns_if);
    let open = || -> io::Result<Taps> {
        let idx = |name: &str| attach::ifindex(name).ok_or_else(|| io::Error::other(format!("no interface {name}")));
        let (s, r) = (idx(send_if)?, idx(recv_if)?);
        let passed = protocols.iter().map(|&p| PacketSocket::open(r, p)).collect::<io::Result<_>>()?;
        Ok(Taps { send: PacketSocket::open(s, 0)?, passed, bounced: PacketSocket::open(s, ETH_P_ALL)? })
    };
    in_netns(Some(&pair.netns), open)?.map_err(RunError::kernel("opening AF_PACKET sockets in the test namespace"))
}

/// An XDP_PASS program on the sending end. A veth delivers what its peer sends
/// with XDP_TX only when it runs NAPI, which an XDP program switches on.
struct ReturnPath {
    _link: Link,
    _prog: LoadedProgram,
}

impl ReturnPath {
    fn attach(pair: &VethPair) -> Result<ReturnPath, RunError> {
        let insns = vec![Insn::mov64_imm(0, 2), Insn::exit()];
        let spec = ObjectSpec {
            programs: vec![ProgramSpec {
                name: "nfl_return_path".into(),
                section: "xdp".into(),
                ctx: CtxKind::Xdp,
                insns,
                map_relocs: Vec::new(),
                line_info: Vec::new(),
            }],
            ..ObjectSpec::default()
        };
        let obj = write_object(&spec).map_err(|e| RunError::kernel("writing the return-path program")(io::Error::other(e)))?;
        let prog = load(&obj, None)?;
        let fd = attach::prog_fd(&prog);
        let iface = &pair.host_if;
        let link = in_netns(Some(&pair.netns), || {
            let ifindex = attach::ifindex(iface).unwrap_or(0);
            Link::attach(fd, Hook::Xdp, ifindex, iface)
        })??;
        Ok(ReturnPath { _link: link, _prog: prog })
    }
}
