//! Lowering of stack buffers, map lookups, map value access and helper
//! calls.
//!
//! Stack layout: buffers sit at the top of the frame (`r10 - size ..`), in
//! `BufId` order, each 8-byte aligned; register allocation puts its spill
//! slots below them. Helper arguments go in `r1`..`r5` and the result comes
//! back in `r0`; the call clobbers `r0`..`r5`, which register allocation
//! already knows from [`MInsn::defs`](super::mir::MInsn::defs).

use crate::bpf::insn::*;
use crate::ir::{AtomicOp, BufId, Call, Function, Kcall, MapId, Operand, VarId};

use super::Lower;
use super::mir::Reg;

pub const HELPER_MAP_LOOKUP: i64 = 1;
pub const HELPER_TAIL_CALL: i64 = 12;
pub const HELPER_MAP_UPDATE: i64 = 2;
pub const HELPER_MAP_DELETE: i64 = 3;
pub const HELPER_KTIME_GET_NS: i64 = 5;
pub const HELPER_MAP_PUSH: i64 = 87;
pub const HELPER_MAP_POP: i64 = 88;
pub const HELPER_MAP_PEEK: i64 = 89;
pub const HELPER_SPIN_LOCK: i64 = 93;
pub const HELPER_SPIN_UNLOCK: i64 = 94;
/// `src` of the `LD_IMM64` that stands for the type id of `nfl_pq_node`
/// until emission records it (and clears `src`).
pub const TYPE_ID_MARK: u8 = 3;

/// Frame offsets (negative, from `r10`) of each buffer, and the bytes they
/// take together.
pub fn buf_layout(func: &Function) -> (Vec<i16>, u32) {
    let mut offsets = Vec::with_capacity(func.bufs.len());
    let mut used = 0u32;
    for b in &func.bufs {
        used += b.size.div_ceil(8) * 8;
        offsets.push(-(used.min(i16::MAX as u32) as i16));
    }
    (offsets, used)
}

fn size_code(bytes: u32) -> u8 {
    match bytes {
        1 => BPF_B,
        2 => BPF_H,
        4 => BPF_W,
        _ => BPF_DW,
    }
}

fn fp() -> Reg {
    Reg::Phys(R10)
}

impl Lower<'_> {
    fn buf_off(&self, buf: BufId, off: u32) -> i16 {
        self.buf_offsets[buf.index()] + off as i16
    }

    /// `*(size *)(base + off) = src`
    fn store(&mut self, base: Reg, off: i16, bytes: u32, src: Operand) {
        let size = size_code(bytes);
        match src {
            Operand::Imm(i) if bytes < 8 || super::fits_simm32(i) => {
                let imm = match bytes {
                    1 => i64::from(i as u8),
                    2 => i64::from(i as u16),
                    4 => i64::from(i as u32 as i32),
                    _ => i as i32 as i64,
                };
                self.emit(BPF_ST | BPF_MEM | size, base, Reg::Phys(0), off, imm);
            }
            Operand::Imm(i) => {
                let t = self.temp();
                self.mov_imm(t, i);
                self.emit(BPF_STX | BPF_MEM | size, base, t, off, 0);
            }
            Operand::Var(v) => {
                let s = self.var(v);
                self.emit(BPF_STX | BPF_MEM | size, base, s, off, 0);
            }
        }
    }

    pub(super) fn buf_store(&mut self, buf: BufId, off: u32, bytes: u32, src: Operand) {
        let o = self.buf_off(buf, off);
        self.store(fp(), o, bytes, src);
    }

    pub(super) fn buf_load(&mut self, dst: VarId, buf: BufId, off: u32, bytes: u32) {
        let (d, o) = (self.var(dst), self.buf_off(buf, off));
        self.emit(BPF_LDX | BPF_MEM | size_code(bytes), d, fp(), o, 0);
    }

    pub(super) fn mem_load(&mut self, dst: VarId, ptr: VarId, off: u32, bytes: u32) {
        let (d, p) = (self.var(dst), self.var(ptr));
        self.emit(BPF_LDX | BPF_MEM | size_code(bytes), d, p, off as i16, 0);
    }

    pub(super) fn mem_store(&mut self, ptr: VarId, off: u32, bytes: u32, src: Operand) {
        let p = self.var(ptr);
        self.store(p, off as i16, bytes, src);
    }

    pub(super) fn atomic(&mut self, op: AtomicOp, ptr: VarId, off: u32, bytes: u32, src: VarId) {
        let (p, s) = (self.var(ptr), self.var(src));
        let code = match op {
            AtomicOp::Add => BPF_ADD,
            AtomicOp::Or => BPF_OR,
        };
        self.emit(BPF_STX | BPF_ATOMIC | size_code(bytes), p, s, off as i16, i64::from(code));
    }

    /// `bpf_map_update_elem(map, key, value, flags)`, the value a map value.
    pub(super) fn map_update_from(&mut self, dst: VarId, map: MapId, key: BufId, value: VarId, flags: u64) {
        let v = self.var(value);
        self.mov(Reg::Phys(3), v);
        self.map_arg(1, map);
        self.buf_arg(2, key);
        self.mov_imm(Reg::Phys(4), flags);
        self.call_helper(HELPER_MAP_UPDATE, Some(dst));
    }

    /// `r{arg} = &map` (a map reference the loader relocates).
    fn map_arg(&mut self, arg: u8, map: MapId) {
        self.emit(BPF_LD | BPF_DW | BPF_IMM, Reg::Phys(arg), Reg::Phys(BPF_PSEUDO_MAP_FD), 0, i64::from(map.0));
    }

    /// `r{arg} = r10 + offset of buf`
    fn buf_arg(&mut self, arg: u8, buf: BufId) {
        self.buf_addr(Reg::Phys(arg), buf);
    }

    /// `dst = r10 + offset of buf`
    pub(super) fn buf_addr(&mut self, dst: Reg, buf: BufId) {
        let o = self.buf_off(buf, 0);
        self.emit(BPF_ALU64 | BPF_MOV | BPF_X, dst, fp(), 0, 0);
        self.emit(BPF_ALU64 | BPF_ADD | BPF_K, dst, Reg::Phys(0), 0, i64::from(o));
    }

    fn call_helper(&mut self, id: i64, dst: Option<VarId>) {
        self.emit(BPF_JMP | BPF_CALL, Reg::Phys(0), Reg::Phys(0), 0, id);
        if let Some(d) = dst {
            let d = self.var(d);
            self.mov(d, Reg::Phys(0));
        }
    }

    /// `bpf_tail_call(ctx, map, index)`; on return (an empty slot) the
    /// caller-saved registers are clobbered like after any call.
    pub(super) fn tail_call(&mut self, ctx: VarId, map: MapId, index: u32) {
        let c = self.var(ctx);
        self.mov(Reg::Phys(1), c);
        self.map_arg(2, map);
        self.mov_imm(Reg::Phys(3), u64::from(index));
        self.call_helper(HELPER_TAIL_CALL, None);
    }

    pub(super) fn map_lookup(&mut self, dst: VarId, map: MapId, key: BufId) {
        self.map_arg(1, map);
        self.buf_arg(2, key);
        self.call_helper(HELPER_MAP_LOOKUP, Some(dst));
    }

    pub(super) fn call(&mut self, dst: Option<VarId>, call: &Call) {
        match *call {
            Call::KtimeNs => self.call_helper(HELPER_KTIME_GET_NS, dst),
            Call::MapUpdate { map, key, value, flags } => {
                self.map_arg(1, map);
                self.buf_arg(2, key);
                self.buf_arg(3, value);
                self.mov_imm(Reg::Phys(4), flags);
                self.call_helper(HELPER_MAP_UPDATE, dst);
            }
            Call::MapDelete { map, key } => {
                self.map_arg(1, map);
                self.buf_arg(2, key);
                self.call_helper(HELPER_MAP_DELETE, dst);
            }
            Call::MapPush { map, value, flags } => {
                self.map_arg(1, map);
                self.buf_arg(2, value);
                self.mov_imm(Reg::Phys(3), flags);
                self.call_helper(HELPER_MAP_PUSH, dst);
            }
            Call::MapPop { map, value } => {
                self.map_arg(1, map);
                self.buf_arg(2, value);
                self.call_helper(HELPER_MAP_POP, dst);
            }
            Call::MapPeek { map, value } => {
                self.map_arg(1, map);
                self.buf_arg(2, value);
                self.call_helper(HELPER_MAP_PEEK, dst);
            }
        }
    }

    /// A helper with register arguments (`Inst::Helper`).
    pub(super) fn helper(&mut self, dst: Option<VarId>, helper: crate::ir::Helper, args: &[Operand]) {
        for (i, a) in args.iter().enumerate() {
            let r = Reg::Phys(i as u8 + 1);
            match *a {
                Operand::Var(v) => {
                    let s = self.var(v);
                    self.mov(r, s);
                }
                Operand::Imm(x) => self.mov_imm(r, x),
            }
        }
        self.call_helper(helper.id(), dst);
    }

    /// A spin lock helper or graph kfunc. A kfunc call is emitted as
    /// `call` with `src = BPF_PSEUDO_KFUNC_CALL` and `imm` = its index in
    /// [`Kcall::ALL`]; emission records the site and the object writer
    /// relocates it. The callback address is an `LD_IMM64` with
    /// `src = BPF_PSEUDO_FUNC`, the node's type id one marked
    /// [`TYPE_ID_MARK`].
    pub(super) fn kcall(&mut self, dst: Option<VarId>, call: Kcall, args: &[VarId]) {
        for (i, a) in args.iter().enumerate() {
            let r = self.var(*a);
            self.mov(Reg::Phys(i as u8 + 1), r);
        }
        let helper = match call {
            Kcall::SpinLock => Some(HELPER_SPIN_LOCK),
            Kcall::SpinUnlock => Some(HELPER_SPIN_UNLOCK),
            Kcall::ObjNew => {
                self.emit(BPF_LD | BPF_DW | BPF_IMM, Reg::Phys(1), Reg::Phys(TYPE_ID_MARK), 0, 0);
                self.mov_imm(Reg::Phys(2), 0);
                None
            }
            Kcall::ObjDrop => {
                self.mov_imm(Reg::Phys(2), 0);
                None
            }
            Kcall::RbAdd => {
                self.emit(BPF_LD | BPF_DW | BPF_IMM, Reg::Phys(3), Reg::Phys(crate::bpf::disasm::BPF_PSEUDO_FUNC), 0, 0);
                self.mov_imm(Reg::Phys(4), 0);
                self.mov_imm(Reg::Phys(5), 0);
                None
            }
            _ => None,
        };
        match helper {
            Some(id) => self.call_helper(id, dst),
            None => {
                let idx = Kcall::ALL.iter().position(|k| *k == call).unwrap_or(0);
                self.emit(BPF_JMP | BPF_CALL, Reg::Phys(0), Reg::Phys(BPF_PSEUDO_KFUNC_CALL), 0, idx as i64);
                if let Some(d) = dst {
                    let d = self.var(d);
                    self.mov(d, Reg::Phys(0));
                }
            }
        }
    }
}
