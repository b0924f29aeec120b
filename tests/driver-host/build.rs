//! Compiles the driver's kernel modules for the host: the cfg that build.rs of the driver
//! package sets for Windows targets.

fn main() {
    println!("cargo::rustc-cfg=pushlock_kernel");
}
