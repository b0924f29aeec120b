//! Passes the host triple to the C-client test, which runs the toolchain's own rust-lld.

fn main() {
    let host = std::env::var("HOST").unwrap_or_default();
    println!("cargo::rustc-env=TARGET_HOST={host}");
}
