//! `DbgPrintEx` is variadic: stable Rust cannot define such a function, so a few lines of C
//! format the message and hand it to the Rust side.

fn main() {
    println!("cargo::rerun-if-changed=src/debug_print.c");
    cc::Build::new()
        .file("src/debug_print.c")
        .warnings(true)
        .compile("pushlock_kernel_debug_print");
}
