//! Object writer tests: layout checks through `object::read` and
//! `bpftool btf dump`, and loads through `bpftool prog load` into the real
//! kernel verifier.
//!
//! Kernel tests skip with a loud `SKIPPED (no BPF)` line when the process
//! cannot use BPF, unless `NFL_REQUIRE_KERNEL=1`, where they fail instead.

#[macro_use]
mod common;


use std::path::Path;
use std::process::{Command, Output};

use common::*;
use nfl_compiler::bpf::insn::*;
use nfl_compiler::elf::{
    CtxKind, LineInfo, MapReloc, MapSpec, ObjectSpec, ProgramSpec, read_programs, write_object,
};
use object::{Object, ObjectSection, ObjectSymbol, RelocationFlags, SectionKind};

const BPF_MAP_TYPE_HASH: u32 = 1;
const BPF_MAP_TYPE_ARRAY: u32 = 2;

// ---------------------------------------------------------------------------
// Environment: temp dirs, pins and the kernel gate.

fn bpftool(args: &[&str]) -> Output {
    Command::new("bpftool")
        .args(args)
        .output()
        .expect("run bpftool")
}

fn load(obj: &Path, pin: &Pin, prog_type: &str) -> Output {
    let obj = obj.to_str().expect("utf-8 path");
    let pin = pin.0.to_str().expect("utf-8 path");
    bpftool(&["prog", "load", obj, pin, "type", prog_type])
}

// ---------------------------------------------------------------------------
// Fixtures.

fn line(insn_idx: usize, line: u32, line_text: &str) -> LineInfo {
    LineInfo {
        insn_idx,
        file_name: "tests/fixture.nf".to_string(),
        line_text: line_text.to_string(),
        line,
        col: 3,
    }
}

fn program(name: &str, section: &str, ctx: CtxKind, insns: Vec<Insn>) -> ProgramSpec {
    ProgramSpec {
        name: name.to_string(),
        section: section.to_string(),
        ctx,
        insns,
        map_relocs: Vec::new(),
        line_info: Vec::new(),
    }
}

fn trivial_xdp() -> ObjectSpec {
    ObjectSpec {
        programs: vec![program(
            "pass_all",
            "xdp",
            CtxKind::Xdp,
            vec![Insn::mov64_imm(0, 2), Insn::exit()],
        )],
        ..ObjectSpec::default()
    }
}

fn trivial_tc() -> ObjectSpec {
    ObjectSpec {
        programs: vec![program(
            "tc_ok",
            "classifier",
            CtxKind::Tc,
            vec![Insn::mov64_imm(0, 0), Insn::exit()],
        )],
        ..ObjectSpec::default()
    }
}

/// `counts[1] += 1` through `bpf_map_lookup_elem`, with line info on
/// several instructions; plus an unused array map so that `.maps` holds two.
fn map_program() -> ObjectSpec {
    let mut insns = vec![
        Insn::st_imm(BPF_W, R10, -4, 1), // 0: key = 1
        Insn::mov64_reg(2, R10),         // 1
        Insn::alu64_imm(BPF_ADD, 2, -4), // 2: r2 = &key
    ];
    let mut map_ld = Insn::ld_imm64(1, 0);
    map_ld[0].src = BPF_PSEUDO_MAP_FD;
    insns.extend(map_ld); // 3, 4: r1 = &counts
    insns.extend([
        Insn::call_helper(1),                                              // 5
        Insn::jmp_imm(BPF_JEQ, 0, 0, 3),                                   // 6
        Insn::mov64_imm(1, 1),                                             // 7
        Insn::new(BPF_STX | BPF_ATOMIC | BPF_DW, 0, 1, 0, BPF_ADD as i32), // 8
        Insn::mov64_imm(0, 2),                                             // 9
        Insn::mov64_imm(0, 2),                                             // 10
        Insn::exit(),                                                      // 11
    ]);
    let mut prog = program("count_one", "xdp", CtxKind::Xdp, insns);
    prog.map_relocs.push(MapReloc {
        insn_idx: 3,
        map: "counts".to_string(),
    });
    prog.line_info = vec![
        line(0, 10, "let key = 1"),
        line(5, 11, "let slot = counts.lookup(key)"),
        line(6, 12, "if slot != null {"),
        line(8, 13, "  slot += 1"),
        line(10, 15, "pass"),
    ];
    ObjectSpec {
        programs: vec![prog],
        maps: vec![
            MapSpec {
                name: "spare".to_string(),
                map_type: BPF_MAP_TYPE_ARRAY,
                key_size: 4,
                value_size: 16,
                max_entries: 4,
                flags: 0,
                pinned: false,
            },
            MapSpec {
                name: "counts".to_string(),
                map_type: BPF_MAP_TYPE_HASH,
                key_size: 4,
                value_size: 8,
                max_entries: 1024,
                flags: 0,
                pinned: false,
            },
        ],
        ..ObjectSpec::default()
    }
}

/// Reads r3, which nothing wrote: the verifier rejects instruction 1.
fn uninit_read() -> ObjectSpec {
    let mut prog = program(
        "bad_read",
        "xdp",
        CtxKind::Xdp,
        vec![
            Insn::mov64_imm(0, 2),
            Insn::alu64_reg(BPF_ADD, 0, 3),
            Insn::exit(),
        ],
    );
    prog.line_info = vec![
        line(0, 7, "let verdict = 2"),
        line(1, 8, "verdict = verdict + undefined_thing"),
        line(2, 9, "return verdict"),
    ];
    ObjectSpec {
        programs: vec![prog],
        ..ObjectSpec::default()
    }
}

// ---------------------------------------------------------------------------
// Layout, without the kernel.

#[test]
fn layout_of_trivial_xdp() {
    let bytes = write_object(&trivial_xdp()).expect("write");
    let file = object::File::parse(&*bytes).expect("parse");
    let object::File::Elf64(elf) = &file else {
        panic!("not ELF64")
    };
    let header = elf.elf_header();
    assert_eq!(
        header.e_machine.get(object::Endianness::Little),
        object::elf::EM_BPF
    );
    assert_eq!(header.e_ident.data, object::elf::ELFDATA2LSB);
    assert!(file.is_little_endian());

    let names: Vec<&str> = file.sections().map(|s| s.name().unwrap()).collect();
    for want in ["xdp", "license", ".BTF", ".BTF.ext", ".symtab", ".strtab"] {
        assert!(names.contains(&want), "missing {want} in {names:?}");
    }
    assert!(!names.contains(&"maps"), "legacy maps section present");
    assert!(!names.contains(&".maps"), "no maps were asked for");

    let xdp = file.section_by_name("xdp").unwrap();
    assert_eq!(xdp.kind(), SectionKind::Text);
    assert_eq!(
        xdp.data().unwrap(),
        nfl_compiler::bpf::encode(&[Insn::mov64_imm(0, 2), Insn::exit()])
    );
    let license = file.section_by_name("license").unwrap();
    assert_eq!(license.data().unwrap(), b"GPL\0");

    let sym = file.symbol_by_name("pass_all").expect("program symbol");
    assert_eq!(sym.kind(), object::SymbolKind::Text);
    assert!(sym.is_global());
    assert_eq!(sym.size(), 16);
    assert_eq!(sym.address(), 0);
    assert_eq!(sym.section_index(), Some(xdp.index()));
    let lic = file.symbol_by_name("_license").expect("license symbol");
    assert_eq!(lic.kind(), object::SymbolKind::Data);
    assert_eq!(lic.size(), 4);
}

#[test]
fn layout_of_maps_and_relocations() {
    let bytes = write_object(&map_program()).expect("write");
    let file = object::File::parse(&*bytes).expect("parse");
    let maps = file.section_by_name(".maps").expect(".maps");
    assert_eq!(maps.size(), 96);
    assert!(file.section_by_name("maps").is_none());
    for (name, offset) in [("spare", 0), ("counts", 48)] {
        let sym = file.symbol_by_name(name).expect("map symbol");
        assert_eq!(sym.kind(), object::SymbolKind::Data, "{name}");
        assert!(sym.is_global(), "{name}");
        assert_eq!(sym.section_index(), Some(maps.index()), "{name}");
        assert_eq!(sym.address(), offset, "{name}");
        assert_eq!(sym.size(), 48, "{name}");
    }
    let xdp = file.section_by_name("xdp").unwrap();
    let relocs: Vec<_> = xdp.relocations().collect();
    assert_eq!(relocs.len(), 1);
    let (offset, reloc) = &relocs[0];
    assert_eq!(*offset, 3 * 8);
    assert_eq!(
        reloc.flags(),
        RelocationFlags::Elf {
            r_type: object::elf::R_BPF_64_64
        }
    );
    assert_eq!(reloc.addend(), 0);
    let object::RelocationTarget::Symbol(sym) = reloc.target() else {
        panic!("target")
    };
    assert_eq!(file.symbol_by_index(sym).unwrap().name().unwrap(), "counts");
    // REL (implicit addend), named after the section, as clang does.
    let names: Vec<&str> = file.sections().map(|s| s.name().unwrap()).collect();
    assert!(names.contains(&".relxdp"), "{names:?}");
}

#[test]
fn layout_per_readelf() {
    if !have_tool("readelf", "--version") {
        skipped!("SKIPPED (no readelf): layout_per_readelf");
        return;
    }
    let dir = TempDir::new("readelf");
    let path = dir.file("maps.o", &write_object(&map_program()).unwrap());
    let out = Command::new("readelf")
        .arg("-h")
        .arg("-S")
        .arg("-s")
        .arg("-r")
        .arg(&path)
        .output()
        .unwrap();
    let txt = text(&out);
    assert!(out.status.success(), "{txt}");
    assert!(txt.contains("Linux BPF"), "{txt}");
    assert!(txt.contains("ELF64"), "{txt}");
    assert!(txt.contains("little endian"), "{txt}");
    let has = |needle: &[&str]| txt.lines().any(|l| needle.iter().all(|n| l.contains(n)));
    assert!(has(&["FUNC", "GLOBAL", "count_one"]), "{txt}");
    assert!(has(&["96 FUNC", "count_one"]), "size 12 insns: {txt}");
    assert!(has(&["OBJECT", "GLOBAL", "counts"]), "{txt}");
    assert!(has(&["OBJECT", "GLOBAL", "_license"]), "{txt}");
    // binutils calls type 1 `R_BPF_INSN_64`, LLVM `R_BPF_64_64`; the info
    // word ends in the type.
    assert!(
        txt.lines().any(|l| l.contains("counts")
            && l.split_whitespace()
                .nth(1)
                .is_some_and(|info| info.ends_with("00000001"))),
        "{txt}"
    );
    assert!(has(&["] .relxdp", "REL"]), "{txt}");
    assert!(!has(&["] maps "]), "{txt}");
}

#[test]
fn btf_per_bpftool() {
    if !bpftool_ready("btf_per_bpftool") {
        return;
    }
    let dir = TempDir::new("btf");
    let path = dir.file("maps.o", &write_object(&map_program()).unwrap());
    let out = bpftool(&["btf", "dump", "file", path.to_str().unwrap()]);
    let txt = text(&out);
    assert!(out.status.success(), "{txt}");
    for want in [
        "INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED",
        "STRUCT 'xdp_md' size=0 vlen=0",
        "'ctx' type_id=",
        "FUNC 'count_one' type_id=4 linkage=global",
        "ARRAY '(anon)' type_id=1 index_type_id=1 nr_elems=1024",
        "'max_entries' type_id=",
        "'map_flags' type_id=",
        "VAR 'counts' type_id=",
        "linkage=global",
        "DATASEC '.maps' size=96 vlen=2",
        "offset=48 size=48 (VAR 'counts')",
        "'pinning' type_id=",
    ] {
        assert!(txt.contains(want), "missing `{want}` in\n{txt}");
    }
}

#[test]
fn deterministic() {
    for spec in [trivial_xdp(), trivial_tc(), map_program(), uninit_read()] {
        assert_eq!(write_object(&spec).unwrap(), write_object(&spec).unwrap());
    }
}

#[test]
fn read_back_our_objects() {
    let mut spec = map_program();
    let second = program(
        "second",
        "xdp",
        CtxKind::Xdp,
        vec![Insn::mov64_imm(0, 1), Insn::exit()],
    );
    spec.programs.push(second);
    spec.programs.extend(trivial_tc().programs);
    let bytes = write_object(&spec).unwrap();
    let read = read_programs(&bytes).unwrap();
    let summary: Vec<(&str, &str, usize)> = read
        .iter()
        .map(|p| (p.name.as_str(), p.section.as_str(), p.insns.len()))
        .collect();
    assert_eq!(
        summary,
        [
            ("count_one", "xdp", 12),
            ("second", "xdp", 2),
            ("tc_ok", "classifier", 2)
        ]
    );
    for (got, want) in read.iter().zip(&spec.programs) {
        assert_eq!(got.insns, want.insns);
    }
}

#[test]
fn read_back_clang_object() {
    if !have_tool("clang", "--version") {
        skipped!("SKIPPED (no clang): read_back_clang_object");
        return;
    }
    let dir = TempDir::new("clang");
    let src = dir.file(
        "prog.c",
        br#"
struct xdp_md;
#define SEC(n) __attribute__((section(n), used))
static __attribute__((noinline)) int helper(int x) { return x * 3; }
SEC("xdp") int xdp_main(struct xdp_md *ctx) { return helper((int)(long)ctx) & 3; }
SEC("classifier") int tc_main(void *skb) { return 0; }
char _license[] SEC("license") = "GPL";
"#,
    );
    let obj = dir.0.join("prog.o");
    let out = Command::new("clang")
        .args(["-O2", "-g", "-target", "bpf", "-c"])
        .arg(&src)
        .arg("-o")
        .arg(&obj)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let bytes = std::fs::read(&obj).unwrap();
    let read = read_programs(&bytes).unwrap();
    let file = object::File::parse(&*bytes).unwrap();
    for prog in &read {
        let sym = file.symbol_by_name(&prog.name).expect("symbol");
        assert_eq!(prog.insns.len() as u64 * 8, sym.size(), "{}", prog.name);
        let sec = file.section_by_index(sym.section_index().unwrap()).unwrap();
        assert_eq!(prog.section, sec.name().unwrap());
        let start = sym.address() as usize;
        let end = start + sym.size() as usize;
        assert_eq!(
            nfl_compiler::bpf::encode(&prog.insns),
            &sec.data().unwrap()[start..end]
        );
        assert_eq!(prog.insns.last().map(|i| i.code), Some(BPF_JMP | BPF_EXIT));
    }
    let mut names: Vec<&str> = read.iter().map(|p| p.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["helper", "tc_main", "xdp_main"]);
}

#[test]
fn rejects_bad_specs() {
    use nfl_compiler::elf::ElfError;
    let mut spec = trivial_xdp();
    spec.programs[0].name = "not an ident".to_string();
    assert!(matches!(
        write_object(&spec),
        Err(ElfError::InvalidName { .. })
    ));

    let mut spec = map_program();
    spec.programs[0].map_relocs[0].map = "nope".to_string();
    assert!(matches!(
        write_object(&spec),
        Err(ElfError::UnknownMap { .. })
    ));

    let mut spec = map_program();
    spec.programs[0].map_relocs[0].insn_idx = 4; // second slot
    assert!(matches!(
        write_object(&spec),
        Err(ElfError::RelocNotLdImm64 { .. })
    ));

    let mut spec = map_program();
    spec.programs[0].line_info.push(line(4, 1, "x")); // second slot
    assert!(matches!(
        write_object(&spec),
        Err(ElfError::BadLineInfo { .. })
    ));

    let mut spec = map_program();
    spec.programs[0].line_info.push(line(99, 1, "x"));
    assert!(matches!(
        write_object(&spec),
        Err(ElfError::BadLineInfo { .. })
    ));

    let mut spec = map_program();
    spec.maps[0].name = "count_one".to_string();
    assert!(matches!(
        write_object(&spec),
        Err(ElfError::DuplicateName { .. })
    ));

    let mut spec = trivial_xdp();
    spec.programs[0].insns.clear();
    assert!(matches!(
        write_object(&spec),
        Err(ElfError::EmptyProgram { .. })
    ));

    let mut spec = trivial_xdp();
    spec.programs[0].section = ".maps".to_string();
    assert!(matches!(
        write_object(&spec),
        Err(ElfError::InvalidSection { .. })
    ));

    let mut spec = trivial_xdp();
    spec.programs[0]
        .insns
        .insert(0, Insn::new(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL, 0, 1));
    assert!(matches!(
        write_object(&spec),
        Err(ElfError::SubprogramsUnsupported { insn_idx: 0, .. })
    ));

    assert!(read_programs(b"not an elf").is_err());
    assert!(read_programs(&[]).is_err());
}

// ---------------------------------------------------------------------------
// The kernel verifier, through bpftool and libbpf.

fn load_ok(test: &str, spec: &ObjectSpec, prog_type: &str) -> Option<(TempDir, Pin)> {
    if !kernel_ready(test) {
        return None;
    }
    let dir = TempDir::new(test);
    let obj = dir.file("prog.o", &write_object(spec).expect("write"));
    let pin = Pin::new(test);
    let out = load(&obj, &pin, prog_type);
    assert!(
        out.status.success(),
        "{test}: bpftool prog load failed:\n{}",
        text(&out)
    );
    assert!(pin.0.exists(), "{test}: not pinned");
    Some((dir, pin))
}

fn xlated(pin: &Pin) -> String {
    let out = bpftool(&["prog", "dump", "xlated", "pinned", pin.0.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    text(&out)
}

#[test]
fn kernel_loads_trivial_xdp() {
    let Some((_dir, pin)) = load_ok("trivial_xdp", &trivial_xdp(), "xdp") else {
        return;
    };
    let dump = xlated(&pin);
    // func_info gives bpftool the prototype.
    assert!(
        dump.contains("int pass_all(struct xdp_md * ctx):"),
        "{dump}"
    );
    assert!(dump.contains("0: (b7) r0 = 2"), "{dump}");
    let show = bpftool(&["prog", "show", "pinned", pin.0.to_str().unwrap()]);
    let show = text(&show);
    assert!(
        show.contains("xdp") && show.contains("name pass_all"),
        "{show}"
    );
    assert!(show.contains("btf_id"), "{show}");
}

#[test]
fn kernel_loads_classifier() {
    let Some((_dir, pin)) = load_ok("classifier", &trivial_tc(), "classifier") else {
        return;
    };
    let dump = xlated(&pin);
    assert!(
        dump.contains("int tc_ok(struct __sk_buff * ctx):"),
        "{dump}"
    );
    let show = text(&bpftool(&[
        "prog",
        "show",
        "pinned",
        pin.0.to_str().unwrap(),
    ]));
    assert!(show.contains("sched_cls"), "{show}");
}

#[test]
fn kernel_loads_tc_section() {
    let mut spec = trivial_tc();
    spec.programs[0].section = "tc".to_string();
    let Some((_dir, _pin)) = load_ok("tc_section", &spec, "classifier") else {
        return;
    };
}

#[test]
fn kernel_loads_map_program_with_line_info() {
    let Some((_dir, pin)) = load_ok("map_prog", &map_program(), "xdp") else {
        return;
    };
    let dump = xlated(&pin);
    assert!(
        dump.contains("int count_one(struct xdp_md * ctx):"),
        "{dump}"
    );
    assert!(
        dump.contains("r1 = map[id:"),
        "map relocation not applied:\n{dump}"
    );
    for want in [
        "; let key = 1",
        "; let slot = counts.lookup(key)",
        "; if slot != null {",
        "; slot += 1",
        "; pass",
    ] {
        assert!(dump.contains(want), "missing `{want}`:\n{dump}");
    }
    // The map exists with the BTF-declared shape.
    let show = text(&bpftool(&[
        "prog",
        "show",
        "pinned",
        pin.0.to_str().unwrap(),
    ]));
    let ids: Vec<&str> = show
        .split("map_ids ")
        .nth(1)
        .map(|rest| rest.split_whitespace().next().unwrap_or(""))
        .unwrap_or("")
        .split(',')
        .collect();
    assert_eq!(ids.len(), 1, "{show}");
    let map = text(&bpftool(&["map", "show", "id", ids[0]]));
    assert!(map.contains("hash") && map.contains("name counts"), "{map}");
    assert!(map.contains("key 4B  value 8B  max_entries 1024"), "{map}");
}

#[test]
fn verifier_log_shows_our_source_lines() {
    if !kernel_ready("verifier_log") {
        return;
    }
    let dir = TempDir::new("verifier_log");
    let obj = dir.file("bad.o", &write_object(&uninit_read()).unwrap());
    let pin = Pin::new("verifier_log");
    let out = load(&obj, &pin, "xdp");
    let log = text(&out);
    assert!(
        !out.status.success(),
        "the verifier accepted a read of r3:\n{log}"
    );
    assert!(log.contains("R3 !read_ok"), "{log}");
    // The kernel prints `; <line text> @ <file basename>:<line>`.
    assert!(
        log.contains("; verdict = verdict + undefined_thing @ fixture.nf:8\n1: (0f) r0 += r3"),
        "{log}"
    );
    assert!(!pin.0.exists());
}

#[test]
fn reader_never_panics_on_corrupt_objects() {
    let good = write_object(&map_program()).unwrap();
    // Truncations at every length, and single-byte corruptions everywhere.
    for len in 0..good.len() {
        let _ = read_programs(&good[..len]);
    }
    for at in 0..good.len() {
        for value in [0x00, 0xff, 0x7f, 0x80] {
            let mut bad = good.clone();
            bad[at] = value;
            let _ = read_programs(&bad);
        }
    }
}

/// The kernel wants a line_info record at instruction 0; the writer repeats
/// the earliest record there when the spec starts later.
#[test]
fn kernel_accepts_line_info_not_starting_at_zero() {
    let mut spec = trivial_xdp();
    spec.programs[0].insns.insert(0, Insn::mov64_imm(1, 0));
    spec.programs[0].line_info = vec![line(2, 4, "pass"), line(1, 3, "let verdict = 2")];
    let Some((_dir, pin)) = load_ok("linfo_late", &spec, "xdp") else {
        return;
    };
    let dump = xlated(&pin);
    let lines: Vec<&str> = dump.lines().filter(|l| l.starts_with(';')).collect();
    // The synthesized record at 0, then the two given ones.
    assert_eq!(
        lines,
        ["; let verdict = 2", "; let verdict = 2", "; pass"],
        "{dump}"
    );
    assert!(
        dump.contains("; let verdict = 2\n   0: (b7) r1 = 0"),
        "{dump}"
    );
    assert!(dump.contains("; pass\n   2: (95) exit"), "{dump}");
}
