//! `pushlock-filter`: the Windows minifilter driver package.
//!
//! The kernel glue (entry and unload, Filter Manager registration, the communication port, the
//! exported `Flt*`/`Ex*` functions) lands with the driver issue. The push-lock core it exports
//! lives in `crates/pushlock`.
#![no_std]
