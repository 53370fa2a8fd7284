//! Turns pest errors into friendly diagnostics: "expected a type such as
//! `u16`, found `int`" rather than a list of grammar rule names.

use pest::error::{Error, ErrorVariant, InputLocation};

use crate::ast::{FileId, Span};
use crate::diag::Diagnostic;
use crate::parse::{Rule, is_keyword};

/// Byte position of a pest error, relative to the parsed text.
pub(crate) fn error_pos(err: &Error<Rule>) -> usize {
    match err.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    }
}

/// `E0102`: a delimiter opened at `open` is still open where the item ends.
pub(crate) fn unclosed(file: FileId, text: &str, open: usize, delim: u8, item_end: usize) -> Diagnostic {
    let (closer, name) = match delim {
        b'(' => (')', "parenthesis"),
        b'[' => (']', "bracket"),
        _ => ('}', "brace"),
    };
    let open_char = char::from(delim);
    // Point the second label just after the last token of the item.
    let before = text.get(..item_end).map(|t| trim_trailing_trivia(t).len()).unwrap_or(item_end);
    let mut diag = Diagnostic::error(
        "nfl::E0102",
        format!("unclosed {name} `{open_char}`"),
        Span::new(file, open, open + 1),
        format!("this `{open_char}` is never closed"),
    );
    if before > open {
        diag = diag.with_label(Span::new(file, before, before), format!("expected `{closer}` before here"));
    }
    diag.with_help(format!("add the missing `{closer}`; check the blocks inside for one that is not closed"))
}

/// Drop trailing whitespace and line comments, to find where an item's last
/// token ends.
fn trim_trailing_trivia(mut text: &str) -> &str {
    loop {
        let trimmed = text.trim_end();
        // A trailing `// comment` line: cut it if the line has one.
        let line_start = trimmed.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let line = trimmed.get(line_start..).unwrap_or("");
        match line.find("//") {
            Some(i) if i + line_start < trimmed.len() => {
                text = trimmed.get(..line_start + i).unwrap_or("");
            }
            _ => return trimmed,
        }
    }
}

/// What the parser wanted, in the words a user knows.
fn describe(rule: Rule) -> Option<&'static str> {
    use Rule as R;
    Some(match rule {
        R::import_item | R::const_item | R::header_item | R::meta_item | R::parser_item | R::action_item
        | R::control_item | R::config_item | R::table_item | R::counter_item | R::map_item | R::object_item => ITEM_GROUP,
        R::ident | R::name => "a name",
        R::type_name | R::set_type | R::kw_set | R::type_tuple => "a type such as `u16`",
        R::hook => "a hook (`xdp` or `tc`)",
        R::expr | R::operand | R::pat_expr | R::paren | R::name_ref | R::number | R::dotted | R::mac | R::boolean
        | R::unary_op | R::place | R::key_tuple => "an expression",
        R::binop | R::pat_binop => "an operator",
        R::cast | R::kw_as => "`as`",
        R::field_suffix | R::method_suffix => "`.`",
        R::index_suffix => "`[`",
        R::in_tail | R::kw_in => "`in`",
        R::let_stmt | R::if_stmt | R::verdict_stmt | R::redirect_stmt | R::call_stmt | R::assign_stmt | R::expr_stmt => {
            "a statement"
        }
        R::assign_op => "`=`",
        R::else_if | R::else_block | R::let_else | R::kw_else => "`else`",
        R::config_param => "a config parameter such as `rate: u32 = 100`",
        R::key_section | R::kw_key => "`key`",
        R::actions_section | R::kw_actions => "`actions`",
        R::default_section | R::kw_default => "`default`",
        R::size_clause | R::kw_size => "`size`",
        R::masks_clause | R::kw_masks => "`masks`",
        R::entries_section | R::kw_entries => "`entries`",
        R::idle_clause | R::kw_idle => "`idle`",
        R::keyed_clause | R::kw_keyed => "`keyed`",
        R::of_clause | R::kw_of => "`of TYPE`",
        R::per_clause | R::kw_per => "`per KEY`",
        R::for_stmt | R::kw_for | R::stage_stmt | R::kw_stage => "a statement",
        R::table_key => "a key such as `ipv4.src: exact`",
        R::table_entry => "an entry such as `(10.0.0.0/8, _): allow`",
        R::action_ref => "an action",
        R::named_arg => "an argument such as `rate = 100`",
        R::state_decl | R::kw_state => "`state`",
        R::extract_stmt | R::skip_stmt => "`extract` or `skip`",
        R::kw_accept | R::kw_reject | R::goto_tr | R::select_tr => "a transition (`accept`, `reject`, `goto` or `select`)",
        R::select_case => "a select case such as `0x0800: parse_ipv4`",
        R::case_alt | R::pat_tuple | R::pat_value | R::wildcard | R::pat_alts => "a pattern",
        R::pat_set => "a pattern",
        R::mask_tail => "`&&&`",
        R::range_tail | R::range_op => "`..` or `..=`",
        R::stack_size => "`[`",
        R::field_list | R::block => "`{`",
        R::field => "a field such as `ttl: u8`",
        R::param => "a parameter such as `port: u16`",
        R::EOI => "end of file",
        R::lbrace => "`{`",
        R::rbrace => "`}`",
        R::lparen => "`(`",
        R::rparen => "`)`",
        R::lbracket => "`[`",
        R::rbracket => "`]`",
        R::colon => "`:`",
        R::equals => "`=`",
        R::comma => "`,`",
        R::langle => "`<`",
        R::rangle => "`>`",
        R::arrow => "`->`",
        R::kw_import => "`import`",
        R::kw_const => "`const`",
        R::kw_header => "`header`",
        R::kw_meta => "`meta`",
        R::kw_parser => "`parser`",
        R::kw_extract => "`extract`",
        R::kw_skip => "`skip`",
        R::kw_select => "`select`",
        R::kw_goto => "`goto`",
        R::kw_action => "`action`",
        R::kw_control => "`control`",
        R::kw_let => "`let`",
        R::kw_if => "`if`",
        R::kw_redirect => "`redirect`",
        R::kw_config => "`config`",
        R::kw_table => "`table`",
        R::kw_counter => "`counter`",
        R::kw_map => "`map`",
        R::kw_meter => "`meter`",
        R::kw_pool => "`pool`",
        R::kw_sketch => "`sketch`",
        R::kw_queue => "`queue`",
        _ => return None,
    })
}

/// Join descriptions as "a, b or c".
fn join_or(items: &[String]) -> String {
    match items {
        [] => "something else".to_string(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {}", init.join(", "), last),
    }
}

/// The token found at `pos` (absolute), with its span, for messages.
fn found_at(text: &str, pos: usize) -> (String, usize, usize, Option<String>) {
    let rest = text.get(pos..).unwrap_or("");
    let Some(first) = rest.chars().next() else {
        return ("end of file".to_string(), pos, pos, None);
    };
    if first.is_ascii_alphanumeric() || first == '_' {
        let len = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
        let word = rest.get(..len).unwrap_or("");
        let what = if is_keyword(word) { format!("keyword `{word}`") } else { format!("`{word}`") };
        return (what, pos, pos + len, Some(word.to_string()));
    }
    const PUNCT: [&str; 22] = [
        "&&&", "..=", "&&", "||", "==", "!=", "<=", ">=", "<<", ">>", "+=", "-=", "&=", "|=", "^=", "..", "/*", "*/",
        "//", "::", "=>", "->",
    ];
    if let Some(p) = PUNCT.iter().find(|p| rest.starts_with(**p)) {
        return (format!("`{p}`"), pos, pos + p.len(), None);
    }
    let len = first.len_utf8();
    let shown = if first.is_control() || first.is_whitespace() {
        format!("character {first:?}")
    } else {
        format!("`{first}`")
    };
    (shown, pos, pos + len, None)
}

/// Words for the item keywords, collapsed into one expectation.
const ITEM_WORDS: [&str; 13] = [
    "`import`", "`const`", "`header`", "`meta`", "`parser`", "`action`", "`control`", "`config`", "`table`",
    "`counter`", "`map`", "`meter`", "`pool`",
];
const ITEM_GROUP: &str = "an item (`import`, `const`, `header`, `meta`, `parser`, `action`, `control`, `config`, \
                          `table`, `counter`, `map`, `meter` or `pool`)";
/// Words for the sections of a table, collapsed into one expectation.
const TABLE_WORDS: [&str; 6] = ["`key`", "`actions`", "`default`", "`size`", "`masks`", "`entries`"];
const TABLE_GROUP: &str = "a table section (`key`, `actions`, `default`, `size`, `masks` or `entries`)";
const STMT_WORDS: [&str; 7] = ["`let`", "`if`", "`pass`", "`drop`", "`tx`", "`abort`", "`redirect`"];

/// Collapse a raw list of expectations into a short, readable one.
fn tidy(mut expected: Vec<String>) -> Vec<String> {
    let has = |e: &[String], w: &str| e.iter().any(|x| x == w);
    // Every item keyword (and the end of the file) is "another item".
    let items = ITEM_WORDS.iter().filter(|w| has(&expected, w)).count();
    if items >= 3 || has(&expected, ITEM_GROUP) {
        expected.retain(|e| !ITEM_WORDS.contains(&e.as_str()) && e != ITEM_GROUP && e != "end of file");
        expected.push(if expected.is_empty() { ITEM_GROUP.to_string() } else { "another item".to_string() });
    }
    if TABLE_WORDS.iter().filter(|w| has(&expected, w)).count() >= 3 {
        expected.retain(|e| !TABLE_WORDS.contains(&e.as_str()));
        expected.insert(0, TABLE_GROUP.to_string());
    }
    let stmts = STMT_WORDS.iter().filter(|w| has(&expected, w)).count();
    if stmts >= 3 || has(&expected, "a statement") {
        expected.retain(|e| !STMT_WORDS.contains(&e.as_str()) && e != "a statement");
        expected.insert(0, "a statement".to_string());
    }
    if has(&expected, "a statement") {
        // A name or expression here can only start a call or an assignment,
        // which are statements.
        expected.retain(|e| e != "an expression" && e != "a name");
    }
    if has(&expected, "an operator") {
        expected.retain(|e| !matches!(e.as_str(), "`.`" | "`[`" | "`in`" | "`as`" | "`&&&`" | "`..` or `..=`"));
    }
    if has(&expected, "an expression") {
        expected.retain(|e| !matches!(e.as_str(), "`(`" | "`!`" | "`~`" | "`-`" | "`_`" | "a name"));
    }
    // Separators are optional everywhere; suggesting them rarely helps.
    if expected.iter().any(|e| e != "`,`" && e != "`;`") {
        expected.retain(|e| e != "`,`" && e != "`;`");
    }
    let mut seen = Vec::new();
    expected.retain(|e| {
        let fresh = !seen.contains(e);
        seen.push(e.clone());
        fresh
    });
    expected
}

/// Convert a pest error from parsing `text[offset..]` into a diagnostic.
pub(crate) fn convert(file: FileId, text: &str, offset: usize, err: &Error<Rule>) -> Diagnostic {
    let positives: Vec<Rule> = match &err.variant {
        ErrorVariant::ParsingError { positives, .. } => positives.clone(),
        ErrorVariant::CustomError { message } => {
            // pest's own resource guards ("stack limit reached").
            let pos = offset.saturating_add(error_pos(err)).min(text.len());
            let (_, start, end, _) = found_at(text, pos);
            return Diagnostic::error(
                "nfl::E0108",
                format!("input too complex to parse ({message})"),
                Span::new(file, start, end),
                "parsing stopped here",
            )
            .with_help("reduce the nesting of brackets and expressions");
        }
    };
    let rel = error_pos(err);
    let rules = positives;
    let pos = offset.saturating_add(rel).min(text.len());
    let (found, start, end, word) = found_at(text, pos);
    let span = Span::new(file, start, end);

    let mut expected: Vec<String> = Vec::new();
    for rule in &rules {
        if let Some(d) = describe(*rule) {
            expected.push(d.to_string());
        }
    }
    let expected = tidy(expected);

    let expects_name = rules.iter().any(|r| matches!(r, Rule::ident | Rule::name));
    if let Some(word) = &word
        && is_keyword(word)
        && expects_name
    {
        return Diagnostic::error(
            "nfl::E0104",
            format!("`{word}` is a keyword and cannot be used as a name"),
            span,
            "keyword",
        )
        .with_help(format!("choose another name, such as `{word}_`"));
    }
    if !rules.is_empty() && rules.iter().all(|r| matches!(r, Rule::type_name | Rule::kw_set)) {
        let help = if rules.contains(&Rule::kw_set) {
            "types are `u1` to `u64` (e.g. `u8`, `u16`, `u32`) and `bool`; a config parameter may also be a `set<u32>`"
        } else {
            "types are `u1` to `u64` (e.g. `u8`, `u16`, `u32`) and `bool`"
        };
        return Diagnostic::error("nfl::E0105", format!("expected a type, found {found}"), span, "expected a type here")
            .with_help(help);
    }

    let wanted = join_or(&expected);
    let message = format!("expected {wanted}, found {found}");
    let label = if expected.is_empty() { "unexpected".to_string() } else { format!("expected {wanted}") };
    let help = help_for(&found, word.as_deref(), &expected);
    Diagnostic::error("nfl::E0101", message, span, label).with_help(help)
}

fn help_for(found: &str, word: Option<&str>, expected: &[String]) -> String {
    if expected == ["`}`"] && matches!(word, Some("extract" | "skip")) {
        return "a state's transition (`accept`, `reject`, `goto` or `select`) must come last in the state".to_string();
    }
    if found == "`==`" && expected.iter().any(|e| e == "`=`") {
        return "`==` compares two values; to assign, write `=`".to_string();
    }
    if found == "`.`" {
        return "numbers have no fractional part; IPv4 addresses have four parts like `198.18.0.1`".to_string();
    }
    if expected.iter().any(|e| e == "`=`") && expected.iter().any(|e| e == "`.`") {
        return "a statement that starts with a name is an assignment (`x = 1`), an action call (`f(1)`) or a \
                method call (`acl.apply()`)"
            .to_string();
    }
    if expected.iter().any(|e| e.contains("statement")) {
        return "statements are `let`, assignments, `if`, `pass`, `drop`, `tx`, `abort`, `redirect(...)`, an action call \
                or a method call such as `acl.apply()`"
            .to_string();
    }
    if expected.iter().any(|e| e == TABLE_GROUP) {
        return "a table has the sections `key { ... }`, `actions { ... }`, `default ACTION`, `size N`, `masks N` and \
                `entries { ... }`, each at most once"
            .to_string();
    }
    if expected.iter().any(|e| e.starts_with("a key such")) {
        return "a key is `EXPR: KIND` or `(EXPR, EXPR): KIND`, where KIND is `exact`, `lpm`, `ternary` or `range`"
            .to_string();
    }
    if expected.iter().any(|e| e.starts_with("an entry such")) {
        return "an entry is `PATTERN: ACTION` or `(PATTERN, PATTERN, ...): ACTION`, one pattern per key".to_string();
    }
    if expected.iter().any(|e| e.starts_with("an item") || e == "another item") {
        return "a file is a list of items: `import`, `const`, `header`, `meta`, `parser`, `action`, `control`, \
                `config`, `table`, `counter`, `map`, `meter` and `pool`"
            .to_string();
    }
    if expected.iter().any(|e| e.contains("transition")) {
        return "a state ends with one transition: `accept`, `reject`, `goto STATE` or `select KEY { ... }`".to_string();
    }
    "see docs/language.md for the syntax".to_string()
}
