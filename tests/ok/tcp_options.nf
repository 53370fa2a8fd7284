// TCP options walked by a parser loop: the options end where the header's
// data offset says, so each pass compares the parser's position
// (`pkt.offset`) with the header's end (`tcp.offset` + 4 * data offset).
// End-of-list (0) stops, no-op (1) is one byte, MSS (2) is read, other
// options are skipped by their length. The stacks bound the loop (40
// option bytes; 8 options, 6 with a length: a SYN from Linux has five);
// more options, or an option that runs past the header, reject.
// The control drops SYNs announcing an MSS under 536 bytes.
import std.net

header opt_kind[8] { kind: u8 }
header opt_len[6] { len: u8 }
header mss_opt[1] { mss: u16 }

parser tcp_opts overflow reject {
    state start {
        extract ethernet
        select ethernet.ethertype {
            0x0800: v4
            _: accept
        }
    }
    state v4 {
        extract ipv4
        select (ipv4.ihl, ipv4.protocol) {
            (5, 6): l4
            _: accept
        }
    }
    state l4 {
        extract tcp
        goto options
    }
    state options {
        select (tcp.data_offset as u16) * 4 + tcp.offset - pkt.offset {
            0: accept
            0x8000..=0xffff: reject
            _: option
        }
    }
    state option {
        extract opt_kind
        select opt_kind.last.kind {
            0: accept
            1: options
            2: mss
            _: other
        }
    }
    state mss {
        extract opt_len
        extract mss_opt
        select opt_len.last.len {
            4: options
            _: reject
        }
    }
    state other {
        extract opt_len
        skip opt_len.last.len as u16 - 2
        goto options
    }
}

control c(xdp, tcp_opts) {
    if pkt.rejected { drop }
    if tcp.valid && tcp.flags & 0x02 != 0 && mss_opt[0].valid && mss_opt[0].mss < 536 { drop }
    pass
}
