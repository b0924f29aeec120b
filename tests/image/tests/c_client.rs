//! A C driver links against the driver's import library and imports from the file users
//! install, `pushlock_filter.sys`: the kernel loader resolves imports by that name.
//!
//! `tests/image/c_client/client.c` calls every function of `include/pushlock_filter.h`; it is
//! compiled with clang-14 for `x86_64-pc-windows-msvc` (a stand-in `ntddk.h` supplies the WDK's
//! basic types), linked by rust-lld as a driver against the import library, and the client's
//! import table is read back. The import library itself must not offer the loader's entry points.
//!
//! The library: `$PUSHLOCK_LIB`, or what `cargo sys` leaves in `target/`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use object::LittleEndian as LE;
use object::read::archive::ArchiveFile;
use object::read::pe::PeFile64;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn import_library() -> PathBuf {
    std::env::var_os("PUSHLOCK_LIB").map_or_else(
        || root().join("target/x86_64-pc-windows-msvc/release/pushlock_filter.dll.lib"),
        PathBuf::from,
    )
}

fn run(command: &mut Command) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn rust_lld() -> PathBuf {
    let output = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .unwrap();
    let sysroot = String::from_utf8(output.stdout).unwrap();
    let host = env!("TARGET_HOST");
    Path::new(sysroot.trim()).join(format!("lib/rustlib/{host}/bin/rust-lld"))
}

/// The functions the header declares (`... NTAPI Name(`).
fn header_functions() -> BTreeSet<String> {
    std::fs::read_to_string(root().join("include/pushlock_filter.h"))
        .unwrap()
        .lines()
        .filter_map(|line| line.split_once(" NTAPI ")?.1.split_once('('))
        .map(|(name, _)| name.trim().to_owned())
        .collect()
}

/// Builds the client driver; returns its image.
fn link_client(out: &Path) -> Vec<u8> {
    let sources = root().join("tests/image/c_client");
    let object = out.join("client.obj");
    let image = out.join("client.sys");
    run(Command::new("clang-14")
        .args([
            "--target=x86_64-pc-windows-msvc",
            "-ffreestanding",
            "-fno-stack-protector",
        ])
        .args(["-Wall", "-Werror", "-c"])
        .arg("-I")
        .arg(&sources)
        .arg("-I")
        .arg(root().join("include"))
        .arg(sources.join("client.c"))
        .arg("-o")
        .arg(&object));
    run(Command::new(rust_lld())
        .args([
            "-flavor",
            "link",
            "/DRIVER",
            "/SUBSYSTEM:NATIVE",
            "/ENTRY:DriverEntry",
        ])
        .arg("/NODEFAULTLIB")
        .arg(format!("/OUT:{}", image.display()))
        .arg(&object)
        .arg(import_library()));
    std::fs::read(image).unwrap()
}

#[test]
fn a_c_driver_imports_every_function_from_pushlock_filter_sys() {
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("c_client");
    std::fs::create_dir_all(&out).unwrap();
    let data = link_client(&out);
    let file = PeFile64::parse(&*data).unwrap();
    let table = file.import_table().unwrap().expect("an import table");
    let mut descriptors = table.descriptors().unwrap();
    let mut imports = BTreeSet::new();
    while let Some(descriptor) = descriptors.next().unwrap() {
        let module = String::from_utf8_lossy(table.name(descriptor.name.get(LE)).unwrap());
        assert_eq!(
            module, "pushlock_filter.sys",
            "the module the loader must find"
        );
        let mut thunks = table
            .thunks(descriptor.original_first_thunk.get(LE))
            .unwrap();
        while let Some(thunk) = thunks.next::<object::pe::ImageNtHeaders64>().unwrap() {
            if let object::read::pe::Import::Name(_, name) =
                table.import::<object::pe::ImageNtHeaders64>(thunk).unwrap()
            {
                imports.insert(String::from_utf8_lossy(name).into_owned());
            }
        }
    }
    assert_eq!(imports, header_functions());
}

#[test]
fn the_import_library_offers_no_loader_entry_point() {
    let data = std::fs::read(import_library()).unwrap();
    let archive = ArchiveFile::parse(&*data).unwrap();
    let symbols: BTreeSet<String> = archive
        .symbols()
        .unwrap()
        .expect("a symbol table")
        .map(|symbol| String::from_utf8_lossy(symbol.unwrap().name()).into_owned())
        .collect();
    for private in ["DriverEntry", "DllInitialize", "DllUnload"] {
        assert!(
            !symbols.contains(private),
            "{private} is linkable: {symbols:?}"
        );
    }
    for function in header_functions() {
        assert!(
            symbols.contains(&function),
            "{function} missing from the import library"
        );
    }
}
