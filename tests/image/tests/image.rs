//! The driver image, inspected as Windows' loader and a reviewer would: AMD64 PE32+, native
//! subsystem, entry point `DriverEntry`, a correct checksum, no writable-and-executable
//! section, imports only from ntoskrnl.exe, hal.dll and fltmgr.sys and only of documented
//! exports (allow-list below, each with its documentation), and exactly the exported C API of
//! `include/pushlock_filter.h`.
//!
//! The image: `$PUSHLOCK_SYS`, or what `cargo sys` leaves in `target/`.

use std::collections::BTreeSet;
use std::path::PathBuf;

use object::LittleEndian as LE;
use object::pe::{
    IMAGE_DLLCHARACTERISTICS_DYNAMIC_BASE, IMAGE_DLLCHARACTERISTICS_FORCE_INTEGRITY,
    IMAGE_DLLCHARACTERISTICS_NX_COMPAT, IMAGE_FILE_MACHINE_AMD64, IMAGE_NT_OPTIONAL_HDR64_MAGIC,
    IMAGE_SCN_MEM_EXECUTE, IMAGE_SCN_MEM_WRITE, IMAGE_SUBSYSTEM_NATIVE,
};
use object::read::pe::{ImageNtHeaders, ImageOptionalHeader, PeFile64};

/// Every routine the driver may import: (module, name, documentation).
const ALLOWED_IMPORTS: &[(&str, &str, &str)] = &[
    (
        "fltmgr.sys",
        "FltRegisterFilter",
        "https://learn.microsoft.com/windows-hardware/drivers/ddi/fltkernel/nf-fltkernel-fltregisterfilter",
    ),
    (
        "fltmgr.sys",
        "FltStartFiltering",
        "https://learn.microsoft.com/windows-hardware/drivers/ddi/fltkernel/nf-fltkernel-fltstartfiltering",
    ),
    (
        "fltmgr.sys",
        "FltUnregisterFilter",
        "https://learn.microsoft.com/windows-hardware/drivers/ddi/fltkernel/nf-fltkernel-fltunregisterfilter",
    ),
    (
        "fltmgr.sys",
        "FltBuildDefaultSecurityDescriptor",
        "https://learn.microsoft.com/windows-hardware/drivers/ddi/fltkernel/nf-fltkernel-fltbuilddefaultsecuritydescriptor",
    ),
    (
        "fltmgr.sys",
        "FltFreeSecurityDescriptor",
        "https://learn.microsoft.com/windows-hardware/drivers/ddi/fltkernel/nf-fltkernel-fltfreesecuritydescriptor",
    ),
    (
        "fltmgr.sys",
        "FltCreateCommunicationPort",
        "https://learn.microsoft.com/windows-hardware/drivers/ddi/fltkernel/nf-fltkernel-fltcreatecommunicationport",
    ),
    (
        "fltmgr.sys",
        "FltCloseCommunicationPort",
        "https://learn.microsoft.com/windows-hardware/drivers/ddi/fltkernel/nf-fltkernel-fltclosecommunicationport",
    ),
    (
        "fltmgr.sys",
        "FltCloseClientPort",
        "https://learn.microsoft.com/windows-hardware/drivers/ddi/fltkernel/nf-fltkernel-fltcloseclientport",
    ),
    (
        "fltmgr.sys",
        "FltGetRequestorProcessId",
        "https://learn.microsoft.com/windows-hardware/drivers/ddi/fltkernel/nf-fltkernel-fltgetrequestorprocessid",
    ),
    (
        "fltmgr.sys",
        "FltInitializePushLock",
        "https://learn.microsoft.com/windows-hardware/drivers/ddi/fltkernel/nf-fltkernel-fltinitializepushlock",
    ),
    (
        "fltmgr.sys",
        "FltDeletePushLock",
        "https://learn.microsoft.com/windows-hardware/drivers/ddi/fltkernel/nf-fltkernel-fltdeletepushlock",
    ),
    (
        "fltmgr.sys",
        "FltAcquirePushLockExclusive",
        "https://learn.microsoft.com/windows-hardware/drivers/ddi/fltkernel/nf-fltkernel-fltacquirepushlockexclusive",
    ),
    (
        "fltmgr.sys",
        "FltAcquirePushLockShared",
        "https://learn.microsoft.com/windows-hardware/drivers/ddi/fltkernel/nf-fltkernel-fltacquirepushlockshared",
    ),
    (
        "fltmgr.sys",
        "FltReleasePushLock",
        "https://learn.microsoft.com/windows-hardware/drivers/ddi/fltkernel/nf-fltkernel-fltreleasepushlock",
    ),
    (
        "ntoskrnl.exe",
        "ExInitializeRundownProtection",
        "https://learn.microsoft.com/windows-hardware/drivers/ddi/wdm/nf-wdm-exinitializerundownprotection",
    ),
    (
        "ntoskrnl.exe",
        "ExAcquireRundownProtection",
        "https://learn.microsoft.com/windows-hardware/drivers/ddi/wdm/nf-wdm-exacquirerundownprotection",
    ),
    (
        "ntoskrnl.exe",
        "ExReleaseRundownProtection",
        "https://learn.microsoft.com/windows-hardware/drivers/ddi/wdm/nf-wdm-exreleaserundownprotection",
    ),
    (
        "ntoskrnl.exe",
        "ExWaitForRundownProtectionRelease",
        "https://learn.microsoft.com/windows-hardware/drivers/ddi/wdm/nf-wdm-exwaitforrundownprotectionrelease",
    ),
    (
        "ntoskrnl.exe",
        "ExAllocatePool2",
        "https://learn.microsoft.com/windows-hardware/drivers/ddi/wdm/nf-wdm-exallocatepool2",
    ),
    (
        "ntoskrnl.exe",
        "ExFreePoolWithTag",
        "https://learn.microsoft.com/windows-hardware/drivers/ddi/wdm/nf-wdm-exfreepoolwithtag",
    ),
    (
        "ntoskrnl.exe",
        "PsCreateSystemThread",
        "https://learn.microsoft.com/windows-hardware/drivers/ddi/wdm/nf-wdm-pscreatesystemthread",
    ),
    (
        "ntoskrnl.exe",
        "PsTerminateSystemThread",
        "https://learn.microsoft.com/windows-hardware/drivers/ddi/wdm/nf-wdm-psterminatesystemthread",
    ),
    (
        "ntoskrnl.exe",
        "ObReferenceObjectByHandle",
        "https://learn.microsoft.com/windows-hardware/drivers/ddi/wdm/nf-wdm-obreferenceobjectbyhandle",
    ),
    (
        "ntoskrnl.exe",
        "ObfDereferenceObject",
        "https://learn.microsoft.com/windows-hardware/drivers/ddi/wdm/nf-wdm-obdereferenceobject",
    ),
    (
        "ntoskrnl.exe",
        "ZwClose",
        "https://learn.microsoft.com/windows-hardware/drivers/ddi/wdm/nf-wdm-zwclose",
    ),
    (
        "ntoskrnl.exe",
        "KeWaitForSingleObject",
        "https://learn.microsoft.com/windows-hardware/drivers/ddi/wdm/nf-wdm-kewaitforsingleobject",
    ),
    (
        "ntoskrnl.exe",
        "KeQueryActiveProcessorCountEx",
        "https://learn.microsoft.com/windows-hardware/drivers/ddi/wdm/nf-wdm-kequeryactiveprocessorcountex",
    ),
    // The cache-aware lock: a reader takes the slot of the processor it runs on.
    (
        "ntoskrnl.exe",
        "KeGetCurrentProcessorNumberEx",
        "https://learn.microsoft.com/windows-hardware/drivers/ddi/ntddk/nf-ntddk-kegetcurrentprocessornumberex",
    ),
    (
        "ntoskrnl.exe",
        "KeDelayExecutionThread",
        "https://learn.microsoft.com/windows-hardware/drivers/ddi/wdm/nf-wdm-kedelayexecutionthread",
    ),
    (
        "ntoskrnl.exe",
        "KeAreApcsDisabled",
        "https://learn.microsoft.com/windows-hardware/drivers/ddi/wdm/nf-wdm-keareapcsdisabled",
    ),
    // The verify build only: the verifier keys its per-thread table by the thread object.
    (
        "ntoskrnl.exe",
        "KeGetCurrentThread",
        "https://learn.microsoft.com/windows-hardware/drivers/ddi/wdm/nf-wdm-kegetcurrentthread",
    ),
    (
        "ntoskrnl.exe",
        "KeEnterCriticalRegion",
        "https://learn.microsoft.com/windows-hardware/drivers/ddi/ntddk/nf-ntddk-keentercriticalregion",
    ),
    (
        "ntoskrnl.exe",
        "KeLeaveCriticalRegion",
        "https://learn.microsoft.com/windows-hardware/drivers/ddi/ntddk/nf-ntddk-keleavecriticalregion",
    ),
    (
        "ntoskrnl.exe",
        "KeInitializeEvent",
        "https://learn.microsoft.com/windows-hardware/drivers/ddi/wdm/nf-wdm-keinitializeevent",
    ),
    (
        "ntoskrnl.exe",
        "KeSetEvent",
        "https://learn.microsoft.com/windows-hardware/drivers/ddi/wdm/nf-wdm-kesetevent",
    ),
    (
        "ntoskrnl.exe",
        "ExInitializeResourceLite",
        "https://learn.microsoft.com/windows-hardware/drivers/ddi/wdm/nf-wdm-exinitializeresourcelite",
    ),
    (
        "ntoskrnl.exe",
        "ExAcquireResourceExclusiveLite",
        "https://learn.microsoft.com/windows-hardware/drivers/ddi/wdm/nf-wdm-exacquireresourceexclusivelite",
    ),
    (
        "ntoskrnl.exe",
        "ExAcquireResourceSharedLite",
        "https://learn.microsoft.com/windows-hardware/drivers/ddi/wdm/nf-wdm-exacquireresourcesharedlite",
    ),
    (
        "ntoskrnl.exe",
        "ExReleaseResourceLite",
        "https://learn.microsoft.com/windows-hardware/drivers/ddi/wdm/nf-wdm-exreleaseresourcelite",
    ),
    (
        "ntoskrnl.exe",
        "ExDeleteResourceLite",
        "https://learn.microsoft.com/windows-hardware/drivers/ddi/wdm/nf-wdm-exdeleteresourcelite",
    ),
    (
        "ntoskrnl.exe",
        "KeBugCheckEx",
        "https://learn.microsoft.com/windows-hardware/drivers/ddi/wdm/nf-wdm-kebugcheckex",
    ),
    (
        "ntoskrnl.exe",
        "ProbeForRead",
        "https://learn.microsoft.com/windows-hardware/drivers/ddi/wdm/nf-wdm-probeforread",
    ),
    (
        "ntoskrnl.exe",
        "ProbeForWrite",
        "https://learn.microsoft.com/windows-hardware/drivers/ddi/wdm/nf-wdm-probeforwrite",
    ),
    (
        "ntoskrnl.exe",
        "DbgPrintEx",
        "https://learn.microsoft.com/windows-hardware/drivers/ddi/wdm/nf-wdm-dbgprintex",
    ),
    (
        "ntoskrnl.exe",
        "PsThreadType",
        "https://learn.microsoft.com/windows-hardware/drivers/ddi/wdm/nf-wdm-obreferenceobjectbyhandle",
    ),
    (
        "ntoskrnl.exe",
        "__C_specific_handler",
        "https://learn.microsoft.com/cpp/build/exception-handling-x64#language-specific-handler",
    ),
    (
        "ntoskrnl.exe",
        "memcpy",
        "https://learn.microsoft.com/cpp/c-runtime-library/reference/memcpy-wmemcpy",
    ),
    (
        "ntoskrnl.exe",
        "memmove",
        "https://learn.microsoft.com/cpp/c-runtime-library/reference/memmove-wmemmove",
    ),
    (
        "ntoskrnl.exe",
        "memset",
        "https://learn.microsoft.com/cpp/c-runtime-library/reference/memset-wmemset",
    ),
    (
        "ntoskrnl.exe",
        "memcmp",
        "https://learn.microsoft.com/cpp/c-runtime-library/reference/memcmp-wmemcmp",
    ),
    (
        "ntoskrnl.exe",
        "strlen",
        "https://learn.microsoft.com/cpp/c-runtime-library/reference/strlen-wcslen-mbslen-mbslen-l-mbstrlen-mbstrlen-l",
    ),
    (
        "hal.dll",
        "KeQueryPerformanceCounter",
        "https://learn.microsoft.com/windows-hardware/drivers/ddi/wdm/nf-wdm-kequeryperformancecounter",
    ),
];

fn image_path() -> PathBuf {
    std::env::var_os("PUSHLOCK_SYS").map_or_else(
        || {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../target/x86_64-pc-windows-msvc/release/pushlock_filter.dll")
        },
        PathBuf::from,
    )
}

fn image() -> Vec<u8> {
    let path = image_path();
    std::fs::read(&path).unwrap_or_else(|error| {
        panic!(
            "no driver image at {} ({error}); build it with `cargo sys`",
            path.display()
        )
    })
}

fn parse(data: &[u8]) -> PeFile64<'_> {
    PeFile64::parse(data).expect("a PE32+ image")
}

/// The PE checksum as `CheckSumMappedFile` computes it: 16-bit one's-complement-style sum of
/// the file with the checksum field taken as zero, plus the file length.
fn pe_checksum(data: &[u8], checksum_offset: usize) -> u32 {
    let mut sum: u64 = 0;
    for (index, chunk) in data.chunks(2).enumerate() {
        let offset = index * 2;
        if offset == checksum_offset || offset == checksum_offset + 2 {
            continue;
        }
        let word = u64::from(chunk[0]) | chunk.get(1).map_or(0, |&b| u64::from(b) << 8);
        sum += word;
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    sum = (sum & 0xFFFF) + (sum >> 16);
    u32::try_from(sum).unwrap() + u32::try_from(data.len()).unwrap()
}

#[test]
fn a_native_amd64_driver_image() {
    let data = image();
    let file = parse(&data);
    let headers = file.nt_headers();
    assert_eq!(
        headers.file_header().machine.get(LE),
        IMAGE_FILE_MACHINE_AMD64
    );
    let optional = headers.optional_header();
    assert_eq!(optional.magic(), IMAGE_NT_OPTIONAL_HDR64_MAGIC, "PE32+");
    assert_eq!(
        optional.subsystem(),
        IMAGE_SUBSYSTEM_NATIVE,
        "a driver runs in the native subsystem"
    );
    let required = IMAGE_DLLCHARACTERISTICS_NX_COMPAT
        | IMAGE_DLLCHARACTERISTICS_DYNAMIC_BASE
        | IMAGE_DLLCHARACTERISTICS_FORCE_INTEGRITY;
    assert_eq!(
        optional.dll_characteristics() & required,
        required,
        "NX, ASLR, integrity check"
    );
}

#[test]
fn the_entry_point_is_driver_entry() {
    let data = image();
    let file = parse(&data);
    let entry = file.nt_headers().optional_header().address_of_entry_point();
    let exports = file.export_table().unwrap().expect("an export table");
    let driver_entry = exports
        .exports()
        .unwrap()
        .into_iter()
        .find(|export| export.name == Some(b"DriverEntry"))
        .expect("DriverEntry is exported");
    let object::read::pe::ExportTarget::Address(rva) = driver_entry.target else {
        panic!("DriverEntry is forwarded")
    };
    assert_eq!(entry, rva, "AddressOfEntryPoint is DriverEntry");
}

#[test]
fn the_checksum_is_present_and_right() {
    let data = image();
    let file = parse(&data);
    let stored = file.nt_headers().optional_header().check_sum();
    assert_ne!(stored, 0, "drivers need a PE checksum (/RELEASE)");
    let e_lfanew =
        usize::try_from(u32::from_le_bytes(data[0x3C..0x40].try_into().unwrap())).unwrap();
    let checksum_offset = e_lfanew + 4 + 20 + 64; // signature, file header, then the field
    assert_eq!(
        stored,
        pe_checksum(&data, checksum_offset),
        "the checksum matches the file"
    );
}

#[test]
fn no_section_is_writable_and_executable() {
    let data = image();
    let file = parse(&data);
    for section in file.section_table().iter() {
        let flags = section.characteristics.get(LE);
        let name = String::from_utf8_lossy(section.raw_name()).into_owned();
        assert!(
            flags & IMAGE_SCN_MEM_WRITE == 0 || flags & IMAGE_SCN_MEM_EXECUTE == 0,
            "section {name} is writable and executable"
        );
    }
    assert!(
        file.section_table()
            .iter()
            .any(|s| s.raw_name().starts_with(b".reloc")),
        "relocations for ASLR"
    );
}

#[test]
fn imports_are_documented_kernel_exports_only() {
    let data = image();
    let file = parse(&data);
    let table = file.import_table().unwrap().expect("an import table");
    let mut descriptors = table.descriptors().unwrap();
    let mut seen = Vec::new();
    while let Some(descriptor) = descriptors.next().unwrap() {
        let module =
            String::from_utf8(table.name(descriptor.name.get(LE)).unwrap().to_vec()).unwrap();
        let mut thunks = table
            .thunks(descriptor.original_first_thunk.get(LE))
            .unwrap();
        while let Some(thunk) = thunks.next::<object::pe::ImageNtHeaders64>().unwrap() {
            let import = table.import::<object::pe::ImageNtHeaders64>(thunk).unwrap();
            let object::read::pe::Import::Name(_, name) = import else {
                panic!("{module}: import by ordinal")
            };
            seen.push((module.clone(), String::from_utf8(name.to_vec()).unwrap()));
        }
    }
    assert!(!seen.is_empty());
    let modules: BTreeSet<&str> = seen.iter().map(|(module, _)| module.as_str()).collect();
    let allowed_modules = BTreeSet::from(["ntoskrnl.exe", "hal.dll", "fltmgr.sys"]);
    assert!(
        modules.is_subset(&allowed_modules),
        "imports from {modules:?}"
    );
    for (module, name) in &seen {
        assert!(
            ALLOWED_IMPORTS
                .iter()
                .any(|(m, n, _)| m == module && n == name),
            "{module}!{name} is not on the allow-list of documented exports"
        );
    }
    println!("{} imports:", seen.len());
    for (module, name) in &seen {
        println!("  {module}!{name}");
    }
}

#[test]
fn exports_are_the_c_api_of_the_header() {
    let data = image();
    let file = parse(&data);
    let exports: BTreeSet<String> = file
        .export_table()
        .unwrap()
        .expect("an export table")
        .exports()
        .unwrap()
        .into_iter()
        .filter_map(|export| {
            export
                .name
                .map(|name| String::from_utf8_lossy(name).into_owned())
        })
        .collect();
    let header = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../include/pushlock_filter.h"),
    )
    .unwrap();
    let mut declared: BTreeSet<String> = header
        .lines()
        .filter_map(|line| {
            line.split_once(" NTAPI ")
                .and_then(|(_, rest)| rest.split_once('('))
        })
        .map(|(name, _)| name.trim().to_owned())
        .collect();
    // The loader's entry points: exported, PRIVATE in pushlock_filter.def (not in the header).
    declared.extend(["DriverEntry", "DllInitialize", "DllUnload"].map(String::from));
    assert_eq!(
        exports, declared,
        "exports and include/pushlock_filter.h disagree"
    );
    assert!(exports.iter().filter(|name| name.starts_with("Pl")).count() >= 16);
    assert!(
        !exports
            .iter()
            .any(|name| name.starts_with("Flt") || name.starts_with("Ex")),
        "no clash with fltmgr.lib"
    );
}
