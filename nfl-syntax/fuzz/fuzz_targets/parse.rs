//! `cargo +nightly fuzz run parse` (from `nfl-syntax/`): the parser must not
//! panic, and every diagnostic must point inside the input.

#![no_main]

use libfuzzer_sys::fuzz_target;
use nfl_syntax::ast::FileId;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (module, diags) = nfl_syntax::parse(FileId(0), &text);
    for diag in &diags {
        for label in &diag.labels {
            assert!(label.span.start <= label.span.end);
            assert!(label.span.end as usize <= text.len());
            assert!(text.is_char_boundary(label.span.start as usize));
            assert!(text.is_char_boundary(label.span.end as usize));
        }
    }
    // Expression ids are dense: there cannot be more than one per byte.
    assert!(module.n_exprs as usize <= text.len() + 1);
    let mut sources = nfl_syntax::SourceMap::new();
    sources.add("fuzz.nf", text.as_ref());
    let _ = nfl_syntax::diag::render_all(&diags, &sources, false);
});
