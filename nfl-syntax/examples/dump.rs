//! Print the AST and rendered diagnostics of a `.nf` file:
//! `cargo run -p nfl-syntax --example dump -- FILE`.

use nfl_syntax::SourceMap;
use nfl_syntax::diag::render_all;

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: dump FILE.nf");
        std::process::exit(2);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(2);
        }
    };
    let mut sources = SourceMap::new();
    let file = sources.add(path, text.clone());
    let (module, diags) = nfl_syntax::parse(file, &text);
    println!("{module:#?}");
    print!("{}", render_all(&diags, &sources, false));
}
