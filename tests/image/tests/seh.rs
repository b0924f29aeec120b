//! The user-buffer copies of the built image are covered by their `__try` scopes.
//!
//! `PFLT_MESSAGE_NOTIFY`'s buffers are raw user addresses that another thread may unmap at any
//! moment: every access must lie inside `__try`. The C shim's functions carry
//! `__C_specific_handler` with a scope table in their unwind data (`.pdata` → `UNWIND_INFO` →
//! handler → scope table). This test reads those tables and decodes each such function: every
//! instruction that can fault on a user address — a call (its return address is what the
//! handler compares), or a memory access through a register other than RSP/RBP/RIP — must lie
//! in a scope. A copy loop the compiler placed outside the scope (as clang did) fails here.
//!
//! The image: `$PUSHLOCK_SYS`, or what `cargo sys` leaves in `target/`.

use std::path::PathBuf;

use iced_x86::{Decoder, DecoderOptions, FlowControl, Instruction, Mnemonic, OpKind, Register};
use object::LittleEndian as LE;
use object::read::pe::{ImageNtHeaders, ImageOptionalHeader, PeFile64};

/// `UNW_FLAG_EHANDLER | UNW_FLAG_UHANDLER`: the unwind info names a language handler.
const HANDLER_FLAGS: u8 = 0x3;

/// One `__try` scope of `__C_specific_handler`'s table: `[begin, end)` guarded.
#[derive(Clone, Copy, Debug)]
struct Scope {
    begin: u32,
    end: u32,
}

/// A function of the image with `__C_specific_handler` and its scopes.
struct GuardedFunction {
    begin: u32,
    end: u32,
    scopes: Vec<Scope>,
}

struct Image {
    data: Vec<u8>,
}

impl Image {
    fn load() -> Self {
        let path = std::env::var_os("PUSHLOCK_SYS").map_or_else(
            || {
                PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("../../target/x86_64-pc-windows-msvc/release/pushlock_filter.dll")
            },
            PathBuf::from,
        );
        let data = std::fs::read(&path).unwrap_or_else(|error| {
            panic!(
                "no driver image at {} ({error}); build it with `cargo sys`",
                path.display()
            )
        });
        Self { data }
    }

    fn pe(&self) -> PeFile64<'_> {
        PeFile64::parse(&*self.data).expect("a PE32+ image")
    }

    fn base(&self) -> u64 {
        self.pe().nt_headers().optional_header().image_base()
    }

    /// `len` bytes at `rva`.
    fn bytes(&self, rva: u32, len: u32) -> &[u8] {
        let pe = self.pe();
        let section = pe
            .section_table()
            .iter()
            .find(|s| {
                let start = s.virtual_address.get(LE);
                rva >= start && rva + len <= start + s.virtual_size.get(LE)
            })
            .unwrap_or_else(|| panic!("RVA {rva:#x} is in no section"));
        let offset = rva - section.virtual_address.get(LE) + section.pointer_to_raw_data.get(LE);
        &self.data[offset as usize..(offset + len) as usize]
    }

    fn u32_at(&self, rva: u32) -> u32 {
        u32::from_le_bytes(self.bytes(rva, 4).try_into().unwrap())
    }

    /// The RVA of the import-address-table slot of `module!name`.
    fn iat_slot(&self, module: &str, name: &str) -> u32 {
        let pe = self.pe();
        let table = pe.import_table().unwrap().expect("an import table");
        let mut descriptors = table.descriptors().unwrap();
        while let Some(descriptor) = descriptors.next().unwrap() {
            if table.name(descriptor.name.get(LE)).unwrap() != module.as_bytes() {
                continue;
            }
            let mut thunks = table
                .thunks(descriptor.original_first_thunk.get(LE))
                .unwrap();
            let mut index = 0;
            while let Some(thunk) = thunks.next::<object::pe::ImageNtHeaders64>().unwrap() {
                if let object::read::pe::Import::Name(_, found) =
                    table.import::<object::pe::ImageNtHeaders64>(thunk).unwrap()
                    && found == name.as_bytes()
                {
                    return descriptor.first_thunk.get(LE) + 8 * index;
                }
                index += 1;
            }
        }
        panic!("{module}!{name} is not imported")
    }

    /// Where the code at `rva` jumps or calls through memory (`jmp/call [rip+disp]`), if it does.
    fn indirect_target(&self, instruction: &Instruction) -> Option<u32> {
        (instruction.memory_base() == Register::RIP)
            .then(|| u32::try_from(instruction.memory_displacement64() - self.base()).unwrap())
    }

    fn decode(&self, begin: u32, end: u32) -> Vec<Instruction> {
        let code = self.bytes(begin, end - begin);
        let mut decoder = Decoder::with_ip(
            64,
            code,
            self.base() + u64::from(begin),
            DecoderOptions::NONE,
        );
        decoder.iter().collect()
    }

    /// Whether the code at `rva` ends up in `module!name`: an import thunk `jmp [slot]`.
    fn is_thunk_to(&self, rva: u32, slot: u32) -> bool {
        let jump = self.decode(rva, rva + 6);
        jump.first().is_some_and(|i| {
            i.flow_control() == FlowControl::IndirectBranch && self.indirect_target(i) == Some(slot)
        })
    }

    fn rva(&self, address: u64) -> u32 {
        u32::try_from(address - self.base()).unwrap()
    }

    /// Every function whose unwind data names `__C_specific_handler`, with its scope table.
    fn guarded_functions(&self) -> Vec<GuardedFunction> {
        let slot = self.iat_slot("ntoskrnl.exe", "__C_specific_handler");
        let pe = self.pe();
        let pdata = pe
            .section_table()
            .iter()
            .find(|s| s.raw_name() == b".pdata")
            .expect("a .pdata section");
        let (start, size) = (pdata.virtual_address.get(LE), pdata.virtual_size.get(LE));
        let mut found = Vec::new();
        for entry in (start..start + size).step_by(12) {
            let (begin, end, unwind) = (
                self.u32_at(entry),
                self.u32_at(entry + 4),
                self.u32_at(entry + 8),
            );
            if begin == 0 {
                continue;
            }
            let header = self.bytes(unwind, 4);
            if (header[0] >> 3) & HANDLER_FLAGS == 0 {
                continue;
            }
            let codes = u32::from(header[2]).next_multiple_of(2);
            let handler_at = unwind + 4 + 2 * codes;
            if !self.is_thunk_to(self.u32_at(handler_at), slot) {
                continue;
            }
            let count = self.u32_at(handler_at + 4);
            let scopes = (0..count)
                .map(|i| {
                    let record = handler_at + 8 + 16 * i;
                    Scope {
                        begin: self.u32_at(record),
                        end: self.u32_at(record + 4),
                    }
                })
                .collect();
            found.push(GuardedFunction { begin, end, scopes });
        }
        found
    }
}

/// Whether the instruction can fault on a user address: a call, or an access to memory through
/// a pointer that is not the stack (RSP, RBP) or the image (RIP). `lea` and the long `nop`
/// forms name memory without touching it.
fn may_touch_user_memory(instruction: &Instruction) -> bool {
    let through_pointer = (0..instruction.op_count()).any(|operand| {
        instruction.op_kind(operand) == OpKind::Memory
            && !matches!(
                instruction.memory_base(),
                Register::RSP | Register::RBP | Register::RIP
            )
            && !matches!(instruction.mnemonic(), Mnemonic::Lea | Mnemonic::Nop)
    });
    let call = matches!(
        instruction.flow_control(),
        FlowControl::Call | FlowControl::IndirectCall
    );
    call || through_pointer
}

#[test]
fn every_user_buffer_access_lies_in_a_try_scope() {
    let image = Image::load();
    let functions = image.guarded_functions();
    assert!(
        functions.len() >= 2,
        "the two copy routines carry __C_specific_handler (found {})",
        functions.len()
    );
    let memcpy = image.iat_slot("ntoskrnl.exe", "memcpy");
    for function in &functions {
        assert!(
            !function.scopes.is_empty(),
            "{:#x}: no scope",
            function.begin
        );
        let mut guarded_copies = 0;
        for instruction in image.decode(function.begin, function.end) {
            if !may_touch_user_memory(&instruction) {
                continue;
            }
            let (ip, next) = (
                image.rva(instruction.ip()),
                image.rva(instruction.next_ip()),
            );
            let covered = function
                .scopes
                .iter()
                .any(|s| s.begin <= ip && next < s.end);
            assert!(
                covered,
                "{instruction} at RVA {ip:#x} lies outside the __try scopes {:x?} of the \
                 function at {:#x}",
                function.scopes, function.begin
            );
            let callee = image.rva(instruction.near_branch_target());
            if instruction.flow_control() == FlowControl::Call && image.is_thunk_to(callee, memcpy)
                || image.indirect_target(&instruction) == Some(memcpy)
            {
                guarded_copies += 1;
            }
        }
        assert!(guarded_copies > 0, "{:#x}: no guarded copy", function.begin);
    }
    println!(
        "{} functions with __try scopes, every user access covered",
        functions.len()
    );
}
