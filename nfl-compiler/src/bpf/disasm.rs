//! A disassembler that prints the kernel's own syntax: the text of
//! `print_bpf_insn` in `kernel/bpf/disasm.c`, which is what the verifier log
//! and `bpftool prog dump xlated` show.
//!
//! Where the kernel's text depends on load-time state, we print what our
//! (not yet loaded) object holds instead:
//! - a 64-bit load of a map reference prints `map[fd:N]` (bpftool prints
//!   `map[id:N]` after the kernel has swapped the fd for an id), and a map
//!   value reference `map[fd:N][0]+OFF`;
//! - `BPF_PSEUDO_MAP_IDX` and `BPF_PSEUDO_MAP_IDX_VALUE` print `map[idx:N]`
//!   and `map[idx:N]+OFF`, `BPF_PSEUDO_FUNC` prints `subprog[+N]` (as
//!   bpftool does), `BPF_PSEUDO_BTF_ID` prints `btf_id[N]`;
//! - a helper call prints `call bpf_NAME#ID` from the helper id (in xlated
//!   dumps the kernel has replaced the id by an address, so bpftool prints
//!   the kernel symbol instead); a kfunc call prints
//!   `call kernel-function#BTF_ID`, as the kernel does without BTF at hand.
//!
//! The kernel never prints an `ll` suffix on 64-bit immediates (that is
//! LLVM's syntax), and neither do we: `r1 = 0x1234567890`.

use std::fmt::Write as _;

use super::insn::*;

/// `BPF_FETCH` flag of atomic operations (in `imm`).
pub const BPF_FETCH: i32 = 0x01;
/// Atomic exchange (in `imm` of a `BPF_STX | BPF_ATOMIC` instruction).
pub const BPF_XCHG: i32 = 0xe0 | BPF_FETCH;
/// Atomic compare-and-exchange with `r0` (in `imm`).
pub const BPF_CMPXCHG: i32 = 0xf0 | BPF_FETCH;
/// Load-acquire (in `imm`).
pub const BPF_LOAD_ACQ: i32 = 0x100;
/// Store-release (in `imm`).
pub const BPF_STORE_REL: i32 = 0x110;
/// Sign-extending load mode (`BPF_LDX | BPF_MEMSX`).
pub const BPF_MEMSX: u8 = 0x80;
/// Legacy packet load modes.
pub const BPF_ABS: u8 = 0x20;
pub const BPF_IND: u8 = 0x40;
/// `may_goto` lives in this jump op with `src_reg == 0`.
pub const BPF_JCOND: u8 = 0xe0;
/// `LD_IMM64` pseudo sources beyond the map fd ones in `insn.rs`.
pub const BPF_PSEUDO_BTF_ID: u8 = 3;
pub const BPF_PSEUDO_FUNC: u8 = 4;
pub const BPF_PSEUDO_MAP_IDX: u8 = 5;
pub const BPF_PSEUDO_MAP_IDX_VALUE: u8 = 6;

/// Helper names by id, without the `bpf_` prefix, in the order of the
/// kernel's `__BPF_FUNC_MAPPER` (`include/uapi/linux/bpf.h`). The helper
/// list is frozen; the last one is `cgrp_storage_delete` (211).
const HELPER_NAMES: [&str; 212] = [
    "unspec",
    "map_lookup_elem",
    "map_update_elem",
    "map_delete_elem",
    "probe_read",
    "ktime_get_ns",
    "trace_printk",
    "get_prandom_u32",
    "get_smp_processor_id",
    "skb_store_bytes",
    "l3_csum_replace",
    "l4_csum_replace",
    "tail_call",
    "clone_redirect",
    "get_current_pid_tgid",
    "get_current_uid_gid",
    "get_current_comm",
    "get_cgroup_classid",
    "skb_vlan_push",
    "skb_vlan_pop",
    "skb_get_tunnel_key",
    "skb_set_tunnel_key",
    "perf_event_read",
    "redirect",
    "get_route_realm",
    "perf_event_output",
    "skb_load_bytes",
    "get_stackid",
    "csum_diff",
    "skb_get_tunnel_opt",
    "skb_set_tunnel_opt",
    "skb_change_proto",
    "skb_change_type",
    "skb_under_cgroup",
    "get_hash_recalc",
    "get_current_task",
    "probe_write_user",
    "current_task_under_cgroup",
    "skb_change_tail",
    "skb_pull_data",
    "csum_update",
    "set_hash_invalid",
    "get_numa_node_id",
    "skb_change_head",
    "xdp_adjust_head",
    "probe_read_str",
    "get_socket_cookie",
    "get_socket_uid",
    "set_hash",
    "setsockopt",
    "skb_adjust_room",
    "redirect_map",
    "sk_redirect_map",
    "sock_map_update",
    "xdp_adjust_meta",
    "perf_event_read_value",
    "perf_prog_read_value",
    "getsockopt",
    "override_return",
    "sock_ops_cb_flags_set",
    "msg_redirect_map",
    "msg_apply_bytes",
    "msg_cork_bytes",
    "msg_pull_data",
    "bind",
    "xdp_adjust_tail",
    "skb_get_xfrm_state",
    "get_stack",
    "skb_load_bytes_relative",
    "fib_lookup",
    "sock_hash_update",
    "msg_redirect_hash",
    "sk_redirect_hash",
    "lwt_push_encap",
    "lwt_seg6_store_bytes",
    "lwt_seg6_adjust_srh",
    "lwt_seg6_action",
    "rc_repeat",
    "rc_keydown",
    "skb_cgroup_id",
    "get_current_cgroup_id",
    "get_local_storage",
    "sk_select_reuseport",
    "skb_ancestor_cgroup_id",
    "sk_lookup_tcp",
    "sk_lookup_udp",
    "sk_release",
    "map_push_elem",
    "map_pop_elem",
    "map_peek_elem",
    "msg_push_data",
    "msg_pop_data",
    "rc_pointer_rel",
    "spin_lock",
    "spin_unlock",
    "sk_fullsock",
    "tcp_sock",
    "skb_ecn_set_ce",
    "get_listener_sock",
    "skc_lookup_tcp",
    "tcp_check_syncookie",
    "sysctl_get_name",
    "sysctl_get_current_value",
    "sysctl_get_new_value",
    "sysctl_set_new_value",
    "strtol",
    "strtoul",
    "sk_storage_get",
    "sk_storage_delete",
    "send_signal",
    "tcp_gen_syncookie",
    "skb_output",
    "probe_read_user",
    "probe_read_kernel",
    "probe_read_user_str",
    "probe_read_kernel_str",
    "tcp_send_ack",
    "send_signal_thread",
    "jiffies64",
    "read_branch_records",
    "get_ns_current_pid_tgid",
    "xdp_output",
    "get_netns_cookie",
    "get_current_ancestor_cgroup_id",
    "sk_assign",
    "ktime_get_boot_ns",
    "seq_printf",
    "seq_write",
    "sk_cgroup_id",
    "sk_ancestor_cgroup_id",
    "ringbuf_output",
    "ringbuf_reserve",
    "ringbuf_submit",
    "ringbuf_discard",
    "ringbuf_query",
    "csum_level",
    "skc_to_tcp6_sock",
    "skc_to_tcp_sock",
    "skc_to_tcp_timewait_sock",
    "skc_to_tcp_request_sock",
    "skc_to_udp6_sock",
    "get_task_stack",
    "load_hdr_opt",
    "store_hdr_opt",
    "reserve_hdr_opt",
    "inode_storage_get",
    "inode_storage_delete",
    "d_path",
    "copy_from_user",
    "snprintf_btf",
    "seq_printf_btf",
    "skb_cgroup_classid",
    "redirect_neigh",
    "per_cpu_ptr",
    "this_cpu_ptr",
    "redirect_peer",
    "task_storage_get",
    "task_storage_delete",
    "get_current_task_btf",
    "bprm_opts_set",
    "ktime_get_coarse_ns",
    "ima_inode_hash",
    "sock_from_file",
    "check_mtu",
    "for_each_map_elem",
    "snprintf",
    "sys_bpf",
    "btf_find_by_name_kind",
    "sys_close",
    "timer_init",
    "timer_set_callback",
    "timer_start",
    "timer_cancel",
    "get_func_ip",
    "get_attach_cookie",
    "task_pt_regs",
    "get_branch_snapshot",
    "trace_vprintk",
    "skc_to_unix_sock",
    "kallsyms_lookup_name",
    "find_vma",
    "loop",
    "strncmp",
    "get_func_arg",
    "get_func_ret",
    "get_func_arg_cnt",
    "get_retval",
    "set_retval",
    "xdp_get_buff_len",
    "xdp_load_bytes",
    "xdp_store_bytes",
    "copy_from_user_task",
    "skb_set_tstamp",
    "ima_file_hash",
    "kptr_xchg",
    "map_lookup_percpu_elem",
    "skc_to_mptcp_sock",
    "dynptr_from_mem",
    "ringbuf_reserve_dynptr",
    "ringbuf_submit_dynptr",
    "ringbuf_discard_dynptr",
    "dynptr_read",
    "dynptr_write",
    "dynptr_data",
    "tcp_raw_gen_syncookie_ipv4",
    "tcp_raw_gen_syncookie_ipv6",
    "tcp_raw_check_syncookie_ipv4",
    "tcp_raw_check_syncookie_ipv6",
    "ktime_get_tai_ns",
    "user_ringbuf_drain",
    "cgrp_storage_get",
    "cgrp_storage_delete",
];

/// The helper's name without the `bpf_` prefix, if the id is known.
pub fn helper_name(id: i32) -> Option<&'static str> {
    usize::try_from(id)
        .ok()
        .and_then(|idx| HELPER_NAMES.get(idx).copied())
}

/// The helper id for a name given with or without the `bpf_` prefix.
pub fn helper_id(name: &str) -> Option<i32> {
    let bare = name.strip_prefix("bpf_").unwrap_or(name);
    HELPER_NAMES
        .iter()
        .position(|known| *known == bare)
        .and_then(|idx| i32::try_from(idx).ok())
}

/// The kernel prints a NULL `%s` as `(null)`; the tables below have holes
/// exactly where the kernel's do.
const NULL: &str = "(null)";

fn alu_op_str(op: u8) -> &'static str {
    match op {
        BPF_ADD => "+=",
        BPF_SUB => "-=",
        BPF_MUL => "*=",
        BPF_DIV => "/=",
        BPF_OR => "|=",
        BPF_AND => "&=",
        BPF_LSH => "<<=",
        BPF_RSH => ">>=",
        BPF_NEG => "neg",
        BPF_MOD => "%=",
        BPF_XOR => "^=",
        BPF_MOV => "=",
        BPF_ARSH => "s>>=",
        BPF_END => "endian",
        _ => NULL,
    }
}

fn atomic_op_str(op: u8) -> &'static str {
    match op {
        BPF_ADD => "add",
        BPF_AND => "and",
        BPF_OR => "or",
        BPF_XOR => "xor",
        _ => NULL,
    }
}

fn jmp_op_str(op: u8) -> &'static str {
    match op {
        BPF_JA => "jmp",
        BPF_JEQ => "==",
        BPF_JGT => ">",
        BPF_JLT => "<",
        BPF_JGE => ">=",
        BPF_JLE => "<=",
        BPF_JSET => "&",
        BPF_JNE => "!=",
        BPF_JSGT => "s>",
        BPF_JSLT => "s<",
        BPF_JSGE => "s>=",
        BPF_JSLE => "s<=",
        BPF_CALL => "call",
        BPF_EXIT => "exit",
        _ => NULL,
    }
}

/// `u8`/`u16`/`u32`/`u64` for a load/store size.
fn size_str(code: u8) -> &'static str {
    match code & 0x18 {
        BPF_W => "u32",
        BPF_H => "u16",
        BPF_B => "u8",
        _ => "u64",
    }
}

/// Sign-extending load sizes; there is no `s64`.
fn sx_size_str(code: u8) -> &'static str {
    match code & 0x18 {
        BPF_W => "s32",
        BPF_H => "s16",
        BPF_B => "s8",
        _ => NULL,
    }
}

/// `%+d` as C prints it.
fn signed(v: i64) -> String {
    format!("{v:+}")
}

fn op_of(code: u8) -> u8 {
    code & 0xf0
}

fn mode_of(code: u8) -> u8 {
    code & 0xe0
}

fn src_of(code: u8) -> u8 {
    code & 0x08
}

/// Disassembles the instruction at `idx`. Returns the text without the
/// index and opcode prefix (`r0 = 2`), and how many slots it consumed: 2 for
/// a complete `LD_IMM64`, 1 otherwise, 0 if `idx` is out of range.
pub fn disasm_insn(insns: &[Insn], idx: usize) -> (String, usize) {
    let Some(&insn) = insns.get(idx) else {
        return (String::new(), 0);
    };
    let code = insn.code;
    let class = insn.class();
    let dst = insn.dst;
    let src = insn.src;
    let off = i64::from(insn.off);
    let imm = insn.imm;
    let text = match class {
        BPF_ALU | BPF_ALU64 => {
            let reg = if class == BPF_ALU { 'w' } else { 'r' };
            let op = op_of(code);
            if op == BPF_END {
                if class == BPF_ALU64 {
                    format!("r{dst} = bswap{imm} r{dst}")
                } else {
                    let dir = if src_of(code) == BPF_TO_BE {
                        "be"
                    } else {
                        "le"
                    };
                    format!("r{dst} = {dir}{imm} r{dst}")
                }
            } else if op == BPF_NEG {
                format!("{reg}{dst} = -{reg}{dst}")
            } else if code == BPF_ALU64 | BPF_MOV | BPF_X && insn.off == 1 {
                let as_from = (imm as u32) >> 16;
                let as_to = imm as u32 & 0xffff;
                format!("r{dst} = addr_space_cast(r{src}, {as_from}, {as_to})")
            } else if code == BPF_ALU64 | BPF_MOV | BPF_X && insn.off == -1 {
                format!("r{dst} = &(void __percpu *)(r{src})")
            } else {
                let op_str = if (op == BPF_DIV || op == BPF_MOD) && insn.off == 1 {
                    if op == BPF_DIV { "s/=" } else { "s%=" }
                } else {
                    alu_op_str(op)
                };
                if src_of(code) == BPF_X {
                    let sx = match (op, insn.off) {
                        (BPF_MOV, 8) => "(s8)",
                        (BPF_MOV, 16) => "(s16)",
                        (BPF_MOV, 32) => "(s32)",
                        _ => "",
                    };
                    format!("{reg}{dst} {op_str} {sx}{reg}{src}")
                } else {
                    format!("{reg}{dst} {op_str} {imm}")
                }
            }
        }
        BPF_STX => {
            let size = size_str(code);
            let mode = mode_of(code);
            let w = if code & 0x18 == BPF_DW { "64" } else { "" };
            let o = signed(off);
            if mode == BPF_MEM {
                format!("*({size} *)(r{dst} {o}) = r{src}")
            } else if mode == BPF_ATOMIC {
                let aop = (imm & 0xf0) as u8;
                match imm {
                    0x00 | 0x40 | 0x50 | 0xa0 => {
                        format!("lock *({size} *)(r{dst} {o}) {} r{src}", alu_op_str(aop))
                    }
                    0x01 | 0x41 | 0x51 | 0xa1 => format!(
                        "r{src} = atomic{w}_fetch_{}(({size} *)(r{dst} {o}), r{src})",
                        atomic_op_str(aop)
                    ),
                    BPF_CMPXCHG => {
                        format!("r0 = atomic{w}_cmpxchg(({size} *)(r{dst} {o}), r0, r{src})")
                    }
                    BPF_XCHG => {
                        format!("r{src} = atomic{w}_xchg(({size} *)(r{dst} {o}), r{src})")
                    }
                    BPF_LOAD_ACQ => format!("r{dst} = load_acquire(({size} *)(r{src} {o}))"),
                    BPF_STORE_REL => format!("store_release(({size} *)(r{dst} {o}), r{src})"),
                    _ => format!("BUG_{code:02x}"),
                }
            } else {
                format!("BUG_{code:02x}")
            }
        }
        BPF_ST => match mode_of(code) {
            BPF_MEM => format!("*({} *)(r{dst} {}) = {imm}", size_str(code), signed(off)),
            // BPF_NOSPEC, a kernel-internal opcode.
            0xc0 => "nospec".to_string(),
            _ => format!("BUG_st_{code:02x}"),
        },
        BPF_LDX => {
            let mode = mode_of(code);
            if mode == BPF_MEM || mode == BPF_MEMSX {
                let size = if mode == BPF_MEM {
                    size_str(code)
                } else {
                    sx_size_str(code)
                };
                format!("r{dst} = *({size} *)(r{src} {})", signed(off))
            } else {
                format!("BUG_ldx_{code:02x}")
            }
        }
        BPF_LD => {
            let mode = mode_of(code);
            if mode == BPF_ABS {
                format!("r0 = *({} *)skb[{imm}]", size_str(code))
            } else if mode == BPF_IND {
                format!("r0 = *({} *)skb[r{src} + {imm}]", size_str(code))
            } else if insn.is_ld_imm64() {
                let Some(next) = insns.get(idx + 1) else {
                    return (format!("r{dst} = <truncated ld_imm64>"), 1);
                };
                let full = (u64::from(next.imm as u32) << 32) | u64::from(imm as u32);
                let value = match src {
                    BPF_PSEUDO_MAP_FD => format!("map[fd:{imm}]"),
                    BPF_PSEUDO_MAP_VALUE => format!("map[fd:{imm}][0]+{}", next.imm),
                    BPF_PSEUDO_BTF_ID => format!("btf_id[{imm}]"),
                    BPF_PSEUDO_FUNC => format!("subprog[{}]", signed(i64::from(imm))),
                    BPF_PSEUDO_MAP_IDX => format!("map[idx:{imm}]"),
                    BPF_PSEUDO_MAP_IDX_VALUE => format!("map[idx:{imm}]+{}", next.imm),
                    _ => format!("{full:#x}"),
                };
                return (format!("r{dst} = {value}"), 2);
            } else {
                format!("BUG_ld_{code:02x}")
            }
        }
        // BPF_JMP and BPF_JMP32: the class has three bits, so nothing else.
        _ => {
            let op = op_of(code);
            let reg = if class == BPF_JMP32 { 'w' } else { 'r' };
            if op == BPF_CALL {
                if src == BPF_PSEUDO_CALL {
                    format!("call pc{}", signed(i64::from(imm)))
                } else {
                    let name = match (src, helper_name(imm)) {
                        (0, Some(name)) => format!("bpf_{name}"),
                        (BPF_PSEUDO_KFUNC_CALL, _) => "kernel-function".to_string(),
                        _ => "unknown".to_string(),
                    };
                    format!("call {name}#{imm}")
                }
            } else if code == BPF_JMP | BPF_JA {
                format!("goto pc{}", signed(off))
            } else if code == BPF_JMP | BPF_JCOND && src == 0 {
                format!("may_goto pc{}", signed(off))
            } else if code == BPF_JMP32 | BPF_JA {
                format!("gotol pc{}", signed(i64::from(imm)))
            } else if code == BPF_JMP | BPF_EXIT {
                "exit".to_string()
            } else if src_of(code) == BPF_X {
                format!(
                    "if {reg}{dst} {} {reg}{src} goto pc{}",
                    jmp_op_str(op),
                    signed(off)
                )
            } else {
                format!(
                    "if {reg}{dst} {} {:#x} goto pc{}",
                    jmp_op_str(op),
                    imm as u32,
                    signed(off)
                )
            }
        }
    };
    (text, 1)
}

/// Disassembles a whole program in bpftool's layout, one line per
/// instruction: `   0: (b7) r0 = 2`. The index is the slot index, so the
/// line after a `LD_IMM64` skips one number, as in bpftool.
pub fn disasm(insns: &[Insn]) -> String {
    let mut out = String::new();
    let mut idx = 0;
    while let Some(insn) = insns.get(idx) {
        let (text, used) = disasm_insn(insns, idx);
        // Writing to a String cannot fail.
        let _ = writeln!(out, "{idx:4}: ({:02x}) {text}", insn.code);
        idx += used.max(1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(insn: Insn) -> String {
        disasm_insn(&[insn], 0).0
    }

    #[test]
    fn helper_table_is_consistent() {
        assert_eq!(helper_name(1), Some("map_lookup_elem"));
        assert_eq!(helper_name(23), Some("redirect"));
        assert_eq!(helper_name(51), Some("redirect_map"));
        assert_eq!(helper_name(181), Some("loop"));
        assert_eq!(helper_name(211), Some("cgrp_storage_delete"));
        assert_eq!(helper_name(212), None);
        assert_eq!(helper_name(-1), None);
        assert_eq!(helper_id("bpf_xdp_adjust_head"), Some(44));
        assert_eq!(helper_id("fib_lookup"), Some(69));
    }

    #[test]
    fn out_of_range_is_empty() {
        assert_eq!(disasm_insn(&[], 0), (String::new(), 0));
    }

    #[test]
    fn alu() {
        assert_eq!(one(Insn::mov64_imm(0, 2)), "r0 = 2");
        assert_eq!(one(Insn::alu64_reg(BPF_ADD, 1, 2)), "r1 += r2");
        assert_eq!(one(Insn::alu32_imm(BPF_AND, 1, 255)), "w1 &= 255");
        assert_eq!(one(Insn::alu64_imm(BPF_ADD, 2, -4)), "r2 += -4");
        assert_eq!(one(Insn::alu64_imm(BPF_ARSH, 2, 3)), "r2 s>>= 3");
        assert_eq!(one(Insn::alu32_reg(BPF_MOV, 4, 5)), "w4 = w5");
        assert_eq!(one(Insn::new(BPF_ALU64 | BPF_NEG, 3, 0, 0, 0)), "r3 = -r3");
        assert_eq!(one(Insn::new(BPF_ALU | BPF_NEG, 3, 0, 0, 0)), "w3 = -w3");
        assert_eq!(
            one(Insn::new(BPF_ALU64 | BPF_DIV | BPF_X, 1, 2, 1, 0)),
            "r1 s/= r2"
        );
        assert_eq!(
            one(Insn::new(BPF_ALU | BPF_MOD | BPF_K, 1, 0, 1, 7)),
            "w1 s%= 7"
        );
        assert_eq!(
            one(Insn::new(BPF_ALU64 | BPF_MOV | BPF_X, 1, 2, 8, 0)),
            "r1 = (s8)r2"
        );
        assert_eq!(
            one(Insn::new(BPF_ALU | BPF_MOV | BPF_X, 1, 2, 16, 0)),
            "w1 = (s16)w2"
        );
        assert_eq!(one(Insn::to_be(0, 16)), "r0 = be16 r0");
        assert_eq!(
            one(Insn::new(BPF_ALU | BPF_END | BPF_TO_LE, 3, 0, 0, 64)),
            "r3 = le64 r3"
        );
        assert_eq!(
            one(Insn::new(BPF_ALU64 | BPF_END, 3, 0, 0, 32)),
            "r3 = bswap32 r3"
        );
        assert_eq!(one(Insn::new(BPF_ALU64 | 0xe0, 3, 0, 0, 1)), "r3 (null) 1");
    }

    #[test]
    fn memory() {
        assert_eq!(one(Insn::ldx(BPF_W, 2, 1, 4)), "r2 = *(u32 *)(r1 +4)");
        assert_eq!(one(Insn::ldx(BPF_DW, 2, 10, -16)), "r2 = *(u64 *)(r10 -16)");
        assert_eq!(
            one(Insn::new(BPF_LDX | BPF_MEMSX | BPF_H, 2, 1, 0, 0)),
            "r2 = *(s16 *)(r1 +0)"
        );
        assert_eq!(one(Insn::stx(BPF_H, 10, -8, 3)), "*(u16 *)(r10 -8) = r3");
        assert_eq!(one(Insn::st_imm(BPF_B, 2, 0, 5)), "*(u8 *)(r2 +0) = 5");
        assert_eq!(
            one(Insn::st_imm(BPF_DW, 10, -8, -1)),
            "*(u64 *)(r10 -8) = -1"
        );
        assert_eq!(
            one(Insn::new(BPF_LD | BPF_ABS | BPF_H, 0, 0, 0, 12)),
            "r0 = *(u16 *)skb[12]"
        );
        assert_eq!(
            one(Insn::new(BPF_LD | BPF_IND | BPF_B, 0, 3, 0, 2)),
            "r0 = *(u8 *)skb[r3 + 2]"
        );
    }

    #[test]
    fn atomics() {
        let at = |size: u8, imm: i32| Insn::new(BPF_STX | BPF_ATOMIC | size, 1, 2, 0, imm);
        assert_eq!(one(at(BPF_DW, 0x00)), "lock *(u64 *)(r1 +0) += r2");
        assert_eq!(one(at(BPF_W, 0x50)), "lock *(u32 *)(r1 +0) &= r2");
        assert_eq!(one(at(BPF_DW, 0x40)), "lock *(u64 *)(r1 +0) |= r2");
        assert_eq!(one(at(BPF_W, 0xa0)), "lock *(u32 *)(r1 +0) ^= r2");
        assert_eq!(
            one(at(BPF_DW, 0x01)),
            "r2 = atomic64_fetch_add((u64 *)(r1 +0), r2)"
        );
        assert_eq!(
            one(at(BPF_W, 0xa1)),
            "r2 = atomic_fetch_xor((u32 *)(r1 +0), r2)"
        );
        assert_eq!(
            one(at(BPF_DW, BPF_XCHG)),
            "r2 = atomic64_xchg((u64 *)(r1 +0), r2)"
        );
        assert_eq!(
            one(at(BPF_W, BPF_CMPXCHG)),
            "r0 = atomic_cmpxchg((u32 *)(r1 +0), r0, r2)"
        );
        assert_eq!(
            one(at(BPF_DW, BPF_LOAD_ACQ)),
            "r1 = load_acquire((u64 *)(r2 +0))"
        );
        assert_eq!(
            one(at(BPF_W, BPF_STORE_REL)),
            "store_release((u32 *)(r1 +0), r2)"
        );
        assert_eq!(one(at(BPF_W, 0x20)), "BUG_c3");
    }

    #[test]
    fn jumps_and_calls() {
        assert_eq!(one(Insn::jmp_reg(BPF_JGT, 2, 3, 5)), "if r2 > r3 goto pc+5");
        assert_eq!(
            one(Insn::new(BPF_JMP32 | BPF_JEQ | BPF_K, 1, 0, -3, 0x800)),
            "if w1 == 0x800 goto pc-3"
        );
        assert_eq!(
            one(Insn::jmp_imm(BPF_JSLT, 1, -1, 0)),
            "if r1 s< 0xffffffff goto pc+0"
        );
        assert_eq!(
            one(Insn::new(BPF_JMP32 | BPF_JSET | BPF_X, 1, 4, 7, 0)),
            "if w1 & w4 goto pc+7"
        );
        assert_eq!(one(Insn::ja(2)), "goto pc+2");
        assert_eq!(one(Insn::ja(-2)), "goto pc-2");
        assert_eq!(
            one(Insn::new(BPF_JMP32 | BPF_JA, 0, 0, 0, 70000)),
            "gotol pc+70000"
        );
        assert_eq!(
            one(Insn::new(BPF_JMP | BPF_JCOND, 0, 0, 4, 0)),
            "may_goto pc+4"
        );
        assert_eq!(one(Insn::call_helper(23)), "call bpf_redirect#23");
        assert_eq!(one(Insn::call_helper(1)), "call bpf_map_lookup_elem#1");
        assert_eq!(one(Insn::call_helper(5000)), "call unknown#5000");
        assert_eq!(
            one(Insn::new(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL, 0, 7)),
            "call pc+7"
        );
        assert_eq!(
            one(Insn::new(
                BPF_JMP | BPF_CALL,
                0,
                BPF_PSEUDO_KFUNC_CALL,
                0,
                1234
            )),
            "call kernel-function#1234"
        );
        assert_eq!(one(Insn::exit()), "exit");
    }

    #[test]
    fn ld_imm64() {
        let pair = Insn::ld_imm64(1, 0x12_3456_7890);
        assert_eq!(disasm_insn(&pair, 0), ("r1 = 0x1234567890".to_string(), 2));
        let pair = Insn::ld_imm64(2, u64::MAX);
        assert_eq!(disasm_insn(&pair, 0).0, "r2 = 0xffffffffffffffff");
        let pair = Insn::ld_imm64(3, 0);
        assert_eq!(disasm_insn(&pair, 0).0, "r3 = 0x0");
        let mut map = Insn::ld_imm64(1, 0);
        map[0].src = BPF_PSEUDO_MAP_FD;
        map[0].imm = 5;
        assert_eq!(disasm_insn(&map, 0), ("r1 = map[fd:5]".to_string(), 2));
        map[0].src = BPF_PSEUDO_MAP_VALUE;
        map[1].imm = 16;
        assert_eq!(disasm_insn(&map, 0).0, "r1 = map[fd:5][0]+16");
        // A truncated pair consumes what is there and does not panic.
        assert_eq!(disasm_insn(&map[..1], 0).1, 1);
    }

    #[test]
    fn listing() {
        let mut insns = vec![Insn::mov64_imm(0, 2)];
        insns.extend(Insn::ld_imm64(1, 7));
        insns.push(Insn::exit());
        assert_eq!(
            disasm(&insns),
            "   0: (b7) r0 = 2\n   1: (18) r1 = 0x7\n   3: (95) exit\n"
        );
    }
}
