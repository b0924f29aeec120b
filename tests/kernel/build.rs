//! `DbgPrintEx` is variadic: stable Rust cannot define such a function, so a few lines of C
//! format the message and hand it to the Rust side. Under Miri (nightly, and no C) the Rust side
//! defines it itself (`books::miri_debug_print`).

fn main() {
    println!("cargo::rerun-if-changed=src/debug_print.c");
    if std::env::var_os("CARGO_CFG_MIRI").is_some() {
        return;
    }
    cc::Build::new()
        .file("src/debug_print.c")
        .warnings(true)
        .compile("pushlock_kernel_debug_print");
}
