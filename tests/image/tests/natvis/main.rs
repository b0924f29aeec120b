//! The Natvis file `crates/pushlock/pushlock.natvis`, through which `WinDbg` (`dx`) and Visual
//! Studio decode the push-lock word and walk its wait blocks, checked three ways:
//!
//! 1. Its shape: well-formed XML, root `AutoVisualizer` in the Natvis namespace, only elements of
//!    the Natvis schema and each under a parent the schema allows, only the schema's attributes
//!    (a debugger silently ignores a misspelt one), the required ones present, and no brace left
//!    open in a `DisplayString`.
//! 2. Against the sources: every `pushlock::` type it names (visualised, or cast to in an
//!    expression) is a struct declared in the module its path names, and the first member of
//!    every path an expression reads is a field of that struct.
//! 3. Against the driver's PDB (`cargo sys`; `$PUSHLOCK_PDB` names another): the file is
//!    embedded (rustc passes `/NATVIS`; the linker stores the file in the PDB as an injected
//!    source, where the debuggers find it), and, when the PDB has type records (a driver built
//!    with debuginfo: `cargo sys --config profile.release.debug=2`), every visualised type has an
//!    instantiation there, every cast names a type that exists, and every member path resolves
//!    field by field through Rust's layouts (`AtomicPtr.p`, `UnsafeCell.value`, ...). Without
//!    type records that part is skipped, with a note.

mod expressions;
mod pdb_types;
mod schema;
mod sources;

use std::path::PathBuf;

use expressions::{References, embedded, references};
use pdb_types::{Pdb, normalized};
use roxmltree::{Document, Node};

/// Elements whose text is an expression, and those of them evaluated on a list or tree node
/// (whose type `HeadPointer` casts to) rather than on the visualised object.
const EXPRESSION_ELEMENTS: &[&str] = &[
    "Item",
    "ExpandedItem",
    "Size",
    "ValuePointer",
    "HeadPointer",
    "Exec",
    "NextPointer",
    "ValueNode",
    "LeftPointer",
    "RightPointer",
];
const NODE_ELEMENTS: &[&str] = &["NextPointer", "ValueNode", "LeftPointer", "RightPointer"];

fn natvis() -> String {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../crates/pushlock/pushlock.natvis");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn parse(text: &str) -> Document<'_> {
    Document::parse(text).unwrap_or_else(|e| panic!("pushlock.natvis is not well-formed XML: {e}"))
}

fn pdb_path() -> PathBuf {
    std::env::var_os("PUSHLOCK_PDB").map_or_else(
        || {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../target/x86_64-pc-windows-msvc/release/pushlock_filter.pdb")
        },
        PathBuf::from,
    )
}

fn type_entries<'a>(document: &'a Document<'_>) -> impl Iterator<Item = Node<'a, 'a>> {
    document
        .root_element()
        .children()
        .filter(|node| node.has_tag_name((schema::NAMESPACE, "Type")))
}

/// What an expression is evaluated on.
enum Context {
    /// The visualised object.
    Object,
    /// A node of a linked list or tree, of this type.
    Node(String),
}

/// One expression of a `<Type>` entry.
struct Use {
    /// The entry's `Name` pattern (`pushlock::raw::RawPushLock<*>`).
    visualized: String,
    context: Context,
    references: References,
}

/// Every expression of every `<Type>` entry: conditions, `DisplayString` insertions, and the
/// text of expression elements.
fn uses(document: &Document<'_>) -> Vec<Use> {
    let mut uses = Vec::new();
    for entry in type_entries(document) {
        let visualized = entry.attribute("Name").unwrap_or_default();
        let mut add = |context, expression: &str| {
            uses.push(Use {
                visualized: visualized.to_owned(),
                context,
                references: references(expression),
            });
        };
        for node in entry.descendants().filter(Node::is_element) {
            if let Some(condition) = node.attribute("Condition") {
                add(Context::Object, condition);
            }
            let name = node.tag_name().name();
            let text = node.text().unwrap_or_default();
            if name == "DisplayString" {
                for expression in embedded(text).unwrap_or_default() {
                    add(Context::Object, expression);
                }
            } else if NODE_ELEMENTS.contains(&name) {
                add(Context::Node(node_type(node)), text);
            } else if EXPRESSION_ELEMENTS.contains(&name) {
                add(Context::Object, text);
            }
        }
    }
    uses
}

/// The type a list's `HeadPointer` casts to, without the pointer.
fn node_type(node: Node<'_, '_>) -> String {
    node.parent()
        .and_then(|list| {
            list.children()
                .find(|n| n.has_tag_name((schema::NAMESPACE, "HeadPointer")))
        })
        .and_then(|head| references(head.text()?).types.into_iter().next())
        .unwrap_or_else(|| panic!("a list's HeadPointer must cast to the node type: {node:?}"))
}

/// The arguments the `*`s of a Natvis pattern stand for when `name` matches it (each `*` is one
/// whole template argument), or `None`.
fn capture(pattern: &str, name: &str) -> Option<Vec<String>> {
    let Some((head, tail)) = pattern.split_once('*') else {
        return (pattern == name).then(Vec::new);
    };
    let rest = name.strip_prefix(head)?;
    let mut depth = 0_usize;
    for (at, c) in rest.char_indices() {
        match c {
            '<' => depth += 1,
            '>' | ',' if depth == 0 => {
                let mut arguments = capture(tail, &rest[at..])?;
                arguments.insert(0, rest[..at].to_owned());
                return Some(arguments);
            }
            '>' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// `ty` with `$T1`, `$T2`, ... replaced by the template arguments of an instantiation.
fn substitute(ty: &str, arguments: &[String]) -> String {
    let mut ty = ty.to_owned();
    for (index, argument) in arguments.iter().enumerate().rev() {
        ty = ty.replace(&format!("$T{}", index + 1), argument);
    }
    ty
}

fn report(problems: &mut Vec<String>, against: &str) {
    problems.sort();
    problems.dedup();
    assert!(
        problems.is_empty(),
        "pushlock.natvis against {against}:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_file_has_the_shape_of_the_natvis_schema() {
    let text = natvis();
    let document = parse(&text);
    report(&mut schema::problems(&document), "the Natvis schema");
    assert!(type_entries(&document).next().is_some(), "no <Type> entry");
}

#[test]
fn every_type_and_first_member_it_names_is_in_the_sources() {
    let text = natvis();
    let mut problems = Vec::new();
    for usage in uses(&parse(&text)) {
        let types = std::iter::once(&usage.visualized).chain(&usage.references.types);
        for path in types.flat_map(|ty| sources::pushlock_paths(ty)) {
            problems.extend(sources::declaration(path).err());
        }
        let object = match &usage.context {
            Context::Object => &usage.visualized,
            Context::Node(node) => node,
        };
        let Some(&path) = sources::pushlock_paths(object).first() else {
            continue;
        };
        let Ok(declaration) = sources::declaration(path) else {
            continue;
        };
        for member in &usage.references.members {
            if !sources::declares_field(&declaration, &member[0]) {
                problems.push(format!("`{path}` has no field `{}`", member[0]));
            }
        }
    }
    report(&mut problems, "crates/pushlock/src");
}

#[test]
fn the_driver_pdb_embeds_the_file() {
    let path = pdb_path();
    let pdb = Pdb::read(&path);
    let text = natvis();
    let names: Vec<&str> = pdb.injected.iter().map(|(name, _)| name.as_str()).collect();
    assert!(
        pdb.injected
            .iter()
            .any(|(name, contents)| name.ends_with(".natvis") && contents == text.as_bytes()),
        "{} does not embed pushlock.natvis as it is now (injected files: {names:?})",
        path.display()
    );
}

#[test]
fn every_type_and_member_path_it_names_is_in_the_driver_pdb() {
    let path = pdb_path();
    let pdb = Pdb::read(&path);
    if !pdb
        .structs
        .keys()
        .any(|name| name.starts_with("pushlock::"))
    {
        eprintln!(
            "note: {} has no type records of the pushlock crate (built without debuginfo): the \
             Natvis types were checked against the sources only; \
             `cargo sys --config profile.release.debug=2` builds a PDB with them",
            path.display()
        );
        return;
    }
    let text = natvis();
    let document = parse(&text);
    let mut problems = Vec::new();
    for entry in type_entries(&document) {
        let pattern = entry.attribute("Name").unwrap_or_default();
        if !pdb
            .structs
            .keys()
            .any(|name| capture(pattern, name).is_some())
        {
            problems.push(format!("no type matches `{pattern}`"));
        }
    }
    for usage in uses(&document) {
        for instance in pdb.structs.keys() {
            let Some(arguments) = capture(&usage.visualized, instance) else {
                continue;
            };
            let resolve = |ty: &str| normalized(&substitute(ty, &arguments));
            for ty in usage.references.types.iter().map(|ty| resolve(ty)) {
                if !pdb.structs.contains_key(&ty) {
                    problems.push(format!("`{}`: no type `{ty}`", usage.visualized));
                }
            }
            let object = match &usage.context {
                Context::Object => instance.clone(),
                Context::Node(node) => resolve(node),
            };
            for member in &usage.references.members {
                if let Err(problem) = pdb.member_type(&object, member) {
                    problems.push(format!("`{}`: {problem}", usage.visualized));
                }
            }
        }
    }
    report(&mut problems, &path.display().to_string());
}

#[test]
fn patterns_capture_whole_template_arguments() {
    assert_eq!(
        capture("a::B<*,*>", "a::B<c::D<e::F>,u8>"),
        Some(vec!["c::D<e::F>".to_owned(), "u8".to_owned()])
    );
    assert_eq!(capture("a::B<*>", "a::Bc<d>"), None);
    assert_eq!(capture("a::B", "a::B"), Some(vec![]));
}
