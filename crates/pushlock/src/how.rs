//! How a lock operation was called, for the verifier: from where, and through which family.
//! Without the `verify` feature it is empty and costs nothing.

#[cfg(feature = "verify")]
use crate::verify::Site;

/// The caller's site and whether it came through a `Flt*` function.
#[derive(Clone, Copy, Debug)]
pub struct How {
    #[cfg(feature = "verify")]
    pub site: Site,
    #[cfg(feature = "verify")]
    pub flt: bool,
}

impl How {
    /// A call from the `#[track_caller]` chain's caller, through `Ex*` or the Rust API.
    #[inline]
    #[cfg_attr(feature = "verify", track_caller)]
    pub const fn here() -> Self {
        Self {
            #[cfg(feature = "verify")]
            site: Site::caller(),
            #[cfg(feature = "verify")]
            flt: false,
        }
    }

    /// A call from `site` (a C caller's return address), through `Ex*`.
    #[cfg(feature = "verify")]
    #[inline]
    pub const fn at(site: Site) -> Self {
        Self { site, flt: false }
    }

    /// The same call, through a `Flt*` function (which entered a critical region).
    #[inline]
    pub const fn through_flt(self) -> Self {
        #[cfg(feature = "verify")]
        {
            Self { flt: true, ..self }
        }
        #[cfg(not(feature = "verify"))]
        self
    }
}
