//! The shape of objects with [`ObjectExtras`]: what libbpf and aya look for
//! (the kernel test `nfl-runtime/tests/kernel_rbtree.rs` loads one).

use object::{Object, ObjectSection, ObjectSymbol, RelocationFlags, RelocationTarget, SymbolKind};

use super::kfunc::KernelStruct;
use super::*;
use crate::bpf::insn::{BPF_PSEUDO_KFUNC_CALL, R10};
use crate::bpf::{Insn, decode};

fn spec(insns: Vec<Insn>) -> ObjectSpec {
    ObjectSpec {
        programs: vec![ProgramSpec {
            name: "p".into(),
            section: "xdp".into(),
            ctx: CtxKind::Xdp,
            insns,
            map_relocs: vec![MapReloc {
                insn_idx: 0,
                map: "m".into(),
            }],
            line_info: vec![LineInfo {
                insn_idx: 0,
                file_name: "a.nf".into(),
                line_text: "x".into(),
                line: 1,
                col: 1,
            }],
        }],
        maps: vec![MapSpec {
            name: "m".into(),
            map_type: 2,
            key_size: 4,
            value_size: 24,
            max_entries: 1,
            flags: 0,
            pinned: false,
        }],
        ..ObjectSpec::default()
    }
}

/// `r1 = map; r1 = type id; call obj_new; r3 = &less; call drop; exit`
fn program() -> Vec<Insn> {
    let mut v = Insn::ld_imm64(1, 0).to_vec();
    v.push(Insn::mov64_imm(1, 0));
    v.push(Insn::call_kfunc());
    v.extend(Insn::ld_func(3));
    v.push(Insn::call_kfunc());
    v.push(Insn::mov64_reg(0, R10));
    v.push(Insn::exit());
    v
}

fn extras() -> ObjectExtras {
    let node = StructSpec {
        name: "n".into(),
        fields: vec![
            FieldSpec::new("k", FieldType::U64),
            FieldSpec::new("node", FieldType::Kernel(KernelStruct::RbNode)),
        ],
    };
    let mut root = FieldSpec::new("root", FieldType::Kernel(KernelStruct::RbRoot));
    root.contains = Some(Contains {
        node_struct: "n".into(),
        node_field: "node".into(),
    });
    let lock = FieldSpec::new("lock", FieldType::Kernel(KernelStruct::SpinLock));
    let call = |insn_idx, kfunc: &str| KfuncCall {
        func: "p".into(),
        insn_idx,
        kfunc: kfunc.into(),
    };
    ObjectExtras {
        structs: vec![
            node,
            StructSpec {
                name: "v".into(),
                fields: vec![lock, root],
            },
        ],
        map_values: vec![MapValue {
            map: "m".into(),
            value_struct: "v".into(),
        }],
        subprograms: vec![SubprogramSpec {
            name: "less".into(),
            kind: SubprogKind::RbLess,
            insns: vec![Insn::mov64_imm(0, 0), Insn::exit()],
            map_relocs: Vec::new(),
            line_info: Vec::new(),
        }],
        kfunc_calls: vec![call(3, "bpf_obj_new_impl"), call(6, "bpf_obj_drop_impl")],
        func_refs: vec![FuncRef {
            func: "p".into(),
            insn_idx: 4,
            target: "less".into(),
        }],
        type_id_loads: vec![TypeIdLoad {
            func: "p".into(),
            insn_idx: 2,
            struct_name: "n".into(),
        }],
    }
}

#[test]
fn empty_extras_write_the_same_bytes() {
    let s = spec(vec![
        Insn::ld_imm64(1, 0)[0],
        Insn::ld_imm64(1, 0)[1],
        Insn::exit(),
    ]);
    assert_eq!(
        write_object(&s).unwrap(),
        write_object_with(&s, &ObjectExtras::default()).unwrap()
    );
}

#[test]
fn layout_is_c_layout() {
    let ex = extras();
    let v = &ex.structs[1];
    assert_eq!(
        v.layout(),
        StructLayout {
            offsets: vec![0, 8],
            size: 24,
            align: 8
        }
    );
    assert_eq!(ex.structs[0].offset_of("node"), Some(8));
    assert_eq!(ex.structs[0].layout().size, 40);
}

#[test]
fn kfunc_calls_callbacks_and_ksyms_are_written_as_clang_does() {
    let (s, ex) = (spec(program()), extras());
    let bytes = write_object_with(&s, &ex).unwrap();
    let ids = local_type_ids(&s, &ex).unwrap();
    let file = object::File::parse(&*bytes).unwrap();

    let xdp = file.section_by_name("xdp").unwrap();
    let insns = decode(xdp.data().unwrap()).unwrap();
    assert_eq!(insns[2].imm as u32, ids["n"], "type id load");
    for idx in [3, 6] {
        assert_eq!(
            (insns[idx].src, insns[idx].imm),
            (BPF_PSEUDO_KFUNC_CALL, -1)
        );
    }
    assert_eq!(insns[4].src, crate::bpf::disasm::BPF_PSEUDO_FUNC);

    let mut relocs: Vec<(u64, String, object::elf::RelocationType)> = xdp
        .relocations()
        .map(|(off, r)| {
            let RelocationTarget::Symbol(i) = r.target() else {
                panic!("target")
            };
            let sym = file.symbol_by_index(i).unwrap();
            let RelocationFlags::Elf { r_type } = r.flags() else {
                panic!("flags")
            };
            (off / 8, sym.name().unwrap().to_string(), r_type)
        })
        .collect();
    relocs.sort();
    let r = |i, n: &str, t| (i, n.to_string(), t);
    use object::elf::{R_BPF_64_32, R_BPF_64_64};
    assert_eq!(
        relocs,
        [
            r(0, "m", R_BPF_64_64),
            r(3, "bpf_obj_new_impl", R_BPF_64_32),
            r(4, "", R_BPF_64_64), // the .text section symbol
            r(6, "bpf_obj_drop_impl", R_BPF_64_32)
        ]
    );
    for name in ["bpf_obj_new_impl", "bpf_obj_drop_impl"] {
        let sym = file.symbols().find(|s| s.name() == Ok(name)).unwrap();
        assert!(
            sym.is_undefined() && sym.is_global() && sym.kind() == SymbolKind::Unknown,
            "{sym:?}"
        );
    }
    let less = file.symbols().find(|s| s.name() == Ok("less")).unwrap();
    assert!(less.is_local() && less.kind() == SymbolKind::Text && less.size() == 16);
    assert_eq!(file.section_by_name(".text").unwrap().size(), 16);

    let btf = file
        .section_by_name(".BTF")
        .unwrap()
        .data()
        .unwrap()
        .to_vec();
    let text = String::from_utf8_lossy(&btf);
    for s in [
        "contains:n:node",
        "bpf_rb_root",
        "bpf_rb_node",
        "bpf_spin_lock",
        ".ksyms",
    ] {
        assert!(text.contains(s), "{s} missing from BTF strings");
    }
    let (kind, vlen) = last_type(&btf);
    assert_eq!((kind, vlen), (15, 2), "the .ksyms DATASEC is the last type");
}

/// Kind and vlen of the last type of a BTF blob written by us.
fn last_type(btf: &[u8]) -> (u32, u32) {
    let u = |o: usize| u32::from_le_bytes(btf[o..o + 4].try_into().unwrap());
    let (start, len) = (24 + u(8) as usize, u(12) as usize);
    let (mut off, mut last) = (start, (0, 0));
    while off < start + len {
        let info = u(off + 4);
        let (kind, vlen) = ((info >> 24) & 0x1f, info & 0xffff);
        let extra = match kind {
            1 | 14 | 17 => 4,
            3 => 12,
            4 | 15 => 12 * vlen,
            13 => 8 * vlen,
            _ => 0,
        };
        off += 12 + extra as usize;
        last = (kind, vlen);
    }
    last
}

#[test]
fn extras_are_checked() {
    let mut ex = extras();
    ex.structs[1].fields[1].contains = Some(Contains {
        node_struct: "n".into(),
        node_field: "k".into(),
    });
    assert!(matches!(
        write_object_with(&spec(program()), &ex),
        Err(ElfError::InvalidExtra(_))
    ));

    let mut ex = extras();
    ex.kfunc_calls[0].kfunc = "bpf_no_such_kfunc".into();
    assert!(matches!(
        write_object_with(&spec(program()), &ex),
        Err(ElfError::InvalidExtra(_))
    ));

    let mut ex = extras();
    ex.func_refs.clear();
    assert!(matches!(
        write_object_with(&spec(program()), &ex),
        Err(ElfError::SubprogramsUnsupported { insn_idx: 4, .. })
    ));

    let mut ex = extras();
    ex.map_values[0].value_struct = "n".into();
    assert!(matches!(
        write_object_with(&spec(program()), &ex),
        Err(ElfError::InvalidExtra(_))
    ));
}
