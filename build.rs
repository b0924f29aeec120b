//! Build script of the driver package.
//!
//! - Any Windows target: compiles the C parts (cl.exe on a Windows host, clang-14 elsewhere):
//!   the SEH shim `src/user_buffer.c` (Rust has no `__try`/`__except`) and the C-runtime stubs
//!   the prebuilt `core`/`alloc` objects expect, `src/runtime.c`.
//! - WDK lane (feature `wdk`, Windows host): `wdk_build::configure_wdk_binary_build()` links
//!   against the installed WDK and sets up packaging, as every windows-drivers-rs driver does.
//! - Both lanes: `/DEF:pushlock_filter.def`, the exports and the name `pushlock_filter.sys` that
//!   the import library gives C drivers (rustc's own `/DEF` comes first; the linker keeps the
//!   last).
//! - Linux lane (no `wdk`): the link flags a kernel image needs, for rust-lld.
//! - Other targets: nothing; the crate is empty there.

use std::env;
use std::error::Error;
use std::path::Path;

/// What a kernel image needs from the linker. `/RELEASE` sets the PE checksum (drivers need it),
/// `/NODEFAULTLIB` keeps user-mode CRT libraries out; the rest are the flags wdk-build uses.
const LINUX_LANE_LINK_ARGS: [&str; 10] = [
    "/DRIVER",
    "/SUBSYSTEM:NATIVE",
    "/ENTRY:DriverEntry",
    "/NODEFAULTLIB",
    "/RELEASE",
    "/NXCOMPAT",
    "/DYNAMICBASE",
    "/OPT:REF,ICF",
    "/INTEGRITYCHECK",
    "/MANIFEST:NO",
];

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo::rerun-if-changed=src/user_buffer.c");
    println!("cargo::rerun-if-changed=src/runtime.c");
    if env::var("CARGO_CFG_TARGET_OS")? != "windows" {
        return Ok(());
    }
    // The driver's code is compiled where this is set (here, and in the host lane).
    println!("cargo::rustc-cfg=pushlock_kernel");
    compile_c_parts()?;
    // Both lanes: the exports, and the DLL name the import library records (see the file).
    println!("cargo::rerun-if-changed=pushlock_filter.def");
    let def = Path::new(&env::var("CARGO_MANIFEST_DIR")?).join("pushlock_filter.def");
    println!("cargo::rustc-cdylib-link-arg=/DEF:{}", def.display());
    if cfg!(feature = "wdk") {
        wdk_lane()
    } else {
        for arg in LINUX_LANE_LINK_ARGS {
            println!("cargo::rustc-cdylib-link-arg={arg}");
        }
        Ok(())
    }
}

fn compile_c_parts() -> Result<(), Box<dyn Error>> {
    let mut build = cc::Build::new();
    build.file("src/user_buffer.c").file("src/runtime.c");
    if env::var("HOST")?.contains("windows") {
        // cl.exe: kernel-mode code, no security cookies (no CRT to check them), no default libs.
        build.flag("/kernel").flag("/GS-").flag("/Zl");
    } else {
        // clang speaks MSVC SEH with -fms-extensions; its __try scopes cover calls only, so the
        // shim copies by calling memcpy (-ffreestanding keeps that a call, not an inlined loop).
        build
            .compiler("clang-14")
            .archiver("llvm-lib-14")
            .flag("--target=x86_64-pc-windows-msvc")
            .flag("-fms-extensions")
            .flag("-fno-stack-protector")
            .flag("-ffreestanding");
    }
    build.try_compile("pushlock_c_parts")?;
    Ok(())
}

#[cfg(all(windows, feature = "wdk"))]
fn wdk_lane() -> Result<(), Box<dyn Error>> {
    Ok(wdk_build::configure_wdk_binary_build()?)
}

#[cfg(not(all(windows, feature = "wdk")))]
fn wdk_lane() -> Result<(), Box<dyn Error>> {
    Err("the WDK lane needs a Windows host with the WDK; elsewhere build the Linux lane: `cargo sys`".into())
}
