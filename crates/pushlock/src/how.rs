//! How a lock operation was called, for the verifier: from where, through which family, and
//! on what (a lock, or a slot of a cache-aware lock). Without the `verify` feature it is empty
//! and costs nothing.

#[cfg(feature = "verify")]
use crate::verify::Site;

/// The caller's site and whether it came through a `Flt*` function.
#[derive(Clone, Copy, Debug)]
pub struct How {
    #[cfg(feature = "verify")]
    pub site: Site,
    #[cfg(feature = "verify")]
    pub flt: bool,
    /// For a slot of a cache-aware lock, the address the verifier knows the whole lock by (its
    /// first slot's); 0 for a lock of its own.
    #[cfg(feature = "verify")]
    pub whole: usize,
    /// A writer's sweep over a cache-aware lock's slots: the whole lock's acquisition is
    /// checked and recorded once, by the cache-aware lock, and the slots only check waits.
    #[cfg(feature = "verify")]
    pub sweep: bool,
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
            #[cfg(feature = "verify")]
            whole: 0,
            #[cfg(feature = "verify")]
            sweep: false,
        }
    }

    /// A call from `site` (a C caller's return address), through `Ex*`.
    #[cfg(feature = "verify")]
    #[inline]
    pub const fn at(site: Site) -> Self {
        Self {
            site,
            flt: false,
            whole: 0,
            sweep: false,
        }
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

    /// The same call, as a reader's on a slot of the cache-aware lock known as `whole`:
    /// recorded on the slot (its release names only the slot), and checked as the whole lock.
    #[inline]
    #[cfg_attr(not(feature = "verify"), allow(unused_variables))]
    pub const fn on_slot_of(self, whole: usize) -> Self {
        #[cfg(feature = "verify")]
        {
            Self { whole, ..self }
        }
        #[cfg(not(feature = "verify"))]
        self
    }

    /// The same call, as a writer's on every slot of the cache-aware lock known as `whole`.
    #[inline]
    #[cfg_attr(not(feature = "verify"), allow(unused_variables))]
    pub const fn sweeping(self, whole: usize) -> Self {
        #[cfg(feature = "verify")]
        {
            Self {
                whole,
                sweep: true,
                ..self
            }
        }
        #[cfg(not(feature = "verify"))]
        self
    }

    /// The address the verifier classes `lock` under: the whole lock's, for a slot.
    #[cfg(feature = "verify")]
    #[inline]
    pub const fn named(self, lock: usize) -> usize {
        if self.whole == 0 { lock } else { self.whole }
    }
}
