//! Layout checks for the driver's own kernel declarations; see `tests/layout.rs`.
