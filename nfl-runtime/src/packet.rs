//! AF_PACKET raw sockets bound to one interface: inject whole Ethernet frames,
//! and see the frames that reach a point of the receive path.
//!
//! Where a socket sees frames depends on its protocol: an `ETH_P_ALL` socket
//! taps the receive path after XDP but before tc ingress; a socket for one
//! ethertype gets frames after tc ingress. Frames the interface sends are
//! skipped (`PACKET_OUTGOING`), and a VLAN tag the kernel took out of the frame
//! is put back, so that what is read is what was on the wire.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// Every ethertype.
pub const ETH_P_ALL: u16 = 0x0003;
const PACKET_OUTGOING: u8 = 4;
const PACKET_AUXDATA: libc::c_int = 8;
const TP_STATUS_VLAN_VALID: u32 = 1 << 4;
const TP_STATUS_VLAN_TPID_VALID: u32 = 1 << 6;
/// Bigger than any frame a veth carries (64 KiB GSO aside).
const MAX_FRAME: usize = 65_536;

/// `struct tpacket_auxdata` from `linux/if_packet.h`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct AuxData {
    tp_status: u32,
    tp_len: u32,
    tp_snaplen: u32,
    tp_mac: u16,
    tp_net: u16,
    tp_vlan_tci: u16,
    tp_vlan_tpid: u16,
}

#[derive(Debug)]
pub struct PacketSocket {
    fd: OwnedFd,
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 { Err(io::Error::last_os_error()) } else { Ok(ret) }
}

impl PacketSocket {
    /// A socket on interface `ifindex` of the calling thread's namespace that
    /// receives frames of ethertype `protocol` ([`ETH_P_ALL`] for all, 0 for none:
    /// a socket that only sends).
    pub fn open(ifindex: u32, protocol: u16) -> io::Result<PacketSocket> {
        // Created with protocol 0, it hears nothing until bound to `ifindex`.
        // SAFETY: plain socket(2) call.
        let raw = check(unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) })?;
        // SAFETY: socket(2) returned a new fd that nothing else owns.
        let sock = PacketSocket { fd: unsafe { OwnedFd::from_raw_fd(raw) } };
        if protocol != 0 {
            sock.set_opt(libc::SOL_PACKET, PACKET_AUXDATA, 1)?;
            sock.skip_outgoing()?;
        }
        // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_protocol = protocol.to_be();
        addr.sll_ifindex = ifindex as i32;
        let len = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        // SAFETY: `addr` is a valid sockaddr_ll of `len` bytes.
        check(unsafe { libc::bind(sock.raw(), (&raw const addr).cast(), len) })?;
        Ok(sock)
    }

    fn raw(&self) -> libc::c_int {
        self.fd.as_raw_fd()
    }

    fn set_opt(&self, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
        let len = size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `value` is a readable c_int of `len` bytes.
        check(unsafe { libc::setsockopt(self.raw(), level, name, (&raw const value).cast(), len) }).map(drop)
    }

    /// A classic BPF socket filter that refuses frames the interface sends, so
    /// that they neither queue up nor wake a poll:
    /// `ld pkttype; jeq #PACKET_OUTGOING, drop; ret all`.
    fn skip_outgoing(&self) -> io::Result<()> {
        const SKF_AD_PKTTYPE: u32 = (-0x1000i32 + 4) as u32;
        let ld_abs = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
        let jeq = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
        let ret = (libc::BPF_RET | libc::BPF_K) as u16;
        let mut code = [
            libc::sock_filter { code: ld_abs, jt: 0, jf: 0, k: SKF_AD_PKTTYPE },
            libc::sock_filter { code: jeq, jt: 0, jf: 1, k: u32::from(PACKET_OUTGOING) },
            libc::sock_filter { code: ret, jt: 0, jf: 0, k: 0 },
            libc::sock_filter { code: ret, jt: 0, jf: 0, k: u32::MAX },
        ];
        let prog = libc::sock_fprog { len: code.len() as u16, filter: code.as_mut_ptr() };
        let len = size_of::<libc::sock_fprog>() as libc::socklen_t;
        // SAFETY: `prog` points at `code`, which lives across the call; the kernel copies it.
        check(unsafe { libc::setsockopt(self.raw(), libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, (&raw const prog).cast(), len) })
            .map(drop)
    }

    /// Send one whole frame out of the interface.
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        // SAFETY: `frame` is readable for `frame.len()` bytes.
        let n = unsafe { libc::send(self.raw(), frame.as_ptr().cast(), frame.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if n as usize != frame.len() {
            return Err(io::Error::other(format!("sent {n} of {} bytes", frame.len())));
        }
        Ok(())
    }

    /// Every frame waiting now, without blocking.
    pub fn drain(&self) -> io::Result<Vec<Vec<u8>>> {
        let mut frames = Vec::new();
        let mut buf = vec![0u8; MAX_FRAME];
        while let Some(frame) = self.recv_one(&mut buf)? {
            frames.extend(frame);
        }
        Ok(frames)
    }

    /// One frame: `Ok(None)` when there is none, `Ok(Some(None))` for one that is
    /// skipped (outgoing).
    fn recv_one(&self, buf: &mut [u8]) -> io::Result<Option<Option<Vec<u8>>>> {
        // SAFETY: all-zero is a valid sockaddr_ll and msghdr.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        let mut control = [0u64; 8];
        let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_name = (&raw mut addr).cast();
        msg.msg_namelen = size_of::<libc::sockaddr_ll>() as u32;
        msg.msg_iov = &raw mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = size_of_val(&control);
        // SAFETY: every pointer in `msg` is valid for the length given with it.
        let n = unsafe { libc::recvmsg(self.raw(), &raw mut msg, libc::MSG_DONTWAIT | libc::MSG_TRUNC) };
        if n < 0 {
            let err = io::Error::last_os_error();
            return match err.kind() {
                io::ErrorKind::WouldBlock => Ok(None),
                io::ErrorKind::Interrupted => Ok(Some(None)),
                _ => Err(err),
            };
        }
        if addr.sll_pkttype == PACKET_OUTGOING {
            return Ok(Some(None));
        }
        let mut frame = buf[..(n as usize).min(buf.len())].to_vec();
        if let Some(aux) = aux_data(&msg) {
            restore_vlan(&mut frame, &aux);
        }
        Ok(Some(Some(frame)))
    }
}

/// The `PACKET_AUXDATA` control message of a received frame.
fn aux_data(msg: &libc::msghdr) -> Option<AuxData> {
    // SAFETY: `msg` was filled by recvmsg; the CMSG macros walk its control
    // buffer within `msg_controllen`.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(msg) };
    while !cmsg.is_null() {
        // SAFETY: `cmsg` is non-null and points into the control buffer.
        let hdr = unsafe { &*cmsg };
        if hdr.cmsg_level == libc::SOL_PACKET && hdr.cmsg_type == PACKET_AUXDATA {
            // SAFETY: a PACKET_AUXDATA message carries a tpacket_auxdata, possibly unaligned.
            return Some(unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<AuxData>()) });
        }
        // SAFETY: as for CMSG_FIRSTHDR.
        cmsg = unsafe { libc::CMSG_NXTHDR(msg, cmsg) };
    }
    None
}

/// Put back the VLAN tag the receive path moved into metadata.
fn restore_vlan(frame: &mut Vec<u8>, aux: &AuxData) {
    if aux.tp_status & TP_STATUS_VLAN_VALID == 0 || frame.len() < 12 {
        return;
    }
    let tpid = if aux.tp_status & TP_STATUS_VLAN_TPID_VALID != 0 { aux.tp_vlan_tpid } else { 0x8100 };
    let tag = [tpid.to_be_bytes(), aux.tp_vlan_tci.to_be_bytes()].concat();
    frame.splice(12..12, tag);
}

/// Wait until one of `socks` has a frame, at most `timeout`. Returns whether one has.
pub fn wait_readable(socks: &[&PacketSocket], timeout: Duration) -> io::Result<bool> {
    let mut fds: Vec<libc::pollfd> =
        socks.iter().map(|s| libc::pollfd { fd: s.raw(), events: libc::POLLIN, revents: 0 }).collect();
    let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
    // SAFETY: `fds` is a valid array of `fds.len()` pollfds.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    match n {
        n if n > 0 => Ok(true),
        0 => Ok(false),
        _ => {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted { Ok(false) } else { Err(err) }
        }
    }
}

/// The ethertype the kernel files a received frame under (`skb->protocol`
/// once `eth_type_trans` and the VLAN untagging in `__netif_receive_skb_core`
/// are done): what a protocol-specific socket must ask for to see it.
pub fn rx_protocol(frame: &[u8]) -> u16 {
    let be16 = |off: usize| frame.get(off..off + 2).map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
    let encap = |off: usize| match be16(off) {
        t if t >= 0x0600 => t,
        _ if be16(off + 2) == 0xffff => 0x0001, // ETH_P_802_3
        _ => 0x0004,                           // ETH_P_802_2
    };
    let is_vlan = |t: u16| t == 0x8100 || t == 0x88a8;
    let mut off = 12;
    let mut proto = encap(off);
    // One tag is always pulled; a second one only behind a priority tag (VID 0).
    if is_vlan(proto) {
        off += 4;
        let vid = be16(off - 2) & 0x0fff;
        proto = encap(off);
        if vid == 0 && is_vlan(proto) {
            off += 4;
            proto = encap(off);
        }
    }
    proto
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eth(rest: &[u8]) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
        f.extend_from_slice(rest);
        f
    }

    #[test]
    fn protocols_as_the_kernel_files_them() {
        assert_eq!(rx_protocol(&eth(&[0x08, 0x00, 0x45])), 0x0800);
        assert_eq!(rx_protocol(&eth(&[0x86, 0xdd])), 0x86dd);
        assert_eq!(rx_protocol(&eth(&[0x81, 0x00, 0x00, 0xc8, 0x08, 0x06])), 0x0806);
        // QinQ with a real outer VID: the inner tag stays in the frame.
        assert_eq!(rx_protocol(&eth(&[0x88, 0xa8, 0x00, 0x01, 0x81, 0x00, 0, 2, 8, 0])), 0x8100);
        // A priority tag in front of a tag: both go.
        assert_eq!(rx_protocol(&eth(&[0x81, 0x00, 0x00, 0x00, 0x81, 0x00, 0, 2, 8, 0])), 0x0800);
        assert_eq!(rx_protocol(&eth(&[0x00, 0x2e, 0xff, 0xff])), 0x0001);
        assert_eq!(rx_protocol(&eth(&[0x00, 0x2e, 0xaa, 0xaa])), 0x0004);
    }

    #[test]
    fn vlan_tags_are_put_back() {
        let mut f = eth(&[0x08, 0x00, 0x45]);
        let aux = AuxData { tp_status: TP_STATUS_VLAN_VALID, tp_vlan_tci: 200, ..AuxData::default() };
        restore_vlan(&mut f, &aux);
        assert_eq!(&f[12..18], &[0x81, 0x00, 0x00, 0xc8, 0x08, 0x00]);
    }
}
