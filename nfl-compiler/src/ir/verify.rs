//! Structural checks of the IR. A failure here is a compiler bug.

use super::{BufId, Call, Function, Inst, Kcall, MapId, Operand, Term, VarId, VarKind};

fn check_var(func: &Function, v: VarId, what: &str) -> Result<(), String> {
    if v.index() < func.vars.len() { Ok(()) } else { Err(format!("{what}: {v} out of range")) }
}

fn check_kind(func: &Function, v: VarId, kind: VarKind, what: &str) -> Result<(), String> {
    check_var(func, v, what)?;
    let got = func.var(v).kind;
    if got == kind { Ok(()) } else { Err(format!("{what}: {v} is {got:?}, expected {kind:?}")) }
}

fn check_operand_scalar(func: &Function, o: &Operand, what: &str) -> Result<(), String> {
    match o {
        Operand::Var(v) => check_kind(func, *v, VarKind::Scalar, what),
        Operand::Imm(_) => Ok(()),
    }
}

fn check_map(func: &Function, m: MapId, what: &str) -> Result<(), String> {
    if m.index() < func.maps.len() { Ok(()) } else { Err(format!("{what}: {m} out of range")) }
}

fn check_buf(func: &Function, b: BufId, off: u32, bytes: u32, what: &str) -> Result<(), String> {
    let Some(buf) = func.bufs.get(b.index()) else { return Err(format!("{what}: {b} out of range")) };
    if !matches!(bytes, 1 | 2 | 4 | 8) || off % bytes != 0 || off + bytes > buf.size {
        return Err(format!("{what}: bad access {off}+{bytes} of {b} ({}B)", buf.size));
    }
    Ok(())
}

fn check_mem(func: &Function, ptr: VarId, off: u32, bytes: u32, what: &str) -> Result<(), String> {
    // Packet bytes are moved by reshapes (`build::reshape`); the packet
    // has no alignment rule on the kernels we target.
    let packet = func.var(ptr).kind == VarKind::PktPtr;
    if func.var(ptr).kind != VarKind::Alloc && !packet {
        check_kind(func, ptr, VarKind::MapValue, what)?;
    }
    if !matches!(bytes, 1 | 2 | 4 | 8) || (off % bytes != 0 && !packet) {
        return Err(format!("{what}: bad access {off}+{bytes}"));
    }
    Ok(())
}

fn check_call(func: &Function, call: &Call, what: &str) -> Result<(), String> {
    let whole = |b: BufId, size: u32| -> Result<(), String> {
        match func.bufs.get(b.index()) {
            Some(buf) if buf.size == size => Ok(()),
            _ => Err(format!("{what}: {b} does not have the map's size {size}")),
        }
    };
    match *call {
        Call::KtimeNs => Ok(()),
        Call::MapUpdate { map, key, value, .. } => {
            check_map(func, map, what)?;
            whole(key, func.map(map).key_size)?;
            whole(value, func.map(map).value_size)
        }
        Call::MapDelete { map, key } => {
            check_map(func, map, what)?;
            whole(key, func.map(map).key_size)
        }
        Call::MapPush { map, value, .. } | Call::MapPop { map, value } | Call::MapPeek { map, value } => {
            check_map(func, map, what)?;
            whole(value, func.map(map).value_size)
        }
    }
}

fn check_new_inst(func: &Function, inst: &Inst, what: &str) -> Result<(), String> {
    match inst {
        Inst::BufStore { buf, off, bytes, src } => {
            check_buf(func, *buf, *off, *bytes, what)?;
            check_operand_scalar(func, src, what)
        }
        Inst::Bswap { dst, src, bytes } => {
            check_kind(func, *dst, VarKind::Scalar, what)?;
            check_kind(func, *src, VarKind::Scalar, what)?;
            if matches!(bytes, 2 | 4 | 8) { Ok(()) } else { Err(format!("{what}: bad width")) }
        }
        Inst::BufLoad { dst, buf, off, bytes } => {
            check_kind(func, *dst, VarKind::Scalar, what)?;
            check_buf(func, *buf, *off, *bytes, what)
        }
        Inst::MapLookup { dst, map, key } => {
            check_kind(func, *dst, VarKind::MapValueOrNull, what)?;
            check_map(func, *map, what)?;
            check_call(func, &Call::MapDelete { map: *map, key: *key }, what)
        }
        Inst::MemLoad { dst, ptr, off, bytes } => {
            check_kind(func, *dst, VarKind::Scalar, what)?;
            check_mem(func, *ptr, *off, *bytes, what)
        }
        Inst::MemStore { ptr, off, bytes, src } => {
            check_mem(func, *ptr, *off, *bytes, what)?;
            check_operand_scalar(func, src, what)
        }
        Inst::Atomic { ptr, off, bytes, src, .. } => {
            check_mem(func, *ptr, *off, *bytes, what)?;
            check_kind(func, *src, VarKind::Scalar, what)?;
            if *bytes < 4 { Err(format!("{what}: atomics need 4 or 8 bytes")) } else { Ok(()) }
        }
        Inst::Call { dst, call } => {
            if let Some(d) = dst {
                check_kind(func, *d, VarKind::Scalar, what)?;
            }
            check_call(func, call, what)
        }
        Inst::Kcall { dst, call, args } => check_kcall(func, *dst, *call, args, what),
        Inst::Helper { dst, args, .. } => {
            if let Some(d) = dst {
                check_kind(func, *d, VarKind::Scalar, what)?;
            }
            // Every resizing helper takes the context first, then scalars.
            match args.first() {
                Some(Operand::Var(ctx)) => check_kind(func, *ctx, VarKind::Ctx, what)?,
                _ => return Err(format!("{what}: the context comes first")),
            }
            args.iter().skip(1).try_for_each(|a| check_operand_scalar(func, a, what))
        }
        Inst::BufAddr { dst, .. } => check_kind(func, *dst, VarKind::StackPtr, what),
        Inst::MapUpdateFrom { dst, value, .. } => {
            check_kind(func, *value, VarKind::MapValue, what)?;
            check_kind(func, *dst, VarKind::Scalar, what)
        }
        Inst::TailCall { ctx, map, .. } => {
            check_kind(func, *ctx, VarKind::Ctx, what)?;
            match func.maps.get(map.index()) {
                Some(m) if m.kind == crate::ir::MapKind::ProgArray => Ok(()),
                _ => Err(format!("{what}: a tail call needs a prog array")),
            }
        }
        _ => Ok(()),
    }
}

fn check_kcall(func: &Function, dst: Option<VarId>, call: Kcall, args: &[VarId], what: &str) -> Result<(), String> {
    use VarKind::{Alloc, MapValue, Scalar, StackPtr};
    if call.is_nfl() {
        let want: &[VarKind] = if call == Kcall::NflHllAdd { &[MapValue, Scalar, StackPtr, Scalar] } else { &[MapValue, Scalar, StackPtr, Scalar, Scalar] };
        if args.len() != want.len() {
            return Err(format!("{what}: {} takes {} arguments", call.name(), want.len()));
        }
        for (a, k) in args.iter().zip(want) {
            check_kind(func, *a, *k, what)?;
        }
        return dst.map_or(Ok(()), |d| check_kind(func, d, Scalar, what));
    }
    let (want, ret): (&[VarKind], bool) = match call {
        Kcall::SpinLock | Kcall::SpinUnlock => (&[MapValue], false),
        Kcall::ObjNew => (&[], true),
        Kcall::ObjDrop => (&[Alloc], false),
        Kcall::RbAdd => (&[MapValue, Alloc], false),
        Kcall::RbFirst => (&[MapValue], true),
        Kcall::RbRemove => (&[MapValue, Alloc], true),
        Kcall::IterNumNew => (&[StackPtr, Scalar, Scalar], false),
        Kcall::IterNumNext => (&[StackPtr], true),
        Kcall::IterNumDestroy => (&[StackPtr], false),
        _ => (&[], false),
    };
    if args.len() != want.len() {
        return Err(format!("{what}: {} takes {} arguments", call.name(), want.len()));
    }
    for (a, k) in args.iter().zip(want) {
        check_kind(func, *a, *k, what)?;
    }
    match (dst, ret) {
        (Some(d), true) => check_kind(func, d, VarKind::AllocOrNull, what),
        (None, _) => Ok(()),
        (Some(_), false) => Err(format!("{what}: {} returns nothing", call.name())),
    }
}

/// Verify the function's structure; returns the first problem found.
pub fn verify(func: &Function) -> Result<(), String> {
    if func.entry.index() >= func.blocks.len() {
        return Err("entry block out of range".into());
    }
    check_kind(func, func.ctx, VarKind::Ctx, "ctx")?;
    for (bi, block) in func.blocks.iter().enumerate() {
        if block.spans.len() != block.insts.len() {
            return Err(format!("bb{bi}: spans not parallel to instructions"));
        }
        for inst in &block.insts {
            let what = format!("bb{bi}: {}", super::print::print_inst(inst));
            match inst {
                // A lookup result variable starts as null.
                Inst::Const { dst, value: 0 } if func.var(*dst).kind == VarKind::MapValueOrNull => {}
                Inst::Const { dst, value: 0 } if func.var(*dst).kind == VarKind::AllocOrNull => {}
                Inst::Const { dst, .. } | Inst::Trunc { dst, .. } => {
                    check_kind(func, *dst, VarKind::Scalar, &what)?;
                }
                Inst::Copy { dst, src } => {
                    check_var(func, *dst, &what)?;
                    // A null-checked lookup result becomes a `MapValue` by a copy.
                    let want = match func.var(*dst).kind {
                        VarKind::MapValue if func.var(*src).kind == VarKind::MapValueOrNull => {
                            VarKind::MapValueOrNull
                        }
                        VarKind::Alloc if func.var(*src).kind == VarKind::AllocOrNull => VarKind::AllocOrNull,
                        k => k,
                    };
                    check_kind(func, *src, want, &what)?;
                }
                Inst::Alu { dst, lhs, rhs, width, .. } => {
                    check_kind(func, *dst, VarKind::Scalar, &what)?;
                    check_kind(func, *lhs, VarKind::Scalar, &what)?;
                    check_operand_scalar(func, rhs, &what)?;
                    if *width == 0 || *width > 64 {
                        return Err(format!("{what}: bad width"));
                    }
                }
                Inst::CtxLoad { dst, ctx, field } => {
                    check_kind(func, *ctx, VarKind::Ctx, &what)?;
                    let want = match field {
                        super::CtxField::Data => VarKind::PktPtr,
                        super::CtxField::DataEnd => VarKind::PktEnd,
                        super::CtxField::Ifindex | super::CtxField::Len => VarKind::Scalar,
                    };
                    check_kind(func, *dst, want, &what)?;
                }
                Inst::PktRemaining { dst, ptr, end } => {
                    check_kind(func, *dst, VarKind::Scalar, &what)?;
                    check_kind(func, *ptr, VarKind::PktPtr, &what)?;
                    // `end` is `data_end`, or a packet pointer after `ptr`
                    // (a header's offset, taken before a reshape).
                    if func.var(*end).kind != VarKind::PktPtr {
                        check_kind(func, *end, VarKind::PktEnd, &what)?;
                    }
                }
                Inst::PtrAdd { dst, ptr, off } => {
                    // Packet pointers, or map value pointers walking a value.
                    let kind = func.var(*ptr).kind;
                    if !matches!(kind, VarKind::PktPtr | VarKind::MapValue | VarKind::Alloc) {
                        return Err(format!("{what}: {ptr} is {kind:?}, not a pointer"));
                    }
                    check_kind(func, *dst, kind, &what)?;
                    check_operand_scalar(func, off, &what)?;
                }
                Inst::LoadField { dst, ptr, hdr_len, bit_offset, width, .. } => {
                    check_kind(func, *dst, VarKind::Scalar, &what)?;
                    check_kind(func, *ptr, VarKind::PktPtr, &what)?;
                    if *width == 0 || *width > 64 || bit_offset + width > hdr_len * 8 {
                        return Err(format!("{what}: field outside header"));
                    }
                }
                Inst::StoreField { ptr, hdr_len, bit_offset, width, src } => {
                    check_kind(func, *ptr, VarKind::PktPtr, &what)?;
                    check_operand_scalar(func, src, &what)?;
                    if *width == 0 || *width > 64 || bit_offset + width > hdr_len * 8 {
                        return Err(format!("{what}: field outside header"));
                    }
                }
                other => check_new_inst(func, other, &what)?,
            }
        }
        for succ in block.term.successors() {
            if succ.index() >= func.blocks.len() {
                return Err(format!("bb{bi}: successor {succ} out of range"));
            }
        }
        match &block.term {
            Term::Branch { lhs, rhs, width, .. }
                if matches!(func.var(*lhs).kind, VarKind::MapValueOrNull | VarKind::AllocOrNull) =>
            {
                if *rhs != Operand::Imm(0) || *width != 64 {
                    return Err(format!("bb{bi}: a lookup result is only compared with 0 at 64 bits"));
                }
            }
            Term::Branch { lhs, rhs, .. } => {
                check_kind(func, *lhs, VarKind::Scalar, "branch")?;
                check_operand_scalar(func, rhs, "branch")?;
            }
            Term::BoundsCheck { ptr, end, .. } => {
                check_kind(func, *ptr, VarKind::PktPtr, "bounds")?;
                check_kind(func, *end, VarKind::PktEnd, "bounds")?;
            }
            Term::Exit(super::Exit::Redirect(o)) => check_operand_scalar(func, o, "redirect")?,
            Term::Jump(_) | Term::Exit(super::Exit::Return(_)) => {}
        }
    }
    Ok(())
}
