//! The IR's text form, used by snapshots and `nflc build --emit ir`.

use std::fmt::Write;

use super::{AluOp, Call, CmpOp, CtxField, Exit, Function, Inst, Operand, Term, VarKind};

fn operand(o: &Operand) -> String {
    match o {
        Operand::Var(v) => v.to_string(),
        Operand::Imm(i) if *i < 10 => i.to_string(),
        Operand::Imm(i) => format!("{i:#x}"),
    }
}

fn alu(op: AluOp) -> &'static str {
    match op {
        AluOp::Add => "add",
        AluOp::Sub => "sub",
        AluOp::Mul => "mul",
        AluOp::Div => "div",
        AluOp::Mod => "mod",
        AluOp::And => "and",
        AluOp::Or => "or",
        AluOp::Xor => "xor",
        AluOp::Shl => "shl",
        AluOp::Shr => "shr",
    }
}

fn cmp(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "eq",
        CmpOp::Ne => "ne",
        CmpOp::Lt => "lt",
        CmpOp::Le => "le",
        CmpOp::Gt => "gt",
        CmpOp::Ge => "ge",
        CmpOp::Set => "set",
    }
}

fn ctx_field(f: CtxField) -> &'static str {
    match f {
        CtxField::Data => "data",
        CtxField::DataEnd => "data_end",
        CtxField::Ifindex => "ifindex",
        CtxField::Len => "len",
    }
}

fn print_call(call: &Call) -> String {
    match call {
        Call::KtimeNs => "call ktime_get_ns()".into(),
        Call::MapUpdate { map, key, value, flags } => format!("call map_update({map}, {key}, {value}, {flags})"),
        Call::MapDelete { map, key } => format!("call map_delete({map}, {key})"),
        Call::MapPush { map, value, flags } => format!("call map_push({map}, {value}, {flags})"),
        Call::MapPop { map, value } => format!("call map_pop({map}, {value})"),
        Call::MapPeek { map, value } => format!("call map_peek({map}, {value})"),
    }
}

pub fn print_inst(inst: &Inst) -> String {
    match inst {
        Inst::Bswap { dst, src, bytes } => format!("{dst} = bswap.{bytes}B {src}"),
        Inst::BufStore { buf, off, bytes, src } => format!("store.{bytes}B {buf}[{off}], {}", operand(src)),
        Inst::BufLoad { dst, buf, off, bytes } => format!("{dst} = load.{bytes}B {buf}[{off}]"),
        Inst::MapLookup { dst, map, key } => format!("{dst} = lookup {map}, {key}"),
        Inst::MemLoad { dst, ptr, off, bytes } => format!("{dst} = load.{bytes}B {ptr}[{off}]"),
        Inst::MemStore { ptr, off, bytes, src } => format!("store.{bytes}B {ptr}[{off}], {}", operand(src)),
        Inst::Atomic { op, ptr, off, bytes, src } => {
            let op = match op {
                crate::ir::AtomicOp::Add => "add",
                crate::ir::AtomicOp::Or => "or",
            };
            format!("atomic_{op}.{bytes}B {ptr}[{off}], {src}")
        }
        Inst::Call { dst: Some(dst), call } => format!("{dst} = {}", print_call(call)),
        Inst::Call { dst: None, call } => print_call(call),
        Inst::Kcall { dst, call, args } => {
            let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            let call = format!("kcall {}({})", call.name(), args.join(", "));
            match dst {
                Some(d) => format!("{d} = {call}"),
                None => call,
            }
        }
        Inst::BufAddr { dst, buf } => format!("{dst} = addr {buf}"),
        Inst::MapUpdateFrom { dst, map, key, value, flags } => format!("{dst} = map_update({map}, {key}, *{value}, {flags})"),
        Inst::Helper { dst, helper, args } => {
            let args: Vec<String> = args.iter().map(|a| match a {
                Operand::Var(v) => v.to_string(),
                Operand::Imm(i) => (*i as i64).to_string(),
            }).collect();
            let call = format!("call {}({})", helper.name(), args.join(", "));
            match dst {
                Some(d) => format!("{d} = {call}"),
                None => call,
            }
        }
        Inst::TailCall { ctx, map, index } => format!("tail_call({ctx}, {map}, {index})"),
        Inst::Const { dst, value } => format!("{dst} = const {}", operand(&Operand::Imm(*value))),
        Inst::Copy { dst, src } => format!("{dst} = copy {src}"),
        Inst::Alu { op, dst, lhs, rhs, width } => {
            format!("{dst} = {}.{width} {lhs}, {}", alu(*op), operand(rhs))
        }
        Inst::Trunc { dst, src, bits } => format!("{dst} = trunc.{bits} {src}"),
        Inst::CtxLoad { dst, ctx, field } => format!("{dst} = ctx.{} {ctx}", ctx_field(*field)),
        Inst::PktRemaining { dst, ptr, end } => format!("{dst} = remaining {ptr}, {end}"),
        Inst::PtrAdd { dst, ptr, off } => format!("{dst} = ptradd {ptr}, {}", operand(off)),
        Inst::LoadField { dst, ptr, hdr_len, bit_offset, width, wire } => {
            let order = if *wire { ".wire" } else { "" };
            format!("{dst} = load.{width}{order} {ptr}[bit {bit_offset}] (hdr {hdr_len}B)")
        }
        Inst::StoreField { ptr, hdr_len, bit_offset, width, src } => {
            format!("store.{width} {ptr}[bit {bit_offset}] (hdr {hdr_len}B), {}", operand(src))
        }
    }
}

pub fn print_term(term: &Term) -> String {
    match term {
        Term::Jump(b) => format!("jump {b}"),
        Term::Branch { op, lhs, rhs, width, then_bb, else_bb } => {
            format!("br {}.{width} {lhs}, {} ? {then_bb} : {else_bb}", cmp(*op), operand(rhs))
        }
        Term::BoundsCheck { ptr, len, end, ok, fail } => {
            format!("bounds {ptr} + {len} <= {end} ? {ok} : {fail}")
        }
        Term::Exit(Exit::Return(code)) => format!("return {code}"),
        Term::Exit(Exit::Redirect(o)) => format!("redirect {}", operand(o)),
    }
}

/// Print the whole function: variable table, then blocks in index order.
pub fn print_function(func: &Function) -> String {
    let mut out = String::new();
    let hook = match func.hook {
        nfl_syntax::ast::Hook::Xdp => "xdp",
        nfl_syntax::ast::Hook::Tc => "tc",
    };
    let _ = writeln!(out, "fn {}({hook}) entry {} ctx {} {{", func.name, func.entry, func.ctx);
    for (i, var) in func.vars.iter().enumerate() {
        let kind = match var.kind {
            VarKind::Scalar => "scalar",
            VarKind::Ctx => "ctx",
            VarKind::PktPtr => "pkt",
            VarKind::PktEnd => "pkt_end",
            VarKind::MapValueOrNull => "map_value_or_null",
            VarKind::MapValue => "map_value",
            VarKind::AllocOrNull => "alloc_or_null",
            VarKind::Alloc => "alloc",
            VarKind::StackPtr => "stack_ptr",
        };
        let name = var.name.as_deref().unwrap_or("");
        let _ = writeln!(out, "  v{i}: {kind} {name}").map(|_| ());
    }
    for (i, m) in func.maps.iter().enumerate() {
        let _ = writeln!(
            out,
            "  map{i}: {} {} key {}B value {}B max {}",
            m.kind.name(),
            m.name,
            m.key_size,
            m.value_size,
            m.max_entries
        );
    }
    for (i, b) in func.bufs.iter().enumerate() {
        let _ = writeln!(out, "  buf{i}: {}B", b.size);
    }
    for (i, block) in func.blocks.iter().enumerate() {
        let _ = writeln!(out, "bb{i}:");
        for inst in &block.insts {
            let _ = writeln!(out, "  {}", print_inst(inst));
        }
        let _ = writeln!(out, "  {}", print_term(&block.term));
    }
    out.push_str("}\n");
    // Trim the trailing spaces left by unnamed variables.
    out.lines().map(str::trim_end).collect::<Vec<_>>().join("\n") + "\n"
}
