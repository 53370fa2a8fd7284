//! Cross-checks our disassembler against the kernel's own printer. A
//! program with many instruction kinds is loaded through `bpftool prog
//! load`, and our text is compared with two listings:
//! - the verifier log (`bpftool -d` asks for log level 2), printed by the
//!   running kernel's `print_bpf_insn` before any rewriting: every
//!   instruction must match exactly, except map loads, where the kernel
//!   prints the map's address;
//! - `bpftool prog dump xlated`, printed by bpftool's own copy of
//!   `disasm.c` after the kernel's rewrites. An older bpftool predates the
//!   cpu v4 instructions and prints them wrongly or not at all, so only
//!   the other instructions are compared; helper calls (the kernel swaps
//!   the id for an address) and map loads (`map[id:N]`) are compared by
//!   shape.
//!
//! The program is built so that the verifier rewrites nothing that changes
//! instruction count or text: no context loads, no division by a register,
//! and every branch is reachable both ways (each condition tests a fresh
//! random number), so no dead code is removed.
//!
//! Skips with a loud `SKIPPED (no BPF)` line when the process cannot use
//! BPF, unless `NFL_REQUIRE_KERNEL=1`, where it fails instead.

#[macro_use]
mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use nfl_compiler::bpf::disasm::{BPF_CMPXCHG, BPF_LOAD_ACQ, BPF_STORE_REL, BPF_XCHG, disasm};
use nfl_compiler::bpf::insn::*;
use nfl_compiler::elf::{CtxKind, MapReloc, MapSpec, ObjectSpec, ProgramSpec, write_object};

const GET_PRANDOM_U32: i32 = 7;

/// `r0 = random u32`; clobbers r1..r5.
fn random(insns: &mut Vec<Insn>) {
    insns.push(Insn::call_helper(GET_PRANDOM_U32));
}

/// Every instruction kind the verifier leaves alone, on stack memory and
/// scalars only.
fn many_kinds() -> Vec<Insn> {
    let mut v = Vec::new();
    random(&mut v);
    v.push(Insn::mov64_reg(6, 0));
    random(&mut v);
    v.push(Insn::mov64_reg(7, 0));
    v.push(Insn::mov64_reg(8, 6));

    // ALU, 64 and 32 bits, immediate and register.
    for (op, imm) in [
        (BPF_ADD, 5),
        (BPF_SUB, 3),
        (BPF_MUL, 7),
        (BPF_DIV, 3),
        (BPF_MOD, 5),
        (BPF_OR, 16),
        (BPF_AND, 255),
        (BPF_LSH, 2),
        (BPF_RSH, 1),
        (BPF_XOR, 0xff),
        (BPF_ARSH, 1),
        (BPF_ADD, -4),
    ] {
        v.push(Insn::alu64_imm(op, 8, imm));
        v.push(Insn::alu32_imm(op, 8, imm));
    }
    for op in [
        BPF_ADD, BPF_SUB, BPF_MUL, BPF_OR, BPF_AND, BPF_LSH, BPF_RSH, BPF_XOR, BPF_ARSH,
    ] {
        v.push(Insn::alu64_reg(op, 8, 7));
        v.push(Insn::alu32_reg(op, 8, 7));
    }
    v.push(Insn::new(BPF_ALU64 | BPF_NEG, 8, 0, 0, 0));
    v.push(Insn::new(BPF_ALU | BPF_NEG, 8, 0, 0, 0));
    v.push(Insn::alu32_reg(BPF_MOV, 9, 7));
    v.push(Insn::alu32_imm(BPF_MOV, 9, -1));
    v.push(Insn::mov64_imm(9, -7));
    // Signed division by a constant other than -1, and sign-extending moves.
    v.push(Insn::new(BPF_ALU64 | BPF_DIV | BPF_K, 8, 0, 1, 3));
    v.push(Insn::new(BPF_ALU | BPF_MOD | BPF_K, 8, 0, 1, 3));
    v.push(Insn::new(BPF_ALU64 | BPF_MOV | BPF_X, 9, 7, 8, 0));
    v.push(Insn::new(BPF_ALU64 | BPF_MOV | BPF_X, 9, 7, 16, 0));
    v.push(Insn::new(BPF_ALU64 | BPF_MOV | BPF_X, 9, 7, 32, 0));
    v.push(Insn::new(BPF_ALU | BPF_MOV | BPF_X, 9, 7, 8, 0));
    // Byte order.
    for bits in [16, 32, 64] {
        v.push(Insn::to_be(8, bits));
        v.push(Insn::new(BPF_ALU | BPF_END | BPF_TO_LE, 8, 0, 0, bits));
        v.push(Insn::new(BPF_ALU64 | BPF_END, 8, 0, 0, bits));
    }

    // Stores and loads on the stack.
    v.push(Insn::stx(BPF_DW, R10, -8, 8));
    v.push(Insn::stx(BPF_W, R10, -16, 8));
    v.push(Insn::stx(BPF_H, R10, -12, 8));
    v.push(Insn::stx(BPF_B, R10, -10, 8));
    v.push(Insn::st_imm(BPF_DW, R10, -24, 7));
    v.push(Insn::st_imm(BPF_W, R10, -32, -1));
    v.push(Insn::st_imm(BPF_H, R10, -28, 5));
    v.push(Insn::st_imm(BPF_B, R10, -26, 5));
    v.push(Insn::ldx(BPF_DW, 9, R10, -8));
    v.push(Insn::ldx(BPF_W, 9, R10, -16));
    v.push(Insn::ldx(BPF_H, 9, R10, -12));
    v.push(Insn::ldx(BPF_B, 9, R10, -10));
    v.push(Insn::new(BPF_LDX | 0x80 | BPF_W, 9, R10, 0, 0).with_off(-16));
    v.push(Insn::new(BPF_LDX | 0x80 | BPF_H, 9, R10, 0, 0).with_off(-12));
    v.push(Insn::new(BPF_LDX | 0x80 | BPF_B, 9, R10, 0, 0).with_off(-10));

    // Atomics, 64 and 32 bits.
    for (size, off) in [(BPF_DW, -8i16), (BPF_W, -16)] {
        for imm in [
            0x00,
            0x50,
            0x40,
            0xa0,
            0x01,
            0x51,
            0x41,
            0xa1,
            BPF_XCHG,
            BPF_CMPXCHG,
        ] {
            v.push(Insn::new(BPF_STX | BPF_ATOMIC | size, R10, 9, off, imm));
        }
        v.push(Insn::new(
            BPF_STX | BPF_ATOMIC | size,
            9,
            R10,
            off,
            BPF_LOAD_ACQ,
        ));
        v.push(Insn::new(
            BPF_STX | BPF_ATOMIC | size,
            R10,
            9,
            off,
            BPF_STORE_REL,
        ));
    }

    // 64-bit immediates.
    v.extend(Insn::ld_imm64(9, 0x12_3456_7890));
    v.extend(Insn::ld_imm64(9, u64::MAX));

    // Conditional jumps, each on a fresh random number so both ways are
    // taken; the skipped instruction writes a dead register.
    let ops = [
        BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET, BPF_JNE, BPF_JSGT, BPF_JSGE, BPF_JLT, BPF_JLE,
        BPF_JSLT, BPF_JSLE,
    ];
    for class in [BPF_JMP, BPF_JMP32] {
        for op in ops {
            random(&mut v);
            v.push(Insn::new(class | op | BPF_K, 0, 0, 1, 0x800));
            v.push(Insn::mov64_imm(0, 1));
            random(&mut v);
            v.push(Insn::new(class | op | BPF_X, 0, 7, 1, 0));
            v.push(Insn::mov64_imm(0, 1));
        }
    }
    // Unconditional jumps over a reachable instruction, forward and back.
    random(&mut v);
    v.push(Insn::jmp_imm(BPF_JGT, 0, 5, 2));
    v.push(Insn::mov64_imm(8, 1));
    v.push(Insn::ja(1));
    v.push(Insn::mov64_imm(8, 2));
    random(&mut v);
    v.push(Insn::jmp_imm(BPF_JGT, 0, 5, 2));
    v.push(Insn::mov64_imm(8, 1));
    v.push(Insn::new(BPF_JMP32 | BPF_JA, 0, 0, 0, 1));
    v.push(Insn::mov64_imm(8, 2));
    // A bounded loop: `goto pc-N` backwards.
    v.push(Insn::mov64_imm(8, 3));
    v.push(Insn::alu64_imm(BPF_SUB, 8, 1));
    v.push(Insn::jmp_imm(BPF_JEQ, 8, 0, 1));
    v.push(Insn::ja(-3));
    v
}

trait WithOff {
    fn with_off(self, off: i16) -> Insn;
}

impl WithOff for Insn {
    fn with_off(mut self, off: i16) -> Insn {
        self.off = off;
        self
    }
}

fn spec() -> ObjectSpec {
    let mut insns = many_kinds();
    // A map lookup through a relocated map load.
    insns.push(Insn::st_imm(BPF_W, R10, -4, 1));
    insns.push(Insn::mov64_reg(2, R10));
    insns.push(Insn::alu64_imm(BPF_ADD, 2, -4));
    let map_idx = insns.len();
    let mut ld = Insn::ld_imm64(1, 0);
    ld[0].src = BPF_PSEUDO_MAP_FD;
    insns.extend(ld);
    insns.push(Insn::call_helper(1));
    insns.push(Insn::mov64_imm(0, 2));
    insns.push(Insn::exit());
    ObjectSpec {
        programs: vec![ProgramSpec {
            name: "kinds".to_string(),
            section: "xdp".to_string(),
            ctx: CtxKind::Xdp,
            insns,
            map_relocs: vec![MapReloc {
                insn_idx: map_idx,
                map: "table".to_string(),
            }],
            line_info: Vec::new(),
        }],
        maps: vec![MapSpec {
            name: "table".to_string(),
            map_type: 2, // BPF_MAP_TYPE_ARRAY
            key_size: 4,
            value_size: 8,
            max_entries: 4,
            flags: 0,
            pinned: false,
        }],
        ..ObjectSpec::default()
    }
}

/// An instruction line of a listing: `  12: (b7) r0 = 2`, optionally
/// followed by verifier state after ` ;`. Returns `(index, opcode, text)`.
fn parse_insn_line(line: &str) -> Option<(usize, String, String)> {
    let (idx, rest) = line.trim_start().split_once(": (")?;
    let idx = idx.parse().ok()?;
    let (code, insn) = rest.split_once(") ")?;
    if code.len() != 2 || !code.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let insn = insn.split_once(" ;").map_or(insn, |(text, _state)| text);
    Some((idx, code.to_string(), insn.trim_end().to_string()))
}

fn parse_listing(listing: &str) -> Vec<(usize, String, String)> {
    listing.lines().filter_map(parse_insn_line).collect()
}

/// `(bc) wN = wN`: a 32-bit move of a register to itself, the kernel's
/// explicit zero extension.
fn is_zext(code: &str, text: &str) -> bool {
    code == "bc" && text.split_once(" = ").is_some_and(|(a, b)| a == b)
}

/// Instructions of cpu v4 (kernel 6.6) and later, which an older bpftool
/// cannot print.
fn is_v4(insn: &Insn) -> bool {
    let class = insn.class();
    let op = insn.code & 0xf0;
    let alu = class == BPF_ALU || class == BPF_ALU64;
    (alu && (op == BPF_DIV || op == BPF_MOD) && insn.off == 1)
        || (alu && op == BPF_MOV && insn.off != 0)
        || (class == BPF_ALU64 && op == BPF_END)
        || (class == BPF_LDX && insn.code & 0xe0 == 0x80)
        || insn.code == BPF_JMP32 | BPF_JA
        || (insn.code & 0xe7 == BPF_STX | BPF_ATOMIC && insn.imm >= BPF_LOAD_ACQ)
}

/// Loads the object and returns bpftool's combined output, with the pin
/// guard that unlinks it.
fn load(obj: &Path, tag: &str, debug: bool) -> (Output, Pin) {
    let pin = Pin::new(tag);
    let mut cmd = Command::new("bpftool");
    if debug {
        cmd.arg("-d");
    }
    let out = cmd
        .args(["prog", "load"])
        .arg(obj)
        .arg(&pin.0)
        .args(["type", "xdp"])
        .output()
        .unwrap();
    assert!(out.status.success(), "load failed:\n{}", text(&out));
    (out, pin)
}

fn write_spec(tag: &str) -> (TempDir, PathBuf, ObjectSpec) {
    let spec = spec();
    let dir = TempDir::new(tag);
    std::fs::create_dir_all(&dir.0).unwrap();
    let obj = dir.0.join("kinds.o");
    std::fs::write(&obj, write_object(&spec).unwrap()).unwrap();
    (dir, obj, spec)
}

#[test]
fn listing_format_without_kernel() {
    let mut insns = vec![Insn::mov64_imm(0, 2), Insn::ldx(BPF_W, 2, 1, 4)];
    insns.extend(Insn::ld_imm64(1, 0x12_3456_7890));
    insns.push(Insn::new(BPF_JMP32 | BPF_JEQ | BPF_K, 1, 0, -3, 0x800));
    insns.push(Insn::call_helper(23));
    insns.push(Insn::exit());
    assert_eq!(
        disasm(&insns),
        "   0: (b7) r0 = 2\n\
         \x20  1: (61) r2 = *(u32 *)(r1 +4)\n\
         \x20  2: (18) r1 = 0x1234567890\n\
         \x20  4: (16) if w1 == 0x800 goto pc-3\n\
         \x20  5: (85) call bpf_redirect#23\n\
         \x20  6: (95) exit\n"
    );
    assert_eq!(
        parse_insn_line("12: (07) r8 += -4                     ; R8=scalar(var_off=(0x0; 0xff))"),
        Some((12, "07".to_string(), "r8 += -4".to_string()))
    );
}

#[test]
fn matches_kernel_verifier_log() {
    if !kernel_ready("matches_kernel_verifier_log") {
        return;
    }
    let (_dir, obj, spec) = write_spec("log");
    let (out, _pin) = load(&obj, "log", true);
    let log = text(&out);

    // The verifier prints an instruction once per path that reaches it;
    // every print must agree.
    let mut kernel: BTreeMap<usize, (String, String)> = BTreeMap::new();
    for (idx, code, insn) in parse_listing(&log) {
        let prev = kernel.insert(idx, (code.clone(), insn.clone()));
        if let Some(prev) = prev {
            assert_eq!(prev, (code, insn), "insn {idx} printed two ways");
        }
    }
    let insns = &spec.programs[0].insns;
    let ours = parse_listing(&disasm(insns));
    let mut mismatches = Vec::new();
    for (idx, code, mine) in &ours {
        let Some((kcode, ktext)) = kernel.get(idx) else {
            mismatches.push(format!("{idx}: not in the verifier log: ({code}) {mine}"));
            continue;
        };
        let same = if mine.contains("map[fd:") {
            // The kernel prints the map's address in place of the fd.
            let lhs = mine.split_once(" = ").map(|(l, _)| l);
            code == kcode
                && lhs == ktext.split_once(" = ").map(|(l, _)| l)
                && ktext.contains(" = 0x")
        } else {
            code == kcode && mine == ktext
        };
        if !same {
            mismatches.push(format!(
                "{idx}:\n  ours:   ({code}) {mine}\n  kernel: ({kcode}) {ktext}"
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    assert_eq!(
        kernel.len(),
        ours.len(),
        "the log has instructions we did not print"
    );
    assert!(
        ours.len() > 150,
        "the program should be long: {}",
        ours.len()
    );
}

#[test]
fn matches_bpftool_xlated() {
    if !kernel_ready("matches_bpftool_xlated") {
        return;
    }
    let (_dir, obj, spec) = write_spec("xlated");
    let (_out, pin) = load(&obj, "xlated", false);
    let out = Command::new("bpftool")
        .args(["prog", "dump", "xlated", "pinned"])
        .arg(&pin.0)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let theirs: BTreeMap<usize, (String, String)> =
        parse_listing(&String::from_utf8_lossy(&out.stdout))
            .into_iter()
            .map(|(idx, code, insn)| (idx, (code, insn)))
            .collect();

    let insns = &spec.programs[0].insns;
    let mut inserted = 0;
    let mut compared = 0;
    let mut mismatches = Vec::new();
    for (idx, code, mine) in parse_listing(&disasm(insns)) {
        if mine.starts_with("call bpf_map_lookup_elem") {
            // The kernel inlines map lookups, which shifts what follows.
            break;
        }
        // The verifier may insert a zero extension (`wN = wN`) after a
        // 32-bit instruction (6.18 does after `atomic_cmpxchg`); skip it.
        while theirs
            .get(&(idx + inserted))
            .is_some_and(|(c, t)| is_zext(c, t) && !is_zext(&code, &mine))
        {
            inserted += 1;
        }
        if insns.get(idx).is_some_and(is_v4) {
            continue;
        }
        let Some((kcode, ktext)) = theirs.get(&(idx + inserted)) else {
            mismatches.push(format!("{idx}: missing from xlated: ({code}) {mine}"));
            continue;
        };
        let same = if mine.starts_with("call bpf_") {
            kcode == &code && ktext.starts_with("call ")
        } else if mine.contains("map[fd:") {
            kcode == &code && mine.split("map[").next() == ktext.split("map[id:").next()
        } else {
            kcode == &code && ktext == &mine
        };
        compared += 1;
        if !same {
            mismatches.push(format!(
                "{idx}:\n  ours:    ({code}) {mine}\n  bpftool: ({kcode}) {ktext}"
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    assert!(compared > 150, "only {compared} instructions compared");
}

proptest::proptest! {
    /// Any slot sequence disassembles without panicking, consumes at least
    /// one slot per line, and survives an encode/decode round trip.
    #[test]
    fn never_panics(raw in proptest::collection::vec(proptest::array::uniform8(0u8..), 0..64)) {
        let bytes: Vec<u8> = raw.concat();
        let insns = nfl_compiler::bpf::decode(&bytes).unwrap();
        proptest::prop_assert_eq!(nfl_compiler::bpf::encode(&insns), bytes);
        let listing = disasm(&insns);
        proptest::prop_assert!(listing.lines().count() <= insns.len());
        for idx in 0..insns.len() {
            let (text, used) = nfl_compiler::bpf::disasm_insn(&insns, idx);
            proptest::prop_assert!(used == 1 || used == 2);
            proptest::prop_assert!(!text.is_empty());
        }
    }
}
