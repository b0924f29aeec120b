//! What a Natvis expression refers to: the types it names (casts) and the member paths it reads
//! (`word.p.value`), enough to check both against the sources and a PDB.

/// Words that start no member path: the node itself, literals and the built-in types the file
/// casts to.
const NOT_MEMBERS: &[&str] = &[
    "this", "size_t", "void", "true", "false", "nullptr", "sizeof", "unsigned", "int", "char",
    "bool", "__int64",
];

/// The types and member paths one expression uses.
#[derive(Debug, Default)]
pub struct References {
    /// Types named by a path, as written (`pushlock::wait_block::WaitBlock<$T1>`).
    pub types: Vec<String>,
    /// Member paths read from the object the expression is evaluated on.
    pub members: Vec<Vec<String>>,
}

/// The expressions inside a `DisplayString` (`{expr}`; `{{` and `}}` are literal braces), or
/// what is wrong with its braces.
pub fn embedded(display: &str) -> Result<Vec<&str>, String> {
    let mut expressions = Vec::new();
    let mut open = None;
    let mut chars = display.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match (c, open) {
            ('{' | '}', None) if chars.peek().map(|&(_, next)| next) == Some(c) => {
                chars.next();
            }
            ('{', None) => open = Some(at + 1),
            ('}', None) => return Err(format!("`}}` without `{{` in {display:?}")),
            ('}', Some(start)) => {
                expressions.push(&display[start..at]);
                open = None;
            }
            ('{', Some(_)) => return Err(format!("`{{` inside an expression in {display:?}")),
            _ => {}
        }
    }
    match open {
        Some(_) => Err(format!("an expression left open in {display:?}")),
        None => Ok(expressions),
    }
}

/// What `expression` (an `Item`, a `Condition`, a `{...}` of a `DisplayString`) refers to.
pub fn references(expression: &str) -> References {
    let chars: Vec<char> = without_format(expression).chars().collect();
    let mut found = References::default();
    let mut after_member = false;
    let mut continues_path = false;
    let mut at = 0;
    while let Some(&c) = chars.get(at) {
        if is_identifier_start(c) {
            let start = at;
            at = identifier_end(&chars, at);
            if starts_with(&chars[at..], "::") {
                at = path_end(&chars, at);
                found.types.push(chars[start..at].iter().collect());
                (after_member, continues_path) = (false, false);
                continue;
            }
            let name: String = chars[start..at].iter().collect();
            if continues_path && let Some(path) = found.members.last_mut() {
                path.push(name);
                after_member = true;
            } else if NOT_MEMBERS.contains(&name.as_str()) {
                after_member = false;
            } else {
                found.members.push(vec![name]);
                after_member = true;
            }
            continues_path = false;
        } else if c.is_ascii_digit() {
            while chars.get(at).is_some_and(char::is_ascii_alphanumeric) {
                at += 1;
            }
            (after_member, continues_path) = (false, false);
        } else {
            if !c.is_whitespace() {
                continues_path = c == '.' && after_member;
                after_member = false;
            }
            at += 1;
        }
    }
    found
}

/// The expression without its format specifier (`expr,x`): what follows the last comma outside
/// parentheses.
fn without_format(expression: &str) -> &str {
    let mut depth = 0_i32;
    let mut end = expression.len();
    for (at, c) in expression.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            ',' if depth == 0 => end = at,
            _ => {}
        }
    }
    &expression[..end]
}

const fn is_identifier_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == '$'
}

fn identifier_end(chars: &[char], mut at: usize) -> usize {
    while chars
        .get(at)
        .is_some_and(|&c| is_identifier_start(c) || c.is_ascii_digit())
    {
        at += 1;
    }
    at
}

fn starts_with(chars: &[char], text: &str) -> bool {
    chars.iter().copied().take(text.len()).eq(text.chars())
}

/// The end of a type path whose first identifier ends at `at`: `::`-joined identifiers, then any
/// template arguments (`<...>`, nested).
fn path_end(chars: &[char], mut at: usize) -> usize {
    while starts_with(&chars[at..], "::") {
        at = identifier_end(chars, at + 2);
    }
    if chars.get(at) == Some(&'<') {
        let mut depth = 0_usize;
        for (offset, &c) in chars[at..].iter().enumerate() {
            match c {
                '<' => depth += 1,
                '>' if depth == 1 => return at + offset + 1,
                '>' => depth -= 1,
                _ => {}
            }
        }
        return chars.len();
    }
    at
}

#[test]
fn casts_and_member_paths_are_told_apart() {
    let found = references(
        "(pushlock::wait_block::WaitBlock<$T1>*)((size_t)state.word.p.value & ~(size_t)0xF),x",
    );
    assert_eq!(found.types, ["pushlock::wait_block::WaitBlock<$T1>"]);
    assert_eq!(found.members, [["state", "word", "p", "value"]]);
    let found = references("last.p.value == this");
    assert_eq!(found.members, [["last", "p", "value"]]);
}

#[test]
fn display_strings_split_into_expressions() {
    assert_eq!(embedded("{{ shared x{n >> 4,d} }}"), Ok(vec!["n >> 4,d"]));
    assert!(embedded("shared x{n").is_err());
    assert!(embedded("shared x}").is_err());
}
