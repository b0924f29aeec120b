//! The exports of the verify build are trampolines that hand the C caller's return address to
//! their bodies, so that verifier reports name the caller's code: each `Pl*` export begins
//! `mov rdx, [rsp]` (`mov r8, [rsp]` after a `flags` argument), the register of the argument
//! after the C ones in the Windows x64 convention, then jumps to its body in this image. The
//! default build's exports are ordinary functions (no such trampoline); so are the few that take
//! no lock (`SITELESS`) in both builds.
//!
//! The image: `$PUSHLOCK_SYS`, or what `cargo sys` leaves in `target/`; `PUSHLOCK_BUILD=verify`
//! says it is the verify build (CI's driver lane inspects both).

use std::path::PathBuf;

use iced_x86::{Decoder, DecoderOptions, Instruction, Mnemonic, OpKind, Register};
use object::LittleEndian as LE;
use object::read::pe::{ExportTarget, ImageNtHeaders, ImageOptionalHeader, PeFile64};

/// The exports that take and release no lock, so record no site (ordinary functions in both
/// builds).
const SITELESS: [&str; 3] = [
    "PlQueryPushLockStatistics",
    "PlExAllocateCacheAwarePushLock",
    "PlExFreeCacheAwarePushLock",
];

fn image() -> Vec<u8> {
    let path = std::env::var_os("PUSHLOCK_SYS").map_or_else(
        || {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../target/x86_64-pc-windows-msvc/release/pushlock_filter.dll")
        },
        PathBuf::from,
    );
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; build it with `cargo sys`", path.display()))
}

/// The first two instructions at `rva`, and whether `target` lies in an executable section.
fn first_two(file: &PeFile64<'_>, data: &[u8], rva: u32) -> [Instruction; 2] {
    let section = file
        .section_table()
        .iter()
        .find(|s| {
            (s.virtual_address.get(LE)..s.virtual_address.get(LE) + s.virtual_size.get(LE))
                .contains(&rva)
        })
        .unwrap_or_else(|| panic!("RVA {rva:#x} is in no section"));
    let offset =
        (rva - section.virtual_address.get(LE) + section.pointer_to_raw_data.get(LE)) as usize;
    let base = file.nt_headers().optional_header().image_base();
    let code = &data[offset..(offset + 32).min(data.len())];
    let mut decoder = Decoder::with_ip(64, code, base + u64::from(rva), DecoderOptions::NONE);
    [decoder.decode(), decoder.decode()]
}

fn is_text(file: &PeFile64<'_>, address: u64) -> bool {
    let base = file.nt_headers().optional_header().image_base();
    file.section_table().iter().any(|s| {
        let start = base + u64::from(s.virtual_address.get(LE));
        let executable = s.characteristics.get(LE) & object::pe::IMAGE_SCN_MEM_EXECUTE != 0;
        executable && (start..start + u64::from(s.virtual_size.get(LE))).contains(&address)
    })
}

/// `mov <register>, [rsp]`.
fn loads_return_address(instruction: &Instruction, register: Register) -> bool {
    instruction.mnemonic() == Mnemonic::Mov
        && instruction.op0_kind() == OpKind::Register
        && instruction.op0_register() == register
        && instruction.op1_kind() == OpKind::Memory
        && instruction.memory_base() == Register::RSP
        && instruction.memory_index() == Register::None
        && instruction.memory_displacement64() == 0
}

#[test]
fn verify_build_exports_pass_their_caller_s_return_address() {
    let verify = std::env::var("PUSHLOCK_BUILD").is_ok_and(|build| build == "verify");
    let data = image();
    let file = PeFile64::parse(&*data).expect("a PE32+ image");
    let exports = file
        .export_table()
        .unwrap()
        .expect("an export table")
        .exports()
        .unwrap();
    let mut checked = 0;
    for export in exports {
        let name = String::from_utf8_lossy(export.name.unwrap_or_default()).into_owned();
        let ExportTarget::Address(rva) = export.target else {
            panic!("{name}: forwarded")
        };
        // These take and release nothing: they have no site to record.
        if !name.starts_with("Pl") || SITELESS.contains(&name.as_str()) {
            continue;
        }
        let register = if name.ends_with("Ex") {
            Register::R8
        } else {
            Register::RDX
        };
        let [first, second] = first_two(&file, &data, rva);
        let trampoline = loads_return_address(&first, register);
        if verify {
            assert!(
                trampoline,
                "{name}: begins `{first}`, not `mov {register:?}, [rsp]`"
            );
            assert_eq!(second.mnemonic(), Mnemonic::Jmp, "{name}: then `{second}`");
            assert!(
                is_text(&file, second.near_branch_target()),
                "{name}: jumps out of the image's code: `{second}`"
            );
        } else {
            assert!(
                !trampoline,
                "{name}: a trampoline in the default build: `{first}`"
            );
        }
        checked += 1;
    }
    assert!(checked >= 31, "only {checked} exports");
}
