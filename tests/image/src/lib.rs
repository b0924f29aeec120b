//! Checks of the driver image; see `tests/image.rs`. Not in the default members: it needs the
//! image `cargo sys` builds (the msvc target and clang-14), which CI's driver lane provides.
