//! The structure of the Natvis schema (natvis.xsd, as Visual Studio ships it): which element may
//! hold which, and which attributes exist and are required.

use roxmltree::{Document, Node};

use crate::expressions::embedded;

pub const NAMESPACE: &str = "http://schemas.microsoft.com/vstudio/debugger/natvis/2010";

/// `parent: children`, one parent a line. Elements not listed as a parent hold text only.
const CHILDREN: &str = "
    AutoVisualizer: Version LocalizedStrings UIVisualizer Type HResult Alias
    Type: AlternativeType Version CustomVisualizer Intrinsic SmartPointer DisplayString StringView Expand UIVisualizer
    Expand: Item ArrayItems IndexListItems LinkedListItems TreeItems ExpandedItem Synthetic CustomListItems
    Synthetic: CustomVisualizer DisplayString StringView Expand
    ArrayItems: Direction Rank Size LowerBound ValuePointer
    IndexListItems: Size ValueNode
    LinkedListItems: Size HeadPointer NextPointer ValueNode
    TreeItems: Size HeadPointer LeftPointer RightPointer ValueNode
    CustomListItems: Variable Size Skip Loop If Elseif Else Exec Item Break
    Loop: Loop If Elseif Else Exec Item Break
    If: Loop If Elseif Else Exec Item Break
    Elseif: Loop If Elseif Else Exec Item Break
    Else: Loop If Elseif Else Exec Item Break
    Intrinsic: Parameter
    HResult: AlternativeHResult HRValue HRDescription
    LocalizedStrings: LocalizedString";

/// `element: attributes it must have`. (`Item` needs a `Name` only under `Expand`.)
const REQUIRED: &str = "
    Type: Name
    AlternativeType: Name
    Synthetic: Name
    Intrinsic: Name Expression
    Parameter: Name
    Variable: Name InitialValue";

/// Every attribute the schema defines: a debugger ignores any other, misspelt, one.
const ATTRIBUTES: &str = "Name Condition Optional IncludeView ExcludeView Priority Inheritable
    Expression InitialValue MaxItemsPerView Value Min Max ModuleName Category Type Id ServiceId
    MenuName Description VisualizerId LegacyAddin Export";

/// The words after `element:` in one of the tables above.
fn lookup<'t>(table: &'t str, element: &str) -> Vec<&'t str> {
    table
        .lines()
        .filter_map(|line| line.trim().split_once(':'))
        .find(|(name, _)| *name == element)
        .map(|(_, words)| words.split_whitespace().collect())
        .unwrap_or_default()
}

/// What in `document` the schema does not allow, one line each.
pub fn problems(document: &Document<'_>) -> Vec<String> {
    let root = document.root_element();
    let mut problems = Vec::new();
    if !root.has_tag_name((NAMESPACE, "AutoVisualizer")) {
        problems.push(format!(
            "the root is {:?}, not AutoVisualizer in {NAMESPACE}",
            root.tag_name()
        ));
    }
    for node in root.descendants().filter(Node::is_element) {
        let line = document.text_pos_at(node.range().start).row;
        problems.extend(
            element_problems(node)
                .into_iter()
                .map(|p| format!("line {line}: {p}")),
        );
    }
    problems
}

fn element_problems(node: Node<'_, '_>) -> Vec<String> {
    let name = node.tag_name().name();
    let parent = node.parent_element().map(|p| p.tag_name().name());
    let mut problems = Vec::new();
    if node.tag_name().namespace() != Some(NAMESPACE) {
        problems.push(format!("<{name}> is outside the Natvis namespace"));
    }
    if let Some(parent) = parent
        && !lookup(CHILDREN, parent).contains(&name)
    {
        problems.push(format!("<{name}> is not allowed in <{parent}>"));
    }
    for attribute in node.attributes() {
        if attribute.namespace().is_some()
            || !ATTRIBUTES.split_whitespace().any(|a| a == attribute.name())
        {
            problems.push(format!(
                "<{name}> has an unknown attribute {}",
                attribute.name()
            ));
        }
    }
    let mut required = lookup(REQUIRED, name);
    if name == "Item" && parent == Some("Expand") {
        required.push("Name");
    }
    for attribute in required {
        if node.attribute(attribute).is_none() {
            problems.push(format!("<{name}> needs a {attribute} attribute"));
        }
    }
    if name == "DisplayString"
        && let Err(problem) = embedded(node.text().unwrap_or_default())
    {
        problems.push(problem);
    }
    problems
}
