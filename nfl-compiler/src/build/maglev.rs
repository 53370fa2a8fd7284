//! `let b = P.pick(group, KEY...) else { ... }` on a maglev pool: murmur3
//! of the key (seed [`PICK_SEED`]) modulo the table size picks a slot of
//! the group's value, the slot names a member, and the member's value is
//! read from the same map value. One map lookup; an empty group (slot
//! word 0) or a group beyond the map takes `else`.

use super::Builder;
use crate::hir::{Expr, MaglevHir, MaglevId};
use crate::ir::{AluOp, BlockId, CmpOp, Inst, MapDef, MapKind, Operand, VarId, VarKind};
use crate::maglev::PICK_SEED;

pub(crate) fn maglev_maps(m: &MaglevHir) -> [MapDef; 2] {
    let (_, key_size) = super::state::state_key_layout(&[crate::hir::Ty::UInt(32), m.ty]);
    let members = (u64::from(m.groups) * u64::from(m.layout.members)).min(MAX_MEMBER_ENTRIES) as u32;
    [
        MapDef { name: m.name.clone(), kind: MapKind::Array, key_size: 4, value_size: m.layout.value_size(), max_entries: m.groups, flags: 0 },
        MapDef { name: members_map(&m.name), kind: MapKind::Hash, key_size, value_size: 1, max_entries: members, flags: 0 },
    ]
}

/// The most entries of a pool's membership map.
const MAX_MEMBER_ENTRIES: u64 = 1 << 20;

/// The hash map of `(group, member)` pairs `has` looks up.
pub fn members_map(pool: &str) -> String {
    format!("{pool}_members")
}

impl Builder<'_> {
    /// `P.has(group, member)` as a 0/1 value.
    pub(crate) fn maglev_has(&mut self, pool: MaglevId, key: &[Expr]) -> Operand {
        let map = self.maglev_maps[pool.index()][1];
        let buf = self.state_key_of(key);
        let res = self.new_var(VarKind::Scalar);
        self.push(Inst::Const { dst: res, value: 0 });
        let (_, miss) = self.lookup(map, buf);
        self.push(Inst::Const { dst: res, value: 1 });
        self.terminate(crate::ir::Term::Jump(miss));
        self.switch_to(miss);
        Operand::Var(res)
    }

    /// Writes the member into `dst` and returns the block taken when there
    /// is none.
    pub(crate) fn maglev_pick(&mut self, pool: MaglevId, group: &Expr, key: &[Expr], dst: VarId) -> BlockId {
        let layout = self.hir.maglevs[pool.index()].layout;
        let map = self.maglev_maps[pool.index()][0];
        let hashed = self.hash_key(key);
        let h = self.seeded_hash(&hashed, PICK_SEED);
        let slot = self.alu32(AluOp::Mod, h, Operand::Imm(u64::from(layout.slots)));
        let g = self.value(group, None);
        let buf = self.new_buf(4);
        self.push(Inst::BufStore { buf, off: 0, bytes: 4, src: g });
        let (p, miss) = self.lookup(map, buf);
        // `h % slots` is below `slots`; the test tells the verifier so.
        let in_table = self.new_block();
        self.branch(CmpOp::Ge, slot, Operand::Imm(u64::from(layout.slots)), 64, miss, in_table);
        self.switch_to(in_table);
        let off = self.alu(AluOp::Shl, slot, Operand::Imm(2), 64);
        let q = self.new_var(VarKind::MapValue);
        self.push(Inst::PtrAdd { dst: q, ptr: p, off });
        let word = self.new_var(VarKind::Scalar);
        self.push(Inst::MemLoad { dst: word, ptr: q, off: 0, bytes: 4 });
        // Slot words are member index + 1; 0 (an empty group) wraps above
        // every index, so one test covers both.
        let idx = self.alu32(AluOp::Sub, Operand::Var(word), Operand::Imm(1));
        let member = self.new_block();
        self.branch(CmpOp::Ge, idx, Operand::Imm(u64::from(layout.members)), 64, miss, member);
        self.switch_to(member);
        let scaled = self.alu(AluOp::Shl, idx, Operand::Imm(u64::from(layout.member_bytes.trailing_zeros())), 64);
        let off = self.alu(AluOp::Add, scaled, Operand::Imm(u64::from(layout.members_off())), 64);
        let q = self.new_var(VarKind::MapValue);
        self.push(Inst::PtrAdd { dst: q, ptr: p, off });
        self.push(Inst::MemLoad { dst, ptr: q, off: 0, bytes: layout.member_bytes });
        miss
    }
}
