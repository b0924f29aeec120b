//! Where a lock was acquired or initialised: a Rust source location, or a code address.

use core::fmt;
use core::panic::Location;

/// Where a lock operation came from: the caller's source location in Rust (`#[track_caller]`),
/// or, for C callers of the driver's exports, the return address into their code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Site {
    /// Not known (a record made before the verifier learnt it).
    Unknown,
    /// A Rust call site.
    Rust(&'static Location<'static>),
    /// A return address in the caller's code (symbolise it with the debugger's `ln`).
    Code(usize),
}

impl Site {
    /// The caller of the `#[track_caller]` chain this is called from.
    #[track_caller]
    #[must_use]
    pub const fn caller() -> Self {
        Self::Rust(Location::caller())
    }

    /// One word for the verifier's tables: a location's address (aligned, so bit 0 is clear),
    /// or a code address shifted up one bit with bit 0 set. x64 addresses are canonical (the top
    /// 17 bits agree), so shifting back arithmetically restores a kernel address exactly.
    pub(crate) fn encode(self) -> usize {
        match self {
            Self::Unknown => 0,
            Self::Rust(location) => core::ptr::from_ref(location).expose_provenance(),
            Self::Code(address) => address.wrapping_shl(1) | 1,
        }
    }

    /// The inverse of [`encode`](Self::encode).
    pub(crate) const fn decode(word: usize) -> Self {
        if word == 0 {
            Self::Unknown
        } else if word & 1 == 1 {
            #[allow(
                clippy::cast_possible_wrap,
                clippy::cast_sign_loss,
                reason = "an arithmetic shift restores the canonical top bits"
            )]
            let address = ((word as isize) >> 1) as usize;
            Self::Code(address)
        } else {
            let location = core::ptr::with_exposed_provenance::<Location<'static>>(word);
            // SAFETY: only `encode` makes even non-zero words, from a `&'static Location`, and
            // `expose_provenance` kept its provenance for this conversion.
            Self::Rust(unsafe { &*location })
        }
    }
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown => f.write_str("(site unknown)"),
            Self::Rust(location) => write!(f, "{location}"),
            Self::Code(address) => write!(f, "code {address:#x}"),
        }
    }
}
