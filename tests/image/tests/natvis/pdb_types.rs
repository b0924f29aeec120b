//! The parts of a PDB the Natvis test reads: the structs of the type stream with their fields,
//! and the files the linker injected (`/NATVIS` files are stored as `/src/files/<path>` streams).

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::path::Path;

use pdb::{FallibleIterator, TypeData, TypeIndex};

pub struct Pdb {
    /// Every struct with a definition (not only a forward reference): name → (field, type).
    /// A pointer type is its pointee's name followed by `*`; a primitive is `<primitive>`.
    pub structs: BTreeMap<String, Vec<(String, String)>>,
    /// Injected files: stream name → contents.
    pub injected: Vec<(String, Vec<u8>)>,
}

impl Pdb {
    pub fn read(path: &Path) -> Self {
        let file = std::fs::File::open(path).unwrap_or_else(|error| {
            panic!(
                "no PDB at {} ({error}); build the driver with `cargo sys`",
                path.display()
            )
        });
        let mut pdb = pdb::PDB::open(file).expect("a PDB");
        let injected_streams = pdb
            .pdb_information()
            .expect("the PDB information stream")
            .stream_names()
            .expect("the named streams")
            .iter()
            .map(|stream| (stream.name.to_string().into_owned(), stream.stream_id))
            .filter(|(name, _)| name.starts_with("/src/files/"))
            .collect::<Vec<_>>();
        let mut injected = Vec::new();
        for (name, id) in injected_streams {
            let stream = pdb.raw_stream(id).expect("a stream").expect("not empty");
            injected.push((name, stream.as_slice().to_vec()));
        }
        let types = pdb.type_information().expect("the type stream");
        Self {
            structs: structs(&types),
            injected,
        }
    }

    /// The type `path` reads from a `ty`, one field at a time.
    pub fn member_type(&self, ty: &str, path: &[String]) -> Result<String, String> {
        path.iter().try_fold(ty.to_owned(), |ty, member| {
            let fields = self
                .structs
                .get(&ty)
                .ok_or_else(|| format!("no struct `{ty}` (reading `{member}`)"))?;
            fields
                .iter()
                .find(|(name, _)| name == member)
                .map(|(_, field_type)| field_type.clone())
                .ok_or_else(|| format!("`{ty}` has no field `{member}`"))
        })
    }
}

fn structs(types: &pdb::TypeInformation<'_>) -> BTreeMap<String, Vec<(String, String)>> {
    let mut records = HashMap::new();
    let mut items = types.iter();
    while let Some(item) = items.next().expect("a type record") {
        // Records this reader does not know (methods of C++ classes) never describe our structs.
        if let Ok(data) = item.parse() {
            records.insert(item.index(), data);
        }
    }
    let mut structs = BTreeMap::new();
    for data in records.values() {
        if let TypeData::Class(class) = data
            && !class.properties.forward_reference()
        {
            let fields = class
                .fields
                .map_or_else(Vec::new, |list| fields(&records, list));
            structs
                .entry(normalized(&class.name.to_string()))
                .or_insert(fields);
        }
    }
    structs
}

fn fields(
    records: &HashMap<TypeIndex, TypeData<'_>>,
    mut list: TypeIndex,
) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    while let Some(TypeData::FieldList(field_list)) = records.get(&list) {
        for field in &field_list.fields {
            if let TypeData::Member(member) = field {
                let field_type = type_name(records, member.field_type);
                fields.push((member.name.to_string().into_owned(), field_type));
            }
        }
        match field_list.continuation {
            Some(next) => list = next,
            None => break,
        }
    }
    fields
}

fn type_name(records: &HashMap<TypeIndex, TypeData<'_>>, index: TypeIndex) -> String {
    match records.get(&index) {
        Some(TypeData::Pointer(pointer)) => {
            format!("{}*", type_name(records, pointer.underlying_type))
        }
        Some(TypeData::Modifier(modifier)) => type_name(records, modifier.underlying_type),
        Some(data) => data.name().map_or_else(
            || "<unnamed>".to_owned(),
            |name| normalized(&name.to_string()),
        ),
        None => "<primitive>".to_owned(),
    }
}

/// MSVC-style names put a space between closing brackets (`AtomicPtr<tuple$<> >`); Natvis
/// expressions need not.
pub fn normalized(name: &str) -> String {
    name.replace(" >", ">")
}
