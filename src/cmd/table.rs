//! `nflc table add|del|list NAME TABLE ...`: the entries of a running NF's
//! tables. Keys and values are written as in a YAML config
//! (`--match ipv4.src=198.18.0.0/16 --arg port=7`) and read by the config
//! reader itself; its diagnostics point into the command line, under the
//! control plane's E082x codes.

use std::process::ExitCode;
use std::time::Instant;

use nfl_compiler::config::{self, CliEntry, Piece};
use nfl_compiler::table::{TableImpl, TableLayout};
use nfl_runtime::cp_error::ControlError;
use nfl_runtime::nf::RunningNf;
use nfl_runtime::notation;
use nfl_runtime::table_ops::{self, Listing, NewEntry, Selector};
use nfl_syntax::ast::Span;
use nfl_syntax::{Diagnostic, SourceMap};

use super::run::print_report;
use crate::TableOp;

/// The command line as text, with the place of each piece.
struct Line {
    text: String,
    matches: Vec<(std::ops::Range<usize>, std::ops::Range<usize>)>,
    action: Option<std::ops::Range<usize>>,
    args: Vec<(Option<std::ops::Range<usize>>, std::ops::Range<usize>)>,
}

impl Line {
    fn new(head: &str) -> Line {
        Line { text: head.to_string(), matches: Vec::new(), action: None, args: Vec::new() }
    }

    /// Append ` FLAG VALUE`; the range of VALUE.
    fn push(&mut self, flag: &str, value: &str) -> std::ops::Range<usize> {
        self.text.push_str(&format!(" {flag} "));
        let start = self.text.len();
        self.text.push_str(value);
        start..self.text.len()
    }

    /// `KEY=VALUE` split at the first `=`; `None` for the key if there is none.
    fn split(&self, r: std::ops::Range<usize>) -> (Option<std::ops::Range<usize>>, std::ops::Range<usize>) {
        match self.text[r.clone()].find('=') {
            Some(eq) => (Some(r.start..r.start + eq), r.start + eq + 1..r.end),
            None => (None, r),
        }
    }

    fn with_matches(mut self, matches: &[String]) -> Result<Line, ControlError> {
        for m in matches {
            let r = self.push("--match", m);
            match self.split(r) {
                (Some(k), v) => self.matches.push((k, v)),
                (None, _) => {
                    let message = format!("`--match {m}` has no `=`");
                    let help = "write each key as `--match KEY=VALUE`, as in a YAML config: `--match ipv4.src=198.18.0.0/16`".into();
                    return Err(ControlError::Usage { message, help });
                }
            }
        }
        Ok(self)
    }

    fn with_action(mut self, action: &str, args: &[String]) -> Line {
        self.action = Some(self.push("--action", action));
        for a in args {
            let r = self.push("--arg", a);
            let split = self.split(r);
            self.args.push(split);
        }
        self
    }

    fn entry(&self, file: nfl_syntax::ast::FileId) -> CliEntry<'_> {
        let piece = |r: &std::ops::Range<usize>| Piece { text: &self.text[r.clone()], span: Span::new(file, r.start, r.end) };
        CliEntry {
            matches: self.matches.iter().map(|(k, v)| (piece(k), piece(v))).collect(),
            action: self.action.as_ref().map(piece),
            args: self.args.iter().map(|(k, v)| (k.as_ref().map(piece), piece(v))).collect(),
            at: Span::new(file, 0, self.text.len()),
        }
    }
}

/// The control plane's code for a config reader's diagnostic.
fn recode(code: &str) -> &'static str {
    match code {
        "nfl::E0711" => "nfl::E0823",
        "nfl::E0712" => "nfl::E0824",
        "nfl::E0710" => "nfl::E0826",
        "nfl::E0713" | "nfl::E0714" => "nfl::E0827",
        "nfl::E0715" | "nfl::E0716" | "nfl::E0717" | "nfl::E0718" | "nfl::E0719" | "nfl::E0720" | "nfl::E0703" => "nfl::E0825",
        _ => "nfl::E0822",
    }
}

/// The config reader's wording for entries, as this command line spells them.
fn in_cli_words(message: &str) -> String {
    message.replace("and the entry has no `args`", "and no `--arg` is given").replace("`args` does not give it", "no `--arg` gives it")
}

/// Read the entry on `line` for table `t`; `None` after printing what is wrong.
fn read(line: &Line, t: &TableLayout, color: bool) -> Option<config::CliEntryValue> {
    let mut sources = SourceMap::new();
    let file = sources.add("command line", line.text.clone());
    let (value, diags) = config::read_entry(&table_ops::table_schema(t), &line.entry(file));
    let diags: Vec<Diagnostic> = diags.into_iter().map(|d| Diagnostic { code: recode(d.code), message: in_cli_words(&d.message), ..d }).collect();
    crate::report::print_diagnostics(&diags, &sources, color);
    diags.iter().all(|d| !d.is_error()).then_some(value)
}

fn writable<'n>(nf: &'n RunningNf, table: &str) -> Result<&'n TableLayout, ControlError> {
    let t = nf.table(table)?;
    if !t.dynamic {
        return Err(ControlError::StaticTable { nf: nf.name.clone(), table: table.to_string() });
    }
    Ok(t)
}

pub fn run(op: &TableOp, color: bool) -> Result<ExitCode, String> {
    let started = Instant::now();
    let result = match op {
        TableOp::Add { name, table, matches, action, args, priority } => add(name, table, matches, action, args, *priority, color),
        TableOp::Del { name, table, matches, priority } => del(name, table, matches, *priority, color),
        TableOp::List { name, table } => list(name, table.as_deref()),
    };
    match result {
        Ok(Some(done)) => {
            eprintln!("{done} in {:.2} ms", started.elapsed().as_secs_f64() * 1e3);
            Ok(ExitCode::SUCCESS)
        }
        Ok(None) => Ok(ExitCode::FAILURE),
        Err(e) => {
            print_report(&e, color);
            Ok(ExitCode::FAILURE)
        }
    }
}

type Done = Result<Option<String>, ControlError>;

fn add(name: &str, table: &str, matches: &[String], action: &str, args: &[String], prio: Option<u32>, color: bool) -> Done {
    let nf = RunningNf::open(name)?;
    let t = writable(&nf, table)?;
    let line = Line::new(&format!("nflc table add {name} {table}")).with_matches(matches)?.with_action(action, args);
    let Some(value) = read(&line, t, color) else { return Ok(None) };
    let (Some(matches), Some((action, args))) = (value.matches, value.action) else { return Ok(None) };
    let change = table_ops::add(&nf, table, &NewEntry { matches, action, args, prio })?;
    let resync = if change.resynced { " (the maps had drifted from the rule list and were rewritten)" } else { "" };
    Ok(Some(format!("added to `{table}` at priority {} with {} map write(s){resync}", change.prio, change.map_ops)))
}

fn del(name: &str, table: &str, matches: &[String], prio: Option<u32>, color: bool) -> Done {
    let nf = RunningNf::open(name)?;
    let t = writable(&nf, table)?;
    if matches.is_empty() && prio.is_none() {
        let help = "name the entry by its keys, `--match KEY=VALUE` (as `nflc table list` prints them), or its `--priority`".into();
        return Err(ControlError::Usage { message: "which entry? give --match or --priority".into(), help });
    }
    let matches = if matches.is_empty() {
        None
    } else {
        let line = Line::new(&format!("nflc table del {name} {table}")).with_matches(matches)?;
        let Some(value) = read(&line, t, color) else { return Ok(None) };
        let Some(m) = value.matches else { return Ok(None) };
        Some(m)
    };
    let change = table_ops::del(&nf, table, &Selector { matches, prio })?;
    Ok(Some(format!("deleted priority {} from `{table}` with {} map write(s)", change.prio, change.map_ops)))
}

fn list(name: &str, table: Option<&str>) -> Done {
    let nf = RunningNf::open(name)?;
    let names: Vec<String> = match table {
        Some(t) => vec![nf.table(t)?.name.clone()],
        None => nf.schema.tables.iter().map(|t| t.name.clone()).collect(),
    };
    if names.is_empty() {
        println!("`{name}` has no tables");
    }
    for t in &names {
        print!("{}", format_listing(&table_ops::list(&nf, t)?));
    }
    Ok(Some(format!("listed {} table(s)", names.len())))
}

fn implementation(t: &TableLayout) -> String {
    let imp = match t.imp {
        TableImpl::Inline => "compiled into the program".to_string(),
        TableImpl::Hash => "hash map".to_string(),
        TableImpl::Lpm => "LPM trie".to_string(),
        TableImpl::Tss { masks } => format!("tuple-space, {masks} masks"),
    };
    let writable = if t.dynamic { format!("writable, {} entries max", t.max_entries) } else { "static".to_string() };
    format!("{imp}, {writable}")
}

/// `KEY=VALUE` for every key that is not a wildcard.
fn matches_text(t: &TableLayout, matches: &[nfl_compiler::hir::KeyMatch]) -> String {
    let shown: Vec<String> = t
        .keys
        .iter()
        .zip(matches)
        .map(|(k, m)| (k, notation::key_match(&k.name, k.width(), m)))
        .filter(|(_, v)| v != "_")
        .map(|(k, v)| format!("{}={v}", k.name))
        .collect();
    if shown.is_empty() { "(any)".to_string() } else { shown.join(" ") }
}

fn format_listing(l: &Listing) -> String {
    let t = &l.table;
    let rate = match l.hits + l.misses {
        0 => "no lookups yet".to_string(),
        n => format!("{:.1}% hit", l.hits as f64 * 100.0 / n as f64),
    };
    let mut out = format!("table {} ({}): {} entries; hits {}, misses {} ({rate})\n", t.name, implementation(t), l.entries.len(), l.hits, l.misses);
    for e in &l.entries {
        let params: Vec<String> = e.args.iter().map(|(p, v)| {
            let width = t.action(&e.action).and_then(|a| a.params.iter().find(|x| x.name == *p)).map_or(64, |x| x.width);
            format!("{p}={}", notation::value(p, width, u128::from(*v)))
        }).collect();
        out.push_str(&format!("  prio {:>5}  {}  -> {}({})\n", e.prio, matches_text(t, &e.matches), e.action, params.join(", ")));
    }
    out
}
