//! Data-driven snapshots: every `tests/ok/*.nf` gets its AST, IR (as built
//! and optimised) and eBPF disassembly; every `tests/err/*.nf` its rendered
//! diagnostics. Review diffs with `cargo insta review` or by reading the
//! `.snap` files; bless with `INSTA_UPDATE=always`.

mod common;

use common::*;

fn settings(dir: &str) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path(root().join("tests/snapshots").join(dir));
    s.set_prepend_module_to_snapshot(false);
    s.set_omit_expression(true);
    s
}

#[test]
fn ok_programs() {
    let files = nf_files("tests/ok");
    assert!(files.len() >= 15, "tests/ok must cover every construct ({} files)", files.len());
    settings("ok").bind(|| {
        for path in &files {
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("?");
            let build = build_ok(path);
            let ast = build.checked.modules.first().expect("root module");
            insta::assert_snapshot!(format!("{stem}.ast"), format!("{ast:#?}"));
            insta::assert_snapshot!(
                format!("{stem}.ir"),
                nfl_compiler::ir::print::print_function(&build.codegen.ir_built)
            );
            insta::assert_snapshot!(
                format!("{stem}.ir-opt"),
                nfl_compiler::ir::print::print_function(&build.codegen.ir)
            );
            insta::assert_snapshot!(format!("{stem}.asm"), nfl_compiler::bpf::disasm::disasm(&build.codegen.insns));
        }
    });
}

#[test]
fn err_programs() {
    let files = nf_files("tests/err");
    assert!(files.len() >= 15, "tests/err needs at least 15 programs ({} files)", files.len());
    settings("err").bind(|| {
        for path in &files {
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("?");
            let failed = match build_file(path) {
                Ok(_) => panic!("{} compiled, but it is in tests/err", path.display()),
                Err(f) => f,
            };
            let expected_code = stem.split('_').next().unwrap_or("").to_uppercase();
            assert!(
                failed.diagnostics.iter().any(|d| d.code.ends_with(&expected_code)),
                "{}: no {expected_code} among {:?}",
                path.display(),
                failed.diagnostics.iter().map(|d| d.code).collect::<Vec<_>>()
            );
            for d in &failed.diagnostics {
                assert!(d.help.is_some(), "{}: {} has no help line", path.display(), d.code);
                assert!(!d.labels.is_empty(), "{}: {} has no span", path.display(), d.code);
            }
            let rendered = nfl_syntax::diag::render_all(&failed.diagnostics, &failed.sources, false);
            insta::assert_snapshot!(stem.to_string(), rendered);
        }
    });
}

#[test]
fn examples_compile_deterministically() {
    for path in nf_files("examples") {
        let a = build_ok(&path);
        let b = build_ok(&path);
        assert_eq!(a.object, b.object, "{}: two builds differ", path.display());
    }
}

/// Sketches under every target profile: `stock` has no sketch kfuncs and
/// lowers them exactly as `helpers` does (same instructions); `enetstl`
/// calls kfunc-lib's kfuncs, which cannot load on a kernel without the
/// module, so its code is checked here, by snapshot.
#[test]
fn sketches_per_target() {
    use nfl_compiler::target::Target;
    settings("ok").bind(|| {
        for stem in ["sketches", "sketches_sampled"] {
            let path = root().join(format!("tests/ok/{stem}.nf"));
            let text = std::fs::read_to_string(&path).expect("read");
            let build = |t| {
                nfl_compiler::driver::build_for(&display_name(&path), &text, &mut DirLoader(root().join("tests/ok")), None, t)
                    .unwrap_or_else(|_| panic!("{stem} builds for {t}"))
            };
            let helpers = build(Target::Helpers);
            assert_eq!(build(Target::Stock).codegen.insns, helpers.codegen.insns, "{stem}: stock and helpers differ");
            let enetstl = build(Target::Enetstl);
            assert_ne!(enetstl.codegen.insns, helpers.codegen.insns, "{stem}: enetstl calls kfuncs");
            insta::assert_snapshot!(format!("{stem}.enetstl.asm"), nfl_compiler::bpf::disasm::disasm(&enetstl.codegen.insns));
        }
    });
}
