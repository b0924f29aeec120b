//! The pushlock crate's sources as the Natvis test reads them: where a `pushlock::` type is
//! declared, and which fields it has.

use std::path::PathBuf;

fn crate_sources() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../crates/pushlock/src")
}

/// The `pushlock::` paths in a type name, outermost first (`WaitBlock<KernelPlatform>` gives
/// both), without template arguments.
pub fn pushlock_paths(ty: &str) -> Vec<&str> {
    let path_len = |from: &str| {
        from.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(from.len())
    };
    ty.match_indices("pushlock::")
        .filter(|&(at, _)| !ty[..at].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_'))
        .map(|(at, _)| &ty[at..at + path_len(&ty[at..])])
        .collect()
}

/// The declaration of the struct `path` names (`pushlock::raw::RawPushLock`: in `raw.rs` or
/// `raw/mod.rs`), up to the end of its fields.
pub fn declaration(path: &str) -> Result<String, String> {
    let segments: Vec<&str> = path.split("::").skip(1).collect();
    let (name, modules) = segments
        .split_last()
        .ok_or_else(|| format!("`{path}` names no item"))?;
    let module = modules.join("/");
    let candidates = if modules.is_empty() {
        vec![crate_sources().join("lib.rs")]
    } else {
        vec![
            crate_sources().join(format!("{module}.rs")),
            crate_sources().join(module).join("mod.rs"),
        ]
    };
    let text = candidates
        .iter()
        .find_map(|file| std::fs::read_to_string(file).ok())
        .ok_or_else(|| format!("`{path}`: no module file {candidates:?}"))?;
    let keyword = format!("struct {name}");
    let start = text
        .match_indices(&keyword)
        .map(|(at, _)| at)
        .find(|&at| text[at + keyword.len()..].starts_with(['<', ' ', '(', '{', ';']))
        .ok_or_else(|| format!("`{path}`: no `{keyword}` in its module"))?;
    Ok(text[start..declaration_end(&text, start)].to_owned())
}

/// Where the struct declaration starting at `start` ends: after its `;` (a unit struct) or the
/// bracket that closes its fields.
fn declaration_end(text: &str, start: usize) -> usize {
    let Some(open) = text[start..]
        .find(['{', '(', ';'])
        .map(|offset| start + offset)
    else {
        return text.len();
    };
    let (opening, closing) = match text.as_bytes()[open] {
        b'{' => ('{', '}'),
        b'(' => ('(', ')'),
        _ => return open + 1,
    };
    let mut depth = 0_usize;
    for (offset, c) in text[open..].char_indices() {
        if c == opening {
            depth += 1;
        } else if c == closing {
            depth -= 1;
            if depth == 0 {
                return open + offset + 1;
            }
        }
    }
    text.len()
}

/// Whether a struct declaration has a field `name` (`name:` or `pub name:` starting a line).
pub fn declares_field(declaration: &str, name: &str) -> bool {
    declaration.lines().any(|line| {
        let line = line.trim_start();
        let line = line
            .strip_prefix("pub(crate) ")
            .or_else(|| line.strip_prefix("pub "))
            .unwrap_or(line);
        line.strip_prefix(name)
            .is_some_and(|rest| rest.starts_with(':'))
    })
}

#[test]
fn paths_are_found_inside_template_arguments() {
    assert_eq!(
        pushlock_paths("pushlock::w::W<pushlock::k::K>"),
        ["pushlock::w::W", "pushlock::k::K"]
    );
    assert_eq!(pushlock_paths("not_pushlock::x::Y"), Vec::<&str>::new());
}
